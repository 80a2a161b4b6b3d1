//! `apiauth request`, `apiauth cache list/clear` and `-v`, run as processes against loopback
//! stand-ins of the providers.

use std::fs;
use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpmock::Method::{GET, POST, PUT};
use httpmock::MockServer;

use crate::cli::{MCF_BASIC, MCF_TOKEN, User, any_token, mcf_mock, stderr, unix_seconds};
use crate::server::{Reply, Server};
use crate::support::rfc_token;

/// A token endpoint that hands out `T1`, then `T2`, … (one an hour).
fn numbered_tokens() -> Server {
    Server::start(|n| Reply {
        status: 200,
        body: rfc_token(&format!("T{}", n + 1), 3600).to_string(),
        delay: Duration::ZERO,
    })
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Runs `args` with `stdin` on the command's standard input.
fn run_with_stdin(user: &User, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = user
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn motorweb_request_retries_once_with_a_new_token_after_a_401() {
    let tokens = numbered_tokens();
    let api = MockServer::start();
    let path = "/market-data/v1/vehicles/plate/ABC123";
    let rejected = api.mock(|when, then| {
        when.method(GET)
            .path(path)
            .header("authorization", "Bearer T1");
        then.status(401).body("invalid_access_token");
    });
    let accepted = api.mock(|when, then| {
        when.method(GET)
            .path(path)
            .header("authorization", "Bearer T2");
        then.status(200).body(r#"{"plate":"ABC123"}"#);
    });
    let user = User::new("request-motorweb", "wmUB6jn1", "mw-secret");
    let base = api.base_url();
    let args = [
        "request",
        "--provider",
        "motorweb",
        "--token-url",
        tokens.url(),
        "--api-base-url",
        &base,
        path,
    ];
    assert_eq!(user.ok(&args), r#"{"plate":"ABC123"}"#);
    assert_eq!(tokens.hits(), 2);
    rejected.assert_calls(1);
    accepted.assert_calls(1);
    // The new token was cached: the next process sends it at once.
    assert_eq!(user.ok(&args), r#"{"plate":"ABC123"}"#);
    assert_eq!(tokens.hits(), 2);
    accepted.assert_calls(2);
    rejected.assert_calls(1);
}

#[test]
fn data_from_stdin_is_sent_and_resent_on_the_retry() {
    let tokens = numbered_tokens();
    let api = MockServer::start();
    let body = "{\"name\":\"job 1\",\"bytes\":\"\u{e9}\\n\"}";
    let first = api.mock(|when, then| {
        when.method(POST)
            .path("/v1/jobs")
            .header("authorization", "Bearer T1")
            .header("content-type", "application/json")
            .body(body);
        then.status(401);
    });
    let second = api.mock(|when, then| {
        when.method(POST)
            .path("/v1/jobs")
            .header("authorization", "Bearer T2")
            .body(body);
        then.status(201).body("created");
    });
    let user = User::new("request-stdin", "id", "secret");
    let base = api.base_url();
    let args = [
        "request",
        "--provider",
        "generic",
        "--token-url",
        tokens.url(),
        "--api-base-url",
        &base,
        "--data",
        "@-",
        "/v1/jobs",
    ];
    let out = run_with_stdin(&user, &args, body.as_bytes());
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"created");
    first.assert_calls(1);
    second.assert_calls(1);
    assert_eq!(tokens.hits(), 2);

    // --method and a Content-Type of the caller's own; a body over 10 MiB is refused.
    let put = api.mock(|when, then| {
        when.method(PUT)
            .path("/v1/jobs")
            .header("content-type", "text/plain")
            .body("x=1");
        then.status(200).body("put");
    });
    let more = ["-X", "put", "-H", "Content-Type: text/plain", "-d", "x=1"];
    let args_put = [&args[..7], &more[..], &["/v1/jobs"]].concat();
    assert_eq!(user.ok(&args_put), "put");
    put.assert_calls(1);
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let out = run_with_stdin(&user, &args, &big);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("larger than 10 MiB"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tokens.hits(), 2);
}

#[test]
fn my_connected_fleet_request_with_each_apis_header() {
    let server = MockServer::start();
    let token = mcf_mock(&server);
    let prefix = "/connect-webservices/services/public/v1/customer/12345";
    let core = server.mock(|when, then| {
        when.method(GET)
            .path(format!("{prefix}/tracking/live"))
            .header("authorization", MCF_BASIC);
        then.status(200).body("live");
    });
    let tire = server.mock(|when, then| {
        when.method(GET)
            .path(format!("{prefix}/tire/events"))
            .header("authorization", format!("Bearer {MCF_TOKEN}"));
        then.status(200).body("tires");
    });
    let jobs = server.mock(|when, then| {
        when.method(GET)
            .path("/job-management/v1/customer/12345/jobs")
            .header("x-connect-token", format!("TOKEN {MCF_TOKEN}"))
            .header_missing("authorization");
        then.status(200).body("jobs");
    });
    let user = User::new("request-mcf", "clientId", "clientSecret");
    let base = server.base_url();
    let request = |api: &str, path: &str| {
        let args = ["request", "--provider", "my-connected-fleet", "--api", api];
        let more = ["--base-url", &base, "--api-base-url", &base];
        user.ok(&[&args[..], &more, &["--customer-id", "12345", path]].concat())
    };
    let templated = "/connect-webservices/services/public/v1/customer/{customerId}";
    assert_eq!(
        request("core", &format!("{templated}/tracking/live")),
        "live"
    );
    token.assert_calls(0);
    assert_eq!(
        request("smart-tire", &format!("{templated}/tire/events")),
        "tires"
    );
    let jobs_path = "/job-management/v1/customer/{customerId}/jobs";
    assert_eq!(request("job-management", jobs_path), "jobs");
    core.assert_calls(1);
    tire.assert_calls(1);
    jobs.assert_calls(1);
    token.assert_calls(1);

    // A customer id that is not one plain path segment, or one without its placeholder.
    for (id, path) in [("../admin", jobs_path), ("1/2", jobs_path), ("12345", "/x")] {
        let args = [
            "request",
            "--provider",
            "my-connected-fleet",
            "--api",
            "tacho",
        ];
        let more = ["--api-base-url", &base, "--customer-id", id, path];
        let out = user.run(&[&args[..], &more].concat());
        assert_eq!(code(&out), Some(2), "{id} {path}: {}", stderr(&out));
    }
    token.assert_calls(1);
}

#[test]
fn a_non_2xx_answer_prints_its_body_and_exits_7() {
    let server = MockServer::start();
    any_token(&server, "A");
    let missing = server.mock(|when, then| {
        when.path("/v1/things/9");
        then.status(404).body("{\"error\":\"no such thing\"}");
    });
    let user = User::new("request-404", "id", "secret");
    let token_url = server.url("/token");
    let base = server.base_url();
    let args = [
        "request",
        "--provider",
        "generic",
        "--token-url",
        &token_url,
        "--api-base-url",
        &base,
        "/v1/things/9",
    ];
    let out = user.run(&args);
    assert_eq!(code(&out), Some(7));
    assert_eq!(out.stdout, b"{\"error\":\"no such thing\"}");
    assert_eq!(stderr(&out), "apiauth: the API answered 404 Not Found\n");
    missing.assert_calls(1);
}

#[test]
fn include_prints_the_status_line_and_headers_first() {
    let server = MockServer::start();
    any_token(&server, "A");
    server.mock(|when, then| {
        when.path("/v1/ping");
        then.status(200).header("x-request-id", "r-42").body("pong");
    });
    let user = User::new("request-include", "id", "secret");
    let token_url = server.url("/token");
    let url = server.url("/v1/ping");
    // A full URL, with the generic provider's --api-base-url on the same origin.
    let base = server.base_url();
    let args = [
        "request",
        "--provider",
        "generic",
        "--token-url",
        &token_url,
        "--api-base-url",
        &base,
        "--include",
        &url,
    ];
    let out = user.ok(&args);
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
    let server = MockServer::start();
    let token = any_token(&server, "A");
    let api = server.mock(|when, then| {
        when.path_includes("/v1");
        then.status(200).body("sent");
    });
    let other = MockServer::start();
    let elsewhere = other.mock(|when, then| {
        when.any_request();
        then.status(200).body("sent elsewhere");
    });
    let user = User::new("request-refused", "id", "secret");
    let token_url = server.url("/token");
    let base = server.base_url();
    let on_other = other.url("/v1/x");
    let same_host_other_port = base.replace(&server.port().to_string(), "1");
    let common = [
        "request",
        "--provider",
        "generic",
        "--token-url",
        &token_url,
        "--api-base-url",
        &base,
    ];
    let cases: [(&[&str], &str); 10] = [
        (
            &["-H", "Host: other-tenant.example", "/v1/x"],
            "refusing --header host",
        ),
        (
            &["-H", "Authorization: Bearer hunter2", "/v1/x"],
            "refusing --header authorization",
        ),
        (
            &["-H", "X-Connect-Token: TOKEN hunter2", "/v1/x"],
            "refusing --header x-connect-token",
        ),
        (
            &["-H", "proxy-authorization: Basic hunter2", "/v1/x"],
            "refusing --header proxy-authorization",
        ),
        (
            &["-H", "COOKIE: session=hunter2", "/v1/x"],
            "refusing --header cookie",
        ),
        (
            &["-H", "X-Note: a\r\nAuthorization: hunter2", "/v1/x"],
            "--header refuses CR and LF",
        ),
        (&[&on_other], "the URL is not on the API's origin"),
        (
            &[&format!("{same_host_other_port}/v1/x")],
            "the URL is not on the API's origin",
        ),
        (&["v1/x"], "the request target must be a path"),
        (
            &["--customer-id", "1", "/v1/x"],
            "--customer-id applies only to",
        ),
    ];
    for (more, message) in cases {
        let out = user.run(&[&common[..], more].concat());
        let err = stderr(&out);
        assert_eq!(code(&out), Some(2), "{more:?}: {err}");
        assert!(err.starts_with(&format!("apiauth: {message}")), "{err}");
        assert!(!err.contains("hunter2") && out.stdout.is_empty(), "{err}");
    }
    // generic without --api-base-url cannot take a path.
    let out = user.run(&[&common[..5], &["/v1/x"]].concat());
    assert_eq!(code(&out), Some(2));
    token.assert_calls(0);
    api.assert_calls(0);
    elsewhere.assert_calls(0);
}

/// The `cache list` lines with the timestamp (4th field) checked and replaced by `<at>`.
fn listed(user: &User) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = user.ok(&["cache", "list"]);
    out.lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 5, "{line}");
            let at = unix_seconds(fields[3]).unwrap_or_else(|| panic!("{line}"));
            assert!(at.abs_diff(now + 3600) <= 5, "{line}");
            fields[3] = "<at>";
            fields.join(" ") + "\n"
        })
        .collect()
}

