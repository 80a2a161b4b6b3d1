//! What the command refuses before anything is sent, without repeating what was typed:
//! options, URLs, headers, methods, the environment and the credentials file.

use super::*;

/// A value no output may repeat.
const PROBE: &str = "Zq7PROBE";

/// A server that counts every request (token endpoint and API alike) and must see none,
/// and a user.
fn counted(test: &str) -> (TokenServer, User) {
    let user = User::new(test, "env-id", "env-secret");
    (TokenServer::start(), user)
}

/// The user's credentials file, a `token` command line without it and one `args` with it.
fn with_credentials_file(server: &TokenServer, user: &User) -> (PathBuf, String, String) {
    let file = user.home.join("credentials");
    let token = generic("token", &server.token_url());
    let args = format!("{token} --credentials-file {}", file.display());
    (file, token, args)
}

/// Runs `args`, which must fail with exit 2 and exactly `message` on stderr, without the
/// probe anywhere in the output.
fn refused(user: &User, args: &(impl Argv + ?Sized), message: &str) {
    let (out, args) = (outcome(&user.run(args)), args.words());
    let expected = format!("apiauth: {message} (see apiauth --help)\n");
    assert_eq!(out, (Some(2), String::new(), expected), "{args:?}");
    assert!(!out.2.contains(PROBE), "{args:?}");
}

/// Writes `text` to `file` (anew), with `mode`.
fn write(file: &Path, text: &str, mode: u32) {
    let _ = fs::remove_file(file);
    fs::write(file, text).unwrap();
    chmod(file, mode);
}

#[test]
fn nothing_typed_is_echoed_and_nothing_is_sent() {
    let (server, user) = counted("refusals-echo");
    let sent = server.any(200, json!({}));
    let common = generic("request", &server.token_url()).replace(' ', "|");
    let with = |more: &str| format!("{common}|--api-base-url|{}|{more}", server.base_url());
    let methods = "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS";
    let auth = "refusing --header authorization: apiauth sets the auth header itself, and \
                credentials never go on the command line (every user of this host can read it \
                with `ps`)";
    let visible = "--header takes 'Name: value' with a visible ASCII value";
    let user_in_url = "header|--provider|generic|--token-url|https://u:Zq7PROBE@a.example/t";
    let prod = "header|--provider|motorweb|--env|prod|--base-url|https://a.example";
    for (args, message) in [
        (with("-HAuthorization: Bearer Zq7PROBE|/v1/x"), auth),
        (with("-XZq7PROBE|/v1/x"), methods),
        (with("--method|PROPFIND|/v1/x"), methods),
        (with("--Zq7PROBE|/v1/x"), "unknown option at argument 8"),
        (with("-HZq7PROBE|/v1/x"), "--header takes 'Name: value'"),
        (with("-HZq7PROBE: a\u{1}b|/v1/x"), visible),
        (with("/v1/x|Zq7PROBE"), "unexpected argument at position 9"),
        (
            user_in_url.into(),
            "--token-url takes an http(s) URL without user or password",
        ),
        (prod.into(), "--env takes test or production"),
    ] {
        refused(&user, &args.split('|').collect::<Vec<_>>(), message);
    }
    sent.assert_calls(0);
}

#[test]
fn the_environment_is_checked_before_anything_is_sent() {
    let (server, user) = counted("refusals-env");
    let sent = server.any(200, json!({}));
    let args = generic("token", &server.token_url());
    for name in ["APIAUTH_CLIENT_SECRET", "APIAUTH_CLIENT_ID"] {
        let empty = format!("{name} is set but empty");
        refused(&user.with_env(name, ""), &args, &empty);
    }
    sent.assert_calls(0);
}

#[test]
fn the_credentials_file_must_be_a_private_regular_file_with_plain_syntax() {
    let (server, user) = counted("refusals-file");
    let sent = server.any(200, json!({}));
    let (file, token, args) = with_credentials_file(&server, &user);
    let good = "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=Zq7PROBE\n";
    for mode in [0o622, 0o640, 0o602] {
        write(&file, good, mode);
        let why = format!("other users can read or write it (mode {mode:o}); chmod 600 it");
        refused(&user, &args, &format!("credentials file: {why}"));
    }
    let commented = "APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=x # Zq7PROBE\n";
    write(&file, commented, 0o600);
    let ambiguous = "line 2: a # after a value is ambiguous; quote the value";
    refused(&user, &args, &format!("credentials file: {ambiguous}"));
    write(&file, "Zq7PROBE\n", 0o600);
    refused(&user, &args, "credentials file: line 1: not NAME=value");
    // A symlink to a private file is not followed.
    write(&file, good, 0o600);
    let link = user.home.join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let via_link = format!("{token} --credentials-file {}", link.display());
    let symlink = "credentials file: is a symbolic link; give the file itself";
    refused(&user, &via_link, symlink);
    // A FIFO is refused at once, not waited on.
    fs::remove_file(&file).unwrap();
    mkfifo(&file);
    chmod(&file, 0o600);
    let out = user.run_within_20s(&args);
    let fifo = "apiauth: credentials file: not a regular file (see apiauth --help)\n";
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(2), fifo));
    // Another user's file (only testable as root, who can give it away).
    if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        write(&file, good, 0o600);
        std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
        refused(&user, &args, "credentials file: owned by another user");
    }
    sent.assert_calls(0);
}

