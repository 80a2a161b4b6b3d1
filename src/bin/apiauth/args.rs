//! The command line: what `apiauth` was asked to do, parsed by hand (no parser dependency).

use std::path::PathBuf;
use std::time::Duration;

use apiauth::providers::motorweb::Environment;
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{BasicEncoding, ClientAuth, TokenScheme};

pub const HELP: &str = "\
apiauth: authorized API calls and HTTP auth headers for shell scripts, with a token cache
shared by every process

Usage:
  apiauth request --provider PROVIDER [options] PATH|URL   call an API, print the answer
  apiauth header  --provider PROVIDER [options]   print the header for one API
  apiauth token   --provider PROVIDER [options]   print the bare access token
  apiauth cache list                              list the cached tokens (never the tokens)
  apiauth cache clear [--provider … | --token-url URL] [--client-id ID]
                                                  remove cached tokens (all without a selection)
  apiauth --help | --version

Providers:
  --provider my-connected-fleet --api core|smart-tire|tacho|vehicle-check|job-management
  --provider motorweb --env test|production
  --provider generic --token-url URL [--client-auth basic|basic-raw|body]
        basic: RFC 6749 Basic (form-encoded id and secret, the default); basic-raw: RFC 7617
        Basic; body: client_id and client_secret in the form body

