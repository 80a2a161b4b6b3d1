//! `apiauth`: calls an API with the right auth header, or prints that header (or a bare
//! token) for shell scripts and build scripts, with tokens cached on disk and shared by
//! every process of the user.
#![forbid(unsafe_code)]

mod cache_cmd;
mod command_line;
mod credentials_file;
mod logger;
mod request;
mod urls;

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use apiauth::http::header::AUTHORIZATION;
use apiauth::{Auth, BasicEncoding, Error, TlsSettings, TokenConfig};
use command_line::{Command, Format, HeaderSource, Invocation, Settings};

/// Why the command failed: an exit code and a one-line message without secrets (none if
/// empty).
#[derive(Debug)]
struct Exit(u8, String);

// Exit codes, as `--help` lists them.
/// Standard output could not be written (closed pipe, full disk).
const STDOUT: u8 = 1;
const USAGE: u8 = 2;
/// The token endpoint, or an API taking Basic, refused the credentials.
const REJECTED: u8 = 3;
const UNREACHABLE: u8 = 4;
const UNUSABLE: u8 = 5;
const REFUSED: u8 = 6;
/// The API answered with a status other than 2xx (`apiauth request`).
const API_STATUS: u8 = 7;

/// A usage error (exit 2), from its message.
impl From<String> for Exit {
    fn from(message: String) -> Exit {
        Exit(USAGE, message)
    }
}

impl From<&str> for Exit {
    fn from(message: &str) -> Exit {
        Exit(USAGE, message.into())
    }
}

impl From<Error> for Exit {
    fn from(error: Error) -> Exit {
        let code = match &error {
            Error::CredentialsRejected(_) => REJECTED,
            Error::Transport(_) => UNREACHABLE,
            Error::InvalidResponse(_) => UNUSABLE,
            Error::EndpointRefused(_) => REFUSED,
            _ => USAGE,
        };
        let causes = std::iter::successors(std::error::Error::source(&error), |c| c.source());
        let message = causes.fold(error.to_string(), |message, c| format!("{message}: {c}"));
        Exit(code, urls::redact(&message))
    }
}

fn main() -> ExitCode {
    let Err(Exit(code, message)) = run() else {
        return ExitCode::SUCCESS;
    };
    let hint = (code == USAGE).then_some(" (see apiauth --help)");
    if !message.is_empty() {
        say(&format!("{message}{}", hint.unwrap_or_default()));
    }
    ExitCode::from(code)
}

fn run() -> Result<(), Exit> {
    let args = std::env::args_os().skip(1).map(|arg| arg.into_string());
    let args = (args.collect::<Result<_, _>>()).map_err(|_| "arguments must be UTF-8")?;
    let text = match command_line::parse(args)? {
        Invocation::Help(command) => command_line::help(command),
        Invocation::Version => format!("apiauth {}\n", env!("CARGO_PKG_VERSION")),
        Invocation::Run(settings) => {
            logger::install(settings.all("verbose").count());
            match settings.command {
                Some(Command::Request) => return request::run(&settings),
                Some(Command::CacheList | Command::CacheClear) => cache_cmd::run(&settings)?,
                _ => header_text(&settings)?,
            }
        }
    };
    print(text.as_bytes())
}

/// Writes `apiauth: {message}` as one line on stderr. A stderr that cannot be written (closed,
/// a broken pipe, a full disk) loses the line and changes nothing else: no panic, the same
/// stdout and exit code.
fn say(message: &str) {
    let line = format!("apiauth: {}\n", message.replace(['\n', '\r'], " "));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes `bytes` to stdout at once (a body need not end lines). A closed stdout
/// (`| head -c0`) is not worth a panic or a message: the exit code ([`STDOUT`]) says it.
fn print(bytes: &[u8]) -> Result<(), Exit> {
    let mut out = std::io::stdout().lock();
    (out.write_all(bytes).and_then(|()| out.flush())).map_err(|_| Exit(STDOUT, String::new()))
}

/// The header the settings ask for: Basic for myConnectedFleet's Core API, else a token
/// (a new one first with `--refresh`, past any cached token or failure), with the client key
/// and the TLS settings of the command line, which it returns too (for API calls).
fn auth(settings: &Settings) -> Result<(Auth, Option<TlsSettings>), Exit> {
    let tls = credentials_file::tls(settings)?;
    let creds = credentials_file::load(settings)?;
    let Some(HeaderSource::Token(token_url, client_auth, scheme)) = &settings.source else {
        return Ok((Auth::Basic(creds, BasicEncoding::Raw), tls));
    };
    let mut config = TokenConfig::new(token_url, creds).with_client_auth(*client_auth);
    let key = credentials_file::client_key(settings)?;
    config = key.into_iter().fold(config, TokenConfig::with_client_key);
    config = tls.clone().into_iter().fold(config, TokenConfig::with_tls);
    config = config.with_timeout(settings.timeout);
    config = settings.all("scope").fold(config, TokenConfig::with_scope);
    config = (settings.params()).fold(config, |c, (name, value)| c.with_param(name, value));
    // The user's disk cache, or none (with a warning) if there is none.
    #[cfg(unix)]
    if settings.get("no-cache").is_none() {
        match apiauth::DiskCache::default_dir().map(apiauth::DiskCache::open) {
            Some(Ok(cache)) => config = config.with_disk_cache(cache),
            Some(Err(error)) => say(&format!("warning: {error}; not caching")),
            None => say("warning: neither XDG_CACHE_HOME nor HOME is set; not caching"),
        }
    }
    let source = config.build()?;
    if settings.get("refresh").is_some() {
        source.refresh()?;
    }
    Ok((Auth::Token(source, *scheme), tls))
}

/// `apiauth header` and `apiauth token`: what to print.
fn header_text(settings: &Settings) -> Result<String, Exit> {
    let (name, value, expires_in) = match auth(settings)?.0 {
        Auth::Basic(creds, enc) => (AUTHORIZATION, creds.basic_header(enc)?.clone(), None),
        Auth::Token(source, scheme) => {
            let token = source.token()?;
            if settings.command == Some(Command::Token) {
                return Ok(format!("{}\n", token.access_token().secret()));
            }
            let left = token.expires_at().duration_since(SystemTime::now());
            let (name, value) = token.header(scheme);
            (name, value.clone(), Some(left.unwrap_or_default()))
        }
    };
    let name = match name.as_str() {
        "authorization" => "Authorization",
        other => other,
    };
    // Visible ASCII: Basic values are base64, and the parser refuses any other token.
    let value = value.to_str().unwrap_or_default();
    let line = format!("{name}: {value}");
    Ok(match settings.format.unwrap_or(Format::Line) {
        Format::Line => format!("{line}\n"),
        Format::Value => format!("{value}\n"),
        Format::Curl => format!("-H '{}'\n", line.replace('\'', r"'\''")),
        Format::Json => {
            let expires_at = expires_in.map(|left| cache_cmd::rfc3339(SystemTime::now() + left));
            let expires_in = expires_in.map(|left| left.as_secs());
            let json = serde_json::json!({
                "name": name, "value": value, "expires_in": expires_in, "expires_at": expires_at
            });
            format!("{json}\n")
        }
    })
}
