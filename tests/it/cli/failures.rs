//! Failures shared across processes through the disk cache's failure records: the
//! `apiauth` command run as many processes against a hanging or refusing endpoint.

use super::*;
use crate::fixture::http_date;

#[test]
fn sixteen_processes_against_a_hanging_endpoint_share_one_timeout() {
    let endpoint = crate::fixture::silent();
    let url = endpoint.url();
    let user = User::new("hang-16", "id", "s3cr3t");
    let args = format!("{} --timeout 1", generic("token", url));
    let spawn = |_| user.spawn(&args);
    let timed_out =
        format!("apiauth: could not reach the token endpoint {url}: timed out after 1s\n");
    for child in (0..16).map(spawn).collect::<Vec<_>>() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        // The process that timed out, and those that read its record, report the same
        // error; those say it was another process's.
        assert_eq!(reported(&out).0, timed_out);
    }
    // One request times out; the others find its failure. A process that starts after the
    // record's 1 s backoff may try once more.
    let connections = endpoint.hits();
    assert!(connections <= 2, "{connections} connections");
}

/// A token endpoint that answers 429 `slow_down` with `retry_after`.
pub fn throttled<'a>(server: &'a TokenServer, retry_after: &str) -> Mock<'a> {
    let headers = [
        ("retry-after", retry_after),
        ("content-type", "application/json"),
    ];
    server.reply_with(429, &headers, r#"{"error":"slow_down"}"#)
}

/// Runs `args` `times` times in a row; each must fail with exit 6 and `slow_down` from the
/// `--token-url` in `args`.
fn refused_every_time(user: &User, args: &str, times: usize) {
    let url = args.split(' ').skip_while(|a| *a != "--token-url").nth(1);
    let url = url.unwrap();
    let slow_down = format!("apiauth: token endpoint {url} returned 429: slow_down\n");
    for run in 0..times {
        let out = user.run(args);
        assert_eq!(out.status.code(), Some(6), "run {run}: {}", stderr(&out));
        let (error, replayed) = reported(&out);
        assert_eq!(error, slow_down, "run {run}");
        // Every run after the first reads the first's failure, and says so.
        assert!(replayed || run == 0, "run {run}");
        assert!(out.stdout.is_empty());
    }
}

fn token_args(server: &TokenServer) -> String {
    generic("token", &server.token_url())
}

#[test]
fn retry_after_in_seconds_holds_for_every_later_process() {
    let server = TokenServer::start();
    let mock = throttled(&server, "3600");
    let user = User::new("retry-after-secs", "id", "s3cr3t-429");
    refused_every_time(&user, &token_args(&server), 20);
    mock.assert_calls(1);
    // The record holds the error and when to retry, never the secret.
    let record = fs::read_to_string(record_path(&user)).unwrap();
    let secret = record.contains("s3cr3t-429");
    assert!(record.contains("slow_down") && !secret, "{record}");
}

#[test]
fn retry_after_as_an_http_date_holds_for_every_later_process() {
    let server = TokenServer::start();
    let mock = throttled(&server, &http_date(now_secs() + 3600));
    let user = User::new("retry-after-date", "id", "s3cr3t");
    refused_every_time(&user, &token_args(&server), 5);
    mock.assert_calls(1);
}

/// The user's one failure record.
fn record_path(user: &User) -> PathBuf {
    let mut records = user.records(|record| !record["failure"].is_null());
    assert_eq!(records.len(), 1, "{records:?}");
    records.remove(0)
}

#[test]
fn untrusted_failure_records_are_ignored_and_replaced() {
    let server = TokenServer::start();
    let mock = throttled(&server, "3600");
    let user = User::new("fail-untrusted", "id", "s3cr3t");
    let args = token_args(&server);
    refused_every_time(&user, &args, 1);
    let record = record_path(&user);
    let valid = fs::read(&record).unwrap();
    let elsewhere = user.home.join("elsewhere.json");
    let put = |path: &Path, mode| {
        fs::write(path, &valid).unwrap();
        chmod(path, mode);
    };
    let probe = user.home.join("probe");
    fs::write(&probe, "").unwrap();
    let can_chown = std::os::unix::fs::chown(&probe, Some(65534), None).is_ok();
    let mut calls = 1;
    for damage in [
        "a symlink to a valid record",
        "a fifo",
        "readable by others",
        "another user's",
    ] {
        if damage == "another user's" && !can_chown {
            eprintln!("skipped another user's record: cannot chown (not root)");
            continue;
        }
        let _ = fs::remove_file(&record);
        match damage {
            "a symlink to a valid record" => {
                put(&elsewhere, 0o600);
                std::os::unix::fs::symlink(&elsewhere, &record).unwrap();
            }
            "a fifo" => mkfifo(&record),
            "readable by others" => put(&record, 0o644),
            _ => {
                put(&record, 0o600);
                std::os::unix::fs::chown(&record, Some(65534), None).unwrap();
            }
        }
        let out = user.run_within_20s(&args);
        assert_eq!(out.status.code(), Some(6), "{damage}: {}", stderr(&out));
        calls += 1;
        mock.assert_calls(calls);
        assert!(fs::symlink_metadata(&record).unwrap().is_file(), "{damage}");
        // Replaced by a record of its own, which the next process trusts.
        refused_every_time(&user, &args, 1);
        mock.assert_calls(calls);
    }
    assert_eq!(fs::read(&elsewhere).unwrap(), valid);

    // Another secret's record is not this secret's: a mistyped secret backs off alone, and
    // neither overwrites the other's record.
    let other = user.with_env("APIAUTH_CLIENT_SECRET", "0ther-s3cr3t");
    refused_every_time(&other, &args, 2);
    mock.assert_calls(calls + 1);
    refused_every_time(&user, &args, 2);
    mock.assert_calls(calls + 1);
}

#[test]
fn the_endpoints_error_uri_is_shown() {
    let (server, user) = start("error-uri");
    let uri = "https://docs.example/oauth/errors?lang=en#invalid_scope";
    let body = json!({"error": "invalid_scope", "error_description": "scope x is unknown", "error_uri": uri});
    let mock = server.json(400, body);
    let out = outcome(&user.run(&token_args(&server)));
    let url = server.token_url();
    let refused = format!(
        "apiauth: token endpoint {url} returned 400: invalid_scope (scope x is unknown); see \
         https://docs.example/oauth/errors\n"
    );
    assert_eq!(out, (Some(6), String::new(), refused));
    mock.assert_calls(1);
}
