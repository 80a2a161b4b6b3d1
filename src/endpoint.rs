//! The token request (RFC 6749 §4.4): its settings, and the one function that sends it.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::Agent;
use ureq::http::Uri;
use ureq::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER};

use crate::clock::Clock;
use crate::error::unusable;
use crate::secret::shown;
use crate::{ClientAuth, Credentials, Error, Result, Token, form};

/// The most of a token response that is read; a longer body is an error, not an allocation.
pub(crate) const MAX_BODY: u64 = 64 * 1024;

/// The longest `Retry-After` that is honoured: one hour.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Everything needed to ask for a token, checked before anything is sent.
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    pub url: String,
    pub credentials: Credentials,
    pub client_auth: ClientAuth,
    pub scopes: Vec<String>,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
    pub allow_http: bool,
}

/// The form parameters the library sets itself; an extra parameter may not repeat them.
const RESERVED: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

impl TokenRequest {
    pub fn new(url: String, credentials: Credentials, client_auth: ClientAuth) -> Self {
        TokenRequest {
            url,
            credentials,
            client_auth,
            scopes: Vec::new(),
            params: Vec::new(),
            timeout: Duration::from_secs(10),
            allow_http: false,
        }
    }

    /// Whether the URL's host is an IP address, which needs no resolving.
    fn host_is_ip(&self) -> bool {
        self.url
            .parse::<Uri>()
            .ok()
            .and_then(|uri| uri.host()?.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            .is_some()
    }

    /// Refuses a configuration that cannot work, before any credential is sent.
    pub fn check(&self) -> Result<()> {
        let uri: Uri = self.url.parse().map_err(|_| {
            Error::Config(format!(
                "token url {:?} is not a valid URL",
                shown(&self.url)
            ))
        })?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(Error::Config(
                "the token url holds a user and password; pass them as Credentials".into(),
            ));
        }
        let host = uri.host().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if loopback || self.allow_http => {}
            _ => {
                return Err(Error::Config(format!(
                    "token url {:?} must be https (plain http only to loopback, or with with_insecure_http)",
                    shown(&self.url)
                )));
            }
        }
        if let Some((k, _)) = self
            .params
            .iter()
            .find(|(k, _)| RESERVED.contains(&k.as_str()))
        {
            return Err(Error::Config(format!(
                "form parameter {k:?} is set by the library and cannot be overridden"
            )));
        }
        if let ClientAuth::Basic(encoding) = self.client_auth {
            self.credentials.basic_header(encoding)?;
        }
        Ok(())
    }

    /// The `application/x-www-form-urlencoded` body.
    fn form(&self) -> String {
        let scope = self.scopes.join(" ");
        let mut pairs = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        if self.client_auth == ClientAuth::RequestBody {
            pairs.push(("client_id", self.credentials.id()));
            pairs.push(("client_secret", self.credentials.secret().secret()));
        }
        pairs.extend(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        form::encode_pairs(pairs)
    }

    /// Sends the request through `agent` with no redirects and this request's timeout, and
    /// parses the answer. The lifetime counts from just before the request was sent.
    pub fn fetch(&self, agent: &TokenAgent, clock: &Clock) -> Result<Token> {
        let request = match agent {
            TokenAgent::Own(agent) => agent.post(&self.url),
            TokenAgent::Caller(agent) => {
                token_config!(agent.post(&self.url).config(), self).build()
            }
        };
        let mut request = request
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let ClientAuth::Basic(encoding) = self.client_auth {
            request = request.header(AUTHORIZATION, self.credentials.basic_header(encoding)?);
        }
        let sent_at = clock.now();
        let mut response = request.send(self.form())?;
        let status = response.status().as_u16();
        let retry_after = (response.headers().get(RETRY_AFTER))
            .and_then(|v| retry_after(v.to_str().ok()?, clock.wall()))
            .map(|wait| wait.min(MAX_RETRY_AFTER));
        let body = match response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
        {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) if response.status().is_success() => {
                return Err(Error::InvalidResponse(unusable::TOO_LARGE));
            }
            Err(ureq::Error::BodyExceedsLimit(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let date = (response.headers().get(DATE)).and_then(|v| http_date(v.to_str().ok()?));
        Token::from_response(status, &body, sent_at, clock.wall(), date).map_err(|mut e| {
            if let Error::EndpointRefused(details) | Error::CredentialsRejected(details) = &mut e {
                details.retry_after = retry_after;
            }
            e
        })
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): delta-seconds, or an HTTP-date (IMF-fixdate,
/// and the obsolete RFC 850 and asctime forms) read against `now`; a date in the past is no
/// wait at all.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = http_date(value)?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// An HTTP-date in any of its three forms, as a wall-clock time (GMT).
fn http_date(value: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let words: Vec<&str> = value
        .split([' ', ',', '-', ':'])
        .filter(|w| !w.is_empty())
        .collect();
    let month_at = words.iter().position(|w| MONTHS.contains(w))?;
    let month = MONTHS.iter().position(|m| *m == words[month_at])? as u64 + 1;
    let numbers: Vec<u64> = (words.iter().filter_map(|w| w.parse().ok())).collect();
    // IMF-fixdate and RFC 850 give the day before the month; asctime after it, year last.
    let [day, year, hour, minute, second] = match (month_at, &numbers[..]) {
        (1, &[d, h, m, s, y]) => [d, y, h, m, s],
        (2, &[d, y, h, m, s]) => [d, y, h, m, s],
        _ => return None,
    };
    let year = match year {
        0..=69 => year + 2000,
        70..=99 => year + 1900,
        _ => year,
    };
    let plausible = (1970..=9999).contains(&year) && (1..=31).contains(&day);
    if !plausible || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let (era, of_era) = (y / 400, y % 400);
    let of_year = (153 * m + 2) / 5 + day - 1;
    let of_era = of_era * 365 + of_era / 4 - of_era / 100 + of_year;
    let days = (era * 146_097 + of_era).checked_sub(719_468)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// The settings every token request has, whoever's agent sends it: no redirects, every
/// status as an answer, and a time limit for each phase. (Phase limits rather than ureq's
/// global one: that costs about 70 µs a request on a kept-alive connection, measured with
/// benches/bench.rs; the phase limits cost nothing measurable.)
///
/// Name resolution gets its limit only when the host is a name: ureq enforces that limit by
/// resolving on a new thread, about 50 µs a request even for an IP address.
macro_rules! token_config {
    ($builder:expr, $request:expr) => {{
        let limit = Some($request.timeout);
        let resolve = (!$request.host_is_ip()).then_some($request.timeout);
        $builder
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_resolve(resolve)
            .timeout_connect(limit)
            .timeout_send_request(limit)
            .timeout_send_body(limit)
            .timeout_recv_response(limit)
            .timeout_recv_body(limit)
    }};
}
use token_config;

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
        TokenAgent::Own(Agent::new_with_config(
            token_config!(default_config(), request).build(),
        ))
    }
}

/// ureq's default agent configuration, with the TLS provider selected by the features.
pub(crate) fn default_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
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
    Agent::new_with_config(default_config().build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_each_http_date_form() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        let wait = |v| retry_after(v, now).map(|d| d.as_secs());
        assert_eq!(wait("120"), Some(120));
        assert_eq!(wait("Sun, 06 Nov 1994 08:51:37 GMT"), Some(120));
        assert_eq!(wait("Sunday, 06-Nov-94 08:50:37 GMT"), Some(60));
        assert_eq!(wait("Sun Nov  6 08:49:47 1994"), Some(10));
        assert_eq!(wait("Sat, 05 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(
            wait("Thu, 01 Jan 2026 00:00:00 GMT"),
            Some(1_767_225_600 - 784_111_777)
        );
        for bad in [
            "soon",
            "-5",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(wait(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_are_shown_without_user_and_password() {
        assert_eq!(
            shown("https://u:p@h.example/t?x=@"),
            "https://[redacted]@h.example/t?x=@"
        );
        assert_eq!(shown("u:p@h/t"), "[redacted]@h/t");
        assert_eq!(shown("https://h.example/a@b"), "https://h.example/a@b");
        let creds = Credentials::new("id", "s").unwrap();
        let request = TokenRequest::new(
            "https://id:s3cr3t@h.example/t".into(),
            creds,
            ClientAuth::RequestBody,
        );
        let error = request.check().unwrap_err();
        assert!(matches!(error, Error::Config(_)) && !error.to_string().contains("s3cr3t"));
    }
}
