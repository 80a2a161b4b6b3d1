//! The fetch path of a [`TokenSource`], run by the one thread that set `fetching`: look in
//! the store, and only if a request is needed take its lock, look again, send, and record;
//! then publish the outcome to memory once, log it and tell the hook.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::shared::{Found, Lock, Reader, Shared};
use super::{Cached, Failure, Inner, RefreshEvent, TokenSource};
use crate::cache::policy::{self, Backoff};
use crate::refresh::{Freshness, retry_after};
use crate::store::StoreGuard;
use crate::{Error, Result, Token, Unusable};

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

/// What a fetch came to: the token to publish (new, read from the store, or a stale one
/// standing in for a failed refresh), the failure to publish with its backoff (`None`:
/// computed from memory's row), and whether a request was sent. At least one of the token
/// and the failure is there.
struct Outcome {
    token: Option<Arc<Token>>,
    failure: Option<(Error, Option<Backoff>)>,
    sent: bool,
}

impl Outcome {
    fn read(token: Token) -> Outcome {
        Outcome {
            token: Some(Arc::new(token)),
            failure: None,
            sent: false,
        }
    }
}

/// A token that lives less than [`MIN_LIFETIME`](crate::MIN_LIFETIME) by the server's
/// clock is also a failure: handed out while it lasts, and backed off like any failure, so
/// that a server giving such tokens is not asked once per call.
fn too_short(token: &Token) -> Option<Error> {
    (token.validity().below_floor).then_some(Error::InvalidResponse(Unusable::ShortLived))
}

/// What a store's contents come to.
enum Judged {
    /// They answer: a fresh token, or a failure in force (with a stale token if any).
    Answer(Outcome),
    /// A request is needed; a still-valid stale token stands in if it fails.
    Ask(Option<Token>),
}

impl TokenSource {
    /// Refreshes a stale token on a new thread; inline if no thread can be started.
    pub(super) fn refresh_in_background(&self, rejected: Option<Arc<Token>>) {
        let (source, kept) = (self.clone(), rejected.clone());
        let spawned = std::thread::Builder::new()
            .name("apiauth-refresh".into())
            .spawn(move || drop(source.fetch(Mode::Background, kept)));
        if spawned.is_err() {
            drop(self.fetch(Mode::Foreground, rejected));
        }
    }

