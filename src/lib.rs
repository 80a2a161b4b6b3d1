//! HTTP auth headers for blocking Rust programs: HTTP Basic, and OAuth2 client-credentials
//! tokens (RFC 6749 §4.4) that are fetched once, cached, refreshed lazily and shared safely
//! across threads. No async runtime; `ureq`, `serde_json` and `base64` underneath.
//!
//! # Quick start
//!
//! **myConnectedFleet** — Basic for the Core API, a token for the others:
//!
//! ```no_run
//! use apiauth::{BasicEncoding, Credentials, TokenScheme};
//! use apiauth::providers::my_connected_fleet;
//!
//! let creds = Credentials::new("clientId", "clientSecret")?;
//! let core = creds.basic_header(BasicEncoding::Raw)?; // "Basic Y2xpZW50SWQ6…"
//! let source = my_connected_fleet::token_source(creds);
//! let token = source.token()?; // fetched once, then cached
//! let tacho = token.header(TokenScheme::Bearer); // "Bearer …"
//! let jobs = token.header(TokenScheme::ConnectToken); // for `x-connect-token`: "TOKEN …"
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! **Motorweb** — credentials in the form body, a JWT back:
//!
//! ```no_run
//! use apiauth::{Credentials, TokenScheme};
//! use apiauth::providers::motorweb::{self, Environment};
//!
//! let source = motorweb::token_source(Environment::Test, Credentials::new("id", "secret")?);
//! let bearer = source.token()?.header(TokenScheme::Bearer).clone();
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! **Any RFC 6749 server** — [`TokenSource::new`] with a token URL, then `with_*` options.
//!
//! **Shell scripts** — the `apiauth` command prints a header (`apiauth header --provider
//! motorweb --env test`) and caches tokens on disk for every process of the user; see the
//! README's "Command line".
//!
//! # Security
//!
//! Secrets and tokens live in types whose `Debug` prints `[redacted]`; header values are
//! marked sensitive; errors never hold a secret or the body of a successful answer. Values
//! with control bytes never become headers. Token requests follow no redirects, always have
//! a timeout, read at most 64 KiB, and go only to https URLs (or loopback). TLS is rustls
//! with the webpki roots by default; the `native-tls` feature selects the platform's TLS.
//!
//! # Codemap
//!
//! [`Credentials`] → Basic header values · [`Token`] → a parsed token and its expiry ·
//! [`TokenSource`] → the cache, the only code that calls a token endpoint ·
//! [`DiskCache`] → tokens shared across processes (Unix) ·
//! [`providers`] → URLs and schemes per provider · [`Error`] → what went wrong.
//!
//! MSRV: Rust 1.89 (`File::lock`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod api;
mod clock;
mod credentials;
#[cfg(unix)]
mod disk_cache;
mod endpoint;
mod error;
mod form;
mod header;
pub mod providers;
mod secret;
mod source;
mod token;

pub use api::{ApiClient, Auth};
pub use credentials::{BasicEncoding, Credentials};
#[cfg(unix)]
pub use disk_cache::DiskCache;
pub use endpoint::{ClientAuth, MAX_BODY};
pub use error::{EndpointError, Error, Result};
pub use header::{AuthScheme, TokenScheme};
pub use secret::{AccessToken, ClientSecret};
pub use source::{RefreshEvent, Stats, TokenSource};
pub use token::{DEFAULT_LIFETIME, Freshness, MAX_LIFETIME, Token};

/// The HTTP types in this crate's signatures (`HeaderValue`, `HeaderName`), as re-exported
/// by ureq.
pub use ureq::http;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
