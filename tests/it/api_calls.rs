//! Authorized API calls: the header each API receives, the one retry after a 401, and the
//! public API's conveniences.

use std::io::Cursor;
use std::time::Duration;

use apiauth::http::Request;
use apiauth::providers::my_connected_fleet::Api;
use apiauth::{ApiClient, Auth, BasicEncoding, Credentials, Error, TokenScheme, TokenScheme::*};
use httpmock::Method::GET;
use serde_json::{Value, json};

use crate::fixture::{
    TokenServer, api_status, clock, creds, eventually, fleet_get, mcf_at, mcf_token, motorweb_at,
    rfc_token, secret_of,
};

#[test]
fn a_401_then_200_succeeds_with_exactly_two_token_fetches() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let old = server.api("/v1/x", ("authorization", "Bearer A"), 401);
    let new = server.api("/v1/x", ("authorization", "Bearer B"), 200);
    let actual = server.get_json(Bearer, "/v1/x").unwrap();
    assert_eq!(actual, json!({"for": "Bearer B"}));
    assert_eq!((tokens.calls(), old.calls(), new.calls()), (2, 1, 1));
}

#[test]
fn two_401s_give_an_error_after_exactly_one_retry() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let rejecting = server.answer("GET /v1/x => 401");
    assert_eq!(api_status(server.get_json(Bearer, "/v1/x")).status, 401);
    assert_eq!((rejecting.calls(), tokens.calls()), (2, 2));
}

#[test]
fn a_403_is_not_retried() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let forbidden = server.api("/v1/x", ("authorization", "Bearer A"), 403);
    assert_eq!(api_status(server.get_json(Bearer, "/v1/x")).status, 403);
    assert_eq!((forbidden.calls(), tokens.calls()), (1, 1));
}

#[test]
fn a_one_shot_body_is_not_retried_but_its_token_is_dropped() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let upload = server.answer("POST /v1/upload; body payload => 401");
    let (client, source) = server.client(Bearer);
    let body = ureq::SendBody::from_owned_reader(Cursor::new(b"payload".to_vec()));
    let request = Request::post(server.url("/v1/upload")).body(body).unwrap();
    // ureq's default agent turns statuses into errors, and so does the client.
    assert_eq!(api_status(client.run_once(request)).status, 401);
    assert_eq!((upload.calls(), tokens.calls()), (1, 1));
    assert_eq!(secret_of(&source), "B");
    assert_eq!(tokens.calls(), 2);
}

#[test]
fn a_replayable_post_is_sent_again_with_its_body() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let items = r#"POST /v1/items; content-type: application/json; body {"n":1}"#;
    let with = |answer| server.answer(&format!("{items}; authorization: Bearer {answer}"));
    let (old, new) = (with("A => 401"), with("B => 201"));
    let request = Request::post(server.url("/v1/items"));
    let request = request.header("content-type", "application/json");
    let request = request.body(r#"{"n":1}"#).unwrap();
    assert_eq!(server.client(Bearer).0.run(request).unwrap().status(), 201);
    assert_eq!((old.calls(), new.calls(), tokens.calls()), (1, 1, 2));
}

#[test]
fn basic_form_encoded_reaches_the_api_as_rfc_6749_says() {
    let server = TokenServer::start();
    let api = server.answer("GET /core; authorization: Basic YSUzQWI6Yytk => 200 {}");
    let creds = Credentials::new("a:b", "c d").unwrap();
    let client = ApiClient::new(Auth::Basic(creds, BasicEncoding::FormUrlEncoded));
    let body: Value = client.get_json(&server.url("/core")).unwrap();
    assert_eq!(body, json!({}));
    api.assert_calls(1);
}

#[test]
fn get_json_asks_for_json() {
    let server = TokenServer::start();
    let api = server.answer("GET /v1/x; accept: application/json => 200 {}");
    let client = ApiClient::new(Auth::Basic(creds(), BasicEncoding::Raw));
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({}));
    api.assert_calls(1);
}

#[test]
fn an_api_status_names_the_method() {
    let server = TokenServer::start();
    let (url, gone) = (server.url("/v1/x"), server.answer("DELETE /v1/x => 404"));
    let client = ApiClient::new(Auth::Basic(creds(), BasicEncoding::Raw));
    let e = api_status(client.run(Request::delete(&url).body(()).unwrap()));
    assert_eq!((e.method.as_str(), e.status), ("DELETE", 404));
    assert_eq!(e.to_string(), format!("api DELETE {url} returned 404"));
    gone.assert_calls(1);
}

#[test]
fn basic_is_never_retried() {
    let server = TokenServer::start();
    let core = server.api("/core", ("authorization", "Basic aWQ6c2VjcmV0"), 401);
    let client = ApiClient::new(Auth::Basic(creds(), BasicEncoding::Raw));
    let result = client.get_json::<Value>(&server.url("/core"));
    assert_eq!(api_status(result).status, 401);
    core.assert_calls(1);
}

