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
        let state = match now {
            now if now < entry.stale_at() => "fresh",
            now if now < entry.expires_at() => "stale",
            _ => "expired",
        };
        out.push_str(&format!(
            "{provider} {} {scopes} {} {state}\n",
            entry.client_id(),
            utc::rfc3339(entry.expires_at())
        ));
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
    let plural = if removed == 1 { "entry" } else { "entries" };
    Ok(format!("removed {removed} {plural}\n"))
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
