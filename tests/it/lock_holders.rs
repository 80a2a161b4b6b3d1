//! A disk cache on a full disk: processes (here, sources of their own on one directory,
//! whose file locks exclude one another as processes' do) do not queue behind one another
//! when no record can be written.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use apiauth::{Credentials, DiskCache, TokenConfig};

use crate::cli::{User, generic, stderr};
use crate::fixture::{Raw, on_threads, respond, secret_of, temp_dir};

const OK: &str = "HTTP/1.1 200 OK\r\nconnection: close";

/// A mounted tmpfs, unmounted when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tmpfs of 1 MiB mounted at a new directory and filled up: files can be made (lock
/// files) but not written. `None` where mounting is not allowed (not root).
fn full_tmpfs() -> Option<Mounted> {
    let dir = temp_dir("full-disk");
    let mut mount = Command::new("mount");
    let mount = mount.args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    let mount = mount.arg(&dir);
    if !mount.status().is_ok_and(|s| s.success()) {
        let ci = std::env::var_os("CI").is_some();
        assert!(!ci, "CI must be able to mount a tmpfs");
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return None;
    }
    DiskCache::open(dir.join("apiauth")).unwrap(); // made, mode 0700, while there is room
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    while filler.write_all(&[0; 65536]).is_ok() {}
    Some(Mounted(dir))
}

#[test]
fn a_full_disk_never_serializes_the_processes() {
    let Some(mounted) = full_tmpfs() else { return };
    // The endpoint answers every request after 1 s, counting the most in flight at once.
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now, max) = (in_flight.clone(), most.clone());
    let server = Raw::start(move |_, stream, _| {
        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
        thread::sleep(Duration::from_secs(1));
        now.fetch_sub(1, SeqCst);
        respond(&stream, OK, r#"{"access_token":"T","expires_in":3600}"#);
    });
    let cache = DiskCache::open(mounted.0.join("apiauth")).unwrap();
    let creds = Credentials::new("id", "s3cr3t").unwrap();
    let config = TokenConfig::new(server.url(), creds).with_disk_cache(cache);
    // A source of its own for each thread, as a process has.
    let tokens = on_threads(16, move || secret_of(&config.clone().build().unwrap()));
    assert_eq!(tokens, ["T"; 16]);
    // No record could be written, so each process asks; but the first holder's failed
    // write releases the others at once (before: one request at a time, 16 s in all).
    assert_eq!(server.hits(), 16);
    let most = most.load(SeqCst);
    assert!(most >= 8, "at most {most} requests in flight at once");
}

#[test]
fn a_stopped_lock_holder_is_waited_for_a_bounded_time_and_records_nothing_when_resumed() {
    // The first connection is held and never answered; every later one gets a token.
    let server = Raw::start(|n, stream, _| match n {
        0 => thread::sleep(Duration::from_secs(3600)),
        _ => respond(&stream, OK, r#"{"access_token":"LATER","expires_in":3600}"#),
    });
    let url = server.url();
    let user = User::new("stopped-holder", "id", "s3cr3t");
    let args = format!("{} --timeout 1", generic("token", url));
    // The holder takes the lock, sends, and is stopped while it waits for the answer.
    let holder = user.spawn(&args);
    crate::fixture::eventually(|| server.hits() == 1);
    let signal = |sig: &str| {
        let pid = holder.id().to_string();
        let killed = Command::new("kill").args([sig, &pid]).status();
        assert!(killed.unwrap().success());
    };
    signal("-STOP");
    // Another process waits for the lock at most one time limit and a second, then asks
    // on its own (before: five time limits).
    let waiter = user.run(&args);
    assert_eq!(waiter.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&waiter.stdout), "LATER\n");
    // Resumed past its lease (5 × 1 s), the holder times out on waking: a timeout the
    // endpoint never caused, which it must not record for the others.
    thread::sleep(Duration::from_millis(5500));
    signal("-CONT");
    let holder = holder.wait_with_output().unwrap();
    assert_eq!(holder.status.code(), Some(4));
    let next = user.run(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&next.stdout), stderr(&next));
    let actual = (next.status.code(), &*stdout);
    assert_eq!(actual, (Some(0), "LATER\n"), "{stderr}");
    assert_eq!(server.hits(), 3);
}

#[test]
fn a_slow_holder_that_progresses_keeps_single_flight() {
    // Each phase of the answer inside a 2 s limit, the whole longer than it.
    let endpoint = Raw::start(|_, mut stream, _| {
        let body = r#"{"access_token":"T","expires_in":3600}"#;
        thread::sleep(Duration::from_millis(1800));
        let head = format!("{OK}\r\ncontent-length: {}\r\n\r\n", body.len());
        let sent = stream.write_all(head.as_bytes());
        let _ = sent.and_then(|()| stream.flush());
        thread::sleep(Duration::from_millis(1800));
        let _ = stream.write_all(body.as_bytes());
    });
    let cache = DiskCache::open(temp_dir("slow-holder").join("apiauth")).unwrap();
    let config = TokenConfig::new(endpoint.url(), Credentials::new("id", "s3cr3t").unwrap());
    let config = config.with_timeout(Duration::from_secs(2));
    let config = config.with_disk_cache(cache);
    // A source of its own for each thread, as a process has.
    let tokens = on_threads(4, move || secret_of(&config.clone().build().unwrap()));
    assert_eq!(tokens, ["T"; 4]);
    // The holder beats while it waits for the slow answer: the others wait for it, longer
    // than one time limit, and read its token.
    assert_eq!(endpoint.hits(), 1);
}
