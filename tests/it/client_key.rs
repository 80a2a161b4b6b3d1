//! Client authentication without a shared secret: signed assertions (RFC 7523), assertions
//! from a file, a command or a function, and client certificates (RFC 8705), against a
//! loopback token server that records what it receives (and, for TLS, what certificate).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiauth::{ClientKey, Credentials, Error, TlsSettings, TokenConfig, TokenSource};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::fixture::{
    chmod, clock, config_error, mkfifo, now_secs, read_request, respond, rfc_token, secret_of,
    temp_dir, transport,
};

pub(crate) const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/keys/");

pub(crate) fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}{name}")).unwrap()
}

pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// TLS settings presenting `client.pem` with its key.
fn client_cert() -> TlsSettings {
    let (cert, private) = (key("client.pem"), key("client.key"));
    TlsSettings::new()
        .with_client_cert(&cert, &private)
        .unwrap()
}

/// A form body, decoded: its names and values in order.
type Form = Vec<(String, String)>;

/// What the token server received and decides.
#[derive(Default)]
pub(crate) struct Seen {
    /// Each request's form body, decoded.
    forms: Vec<Form>,
    /// Whether each connection presented a client certificate.
    pub(crate) client_certs: Vec<bool>,
    /// The only assertion the server accepts (a rotating credential); any if `None`.
    pub(crate) accept: Option<String>,
    /// `expires_in` of the tokens it gives (an hour if `None`).
    expires_in: Option<u64>,
}

pub(crate) struct TokenServer {
    pub(crate) url: String,
    pub(crate) seen: Arc<Mutex<Seen>>,
}

impl TokenServer {
    /// A plain-http token server on loopback.
    pub(crate) fn start() -> TokenServer {
        TokenServer::with_tls(None)
    }

    /// A token server, with TLS that requires a client certificate from `ca.pem` if `tls`.
    pub(crate) fn with_tls(tls: Option<Arc<rustls::ServerConfig>>) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, tls) = (shared.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        let mut stream = rustls::StreamOwned::new(conn, stream);
                        if stream.conn.complete_io(&mut stream.sock).is_err() {
                            return;
                        }
                        let cert = stream.conn.peer_certificates().is_some();
                        seen.lock().unwrap().client_certs.push(cert);
                        serve(&mut stream, &seen);
                    }
                    None => serve(&mut { stream }, &seen),
                });
            }
        });
        TokenServer { url, seen }
    }

    /// A configuration for this server with `client_key`, for `my-client` without a secret.
    fn config(&self, client_key: ClientKey) -> TokenConfig {
        TokenConfig::new(&self.url, creds("")).with_client_key(client_key)
    }

    /// `config(client_key)`, built.
    fn source(&self, client_key: ClientKey) -> TokenSource {
        self.config(client_key).build().unwrap()
    }

    /// The `client_assertion` of each request received.
    pub(crate) fn assertions(&self) -> Vec<String> {
        let assertion = |form: &Form| field(form, "client_assertion").unwrap_or_default();
        self.forms().iter().map(assertion).collect()
    }

    pub(crate) fn forms(&self) -> Vec<Form> {
        self.seen.lock().unwrap().forms.clone()
    }

    pub(crate) fn hits(&self) -> usize {
        self.seen.lock().unwrap().forms.len()
    }
}

/// Answers one request on `stream`: a token, or 401 if the assertion is not the accepted one
/// (the 401 echoes the assertion, as a careless server might).
fn serve(stream: &mut (impl Read + Write), seen: &Mutex<Seen>) {
    let request = read_request(stream);
    let Some((_, body)) = request.split_once("\r\n\r\n") else {
        return;
    };
    let form = form_urlencoded(body);
    let mut seen = seen.lock().unwrap();
    let assertion = field(&form, "client_assertion").unwrap_or_default();
    let n = seen.forms.len();
    let why = format!("bad {assertion}");
    let refusal = json!({"error": "invalid_client", "error_description": why});
    let expires_in = seen.expires_in.unwrap_or(3600);
    let (status, answer) = match &seen.accept {
        Some(accepted) if *accepted != assertion => (401, refusal),
        _ => (200, rfc_token(&format!("tok-{n}"), expires_in)),
    };
    seen.forms.push(form);
    drop(seen);
    let head =
        format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close");
    respond(&mut *stream, &head, &answer.to_string());
    let _ = stream.flush();
}

