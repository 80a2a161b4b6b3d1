//! Redirects of authorized calls: the header stays on its origin, a same-origin move still
//! works, and a redirect is never taken for a rejection.

use apiauth::http::Request;
use apiauth::providers::my_connected_fleet;
use apiauth::{ApiClient, Auth, BasicEncoding, Credentials, Error, TokenConfig, TokenScheme};
use httpmock::Method::{GET, POST};
use httpmock::{Mock, MockServer};
use serde_json::json;

use crate::support::rfc_token;

/// Every request another origin receives: it must see none.
fn elsewhere(server: &MockServer) -> Mock<'_> {
    server.mock(|_, then| {
        then.status(200).body("stolen");
    })
}

fn token_endpoint(server: &MockServer) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    })
}

fn auths(server: &MockServer) -> Vec<Auth> {
    let creds = Credentials::new("id", "secret").unwrap();
    let source = TokenConfig::new(server.url("/token"), creds.clone())
        .build()
        .unwrap();
    vec![
        Auth::Token(source.clone(), TokenScheme::Bearer),
        Auth::Token(source, TokenScheme::ConnectToken),
        Auth::Basic(creds, BasicEncoding::Raw),
    ]
}

#[test]
fn a_redirect_to_another_origin_is_returned_with_nothing_sent_there() {
    let (api, other) = (MockServer::start(), MockServer::start());
    let tokens = token_endpoint(&api);
    let stolen = elsewhere(&other);
    // Same host (127.0.0.1), another port: another origin.
    let moved = api.mock(|when, then| {
        when.path("/v1/jobs");
        then.status(302).header("location", other.url("/v1/jobs"));
    });
    for auth in auths(&api) {
        let client = ApiClient::new(auth.clone());
        let get = || Request::get(api.url("/v1/jobs")).body(&[][..]).unwrap();
        let response = client.run(get()).unwrap();
        assert_eq!(response.status(), 302, "{auth:?}");
        assert_eq!(
            response.headers()["location"],
            other.url("/v1/jobs").as_str()
        );
        assert_eq!(client.run_once(get()).unwrap().status(), 302);
        assert!(matches!(
            client.get_json::<serde_json::Value>(&api.url("/v1/jobs")),
            Err(Error::ApiStatus(e)) if e.status == 302
        ));
        // The same through the middleware.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .middleware(auth)
            .build()
            .into();
        assert_eq!(agent.get(api.url("/v1/jobs")).call().unwrap().status(), 302);
    }
    stolen.assert_calls(0);
    moved.assert_calls(12);
    // Not a rejection: the one token served every call.
    tokens.assert_calls(1);
}

#[test]
fn the_provider_client_keeps_its_token_on_its_origin() {
    let (api, auth, other) = (
        MockServer::start(),
        MockServer::start(),
        MockServer::start(),
    );
    auth.mock(|when, then| {
        when.method(POST)
            .path("/masternauth-oauth/oauth/accessToken");
        then.status(200)
            .json_body(json!({"success": true, "accessToken": "T1", "expires_in": 2591999}));
    });
    let stolen = elsewhere(&other);
    api.mock(|when, then| {
        when.path("/job-management/v1/customer/42/jobs");
        then.status(301).header("location", other.url("/jobs"));
    });
    let creds = Credentials::new("id", "secret").unwrap();
    let source = my_connected_fleet::token_config_at(&auth.base_url(), creds.clone())
        .build()
        .unwrap();
    let client = my_connected_fleet::Client::new(creds, "42")
        .unwrap()
        .with_api_base_url(&api.base_url())
        .with_token_source(source);
    assert!(matches!(
        client.jobs::<serde_json::Value>(),
        Err(Error::ApiStatus(e)) if e.status == 301
    ));
    stolen.assert_calls(0);
}

#[test]
fn a_same_origin_redirect_carries_the_header_and_costs_no_token() {
    let api = MockServer::start();
    let tokens = token_endpoint(&api);
    for (name, value) in [
        ("authorization", "Bearer T"),
        ("x-connect-token", "TOKEN T"),
    ] {
        let slash = api.mock(|when, then| {
            when.method(GET).path("/v1/things").header(name, value);
            then.status(301).header("location", "/v1/things/");
        });
        let found = api.mock(|when, then| {
            when.method(GET).path("/v1/things/").header(name, value);
            then.status(200).json_body(json!([1]));
        });
        let scheme = match name {
            "authorization" => TokenScheme::Bearer,
            _ => TokenScheme::ConnectToken,
        };
        let source = match &auths(&api)[0] {
            Auth::Token(source, _) => source.clone(),
            _ => unreachable!(),
        };
        let client = ApiClient::new(Auth::Token(source, scheme));
        for _ in 0..3 {
            let things: serde_json::Value = client.get_json(&api.url("/v1/things")).unwrap();
            assert_eq!(things, json!([1]));
        }
        slash.assert_calls(3);
        found.assert_calls(3);
    }
    tokens.assert_calls(2); // one per source: no token was thrown away
}

#[test]
fn a_307_resends_the_body_and_a_303_becomes_a_get() {
    let api = MockServer::start();
    token_endpoint(&api);
    let temporary = api.mock(|when, then| {
        when.method(POST).path("/v1/upload");
        then.status(307).header("location", "/v1/upload-here");
    });
    let resent = api.mock(|when, then| {
        when.method(POST)
            .path("/v1/upload-here")
            .header("authorization", "Bearer T")
            .body("payload");
        then.status(303).header("location", "/v1/result");
    });
    let result = api.mock(|when, then| {
        when.method(GET)
            .path("/v1/result")
            .header("authorization", "Bearer T")
            .header_missing("content-type");
        then.status(200).body("done");
    });
    let client = ApiClient::new(auths(&api).remove(0));
    let request = Request::post(api.url("/v1/upload"))
        .body("payload")
        .unwrap();
    let mut response = client.run(request).unwrap();
    assert_eq!(response.body_mut().read_to_string().unwrap(), "done");
    for mock in [temporary, resent, result] {
        mock.assert_calls(1);
    }
}

#[test]
fn redirect_hops_are_bounded_by_the_agent() {
    let api = MockServer::start();
    token_endpoint(&api);
    let lp = api.mock(|when, then| {
        when.path("/loop");
        then.status(302).header("location", "/loop");
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(3)
        .build()
        .into();
    let client = ApiClient::new_with_agent(agent, auths(&api).remove(0));
    let request = Request::get(api.url("/loop")).body([]).unwrap();
    assert_eq!(client.run(request).unwrap().status(), 302);
    lp.assert_calls(4);
}
