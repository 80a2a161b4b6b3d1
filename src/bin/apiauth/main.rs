//! `apiauth`: calls an API with the right auth header, or prints that header (or a bare
//! token) for shell scripts and build scripts, with tokens cached on disk and shared by
//! every process of the user.
#![forbid(unsafe_code)]

mod args;
mod cache_cmd;
mod credentials;
mod header;
mod help;
mod logger;
mod opts;
mod request;
mod urls;
mod utc;

use std::io::Write;
use std::process::ExitCode;

use apiauth::{Auth, BasicEncoding, Credentials, Error, TokenConfig, TokenSource};
use args::{Command, HeaderSource, Invocation, Job, Task, TokenSettings};

/// Why the command failed: an exit code and a one-line message without secrets.
#[derive(Debug)]
struct Exit {
    code: u8,
    message: String,
}

/// Exit codes, as `--help` lists them.
/// Standard output could not be written (closed pipe, full disk).
const STDOUT: u8 = 1;
const USAGE: u8 = 2;
const REJECTED: u8 = 3;
const UNREACHABLE: u8 = 4;
const UNUSABLE: u8 = 5;
const REFUSED: u8 = 6;
/// The API answered with a status other than 2xx (`apiauth request`).
const API_STATUS: u8 = 7;

impl Exit {
    fn usage(message: impl Into<String>) -> Exit {
        Exit {
            code: USAGE,
            message: message.into(),
        }
    }

    /// A failure whose cause has been said already, or needs no words.
    fn silent(code: u8) -> Exit {
        Exit {
            code,
            message: String::new(),
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
        Exit {
            code,
            message: urls::redact(&message),
        }
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
            Invocation::Help(command) => print(&help::text(command)),
            Invocation::Version => print(&format!("apiauth {}\n", env!("CARGO_PKG_VERSION"))),
            Invocation::Run(task, verbose) => {
                logger::install(verbose);
                run(task)
            }
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.message.replace(['\n', '\r'], " ");
            let hint = if failure.code == USAGE {
                " (see apiauth --help)"
            } else {
                ""
            };
            if !message.is_empty() {
                eprintln!("apiauth: {message}{hint}");
            }
            ExitCode::from(failure.code)
        }
    }
}

fn run(task: Task) -> Result<(), Exit> {
    match task {
        Task::Auth(job) => match &job.command {
            Command::Header | Command::Token => print(&header::run(&job)?),
            Command::Request(call) => request::run(&job, call),
        },
        Task::CacheList => print(&cache_cmd::list()?),
        Task::CacheClear {
            token_url,
            client_id,
        } => print(&cache_cmd::clear(
            token_url.as_deref(),
            client_id.as_deref(),
        )?),
    }
}

/// Writes `text` to stdout. A closed stdout (`| head -c0`) is not worth a panic or a
/// message: the exit code ([`STDOUT`]) says it.
fn print(text: &str) -> Result<(), Exit> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|_| Exit::silent(STDOUT))
}

/// The header `job` asks for: Basic for myConnectedFleet's Core API, else a token from the
/// job's source (a new one first with `--refresh`, past any cached token or failure).
fn auth(job: &Job) -> Result<Auth, Exit> {
    let creds = credentials::load(job.credentials_file.as_deref())?;
    match &job.header {
        HeaderSource::CoreBasic => Ok(Auth::Basic(creds, BasicEncoding::Raw)),
        HeaderSource::Token(settings, scheme) => {
            let source = token_source(settings, creds, job.cache)?;
            if job.refresh {
                source.refresh()?;
            }
            Ok(Auth::Token(source, *scheme))
        }
    }
}

fn token_source(
    settings: &TokenSettings,
    creds: Credentials,
    cache: bool,
) -> Result<TokenSource, Exit> {
    let mut config = TokenConfig::new(&settings.token_url, creds)
        .with_client_auth(settings.client_auth)
        .with_timeout(settings.timeout);
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
    config
}
