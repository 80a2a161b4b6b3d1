//! A Redis [`Store`](apiauth::store::Store) for [apiauth]: the hosts of a fleet that use one
//! OAuth2 client share one token, send one token request between them, back off together
//! when the token endpoint fails, and recover together when an API revokes the token.
//!
//! ```no_run
//! use apiauth::{Credentials, TokenConfig};
//! use apiauth_redis::RedisStore;
//!
//! let store = RedisStore::open("redis://apiauth:PASSWORD@redis.internal:6379/0", "apiauth:billing:")?;
//! let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "secret")?)
//!     .with_store(store)
//!     .build()?;
//! let token = source.token()?;
//! # Ok::<(), apiauth::Error>(())
//! ```
//!
//! # Choosing the key prefix
//!
//! Every key starts with the prefix: `PREFIX<slot>:token`, `:failure`, `:rejection` and
//! `:lock`, where the slot is 16 hex digits hashed from the token URL, client id, client
//! authentication, scopes, parameters and a 16-bit check of the secret. Hosts that should
//! share a token need the same prefix; the slot already keeps different clients and
//! settings apart, so one prefix per application or environment (`apiauth:billing:`,
//! `apiauth:staging:`) is enough. Give fleets that must not see each other's tokens
//! different prefixes *and* different Redis users limited to them
//! (`ACL SETUSER billing on >PASSWORD ~apiauth:billing:* +get +set +del +eval`).
//!
//! # What Redis sees
//!
//! - The access tokens themselves: that is what is shared. Whoever can read these keys can
//!   call the APIs as the client until the tokens expire, so restrict the keys with an ACL,
//!   use TLS (`rediss://`, feature `tls-rustls`) off a trusted network, and keep Redis
//!   persistence and replicas as private as the server.
//! - Never the client secret: each record holds a 16-bit check of it (one other secret in
//!   65,536 shares it), the settings it was written for, and, for a failure, a summary of
//!   the error (status, error code, description, `Retry-After`), never a response body; a
//!   rejection record holds a hash of the rejected token.
//! - Each value has a TTL no longer than it is worth: the token's remaining life, the
//!   failure's backoff, the rejection's window plus two minutes.
//!
//! # When a host dies holding the lease
//!
//! A host that asks for a token holds the lease `PREFIX<slot>:lock` (`SET NX PX`, with a
//! random value) and releases it with a compare-and-delete, so it never releases another
//! host's lease. If it dies or hangs, Redis drops the lease after
//! [`with_lease`](RedisStore::with_lease) (30 s by default) and the next waiting host asks;
//! a host that waited longer than the source's lock wait asks on its own. Only the source
//! decides; Redis keeps bytes.
//!
//! # When Redis is down or slow
//!
//! Every call has a time limit (250 ms by default, [`with_timeout`](RedisStore::with_timeout)).
//! A failed call drops the connection; the next call opens a new one. Meanwhile each host's
//! source logs one warning and goes on as a single host would: its memory cache, one
//! request at a time per process, its own backoff. A Redis outage costs at most one token
//! request per host; it never stops the hosts from getting tokens.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod connection;
mod lease;
mod resp;
mod store;
mod target;
#[cfg(feature = "tls-rustls")]
mod tls;

pub use store::RedisStore;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
