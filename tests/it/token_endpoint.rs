//! What a token endpoint receives, and what becomes of every answer it can give.

use std::time::Duration;

use apiauth::{BasicEncoding, ClientAuth, Credentials, Error, TokenConfig, TokenScheme, Unusable};
use serde_json::json;

use crate::fixture::{
    TokenServer, clock, config_error, creds, jwt_expiring_in, mcf_at, mcf_token, motorweb_at,
    refused, rfc_token, secret_of, unusable,
};

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn my_connected_fleet_request_and_answer_are_as_documented() {
    let server = TokenServer::start();
    let basic = "authorization: Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0";
    let request = format!("{basic}; content-type: {FORM}; accept: application/json");
    let answer = json!({"success": true, "token_type": "bearer",
        "accessToken": "B983854936PF1A7B61B141AB69494046", "expires_in": 2591999});
    let body = format!("body grant_type=client_credentials => 200 {answer}");
    let spec = format!("POST /masternauth-oauth/oauth/accessToken; {request}; {body}");
    let mock = server.answer(&spec);
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let config = mcf_at(&server.base_url(), creds);
    let token = config.build().unwrap().token().unwrap();
    mock.assert_calls(1);
    let secret = token.access_token().secret();
    assert_eq!(secret, "B983854936PF1A7B61B141AB69494046");
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
    let server = TokenServer::start();
    let (jwt, exp) = jwt_expiring_in(Duration::from_secs(1800));
    let form = "grant_type=client_credentials&client_id=wmUB6jn1&client_secret=a%3Ab%2Bc%25+%26%2F%3F%3D%C3%A9";
    let answer = json!({"token_type": "Bearer",
        "issued_at": "1712272706170", "client_id": "wmUB6jn1", "access_token": jwt,
        "application_name": "8134c8d0-fa55-4bf0-b817-d795c5f41123", "scope": "",
        "expires_in": "3599"});
    let request = format!("POST /auth/v1/token; content-type: {FORM}; !authorization; body {form}");
    let mock = server.answer(&format!("{request} => 200 {answer}"));
    let creds = Credentials::new("wmUB6jn1", "a:b+c% &/?=é").unwrap();
    let config = motorweb_at(&server.base_url(), creds);
    let token = config.build().unwrap().token().unwrap();
    mock.assert_calls(1);
    let exp = std::time::UNIX_EPOCH + Duration::from_secs(exp);
    assert_eq!(token.jwt_expiry(), Some(exp));
    // The earlier of exp (1800 s) and expires_in (3599 s).
    let (lifetime, secs) = (token.lifetime(), Duration::from_secs);
    let between = lifetime <= secs(1800) && lifetime > secs(1790);
    assert!(between, "{lifetime:?}");
    assert_eq!(token.scope(), Some(""));
    assert_eq!(token.extras()["issued_at"], json!("1712272706170"));
    let name = json!("8134c8d0-fa55-4bf0-b817-d795c5f41123");
    assert_eq!(token.extras()["application_name"], name);
    let header = format!("Bearer {jwt}");
    assert_eq!(token.header(TokenScheme::Bearer).1, header.as_str());
}

#[test]
fn the_providers_endpoints_are_their_documented_ones() {
    use apiauth::providers::{motorweb, my_connected_fleet as mcf};
    let source = mcf::token_config(creds()).build().unwrap();
    let auth = "https://auth.masternautconnect.com/masternauth-oauth/oauth/accessToken";
    let apis = mcf::Api::ALL.map(mcf::Api::base_url);
    let api = "https://api.masternautconnect.com";
    assert_eq!((source.token_url(), apis), (auth, [api; 5]));
    let motorweb = |env| motorweb::token_config(env, creds()).token_url().to_owned();
    let urls = motorweb::Environment::ALL.map(motorweb);
    let (test, production) = ("https://api.tst.motorweb.app", "https://api.motorweb.app");
    let expected = [test, production].map(|base| format!("{base}/auth/v1/token"));
    assert_eq!(urls, expected);
}

