//! Pure request building and parsing, no I/O: the token request's settings and form body
//! (RFC 6749 §4.4), the URL rule and URL redaction, and `Retry-After`. The sending is
//! [`transport`](crate::transport)'s.

mod retry_after;
mod url;

use std::time::Duration;

pub(crate) use retry_after::{MAX_RETRY_AFTER, http_date, retry_after};
pub(crate) use url::{check, check_uri, host_is_ip, redacted_uri};
pub use url::{check_url, redacted_url};

use crate::{ClientAuth, ClientKey, Credentials, Error, Result, TlsSettings, form};

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
        if let Some((k, _)) = self
            .params
            .iter()
            .find(|(k, _)| RESERVED.contains(&k.as_str()) || k.starts_with("client_assertion"))
        {
            return Err(Error::Config(format!(
                "form parameter {k:?} is set by the library and cannot be overridden"
            )));
        }
        if let (ClientAuth::Basic(encoding), None) = (self.client_auth, &self.client_key) {
            self.credentials.basic_header(encoding)?;
        }
        if let Some(key) = &self.client_key {
            key.check(&self.credentials)?;
        }
        Ok(())
    }

    /// The `application/x-www-form-urlencoded` body, with the client `assertion` made for
    /// this request if the client authenticates with one.
    pub fn form(&self, assertion: Option<&str>) -> String {
        let scope = self.scopes.join(" ");
        let mut pairs = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        if let Some(assertion) = assertion {
            pairs.push(("client_assertion_type", JWT_BEARER));
            pairs.push(("client_assertion", assertion));
        }
        if self.client_key.is_some() {
            pairs.push(("client_id", self.credentials.id()));
        } else if self.client_auth == ClientAuth::RequestBody {
            pairs.push(("client_id", self.credentials.id()));
            pairs.push(("client_secret", self.credentials.secret().secret()));
        }
        pairs.extend(self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        form::encode_pairs(pairs)
    }

    /// The URL as messages and logs show it: without user, password or query.
    pub fn shown_url(&self) -> String {
        redacted_url(&self.url)
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
