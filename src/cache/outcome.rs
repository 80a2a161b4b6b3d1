//! What a fetch came to, and what it tells the `log` facade: the URL without userinfo, the
//! client id, lifetimes and error texts, never a secret or a token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::Backoff;
use crate::{Error, Token, Unusable};

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
    /// A token read from the store: another process fetched it.
    Stored(Arc<Token>),
    /// A token fetched now, in `took` (the request alone). `short`: it lives less than
    /// [`MIN_LIFETIME`](crate::MIN_LIFETIME) by the server's clock, which also counts as a
    /// failure (with this backoff), so that such a server is not asked once per call.
    Fetched {
        token: Arc<Token>,
        short: Option<Backoff>,
        took: Duration,
    },
    /// No new token: the error and its backoff, and a still-valid token served meanwhile.
    /// `took` is the request's time, or `None` for a failure another process recorded
    /// (replayed: no request was sent).
    Failed {
        error: Error,
        backoff: Backoff,
        stale: Option<Arc<Token>>,
        took: Option<Duration>,
    },
}

impl Outcome {
    /// The failure to publish, if any, with its backoff.
    pub fn failure(&self) -> Option<(Error, Backoff)> {
        match self {
            Outcome::Stored(_) => None,
            Outcome::Fetched { short, .. } => {
                short.map(|b| (Error::InvalidResponse(Unusable::ShortLived), b))
            }
            Outcome::Failed { error, backoff, .. } => Some((error.clone(), *backoff)),
        }
    }

    /// Whether a request was sent.
    pub fn sent(&self) -> bool {
        matches!(
            self,
            Outcome::Fetched { .. } | Outcome::Failed { took: Some(_), .. }
        )
    }

    /// Tells the `log` facade how the fetch went, for client `client` at `url` (shown
    /// without userinfo or query).
    pub fn log(&self, url: &str, client: &str, mode: Mode, now: Instant) {
        let wait = |b: &Backoff| b.retry_at.saturating_duration_since(now).as_secs_f64();
        match self {
            Outcome::Stored(token) => log::debug!(
                "token for client {client} read from the store, valid {} s",
                token.lifetime().as_secs()
            ),
            Outcome::Fetched {
                short: Some(backoff),
                ..
            } => log::warn!(
                "refreshing the token for client {client} at {url} failed ({}); serving the \
                 still-valid token, next try in {:.1} s",
                Error::InvalidResponse(Unusable::ShortLived),
                wait(backoff)
            ),
            Outcome::Fetched { token, took, .. } => log::info!(
                "token fetched from {url} for client {client} in {} ms, valid {} s",
                took.as_millis(),
                token.lifetime().as_secs()
            ),
            Outcome::Failed {
                error,
                backoff,
                took: None,
                ..
            } => log::info!(
                "another process's token request for client {client} failed ({error}); not \
                 asking again for {:.1} s",
                wait(backoff)
            ),
            Outcome::Failed {
                error,
                backoff,
                stale,
                ..
            } if stale.is_some() || mode == Mode::Background => {
                log::warn!(
                    "refreshing the token for client {client} at {url} failed ({error}); \
                     serving the still-valid token, next try in {:.1} s",
                    wait(backoff)
                )
            }
            Outcome::Failed { error, backoff, .. } => log::warn!(
                "token request to {url} for client {client} failed ({error}); next try in \
                 {:.1} s",
                wait(backoff)
            ),
        }
    }
}