/// A tiny form decoder, so the test does not trust the library's encoder to check itself.
fn form_urlencoded(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let (mut bytes, mut out) = (s.replace('+', " ").into_bytes().into_iter(), Vec::new());
        while let Some(b) = bytes.next() {
            let mut hex = || char::from(bytes.next().unwrap()).to_digit(16).unwrap() as u8;
            out.push(if b == b'%' { hex() * 16 + hex() } else { b });
        }
        String::from_utf8(out).unwrap()
    };
    let pair = |pair: &str| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    };
    let pairs = body.split('&').filter(|p| !p.is_empty());
    pairs.map(pair).collect()
}

pub(crate) fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The secret and the assertion `form` carries, if any.
pub(crate) fn secrets(form: &[(String, String)]) -> (Option<String>, Option<String>) {
    let field = |name| field(form, name);
    (field("client_secret"), field("client_assertion"))
}

fn creds(secret: &str) -> Credentials {
    Credentials::new("my-client", secret).unwrap()
}

/// The JWT's header and claims, and its signing input and signature.
pub(crate) fn parts(jwt: &str) -> (Value, Value, String, Vec<u8>) {
    let pieces: Vec<&str> = jwt.split('.').collect();
    assert_eq!(pieces.len(), 3, "a JWS in compact form");
    let json = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(pieces[2]).unwrap();
    let input = format!("{}.{}", pieces[0], pieces[1]);
    (json(pieces[0]), json(pieces[1]), input, signature)
}

/// The public key of a `-----BEGIN PUBLIC KEY-----` file as ring takes it: for RSA the
/// RSAPublicKey inside the SubjectPublicKeyInfo, for P-256 the uncompressed point.
fn ring_public_key(pem: &str) -> Vec<u8> {
    let b64: String = (pem.lines()).filter(|l| !l.starts_with("-----")).collect();
    let spki = STANDARD.decode(b64).unwrap();
    match spki.len() {
        294 => spki[24..].to_vec(), // RSA 2048: 30 82 01 22 30 0d … 03 82 01 0f 00 | 30 82 01 0a …
        91 => spki[26..].to_vec(),  // P-256: … 03 42 00 | 04 x y
        n => panic!("unexpected SubjectPublicKeyInfo of {n} bytes"),
    }
}

/// Checks the form of a JWT client assertion and its claims; returns the JWT's parts.
fn assertion_of(form: &[(String, String)], url: &str) -> (Value, Value, String, Vec<u8>) {
    assert_eq!(field(form, "grant_type").unwrap(), "client_credentials");
    assert_eq!(field(form, "client_assertion_type").unwrap(), JWT_BEARER);
    assert_eq!(field(form, "client_id").unwrap(), "my-client");
    assert_eq!(field(form, "client_secret"), None);
    let jwt = field(form, "client_assertion").unwrap();
    let (header, claims, input, signature) = parts(&jwt);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(claims["iss"], "my-client");
    assert_eq!(claims["sub"], "my-client");
    assert_eq!(claims["aud"], url);
    let iat = claims["iat"].as_u64().unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(iat.abs_diff(now_secs()) < 60, "iat {iat} is now");
    assert!((60..=600).contains(&(exp - iat)), "exp a few minutes ahead");
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    (header, claims, input, signature)
}

#[test]
fn signed_assertions_verify_with_the_public_key_and_carry_the_claims() {
    use ring::signature::ECDSA_P256_SHA256_FIXED as ES256;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256 as RS256, UnparsedPublicKey};
    let cases: [(_, _, _, &dyn ring::signature::VerificationAlgorithm); 3] = [
        ("rsa.pem", "rsa.pub.pem", "RS256", &RS256),
        ("rsa-pkcs1.pem", "rsa.pub.pem", "RS256", &RS256),
        ("ec.pem", "ec.pub.pem", "ES256", &ES256),
    ];
    for (private, public, alg, verify) in cases {
        let server = TokenServer::start();
        let client_key = ClientKey::private_key_jwt(&key(private)).unwrap();
        assert_eq!(client_key.algorithm(), Some(alg));
        let source = server.source(client_key.with_key_id("k-2026"));
        source.token().unwrap();
        source.refresh().unwrap();
        let forms = server.forms();
        assert_eq!(forms.len(), 2);
        let public = ring_public_key(&String::from_utf8(key(public)).unwrap());
        let mut jtis = Vec::new();
        for form in &forms {
            let (header, claims, input, signature) = assertion_of(form, &server.url);
            let alg_kid = (header["alg"].as_str(), header["kid"].as_str());
            assert_eq!(alg_kid, (Some(alg), Some("k-2026")));
            let key = UnparsedPublicKey::new(verify, &public);
            key.verify(input.as_bytes(), &signature)
                .unwrap_or_else(|_| panic!("{private}: the signature verifies"));
            let mut tampered = input.clone();
            tampered.push('x');
            assert!(key.verify(tampered.as_bytes(), &signature).is_err());
            jtis.push(claims["jti"].clone());
        }
        assert_ne!(jtis[0], jtis[1], "a fresh jti per request");
    }
}

