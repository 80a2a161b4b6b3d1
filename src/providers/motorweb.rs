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
//! let source = motorweb::token_source(Environment::Test, Credentials::new("id", "secret")?);
//! let token = source.token()?;
//! println!("expires {:?}", token.jwt_expiry());
//! let value = token.header(TokenScheme::Bearer); // "Bearer eyJ…"
//! # Ok::<(), apiauth::Error>(())
//! ```

use serde::de::DeserializeOwned;

use crate::api::path_segment;
use crate::{ApiClient, Auth, ClientAuth, Credentials, Result, TokenScheme, TokenSource};

/// The token endpoint's path below an environment's base URL.
pub const TOKEN_PATH: &str = "/auth/v1/token";

/// How the client authenticates to the token endpoint: `client_id` and `client_secret` in
/// the form body.
pub const CLIENT_AUTH: ClientAuth = ClientAuth::RequestBody;

/// A Motorweb environment. Credentials of one do not work in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// `https://api.tst.motorweb.app`, as documented.
    Test,
    /// `https://api.motorweb.app`. Not in Motorweb's document (which lists only the test
    /// URL): a guess from its naming; use [`token_source_at`] if yours differs.
    Production,
}

impl Environment {
    /// The environment's base URL, for the token endpoint and the APIs alike.
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::Test => "https://api.tst.motorweb.app",
            Environment::Production => "https://api.motorweb.app",
        }
    }
}

/// A token source for `environment`.
pub fn token_source(environment: Environment, credentials: Credentials) -> TokenSource {
    token_source_at(environment.base_url(), credentials)
}

/// A token source for the gateway at `base_url` (a test server, another environment).
pub fn token_source_at(base_url: &str, credentials: Credentials) -> TokenSource {
    TokenSource::new(token_url(base_url), credentials).with_client_auth(CLIENT_AUTH)
}

/// The token endpoint's URL below `base_url`: [`TOKEN_PATH`] appended.
pub fn token_url(base_url: &str) -> String {
    format!("{}{TOKEN_PATH}", base_url.trim_end_matches('/'))
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
/// let client = Client::new(Environment::Test, Credentials::new("id", "secret")?);
/// let vehicle: serde_json::Value = client.vehicle_by_plate("ABC123")?;
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    api: ApiClient,
    base_url: String,
}

impl Client {
    /// A client for `environment`; the token endpoint and the APIs share its base URL.
    pub fn new(environment: Environment, credentials: Credentials) -> Self {
        Self::at(environment.base_url(), credentials)
    }

    /// A client for the gateway at `base_url` (a test server, another environment).
    pub fn at(base_url: &str, credentials: Credentials) -> Self {
        let source = token_source_at(base_url, credentials);
        Client {
            api: ApiClient::new(Auth::Token(source, TokenScheme::Bearer)),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The agent API calls go through. Defaults to ureq's defaults.
    pub fn with_agent(mut self, agent: ureq::Agent) -> Self {
        self.api = self.api.with_agent(agent);
        self
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
        self.api.get_json(&format!(
            "{}/market-data/v1/vehicles/plate/{plate}",
            self.base_url
        ))
    }
}
