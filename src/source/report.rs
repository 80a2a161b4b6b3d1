//! What a fetch tells the `log` facade: the URL without userinfo, the client id, lifetimes
//! and error texts, never a secret or a token.

use std::sync::Arc;
use std::time::Duration;

use super::TokenSource;
use super::fetch::Mode;
use crate::secret::shown;
use crate::{Error, Result, Token};

impl TokenSource {
    /// Tells the `log` facade how a fetch went: the URL without userinfo, the client id,
    /// lifetimes and error texts, never a secret or a token.
    pub(super) fn log_outcome(
        &self,
        result: &Result<Arc<Token>>,
        failed: Option<&(Error, Duration)>,
        sent: bool,
        took: Duration,
        mode: Mode,
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
                "token for client {client} read from the store, valid {} s",
                token.lifetime().as_secs()
            ),
            (_, Some((error, wait))) if !sent => log::info!(
                "another process's token request for client {client} failed ({error}); not \
                 asking again for {:.1} s",
                wait.as_secs_f64()
            ),
            (_, Some((error, wait))) if result.is_ok() || mode == Mode::Background => {
                log::warn!(
                    "refreshing the token for client {client} at {url} failed ({error}); \
                     serving the still-valid token, next try in {:.1} s",
                    wait.as_secs_f64()
                )
            }
            (_, Some((error, wait))) => log::warn!(
                "token request to {url} for client {client} failed ({error}); next try in \
                 {:.1} s",
                wait.as_secs_f64()
            ),
            (_, None) => {}
        }
    }
}
