//! `apiauth`: prints an HTTP auth header (or a bare token) for shell scripts and build
//! scripts, with tokens cached on disk and shared by every process of the user.
#![forbid(unsafe_code)]

mod args;
mod credentials;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use apiauth::{BasicEncoding, Credentials, Error, TokenScheme, TokenSource};
use args::{Auth, Command, Endpoint, Format, Invocation, Request};

/// Why the command failed: an exit code and a one-line message without secrets.
struct Failure {
    code: u8,
    message: String,
}

/// Exit codes, as `--help` lists them.
const USAGE: u8 = 2;
const REJECTED: u8 = 3;
const UNREACHABLE: u8 = 4;
const UNUSABLE: u8 = 5;
const REFUSED: u8 = 6;

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let code = match &error {
            Error::CredentialsRejected(_) => REJECTED,
            Error::Transport(_) => UNREACHABLE,
            Error::InvalidResponse(_) => UNUSABLE,
            Error::EndpointRefused(_) => REFUSED,
            _ => USAGE,
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Failure { code, message }
    }
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let outcome = args
        .map_err(|_| Failure::usage("arguments must be UTF-8"))
        .and_then(|args| args::parse(args).map_err(Failure::usage))
        .and_then(|invocation| match invocation {
            Invocation::Help => Ok(args::HELP.to_owned()),
            Invocation::Version => Ok(format!("apiauth {}\n", env!("CARGO_PKG_VERSION"))),
            Invocation::Run(request) => run(&request),
        });
    match outcome {
        // A closed stdout (`| head -c0`) is not worth a panic: the exit code says it.
        Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        Err(failure) => {
            let message = failure.message.replace(['\n', '\r'], " ");
            let hint = if failure.code == USAGE {
                " (see apiauth --help)"
            } else {
                ""
            };
            eprintln!("apiauth: {message}{hint}");
            ExitCode::from(failure.code)
        }
    }
}

/// Runs `header` or `token`, and returns what to print.
fn run(request: &Request) -> Result<String, Failure> {
    let creds = credentials::load(request.credentials_file.as_deref())?;
    let (endpoint, scheme) = match &request.auth {
        Auth::CoreBasic => {
            // Basic values are base64: always printable.
            let value = creds
                .basic_header(BasicEncoding::Raw)?
                .to_str()
                .unwrap_or_default();
            return Ok(header_output(request.format, "Authorization", value, None));
        }
        Auth::Token(endpoint, scheme) => (endpoint, *scheme),
    };
    let source = token_source(endpoint, creds, request.cache);
    if request.refresh {
        source.invalidate();
    }
    let token = source.token()?;
    if request.command == Command::Token {
        return Ok(format!("{}\n", token.access_token().secret()));
    }
    let name = match scheme {
        TokenScheme::ConnectToken => "x-connect-token",
        _ => "Authorization",
    };
    // Token header values are visible ASCII: the parser refuses anything else.
    let value = token.header(scheme).to_str().unwrap_or_default();
    let expires_in = token.expires_at().saturating_duration_since(Instant::now());
    Ok(header_output(
        request.format,
        name,
        value,
        Some(expires_in.as_secs()),
    ))
}

fn token_source(endpoint: &Endpoint, creds: Credentials, cache: bool) -> TokenSource {
    let mut source = TokenSource::new(endpoint.token_url.clone(), creds)
        .with_client_auth(endpoint.client_auth)
        .with_timeout(endpoint.timeout);
    for scope in &endpoint.scopes {
        source = source.with_scope(scope);
    }
    for (name, value) in &endpoint.params {
        source = source.with_param(name, value);
    }
    if cache {
        source = with_disk_cache(source);
    }
    source
}

/// The source with the user's disk cache, or as it was (with a warning) if there is none.
#[cfg(unix)]
fn with_disk_cache(source: TokenSource) -> TokenSource {
    let Some(dir) = apiauth::DiskCache::default_dir() else {
        eprintln!("apiauth: warning: neither XDG_CACHE_HOME nor HOME is set; not caching");
        return source;
    };
    match apiauth::DiskCache::open(dir) {
        Ok(cache) => source.with_disk_cache(cache),
        Err(error) => {
            eprintln!("apiauth: warning: {error}; not caching");
            source
        }
    }
}

#[cfg(not(unix))]
fn with_disk_cache(source: TokenSource) -> TokenSource {
    source
}

fn header_output(format: Format, name: &str, value: &str, expires_in: Option<u64>) -> String {
    match format {
        Format::Line => format!("{name}: {value}\n"),
        Format::Value => format!("{value}\n"),
        Format::Curl => format!(
            "-H '{}'\n",
            format!("{name}: {value}").replace('\'', r"'\''")
        ),
        Format::Json => {
            let json = serde_json::json!({"name": name, "value": value, "expires_in": expires_in});
            format!("{json}\n")
        }
    }
}
