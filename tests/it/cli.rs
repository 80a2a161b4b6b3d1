//! The `apiauth` command, run as a process against loopback servers.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpmock::Method::POST;
use httpmock::{Mock, MockServer};
use serde_json::{Value, json};

use crate::server::{Reply, Server};
use crate::support::{jwt_expiring_in, rfc_token, temp_dir};

pub const MCF_TOKEN: &str = "B983854936PF1A7B61B141AB69494046";
/// `clientId:clientSecret`, raw RFC 7617 Basic.
pub const MCF_BASIC: &str = "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0";

/// One user's environment: a private cache (`XDG_CACHE_HOME`) and credentials.
pub struct User {
    pub home: PathBuf,
    pub env: Vec<(&'static str, String)>,
}

impl User {
    pub fn new(test: &str, id: &str, secret: &str) -> User {
        let home = temp_dir(&format!("cli-{test}"));
        let env = vec![
            ("HOME", home.display().to_string()),
            ("XDG_CACHE_HOME", home.join("cache").display().to_string()),
            ("APIAUTH_CLIENT_ID", id.to_owned()),
            ("APIAUTH_CLIENT_SECRET", secret.to_owned()),
        ];
        User { home, env }
    }

    pub fn command(&self, args: &[impl AsRef<OsStr>]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_apiauth"));
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned());
        command
    }

    pub fn run(&self, args: &[impl AsRef<OsStr>]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[impl AsRef<OsStr>]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache/apiauth")
    }

    /// Runs `apiauth token` against `server`'s generic `/token`, which must hand out
    /// `token`; returns the arguments and the entry that run wrote.
    fn first_token(&self, server: &MockServer, token: &str) -> (Vec<String>, PathBuf) {
        let url = server.url("/token");
        let args = ["token", "--provider", "generic", "--token-url", &url].map(String::from);
        assert_eq!(self.ok(&args), format!("{token}\n"));
        let entries = self.entries();
        assert_eq!(entries.len(), 1);
        (args.to_vec(), entries[0].clone())
    }

    /// The same user and cache with `name` set to `value`.
    pub fn with_env(&self, name: &'static str, value: &str) -> User {
        let mut env = self.env.clone();
        env.retain(|(n, _)| *n != name);
        env.push((name, value.to_owned()));
        User {
            home: self.home.clone(),
            env,
        }
    }

    /// Runs a command, killing it and failing if it has not finished within 20 s.
    pub fn run_within_20s(&self, args: &[impl AsRef<OsStr>]) -> Output {
        let mut child = self.command(args).stdout(Stdio::piped()).spawn().unwrap();
        let finished = (0..2000).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            child.try_wait().unwrap().is_some()
        });
        if !finished {
            child.kill().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(finished, "still running after 20 s: {}", stderr(&out));
        out
    }

    /// The cache's entry files.
    pub fn entries(&self) -> Vec<PathBuf> {
        let dir = fs::read_dir(self.cache_dir()).unwrap();
        let paths = dir.map(|e| e.unwrap().path());
        paths
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the Unix epoch; `None` for any other shape.
pub fn unix_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let n = |from: usize, to: usize| text[from..to].parse::<u64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    // Days from civil (Howard Hinnant), for years after 1970.
    let y = if m <= 2 { y - 1 } else { y };
    let (era, yoe) = (y / 400, y % 400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(11, 13)? * 3600 + n(14, 16)? * 60 + n(17, 19)?)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn mcf_mock(server: &MockServer) -> Mock<'_> {
    server.mock(|when, then| {
        when.method(POST)
            .path("/masternauth-oauth/oauth/accessToken")
            .header("authorization", MCF_BASIC)
            .body("grant_type=client_credentials");
        then.status(200).json_body(json!({
            "success": true, "accessToken": MCF_TOKEN, "token_type": "bearer", "expires_in": 2591999
        }));
    })
}

