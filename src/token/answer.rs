//! Reading a token endpoint's answer: RFC 6749 §5.1/§5.2, myConnectedFleet's
//! `{"success": …, "accessToken": …}` and Apigee's (Motorweb's) shapes, as JSON or a form.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::token::{MAX_LIFETIME, MIN_LIFETIME};
use crate::{EndpointError, Error, Result, Unusable, form};

/// What a successful answer holds, checked: a usable access token of type bearer.
pub(crate) struct Answer {
    pub access_token: String,
    pub expires_in: Option<Duration>,
    pub scope: Option<String>,
    pub extras: Map<String, Value>,
}

/// Reads an answer of `status`; an error for a refusal, or a 2xx without a usable token.
/// The body is never kept in an error: a 2xx body may hold a token.
pub(crate) fn read(status: u16, body: &[u8]) -> Result<Answer> {
    let success = (200..300).contains(&status);
    let Some(fields) = parse_body(body) else {
        return Err(match success {
            true => Error::InvalidResponse(Unusable::NotJsonOrForm),
            false => refused(status, &Map::new()),
        });
    };
    if !success || carries_error(&fields.rest) {
        return Err(refused(status, &fields.rest));
    }
    let access_token = fields
        .access_token
        .ok_or(Error::InvalidResponse(Unusable::NoAccessToken))?;
    if access_token.is_empty() || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidResponse(Unusable::BadTokenBytes));
    }
    if !fields.bearer_type {
        return Err(Error::InvalidResponse(Unusable::NotBearer));
    }
    let expires_in = match fields.expires_in {
        Some(value) => seconds(&value)?,
        None => None,
    };
    Ok(Answer {
        access_token,
        expires_in,
        scope: fields.scope,
        extras: fields.rest,
    })
}

/// The fields of an answer the library reads, and the others as they came. Read in one
/// pass: the known keys (in either dialect's spelling) are matched without allocating.
struct Fields {
    access_token: Option<String>,
    /// False when a `token_type` other than bearer (in any case) or empty was given, or one
    /// that is not a string (RFC 6749 §5.1: a string); `null` counts as missing.
    bearer_type: bool,
    /// `expires_in` as given, read by [`seconds`] once the token is known to be usable.
    expires_in: Option<Value>,
    scope: Option<String>,
    rest: Map<String, Value>,
}

/// The keys [`Fields`] knows.
enum Key {
    AccessToken,
    TokenType,
    ExpiresIn,
    Scope,
    Other(String),
}

impl Key {
    fn new(key: &str) -> Key {
        match key {
            "access_token" | "accessToken" => Key::AccessToken,
            "token_type" | "tokenType" => Key::TokenType,
            "expires_in" | "expiresIn" => Key::ExpiresIn,
            "scope" => Key::Scope,
            other => Key::Other(other.to_owned()),
        }
    }
}

impl Fields {
    fn new() -> Fields {
        Fields {
            access_token: None,
            bearer_type: true,
            expires_in: None,
            scope: None,
            rest: Map::new(),
        }
    }

