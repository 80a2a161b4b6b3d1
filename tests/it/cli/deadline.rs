//! `apiauth request`'s answer: streamed to stdout as it arrives, and bounded as a whole by
//! `--max-time`.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

use super::*;

/// An API on loopback: for each connection, reads the request head, then lets `answer`
/// write the answer on the stream.
fn raw_api(answer: impl Fn(&mut std::net::TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            answer(&mut stream);
        }
    });
    base
}

fn request_args(token_url: &str, base: &str, more: &[&str]) -> Vec<String> {
    let args = argv(format!(
        "request --provider generic --no-cache --token-url {} --api-base-url {}",
        token_url, base
    ));
    [&args[..], more, &["/v1/answer"]]
        .concat()
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn the_body_reaches_stdout_as_it_arrives() {
    let server = MockServer::start();
    any_token(&server, "A");
    let (read_first, go) = mpsc::channel::<()>();
    let go = Mutex::new(go);
    let base = raw_api(move |stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart1";
        stream.write_all(head.as_bytes()).unwrap();
        // The rest only once the test has read the first part from the command's stdout;
        // if it never does, the answer is cut short and the command fails.
        if go
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20))
            .is_ok()
        {
            let _ = stream.write_all(b"part2");
        }
    });
    let user = User::new("request-stream", "id", "secret");
    let mut child = user
        .command(&request_args(&server.url("/token"), &base, &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0; 5];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(&first, b"part1");
    read_first.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"part2");
}

#[test]
fn max_time_bounds_a_trickling_answer() {
    let server = MockServer::start();
    any_token(&server, "A");
    let base = raw_api(|stream| {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        // One byte at a time, each well within --timeout, until the command hangs up.
        while stream.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let user = User::new("request-max-time", "id", "secret");
    let args = request_args(
        &server.url("/token"),
        &base,
        &["--timeout", "5", "--max-time", "1"],
    );
    let out = user.run_within_20s(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_eq!(
        err,
        format!(
            "apiauth: could not read the answer of the API at {base}: --max-time ran out after 1 s\n"
        )
    );
    assert!(!out.stdout.is_empty() && out.stdout.iter().all(|b| *b == b'x'));
}