#[test]
fn names_parse_back_and_an_unknown_name_is_not_repeated() {
    use apiauth::providers::{motorweb::Environment as Env, my_connected_fleet::Api};
    let apis = Api::ALL.map(|api| api.name().parse::<Api>().ok());
    assert_eq!(apis, Api::ALL.map(Some));
    let envs = Env::ALL.map(|env| env.name().parse::<Env>().ok());
    assert_eq!(envs, Env::ALL.map(Some));
    let styles = ClientAuth::ALL.map(|style| style.name().parse::<ClientAuth>().ok());
    assert_eq!(styles, ClientAuth::ALL.map(Some));
    let api = config_error("Zq7".parse::<Api>());
    let env = config_error("Zq7".parse::<Env>());
    assert_eq!(api, "unknown myConnectedFleet api");
    assert_eq!(env, "environment takes test or production");
    let styles = "client auth takes basic, basic-raw or body";
    assert_eq!(config_error("Zq7".parse::<ClientAuth>()), styles);
}

#[test]
fn generic_server_gets_scopes_params_and_either_basic_encoding() {
    // base64("aaa%2F%3B%26:a%3Ab%2Bc%25+x") and base64("aaa/;&:a:b+c% x")
    let form = "Basic YWFhJTJGJTNCJTI2OmElM0FiJTJCYyUyNSt4";
    for (encoding, expected) in [
        (BasicEncoding::FormUrlEncoded, form),
        (BasicEncoding::Raw, "Basic YWFhLzsmOmE6YitjJSB4"),
    ] {
        let server = TokenServer::at("/oauth2/token");
        let form = "grant_type=client_credentials&scope=read+write%3Aall&audience=https%3A%2F%2Fapi.example";
        let request = format!("POST /oauth2/token; authorization: {expected}; body {form}");
        let mock = server.answer(&format!("{request} => 200 {}", rfc_token("tok", 3600)));
        let creds = Credentials::new("aaa/;&", "a:b+c% x").unwrap();
        let source = TokenConfig::new(server.token_url(), creds);
        let source = source.with_client_auth(ClientAuth::Basic(encoding));
        let source = source.with_scope("read").with_scope("write:all");
        let source = source.with_param("audience", "https://api.example");
        assert_eq!(secret_of(&source.build().unwrap()), "tok");
        mock.assert_calls(1);
    }
}

#[test]
fn generic_server_with_credentials_in_the_body() {
    let server = TokenServer::start();
    let form =
        "grant_type=client_credentials&client_id=my+id&client_secret=s%26cret&resource=urn%3Ax";
    let answer = rfc_token("tok", 3600);
    let spec = format!("POST /token; !authorization; body {form} => 200 {answer}");
    let mock = server.answer(&spec);
    let creds = Credentials::new("my id", "s&cret").unwrap();
    let config = TokenConfig::new(server.token_url(), creds);
    let config = config.with_client_auth(ClientAuth::RequestBody);
    secret_of(&config.with_param("resource", "urn:x").build().unwrap());
    mock.assert_calls(1);
}

#[test]
fn bad_configuration_is_refused_before_anything_is_sent() {
    let server = TokenServer::start();
    let mock = server.any(200, rfc_token("tok", 3600));
    // Refused when the source is built, so no source exists to count a fetch or back off.
    for name in ["grant_type", "scope", "client_id", "client_secret"] {
        let built = server.config().with_param(name, "x").build();
        assert!(config_error(built).contains(name), "{name}");
    }
    let colon = Credentials::new("a:b", "secret").unwrap();
    let raw = TokenConfig::new(server.token_url(), colon);
    let raw = raw.with_client_auth(ClientAuth::Basic(BasicEncoding::Raw));
    config_error(raw.build());
    let no_time = server.config().with_timeout(Duration::ZERO).build();
    assert_eq!(config_error(no_time), "the timeout must be more than zero");
    mock.assert_calls(0);
    // "No limit" is taken as a day's limit, not an overflow.
    let unlimited = server.config().with_timeout(Duration::MAX).build();
    assert_eq!(secret_of(&unlimited.unwrap()), "tok");
    mock.assert_calls(1);
    // Plain http to a host that is not loopback; `.invalid` never resolves, so even a bug
    // here could not send anything anywhere.
    for url in [
        "http://auth.invalid/token",
        "ftp://auth.invalid/token",
        "https://user:pass@auth.invalid/token",
        "not a url",
    ] {
        config_error(TokenConfig::new(url, creds()).build());
    }
    // Loopback over http is allowed, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("http://{host}:{}/token", server.address().port());
        let source = TokenConfig::new(url, creds()).build().unwrap();
        assert_eq!(secret_of(&source), "tok");
    }
}

