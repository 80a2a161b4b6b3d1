//! The disk cache shared by processes: one request for many, private files, untrusted
//! entries, locks.

use super::*;

#[test]
fn sixteen_processes_on_a_cold_cache_make_one_request() {
    let (server, user) = start("sixteen");
    let mock = server.mock(|when, then| {
        when.method(POST).path("/token");
        let token = rfc_token("SHARED", 3600);
        let then = then.status(200).json_body(token);
        then.delay(Duration::from_millis(300));
    });
    let args = generic("header", &server.token_url());
    let spawn = |_| user.command(&args).stdout(Stdio::piped()).spawn().unwrap();
    for child in (0..16).map(spawn).collect::<Vec<_>>() {
        let out = child.wait_with_output().unwrap();
        let header = "Authorization: Bearer SHARED\n".as_bytes();
        assert_eq!((out.status.code(), &out.stdout[..]), (Some(0), header));
    }
    mock.assert_calls(1);
}

#[test]
fn the_cache_is_private_and_never_holds_the_secret() {
    let (server, user) = start_as("private", "the-id", "the-secret-42");
    let url = (server.token("PRIVATE", 3600), server.token_url()).1;
    user.ok(&generic("token", &url));
    let mode = |path: &Path| fs::metadata(path).unwrap().mode() & 0o777;
    assert_eq!(mode(&user.cache_dir()), 0o700);
    let files = fs::read_dir(user.cache_dir()).unwrap();
    let files: Vec<_> = files.map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "{files:?}"); // the entry and its lock
    for file in &files {
        assert_eq!(mode(file), 0o600, "{file:?}");
        assert!(!fs::read_to_string(file).unwrap().contains("the-secret-42"));
    }
    let entry: Value = serde_json::from_slice(&fs::read(&user.entries()[0]).unwrap()).unwrap();
    assert_eq!(entry["token"]["access_token"], "PRIVATE");
    assert_eq!(entry["settings"]["client_id"], "the-id");
    assert_eq!(entry["settings"]["token_url"], url);
    let fields = |value: &Value| {
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        (keys.sort(), keys).1
    };
    let token_fields = argv("access_token exp_ms issued_at_ms lifetime_ms scope skew_ms");
    assert_eq!(fields(&entry["token"]), token_fields);
    let entry_fields = argv("check failure rejection settings token version");
    assert_eq!(fields(&entry), entry_fields);
}

#[test]
fn untrusted_or_corrupt_entries_are_ignored_and_replaced() {
    let (server, user) = start("corrupt");
    let mock = server.token("GOOD", 3600);
    let (args, entry) = user.first_token(&server, "GOOD");
    let valid = String::from_utf8(fs::read(&entry).unwrap()).unwrap();
    let other_url = valid.replace("/token", "/other");
    let planted = valid.replace("GOOD", "EVIL");
    let mut expected_calls = 1;
    for (damage, bytes, mode) in [
        ("truncated", &valid.as_bytes()[..valid.len() / 2], 0o600),
        ("garbage", b"\x00\xffnot json", 0o600),
        ("another token url", other_url.as_bytes(), 0o600),
        ("readable by others", valid.as_bytes(), 0o644),
        ("planted token", planted.as_bytes(), 0o666),
    ] {
        fs::write(&entry, bytes).unwrap();
        chmod(&entry, mode);
        assert_eq!(user.ok(&args), "GOOD\n", "{damage}");
        expected_calls += 1;
        mock.assert_calls(expected_calls);
        let replaced: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        assert_eq!(replaced["token"]["access_token"], "GOOD", "{damage}");
        let mode = fs::metadata(&entry).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{damage}");
        // Replaced: the next process uses it without a request.
        assert_eq!(user.ok(&args), "GOOD\n", "{damage}");
        mock.assert_calls(expected_calls);
    }
}

