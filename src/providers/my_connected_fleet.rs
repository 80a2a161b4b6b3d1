//! myConnectedFleet (Masternaut Connect): Basic for the Core API, an OAuth2 token for the
//! others.
//!
//! The token endpoint takes the client id and secret as a raw RFC 7617 Basic header and
//! `grant_type=client_credentials`, and answers `{"success": true, "accessToken": …,
//! "token_type": "bearer", "expires_in": …}` (about 30 days). `"success": false` is a
//! rejection whatever the HTTP status.
//!
//! # Examples
//!
//! ```no_run
//! use apiauth::{Credentials, providers::my_connected_fleet::{self, Api}};
//!
//! let creds = Credentials::new("clientId", "clientSecret")?;
//! let source = my_connected_fleet::token_config(creds).build()?;
//! let token = source.token()?;
//! let (name, value) = token.header(Api::JobManagement.token_scheme());
//! assert_eq!(name, "x-connect-token"); // value: "TOKEN …"
//! # Ok::<(), apiauth::Error>(())
//! ```

use serde::de::DeserializeOwned;

use super::{join, path_segment};
use crate::{
    ApiClient, Auth, BasicEncoding, ClientAuth, Credentials, Result, TokenConfig, TokenScheme,
    TokenSource,
};

/// Where the token endpoint lives.
pub const AUTH_BASE_URL: &str = "https://auth.masternautconnect.com";

/// The token endpoint's path below [`AUTH_BASE_URL`].
const TOKEN_PATH: &str = "/masternauth-oauth/oauth/accessToken";

/// Where the APIs live.
pub const API_BASE_URL: &str = "https://api.masternautconnect.com";

/// The myConnectedFleet APIs, each with the header it wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// The Core API: `Authorization: Basic` on every call.
    Core,
    /// Smart Tire: `Authorization: Bearer`.
    SmartTire,
    /// Tacho: `Authorization: Bearer`.
    Tacho,
    /// Vehicle Check: `Authorization: Bearer`.
    VehicleCheck,
    /// Job Management: `x-connect-token: TOKEN <token>`, and no `Authorization`.
    JobManagement,
}

impl Api {
    /// Every API, in the order of [`Api::name`]'s table.
    pub const ALL: [Api; 5] = [
        Api::Core,
        Api::SmartTire,
        Api::Tacho,
        Api::VehicleCheck,
        Api::JobManagement,
    ];

    /// The API's name: `core`, `smart-tire`, `tacho`, `vehicle-check` or `job-management`
    /// (the `apiauth` command's `--api`).
    pub fn name(self) -> &'static str {
        match self {
            Api::Core => "core",
            Api::SmartTire => "smart-tire",
            Api::Tacho => "tacho",
            Api::VehicleCheck => "vehicle-check",
            Api::JobManagement => "job-management",
        }
    }

    /// The scheme for this API's token: `x-connect-token` for Job Management, Bearer for
    /// every other API. The Core API's document gives raw Basic (what [`Client`] sends);
    /// newer Masternaut documentation also shows Bearer for Core, which this gives.
    pub fn token_scheme(self) -> TokenScheme {
        match self {
            Api::JobManagement => TokenScheme::ConnectToken,
            _ => TokenScheme::Bearer,
        }
    }
}

impl std::str::FromStr for Api {
    type Err = crate::Error;

    /// The API named `name` (see [`Api::name`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for any other name, which the message does
    /// not repeat.
    fn from_str(name: &str) -> Result<Api> {
        let found = Api::ALL.into_iter().find(|api| api.name() == name);
        found.ok_or_else(|| crate::Error::Config("unknown myConnectedFleet api".into()))
    }
}

/// The token endpoint below `auth_base_url`:
/// `{auth_base_url}/masternauth-oauth/oauth/accessToken` (for [`AUTH_BASE_URL`], production's).
///
/// # Examples
///
/// ```
/// use apiauth::providers::my_connected_fleet::{AUTH_BASE_URL, token_url};
///
/// let url = token_url(AUTH_BASE_URL);
/// assert_eq!(url, "https://auth.masternautconnect.com/masternauth-oauth/oauth/accessToken");
/// ```
pub fn token_url(auth_base_url: &str) -> String {
    join(auth_base_url, TOKEN_PATH)
}

