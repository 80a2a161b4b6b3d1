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

use crate::{AuthScheme, BasicEncoding, ClientAuth, Credentials, TokenScheme, TokenSource};

/// Where the token endpoint lives.
pub const AUTH_BASE_URL: &str = "https://auth.masternautconnect.com";

/// The token endpoint's path below [`AUTH_BASE_URL`].
pub const TOKEN_PATH: &str = "/masternauth-oauth/oauth/accessToken";

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
    let url = format!("{}{TOKEN_PATH}", auth_base_url.trim_end_matches('/'));
    TokenSource::new(url, credentials).with_client_auth(ClientAuth::Basic(BasicEncoding::Raw))
}
