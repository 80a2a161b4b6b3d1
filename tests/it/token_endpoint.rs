//! What a token endpoint receives, and what becomes of every answer it can give.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use apiauth::providers::{motorweb, my_connected_fleet};
use apiauth::{BasicEncoding, ClientAuth, Credentials, Error, TokenConfig, TokenScheme};
use httpmock::Method::POST;
use httpmock::MockServer;
use serde_json::json;

use crate::support::{jwt_expiring_in, rfc_token};

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn my_connected_fleet_request_and_answer_are_as_documented() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/masternauth-oauth/oauth/accessToken")
            .header("authorization", "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0")
            .header("content-type", FORM)
            .header("accept", "application/json")
            .body("grant_type=client_credentials");
        then.status(200).json_body(json!({
            "success": true,
            "accessToken": "B983854936PF1A7B61B141AB69494046",
            "token_type": "bearer",
            "expires_in": 2591999
        }));
    });
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let source = my_connected_fleet::token_config_at(&server.base_url(), creds)
        .build()
        .unwrap();
    let token = source.token().unwrap();
    mock.assert_calls(1);
    assert_eq!(
        token.access_token().secret(),
        "B983854936PF1A7B61B141AB69494046"
    );
    assert_eq!(token.lifetime(), Duration::from_secs(2591999));
    assert_eq!(token.extras().get("success"), Some(&json!(true)));
    let (name, value) = token.header(TokenScheme::Bearer);
    assert_eq!(name, "authorization");
    assert_eq!(value, "Bearer B983854936PF1A7B61B141AB69494046");
    let (name, value) = token.header(TokenScheme::ConnectToken);
    assert_eq!(name, "x-connect-token");
    assert_eq!(value, "TOKEN B983854936PF1A7B61B141AB69494046");
    assert_eq!(TokenScheme::ConnectToken.header_name(), "x-connect-token");
}

#[test]
fn motorweb_sends_credentials_in_the_body_and_reads_the_jwt_exp() {
    let server = MockServer::start();
    let (jwt, exp) = jwt_expiring_in(Duration::from_secs(1800));
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/auth/v1/token")
            .header("content-type", FORM)
            .header_missing("authorization")
            .body("grant_type=client_credentials&client_id=wmUB6jn1&client_secret=a%3Ab%2Bc%25+%26%2F%3F%3D%C3%A9");
        then.status(200).json_body(json!({
            "token_type": "Bearer",
            "issued_at": "1712272706170",
            "client_id": "wmUB6jn1",
            "access_token": jwt,
            "application_name": "8134c8d0-fa55-4bf0-b817-d795c5f41123",
            "scope": "",
            "expires_in": "3599"
        }));
    });
    let creds = Credentials::new("wmUB6jn1", "a:b+c% &/?=é").unwrap();
    let token = motorweb::token_config_at(&server.base_url(), creds)
        .build()
        .unwrap()
        .token()
        .unwrap();
    mock.assert_calls(1);
    let exp = std::time::UNIX_EPOCH + Duration::from_secs(exp);
    assert_eq!(token.jwt_expiry(), Some(exp));
    // The earlier of exp (1800 s) and expires_in (3599 s).
    assert!(token.lifetime() <= Duration::from_secs(1800));
    assert!(token.lifetime() > Duration::from_secs(1790));
    assert_eq!(token.scope(), Some(""));
    assert_eq!(token.extras()["issued_at"], json!("1712272706170"));
    assert_eq!(
        token.extras()["application_name"],
        json!("8134c8d0-fa55-4bf0-b817-d795c5f41123")
    );
    assert_eq!(
        token.header(TokenScheme::Bearer).1,
        format!("Bearer {jwt}").as_str()
    );
}

