//! HTTP auth headers for blocking Rust programs: HTTP Basic, and OAuth2 client-credentials
//! tokens (RFC 6749 §4.4) that are fetched once, cached, refreshed lazily and shared safely
//! across threads. No async runtime; `ureq`, `serde_json` and `base64` underneath.
//!
//! # Quick start
//!
//! Two ideas: how the client authenticates to the token endpoint ([`ClientAuth`], set by the
//! provider presets), and which header an API wants ([`Auth`]: Basic, or a token in a
//! [`TokenScheme`]).
//!
//! **myConnectedFleet** — Basic for the Core API, a token for the others:
//!
//! ```no_run
//! use apiauth::{BasicEncoding, Credentials, TokenScheme};
//! use apiauth::providers::my_connected_fleet;
//!
//! let creds = Credentials::new("clientId", "clientSecret")?;
//! let core = creds.basic_header(BasicEncoding::Raw)?; // "Basic Y2xpZW50SWQ6…"
//! let source = my_connected_fleet::token_config(creds).build()?;
//! let token = source.token()?; // fetched once, then cached
//! let tacho = token.header(TokenScheme::Bearer); // (authorization, "Bearer …")
//! let jobs = token.header(TokenScheme::ConnectToken); // (x-connect-token, "TOKEN …")
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! **Motorweb** — credentials in the form body, a JWT back:
//!
//! ```no_run
//! use apiauth::{Credentials, TokenScheme};
//! use apiauth::providers::motorweb::{self, Environment};
//!
//! let source = motorweb::token_config(Environment::Test, Credentials::new("id", "secret")?)
//!     .build()?;
//! let token = source.token()?;
//! let (name, value) = token.header(TokenScheme::Bearer); // the value is lent: no copy
//! let answer = ureq::get("https://api.tst.motorweb.app/market-data/v1/vehicles/plate/ABC123")
//!     .header(name, value)
//!     .call();
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! **Any RFC 6749 server** — [`TokenConfig::new`] with a token URL, `with_*` options, then
//! [`build`](TokenConfig::build).
//!
//! **Calls with 401 recovery** — [`ApiClient`] on your ureq agent, or the provider clients
//! (`providers::motorweb::Client`, `providers::my_connected_fleet::Client`).
//!
//! **Shell scripts** — the `apiauth` command prints a header (`apiauth header --provider
//! motorweb --env test`) and caches tokens on disk for every process of the user; see the
//! README's "Command line", and its fail-closed recipe for curl.
//!
//! **Build scripts** — the README's "In build.rs": the `rerun-if-env-changed` lines, the
//! fallback without credentials (docs.rs, `cargo publish`, CI), and the TLS features.
//!
//! # Security
//!
//! Secrets and tokens live in types whose `Debug` prints `[redacted]`; header values are
//! marked sensitive; errors never hold a secret or the body of a successful answer. Values
//! with control bytes never become headers. Token requests follow no redirects, always have
//! a timeout, read at most 64 KiB, and go only to https URLs (or loopback). TLS is rustls
//! with the webpki roots by default; the `native-tls` feature selects the platform's TLS.
//!
//! # Features
//!
//! - `rustls` (default): TLS through rustls with the webpki roots (ureq's default stack),
//!   and the signing of client assertions ([`ClientKey::private_key_jwt`], with ring).
//! - `native-tls`: TLS through the platform's library (OpenSSL on Linux) instead; it wins
//!   when both are on. For the platform's TLS only: `default-features = false, features =
//!   ["native-tls"]`.
//! - `test-util` (off by default): `TestClock`, clocks a test moves by hand, given to
//!   `TokenConfig::with_test_clock`, to test expiry and refresh of your code without
//!   sleeping.
//!
//! `DiskCache`, `CacheEntry` and `TokenConfig::with_disk_cache` exist on Unix only. On
//! docs.rs every item is shown, each gated one with its feature or platform.
//!
//! # Codemap
//!
//! [`Credentials`] → Basic header values · [`TokenConfig`] → settings, built into a
//! [`TokenSource`] → the cache, the only code that calls a token endpoint · [`Token`] → a
//! parsed token and its expiry · [`DiskCache`] → tokens shared across processes (Unix) ·
//! [`ClientKey`] / [`TlsSettings`] → client authentication without a shared secret (signed or
//! rotated assertions, client certificates, a private CA) ·
//! [`ApiClient`] / [`Auth`] → authorized calls · [`providers`] → presets ·
//! [`Error`] → what went wrong.
//!
//! MSRV: Rust 1.89 (`File::lock`).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod cache;
#[cfg(feature = "client")]
mod client;
mod client_key;
mod clock;
mod credentials;
mod error;
mod form;
#[cfg(unix)]
mod listing;
pub mod providers;
mod secret;
pub mod store;
mod token;
mod transport;
mod wire;

pub use cache::{RefreshEvent, Stats, TokenConfig, TokenSource};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{ApiClient, Auth, ReplayBody};
pub use client_key::{ClientKey, TlsSettings};
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub use clock::TestClock;
pub use credentials::{BasicEncoding, ClientAuth, Credentials};
pub(crate) use error::Result;
pub use error::{ApiError, Cause, EndpointError, Error, Side, Unreachable, Unusable};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use listing::{CacheEntry, Removed};
pub use secret::{AccessToken, ClientSecret};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use store::disk::DiskCache;
pub use token::{Token, TokenScheme};
pub use transport::agent_config;

/// Helpers the bundled `apiauth` command shares with the library, so that it checks and
/// shows URLs exactly as requests see them. Not part of the API: they may change in any
/// release.
#[doc(hidden)]
pub mod command {
    #[cfg(feature = "client")]
    pub use crate::client::same_origin;
    pub use crate::wire::{check_url, redacted_url};
}

/// The JSON library of this crate's signatures ([`Error::ApiBody`], [`ApiClient::get_json`]'s
/// `serde_json::Value`), re-exported so its version always matches.
pub use serde_json;
/// The HTTP client this crate's signatures use ([`ApiClient::new_with_agent`]'s `Agent`,
/// `TokenConfig::with_agent`), re-exported so its version always matches.
pub use ureq;
/// The HTTP types in this crate's signatures (`HeaderValue`, `HeaderName`), as re-exported
/// by ureq.
pub use ureq::http;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
