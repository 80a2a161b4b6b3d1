//! A loopback token endpoint (and an API) that counts token requests and answers as the
//! test says: a token `tok-N` for the Nth request, a 429, or no answer at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// How the token endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `tok-N` for the Nth request, valid an hour.
    Token,
    /// 429 with `Retry-After: 30`.
    TooMany,
    /// 429 with `Retry-After: 3600`.
    TooManyForAnHour,
    /// Nothing for the first request (until its client goes away), then `Token`.
    HangFirst,
    /// The first answer (`tok-1`) only once the test releases it, the others at once.
    HoldFirst,
}

pub struct TokenServer {
    pub url: String,
    pub api_url: String,
    requests: Arc<AtomicUsize>,
    released: Arc<AtomicBool>,
}

impl TokenServer {
    pub fn start(answer: Answer) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let (count, release) = (requests.clone(), released.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (count, release) = (count.clone(), release.clone());
                std::thread::spawn(move || serve(stream, answer, &count, &release));
            }
        });
        TokenServer {
            url: format!("http://127.0.0.1:{port}/token"),
            api_url: format!("http://127.0.0.1:{port}/api"),
            requests,
            released,
        }
    }

    /// Lets the held first answer go.
    pub fn release(&self) {
        self.released.store(true, SeqCst);
    }

    /// Token requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(SeqCst)
    }

    /// Waits (up to 20 s) until `n` token requests have arrived.
    pub fn wait_for(&self, n: usize) {
        for _ in 0..2000 {
            if self.requests() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{n} token requests did not arrive within 20 s");
    }
}

fn serve(stream: TcpStream, answer: Answer, count: &AtomicUsize, released: &AtomicBool) {
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut first, mut length, mut auth) = (String::new(), 0, String::new());
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            auth = line["authorization:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, extra, body) = if first.starts_with("GET /api") {
        match auth.as_str() {
            "Bearer tok-1" => ("401 Unauthorized", "", "{}".to_owned()),
            _ => ("200 OK", "", "{}".to_owned()),
        }
    } else {
        let n = count.fetch_add(1, SeqCst) + 1;
        match answer {
            Answer::HangFirst if n == 1 => {
                // Until the client goes away (or 60 s).
                let _ = reader.read_to_end(&mut Vec::new());
                return;
            }
            Answer::HoldFirst if n == 1 => {
                while !released.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                (
                    "200 OK",
                    "",
                    r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#
                        .to_owned(),
                )
            }
            Answer::TooMany => (
                "429 Too Many Requests",
                "Retry-After: 30\r\n",
                r#"{"error":"slow_down"}"#.to_owned(),
            ),
            Answer::TooManyForAnHour => (
                "429 Too Many Requests",
                "Retry-After: 3600\r\n",
                r#"{"error":"slow_down"}"#.to_owned(),
            ),
            _ => (
                "200 OK",
                "",
                format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#),
            ),
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
