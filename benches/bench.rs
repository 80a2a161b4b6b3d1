//! apiauth's benchmarks: each figure next to the floor it is compared with, measured in the
//! same run. std only; servers are on loopback.
//!
//! `cargo bench` runs every case, `cargo bench -- NAME` the cases whose name contains NAME,
//! `cargo bench -- --quick` (or `APIAUTH_BENCH_QUICK=1`) a fast smoke run.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use apiauth::{BasicEncoding, Credentials, Token, TokenConfig, TokenScheme};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

#[path = "../tests/it/server.rs"]
mod server;

use server::Server;

const RFC_BODY: &str = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,"scope":"read write"}"#;
const FLEET_BODY: &str = r#"{"success":true,"accessToken":"B983854936PF1A7B61B141AB69494046","token_type":"bearer","expires_in":2591999}"#;
const MOTORWEB_BODY: &str = r#"{"token_type":"Bearer","issued_at":"1712272706170","client_id":"wmUB6jn1LV2eGmy6VQY655L2J2pqiezKwJIAjwCz5NGRIARJ","access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3bVVCNiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl","application_name":"8134c8d0-fa55-4bf0-b817-d795c5f41123","scope":"","expires_in":3599}"#;

struct Bench {
    quick: bool,
    filter: Option<String>,
}

/// Median, min and max ns/op over the runs.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Bench {
    fn runs(&self) -> usize {
        if self.quick { 3 } else { 7 }
    }

    fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// Warm-up, then `runs()` timed runs of `iters` calls of `op`.
    fn measure(&self, iters: u64, mut op: impl FnMut()) -> Stats {
        let iters = if self.quick {
            (iters / 50).max(1)
        } else {
            iters
        };
        for _ in 0..iters / 10 + 1 {
            op();
        }
        summarize((0..self.runs()).map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        }))
    }

    /// Like `measure`, with `op` run by `threads` threads at once; ns per op per thread.
    fn measure_threads(&self, threads: usize, iters: u64, op: impl Fn() + Sync) -> Stats {
        let iters = if self.quick {
            (iters / 50).max(1)
        } else {
            iters
        };
        summarize((0..self.runs()).map(|_| {
            let start = Barrier::new(threads + 1);
            thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        start.wait();
                        for _ in 0..iters {
                            op();
                        }
                    });
                }
                start.wait();
                Instant::now()
            })
            // The scope returns once every thread has finished.
            .elapsed()
            .as_nanos() as f64
                / iters as f64
        }))
    }
}

