//! Helpers shared by the test modules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// A standard RFC 6749 answer.
pub fn rfc_token(token: &str, expires_in: u64) -> Value {
    json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
}

/// An unsigned JWT whose `exp` is `from_now` ahead of the wall clock.
pub fn jwt_expiring_in(from_now: Duration) -> (String, u64) {
    let exp = (SystemTime::now() + from_now)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"client","exp":{exp}}}"#));
    (format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl"), exp)
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

/// A new, empty directory under the system's temporary directory, private to this test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("apiauth-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

thread_local! {
    static CLOCK: apiauth::TestClock = apiauth::TestClock::new();
}

/// This test's clock (one per test thread): sources built with `with_test_clock(clock())`
/// read it, and `clock().advance(…)` moves it.
pub fn clock() -> apiauth::TestClock {
    CLOCK.with(Clone::clone)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) of `secs` since 1970.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant), for dates after 1970.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// A proxy on loopback that records every byte it receives and answers each connection
/// with a 502: `(its URL, the bytes)`.
pub fn logging_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buffer = [0; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    log.lock().unwrap().extend_from_slice(&buffer[..n]);
                    let _ = stream.write_all(b"HTTP/1.1 502 No\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, seen)
}

/// The proxy variables ureq reads from the environment.
pub const PROXY_VARIABLES: [&str; 4] = ["ALL_PROXY", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY"];
