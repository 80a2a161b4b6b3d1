//! Authorized API calls through ureq: the right header for each API, and one recovery from
//! a 401.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use ureq::http::header::{ACCEPT, AUTHORIZATION};
use ureq::http::request::Parts;
use ureq::http::{HeaderMap, Request, Response, StatusCode};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Agent, AsSendBody, Body, RequestExt, SendBody};

use crate::endpoint::default_agent;
use crate::redirect::{self, Hop};
use crate::secret::shown;
use crate::{BasicEncoding, Credentials, Error, Result, Token, TokenScheme, TokenSource};

/// An API's answer, or the status the agent turned into an error.
type Answer = Result<Response<Body>>;

/// The most of an API answer [`ApiClient::get_json`] reads: 10 MiB, as ureq's `read_json`.
const MAX_API_BODY: u64 = 10 * 1024 * 1024;

/// Which header an API wants, and where its value comes from.
///
/// `Auth` is also a ureq [`Middleware`]: an agent built with it puts the header on every
/// request it sends (except to the token endpoint itself), without 401 recovery; for that,
/// use an [`ApiClient`]. The middleware's own errors (a failed token fetch) reach the caller
/// as `ureq::Error::Other` holding an [`Error`].
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Auth, Credentials, TokenConfig, TokenScheme};
///
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "s")?)
///     .build()?;
/// let agent: ureq::Agent = ureq::Agent::config_builder()
///     .middleware(Auth::Token(source, TokenScheme::Bearer))
///     .build()
///     .into();
/// let body = agent.get("https://api.example.com/v1/things").call()?.body_mut().read_to_string()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Basic …` from static credentials. Never retried: nothing to refresh.
    Basic(Credentials, BasicEncoding),
    /// A token from the source, presented in the given scheme.
    Token(TokenSource, TokenScheme),
}

impl Auth {
    /// Puts this auth's header on `headers`, and returns the token it used, if any. For
    /// `x-connect-token`, any `Authorization` header is removed: that API must not get one.
    fn apply(&self, headers: &mut HeaderMap) -> Result<Option<Arc<Token>>> {
        match self {
            Auth::Basic(creds, encoding) => {
                headers.insert(AUTHORIZATION, creds.basic_header(*encoding)?.clone());
                Ok(None)
            }
            Auth::Token(source, scheme) => {
                let token = source.token()?;
                if *scheme != TokenScheme::Bearer {
                    headers.remove(AUTHORIZATION);
                }
                headers.insert(scheme.header_name(), token.header_value(*scheme).clone());
                Ok(Some(token))
            }
        }
    }
}

impl Middleware for Auth {
    /// Puts the header on the request and sends it on without following redirects: a
    /// middleware sees only the first hop, and ureq carries headers other than
    /// `Authorization` to any host a redirect names. A 3xx comes back to the caller as it is
    /// ([`ApiClient`] follows same-origin ones). A 401 on a token drops it, as
    /// [`TokenSource::reject`] says, without a retry.
    fn handle(
        &self,
        mut request: Request<SendBody>,
        next: MiddlewareNext,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        if let Auth::Token(source, _) = self
            && request.uri() == source.token_url()
        {
            return next.handle(request);
        }
        let used =
            (self.apply(request.headers_mut())).map_err(|e| ureq::Error::Other(Box::new(e)))?;
        let request = (request.middleware_config())
            .ok_or_else(|| ureq::Error::Other("apiauth::Auth runs only as a middleware".into()))?
            .max_redirects(0)
            .max_redirects_will_error(false)
            .build();
        let answer = next.handle(request);
        let status = match &answer {
            Ok(response) => response.status().as_u16(),
            Err(ureq::Error::StatusCode(status)) => *status,
            Err(_) => 0,
        };
        if let (Auth::Token(source, _), Some(token), 401) = (self, used, status) {
            source.reject(&token);
        }
        answer
    }
}

/// Sends API requests through a ureq [`Agent`] with the header from an [`Auth`] and, for a
/// token, recovers once from a 401: the rejected token is dropped (see
/// [`TokenSource::reject`]: an API that keeps refusing fresh tokens gets a backoff, not a
/// token request per call), a new one is fetched, and the request is sent once more. Only
/// [`run`](Self::run) retries; never for a 403, never for Basic. The header never leaves
/// the request's origin: see [`run`](Self::run) on redirects.
///
/// The agent is the caller's (its proxy, TLS, timeouts and `http_status_as_error` apply) or
/// ureq's default. ureq's per-request settings (`Agent::configure_request`) are kept.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{ApiClient, Auth, Credentials, TokenConfig, TokenScheme};
///
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("id", "s")?)
///     .build()?;
/// let client = ApiClient::new(Auth::Token(source, TokenScheme::Bearer));
/// let things: serde_json::Value = client.get_json("https://api.example.com/v1/things")?;
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiClient {
    agent: Agent,
    auth: Auth,
}

impl ApiClient {
    /// A client on ureq's default agent (with the TLS provider this build selects).
    pub fn new(auth: Auth) -> Self {
        Self::new_with_agent(default_agent(), auth)
    }