#[test]
fn connect_token_is_never_sent_as_authorization() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let jobs = server.answer("GET /jobs; x-connect-token: TOKEN A; !authorization => 200 []");
    // Even an Authorization header the caller set is removed for this API.
    let request = Request::get(server.url("/jobs")).header("authorization", "Bearer stray");
    let client = server.client(ConnectToken).0;
    let response = client.run(request.body(Vec::new()).unwrap());
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!((jobs.calls(), tokens.calls()), (1, 1));
}

#[test]
fn a_401_on_a_replaced_token_keeps_the_new_one() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let slow_reject = server.mock(|when, then| {
        let when = when.method(GET).path("/v1/x");
        when.header("authorization", "Bearer A");
        then.status(401).delay(Duration::from_millis(300));
    });
    let accept = server.api("/v1/x", ("authorization", "Bearer B"), 200);
    let (client, source) = server.client(Bearer);
    source.prefetch().unwrap();
    let url = server.url("/v1/x");
    let call = std::thread::spawn(move || client.get_json::<Value>(&url));
    // While the call with A is in flight, another thread replaces A with B.
    eventually(|| slow_reject.calls() == 1);
    source.invalidate();
    assert_eq!(secret_of(&source), "B");
    // The 401 on A must not throw B away: the retry uses B, and no third token is fetched.
    assert_eq!(call.join().unwrap().unwrap(), json!({"for": "Bearer B"}));
    assert_eq!((accept.calls(), tokens.calls()), (1, 2));
}

#[test]
fn middleware_injects_and_the_token_request_never_carries_the_api_header() {
    let server = TokenServer::start();
    let token = "POST /token; authorization: Basic aWQ6c2VjcmV0; !x-connect-token => 200";
    let token = server.answer(&format!("{token} {}", rfc_token("A", 3600)));
    let jobs = server.answer("GET /jobs; x-connect-token: TOKEN A => 200 []");
    let config = server.config();
    let auth = Auth::Token(config.clone().build().unwrap(), ConnectToken);
    let agent = ureq::Agent::config_builder().middleware(auth).build();
    let agent: ureq::Agent = agent.into();
    let mut response = agent.get(server.url("/jobs")).call().unwrap();
    assert_eq!(response.body_mut().read_to_string().unwrap(), "[]");
    assert_eq!((jobs.calls(), token.calls()), (1, 1));
    // A source whose token requests go through that same agent: the middleware leaves
    // them alone (no API header, no recursion into the token endpoint).
    assert_eq!(secret_of(&config.with_agent(agent).build().unwrap()), "A");
    token.assert_calls(2);
}

#[test]
fn each_my_connected_fleet_api_has_its_token_scheme() {
    let apis = [
        Api::Core,
        Api::SmartTire,
        Api::Tacho,
        Api::VehicleCheck,
        Api::JobManagement,
    ];
    let schemes = apis.map(Api::token_scheme);
    assert_eq!(schemes, [Bearer, Bearer, Bearer, Bearer, ConnectToken]);
}