#[test]
fn cache_list_and_clear() {
    let server = MockServer::start();
    let first = any_token(&server, "FIRST-TOKEN");
    let second = server.mock(|when, then| {
        when.method(POST).path("/other-token");
        then.status(200).json_body(rfc_token("SECOND-TOKEN", 3600));
    });
    let user = User::new("cache-list", "id-1", "secret");
    let (url1, url2) = (server.url("/token"), server.url("/other-token"));
    let token = |url: &str, scope: Option<&str>| {
        let args = ["token", "--provider", "generic", "--token-url", url];
        let scope = scope.map_or(vec![], |s| vec!["--scope", s]);
        user.ok(&[&args[..], &scope].concat())
    };
    assert_eq!(token(&url1, None), "FIRST-TOKEN\n");
    assert_eq!(token(&url2, Some("read")), "SECOND-TOKEN\n");
    let list = user.ok(&["cache", "list"]);
    assert!(!list.contains("TOKEN"), "{list}");
    assert_eq!(
        listed(&user),
        format!("{url2} id-1 read <at> fresh\n{url1} id-1 - <at> fresh\n")
    );
    // A selection that matches nothing, then one entry, then everything left.
    assert_eq!(
        user.ok(&["cache", "clear", "--client-id", "id-2"]),
        "removed 0 entries\n"
    );
    assert_eq!(user.entries().len(), 2);
    let clear1 = [
        "cache",
        "clear",
        "--token-url",
        &url1,
        "--client-id",
        "id-1",
    ];
    assert_eq!(user.ok(&clear1), "removed 1 entry\n");
    assert_eq!(user.entries().len(), 1);
    assert_eq!(listed(&user), format!("{url2} id-1 read <at> fresh\n"));
    first.assert_calls(1);
    assert_eq!(token(&url1, None), "FIRST-TOKEN\n");
    first.assert_calls(2);
    assert_eq!(user.ok(&["cache", "clear"]), "removed 2 entries\n");
    assert!(user.entries().is_empty());
    assert_eq!(user.ok(&["cache", "list"]), "");
    assert_eq!(token(&url2, Some("read")), "SECOND-TOKEN\n");
    second.assert_calls(2);

    // A symbolic link in the cache is neither listed nor followed by clear.
    let entry = user.entries()[0].clone();
    let outside = user.home.join("outside.json");
    fs::copy(&entry, &outside).unwrap();
    fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&outside, &entry).unwrap();
    assert_eq!(user.ok(&["cache", "list"]), "");
    assert_eq!(user.ok(&["cache", "clear"]), "removed 0 entries\n");
    assert!(outside.exists());
}

