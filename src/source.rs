//! [`TokenSource`]: the shared token cache, and the only place that calls a token endpoint.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::clock::Clock;
use crate::endpoint::{TokenAgent, TokenRequest, shown};
use crate::{BasicEncoding, ClientAuth, Credentials, Error, Freshness, Result, Token};

/// The first wait after a failed fetch; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two failed fetches.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A thread-safe, lazily refreshed cache of one client-credentials token.
///
/// Clones share one cache. Nothing is fetched until [`token`](Self::token) (or
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
/// use apiauth::{Credentials, TokenScheme, TokenSource};
///
/// let creds = Credentials::new("my-client", "my-secret")?;
/// let source = TokenSource::new("https://auth.example.com/oauth2/token", creds)
///     .with_scope("read")
///     .with_refresh_margin(std::time::Duration::from_secs(120));
/// let token = source.token()?; // fetched once, then served from the cache
/// let header = token.header(TokenScheme::Bearer);
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

/// A callback told about every fetch. See [`TokenSource::on_refresh`].
type RefreshHook = Arc<dyn Fn(&RefreshEvent<'_>) + Send + Sync>;

#[derive(Clone)]
struct Settings {
    request: TokenRequest,
    /// The caller's agent, if it brought one.
    agent: Option<Agent>,
    refresh_margin: Duration,
    refresh_jitter: Duration,
    on_refresh: Option<RefreshHook>,
    #[cfg(unix)]
    disk_cache: Option<crate::DiskCache>,
}

struct Inner {
    settings: Settings,
    /// Built at the first fetch, so that building a source with setters builds no agents.
    agent: OnceLock<TokenAgent>,
    state: Mutex<State>,
    fetch_done: Condvar,
    fetches: AtomicU64,
    failures: AtomicU64,
    clock: Clock,
}

#[derive(Default)]
struct State {
    token: Option<Arc<Token>>,
    fetching: bool,
    failure: Option<Failure>,
}

struct Failure {
    error: Error,
    retry_at: Instant,
    in_a_row: u32,
}

/// What [`TokenSource::on_refresh`] hooks are told after every fetch. The token prints
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
}

impl TokenSource {
    /// A source for a generic RFC 6749 token endpoint. The client authenticates with
    /// `Authorization: Basic` in the RFC 6749 §2.3.1 encoding; see
    /// [`with_client_auth`](Self::with_client_auth).
    ///
    /// The URL must be https, unless its host is loopback or
    /// [`with_insecure_http`](Self::with_insecure_http) is set; a bad configuration is
    /// reported by the first [`token`](Self::token) call, before anything is sent.
    pub fn new(token_url: impl Into<String>, credentials: Credentials) -> Self {
        let client_auth = ClientAuth::Basic(BasicEncoding::FormUrlEncoded);
        Self::from_settings(Settings {
            request: TokenRequest::new(token_url.into(), credentials, client_auth),
            agent: None,
            refresh_margin: Duration::from_secs(60),
            refresh_jitter: Duration::ZERO,
            on_refresh: None,
            #[cfg(unix)]
            disk_cache: None,
        })
    }

    fn from_settings(settings: Settings) -> Self {
        TokenSource {
            inner: Arc::new(Inner {
                agent: OnceLock::new(),
                settings,
                state: Mutex::default(),
                fetch_done: Condvar::new(),
                fetches: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                clock: Clock::default(),
            }),
        }
    }

    /// Setters are meant for building: each returns a source with its own, empty cache.
    fn with(self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.inner.settings.clone();
        change(&mut settings);
        Self::from_settings(settings)
    }

    /// Adds a scope; scopes are sent space-separated in `scope`. Defaults to none.
    pub fn with_scope(self, scope: impl Into<String>) -> Self {
        self.with(|s| s.request.scopes.push(scope.into()))
    }