#[test]
fn my_connected_fleet_client_uses_each_apis_header() {
    let auth = TokenServer::at("/masternauth-oauth/oauth/accessToken");
    let mut body = mcf_token("T1", 2591999);
    body["token_type"] = json!("bearer");
    let token = auth.json(200, body);
    let apis = TokenServer::start();
    let base = "/connect-webservices/services/public/v1/customer/42";
    let basic = "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0";
    let live_path = format!("{base}/tracking/live");
    let tire_path = format!("{base}/tire/events");
    let live = apis.api(&live_path, ("authorization", basic), 200);
    let tire = apis.api(&tire_path, ("authorization", "Bearer T1"), 200);
    let jobs = "GET /job-management/v1/customer/42/jobs; x-connect-token: TOKEN T1";
    let jobs = apis.answer(&format!(r#"{jobs}; !authorization => 200 [{{"id":1}}]"#));
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let source = mcf_at(&auth.base_url(), creds.clone()).build().unwrap();
    let get = |api, path: &str| fleet_get(api, (&creds, &source), &apis.base_url(), path);
    let (live_body, tire_body) = (get(Api::Core, &live_path), get(Api::SmartTire, &tire_path));
    assert_eq!(live_body.unwrap(), json!({"for": basic}));
    assert_eq!(tire_body.unwrap(), json!({"for": "Bearer T1"}));
    let jobs_body = get(Api::JobManagement, "/job-management/v1/customer/42/jobs");
    assert_eq!(jobs_body.unwrap(), json!([{"id": 1}]));
    let calls = [live.calls(), tire.calls(), jobs.calls(), token.calls()];
    assert_eq!(calls, [1, 1, 1, 1]);
}

#[test]
fn motorweb_client_recovers_from_an_expired_token_fault() {
    let server = TokenServer::at("/auth/v1/token");
    let tokens = server.tokens(&["A", "B"]);
    let plate = "/market-data/v1/vehicles/plate/ABC123";
    let expired = json!({"fault": {"faultstring": "Access Token expired",
        "detail": {"errorcode": "keymanagement.service.access_token_expired"}}});
    let answer = |answer| server.answer(&format!("GET {plate}; authorization: Bearer {answer}"));
    let fault = answer(format!("A => 401 {expired}"));
    let vehicle = answer(r#"B => 200 {"plate":"ABC123","make":"TOYOTA"}"#.into());
    let source = motorweb_at(&server.base_url(), creds()).build().unwrap();
    let client = ApiClient::new(Auth::Token(source, Bearer));
    let vehicle_body = client.get_json::<Value>(&server.url(plate)).unwrap();
    assert_eq!(vehicle_body["make"], "TOYOTA");
    assert_eq!((fault.calls(), vehicle.calls(), tokens.calls()), (1, 1, 2));
}

#[test]
fn per_request_settings_and_extensions_survive_the_retry() {
    let server = TokenServer::start();
    let tokens = server.tokens(&["A", "B"]);
    let probe = "GET /v1/x; user-agent: probe/1; authorization: Bearer";
    let probe = |answer| server.answer(&format!("{probe} {answer}"));
    let (old, new) = (probe("A => 401"), probe("B => 204"));
    let client = server.client(Bearer).0;
    let request = Request::get(server.url("/v1/x")).body(()).unwrap();
    let request = client.agent().configure_request(request);
    let request = request.user_agent("probe/1").build();
    let request = Request::from_parts(request.into_parts().0, Vec::<u8>::new());
    assert_eq!(client.run(request).unwrap().status(), 204);
    assert_eq!((old.calls(), new.calls(), tokens.calls()), (1, 1, 2));
}

#[test]
fn the_agents_status_setting_is_respected() {
    let server = TokenServer::start();
    server.tokens(&["A", "B"]);
    let missing = server.api("/v1/x", ("authorization", "Bearer A"), 404);
    let client = server.client(Bearer).0;
    let get = || Request::get(server.url("/v1/x")).body(()).unwrap();
    assert_eq!(api_status(client.run_once(get())).status, 404);
    let lenient = ureq::Agent::config_builder().http_status_as_error(false);
    let lenient = lenient.build();
    let client = ApiClient::new_with_agent(lenient.into(), client.auth().clone());
    assert_eq!(client.run_once(get()).unwrap().status(), 404);
    missing.assert_calls(2);
}

#[test]
fn an_api_that_always_answers_401_costs_a_token_request_per_backoff_not_per_call() {
    let server = TokenServer::start();
    let tokens = server.token("T", 3600);
    let refused = server.answer(r#"GET /v1/x => 401 {"status":"401","message":"Bad Credentials"}"#);
    let source = server.config().with_test_clock(clock()).build().unwrap();
    let client = ApiClient::new(Auth::Token(source.clone(), Bearer));
    let url = server.url("/v1/x");
    for _ in 0..50 {
        assert_eq!(api_status(client.get_json::<Value>(&url)).status, 401);
    }
    // The first call: its token, then one new token for the retry, refused at once. The
    // other 49: the kept token, once each, no retry.
    assert_eq!((tokens.calls(), refused.calls()), (2, 51));
    assert_eq!(source.stats().rejections, 1);
    // After the backoff, one more try with one more token, and a longer backoff.
    clock().advance(Duration::from_millis(1500));
    for _ in 0..10 {
        assert!(client.get_json::<Value>(&url).is_err());
    }
    assert_eq!((tokens.calls(), refused.calls()), (3, 62));
}

#[test]
fn spaced_401s_back_off_too() {
    let server = TokenServer::start();
    let tokens = server.token("T", 3600);
    server.answer("GET /v1/x => 401");
    let source = server.config().with_test_clock(clock()).build().unwrap();
    let client = ApiClient::new(Auth::Token(source, Bearer));
    // One call every 5 s for 10 minutes: the backoff grows to a minute and stays there.
    for _ in 0..120 {
        clock().advance(Duration::from_secs(5));
        assert!(client.get_json::<Value>(&server.url("/v1/x")).is_err());
    }
    let requests = tokens.calls();
    assert!(requests <= 16, "{requests}");
}

#[test]
fn an_answer_of_another_shape_names_the_url_and_serde_reason() {
    let server = TokenServer::start();
    server.answer(r#"GET /v1/counts => 200 ["many"]"#);
    let client = ApiClient::new(Auth::Basic(creds(), BasicEncoding::Raw));
    let url = server.url("/v1/counts");
    let error = client.get_json::<Vec<u32>>(&format!("{url}?key=Q"));
    let error = error.unwrap_err();
    let named = matches!(&error, Error::ApiBody { url: said, .. } if *said == url);
    assert!(named, "{error:?}");
    let message = format!("api {url} answered json of another shape");
    assert_eq!(error.to_string(), message);
    let reason = std::error::Error::source(&error).unwrap().to_string();
    let expected = "invalid type: string \"many\", expected u32 at line 1 column 7";
    assert_eq!(reason, expected);
}

// The public API's conveniences: `()` as the body of `run`, and the re-exported crates
// whose types appear in apiauth's signatures.

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
    // The re-exports, not this crate's own dependencies.
    use apiauth::serde_json::{Value, json};
    use apiauth::ureq;
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
