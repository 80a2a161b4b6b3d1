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
//!
//! // Or a client that puts the header on each call, and recovers from a 401:
//! let api = apiauth::ApiClient::new(apiauth::Auth::Token(source, TokenScheme::Bearer));
//! let url = format!("{}/market-data/v1/vehicles/plate/ABC123", Environment::Test.base_url());
//! let vehicle: serde_json::Value = api.get_json(&url)?;
//! # Ok::<(), apiauth::Error>(())
//! ```

use crate::{ClientAuth, Credentials, Result, TokenConfig};

/// The token endpoint's path below an environment's base URL.
const TOKEN_PATH: &str = "/auth/v1/token";

/// A Motorweb environment. Credentials of one do not work in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// `https://api.tst.motorweb.app`, as documented.
    Test,
    /// `https://api.motorweb.app`. Not in Motorweb's document (which lists only the test
    /// URL): a guess from its naming; use [`TokenConfig::with_base_url`] if yours differs.
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

/// The settings for Motorweb's token endpoint in `environment`: `{base_url}/auth/v1/token`,
/// the client id and secret in the form body. Point it at another server with
/// [`TokenConfig::with_base_url`], which keeps the path.
pub fn token_config(environment: Environment, credentials: Credentials) -> TokenConfig {
    let url = format!("{}{TOKEN_PATH}", environment.base_url());
    TokenConfig::new(url, credentials).with_client_auth(ClientAuth::RequestBody)
}