/// The token settings for the production token endpoint: raw RFC 7617 Basic and
/// `grant_type=client_credentials`. Add options, then [`build`](TokenConfig::build).
pub fn token_config(credentials: Credentials) -> TokenConfig {
    token_config_at(AUTH_BASE_URL, credentials)
}

/// The token settings for the token endpoint below `auth_base_url` (a test server, a
/// proxy): `{auth_base_url}/masternauth-oauth/oauth/accessToken`.
pub fn token_config_at(auth_base_url: &str, credentials: Credentials) -> TokenConfig {
    TokenConfig::new(token_url(auth_base_url), credentials)
        .with_client_auth(ClientAuth::Basic(BasicEncoding::Raw))
}

/// `path` with its `{customerId}` replaced by `customer_id`, which must be one plain path
/// segment (letters, digits, `-`, `_`, `.`) so that it can never change the path.
///
/// # Errors
///
/// [`Error::Config`](crate::Error::Config) for any other customer id, or a `path` without
/// `{customerId}`.
///
/// # Examples
///
/// ```
/// use apiauth::providers::my_connected_fleet::customer_path;
///
/// let path = customer_path("/job-management/v1/customer/{customerId}/jobs", "12345")?;
/// assert_eq!(path, "/job-management/v1/customer/12345/jobs");
/// assert!(customer_path("/v1/customer/{customerId}", "../admin").is_err());
/// # Ok::<(), apiauth::Error>(())
/// ```
pub fn customer_path(path: &str, customer_id: &str) -> Result<String> {
    if !path.contains(CUSTOMER_ID) {
        return Err(crate::Error::Config(format!(
            "the path has no {CUSTOMER_ID} to put the customer id in"
        )));
    }
    Ok(path.replace(CUSTOMER_ID, path_segment(customer_id, "customer id")?))
}

/// The API clients for Core (Basic), the Bearer APIs and Job Management, on `agent`.
fn api_clients(
    agent: &ureq::Agent,
    credentials: &Credentials,
    source: &TokenSource,
) -> [ApiClient; 3] {
    let on = |auth| ApiClient::new_with_agent(agent.clone(), auth);
    [
        on(Auth::Basic(credentials.clone(), BasicEncoding::Raw)),
        on(Auth::Token(source.clone(), TokenScheme::Bearer)),
        on(Auth::Token(source.clone(), TokenScheme::ConnectToken)),
    ]
}

/// The placeholder of the customer id in myConnectedFleet's paths.
const CUSTOMER_ID: &str = "{customerId}";

/// Calls myConnectedFleet APIs for one customer, each with the header it wants: Basic for
/// Core, Bearer for Smart Tire, `x-connect-token` for Job Management, all from one cached
/// token. A 401 on a token gets one retry with a new token.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Credentials, providers::my_connected_fleet::Client};
///
/// let client = Client::new(Credentials::new("clientId", "clientSecret")?, "12345")?;
/// let live: serde_json::Value = client.tracking_live()?;
/// let jobs: serde_json::Value = client.jobs()?;
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    core: ApiClient,
    bearer: ApiClient,
    connect_token: ApiClient,
    api_base_url: String,
    customer_id: String,
    credentials: Credentials,
    source: TokenSource,
    /// The settings `source` was built from, to rebuild it with an agent; `None` for a
    /// source given by [`Client::with_token_source`].
    config: Option<TokenConfig>,
}

impl Client {
    /// A client for `customer_id` against the production endpoints.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when `customer_id` is not a plain path
    /// segment (letters, digits, `-`, `_`, `.`), or the client id cannot be sent as raw
    /// Basic.
    pub fn new(credentials: Credentials, customer_id: &str) -> Result<Self> {
        Self::at(AUTH_BASE_URL, API_BASE_URL, credentials, customer_id)
    }

    /// A client for `customer_id` with the token endpoint below `auth_base_url` (as
    /// [`token_config_at`]) and the APIs below `api_base_url`: a test server, a proxy.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`Error::Config`](crate::Error::Config) for a base URL
    /// that fails [`check_url`](crate::check_url) (plain http to a host that is not
    /// loopback, a user and password). Nothing is sent.
    pub fn at(
        auth_base_url: &str,
        api_base_url: &str,
        credentials: Credentials,
        customer_id: &str,
    ) -> Result<Self> {
        crate::wire::check(api_base_url, "api base url", false)?;
        let config = token_config_at(auth_base_url, credentials.clone());
        let source = config.clone().build()?;
        let customer_id = path_segment(customer_id, "customer id")?.to_owned();
        let agent = crate::transport::default_agent();
        let [core, bearer, connect_token] = api_clients(&agent, &credentials, &source);
        Ok(Client {
            core,
            bearer,
            connect_token,
            api_base_url: api_base_url.trim_end_matches('/').to_owned(),
            customer_id,
            credentials,
            source,
            config: Some(config),
        })
    }