    /// Adds a form parameter such as `audience` or `resource`. One that the library sets
    /// itself (`grant_type`, `scope`, `client_id`, `client_secret`) is a configuration
    /// error. Defaults to none.
    pub fn with_param(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|s| s.request.params.push((name.into(), value.into())))
    }

    /// How the client authenticates to the token endpoint. Defaults to
    /// `ClientAuth::Basic(BasicEncoding::FormUrlEncoded)`.
    pub fn with_client_auth(self, client_auth: ClientAuth) -> Self {
        self.with(|s| s.request.client_auth = client_auth)
    }

    /// The time limit for each phase of a token request: resolving, connecting, sending,
    /// waiting for the answer, reading its body. Defaults to 10 s.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with(|s| s.request.timeout = timeout)
    }

    /// How long before expiry a token is refreshed; capped at half the token's lifetime.
    /// Defaults to 60 s.
    pub fn with_refresh_margin(self, margin: Duration) -> Self {
        self.with(|s| s.refresh_margin = margin)
    }

    /// Adds a random extra of up to `jitter` to the margin of each token, so that many
    /// processes do not refresh at the same instant. Defaults to none.
    pub fn with_refresh_jitter(self, jitter: Duration) -> Self {
        self.with(|s| s.refresh_jitter = jitter)
    }

    /// The agent token requests go through (for a proxy, TLS roots, …). Whatever it is set
    /// to, token requests follow no redirects, treat no status as a transport error, and use
    /// [`with_timeout`](Self::with_timeout). Defaults to ureq's defaults.
    pub fn with_agent(self, agent: Agent) -> Self {
        self.with(|s| s.agent = Some(agent))
    }

    /// Allows a plain-http token URL to a host that is not loopback. Defaults to false.
    ///
    /// # Security
    ///
    /// The client secret then crosses the network in clear.
    pub fn with_insecure_http(self, allow: bool) -> Self {
        self.with(|s| s.request.allow_http = allow)
    }

    /// Calls `hook` after every token request, successful or not (not for a token read from a
    /// [`DiskCache`](crate::DiskCache)), on the thread that sent it. A
    /// panic in the hook is caught and ignored. Defaults to none.
    pub fn on_refresh(self, hook: impl Fn(&RefreshEvent<'_>) + Send + Sync + 'static) -> Self {
        self.with(|s| s.on_refresh = Some(Arc::new(hook)))
    }

    /// Shares tokens with other processes through `cache`: a fresh token on disk is used
    /// instead of a request, and processes that need a new one at the same time send one
    /// request between them. See [`DiskCache`](crate::DiskCache). Defaults to none (the cache
    /// is in memory only).
    #[cfg(unix)]
    pub fn with_disk_cache(self, cache: crate::DiskCache) -> Self {
        self.with(|s| s.disk_cache = Some(cache))
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
        let now = inner.now();
        let cached = inner.lock().token.clone();
        match cached {
            Some(token) if token.freshness(now, || inner.wall()) == Freshness::Fresh => Ok(token),
            _ => self.token_slow(),
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
        self.inner.lock().token = None;
        self.forget_on_disk(None);
    }

    /// Drops the cached token only if it is still `rejected` (compared by identity), so that
    /// a 401 on an old token does not throw away one another thread has just fetched.
    /// Returns whether it dropped it.
    pub fn invalidate_if_current(&self, rejected: &Arc<Token>) -> bool {
        let mut state = self.inner.lock();
        let current = state
            .token
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, rejected));
        if current {
            state.token = None;
            drop(state);
            self.forget_on_disk(Some(rejected));
        }
        current
    }

    #[cfg_attr(not(unix), allow(unused_variables))]
    fn forget_on_disk(&self, only: Option<&Token>) {
        #[cfg(unix)]
        if let Some(cache) = &self.inner.settings.disk_cache {
            let only = only.map(|t| t.access_token().secret());
            cache.forget(&self.inner.settings.request, only);
        }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        &self.inner.settings.request.url
    }

    /// Counts of token requests so far.
    pub fn stats(&self) -> Stats {
        Stats {
            fetches: self.inner.fetches.load(Relaxed),
            failures: self.inner.failures.load(Relaxed),
        }
    }

    /// Moves this source's clocks (monotonic and wall) forward, for tests of expiry.
    #[doc(hidden)]
    pub fn advance_clock_for_tests(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    fn token_slow(&self) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        let mut state = inner.lock();
        loop {
            let now = inner.now();
            if let Some(token) = &state.token {
                match token.freshness(now, || inner.wall()) {
                    Freshness::Fresh => return Ok(token.clone()),
                    Freshness::Stale => {
                        let token = token.clone();
                        if !state.fetching && !state.backing_off(now) {
                            state.fetching = true;
                            drop(state);
                            self.refresh_in_background();
                        }
                        return Ok(token);
                    }
                    Freshness::Expired => state.token = None,
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

    /// Refreshes a stale token on a new thread; inline if no thread can be started.
    fn refresh_in_background(&self) {
        let source = self.clone();
        let spawned = std::thread::Builder::new()
            .name("apiauth-refresh".into())
            .spawn(move || drop(source.fetch(true)));
        if spawned.is_err() {
            drop(self.fetch(false));
        }
    }

    /// Sends one token request and publishes its result. Called only by the thread that
    /// set `fetching`; the guard clears it even if something panics.
    fn fetch(&self, background: bool) -> Result<Arc<Token>> {
        /// Clears `fetching` and wakes the waiters if the fetch ends by a panic; otherwise
        /// the result is published in the same critical section.
        struct PanicGuard<'a>(&'a Inner);
        impl Drop for PanicGuard<'_> {
            fn drop(&mut self) {
                self.0.lock().fetching = false;
                self.0.fetch_done.notify_all();
            }
        }
        let inner = &*self.inner;
        let guard = PanicGuard(inner);
        let settings = &inner.settings;
        let agent = inner.agent.get_or_init(|| match &settings.agent {
            Some(agent) => TokenAgent::Caller(agent.clone()),
            None => TokenAgent::own(&settings.request),
        });
        let started = Instant::now();
        let margin = settings.refresh_margin + jitter(settings.refresh_jitter);
        let mut sent = false;
        let mut request = || {
            sent = true;
            inner.fetches.fetch_add(1, Relaxed);
            settings.request.fetch(agent, &inner.clock)
        };
        #[cfg(unix)]
        let result = match &settings.disk_cache {
            Some(cache) => cache.token(
                &settings.request,
                margin,
                &inner.clock,
                !background,
                request,
            ),
            None => request(),
        };
        #[cfg(not(unix))]
        let result = request();
        let result = result.map(|mut token| {
            token.set_refresh_margin(margin);
            Arc::new(token)
        });
        let mut state = inner.lock();
        match &result {
            Ok(token) => {
                state.token = Some(token.clone());
                state.failure = None;
            }
            Err(error) => {
                inner.failures.fetch_add(1, Relaxed);
                let in_a_row = state.failure.as_ref().map_or(1, |f| f.in_a_row + 1);
                let retry_at = inner.now() + backoff(in_a_row, error);
                state.failure = Some(Failure {
                    error: error.clone(),
                    retry_at,
                    in_a_row,
                });
            }
        }
        state.fetching = false;
        drop(state);
        std::mem::forget(guard);
        inner.fetch_done.notify_all();
        if let Some(hook) = settings.on_refresh.as_ref().filter(|_| sent) {
            let event = RefreshEvent {
                result: result.as_deref(),
                took: started.elapsed(),
                background,
            };
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&event)));
        }
        result
    }
}

