//! What apiauth tells the `log` facade: the events a user needs, at the most verbose level,
//! and never a secret, a token, a Basic value or a 2xx body.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use apiauth::http::Request;
use apiauth::{ApiClient, Auth, Credentials, DiskCache, TokenScheme};
use base64::Engine as _;
use httpmock::Method::POST;
use serde_json::json;

use crate::fixture::{TokenServer, clock, jwt_expiring_in, motorweb_at, temp_dir};

/// Every record of apiauth's own targets, as `level target: message`. (ureq's records are
/// ureq's: at Trace it logs the raw bytes it sends, which is why `apiauth -vv` stops at
/// Debug for it.)
pub struct Capture(pub Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("apiauth")
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (once for the test binary) and returns it.
pub fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

const SECRET: &str = "LOGSECRET-41a7";

#[test]
fn events_are_logged_without_secrets() {
    let capture = capture();
    let server = TokenServer::at("/auth/v1/token");
    let (jwt, _) = jwt_expiring_in(Duration::from_secs(3600));
    let refresh_token = "REFRESHTOKEN-LOG";
    let body = json!({"access_token": jwt, "expires_in": 3599, "refresh_token": refresh_token});
    let ok = server.mock(|when, then| {
        when.method(POST).path("/auth/v1/token");
        then.status(200).json_body(body).up_to_n_times(2);
    });
    let refused = server.answer("GET /v1/x => 401 no");
    let dir = temp_dir("logs");
    let config = |secret: &str| {
        let creds = Credentials::new("log-client", secret).unwrap();
        let cache = DiskCache::open(dir.join("apiauth")).unwrap();
        let config = motorweb_at(&server.base_url(), creds);
        config.with_disk_cache(cache).with_test_clock(clock())
    };
    let source = config(SECRET).build().unwrap();
    // Fetched, then read from disk by a second "process".
    source.token().unwrap();
    config(SECRET).build().unwrap().token().unwrap();
    // Rejected by an API: dropped, then a fresh token kept under backoff.
    let client = ApiClient::new(Auth::Token(source.clone(), TokenScheme::Bearer));
    let get = || Request::get(server.url("/v1/x")).body(&[][..]).unwrap();
    assert!(client.run(get()).is_err() && client.run(get()).is_err());
    ok.assert_calls(2);
    // The endpoint fails: a refresh-ahead fails and the valid token is served.
    server.reply(503, "down");
    clock().advance(Duration::from_secs(3400));
    source.token().unwrap();
    crate::fixture::eventually(|| !source.stats().fetching && source.stats().failures == 1);
    // Another secret has a store slot of its own: it reads nothing and asks.
    assert!(config("x").build().unwrap().token().is_err());
    refused.assert_calls(3);

    let lines = capture.0.lock().unwrap().clone();
    let mine: Vec<&String> = lines.iter().filter(|l| l.contains("log-client")).collect();
    let has = |level: &str, text: &str| {
        let logged = |l: &&String| l.starts_with(level) && l.contains(text);
        assert!(mine.iter().any(logged), "{level} {text}: {mine:#?}");
    };
    has("INFO", "token fetched from http://127.0.0.1");
    has("DEBUG", "read from the store");
    let dropped = "rejected (401) the token of client log-client; dropped";
    has("INFO", dropped);
    has("WARN", "a fresh token of client log-client again");
    has("DEBUG", "due for refresh");
    has("WARN", "serving the still-valid token");
    has("WARN", "/auth/v1/token returned 503)");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("log-client:{SECRET}"));
    for line in &lines {
        for secret in [SECRET, &jwt, "REFRESHTOKEN-LOG", &basic, "Bearer "] {
            assert!(!line.contains(secret), "{line}");
        }
    }
}
