//! `apiauth`: prints an HTTP auth header (or a bare token) for shell scripts and build
//! scripts, with tokens cached on disk and shared by every process of the user.
#![forbid(unsafe_code)]

mod args;
mod credentials;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use apiauth::http::header::AUTHORIZATION;
use apiauth::providers::{motorweb, my_connected_fleet};
use apiauth::{BasicEncoding, Credentials, Error, TokenConfig, TokenSource};
use args::{Command, Format, HeaderSource, Invocation, Job, Preset, TokenSettings};

/// Why the command failed: an exit code and a one-line message without secrets.
struct Exit {
    code: u8,
    message: String,
}

/// Exit codes, as `--help` lists them.
const USAGE: u8 = 2;
const REJECTED: u8 = 3;
const UNREACHABLE: u8 = 4;
const UNUSABLE: u8 = 5;
const REFUSED: u8 = 6;

impl Exit {
    fn usage(message: impl Into<String>) -> Exit {
        Exit {
            code: USAGE,
            message: message.into(),
        }
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
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Exit { code, message }
    }
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let outcome = args
        .map_err(|_| Exit::usage("arguments must be UTF-8"))
        .and_then(|args| args::parse(args).map_err(Exit::usage))
        .and_then(|invocation| match invocation {
            Invocation::Help => Ok(args::HELP.to_owned()),
            Invocation::Version => Ok(format!("apiauth {}\n", env!("CARGO_PKG_VERSION"))),
            Invocation::Run(job) => run(&job),
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
fn run(job: &Job) -> Result<String, Exit> {
    let creds = credentials::load(job.credentials_file.as_deref())?;
    let (settings, scheme) = match &job.header {
        HeaderSource::CoreBasic => {
            // Basic values are base64: always printable.
            let value = creds
                .basic_header(BasicEncoding::Raw)?
                .to_str()
                .unwrap_or_default();
            return Ok(header_output(job.format, "Authorization", value, None));
        }
        HeaderSource::Token(settings, scheme) => (settings, *scheme),
    };
    let source = token_source(settings, creds, job.cache)?;
    if job.refresh {
        source.invalidate();
    }
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
    let expires_in = token.expires_at().saturating_duration_since(Instant::now());
    Ok(header_output(
        job.format,
        name,
        value,
        Some(expires_in.as_secs()),
    ))
}

fn token_source(
    settings: &TokenSettings,
    creds: Credentials,
    cache: bool,
) -> Result<TokenSource, Exit> {
    let mut config = match &settings.preset {
        Preset::MyConnectedFleet { auth_base_url } => {
            my_connected_fleet::token_config_at(auth_base_url, creds)
        }
        Preset::Motorweb { base_url } => motorweb::token_config_at(base_url, creds),
        Preset::Generic {
            token_url,
            client_auth,
        } => TokenConfig::new(token_url, creds).with_client_auth(*client_auth),
    };
    if let Some(url) = &settings.token_url {
        config = config.with_token_url(url);
    }
    config = config.with_timeout(settings.timeout);
    for scope in &settings.scopes {
        config = config.with_scope(scope);
    }
    for (name, value) in &settings.params {
        config = config.with_param(name, value);
    }
    if cache {
        config = with_disk_cache(config);
    }
    Ok(config.build()?)
}

/// The source with the user's disk cache, or as it was (with a warning) if there is none.
#[cfg(unix)]
fn with_disk_cache(config: TokenConfig) -> TokenConfig {
    let Some(dir) = apiauth::DiskCache::default_dir() else {
        eprintln!("apiauth: warning: neither XDG_CACHE_HOME nor HOME is set; not caching");
        return config;
    };
    match apiauth::DiskCache::open(dir) {
        Ok(cache) => config.with_disk_cache(cache),
        Err(error) => {
            eprintln!("apiauth: warning: {error}; not caching");
            config
        }
    }
}

#[cfg(not(unix))]
fn with_disk_cache(config: TokenConfig) -> TokenConfig {
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
