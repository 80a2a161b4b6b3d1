//! What a fetch came to, and what it tells the `log` facade: the URL without userinfo, the
//! client id, lifetimes and error texts, never a secret or a token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Cached;
use super::policy::Backoff;
use crate::wire::TokenRequest;
use crate::{Error, Token};

/// Why a fetch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A caller without a usable token waits for it.
    Foreground,
    /// A stale token is refreshed ahead, and nobody waits.
    Background,
    /// The caller asked for a new token whatever is cached or backing off.
    Forced,
}

/// What a fetch came to.
pub(super) enum Outcome {
    /// A token read from the store (another process fetched it), with its schedule.
    Stored(Cached),
    /// A token fetched now, in `took` (the request alone). `short`: it lives less than
    /// [`Token::MIN_LIFETIME`](crate::Token::MIN_LIFETIME) by the server's clock, which also counts as a
    /// failure (this error, with this backoff), so that such a server is not asked once per
    /// call.
    Fetched {
        token: Arc<Token>,
        short: Option<(Error, Backoff)>,
        took: Duration,
    },
    /// No new token: the error and its backoff, and a still-valid token served meanwhile.
    /// `took` is the request's time, or `None` for a failure another process recorded
    /// (replayed: no request was sent).
    Failed {
        error: Error,
        backoff: Backoff,
        stale: Option<Cached>,
        took: Option<Duration>,
    },
}

impl Outcome {
    /// The failure to publish, if any, with its backoff.
    pub fn failure(&self) -> Option<(Error, Backoff)> {
        match self {
            Outcome::Stored(_) => None,
            Outcome::Fetched { short, .. } => short.clone(),
            Outcome::Failed { error, backoff, .. } => Some((error.clone(), *backoff)),
        }
    }

    /// How long the request took, if one was sent.
    pub fn took(&self) -> Option<Duration> {
        match self {
            Outcome::Fetched { took, .. } => Some(*took),
            Outcome::Failed { took, .. } => *took,
            Outcome::Stored(_) => None,
        }
    }

    /// Tells the `log` facade how the fetch of `request` went (its URL shown without
    /// userinfo or query, and only where a request was at stake).
    pub fn log(&self, request: &TokenRequest, mode: Mode, now: Instant) {
        let (url, client) = (|| request.shown_url(), request.credentials.id());
        let wait = |b: &Backoff| b.retry_at.saturating_duration_since(now).as_secs_f64();
        match self {
            Outcome::Stored(cached) => log::debug!(
                "token for client {client} read from the store, valid {} s",
                cached.token.lifetime().as_secs()
            ),
            Outcome::Fetched {
                token,
                took,
                short: None,
            } => log::info!(
                "token fetched from {} for client {client} in {} ms, valid {} s",
                url(),
                took.as_millis(),
                token.lifetime().as_secs()
            ),
            // Shown as a store warning (the command prints those without -v): the error
            // that follows is another process's, not this one's.
            Outcome::Failed { backoff, took, .. } if took.is_none() => log::warn!(
                target: "apiauth::store",
                "token endpoint not asked: another process's request for client {client} \
                 failed, as follows; next try in {:.1} s",
                wait(backoff)
            ),
            Outcome::Failed {
                error,
                backoff,
                stale: None,
                ..
            } if mode != Mode::Background => log::warn!(
                "token request to {} for client {client} failed ({error}); next try in {:.1} s",
                url(),
                wait(backoff)
            ),
            Outcome::Fetched {
                short: Some((error, backoff)),
                ..
            }
            | Outcome::Failed { error, backoff, .. } => log::warn!(
                "refreshing the token for client {client} at {} failed ({error}); serving the \
                 still-valid token, next try in {:.1} s",
                url(),
                wait(backoff)
            ),
        }
    }
}