/// A generic server that answers `token` for an hour to anyone.
pub fn any_token<'a>(server: &'a MockServer, token: &str) -> Mock<'a> {
    server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token(token, 3600));
    })
}

#[test]
fn my_connected_fleet_header_for_every_api() {
    let server = MockServer::start();
    let mock = mcf_mock(&server);
    let user = User::new("mcf", "clientId", "clientSecret");
    let base = server.base_url();
    let header = |api: &str| {
        let args = ["header", "--provider", "my-connected-fleet", "--api", api];
        user.ok(&[&args[..], &["--base-url", &base]].concat())
    };
    assert_eq!(header("core"), format!("Authorization: {MCF_BASIC}\n"));
    mock.assert_calls(0);
    for api in ["smart-tire", "tacho", "vehicle-check"] {
        assert_eq!(header(api), format!("Authorization: Bearer {MCF_TOKEN}\n"));
    }
    assert_eq!(
        header("job-management"),
        format!("x-connect-token: TOKEN {MCF_TOKEN}\n")
    );
    let token = [
        "token",
        "--provider",
        "my-connected-fleet",
        "--base-url",
        &base,
    ];
    assert_eq!(user.ok(&token), format!("{MCF_TOKEN}\n"));
    // One token, fetched once, for four token APIs and five processes.
    mock.assert_calls(1);
}

#[test]
fn every_format() {
    let server = MockServer::start();
    let mock = mcf_mock(&server);
    let user = User::new("formats", "clientId", "clientSecret");
    let base = server.base_url();
    let header = |api: &str, format: &str| {
        let args = ["header", "--provider", "my-connected-fleet", "--api", api];
        let more = ["--base-url", &base, "--format", format];
        user.ok(&[&args[..], &more].concat())
    };
    let bearer = format!("Bearer {MCF_TOKEN}");
    assert_eq!(
        header("tacho", "line"),
        format!("Authorization: {bearer}\n")
    );
    assert_eq!(header("tacho", "value"), format!("{bearer}\n"));
    assert_eq!(
        header("tacho", "curl"),
        format!("-H 'Authorization: {bearer}'\n")
    );
    assert_eq!(
        header("job-management", "curl"),
        format!("-H 'x-connect-token: TOKEN {MCF_TOKEN}'\n")
    );
    assert_eq!(header("core", "value"), format!("{MCF_BASIC}\n"));
    let json: Value = serde_json::from_str(&header("job-management", "json")).unwrap();
    let expires_in = json["expires_in"].as_u64().unwrap();
    assert!(
        (2591999 - 60..=2591999).contains(&expires_in),
        "{expires_in}"
    );
    let expires_at = json["expires_at"].as_str().unwrap().to_owned();
    assert_eq!(
        json,
        json!({
            "name": "x-connect-token",
            "value": format!("TOKEN {MCF_TOKEN}"),
            "expires_in": expires_in,
            "expires_at": expires_at,
        })
    );
    // RFC 3339 in UTC, to the second, and now + expires_in within a few seconds.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = unix_seconds(&expires_at).unwrap_or_else(|| panic!("{expires_at}"));
    assert!(at.abs_diff(now + expires_in) <= 3, "{expires_at}");
    let core: Value = serde_json::from_str(&header("core", "json")).unwrap();
    assert_eq!(
        core,
        json!({"name": "Authorization", "value": MCF_BASIC, "expires_in": null, "expires_at": null})
    );
    mock.assert_calls(1);
}