    fn set(&mut self, key: Key, value: Value) {
        let text = |value: Value| match value {
            Value::String(s) => Some(s),
            _ => None,
        };
        match key {
            Key::AccessToken => self.access_token = text(value),
            Key::TokenType => {
                self.bearer_type = match &value {
                    Value::Null => true,
                    Value::String(t) => t.is_empty() || t.eq_ignore_ascii_case("bearer"),
                    _ => false,
                }
            }
            Key::ExpiresIn => self.expires_in = Some(value),
            Key::Scope => self.scope = text(value),
            Key::Other(key) => drop(self.rest.insert(key, value)),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Key, E> {
                Ok(Key::new(key))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Fields, A::Error> {
                let mut fields = Fields::new();
                while let Some(key) = map.next_key::<Key>()? {
                    fields.set(key, map.next_value()?);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A JSON object, or a form (`a=1&b=2`), whatever the Content-Type claims.
fn parse_body(body: &[u8]) -> Option<Fields> {
    let body = body.trim_ascii();
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.first()? {
        b'{' => serde_json::from_slice(body).ok(),
        b'<' => None,
        _ if body.contains(&b'=') => {
            let mut fields = Fields::new();
            for (k, v) in form::decode_pairs(body)? {
                fields.set(Key::new(&k), Value::String(v));
            }
            Some(fields)
        }
        _ => None,
    }
}

/// Whether a 2xx body is in fact an error.
fn carries_error(fields: &Map<String, Value>) -> bool {
    let present = |k: &str| fields.get(k).is_some_and(|v| !v.is_null());
    is_false(fields.get("success"))
        || ["error", "ErrorCode", "errorCode", "fault"]
            .iter()
            .any(|k| present(k))
        || (fields.get("status").and_then(Value::as_u64)).is_some_and(|s| s >= 400)
}

fn is_false(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(false))) || value.and_then(Value::as_str) == Some("false")
}

/// The typed error for a refusal, with the code and description of whichever known shape
/// the body has.
fn refused(status: u16, fields: &Map<String, Value>) -> Error {
    let text = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k).and_then(clean));
    let fault = fields.get("fault");
    let code = text(&["error", "ErrorCode", "errorCode", "code"]).or_else(|| {
        fault
            .and_then(|f| f.pointer("/detail/errorcode"))
            .and_then(clean)
    });
    let description = text(&["error_description", "Error", "errorMsg", "message"])
        .or_else(|| fault.and_then(|f| f.get("faultstring")).and_then(clean));
    let details = Box::new(EndpointError {
        url: String::new(),
        status,
        uri: text(&["error_uri"]),
        code,
        description,
        retry_after: None,
    });
    let code_says_client = details.code.as_deref().is_some_and(|c| {
        c.eq_ignore_ascii_case("invalid_client") || c.eq_ignore_ascii_case("unauthorized_client")
    });
    let body_status = fields.get("status").and_then(Value::as_u64);
    let unsuccessful = is_false(fields.get("success")) && status < 500 && status != 429;
    match status == 401 || body_status == Some(401) || code_says_client || unsuccessful {
        true => Error::CredentialsRejected(details),
        false => Error::EndpointRefused(details),
    }
}

/// The most of a server's text an error keeps, in characters.
const TEXT_KEPT: usize = 256;
/// How much of a server's text is read before the secret is scrubbed out of it: more than
/// is kept, so that a secret the cut would split is still found whole.
const TEXT_READ: usize = 4096;

/// A string or number from an error body, control characters dropped, cut to
/// [`TEXT_READ`] characters (see [`finish_texts`]).
fn clean(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(TEXT_READ)
        .collect();
    (!text.is_empty()).then_some(text)
}

/// `scrub`s the texts of an endpoint's refusal in `error`, then cuts them to 256
/// characters: in that order, so that no part of a secret survives the cut.
pub(crate) fn finish_texts(error: &mut Error, scrub: impl Fn(&str) -> String) {
    if let Error::EndpointRefused(details) | Error::CredentialsRejected(details) = error {
        let texts = [
            &mut details.code,
            &mut details.description,
            &mut details.uri,
        ];
        for text in texts.into_iter().flatten() {
            *text = scrub(text).chars().take(TEXT_KEPT).collect();
        }
    }
}

/// `expires_in` (RFC 6749 §5.1): a non-negative number, or a string of digits (Apigee's
/// `"3599"`); `None` when `null` or below [`MIN_LIFETIME`] (zero). Clamped to
/// [`MAX_LIFETIME`]. Anything else (`false`, `{}`, `"zzz"`, `-5`) is
/// [`Unusable::InvalidExpiresIn`]: a guess at its meaning could keep a dead token.
fn seconds(value: &Value) -> Result<Option<Duration>> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let secs = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().filter(|s| *s >= 0.0),
        Value::String(s) if digits(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let secs = secs.ok_or(Error::InvalidResponse(Unusable::InvalidExpiresIn))?;
    Ok((secs >= MIN_LIFETIME.as_secs_f64())
        .then(|| Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64()))))
}
