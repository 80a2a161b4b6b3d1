//! myConnectedFleet (Masternaut Connect): Basic for the Core API, an OAuth2 token for the
//! others.
//!
//! The token endpoint takes the client id and secret as a raw RFC 7617 Basic header and
//! `grant_type=client_credentials`, and answers `{"success": true, "accessToken": …,
//! "token_type": "bearer", "expires_in": …}` (about 30 days). `"success": false` is a
//! rejection whatever the HTTP status. The APIs live at [`Api::base_url`]; each wants the
//! header [`Api::auth`] gives (the repository's `examples/fleet_api.rs` calls them).
//!
//! # Examples
//!
//! ```no_run
//! use apiauth::{ApiClient, Credentials, providers::my_connected_fleet::{self, Api}};
//!
//! let creds = Credentials::new("clientId", "clientSecret")?;
//! let source = my_connected_fleet::token_config(creds.clone()).build()?;
//! let token = source.token()?;
//! let (name, value) = token.header(Api::JobManagement.token_scheme());
//! assert_eq!(name, "x-connect-token"); // value: "TOKEN …"
//!
//! // Or a client that puts the right header on each call, and recovers from a 401:
//! let jobs = ApiClient::new(Api::JobManagement.auth(&creds, &source));
//! let url = format!("{}/job-management/v1/customer/42/jobs", Api::JobManagement.base_url());
//! let list: serde_json::Value = jobs.get_json(&url)?;
//! # Ok::<(), apiauth::Error>(())
//! ```

use crate::{BasicEncoding, ClientAuth, Credentials, Result, TokenConfig, TokenScheme};

/// The production token endpoint.
const TOKEN_URL: &str = "https://auth.masternautconnect.com/masternauth-oauth/oauth/accessToken";

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
    /// every other API. The Core API's document gives raw Basic (what [`Api::auth`] gives);
    /// newer Masternaut documentation also shows Bearer for Core, which this gives.
    pub fn token_scheme(self) -> TokenScheme {
        match self {
            Api::JobManagement => TokenScheme::ConnectToken,
            _ => TokenScheme::Bearer,
        }
    }

    /// Where the APIs live in production: `https://api.masternautconnect.com`.
    pub fn base_url(self) -> &'static str {
        "https://api.masternautconnect.com"
    }

    /// The auth this API wants: raw Basic with `credentials` for the Core API, a token from
    /// `source` in [`token_scheme`](Self::token_scheme) for the others. Only with the
    /// `client` feature (on by default).
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub fn auth(self, credentials: &Credentials, source: &crate::TokenSource) -> crate::Auth {
        match self {
            Api::Core => crate::Auth::Basic(credentials.clone(), BasicEncoding::Raw),
            _ => crate::Auth::Token(source.clone(), self.token_scheme()),
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

/// The settings for myConnectedFleet's token endpoint: production's URL, the client id and
/// secret as a raw RFC 7617 Basic header. Point it at another server with
/// [`TokenConfig::with_base_url`], which keeps the path.
pub fn token_config(credentials: Credentials) -> TokenConfig {
    TokenConfig::new(TOKEN_URL, credentials).with_client_auth(ClientAuth::Basic(BasicEncoding::Raw))
}
