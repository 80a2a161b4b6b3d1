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

/// Removes the entries for `token`'s endpoint and `client_id` (each when given), and says
/// how many.
#[cfg(unix)]
pub fn clear(token: Option<&TokenSettings>, client_id: Option<&str>) -> Result<String, Exit> {
    let url = token.map(token_url).transpose()?;
    let removed = open()?.remove_entries(|entry| {
        url.as_deref().is_none_or(|url| entry.token_url() == url)
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
