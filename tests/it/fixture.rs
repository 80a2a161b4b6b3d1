//! The shared fixture: the set-up most tests need, in one line each.
//!
//! `TokenServer` is an httpmock `MockServer` (it derefs to one) with a token endpoint at one
//! path, `/token` or a provider's (`TokenServer::at`). Its helpers mock token answers
//! (`token`, `tokens`, `json`, `reply`, `reply_with`, `any`) and API answers (`api`, and
//! `answer("GET /v1/x authorization: Bearer A => 200 body")` for any other), each returning
//! the httpmock `Mock` that counts its hits; `config`, `source`, `client` and `get_json`
//! reach it. After it, in this order: answers and provider set-ups; results (`secret_of`,
//! `refused`, `unusable`, `transport`); other servers (`crate::server::Server` with `reply`
//! for answers by request number or with a delay, `Raw` for what no HTTP server would send,
//! `silent`, `closed_url`, `logging_proxy`); time and threads; files.
//!
//! ```ignore
//! let server = TokenServer::start();
//! let tokens = server.tokens(&["A", "B"]); // A, then B after A is rejected
//! let old = server.api("/v1/x", ("authorization", "Bearer A"), 401);
//! let (client, source) = server.client(TokenScheme::Bearer);
//! let body: Value = client.get_json(&server.url("/v1/x"))?;
//! assert_eq!((tokens.calls(), old.calls()), (2, 1));
//! ```
#![allow(dead_code)] // a fixture for every test file: not every helper is used by each

use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use apiauth::{
    ApiClient, Auth, Credentials, EndpointError, Error, TokenConfig, TokenScheme, TokenSource,
    Unreachable,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use httpmock::Method::{GET, POST};
use httpmock::{Mock, MockServer};
use serde_json::{Value, json};

use crate::server::Reply;

/// An httpmock server with a token endpoint at `path`.
pub struct TokenServer {
    server: MockServer,
    path: String,
}

impl Deref for TokenServer {
    type Target = MockServer;
    fn deref(&self) -> &MockServer {
        &self.server
    }
}

/// The token endpoint's mocks that `tokens` made, counted together.
pub struct Tokens<'a>(Vec<Mock<'a>>);

impl Tokens<'_> {
    /// Token requests received by all of them.
    pub fn calls(&self) -> usize {
        self.0.iter().map(Mock::calls).sum()
    }
}

impl TokenServer {
    /// A new server whose token endpoint is `/token` (nothing is mocked yet).
    pub fn start() -> TokenServer {
        TokenServer::at("/token")
    }

    /// A new server whose token endpoint is `path` (e.g. a provider's `/auth/v1/token`).
    pub fn at(path: &str) -> TokenServer {
        let (server, path) = (MockServer::start(), path.to_owned());
        TokenServer { server, path }
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        self.server.url(&self.path)
    }

