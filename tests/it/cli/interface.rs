//! The interface: each provider's header, formats, exit codes, usage errors, help,
//! credentials and logs.

use super::*;

#[test]
fn my_connected_fleet_header_for_every_api() {
    let (server, user) = start_as("mcf", "clientId", "clientSecret");
    let (mock, base) = (mcf_mock(&server), server.base_url());
    let mcf = format!("--provider my-connected-fleet --base-url {base}");
    let header = |api: &str| user.ok(&format!("header {mcf} --api {api}"));
    assert_eq!(header("core"), format!("Authorization: {MCF_BASIC}\n"));
    mock.assert_calls(0);
    for api in ["smart-tire", "tacho", "vehicle-check"] {
        assert_eq!(header(api), format!("Authorization: Bearer {MCF_TOKEN}\n"));
    }
    let connect_token = format!("x-connect-token: TOKEN {MCF_TOKEN}\n");
    assert_eq!(header("job-management"), connect_token);
    assert_eq!(user.ok(&format!("token {mcf}")), format!("{MCF_TOKEN}\n"));
    // One token, fetched once, for four token APIs and five processes.
    mock.assert_calls(1);
}

#[test]
fn every_format() {
    let (server, user) = start_as("formats", "clientId", "clientSecret");
    let (mock, base) = (mcf_mock(&server), server.base_url());
    let mcf = format!("--provider my-connected-fleet --base-url {base}");
    let header =
        |api: &str, format| user.ok(&format!("header {mcf} --api {api} --format {format}"));
    let bearer = format!("Bearer {MCF_TOKEN}");
    let actual = header("tacho", "line");
    assert_eq!(actual, format!("Authorization: {bearer}\n"));
    assert_eq!(header("tacho", "value"), format!("{bearer}\n"));
    let actual = header("tacho", "curl");
    assert_eq!(actual, format!("-H 'Authorization: {bearer}'\n"));
    let curl = format!("-H 'x-connect-token: TOKEN {MCF_TOKEN}'\n");
    assert_eq!(header("job-management", "curl"), curl);
    assert_eq!(header("core", "value"), format!("{MCF_BASIC}\n"));
    let json: Value = serde_json::from_str(&header("job-management", "json")).unwrap();
    let expires_in = json["expires_in"].as_u64().unwrap();
    let about_30_days = 2591999 - 60..=2591999;
    assert!(about_30_days.contains(&expires_in), "{expires_in}");
    let expires_at = json["expires_at"].as_str().unwrap().to_owned();
    let value = format!("TOKEN {MCF_TOKEN}");
    let expected = json!({"name": "x-connect-token", "value": value, "expires_in": expires_in,
        "expires_at": expires_at});
    assert_eq!(json, expected);
    // RFC 3339 in UTC, to the second, and now + expires_in within a few seconds.
    let at = now_secs() + expires_in;
    assert_rfc3339_in(&expires_at, at - 3..=at + 3);
    let core: Value = serde_json::from_str(&header("core", "json")).unwrap();
    let basic = json!({"name": "Authorization", "value": MCF_BASIC, "expires_in": null,
        "expires_at": null});
    assert_eq!(core, basic);
    mock.assert_calls(1);
}

#[test]
fn motorweb_header_sends_the_credentials_in_the_body() {
    let server = TokenServer::at("/auth/v1/token");
    let user = User::new("motorweb", "wmUB6jn1", "s&cr=t");
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(1800));
    let body = "grant_type=client_credentials&client_id=wmUB6jn1&client_secret=s%26cr%3Dt";
    let answer = json!({"token_type": "Bearer", "access_token": jwt, "expires_in": "3599"});
    let token = format!("POST /auth/v1/token; body {body}; !authorization => 200 {answer}");
    let mock = server.answer(&token);
    let base = server.base_url();
    let args = format!("header --provider motorweb --base-url {base}");
    assert_eq!(user.ok(&args), format!("Authorization: Bearer {jwt}\n"));
    // The JWT's exp (30 min), not expires_in (1 h), is the expiry.
    let json = user.ok(&format!("{args} --format json"));
    let expires_in = serde_json::from_str::<Value>(&json).unwrap()["expires_in"].clone();
    let expires_in = expires_in.as_u64().unwrap();
    assert!((1700..=1800).contains(&expires_in), "{json}");
    mock.assert_calls(1);
}

