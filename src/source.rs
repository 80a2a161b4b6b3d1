//! [`TokenSource`]: the shared token cache, and the only place that calls a token endpoint.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

mod fetch;
mod report;
mod shared;

use crate::cache::key::fnv1a;
use crate::cache::policy::{self, Decision, Held, OnRejection, Rejected};
use crate::refresh::{Freshness, RefreshPolicy, Schedule};
use crate::secret::shown;
use crate::transport::TokenAgent;
use crate::{Error, Result, Token, TokenConfig};
use shared::Shared;

/// A thread-safe, lazily refreshed cache of one client-credentials token.
///
/// Made by [`TokenConfig::build`]. Clones share one cache. Nothing is fetched until [`token`](Self::token) (or
/// [`prefetch`](Self::prefetch)) is first called. A cache hit takes the lock only to copy
/// an `Arc`, and allocates nothing.
///
/// **Expiry.** A token is *fresh* until its refresh time (by default half-way through the
/// life of a token that lives 2 h or more, else 5 minutes before expiry, never before
/// half-way; see [`TokenConfig::with_refresh_margin`]), then *stale* until it expires.
/// - Stale: the first caller starts one refresh on a background thread; every caller,
///   that one included, gets the still-valid token at once.
/// - Expired or none: one caller fetches; the others wait for that one request and all get
///   its result, errors included. The lock is never held during HTTP.
///
/// **Failure.** A failed refresh of a stale token keeps the old token in use. A failure
/// when no valid token exists is returned to every waiter, and for a backoff (1 s, doubling
/// to 60 s, or the server's `Retry-After` if longer, at most an hour) every caller gets that
/// same error without a request being sent: a dead endpoint sees a trickle, not a flood.
///
/// **With a store** ([`TokenConfig::with_store`], [`TokenConfig::with_disk_cache`]) the same
/// rules hold across processes. A caller without a usable token in memory reads the store:
/// a fresh token is used; a stale one is used at once (and refreshed by this caller if no
/// other process is refreshing it, else left to that one); a live failure record answers
/// with its error. Only when a request is needed does the caller take the store's lock,
/// read again, send, and write the token or the failure for every other process; a success
/// lifts the failure record. Rejections ([`reject`](Self::reject)) are recorded too, so an
/// API that refuses every token costs a token request per backoff window for all processes
/// together.
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

/// How often a source backing off looks in its store for a token another process fetched.
const PEEK_EVERY: Duration = Duration::from_secs(1);

