//! What the command refuses before anything is sent, without repeating what was typed:
//! options, URLs, headers, methods, the environment and the credentials file.

use super::*;

/// A value no output may repeat.
const PROBE: &str = "Zq7PROBE";

/// A token endpoint and an API on one server, both counted.
struct Counted {
    server: MockServer,
}

impl Counted {
    fn new() -> Counted {
        Counted {
            server: MockServer::start(),
        }
    }

    fn mocks(&self) -> (Mock<'_>, Mock<'_>) {
        let token = any_token(&self.server, "A");
        let api = self.server.mock(|when, then| {
            when.path_includes("/v1");
            then.status(200).body("sent");
        });
        (token, api)
    }
}

/// Runs `args`, which must fail with exit 2 and exactly `message` on stderr, without the
/// probe anywhere in the output.
fn refused(user: &User, args: &[&str], message: &str) {
    let out = user.run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(
        err,
        format!("apiauth: {message} (see apiauth --help)\n"),
        "{args:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn nothing_typed_is_echoed_and_nothing_is_sent() {
    let counted = Counted::new();
    let (token, api) = counted.mocks();
    let user = User::new("refusals-echo", "id", "secret");
    let token_url = counted.server.url("/token");
    let base = counted.server.base_url();
    let common = argv(format!(
        "request --provider generic --token-url {} --api-base-url {}",
        token_url, base
    ));
    let with = |more: &[&str]| [&common[..], more].concat().join("\u{0}");
    let methods = "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS";
    let cases: [(String, &str); 9] = [
        (
            with(&["-HAuthorization: Bearer Zq7PROBE", "/v1/x"]),
            "refusing --header authorization: apiauth sets the auth header itself, and \
             credentials never go on the command line (every user of this host can read it \
             with `ps`)",
        ),
        (with(&["-XZq7PROBE", "/v1/x"]), methods),
        (with(&["--method", "PROPFIND", "/v1/x"]), methods),
        (
            with(&["--Zq7PROBE", "/v1/x"]),
            "unknown option at argument 8",
        ),
        (
            with(&["-HZq7PROBE", "/v1/x"]),
            "--header takes 'Name: value'",
        ),
        (
            with(&["-HZq7PROBE: a\u{1}b", "/v1/x"]),
            "--header takes 'Name: value' with a visible ASCII value",
        ),
        (
            with(&["/v1/x", "Zq7PROBE"]),
            "unexpected argument at position 9",
        ),
        (
            "header\0--provider\0generic\0--token-url\0https://u:Zq7PROBE@a.example/t".into(),
            "--token-url takes an http(s) URL without user or password",
        ),
        (
            "header\0--provider\0motorweb\0--env\0prod\0--base-url\0https://a.example".into(),
            "--env takes test or production",
        ),
    ];
    for (args, message) in &cases {
        let args: Vec<&str> = args.split('\0').collect();
        refused(&user, &args, message);
        let out = user.run(&args);
        assert!(!stderr(&out).contains(PROBE), "{args:?}");
    }
    token.assert_calls(0);
    api.assert_calls(0);
}

#[test]
fn the_environment_is_checked_before_anything_is_sent() {
    let counted = Counted::new();
    let (token, _) = counted.mocks();
    let url = counted.server.url("/token");
    let args = ["token", "--provider", "generic", "--token-url", &url];
    let user = User::new("refusals-env", "id", "secret");
    refused(
        &user.with_env("APIAUTH_CLIENT_SECRET", ""),
        &args,
        "APIAUTH_CLIENT_SECRET is set but empty",
    );
    refused(
        &user.with_env("APIAUTH_CLIENT_ID", ""),
        &args,
        "APIAUTH_CLIENT_ID is set but empty",
    );
    token.assert_calls(0);
}

#[test]
fn the_credentials_file_must_be_a_private_regular_file_with_plain_syntax() {
    let counted = Counted::new();
    let (token, _) = counted.mocks();
    let user = User::new("refusals-file", "env-id", "env-secret");
    let url = counted.server.url("/token");
    let file = user.home.join("credentials");
    let path = file.display().to_string();
    let args = argv(format!(
        "token --provider generic --token-url {} --credentials-file {}",
        url, path
    ));
    let write = |text: &str, mode: u32| {
        let _ = fs::remove_file(&file);
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
    };
    let good = "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=Zq7PROBE\n";
    for (mode, shown) in [(0o622, "622"), (0o640, "640"), (0o602, "602")] {
        write(good, mode);
        let message = format!(
            "credentials file: other users can read or write it (mode {shown}); chmod 600 it"
        );
        refused(&user, &args, &message);
    }
    write(
        "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=x # Zq7PROBE\n",
        0o600,
    );
    refused(
        &user,
        &args,
        "credentials file: line 2: a # after a value is ambiguous; quote the value",
    );
    write("Zq7PROBE\n", 0o600);
    refused(&user, &args, "credentials file: line 1: not NAME=value");

    // A symlink to a private file is not followed.
    write(good, 0o600);
    let link = user.home.join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let link = link.display().to_string();
    let via_link = [&args[..5], &["--credentials-file", &link]].concat();
    refused(
        &user,
        &via_link,
        "credentials file: is a symbolic link; give the file itself",
    );

    // A FIFO is refused at once, not waited on.
    fs::remove_file(&file).unwrap();
    let made = Command::new("mkfifo").arg(&file).status().unwrap();
    assert!(made.success());
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let out = user.run_within_20s(&args);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "apiauth: credentials file: not a regular file (see apiauth --help)\n"
    );

    // Another user's file (only testable as root, who can give it away).
    if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        fs::remove_file(&file).unwrap();
        write(good, 0o600);
        std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
        refused(&user, &args, "credentials file: owned by another user");
    }
    token.assert_calls(0);
}

