//! Where the command finds what authenticates the client: the id and secret in the
//! environment or a private file, and the key files of the methods without a secret.
//!
//! Every file is a regular file owned by the user, that no one else can write (nor read, for
//! a secret or a private key), of at most 64 KiB, opened without following a symlink and
//! without blocking (a FIFO is refused at once). The credentials file's syntax is a subset of
//! the shell's, read the same way by both: `NAME=value` lines, optionally `export NAME=value`,
//! the value optionally in `'…'` or `"…"`; blank lines and `#` comments on lines of their
//! own. A `#` after a value is refused: a shell reads `x # y` as `x`; so is a carriage return
//! (CRLF line endings), which a shell reads into the value.

use std::io::Read;
use std::path::Path;

#[cfg(unix)]
use libc::{ELOOP, O_NOFOLLOW, O_NONBLOCK};

use apiauth::{ClientKey, Credentials, TlsSettings};

use crate::Exit;
use crate::command_line::{Alg, KeyMethod, Settings};

const ID: &str = "APIAUTH_CLIENT_ID";
const SECRET: &str = "APIAUTH_CLIENT_SECRET";

/// Why a file with a carriage return is refused.
const CR: &str = "a carriage return (CR), which a shell would read into the value; save the file \
    with LF line endings";

/// The largest file read.
const MAX_FILE: u64 = 64 * 1024;

/// The credentials from `--credentials-file` if given, else from the environment; the secret
/// only if the client authenticates with it (else empty).
pub fn load(s: &Settings) -> Result<Credentials, Exit> {
    let file = s.get("credentials-file").map(Path::new);
    let [id, secret] = match file {
        Some(path) => {
            let text = String::from_utf8(read(path, "credentials file", true)?);
            let text = text.map_err(|_| "credentials file: not UTF-8")?;
            parse(&text).map_err(|(line, why)| format!("credentials file: line {line}: {why}"))?
        }
        None => [var(ID)?, var(SECRET)?],
    };
    let origin = file.map_or("in the environment", |_| "in the credentials file");
    let needs_secret = matches!(s.key_method, None | Some(KeyMethod::ClientSecretJwt));
    let secret = (!needs_secret).then(String::new).or(secret);
    match (id, secret) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret)?),
        (None, None) if file.is_none() => Err(format!(
            "no credentials: set {ID} and {SECRET}, or pass --credentials-file PATH"
        ))?,
        (None, _) => Err(format!("no {ID} {origin}"))?,
        (_, None) => Err(format!("no {SECRET} {origin}"))?,
    }
}

/// The client key that `--client-auth` names, for the methods without a shared secret.
pub fn client_key(s: &Settings) -> Result<Option<ClientKey>, Exit> {
    let (key, file) = (s.get("private-key"), s.get("client-assertion-file"));
    let key = match (s.key_method, key.map(Path::new), file) {
        (Some(KeyMethod::PrivateKeyJwt), Some(path), _) => {
            let key = ClientKey::private_key_jwt(&read(path, "--private-key", true)?)?;
            let alg = key.algorithm().unwrap_or_default();
            let misfit = "does not fit the key of --private-key, which signs with";
            match s.alg.map(Alg::name) {
                Some(want) if want != alg => Err(format!("--alg {want} {misfit} {alg}"))?,
                _ => key,
            }
        }
        (Some(KeyMethod::ClientSecretJwt), ..) => ClientKey::client_secret_jwt(),
        (Some(KeyMethod::Assertion), _, Some(path)) => ClientKey::assertion_file(path),
        // Without a file, a command: the command line gives exactly one of them.
        (Some(KeyMethod::Assertion), _, None) => {
            let program = s.get("client-assertion-command").unwrap_or_default();
            let args: Vec<&str> = s.all("client-assertion-arg").collect();
            ClientKey::assertion_command(program, &args)
        }
        (Some(KeyMethod::TlsClientAuth), ..) => ClientKey::tls_client_auth(),
        _ => return Ok(None),
    };
    let key_id = s.get("key-id").into_iter();
    Ok(Some(key_id.fold(key, ClientKey::with_key_id)))
}