Options:
  -v, --verbose            log to stderr: -v what apiauth does (Info) and warnings; -vv also
                           apiauth's and ureq's Debug records. Never secrets, tokens, request
                           paths or headers other than Host, Content-Type and the like
  --token-url URL          the token endpoint (overrides the provider's)
  --base-url URL           the provider's base URL (the token path is appended)
  --scope S                a scope to ask for (repeatable)
  --param NAME=VALUE       an extra form parameter (repeatable)
  --format FORMAT          header output: line (`Name: value`, the default), value, curl
                           (`-H 'Name: value'`), json ({\"name\", \"value\", \"expires_in\",
                           \"expires_at\"}, expires_at in RFC 3339 UTC)
  --credentials-file PATH  APIAUTH_CLIENT_ID=… and APIAUTH_CLIENT_SECRET=… lines; the file
                           must not be readable by group or others (chmod 600)
  --no-cache               neither read nor write the disk cache
  --refresh                replace the cached token with a new one (after a server rejected it)
  --timeout SECONDS        the limit for each phase of a request (default 10)

Request options (apiauth request):
  PATH|URL                 a path below the API base URL, or a full URL on its origin
  --api-base-url URL       where the APIs live: myConnectedFleet https://api.masternautconnect.com,
                           Motorweb the environment's (or --base-url); required for generic
                           with a path
  -X, --method M           the method (default GET, or POST with --data)
  -d, --data @FILE|@-|TEXT the body, from a file, stdin or the argument (at most 10 MiB;
                           Content-Type: application/json unless --header sets one)
  -H, --header 'N: v'      an extra header (repeatable); auth headers and cookies are refused
  -i, --include            print the status line and the response headers first
  --customer-id ID         myConnectedFleet: replaces {customerId} in the path
  The answer's body goes to stdout, whatever its status. After a 401, the call is sent once
  more with a new token. Redirects are not followed.

Credentials come from APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET, or --credentials-file;
never from the command line, which every user of the host can read with `ps`.

Tokens are cached in $XDG_CACHE_HOME/apiauth (or ~/.cache/apiauth), one file per token URL,
client id, scopes and parameters, refreshed on the schedule the README tabulates.

Exit codes:
  0 ok   2 usage or configuration   3 credentials rejected by the server
  4 endpoint unreachable or timed out   5 unusable response   6 endpoint refused (429, 5xx, …)
  7 the API answered with a status other than 2xx (its body is still printed)

Examples:
  apiauth request --provider motorweb --env test /market-data/v1/vehicles/plate/ABC123
  apiauth request --provider my-connected-fleet --api job-management --customer-id 12345 \\
    '/job-management/v1/customer/{customerId}/jobs'
  apiauth header --provider motorweb --env test | curl -H @- https://api.tst.motorweb.app/…
  curl -H \"$(apiauth header --provider my-connected-fleet --api tacho)\" https://api.masternautconnect.com/…
";

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

/// A `header`, `token` or `request` job.
fn job(mut g: Given, command: &str) -> Result<Job, String> {
    let request = command == "request";
    if !request {
        no_request_options(&g, command)?;
    }
    if g.client_id.is_some() {
        return Err("--client-id applies to `apiauth cache clear`".into());
    }
    let (provider, token) = settings(&mut g, Some(command))?;
    let command = match command {
        "header" => Command::Header,
        "token" => Command::Token,
        _ => Command::Request(Box::new(call(&mut g, &provider)?)),
    };
    let format = parse_format(g.format.as_deref(), &command)?;
    let header = match token {
        None => HeaderSource::CoreBasic,
        Some((settings, scheme)) => HeaderSource::Token(settings, scheme),
    };
    Ok(Job {
        command,
        header,
        format,
        credentials_file: g.credentials_file,
        cache: !g.no_cache,
        refresh: g.refresh,
    })
}

/// `apiauth request`'s options, with the provider's API base URL.
fn call(g: &mut Given, provider: &str) -> Result<Call, String> {
    let target = g
        .target
        .take()
        .ok_or("`apiauth request` needs a path or URL")?;
    let api_base_url = match provider {
        "motorweb" => g
            .api_base_url
            .take()
            .or_else(|| g.base_url.take())
            .or_else(|| env_base_url(g.env.as_deref())),
        "my-connected-fleet" => Some(
            g.api_base_url
                .take()
                .unwrap_or(my_connected_fleet::API_BASE_URL.into()),
        ),
        _ => g.api_base_url.take(),
    };
    if g.customer_id.is_some() && provider != "my-connected-fleet" {
        return Err("--customer-id applies only to --provider my-connected-fleet".into());
    }
    Ok(Call {
        target,
        api_base_url,
        method: g.method.take(),
        data: g.data.take(),
        headers: std::mem::take(&mut g.headers),
        include: g.include,
        customer_id: g.customer_id.take(),
        timeout: parse_timeout(g.timeout.as_deref())?,
    })
}

fn env_base_url(env: Option<&str>) -> Option<String> {
    match env? {
        "test" => Some(Environment::Test.base_url().into()),
        "production" => Some(Environment::Production.base_url().into()),
        _ => None,
    }
}

fn parse_timeout(timeout: Option<&str>) -> Result<Duration, String> {
    match timeout {
        None => Ok(Duration::from_secs(10)),
        Some(secs) => secs
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "--timeout takes a positive number of seconds".into()),
    }
}

/// The provider's name, and its token settings with the scheme `command` presents the token
/// in (`None` for myConnectedFleet's Core API, which takes Basic). `command` is `None` for
/// `cache clear`, which only needs the token endpoint.
type Settings = (String, Option<(TokenSettings, TokenScheme)>);

fn settings(g: &mut Given, command: Option<&str>) -> Result<Settings, String> {
    let provider = g.provider.take().ok_or("--provider is required")?;
    let timeout = parse_timeout(g.timeout.as_deref())?;
    let only_for = |option: &str, given: bool, provider: &str| match given {
        true => Err(format!("{option} applies only to --provider {provider}")),
        false => Ok(()),
    };
    let (preset, scheme) = match provider.as_str() {
        "my-connected-fleet" => {
            only_for("--env", g.env.is_some(), "motorweb")?;
            only_for("--client-auth", g.client_auth.is_some(), "generic")?;
            let api = match (g.api.as_deref(), command) {
                (None, Some("header" | "request")) => return Err("--api is required".into()),
                (None, _) => None,
                (Some(name), _) => Some(parse_api(name)?),
            };
            if api == Some(Api::Core) {
                if command == Some("token") {
                    return Err(
                        "the core api takes Basic, not a token: use `apiauth header`".into(),
                    );
                }
                return Ok((provider, None));
            }
            let auth_base_url = g
                .base_url
                .take()
                .unwrap_or(my_connected_fleet::AUTH_BASE_URL.into());
            let scheme = api.map_or(TokenScheme::Bearer, Api::token_scheme);
            (Preset::MyConnectedFleet { auth_base_url }, scheme)
        }
        "motorweb" => {
            only_for("--api", g.api.is_some(), "my-connected-fleet")?;
            only_for("--client-auth", g.client_auth.is_some(), "generic")?;
            let base_url = match (g.env.as_deref(), g.base_url.clone()) {
                (_, Some(base)) => base,
                (Some(env), None) => env_base_url(Some(env))
                    .ok_or_else(|| format!("unknown --env {env:?} (test, production)"))?,
                // The URL is --token-url's; the preset only says how to authenticate.
                (None, None) if g.token_url.is_some() => Environment::Test.base_url().into(),
                (None, None) => return Err("--env is required (test or production)".into()),
            };
            (Preset::Motorweb { base_url }, TokenScheme::Bearer)
        }
        "generic" => {
            only_for("--api", g.api.is_some(), "my-connected-fleet")?;
            only_for("--env", g.env.is_some(), "motorweb")?;
            if g.base_url.is_some() {
                return Err("--provider generic takes --token-url, not --base-url".into());
            }
            let auth = match g.client_auth.as_deref().unwrap_or("basic") {
                "basic" => ClientAuth::Basic(BasicEncoding::FormUrlEncoded),
                "basic-raw" => ClientAuth::Basic(BasicEncoding::Raw),
                "body" => ClientAuth::RequestBody,
                other => {
                    return Err(format!(
                        "unknown --client-auth {other:?} (basic, basic-raw, body)"
                    ));
                }
            };
            let token_url = g
                .token_url
                .take()
                .ok_or("--provider generic needs --token-url")?;
            let preset = Preset::Generic {
                token_url,
                client_auth: auth,
            };
            (preset, TokenScheme::Bearer)
        }
        other => {
            return Err(format!(
                "unknown --provider {other:?} (my-connected-fleet, motorweb, generic)"
            ));
        }
    };
    let settings = TokenSettings {
        preset,
        token_url: g.token_url.take(),
        scopes: std::mem::take(&mut g.scopes),
        params: std::mem::take(&mut g.params),
        timeout,
    };
    Ok((provider, Some((settings, scheme))))
}

fn parse_api(name: &str) -> Result<Api, String> {
    Ok(match name {
        "core" => Api::Core,
        "smart-tire" => Api::SmartTire,
        "tacho" => Api::Tacho,
        "vehicle-check" => Api::VehicleCheck,
        "job-management" => Api::JobManagement,
        other => {
            return Err(format!(
                "unknown --api {other:?} (core, smart-tire, tacho, vehicle-check, job-management)"
            ));
        }
    })
}

fn parse_format(format: Option<&str>, command: &Command) -> Result<Format, String> {
    match (format, command) {
        (None, _) => Ok(Format::Line),
        (Some(_), Command::Token | Command::Request(_)) => {
            Err("--format applies to `apiauth header`".into())
        }
        (Some("line"), _) => Ok(Format::Line),
        (Some("value"), _) => Ok(Format::Value),
        (Some("curl"), _) => Ok(Format::Curl),
        (Some("json"), _) => Ok(Format::Json),
        (Some(other), _) => Err(format!(
            "unknown --format {other:?} (line, value, curl, json)"
        )),
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
