//! A redis-server for the tests, and the host that children run.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiauth::store::{Store, StoreError, StoreGuard, StoreKey};
use apiauth::{Credentials, TokenConfig, TokenScheme};

use crate::server::TokenServer;
use apiauth_redis::RedisStore;

/// The Redis a test uses: one this test started (and stops), or `APIAUTH_TEST_REDIS_URL`.
pub struct Redis {
    pub url: String,
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Redis {
    /// The server in `APIAUTH_TEST_REDIS_URL`, else one of this test's own.
    pub fn any(test: &str) -> Option<Redis> {
        match std::env::var("APIAUTH_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let port = url.rsplit(':').next()?.split('/').next()?.parse().ok()?;
                Some(Redis {
                    url,
                    port,
                    args: Vec::new(),
                    child: None,
                })
            }
            _ => Redis::own(test),
        }
    }

    /// A redis-server of this test's own on a free loopback port, which it can stop.
    pub fn own(test: &str) -> Option<Redis> {
        Redis::own_with(test, &[])
    }

    /// As [`own`](Self::own), with more arguments for redis-server. `None` (the test is
    /// skipped, with a message) when there is no `redis-server` on PATH, except under
    /// CI=true, where that fails the test.
    pub fn own_with(test: &str, args: &[&str]) -> Option<Redis> {
        Redis::own_on(test, free_port(), args)
    }

    /// As [`own_with`](Self::own_with), on `port`.
    pub fn own_on(test: &str, port: u16, args: &[&str]) -> Option<Redis> {
        let mut redis = Redis {
            url: format!("redis://127.0.0.1:{port}/0"),
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        if !redis.start() {
            skip(test);
            return None;
        }
        Some(redis)
    }

    /// Starts (again) this test's server on its port; false if there is no redis-server.
    pub fn start(&mut self) -> bool {
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = spawned else { return false };
        self.child = Some(child);
        for _ in 0..500 {
            if self.try_cmd(&["PING"]).is_some_and(|r| r == "PONG") {
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

    /// A command on the server's plain port, its reply as text (see [`command`]).
    pub fn cmd(&self, args: &[&str]) -> String {
        command(self.port, args)
    }

    /// A command in database `db`.
    pub fn cmd_in(&self, db: u32, args: &[&str]) -> String {
        let db = db.to_string();
        try_commands(self.port, &[&["SELECT", &db], args]).expect("redis answers")
    }

    /// Commands pipelined on one connection; the last one's reply.
    pub fn cmds(&self, commands: &[&[&str]]) -> String {
        try_commands(self.port, commands).expect("redis answers")
    }

    fn try_cmd(&self, args: &[&str]) -> Option<String> {
        try_command(self.port, args)
    }

    /// The keys under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let listed = self.cmd(&["KEYS", &format!("{prefix}*")]);
        let mut keys: Vec<String> = listed.lines().map(str::to_owned).collect();
        keys.sort();
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Says a test is skipped for want of redis-server, or fails it under CI=true.
pub fn skip(test: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "redis-server could not be started, and CI=true: install it (apt-get install redis-server)"
    );
    // Past libtest's capture, so that a skip shows in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: no redis-server on PATH (install it, or set APIAUTH_TEST_REDIS_URL)"
    );
}

/// A command to the Redis on loopback `port`; the reply as text: a status or error line,
/// a number, a value (`(nil)` for none), an array's items one per line.
pub fn command(port: u16, args: &[&str]) -> String {
    try_command(port, args).unwrap_or_else(|| panic!("redis on port {port} does not answer"))
}

fn try_command(port: u16, args: &[&str]) -> Option<String> {
    try_commands(port, &[args])
}

/// Pipelined commands on one connection; the last one's reply.
fn try_commands(port: u16, commands: &[&[&str]]) -> Option<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut out = Vec::new();
    for args in commands {
        out.extend(format!("*{}\r\n", args.len()).bytes());
        for arg in *args {
            out.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
        }
    }
    (&stream).write_all(&out).ok()?;
    let mut input = BufReader::new(stream);
    let mut last = None;
    for _ in commands {
        last = Some(reply(&mut input)?);
    }
    last
}

fn reply(input: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    input.read_line(&mut line).ok()?;
    let line = line.strip_suffix("\r\n")?;
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | "-" | ":" => Some(rest.to_owned()),
        "$" if rest == "-1" => Some("(nil)".into()),
        "$" => {
            let mut value = vec![0; rest.parse::<usize>().ok()? + 2];
            input.read_exact(&mut value).ok()?;
            value.truncate(value.len() - 2);
            Some(String::from_utf8_lossy(&value).into_owned())
        }
        "*" => {
            let items: Option<Vec<String>> = (0..rest.parse::<i64>().ok()?.max(0))
                .map(|_| reply(input))
                .collect();
            Some(items?.join("\n"))
        }
        _ => None,
    }
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The store key `TokenSource`s with these credentials use: a source whose store notes
/// the key and fails (so it fetches alone from `server`) tells it.
pub fn key_of(server: &TokenServer, credentials: Credentials) -> StoreKey {
    #[derive(Debug, Default, Clone)]
    struct Spy(Arc<Mutex<Option<StoreKey>>>);
    impl Store for Spy {
        fn read(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
            *self.0.lock().unwrap() = Some(key.clone());
            Err(StoreError::new("spy"))
        }
        fn lock(
            &self,
            key: &StoreKey,
            _: Duration,
            _: Duration,
        ) -> Result<Option<Box<dyn StoreGuard + '_>>, StoreError> {
            self.read(key).map(|_| None)
        }
    }
    let spy = Spy::default();
    let source = TokenConfig::new(&server.url, credentials)
        .with_store(spy.clone())
        .build()
        .unwrap();
    source.token().unwrap();
    spy.0.lock().unwrap().clone().unwrap()
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
    /// The source's timeout (its lock wait and lease are six times this and a second).
    pub timeout: Duration,
    /// The CA file for `rediss://`.
    pub ca_file: Option<String>,
    /// The hosts' `SSL_CERT_FILE`.
    pub ssl_cert_file: Option<String>,
    /// How far ahead of the real time the hosts' wall clocks are.
    pub wall_ahead: Duration,
    /// The hosts' deadline for each Redis call: generous (2 s) so that a loaded machine
    /// does not turn a test of sharing into one of deadlines; the fault tests set 250 ms.
    pub store_timeout: Duration,
}

impl Fleet {
    pub fn new(redis: &Redis, prefix: &str, token_url: &str) -> Fleet {
        Fleet {
            redis: redis.url.clone(),
            prefix: prefix.to_owned(),
            token_url: token_url.to_owned(),
            api_url: None,
            timeout: Duration::from_secs(10),
            ca_file: None,
            ssl_cert_file: None,
            wall_ahead: Duration::ZERO,
            store_timeout: Duration::from_secs(2),
        }
    }

