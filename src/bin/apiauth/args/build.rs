//! From the options given to what the command will do: the provider's token endpoint, the
//! call of `apiauth request`, the output format. Every value has been checked by its
//! declaration already; this says what the options mean together.

use std::time::Duration;

use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet::{self, Api};

use super::*;

/// The default of `--timeout`.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The default of `--max-time`: generous, but a bound.
const MAX_TIME: Duration = Duration::from_secs(300);

/// A `header`, `token` or `request` job.
pub(super) fn job(g: &mut Given) -> Result<Job, String> {
    let provider = g.one(O::Provider).ok_or("--provider is required")?;
    let (token, api_base_url) = endpoints(g, provider)?;
    let command = match g.command {
        opts::HEADER => Command::Header,
        opts::TOKEN => Command::Token,
        _ => Command::Request(Box::new(call(g, api_base_url)?)),
    };
    let format = match g.one(O::Format) {
        None | Some("line") => Format::Line,
        Some("value") => Format::Value,
        Some("curl") => Format::Curl,
        Some(_) => Format::Json,
    };
    Ok(Job {
        command,
        header: token,
        format,
        credentials_file: g.one(O::CredentialsFile).map(PathBuf::from),
        cache: !g.flag(O::NoCache),
        refresh: g.flag(O::Refresh),
    })
}

/// `cache clear`, for the token endpoint of the provider's options (if given) and the
/// client id (if given).
pub(super) fn clear(g: &Given) -> Result<Task, String> {
    let token_url = match (g.one(O::Provider), g.one(O::TokenUrl)) {
        (Some(provider), _) => match endpoints(g, provider)?.0 {
            HeaderSource::Token(settings, _) => Some(settings.token_url),
            HeaderSource::CoreBasic => return Err("the core api has no tokens to clear".into()),
        },
        (None, url) => url.map(str::to_owned),
    };
    Ok(Task::CacheClear {
        token_url,
        client_id: g.one(O::ClientId).map(str::to_owned),
    })
}

/// The header's source for `provider`, and where its APIs live.
fn endpoints(g: &Given, provider: &str) -> Result<(HeaderSource, Option<String>), String> {
    let base_url = g.one(O::BaseUrl);
    let (token_url, client_auth, api_base_url, scheme) = match provider {
        "my-connected-fleet" => {
            let api = match (g.one(O::Api), g.command) {
                (None, opts::HEADER | opts::REQUEST) => return Err("--api is required".into()),
                (None, _) => None,
                (Some(name), _) => Some(api(name)),
            };
            let apis = g.one(O::ApiBaseUrl).or(base_url);
            let apis = apis.unwrap_or(my_connected_fleet::API_BASE_URL);
            if api == Some(Api::Core) {
                if g.command == opts::TOKEN {
                    return Err(
                        "the core api takes Basic, not a token: use `apiauth header`".into(),
                    );
                }
                return Ok((HeaderSource::CoreBasic, Some(apis.into())));
            }
            let auth = base_url.unwrap_or(my_connected_fleet::AUTH_BASE_URL);
            let scheme = api.map_or(TokenScheme::Bearer, Api::token_scheme);
            let style = ClientAuth::Basic(apiauth::BasicEncoding::Raw);
            (
                my_connected_fleet::token_url(auth),
                style,
                Some(apis.into()),
                scheme,
            )
        }
        "motorweb" => {
            let env = match g.one(O::Env) {
                Some("production") => Some(Environment::Production),
                Some(_) => Some(Environment::Test),
                None => None,
            };
            let base = match (base_url, env) {
                (Some(base), _) => Some(base),
                (None, Some(env)) => Some(env.base_url()),
                (None, None) if g.one(O::TokenUrl).is_some() => None,
                (None, None) => {
                    return Err("--env is required (test or production)".into());
                }
            };
            let token_url = motorweb::token_url(base.unwrap_or_default());
            let style = ClientAuth::RequestBody;
            (
                token_url,
                style,
                base.map(str::to_owned),
                TokenScheme::Bearer,
            )
        }
        _ => {
            if base_url.is_some() {
                return Err("--provider generic takes --token-url, not --base-url".into());
            }
            let token_url = g
                .one(O::TokenUrl)
                .ok_or("--provider generic needs --token-url")?;
            let style = g.one(O::ClientAuth).unwrap_or("basic").parse();
            let style = style.map_err(|_| "--client-auth takes basic, basic-raw or body")?;
            (token_url.to_owned(), style, None, TokenScheme::Bearer)
        }
    };
    let settings = TokenSettings {
        token_url: g.one(O::TokenUrl).map_or(token_url, str::to_owned),
        client_auth,
        scopes: g.all(O::Scope).map(str::to_owned).collect(),
        params: g
            .all(O::Param)
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        timeout: seconds(g, O::Timeout, TIMEOUT),
    };
    let api_base_url = g.one(O::ApiBaseUrl).map(str::to_owned).or(api_base_url);
    Ok((HeaderSource::Token(settings, scheme), api_base_url))
}

/// `apiauth request`'s options.
fn call(g: &mut Given, api_base_url: Option<String>) -> Result<Call, String> {
    let target = g
        .target
        .take()
        .ok_or("`apiauth request` needs a path or URL")?;
    Ok(Call {
        target,
        api_base_url,
        method: g.one(O::Method).map(str::to_owned),
        data: g.one(O::Data).map(str::to_owned),
        headers: g.all(O::Header).map(str::to_owned).collect(),
        include: g.flag(O::Include),
        customer_id: g.one(O::CustomerId).map(str::to_owned),
        timeout: seconds(g, O::Timeout, TIMEOUT),
        max_time: seconds(g, O::MaxTime, MAX_TIME),
    })
}

/// The seconds of `o` (checked when read), or `default`.
fn seconds(g: &Given, o: O, default: Duration) -> Duration {
    g.one(o).and_then(opts::seconds).unwrap_or(default)
}

/// The API named `name` (one of `opts::APIS`, checked when read).
fn api(name: &str) -> Api {
    match name {
        "core" => Api::Core,
        "smart-tire" => Api::SmartTire,
        "tacho" => Api::Tacho,
        "vehicle-check" => Api::VehicleCheck,
        _ => Api::JobManagement,
    }
}
