//! Authorized API calls through ureq: the right header for each API, and one recovery from
//! a 401.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use ureq::http::header::AUTHORIZATION;
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Agent, AsSendBody, Body, SendBody};

use crate::endpoint::{default_agent, shown};
use crate::{BasicEncoding, Credentials, Error, Result, Token, TokenScheme, TokenSource};

/// The most of an API answer [`ApiClient::get_json`] reads: 10 MiB, as ureq's `read_json`.
const MAX_API_BODY: u64 = 10 * 1024 * 1024;

/// Where an API call's auth header comes from.
///
/// `Auth` is also a ureq [`Middleware`]: an agent built with it puts the header on every
/// request it sends (except to the token endpoint itself), without 401 recovery; for that,
/// use an [`ApiClient`].
///
/// # Examples
///
/// ```no_run
/// use apiauth::{Auth, Credentials, TokenScheme, TokenSource};
///
/// let source = TokenSource::new("https://auth.example.com/token", Credentials::new("id", "s")?);
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
        let (name, value, used): (HeaderName, HeaderValue, _) = match self {
            Auth::Basic(creds, encoding) => {
                (AUTHORIZATION, creds.basic_header(*encoding)?.clone(), None)
            }
            Auth::Token(source, scheme) => {
                let token = source.token()?;
                (
                    scheme.header_name(),
                    token.header(*scheme).clone(),
                    Some(token),
                )
            }
        };
        if name != AUTHORIZATION {
            headers.remove(AUTHORIZATION);
        }
        headers.insert(name, value);
        Ok(used)
    }
}

impl Middleware for Auth {
    fn handle(
        &self,
        mut request: Request<SendBody>,
        next: MiddlewareNext,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        let to_token_endpoint = match self {
            Auth::Token(source, _) => request.uri() == source.token_url(),
            Auth::Basic(..) => false,
        };
        if !to_token_endpoint {
            self.apply(request.headers_mut())
                .map_err(|e| ureq::Error::Other(Box::new(e)))?;
        }
        next.handle(request)
    }
}

/// Sends API requests with the header from an [`Auth`] and, for a token, recovers once from
/// a 401: the rejected token is dropped (unless another thread already replaced it), a new
/// one is fetched, and a replayable request is sent once more. Never more than once, never
/// for a 403, never for Basic.
///
/// Answers of any status are returned as `Ok`: the caller's agent keeps its proxy, TLS and
/// timeout settings, but status codes are not turned into errors here.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{ApiClient, Auth, Credentials, TokenScheme, TokenSource};
///
/// let source = TokenSource::new("https://auth.example.com/token", Credentials::new("id", "s")?);
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
    /// A client with ureq's default agent.
    pub fn new(auth: Auth) -> Self {
        ApiClient {
            agent: default_agent(),
            auth,
        }
    }

    /// The agent API calls go through. Defaults to ureq's defaults.
    pub fn with_agent(mut self, agent: Agent) -> Self {
        self.agent = agent;
        self
    }

    /// A client with this one's agent and `auth`.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The auth this client uses.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Sends a request whose body can be sent again, retrying once after a 401.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] when the API cannot be reached; any error of the token fetch.
    pub fn send<B: AsRef<[u8]>>(&self, request: Request<B>) -> Result<Response<Body>> {
        let (parts, body) = request.into_parts();
        let copy = || {
            let mut request = Request::new(body.as_ref());
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.version_mut() = parts.version;
            *request.headers_mut() = parts.headers.clone();
            request
        };
        let (response, used) = self.run(copy())?;
        match self.rejected(&response, used) {
            true => Ok(self.run(copy())?.0),
            false => Ok(response),
        }
    }

    /// Sends a request whose body can be read only once (a file, a stream). It is never
    /// retried; after a 401 the token is still dropped, so the next call gets a new one.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_once(&self, request: Request<impl AsSendBody>) -> Result<Response<Body>> {
        let (response, used) = self.run(request)?;
        self.rejected(&response, used);
        Ok(response)
    }

    /// `GET url`, and the JSON answer decoded as `T` (`serde_json::Value` for anything).
    ///
    /// # Errors
    ///
    /// [`Error::ApiStatus`] for a non-2xx answer (after the one 401 retry),
    /// [`Error::ApiBody`] for an answer that is not the expected JSON, and those of
    /// [`send`](Self::send).
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T> {
        let request = Request::get(url)
            .header("accept", "application/json")
            .body(Vec::new())
            .map_err(|_| Error::Config(format!("{:?} is not a valid URL", shown(url))))?;
        let mut response = self.send(request)?;
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

    fn run(
        &self,
        mut request: Request<impl AsSendBody>,
    ) -> Result<(Response<Body>, Option<Arc<Token>>)> {
        let used = self.auth.apply(request.headers_mut())?;
        let request = self
            .agent
            .configure_request(request)
            .http_status_as_error(false)
            .build();
        Ok((self.agent.run(request)?, used))
    }

    /// Whether `response` rejected the token it was sent with; if so, that token is
    /// dropped from the cache unless it has been replaced already.
    fn rejected(&self, response: &Response<Body>, used: Option<Arc<Token>>) -> bool {
        match (&self.auth, used) {
            (Auth::Token(source, _), Some(token))
                if response.status() == StatusCode::UNAUTHORIZED =>
            {
                source.invalidate_if_current(&token);
                true
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

/// `value` as one URL path segment: letters, digits, `-`, `_` and `.` only, so that an id
/// can never change the path it is put in.
pub(crate) fn path_segment<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match plain && !value.is_empty() && value != "." && value != ".." {
        true => Ok(value),
        false => Err(Error::Config(format!(
            "{what} {value:?} is not a plain path segment"
        ))),
    }
}
