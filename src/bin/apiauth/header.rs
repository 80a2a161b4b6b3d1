//! `apiauth header` and `apiauth token`: the header (or the bare token) for one API.

use std::time::{Duration, SystemTime};

use apiauth::Auth;
use apiauth::http::header::AUTHORIZATION;

use crate::args::{Command, Format, Job};
use crate::{Exit, utc};

/// Runs `header` or `token`, and returns what to print.
pub fn run(job: &Job) -> Result<String, Exit> {
    let (source, scheme) = match crate::auth(job)? {
        Auth::Basic(creds, encoding) => {
            // Basic values are base64: always printable.
            let value = creds.basic_header(encoding)?.to_str().unwrap_or_default();
            return Ok(output(job.format, "Authorization", value, None));
        }
        Auth::Token(source, scheme) => (source, scheme),
    };
    let token = source.token()?;
    if job.command == Command::Token {
        return Ok(format!("{}\n", token.access_token().secret()));
    }
    let (name, value) = token.header(scheme);
    let name = match name {
        AUTHORIZATION => "Authorization",
        _ => name.as_str(),
    };
    // Token header values are visible ASCII: the parser refuses anything else.
    let value = value.to_str().unwrap_or_default();
    let expires_in = (token.expires_at().duration_since(SystemTime::now())).unwrap_or_default();
    Ok(output(job.format, name, value, Some(expires_in)))
}

fn output(format: Format, name: &str, value: &str, expires_in: Option<Duration>) -> String {
    match format {
        Format::Line => format!("{name}: {value}\n"),
        Format::Value => format!("{value}\n"),
        Format::Curl => format!(
            "-H '{}'\n",
            format!("{name}: {value}").replace('\'', r"'\''")
        ),
        Format::Json => {
            let expires_at = expires_in.map(|d| utc::rfc3339(SystemTime::now() + d));
            let expires_in = expires_in.map(|d| d.as_secs());
            let json = serde_json::json!({
                "name": name, "value": value, "expires_in": expires_in, "expires_at": expires_at
            });
            format!("{json}\n")
        }
    }
}
