//! Transport: which agent a request goes through, its time limits and redirect settings,
//! and the sending of token requests. The request's contents and the URL rule are
//! [`wire`](crate::wire)'s; API calls are [`ApiClient`](crate::ApiClient)'s, on the same
//! agents.

mod tls;
mod unreachable;

use std::time::Duration;

use ureq::Agent;
use ureq::config::Timeouts;
use ureq::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER};

pub(crate) use tls::check as check_tls;
pub use unreachable::{Cause, Side, Unreachable};

use crate::clock::Clock;
use crate::secret::{scrub, scrub_credentials};
use crate::token::finish_texts;
use crate::wire::{TokenRequest, host_is_ip, http_date, retry_after};
use crate::{ClientAuth, Error, Result, TlsSettings, Token, Unusable};

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
    /// apiauth's own agent: ureq's defaults, the TLS provider this build was compiled for,
    /// and the token settings.
    pub fn own(request: &TokenRequest) -> TokenAgent {
        let limits = phase_limits(request, &Agent::config_builder().build().timeouts());
        let config = (request.tls.as_ref()).map_or_else(agent_config, TlsSettings::agent_config);
        TokenAgent::Own(Agent::new_with_config(
            token_config!(config, limits).build(),
        ))
    }

    fn agent(&self) -> &Agent {
        match self {
            TokenAgent::Own(agent) | TokenAgent::Caller(agent) => agent,
        }
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
    limits.resolve = match host_is_ip(&request.url) {
        true => agent.resolve,
        false => shorter(agent.resolve),
    };
    for phase in [
        &mut limits.connect,
        &mut limits.send_request,
        &mut limits.send_body,
        &mut limits.recv_response,
        &mut limits.recv_body,
    ] {
        *phase = shorter(*phase);
    }
    limits
}

/// The settings every token request has, whoever's agent sends it: no redirects, every
/// status as an answer, and `$limits` for each phase. (Phase limits rather than ureq's
/// global one: that costs about 70 µs a request on a kept-alive connection, measured with
/// benches/bench.rs; the phase limits cost nothing measurable.)
macro_rules! token_config {
    ($builder:expr, $limits:expr) => {{
        let limits: Timeouts = $limits;
        $builder
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_resolve(limits.resolve)
            .timeout_connect(limits.connect)
            .timeout_send_request(limits.send_request)
            .timeout_send_body(limits.send_body)
            .timeout_recv_response(limits.recv_response)
            .timeout_recv_body(limits.recv_body)
    }};
}
use token_config;

impl TokenRequest {
    /// Sends the request through `agent` with no redirects and the phase limits, and parses
    /// the answer. The lifetime counts from just before the request was sent. Every text of
    /// the server's that reaches an error is scrubbed of the client secret (and of the Basic
    /// credentials, which hold it).
    pub fn fetch(&self, agent: &TokenAgent, clock: &Clock) -> Result<Token> {
        let limits = phase_limits(self, &agent.agent().config().timeouts());
        let request = match agent {
            TokenAgent::Own(agent) => agent.post(&self.url),
            TokenAgent::Caller(agent) => {
                token_config!(agent.post(&self.url).config(), limits).build()
            }
        };
        let mut request = request
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        let assertion = match &self.client_key {
            Some(key) => key.assertion(&self.credentials, &self.url, self.timeout, clock.wall())?,
            None => None,
        };
        if let (ClientAuth::Basic(encoding), None) = (self.client_auth, &self.client_key) {
            request = request.header(AUTHORIZATION, self.credentials.basic_header(encoding)?);
        }
        let secret = self.credentials.secret().secret();
        let unreachable =
            |e| Unreachable::from_ureq(Side::TokenEndpoint, self.shown_url(), e, &limits, secret);
        let sent_at = clock.now();
        let body = self.form(assertion.as_deref());
        let mut response = request.send(body).map_err(unreachable)?;
        let status = response.status().as_u16();
        let retry_after = (response.headers().get(RETRY_AFTER))
            .and_then(|v| retry_after(v.to_str().ok()?, clock.wall()));
        let body = match response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
        {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) if response.status().is_success() => {
                return Err(Error::InvalidResponse(Unusable::TooLarge));
            }
            Err(ureq::Error::BodyExceedsLimit(_)) => Vec::new(),
            Err(e) => return Err(unreachable(e)),
        };
        let basic = match (self.client_auth, &self.client_key) {
            (ClientAuth::Basic(encoding), None) => Some(encoding),
            _ => None,
        };
        let date = (response.headers().get(DATE)).and_then(|v| http_date(v.to_str().ok()?));
        Token::parse(status, &body, sent_at, clock.wall(), date).map_err(|mut e| {
            if let Error::EndpointRefused(details) | Error::CredentialsRejected(details) = &mut e {
                details.retry_after = retry_after;
                details.url = self.shown_url();
            }
            finish_texts(&mut e, |text| {
                let text = scrub_credentials(text, &self.credentials, basic);
                assertion.as_ref().map_or(text.clone(), |a| scrub(&text, a))
            });
            e
        })
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
    let config = Agent::config_builder();
    #[cfg(feature = "native-tls")]
    let config = config.tls_config(
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build(),
    );
    config
}

/// The agent API calls go through unless the caller brings one.
pub(crate) fn default_agent() -> Agent {
    Agent::new_with_config(agent_config().build())
}
