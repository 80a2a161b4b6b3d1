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
//! let source = my_connected_fleet::token_source(creds);
//! let token = source.token()?;
//! let (name, value) = (Api::JobManagement.token_scheme().header_name(),
//!                      token.header(Api::JobManagement.token_scheme()));
//! assert_eq!(name, "x-connect-token"); // value: "TOKEN …"
//! # Ok::<(), apiauth::Error>(())
//! ```

use serde::de::DeserializeOwned;

use crate::api::path_segment;
use crate::{
    ApiClient, Auth, AuthScheme, BasicEncoding, ClientAuth, Credentials, Result, TokenScheme,
    TokenSource,
};

/// Where the token endpoint lives.
pub const AUTH_BASE_URL: &str = "https://auth.masternautconnect.com";

/// The token endpoint's path below [`AUTH_BASE_URL`].
pub const TOKEN_PATH: &str = "/masternauth-oauth/oauth/accessToken";

/// How the client authenticates to the token endpoint: raw RFC 7617 Basic.
pub const CLIENT_AUTH: ClientAuth = ClientAuth::Basic(BasicEncoding::Raw);

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
    /// The scheme this API's documentation gives. For [`Api::Core`] that is raw Basic;
    /// newer Masternaut documentation also shows Bearer for Core, which a caller can use by
    /// asking for [`Api::token_scheme`] instead.
    pub fn scheme(self) -> AuthScheme {
        match self {
            Api::Core => AuthScheme::Basic(BasicEncoding::Raw),
            _ => AuthScheme::Token(self.token_scheme()),
        }
    }

    /// The scheme for this API's token: `x-connect-token` for Job Management, Bearer for
    /// every other API (Core included).
    pub fn token_scheme(self) -> TokenScheme {
        match self {
            Api::JobManagement => TokenScheme::ConnectToken,
            _ => TokenScheme::Bearer,
        }
    }
}

/// A token source for the production token endpoint.
pub fn token_source(credentials: Credentials) -> TokenSource {
    token_source_at(AUTH_BASE_URL, credentials)
}

/// A token source for the token endpoint below `auth_base_url` (a test server, a proxy).
pub fn token_source_at(auth_base_url: &str, credentials: Credentials) -> TokenSource {
    TokenSource::new(token_url(auth_base_url), credentials).with_client_auth(CLIENT_AUTH)
}

/// The token endpoint's URL below `auth_base_url`: [`TOKEN_PATH`] appended.
pub fn token_url(auth_base_url: &str) -> String {
    format!("{}{TOKEN_PATH}", auth_base_url.trim_end_matches('/'))
}

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
        credentials.basic_header(BasicEncoding::Raw)?;
        let source = token_source(credentials.clone());
        let core = ApiClient::new(Auth::Basic(credentials, BasicEncoding::Raw));
        Ok(Client {
            bearer: core
                .clone()
                .with_auth(Auth::Token(source.clone(), TokenScheme::Bearer)),
            connect_token: core
                .clone()
                .with_auth(Auth::Token(source, TokenScheme::ConnectToken)),
            core,
            api_base_url: API_BASE_URL.to_owned(),
            customer_id: path_segment(customer_id, "customer id")?.to_owned(),
        })
    }

    /// Where the APIs live. Defaults to [`API_BASE_URL`].
    pub fn with_api_base_url(mut self, url: &str) -> Self {
        self.api_base_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// Uses `source` for the token APIs (for instance [`token_source_at`] a test server).
    /// Defaults to [`token_source`] with the client's credentials.
    pub fn with_token_source(mut self, source: TokenSource) -> Self {
        self.bearer = self
            .bearer
            .with_auth(Auth::Token(source.clone(), TokenScheme::Bearer));
        self.connect_token = self
            .connect_token
            .with_auth(Auth::Token(source, TokenScheme::ConnectToken));
        self
    }

    /// The agent API calls go through. Defaults to ureq's defaults.
    pub fn with_agent(mut self, agent: ureq::Agent) -> Self {
        for client in [&mut self.core, &mut self.bearer, &mut self.connect_token] {
            *client = client.clone().with_agent(agent.clone());
        }
        self
    }

    /// The API client for `api`, with that API's header.
    pub fn api(&self, api: Api) -> &ApiClient {
        match api.scheme() {
            AuthScheme::Basic(_) => &self.core,
            AuthScheme::Token(TokenScheme::ConnectToken) => &self.connect_token,
            AuthScheme::Token(_) => &self.bearer,
        }
    }

    fn get<T: DeserializeOwned>(&self, api: Api, path: &str) -> Result<T> {
        let (base, customer) = (&self.api_base_url, &self.customer_id);
        self.api(api)
            .get_json(&format!("{base}{path}").replace("{customerId}", customer))
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
