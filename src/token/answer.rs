//! Reading a token endpoint's answer: RFC 6749 §5.1/§5.2, myConnectedFleet's
//! `{"success": …, "accessToken": …}` and Apigee's (Motorweb's) shapes, as JSON or a form.

use std::fmt;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
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
    let mut fields = match parse_body(body) {
        Some(Fields(fields)) if success && !carries_error(&fields) => fields,
        Some(Fields(fields)) => return Err(refused(status, &fields)),
        None if success => return Err(Error::InvalidResponse(Unusable::NotJsonOrForm)),
        None => return Err(refused(status, &Map::new())),
    };
    let mut text = |key: &str| match fields.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let (access_token, scope) = (text("access_token"), text("scope"));
    let access_token = access_token.ok_or(Error::InvalidResponse(Unusable::NoAccessToken))?;
    if access_token.is_empty() || !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidResponse(Unusable::BadTokenBytes));
    }
    // RFC 6749 §5.1: a string, bearer in any case; `null` counts as missing, and so does "".
    match fields.remove("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.is_empty() || t.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(Error::InvalidResponse(Unusable::NotBearer)),
    }
    Ok(Answer {
        access_token,
        expires_in: seconds(fields.remove("expires_in"))?,
        scope,
        extras: fields,
    })
}

/// An answer's fields as they came, in the body's order (where a key comes twice, the last
/// one counts), a known key in myConnectedFleet's spelling taken as RFC 6749's.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    /// The fields with `key` set to `value`.
    fn with(mut self, key: String, value: Value) -> Fields {
        let key = match key.as_str() {
            "accessToken" => "access_token".to_owned(),
            "tokenType" => "token_type".to_owned(),
            "expiresIn" => "expires_in".to_owned(),
            _ => key,
        };
        self.0.insert(key, value);
        self
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::default();
                while let Some((key, value)) = map.next_entry()? {
                    fields = fields.with(key, value);
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
            let pairs = form::decode_pairs(body)?.into_iter();
            Some(pairs.fold(Fields::default(), |fields, (k, v)| fields.with(k, v.into())))
        }
        _ => None,
    }
}

/// Whether a 2xx body is in fact an error.
fn carries_error(fields: &Map<String, Value>) -> bool {
    let present = |k: &str| fields.get(k).is_some_and(|v| !v.is_null());
    let error_keys = ["error", "ErrorCode", "errorCode", "fault"];
    is_false(fields.get("success"))
        || error_keys.into_iter().any(present)
        || (fields.get("status").and_then(Value::as_u64)).is_some_and(|s| s >= 400)
}

fn is_false(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(false))) || value.and_then(Value::as_str) == Some("false")
}

/// The typed error for a refusal, with the code and description of whichever known shape
/// the body has.
fn refused(status: u16, fields: &Map<String, Value>) -> Error {
    let text = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k).and_then(clean));
    let fault_text = |path| fields.get("fault")?.pointer(path).and_then(clean);
    let code = text(&["error", "ErrorCode", "errorCode", "code"])
        .or_else(|| fault_text("/detail/errorcode"));
    let description = text(&["error_description", "Error", "errorMsg", "message"])
        .or_else(|| fault_text("/faultstring"));
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
    let mut text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    text.retain(|c| !c.is_control());
    let text: String = text.chars().take(TEXT_READ).collect();
    (!text.is_empty()).then_some(text)
}

/// `scrub`s the texts of an endpoint's refusal in `error`, then cuts them to 256
/// characters: in that order, so that no part of a secret survives the cut.
pub(crate) fn finish_texts(error: &mut Error, scrub: impl Fn(&str) -> String) {
    if let Error::EndpointRefused(e) | Error::CredentialsRejected(e) = error {
        let texts = [&mut e.code, &mut e.description, &mut e.uri];
        for text in texts.into_iter().flatten() {
            *text = scrub(text).chars().take(TEXT_KEPT).collect();
        }
    }
}

/// `expires_in` (RFC 6749 §5.1): a non-negative number, or a string of digits (Apigee's
/// `"3599"`); `None` when missing, `null` or below [`MIN_LIFETIME`] (zero). Clamped to
/// [`MAX_LIFETIME`]. Anything else (`false`, `{}`, `"zzz"`, `-5`) is
/// [`Unusable::InvalidExpiresIn`]: a guess at its meaning could keep a dead token.
fn seconds(value: Option<Value>) -> Result<Option<Duration>> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let secs = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|s| *s >= 0.0),
        Some(Value::String(s)) if digits(&s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let secs = secs.ok_or(Error::InvalidResponse(Unusable::InvalidExpiresIn))?;
    Ok((secs >= MIN_LIFETIME.as_secs_f64())
        .then(|| Duration::from_secs_f64(secs.min(MAX_LIFETIME.as_secs_f64()))))
}
