//! The command line: what `apiauth` was asked to do, parsed by hand (no parser dependency).

use std::path::PathBuf;
use std::time::Duration;

mod build;

use build::{job, settings};

use apiauth::providers::motorweb::Environment;
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{BasicEncoding, ClientAuth, TokenScheme};

/// What was asked for.
#[derive(Debug)]
pub enum Invocation {
    Help,
    Version,
    /// A task, and how many `-v`s were given.
    Run(Task, u8),
}

/// A command that does something.
#[derive(Debug)]
pub enum Task {
    /// `header`, `token` or `request`.
    Auth(Job),
    /// `cache list`.
    CacheList,
    /// `cache clear`: the entries that match all of the given criteria.
    CacheClear {
        /// The token endpoint of a provider's options, or `--token-url`.
        token: Option<TokenSettings>,
        client_id: Option<String>,
    },
}

/// A `header`, `token` or `request` run.
#[derive(Debug)]
pub struct Job {
    pub command: Command,
    pub header: HeaderSource,
    pub format: Format,
    pub credentials_file: Option<PathBuf>,
    pub cache: bool,
    /// Drop the cached token first.
    pub refresh: bool,
}

/// Where the header comes from.
#[derive(Debug)]
pub enum HeaderSource {
    /// myConnectedFleet's Core API: raw Basic from the credentials, nothing to fetch.
    CoreBasic,
    /// A token asked for as `TokenSettings` say, presented in `TokenScheme`.
    Token(TokenSettings, TokenScheme),
}

/// Which provider's token endpoint, with the base URL it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Preset {
    MyConnectedFleet {
        auth_base_url: String,
    },
    Motorweb {
        base_url: String,
    },
    Generic {
        token_url: String,
        client_auth: ClientAuth,
    },
}

/// Where and how to ask for a token.
#[derive(Debug)]
pub struct TokenSettings {
    pub preset: Preset,
    /// `--token-url`, over the preset's.
    pub token_url: Option<String>,
    pub scopes: Vec<String>,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Header,
    Token,
    Request(Box<Call>),
}

/// What `apiauth request` sends, as given (checked by `request.rs`).
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    /// A path below `api_base_url`, or a full URL on its origin.
    pub target: String,
    /// The provider's API base URL (or `--api-base-url`); `None` for generic without one.
    pub api_base_url: Option<String>,
    pub method: Option<String>,
    /// `@file`, `@-` or the body itself.
    pub data: Option<String>,
    /// `Name: value` lines.
    pub headers: Vec<String>,
    pub include: bool,
    pub customer_id: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Line,
    Value,
    Curl,
    Json,
}

const SECRET_ON_ARGV: &str = "refusing a secret on the command line: every user of this host \
    can read it with `ps`; set APIAUTH_CLIENT_SECRET or use --credentials-file (chmod 600)";

/// Every option, as given.
#[derive(Default)]
struct Given {
    words: Vec<&'static str>,
    target: Option<String>,
    verbose: u8,
    provider: Option<String>,
    api: Option<String>,
    env: Option<String>,
    client_auth: Option<String>,
    format: Option<String>,
    token_url: Option<String>,
    base_url: Option<String>,
    api_base_url: Option<String>,
    credentials_file: Option<PathBuf>,
    timeout: Option<String>,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    no_cache: bool,
    refresh: bool,
    method: Option<String>,
    data: Option<String>,
    headers: Vec<String>,
    include: bool,
    customer_id: Option<String>,
    client_id: Option<String>,
}

