//! The command line: what `apiauth` was asked to do, parsed by hand (no parser dependency).

use std::path::PathBuf;
use std::time::Duration;

use apiauth::providers::motorweb::Environment;
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{BasicEncoding, ClientAuth, TokenScheme};

pub const HELP: &str = "\
apiauth: HTTP auth headers for shell scripts, with a token cache shared by every process

Usage:
  apiauth header --provider PROVIDER [options]   print the header for one API
  apiauth token  --provider PROVIDER [options]   print the bare access token
  apiauth --help | --version

Providers:
  --provider my-connected-fleet --api core|smart-tire|tacho|vehicle-check|job-management
  --provider motorweb --env test|production
  --provider generic --token-url URL [--client-auth basic|basic-raw|body]
        basic: RFC 6749 Basic (form-encoded id and secret, the default); basic-raw: RFC 7617
        Basic; body: client_id and client_secret in the form body

Options:
  --token-url URL          the token endpoint (overrides the provider's)
  --base-url URL           the provider's base URL (the token path is appended)
  --scope S                a scope to ask for (repeatable)
  --param NAME=VALUE       an extra form parameter (repeatable)
  --format FORMAT          header output: line (`Name: value`, the default), value, curl
                           (`-H 'Name: value'`), json ({\"name\", \"value\", \"expires_in\"})
  --credentials-file PATH  APIAUTH_CLIENT_ID=… and APIAUTH_CLIENT_SECRET=… lines; the file
                           must not be readable by group or others (chmod 600)
  --no-cache               neither read nor write the disk cache
  --refresh                replace the cached token with a new one (after a server rejected it)
  --timeout SECONDS        the limit for each phase of the token request (default 10)

Credentials come from APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET, or --credentials-file;
never from the command line, which every user of the host can read with `ps`.

Tokens are cached in $XDG_CACHE_HOME/apiauth (or ~/.cache/apiauth), one file per token URL,
client id, scopes and parameters, refreshed on the schedule the README tabulates.

Exit codes:
  0 ok   2 usage or configuration   3 credentials rejected by the server
  4 endpoint unreachable or timed out   5 unusable response   6 endpoint refused (429, 5xx, …)

Examples:
  apiauth header --provider motorweb --env test | curl -H @- https://api.tst.motorweb.app/…
  curl -H \"$(apiauth header --provider my-connected-fleet --api tacho)\" https://api.masternautconnect.com/…
  apiauth header --provider generic --token-url https://auth.example.com/token --scope read --format json
";

/// What was asked for.
#[derive(Debug)]
pub enum Invocation {
    Help,
    Version,
    Run(Job),
}

/// A `header` or `token` run.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Header,
    Token,
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

/// Parses the arguments after the program name. The error is a one-line usage message; it
/// never repeats a free-form argument, which could be a misplaced secret.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Invocation, String> {
    let mut args = args.into_iter();
    let mut command = None;
    let (mut provider, mut api, mut env, mut client_auth, mut format) =
        (None, None, None, None, None);
    let (mut token_url, mut base_url, mut credentials_file, mut timeout) = (None, None, None, None);
    let (mut scopes, mut params, mut cache, mut refresh) = (Vec::new(), Vec::new(), true, false);
    let mut position = 0;
    while let Some(arg) = args.next() {
        position += 1;
        let (name, mut inline) = match arg.split_once('=') {
            Some((name, value)) if arg.starts_with("--") => (name.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .take()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" | "help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "header" if command.is_none() => command = Some(Command::Header),
            "token" if command.is_none() => command = Some(Command::Token),
            "--provider" => provider = Some(value()?),
            "--api" => api = Some(value()?),
            "--env" => env = Some(value()?),
            "--client-auth" => client_auth = Some(value()?),
            "--format" => format = Some(value()?),
            "--token-url" => token_url = Some(value()?),
            "--base-url" => base_url = Some(value()?),
            "--credentials-file" => credentials_file = Some(PathBuf::from(value()?)),
            "--timeout" => timeout = Some(value()?),
            "--scope" => scopes.push(value()?),
            "--param" => {
                let pair = value()?;
                let (k, v) = pair.split_once('=').ok_or("--param takes NAME=VALUE")?;
                if secret_like(k) {
                    return Err(SECRET_ON_ARGV.into());
                }
                params.push((k.to_owned(), v.to_owned()));
            }
            "--no-cache" if inline.is_none() => cache = false,
            "--refresh" if inline.is_none() => refresh = true,
            n if n.starts_with('-') && secret_like(n) => return Err(SECRET_ON_ARGV.into()),
            n if n.starts_with('-') => return Err(format!("unknown option {n}")),
            _ => return Err(format!("unexpected argument at position {position}")),
        }
    }
    let command = command.ok_or("say `apiauth header` or `apiauth token`")?;
    let provider = provider.ok_or("--provider is required")?;
    let timeout = match timeout {
        None => Duration::from_secs(10),
        Some(secs) => secs
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
            .ok_or("--timeout takes a positive number of seconds")?,
    };
    let only_for = |option: &str, given: bool, provider: &str| match given {
        true => Err(format!("{option} applies only to --provider {provider}")),
        false => Ok(()),
    };
    let (preset, scheme) = match provider.as_str() {
        "my-connected-fleet" => {
            only_for("--env", env.is_some(), "motorweb")?;
            only_for("--client-auth", client_auth.is_some(), "generic")?;
            let api = match (api.as_deref(), command) {
                (None, Command::Token) => None,
                (None, Command::Header) => return Err("--api is required".into()),
                (Some(name), _) => Some(parse_api(name)?),
            };
            if api == Some(Api::Core) {
                if command == Command::Token {
                    return Err(
                        "the core api takes Basic, not a token: use `apiauth header`".into(),
                    );
                }
                let run = Job {
                    command,
                    header: HeaderSource::CoreBasic,
                    format: parse_format(format.as_deref(), command)?,
                    credentials_file,
                    cache,
                    refresh,
                };
                return Ok(Invocation::Run(run));
            }
            let auth_base_url = base_url.unwrap_or(my_connected_fleet::AUTH_BASE_URL.into());
            let scheme = api.map_or(TokenScheme::Bearer, Api::token_scheme);
            (Preset::MyConnectedFleet { auth_base_url }, scheme)
        }
        "motorweb" => {
            only_for("--api", api.is_some(), "my-connected-fleet")?;
            only_for("--client-auth", client_auth.is_some(), "generic")?;
            let base_url = match (env.as_deref(), base_url) {
                (_, Some(base)) => base,
                (Some("test"), None) => Environment::Test.base_url().into(),
                (Some("production"), None) => Environment::Production.base_url().into(),
                (Some(other), None) => {
                    return Err(format!("unknown --env {other:?} (test, production)"));
                }
                // The URL is --token-url's; the preset only says how to authenticate.
                (None, None) if token_url.is_some() => Environment::Test.base_url().into(),
                (None, None) => return Err("--env is required (test or production)".into()),
            };
            (Preset::Motorweb { base_url }, TokenScheme::Bearer)
        }
        "generic" => {
            only_for("--api", api.is_some(), "my-connected-fleet")?;
            only_for("--env", env.is_some(), "motorweb")?;
            if base_url.is_some() {
                return Err("--provider generic takes --token-url, not --base-url".into());
            }
            let auth = match client_auth.as_deref().unwrap_or("basic") {
                "basic" => ClientAuth::Basic(BasicEncoding::FormUrlEncoded),
                "basic-raw" => ClientAuth::Basic(BasicEncoding::Raw),
                "body" => ClientAuth::RequestBody,
                other => {
                    return Err(format!(
                        "unknown --client-auth {other:?} (basic, basic-raw, body)"
                    ));
                }
            };
            let token_url = token_url
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
    Ok(Invocation::Run(Job {
        command,
        header: HeaderSource::Token(
            TokenSettings {
                preset,
                token_url,
                scopes,
                params,
                timeout,
            },
            scheme,
        ),
        format: parse_format(format.as_deref(), command)?,
        credentials_file,
        cache,
        refresh,
    }))
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

fn parse_format(format: Option<&str>, command: Command) -> Result<Format, String> {
    match (format, command) {
        (None, _) => Ok(Format::Line),
        (Some(_), Command::Token) => Err("--format applies to `apiauth header`".into()),
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
            Invocation::Run(Job {
                header: HeaderSource::Token(settings, _),
                ..
            }) => (settings.preset, settings.token_url),
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
