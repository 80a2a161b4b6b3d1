//! Authorized API calls: the header each API receives, and the one retry after a 401.

use std::io::Cursor;

use apiauth::http::Request;
use apiauth::providers::{motorweb, my_connected_fleet};
use apiauth::{
    ApiClient, Auth, BasicEncoding, Credentials, Error, TokenConfig, TokenScheme, TokenSource,
};
use httpmock::Method::{GET, POST};
use httpmock::{Mock, MockServer};
use serde_json::{Value, json};

use crate::support::{clock, eventually, rfc_token};

/// A token endpoint at `/token` that hands out `A` once, then `B` every time.
fn tokens_a_then_b(server: &MockServer) -> [Mock<'_>; 2] {
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
    [a, b]
}

fn token_calls(mocks: &[Mock<'_>; 2]) -> usize {
    mocks.iter().map(Mock::calls).sum()
}

/// An API endpoint at `path` that answers `status` to requests carrying `header: value`.
fn api<'a>(server: &'a MockServer, path: &str, header: (&str, &str), status: u16) -> Mock<'a> {
    server.mock(|when, then| {
        when.method(GET).path(path).header(header.0, header.1);
        then.status(status).json_body(json!({"for": header.1}));
    })
}

fn client(server: &MockServer, scheme: TokenScheme) -> (ApiClient, TokenSource) {
    let creds = Credentials::new("id", "secret").unwrap();
    let source = TokenConfig::new(server.url("/token"), creds)
        .build()
        .unwrap();
    (ApiClient::new(Auth::Token(source.clone(), scheme)), source)
}

#[test]
fn a_401_then_200_succeeds_with_exactly_two_token_fetches() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let old = api(&server, "/v1/x", ("authorization", "Bearer A"), 401);
    let new = api(&server, "/v1/x", ("authorization", "Bearer B"), 200);
    let (client, _) = client(&server, TokenScheme::Bearer);
    let body: Value = client.get_json(&server.url("/v1/x")).unwrap();
    assert_eq!(body, json!({"for": "Bearer B"}));
    assert_eq!(token_calls(&tokens), 2);
    old.assert_calls(1);
    new.assert_calls(1);
}

#[test]
fn two_401s_give_an_error_after_exactly_one_retry() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let rejecting = server.mock(|when, then| {
        when.method(GET).path("/v1/x");
        then.status(401);
    });
    let (client, _) = client(&server, TokenScheme::Bearer);
    let result = client.get_json::<Value>(&server.url("/v1/x"));
    assert!(
        matches!(&result, Err(Error::ApiStatus(e)) if e.status == 401),
        "{result:?}"
    );
    rejecting.assert_calls(2);
    assert_eq!(token_calls(&tokens), 2);
}

#[test]
fn a_403_is_not_retried() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let forbidden = api(&server, "/v1/x", ("authorization", "Bearer A"), 403);
    let (client, _) = client(&server, TokenScheme::Bearer);
    let result = client.get_json::<Value>(&server.url("/v1/x"));
    assert!(matches!(result, Err(Error::ApiStatus(e)) if e.status == 403));
    forbidden.assert_calls(1);
    assert_eq!(token_calls(&tokens), 1);
}

#[test]
fn a_one_shot_body_is_not_retried_but_its_token_is_dropped() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let upload = server.mock(|when, then| {
        when.method(POST).path("/v1/upload").body("payload");
        then.status(401);
    });
    let (client, source) = client(&server, TokenScheme::Bearer);
    let body = ureq::SendBody::from_owned_reader(Cursor::new(b"payload".to_vec()));
    let request = Request::post(server.url("/v1/upload")).body(body).unwrap();
    // ureq's default agent turns statuses into errors, and so does the client.
    assert!(matches!(
        client.run_once(request),
        Err(Error::ApiStatus(e)) if e.status == 401
    ));
    upload.assert_calls(1);
    assert_eq!(token_calls(&tokens), 1);
    assert_eq!(source.token().unwrap().access_token().secret(), "B");
    assert_eq!(token_calls(&tokens), 2);
}

