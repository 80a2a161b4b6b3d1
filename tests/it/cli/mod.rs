//! The `apiauth` command, run as processes against loopback servers: the harness, and
//! the tests by behaviour. Usage errors are tested in-process, in the binary's own tests.

mod client_keys;
mod cross_process;
mod failures;
mod interface;
mod refusals;
mod request;
mod shared_records;

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpmock::Method::POST;
use httpmock::Mock;
use serde_json::{Value, json};

use crate::fixture::{
    TokenServer, chmod, closed_url, jwt_expiring_in, mcf_token, mkfifo, now_secs, numbered_tokens,
    rfc_token, temp_dir,
};
use crate::server::{Reply, Server};

pub const MCF_TOKEN: &str = "B983854936PF1A7B61B141AB69494046";
/// `clientId:clientSecret`, raw RFC 7617 Basic.
pub const MCF_BASIC: &str = "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0";

/// A command line: its words, or one string of words split at spaces.
pub trait Argv {
    fn words(&self) -> Vec<String>;
}

impl Argv for str {
    fn words(&self) -> Vec<String> {
        let words = self.split(' ').filter(|_| !self.is_empty());
        words.map(String::from).collect()
    }
}

impl Argv for String {
    fn words(&self) -> Vec<String> {
        self.as_str().words()
    }
}

impl<T: AsRef<OsStr>> Argv for [T] {
    fn words(&self) -> Vec<String> {
        let word = |w: &T| w.as_ref().to_string_lossy().into_owned();
        self.iter().map(word).collect()
    }
}

impl<T: AsRef<OsStr>> Argv for Vec<T> {
    fn words(&self) -> Vec<String> {
        self[..].words()
    }
}

/// One user's environment: a private cache (`XDG_CACHE_HOME`) and credentials.
pub struct User {
    pub home: PathBuf,
    pub env: Vec<(&'static str, String)>,
}

impl User {
    pub fn new(test: &str, id: &str, secret: &str) -> User {
        let home = temp_dir(&format!("cli-{test}"));
        let env = vec![
            ("HOME", home.display().to_string()),
            ("XDG_CACHE_HOME", home.join("cache").display().to_string()),
            ("APIAUTH_CLIENT_ID", id.to_owned()),
            ("APIAUTH_CLIENT_SECRET", secret.to_owned()),
        ];
        User { home, env }
    }

    pub fn command(&self, args: &(impl Argv + ?Sized)) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_apiauth"));
        let (words, env) = (args.words(), self.env.iter().cloned());
        command.args(words).env_clear().envs(env);
        command
    }

    /// Starts a command with its stdout and stderr piped.
    pub fn spawn(&self, args: &(impl Argv + ?Sized)) -> Child {
        let mut command = self.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.spawn().unwrap()
    }

    pub fn run(&self, args: &(impl Argv + ?Sized)) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &(impl Argv + ?Sized)) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache/apiauth")
    }

    /// Runs `apiauth token` against `server`'s generic `/token`, which must hand out
    /// `token`; returns the arguments and the entry that run wrote.
    fn first_token(&self, server: &TokenServer, token: &str) -> (Vec<String>, PathBuf) {
        let args = generic("token", &server.token_url()).words();
        assert_eq!(self.ok(&args), format!("{token}\n"));
        let entries = self.entries();
        assert_eq!(entries.len(), 1);
        (args, entries[0].clone())
    }

    /// The same user and cache with `name` set to `value`.
    pub fn with_env(&self, name: &'static str, value: &str) -> User {
        let mut user = self.without(name);
        user.env.push((name, value.to_owned()));
        user
    }

    /// The same user and cache without the variable `name`.
    pub fn without(&self, name: &str) -> User {
        let env = self.env.iter().filter(|(n, _)| *n != name).cloned();
        let (home, env) = (self.home.clone(), env.collect());
        User { home, env }
    }

    /// A copy of `tests/it/keys/{name}` in the user's home, with `mode` (one per mode).
    pub fn key_file(&self, name: &str, mode: u32) -> String {
        let path = self.home.join(format!("{mode:o}-{name}"));
        fs::write(&path, crate::client_key::key(name)).unwrap();
        chmod(&path, mode);
        path.display().to_string()
    }

    /// Runs a command, killing it and failing if it has not finished within 20 s.
    pub fn run_within_20s(&self, args: &(impl Argv + ?Sized)) -> Output {
        let mut child = self.spawn(args);
        let finished = (0..2000).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            child.try_wait().unwrap().is_some()
        });
        if !finished {
            child.kill().unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(finished, "still running after 20 s: {}", stderr(&out));
        out
    }

    /// The cache's entry files.
    pub fn entries(&self) -> Vec<PathBuf> {
        self.records(|record| !record["token"].is_null())
    }

    /// The slot records (`<slot>.json`) whose JSON `select` picks.
    pub fn records(&self, select: impl Fn(&serde_json::Value) -> bool) -> Vec<PathBuf> {
        let dir = fs::read_dir(self.cache_dir()).unwrap();
        let paths = dir.map(|e| e.unwrap().path());
        let json = |p: &PathBuf| serde_json::from_slice(&fs::read(p).ok()?).ok();
        let records = paths.filter(|p| p.extension().is_some_and(|e| e == "json"));
        let picked = |p: &PathBuf| json(p).is_none_or(|record| select(&record));
        records.filter(picked).collect()
    }
}

