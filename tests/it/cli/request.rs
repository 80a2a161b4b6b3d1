//! `apiauth request` against loopback stand-ins of the providers.

use std::io::Read;
use std::net::TcpStream;
use std::sync::mpsc;

use super::*;
use crate::fixture::Raw;

/// `apiauth request --provider generic` with a token from `token_url` and APIs at `base`.
fn request(token_url: &str, base: &str) -> String {
    format!("{} --api-base-url {base}", generic("request", token_url))
}

#[test]
fn motorweb_request_retries_once_with_a_new_token_after_a_401() {
    let (tokens, api) = (numbered_tokens(), TokenServer::start());
    let path = "/market-data/v1/vehicles/plate/ABC123";
    let answer = |token: &str, reply: &str| {
        let spec = format!("GET {path}; authorization: Bearer {token} => {reply}");
        api.answer(&spec)
    };
    let rejected = answer("T1", "401 invalid_access_token");
    let plate = r#"{"plate":"ABC123"}"#;
    let accepted = answer("T2", &format!("200 {plate}"));
    let user = User::new("request-motorweb", "wmUB6jn1", "mw-secret");
    let (token_url, base) = (tokens.url(), api.base_url());
    let args =
        format!("request --provider motorweb --token-url {token_url} --api-base-url {base} {path}");
    assert_eq!(user.ok(&args), plate);
    assert_eq!(tokens.hits(), 2);
    rejected.assert_calls(1);
    accepted.assert_calls(1);
    // The new token was cached: the next process sends it at once.
    assert_eq!(user.ok(&args), plate);
    assert_eq!(tokens.hits(), 2);
    accepted.assert_calls(2);
    rejected.assert_calls(1);
}

#[test]
fn data_from_stdin_is_sent_and_resent_on_the_retry() {
    let (tokens, api) = (numbered_tokens(), TokenServer::start());
    let body = "{\"name\":\"job 1\",\"bytes\":\"\u{e9}\\n\"}";
    let jobs = format!("POST /v1/jobs; body {body}; authorization: Bearer");
    let first = api.answer(&format!("{jobs} T1; content-type: application/json => 401"));
    let second = api.answer(&format!("{jobs} T2 => 201 created"));
    let user = User::new("request-stdin", "id", "secret");
    let common = request(tokens.url(), &api.base_url());
    let data = format!("{common} --data @- /v1/jobs");
    let out = run_with_stdin(&user, &data, body.as_bytes());
    let err = stderr(&out);
    let actual = (code(&out), out.stdout.as_slice());
    assert_eq!(actual, (Some(0), &b"created"[..]), "{err}");
    first.assert_calls(1);
    second.assert_calls(1);
    assert_eq!(tokens.hits(), 2);
    // --method and a Content-Type of the caller's own; a body over 10 MiB is refused.
    let put = api.answer("PUT /v1/jobs; content-type: text/plain; body x=1 => 200 put");
    let more = "-X|put|-H|Content-Type: text/plain|-d|x=1|/v1/jobs".split('|');
    assert_eq!(user.ok(&[argv(&common), more.collect()].concat()), "put");
    put.assert_calls(1);
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let out = run_with_stdin(&user, &data, &big);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(2));
    assert!(err.contains("larger than 10 MiB"), "{err}");
    assert_eq!(tokens.hits(), 2);
}

#[test]
fn my_connected_fleet_request_with_each_apis_header() {
    let (server, user) = start_as("request-mcf", "clientId", "clientSecret");
    let token = mcf_mock(&server);
    let prefix = "/connect-webservices/services/public/v1/customer/12345";
    let core = format!("GET {prefix}/tracking/live; authorization: {MCF_BASIC} => 200 live");
    let core = server.answer(&core);
    let bearer = format!("authorization: Bearer {MCF_TOKEN}");
    let tire = server.answer(&format!("GET {prefix}/tire/events; {bearer} => 200 tires"));
    let jobs = "GET /job-management/v1/customer/12345/jobs; !authorization";
    let spec = format!("{jobs}; x-connect-token: TOKEN {MCF_TOKEN} => 200 jobs");
    let jobs = server.answer(&spec);
    let base = server.base_url();
    let mcf =
        format!("request --provider my-connected-fleet --base-url {base} --api-base-url {base}");
    let request =
        |api: &str, path: &str| user.ok(&format!("{mcf} --api {api} --customer-id 12345 {path}"));
    let templated = "/connect-webservices/services/public/v1/customer/{customerId}";
    let live = request("core", &format!("{templated}/tracking/live"));
    assert_eq!(live, "live");
    token.assert_calls(0);
    let tires = request("smart-tire", &format!("{templated}/tire/events"));
    assert_eq!(tires, "tires");
    let jobs_path = "/job-management/v1/customer/{customerId}/jobs";
    assert_eq!(request("job-management", jobs_path), "jobs");
    let calls = [&core, &tire, &jobs, &token].map(|mock| mock.calls());
    assert_eq!(calls, [1, 1, 1, 1]);
    // A customer id that is not one plain path segment, or one without its placeholder.
    for (id, path) in [("../admin", jobs_path), ("1/2", jobs_path), ("12345", "/x")] {
        let tacho = "request --provider my-connected-fleet --api tacho --api-base-url";
        let out = user.run(&format!("{tacho} {base} --customer-id {id} {path}"));
        assert_eq!(code(&out), Some(2), "{id} {path}: {}", stderr(&out));
    }
    token.assert_calls(1);
}