#[test]
fn generic_client_auth_scopes_and_params() {
    let server = TokenServer::start();
    let form = "grant_type=client_credentials&scope=read+write";
    let scopes = "--scope read --scope write";
    let body_creds = "client_id=id%3A1&client_secret=s+1";
    let basic = format!("{form}&audience=api");
    let body = format!("{form}&{body_creds}&audience=api");
    for (client_auth, authorization, body) in [
        // RFC 6749 §2.3.1: id and secret form-encoded before Basic.
        ("basic", "authorization: Basic aWQlM0ExOnMrMQ==", &basic),
        ("basic-raw", "authorization: Basic aWQ6MTpzIDE=", &basic),
        ("body", "!authorization", &body),
    ] {
        let token = format!("POST /token; body {body}; {authorization}");
        let mut mock = server.answer(&format!("{token} => 200 {}", rfc_token("G1", 3600)));
        // basic-raw cannot carry a ':' in the id, so that case uses another id.
        let (id, secret) = if client_auth == "basic-raw" {
            ("id", "1:s 1")
        } else {
            ("id:1", "s 1")
        };
        let user = User::new(&format!("generic-{client_auth}"), id, secret);
        let header = generic("header", &server.token_url());
        let args = format!("{header} --client-auth {client_auth} {scopes} --param audience=api");
        let actual = user.ok(&args);
        assert_eq!(actual, "Authorization: Bearer G1\n", "{client_auth}");
        mock.assert_calls(1);
        mock.delete();
    }
}

