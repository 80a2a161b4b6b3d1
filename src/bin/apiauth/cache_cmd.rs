//! `apiauth cache list` and `apiauth cache clear`: the disk cache, without its tokens.

use std::time::SystemTime;

use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet;

use crate::{Exit, urls, utc};

/// One line per entry: provider (or token URL, without query or user), client id, scopes (`-` for none), expiry
/// in UTC, and `fresh`, `stale` (refreshed on next use) or `expired`.
#[cfg(unix)]
pub fn list() -> Result<String, Exit> {
    let now = SystemTime::now();
    let presets = presets();
    let mut out = String::new();
    for entry in open()?.entries() {
        let url = entry.token_url();
        let provider = presets
            .iter()
            .find_map(|(name, preset)| (preset == url).then(|| (*name).to_owned()))
            .unwrap_or_else(|| urls::shown(url));
        let scopes = match entry.scopes().join(",") {
            none if none.is_empty() => "-".to_owned(),
            scopes => scopes,
        };
        let state = match (entry.stale_at(), entry.expires_at()) {
            (Some(stale_at), _) if now < stale_at => "fresh",
            (_, Some(expires_at)) if now < expires_at => "stale",
            (_, Some(_)) => "expired",
            (_, None) => "no-token",
        };
        let expires = entry.expires_at().map_or("-".to_owned(), utc::rfc3339);
        out.push_str(&format!(
            "{provider} {} {scopes} {expires} {state}",
            entry.client_id(),
        ));
        if let Some((error, until)) = entry.failure(now) {
            out.push_str(&format!(" failing-until {} ({error})", utc::rfc3339(until)));
        }
        if let Some(until) = entry.rejected_until(now) {
            out.push_str(&format!(" rejected-until {}", utc::rfc3339(until)));
        }
        out.push('\n');
    }
    Ok(out)
}

/// Removes the entries for `url` and `client_id` (each when given), and says how many.
#[cfg(unix)]
pub fn clear(url: Option<&str>, client_id: Option<&str>) -> Result<String, Exit> {
    let removed = open()?.remove_entries(|entry| {
        url.is_none_or(|url| entry.token_url() == url)
            && client_id.is_none_or(|id| entry.client_id() == id)
    });
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut said = format!("removed {}", count(removed.tokens, "entry", "entries"));
    if removed.records > 0 {
        let records = count(
            removed.records,
            "failure or rejection record",
            "failure or rejection records",
        );
        said.push_str(&format!(", {records}"));
    }
    if removed.stray > 0 {
        let stray = count(removed.stray, "temporary file", "temporary files");
        said.push_str(&format!(", {stray} left by a killed writer"));
    }
    said.push('\n');
    Ok(said)
}

#[cfg(not(unix))]
pub fn list() -> Result<String, Exit> {
    Err(Exit::usage("the disk cache is Unix only"))
}

#[cfg(not(unix))]
pub fn clear(_: Option<&str>, _: Option<&str>) -> Result<String, Exit> {
    Err(Exit::usage("the disk cache is Unix only"))
}

#[cfg(unix)]
fn open() -> Result<apiauth::DiskCache, Exit> {
    let dir = apiauth::DiskCache::default_dir()
        .ok_or_else(|| Exit::usage("neither XDG_CACHE_HOME nor HOME is set"))?;
    Ok(apiauth::DiskCache::open(dir)?)
}

/// The providers' own token URLs, by the names `cache list` shows.
fn presets() -> [(&'static str, String); 3] {
    [
        (
            "my-connected-fleet",
            my_connected_fleet::token_url(my_connected_fleet::AUTH_BASE_URL),
        ),
        (
            "motorweb:test",
            motorweb::token_url(Environment::Test.base_url()),
        ),
        (
            "motorweb:production",
            motorweb::token_url(Environment::Production.base_url()),
        ),
    ]
}
