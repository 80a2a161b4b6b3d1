//! From the options given to what the command will do: the provider's token settings,
//! the call of `apiauth request`, the output format.

use super::*;

/// A `header`, `token` or `request` job.
pub(super) fn job(mut g: Given, command: &str) -> Result<Job, String> {
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

pub(super) fn settings(g: &mut Given, command: Option<&str>) -> Result<Settings, String> {
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