/// A callback told about every fetch. See [`TokenConfig::on_refresh`].
pub(crate) type RefreshHook = Arc<dyn Fn(&RefreshEvent<'_>) + Send + Sync>;

struct Inner {
    config: TokenConfig,
    /// Made on the first request: a token read from a store needs none.
    agent: OnceLock<TokenAgent>,
    shared: Option<Shared>,
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
        let schedule = schedule_of(&token, policy);
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

/// `token`'s refresh schedule under `policy`, its jitter drawn from a hash of the token: the
/// same in every process that holds it.
fn schedule_of(token: &Token, policy: &RefreshPolicy) -> Schedule {
    let seed = fnv1a(token.access_token().secret().as_bytes());
    policy.schedule(token.validity(), seed)
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    fetching: bool,
    failure: Option<Failure>,
    /// The last rejection by an API, and the backoff that rejections follow.
    rejection: Option<Rejected>,
    /// The last token this process dropped after a rejection: never served again, even if a
    /// store still holds it.
    rejected: Option<Arc<Token>>,
}

struct Failure {
    error: Error,
    retry_at: Instant,
    in_a_row: u32,
    /// With a store, when it may next be looked at for a token another process fetched
    /// meanwhile (at most once a second while the backoff runs).
    peek_at: Instant,
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
        let shared = (config.store.clone()).map(|store| Shared::new(store, &config.request));
        TokenSource {
            inner: Arc::new(Inner {
                config,
                agent: OnceLock::new(),
                shared,
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
            _ => self.token_slow(state),
        }
    }

    /// Fetches a token now unless a valid one is cached, so that a program can fail fast at
    /// start-up. The same as [`token`](Self::token), without the token.
    pub fn prefetch(&self) -> Result<()> {
        self.token().map(drop)
    }

    /// Sends a token request now, whatever is cached and whatever failure is backing off (in
    /// memory or in the store): for a user who knows better, such as `apiauth --refresh`
    /// after fixing the endpoint. A request already under way in this process is waited for
    /// first. The answer replaces the cached token, and a success lifts the store's failure
    /// record for every process.
    ///
    /// # Errors
    ///
    /// The request's [`Error`], which then backs off as any failure does.
    pub fn refresh(&self) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        let mut state = inner.lock();
        while state.fetching {
            state = inner.wait(state);
        }
        state.fetching = true;
        let rejected = state.rejected.clone();
        drop(state);
        self.fetch(fetch::Mode::Forced, rejected)
    }

    /// Drops the cached token (from the store too), so that the next call fetches a new one.
    pub fn invalidate(&self) {
        let dropped = self.inner.lock().cached.take().map(|cached| cached.token);
        if let Some(shared) = &self.inner.shared
            && !shared.forget(&self.inner.config)
            && let Some(dropped) = dropped
        {
            // The store could not be changed now: at least never read this token back.
            self.inner.lock().rejected = Some(dropped);
        }
    }

    /// Tells the source that an API answered 401 to `token`, and returns whether a request
    /// sent again would carry another token.
    ///
    /// A token that served a while is taken as revoked: it is dropped (from the store too),
    /// so the next call fetches a new one. But an API that rejects a token fetched moments
    /// ago, right after rejecting its predecessor, is refusing for another reason (an
    /// endpoint not enabled for the account, say): then the token is kept and rejections back
    /// off like failed fetches (1 s, doubling to 60 s), so a 401 that lasts costs a token
    /// request per backoff window, not one per call; with a store, per window for every
    /// process together. A `token` another thread has already replaced is left alone
    /// (`true`: the next call gets the new one).
    pub fn reject(&self, token: &Arc<Token>) -> bool {
        let inner = &*self.inner;
        let is_current =
            |state: &State| (state.cached.as_ref()).is_some_and(|c| Arc::ptr_eq(&c.token, token));
        let state = inner.lock();
        if !is_current(&state) {
            return true;
        }
        let in_memory = state.rejection;
        drop(state); // no store I/O under the lock every cache hit takes
        let now = inner.config.clock.now();
        let age = now.saturating_duration_since(token.issued_at());
        let shared = inner.shared.as_ref();
        let outcome = shared
            .and_then(|shared| shared.reject(&inner.config, token, in_memory))
            .unwrap_or_else(|| policy::on_rejection(in_memory, age, now));
        let client = inner.config.request.credentials.id();
        let mut state = inner.lock();
        match outcome {
            OnRejection::Keep => {
                drop(state);
                log::warn!(
                    "an API rejected (401) a fresh token of client {client} again; keeping it \
                     rather than fetching a new one for every call"
                );
                false
            }
            OnRejection::Drop(rejected) => {
                state.rejection = Some(rejected);
                if is_current(&state) {
                    state.cached = None;
                    state.rejected = Some(token.clone());
                }
                drop(state);
                inner.rejections.fetch_add(1, Relaxed);
                log::info!("an API rejected (401) the token of client {client}; dropped it");
                true
            }
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

    /// The miss path: what the policy says about what memory holds, until it says serve,
    /// fail or fetch.
    fn token_slow<'a>(&'a self, mut state: MutexGuard<'a, State>) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        loop {
            let now = inner.config.clock.now();
            let freshness = (state.cached.as_mut()).map(|cached| cached.freshness(inner, now));
            let held = Held {
                token: freshness.filter(|f| *f != Freshness::Expired),
                backing_off: state.failure.as_ref().is_some_and(|f| now < f.retry_at),
                fetching: state.fetching,
            };
            let decision = policy::decide(held);
            match (decision, state.cached.as_ref(), state.failure.as_ref()) {
                (Decision::Serve, Some(cached), _) => return Ok(cached.token.clone()),
                (Decision::ServeAndRefresh, Some(cached), _) => {
                    let token = cached.token.clone();
                    state.fetching = true;
                    let rejected = state.rejected.clone();
                    drop(state);
                    // Started before logging: a logger that panics must not leave
                    // `fetching` set with no fetch to clear it.
                    self.refresh_in_background(rejected);
                    log::debug!(
                        "token for client {} is due for refresh ({} s left); refreshing in \
                         the background",
                        inner.config.request.credentials.id(),
                        token
                            .expires_at_instant()
                            .saturating_duration_since(now)
                            .as_secs()
                    );
                    return Ok(token);
                }
                (Decision::Fail, _, Some(failure)) => {
                    let error = failure.error.clone();
                    let Some(shared) = inner.shared.as_ref().filter(|_| now >= failure.peek_at)
                    else {
                        return Err(error);
                    };
                    // Another process may have fetched a token since (its success lifts
                    // the record): look, at most once a second, without the store's lock.
                    let rejected = state.rejected.clone();
                    if let Some(failure) = state.failure.as_mut() {
                        failure.peek_at = now + PEEK_EVERY;
                    }
                    drop(state);
                    return self.peek(shared, rejected.as_deref()).ok_or(error);
                }
                (Decision::Wait, ..) => state = inner.wait(state),
                // Fetch (the other pairs cannot happen: the policy serves only what is held).
                _ => {
                    state.cached = None;
                    state.fetching = true;
                    let rejected = state.rejected.clone();
                    drop(state);
                    return self.fetch(fetch::Mode::Foreground, rejected);
                }
            }
        }
    }
}

impl Inner {
    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the fetch under way to publish its result.
    fn wait<'a>(&'a self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        (self.fetch_done.wait(state)).unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent token requests go through, made on first use.
    fn agent(&self) -> &TokenAgent {
        self.agent.get_or_init(|| match &self.config.agent {
            Some(agent) => TokenAgent::Caller(agent.clone()),
            None => TokenAgent::own(&self.config.request),
        })
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
