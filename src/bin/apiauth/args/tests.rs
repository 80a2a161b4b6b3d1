//! Usage errors and option spellings, in-process (no process, no server).

use super::*;

/// A value no message may repeat.
const PROBE: &str = "Zq7PROBE";

fn parse_words(words: &[&str]) -> Result<Invocation, String> {
    parse(words.iter().map(|w| w.replace("{P}", PROBE)).collect())
}

fn parse_str(line: &str) -> Result<Invocation, String> {
    parse_words(&line.split_whitespace().collect::<Vec<_>>())
}

fn error(line: &str) -> String {
    let message = parse_str(line).unwrap_err();
    assert!(!message.contains(PROBE), "{line}: {message}");
    message
}

fn job(line: &str) -> (Job, u8) {
    match parse_str(line).unwrap() {
        Invocation::Run(Task::Auth(job), verbose) => (job, verbose),
        other => panic!("{other:?}"),
    }
}

fn settings(line: &str) -> TokenSettings {
    match job(line).0.header {
        HeaderSource::Token(settings, _) => settings,
        other => panic!("{other:?}"),
    }
}

fn call(line: &str) -> Call {
    match job(line).0.command {
        Command::Request(call) => *call,
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_on_argv_are_refused_without_being_echoed() {
    for line in [
        "header --provider motorweb --env test --client-secret {P}",
        "header --provider motorweb --env test --client-secret={P}",
        "header --provider generic --token-url http://127.0.0.1/t --param client_secret={P}",
        "token --password {P} --provider motorweb",
    ] {
        assert_eq!(error(line), opts::SECRET_ON_ARGV, "{line}");
    }
    assert_eq!(error("header {P}"), "unexpected argument at position 2");
}

#[test]
fn nothing_typed_is_echoed() {
    let mw = "request --provider motorweb --env test";
    for (line, expected) in [
        ("header --{P}", "unknown option at argument 2"),
        (
            "header --provider motorweb -iq{P}",
            "unknown option at argument 4",
        ),
        (
            "{P}",
            "unknown command: say request, header, token or cache",
        ),
        (
            "cache {P}",
            "say `apiauth cache list` or `apiauth cache clear`",
        ),
        (
            "header --provider {P}",
            "--provider takes my-connected-fleet, motorweb or generic",
        ),
        (
            "header --provider motorweb --env {P}",
            "--env takes test or production",
        ),
        (
            "header --provider my-connected-fleet --api {P}",
            "--api takes core, smart-tire, tacho, vehicle-check or job-management",
        ),
        (
            "header --format {P}",
            "--format takes line, value, curl or json",
        ),
        (
            "header --client-auth {P}",
            "--client-auth takes basic, basic-raw or body",
        ),
        (
            &format!("{mw} -X{PROBE} /p"),
            "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
        ),
        (
            &format!("{mw} --method PROPFIND /p"),
            "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
        ),
        (
            "header --token-url https://u:{P}@a.example/t",
            "--token-url takes an http(s) URL without user or password",
        ),
        (
            "header --base-url http://{P}.example/",
            "--base-url must be https: plain http is allowed only to loopback \
             (127.0.0.0/8, [::1], localhost)",
        ),
        (
            "header --timeout {P}",
            "--timeout takes a positive number of seconds, at most 1000000",
        ),
        (
            "header --timeout 1e19",
            "--timeout takes a positive number of seconds, at most 1000000",
        ),
        (
            &format!("{mw} --max-time 0 /p"),
            "--max-time takes a positive number of seconds, at most 1000000",
        ),
        ("header --param {P}", "--param takes NAME=VALUE"),
        ("header --no-cache={P}", "--no-cache takes no value"),
        ("header --provider", "--provider needs a value"),
        (
            &format!("{mw} /p {PROBE}"),
            "unexpected argument at position 7",
        ),
    ] {
        assert_eq!(error(line), expected, "{line}");
    }
}

#[test]
fn values_are_checked_whatever_else_is_given() {
    // A typo in --env is refused even where --base-url makes it unused.
    assert_eq!(
        error("header --provider motorweb --env prod --base-url https://a.example"),
        "--env takes test or production"
    );
    assert_eq!(
        error("header --provider motorweb --provider generic"),
        "--provider is given more than once"
    );
}

#[test]
fn options_apply_to_their_commands_and_providers() {
    for (line, expected) in [
        (
            "header --provider motorweb --env test --api-base-url https://a.example",
            "--api-base-url applies to apiauth request",
        ),
        (
            "cache list --format json",
            "--format applies to apiauth header",
        ),
        (
            "cache list --provider motorweb",
            "--provider applies to apiauth request, header, token or cache clear",
        ),
        (
            "token --provider motorweb --env test --client-id a",
            "--client-id applies to apiauth cache clear",
        ),
        (
            "header --provider motorweb --api tacho",
            "--api applies only to --provider my-connected-fleet",
        ),
        (
            "header --provider generic --env test",
            "--env applies only to --provider motorweb",
        ),
        (
            "header --provider motorweb --env test --client-auth body",
            "--client-auth applies only to --provider generic",
        ),
        (
            "request --provider motorweb --env test --customer-id 1 /p",
            "--customer-id applies only to --provider my-connected-fleet",
        ),
        ("header --provider my-connected-fleet", "--api is required"),
        (
            "header --provider motorweb",
            "--env is required (test or production)",
        ),
        (
            "header --provider generic",
            "--provider generic needs --token-url",
        ),
        ("header", "--provider is required"),
        (
            "",
            "say `apiauth request`, `apiauth header` or `apiauth token`",
        ),
    ] {
        assert_eq!(error(line), expected, "{line}");
    }
}

#[test]
fn spellings_lexopt_reads() {
    let (job, verbose) = job("request --provider=motorweb --env test -XPUT -vv -iH A:b -- /p");
    assert_eq!(verbose, 2);
    let Command::Request(call) = job.command else {
        panic!()
    };
    assert_eq!(call.method.as_deref(), Some("PUT"));
    assert_eq!(call.headers, ["A:b"]);
    assert!(call.include);
    assert_eq!(call.target, "/p");
    let call = call_of(&[
        "request",
        "--provider",
        "generic",
        "--token-url=https://a/t",
        "-d-x",
        "--",
        "-i",
    ]);
    assert_eq!(
        (call.data.as_deref(), call.target.as_str()),
        (Some("-x"), "-i")
    );
    assert_eq!(call.max_time, Duration::from_secs(300));
    assert_eq!(call.timeout, Duration::from_secs(10));
}

fn call_of(words: &[&str]) -> Call {
    match parse_words(words).unwrap() {
        Invocation::Run(
            Task::Auth(Job {
                command: Command::Request(call),
                ..
            }),
            _,
        ) => *call,
        other => panic!("{other:?}"),
    }
}

#[test]
fn help_per_command() {
    let help = |line| match parse_str(line).unwrap() {
        Invocation::Help(command) => command,
        other => panic!("{other:?}"),
    };
    assert_eq!(help("--help"), 0);
    assert_eq!(help("help"), 0);
    assert_eq!(help("header --help"), opts::HEADER);
    assert_eq!(help("request -h"), opts::REQUEST);
    assert_eq!(help("cache clear --help"), opts::CLEAR);
}

#[test]
fn token_endpoints_per_provider() {
    let endpoint = |line: &str| {
        let s = settings(line);
        (s.token_url, s.client_auth.name())
    };
    assert_eq!(
        endpoint("token --provider motorweb --env test"),
        ("https://api.tst.motorweb.app/auth/v1/token".into(), "body")
    );
    assert_eq!(
        endpoint("token --provider my-connected-fleet --base-url http://127.0.0.1:1/"),
        (
            "http://127.0.0.1:1/masternauth-oauth/oauth/accessToken".into(),
            "basic-raw"
        )
    );
    assert_eq!(
        endpoint("header --provider generic --token-url https://a.example/t --client-auth body"),
        ("https://a.example/t".into(), "body")
    );
    assert_eq!(
        endpoint("header --provider generic --token-url https://a.example/t"),
        ("https://a.example/t".into(), "basic")
    );
}

#[test]
fn base_url_moves_token_endpoint_and_apis_alike() {
    let base = "http://127.0.0.1:9";
    for provider in ["my-connected-fleet --api tacho", "motorweb"] {
        let line = format!("request --provider {provider} --base-url {base} /p");
        assert_eq!(
            call(&line).api_base_url.as_deref(),
            Some(base),
            "{provider}"
        );
        assert!(settings(&line).token_url.starts_with(base), "{provider}");
    }
    let line = "request --provider my-connected-fleet --api core --base-url http://127.0.0.1:9 /p";
    assert_eq!(call(line).api_base_url.as_deref(), Some(base));
}

#[test]
fn the_cli_spells_client_auth_as_the_library_names_it() {
    let names: Vec<&str> = apiauth::ClientAuth::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(names, opts::CLIENT_AUTHS);
}
