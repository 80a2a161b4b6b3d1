//! The public API's conveniences: `()` as the body of `run`, and the re-exported crates
//! whose types appear in apiauth's signatures.

use apiauth::http::Request;
use apiauth::serde_json::{Value, json};
use apiauth::{ApiClient, Auth, BasicEncoding, Credentials, TokenConfig, TokenScheme, ureq};
use httpmock::Method::{GET, POST};
use httpmock::MockServer;

use crate::support::rfc_token;

#[test]
fn unit_body_is_an_empty_body_and_is_replayed_after_a_401() {
    let server = MockServer::start();
    let a = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .json_body(rfc_token("A", 3600))
            .up_to_n_times(1);
    });
    let b = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("B", 3600));
    });
    let old = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/x")
            .header("authorization", "Bearer A");
        then.status(401);
    });
    let new = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/x")
            .header("authorization", "Bearer B");
        then.status(204);
    });
    let source = TokenConfig::new(server.url("/token"), Credentials::new("id", "s").unwrap())
        .build()
        .unwrap();
    let client = ApiClient::new(Auth::Token(source, TokenScheme::Bearer));
    let request = Request::get(server.url("/v1/x")).body(()).unwrap();
    assert_eq!(client.run(request).unwrap().status(), 204);
    assert_eq!(
        (a.calls(), b.calls(), old.calls(), new.calls()),
        (1, 1, 1, 1)
    );
}

#[test]
fn ureq_and_serde_json_are_reexported_at_the_versions_apiauth_uses() {
    let server = MockServer::start();
    let api = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/x")
            .header("authorization", "Basic aWQ6cw==");
        then.status(200).json_body(json!({"n": 1}));
    });
    let agent: ureq::Agent = ureq::Agent::new_with_defaults();
    let auth = Auth::Basic(Credentials::new("id", "s").unwrap(), BasicEncoding::Raw);
    let client = ApiClient::new_with_agent(agent, auth);
    let _same_type: &ureq::Agent = client.agent();
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({"n": 1}));
    api.assert_calls(1);
}