#[test]
fn motorweb_header_sends_the_credentials_in_the_body() {
    let server = MockServer::start();
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(1800));
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/auth/v1/token")
            .header_missing("authorization")
            .body("grant_type=client_credentials&client_id=wmUB6jn1&client_secret=s%26cr%3Dt");
        then.status(200).json_body(json!({
            "token_type": "Bearer", "access_token": jwt, "expires_in": "3599"
        }));
    });
    let user = User::new("motorweb", "wmUB6jn1", "s&cr=t");
    let args = [
        "header",
        "--provider",
        "motorweb",
        "--base-url",
        &server.base_url(),
    ];
    assert_eq!(user.ok(&args), format!("Authorization: Bearer {jwt}\n"));
    // The JWT's exp (30 min), not expires_in (1 h), is the expiry.
    let json = user.ok(&[&args[..], &["--format", "json"]].concat());
    let expires_in = serde_json::from_str::<Value>(&json).unwrap()["expires_in"].clone();
    assert!(
        (1700..=1800).contains(&expires_in.as_u64().unwrap()),
        "{json}"
    );
    mock.assert_calls(1);
}

#[test]
fn generic_client_auth_scopes_and_params() {
    let server = MockServer::start();
    let url = server.url("/token");
    let cases = [
        // RFC 6749 §2.3.1: id and secret form-encoded before Basic.
        (
            "basic",
            Some("Basic aWQlM0ExOnMrMQ=="),
            "grant_type=client_credentials&scope=read+write&audience=api",
        ),
        (
            "basic-raw",
            Some("Basic aWQ6MTpzIDE="),
            "grant_type=client_credentials&scope=read+write&audience=api",
        ),
        (
            "body",
            None,
            "grant_type=client_credentials&scope=read+write&client_id=id%3A1&client_secret=s+1&audience=api",
        ),
    ];
    for (client_auth, authorization, body) in cases {
        let mut mock = server.mock(|when, then| {
            let when = when.method(POST).path("/token").body(body);
            match authorization {
                Some(value) => when.header("authorization", value),
                None => when.header_missing("authorization"),
            };
            then.status(200).json_body(rfc_token("G1", 3600));
        });
        // basic-raw cannot carry a ':' in the id, so that case uses another id.
        let id = if client_auth == "basic-raw" {
            "id"
        } else {
            "id:1"
        };
        let secret = if client_auth == "basic-raw" {
            "1:s 1"
        } else {
            "s 1"
        };
        let user = User::new(&format!("generic-{client_auth}"), id, secret);
        let args = [
            "header",
            "--provider",
            "generic",
            "--token-url",
            &url,
            "--client-auth",
            client_auth,
            "--scope",
            "read",
            "--scope",
            "write",
            "--param",
            "audience=api",
        ];
        assert_eq!(
            user.ok(&args),
            "Authorization: Bearer G1\n",
            "{client_auth}"
        );
        mock.assert_calls(1);
        mock.delete();
    }
}

