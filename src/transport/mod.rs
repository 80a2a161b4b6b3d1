//! Transport, the only core code that calls ureq's network API: which agent a token request
//! goes through, its time limits and redirect settings, and the sending. What is sent and
//! how the answer reads are [`wire`](crate::wire)'s; API calls are
//! [`ApiClient`](crate::ApiClient)'s, on the same agents.

#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;
mod unreachable;

use std::time::Duration;

pub(crate) use ureq::Agent;
use ureq::RequestExt;
use ureq::config::Timeouts;

#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub(crate) use tls::{check as check_tls, check_agent};

/// Without a TLS stack, TLS settings and a client certificate cannot be used: refused.
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
pub(crate) fn check_tls(request: &TokenRequest, _: Option<&Agent>) -> Result<()> {
    let no_tls = "this build of apiauth has no TLS feature";
    match request.tls.is_some() || request.client_key.as_ref().is_some_and(|k| k.is_tls()) {
        true => Err(Error::Config(no_tls.into())),
        false => Ok(()),
    }
}
pub(crate) use unreachable::from_ureq;

use crate::clock::Clock;
use crate::wire::{TokenRequest, direct, host_is_ip, redacted_uri};
use crate::{Error, Result, Side, Token, Unusable};
use ureq::http::Uri;

/// The most of a token response that is read; a longer body is an error, not an allocation.
pub(crate) const MAX_BODY: u64 = 64 * 1024;

/// The agent token requests go through.
#[derive(Debug, Clone)]
pub(crate) enum TokenAgent {
    /// apiauth's own, with the token settings built in (ureq's per-request settings clone the
    /// agent's whole configuration on every request).
    Own(Agent),
    /// The caller's, with the token settings applied to each request.
    Caller(Agent),
}

impl TokenAgent {
    /// The caller's `agent`, or apiauth's own: ureq's defaults, the TLS provider this build
    /// was compiled for, and the token settings of `request`.
    pub fn new(agent: Option<&Agent>, request: &TokenRequest) -> TokenAgent {
        if let Some(agent) = agent {
            return TokenAgent::Caller(agent.clone());
        }
        let limits = phase_limits(request, &Agent::config_builder().build().timeouts());
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let config =
            (request.tls.as_ref()).map_or_else(agent_config, crate::TlsSettings::agent_config);
        #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
        let config = agent_config();
        let config = token_config!(config, limits, request.direct()).build();
        TokenAgent::Own(Agent::new_with_config(config))
    }
}

/// The limits a token request has for each phase: the shorter of the agent's and the
/// request's timeout (resolving only when the host is a name: ureq enforces that limit by
/// resolving on a new thread, about 50 µs a request even for an IP address). The agent's
/// global and per-call limits are left to it, and apply too.
fn phase_limits(request: &TokenRequest, agent: &Timeouts) -> Timeouts {
    let own = Some(request.timeout);
    let shorter = |theirs: Option<Duration>| theirs.min(own).or(own);
    let mut limits = *agent;
    if !host_is_ip(&request.url) {
        limits.resolve = shorter(agent.resolve);
    }
    limits.connect = shorter(agent.connect);
    limits.send_request = shorter(agent.send_request);
    limits.send_body = shorter(agent.send_body);
    limits.recv_response = shorter(agent.recv_response);
    limits.recv_body = shorter(agent.recv_body);
    limits
}

/// The settings every token request has, whoever's agent sends it: no redirects, every
/// status as an answer, `$limits` for each phase, and no proxy when `$direct` (see
/// [`direct`](crate::wire::direct)). (Phase limits rather than ureq's
/// global one: that costs about 70 µs a request on a kept-alive connection, measured with
/// benches/bench.rs; the phase limits cost nothing measurable.)
macro_rules! token_config {
    ($builder:expr, $limits:expr, $direct:expr) => {{
        let limits: Timeouts = $limits;
        let builder = $builder
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_resolve(limits.resolve)
            .timeout_connect(limits.connect)
            .timeout_send_request(limits.send_request)
            .timeout_send_body(limits.send_body)
            .timeout_recv_response(limits.recv_response)
            .timeout_recv_body(limits.recv_body);
        match $direct {
            true => builder.proxy(None),
            false => builder,
        }
    }};
}
use token_config;

