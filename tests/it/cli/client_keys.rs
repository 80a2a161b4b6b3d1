//! Client authentication without a shared secret from the command line (issue 28 item 5):
//! what the token server receives for each `--client-auth`, the refusals of key files and
//! options, and that keys and assertions stay off stdout and stderr.

use super::*;
use crate::client_key::{TokenServer, field, key, mtls_server, parts, secrets};

/// `apiauth token -vv --no-cache` for the generic `server` with the options `more` (split at
/// spaces), run by client `my-client` with no secret in the environment: stdout, stderr
/// and the exit code.
fn token(user: &User, server: &TokenServer, more: &str) -> (String, String, Option<i32>) {
    let token = generic("token -vv --no-cache", &server.url);
    let args = format!("{token} {more}");
    let user = user.with_env("APIAUTH_CLIENT_ID", "my-client");
    let out = user.without("APIAUTH_CLIENT_SECRET").run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into();
    (stdout, stderr(&out), code(&out))
}

/// The assertion of request `n` the server received.
fn assertion(server: &TokenServer, n: usize) -> String {
    field(&server.forms()[n], "client_assertion").unwrap_or_default()
}

/// The one form the server received: a JWT assertion for `my-client` and `url`, no secret;
/// returns the JWT's header.
fn jwt_header(server: &TokenServer) -> Value {
    let forms = server.forms();
    let [form] = &forms[..] else {
        panic!("{forms:?}")
    };
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    assert_eq!(field(form, "client_assertion_type").unwrap(), jwt_bearer);
    assert_eq!(field(form, "client_secret"), None);
    let (header, claims, ..) = parts(&assertion(server, 0));
    let who = (&claims["iss"], &claims["sub"], &claims["aud"]);
    let (client, url) = (json!("my-client"), json!(server.url));
    assert_eq!(who, (&client, &client, &url));
    header
}

#[test]
fn private_key_jwt_signs_with_the_key_file_and_needs_no_secret() {
    for (file, alg) in [("rsa.pem", "RS256"), ("ec.pem", "ES256")] {
        let (user, server) = (User::new("pkjwt", "", ""), TokenServer::start());
        let key_file = user.key_file(file, 0o600);
        let more = format!("--client-auth private-key-jwt --private-key {key_file} --key-id k1");
        let (stdout, stderr, exit) = token(&user, &server, &format!("{more} --alg {alg}"));
        assert_eq!((stdout.as_str(), exit), ("tok-0\n", Some(0)), "{stderr}");
        let actual = jwt_header(&server);
        assert_eq!(actual, json!({"alg": alg, "typ": "JWT", "kid": "k1"}));
        let pem = String::from_utf8(key(file)).unwrap();
        assert!(!stderr.contains(pem.lines().nth(1).unwrap()));
        assert!(!stderr.contains(&assertion(&server, 0)) && stderr.contains("token fetched"));
    }
}

#[test]
fn client_secret_jwt_signs_with_the_secret() {
    use ring::hmac;
    let user = User::new("csjwt", "my-client", "s3cr3t");
    let server = TokenServer::start();
    let args = argv(generic("token --no-cache", &server.url));
    let more = ["--client-auth", "client-secret-jwt"];
    assert_eq!(user.ok(&[&args[..], &more].concat()), "tok-0\n");
    assert_eq!(jwt_header(&server), json!({"alg": "HS256", "typ": "JWT"}));
    let (_, _, input, signature) = parts(&assertion(&server, 0));
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"s3cr3t");
    assert!(hmac::verify(&key, input.as_bytes(), &signature).is_ok());
}

#[test]
fn assertions_from_a_file_and_from_a_command_without_a_shell() {
    let (user, server) = (User::new("assertion", "", ""), TokenServer::start());
    let file = user.home.join("assertion");
    fs::write(&file, "from-the-file\n").unwrap();
    let file = file.display();
    let more = format!("--client-auth assertion --client-assertion-file {file}");
    assert_eq!(token(&user, &server, &more).0, "tok-0\n");
    // Each argument as given: a shell would expand `$HOME` and stop at `;`.
    let arg = "--client-assertion-arg";
    let more = format!("--client-auth assertion --client-assertion-command printf {arg} %s-%s");
    let (stdout, stderr, _) = token(&user, &server, &format!("{more} {arg} cmd {arg} $HOME;x"));
    assert_eq!(stdout, "tok-1\n", "{stderr}");
    let sent = [assertion(&server, 0), assertion(&server, 1)];
    assert_eq!(sent, ["from-the-file", "cmd-$HOME;x"]);
    assert_eq!(field(&server.forms()[1], "client_id").unwrap(), "my-client");
    assert!(!stderr.contains("cmd-$HOME;x"), "{stderr}");
}

