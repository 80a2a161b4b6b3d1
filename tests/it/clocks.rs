//! Token lifetimes read in the server's time: a loopback token server whose clock is off the
//! host's by an injected offset (it issues JWTs with `iat`/`exp` and a `Date` on its own
//! clock), and the `test-util` clock for the host.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apiauth::{TestClock, TokenConfig, TokenSource};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::fixture::{Raw, creds, eventually, http_date, respond};

/// A token server whose clock reads the host's real clock plus `offset` s plus the
/// simulated time the test has let pass. Its tokens are JWTs with `exp` (and `iat` if
/// asked) on that clock, answered with `expires_in` and that clock's `Date`.
pub struct Skewed {
    server: Raw,
    elapsed_ms: Arc<AtomicU64>,
    offset: f64,
    host: TestClock,
}

impl Skewed {
    /// `offset`: the server's clock minus the host's, in seconds; `exp_in`: how long after
    /// issue its JWTs expire; `iat`: whether they say when they were issued.
    pub fn start(offset: i64, exp_in: f64, expires_in: u64, iat: bool) -> Skewed {
        let (offset, elapsed_ms) = (offset as f64, Arc::new(AtomicU64::new(0)));
        let elapsed = elapsed_ms.clone();
        let server = Raw::start(move |n, stream, _| {
            let now = server_now(offset, &elapsed);
            let (exp, iat) = (now + exp_in, iat.then(|| format!(r#""iat":{now},"#)));
            let claims = format!(r#"{{"sub":"T{n}",{}"exp":{exp}}}"#, iat.unwrap_or_default());
            let claims = URL_SAFE_NO_PAD.encode(claims);
            let jwt = format!("eyJhbGciOiJub25lIn0.{claims}.c2ln");
            let body = format!(r#"{{"access_token":"{jwt}","expires_in":{expires_in}}}"#);
            let date = http_date(now as u64);
            let head = format!("HTTP/1.1 200 OK\r\ndate: {date}\r\nconnection: close");
            let head = format!("{head}\r\ncontent-type: application/json");
            respond(&stream, &head, &body);
        });
        let host = TestClock::new();
        Skewed {
            server,
            elapsed_ms,
            offset,
            host,
        }
    }

    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Token requests received so far.
    pub fn hits(&self) -> usize {
        self.server.hits()
    }

    /// Lets `by` pass on the host's clocks and the server's.
    pub fn advance(&self, by: Duration) {
        self.host.advance(by);
        self.elapsed_ms.fetch_add(by.as_millis() as u64, SeqCst);
    }

    /// A source on the host's (test) clock.
    pub fn source(&self) -> TokenSource {
        let config = TokenConfig::new(self.url(), creds());
        config.with_test_clock(self.host.clone()).build().unwrap()
    }

    /// Whether an API on the server's clock accepts `jwt`: its `exp` is still ahead.
    pub fn accepts(&self, jwt: &str) -> bool {
        let claims = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap());
        let claims: serde_json::Value = serde_json::from_slice(&claims.unwrap()).unwrap();
        claims["exp"].as_f64().unwrap() > server_now(self.offset, &self.elapsed_ms)
    }
}

fn server_now(offset: f64, elapsed_ms: &AtomicU64) -> f64 {
    let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    real.as_secs_f64() + elapsed_ms.load(SeqCst) as f64 / 1000.0 + offset
}

/// Calls `token()` every `step` for `calls` calls; returns how many tokens the server's
/// API would have refused, and the token requests made.
fn run(server: &Skewed, step: Duration, calls: usize) -> (usize, usize) {
    let source = server.source();
    let mut refused = 0;
    for _ in 0..calls {
        match source.token() {
            Ok(token) if server.accepts(token.access_token().secret()) => {}
            _ => refused += 1,
        }
        eventually(|| !source.stats().fetching);
        server.advance(step);
    }
    (refused, server.hits())
}

#[test]
fn the_date_format_is_imf_fixdate() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

#[test]
fn a_token_tells_how_far_the_host_clock_is_ahead_of_the_servers() {
    let server = Skewed::start(-7200, 3600.0, 3599, true);
    let skew = server.source().token().unwrap().clock_skew_ms();
    assert!((7_199_000..=7_201_000).contains(&skew), "{skew}");
}

#[test]
fn a_tokens_expiry_is_on_the_host_clock_and_its_exp_on_the_servers() {
    let server = Skewed::start(-7200, 3600.0, 3599, true);
    let token = server.source().token().unwrap();
    let (expires_at, exp) = (token.expires_at(), token.jwt_expiry().unwrap());
    let moved = expires_at.duration_since(exp).unwrap().as_secs();
    assert!((7190..=7200).contains(&moved), "{moved}");
}

#[test]
fn host_two_hours_ahead_one_request_every_call_authorized() {
    // By the JWT's iat, and by the answer's Date alone.
    for iat in [true, false] {
        let server = Skewed::start(-7200, 3600.0, 3599, iat);
        let (refused, requests) = run(&server, Duration::from_secs(60), 50);
        assert_eq!((refused, requests), (0, 1), "iat: {iat}");
    }
}

#[test]
fn host_fifty_minutes_ahead_fifty_minutes_cost_at_most_two_requests() {
    let server = Skewed::start(-3000, 3600.0, 3599, true);
    let (refused, requests) = run(&server, Duration::from_secs(10), 300);
    assert_eq!(refused, 0);
    assert!(requests <= 2, "{requests}");
}

#[test]
fn host_two_hours_behind_renews_before_the_server_refuses() {
    // exp 600 s after iat, while expires_in says 3599: the token lives 600 s.
    let server = Skewed::start(7200, 600.0, 3599, true);
    let (refused, requests) = run(&server, Duration::from_secs(10), 180);
    assert_eq!(refused, 0);
    // 30 minutes of 600 s tokens renewed 300 s before their end: one every ~5 min.
    assert!((6..=8).contains(&requests), "{requests}");
}

#[test]
fn exp_fifty_milliseconds_away_costs_a_handful_of_requests() {
    let server = Skewed::start(0, 0.05, 3599, true);
    let (_, requests) = run(&server, Duration::from_millis(10), 500);
    assert!(requests <= 3, "{requests}");
    eprintln!("exp 50 ms away: {requests} token requests in 5 s");
}

#[cfg(unix)]
mod cli {
    use super::Skewed;
    use crate::cli::{User, assert_rfc3339_in, generic, stderr};
    use crate::fixture::now_secs;

    fn header(user: &User, server: &Skewed) -> std::process::Output {
        let header = generic("-v header", server.url());
        user.run(&format!("{header} --format json"))
    }

    #[test]
    fn host_two_hours_ahead_is_served_and_warned() {
        let server = Skewed::start(-7200, 3600.0, 3599, false);
        let user = User::new("clocks-ahead", "id", "secret");
        let out = header(&user, &server);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let warning = "s ahead of the token server; token lifetimes are read in the server's time";
        let warning = |secs| format!("host clock {secs} {warning}");
        let warned = |secs| stderr(&out).lines().any(|l| l.ends_with(&warning(secs)));
        // The server's Date counts whole seconds: 7200 s, or 7201 s.
        assert!(warned(7200) || warned(7201), "{}", stderr(&out));
        assert_eq!(server.hits(), 1);
        // expires_at is on the host's clock: an hour from now, not an hour ago.
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let expires_in = json["expires_in"].as_u64().unwrap();
        assert!((3590..=3599).contains(&expires_in), "{json}");
        let at = now_secs() + expires_in;
        assert_rfc3339_in(json["expires_at"].as_str().unwrap(), at - 2..=at + 2);
    }

    #[test]
    fn a_pair_of_runs_shares_one_token_across_a_skewed_clock() {
        let server = Skewed::start(-7200, 3600.0, 3599, false);
        let user = User::new("clocks-pair", "id", "secret");
        for _ in 0..2 {
            let out = header(&user, &server);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
        assert_eq!(server.hits(), 1);
    }
}