#[test]
fn a_customer_id_and_its_placeholder_come_together() {
    let (server, user) = start("request-customer-id");
    let sent = server.any(200, json!({}));
    let base = server.base_url();
    let mcf = format!("request --provider my-connected-fleet --api tacho --base-url {base}");
    let placeholder = "the path has {customerId}: give --customer-id";
    let needs = "--customer-id needs {customerId} in the path";
    let takes = "--customer-id takes letters, digits, '-', '_' and '.' only";
    for (more, message) in [
        ("/v1/{customerId}/x", placeholder),
        ("--customer-id 7 /v1/x", needs),
        ("--customer-id a+b /v1/{customerId}", takes),
    ] {
        let out = user.run(&format!("{mcf} {more}"));
        let usage = format!("apiauth: {message} (see apiauth --help)\n");
        assert_eq!((code(&out), stderr(&out)), (Some(2), usage));
    }
    sent.assert_calls(0);
}

#[test]
fn a_non_2xx_answer_prints_its_body_and_exits_7() {
    let (server, user) = start("request-404");
    server.token("A", 3600);
    let missing = server.answer("* /v1/things/9 => 404 {\"error\":\"no such thing\"}");
    let base = server.base_url();
    let common = request(&server.token_url(), &base);
    let out = outcome(&user.run(&format!("{common} /v1/things/9")));
    // The method and the URL that answered: a wrong path shows at once.
    let answered = format!("apiauth: the API answered 404 Not Found to GET {base}/v1/things/9\n");
    let body = r#"{"error":"no such thing"}"#;
    assert_eq!(out, (Some(7), body.into(), answered));
    missing.assert_calls(1);
}

#[test]
fn include_prints_the_status_line_and_headers_first() {
    let (server, user) = start("request-include");
    server.token("A", 3600);
    server.answer("* /v1/ping => 200 pong; x-request-id: r-42");
    // A full URL, with the generic provider's --api-base-url on the same origin.
    let common = request(&server.token_url(), &server.base_url());
    let out = user.ok(&format!("{common} --include {}", server.url("/v1/ping")));
    let (head, body) = out.split_once("\n\n").unwrap();
    assert_eq!(body, "pong");
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"));
    let headers: Vec<_> = lines.collect();
    assert!(headers.contains(&"x-request-id: r-42"), "{headers:?}");
    assert!(headers.contains(&"content-length: 4"), "{headers:?}");
}

#[test]
fn refused_before_anything_is_sent() {
    let (server, other) = (TokenServer::start(), TokenServer::start());
    let (sent, elsewhere) = (server.any(200, json!({})), other.any(200, json!({})));
    let user = User::new("request-refused", "id", "secret");
    let base = server.base_url();
    let on_other_port = format!("{}/v1/x", base.replace(&server.port().to_string(), "1"));
    let common = argv(request(&server.token_url(), &base));
    let on_other = other.url("/v1/x");
    let table = format!(
        "-H|Host: other-tenant.example|/v1/x => refusing --header host
        -H|Authorization: Bearer hunter2|/v1/x => refusing --header authorization
        -H|X-Connect-Token: TOKEN hunter2|/v1/x => refusing --header x-connect-token
        -H|proxy-authorization: Basic hunter2|/v1/x => refusing --header proxy-authorization
        -H|COOKIE: session=hunter2|/v1/x => refusing --header cookie
        {on_other} => the URL is not on the API's origin
        {on_other_port} => the URL is not on the API's origin
        v1/x => the request target must be a path
        --customer-id|1|/v1/x => --customer-id applies only to"
    );
    let cr_lf = "-H|X-Note: a\r\nAuthorization: hunter2|/v1/x => --header refuses CR and LF";
    for row in table.lines().chain([cr_lf]) {
        let (more, message) = row.trim_start().split_once(" => ").unwrap();
        let out = user.run(&[&common[..], &more.split('|').collect::<Vec<_>>()].concat());
        let err = stderr(&out);
        assert_eq!(code(&out), Some(2), "{more:?}: {err}");
        assert!(err.starts_with(&format!("apiauth: {message}")), "{err}");
        assert!(!err.contains("hunter2") && out.stdout.is_empty(), "{err}");
    }
    // generic without --api-base-url cannot take a path.
    let without = user.run(&[&common[..5], &["/v1/x"]].concat());
    assert_eq!(code(&without), Some(2));
    sent.assert_calls(0);
    elsewhere.assert_calls(0);
}