fn summarize(samples: impl Iterator<Item = f64>) -> Stats {
    let mut v: Vec<f64> = samples.collect();
    v.sort_by(f64::total_cmp);
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn row(case: &str, ours: &Stats, floor: &Stats, floor_name: &str, target: &str) {
    println!(
        "{case:<26} {:>10.1} {:>19} {:>10.1}  {:<28} {:>6.2}x  {target}",
        ours.median,
        format!("{:.1}-{:.1}", ours.min, ours.max),
        floor.median,
        floor_name,
        ours.median / floor.median
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = Bench {
        quick: args.iter().any(|a| a == "--quick")
            || std::env::var_os("APIAUTH_BENCH_QUICK").is_some(),
        filter: args.iter().find(|a| !a.starts_with("--")).cloned(),
    };
    println!(
        "{:<26} {:>10} {:>19} {:>10}  {:<28} {:>7}  target",
        "case", "ns/op", "min-max", "floor", "floor is", "ratio"
    );
    if bench.wants("basic_header") {
        basic_header(&bench);
    }
    if bench.wants("cache_hit") {
        cache_hit(&bench);
    }
    if bench.wants("parse") {
        parse(&bench);
    }
    if bench.wants("cold_fetch") {
        cold_fetch(&bench);
    }
    if bench.wants("herd") {
        herd(&bench);
    }
    if bench.wants("refresh_latency") {
        refresh_latency(&bench);
    }
    #[cfg(unix)]
    if bench.wants("disk") {
        disk(&bench);
    }
}

fn basic_header(bench: &Bench) {
    let creds = Credentials::new("clientId", "clientSecret").unwrap();
    let ours = bench.measure(10_000_000, || {
        black_box(black_box(&creds).basic_header(BasicEncoding::Raw).unwrap());
    });
    let precomputed = String::from("Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0");
    let floor = bench.measure(10_000_000, || {
        black_box(black_box(&precomputed).as_str());
    });
    let (id, secret) = ("clientId", "clientSecret");
    let per_call = bench.measure(1_000_000, || {
        let raw = format!("{}:{}", black_box(id), black_box(secret));
        black_box(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ));
    });
    row(
        "basic_header",
        &ours,
        &floor,
        "return a &str",
        "<= 2x floor",
    );
    row(
        "basic_header per call",
        &per_call,
        &ours,
        "apiauth (precomputed)",
        ">= 50x apiauth",
    );
}

/// The floor of a cache hit: a Mutex held across the clock read, and an Arc clone.
struct FloorCache(Mutex<Option<(Arc<str>, Instant)>>);

impl FloorCache {
    fn hit(&self) -> Arc<str> {
        let guard = self.0.lock().unwrap();
        let (token, expires) = guard.as_ref().unwrap();
        assert!(Instant::now() < *expires);
        token.clone()
    }
}

fn cache_hit(bench: &Bench) {
    let floor = FloorCache(Mutex::new(Some((
        Arc::from("2YotnFZFEjr1zCsicMWpAA"),
        Instant::now() + Duration::from_secs(3600),
    ))));
    let floor_hit = || {
        black_box(floor.hit());
    };
    // Every provider's token shape: a JWT's `exp` must not cost the hit a wall-clock read.
    for (name, body) in [
        ("rfc6749", RFC_BODY),
        ("myconnectedfleet", FLEET_BODY),
        ("motorweb (jwt)", MOTORWEB_BODY),
    ] {
        let server = Server::constant(body, Duration::ZERO);
        let source = TokenConfig::new(server.url(), Credentials::new("id", "secret").unwrap())
            .build()
            .unwrap();
        source.token().unwrap();
        let hit = || {
            let token = source.token().unwrap();
            black_box(&token);
        };
        let ours = bench.measure(5_000_000, hit);
        let base = bench.measure(5_000_000, floor_hit);
        row(
            &format!("cache_hit {name}"),
            &ours,
            &base,
            "Mutex+now()+Arc clone",
            "<= 1.2x floor",
        );
        // The header path: the value is lent, so a hit and its header cost one reference
        // count, as the floor does.
        let scheme = match name {
            "myconnectedfleet" => TokenScheme::ConnectToken,
            _ => TokenScheme::Bearer,
        };
        let with_header = || {
            let token = source.token().unwrap();
            black_box(token.header(scheme));
        };
        let ours = bench.measure(5_000_000, with_header);
        row(
            &format!("token+header {name}"),
            &ours,
            &base,
            "Mutex+now()+Arc clone",
            "<= 1.3x floor",
        );
        let ours = bench.measure_threads(2, 1_000_000, with_header);
        let base2 = bench.measure_threads(2, 1_000_000, floor_hit);
        row(
            &format!("token+header {name} 2 thr"),
            &ours,
            &base2,
            "the same floor, 2 threads",
            "<= 1.0x floor",
        );
        if name != "rfc6749" {
            assert_eq!(server.hits(), 1);
            continue;
        }
        for (threads, target) in [(2, "<= 0.6x floor"), (8, "no worse than floor")] {
            let ours = bench.measure_threads(threads, 1_000_000, hit);
            let base = bench.measure_threads(threads, 1_000_000, floor_hit);
            row(
                &format!("cache_hit {threads} threads"),
                &ours,
                &base,
                "the same floor, same threads",
                target,
            );
        }
        assert_eq!(server.hits(), 1);
    }
}

/// A struct and the `Deserialize` impl `#[derive(Deserialize)]` would write for it (fields
/// by name, unknown keys skipped, a missing field refused), by hand: apiauth builds no proc
/// macros, its benches neither.
macro_rules! plain {
    ($name:ident { $($field:ident: $ty:ty = $key:literal),* $(,)? }) => {
        #[allow(dead_code)] // fields exist to be parsed, as the library parses them
        struct $name {
            $($field: $ty),*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> Visitor<'de> for Fields {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(stringify!($name))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        $(let mut $field: Option<$ty> = None;)*
                        while let Some(key) = map.next_key::<&'de str>()? {
                            match key {
                                $($key => $field = Some(map.next_value()?),)*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok($name {
                            $($field: $field.ok_or_else(|| de::Error::missing_field($key))?),*
                        })
                    }
                }
                deserializer.deserialize_map(Fields)
            }
        }
    };
}