    /// The endpoint answers every token request with `token`, living `expires_in` s.
    pub fn token(&self, token: &str, expires_in: u64) -> Mock<'_> {
        self.json(200, rfc_token(token, expires_in))
    }

    /// The endpoint answers each of `tokens` (living an hour) once, in turn, then the last
    /// for ever.
    pub fn tokens(&self, tokens: &[&str]) -> Tokens<'_> {
        let last = tokens.len() - 1;
        let answer = |(n, token): (usize, &&str)| {
            self.server.mock(|when, then| {
                when.method(POST).path(&self.path);
                let then = then.status(200).json_body(rfc_token(token, 3600));
                if n < last {
                    then.up_to_n_times(1);
                }
            })
        };
        Tokens(tokens.iter().enumerate().map(answer).collect())
    }

    /// The endpoint answers `status` with the JSON `body`.
    pub fn json(&self, status: u16, body: Value) -> Mock<'_> {
        self.server.mock(|when, then| {
            when.method(POST).path(&self.path);
            then.status(status).json_body(body);
        })
    }

    /// The endpoint answers `status` with `body` and no content type.
    pub fn reply(&self, status: u16, body: &str) -> Mock<'_> {
        self.reply_with(status, &[], body)
    }

    /// The endpoint answers `status` with `headers` and `body`.
    pub fn reply_with(&self, status: u16, headers: &[(&str, &str)], body: &str) -> Mock<'_> {
        self.server.mock(|when, then| {
            when.method(POST).path(&self.path);
            let then = then.status(status).body(body);
            headers.iter().fold(then, |t, (n, v)| t.header(*n, *v));
        })
    }

    /// Every request, whatever its method and path, is answered `status` with the JSON
    /// `body`: for counting requests that must not be sent at all.
    pub fn any(&self, status: u16, body: Value) -> Mock<'_> {
        self.server.mock(|_, then| {
            then.status(status).json_body(body);
        })
    }

    /// A GET at `path` carrying `header: value` is answered `status`, `{"for": value}`.
    pub fn api(&self, path: &str, (name, value): (&str, &str), status: u16) -> Mock<'_> {
        self.server.mock(|when, then| {
            when.method(GET).path(path).header(name, value);
            then.status(status).json_body(json!({ "for": value }));
        })
    }

    /// Requests that match `spec` are answered as it says: `METHOD PATH; ITEM… => STATUS
    /// [BODY]; NAME: VALUE…`. `*` is any method; an item is a header with its value
    /// (`name: value`), a header that must be missing (`!name`) or the exact `body TEXT`; the
    /// answer's headers follow its status and body (JSON as its text, as `json_body` sends it).
    pub fn answer(&self, spec: &str) -> Mock<'_> {
        let (request, answer) = spec.split_once(" => ").expect("REQUEST => ANSWER");
        let (mut request, mut answer) = (request.split("; "), answer.split("; "));
        let (method, path) = request.next().unwrap().split_once(' ').unwrap();
        let status = answer.next().unwrap();
        let (status, body) = status.split_once(' ').unwrap_or((status, ""));
        self.server.mock(|when, then| {
            let when = when.path(path);
            let when = if method == "*" {
                when
            } else {
                when.method(method)
            };
            request.fold(when, |when, item| match item.split_once(' ') {
                Some(("body", body)) => when.body(body),
                _ if item.starts_with('!') => when.header_missing(&item[1..]),
                _ => when.header(header(item).0, header(item).1),
            });
            let then = then.status(status.parse::<u16>().unwrap());
            answer.fold(then.body(body), |then, h| {
                then.header(header(h).0, header(h).1)
            });
        })
    }

    /// A generic configuration for the endpoint, with `creds()`.
    pub fn config(&self) -> TokenConfig {
        TokenConfig::new(self.token_url(), creds())
    }

    /// `config()`, built.
    pub fn source(&self) -> TokenSource {
        self.config().build().unwrap()
    }

    /// A GET of `path` through a new `client(scheme)`, its JSON answer read.
    pub fn get_json(&self, scheme: TokenScheme, path: &str) -> Result<Value, apiauth::Error> {
        self.client(scheme).0.get_json(&self.url(path))
    }

    /// An `ApiClient` sending a new `source()`'s tokens as `scheme`, and that source.
    pub fn client(&self, scheme: TokenScheme) -> (ApiClient, TokenSource) {
        let source = self.source();
        (ApiClient::new(Auth::Token(source.clone(), scheme)), source)
    }
}

/// `NAME: VALUE`'s name and value.
fn header(item: &str) -> (&str, &str) {
    item.split_once(": ").expect("NAME: VALUE")
}

/// `id` / `secret`.
pub fn creds() -> Credentials {
    Credentials::new("id", "secret").unwrap()
}

/// A standard RFC 6749 answer.
pub fn rfc_token(token: &str, expires_in: u64) -> Value {
    json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
}

/// A myConnectedFleet token answer: `token`, living `expires_in` s.
pub fn mcf_token(token: &str, expires_in: u64) -> Value {
    json!({"success": true, "accessToken": token, "expires_in": expires_in})
}

/// An unsigned JWT whose `exp` is `from_now` ahead of the wall clock.
pub fn jwt_expiring_in(from_now: Duration) -> (String, u64) {
    let exp = (UNIX_EPOCH.elapsed().unwrap() + from_now).as_secs();
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"client","exp":{exp}}}"#));
    (format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl"), exp)
}

