//! Authorized API calls through ureq: the right header for each API ([`Auth`]), and one
//! recovery from a 401 ([`ApiClient`]). Only with the `client` feature (on by default): a
//! program that wants only header values leaves it out.

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use ureq::config::ConfigBuilder;
use ureq::http::header::{ACCEPT, AUTHORIZATION};
use ureq::http::request::Parts;
use ureq::http::{HeaderMap, Method, Request, Response};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::typestate::HttpCrateScope;
use ureq::{Agent, AsSendBody, Body, RequestExt, SendBody};

mod body;
mod redirect;

pub use body::ReplayBody;
pub use redirect::same_origin;

use crate::secret::scrub;
use crate::transport::{check_agent, from_ureq, proxy_of};
use crate::wire::{check, check_uri, direct, redacted_uri};
use crate::{
    ApiError, BasicEncoding, Credentials, Error, Result, Side, Token, TokenScheme, TokenSource,
};
use redirect::Hop;

/// An API's answer (or the status the agent turned into an error), and whether it rejected
/// the token its request carried (which is then dropped).
type Sent = Result<(Result<Response<Body>>, bool)>;

/// The most of an API's error answer kept in [`ApiError::body`]: 4 KiB.
const MAX_ERROR_BODY: u64 = 4 * 1024;
/// How much more than [`MAX_ERROR_BODY`] is read before scrubbing: room for a secret (or
/// its encodings, up to three times as long) that starts just before the cut.
const SCRUB_MARGIN: u64 = 4 * 1024;

/// Which header an API wants, and where its value comes from.
///
/// `Auth` is also a ureq [`Middleware`]: an agent built with it puts the header on every
/// request it sends (except to the token endpoint itself), without 401 recovery; for that,
/// use an [`ApiClient`]. A request whose URL fails the URL rule (plain
/// http to a host that is not loopback, a user and password) gets no header and is not
/// sent. The middleware's own errors (a failed token fetch) reach the caller
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
        let used = check_uri(request.uri(), "api url", false)
            .and_then(|()| self.apply(request.headers_mut()))
            .map_err(|e| ureq::Error::Other(Box::new(e)))?;
        let direct = direct(request.uri());
        let config = (request.middleware_config())
            .ok_or_else(|| ureq::Error::Other("apiauth::Auth runs only as a middleware".into()))?;
        let answer = next.handle(one_hop(config, direct));
        let status = answer.as_ref().map(|response| response.status().as_u16());
        if let (Auth::Token(source, _), Some(token)) = (self, used)
            && let Ok(401) | Err(ureq::Error::StatusCode(401)) = status
        {
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
/// ureq's default; plain http and loopback never go through a proxy. ureq's per-request
/// settings (`Agent::configure_request`) are kept.
///
/// Every request's URL passes the URL rule before anything is sent (no user or password):
/// https, or plain http to loopback only (see [`with_insecure_http`](Self::with_insecure_http)).
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
    allow_http: bool,
}

impl ApiClient {
    /// A client on ureq's default agent (with the TLS provider this build selects).
    pub fn new(auth: Auth) -> Self {
        Self::new_with_agent(crate::agent_config().build().into(), auth)
    }

    /// A client on the caller's `agent`.
    pub fn new_with_agent(agent: Agent, auth: Auth) -> Self {
        ApiClient {
            agent,
            auth,
            allow_http: false,
        }
    }

    /// Allows plain-http URLs to hosts that are not loopback. Defaults to false.
    ///
    /// # Security
    ///
    /// The header (a client secret in Basic, or a token) then crosses the network in clear.
    pub fn with_insecure_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
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
    /// [`Error::Config`] for a URL that fails the URL rule (https, or plain http to
    /// loopback; nothing is sent); [`Error::Transport`] when the API cannot be reached; [`Error::ApiStatus`] for a
    /// 4xx/5xx when the agent treats statuses as errors (ureq's default), with the start of
    /// the body; any error of the token fetch.
    pub fn run<B: crate::ReplayBody>(&self, request: Request<B>) -> Result<Response<Body>> {
        let (parts, body) = request.into_parts();
        let body = body.bytes();
        let (answer, rejected) = self.exchange(parts.clone(), body, Some(body))?;
        if !rejected {
            return answer;
        }
        // The retry's 401 is told too: it opens the backoff for an API that refuses fresh
        // tokens.
        self.exchange(parts, body, Some(body))?.0
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
        self.exchange(parts, body, None)?.0
    }