#[test]
fn generic_server_gets_scopes_params_and_either_basic_encoding() {
    let (id, secret) = ("aaa/;&", "a:b+c% x");
    for (encoding, expected) in [
        // base64("aaa%2F%3B%26:a%3Ab%2Bc%25+x") and base64("aaa/;&:a:b+c% x")
        (
            BasicEncoding::FormUrlEncoded,
            "Basic YWFhJTJGJTNCJTI2OmElM0FiJTJCYyUyNSt4",
        ),
        (BasicEncoding::Raw, "Basic YWFhLzsmOmE6YitjJSB4"),
    ] {
        let server = MockServer::start();
        let mock = server.mock(|when, then| {
            when.method(POST)
                .path("/oauth2/token")
                .header("authorization", expected)
                .body("grant_type=client_credentials&scope=read+write%3Aall&audience=https%3A%2F%2Fapi.example");
            then.status(200).json_body(rfc_token("tok", 3600));
        });
        let source = TokenConfig::new(
            server.url("/oauth2/token"),
            Credentials::new(id, secret).unwrap(),
        )
        .with_client_auth(ClientAuth::Basic(encoding))
        .with_scope("read")
        .with_scope("write:all")
        .with_param("audience", "https://api.example")
        .build()
        .unwrap();
        assert_eq!(source.token().unwrap().access_token().secret(), "tok");
        mock.assert_calls(1);
    }
}

#[test]
fn generic_server_with_credentials_in_the_body() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).header_missing("authorization").body(
            "grant_type=client_credentials&client_id=my+id&client_secret=s%26cret&resource=urn%3Ax",
        );
        then.status(200).json_body(rfc_token("tok", 3600));
    });
    let source = TokenConfig::new(
        server.url("/token"),
        Credentials::new("my id", "s&cret").unwrap(),
    )
    .with_client_auth(ClientAuth::RequestBody)
    .with_param("resource", "urn:x")
    .build()
    .unwrap();
    source.token().unwrap();
    mock.assert_calls(1);
}

#[test]
fn bad_configuration_is_refused_before_anything_is_sent() {
    let server = MockServer::start();
    let mock = server.mock(|_, then| {
        then.status(200).json_body(rfc_token("tok", 3600));
    });
    let creds = || Credentials::new("id", "secret").unwrap();
    // Refused when the source is built, so no source exists to count a fetch or back off.
    for name in ["grant_type", "scope", "client_id", "client_secret"] {
        let built = TokenConfig::new(server.url("/token"), creds())
            .with_param(name, "x")
            .build();
        assert!(
            matches!(built, Err(Error::Config(m)) if m.contains(name)),
            "{name}"
        );
    }
    let colon = Credentials::new("a:b", "secret").unwrap();
    let raw = TokenConfig::new(server.url("/token"), colon)
        .with_client_auth(ClientAuth::Basic(BasicEncoding::Raw))
        .build();
    assert!(matches!(raw, Err(Error::Config(_))));
    let no_time = TokenConfig::new(server.url("/token"), creds())
        .with_timeout(std::time::Duration::ZERO)
        .build();
    assert!(matches!(no_time, Err(Error::Config(m)) if m == "the timeout must be more than zero"));
    mock.assert_calls(0);
    // "No limit" is taken as a day's limit, not an overflow.
    let unlimited = TokenConfig::new(server.url("/token"), creds())
        .with_timeout(std::time::Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(unlimited.token().unwrap().access_token().secret(), "tok");
    mock.assert_calls(1);
    // Plain http to a host that is not loopback; `.invalid` never resolves, so even a bug
    // here could not send anything anywhere.
    for url in [
        "http://auth.invalid/token",
        "ftp://auth.invalid/token",
        "https://user:pass@auth.invalid/token",
        "not a url",
    ] {
        let built = TokenConfig::new(url, creds()).build();
        assert!(matches!(built, Err(Error::Config(_))), "{url}");
    }
    // Loopback over http is allowed, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("http://{host}:{}/token", server.address().port());
        assert_eq!(
            TokenConfig::new(url, creds())
                .build()
                .unwrap()
                .token()
                .unwrap()
                .access_token()
                .secret(),
            "tok"
        );
    }
}

/// One refusal: status, body, and what the caller must see.
struct Refusal {
    status: u16,
    body: &'static str,
    rejected: bool,
    code: Option<&'static str>,
    description: Option<&'static str>,
}