#[test]
fn exit_codes() {
    let server = MockServer::start();
    let user = User::new("exit-codes", "id", "s3cr3t-value");
    let generic = |path: &str| {
        let url = server.url(path);
        user.run(&[
            "token",
            "--provider",
            "generic",
            "--no-cache",
            "--token-url",
            &url,
            "--timeout",
            "0.3",
        ])
    };
    let mock = |path: &str, status: u16, body: &str| {
        server.mock(|when, then| {
            when.path(path);
            then.status(status).body(body);
        })
    };
    mock("/rejected", 401, r#"{"error":"invalid_client"}"#);
    mock("/unusable", 200, r#"{"nothing":"here"}"#);
    mock("/refused", 503, "<html>down</html>");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/token", listener.local_addr().unwrap())
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/token", silent.local_addr().unwrap());
    let unreachable = |url: &str| {
        user.run(&[
            "token",
            "--provider",
            "generic",
            "--no-cache",
            "--token-url",
            url,
            "--timeout",
            "0.3",
        ])
    };
    let rejected = format!(
        "credentials rejected: token endpoint {} returned 401: invalid_client",
        server.url("/rejected")
    );
    let refused = format!("token endpoint {} returned 503", server.url("/refused"));
    let cases = [
        (
            user.run(&["header", "--provider", "nowhere"]),
            2,
            "unknown --provider \"nowhere\"",
        ),
        (generic("/rejected"), 3, rejected.as_str()),
        (
            unreachable(&closed),
            4,
            &format!("could not reach the token endpoint {closed}: connection refused"),
        ),
        (
            unreachable(&silent_url),
            4,
            &format!("could not reach the token endpoint {silent_url}: timed out after 300ms"),
        ),
        (
            generic("/unusable"),
            5,
            "unusable token response: no access token in the answer",
        ),
        (generic("/refused"), 6, refused.as_str()),
    ];
    for (out, code, message) in cases {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.starts_with(&format!("apiauth: {message}")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(out.stdout.is_empty());
    }
    drop(silent);
}

#[test]
fn usage_errors_and_help() {
    let user = User::new("usage", "id", "secret");
    let help = user.ok(&["--help"]);
    assert!(help.contains("apiauth header --provider motorweb --env test | curl -H @-"));
    assert_eq!(
        user.ok(&["--version"]),
        format!("apiauth {}\n", env!("CARGO_PKG_VERSION"))
    );
    let generic = ["header", "--provider", "generic"];
    for (args, message) in [
        (
            &[][..],
            "say `apiauth request`, `apiauth header` or `apiauth token`",
        ),
        (&["header"][..], "--provider is required"),
        (&generic[..], "--provider generic needs --token-url"),
        (
            &["header", "--provider", "my-connected-fleet"][..],
            "--api is required",
        ),
        (
            &["token", "--provider", "my-connected-fleet", "--api", "core"][..],
            "the core api takes Basic",
        ),
        (
            &["header", "--provider", "motorweb", "--env", "staging"][..],
            "unknown --env \"staging\"",
        ),
        (
            &[
                "header",
                "--provider",
                "motorweb",
                "--env",
                "test",
                "--api",
                "tacho",
            ][..],
            "--api applies only to",
        ),
        (
            &[
                "token",
                "--provider",
                "motorweb",
                "--env",
                "test",
                "--format",
                "json",
            ][..],
            "--format applies to",
        ),
        (&["header", "--bogus"][..], "unknown option --bogus"),
    ] {
        let out = user.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).starts_with(&format!("apiauth: {message}")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_secret_on_the_command_line_is_refused_before_anything_is_sent() {
    let server = MockServer::start();
    let mock = any_token(&server, "A");
    let user = User::new("argv-secret", "id", "secret");
    let url = server.url("/token");
    for secret_arg in [
        &["--client-secret", "hunter2"][..],
        &["--client-secret=hunter2"],
        &["--param", "client_secret=hunter2"],
    ] {
        let args = [
            &["token", "--provider", "generic", "--token-url", &url][..],
            secret_arg,
        ]
        .concat();
        let out = user.run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            err.contains("refusing a secret on the command line") && err.contains("`ps`"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    mock.assert_calls(0);
}

#[test]
fn credentials_come_from_a_private_file_or_the_environment() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/token")
            .header("authorization", "Basic ZmlsZS1pZDpmaWxlLXNlY3JldA==");
        then.status(200).json_body(rfc_token("F", 3600));
    });
    let mut user = User::new("credentials-file", "env-id", "env-secret");
    let file = user.home.join("credentials");
    fs::write(
        &file,
        "# apiauth\nexport APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=\"file-secret\"\n",
    )
    .unwrap();
    let url = server.url("/token");
    let path = file.display().to_string();
    let args = [
        "token",
        "--provider",
        "generic",
        "--client-auth",
        "basic-raw",
        "--token-url",
        &url,
        "--credentials-file",
        &path,
    ];
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = user.run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is readable by other users (mode 644); chmod 600 it"),
        "{}",
        stderr(&out)
    );
    mock.assert_calls(0);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(user.ok(&args), "F\n");
    mock.assert_calls(1);
    user.env.retain(|(k, _)| !k.starts_with("APIAUTH_"));
    let out = user.run(&args[..args.len() - 2]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(
            "apiauth: no credentials: set APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET"
        )
    );
}

#[test]
fn sixteen_processes_on_a_cold_cache_make_one_request() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200)
            .json_body(rfc_token("SHARED", 3600))
            .delay(Duration::from_millis(300));
    });
    let user = User::new("sixteen", "id", "secret");
    let url = server.url("/token");
    let args = ["header", "--provider", "generic", "--token-url", &url];
    let children: Vec<_> = (0..16)
        .map(|_| user.command(&args).stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "Authorization: Bearer SHARED\n"
        );
    }
    mock.assert_calls(1);
}