    /// Obtains a token and publishes the outcome. Called only by the thread that set
    /// `fetching` (and read, under the same lock, the token this process `rejected` last,
    /// which a store may still hold); the guard clears `fetching` even if something panics.
    pub(super) fn fetch(&self, mode: Mode, rejected: Option<Arc<Token>>) -> Result<Arc<Token>> {
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
        let started = Instant::now();
        let outcome = match &inner.shared {
            Some(shared) => self.obtain_shared(shared, mode, rejected.as_deref()),
            None => self.send_alone(None),
        };
        let (result, failed) = self.publish(&outcome);
        std::mem::forget(guard);
        inner.fetch_done.notify_all();
        let took = started.elapsed();
        self.log_outcome(&result, failed.as_ref(), outcome.sent, took, mode);
        if let Some(hook) = inner.config.on_refresh.as_ref().filter(|_| outcome.sent) {
            let event = RefreshEvent {
                result: failed.as_ref().map_or(result.as_deref(), |(e, _)| Err(e)),
                took,
                background: mode == Mode::Background,
            };
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&event)));
        }
        result
    }

    /// A usable token the store holds (another process fetched it while this one backed
    /// off), published to memory in place of the failure; `None` if there is none.
    pub(super) fn peek(&self, shared: &Shared, rejected: Option<&Token>) -> Option<Arc<Token>> {
        let found = self.find(shared, &mut shared.store(), rejected);
        let token = found
            .token
            .filter(|t| self.freshness(t) != Freshness::Expired)?;
        let token = Arc::new(token);
        let config = &self.inner.config;
        let mut state = self.inner.lock();
        state.cached = Some(Cached::new(
            token.clone(),
            &config.refresh,
            config.clock.now(),
        ));
        state.failure = None;
        drop(state);
        log::info!(
            "token for client {} read from the store: another process fetched it",
            config.request.credentials.id()
        );
        Some(token)
    }

    /// Sends one token request.
    fn send(&self) -> Result<Token> {
        let inner = &*self.inner;
        inner.fetches.fetch_add(1, Relaxed);
        inner
            .config
            .request
            .fetch(inner.agent(), &inner.config.clock)
    }

    /// A request without the store (none, or one that failed), `stale` standing in for a
    /// failure.
    fn send_alone(&self, stale: Option<Token>) -> Outcome {
        match self.send() {
            Ok(token) => Outcome {
                failure: too_short(&token).map(|error| (error, None)),
                token: Some(Arc::new(token)),
                sent: true,
            },
            Err(error) => Outcome {
                token: stale.map(Arc::new),
                failure: Some((error, None)),
                sent: true,
            },
        }
    }

    /// The store's way: decide from what it holds, and send only under its lock after
    /// deciding again.
    fn obtain_shared(&self, shared: &Shared, mode: Mode, rejected: Option<&Token>) -> Outcome {
        let inner = &*self.inner;
        let config = &inner.config;
        let mut stale = None;
        if mode != Mode::Forced {
            let found = self.find(shared, &mut shared.store(), rejected);
            match self.judge(found, mode) {
                Judged::Answer(outcome) => return outcome,
                Judged::Ask(token) => stale = token,
            }
        }
        // A stale token is served at once while another process refreshes it; only a
        // caller that must have a new token waits for the lock.
        let wait = match (mode, &stale) {
            (Mode::Foreground, Some(_)) => Duration::ZERO,
            _ => Shared::lock_wait(&config.request),
        };
        let mut guard = match (shared.lock(wait), stale) {
            (Lock::Held(guard), kept) => {
                stale = kept;
                guard
            }
            (Lock::Busy, Some(stale)) => return Outcome::read(stale),
            // A holder that hangs, or a store that fails: this process asks on its own.
            (Lock::Busy | Lock::Failed, stale) => return self.send_alone(stale),
        };
        let mut in_a_row = None;
        if mode != Mode::Forced {
            let found = self.find(shared, &mut guard, rejected);
            in_a_row = found.failures_in_a_row;
            match self.judge(found, mode) {
                Judged::Answer(outcome) => return outcome,
                Judged::Ask(token) => stale = token.or(stale),
            }
        }
        self.send_under_lock(shared, &mut *guard, mode, stale, in_a_row)
    }

    /// Sends under the store's lock and records the outcome for every process.
    fn send_under_lock(
        &self,
        shared: &Shared,
        guard: &mut dyn StoreGuard,
        mode: Mode,
        stale: Option<Token>,
        in_a_row: Option<u32>,
    ) -> Outcome {
        let clock = &self.inner.config.clock;
        let backoff = |error: &Error| {
            let memory = self.inner.lock().failure.as_ref().map(|f| f.in_a_row);
            policy::after_failure(in_a_row.or(memory), retry_after(error), clock.now())
        };
        match self.send() {
            Ok(token) => {
                shared.save_token(guard, &token, clock);
                let failure = too_short(&token).map(|error| {
                    let backoff = backoff(&error);
                    shared.save_failure(guard, &error, backoff, clock);
                    (error, Some(backoff))
                });
                Outcome {
                    token: Some(Arc::new(token)),
                    failure,
                    sent: true,
                }
            }
            Err(error) => {
                let backoff = backoff(&error);
                shared.save_failure(guard, &error, backoff, clock);
                Outcome {
                    token: stale.filter(|_| mode != Mode::Background).map(Arc::new),
                    failure: Some((error, Some(backoff))),
                    sent: true,
                }
            }
        }
    }

    fn find(&self, shared: &Shared, reader: &mut impl Reader, rejected: Option<&Token>) -> Found {
        let fresh = |token: &Token| self.freshness(token) == Freshness::Fresh;
        shared.find(reader, &self.inner.config.clock, rejected, fresh)
    }

    /// Where a token read from the store stands now, by the schedule memory would give it.
    fn freshness(&self, token: &Token) -> Freshness {
        let config = &self.inner.config;
        let schedule = super::schedule_of(token, &config.refresh);
        schedule.freshness(token.validity(), config.clock.now(), || config.clock.wall())
    }

    /// What the policy makes of a store's contents.
    fn judge(&self, found: Found, mode: Mode) -> Judged {
        let token = found.token.map(|t| (self.freshness(&t), t));
        let held = policy::Held {
            token: token
                .as_ref()
                .map(|(f, _)| *f)
                .filter(|f| *f != Freshness::Expired),
            backing_off: found.failure.is_some(),
            fetching: false,
        };
        let usable = token
            .filter(|(f, _)| *f != Freshness::Expired)
            .map(|(_, t)| t);
        match (policy::decide(held), found.failure) {
            (policy::Decision::Serve, None) => match usable {
                Some(token) => Judged::Answer(Outcome::read(token)),
                None => Judged::Ask(None),
            },
            // Another process's failure: every process backs off together.
            (policy::Decision::Serve | policy::Decision::Fail, Some((error, backoff))) => {
                Judged::Answer(Outcome {
                    token: usable.filter(|_| mode != Mode::Background).map(Arc::new),
                    failure: Some((error, Some(backoff))),
                    sent: false,
                })
            }
            _ => Judged::Ask(usable),
        }
    }

    /// Publishes `outcome` to memory in one critical section, and returns what the caller
    /// gets and the failure with its wait, if any.
    fn publish(&self, outcome: &Outcome) -> (Result<Arc<Token>>, Option<(Error, Duration)>) {
        let inner = &*self.inner;
        let config = &inner.config;
        let mut state = inner.lock();
        let now = config.clock.now();
        if let Some(token) = &outcome.token {
            state.cached = Some(Cached::new(token.clone(), &config.refresh, now));
        }
        let mut failed = None;
        match &outcome.failure {
            None => state.failure = None,
            Some((error, backoff)) => {
                if outcome.sent {
                    inner.failures.fetch_add(1, Relaxed);
                }
                let previous = state.failure.as_ref().map(|f| f.in_a_row);
                let backoff = backoff
                    .unwrap_or_else(|| policy::after_failure(previous, retry_after(error), now));
                failed = Some((
                    error.clone(),
                    backoff.retry_at.saturating_duration_since(now),
                ));
                state.failure = Some(Failure {
                    error: error.clone(),
                    retry_at: backoff.retry_at,
                    in_a_row: backoff.in_a_row,
                    peek_at: now,
                });
            }
        }
        let result = match (&outcome.token, &outcome.failure) {
            (Some(token), _) => Ok(token.clone()),
            (None, Some((error, _))) => Err(error.clone()),
            // Every outcome holds a token or a failure (see `Outcome`); this arm is only for
            // the type, and answers as a store that had nothing would.
            (None, None) => Err(Error::Config("no token was obtained".into())),
        };
        state.fetching = false;
        (result, failed)
    }
}