#[test]
fn a_providers_preset_moved_to_another_token_url_keeps_its_client_auth() {
    let server = TokenServer::start();
    let basic = "POST /elsewhere/token; authorization: Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0";
    let mock = server.answer(&format!("{basic} => 200 {}", mcf_token("T", 3600)));
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let config = apiauth::providers::my_connected_fleet::token_config(creds);
    let config = config.with_token_url(server.url("/elsewhere/token"));
    assert_eq!(secret_of(&config.build().unwrap()), "T");
    mock.assert_calls(1);
}

#[test]
fn insecure_http_allows_a_plain_http_token_url_that_is_not_loopback() {
    let config = TokenConfig::new("http://auth.invalid/token", creds());
    assert!(matches!(config.clone().build(), Err(Error::Config(_))));
    assert!(config.with_insecure_http(true).build().is_ok());
}

#[test]
fn every_error_shape_becomes_a_typed_error() {
    let none = None::<&str>;
    // (status, body, rejected, code, description)
    #[rustfmt::skip]
    let cases = [
        (400, r#"{"error":"invalid_scope","error_description":"no such scope","error_uri":"https://e/x"}"#,
            false, Some("invalid_scope"), Some("no such scope")),
        (401, r#"{"error":"invalid_client"}"#, true, Some("invalid_client"), none),
        (400, r#"{"error":"unauthorized_client"}"#, true, Some("unauthorized_client"), none),
        (200, r#"{"error":"server_error","error_description":"try later"}"#,
            false, Some("server_error"), Some("try later")),
        (401, r#"{"ErrorCode":"invalid_client","Error":"ClientId is Invalid"}"#,
            true, Some("invalid_client"), Some("ClientId is Invalid")),
        (200, r#"{"success":false,"message":"Bad credentials"}"#, true, None, Some("Bad credentials")),
        (400, r#"{"errorCode":"AUTH_001","errorMsg":"Unknown client"}"#,
            false, Some("AUTH_001"), Some("Unknown client")),
        (200, r#"{"status":401,"message":"Unauthorized"}"#, true, None, Some("Unauthorized")),
        (403, r#"{"fault":{"faultstring":"Invalid ApiKey","detail":{"errorcode":"oauth.v2.InvalidApiKey"}}}"#,
            false, Some("oauth.v2.InvalidApiKey"), Some("Invalid ApiKey")),
        (503, "<html><body>Service Unavailable</body></html>", false, None, None),
        (500, "", false, None, None),
        (401, "", true, None, None),
        (400, "{\"error\":\"bad\\r\\nInjected: yes\"}", false, Some("badInjected: yes"), None),
    ];
    for (status, body, rejected, code, description) in cases {
        let server = TokenServer::start();
        server.reply_with(status, &[("content-type", "application/json")], body);
        let (was_rejected, details) = match server.source().token() {
            Err(Error::CredentialsRejected(d)) => (true, d),
            Err(Error::EndpointRefused(d)) => (false, d),
            other => panic!("{body}: unexpected {other:?}"),
        };
        assert_eq!(was_rejected, rejected, "{body}");
        assert_eq!(details.status, status, "{body}");
        assert_eq!(details.code.as_deref(), code, "{body}");
        assert_eq!(details.description.as_deref(), description, "{body}");
    }
}

#[test]
fn retry_after_is_kept_on_429_and_503() {
    for status in [429, 503] {
        let server = TokenServer::start();
        server.reply_with(status, &[("retry-after", "7")], "slow down");
        let d = refused(server.source().token());
        let expected = (status, Some(Duration::from_secs(7)));
        assert_eq!((d.status, d.retry_after), expected);
    }
}

#[test]
fn unusable_2xx_answers_never_carry_the_body() {
    let header = "access token is empty or holds bytes not allowed in a header";
    let neither = "body is neither a JSON object nor a form";
    let (mac, no_token) = ("token type is not bearer", "no access token in the answer");
    let cases = [
        (r#"{"access_token":"SECRETTOKEN","token_type":"mac"}"#, mac),
        (r#"{"token":"SECRETTOKEN"}"#, no_token),
        (r#"{"access_token":"SECRETTOKEN""#, neither),
        ("SECRETTOKEN", neither),
        (r#"{"access_token":"SECRET TOKEN"}"#, header),
        (r#"{"access_token":"SECRETTOKEN\r\nX: y"}"#, header),
        (r#"{"access_token":""}"#, header),
    ];
    for (body, why) in cases {
        let server = TokenServer::start();
        server.reply(200, body);
        let error = server.source().token().unwrap_err();
        let right = matches!(&error, Error::InvalidResponse(w) if w.to_string() == why);
        assert!(right, "{body}: {error:?}");
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
        }
    }
}

#[test]
fn form_and_text_answers_whatever_the_content_type() {
    let json = r#"{"access_token":"abc","expires_in":120}"#;
    let form = "access_token=abc&token_type=bearer&expires_in=120";
    for (content_type, body) in [
        (Some(FORM), form),
        (Some("text/plain"), json),
        (Some("text/html"), json),
        (None, "access_token=abc&expires_in=120"),
    ] {
        let server = TokenServer::start();
        let headers = content_type.map(|ct| ("content-type", ct));
        server.reply_with(200, headers.as_slice(), body);
        let token = server.source().token().unwrap();
        assert_eq!(token.access_token().secret(), "abc", "{body}");
        assert_eq!(token.lifetime(), Duration::from_secs(120), "{body}");
    }
}

#[test]
fn redirects_are_not_followed() {
    let (server, elsewhere) = (TokenServer::start(), TokenServer::start());
    let stolen = elsewhere.any(200, rfc_token("tok", 3600));
    server.reply_with(302, &[("location", &elsewhere.token_url())], "");
    assert!(matches!(server.source().token(), Err(Error::EndpointRefused(d)) if d.status == 302));
    stolen.assert_calls(0);
}

#[test]
fn oversized_answer_is_an_error_not_an_allocation() {
    let server = TokenServer::start();
    let pad = "x".repeat(100 * 1024);
    server.reply(200, &format!(r#"{{"access_token":"t","pad":"{pad}"}}"#));
    assert_eq!(unusable(server.source().token()), Unusable::TooLarge);
}

#[test]
fn a_silent_endpoint_times_out() {
    let endpoint = crate::fixture::silent();
    let url = endpoint.url();
    let config = TokenConfig::new(url, creds()).with_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let error = config.build().unwrap().token().unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("silent endpoint: timed out after {elapsed:?} (limit 200 ms)");
    let after = Some(Duration::from_millis(200));
    let cause = apiauth::Cause::TimedOut { after };
    let timed_out = matches!(&error, Error::Transport(e) if e.cause == cause);
    assert!(timed_out, "{error:?}");
    let message = format!("could not reach the token endpoint {url}: timed out after 200ms");
    assert_eq!(error.to_string(), message);
}

// RFC 6749 §5.1 read strictly: a `token_type` that is not a string and an `expires_in`
// that is not a non-negative number (or a string of digits) are refused, never guessed at
// (oauthlib, oauth2-rs and Go refuse both), and refused like any unusable answer: nothing
// cached, the next request only after the backoff.

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
        let refused = || assert_eq!(unusable(source.token()), why, "{field}: {value}");
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