#[test]
fn the_cache_is_private_and_never_holds_the_secret() {
    let server = MockServer::start();
    any_token(&server, "PRIVATE");
    let user = User::new("private", "the-id", "the-secret-42");
    let url = server.url("/token");
    user.ok(&["token", "--provider", "generic", "--token-url", &url]);
    let mode = |path: &Path| fs::metadata(path).unwrap().mode() & 0o777;
    assert_eq!(mode(&user.cache_dir()), 0o700);
    let files: Vec<_> = fs::read_dir(user.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}"); // the entry and its lock
    for file in &files {
        assert_eq!(mode(file), 0o600, "{file:?}");
        assert!(!fs::read_to_string(file).unwrap().contains("the-secret-42"));
    }
    let entry: Value = serde_json::from_slice(&fs::read(&user.entries()[0]).unwrap()).unwrap();
    assert_eq!(entry["access_token"], "PRIVATE");
    assert_eq!(entry["client_id"], "the-id");
    assert_eq!(entry["token_url"], url);
}

#[test]
fn untrusted_or_corrupt_entries_are_ignored_and_replaced() {
    let server = MockServer::start();
    let mock = any_token(&server, "GOOD");
    let user = User::new("corrupt", "id", "secret");
    let (args, entry) = user.first_token(&server, "GOOD");
    let valid = fs::read(&entry).unwrap();
    let mut expected_calls = 1;
    let damages: [(&str, &dyn Fn()); 5] = [
        ("truncated", &|| {
            fs::write(&entry, &valid[..valid.len() / 2]).unwrap()
        }),
        ("garbage", &|| {
            fs::write(&entry, b"\x00\xffnot json").unwrap()
        }),
        ("another token url", &|| {
            let text = String::from_utf8(valid.clone()).unwrap();
            fs::write(&entry, text.replace("/token", "/other")).unwrap();
        }),
        ("readable by others", &|| {
            fs::write(&entry, &valid).unwrap();
            fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
        }),
        ("planted token", &|| {
            let text = String::from_utf8(valid.clone()).unwrap();
            fs::write(&entry, text.replace("GOOD", "EVIL")).unwrap();
            fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).unwrap();
        }),
    ];
    for (damage, apply) in damages {
        apply();
        assert_eq!(user.ok(&args), "GOOD\n", "{damage}");
        expected_calls += 1;
        mock.assert_calls(expected_calls);
        let replaced: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        assert_eq!(replaced["access_token"], "GOOD", "{damage}");
        assert_eq!(
            fs::metadata(&entry).unwrap().mode() & 0o777,
            0o600,
            "{damage}"
        );
        // Replaced: the next process uses it without a request.
        assert_eq!(user.ok(&args), "GOOD\n", "{damage}");
        mock.assert_calls(expected_calls);
    }
}

#[test]
fn an_entry_owned_by_another_user_is_ignored() {
    // Only root can give a file away; elsewhere this is covered by the same check's mode half.
    let user = User::new("owner", "id", "secret");
    let probe = user.home.join("probe");
    fs::write(&probe, "").unwrap();
    if std::os::unix::fs::chown(&probe, Some(65534), None).is_err() {
        eprintln!("skipped: cannot chown (not root)");
        return;
    }
    let server = MockServer::start();
    let mock = any_token(&server, "MINE");
    let (args, entry) = user.first_token(&server, "MINE");
    std::os::unix::fs::chown(&entry, Some(65534), None).unwrap();
    assert_eq!(user.ok(&args), "MINE\n");
    mock.assert_calls(2);
    assert_eq!(
        fs::metadata(&entry).unwrap().uid(),
        fs::metadata(&user.home).unwrap().uid()
    );
}