/// The TLS settings of `--cert`, `--key` and `--cacert`, if any is given.
pub fn tls(s: &Settings) -> Result<Option<TlsSettings>, Exit> {
    let mut tls = TlsSettings::new();
    let path = |long| s.get(long).map(Path::new);
    if let (Some(cert), Some(key)) = (path("cert"), path("key")) {
        let key = read(key, "--key", true)?;
        tls = tls.with_client_cert(&read(cert, "--cert", false)?, &key)?;
    }
    if let Some(cacert) = path("cacert") {
        tls = tls.with_root_certs(&read(cacert, "--cacert", false)?)?;
    }
    Ok((path("cert").is_some() || path("cacert").is_some()).then_some(tls))
}

/// The variable `name`: `None` if unset, an error if empty or not UTF-8.
fn var(name: &str) -> Result<Option<String>, Exit> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Err(format!("{name} is set but empty"))?,
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8"))?,
    }
}

/// The bytes of the file at `path` (`what` in messages), refused unless it is the user's and
/// no one else can write it, nor read it if `private`.
fn read(path: &Path, what: &str, private: bool) -> Result<Vec<u8>, Exit> {
    let refuse = |why: &str| Exit::from(format!("{what}: {why}"));
    let unreadable = |e: std::io::Error| refuse(&format!("cannot read it: {e}"));
    let mut options = std::fs::File::options();
    // Never through a final symlink, never waiting on a FIFO.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, O_NOFOLLOW | O_NONBLOCK);
    let file = (options.read(true).open(path)).map_err(|e| match e.raw_os_error() {
        #[cfg(unix)]
        Some(ELOOP) => refuse("is a symbolic link; give the file itself"),
        _ => unreadable(e),
    })?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        if private && mode & 0o077 != 0 {
            let why = format!("other users can read or write it (mode {mode:o}); chmod 600 it");
            return Err(refuse(&why));
        }
        if mode & 0o022 != 0 {
            return Err(refuse(&format!("other users can write it (mode {mode:o})")));
        }
        // The owner of this process's /proc entry is its user (Linux); elsewhere the check
        // of the mode stands alone.
        if std::fs::metadata("/proc/self").is_ok_and(|me| meta.uid() != me.uid()) {
            return Err(refuse("owned by another user"));
        }
    }
    let bytes = at_most(file, MAX_FILE).map_err(unreadable)?;
    bytes.ok_or_else(|| refuse("larger than 64 KiB"))
}

