//! [`TokenSource`]: the shared token cache, and the only place that calls a token endpoint.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

mod fetch;

use crate::endpoint::TokenAgent;
use crate::refresh::{Freshness, MAX_BACKOFF, RefreshPolicy, Schedule, backoff};
use crate::secret::shown;
use crate::{Error, Result, Token, TokenConfig};

/// A thread-safe, lazily refreshed cache of one client-credentials token.
///
/// Made by [`TokenConfig::build`]. Clones share one cache. Nothing is fetched until [`token`](Self::token) (or
/// [`prefetch`](Self::prefetch)) is first called. A cache hit takes the lock only to copy
/// an `Arc`, and allocates nothing.
///
/// **Expiry.** A token is *fresh* until it comes within the refresh margin of its expiry
/// (60 s by default, at most half its lifetime), then *stale* until it expires.
/// - Stale: the first caller starts one refresh on a background thread; every caller,
///   that one included, gets the still-valid token at once.
/// - Expired or none: one caller fetches; the others wait for that one request and all get
///   its result, errors included. The lock is never held during HTTP.
///
/// **Failure.** A failed refresh of a stale token keeps the old token in use. A failure
/// when no valid token exists is returned to every waiter, and for a backoff (1 s, doubling
/// to 60 s, or the server's `Retry-After` if longer) every caller gets that same error
/// without a request being sent: a dead endpoint sees a trickle, not a flood.
///
/// **Poisoning.** The lock guards only plain data that is consistent at every step, so a
/// panic anywhere (in a hook, in another thread) leaves the cache usable: a poisoned lock is
/// taken over, not propagated.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Credentials, TokenConfig, TokenScheme};
///
/// let creds = Credentials::new("my-client", "my-secret")?;
/// let source = TokenConfig::new("https://auth.example.com/oauth2/token", creds).build()?;
/// let token = source.token()?; // fetched once, then served from the cache
/// let (name, value) = token.header(TokenScheme::Bearer);
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

/// A callback told about every fetch. See [`TokenConfig::on_refresh`].
pub(crate) type RefreshHook = Arc<dyn Fn(&RefreshEvent<'_>) + Send + Sync>;

struct Inner {
    config: TokenConfig,
    agent: TokenAgent,
    state: Mutex<State>,
    fetch_done: Condvar,
    fetches: AtomicU64,
    failures: AtomicU64,
    rejections: AtomicU64,
}

/// A token, when it turns stale, and until when a hit needs no other check.
struct Cached {
    token: Arc<Token>,
    schedule: Schedule,
    /// Before it, the token is fresh: the hit path's one comparison.
    hit_until: Instant,
}

impl Cached {
    fn new(token: Arc<Token>, policy: &RefreshPolicy, now: Instant) -> Cached {
        let schedule = policy.schedule(token.validity());
        let hit_until = schedule.hit_until(token.validity(), now);
        Cached {
            token,
            schedule,
            hit_until,
        }
    }

    /// Where the token stands, on both clocks; a fresh one may be hit until the next check.
    fn freshness(&mut self, inner: &Inner, now: Instant) -> Freshness {
        let validity = self.token.validity();
        let wall = || inner.config.clock.wall();
        let freshness = self.schedule.freshness(validity, now, wall);
        if freshness == Freshness::Fresh {
            self.hit_until = self.schedule.hit_until(validity, now);
        }
        freshness
    }
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    fetching: bool,
    failure: Option<Failure>,
    /// The last token an API rejected, and the backoff that rejections follow.
    rejection: Option<Rejection>,
}

/// Rejections by an API of tokens this source handed out.
struct Rejection {
    token: Arc<Token>,
    in_a_row: u32,
    /// Until then, a rejected token is kept: the API refuses fresh tokens too.
    retry_at: Instant,
}

struct Failure {
    error: Error,
    retry_at: Instant,
    in_a_row: u32,
}

/// What [`TokenConfig::on_refresh`] hooks are told after every fetch. The token prints
/// redacted.
#[derive(Debug)]
#[non_exhaustive]
pub struct RefreshEvent<'a> {
    /// The new token, or why there is none.
    pub result: Result<&'a Token, &'a Error>,
    /// How long the request took.
    pub took: Duration,
    /// Whether it was a refresh-ahead on a background thread (no caller waited for it).
    pub background: bool,
}

/// Counters for metrics. Hits are not counted, so that a hit touches no shared counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Requests sent to the token endpoint.
    pub fetches: u64,
    /// Requests that did not produce a token.
    pub failures: u64,
    /// Tokens an API rejected that were dropped (see [`TokenSource::reject`]).
    pub rejections: u64,
    /// Whether a token is being fetched right now (by a caller or a refresh-ahead).
    pub fetching: bool,
}

impl TokenSource {
    pub(crate) fn from_config(config: TokenConfig) -> Self {
        let agent = match &config.agent {
            Some(agent) => TokenAgent::Caller(agent.clone()),
            None => TokenAgent::own(&config.request),
        };
        TokenSource {
            inner: Arc::new(Inner {
                config,
                agent,
                state: Mutex::default(),
                fetch_done: Condvar::new(),
                fetches: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                rejections: AtomicU64::new(0),
            }),
        }
    }

