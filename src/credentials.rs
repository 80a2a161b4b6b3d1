//! Client credentials and their precomputed HTTP Basic header values.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ureq::http::HeaderValue;

use crate::secret::{forms, reject_control, scrub_forms, sensitive};
use crate::{ClientSecret, Error, Result, form};

/// How a client id and secret are put into an HTTP Basic header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BasicEncoding {
    /// RFC 7617: `base64(id ":" secret)` as the bytes are, exactly like
    /// `echo -n "clientId:clientSecret" | base64`. What myConnectedFleet documents.
    /// An id containing `:` cannot be carried this way.
    Raw,
    /// RFC 6749 §2.3.1: id and secret are each form-urlencoded first, then joined and
    /// base64-encoded. What strict OAuth2 servers expect; identical to `Raw` for ids and
    /// secrets made of letters, digits and `-._*`.
    FormUrlEncoded,
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `Authorization: Basic …` with the given encoding (myConnectedFleet: `Raw`).
    Basic(BasicEncoding),
    /// `client_id` and `client_secret` in the form body (Motorweb).
    RequestBody,
}

impl ClientAuth {
    /// Every style, in the order of [`ClientAuth::name`]'s table.
    pub const ALL: [ClientAuth; 3] = [
        ClientAuth::Basic(BasicEncoding::FormUrlEncoded),
        ClientAuth::Basic(BasicEncoding::Raw),
        ClientAuth::RequestBody,
    ];

    /// The style's stable name: `basic` (RFC 6749 form-encoded Basic), `basic-raw` (RFC 7617
    /// Basic) or `body`. The disk cache keys entries by it and the `apiauth` command takes it
    /// as `--client-auth`, so a name never changes once released.
    ///
    /// # Examples
    ///
    /// ```
    /// use apiauth::{BasicEncoding, ClientAuth};
    ///
    /// assert_eq!(ClientAuth::Basic(BasicEncoding::Raw).name(), "basic-raw");
    /// assert_eq!("body".parse::<ClientAuth>()?, ClientAuth::RequestBody);
    /// # Ok::<(), apiauth::Error>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::Basic(BasicEncoding::FormUrlEncoded) => "basic",
            ClientAuth::Basic(BasicEncoding::Raw) => "basic-raw",
            ClientAuth::RequestBody => "body",
        }
    }
}

impl std::str::FromStr for ClientAuth {
    type Err = Error;

    /// The style named `name` (see [`ClientAuth::name`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for any other name, which the message does not repeat.
    fn from_str(name: &str) -> Result<ClientAuth> {
        ClientAuth::ALL
            .into_iter()
            .find(|style| style.name() == name)
            .ok_or_else(|| Error::Config("client auth takes basic, basic-raw or body".into()))
    }
}

/// A client id and secret, with both Basic header values built once, up front.
///
/// # Errors
///
/// [`Error::InvalidHeaderValue`] when the id or secret holds a control byte (CR, LF, NUL, …).
///
/// # Examples
///
/// ```
/// use apiauth::{BasicEncoding, Credentials};
///
/// let creds = Credentials::new("clientId", "clientSecret")?;
/// let header = creds.basic_header(BasicEncoding::Raw)?;
/// assert_eq!(header, "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0");
/// assert_eq!(format!("{header:?}"), "Sensitive");
/// # Ok::<(), apiauth::Error>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    id: String,
    secret: ClientSecret,
    raw: Option<HeaderValue>,
    form_urlencoded: HeaderValue,
}