#[test]
fn body_framing_headers_are_refused_before_anything_is_sent() {
    let (server, user) = start("request-framing");
    let sent = server.any(200, json!({}));
    let common = argv(request(&server.token_url(), &server.base_url()));
    for (header, name) in [
        ("Content-Length: 1", "content-length"),
        ("Transfer-Encoding: x", "transfer-encoding"),
    ] {
        let out = user.run(&[&common[..], &["-H", header, "-d", "x", "/v1/x"]].concat());
        let refused = stderr(&out).starts_with(&format!("apiauth: refusing --header {name}: "));
        assert_eq!((code(&out), refused), (Some(2), true));
    }
    sent.assert_calls(0);
}

#[test]
fn data_from_a_file_is_sent_as_json_and_a_missing_file_is_a_usage_error() {
    let (server, user) = start("request-data-file");
    server.token("A", 3600);
    let jobs =
        server.answer(r#"POST /v1/jobs; content-type: application/json; body {"n":1} => 201 made"#);
    fs::write(user.home.join("body.json"), r#"{"n":1}"#).unwrap();
    let common = request(&server.token_url(), &server.base_url());
    let data = |file: &str| format!("{common} -d @{}/{file} /v1/jobs", user.home.display());
    assert_eq!(user.ok(&data("body.json")), "made");
    let out = user.run(&data("missing"));
    let unread = stderr(&out).starts_with("apiauth: --data: cannot read the body: ");
    assert_eq!((code(&out), unread, jobs.calls()), (Some(2), true, 1));
}

#[test]
fn my_connected_fleet_base_url_moves_the_apis_with_the_token_endpoint() {
    let (server, user) = start_as("request-mcf-base", "clientId", "clientSecret");
    let token = mcf_mock(&server);
    let api = format!("* /tacho/v1/x; authorization: Bearer {MCF_TOKEN} => 200 here");
    let api = server.answer(&api);
    let base = server.base_url();
    let args =
        format!("request --provider my-connected-fleet --api tacho --base-url {base} /tacho/v1/x");
    assert_eq!(user.ok(&args), "here");
    token.assert_calls(1);
    api.assert_calls(1);
}

#[test]
fn a_proxy_in_the_environment_never_carries_a_loopback_request() {
    let (proxy, seen) = crate::fixture::logging_proxy();
    let tokens = numbered_tokens();
    let api = Server::start(|_| crate::fixture::reply(200, "{}"));
    let base = api.url().trim_end_matches("/token").to_owned();
    for (n, variable) in crate::fixture::PROXY_VARIABLES.into_iter().enumerate() {
        let user = User::new("request-proxy", "id", "secret").with_env(variable, &proxy);
        let answer = user.ok(&format!("{} /v1/x", request(tokens.url(), &base)));
        assert_eq!(answer, "{}", "{variable}");
        assert_eq!(seen.lock().unwrap().len(), 0, "{variable}");
        assert_eq!((tokens.hits(), api.hits()), (n + 1, n + 1), "{variable}");
    }
}

#[test]
fn a_401_to_basic_says_the_api_refused_the_credentials_and_exits_3() {
    let (server, user) = start_as("request-core-401", "clientId", "clientSecret");
    let core = format!("* /v1/core; authorization: {MCF_BASIC} => 401 bad credentials");
    let core = server.answer(&core);
    let base = server.base_url();
    let mcf = "request --provider my-connected-fleet --api core";
    let out = outcome(&user.run(&format!("{mcf} --api-base-url {base} /v1/core?x=1")));
    let refused = format!(
        "apiauth: the API refused the credentials: 401 Unauthorized to GET {base}/v1/core; \
         check APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET\n"
    );
    assert_eq!(out, (Some(3), "bad credentials".into(), refused));
    core.assert_calls(1);
}

#[test]
fn a_path_without_an_api_base_url_names_the_provider_in_use() {
    let (server, user) = start("request-no-api-base");
    let sent = server.any(200, json!({}));
    let url = server.token_url();
    let motorweb = format!("request --provider motorweb --token-url {url} /v1/x");
    let out = outcome(&user.run(&motorweb));
    let motorweb = "apiauth: a path needs --api-base-url (or --env or --base-url) with --provider \
                    motorweb (see apiauth --help)\n";
    assert_eq!(out, (Some(2), String::new(), motorweb.into()));
    let message =
        "apiauth: a path needs --api-base-url with --provider generic (see apiauth --help)\n";
    let actual = stderr(&user.run(&format!("{} /v1/x", generic("request", &url))));
    assert_eq!(actual, message);
    sent.assert_calls(0);
}

#[test]
fn timeout_bounds_each_phase_of_the_api_call_too() {
    let (server, user) = start("request-api-timeout");
    let token = server.token("A", 3600);
    let silent = crate::fixture::silent();
    let base = silent.url().trim_end_matches("/token").to_owned();
    let common = request(&server.token_url(), &base);
    let out = outcome(&user.run_within_20s(&format!("{common} --timeout 0.3 /v1/x")));
    let timed_out =
        format!("apiauth: could not reach the API for GET {base}/v1/x: timed out after 300ms\n");
    assert_eq!(out, (Some(4), String::new(), timed_out));
    token.assert_calls(1);
}

#[test]
fn an_api_that_cannot_be_reached_is_named_with_the_method() {
    let (server, user) = start("request-unreachable");
    let token = server.token("A", 3600);
    let closed = closed_url("");
    let common = request(&server.token_url(), &closed);
    let out = outcome(&user.run(&format!("{common} -XDELETE /v1/x?key=Zq7PROBE")));
    let unreachable =
        format!("apiauth: could not reach the API for DELETE {closed}/v1/x: connection refused\n");
    assert_eq!(out, (Some(4), String::new(), unreachable));
    token.assert_calls(1);
}

// `apiauth request`'s answer: streamed to stdout as it arrives, and bounded as a whole by
// `--max-time`.

/// An API on loopback that lets `answer` write the answer of each request on its stream;
/// its base URL.
fn raw_api(answer: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> (Raw, String) {
    let api = Raw::start(move |_, mut stream, _| answer(&mut stream));
    let base = api.url().trim_end_matches("/token").to_owned();
    (api, base)
}

fn request_args(token_url: &str, base: &str, more: &str) -> String {
    let common = format!("request --provider generic --no-cache --token-url {token_url}");
    format!("{common} --api-base-url {base} {more}/v1/answer")
}

#[test]
fn the_body_reaches_stdout_as_it_arrives() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let (read_first, go) = mpsc::channel::<()>();
    let go = Mutex::new(go);
    let (_api, base) = raw_api(move |stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart1";
        stream.write_all(head.as_bytes()).unwrap();
        // The rest only once the test has read the first part from the command's stdout;
        // if it never does, the answer is cut short and the command fails.
        let went = go.lock().unwrap().recv_timeout(Duration::from_secs(20));
        if went.is_ok() {
            let _ = stream.write_all(b"part2");
        }
    });
    let user = User::new("request-stream", "id", "secret");
    let mut child = user.spawn(&request_args(&server.token_url(), &base, ""));
    let mut first = [0; 5];
    let stdout = child.stdout.as_mut().unwrap();
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"part1");
    read_first.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"part2");
}

#[test]
fn max_time_bounds_a_trickling_answer() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let (_api, base) = raw_api(|stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        // One byte at a time, each well within --timeout, until the command hangs up.
        while stream.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let user = User::new("request-max-time", "id", "secret");
    let args = request_args(&server.token_url(), &base, "--timeout 5 --max-time 1 ");
    let out = user.run_within_20s(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let cut =
        format!("could not read the answer of the API at {base}: --max-time ran out after 1 s");
    assert_eq!(err, format!("apiauth: {cut}\n"));
    assert!(!out.stdout.is_empty() && out.stdout.iter().all(|b| *b == b'x'));
}