#[test]
fn a_replayable_post_is_sent_again_with_its_body() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let with = |token: &'static str, status| {
        server.mock(move |when, then| {
            when.method(POST)
                .path("/v1/items")
                .header("authorization", token)
                .header("content-type", "application/json")
                .body(r#"{"n":1}"#);
            then.status(status);
        })
    };
    let (old, new) = (with("Bearer A", 401), with("Bearer B", 201));
    let (client, _) = client(&server, TokenScheme::Bearer);
    let request = Request::post(server.url("/v1/items"))
        .header("content-type", "application/json")
        .body(r#"{"n":1}"#)
        .unwrap();
    assert_eq!(client.run(request).unwrap().status(), 201);
    old.assert_calls(1);
    new.assert_calls(1);
    assert_eq!(token_calls(&tokens), 2);
}

#[test]
fn basic_is_never_retried() {
    let server = MockServer::start();
    let core = api(
        &server,
        "/core",
        ("authorization", "Basic aWQ6c2VjcmV0"),
        401,
    );
    let creds = Credentials::new("id", "secret").unwrap();
    let client = ApiClient::new(Auth::Basic(creds, BasicEncoding::Raw));
    let result = client.get_json::<Value>(&server.url("/core"));
    assert!(matches!(result, Err(Error::ApiStatus(e)) if e.status == 401));
    core.assert_calls(1);
}

#[test]
fn connect_token_is_never_sent_as_authorization() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let jobs = server.mock(|when, then| {
        when.method(GET)
            .path("/jobs")
            .header("x-connect-token", "TOKEN A")
            .header_missing("authorization");
        then.status(200).json_body(json!([]));
    });
    let (client, _) = client(&server, TokenScheme::ConnectToken);
    // Even an Authorization header the caller set is removed for this API.
    let request = Request::get(server.url("/jobs"))
        .header("authorization", "Bearer stray")
        .body(Vec::new())
        .unwrap();
    assert_eq!(client.run(request).unwrap().status(), 200);
    jobs.assert_calls(1);
    assert_eq!(token_calls(&tokens), 1);
}

#[test]
fn a_401_on_a_replaced_token_keeps_the_new_one() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let slow_reject = server.mock(|when, then| {
        when.method(GET)
            .path("/v1/x")
            .header("authorization", "Bearer A");
        then.status(401)
            .delay(std::time::Duration::from_millis(300));
    });
    let accept = api(&server, "/v1/x", ("authorization", "Bearer B"), 200);
    let (client, source) = client(&server, TokenScheme::Bearer);
    source.prefetch().unwrap();
    let url = server.url("/v1/x");
    let call = std::thread::spawn(move || client.get_json::<Value>(&url));
    // While the call with A is in flight, another thread replaces A with B.
    eventually(|| slow_reject.calls() == 1);
    source.invalidate();
    assert_eq!(source.token().unwrap().access_token().secret(), "B");
    // The 401 on A must not throw B away: the retry uses B, and no third token is fetched.
    assert_eq!(call.join().unwrap().unwrap(), json!({"for": "Bearer B"}));
    accept.assert_calls(1);
    assert_eq!(token_calls(&tokens), 2);
}

#[test]
fn middleware_injects_and_the_token_request_never_carries_the_api_header() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST)
            .path("/token")
            .header("authorization", "Basic aWQ6c2VjcmV0")
            .header_missing("x-connect-token");
        then.status(200).json_body(rfc_token("A", 3600));
    });
    let jobs = server.mock(|when, then| {
        when.method(GET)
            .path("/jobs")
            .header("x-connect-token", "TOKEN A");
        then.status(200).body("[]");
    });
    let creds = Credentials::new("id", "secret").unwrap();
    let config = TokenConfig::new(server.url("/token"), creds);
    let source = config.clone().build().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .middleware(Auth::Token(source.clone(), TokenScheme::ConnectToken))
        .build()
        .into();
    let mut response = agent.get(server.url("/jobs")).call().unwrap();
    assert_eq!(response.body_mut().read_to_string().unwrap(), "[]");
    jobs.assert_calls(1);
    token.assert_calls(1);
    // A source whose token requests go through that same agent: the middleware leaves
    // them alone (no API header, no recursion into the token endpoint).
    let through_agent = config.with_agent(agent).build().unwrap();
    assert_eq!(through_agent.token().unwrap().access_token().secret(), "A");
    token.assert_calls(2);
}