#[test]
fn urls_are_shown_without_query_or_user() {
    let server = MockServer::start();
    let token = server.mock(|when, then| {
        when.method(POST).path("/token");
        then.status(200).json_body(rfc_token("QTOKEN", 3600));
    });
    let user = User::new("refusals-query", "id", "secret");
    let url = format!("{}?api_key=Zq7PROBE", server.url("/token"));
    let out = user.run(&format!("-v token --provider generic --token-url {url}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains(PROBE), "{}", stderr(&out));
    token.assert_calls(1);
    let listed = user.ok("cache list");
    assert!(
        listed.starts_with(&format!("{} id - ", server.url("/token"))),
        "{listed}"
    );
    assert!(!listed.contains(PROBE), "{listed}");

    // An unreachable endpoint's error names it without its query.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://{}/t?api_key=Zq7PROBE",
            listener.local_addr().unwrap()
        )
    };
    let args = argv(format!(
        "-vv token --provider generic --no-cache --token-url {}",
        closed
    ));
    let out = user.run(&args);
    assert_eq!(out.status.code(), Some(4));
    assert!(!stderr(&out).contains(PROBE), "{}", stderr(&out));
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
    let args = argv(format!(
        "token --provider generic --client-auth basic-raw --token-url {} --credentials-file {}",
        url, path
    ));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = user.run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            == "apiauth: credentials file: other users can read or write it (mode 644); \
                chmod 600 it (see apiauth --help)\n",
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
fn a_carriage_return_in_the_credentials_file_is_refused_as_a_shell_would_keep_it() {
    let counted = Counted::new();
    let (token, _) = counted.mocks();
    let user = User::new("refusals-crlf", "env-id", "env-secret");
    let url = counted.server.url("/token");
    let file = user.home.join("credentials");
    let path = file.display().to_string();
    let args = argv(format!(
        "token --provider generic --token-url {} --credentials-file {}",
        url, path
    ));
    let cr = "a carriage return (CR), which a shell would read into the value; save the file \
              with LF line endings";
    for (text, line) in [
        // Saved on Windows: `. ./credentials` would send "Zq7PROBE\r" as the secret.
        (
            "APIAUTH_CLIENT_ID=file-id\r\nAPIAUTH_CLIENT_SECRET=Zq7PROBE\r\n",
            1,
        ),
        // A stray one, inside a value or quotes.
        (
            "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=Zq7\rPROBE\n",
            2,
        ),
        (
            "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET='Zq7PROBE\r'\n",
            2,
        ),
    ] {
        let _ = fs::remove_file(&file);
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        refused(
            &user,
            &args,
            &format!("credentials file: line {line}: {cr}"),
        );
    }
    token.assert_calls(0);
}