/// RFC 3339 in UTC, to the second (`2026-11-23T15:04:05Z`), of `secs` since 1970.
pub fn rfc3339(secs: u64) -> String {
    let [year, month, day, h, m, s] = crate::fixture::utc(secs);
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Panics unless `text` is the RFC 3339 form of a second in `range`.
pub fn assert_rfc3339_in(text: &str, range: std::ops::RangeInclusive<u64>) {
    let shown = range.clone().any(|secs| rfc3339(secs) == text);
    assert!(shown, "{text} in {range:?}");
}

/// The rows of a table test, one a line: `input => expected`.
pub fn rows(table: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    let rows = table.lines();
    rows.filter_map(|row| row.trim().split_once(" => "))
}

/// A run's exit code, stdout and stderr.
pub fn outcome(out: &Output) -> (Option<i32>, String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout, stderr(out))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The start of the line a run prints before an error it did not meet itself: another
/// process's failure, read from the shared record.
pub const REPLAYED: &str = "apiauth: [warn apiauth::store] token endpoint not asked: another \
                            process's request for client ";

/// The error a run reported (its last line of stderr), and whether it says it replayed
/// another process's failure (then that is its only other line).
pub fn reported(out: &Output) -> (String, bool) {
    let text = stderr(out);
    let lines: Vec<&str> = text.lines().collect();
    let replayed = match lines[..] {
        [_] => false,
        [note, _] => {
            let next_try = note.contains("; next try in ");
            assert!(note.starts_with(REPLAYED) && next_try, "{text}");
            true
        }
        _ => panic!("one error, with at most a note before it: {text}"),
    };
    let error = format!("{}\n", lines.last().copied().unwrap_or_default());
    (error, replayed)
}

pub fn mcf_mock(server: &TokenServer) -> Mock<'_> {
    let mut answer = mcf_token(MCF_TOKEN, 2591999);
    answer["token_type"] = json!("bearer");
    let token = "POST /masternauth-oauth/oauth/accessToken; body grant_type=client_credentials";
    let spec = format!("{token}; authorization: {MCF_BASIC} => 200 {answer}");
    server.answer(&spec)
}

/// `COMMAND --provider generic --token-url TOKEN_URL`.
pub fn generic(command: &str, token_url: &str) -> String {
    format!("{command} --provider generic --token-url {token_url}")
}

/// A new token server, and a user `id` with `secret` for test `test`.
pub fn start(test: &str) -> (TokenServer, User) {
    start_as(test, "id", "secret")
}

/// A new token server, and a user `id` with `secret` for test `test`.
pub fn start_as(test: &str, id: &str, secret: &str) -> (TokenServer, User) {
    (TokenServer::start(), User::new(test, id, secret))
}

pub fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Runs `args` with `stdin` on the command's standard input.
pub fn run_with_stdin(user: &User, args: &(impl Argv + ?Sized), stdin: &[u8]) -> Output {
    let mut command = user.command(args);
    let command = command.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// `Authorization` for client `id` with `secret` (letters, digits and `-`: both encodings).
pub fn basic(secret: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("id:{secret}"));
    format!("Basic {encoded}")
}

/// Whether any file in `dir` holds `needle`.
pub fn any_file_holds(dir: &Path, needle: &str) -> bool {
    fs::read_dir(dir).unwrap().any(|e| {
        let bytes = fs::read(e.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
pub fn rfc3339_known_answer() {
    assert_eq!(rfc3339(1_795_446_245), "2026-11-23T15:04:05Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

/// The words of `line`, split at spaces: a command line in one string (leaked, so that
/// they mix with `&str` literals; a test's few lines).
pub fn argv(line: impl Into<String>) -> Vec<&'static str> {
    String::leak(line.into()).split(' ').collect()
}
