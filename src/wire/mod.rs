//! The token request sans I/O: its settings, the request as an `http::Request` (RFC 6749
//! §4.4), the answer from a status, headers and body into a [`Token`] or an error, the URL
//! rule and URL redaction, and `Retry-After`. The sending is
//! [`transport`](crate::transport)'s.

mod retry_after;
mod url;

pub(crate) use retry_after::{http_date, retry_after};
#[cfg(feature = "client")]
pub(crate) use url::check_uri;
pub(crate) use url::{check, direct, host_is_ip, redacted_uri};
pub use url::{check_url, redacted_url};

use std::time::{Duration, Instant, SystemTime};

use ureq::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE, RETRY_AFTER};
use ureq::http::{HeaderMap, Request};

use crate::token::finish_texts;
use crate::{ClientAuth, ClientKey, Credentials, Error, Result, TlsSettings, Token, form};

/// Everything needed to ask for a token, checked before anything is sent.
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    pub url: String,
    pub credentials: Credentials,
    pub client_auth: ClientAuth,
    /// Replaces `client_auth` when set.
    pub client_key: Option<ClientKey>,
    /// For apiauth's own agent.
    pub tls: Option<TlsSettings>,
    pub scopes: Vec<String>,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
    pub allow_http: bool,
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The form parameters the library sets itself; an extra parameter may not repeat them.
/// (And `client_assertion` and `client_assertion_type`.)
const RESERVED: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];

impl TokenRequest {
    pub fn new(url: String, credentials: Credentials, client_auth: ClientAuth) -> Self {
        TokenRequest {
            url,
            credentials,
            client_auth,
            client_key: None,
            tls: None,
            scopes: Vec::new(),
            params: Vec::new(),
            timeout: Duration::from_secs(10),
            allow_http: false,
        }
    }

    /// Refuses a configuration that cannot work, before any credential is sent.
    pub fn check(&self) -> Result<()> {
        check(&self.url, "token url", self.allow_http)?;
        if self.timeout.is_zero() {
            // Every request would time out at once, and processes would not wait for one
            // another's (the store's lock wait is a multiple of it).
            return Err(Error::Config("the timeout must be more than zero".into()));
        }
        let reserved = |k: &str| RESERVED.contains(&k) || k.starts_with("client_assertion");
        if let Some((k, _)) = self.params.iter().find(|(k, _)| reserved(k)) {
            return Err(Error::Config(format!(
                "form parameter {k:?} is set by the library and cannot be overridden"
            )));
        }
        // A client key replaces the client authentication style.
        let credentials = &self.credentials;
        match (&self.client_key, self.client_auth) {
            (Some(key), _) => key.check(credentials),
            (None, ClientAuth::Basic(encoding)) => credentials.basic_header(encoding).map(|_| ()),
            (None, ClientAuth::RequestBody) => Ok(()),
        }
    }

    /// Whether the request goes straight to the token endpoint, never through a proxy: see
    /// [`direct`].
    pub fn direct(&self) -> bool {
        self.url.parse().map_or(true, |uri| direct(&uri))
    }

    /// The URL as messages and logs show it: without user, password or query.
    pub fn shown_url(&self) -> String {
        redacted_url(&self.url)
    }

    /// The request to send: a POST of the `application/x-www-form-urlencoded` body, with the
    /// client `assertion` made for this request if the client authenticates with one, and
    /// the client's Basic header when it authenticates so.
    pub fn http_request(&self, assertion: Option<&str>) -> Result<Request<String>> {
        let mut request = Request::post(&self.url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let (ClientAuth::Basic(encoding), None) = (self.client_auth, &self.client_key) {
            request = request.header(AUTHORIZATION, self.credentials.basic_header(encoding)?);
        }
        let scope = self.scopes.join(" ");
        let (id, secret) = (self.credentials.id(), self.credentials.secret().secret());
        let in_body = self.client_key.is_none() && self.client_auth == ClientAuth::RequestBody;
        let pairs = [
            Some(("grant_type", "client_credentials")),
            (!scope.is_empty()).then_some(("scope", scope.as_str())),
            assertion.map(|_| ("client_assertion_type", JWT_BEARER)),
            assertion.map(|assertion| ("client_assertion", assertion)),
            (self.client_key.is_some() || in_body).then_some(("client_id", id)),
            in_body.then_some(("client_secret", secret)),
        ];
        let params = self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let body = form::encode_pairs(pairs.into_iter().flatten().chain(params));
        (request.body(body)).map_err(|_| Error::Config("the token url is not valid".into()))
    }

    /// The token in an answer of `status` with `headers` and `body` to a request sent at
    /// `sent_at` (monotonic), read at `wall`. Every text of the server's that reaches an
    /// error is scrubbed of the client secret (and of the Basic credentials, which hold it)
    /// and of the client `assertion` sent.
    pub fn read_answer(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        (sent_at, wall): (Instant, SystemTime),
        assertion: Option<&str>,
    ) -> Result<Token> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(RETRY_AFTER).and_then(|v| retry_after(v, wall));
        let date = header(DATE).and_then(http_date);
        Token::parse(status, body, sent_at, wall, date).map_err(|mut e| {
            if let Error::EndpointRefused(details) | Error::CredentialsRejected(details) = &mut e {
                details.retry_after = retry_after;
                details.url = self.shown_url();
            }
            finish_texts(&mut e, |text| {
                let text = self.credentials.scrub(text);
                assertion.map_or_else(|| text.clone(), |a| crate::secret::scrub(&text, a))
            });
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_url_with_a_password_is_refused_without_showing_it() {
        let creds = Credentials::new("id", "s").unwrap();
        for url in [
            "https://id:s3cr3t@h.example/t",
            "http://127.0.0.1:s3#cr3t@127.0.0.1:9/t",
        ] {
            let request = TokenRequest::new(url.into(), creds.clone(), ClientAuth::RequestBody);
            let error = request.check().unwrap_err();
            assert!(matches!(error, Error::Config(_)) && !error.to_string().contains("cr3t"));
        }
    }
}
