//! A Redis [`Store`](apiauth::store::Store) for [apiauth]: the hosts of a fleet that use one
//! OAuth2 client share one token, send one token request between them, back off together
//! when the token endpoint fails, and recover together when an API revokes the token.
//! Redis 7, Valkey, Redis Cluster and managed Redis (TLS, ACL users, cluster mode).
//!
//! ```no_run
//! use apiauth::{Credentials, TokenConfig};
//! use apiauth_redis::RedisStore;
//!
//! let store = RedisStore::open("redis://billing:PASSWORD@redis.internal:6379/0", "apiauth:billing:")?;
//! let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "secret")?)
//!     .with_store(store)
//!     .build()?;
//! let token = source.token()?;
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! # Keys
//!
//! Each slot (token URL, client id, client authentication, scopes, parameters and a 16-bit
//! check of the secret, hashed into 16 hex digits) is one record `PREFIX{slot}` and, while a
//! host asks for a token, a lease `PREFIX{slot}:lock`. The `{slot}` hash tag keeps both in
//! one Redis Cluster slot, so every command and script is single-slot; `MOVED` and `ASK`
//! are followed, so the URL of any one node of a cluster will do. The README gives an ACL
//! line for a user limited to a prefix.
//!
//! # What Redis sees
//!
//! The access tokens themselves: that is what is shared. Whoever can read these keys can
//! call the APIs as the client until the tokens expire; whoever can write them can make the
//! fleet use a token of their choosing. Restrict the keys with an ACL user, use TLS
//! (`rediss://`, feature `tls-rustls`; [`with_ca_file`](RedisStore::with_ca_file) for a
//! private CA) off a trusted network, and keep persistence and replicas as private as the
//! server. Never the client secret; messages and `Debug` never show the URL's password.
//!
//! # Fenced writes and one clock
//!
//! A host asking for a token holds the lease (`SET NX PX`, a random value, as long as
//! apiauth asks: at least its token request's time limit). Writes and removes under it are
//! scripts that change the record only while the lease is still the host's, so a host
//! paused past its lease cannot overwrite what the next holder wrote. Each connection
//! measures Redis's `TIME` against the host's clock, and [`Store::now`](apiauth::store::Store::now)
//! gives Redis's time: hosts whose clocks differ share records as if they agreed.
//!
//! # When Redis is slow, down or lying
//!
//! Every call has one deadline for all of it (250 ms by default,
//! [`with_timeout`](RedisStore::with_timeout)); after a call that timed out, lost its
//! connection or read something that is not Redis's reply, the store refuses calls at once
//! for a cool-down ([`with_cool_down`](RedisStore::with_cool_down), 5 s), and apiauth logs
//! one warning and goes on alone. Threads never wait for each other's calls. A reply over
//! 64 KiB is refused from its length, before it is read.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod connection;
mod lease;
#[cfg(feature = "record-mac")]
mod mac;
mod resp;
mod store;
mod target;
#[cfg(feature = "tls-rustls")]
mod tls;

pub use store::RedisStore;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
