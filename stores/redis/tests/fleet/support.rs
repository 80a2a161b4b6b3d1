//! A redis-server for the tests, and the host that children run.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use apiauth::{Credentials, TokenConfig, TokenScheme};
use apiauth_redis::RedisStore;

/// The Redis a test uses: one this test started (and stops), or `APIAUTH_TEST_REDIS_URL`.
pub struct Redis {
    pub url: String,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// The server in `APIAUTH_TEST_REDIS_URL`, else one of this test's own.
    pub fn any(test: &str) -> Option<Redis> {
        match std::env::var("APIAUTH_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(Redis {
                url,
                port: 0,
                child: None,
            }),
            _ => Redis::own(test),
        }
    }

    /// A redis-server of this test's own on a free loopback port, which it can stop. `None`
    /// (the test is skipped, with a message) when there is no `redis-server` on PATH, except
    /// under CI=true, where that fails the test.
    pub fn own(test: &str) -> Option<Redis> {
        let port = free_port();
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            child: None,
        };
        if !redis.start() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server could not be started, and CI=true: install it (apt-get install redis-server)"
            );
            // Past libtest's capture, so that a skip shows in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: no redis-server on PATH (install it, or set APIAUTH_TEST_REDIS_URL)"
            );
            return None;
        }
        Some(redis)
    }

    /// Starts (again) this test's server on its port; false if there is no redis-server.
    pub fn start(&mut self) -> bool {
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = spawned else { return false };
        self.child = Some(child);
        for _ in 0..500 {
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server on port {} did not answer within 5 s",
            self.port
        );
    }

    /// Stops this test's server (SIGKILL: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn ping(&self) -> bool {
        redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// A connection for the test's own look at the keys.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap()
    }

    /// The keys under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut self.connection())
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A key prefix no other test or run uses.
pub fn prefix(test: &str) -> String {
    format!("apiauth-test:{}:{test}:", std::process::id())
}

/// How the hosts of a test are set up.
#[derive(Clone)]
pub struct Fleet {
    pub redis: String,
    pub prefix: String,
    pub token_url: String,
    /// Called with the token, then `reject`ed and called again if it answers 401.
    pub api_url: Option<String>,
    pub lease: Duration,
    /// The source's timeout (its lock wait is five times this).
    pub timeout: Duration,
}

impl Fleet {
    pub fn new(redis: &Redis, prefix: &str, token_url: &str) -> Fleet {
        Fleet {
            redis: redis.url.clone(),
            prefix: prefix.to_owned(),
            token_url: token_url.to_owned(),
            api_url: None,
            lease: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }

    /// Starts one host.
    pub fn spawn(&self) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "host", "--nocapture", "--test-threads=1", "-q"])
            .env("FLEET_REDIS", &self.redis)
            .env("FLEET_PREFIX", &self.prefix)
            .env("FLEET_TOKEN_URL", &self.token_url)
            .env("FLEET_LEASE_MS", self.lease.as_millis().to_string())
            .env("FLEET_TIMEOUT_MS", self.timeout.as_millis().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(api) = &self.api_url {
            command.env("FLEET_API", api);
        }
        command.spawn().unwrap()
    }

    /// Starts `n` hosts together and returns what each reported, in order.
    pub fn run(&self, n: usize) -> Vec<Host> {
        let children: Vec<Child> = (0..n).map(|_| self.spawn()).collect();
        children
            .into_iter()
            .map(|c| Host::of(c.wait_with_output().unwrap()))
            .collect()
    }
}

/// What a host reported: its `RESULT` line and its log lines.
#[derive(Debug)]
pub struct Host {
    pub result: String,
    pub logs: Vec<String>,
}

impl Host {
    pub fn of(output: Output) -> Host {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "host failed: {stdout}\n{stderr}");
        let result = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no result: {stdout}\n{stderr}"))
            .to_owned();
        let logs = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("LOG "))
            .map(str::to_owned)
            .collect();
        Host { result, logs }
    }

    /// How many of its log lines contain `text`.
    pub fn logged(&self, text: &str) -> usize {
        self.logs.iter().filter(|l| l.contains(text)).count()
    }
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("LOG {} {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// The host: one source with the Redis store, one `token()` call (and an API call with
/// it, when `FLEET_API` is set), then `RESULT …` on stdout.
pub fn run_host() {
    let Ok(redis) = std::env::var("FLEET_REDIS") else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let ms = |name: &str| Duration::from_millis(var(name).parse().unwrap());
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let store = RedisStore::open(&redis, var("FLEET_PREFIX"))
        .unwrap()
        .with_lease(ms("FLEET_LEASE_MS"));
    let source = TokenConfig::new(var("FLEET_TOKEN_URL"), credentials())
        .with_timeout(ms("FLEET_TIMEOUT_MS"))
        .with_store(store)
        .build()
        .unwrap();
    let mut token = match source.token() {
        Ok(token) => token,
        Err(error) => {
            println!("RESULT error={error}");
            return;
        }
    };
    let mut statuses = Vec::new();
    if let Ok(api) = std::env::var("FLEET_API") {
        for _ in 0..2 {
            let status = call_api(&api, &token);
            statuses.push(status.to_string());
            if status != 401 || !source.reject(&token) {
                break;
            }
            token = source.token().unwrap();
        }
    }
    let secret = token.access_token().secret();
    match statuses.is_empty() {
        true => println!("RESULT token={secret}"),
        false => println!("RESULT token={secret} api={}", statuses.join(",")),
    }
}

pub fn credentials() -> Credentials {
    Credentials::new("fleet-client", "fleet-secret-do-not-store").unwrap()
}

fn call_api(url: &str, token: &apiauth::Token) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (name, value) = token.header(TokenScheme::Bearer);
    agent
        .get(url)
        .header(name, value)
        .call()
        .unwrap()
        .status()
        .as_u16()
}