impl Inner {
    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn wall(&self) -> std::time::SystemTime {
        self.clock.wall()
    }
}

impl State {
    fn backing_off(&self, now: Instant) -> bool {
        self.failure.as_ref().is_some_and(|f| now < f.retry_at)
    }
}

/// 1 s, 2 s, 4 s, … up to [`MAX_BACKOFF`]; longer if the server asked for it.
fn backoff(in_a_row: u32, error: &Error) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << in_a_row.clamp(1, 16).saturating_sub(1));
    let asked = match error {
        Error::EndpointRefused(e) | Error::CredentialsRejected(e) => e.retry_after,
        _ => None,
    };
    doubled.min(MAX_BACKOFF).max(asked.unwrap_or_default())
}

/// A random duration below `max` (zero for zero), from std's randomly keyed hasher.
fn jitter(max: Duration) -> Duration {
    let random = RandomState::new().hash_one(0u8);
    Duration::from_nanos(random % u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1))
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("TokenSource")
            .field("token_url", &shown(&settings.request.url))
            .field("client_id", &settings.request.credentials.id())
            .field("client_auth", &settings.request.client_auth)
            .field("refresh_margin", &settings.refresh_margin)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        let plain = Error::InvalidResponse("x");
        let secs = |n| backoff(n, &plain).as_secs();
        assert_eq!([1, 2, 3, 7, 100].map(secs), [1, 2, 4, 60, 60]);
        let asked = Error::EndpointRefused(Box::new(crate::EndpointError {
            status: 429,
            code: None,
            description: None,
            uri: None,
            retry_after: Some(Duration::from_secs(120)),
        }));
        assert_eq!(backoff(1, &asked), Duration::from_secs(120));
    }

    #[test]
    fn a_poisoned_lock_is_taken_over() {
        let server = httpmock::MockServer::start();
        let mock = server.mock(|_, then| {
            then.status(200)
                .body(r#"{"access_token":"A","expires_in":3600}"#);
        });
        let creds = Credentials::new("id", "secret").unwrap();
        let source = TokenSource::new(server.url("/token"), creds);
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

    #[test]
    fn jitter_stays_below_its_bound() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(5)) < Duration::from_secs(5));
        }
    }
}