#[test]
fn client_secret_jwt_verifies_with_the_secret() {
    let server = TokenServer::start();
    let secret = "a-shared-secret-of-32-bytes-or-more!";
    let config = TokenConfig::new(&server.url, creds(secret));
    let config = config.with_client_key(ClientKey::client_secret_jwt());
    let source = config.build().unwrap();
    source.token().unwrap();
    let forms = server.forms();
    let (header, _, input, signature) = assertion_of(&forms[0], &server.url);
    assert_eq!(header["alg"], "HS256");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, input.as_bytes(), &signature).expect("HS256 with the secret");
    assert!(!forms[0].iter().any(|(_, v)| v.contains(secret)));
    // An empty secret cannot sign.
    config_error(server.config(ClientKey::client_secret_jwt()).build());
}

#[test]
fn client_secret_jwt_says_hs256_and_the_keys_that_sign_nothing_say_no_algorithm() {
    let (secret, tls) = (ClientKey::client_secret_jwt(), ClientKey::tls_client_auth());
    let file = ClientKey::assertion_file("a");
    let command = ClientKey::assertion_command("a", &["b"]);
    let function = ClientKey::assertion_fn("f", || Ok("a".into()));
    let algorithms = [secret, tls, file, command, function].map(|key| key.algorithm());
    assert_eq!(algorithms, [Some("HS256"), None, None, None, None]);
}

#[test]
fn a_key_that_is_not_one_is_a_config_error_without_its_bytes() {
    for pem in [
        &b"not a pem"[..],
        &key("client.pem"),
        b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n",
    ] {
        let error = ClientKey::private_key_jwt(pem).unwrap_err();
        assert!(matches!(error, Error::Config(_)), "{error}");
        let (shown, debug) = (error.to_string(), format!("{error:?}"));
        assert!(!shown.contains("c2VjcmV0") && !debug.contains("secret-bytes"));
    }
}

/// Writes `text` to `path` by replacing the file (as a rotation does), mode 0600.
fn rotate(path: &Path, text: &str) {
    let new = path.with_extension("new");
    std::fs::write(&new, text).unwrap();
    #[cfg(unix)]
    chmod(&new, 0o600);
    std::fs::rename(new, path).unwrap();
}

#[test]
fn a_file_assertion_rewritten_between_requests_is_sent_as_its_new_content() {
    let dir = temp_dir("assertion-file");
    let path = dir.join("token");
    rotate(&path, "assertion-1\n");
    let server = TokenServer::start();
    let source = server.source(ClientKey::assertion_file(&path));
    source.token().unwrap();
    rotate(&path, "assertion-2");
    source.refresh().unwrap();
    std::fs::write(&path, "  assertion-3 \n").unwrap(); // in place, too
    source.refresh().unwrap();
    let sent = server.assertions();
    assert_eq!(sent, ["assertion-1", "assertion-2", "assertion-3"]);
    for form in server.forms() {
        assert_eq!(field(&form, "client_assertion_type").unwrap(), JWT_BEARER);
        assert_eq!(field(&form, "client_id").unwrap(), "my-client");
    }
}

/// 26 simulated hours: the assertion rotates every hour and the server accepts only the
/// current one; tokens live 24 h and are refreshed at expiry. Every hour's `token()`
/// succeeds, with a request at hour 0 and at hour 24 only.
fn twenty_six_hours(client_key: ClientKey, path: &Path) {
    let server = TokenServer::start();
    server.seen.lock().unwrap().expires_in = Some(24 * 3600);
    let config = server.config(client_key);
    let config = config.with_refresh_margin(Duration::ZERO);
    let source = config.with_test_clock(clock()).build().unwrap();
    let mut failures = 0;
    for hour in 0..=26 {
        let current = format!("assertion-hour-{hour}");
        rotate(path, &current);
        server.seen.lock().unwrap().accept = Some(current);
        failures += usize::from(source.token().is_err());
        clock().advance(Duration::from_secs(3600));
    }
    assert_eq!(failures, 0);
    let sent = server.assertions();
    assert_eq!(sent, ["assertion-hour-0", "assertion-hour-24"]);
}

