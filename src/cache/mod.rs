//! The cache engine, all of it: [`TokenSource`] (one `impl`), its settings
//! ([`TokenConfig`]), the pure [`policy`], what a fetch came to ([`outcome`]), the one
//! [`record`] a store slot keeps and the [`slot`] adapter that reads and writes it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

mod config;
mod outcome;
pub(crate) mod policy;
pub(crate) mod record;
mod slot;

pub use config::TokenConfig;
pub(crate) use policy::RefreshPolicy;

use outcome::{Mode, Outcome};
use policy::{Backoff, Freshness, Known, OnRejection, Schedule, Step};
use record::{Record, Row, fnv1a};
use slot::Slot;

use crate::transport::TokenAgent;
use crate::{Error, Result, Token};

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
    slot: Option<Slot>,
    state: Mutex<State>,
    fetch_done: Condvar,
}

/// A token, when it turns stale, and until when a hit needs no other check.
#[derive(Clone)]
pub(super) struct Cached {
    pub(super) token: Arc<Token>,
    schedule: Schedule,
    /// Before it, the token is fresh: the hit path's one comparison.
    hit_until: Instant,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    fetching: bool,
    /// How many threads wait for the fetch under way (woken only if any: a wake-up is a
    /// system call).
    waiting: usize,
    /// The last failure, its backoff, and when the store may next be looked at for a token
    /// another process fetched meanwhile (at most once a second while the backoff runs).
    failure: Option<(Error, Backoff, Instant)>,
    /// The last rejection by an API, and the backoff that rejections follow.
    rejection: Option<Backoff>,
    /// Counts of requests, failures and rejections (`fetching` is the field above).
    stats: Stats,
    /// The last token this process dropped after a rejection: never served again, even if a
    /// store still holds it.
    rejected: Option<Arc<Token>>,
}

