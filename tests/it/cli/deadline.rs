//! `apiauth request`'s answer: streamed to stdout as it arrives, and bounded as a whole by
//! `--max-time`.

use std::io::Read;
use std::net::TcpStream;
use std::sync::mpsc;

use super::*;
use crate::fixture::Raw;

/// An API on loopback that lets `answer` write the answer of each request on its stream;
/// its base URL.
fn raw_api(answer: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> (Raw, String) {
    let api = Raw::start(move |_, mut stream, _| answer(&mut stream));
    let base = api.url().trim_end_matches("/token").to_owned();
    (api, base)
}

fn request_args(token_url: &str, base: &str, more: &str) -> String {
    let common = format!("request --provider generic --no-cache --token-url {token_url}");
    format!("{common} --api-base-url {base} {more}/v1/answer")
}

#[test]
fn the_body_reaches_stdout_as_it_arrives() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let (read_first, go) = mpsc::channel::<()>();
    let go = Mutex::new(go);
    let (_api, base) = raw_api(move |stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart1";
        stream.write_all(head.as_bytes()).unwrap();
        // The rest only once the test has read the first part from the command's stdout;
        // if it never does, the answer is cut short and the command fails.
        let went = go.lock().unwrap().recv_timeout(Duration::from_secs(20));
        if went.is_ok() {
            let _ = stream.write_all(b"part2");
        }
    });
    let user = User::new("request-stream", "id", "secret");
    let mut child = user.spawn(&request_args(&server.token_url(), &base, ""));
    let mut first = [0; 5];
    let stdout = child.stdout.as_mut().unwrap();
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"part1");
    read_first.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"part2");
}

#[test]
fn max_time_bounds_a_trickling_answer() {
    let server = TokenServer::start();
    server.token("A", 3600);
    let (_api, base) = raw_api(|stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        // One byte at a time, each well within --timeout, until the command hangs up.
        while stream.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let user = User::new("request-max-time", "id", "secret");
    let args = request_args(&server.token_url(), &base, "--timeout 5 --max-time 1 ");
    let out = user.run_within_20s(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let cut =
        format!("could not read the answer of the API at {base}: --max-time ran out after 1 s");
    assert_eq!(err, format!("apiauth: {cut}\n"));
    assert!(!out.stdout.is_empty() && out.stdout.iter().all(|b| *b == b'x'));
}