#[test]
fn an_entry_owned_by_another_user_is_ignored() {
    // Only root can give a file away; elsewhere this is covered by the same check's mode half.
    let user = User::new("owner", "id", "secret");
    let probe = user.home.join("probe");
    fs::write(&probe, "").unwrap();
    if std::os::unix::fs::chown(&probe, Some(65534), None).is_err() {
        eprintln!("skipped: cannot chown (not root)");
        return;
    }
    let server = TokenServer::start();
    let mock = server.token("MINE", 3600);
    let (args, entry) = user.first_token(&server, "MINE");
    std::os::unix::fs::chown(&entry, Some(65534), None).unwrap();
    assert_eq!(user.ok(&args), "MINE\n");
    mock.assert_calls(2);
    let uid = |path: &Path| fs::metadata(path).unwrap().uid();
    assert_eq!(uid(&entry), uid(&user.home));
}

#[test]
fn a_stale_entry_is_refreshed_and_an_expired_one_replaced() {
    let (server, user) = start("stale");
    let mock = server.token("T", 3600);
    let (args, entry) = user.first_token(&server, "T");
    // Move the entry's issue time back: 30 s left is inside the 60 s margin; then expired.
    for (left, calls) in [(3000, 1), (30, 2), (-5, 3)] {
        let mut json: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        let now_ms = UNIX_EPOCH.elapsed().unwrap().as_millis() as i64;
        json["token"]["issued_at_ms"] = json!(now_ms - (3600 - left) * 1000);
        fs::write(&entry, json.to_string()).unwrap();
        assert_eq!(user.ok(&args), "T\n");
        mock.assert_calls(calls);
    }
}

#[test]
fn without_an_absolute_xdg_cache_home_the_cache_is_under_home() {
    let (server, user) = start("home-cache");
    let mock = server.token("T", 3600);
    for user in [
        user.without("XDG_CACHE_HOME"),
        user.with_env("XDG_CACHE_HOME", "rel"),
    ] {
        assert_eq!(user.ok(&generic("token", &server.token_url())), "T\n");
    }
    let entries = fs::read_dir(user.home.join(".cache/apiauth")).unwrap();
    assert_eq!(entries.count(), 2); // the entry and its lock
    mock.assert_calls(1);
}

#[test]
fn refresh_replaces_the_cached_token() {
    let (server, user) = start("refresh");
    let mut first = server.token("REVOKED", 3600);
    let args = generic("token", &server.token_url());
    assert_eq!(user.ok(&args), "REVOKED\n");
    first.delete();
    let second = server.token("NEW", 3600);
    assert_eq!(user.ok(&args), "REVOKED\n");
    assert_eq!(user.ok(&format!("{args} --refresh")), "NEW\n");
    assert_eq!(user.ok(&args), "NEW\n");
    second.assert_calls(1);
}

#[test]
fn no_cache_fetches_every_time_and_writes_nothing() {
    let (server, user) = start("no-cache");
    let mock = server.token("N", 3600);
    let token = generic("token", &server.token_url());
    for _ in 0..3 {
        user.ok(&format!("{token} --no-cache"));
    }
    mock.assert_calls(3);
    assert!(!user.cache_dir().exists());
}

#[test]
fn a_process_killed_holding_the_lock_does_not_block_the_next() {
    // The first request hangs; every later one is answered at once.
    let server = Server::start(|n| Reply {
        delay: Duration::from_secs(if n == 0 { 60 } else { 0 }),
        ..crate::fixture::reply(200, rfc_token("AFTER", 3600))
    });
    let user = User::new("killed", "id", "secret");
    let args = format!("{} --timeout 30", generic("token", server.url()));
    let mut holder = user.command(&args).stdout(Stdio::null()).spawn().unwrap();
    crate::fixture::eventually(|| server.hits() == 1); // it holds the lock, waiting
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Were the lock not released, this would wait out 5 × 30 s before fetching.
    let out = user.run_within_20s(&args);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "AFTER\n");
    assert_eq!(server.hits(), 2);
}