#[test]
fn every_error_shape_becomes_a_typed_error() {
    let cases = [
        Refusal {
            status: 400,
            body: r#"{"error":"invalid_scope","error_description":"no such scope","error_uri":"https://e/x"}"#,
            rejected: false,
            code: Some("invalid_scope"),
            description: Some("no such scope"),
        },
        Refusal {
            status: 401,
            body: r#"{"error":"invalid_client"}"#,
            rejected: true,
            code: Some("invalid_client"),
            description: None,
        },
        Refusal {
            status: 400,
            body: r#"{"error":"unauthorized_client"}"#,
            rejected: true,
            code: Some("unauthorized_client"),
            description: None,
        },
        Refusal {
            status: 200,
            body: r#"{"error":"server_error","error_description":"try later"}"#,
            rejected: false,
            code: Some("server_error"),
            description: Some("try later"),
        },
        Refusal {
            status: 401,
            body: r#"{"ErrorCode":"invalid_client","Error":"ClientId is Invalid"}"#,
            rejected: true,
            code: Some("invalid_client"),
            description: Some("ClientId is Invalid"),
        },
        Refusal {
            status: 200,
            body: r#"{"success":false,"message":"Bad credentials"}"#,
            rejected: true,
            code: None,
            description: Some("Bad credentials"),
        },
        Refusal {
            status: 400,
            body: r#"{"errorCode":"AUTH_001","errorMsg":"Unknown client"}"#,
            rejected: false,
            code: Some("AUTH_001"),
            description: Some("Unknown client"),
        },
        Refusal {
            status: 200,
            body: r#"{"status":401,"message":"Unauthorized"}"#,
            rejected: true,
            code: None,
            description: Some("Unauthorized"),
        },
        Refusal {
            status: 403,
            body: r#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
            rejected: false,
            code: Some("oauth.v2.InvalidApiKey"),
            description: Some("Invalid ApiKey"),
        },
        Refusal {
            status: 503,
            body: "<html><body>Service Unavailable</body></html>",
            rejected: false,
            code: None,
            description: None,
        },
        Refusal {
            status: 500,
            body: "",
            rejected: false,
            code: None,
            description: None,
        },
        Refusal {
            status: 401,
            body: "",
            rejected: true,
            code: None,
            description: None,
        },
        Refusal {
            status: 400,
            body: "{\"error\":\"bad\\r\\nInjected: yes\"}",
            rejected: false,
            code: Some("badInjected: yes"),
            description: None,
        },
    ];
    for case in cases {
        let server = MockServer::start();
        server.mock(|_, then| {
            then.status(case.status)
                .header("content-type", "application/json")
                .body(case.body);
        });
        let source = TokenConfig::new(
            server.url("/token"),
            Credentials::new("id", "secret").unwrap(),
        )
        .build()
        .unwrap();
        let (rejected, details) = match source.token() {
            Err(Error::CredentialsRejected(d)) => (true, d),
            Err(Error::EndpointRefused(d)) => (false, d),
            other => panic!("{}: unexpected {other:?}", case.body),
        };
        assert_eq!(rejected, case.rejected, "{}", case.body);
        assert_eq!(details.status, case.status, "{}", case.body);
        assert_eq!(details.code.as_deref(), case.code, "{}", case.body);
        assert_eq!(
            details.description.as_deref(),
            case.description,
            "{}",
            case.body
        );
    }
}