impl Credentials {
    /// Checks the id and secret and builds both Basic header values.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Result<Self> {
        let (id, secret) = (id.into(), ClientSecret::new(secret));
        reject_control(&id, "client id")?;
        reject_control(secret.secret(), "client secret")?;
        let basic = |pair: String| sensitive("Basic ", &STANDARD.encode(pair), "client id");
        let raw_pair = format!("{id}:{}", secret.secret());
        let raw = (!id.contains(':')).then(|| basic(raw_pair)).transpose()?;
        let mut pair = String::new();
        form::encode_into(&mut pair, &id);
        pair.push(':');
        form::encode_into(&mut pair, secret.secret());
        let form_urlencoded = basic(pair)?;
        Ok(Self {
            id,
            secret,
            raw,
            form_urlencoded,
        })
    }

    /// The client id. Not a secret.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The client secret.
    pub fn secret(&self) -> &ClientSecret {
        &self.secret
    }

    /// The ready-made `Authorization` value, `Basic …`, marked sensitive. No encoding happens
    /// here: both forms were built by [`Credentials::new`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for [`BasicEncoding::Raw`] when the id contains `:`, which RFC 7617
    /// forbids (the server would split it at the wrong place).
    #[inline]
    pub fn basic_header(&self, encoding: BasicEncoding) -> Result<&HeaderValue> {
        let colon = "a client id containing ':' cannot be sent with raw Basic encoding";
        match encoding {
            BasicEncoding::FormUrlEncoded => Ok(&self.form_urlencoded),
            BasicEncoding::Raw => self.raw.as_ref().ok_or_else(|| Error::Config(colon.into())),
        }
    }

    /// `text` scrubbed of the client secret and of both Basic encodings of the id and
    /// secret (base64 holds the secret too), whichever the client sends: for server texts
    /// before they enter an error or a log.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut forms = forms(self.secret.secret());
        let basic = [self.raw.as_ref(), Some(&self.form_urlencoded)];
        for value in basic.into_iter().flatten().filter_map(|h| h.to_str().ok()) {
            forms.push(value.trim_start_matches("Basic ").into());
        }
        scrub_forms(text, &forms)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str, encoding: BasicEncoding) -> String {
        let creds = Credentials::new(id, secret).unwrap();
        let value = creds.basic_header(encoding).unwrap().to_str().unwrap();
        let encoded = value.strip_prefix("Basic ").unwrap();
        String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap()
    }

    #[test]
    fn known_answers() {
        let creds = Credentials::new("Aladdin", "open sesame").unwrap();
        let raw = creds.basic_header(BasicEncoding::Raw).unwrap();
        assert_eq!(raw, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let creds = Credentials::new("clientId", "clientSecret").unwrap();
        for encoding in [BasicEncoding::Raw, BasicEncoding::FormUrlEncoded] {
            let header = creds.basic_header(encoding).unwrap();
            assert_eq!(header, "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0");
        }
    }

    #[test]
    fn hostile_values_under_both_encodings() {
        let secret = "a:b+c%d e&f/g?h=ié";
        assert_eq!(
            basic("aaa/;&", secret, BasicEncoding::Raw),
            "aaa/;&:a:b+c%d e&f/g?h=ié"
        );
        assert_eq!(
            basic("aaa/;&", secret, BasicEncoding::FormUrlEncoded),
            "aaa%2F%3B%26:a%3Ab%2Bc%25d+e%26f%2Fg%3Fh%3Di%C3%A9"
        );
        assert_eq!(
            basic("a:b+c%", "x", BasicEncoding::FormUrlEncoded),
            "a%3Ab%2Bc%25:x"
        );
        let creds = Credentials::new("a:b+c%", "x").unwrap();
        assert!(matches!(
            creds.basic_header(BasicEncoding::Raw),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn control_bytes_are_rejected_and_debug_redacts() {
        for bad in [
            "a\r\nX-Evil: 1",
            "a\rb",
            "a\nb",
            "a\0",
            "a\x1bb",
            "a\x7f",
            "tab\t",
        ] {
            assert!(matches!(
                Credentials::new(bad, "s"),
                Err(Error::InvalidHeaderValue("client id"))
            ));
            assert!(matches!(
                Credentials::new("id", bad),
                Err(Error::InvalidHeaderValue("client secret"))
            ));
        }
        let creds = Credentials::new("id", "hunter2").unwrap();
        let debug = format!("{creds:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("aWQ6aHVudGVyMg"));
        assert_eq!(
            debug,
            r#"Credentials { id: "id", secret: ClientSecret([redacted]), .. }"#
        );
    }
}