#[test]
fn my_connected_fleet_client_uses_each_apis_header() {
    let auth = MockServer::start();
    let token = auth.mock(|when, then| {
        when.method(POST).path("/masternauth-oauth/oauth/accessToken");
        then.status(200)
            .json_body(json!({"success": true, "accessToken": "T1", "token_type": "bearer", "expires_in": 2591999}));
    });
    let apis = MockServer::start();
    let base = "/connect-webservices/services/public/v1/customer/42";
    let live = api(
        &apis,
        &format!("{base}/tracking/live"),
        ("authorization", "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0"),
        200,
    );
    let tire = api(
        &apis,
        &format!("{base}/tire/events"),
        ("authorization", "Bearer T1"),
        200,
    );
    let jobs = apis.mock(|when, then| {
        when.method(GET)
            .path("/job-management/v1/customer/42/jobs")
            .header("x-connect-token", "TOKEN T1")
            .header_missing("authorization");
        then.status(200).json_body(json!([{"id": 1}]));
    });
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let client = my_connected_fleet::Client::new(creds.clone(), "42")
        .unwrap()
        .with_api_base_url(&apis.base_url())
        .with_token_source(
            my_connected_fleet::token_config_at(&auth.base_url(), creds)
                .build()
                .unwrap(),
        );
    let live_body: Value = client.tracking_live().unwrap();
    assert_eq!(
        live_body,
        json!({"for": "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0"})
    );
    let tire_body: Value = client.tire_events().unwrap();
    assert_eq!(tire_body, json!({"for": "Bearer T1"}));
    let jobs_body: Value = client.jobs().unwrap();
    assert_eq!(jobs_body, json!([{"id": 1}]));
    live.assert_calls(1);
    tire.assert_calls(1);
    jobs.assert_calls(1);
    token.assert_calls(1);
}

#[test]
fn motorweb_client_recovers_from_an_expired_token_fault() {
    let server = MockServer::start();
    let tokens = tokens_at(&server, "/auth/v1/token");
    let fault = server.mock(|when, then| {
        when.method(GET)
            .path("/market-data/v1/vehicles/plate/ABC123")
            .header("authorization", "Bearer A");
        then.status(401)
            .json_body(json!({"fault": {"faultstring": "Access Token expired",
            "detail": {"errorcode": "keymanagement.service.access_token_expired"}}}));
    });
    let vehicle = server.mock(|when, then| {
        when.method(GET)
            .path("/market-data/v1/vehicles/plate/ABC123")
            .header("authorization", "Bearer B");
        then.status(200)
            .json_body(json!({"plate": "ABC123", "make": "TOYOTA"}));
    });
    let client = motorweb::Client::at(
        &server.base_url(),
        Credentials::new("id", "secret").unwrap(),
    )
    .unwrap();
    let body: Value = client.vehicle_by_plate("ABC123").unwrap();
    assert_eq!(body["make"], "TOYOTA");
    fault.assert_calls(1);
    vehicle.assert_calls(1);
    assert_eq!(token_calls(&tokens), 2);
}

fn tokens_at<'a>(server: &'a MockServer, path: &str) -> [Mock<'a>; 2] {
    let a = server.mock(|when, then| {
        when.method(POST).path(path);
        then.status(200)
            .json_body(rfc_token("A", 3600))
            .up_to_n_times(1);
    });
    let b = server.mock(|when, then| {
        when.method(POST).path(path);
        then.status(200).json_body(rfc_token("B", 3600));
    });
    [a, b]
}

#[test]
fn ids_cannot_change_the_path() {
    let creds = Credentials::new("id", "secret").unwrap();
    for bad in ["../admin", "a/b", "", "..", "42?x=1", "4 2"] {
        assert!(
            matches!(
                my_connected_fleet::Client::new(creds.clone(), bad),
                Err(Error::Config(_))
            ),
            "{bad}"
        );
    }
    let client = motorweb::Client::at("http://127.0.0.1:9", creds).unwrap();
    assert!(matches!(
        client.vehicle_by_plate::<Value>("../x"),
        Err(Error::Config(_))
    ));
}