#[test]
fn a_stale_entry_is_refreshed_and_an_expired_one_replaced() {
    let server = MockServer::start();
    let mock = any_token(&server, "T");
    let user = User::new("stale", "id", "secret");
    let (args, entry) = user.first_token(&server, "T");
    // Move the entry's issue time back: 30 s left is inside the 60 s margin; then expired.
    for (left, calls) in [(3000, 1), (30, 2), (-5, 3)] {
        let mut json: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        json["issued_at_ms"] = json!(now_ms - (3600 - left) * 1000);
        fs::write(&entry, json.to_string()).unwrap();
        assert_eq!(user.ok(&args), "T\n");
        mock.assert_calls(calls);
    }
}

#[test]
fn refresh_replaces_the_cached_token() {
    let server = MockServer::start();
    let mut first = any_token(&server, "REVOKED");
    let user = User::new("refresh", "id", "secret");
    let url = server.url("/token");
    let args = ["token", "--provider", "generic", "--token-url", &url];
    assert_eq!(user.ok(&args), "REVOKED\n");
    first.delete();
    let second = any_token(&server, "NEW");
    assert_eq!(user.ok(&args), "REVOKED\n");
    assert_eq!(user.ok(&[&args[..], &["--refresh"]].concat()), "NEW\n");
    assert_eq!(user.ok(&args), "NEW\n");
    second.assert_calls(1);
}

#[test]
fn no_cache_fetches_every_time_and_writes_nothing() {
    let server = MockServer::start();
    let mock = any_token(&server, "N");
    let user = User::new("no-cache", "id", "secret");
    let url = server.url("/token");
    for _ in 0..3 {
        user.ok(&[
            "token",
            "--provider",
            "generic",
            "--token-url",
            &url,
            "--no-cache",
        ]);
    }
    mock.assert_calls(3);
    assert!(!user.cache_dir().exists());
}

#[test]
fn a_process_killed_holding_the_lock_does_not_block_the_next() {
    // The first request hangs; every later one is answered at once.
    let server = Server::start(|n| Reply {
        status: 200,
        body: rfc_token("AFTER", 3600).to_string(),
        delay: Duration::from_secs(if n == 0 { 60 } else { 0 }),
    });
    let user = User::new("killed", "id", "secret");
    let args = [
        "token",
        "--provider",
        "generic",
        "--token-url",
        server.url(),
        "--timeout",
        "30",
    ];
    let mut holder = user.command(&args).stdout(Stdio::null()).spawn().unwrap();
    crate::support::eventually(|| server.hits() == 1); // it holds the lock, waiting
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Were the lock not released, this would wait out 5 × 30 s before fetching.
    let mut next = user.command(&args).stdout(Stdio::piped()).spawn().unwrap();
    let finished = (0..2000).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        next.try_wait().unwrap().is_some()
    });
    if !finished {
        next.kill().unwrap();
    }
    assert!(
        finished,
        "the next process still waits for a dead one's lock"
    );
    let out = next.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "AFTER\n");
    assert_eq!(server.hits(), 2);
}

/// `Authorization` for client `id` with `secret` (letters, digits and `-`: both encodings).
fn basic(secret: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("id:{secret}"));
    format!("Basic {encoded}")
}

