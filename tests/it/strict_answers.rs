//! RFC 6749 §5.1 read strictly: a `token_type` that is not a string and an `expires_in`
//! that is not a non-negative number (or a string of digits) are refused, never guessed at
//! (oauthlib, oauth2-rs and Go refuse both), and refused like any unusable answer: nothing
//! cached, the next request only after the backoff.

use std::time::Duration;

use apiauth::{Error, Unusable};
use serde_json::json;

use crate::fixture::{TokenServer, clock, secret_of};

#[test]
fn malformed_token_type_and_expires_in_are_refused_and_backed_off() {
    #[rustfmt::skip]
    let cases = [
        ("token_type", json!(5), Unusable::NotBearer),
        ("token_type", json!(false), Unusable::NotBearer),
        ("token_type", json!({}), Unusable::NotBearer),
        ("expires_in", json!(false), Unusable::InvalidExpiresIn),
        ("expires_in", json!({}), Unusable::InvalidExpiresIn),
        ("expires_in", json!("zzz"), Unusable::InvalidExpiresIn),
        ("expires_in", json!(-5), Unusable::InvalidExpiresIn),
        ("expires_in", json!([]), Unusable::InvalidExpiresIn),
    ];
    for (field, value, why) in cases {
        let mut body = json!({"access_token": "SECRETTOKEN", "token_type": "Bearer"});
        body[field] = value.clone();
        let server = TokenServer::start();
        let mock = server.any(200, body);
        let source = server.config().with_test_clock(clock()).build().unwrap();
        let refused = || match source.token() {
            Err(Error::InvalidResponse(got)) => assert_eq!(got, why, "{field}: {value}"),
            other => panic!("{field}: {value}: {other:?}"),
        };
        refused();
        refused();
        mock.assert_calls(1);
        clock().advance(Duration::from_millis(1100));
        refused();
        mock.assert_calls(2);
    }
}

#[test]
fn null_keeps_meaning_missing() {
    let server = TokenServer::start();
    let body = json!({"access_token": "T", "token_type": null, "expires_in": null});
    let mock = server.any(200, body);
    let source = server.config().with_test_clock(clock()).build().unwrap();
    let lifetime = source.token().unwrap().lifetime();
    assert_eq!(lifetime, apiauth::Token::DEFAULT_LIFETIME);
    assert_eq!(secret_of(&source), "T");
    mock.assert_calls(1);
}