#[test]
fn an_hourly_rotated_file_over_26_hours_gives_no_failure_and_one_request_per_token() {
    let path = temp_dir("assertion-26h").join("token");
    twenty_six_hours(ClientKey::assertion_file(&path), &path);
}

#[cfg(unix)]
#[test]
fn an_hourly_rotated_command_output_over_26_hours_gives_no_failure_and_one_request_per_token() {
    let path = temp_dir("assertion-26h-command").join("token");
    twenty_six_hours(ClientKey::assertion_command("cat", &[&path]), &path);
}

#[test]
fn a_function_assertion_is_called_for_every_request() {
    let server = TokenServer::start();
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let client_key = ClientKey::assertion_fn("ci-oidc", move || {
        let mut n = counter.lock().unwrap();
        *n += 1;
        Ok(format!("assertion-{n}"))
    });
    let source = server.source(client_key);
    source.token().unwrap();
    source.token().unwrap(); // cached
    source.refresh().unwrap();
    assert_eq!(*calls.lock().unwrap(), 2);
    let down = ClientKey::assertion_fn("down", || Err(std::io::ErrorKind::NotFound.into()));
    let failing = server.source(down).token();
    assert!(matches!(failing, Err(Error::Assertion(_))));
    assert_eq!(server.hits(), 2);
}