#[test]
fn a_cached_token_serves_only_the_secret_that_fetched_it() {
    let server = TokenServer::start();
    let answer = |secret, answer: String| {
        let authorization = basic(secret);
        let spec = format!("POST /token; authorization: {authorization} => {answer}");
        server.answer(&spec)
    };
    let good = answer("S3cr3t-S", format!("200 {}", rfc_token("GOOD", 3600)));
    let wrong = answer("WRONG-s3cr3t", r#"401 {"error":"invalid_client"}"#.into());
    let rotated = answer("ROTATED-s3cr3t", format!("200 {}", rfc_token("NEW", 3600)));
    let user = User::new("secret-bound", "id", "S3cr3t-S");
    let (args, entry) = user.first_token(&server, "GOOD");
    let written = fs::read(&entry).unwrap();

    // A wrong secret is sent, and refused; the entry of the right one is left as it was.
    let mistyped = user.with_env("APIAUTH_CLIENT_SECRET", "WRONG-s3cr3t");
    let (out, url) = (outcome(&mistyped.run(&args)), server.token_url());
    let rejected = format!(
        "apiauth: credentials rejected: token endpoint {url} returned 401: invalid_client\n"
    );
    assert_eq!(out, (Some(3), String::new(), rejected));
    assert_eq!((good.calls(), wrong.calls()), (1, 1));
    assert_eq!(fs::read(&entry).unwrap(), written);
    assert_eq!(user.ok(&args), "GOOD\n");
    good.assert_calls(1);

    // The same secret sent another way is another entry.
    let raw = [&args[..], &["--client-auth".into(), "basic-raw".into()]].concat();
    assert_eq!(user.ok(&raw), "GOOD\n");
    good.assert_calls(2);
    assert_eq!(user.entries().len(), 2);

    // A secret the endpoint accepts (a rotation in progress) gets an entry of its own; the
    // old secret's entry is left as it was and still serves it: neither overwrites the other.
    let new_secret = user.with_env("APIAUTH_CLIENT_SECRET", "ROTATED-s3cr3t");
    assert_eq!(new_secret.ok(&args), "NEW\n");
    assert_eq!(new_secret.ok(&args), "NEW\n");
    rotated.assert_calls(1);
    assert_eq!(user.ok(&args), "GOOD\n");
    good.assert_calls(2);
    assert_eq!(fs::read(&entry).unwrap(), written);
    assert_eq!(user.entries().len(), 3);
    for secret in ["S3cr3t-S", "WRONG-s3cr3t", "ROTATED-s3cr3t"] {
        assert!(!any_file_holds(&user.cache_dir(), secret), "{secret}");
    }
}

#[test]
fn a_fifo_in_the_cache_is_replaced_not_waited_on() {
    let (server, user) = start("fifo");
    let mock = server.token("T", 3600);
    let (args, entry) = user.first_token(&server, "T");
    let lock = entry.with_extension("lock");
    // Opening a FIFO waits for the other end: for ever, for a reader (the entry) or a
    // writer (the lock) that never comes.
    for (fifo, calls) in [(&entry, 2), (&lock, 3)] {
        fs::remove_file(&entry).unwrap();
        let _ = fs::remove_file(&lock);
        mkfifo(fifo);
        let out = user.run_within_20s(&args);
        let err = stderr(&out);
        let actual = (out.status.code(), &out.stdout[..]);
        assert_eq!(actual, (Some(0), &b"T\n"[..]), "{err}");
        mock.assert_calls(calls);
        assert!(fs::symlink_metadata(fifo).unwrap().is_file(), "{fifo:?}");
    }
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(3);
}

#[test]
fn symlinks_in_the_cache_are_not_followed() {
    let (server, user) = start("symlinks");
    let mock = server.token("T", 3600);
    let (args, entry) = user.first_token(&server, "T");
    let lock = entry.with_extension("lock");
    let is_file = |path: &Path| fs::symlink_metadata(path).unwrap().is_file();

    // An entry that would be valid, reached through a symlink: not read, and the rename
    // replaces the link, not its target.
    let elsewhere = user.home.join("elsewhere.json");
    fs::rename(&entry, &elsewhere).unwrap();
    let valid = fs::read(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(2);
    assert!(is_file(&entry));
    assert_eq!(fs::read(&elsewhere).unwrap(), valid);

    // A lock file pointing elsewhere: its target is not created.
    let victim = user.home.join("victim");
    fs::remove_file(&entry).unwrap();
    fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    assert_eq!(user.ok(&args), "T\n");
    mock.assert_calls(3);
    assert!(!victim.exists());
    assert!(is_file(&lock));
}
