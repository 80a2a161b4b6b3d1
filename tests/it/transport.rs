//! One transport rule (issue 20): the caller's agent for token requests too, https or
//! loopback only, no userinfo, scrubbed server text, errors that name side, URL and cause.

use std::time::Duration;

use apiauth::TokenScheme::Bearer;
use apiauth::providers::my_connected_fleet::Api;
use apiauth::{ApiClient, Auth, BasicEncoding, Cause, Credentials, Error, Side, TokenConfig};
use serde_json::{Value, json};
use ureq::Agent;

use crate::fixture::{
    PROXY_VARIABLES, Raw, TokenServer, api_status, closed_url, config_error, fleet_get, mcf_at,
    mcf_token, motorweb_at, refused, reply, respond, rfc_token, transport,
};
use crate::server::Server;

const AGENT: &str = "apiauth-test-agent/7";
const SECRET: &str = "s3cr3t:+ &é";

fn agent() -> Agent {
    Agent::config_builder().user_agent(AGENT).build().into()
}

fn creds() -> Credentials {
    Credentials::new("id", SECRET).unwrap()
}

fn basic() -> ApiClient {
    ApiClient::new(Auth::Basic(creds(), BasicEncoding::Raw))
}

#[test]
fn the_callers_agent_reaches_motorweb_token_requests_and_api_calls() {
    let server = TokenServer::start();
    let token = format!("POST /auth/v1/token; user-agent: {AGENT} => 200");
    let token = server.answer(&format!("{token} {}", rfc_token("T", 3600)));
    let api = "* /market-data/v1/vehicles/plate/ABC; authorization: Bearer T";
    let api = format!(r#"{api}; user-agent: {AGENT} => 200 {{"ok":true}}"#);
    let api = server.answer(&api);
    let source = motorweb_at(&server.base_url(), creds()).with_agent(agent());
    let source = source.build().unwrap();
    let client = ApiClient::new_with_agent(agent(), Auth::Token(source.clone(), Bearer));
    let plate = server.url("/market-data/v1/vehicles/plate/ABC");
    let answer = client.get_json::<Value>(&plate).unwrap();
    assert_eq!(answer, json!({"ok": true}));
    assert_eq!((token.calls(), api.calls()), (1, 1));
    assert_eq!(source.stats().fetches, 1);
}

#[test]
fn the_callers_agent_reaches_my_connected_fleet_token_requests_and_api_calls() {
    let server = TokenServer::start();
    let token = format!("POST /masternauth-oauth/oauth/accessToken; user-agent: {AGENT}");
    let token = server.answer(&format!("{token} => 200 {}", mcf_token("T", 3600)));
    let jobs = "* /job-management/v1/customer/42/jobs; x-connect-token: TOKEN T";
    let jobs = server.answer(&format!("{jobs}; user-agent: {AGENT} => 200 []"));
    let base = server.base_url();
    let source = mcf_at(&base, creds()).with_agent(agent()).build().unwrap();
    let auth = Api::JobManagement.auth(&creds(), &source);
    let client = ApiClient::new_with_agent(agent(), auth);
    let jobs_url = format!("{base}/job-management/v1/customer/42/jobs");
    assert_eq!(client.get_json::<Value>(&jobs_url).unwrap(), json!([]));
    assert_eq!((token.calls(), jobs.calls()), (1, 1));
    assert_eq!(source.stats().fetches, 1);
}

#[test]
fn a_plain_http_api_base_that_is_not_loopback_is_refused_before_anything_is_sent() {
    let server = TokenServer::start();
    let token = server.any(200, rfc_token("T", 3600));
    let base = server.base_url();
    let source = mcf_at(&base, creds()).build().unwrap();
    // Refused at the call, before the token is fetched or a name resolved.
    let api = "http://api.invalid:8080";
    let jobs = fleet_get(Api::JobManagement, (&creds(), &source), api, "/v1/jobs");
    let refusal = "invalid configuration: api url \"http://api.invalid:8080/v1/jobs\" must be \
                   https (plain http only to loopback, or with insecure http allowed)";
    assert_eq!(jobs.unwrap_err().to_string(), refusal);
    config_error(fleet_get(Api::Core, (&creds(), &source), api, "/v1/live"));
    let request = ureq::http::Request::get("http://api.invalid/v1").body(Vec::new());
    config_error(basic().run(request.unwrap()));
    assert_eq!(token.calls(), 0);
}

#[test]
fn a_password_holding_hash_at_slash_or_question_mark_is_refused() {
    let server = TokenServer::start();
    let any = server.any(200, rfc_token("T", 3600));
    for password in ["p#ss", "p@ss", "p/ss", "p?ss"] {
        let port = server.port();
        let url = format!("http://127.0.0.1:{password}@127.0.0.1:{port}/token");
        let config = TokenConfig::new(&url, creds());
        assert!(!format!("{config:?}").contains("ss"), "{config:?}");
        let error = config_error(config.build());
        assert!(!error.contains(password), "{error}");
        config_error(basic().get_json::<Value>(&url));
    }
    assert_eq!(any.calls(), 0);
}

/// A token endpoint that puts the form body it got into `error_description`.
fn echoing_endpoint() -> String {
    let server = Raw::start(|_, stream, request| {
        let body = request.split_once("\r\n\r\n").unwrap().1;
        let answer = json!({"error": "invalid_request", "error_description": body,
                            "error_uri": format!("https://e.example/?{body}")});
        let head =
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close";
        respond(&stream, head, &answer.to_string());
    });
    server.url().strip_suffix("/token").unwrap().to_owned()
}

#[cfg(unix)]
#[test]
fn an_endpoint_echoing_the_form_never_gets_the_secret_into_errors_or_files() {
    let capture = crate::logs::capture();
    let base = echoing_endpoint();
    let dir = crate::fixture::temp_dir("echo-secret");
    let cache = apiauth::DiskCache::open(dir.join("apiauth")).unwrap();
    let config = motorweb_at(&base, creds()).with_disk_cache(cache);
    let error = config.build().unwrap().token().unwrap_err();
    let Error::EndpointRefused(details) = &error else {
        panic!("{error:?}")
    };
    let description = details.description.as_deref().unwrap();
    let redacted = description.contains("client_secret=[redacted]");
    assert!(redacted, "{description}");
    let encoded = "s3cr3t%3A%2B+%26%C3%A9";
    for text in [error.to_string(), format!("{error:?}")] {
        for secret in [SECRET, encoded, "s3cr3t"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    let files: Vec<_> = std::fs::read_dir(dir.join("apiauth")).unwrap().collect();
    for entry in &files {
        let bytes = std::fs::read(entry.as_ref().unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert!(!files.is_empty(), "the failure record is written");
    // Nor into a log record (the failed request is logged at warn, with the error's text).
    let lines = capture.0.lock().unwrap().clone();
    let redacted = lines.iter().any(|l| l.contains("client_secret=[redacted]"));
    assert!(redacted, "{lines:#?}");
    for line in &lines {
        assert!(!line.contains(SECRET) && !line.contains(encoded), "{line}");
    }
}

#[test]
fn a_redirect_naming_a_user_and_password_reaches_job_management_with_the_token_only() {
    let server = TokenServer::at("/masternauth-oauth/oauth/accessToken");
    server.json(200, mcf_token("T", 3600));
    let moved = format!("http://user:pw@127.0.0.1:{}/moved", server.port());
    let spec = format!("* /job-management/v1/customer/42/jobs => 302; location: {moved}");
    let first = server.answer(&spec);
    let clean = server.answer("* /moved; x-connect-token: TOKEN T; !authorization => 200 []");
    let base = server.base_url();
    let source = mcf_at(&base, creds()).build().unwrap();
    let path = "/job-management/v1/customer/42/jobs";
    let jobs = fleet_get(Api::JobManagement, (&creds(), &source), &base, path);
    assert_eq!(jobs.unwrap(), json!([]));
    assert_eq!((first.calls(), clean.calls()), (1, 1));
}

#[test]
fn each_error_names_its_side_url_and_cause() {
    // Token side: a doubled path's 404 names the URL.
    let server = TokenServer::start();
    server.answer(r#"* /token/token => 404 {"error":"not_found"}"#);
    let url = server.url("/token/token");
    let config = TokenConfig::new(format!("{url}?x=1"), creds());
    let error = config.build().unwrap().token().unwrap_err();
    let message = format!("token endpoint {url} returned 404: not_found");
    assert_eq!(error.to_string(), message);

    // Token side: the caller's agent's shorter limit wins, and is named.
    let silent = crate::fixture::silent();
    let silent_url = silent.url();
    let limit = Some(Duration::from_millis(150));
    let quick = Agent::config_builder().timeout_recv_response(limit);
    let quick: Agent = quick.build().into();
    let config = TokenConfig::new(silent_url, creds()).with_agent(quick);
    let e = transport(config.build().unwrap().token());
    let expected = (Side::TokenEndpoint, Cause::TimedOut { after: limit });
    assert_eq!((e.side, e.cause), expected);
    let message = format!("could not reach the token endpoint {silent_url}: timed out after 150ms");
    assert_eq!(e.to_string(), message);

    // API side: refused connection.
    let closed_url = closed_url("/v1/x");
    let e = transport(basic().get_json::<Value>(&closed_url));
    let message = format!("could not reach the api {closed_url}: connection refused");
    assert_eq!(e.to_string(), message);
    let io = std::io::Error::from(Error::Transport(e));
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn api_statuses_keep_the_url_and_the_start_of_the_body_on_the_default_agent() {
    let server = TokenServer::start();
    let answer = |path: &str, status: u16, body: &[u8]| {
        server.mock(|when, then| {
            when.path(path);
            then.status(status).body(body);
        })
    };
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("id:{SECRET}"));
    let missing = format!("no such thing; you sent {SECRET} as {encoded}");
    answer("/v1/missing", 404, missing.as_bytes());
    answer("/v1/long", 500, "x".repeat(10_000).as_bytes());
    answer("/v1/big", 200, &vec![b' '; 10 * 1024 * 1024 + 1]);
    let url = server.url("/v1/missing");
    let e = api_status(basic().get_json::<Value>(&format!("{url}?q=1")));
    let redacted = "no such thing; you sent [redacted] as [redacted]";
    let expected = (404, url.as_str(), redacted);
    assert_eq!((e.status, e.url.as_str(), e.body.as_str()), expected);
    let message = format!("api GET {url} returned 404 ({redacted})");
    assert_eq!(e.to_string(), message);
    let long = api_status(basic().get_json::<Value>(&server.url("/v1/long")));
    assert_eq!(long.body.len(), 4096);
    let big = server.url("/v1/big");
    let e = transport(basic().get_json::<Value>(&big));
    let message = format!("api {big} sent an answer larger than 10 MiB");
    assert_eq!(e.to_string(), message);
}

#[test]
fn loose_retry_after_values_are_no_value_and_long_ones_are_capped() {
    let (hour, secs) = (Some(Duration::from_secs(3600)), Duration::from_secs);
    for (value, expected) in [
        ("+120", None),
        ("99999999999999999999", hour),
        ("Sun, 06 Nov 2094 08:49:37 PST", None),
        ("Sun, 06 Nov 2094 08:49:37 GMT", hour),
        ("120", Some(secs(120))),
    ] {
        let server = TokenServer::start();
        let body = r#"{"error":"slow_down"}"#;
        let json = ("content-type", "application/json");
        server.reply_with(429, &[("retry-after", value), json], body);
        let config = TokenConfig::new(server.token_url(), creds());
        let details = refused(config.build().unwrap().token());
        assert_eq!(details.retry_after, expected, "{value}");
    }
}

#[test]
fn a_secret_the_length_cap_would_split_is_still_scrubbed() {
    // The token endpoint's text: the secret (form-encoded) starts just before the 256
    // characters an error keeps; the API's body: the token starts just before its 4 KiB.
    let server = TokenServer::at("/auth/v1/token");
    let echoed = format!("{}client_secret=s3cr3t%3A%2B+%26%C3%A9", "A".repeat(230));
    let refusal = json!({"error": "invalid_request", "error_description": echoed});
    server.json(400, refusal);
    let source = motorweb_at(&server.base_url(), creds()).build().unwrap();
    let error = source.token().unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("client_secret=[redacted]"), "{text}");
    }

    let api = TokenServer::start();
    api.token("TOKEN-AT-THE-EDGE", 3600);
    let body = format!("{}TOKEN-AT-THE-EDGE", "B".repeat(4090));
    api.answer(&format!("GET /v1/x => 403 {body}"));
    let source = TokenConfig::new(api.token_url(), creds()).build().unwrap();
    let client = ApiClient::new(Auth::Token(source, Bearer));
    let status = api_status(client.get_json::<Value>(&api.url("/v1/x")));
    let end = &status.body[4000..];
    assert!(!status.body.contains("TOKEN-AT"), "{end}");
    assert!(status.body.len() <= 4096);
}

/// Issue 30: a proxy in the environment never carries a loopback request. Environment
/// variables are the process's, so the requests are made by a child process (this test
/// binary running this test alone, with a proxy variable set and the servers' URLs); the
/// parent holds the servers and the logging proxy, and counts.
#[test]
fn no_proxy_carries_a_loopback_request_whatever_the_agent() {
    if let Ok(urls) = std::env::var("APIAUTH_TEST_URLS") {
        let (token_url, api_url) = urls.split_once(' ').unwrap();
        return requests_through_every_agent(token_url, api_url);
    }
    let (proxy, seen) = crate::fixture::logging_proxy();
    let tokens = Server::start(|_| reply(200, rfc_token("T", 3600)));
    let api = Server::start(|_| reply(200, "{}"));
    let this = "transport::no_proxy_carries_a_loopback_request_whatever_the_agent";
    for (n, variable) in PROXY_VARIABLES.into_iter().enumerate() {
        let urls = format!("{} {}", tokens.url(), api.url());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        let child = child.args([this, "--exact", "--test-threads=1"]);
        let child = child.env_clear();
        let child = child.env(variable, &proxy).env("APIAUTH_TEST_URLS", urls);
        let child = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        let stderr = String::from_utf8_lossy(&child.stderr);
        assert!(child.status.success(), "{variable}: {stdout}{stderr}");
        assert!(stdout.contains("1 passed"), "{variable}: {stdout}");
        assert_eq!(seen.lock().unwrap().len(), 0, "{variable}");
        // Two token requests and three API calls per child.
        assert_eq!((tokens.hits(), api.hits()), (2 * (n + 1), 3 * (n + 1)));
    }
}

/// A token through apiauth's agent and one through the caller's; an API call through
/// `ApiClient` on the caller's agent and on the default one, and one through the `Auth`
/// middleware.
fn requests_through_every_agent(token_url: &str, api_url: &str) {
    let callers: Agent = apiauth::agent_config().build().into();
    let own = TokenConfig::new(token_url, creds()).build().unwrap();
    let theirs = TokenConfig::new(token_url, creds()).with_agent(callers.clone());
    let theirs = theirs.build().unwrap();
    assert_eq!(own.token().unwrap().access_token().secret(), "T");
    assert_eq!(theirs.token().unwrap().access_token().secret(), "T");
    let client = ApiClient::new_with_agent(callers, Auth::Token(theirs, Bearer));
    client.get_json::<Value>(api_url).unwrap();
    basic().get_json::<Value>(api_url).unwrap();
    let middleware = apiauth::agent_config().middleware(Auth::Token(own, Bearer));
    let middleware: Agent = middleware.build().into();
    assert_eq!(middleware.get(api_url).call().unwrap().status(), 200);
}

/// Every way of writing this host goes direct: an https request to it never reaches the
/// agent's proxy (which would connect to its own loopback).
#[test]
fn loopback_however_written_never_goes_through_a_proxy() {
    let (proxy, seen) = crate::fixture::logging_proxy();
    let proxy = ureq::Proxy::new(&proxy).unwrap();
    let agent: Agent = (apiauth::agent_config().proxy(Some(proxy)).build()).into();
    for url in [
        "https://localhost.:9/token",
        "https://[::ffff:127.0.0.1]:9/token",
        "https://0.0.0.0:9/token",
    ] {
        let source = TokenConfig::new(url, creds()).with_agent(agent.clone());
        transport(source.build().unwrap().token());
        assert_eq!(seen.lock().unwrap().len(), 0, "{url}");
    }
    // Forms only a resolver reads as an address are refused before anything is sent.
    config_error(TokenConfig::new("https://127.1:9/token", creds()).build());
}
