//! The fetch path of a [`TokenSource`]: one token request (or a disk read), its result
//! published for every waiter, failures backed off, the refresh hook told.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{Cached, Failure, Inner, RefreshEvent, TokenSource};
use crate::refresh::{Backoff, backoff, retry_after};
use crate::secret::shown;
use crate::{Error, Result, Token};

impl TokenSource {
    /// A token from the disk cache or, failing that, from the endpoint (`sent` is set when a
    /// request was sent), and the error of a refresh that failed when the disk still held a
    /// valid stale token (which is then the token). A disk entry holding the last rejected
    /// token is not used. With an error, `backoff` is set when the disk cache's failure
    /// record decides it (shared by every process), and left alone otherwise.
    #[cfg_attr(not(unix), allow(unused_variables))] // `backoff`: only the disk cache sets it
    fn obtain(
        &self,
        background: bool,
        sent: &mut bool,
        backoff: &mut Option<Backoff>,
    ) -> Result<(Arc<Token>, Option<Error>)> {
        let inner = &*self.inner;
        let settings = &inner.config;
        let mut request = || {
            *sent = true;
            inner.fetches.fetch_add(1, Relaxed);
            settings.request.fetch(&inner.agent, &settings.clock)
        };
        #[cfg(unix)]
        if let Some(cache) = &settings.disk_cache {
            let rejected = inner.lock().rejection.as_ref().map(|r| r.token.clone());
            let rejected = rejected.as_ref().map(|t| t.access_token().secret());
            let (policy, clock) = (&settings.refresh, &settings.clock);
            let keep_stale = !background;
            let (obtained, recorded) = cache.token(
                &settings.request,
                policy,
                clock,
                keep_stale,
                rejected,
                request,
            );
            *backoff = recorded;
            let (token, failed) = obtained?;
            return Ok((Arc::new(token), failed));
        }
        request().map(|token| (Arc::new(token), None))
    }

    /// Refreshes a stale token on a new thread; inline if no thread can be started.
    pub(super) fn refresh_in_background(&self) {
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
    pub(super) fn fetch(&self, background: bool) -> Result<Arc<Token>> {
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
        let settings = &inner.config;
        let started = Instant::now();
        let (mut sent, mut recorded) = (false, None);
        let mut obtained = self.obtain(background, &mut sent, &mut recorded);
        let mut state = inner.lock();
        // Read from disk before a rejection removed it there: ask again, past that entry.
        if let (Ok((token, _)), Some(rejected)) = (&obtained, &state.rejection)
            && !sent
            && token.access_token() == rejected.token.access_token()
        {
            drop(state);
            obtained = self.obtain(background, &mut sent, &mut recorded);
            state = inner.lock();
        }
        // A failed refresh counts as a failure even when a stale token stands in for it.
        let (result, failed) = match obtained {
            Ok((token, failed)) => (Ok(token), failed),
            Err(error) => (Err(error.clone()), Some(error)),
        };
        if let Ok(token) = &result {
            let now = settings.clock.now();
            state.cached = Some(Cached::new(token.clone(), &settings.refresh, now));
        }
        let mut wait = None;
        match &failed {
            None => state.failure = None,
            Some(error) => {
                if sent {
                    inner.failures.fetch_add(1, Relaxed);
                }
                // The disk's record, when there is one, speaks for every process.
                let now = settings.clock.now();
                let Backoff { retry_at, in_a_row } = recorded.unwrap_or_else(|| {
                    let in_a_row = state.failure.as_ref().map_or(1, |f| f.in_a_row + 1);
                    let retry_at = now + backoff(in_a_row, retry_after(error));
                    Backoff { retry_at, in_a_row }
                });
                wait = Some(retry_at.saturating_duration_since(now));
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
        let took = started.elapsed();
        self.log_outcome(&result, failed.as_ref().zip(wait), sent, took, background);
        if let Some(hook) = settings.on_refresh.as_ref().filter(|_| sent) {
            let event = RefreshEvent {
                result: failed.as_ref().map_or(result.as_deref(), Err),
                took,
                background,
            };
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&event)));
        }
        result
    }

    /// Tells the `log` facade how a fetch went: the URL without userinfo, the client id,
    /// lifetimes and error texts, never a secret or a token.
    fn log_outcome(
        &self,
        result: &Result<Arc<Token>>,
        failed: Option<(&Error, Duration)>,
        sent: bool,
        took: Duration,
        background: bool,
    ) {
        let request = &self.inner.config.request;
        let (url, client) = (shown(&request.url), request.credentials.id());
        match (result, failed) {
            (Ok(token), None) if sent => log::info!(
                "token fetched from {url} for client {client} in {} ms, valid {} s",
                took.as_millis(),
                token.lifetime().as_secs()
            ),
            (Ok(token), None) => log::debug!(
                "token for client {client} read from the disk cache, valid {} s",
                token.lifetime().as_secs()
            ),
            (_, Some((error, wait))) if !sent => log::info!(
                "another process's token request for client {client} failed ({error}); not \
                 asking again for {:.1} s",
                wait.as_secs_f64()
            ),
            (Ok(_), Some((error, wait))) => log::warn!(
                "refreshing the token for client {client} failed ({error}); serving the \
                 still-valid token, next try in {:.1} s",
                wait.as_secs_f64()
            ),
            (Err(_), Some((error, wait))) if background => log::warn!(
                "refreshing the token for client {client} at {url} failed ({error}); serving \
                 the still-valid token, next try in {:.1} s",
                wait.as_secs_f64()
            ),
            (Err(_), Some((error, wait))) => log::warn!(
                "token request to {url} for client {client} failed ({error}); next try in \
                 {:.1} s",
                wait.as_secs_f64()
            ),
            (Err(_), None) => {}
        }
    }
}