    /// `GET url`, and the JSON answer decoded as `T` (`serde_json::Value` for anything).
    ///
    /// # Errors
    ///
    /// [`Error::ApiStatus`] for a non-2xx answer (after the one 401 retry),
    /// [`Error::ApiBody`] for an answer that is not the expected JSON, and those of
    /// [`run`](Self::run).
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        check(url, "api url", self.allow_http)?;
        let request = Request::get(url)
            .header(ACCEPT, "application/json")
            .body([])
            .map_err(|_| Error::Config("the api url is not a valid URL".into()))?;
        let mut response = self.run(request)?;
        let url = redacted_uri(&url.parse().unwrap_or_default());
        if !response.status().is_success() {
            return Err(self.status_error(response, &Method::GET, url, None));
        }
        // ureq's `read_to_vec` reads at most 10 MiB, as its `read_json`.
        let body = response.body_mut().read_to_vec();
        let body = body.map_err(|e| self.unreachable(url.clone(), e, None))?;
        serde_json::from_slice(&body).map_err(|e| Error::ApiBody {
            url,
            source: Arc::new(e),
        })
    }

    /// Sends `body` to `parts`, then follows same-origin redirects (see [`run`](Self::run));
    /// `replay` is the body a 307/308 sends again (none: such a redirect is returned).
    /// Returns the last answer and whether it rejected its token.
    fn exchange(&self, mut parts: Parts, body: impl AsSendBody, replay: Option<&[u8]>) -> Sent {
        let (mut answer, mut rejected) = self.send(Request::from_parts(parts.clone(), body))?;
        for _hop in 0..self.agent.config().max_redirects() {
            let Ok(response) = &answer else { break };
            let body = match redirect::next(&mut parts, response.status(), response.headers()) {
                Hop::Follow { keep_body: false } => Some(&[][..]),
                Hop::Follow { keep_body: true } => replay,
                Hop::Stop => None,
            };
            let Some(body) = body else { break };
            (answer, rejected) = self.send(Request::from_parts(parts.clone(), body))?;
        }
        Ok((answer, rejected))
    }

    /// Sends one request with the auth header and redirects off, and returns the answer
    /// (or the status the agent turned into an error) and whether it rejected the token it
    /// carried. (A 401 is never a redirect that is followed, so telling it on every hop is
    /// telling it on the last.)
    fn send(&self, mut request: Request<impl AsSendBody>) -> Sent {
        check_uri(request.uri(), "api url", self.allow_http)?;
        check_agent(&self.agent)?;
        let (method, uri) = (request.method().clone(), request.uri().clone()); // for errors
        let url = || redacted_uri(&uri);
        let used = self.auth.apply(request.headers_mut())?;
        // Statuses are read here, so that an error keeps the body's start and the URL.
        let direct = direct(request.uri());
        let config = self.agent.configure_request(request);
        let request = one_hop(config.http_status_as_error(false), direct);
        let answer = self.agent.run(request);
        let status = answer.as_ref().map_or(0, |r| r.status().as_u16());
        let as_error = self.agent.config().http_status_as_error();
        let answer = match answer {
            Ok(response) if as_error && status >= 400 => {
                Err(self.status_error(response, &method, url(), used.as_deref()))
            }
            Ok(response) => Ok(response),
            Err(e) => Err(self.unreachable(url(), e, proxy_of(&self.agent, &uri))),
        };
        // A 401 on a token drops it from the cache, unless it has been replaced already.
        let rejected = match (&self.auth, used) {
            (Auth::Token(source, _), Some(token)) if status == 401 => source.reject(&token),
            _ => false,
        };
        Ok((answer, rejected))
    }

    /// The [`Error::ApiStatus`] of a 4xx/5xx `response` from `url`: its status and the first
    /// 4 KiB of its body, scrubbed of the client secret and of the token `used`.
    fn status_error(
        &self,
        mut response: Response<Body>,
        method: &Method,
        url: String,
        used: Option<&Token>,
    ) -> Error {
        let mut body = Vec::new();
        // Read past the cap, scrub, then cut: a secret the cap would split is found whole.
        let read = MAX_ERROR_BODY + SCRUB_MARGIN;
        let mut reader = response.body_mut().as_reader().take(read);
        let _ = reader.read_to_end(&mut body); // an unreadable body leaves what was read
        let mut body = String::from_utf8_lossy(&body).into_owned();
        if let Auth::Basic(creds, _) = &self.auth {
            body = creds.scrub(&body);
        }
        if let Some(token) = used {
            body = scrub(&body, token.access_token().secret());
        }
        let cut = (0..=MAX_ERROR_BODY as usize).rfind(|&at| body.is_char_boundary(at));
        body.truncate(cut.unwrap_or_default());
        Error::ApiStatus(Box::new(ApiError {
            status: response.status().as_u16(),
            method: method.to_string(),
            url,
            body,
        }))
    }

    /// The [`Error::Transport`] of `error` on a request to `url` (through `proxy`), scrubbed
    /// of the client secret this client sends (Basic).
    fn unreachable(&self, url: String, error: ureq::Error, proxy: Option<String>) -> Error {
        let secret = match &self.auth {
            Auth::Basic(creds, _) => creds.secret().secret(),
            Auth::Token(..) => "",
        };
        let limits = self.agent.config().timeouts();
        from_ureq(Side::Api, url, error, &limits, secret, proxy)
    }
}

/// The request of `config` with redirects off (a 3xx is the answer), and with no proxy when
/// it goes `direct` (plain http or loopback).
fn one_hop<S: AsSendBody>(config: ConfigBuilder<HttpCrateScope<S>>, direct: bool) -> Request<S> {
    let config = config.max_redirects(0).max_redirects_will_error(false);
    match direct {
        true => config.proxy(None),
        false => config,
    }
    .build()
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}
