//! [`TokenConfig`]: how a [`TokenSource`] asks for tokens and when it refreshes them, as a
//! plain value. Building it checks it once and makes the shared cache.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{RefreshEvent, RefreshHook, RefreshPolicy, TokenSource};
use crate::clock::Clock;
use crate::store::Store;
use crate::transport::{Agent, check_agent};
use crate::wire::{TokenRequest, redacted_url};
use crate::{BasicEncoding, ClientAuth, Credentials, Result};

/// The longest time limit a token request phase gets.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The settings of a [`TokenSource`]: a plain value with builder-lite setters, each
/// documented with its default. [`build`](Self::build) checks it once and makes the source;
/// a built source cannot be reconfigured, and its clones share one cache.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use apiauth::{Credentials, TokenConfig, TokenScheme};
///
/// let creds = Credentials::new("my-client", "my-secret")?;
/// let source = TokenConfig::new("https://auth.example.com/oauth2/token", creds)
///     .with_scope("read")
///     .with_timeout(Duration::from_secs(5))
///     .build()?; // checks the URL and the parameters; sends nothing
/// let token = source.token()?; // fetched once, then served from the cache
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenConfig {
    pub(crate) request: TokenRequest,
    pub(crate) agent: Option<Agent>,
    pub(crate) refresh: RefreshPolicy,
    pub(crate) on_refresh: Option<RefreshHook>,
    pub(crate) store: Option<Arc<dyn Store>>,
    pub(crate) clock: Clock,
}

impl TokenConfig {
    /// The settings for a generic RFC 6749 token endpoint at `token_url`. The client
    /// authenticates with `Authorization: Basic` in the RFC 6749 §2.3.1 encoding; see
    /// [`with_client_auth`](Self::with_client_auth).
    pub fn new(token_url: impl Into<String>, credentials: Credentials) -> Self {
        let client_auth = ClientAuth::Basic(BasicEncoding::FormUrlEncoded);
        TokenConfig {
            request: TokenRequest::new(token_url.into(), credentials, client_auth),
            agent: None,
            refresh: RefreshPolicy::default(),
            on_refresh: None,
            store: None,
            clock: Clock::default(),
        }
    }

    /// Checks the settings and makes the source. Nothing is sent until its first
    /// [`token`](TokenSource::token) call.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a token URL that is not https (plain http
    /// only to loopback, or with [`with_insecure_http`](Self::with_insecure_http)) or holds a
    /// user and password, a parameter the library sets itself, a client id that raw Basic
    /// cannot carry, or an agent ([`with_agent`](Self::with_agent)) whose TLS provider this
    /// build does not include (start agents from [`agent_config`](crate::agent_config)).
    pub fn build(self) -> Result<TokenSource> {
        self.request.check()?;
        crate::transport::check_tls(&self.request, self.agent.as_ref())?;
        self.agent.as_ref().map_or(Ok(()), check_agent)?;
        Ok(TokenSource::from_config(self))
    }

    /// Points the settings at another token URL (a proxy, a test server), keeping the rest.
    /// Defaults to the URL given to [`new`](Self::new) or to a provider's preset.
    pub fn with_token_url(mut self, token_url: impl Into<String>) -> Self {
        self.request.url = token_url.into();
        self
    }

    /// Moves the token endpoint to `base_url` (a test server, a proxy, another environment),
    /// keeping the token URL's path: for the provider presets, whose paths are fixed.
    /// Defaults to the URL given to [`new`](Self::new) or to a preset.
    ///
    /// # Examples
    ///
    /// ```
    /// use apiauth::{Credentials, providers::my_connected_fleet};
    ///
    /// let config = my_connected_fleet::token_config(Credentials::new("id", "secret")?)
    ///     .with_base_url("http://127.0.0.1:8080/");
    /// assert_eq!(config.token_url(), "http://127.0.0.1:8080/masternauth-oauth/oauth/accessToken");
    /// let config = config.with_base_url("https://gw.example/?tenant=a");
    /// assert_eq!(config.token_url(), "https://gw.example/masternauth-oauth/oauth/accessToken?tenant=a");
    /// # Ok::<(), apiauth::Error>(())
    /// ```
    pub fn with_base_url(mut self, base_url: &str) -> Self {
        let path = (self.request.url.parse::<crate::http::Uri>().ok())
            .and_then(|uri| Some(uri.path_and_query()?.as_str().to_owned()))
            .unwrap_or_default();
        // The path goes before the base's own query, if it has one (`?tenant=a`).
        let at = base_url.find(['?', '#']).unwrap_or(base_url.len());
        let (base, query) = base_url.split_at(at);
        self.request.url = format!("{}{path}{query}", base.trim_end_matches('/'));
        self
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> &str {
        &self.request.url
    }

    /// Adds a scope; scopes are sent space-separated in `scope`. Defaults to none.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.request.scopes.push(scope.into());
        self
    }

