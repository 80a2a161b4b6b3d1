//! The public API's conveniences: `()` as the body of `run`, and the re-exported crates
//! whose types appear in apiauth's signatures.

use apiauth::http::Request;
use apiauth::serde_json::{Value, json};
use apiauth::{ApiClient, Auth, BasicEncoding, Credentials, TokenScheme, ureq};

use crate::fixture::TokenServer;

#[test]
fn unit_body_is_an_empty_body_and_is_replayed_after_a_401() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let old = server.api("/v1/x", ("authorization", "Bearer A"), 401);
    let new = server.api("/v1/x", ("authorization", "Bearer B"), 204);
    let client = server.client(TokenScheme::Bearer).0;
    let request = Request::get(server.url("/v1/x")).body(()).unwrap();
    assert_eq!(client.run(request).unwrap().status(), 204);
    assert_eq!((tokens.calls(), old.calls(), new.calls()), (2, 1, 1));
}

#[test]
fn ureq_and_serde_json_are_reexported_at_the_versions_apiauth_uses() {
    let server = TokenServer::start();
    let api = server.api("/v1/x", ("authorization", "Basic aWQ6cw=="), 200);
    let agent: ureq::Agent = ureq::Agent::new_with_defaults();
    let auth = Auth::Basic(Credentials::new("id", "s").unwrap(), BasicEncoding::Raw);
    let client = ApiClient::new_with_agent(agent, auth);
    let _same_type: &ureq::Agent = client.agent();
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({"for": "Basic aWQ6cw=="}));
    api.assert_calls(1);
}