#[test]
fn urls_are_shown_without_query_or_user() {
    let (server, user) = start("refusals-query");
    let token = server.token("QTOKEN", 3600);
    let url = format!("{}?api_key=Zq7PROBE", server.token_url());
    let out = user.run(&format!("-v token --provider generic --token-url {url}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains(PROBE), "{}", stderr(&out));
    token.assert_calls(1);
    let listed = user.ok("cache list");
    let expected = format!("{} id - ", server.token_url());
    let probe = listed.contains(PROBE);
    assert!(listed.starts_with(&expected) && !probe, "{listed}");
    // An unreachable endpoint's error names it without its query.
    let closed = closed_url("/t?api_key=Zq7PROBE");
    let out = user.run(&format!("{} --no-cache", generic("-vv token", &closed)));
    assert_eq!(out.status.code(), Some(4));
    assert!(!stderr(&out).contains(PROBE), "{}", stderr(&out));
}

#[test]
fn a_secret_on_the_command_line_is_refused_before_anything_is_sent() {
    let (server, user) = start("argv-secret");
    let mock = server.token("A", 3600);
    let token = generic("token", &server.token_url());
    let secrets = ["--client-secret hunter2", "--client-secret=hunter2"];
    for secret in secrets.into_iter().chain(["--param client_secret=hunter2"]) {
        let out = user.run(&format!("{token} {secret}"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2));
        let refusal = err.contains("refusing a secret on the command line") && err.contains("`ps`");
        assert!(refusal && !err.contains("hunter2"), "{err}");
    }
    mock.assert_calls(0);
}

#[test]
fn credentials_come_from_a_private_file_or_the_environment() {
    let (server, mut user) = counted("credentials-file");
    let basic = "POST /token; authorization: Basic ZmlsZS1pZDpmaWxlLXNlY3JldA==";
    let mock = server.answer(&format!("{basic} => 200 {}", rfc_token("F", 3600)));
    let file = user.home.join("credentials");
    let text =
        "# apiauth\nexport APIAUTH_CLIENT_ID=file-id\nAPIAUTH_CLIENT_SECRET=\"file-secret\"\n";
    write(&file, text, 0o644);
    let token = generic("token", &server.token_url());
    let token = format!("{token} --client-auth basic-raw");
    let args = format!("{token} --credentials-file {}", file.display());
    let open = "credentials file: other users can read or write it (mode 644); chmod 600 it";
    refused(&user, &args, open);
    mock.assert_calls(0);
    chmod(&file, 0o600);
    assert_eq!(user.ok(&args), "F\n");
    mock.assert_calls(1);
    user.env.retain(|(k, _)| !k.starts_with("APIAUTH_"));
    let out = user.run(&token);
    assert_eq!(out.status.code(), Some(2));
    let none = "apiauth: no credentials: set APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET";
    assert!(stderr(&out).starts_with(none));
}

#[test]
fn a_carriage_return_in_the_credentials_file_is_refused_as_a_shell_would_keep_it() {
    let (server, user) = counted("refusals-crlf");
    let sent = server.any(200, json!({}));
    let (file, _, args) = with_credentials_file(&server, &user);
    let cr = "a carriage return (CR), which a shell would read into the value; save the file \
              with LF line endings";
    let id = "APIAUTH_CLIENT_ID=file-id";
    for (text, line) in [
        // Saved on Windows: `. ./credentials` would send "Zq7PROBE\r" as the secret.
        (format!("{id}\r\nAPIAUTH_CLIENT_SECRET=Zq7PROBE\r\n"), 1),
        // A stray one, inside a value or quotes.
        (format!("{id}\nAPIAUTH_CLIENT_SECRET=Zq7\rPROBE\n"), 2),
        (format!("{id}\nAPIAUTH_CLIENT_SECRET='Zq7PROBE\r'\n"), 2),
    ] {
        write(&file, &text, 0o600);
        let message = format!("credentials file: line {line}: {cr}");
        refused(&user, &args, &message);
    }
    sent.assert_calls(0);
}
