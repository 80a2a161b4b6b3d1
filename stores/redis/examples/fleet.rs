//! Four "hosts" (four sources, each with its own memory) share one token through Redis: one
//! token request between them. Against a local stand-in of a token endpoint; Redis at
//! `APIAUTH_REDIS_URL` (default `redis://127.0.0.1:6379/0`). Without Redis, each host asks
//! for its own token and logs nothing worse than a warning.
//!
//! `cargo run -p apiauth-redis --example fleet`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use apiauth::{Credentials, TokenConfig};
use apiauth_redis::RedisStore;

static REQUESTS: AtomicUsize = AtomicUsize::new(0);

fn main() -> Result<(), apiauth::Error> {
    let token_url = token_endpoint();
    let redis = std::env::var("APIAUTH_REDIS_URL").unwrap_or("redis://127.0.0.1:6379/0".into());
    // One prefix per run, so that the example starts cold each time.
    let prefix = format!("apiauth-example:{}:", std::process::id());
    let hosts: Vec<_> = (0..4)
        .map(|_| {
            let store = RedisStore::open(&redis, &prefix)?;
            TokenConfig::new(&token_url, Credentials::new("fleet", "s3cret")?)
                .with_store(store)
                .build()
        })
        .collect::<Result<_, apiauth::Error>>()?;
    for (n, host) in hosts.iter().enumerate() {
        let token = host.token()?;
        println!("host {n}: token {}", token.access_token().secret());
    }
    println!("token requests: {}", REQUESTS.load(SeqCst));
    Ok(())
}

/// A token endpoint on loopback that hands out `token-N` for its Nth request.
fn token_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let _ = reader.read_exact(&mut vec![0; length]);
            let n = REQUESTS.fetch_add(1, SeqCst) + 1;
            let body = format!(r#"{{"access_token":"token-{n}","expires_in":3600}}"#);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}