/// What a slot's record comes to.
enum Judged {
    /// It answers: a fresh token, or a failure in force (with a stale token if any).
    Answer(Outcome),
    /// A request is needed; a still-valid stale token stands in if it fails.
    Ask(Option<Cached>),
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
        let slot = (config.store.clone()).map(|store| Slot::new(store, &config.request));
        TokenSource {
            inner: Arc::new(Inner {
                config,
                agent: OnceLock::new(),
                slot,
                state: Mutex::default(),
                fetch_done: Condvar::new(),
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
        let state = inner.state();
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
        let mut state = inner.state();
        while state.fetching {
            state = inner.wait(state);
        }
        state.fetching = true;
        drop(state);
        self.obtain(Mode::Forced)
    }

    /// Drops the cached token (from the store too), so that the next call fetches a new one.
    pub fn invalidate(&self) {
        let inner = &*self.inner;
        let dropped = inner.state().cached.take().map(|cached| cached.token);
        let forgotten =
            (inner.slot.as_ref()).is_none_or(|slot| slot.update(|r| r.token = None).is_some());
        if !forgotten && let Some(dropped) = dropped {
            // The store could not be changed now: at least never read this token back.
            inner.state().rejected = Some(dropped);
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
        let state = inner.state();
        if !is_current(&state) {
            return true;
        }
        let in_memory = state.rejection;
        drop(state); // no store I/O under the lock every cache hit takes
        let outcome = self.reject_shared(token, in_memory).unwrap_or_else(|| {
            let now = inner.config.clock.now();
            let age = now.saturating_duration_since(token.issued_at());
            policy::on_rejection(in_memory, age, now)
        });
        let client = inner.config.request.credentials.id();
        match outcome {
            OnRejection::Keep => {
                log::warn!(
                    "an API rejected (401) a fresh token of client {client} again; keeping it \
                     rather than fetching a new one for every call"
                );
                false
            }
            OnRejection::Drop(rejected) => {
                let mut state = inner.state();
                state.rejection = Some(rejected);
                if is_current(&state) {
                    state.cached = None;
                    state.rejected = Some(token.clone());
                }
                state.stats.rejections += 1;
                drop(state);
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
        let state = self.inner.state();
        Stats {
            fetching: state.fetching,
            ..state.stats
        }
    }

    /// The miss path: what the policy says about what memory holds, until it says serve,
    /// fail or fetch.
    fn token_slow<'a>(&'a self, mut state: MutexGuard<'a, State>) -> Result<Arc<Token>> {
        let inner = &*self.inner;
        loop {
            let now = inner.config.clock.now();
            let freshness = (state.cached.as_mut()).map(|cached| inner.freshness(cached, now));
            let step = policy::decide(Known {
                token: freshness.filter(|f| *f != Freshness::Expired),
                backing_off: (state.failure.as_ref()).is_some_and(|(_, b, _)| now < b.retry_at),
                fetching: state.fetching,
            });
            let held = &mut *state;
            match (step, &held.cached, &mut held.failure) {
                (Step::Serve, Some(cached), _) => return Ok(cached.token.clone()),
                (Step::ServeAndRefresh, Some(cached), _) => {
                    let token = cached.token.clone();
                    held.fetching = true;
                    drop(state);
                    // Started before logging: a logger that panics must not leave
                    // `fetching` set with no fetch to clear it.
                    let source = self.clone();
                    let spawned = std::thread::Builder::new()
                        .name("apiauth-refresh".into())
                        .spawn(move || drop(source.obtain(Mode::Background)));
                    if spawned.is_err() {
                        // No thread can be started: refresh inline.
                        drop(self.obtain(Mode::Foreground));
                    }
                    log::debug!(
                        "token for client {} is due for refresh ({} s left); refreshing in \
                         the background",
                        inner.config.request.credentials.id(),
                        (token.expires_at_instant().saturating_duration_since(now)).as_secs()
                    );
                    return Ok(token);
                }
                (Step::Fail, _, Some((error, _, peek_at))) => {
                    let error = error.clone();
                    let Some(slot) = inner.slot.as_ref().filter(|_| now >= *peek_at) else {
                        return Err(error);
                    };
                    // Another process may have fetched a token since (its success lifts
                    // the record): look, at most once a second, without the store's lock.
                    *peek_at = now + PEEK_EVERY;
                    drop(state);
                    return self.peek(slot).ok_or(error);
                }
                (Step::Wait, ..) => state = inner.wait(state),
                // Fetch (the other pairs cannot happen: the policy serves only what is held).
                _ => {
                    state.cached = None;
                    state.fetching = true;
                    drop(state);
                    return self.obtain(Mode::Foreground);
                }
            }
        }
    }

    /// Obtains a token and publishes the outcome. Called only by the thread that set
    /// `fetching`; the guard clears `fetching` even if something panics.
    fn obtain(&self, mode: Mode) -> Result<Arc<Token>> {
        /// Clears `fetching` and wakes the waiters if the fetch ends by a panic; otherwise
        /// the result is published in the same critical section.
        struct PanicGuard<'a>(&'a Inner);
        impl Drop for PanicGuard<'_> {
            fn drop(&mut self) {
                self.0.state().fetching = false;
                self.0.fetch_done.notify_all();
            }
        }
        let inner = &*self.inner;
        let guard = PanicGuard(inner);
        let outcome = match &inner.slot {
            Some(slot) => self.obtain_shared(slot, mode),
            None => self.send(None, None, mode),
        };
        // Published to memory in one critical section (the schedule of a token read from the
        // store was made when it was judged).
        let cached = match &outcome {
            Outcome::Fetched { token, .. } => Ok(inner.cached(token.clone())),
            Outcome::Stored(cached) => Ok(cached.clone()),
            Outcome::Failed {
                stale: Some(cached),
                ..
            } if mode != Mode::Background => Ok(cached.clone()),
            Outcome::Failed { error, .. } => Err(error.clone()),
        };
        let failure = outcome.failure();
        let mut state = inner.state();
        state.stats.failures += u64::from(failure.is_some() && outcome.took().is_some());
        let now = inner.config.clock.now();
        let result = cached.map(|cached| state.cached.insert(cached).token.clone());
        state.failure = (failure.clone()).map(|(error, backoff)| (error, backoff, now));
        state.fetching = false;
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            inner.fetch_done.notify_all();
        }
        std::mem::forget(guard);
        outcome.log(&inner.config.request, mode, inner.config.clock.now());
        if let (Some(hook), Some(took)) = (&inner.config.on_refresh, outcome.took()) {
            let event = RefreshEvent {
                result: (failure.as_ref()).map_or(result.as_deref(), |(error, _)| Err(error)),
                took,
                background: mode == Mode::Background,
            };
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&event)));
        }
        result
    }

    /// Sends one token request, and makes its outcome: the backoff follows `previous`
    /// failures in a row (memory's when `None`), and `stale` stands in for a failure. A
    /// token that lives too short is a failure too; it is used only when no valid token is
    /// at hand (`stale`, or memory's during a background refresh), never in place of one.
    fn send(&self, previous: Option<u32>, stale: Option<Cached>, mode: Mode) -> Outcome {
        let inner = &*self.inner;
        inner.state().stats.fetches += 1;
        let agent = inner
            .agent
            .get_or_init(|| TokenAgent::new(inner.config.agent.as_ref(), &inner.config.request));
        let started = Instant::now();
        let sent = inner.config.request.send(agent, &inner.config.clock);
        let took = started.elapsed();
        let previous = previous.or_else(|| inner.state().failure.as_ref().map(|f| f.1.in_a_row));
        let now = inner.config.clock.now();
        let short_lived = Error::InvalidResponse(crate::Unusable::ShortLived);
        let error = match sent {
            Ok(token) if !token.validity().below_floor => {
                let token = Arc::new(token);
                return Outcome::Fetched {
                    token,
                    short: None,
                    took,
                };
            }
            Ok(token) if stale.is_none() && mode != Mode::Background => {
                let backoff = policy::after_failure(previous, &short_lived, now);
                let (token, short) = (Arc::new(token), Some((short_lived, backoff)));
                return Outcome::Fetched { token, short, took };
            }
            Ok(_) => short_lived,
            Err(error) => error,
        };
        Outcome::Failed {
            backoff: policy::after_failure(previous, &error, now),
            error,
            stale,
            took: Some(took),
        }
    }

    /// The store's way: decide from the slot's record, and send only under its lock after
    /// deciding again; then write the new record for every process.
    fn obtain_shared(&self, slot: &Slot, mode: Mode) -> Outcome {
        // Looks without the lock (a forced request reads nothing before it holds it).
        let look = || {
            let record = (mode != Mode::Forced).then(|| slot.read());
            self.judge(&record.unwrap_or_default(), slot, mode)
        };
        let mut stale = match look() {
            Judged::Answer(outcome) => return outcome,
            Judged::Ask(token) => token,
        };
        // A stale token is served at once while another process refreshes it; only a
        // caller that must have a new token waits for the lock.
        let wait = match (mode, &stale) {
            (Mode::Foreground, Some(_)) => Duration::ZERO,
            _ => slot.hold,
        };
        let (mut record, mut guard) = match slot.lock(wait) {
            Ok(Some(held)) => held,
            // A holder that does not progress: what it wrote before it stopped, if anything,
            // else this process asks on its own.
            Ok(None) => {
                return stale.map(Outcome::Stored).unwrap_or_else(|| match look() {
                    Judged::Answer(outcome) => outcome,
                    Judged::Ask(_) => self.send(None, None, mode),
                });
            }
            // A store that fails: this process asks on its own.
            Err(()) => return self.send(None, stale, mode),
        };
        let locked_at = Instant::now();
        let clock = &self.inner.config.clock;
        let wall = slot.now(clock);
        let previous = (record.failure.as_ref())
            .filter(|(row, _)| mode != Mode::Forced && policy::row_counts(row.until, wall))
            .map(|(row, _)| row.in_a_row);
        match self.judge(&record, slot, mode) {
            Judged::Answer(outcome) => return outcome,
            Judged::Ask(token) => stale = token.or(stale),
        }
        let outcome = self.send(previous, stale, mode);
        let wall = slot.now(clock);
        if let Outcome::Fetched { token, .. } = &outcome {
            record.token = Some(slot.stored(token, clock));
        }
        match outcome.failure() {
            None => record.failure = None,
            Some((error, backoff)) if error.to_record().is_some() => {
                record.failure = Some((Row::of(backoff, wall, clock.now()), error));
            }
            // A failure a record cannot hold (not the endpoint's) leaves the row as it was.
            Some(_) => {}
        }
        // A holder stopped past its lease (Ctrl-Z, a debugger) writes nothing: the others
        // went on without it, and a timeout it saw on waking is not the endpoint's.
        if locked_at.elapsed() <= slot.hold {
            slot.write(&mut *guard, &record);
        }
        outcome
    }

    /// A usable token the slot holds (another process fetched it while this one backed
    /// off), published to memory in place of the failure; `None` if there is none.
    fn peek(&self, slot: &Slot) -> Option<Arc<Token>> {
        let inner = &*self.inner;
        let cached = self.usable(&slot.read())?.1;
        let mut state = inner.state();
        state.failure = None;
        let token = state.cached.insert(cached).token.clone();
        drop(state);
        log::info!(
            "token for client {} read from the store: another process fetched it",
            inner.config.request.credentials.id()
        );
        Some(token)
    }

    /// The token of `record`, unless it is expired or the one this process rejected.
    fn usable(&self, record: &Record) -> Option<(Freshness, Cached)> {
        let inner = &*self.inner;
        let slot = inner.slot.as_ref()?;
        let token = slot.restore(record.token.as_ref()?, &inner.config.clock)?;
        let same = |rejected: &Arc<Token>| rejected.access_token() == token.access_token();
        if inner.state().rejected.as_ref().is_some_and(same) {
            return None;
        }
        let mut cached = inner.cached(Arc::new(token));
        let freshness = inner.freshness(&mut cached, inner.config.clock.now());
        (freshness != Freshness::Expired).then_some((freshness, cached))
    }

    /// What the policy makes of a slot's record: its token first, and its failure only
    /// when the token is not fresh; a forced request asks whatever the record holds.
    fn judge(&self, record: &Record, slot: &Slot, mode: Mode) -> Judged {
        if mode == Mode::Forced {
            return Judged::Ask(None);
        }
        let clock = &self.inner.config.clock;
        let token = self.usable(record);
        let fresh = token.as_ref().is_some_and(|(f, _)| *f == Freshness::Fresh);
        let wall = slot.now(clock);
        let failure = (record.failure.as_ref())
            .filter(|_| !fresh)
            .and_then(|(row, error)| Some((error.clone(), row.backoff(wall, clock.now())?)));
        let step = policy::decide(Known {
            token: token.as_ref().map(|(f, _)| *f),
            backing_off: failure.is_some(),
            fetching: false,
        });
        match (step, failure, token.map(|(_, t)| t)) {
            (Step::Serve, None, Some(token)) => Judged::Answer(Outcome::Stored(token)),
            // Another process's failure: every process backs off together.
            (Step::Serve | Step::Fail, Some((error, backoff)), usable) => {
                Judged::Answer(Outcome::Failed {
                    error,
                    backoff,
                    stale: usable.filter(|_| mode != Mode::Background),
                    took: None,
                })
            }
            (_, _, usable) => Judged::Ask(usable),
        }
    }

    /// The rejection rule with the slot's record, under its lock: `None` without a store,
    /// or when it cannot be used (then the caller applies it to memory alone).
    fn reject_shared(&self, token: &Token, in_memory: Option<Backoff>) -> Option<OnRejection> {
        let slot = self.inner.slot.as_ref()?;
        let clock = &self.inner.config.clock;
        slot.update(|record| {
            // Read after the lock: waiting for it must not make the token look younger.
            let (now, wall) = (clock.now(), slot.now(clock));
            let age = now.saturating_duration_since(token.issued_at());
            let hash = fnv1a(token.access_token().secret().as_bytes());
            let issued = wall.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
            let previous = (record.rejection).map(|(row, stored)| {
                let backoff = row.backoff(wall, now).unwrap_or(Backoff {
                    in_a_row: row.in_a_row,
                    retry_at: now,
                });
                let elsewhere = policy::rejected_elsewhere(stored == hash, issued, row.since);
                (backoff, elsewhere)
            });
            if let Some((backoff, true)) = previous {
                return OnRejection::Drop(backoff);
            }
            let outcome = policy::on_rejection(previous.map(|p| p.0).or(in_memory), age, now);
            if let OnRejection::Drop(backoff) = outcome {
                record.rejection = Some((Row::of(backoff, wall, now), hash));
                (record.token).take_if(|t| t.access_token == token.access_token().secret());
            }
            outcome
        })
    }
}

impl Inner {
    #[inline]
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the fetch under way to publish its result.
    fn wait<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        state.waiting += 1;
        let mut state = (self.fetch_done.wait(state)).unwrap_or_else(PoisonError::into_inner);
        state.waiting -= 1;
        state
    }

    /// `token` with its refresh schedule, its jitter drawn from a hash of the token: the
    /// same in every process that holds it. Computed once per token.
    fn cached(&self, token: Arc<Token>) -> Cached {
        let seed = fnv1a(token.access_token().secret().as_bytes());
        let schedule = self.config.refresh.schedule(token.validity(), seed);
        Cached {
            hit_until: schedule.hit_until(token.validity(), self.config.clock.now()),
            token,
            schedule,
        }
    }

    /// Where `cached` stands at `now`, on both clocks; a fresh token may be hit until the
    /// next check.
    fn freshness(&self, cached: &mut Cached, now: Instant) -> Freshness {
        let validity = cached.token.validity();
        let freshness = (cached.schedule).freshness(validity, now, || self.config.clock.wall());
        if freshness == Freshness::Fresh {
            cached.hit_until = cached.schedule.hit_until(validity, now);
        }
        freshness
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
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