    /// Adds a form parameter such as `audience` or `resource`. One that the library sets
    /// itself (`grant_type`, `scope`, `client_id`, `client_secret`) is refused by
    /// [`build`](Self::build). Defaults to none.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.params.push((name.into(), value.into()));
        self
    }

    /// How the client authenticates to the token endpoint. Defaults to
    /// `ClientAuth::Basic(BasicEncoding::FormUrlEncoded)`.
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.request.client_auth = client_auth;
        self
    }

    /// Authenticates the client with a signed assertion, an assertion from a file, a command
    /// or a function, or a client certificate instead of the [`ClientAuth`] style (see
    /// [`ClientKey`](crate::ClientKey)). Defaults to none.
    pub fn with_client_key(mut self, key: crate::ClientKey) -> Self {
        self.request.client_key = Some(key);
        self
    }

    /// A client certificate and the CA certificates to trust for token requests, on
    /// apiauth's own agent (with [`with_agent`](Self::with_agent), [`build`](Self::build)
    /// refuses it: give your agent [`TlsSettings::agent_config`](crate::TlsSettings::agent_config)
    /// instead). Defaults to none: no client certificate and the TLS stack's roots.
    pub fn with_tls(mut self, tls: crate::TlsSettings) -> Self {
        self.request.tls = Some(tls);
        self
    }

    /// The time limit for each phase of a token request: resolving, connecting, sending,
    /// waiting for the answer, reading its body. Defaults to 10 s; zero is refused by
    /// [`build`](Self::build), and more than a day (`Duration::MAX` for "no limit", say) is
    /// taken as a day.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.request.timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// Refreshes every token `margin` before its expiry (but never before half-way through
    /// its life), instead of the default schedule. Defaults to a schedule that scales with
    /// the token: half-way through the life of a token that lives 2 h or more (a 30-day token
    /// after 15 days), 5 minutes before expiry for a shorter one (an hour's token at 55 min),
    /// never before half-way (a 10 s token is reused for 5 s). The README tabulates it.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh.margin = Some(margin);
        self
    }

    /// Refreshes each token up to `jitter` earlier, at random (never before half-way through
    /// its life), so that many hosts with one client do not refresh in the same second.
    /// Defaults to a twentieth of how early the token is refreshed (15 s for an hour's
    /// token).
    pub fn with_refresh_jitter(mut self, jitter: Duration) -> Self {
        self.refresh.jitter = Some(jitter);
        self
    }

    /// The agent token requests go through (for a proxy, TLS roots, a `User-Agent`, …).
    /// Whatever it is set to, token requests follow no redirects and treat no status as a
    /// transport error. Each phase (resolving, connecting, sending, waiting for the answer,
    /// reading it) is limited by the shorter of the agent's limit for it and
    /// [`with_timeout`](Self::with_timeout); the agent's global and per-call limits apply
    /// too. Defaults to apiauth's own agent: ureq's defaults and those settings.
    pub fn with_agent(mut self, agent: Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Allows a plain-http token URL to a host that is not loopback (the rule every URL
    /// passes: https, or plain http to loopback). Defaults to false.
    ///
    /// # Security
    ///
    /// The client secret then crosses the network in clear.
    pub fn with_insecure_http(mut self, allow: bool) -> Self {
        self.request.allow_http = allow;
        self
    }

    /// Calls `hook` after every token request, successful or not (not for a token read from a
    /// [`Store`]), on the thread that sent it. A panic in the hook is
    /// caught and ignored. Defaults to none.
    pub fn on_refresh(mut self, hook: impl Fn(&RefreshEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_refresh = Some(Arc::new(hook));
        self
    }

    /// Shares tokens with the user's other processes through `cache`: a fresh token on disk
    /// is used instead of a request, processes that need a new one at the same time send one
    /// request between them, and a failure or a rejection backs off every process together.
    /// The same as [`with_store`](Self::with_store); see [`DiskCache`](crate::DiskCache).
    /// Defaults to none (the cache is in memory only).
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn with_disk_cache(self, cache: crate::DiskCache) -> Self {
        self.with_store(cache)
    }

    /// Shares tokens, failures and rejections through `store` (another process's disk
    /// cache, a server a fleet of hosts shares): see [`Store`] for what it keeps and
    /// [`TokenSource`] for how it is used. A store that fails is logged once (warn) and
    /// the source goes on with its memory cache. Defaults to none.
    pub fn with_store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Reads the time from `clock`, which a test moves by hand, instead of the system's
    /// clocks. Only with the `test-util` feature. Defaults to the system's clocks.
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn with_test_clock(mut self, clock: crate::TestClock) -> Self {
        self.clock = Clock::moved_by(clock);
        self
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("token_url", &redacted_url(&self.request.url))
            .field("client_id", &self.request.credentials.id())
            .field("client_auth", &self.request.client_auth)
            .field("client_key", &self.request.client_key)
            .field("scopes", &self.request.scopes)
            .field("timeout", &self.request.timeout)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}