#[test]
fn an_assertion_function_that_fails_or_gives_nothing_is_named() {
    let server = TokenServer::start();
    let fails = |key| server.source(key).token().unwrap_err().to_string();
    let down = ClientKey::assertion_fn("oidc", || Err(std::io::ErrorKind::NotFound.into()));
    let blank = ClientKey::assertion_fn("blank", || Ok(" \n".into()));
    let (down, blank) = (fails(down), fails(blank));
    assert_eq!(down, r#"no client assertion: fn "oidc": entity not found"#);
    assert_eq!(blank, r#"no client assertion: fn "blank": empty or binary"#);
    assert_eq!(server.hits(), 0);
}

#[cfg(unix)]
#[test]
fn an_unusable_assertion_is_a_typed_error_and_nothing_is_sent() {
    let dir = temp_dir("assertion-bad");
    let server = TokenServer::start();
    let fails = |client_key: ClientKey| {
        let config = server.config(client_key);
        let config = config.with_timeout(Duration::from_secs(1));
        let source = config.build().unwrap();
        let started = std::time::Instant::now();
        let error = source.token().unwrap_err();
        assert!(matches!(error, Error::Assertion(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        error.to_string()
    };
    let empty = dir.join("empty");
    rotate(&empty, " \n");
    assert!(fails(ClientKey::assertion_file(&empty)).contains("empty"));
    assert!(fails(ClientKey::assertion_file(dir.join("missing"))).contains("missing"));
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    assert!(fails(ClientKey::assertion_file(&fifo)).contains("not a regular file"));
    let shared = dir.join("shared");
    rotate(&shared, "assertion-x");
    chmod(&shared, 0o666);
    assert!(fails(ClientKey::assertion_file(&shared)).contains("others can write"));
    let big = dir.join("big");
    rotate(&big, &"a".repeat(64 * 1024 + 1));
    assert!(fails(ClientKey::assertion_file(&big)).contains("64 KiB"));
    let control = dir.join("control");
    rotate(&control, "eyJ\u{1b}[2Jx");
    let message = fails(ClientKey::assertion_file(&control));
    assert!(!message.contains("eyJ"));
    let command = |program: &str, args: &[&str]| fails(ClientKey::assertion_command(program, args));
    assert!(command("sh", &["-c", "echo secret-assertion; exit 3"]).contains("exit status: 3"));
    assert!(command("sleep", &["30"]).contains("exit in"));
    let big = command("sh", &["-c", "head -c 70000 /dev/zero | tr '\\0' a"]);
    assert!(big.contains("64 KiB"));
    assert!(command("/nonexistent/helper", &[]).contains("cannot start"));
    assert_eq!(server.hits(), 0, "nothing was sent");
}

#[test]
fn assertions_and_keys_stay_out_of_errors_and_debug() {
    let capture = crate::logs::capture();
    let dir = temp_dir("assertion-leak");
    let path = dir.join("token");
    let assertion =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw";
    rotate(&path, assertion);
    let server = TokenServer::start();
    server.seen.lock().unwrap().accept = Some("another".into());
    let config = server.config(ClientKey::assertion_file(&path));
    let source = config.clone().build().unwrap();
    let error = source.token().unwrap_err();
    assert!(matches!(error, Error::CredentialsRejected(_)), "{error:?}");
    assert!(!error.to_string().contains("c2lnbmF0dXJl"), "{error}");
    assert!(!format!("{error:?}").contains("c2lnbmF0dXJl"));
    assert!(!format!("{config:?} {source:?}").contains("c2lnbmF0dXJl"));
    let pem = key("rsa.pem");
    let line = |pem: Vec<u8>, n| {
        let text = String::from_utf8(pem).unwrap();
        text.lines().nth(n).unwrap().to_owned()
    };
    let body = line(pem.clone(), 2);
    let signed = ClientKey::private_key_jwt(&pem).unwrap();
    let (tls, client_key_line) = (client_cert(), line(key("client.key"), 1));
    let shown = format!("{signed:?} {tls:?} {:?}", tls.agent_config().build());
    let leaked = shown.contains(&body) || shown.contains(&client_key_line[..20]);
    assert!(!leaked, "{shown}");
    assert!(shown.contains("private_key_jwt"), "{shown}");
    // A signed assertion's request, refused, and the logs of it all.
    let signed = server.config(signed);
    assert!(signed.build().unwrap().token().is_err());
    let logs = capture.0.lock().unwrap().join("\n");
    assert!(logs.contains(&server.url), "the requests were logged");
    assert!(!logs.contains("c2lnbmF0dXJl") && !logs.contains("eyJ") && !logs.contains(&body));
}

#[cfg(unix)]
#[test]
fn two_keys_of_one_client_get_two_cache_slots() {
    let dir = temp_dir("assertion-slots");
    let server = TokenServer::start();
    let cache = apiauth::DiskCache::open(dir.join("cache")).unwrap();
    let token = |client_key: ClientKey| {
        let config = server.config(client_key).with_disk_cache(cache.clone());
        secret_of(&config.build().unwrap())
    };
    let rsa = || ClientKey::private_key_jwt(&key("rsa.pem")).unwrap();
    let ec = || ClientKey::private_key_jwt(&key("ec.pem")).unwrap();
    assert_eq!(token(rsa()), "tok-0");
    assert_eq!(token(ec()), "tok-1");
    // The same key again (a new process would be the same): served from the cache.
    assert_eq!(token(rsa()), "tok-0");
    assert_eq!(token(rsa().with_key_id("k2")), "tok-2");
    // Files and commands: one slot per source.
    let (a, b) = (dir.join("a"), dir.join("b"));
    rotate(&a, "assertion-a");
    rotate(&b, "assertion-b");
    assert_eq!(token(ClientKey::assertion_file(&a)), "tok-3");
    assert_eq!(token(ClientKey::assertion_file(&b)), "tok-4");
    assert_eq!(token(ClientKey::assertion_file(&a)), "tok-3");
    assert_eq!(server.hits(), 5);
    // No key material, assertion or path in the cache's files.
    for entry in std::fs::read_dir(dir.join("cache")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("assertion-a") && !text.contains(a.to_str().unwrap()));
        assert!(!text.contains("PRIVATE") && !text.contains("eyJ"));
    }
}

/// A rustls server config that requires a client certificate issued by `ca.pem`.
pub(crate) fn mtls_server() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(&key("ca.pem")).unwrap();
    roots.add(ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider;
    let verifier = verifier(Arc::new(roots), provider.clone()).build().unwrap();
    let chain = CertificateDer::pem_slice_iter(&key("server.pem")).collect::<Result<Vec<_>, _>>();
    let chain = chain.unwrap();
    let server_key = PrivateKeyDer::from_pem_slice(&key("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider);
    let config = config.with_safe_default_protocol_versions().unwrap();
    let config = config.with_client_cert_verifier(verifier);
    let config = config.with_single_cert(chain, server_key).unwrap();
    Arc::new(config)
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_it_and_refuses_a_client_without() {
    let server = TokenServer::with_tls(Some(mtls_server()));
    let tls = client_cert().with_root_certs(&key("ca.pem")).unwrap();
    let config = server.config(ClientKey::tls_client_auth());
    let actual = secret_of(&config.with_tls(tls.clone()).build().unwrap());
    assert_eq!(actual, "tok-0");
    let form = &server.forms()[0];
    assert_eq!(field(form, "client_id").unwrap(), "my-client");
    assert_eq!(secrets(form), (None, None));
    assert_eq!(server.seen.lock().unwrap().client_certs, [true]);
    // API calls through an agent with the same settings present it too.
    let agent: ureq::Agent = tls.agent_config().build().into();
    let answer = agent.post(&server.url).send("grant_type=x").unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(server.seen.lock().unwrap().client_certs, [true, true]);
    // The private CA alone: the server refuses the handshake, and nothing is received.
    let config = TokenConfig::new(&server.url, creds("s"));
    let config = config.with_client_auth(apiauth::ClientAuth::RequestBody);
    let ca = TlsSettings::new().with_root_certs(&key("ca.pem")).unwrap();
    transport(config.with_tls(ca).build().unwrap().token());
    // Without the private CA, the server is not trusted.
    let config = server.config(ClientKey::tls_client_auth());
    transport(config.with_tls(client_cert()).build().unwrap().token());
    assert_eq!(server.hits(), 2);
}

#[test]
fn a_bad_or_mismatched_client_certificate_is_a_config_error_at_build() {
    let (cert, good) = (key("client.pem"), key("client.key"));
    let not_a_certificate = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    for (chain, private) in [
        (&cert[..], &key("ec2.pem")[..]), // another key
        (&cert, &key("rsa.pem")),         // another kind of key
        (&cert, b"no key here"),
        (&key("client.key"), &good), // a key where the chain should be
        (not_a_certificate, &good),
    ] {
        config_error(TlsSettings::new().with_client_cert(chain, private));
    }
    config_error(TlsSettings::new().with_root_certs(b"none"));
    // tls_client_auth without a certificate to present, and TLS settings with an agent.
    let config = TokenConfig::new("https://a.example/token", creds(""));
    let no_cert = config.clone().with_client_key(ClientKey::tls_client_auth());
    config_error(no_cert.build());
    let with_tls = config.clone().with_tls(TlsSettings::new());
    let agent = ureq::Agent::new_with_defaults();
    config_error(with_tls.with_agent(agent).build());
    // The form parameters the client key sets are not overridable.
    config_error(config.with_param("client_assertion", "x").build());
}

/// An assertion command that prints its assertion and exits at once, leaving a background
/// child that holds its output (a helper that starts a daemon): taken at its word after a
/// short grace, not refused after the whole time limit.
#[cfg(unix)]
#[test]
fn an_assertion_command_that_exits_is_not_held_by_its_background_child() {
    let server = crate::fixture::TokenServer::start();
    let token = server.token("T", 3600);
    let key = ClientKey::assertion_command("sh", &["-c", "sleep 5 & echo eyJhbGciOi.x.y"]);
    let config = server.config().with_timeout(Duration::from_secs(2));
    let source = config.with_client_key(key).build().unwrap();
    assert_eq!(secret_of(&source), "T");
    token.assert_calls(1);
}

/// An assertion file others may write (its group, or everyone) is refused: nothing is sent.
#[cfg(unix)]
#[test]
fn an_assertion_file_others_may_write_is_refused() {
    let server = crate::fixture::TokenServer::start();
    let any = server.any(200, json!({"access_token": "T"}));
    let path = temp_dir("group-writable-assertion").join("token");
    std::fs::write(&path, "eyJhbGciOi.eyJzdWIi.c2ln").unwrap();
    for mode in [0o660, 0o602] {
        chmod(&path, mode);
        let key = ClientKey::assertion_file(&path);
        let source = server.config().with_client_key(key).build().unwrap();
        let error = source.token().unwrap_err();
        let refused = matches!(&error, Error::Assertion(m) if m.ends_with("others can write it"));
        assert!(refused, "{error}");
    }
    any.assert_calls(0);
}

/// A token fetched with a client certificate is read back from the disk by the next process
/// with the same certificate (its slot is bound to the certificate's hash): one request.
#[cfg(unix)]
#[test]
fn a_token_for_a_client_certificate_is_shared_through_the_disk() {
    let server = crate::fixture::TokenServer::start();
    let token = server.token("T", 3600);
    let dir = temp_dir("client-cert-disk");
    let source = || {
        let cache = apiauth::DiskCache::open(dir.join("apiauth")).unwrap();
        let config = TokenConfig::new(server.token_url(), Credentials::new("id", "").unwrap());
        let config = config.with_client_key(ClientKey::tls_client_auth());
        let config = config.with_tls(client_cert());
        config.with_disk_cache(cache).build().unwrap()
    };
    assert_eq!(secret_of(&source()), "T");
    assert_eq!(secret_of(&source()), "T");
    token.assert_calls(1);
}