#[test]
fn verbose_logs_without_secrets() {
    let server = MockServer::start();
    let id = "wmUB6jn1";
    let secret = "mw-s3cr3t-value";
    let jwt = "eyJhbGciOiJub25lIn0.e30.VERYSECRETTOKEN";
    let token = server.mock(|when, then| {
        when.method(POST).path("/auth/v1/token");
        then.status(200)
            .json_body(serde_json::json!({"access_token": jwt, "expires_in": 3599}));
    });
    let api = server.mock(|when, then| {
        when.path("/v1/secret-path")
            .header("authorization", format!("Bearer {jwt}"));
        then.status(200).body("ok");
    });
    let basic = "d21VQjZqbjE6bXctczNjcjN0LXZhbHVl"; // base64("wmUB6jn1:mw-s3cr3t-value")
    let core_api = server.mock(|when, then| {
        when.path("/v1/core")
            .header("authorization", format!("Basic {basic}"));
        then.status(200).body("core");
    });
    let user = User::new("verbose", id, secret);
    let base = server.base_url();
    let motorweb = ["--provider", "motorweb", "--base-url", &base, "--no-cache"];
    let header = user.run(&[&["-vv", "header"][..], &motorweb].concat());
    let request = user.run(&[&["request", "-vv"][..], &motorweb, &["/v1/secret-path"]].concat());
    let core = user.run(&[
        "-vv",
        "request",
        "--provider",
        "my-connected-fleet",
        "--api",
        "core",
        "--api-base-url",
        &base,
        "/v1/core",
    ]);
    for out in [&header, &request, &core] {
        let err = stderr(out);
        assert!(out.status.code().is_some(), "{err}");
        for line in err.lines() {
            assert!(line.starts_with("apiauth: ["), "{line}");
        }
        for hidden in [secret, "s3cr3t", jwt, "VERYSECRETTOKEN", basic, "[trace "] {
            assert!(!err.contains(hidden), "{hidden} in {err}");
        }
        // -vv shows ureq's Debug records (a request, with its headers redacted).
        assert!(err.contains("apiauth: [debug ureq::"), "{err}");
    }
    for out in [&header, &request, &core] {
        assert_eq!(code(out), Some(0));
    }
    assert_eq!(request.stdout, b"ok");
    core_api.assert_calls(1);
    token.assert_calls(2);
    api.assert_calls(1);
    // -v: apiauth's Info records, and nothing of ureq's Debug.
    let out = user.run(&[&["-v", "request"][..], &motorweb, &["/v1/secret-path"]].concat());
    let err = stderr(&out);
    assert_eq!(code(&out), Some(0), "{err}");
    assert!(
        err.contains(&format!("apiauth: [info apiauth::request] GET {base}\n")),
        "{err}"
    );
    assert!(!err.contains("[debug "), "{err}");
    // Without -v, nothing.
    let quiet = user.run(&[&["request"][..], &motorweb, &["/v1/secret-path"]].concat());
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn rfc3339_reader_known_answer() {
    assert_eq!(unix_seconds("2026-11-23T15:04:05Z"), Some(1_795_446_245));
    assert_eq!(unix_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
    assert_eq!(unix_seconds("2026-11-23 15:04:05Z"), None);
}
