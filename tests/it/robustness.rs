//! Hostile input, faults and secrets: nothing leaks, hangs or panics.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use apiauth::TokenScheme::{Bearer, ConnectToken};
use apiauth::{
    ApiClient, Auth, BasicEncoding, Credentials, Error, Token, TokenConfig, TokenSource, Unusable,
};
use base64::Engine as _;
use serde_json::json;

use crate::fixture::{
    Raw, TokenServer, closed_url, creds, jwt_expiring_in, reply, transport, unusable,
};
use crate::server::Server;
use crate::usable::assert_usable;

fn source(url: &str) -> TokenSource {
    let config = TokenConfig::new(url, creds()).with_timeout(Duration::from_millis(500));
    config.build().unwrap()
}

/// A source (500 ms time limit) on a server that reads the request and hands the socket to
/// `respond`.
fn raw(respond: impl Fn(TcpStream) + Send + Sync + 'static) -> TokenSource {
    source(Raw::start(move |_, socket, _| respond(socket)).url())
}

#[test]
fn connection_refused() {
    let url = closed_url("/token");
    let error = transport(source(&url).token());
    assert_eq!(error.cause, apiauth::Cause::ConnectionRefused, "{error:?}");
    let message = format!("could not reach the token endpoint {url}: connection refused");
    assert_eq!(error.to_string(), message);
}