#[test]
fn a_refused_assertion_stays_out_of_the_message() {
    let (user, server) = (User::new("assertion-refused", "", ""), TokenServer::start());
    server.seen.lock().unwrap().accept = Some("another".into());
    let file = user.home.join("assertion");
    fs::write(&file, "eyJ.c2lnbmF0dXJl.x").unwrap();
    let file = file.display();
    let more = format!("--client-auth assertion --client-assertion-file {file}");
    let (stdout, stderr, exit) = token(&user, &server, &more);
    let actual = (stdout.as_str(), exit, server.hits());
    assert_eq!(actual, ("", Some(3), 1), "{stderr}");
    let assertion = stderr.contains("c2lnbmF0dXJl");
    assert!(stderr.contains("invalid_client") && !assertion, "{stderr}");
}

#[test]
fn an_alg_that_does_not_fit_the_key_is_refused() {
    let (user, server) = (User::new("alg", "", ""), TokenServer::start());
    let key_file = user.key_file("ec.pem", 0o600);
    let more = format!("--client-auth private-key-jwt --private-key {key_file} --alg rs256");
    let message = "apiauth: --alg RS256 does not fit the key of --private-key, which signs with \
                   ES256 (see apiauth --help)\n";
    let actual = token(&user, &server, &more);
    assert_eq!(actual, (String::new(), message.into(), Some(2)));
    assert_eq!(server.hits(), 0);
}

#[test]
fn key_files_open_to_others_are_refused_unread() {
    let (user, server) = (User::new("key-modes", "", ""), TokenServer::start());
    let pkjwt = |key: &str| format!("--client-auth private-key-jwt --private-key {key}");
    let tls = |key: &str, ca: &str| format!("--client-auth tls-client-auth {key} --cacert {ca}");
    let cert = user.key_file("client.pem", 0o644);
    let ca = user.key_file("ca.pem", 0o644);
    let key = |mode| format!("--cert {cert} --key {}", user.key_file("client.key", mode));
    let fifo = user.home.join("fifo");
    mkfifo(&fifo);
    let open = "other users can read or write it";
    let writable_ca = user.key_file("ca.pem", 0o666);
    let (rsa, fifo) = (user.key_file("rsa.pem", 0o640), fifo.to_str().unwrap());
    let ca_666 = "--cacert: other users can write it (mode 666)";
    for (more, message) in [
        (pkjwt(&rsa), format!("--private-key: {open} (mode 640)")),
        (pkjwt(fifo), "--private-key: not a regular file".into()),
        (tls(&key(0o604), &ca), format!("--key: {open} (mode 604)")),
        (tls(&key(0o600), &writable_ca), ca_666.into()),
    ] {
        let chmod = if message.contains(open) {
            "; chmod 600 it"
        } else {
            ""
        };
        let message = format!("apiauth: {message}{chmod} (see apiauth --help)\n");
        let actual = token(&user, &server, &more);
        assert_eq!(actual, (String::new(), message, Some(2)));
    }
    assert_eq!(server.hits(), 0);
}

#[test]
fn tls_client_auth_presents_the_certificate_to_the_token_endpoint_and_the_api() {
    let user = User::new("mtls", "", "");
    let server = TokenServer::with_tls(Some(mtls_server()));
    let cert = user.key_file("client.pem", 0o644);
    let key = user.key_file("client.key", 0o600);
    let ca = user.key_file("ca.pem", 0o644);
    let mtls = format!("--client-auth tls-client-auth --cert {cert} --key {key}");
    let (stdout, stderr, _) = token(&user, &server, &format!("{mtls} --cacert {ca}"));
    assert_eq!(stdout, "tok-0\n", "{stderr}");
    let form = &server.forms()[0];
    assert_eq!(field(form, "client_id").as_deref(), Some("my-client"));
    assert_eq!(secrets(form), (None, None));
    // `apiauth request` presents it to the API too, and trusts --cacert there.
    let user = user.with_env("APIAUTH_CLIENT_ID", "my-client");
    let user = user.without("APIAUTH_CLIENT_SECRET");
    let base = server.url.trim_end_matches("/token");
    let request = generic("request", &server.url);
    let request = format!("{request} --no-cache");
    let request = format!("{request} {mtls} --cacert {ca} --api-base-url {base} -d x /token");
    assert!(user.ok(&request).contains("tok-2"));
    assert_eq!(server.seen.lock().unwrap().client_certs, [true, true, true]);
    // Without --cacert the server is not trusted: exit 4, nothing received.
    let (_, stderr, exit) = token(&user, &server, &mtls);
    assert_eq!((exit, server.hits()), (Some(4), 3), "{stderr}");
}
