//! `apiauth cache list` and `apiauth cache clear`.

use super::*;

/// The `cache list` lines with the timestamp (4th field) checked and replaced by `<at>`.
fn listed(user: &User) -> String {
    let now = now_secs();
    let listing = user.ok("cache list");
    let lines = listing.lines().map(|line| {
        let mut fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 5, "{line}");
        let at = unix_seconds(fields[3]).unwrap_or_else(|| panic!("{line}"));
        assert!(at.abs_diff(now + 3600) <= 5, "{line}");
        fields[3] = "<at>";
        fields.join(" ") + "\n"
    });
    lines.collect()
}

#[test]
fn cache_list_and_clear() {
    let server = TokenServer::start();
    let first = server.token("FIRST-TOKEN", 3600);
    // On the same origin, so that the listing's order (by token URL) is known.
    let second = server.mock(|when, then| {
        when.method(POST).path("/other-token");
        then.status(200).json_body(rfc_token("SECOND-TOKEN", 3600));
    });
    let user = User::new("cache-list", "id-1", "secret");
    let (url1, url2) = (server.token_url(), server.url("/other-token"));
    let token = |url: &str, more: &str| {
        user.ok(&format!("token --provider generic --token-url {url}{more}"))
    };
    assert_eq!(token(&url1, ""), "FIRST-TOKEN\n");
    assert_eq!(token(&url2, " --scope read"), "SECOND-TOKEN\n");
    let list = user.ok("cache list");
    assert!(!list.contains("TOKEN"), "{list}");
    let both = format!("{url2} id-1 read <at> fresh\n{url1} id-1 - <at> fresh\n");
    assert_eq!(listed(&user), both);
    // A selection that matches nothing, then one entry, then everything left.
    let actual = user.ok("cache clear --client-id id-2");
    assert_eq!(actual, "removed 0 entries\n");
    assert_eq!(user.entries().len(), 2);
    let clear1 = format!("cache clear --token-url {url1} --client-id id-1");
    assert_eq!(user.ok(&clear1), "removed 1 entry\n");
    assert_eq!(user.entries().len(), 1);
    assert_eq!(listed(&user), format!("{url2} id-1 read <at> fresh\n"));
    first.assert_calls(1);
    assert_eq!(token(&url1, ""), "FIRST-TOKEN\n");
    first.assert_calls(2);
    assert_eq!(user.ok("cache clear"), "removed 2 entries\n");
    assert!(user.entries().is_empty());
    assert_eq!(user.ok("cache list"), "");
    assert_eq!(token(&url2, " --scope read"), "SECOND-TOKEN\n");
    second.assert_calls(2);

    // A symbolic link in the cache is not listed, nor followed by clear: the link itself is
    // removed, counted with what a listing does not show (issue 30), and its target kept.
    let entry = user.entries()[0].clone();
    let outside = user.home.join("outside.json");
    fs::copy(&entry, &outside).unwrap();
    fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&outside, &entry).unwrap();
    assert_eq!(user.ok("cache list"), "");
    let cleared = "removed 0 entries, 1 temporary file left by a killed writer\n";
    assert_eq!(user.ok("cache clear"), cleared);
    assert!(outside.exists() && fs::symlink_metadata(&entry).is_err());
}
