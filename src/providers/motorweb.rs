//! Motorweb API Gateway: RFC 6749 §4.4 with the credentials in the form body, one base URL
//! and one credential pair per environment.
//!
//! The answer's `access_token` is a JWT; its `exp` claim (read, not verified) bounds the
//! token's life together with `expires_in` (3599 s). API calls carry
//! `Authorization: Bearer <jwt>`.
//!
//! # Examples
//!
//! ```no_run
//! use apiauth::{Credentials, TokenScheme, providers::motorweb::{self, Environment}};
//!
//! let source = motorweb::token_config(Environment::Test, Credentials::new("id", "secret")?)
//!     .build()?;
//! let token = source.token()?;
//! println!("expires {:?}", token.jwt_expiry());
//! let (name, value) = token.header(TokenScheme::Bearer); // authorization: Bearer eyJ…
//! # Ok::<(), apiauth::Error>(())
//! ```

use serde::de::DeserializeOwned;

use super::{join, path_segment};
use crate::{
    ApiClient, Auth, ClientAuth, Credentials, Result, TokenConfig, TokenScheme, TokenSource,
};

/// The token endpoint's path below an environment's base URL.
const TOKEN_PATH: &str = "/auth/v1/token";

/// A Motorweb environment. Credentials of one do not work in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// `https://api.tst.motorweb.app`, as documented.
    Test,
    /// `https://api.motorweb.app`. Not in Motorweb's document (which lists only the test
    /// URL): a guess from its naming; use [`token_config_at`] if yours differs.
    Production,
}

impl Environment {
    /// Every environment, in the order of [`Environment::name`]'s table.
    pub const ALL: [Environment; 2] = [Environment::Test, Environment::Production];

    /// The environment's name: `test` or `production` (the `apiauth` command's `--env`).
    pub fn name(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }

    /// The environment's base URL, for the token endpoint and the APIs alike.
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::Test => "https://api.tst.motorweb.app",
            Environment::Production => "https://api.motorweb.app",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = crate::Error;

    /// The environment named `name` (see [`Environment::name`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for any other name, which the message does
    /// not repeat.
    fn from_str(name: &str) -> Result<Environment> {
        let found = Environment::ALL.into_iter().find(|env| env.name() == name);
        found.ok_or_else(|| crate::Error::Config("environment takes test or production".into()))
    }
}

/// The token endpoint of the gateway at `base_url`: `{base_url}/auth/v1/token` (for
/// [`Environment::base_url`], the environment's).
///
/// # Examples
///
/// ```
/// use apiauth::providers::motorweb::{Environment, token_url};
///
/// let url = token_url(Environment::Test.base_url());
/// assert_eq!(url, "https://api.tst.motorweb.app/auth/v1/token");
/// ```
pub fn token_url(base_url: &str) -> String {
    join(base_url, TOKEN_PATH)
}

/// The token settings for `environment`: its token endpoint, with `client_id` and
/// `client_secret` in the form body. Add options, then [`build`](TokenConfig::build).
pub fn token_config(environment: Environment, credentials: Credentials) -> TokenConfig {
    token_config_at(environment.base_url(), credentials)
}

/// The token settings for the gateway at `base_url` (a test server, another environment):
/// the token endpoint is `{base_url}/auth/v1/token`.
pub fn token_config_at(base_url: &str, credentials: Credentials) -> TokenConfig {
    TokenConfig::new(token_url(base_url), credentials).with_client_auth(ClientAuth::RequestBody)
}

/// Calls Motorweb APIs with a cached JWT, retrying once with a new token after a 401 (the
/// gateway's `keymanagement.service.invalid_access_token` and `access_token_expired` faults
/// come as 401s).
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Credentials, providers::motorweb::{Client, Environment}};
///
/// let client = Client::new(Environment::Test, Credentials::new("id", "secret")?)?;
/// let vehicle: serde_json::Value = client.vehicle_by_plate("ABC123")?;
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    api: ApiClient,
    base_url: String,
    source: TokenSource,
    /// The settings `source` was built from, to rebuild it with an agent.
    config: TokenConfig,
}

impl Client {
    /// A client for `environment`; the token endpoint and the APIs share its base URL.
    ///
    /// # Errors
    ///
    /// Those of [`TokenConfig::build`].
    pub fn new(environment: Environment, credentials: Credentials) -> Result<Self> {
        Self::at(environment.base_url(), credentials)
    }

    /// A client for the gateway at `base_url` (a test server, another environment).
    ///
    /// # Errors
    ///
    /// Those of [`TokenConfig::build`].
    pub fn at(base_url: &str, credentials: Credentials) -> Result<Self> {
        let config = token_config_at(base_url, credentials);
        let source = config.clone().build()?;
        Ok(Client {
            api: ApiClient::new(Auth::Token(source.clone(), TokenScheme::Bearer)),
            base_url: base_url.trim_end_matches('/').to_owned(),
            source,
            config,
        })
    }

    /// The agent token requests and API calls go through (a proxy, TLS roots, a
    /// `User-Agent`, …); token requests keep their own settings, as
    /// [`TokenConfig::with_agent`] says. Call it before the first request: the client gets a
    /// new, empty token cache. Defaults to apiauth's own agent for token requests and
    /// ureq's defaults for API calls.
    pub fn with_agent(mut self, agent: ureq::Agent) -> Self {
        let config = self.config.clone().with_agent(agent.clone());
        self.source = TokenSource::from_config(config);
        let auth = Auth::Token(self.source.clone(), TokenScheme::Bearer);
        self.api = ApiClient::new_with_agent(agent, auth);
        self
    }

    /// The token source of this client (for [`stats`](TokenSource::stats), a
    /// [`prefetch`](TokenSource::prefetch), or a header for a call made elsewhere).
    pub fn token_source(&self) -> &TokenSource {
        &self.source
    }

    /// The API client, for calls this type has no method for.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// `GET /market-data/v1/vehicles/plate/{plate}`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when `plate` is not a plain path segment,
    /// and those of [`ApiClient::get_json`].
    pub fn vehicle_by_plate<T: DeserializeOwned>(&self, plate: &str) -> Result<T> {
        let plate = path_segment(plate, "plate")?;
        let path = format!("/market-data/v1/vehicles/plate/{plate}");
        self.api.get_json(&join(&self.base_url, &path))
    }
}