    /// A client on the caller's `agent`.
    pub fn new_with_agent(agent: Agent, auth: Auth) -> Self {
        ApiClient { agent, auth }
    }

    /// The auth this client uses.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The agent requests go through.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Sends a request whose body can be sent again (`()` for none, `Vec<u8>`, `&str`,
    /// `&[u8]`, …: see [`ReplayBody`](crate::ReplayBody)); after a 401 on a token, sends it
    /// once more with a new token. The request's headers, extensions and per-request ureq
    /// settings are sent as they are on both tries.
    ///
    /// **Redirects** are followed only to the request's own origin (scheme, host and port),
    /// with the auth header, for at most the agent's `max_redirects` hops (ureq's default:
    /// 10): a 307/308 resends the body, a 303 (and a 301/302 after a POST) becomes a GET
    /// without one. A redirect to any other origin is returned to the caller unfollowed:
    /// following it would hand the token, or the caller's own headers, to a host the caller
    /// never named. A redirect is never taken for a rejection.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the API cannot be reached; [`Error::ApiStatus`] for a
    /// 4xx/5xx when the agent treats statuses as errors (ureq's default); any error of the
    /// token fetch.
    pub fn run<B: crate::ReplayBody>(&self, request: Request<B>) -> Result<Response<Body>> {
        let (parts, body) = request.into_parts();
        let body = body.bytes();
        let (answer, used) = self.exchange(parts.clone(), body, Some(body))?;
        if !self.rejected(&answer, used) {
            return answer;
        }
        // The retry's 401 is told too: it opens the backoff for an API that refuses fresh
        // tokens.
        let (answer, used) = self.exchange(parts, body, Some(body))?;
        self.rejected(&answer, used);
        answer
    }

    /// Sends a request whose body can be read only once (a file, a stream). It is never
    /// retried; after a 401 the token is still dropped, so the next call gets a new one.
    /// Redirects as for [`run`](Self::run), except that a 307/308, which would need the body
    /// again, is returned to the caller.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_once(&self, request: Request<impl AsSendBody>) -> Result<Response<Body>> {
        let (parts, body) = request.into_parts();
        let (answer, used) = self.exchange(parts, body, None)?;
        self.rejected(&answer, used);
        answer
    }

    /// `GET url`, and the JSON answer decoded as `T` (`serde_json::Value` for anything).
    ///
    /// # Errors
    ///
    /// [`Error::ApiStatus`] for a non-2xx answer (after the one 401 retry),
    /// [`Error::ApiBody`] for an answer that is not the expected JSON, and those of
    /// [`run`](Self::run).
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .body([])
            .map_err(|_| Error::Config(format!("{:?} is not a valid URL", shown(url))))?;
        let mut response = self.run(request)?;
        if !response.status().is_success() {
            return Err(Error::ApiStatus(response.status().as_u16()));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_API_BODY)
            .read_to_vec()?;
        serde_json::from_slice(&body).map_err(|e| Error::ApiBody(Arc::new(e)))
    }

    /// Sends `body` to `parts`, then follows same-origin redirects (see [`run`](Self::run));
    /// `replay` is the body a 307/308 sends again (none: such a redirect is returned).
    /// Returns the last answer and the token it was sent with.
    fn exchange(
        &self,
        mut parts: Parts,
        body: impl AsSendBody,
        replay: Option<&[u8]>,
    ) -> Result<(Answer, Option<Arc<Token>>)> {
        let mut hops = self.agent.config().max_redirects();
        let (mut answer, mut used) = self.send(Request::from_parts(parts.clone(), body))?;
        while let Ok(response) = &answer
            && hops > 0
        {
            let body = match redirect::next(&mut parts, response.status(), response.headers()) {
                Hop::Stop => break,
                Hop::Follow { keep_body: false } => &[][..],
                Hop::Follow { keep_body: true } => match replay {
                    Some(body) => body,
                    None => break,
                },
            };
            hops -= 1;
            (answer, used) = self.send(Request::from_parts(parts.clone(), body))?;
        }
        Ok((answer, used))
    }

    /// Sends one request with the auth header and redirects off, and returns the answer
    /// (or the status the agent turned into an error) with the token it carried.
    fn send(&self, mut request: Request<impl AsSendBody>) -> Result<(Answer, Option<Arc<Token>>)> {
        let used = self.auth.apply(request.headers_mut())?;
        let request = (self.agent.configure_request(request))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .build();
        let answer = self.agent.run(request).map_err(|e| match e {
            ureq::Error::StatusCode(status) => Error::ApiStatus(status),
            e => e.into(),
        });
        Ok((answer, used))
    }

    /// Whether `answer` rejected the token it was sent with; if so, that token is dropped
    /// from the cache unless it has been replaced already.
    fn rejected(&self, answer: &Answer, used: Option<Arc<Token>>) -> bool {
        let status = match answer {
            Ok(response) => response.status().as_u16(),
            Err(Error::ApiStatus(status)) => *status,
            Err(_) => return false,
        };
        match (&self.auth, used) {
            (Auth::Token(source, _), Some(token)) if status == StatusCode::UNAUTHORIZED => {
                source.reject(&token)
            }
            _ => false,
        }
    }
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