/// All of `source` if it holds at most `max` bytes, else `None`.
pub fn at_most(source: impl Read, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    source.take(max + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The id and secret of the file's `text`, or the (1-based) line that breaks the syntax and
/// why (never the line's text).
fn parse(text: &str) -> Result<[Option<String>; 2], (usize, &'static str)> {
    if text.starts_with('\u{feff}') {
        let why = "the file starts with a byte-order mark; save it without one";
        return Err((1, why));
    }
    let (mut id, mut secret) = (None, None);
    // `split('\n')`, not `lines()`: a CR before a LF is kept, and refused.
    for (n, line) in text.split('\n').enumerate() {
        let Some((name, value)) = assignment(line).map_err(|why| (n + 1, why))? else {
            continue;
        };
        match name {
            _ if name != ID && name != SECRET => continue,
            _ if value.is_empty() => return Err((n + 1, "an empty value")),
            ID => id = Some(value.to_owned()),
            _ => secret = Some(value.to_owned()),
        }
    }
    Ok([id, secret])
}

/// One line's `NAME=value`, read exactly as a shell that sources the file would, or refused:
/// a shell keeps a CR in the value, and expands `$`, `` ` `` and `\` inside double quotes and
/// more outside quotes. `None` for a blank line or a comment.
fn assignment(line: &str) -> Result<Option<(&str, &str)>, &'static str> {
    if line.contains('\r') {
        return Err(CR);
    }
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let (name, value) = line.split_once('=').ok_or("not NAME=value")?;
    let first = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !first || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("not NAME=value");
    }
    let value = match value.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let inner = (value[1..].strip_suffix(quote)).filter(|v| !v.contains(quote));
            let inner = inner.ok_or("a quote is not closed at the end of the line")?;
            if quote == '"' && inner.contains(['$', '`', '\\']) {
                return Err("a shell would expand $, ` or \\ here; use single quotes");
            }
            inner
        }
        _ if value.contains('#') => return Err("a # after a value is ambiguous; quote the value"),
        _ if value.contains(char::is_whitespace) => Err("a value with spaces must be quoted")?,
        _ if value.contains(['\\', '\'', '"', '$', '`', ';', '&', '|', '<', '>', '(', ')']) => {
            return Err("a shell would read this value otherwise; single-quote it");
        }
        _ => value,
    };
    Ok(Some((name, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(text: &str) -> Result<(String, String), (usize, &'static str)> {
        let [id, secret] = parse(text)?;
        Ok((id.unwrap_or_default(), secret.unwrap_or_default()))
    }

    #[test]
    fn syntax() {
        let ok = |id: &str, secret: &str| Ok((id.to_owned(), secret.to_owned()));
        assert_eq!(
            pair("# mine\n\nAPIAUTH_CLIENT_ID=a\nexport APIAUTH_CLIENT_SECRET='b # c'\n"),
            ok("a", "b # c")
        );
        assert_eq!(
            pair("APIAUTH_CLIENT_ID=\"a=b\"\nAPIAUTH_CLIENT_SECRET=x#y\n").unwrap_err(),
            (2, "a # after a value is ambiguous; quote the value")
        );
        assert_eq!(pair("# x\nAPIAUTH_CLIENT_ID=a\r\n").unwrap_err(), (2, CR));
        assert_eq!(pair("APIAUTH_CLIENT_SECRET='a\rb'").unwrap_err(), (1, CR));
        assert_eq!(
            pair("APIAUTH_CLIENT_SECRET=x # comment").unwrap_err(),
            (1, "a # after a value is ambiguous; quote the value")
        );
        assert_eq!(
            pair("APIAUTH_CLIENT_SECRET='x").unwrap_err(),
            (1, "a quote is not closed at the end of the line")
        );
        assert_eq!(pair("SECRETPROBE").unwrap_err(), (1, "not NAME=value"));
        assert_eq!(
            pair("APIAUTH_CLIENT_SECRET=a b").unwrap_err(),
            (1, "a value with spaces must be quoted")
        );
        assert_eq!(
            pair("APIAUTH_CLIENT_ID=").unwrap_err(),
            (1, "an empty value")
        );
        assert_eq!(pair("OTHER=x\nAPIAUTH_CLIENT_ID=i"), ok("i", ""));
        // What a shell would read otherwise is refused, never sent differently.
        for (line, why) in [
            (
                "APIAUTH_CLIENT_SECRET=ab\\c",
                "a shell would read this value otherwise; single-quote it",
            ),
            (
                "APIAUTH_CLIENT_SECRET=x'y'z",
                "a shell would read this value otherwise; single-quote it",
            ),
            (
                "APIAUTH_CLIENT_SECRET=a$HOME",
                "a shell would read this value otherwise; single-quote it",
            ),
            (
                "APIAUTH_CLIENT_SECRET=\"a$HOME\"",
                "a shell would expand $, ` or \\ here; use single quotes",
            ),
            (
                "APIAUTH_CLIENT_SECRET=\"a\\b\"",
                "a shell would expand $, ` or \\ here; use single quotes",
            ),
            ("BAD NAME=x", "not NAME=value"),
        ] {
            assert_eq!(pair(line).unwrap_err(), (1, why), "{line}");
        }
        assert_eq!(pair("APIAUTH_CLIENT_SECRET='a$b\\c'"), ok("", "a$b\\c"));
        assert_eq!(
            pair("\u{feff}APIAUTH_CLIENT_ID=i").unwrap_err(),
            (
                1,
                "the file starts with a byte-order mark; save it without one"
            )
        );
    }
}