plain!(PlainRfc {
    access_token: String = "access_token",
    token_type: String = "token_type",
    expires_in: u64 = "expires_in",
    scope: Option<String> = "scope",
});

plain!(PlainFleet {
    success: bool = "success",
    access_token: String = "accessToken",
    token_type: String = "token_type",
    expires_in: u64 = "expires_in",
});

plain!(PlainMotorweb {
    token_type: String = "token_type",
    issued_at: String = "issued_at",
    client_id: String = "client_id",
    access_token: String = "access_token",
    application_name: String = "application_name",
    scope: String = "scope",
    expires_in: u64 = "expires_in",
});

fn parse(bench: &Bench) {
    fn case<T: for<'de> Deserialize<'de>>(bench: &Bench, name: &str, body: &str) {
        let ours = bench.measure(200_000, || {
            let token = Token::from_response(
                200,
                black_box(body.as_bytes()),
                Instant::now(),
                SystemTime::now(),
                None,
            );
            black_box(token.unwrap());
        });
        let floor = bench.measure(200_000, || {
            black_box(serde_json::from_slice::<T>(black_box(body.as_bytes())).unwrap());
        });
        row(
            name,
            &ours,
            &floor,
            "serde_json into a struct",
            "<= 1.5x floor",
        );
    }
    case::<PlainRfc>(bench, "parse rfc6749", RFC_BODY);
    case::<PlainFleet>(bench, "parse myconnectedfleet", FLEET_BODY);
    case::<PlainMotorweb>(bench, "parse motorweb (jwt exp)", MOTORWEB_BODY);
}

fn cold_fetch(bench: &Bench) {
    let server = Server::constant(RFC_BODY, Duration::ZERO);
    // Each side keeps its own connection alive across iterations: the source its own agent
    // (as a program using apiauth does), the floor a plain ureq agent.
    let agent = ureq::Agent::new_with_defaults();
    let source = TokenConfig::new(server.url(), Credentials::new("id", "secret").unwrap())
        .build()
        .unwrap();
    let ours = bench.measure(2_000, || {
        source.invalidate();
        black_box(source.token().unwrap());
    });
    let floor = bench.measure(2_000, || {
        let mut response = agent
            .post(server.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", "Basic aWQ6c2VjcmV0")
            .send("grant_type=client_credentials")
            .unwrap();
        let body = response.body_mut().read_to_vec().unwrap();
        black_box(serde_json::from_slice::<PlainRfc>(&body).unwrap());
    });
    row(
        "cold_fetch (keep-alive)",
        &ours,
        &floor,
        "bare ureq POST + parse",
        "<= 1.1x floor",
    );
}

fn herd(bench: &Bench) {
    let delay = Duration::from_millis(if bench.quick { 20 } else { 100 });
    let server = Server::constant(RFC_BODY, delay);
    let creds = Credentials::new("id", "secret").unwrap();
    let one = TokenConfig::new(server.url(), creds.clone())
        .build()
        .unwrap();
    let started = Instant::now();
    one.token().unwrap();
    let single = started.elapsed();
    let before = server.hits();
    let source = TokenConfig::new(server.url(), creds).build().unwrap();
    let start = Barrier::new(65);
    let served = thread::scope(|s| {
        let threads: Vec<_> = (0..64)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    source.token().unwrap();
                    Instant::now()
                })
            })
            .collect();
        start.wait();
        let released = Instant::now();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap()
            - released
    });
    let requests = server.hits() - before;
    let ratio = served.as_secs_f64() / single.as_secs_f64();
    println!(
        "{:<26} {:>10.1} {:>19} {:>10.1}  {:<28} {:>6.2}x  1 request, <= 1.2x one fetch (requests: {requests})",
        "herd 64 threads cold",
        served.as_nanos() as f64,
        "-",
        single.as_nanos() as f64,
        "one fetch, one thread",
        ratio
    );
    assert_eq!(requests, 1, "a cold herd must make exactly one request");
}