    /// Where the APIs live. Every call's URL passes [`check_url`](crate::check_url) (plain
    /// http only to loopback). Defaults to [`API_BASE_URL`].
    pub fn with_api_base_url(mut self, url: &str) -> Self {
        self.api_base_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// Uses `source` for the token APIs (for instance one built from [`token_config_at`] a
    /// test server). Its token requests go through the agent it was built with, whatever
    /// [`with_agent`](Self::with_agent) says. Defaults to [`token_config`] with the client's
    /// credentials.
    pub fn with_token_source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self.config = None;
        let agent = self.core.agent().clone();
        [self.core, self.bearer, self.connect_token] =
            api_clients(&agent, &self.credentials, &self.source);
        self
    }

    /// The agent token requests and API calls go through (a proxy, TLS roots, a
    /// `User-Agent`, …); token requests keep their own settings, as
    /// [`TokenConfig::with_agent`] says. Call it before the first request: the client gets a
    /// new, empty token cache. Defaults to apiauth's own agent for token requests and
    /// ureq's defaults for API calls.
    pub fn with_agent(mut self, agent: ureq::Agent) -> Self {
        if let Some(config) = &self.config {
            let config = config.clone().with_agent(agent.clone());
            self.source = TokenSource::from_config(config);
        }
        [self.core, self.bearer, self.connect_token] =
            api_clients(&agent, &self.credentials, &self.source);
        self
    }

    /// The token source of the token APIs (for [`stats`](TokenSource::stats), a
    /// [`prefetch`](TokenSource::prefetch), or a header for a call made elsewhere).
    pub fn token_source(&self) -> &TokenSource {
        &self.source
    }

    /// The API client for `api`, with that API's header: Basic for Core, the token in
    /// [`Api::token_scheme`] for the others.
    pub fn api(&self, api: Api) -> &ApiClient {
        match (api, api.token_scheme()) {
            (Api::Core, _) => &self.core,
            (_, TokenScheme::ConnectToken) => &self.connect_token,
            (_, _) => &self.bearer,
        }
    }

    /// `GET` of `path` (with `{customerId}` in it) below the API base URL. The customer id
    /// is put into the path only, never into the base URL.
    fn get<T: DeserializeOwned>(&self, api: Api, path: &str) -> Result<T> {
        self.api(api).get_json(&self.url(path))
    }

    fn url(&self, path: &str) -> String {
        join(
            &self.api_base_url,
            &path.replace(CUSTOMER_ID, &self.customer_id),
        )
    }

    /// Core API: `GET …/customer/{customerId}/tracking/live`, with Basic.
    pub fn tracking_live<T: DeserializeOwned>(&self) -> Result<T> {
        self.get(
            Api::Core,
            "/connect-webservices/services/public/v1/customer/{customerId}/tracking/live",
        )
    }

    /// Smart Tire API: `GET …/customer/{customerId}/tire/events`, with Bearer.
    pub fn tire_events<T: DeserializeOwned>(&self) -> Result<T> {
        self.get(
            Api::SmartTire,
            "/connect-webservices/services/public/v1/customer/{customerId}/tire/events",
        )
    }

    /// Job Management API: `GET /job-management/v1/customer/{customerId}/jobs`, with
    /// `x-connect-token` and no `Authorization`.
    pub fn jobs<T: DeserializeOwned>(&self) -> Result<T> {
        self.get(
            Api::JobManagement,
            "/job-management/v1/customer/{customerId}/jobs",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_id_goes_into_the_path_only() {
        let creds = Credentials::new("id", "secret").unwrap();
        let client = Client::new(creds, "42")
            .unwrap()
            .with_api_base_url("https://proxy.example/{customerId}/");
        assert_eq!(
            client.url("/v1/customer/{customerId}/jobs"),
            "https://proxy.example/{customerId}/v1/customer/42/jobs"
        );
    }
}