#[test]
fn exit_codes() {
    let (server, user) = start_as("exit-codes", "id", "s3cr3t-value");
    let run = |url: &str| {
        let token = generic("token", url);
        user.run(&format!("{token} --no-cache --timeout 0.3"))
    };
    let generic = |path: &str| run(&server.url(path));
    server.answer(r#"* /rejected => 401 {"error":"invalid_client"}"#);
    server.answer(r#"* /unusable => 200 {"nothing":"here"}"#);
    server.answer("* /refused => 503 <html>down</html>");
    let closed = closed_url("/token");
    let silent = crate::fixture::silent();
    let silent_url = silent.url();
    let rejected_url = server.url("/rejected");
    let rejected =
        format!("credentials rejected: token endpoint {rejected_url} returned 401: invalid_client");
    let refused = format!("token endpoint {} returned 503", server.url("/refused"));
    let not_listening = format!("could not reach the token endpoint {closed}: connection refused");
    let timed_out =
        format!("could not reach the token endpoint {silent_url}: timed out after 300ms");
    let unusable = "unusable token response: no access token in the answer";
    let provider =
        "--provider takes my-connected-fleet, motorweb or generic (see apiauth --help)\n";
    for (out, code, message) in [
        (user.run("header --provider nowhere"), 2, provider),
        (generic("/rejected"), 3, rejected.as_str()),
        (run(&closed), 4, not_listening.as_str()),
        (run(silent_url), 4, timed_out.as_str()),
        (generic("/unusable"), 5, unusable),
        (generic("/refused"), 6, refused.as_str()),
    ] {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.starts_with(&format!("apiauth: {message}")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("s3cr3t") && out.stdout.is_empty(), "{err}");
    }
}

#[test]
fn usage_errors_and_help() {
    let user = User::new("usage", "id", "secret");
    let help = user.ok("--help");
    let recipe = "printf '%s\\n' \"$h\" | curl -H @-";
    assert!(help.contains(recipe), "{help}");
    let version = format!("apiauth {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(user.ok("--version"), version);
    for (args, message) in rows(
        "=> say `apiauth request`, `apiauth header` or `apiauth token`
        header => --provider is required
        header --provider generic => --provider generic needs --token-url
        header --provider my-connected-fleet => --api is required
        token --provider my-connected-fleet --api core => the core api takes Basic
        header --provider motorweb --env staging => --env takes test or production
        header --provider motorweb --env test --api tacho => --api applies only to
        token --provider motorweb --env test --format json => --format applies to
        header --bogus => unknown option at argument 2",
    ) {
        let (out, expected) = (user.run(args), format!("apiauth: {message}"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).starts_with(&expected), "{}", stderr(&out));
    }
}

#[test]
fn verbose_logs_without_secrets() {
    let (server, id, secret) = (TokenServer::start(), "wmUB6jn1", "mw-s3cr3t-value");
    let jwt = "eyJhbGciOiJub25lIn0.e30.VERYSECRETTOKEN";
    let answer = json!({"access_token": jwt, "expires_in": 3599});
    let token = server.answer(&format!("POST /auth/v1/token => 200 {answer}"));
    let api = format!("* /v1/secret-path; authorization: Bearer {jwt} => 200 ok");
    let api = server.answer(&api);
    let basic = "d21VQjZqbjE6bXctczNjcjN0LXZhbHVl"; // base64("wmUB6jn1:mw-s3cr3t-value")
    let core_api = format!("* /v1/core; authorization: Basic {basic} => 200 core");
    let core_api = server.answer(&core_api);
    let (user, base) = (User::new("verbose", id, secret), server.base_url());
    let motorweb = format!("--provider motorweb --base-url {base} --no-cache");
    let header = user.run(&format!("-vv header {motorweb}"));
    let request = user.run(&format!("request -vv {motorweb} /v1/secret-path"));
    let core = "-vv request --provider my-connected-fleet --api core --api-base-url";
    let core = user.run(&format!("{core} {base} /v1/core"));
    for out in [&header, &request, &core] {
        let err = stderr(out);
        assert_eq!(code(out), Some(0), "{err}");
        let logged = err.lines().all(|line| line.starts_with("apiauth: ["));
        assert!(logged, "{err}");
        for hidden in [secret, "s3cr3t", jwt, "VERYSECRETTOKEN", basic, "[trace "] {
            assert!(!err.contains(hidden), "{hidden} in {err}");
        }
        // -vv shows ureq's Debug records (a request, with its headers redacted).
        assert!(err.contains("apiauth: [debug ureq::"), "{err}");
    }
    assert_eq!(request.stdout, b"ok");
    let actual = [&core_api, &token, &api].map(|mock| mock.calls());
    assert_eq!(actual, [1, 2, 1]);
    // -v: apiauth's Info records, and nothing of ureq's Debug.
    let out = user.run(&format!("-v request {motorweb} /v1/secret-path"));
    let err = stderr(&out);
    assert_eq!(code(&out), Some(0), "{err}");
    let logged = format!("apiauth: [info apiauth::request] GET {base}/v1/secret-path\n");
    assert!(err.contains(&logged) && !err.contains("[debug "), "{err}");
    let actual = stderr(&user.run(&format!("request {motorweb} /v1/secret-path")));
    assert_eq!(actual, "");
}

#[test]
fn each_command_has_its_own_help() {
    let user = User::new("help-per-command", "id", "secret");
    let header = user.ok("header --help");
    assert!(header.contains("\n  apiauth header --provider PROVIDER [options]\n"));
    assert!(header.contains("\n      --format FORMAT"), "{header}");
    for other in ["apiauth request", "--data", "--client-id", "--max-time"] {
        assert!(!header.contains(other), "{other} in {header}");
    }
    let request = user.ok("request -h");
    assert!(request.contains("\n  -X, --method METHOD"), "{request}");
    assert!(request.contains("\n      --max-time SECONDS"), "{request}");
    assert!(!request.contains("--format"), "{request}");
    let clear = user.ok("cache clear --help");
    assert!(clear.contains("\n      --client-id ID"), "{clear}");
    assert!(!clear.contains("--credentials-file"), "{clear}");
}

#[test]
fn a_closed_stdout_is_exit_1_with_nothing_on_stderr() {
    let (server, user) = start("closed-stdout");
    let mock = server.token("T", 3600);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // the reader is gone before anything is written: EPIPE
    let mut command = user.command(&generic("token", &server.token_url()));
    let out = command.stdout(writer).stderr(Stdio::piped());
    let out = out.output().unwrap();
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(1), ""));
    mock.assert_calls(1);
}

/// Runs `apiauth -v token` against a fresh token server, as `run` says.
fn token_with_stderr(test: &str, run: impl FnOnce(&User, &[&str]) -> Output) -> Output {
    let (server, user) = start(test);
    let mock = server.token("T", 3600);
    let out = run(&user, &argv(generic("-v token", &server.token_url())));
    mock.assert_calls(1);
    out
}

#[test]
fn an_unwritable_stderr_loses_the_log_and_nothing_else() {
    let full = token_with_stderr("stderr-full", |user, args| {
        let dev_full = fs::File::create("/dev/full").unwrap();
        user.command(args).stderr(dev_full).output().unwrap()
    });
    let broken = token_with_stderr("stderr-broken-pipe", |user, args| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // the reader is gone before anything is written: EPIPE
        user.command(args).stderr(writer).output().unwrap()
    });
    // `2>&-`: a shell closes stderr before the command starts.
    let closed = token_with_stderr("stderr-closed", |user, args| {
        let script = [
            "-c",
            "exec \"$0\" \"$@\" 2>&-",
            env!("CARGO_BIN_EXE_apiauth"),
        ];
        let mut shell = Command::new("sh");
        let shell = shell.args(script).args(args).env_clear();
        shell.envs(user.env.iter().cloned()).output().unwrap()
    });
    for out in [full, broken, closed] {
        assert_eq!((code(&out), out.stdout), (Some(0), b"T\n".to_vec()));
    }
    // A failure keeps its exit code, its message lost.
    let user = User::new("stderr-full-usage", "id", "secret");
    let mut command = user.command("-v header --provider nowhere");
    let dev_full = fs::File::create("/dev/full").unwrap();
    let out = command.stderr(dev_full).output().unwrap();
    assert_eq!((code(&out), out.stdout), (Some(2), vec![]));
}
