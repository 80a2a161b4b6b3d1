//! Where the command finds the client id and secret: the environment, or a private file.

use std::path::Path;

use apiauth::Credentials;

use crate::Exit;

const ID: &str = "APIAUTH_CLIENT_ID";
const SECRET: &str = "APIAUTH_CLIENT_SECRET";

/// The credentials from `file` if given, else from the environment.
pub fn load(file: Option<&Path>) -> Result<Credentials, Exit> {
    let (id, secret) = match file {
        Some(path) => from_file(path)?,
        None => (std::env::var(ID).ok(), std::env::var(SECRET).ok()),
    };
    let origin = match file {
        Some(path) => format!("in {}", path.display()),
        None => "in the environment".to_owned(),
    };
    let given = |v: Option<String>| v.filter(|v| !v.is_empty());
    match (given(id), given(secret)) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret)?),
        (None, None) if file.is_none() => Err(Exit::usage(format!(
            "no credentials: set {ID} and {SECRET}, or pass --credentials-file PATH"
        ))),
        (None, _) => Err(Exit::usage(format!("no {ID} {origin}"))),
        (_, None) => Err(Exit::usage(format!("no {SECRET} {origin}"))),
    }
}

/// Reads `NAME=value` lines (`export` prefixes, `#` comments and quotes allowed, so that the
/// same file can be sourced by a shell). Refused if group or others can read it.
fn from_file(path: &Path) -> Result<(Option<String>, Option<String>), Exit> {
    let shown = path.display();
    let unreadable = |e: std::io::Error| Exit::usage(format!("cannot read {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = file.metadata().map_err(unreadable)?.mode() & 0o777;
        if mode & 0o044 != 0 {
            return Err(Exit::usage(format!(
                "credentials file {shown} is readable by other users (mode {mode:o}); chmod 600 it"
            )));
        }
    }
    let text = std::io::read_to_string(file).map_err(unreadable)?;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = ["\"", "'"]
            .iter()
            .find_map(|q| value.strip_prefix(q)?.strip_suffix(q))
            .unwrap_or(value)
            .to_owned();
        match name.trim() {
            ID => id = Some(value),
            SECRET => secret = Some(value),
            _ => {}
        }
    }
    Ok((id, secret))
}
