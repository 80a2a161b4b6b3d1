//! A keep-alive HTTP/1.1 server on loopback whose answers a function chooses, and which
//! counts requests. Shared by the tests and, through `#[path]`, by benches/bench.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// One answer: status, JSON body, and how long to wait before sending it.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

pub struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    /// Starts a server whose `n`-th request (from 0) gets `reply(n)`.
    pub fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let (counter, reply) = (hits.clone(), Arc::new(reply));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counter, reply) = (counter.clone(), reply.clone());
                thread::spawn(move || serve(stream, &*reply, &counter));
            }
        });
        Server { url, hits }
    }

    /// A server that always answers 200 with `body` after `delay`.
    #[allow(dead_code)] // used by the benches only
    pub fn constant(body: &'static str, delay: Duration) -> Server {
        Server::start(move |_| Reply {
            status: 200,
            body: body.to_owned(),
            delay,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests received so far (counted on arrival, before any delay).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, reply: &dyn Fn(usize) -> Reply, hits: &AtomicUsize) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut request_body = vec![0; length];
        if reader.read_exact(&mut request_body).is_err() {
            return;
        }
        let Reply {
            status,
            body,
            delay,
        } = reply(hits.fetch_add(1, Ordering::SeqCst));
        thread::sleep(delay);
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}