impl TokenRequest {
    /// Sends the request through `agent` with no redirects and the phase limits, and reads
    /// the answer. The lifetime counts from just before the request was sent.
    pub fn send(&self, agent: &TokenAgent, clock: &Clock) -> Result<Token> {
        let assertion = match &self.client_key {
            Some(key) => key.assertion(&self.credentials, &self.url, self.timeout, clock.wall())?,
            None => None,
        };
        let request = self.http_request(assertion.as_deref())?;
        let (TokenAgent::Own(inner) | TokenAgent::Caller(inner)) = agent;
        let limits = phase_limits(self, &inner.config().timeouts());
        let secret = self.credentials.secret().secret();
        let proxy = proxy_of(inner, request.uri());
        let unreachable = |e| {
            let url = self.shown_url();
            from_ureq(Side::TokenEndpoint, url, e, &limits, secret, proxy.clone())
        };
        let sent_at = clock.now();
        let answer = match agent {
            TokenAgent::Own(_) => inner.run(request),
            TokenAgent::Caller(_) => {
                token_config!(request.with_agent(inner).configure(), limits, self.direct()).run()
            }
        };
        let mut response = answer.map_err(unreachable)?;
        let status = response.status();
        let body = match (response.body_mut().with_config().limit(MAX_BODY)).read_to_vec() {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) if status.is_success() => {
                return Err(Error::InvalidResponse(Unusable::TooLarge));
            }
            Err(ureq::Error::BodyExceedsLimit(_)) => Vec::new(),
            Err(e) => return Err(unreachable(e)),
        };
        self.read_answer(
            status.as_u16(),
            response.headers(),
            &body,
            (sent_at, clock.wall()),
            assertion.as_deref(),
        )
    }
}

/// ureq's default agent configuration with the TLS provider this build of apiauth was
/// compiled for (rustls with the webpki roots, or the platform's with the `native-tls`
/// feature): a start for an agent of your own that reaches the same servers as apiauth's.
///
/// # Examples
///
/// ```
/// let agent: ureq::Agent = apiauth::agent_config()
///     .timeout_global(Some(std::time::Duration::from_secs(30)))
///     .build()
///     .into();
/// ```
pub fn agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    #[cfg(feature = "native-tls")]
    use ureq::tls::{TlsConfig, TlsProvider::NativeTls};
    let config = Agent::config_builder();
    #[cfg(feature = "native-tls")]
    let config = config.tls_config(TlsConfig::builder().provider(NativeTls).build());
    config
}

/// The proxy a request to `uri` through `agent` goes through, as messages show it (never
/// for plain http or loopback, which go direct).
pub(crate) fn proxy_of(agent: &Agent, uri: &Uri) -> Option<String> {
    let proxy = agent.config().proxy()?;
    (!direct(uri) && !proxy.is_no_proxy(uri)).then(|| redacted_uri(proxy.uri()))
}

/// Without a TLS stack, any agent will do: there is no provider it could ask for in vain.
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
pub(crate) fn check_agent(_: &Agent) -> Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(feature = "client")]
mod tests {
    use crate::{ApiClient, Auth, BasicEncoding, Credentials, Error, TokenConfig};

    /// A proxy that is down is named as what failed, not taken for the token endpoint or
    /// the API it leads to. Nothing leaves loopback: the proxy refuses the connection.
    #[test]
    fn a_proxy_that_is_down_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = ureq::Proxy::new(&format!("http://{port}")).unwrap();
        let agent: ureq::Agent = (crate::agent_config().proxy(Some(proxy)).build()).into();
        let creds = Credentials::new("id", "s3cr3t").unwrap();
        let source = TokenConfig::new("https://auth.example.com/token", creds.clone())
            .with_agent(agent.clone())
            .build()
            .unwrap();
        let through = format!("through the proxy http://{port}/: connection refused");
        assert_eq!(
            source.token().unwrap_err().to_string(),
            format!("could not reach the token endpoint https://auth.example.com/token {through}")
        );
        let client = ApiClient::new_with_agent(agent, Auth::Basic(creds, BasicEncoding::Raw));
        let error = client.get_json::<serde_json::Value>("https://api.example.com/v1");
        assert_eq!(
            error.unwrap_err().to_string(),
            format!("could not reach the api https://api.example.com/v1 {through}")
        );
    }

    /// An agent whose TLS provider this build left out is refused when it is handed over or
    /// first used, never a panic inside ureq on the first https request.
    #[test]
    fn an_agent_whose_tls_provider_is_left_out_is_a_config_error() {
        use ureq::tls::{TlsConfig, TlsProvider};
        let missing = match cfg!(feature = "native-tls") {
            true if cfg!(feature = "rustls") => return, // both compiled: nothing is missing
            true => TlsProvider::Rustls,                // what Agent::new_with_defaults() asks for
            false => TlsProvider::NativeTls,
        };
        let tls = TlsConfig::builder().provider(missing).build();
        let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
        let creds = Credentials::new("id", "s3cr3t").unwrap();
        let config = TokenConfig::new("https://127.0.0.1:1/token", creds.clone());
        let refused = |e: &Error| matches!(e, Error::Config(m) if m.contains("agent_config()"));
        let built = config.with_agent(agent.clone()).build();
        assert!(built.as_ref().is_err_and(refused), "{built:?}");
        let client = ApiClient::new_with_agent(agent, Auth::Basic(creds, BasicEncoding::Raw));
        let called = client.get_json::<serde_json::Value>("https://127.0.0.1:1/v1");
        assert!(called.as_ref().is_err_and(refused), "{called:?}");
    }
}
