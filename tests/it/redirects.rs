//! Redirects of authorized calls: the header stays on its origin, a same-origin move still
//! works, and a redirect is never taken for a rejection.

use apiauth::http::Request;
use apiauth::providers::my_connected_fleet::Api;
use apiauth::{ApiClient, Auth, BasicEncoding, TokenScheme, TokenSource};
use serde_json::{Value, json};

use crate::fixture::{TokenServer, api_status, creds, fleet_get, mcf_at, mcf_token};

fn auths(source: TokenSource) -> [Auth; 3] {
    let basic = Auth::Basic(creds(), BasicEncoding::Raw);
    let connect = Auth::Token(source.clone(), TokenScheme::ConnectToken);
    [Auth::Token(source, TokenScheme::Bearer), connect, basic]
}

#[test]
fn a_redirect_to_another_origin_is_returned_with_nothing_sent_there() {
    let (api, other) = (TokenServer::start(), TokenServer::start());
    let tokens = api.token("T", 3600);
    let stolen = other.any(200, json!("stolen"));
    // Same host (127.0.0.1), another port: another origin.
    let location = other.url("/v1/jobs");
    let moved = api.answer(&format!("* /v1/jobs => 302; location: {location}"));
    for auth in auths(api.source()) {
        let client = ApiClient::new(auth.clone());
        let get = || Request::get(api.url("/v1/jobs")).body(&[][..]).unwrap();
        let response = client.run(get()).unwrap();
        assert_eq!(response.status(), 302, "{auth:?}");
        assert_eq!(response.headers()["location"], location.as_str());
        assert_eq!(client.run_once(get()).unwrap().status(), 302);
        let result = client.get_json::<Value>(&api.url("/v1/jobs"));
        assert_eq!(api_status(result).status, 302);
        // The same through the middleware.
        let agent = ureq::Agent::config_builder().middleware(auth).build();
        let agent: ureq::Agent = agent.into();
        assert_eq!(agent.get(api.url("/v1/jobs")).call().unwrap().status(), 302);
    }
    stolen.assert_calls(0);
    moved.assert_calls(12);
    // Not a rejection: the one token served every call.
    tokens.assert_calls(1);
}

#[test]
fn the_provider_client_keeps_its_token_on_its_origin() {
    let (api, other) = (TokenServer::start(), TokenServer::start());
    let auth = TokenServer::at("/masternauth-oauth/oauth/accessToken");
    auth.json(200, mcf_token("T1", 2591999));
    let stolen = other.any(200, json!("stolen"));
    let path = "/job-management/v1/customer/42/jobs";
    let location = other.url("/jobs");
    api.answer(&format!("* {path} => 301; location: {location}"));
    let source = mcf_at(&auth.base_url(), creds()).build().unwrap();
    let (creds, base) = (creds(), api.base_url());
    let result = fleet_get(Api::JobManagement, (&creds, &source), &base, path);
    assert_eq!(api_status(result).status, 301);
    stolen.assert_calls(0);
}

#[test]
fn a_same_origin_redirect_carries_the_header_and_costs_no_token() {
    let api = TokenServer::start();
    let tokens = api.token("T", 3600);
    for (scheme, (name, value)) in [
        (TokenScheme::Bearer, ("authorization", "Bearer T")),
        (TokenScheme::ConnectToken, ("x-connect-token", "TOKEN T")),
    ] {
        let slash = format!("GET /v1/things; {name}: {value} => 301; location: /v1/things/");
        let slash = api.answer(&slash);
        let found = api.api("/v1/things/", (name, value), 200);
        let client = api.client(scheme).0;
        for _ in 0..3 {
            let things: Value = client.get_json(&api.url("/v1/things")).unwrap();
            assert_eq!(things, json!({"for": value}));
        }
        assert_eq!((slash.calls(), found.calls()), (3, 3));
    }
    tokens.assert_calls(2); // one per source: no token was thrown away
}

#[test]
fn a_307_resends_the_body_and_a_303_becomes_a_get() {
    let api = TokenServer::start();
    api.token("T", 3600);
    let temporary = api.answer("* /v1/upload => 307; location: /v1/upload-here");
    let resent = "POST /v1/upload-here; authorization: Bearer T; body payload";
    let resent = api.answer(&format!("{resent} => 303; location: /v1/result"));
    let result = api.answer("GET /v1/result; authorization: Bearer T; !content-type => 200 done");
    let client = api.client(TokenScheme::Bearer).0;
    let request = Request::post(api.url("/v1/upload"));
    let request = request.body("payload").unwrap();
    let mut response = client.run(request).unwrap();
    assert_eq!(response.body_mut().read_to_string().unwrap(), "done");
    let calls = [temporary.calls(), resent.calls(), result.calls()];
    assert_eq!(calls, [1, 1, 1]);
}

#[test]
fn redirect_hops_are_bounded_by_the_agent() {
    let api = TokenServer::start();
    api.token("T", 3600);
    let lp = api.answer("* /loop => 302; location: /loop");
    let agent = ureq::Agent::config_builder().max_redirects(3).build();
    let [bearer, ..] = auths(api.source());
    let client = ApiClient::new_with_agent(agent.into(), bearer);
    let request = Request::get(api.url("/loop")).body([]).unwrap();
    assert_eq!(client.run(request).unwrap().status(), 302);
    lp.assert_calls(4);
}