#[test]
fn retry_after_is_kept_on_429_and_503() {
    for status in [429, 503] {
        let server = MockServer::start();
        server.mock(|_, then| {
            then.status(status)
                .header("retry-after", "7")
                .body("slow down");
        });
        let source = TokenConfig::new(server.url("/token"), Credentials::new("id", "s").unwrap())
            .build()
            .unwrap();
        match source.token() {
            Err(Error::EndpointRefused(d)) => {
                assert_eq!(
                    (d.status, d.retry_after),
                    (status, Some(Duration::from_secs(7)))
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn unusable_2xx_answers_never_carry_the_body() {
    let cases = [
        (
            r#"{"access_token":"SECRETTOKEN","token_type":"mac"}"#,
            "token type is not bearer",
        ),
        (
            r#"{"token":"SECRETTOKEN"}"#,
            "no access token in the answer",
        ),
        (
            r#"{"access_token":"SECRETTOKEN""#,
            "body is neither a JSON object nor a form",
        ),
        ("SECRETTOKEN", "body is neither a JSON object nor a form"),
        (
            r#"{"access_token":"SECRET TOKEN"}"#,
            "access token is empty or holds bytes not allowed in a header",
        ),
        (
            r#"{"access_token":"SECRETTOKEN\r\nX: y"}"#,
            "access token is empty or holds bytes not allowed in a header",
        ),
        (
            r#"{"access_token":""}"#,
            "access token is empty or holds bytes not allowed in a header",
        ),
    ];
    for (body, why) in cases {
        let server = MockServer::start();
        server.mock(|_, then| {
            then.status(200).body(body);
        });
        let source = TokenConfig::new(server.url("/token"), Credentials::new("id", "s").unwrap())
            .build()
            .unwrap();
        let error = source.token().unwrap_err();
        assert!(
            matches!(&error, Error::InvalidResponse(w) if w.to_string() == why),
            "{body}: {error:?}"
        );
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
        }
    }
}

#[test]
fn form_and_text_answers_whatever_the_content_type() {
    let cases = [
        (
            Some(FORM),
            "access_token=abc&token_type=bearer&expires_in=120",
        ),
        (
            Some("text/plain"),
            r#"{"access_token":"abc","expires_in":120}"#,
        ),
        (
            Some("text/html"),
            r#"{"access_token":"abc","expires_in":120}"#,
        ),
        (None, "access_token=abc&expires_in=120"),
    ];
    for (content_type, body) in cases {
        let server = MockServer::start();
        server.mock(|_, then| {
            let then = then.status(200).body(body);
            if let Some(ct) = content_type {
                then.header("content-type", ct);
            }
        });
        let source = TokenConfig::new(server.url("/token"), Credentials::new("id", "s").unwrap())
            .build()
            .unwrap();
        let token = source.token().unwrap();
        assert_eq!(token.access_token().secret(), "abc", "{body}");
        assert_eq!(token.lifetime(), Duration::from_secs(120), "{body}");
    }
}

#[test]
fn redirects_are_not_followed() {
    let elsewhere = MockServer::start();
    let stolen = elsewhere.mock(|_, then| {
        then.status(200).json_body(rfc_token("tok", 3600));
    });
    let server = MockServer::start();
    server.mock(|_, then| {
        then.status(302).header("location", elsewhere.url("/token"));
    });
    let source = TokenConfig::new(
        server.url("/token"),
        Credentials::new("id", "secret").unwrap(),
    )
    .build()
    .unwrap();
    assert!(matches!(source.token(), Err(Error::EndpointRefused(d)) if d.status == 302));
    stolen.assert_calls(0);
}

#[test]
fn oversized_answer_is_an_error_not_an_allocation() {
    let server = MockServer::start();
    let huge = format!(
        r#"{{"access_token":"t","pad":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    server.mock(|_, then| {
        then.status(200).body(huge.as_str());
    });
    let source = TokenConfig::new(server.url("/token"), Credentials::new("id", "s").unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        source.token(),
        Err(Error::InvalidResponse(apiauth::Unusable::TooLarge))
    ));
}

#[test]
fn a_silent_endpoint_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        // Accept, read the request, never answer; hold the socket until the client gives up.
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = [0; 4096];
        while socket.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let url_shown = url.clone();
    let source = TokenConfig::new(url, Credentials::new("id", "s").unwrap())
        .with_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let error = source.token().unwrap_err();
    eprintln!(
        "silent endpoint: timed out after {:?} (limit 200 ms)",
        started.elapsed()
    );
    let after = Some(Duration::from_millis(200));
    assert!(
        matches!(&error, Error::Transport(e) if e.cause == apiauth::Cause::TimedOut { after }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("could not reach the token endpoint {url_shown}: timed out after 200ms")
    );
    hold.join().unwrap();
}