    /// The current token, fetched or refreshed as described on [`TokenSource`].
    ///
    /// # Errors
    ///
    /// Any [`Error`] from the fetch, shared by every caller that waited for it and by every
    /// caller during the backoff that follows.
    #[inline]
    pub fn token(&self) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        let now = inner.config.clock.now();
        let state = inner.lock();
        match &state.cached {
            Some(cached) if now < cached.hit_until => Ok(cached.token.clone()),
            _ => {
                drop(state);
                self.token_slow()
            }
        }
    }

    /// Fetches a token now unless a valid one is cached, so that a program can fail fast at
    /// start-up. The same as [`token`](Self::token), without the token.
    pub fn prefetch(&self) -> Result<()> {
        self.token().map(drop)
    }

    /// Drops the cached token (from the disk cache too), so that the next call fetches a
    /// new one.
    pub fn invalidate(&self) {
        self.inner.lock().cached = None;
        self.forget_on_disk(None);
    }

    /// Tells the source that an API answered 401 to `token`, and returns whether a request
    /// sent again would carry another token.
    ///
    /// A token that served a while is taken as revoked: it is dropped (from the disk cache
    /// too), so the next call fetches a new one. But an API that rejects a token fetched
    /// moments ago, right after rejecting its predecessor, is refusing for another reason (an
    /// endpoint not enabled for the account, say): then the token is kept and rejections back
    /// off like failed fetches (1 s, doubling to 60 s), so a 401 that lasts costs a token
    /// request per backoff window, not one per call. A `token` another thread has already
    /// replaced is left alone (`true`: the next call gets the new one).
    pub fn reject(&self, token: &Arc<Token>) -> bool {
        let inner = &*self.inner;
        let mut state = inner.lock();
        let current = (state.cached.as_ref()).is_some_and(|c| Arc::ptr_eq(&c.token, token));
        if !current {
            return true;
        }
        let now = inner.config.clock.now();
        let previous = state.rejection.as_ref().map(|r| (r.in_a_row, r.retry_at));
        let client = inner.config.request.credentials.id();
        if let Some((_, retry_at)) = previous.filter(|(_, retry_at)| now < *retry_at) {
            drop(state); // never log under the lock every cache hit takes
            log::warn!(
                "an API rejected (401) a fresh token of client {client} again; keeping it for \
                 {:.1} s rather than fetching a new one for every call",
                retry_at.saturating_duration_since(now).as_secs_f64()
            );
            return false;
        }
        // One more in a row unless the token served well past the window its predecessor's
        // rejection opened (then it was revoked, and a new one is fetched at once).
        let age = now.saturating_duration_since(token.issued_at());
        let in_a_row = match previous {
            Some((n, _)) if age < backoff(n + 1, None) + MAX_BACKOFF => n + 1,
            _ => 1,
        };
        state.rejection = Some(Rejection {
            token: token.clone(),
            in_a_row,
            retry_at: now + backoff(in_a_row, None),
        });
        state.cached = None;
        drop(state);
        inner.rejections.fetch_add(1, Relaxed);
        log::info!("an API rejected (401) the token of client {client}; dropped it");
        self.forget_on_disk(Some(token));
        true
    }

    #[cfg_attr(not(unix), allow(unused_variables))]
    fn forget_on_disk(&self, only: Option<&Token>) {
        #[cfg(unix)]
        if let Some(cache) = &self.inner.config.disk_cache {
            let only = only.map(|t| t.access_token().secret());
            cache.forget(&self.inner.config.request, only);
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        &self.inner.config.request.url
    }

    /// Counts of token requests so far.
    pub fn stats(&self) -> Stats {
        Stats {
            fetches: self.inner.fetches.load(Relaxed),
            failures: self.inner.failures.load(Relaxed),
            rejections: self.inner.rejections.load(Relaxed),
            fetching: self.inner.lock().fetching,
        }
    }

    fn token_slow(&self) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        let mut state = inner.lock();
        loop {
            let now = inner.config.clock.now();
            if let Some(cached) = &mut state.cached {
                match cached.freshness(inner, now) {
                    Freshness::Fresh => return Ok(cached.token.clone()),
                    Freshness::Stale => {
                        let token = cached.token.clone();
                        if !state.fetching && !state.backing_off(now) {
                            state.fetching = true;
                            drop(state);
                            // Started before logging: a logger that panics must not leave
                            // `fetching` set with no fetch to clear it.
                            self.refresh_in_background();
                            log::debug!(
                                "token for client {} is due for refresh ({} s left); \
                                 refreshing in the background",
                                inner.config.request.credentials.id(),
                                token
                                    .expires_at_instant()
                                    .saturating_duration_since(now)
                                    .as_secs()
                            );
                        }
                        return Ok(token);
                    }
                    Freshness::Expired => state.cached = None,
                }
            }
            if let Some(failure) = &state.failure
                && now < failure.retry_at
            {
                return Err(failure.error.clone());
            }
            if !state.fetching {
                state.fetching = true;
                drop(state);
                return self.fetch(false);
            }
            state = inner
                .fetch_done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Inner {
    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn backing_off(&self, now: Instant) -> bool {
        self.failure.as_ref().is_some_and(|f| now < f.retry_at)
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.config;
        f.debug_struct("TokenSource")
            .field("token_url", &shown(&settings.request.url))
            .field("client_id", &settings.request.credentials.id())
            .field("client_auth", &settings.request.client_auth)
            .field("refresh", &settings.refresh)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credentials;

    #[test]
    fn a_poisoned_lock_is_taken_over() {
        let server = httpmock::MockServer::start();
        let mock = server.mock(|_, then| {
            then.status(200)
                .body(r#"{"access_token":"A","expires_in":3600}"#);
        });
        let creds = Credentials::new("id", "secret").unwrap();
        let source = TokenConfig::new(server.url("/token"), creds)
            .build()
            .unwrap();
        let holder = source.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = holder.inner.state.lock();
            panic!("a thread dies holding the lock");
        })
        .join();
        assert!(panicked.is_err() && source.inner.state.is_poisoned());
        assert_eq!(source.token().unwrap().access_token().secret(), "A");
        source.invalidate();
        assert_eq!(source.token().unwrap().access_token().secret(), "A");
        mock.assert_calls(2);
    }
}