/// Parses the arguments after the program name. The error is a one-line usage message; it
/// never repeats a free-form argument, which could be a misplaced secret.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Invocation, String> {
    let mut args = args.into_iter();
    let mut g = Given::default();
    let mut position = 0;
    while let Some(arg) = args.next() {
        position += 1;
        let (name, mut inline) = match arg.split_once('=') {
            Some((name, value)) if arg.starts_with("--") => (name.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        let flag = inline.is_none();
        let mut value = || {
            inline
                .take()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let first = g.words.first().copied();
        match name.as_str() {
            "-h" | "--help" | "help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "-v" | "--verbose" => g.verbose = g.verbose.saturating_add(1),
            "-vv" => g.verbose = g.verbose.saturating_add(2),
            "header" | "token" | "request" | "cache" if first.is_none() => {
                g.words.push(word(&name));
            }
            "list" | "clear" if first == Some("cache") && g.words.len() == 1 => {
                g.words.push(word(&name));
            }
            "--provider" => g.provider = Some(value()?),
            "--api" => g.api = Some(value()?),
            "--env" => g.env = Some(value()?),
            "--client-auth" => g.client_auth = Some(value()?),
            "--format" => g.format = Some(value()?),
            "--token-url" => g.token_url = Some(value()?),
            "--base-url" => g.base_url = Some(value()?),
            "--api-base-url" => g.api_base_url = Some(value()?),
            "--credentials-file" => g.credentials_file = Some(PathBuf::from(value()?)),
            "--timeout" => g.timeout = Some(value()?),
            "--scope" => g.scopes.push(value()?),
            "--param" => {
                let pair = value()?;
                let (k, v) = pair.split_once('=').ok_or("--param takes NAME=VALUE")?;
                if secret_like(k) {
                    return Err(SECRET_ON_ARGV.into());
                }
                g.params.push((k.to_owned(), v.to_owned()));
            }
            "--no-cache" if flag => g.no_cache = true,
            "--refresh" if flag => g.refresh = true,
            "-X" | "--method" => g.method = Some(value()?),
            "-d" | "--data" => g.data = Some(value()?),
            "-H" | "--header" => g.headers.push(value()?),
            "-i" | "--include" if flag => g.include = true,
            "--customer-id" => g.customer_id = Some(value()?),
            "--client-id" => g.client_id = Some(value()?),
            n if n.starts_with('-') && secret_like(n) => return Err(SECRET_ON_ARGV.into()),
            n if n.starts_with('-') => return Err(format!("unknown option {n}")),
            _ if first == Some("request") && g.target.is_none() => g.target = Some(name),
            _ => return Err(format!("unexpected argument at position {position}")),
        }
    }
    let verbose = g.verbose;
    let task = match g.words[..] {
        [] => return Err("say `apiauth request`, `apiauth header` or `apiauth token`".into()),
        ["cache"] => return Err("say `apiauth cache list` or `apiauth cache clear`".into()),
        ["cache", "list"] => {
            no_request_options(&g, "cache list")?;
            match (&g.provider, &g.token_url, &g.client_id) {
                (None, None, None) => Task::CacheList,
                _ => return Err("`apiauth cache list` takes no selection".into()),
            }
        }
        ["cache", _] => {
            no_request_options(&g, "cache clear")?;
            let token = match (&g.provider, g.token_url.clone()) {
                (Some(_), _) => match settings(&mut g, None)?.1 {
                    Some((settings, _)) => Some(settings),
                    None => return Err("the core api has no tokens to clear".into()),
                },
                (None, Some(url)) => Some(TokenSettings {
                    preset: Preset::Generic {
                        token_url: url,
                        client_auth: ClientAuth::RequestBody,
                    },
                    token_url: None,
                    scopes: Vec::new(),
                    params: Vec::new(),
                    timeout: Duration::from_secs(10),
                }),
                (None, None) => None,
            };
            Task::CacheClear {
                token,
                client_id: g.client_id.take(),
            }
        }
        [command, ..] => Task::Auth(job(g, command)?),
    };
    Ok(Invocation::Run(task, verbose))
}

/// The static spelling of a command word.
fn word(name: &str) -> &'static str {
    ["header", "token", "request", "cache", "list", "clear"]
        .into_iter()
        .find(|w| *w == name)
        .unwrap_or("")
}

/// Refuses `request`'s options (and `--format`, unless `command` is `header`).
fn no_request_options(g: &Given, command: &str) -> Result<(), String> {
    let given = g.method.is_some() || g.data.is_some() || !g.headers.is_empty() || g.include;
    let format = g.format.is_some() && command.starts_with("cache");
    match given || g.customer_id.is_some() || g.api_base_url.is_some() || format {
        true => Err(format!("`apiauth {command}` takes no request options")),
        false => Ok(()),
    }
}

/// Whether an option or parameter name looks like it carries a secret.
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "passwd"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Invocation, String> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn secrets_on_argv_are_refused_without_being_echoed() {
        for line in [
            "header --provider motorweb --env test --client-secret hunter2",
            "header --provider motorweb --env test --client-secret=hunter2",
            "header --provider generic --token-url http://127.0.0.1/t --param client_secret=hunter2",
            "token --password hunter2 --provider motorweb",
        ] {
            let error = parse_str(line).unwrap_err();
            assert_eq!(error, SECRET_ON_ARGV, "{line}");
        }
        let error = parse_str("header hunter2").unwrap_err();
        assert_eq!(error, "unexpected argument at position 2");
    }

    #[test]
    fn presets_per_provider() {
        let preset = |line: &str| match parse_str(line).unwrap() {
            Invocation::Run(
                Task::Auth(Job {
                    header: HeaderSource::Token(settings, _),
                    ..
                }),
                _,
            ) => (settings.preset, settings.token_url),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            preset("token --provider motorweb --env test"),
            (
                Preset::Motorweb {
                    base_url: "https://api.tst.motorweb.app".into()
                },
                None
            )
        );
        assert_eq!(
            preset("token --provider my-connected-fleet --base-url http://127.0.0.1:1/"),
            (
                Preset::MyConnectedFleet {
                    auth_base_url: "http://127.0.0.1:1/".into()
                },
                None
            )
        );
        assert_eq!(
            preset("header --provider generic --token-url https://a.example/t --client-auth body"),
            (
                Preset::Generic {
                    token_url: "https://a.example/t".into(),
                    client_auth: ClientAuth::RequestBody
                },
                None
            )
        );
    }
}