fn refresh_latency(bench: &Bench) {
    let server = Server::constant(
        r#"{"access_token":"t","expires_in":10}"#,
        Duration::from_millis(200),
    );
    let clock = apiauth::TestClock::new();
    let source = TokenConfig::new(server.url(), Credentials::new("id", "secret").unwrap())
        .with_test_clock(clock.clone())
        .build()
        .unwrap();
    source.token().unwrap();
    // 10 s token, margin capped at 5 s: six seconds on, it is stale and the next call
    // starts a 200 ms refresh in the background.
    clock.advance(Duration::from_secs(6));
    let window = Duration::from_millis(if bench.quick { 100 } else { 250 });
    let mut latencies: Vec<u128> = thread::scope(|s| {
        // One reader: with two spinning readers on a two-core machine, the refresh thread
        // preempts one of them and the figure measures the scheduler.
        let readers: Vec<_> = (0..1)
            .map(|_| {
                s.spawn(|| {
                    let mut samples = Vec::with_capacity(4_000_000);
                    let end = Instant::now() + window;
                    while Instant::now() < end {
                        let t = Instant::now();
                        black_box(source.token().unwrap());
                        samples.push(t.elapsed().as_nanos());
                    }
                    samples
                })
            })
            .collect();
        readers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect()
    });
    latencies.sort_unstable();
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = latencies[latencies.len() - 1];
    println!(
        "{:<26} {:>10} {:>19} {:>10}  {:<28} {:>7}  p99 <= 50000 ns, max <= 1000000 ns ({} reads; p99 {p99} ns, max {max} ns)",
        "refresh_latency (200 ms)",
        p99,
        format!("max {max}"),
        "-",
        "-",
        "-",
        latencies.len()
    );
    assert_eq!(server.hits(), 2, "one initial fetch and one refresh");
    while source.stats().fetches < 2 || source.token().unwrap().access_token().secret() != "t" {
        thread::sleep(Duration::from_millis(5));
    }
}

/// The disk cache: a new process's first call served from disk, and the command itself.
#[cfg(unix)]
fn disk(bench: &Bench) {
    let home = std::env::temp_dir().join(format!("apiauth-bench-{}", std::process::id()));
    let cache = apiauth::DiskCache::open(home.join("apiauth")).unwrap();
    let creds = Credentials::new("id", "secret").unwrap();
    // Every provider's token shape: a JWT's `exp` is read from the record, not decoded again.
    for (name, body) in [
        ("rfc6749", RFC_BODY),
        ("myconnectedfleet", FLEET_BODY),
        ("motorweb (jwt)", MOTORWEB_BODY),
    ] {
        let server = Server::constant(body, Duration::ZERO);
        let source = || {
            TokenConfig::new(server.url(), creds.clone())
                .with_disk_cache(cache.clone())
                .build()
                .unwrap()
        };
        source().token().unwrap();
        let entry = std::fs::read_dir(cache.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .unwrap();
        let ours = bench.measure(20_000, || {
            black_box(source().token().unwrap());
        });
        let floor = bench.measure(20_000, || {
            let bytes = std::fs::read(&entry).unwrap();
            black_box(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
        });
        row(
            &format!("disk_hit {name}"),
            &ours,
            &floor,
            "read + parse the entry",
            "<= 1.5x floor",
        );
        cache.remove_entries(|_| true);
    }

    let server = Server::constant(RFC_BODY, Duration::ZERO);
    // The command, as a script runs it: a cache hit, and --no-cache (one loopback request).
    let run = |extra: &[&str]| {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_apiauth"))
            .args([
                "token",
                "--provider",
                "generic",
                "--token-url",
                server.url(),
            ])
            .args(extra)
            .env("XDG_CACHE_HOME", &home)
            .env("APIAUTH_CLIENT_ID", "id")
            .env("APIAUTH_CLIENT_SECRET", "secret")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let cached = bench.measure(500, || run(&[]));
    let uncached = bench.measure(500, || run(&["--no-cache"]));
    let spawn = bench.measure(500, || {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_apiauth"))
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    row(
        "apiauth token (cached)",
        &cached,
        &spawn,
        "apiauth --version",
        "<= 1.5x floor",
    );
    row(
        "apiauth token --no-cache",
        &uncached,
        &spawn,
        "apiauth --version",
        "(a loopback request)",
    );
    let _ = std::fs::remove_dir_all(&home);
}