#[test]
fn per_request_settings_and_extensions_survive_the_retry() {
    let server = MockServer::start();
    let tokens = tokens_a_then_b(&server);
    let probe = |token: &'static str, status| {
        server.mock(move |when, then| {
            when.method(GET)
                .path("/v1/x")
                .header("user-agent", "probe/1")
                .header("authorization", format!("Bearer {token}"));
            then.status(status);
        })
    };
    let (old, new) = (probe("A", 401), probe("B", 204));
    let (client, _) = client(&server, TokenScheme::Bearer);
    let request = Request::get(server.url("/v1/x")).body(()).unwrap();
    let request = client
        .agent()
        .configure_request(request)
        .user_agent("probe/1")
        .build();
    let request = Request::from_parts(request.into_parts().0, Vec::<u8>::new());
    assert_eq!(client.run(request).unwrap().status(), 204);
    old.assert_calls(1);
    new.assert_calls(1);
    assert_eq!(token_calls(&tokens), 2);
}

#[test]
fn the_agents_status_setting_is_respected() {
    let server = MockServer::start();
    tokens_a_then_b(&server);
    let missing = api(&server, "/v1/x", ("authorization", "Bearer A"), 404);
    let (client, _) = client(&server, TokenScheme::Bearer);
    let get = || Request::get(server.url("/v1/x")).body(()).unwrap();
    assert!(matches!(client.run_once(get()), Err(Error::ApiStatus(e)) if e.status == 404));
    let lenient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let client = ApiClient::new_with_agent(lenient, client.auth().clone());
    assert_eq!(client.run_once(get()).unwrap().status(), 404);
    missing.assert_calls(2);
}

#[test]
fn an_api_that_always_answers_401_costs_a_token_request_per_backoff_not_per_call() {
    let server = MockServer::start();
    let tokens = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    });
    let refused = server.mock(|when, then| {
        when.method(GET).path("/v1/x");
        then.status(401)
            .json_body(json!({"status": "401", "message": "Bad Credentials"}));
    });
    let creds = Credentials::new("id", "secret").unwrap();
    let source = TokenConfig::new(server.url("/token"), creds)
        .with_test_clock(clock())
        .build()
        .unwrap();
    let client = ApiClient::new(Auth::Token(source.clone(), TokenScheme::Bearer));
    for _ in 0..50 {
        let answer = client.get_json::<Value>(&server.url("/v1/x"));
        assert!(matches!(answer, Err(Error::ApiStatus(e)) if e.status == 401));
    }
    // The first call: its token, then one new token for the retry, refused at once. The
    // other 49: the kept token, once each, no retry.
    tokens.assert_calls(2);
    refused.assert_calls(51);
    assert_eq!(source.stats().rejections, 1);
    // After the backoff, one more try with one more token, and a longer backoff.
    clock().advance(std::time::Duration::from_millis(1500));
    for _ in 0..10 {
        assert!(client.get_json::<Value>(&server.url("/v1/x")).is_err());
    }
    tokens.assert_calls(3);
    refused.assert_calls(62);
}

#[test]
fn spaced_401s_back_off_too() {
    let server = MockServer::start();
    let tokens = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("T", 3600));
    });
    server.mock(|when, then| {
        when.method(GET).path("/v1/x");
        then.status(401);
    });
    let creds = Credentials::new("id", "secret").unwrap();
    let source = TokenConfig::new(server.url("/token"), creds)
        .with_test_clock(clock())
        .build()
        .unwrap();
    let client = ApiClient::new(Auth::Token(source, TokenScheme::Bearer));
    // One call every 5 s for 10 minutes: the backoff grows to a minute and stays there.
    for _ in 0..120 {
        clock().advance(std::time::Duration::from_secs(5));
        assert!(client.get_json::<Value>(&server.url("/v1/x")).is_err());
    }
    let requests = tokens.calls();
    assert!(requests <= 16, "{requests}");
}

#[test]
fn an_answer_of_another_shape_names_the_url_and_serde_reason() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/counts");
        then.status(200).json_body(json!(["many"]));
    });
    let creds = Credentials::new("id", "secret").unwrap();
    let client = ApiClient::new(Auth::Basic(creds, BasicEncoding::Raw));
    let url = server.url("/v1/counts");
    let error = client
        .get_json::<Vec<u32>>(&format!("{url}?key=Q"))
        .unwrap_err();
    let Error::ApiBody { url: said, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(said, &url);
    assert_eq!(
        error.to_string(),
        format!("api {url} answered json of another shape")
    );
    let reason = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        reason,
        "invalid type: string \"many\", expected u32 at line 1 column 7"
    );
}