#[test]
fn a_trickling_body_hits_the_time_limit() {
    let source = raw(|mut socket| {
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{");
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(100));
            if socket.write_all(b" ").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let error = transport(source.token());
    let after = Some(Duration::from_millis(500));
    assert_eq!(error.cause, apiauth::Cause::TimedOut { after }, "{error:?}");
    let elapsed = started.elapsed();
    eprintln!("trickling body: timed out after {elapsed:?} (limit 500 ms)");
}

#[test]
fn a_10_mb_body_is_refused_after_64_kib() {
    let source = raw(|mut socket| {
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10485760\r\n\r\n");
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..160 {
            if socket.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    assert_eq!(unusable(source.token()), Unusable::TooLarge);
}

#[test]
fn a_truncated_body_and_a_connection_closed_mid_chunk() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"access_token\":\"abc"[..],
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{\"access",
    ] {
        transport(raw(move |mut socket| drop(socket.write_all(answer))).token());
    }
}

#[test]
fn a_64_kib_token_is_over_the_body_cap() {
    let server = TokenServer::start();
    server.json(200, json!({"access_token": "a".repeat(64 * 1024)}));
    unusable(server.source().token()); // panics on any other answer
}

#[test]
fn huge_and_negative_lifetimes_from_a_server() {
    // A negative one is refused (RFC 6749 §5.1), not guessed at: see token_endpoint.rs.
    for (expires_in, lifetime) in [
        (json!(1e300), Some(Token::MAX_LIFETIME)),
        (json!(-3600), None),
    ] {
        let server = TokenServer::start();
        server.json(200, json!({"access_token": "t", "expires_in": expires_in}));
        assert_eq!(server.source().token().ok().map(|t| t.lifetime()), lifetime);
    }
}

const SECRET: &str = "CLIENTSECRET-9f8e";
const TOKEN: &str = "TOKENSECRET-7d6c";

/// Whether `text` shows any secret, or the Basic encoding of the credentials.
fn leaks(text: &str) -> bool {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("id:{SECRET}"));
    text.contains("SECRET") || text.contains(&basic)
}

#[test]
fn no_secret_reaches_debug_or_an_error() {
    let server = TokenServer::start();
    let body = json!({"access_token": TOKEN, "refresh_token": "REFRESHSECRET", "expires_in": 60});
    server.json(200, body);
    let creds = Credentials::new("id", SECRET).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let config = TokenConfig::new(server.token_url(), creds.clone());
    let config = config.on_refresh(move |event| log.lock().unwrap().push(format!("{event:?}")));
    let source = config.build().unwrap();
    let token = source.token().unwrap();
    let printed = [
        format!("{creds:?}"),
        format!("{:?}", creds.secret()),
        format!("{:?}", creds.basic_header(BasicEncoding::Raw).unwrap()),
        format!("{token:?}"),
        format!("{:?}", token.access_token()),
        format!("{:?}", token.header(Bearer)),
        format!("{:?}", token.header(ConnectToken)),
        format!("{source:?}"),
        format!("{:?}", ApiClient::new(Auth::Token(source.clone(), Bearer))),
        format!("{:?}", Auth::Basic(creds.clone(), BasicEncoding::Raw)),
        format!("{:?}", source.stats()),
    ];
    for text in printed.iter().chain(events.lock().unwrap().iter()) {
        assert!(!leaks(text), "{text}");
    }
    // Errors made from 2xx bodies that held the token, and from refusals.
    #[rustfmt::skip]
    let bodies = [
        (200, format!(r#"{{"access_token":"{TOKEN}","token_type":"mac"}}"#)),
        (200, format!(r#"{{"access_token":"{TOKEN} x"}}"#)),
        (200, format!(r#"{{"access_token":"{TOKEN}""#)),
        (200, format!(r#"{{"accessToken":"{TOKEN}","success":false}}"#)),
        (200, format!("access_token={TOKEN}&token_type=mac")),
        (200, TOKEN.to_owned()),
        (401, format!("<html>{SECRET}</html>")),
    ];
    for (status, body) in bodies {
        let (sent, now) = (Instant::now(), SystemTime::now());
        let error = Token::from_response(status, body.as_bytes(), sent, now, None).unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!leaks(&text), "{body}: {text}");
        }
    }
}

#[test]
fn a_sources_debug_shows_its_url_and_client_id() {
    let server = TokenServer::start();
    server.token(TOKEN, 3600);
    let creds = Credentials::new("the-client", SECRET).unwrap();
    let source = TokenConfig::new(server.token_url(), creds).build().unwrap();
    source.token().unwrap();
    let shown = format!("{source:?}");
    let url = format!("token_url: \"{}\"", server.token_url());
    let id = "client_id: \"the-client\"";
    assert!(shown.contains(&url) && shown.contains(id), "{shown}");
    assert!(!leaks(&shown), "{shown}");
}

/// xorshift64*: a tiny seeded generator, so that every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Inputs the randomized pass tries per run: the corpus times this.
pub const MUTATIONS_PER_SEED: usize = 4000;

#[test]
fn seeded_randomized_parse_never_panics_and_only_yields_usable_tokens() {
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(3600));
    let corpus = [
        r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,"scope":"a b"}"#.to_owned(),
        r#"{"success":true,"accessToken":"B983854936PF1A7B61B141AB69494046","token_type":"bearer","expires_in":2591999}"#.to_owned(),
        format!(r#"{{"token_type":"Bearer","issued_at":"1712272706170","client_id":"c","access_token":"{jwt}","scope":"","expires_in":"3599"}}"#),
        "access_token=abc&token_type=bearer&expires_in=60".to_owned(),
        r#"{"error":"invalid_client","error_description":"bad","error_uri":"https://e"}"#.to_owned(),
        r#"{"fault":{"faultstring":"x","detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}"#.to_owned(),
        r#"{"success":false,"errorCode":"E1","errorMsg":"m","status":401,"message":"no"}"#.to_owned(),
    ];
    let alphabet: &[u8] = b"{}[]\":,=&%+.-0123456789eE \r\n\x00\xff\\ua_tokenxpirs";
    let mut rng = Rng(0x5EED_CAFE_F00D_D00D);
    let (mut tried, mut tokens) = (0, 0);
    for seed in &corpus {
        for _ in 0..MUTATIONS_PER_SEED {
            let mut input = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(input.len() + 1);
                match rng.below(6) {
                    0 if at < input.len() => input[at] = alphabet[rng.below(alphabet.len())],
                    1 => input.insert(at, alphabet[rng.below(alphabet.len())]),
                    2 if at < input.len() => {
                        drop(input.drain(at..(at + rng.below(8)).min(input.len())))
                    }
                    3 => input.truncate(at),
                    4 => {
                        let other = corpus[rng.below(corpus.len())].as_bytes();
                        let from = rng.below(other.len());
                        let end = (from + rng.below(16)).min(other.len());
                        input.splice(at..at, other[from..end].iter().copied());
                    }
                    _ if at < input.len() => input[at] ^= 1 << rng.below(8),
                    _ => {}
                }
            }
            let status = [200, 200, 201, 400, 401, 429, 503][rng.below(7)];
            tried += 1;
            let (sent, now) = (Instant::now(), SystemTime::now());
            if let Ok(token) = Token::from_response(status, &input, sent, now, None) {
                tokens += 1;
                assert_usable(&token, sent, now);
            }
        }
    }
    eprintln!("randomized parse: {tried} inputs, {tokens} usable tokens");
    assert_eq!(tried, corpus.len() * MUTATIONS_PER_SEED);
    assert!(tokens > 0);
}

/// N threads call `token()` for `secs` against an endpoint that fails, stalls and hands
/// out short-lived tokens at random.
fn soak(threads: usize, secs: u64) {
    let rng = Mutex::new(Rng(0x00D1_5EA5_E50F_50A4));
    let server = Server::start(move |n| {
        let roll = rng.lock().unwrap().below(10);
        let expires_in = 2 + (roll % 2);
        let body = format!(r#"{{"access_token":"t{n}","expires_in":{expires_in}}}"#);
        let mut reply = reply(200, body);
        match roll {
            0 => reply.status = 500,
            1 => reply.delay = Duration::from_millis(150),
            _ => {}
        }
        reply
    });
    let source = TokenConfig::new(server.url(), creds()).build().unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let work = || {
        let (mut calls, mut errors) = (0u64, 0u64);
        while Instant::now() < end {
            let asked = Instant::now();
            match source.token() {
                Ok(token) => assert!(token.expires_at_instant() > asked),
                Err(Error::EndpointRefused(d)) => {
                    assert_eq!(d.status, 500);
                    errors += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
            calls += 1;
        }
        (calls, errors)
    };
    let (calls, errors) = thread::scope(|s| {
        let workers: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
        let results = workers.into_iter().map(|w| w.join().unwrap());
        results.fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let requests = server.hits();
    let counts = format!("{calls} calls, {requests} token requests, {errors} errors");
    eprintln!("soak: {threads} threads, {secs} s, {counts}");
    // Every token lives at least 2 s and is refreshed no earlier than half-way; every
    // failure waits at least 1 s: at most one request per second, plus the first.
    let requests = requests as u64;
    assert!(requests <= secs + 2, "{requests} requests in {secs} s");
    let refreshed = requests >= secs / 3;
    assert!(refreshed, "tokens were refreshed: {requests} requests");
}

#[test]
fn concurrency_soak_short() {
    soak(8, 6);
}

/// `cargo test --test it concurrency_soak_long -- --ignored`
#[test]
#[ignore = "a minute long; run it with --ignored"]
fn concurrency_soak_long() {
    soak(32, 60);
}