    /// Starts one host.
    pub fn spawn(&self) -> Child {
        self.spawn_on(&self.redis)
    }

    /// Starts one host on the Redis at `url` (a node of a cluster).
    pub fn spawn_on(&self, url: &str) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "host", "--nocapture", "--test-threads=1", "-q"])
            .env("FLEET_REDIS", url)
            .env("FLEET_PREFIX", &self.prefix)
            .env("FLEET_TOKEN_URL", &self.token_url)
            .env("FLEET_TIMEOUT_MS", self.timeout.as_millis().to_string())
            .env(
                "FLEET_STORE_TIMEOUT_MS",
                self.store_timeout.as_millis().to_string(),
            )
            .env(
                "FLEET_WALL_AHEAD_MS",
                self.wall_ahead.as_millis().to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(api) = &self.api_url {
            command.env("FLEET_API", api);
        }
        if let Some(ca) = &self.ca_file {
            command.env("FLEET_CA", ca);
        }
        match &self.ssl_cert_file {
            Some(file) => command.env("SSL_CERT_FILE", file),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        command.spawn().unwrap()
    }

    /// Starts `n` hosts together and returns what each reported, in order.
    pub fn run(&self, n: usize) -> Vec<Host> {
        self.run_on(&[self.redis.as_str()], n)
    }

    /// Starts `n` hosts together, host i on `urls[i % urls.len()]`.
    pub fn run_on(&self, urls: &[&str], n: usize) -> Vec<Host> {
        let children: Vec<Child> = (0..n)
            .map(|i| self.spawn_on(urls[i % urls.len()]))
            .collect();
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
    let mut store = RedisStore::open(&redis, var("FLEET_PREFIX"))
        .unwrap()
        .with_timeout(ms("FLEET_STORE_TIMEOUT_MS"));
    if let Ok(ca) = std::env::var("FLEET_CA") {
        store = store.with_ca_file(ca).unwrap();
    }
    let clock = apiauth::TestClock::new();
    clock.advance_wall(ms("FLEET_WALL_AHEAD_MS"));
    let source = TokenConfig::new(var("FLEET_TOKEN_URL"), credentials())
        .with_timeout(ms("FLEET_TIMEOUT_MS"))
        .with_test_clock(clock)
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
