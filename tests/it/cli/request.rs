//! `apiauth request` against loopback stand-ins of the providers.

use super::*;

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
    let args = argv(format!(
        "request --provider motorweb --token-url {} --api-base-url {} {}",
        tokens.url(),
        base,
        path
    ));
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
    let args = argv(format!(
        "request --provider generic --token-url {} --api-base-url {} --data @- /v1/jobs",
        tokens.url(),
        base
    ));
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
        let args = argv("request --provider my-connected-fleet --api tacho");
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
    let args = argv(format!(
        "request --provider generic --token-url {} --api-base-url {} /v1/things/9",
        token_url, base
    ));
    let out = user.run(&args);
    assert_eq!(code(&out), Some(7));
    assert_eq!(out.stdout, b"{\"error\":\"no such thing\"}");
    // The method and the URL that answered: a wrong path shows at once.
    assert_eq!(
        stderr(&out),
        format!("apiauth: the API answered 404 Not Found to GET {base}/v1/things/9\n")
    );
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
    let args = argv(format!(
        "request --provider generic --token-url {} --api-base-url {} --include {}",
        token_url, base, url
    ));
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
    let common = argv(format!(
        "request --provider generic --token-url {} --api-base-url {}",
        token_url, base
    ));
    let on_other_port = format!("{same_host_other_port}/v1/x");
    // The words of each row's arguments are split at `|`.
    let table = "-H|Host: other-tenant.example|/v1/x => refusing --header host
        -H|Authorization: Bearer hunter2|/v1/x => refusing --header authorization
        -H|X-Connect-Token: TOKEN hunter2|/v1/x => refusing --header x-connect-token
        -H|proxy-authorization: Basic hunter2|/v1/x => refusing --header proxy-authorization
        -H|COOKIE: session=hunter2|/v1/x => refusing --header cookie
        ON_OTHER => the URL is not on the API's origin
        ON_OTHER_PORT => the URL is not on the API's origin
        v1/x => the request target must be a path
        --customer-id|1|/v1/x => --customer-id applies only to";
    let cr_lf = (
        &["-H", "X-Note: a\r\nAuthorization: hunter2", "/v1/x"][..],
        "--header refuses CR and LF",
    );
    let cases = rows(table).map(|(more, message)| {
        let more = more
            .replace("ON_OTHER_PORT", &on_other_port)
            .replace("ON_OTHER", &on_other);
        (String::leak(more).split('|').collect::<Vec<_>>(), message)
    });
    for (more, message) in cases.chain([(cr_lf.0.to_vec(), cr_lf.1)]) {
        let out = user.run(&[&common[..], &more].concat());
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

#[test]
fn my_connected_fleet_base_url_moves_the_apis_with_the_token_endpoint() {
    let server = MockServer::start();
    let token = mcf_mock(&server);
    let api = server.mock(|when, then| {
        when.path("/tacho/v1/x")
            .header("authorization", format!("Bearer {MCF_TOKEN}"));
        then.status(200).body("here");
    });
    let user = User::new("request-mcf-base", "clientId", "clientSecret");
    let base = server.base_url();
    let args = argv(format!(
        "request --provider my-connected-fleet --api tacho --base-url {} /tacho/v1/x",
        base
    ));
    assert_eq!(user.ok(&args), "here");
    token.assert_calls(1);
    api.assert_calls(1);
}

#[test]
fn a_proxy_in_the_environment_never_carries_a_loopback_request() {
    let (proxy, seen) = crate::support::logging_proxy();
    let tokens = numbered_tokens();
    let api = Server::start(|_| Reply {
        status: 200,
        body: "{}".into(),
        delay: Duration::ZERO,
    });
    let base = api.url().trim_end_matches("/token").to_owned();
    for (n, variable) in crate::support::PROXY_VARIABLES.into_iter().enumerate() {
        let user = User::new("request-proxy", "id", "secret").with_env(variable, &proxy);
        let args = argv(format!(
            "request --provider generic --token-url {}",
            tokens.url()
        ));
        let args = [&args[..], &["--api-base-url", &base, "/v1/x"]].concat();
        assert_eq!(user.ok(&args), "{}", "{variable}");
        assert_eq!(seen.lock().unwrap().len(), 0, "{variable}");
        assert_eq!((tokens.hits(), api.hits()), (n + 1, n + 1), "{variable}");
    }
}

#[test]
fn a_401_to_basic_says_the_api_refused_the_credentials_and_exits_3() {
    let server = MockServer::start();
    let core = server.mock(|when, then| {
        when.path("/v1/core").header("authorization", MCF_BASIC);
        then.status(401).body("bad credentials");
    });
    let user = User::new("request-core-401", "clientId", "clientSecret");
    let base = server.base_url();
    let args = argv("request --provider my-connected-fleet --api core");
    let out = user.run(&[&args[..], &["--api-base-url", &base, "/v1/core?x=1"]].concat());
    assert_eq!(
        (code(&out), out.stdout.as_slice()),
        (Some(3), &b"bad credentials"[..])
    );
    assert_eq!(
        stderr(&out),
        format!(
            "apiauth: the API refused the credentials: 401 Unauthorized to GET {base}/v1/core; \
             check APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET\n"
        )
    );
    core.assert_calls(1);
}

#[test]
fn a_path_without_an_api_base_url_names_the_provider_in_use() {
    let server = MockServer::start();
    let token = any_token(&server, "A");
    let user = User::new("request-no-api-base", "id", "secret");
    let url = server.url("/token");
    let motorweb = argv(format!(
        "request --provider motorweb --token-url {} /v1/x",
        url
    ));
    let out = user.run(&motorweb);
    assert_eq!(code(&out), Some(2));
    assert_eq!(
        stderr(&out),
        "apiauth: a path needs --api-base-url (or --env or --base-url) with --provider \
         motorweb (see apiauth --help)\n"
    );
    let generic = argv(format!(
        "request --provider generic --token-url {} /v1/x",
        url
    ));
    assert_eq!(
        stderr(&user.run(&generic)),
        "apiauth: a path needs --api-base-url with --provider generic (see apiauth --help)\n"
    );
    token.assert_calls(0);
}

#[test]
fn an_api_that_cannot_be_reached_is_named_with_the_method() {
    let server = MockServer::start();
    let token = any_token(&server, "A");
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let user = User::new("request-unreachable", "id", "secret");
    let url = server.url("/token");
    let args = argv(format!(
        "request --provider generic --token-url {} --api-base-url",
        url
    ));
    let out = user.run(&[&args[..], &[&closed, "-XDELETE", "/v1/x?key=Zq7PROBE"]].concat());
    assert_eq!((code(&out), out.stdout.as_slice()), (Some(4), &b""[..]));
    assert_eq!(
        stderr(&out),
        format!("apiauth: could not reach the API for DELETE {closed}/v1/x: connection refused\n")
    );
    token.assert_calls(1);
}