/// Whether any file in `dir` holds `needle`.
fn any_file_holds(dir: &Path, needle: &str) -> bool {
    fs::read_dir(dir).unwrap().any(|e| {
        let bytes = fs::read(e.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn a_cached_token_serves_only_the_secret_that_fetched_it() {
    let server = MockServer::start();
    let answer = |secret: &str, status: u16, body: Value| {
        server.mock(|when, then| {
            when.method(POST)
                .path("/token")
                .header("authorization", basic(secret));
            then.status(status).json_body(body);
        })
    };
    let good = answer("S3cr3t-S", 200, rfc_token("GOOD", 3600));
    let wrong = answer("WRONG-s3cr3t", 401, json!({"error": "invalid_client"}));
    let rotated = answer("ROTATED-s3cr3t", 200, rfc_token("NEW", 3600));
    let user = User::new("secret-bound", "id", "S3cr3t-S");
    let (args, entry) = user.first_token(&server, "GOOD");
    let written = fs::read(&entry).unwrap();

    // A wrong secret is sent, and refused; the entry of the right one is left as it was.
    let out = user
        .with_env("APIAUTH_CLIENT_SECRET", "WRONG-s3cr3t")
        .run(&args);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!(
            "apiauth: credentials rejected: token endpoint {} returned 401: invalid_client\n",
            server.url("/token")
        )
    );
    assert_eq!((good.calls(), wrong.calls()), (1, 1));
    assert_eq!(fs::read(&entry).unwrap(), written);
    assert_eq!(user.ok(&args), "GOOD\n");
    good.assert_calls(1);

    // The same secret sent another way is another entry.
    let raw = [&args[..], &["--client-auth".into(), "basic-raw".into()]].concat();
    assert_eq!(user.ok(&raw), "GOOD\n");
    good.assert_calls(2);
    assert_eq!(user.entries().len(), 2);

    // A secret the endpoint accepts (rotated) replaces the entry; the old one no longer
    // matches it.
    let new_secret = user.with_env("APIAUTH_CLIENT_SECRET", "ROTATED-s3cr3t");
    assert_eq!(new_secret.ok(&args), "NEW\n");
    assert_eq!(new_secret.ok(&args), "NEW\n");
    rotated.assert_calls(1);
    assert_eq!(user.ok(&args), "GOOD\n");
    good.assert_calls(3);
    assert_eq!(user.entries().len(), 2);
    for secret in ["S3cr3t-S", "WRONG-s3cr3t", "ROTATED-s3cr3t"] {
        assert!(!any_file_holds(&user.cache_dir(), secret), "{secret}");
    }
}

#[test]
fn a_fifo_in_the_cache_is_replaced_not_waited_on() {
    let server = MockServer::start();
    let mock = any_token(&server, "T");
    let user = User::new("fifo", "id", "secret");
    let (args, entry) = user.first_token(&server, "T");
    let lock = entry.with_extension("lock");
    // Opening a FIFO waits for the other end: for ever, for a reader (the entry) or a
    // writer (the lock) that never comes.
    for (fifo, calls) in [(&entry, 2), (&lock, 3)] {
        fs::remove_file(&entry).unwrap();
        let _ = fs::remove_file(&lock);
        let made = Command::new("mkfifo").arg(fifo).status().unwrap();
        assert!(made.success());
        let out = user.run_within_20s(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "T\n");
        mock.assert_calls(calls);
        assert!(fs::symlink_metadata(fifo).unwrap().is_file(), "{fifo:?}");
    }
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(3);
}

#[test]
fn symlinks_in_the_cache_are_not_followed() {
    let server = MockServer::start();
    let mock = any_token(&server, "T");
    let user = User::new("symlinks", "id", "secret");
    let (args, entry) = user.first_token(&server, "T");
    let lock = entry.with_extension("lock");
    let is_file = |path: &Path| fs::symlink_metadata(path).unwrap().is_file();

    // An entry that would be valid, reached through a symlink: not read, and the rename
    // replaces the link, not its target.
    let elsewhere = user.home.join("elsewhere.json");
    fs::rename(&entry, &elsewhere).unwrap();
    let valid = fs::read(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(2);
    assert!(is_file(&entry));
    assert_eq!(fs::read(&elsewhere).unwrap(), valid);

    // A lock file pointing elsewhere: its target is not created.
    let victim = user.home.join("victim");
    fs::remove_file(&entry).unwrap();
    fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(3);
    assert!(!victim.exists());
    assert!(is_file(&lock));
}