/// motorweb's test environment moved to `base`, for `creds`.
pub fn motorweb_at(base: &str, creds: Credentials) -> TokenConfig {
    use apiauth::providers::motorweb::{Environment, token_config};
    token_config(Environment::Test, creds).with_base_url(base)
}

/// myConnectedFleet moved to `base`, for `creds`.
pub fn mcf_at(base: &str, creds: Credentials) -> TokenConfig {
    apiauth::providers::my_connected_fleet::token_config(creds).with_base_url(base)
}

/// What the provider clients of earlier versions did, now that providers are data: a GET of
/// `base` + `path` through a client with the auth myConnectedFleet's `api` wants, `source`'s
/// token or `credentials`' Basic.
pub fn fleet_get(
    api: apiauth::providers::my_connected_fleet::Api,
    (credentials, source): (&Credentials, &apiauth::TokenSource),
    base: &str,
    path: &str,
) -> Result<Value, apiauth::Error> {
    let client = ApiClient::new(api.auth(credentials, source));
    client.get_json(&format!("{}{path}", base.trim_end_matches('/')))
}

/// The access token `source` hands out now (panics on an error).
pub fn secret_of(source: &TokenSource) -> String {
    source.token().unwrap().access_token().secret().to_owned()
}

/// The details of a refusal by the token endpoint (panics on anything else).
pub fn refused<T: Debug>(result: Result<T, apiauth::Error>) -> Box<EndpointError> {
    match result {
        Err(Error::EndpointRefused(details)) => details,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The details of an API's non-2xx answer (panics on anything else).
pub fn api_status<T: Debug>(result: Result<T, apiauth::Error>) -> Box<apiauth::ApiError> {
    match result {
        Err(Error::ApiStatus(details)) => details,
        other => panic!("expected an api status, got {other:?}"),
    }
}

/// The message of a configuration error (panics on anything else).
pub fn config_error<T: Debug>(result: Result<T, apiauth::Error>) -> String {
    match result {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

/// Why a token answer was unusable (panics on anything else).
pub fn unusable<T: Debug>(result: Result<T, apiauth::Error>) -> apiauth::Unusable {
    match result {
        Err(Error::InvalidResponse(why)) => why,
        other => panic!("expected an unusable answer, got {other:?}"),
    }
}

/// The details of a transport error (panics on anything else).
pub fn transport<T: Debug>(result: Result<T, apiauth::Error>) -> Box<Unreachable> {
    match result {
        Err(Error::Transport(e)) => e,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// An answer of `crate::server::Server`: `status`, `body` (a string or JSON), at once.
pub fn reply(status: u16, body: impl ToString) -> Reply {
    let (body, delay) = (body.to_string(), Duration::ZERO);
    Reply {
        status,
        body,
        delay,
    }
}

/// A token endpoint that hands out `T1`, then `T2`, … (each for an hour), counting requests.
pub fn numbered_tokens() -> crate::server::Server {
    crate::server::Server::start(|n| reply(200, rfc_token(&format!("T{}", n + 1), 3600)))
}

/// A loopback listener that hands each connection, on a thread of its own, to
/// `handle(n, stream, request)`: `n` counts connections from 0, `request` is what was read
/// of the first request (its head, and its body as far as `content-length` says).
pub struct Raw {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Raw {
    pub fn start(handle: impl Fn(usize, TcpStream, String) + Send + Sync + 'static) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let (hits, handle) = (Arc::new(AtomicUsize::new(0)), Arc::new(handle));
        let counter = hits.clone();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let (n, handle) = (counter.fetch_add(1, SeqCst), handle.clone());
                thread::spawn(move || {
                    let request = read_request(&mut stream);
                    handle(n, stream, request)
                });
            }
        });
        Raw { url, hits }
    }

    /// `…/token` on the listener.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(SeqCst)
    }
}

/// What was read of the first request on `stream`: its head, and its body as far as
/// `content-length` says.
pub fn read_request(stream: &mut impl Read) -> String {
    let (mut request, mut buf) = (Vec::new(), [0; 4096]);
    loop {
        let text = String::from_utf8_lossy(&request).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = |l: &str| {
                let line = l.to_ascii_lowercase();
                line.strip_prefix("content-length:")?.trim().parse().ok()
            };
            if body.len() >= head.lines().find_map(length).unwrap_or(0) {
                return text;
            }
        }
        match stream.read(&mut buf) {
            Ok(n @ 1..) => request.extend_from_slice(&buf[..n]),
            _ => return text,
        }
    }
}

/// Writes an HTTP/1.1 answer: the status line and headers in `head` (without the
/// `content-length`, which is added, and the blank line), then `body`; closes nothing.
pub fn respond(mut stream: impl Write, head: &str, body: &str) {
    let length = body.len();
    let _ = write!(stream, "{head}\r\ncontent-length: {length}\r\n\r\n{body}");
}

/// A token endpoint that reads each request and never answers, holding the connection until
/// the client hangs up; `hits()` counts the connections.
pub fn silent() -> Raw {
    Raw::start(|_, mut stream, _| while stream.read(&mut [0; 64]).is_ok_and(|n| n > 0) {})
}

/// `http://127.0.0.1:PORT{path}` on a port that was just free and is closed again: a
/// connection there is refused.
pub fn closed_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}{path}", listener.local_addr().unwrap())
}

