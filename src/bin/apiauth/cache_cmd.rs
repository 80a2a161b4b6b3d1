//! `apiauth cache list` and `apiauth cache clear`: the disk cache, without its tokens.

use std::time::{Duration, SystemTime};

use apiauth::Credentials;
use apiauth::providers::motorweb::Environment;

use crate::args::{Preset, TokenSettings};
use crate::{Exit, utc};

/// One line per entry: provider (or token URL), client id, scopes (`-` for none), expiry
/// in UTC, and `fresh`, `stale` (refreshed on next use) or `expired`.
#[cfg(unix)]
pub fn list() -> Result<String, Exit> {
    let now = SystemTime::now();
    let presets = presets()?;
    let mut out = String::new();
    for entry in open()?.entries() {
        let url = entry.token_url();
        let provider = presets
            .iter()
            .find_map(|(name, preset)| (preset == url).then_some(*name))
            .unwrap_or(url);
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

/// Removes the entries for `token`'s endpoint and `client_id` (each when given), and says
/// how many.
#[cfg(unix)]
pub fn clear(token: Option<&TokenSettings>, client_id: Option<&str>) -> Result<String, Exit> {
    let url = token.map(token_url).transpose()?;
    let removed = open()?.remove_entries(|entry| {
        url.as_deref().is_none_or(|url| entry.token_url() == url)
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
pub fn clear(_: Option<&TokenSettings>, _: Option<&str>) -> Result<String, Exit> {
    Err(Exit::usage("the disk cache is Unix only"))
}

#[cfg(unix)]
fn open() -> Result<apiauth::DiskCache, Exit> {
    let dir = apiauth::DiskCache::default_dir()
        .ok_or_else(|| Exit::usage("neither XDG_CACHE_HOME nor HOME is set"))?;
    Ok(apiauth::DiskCache::open(dir)?)
}

/// The token URL the command uses with `settings`: the same construction as `header`'s,
/// with placeholder credentials (nothing is sent).
fn token_url(settings: &TokenSettings) -> Result<String, Exit> {
    let placeholder = Credentials::new("apiauth", "unused")?;
    let source = crate::token_source(settings, placeholder, false)?;
    Ok(source.token_url().to_owned())
}

/// The providers' own token URLs, by the names `cache list` shows.
fn presets() -> Result<Vec<(&'static str, String)>, Exit> {
    let settings = |preset| TokenSettings {
        preset,
        token_url: None,
        scopes: Vec::new(),
        params: Vec::new(),
        timeout: Duration::from_secs(10),
    };
    let mcf = Preset::MyConnectedFleet {
        auth_base_url: apiauth::providers::my_connected_fleet::AUTH_BASE_URL.into(),
    };
    let motorweb = |env: Environment| Preset::Motorweb {
        base_url: env.base_url().into(),
    };
    Ok(vec![
        ("my-connected-fleet", token_url(&settings(mcf))?),
        (
            "motorweb:test",
            token_url(&settings(motorweb(Environment::Test)))?,
        ),
        (
            "motorweb:production",
            token_url(&settings(motorweb(Environment::Production)))?,
        ),
    ])
}