/// A proxy on loopback that records every byte it receives and answers each connection
/// with a 502: `(its URL, the bytes)`.
pub fn logging_proxy() -> (String, Arc<Mutex<Vec<u8>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let proxy = Raw::start(move |_, mut stream, request| {
        let (mut received, mut buffer) = (request.into_bytes(), [0; 4096]);
        while !received.is_empty() {
            log.lock().unwrap().append(&mut received);
            let _ = stream.write_all(b"HTTP/1.1 502 No\r\ncontent-length: 0\r\n\r\n");
            let n = stream.read(&mut buffer).unwrap_or(0);
            received.extend_from_slice(&buffer[..n]);
        }
    });
    (proxy.url().trim_end_matches("/token").to_owned(), seen)
}

/// The proxy variables ureq reads from the environment.
pub const PROXY_VARIABLES: [&str; 4] = ["ALL_PROXY", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY"];

thread_local! {
    static CLOCK: apiauth::TestClock = apiauth::TestClock::new();
}

/// This test's clock (one per test thread): sources built with `with_test_clock(clock())`
/// read it, and `clock().advance(…)` moves it.
pub fn clock() -> apiauth::TestClock {
    CLOCK.with(Clone::clone)
}

/// Polls `done` every few milliseconds for up to 10 s, for work on a background thread.
pub fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("condition not reached within 10 s");
}

/// Runs `f` on a thread of its own and returns its result, failing if that takes 10 s (for
/// a call that must not wait for something held elsewhere).
pub fn finishes<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(f()));
    let done = result.recv_timeout(Duration::from_secs(10));
    done.expect("finished within 10 s")
}

/// Runs `f` on `n` threads released together; returns their results.
pub fn on_threads<T: Send + 'static>(
    n: usize,
    f: impl Fn() -> T + Send + Sync + 'static,
) -> Vec<T> {
    let (f, start) = (Arc::new(f), Arc::new(Barrier::new(n)));
    let spawn = |_| {
        let (f, start) = (f.clone(), start.clone());
        std::thread::spawn(move || (start.wait(), f()).1)
    };
    let handles: Vec<_> = (0..n).map(spawn).collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Seconds since 1970 by the wall clock.
pub fn now_secs() -> u64 {
    UNIX_EPOCH.elapsed().unwrap().as_secs()
}

/// `secs` since 1970 in UTC: `[year, month, day, hour, minute, second]`.
pub fn utc(secs: u64) -> [u64; 6] {
    // Civil from days (H. Hinnant), for dates after 1970.
    let z = secs / 86_400 + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    [year, month, day, h, m, s]
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) of `secs` since 1970.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let [year, month, day, h, m, s] = utc(secs);
    let weekday = DAYS[(secs / 86_400 % 7) as usize];
    let month = MONTHS[month as usize - 1];
    format!("{weekday}, {day:02} {month} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// A new, empty directory under the system's temporary directory, private to this test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("apiauth-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &std::path::Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.unwrap().success(), "mkfifo {path:?}");
}

/// Sets `path`'s permission bits to `mode`.
#[cfg(unix)]
pub fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
