//! `apiauth cache list` and `apiauth cache clear`: the disk cache, without its tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet;

use crate::command_line::{Command, HeaderSource, Provider, Settings};
use crate::{Exit, urls};

/// `apiauth cache list` or `apiauth cache clear`: what to print. `cache list` lists the
/// entries, never their tokens; `cache clear` removes the entries for the token URL and the
/// client id (each when given), and says how many.
#[cfg(unix)]
pub fn run(settings: &Settings) -> Result<String, Exit> {
    let dir = apiauth::DiskCache::default_dir().ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    let cache = apiauth::DiskCache::open(dir)?;
    if settings.command == Some(Command::CacheList) {
        // One line per entry: provider (or token URL, without query or user), client id,
        // scopes (`-` for none), expiry in UTC, and `fresh`, `stale` (refreshed on next use),
        // `expired` or `no-token`; then a failure or a rejection still in force, with until
        // when.
        let now = SystemTime::now();
        let mut out = String::new();
        for entry in cache.entries() {
            let url = entry.token_url();
            let provider = preset(url).unwrap_or_else(|| urls::shown(url));
            let scopes = Some(entry.scopes().join(",")).filter(|scopes| !scopes.is_empty());
            let state = match (entry.stale_at(), entry.expires_at()) {
                (Some(stale_at), _) if now < stale_at => "fresh",
                (_, Some(expires_at)) if now < expires_at => "stale",
                (_, Some(_)) => "expired",
                (_, None) => "no-token",
            };
            let expires = entry.expires_at().map_or("-".into(), rfc3339);
            let (id, scopes) = (entry.client_id(), scopes.as_deref().unwrap_or("-"));
            out += &format!("{provider} {id} {scopes} {expires} {state}");
            if let Some((error, until)) = entry.failure(now) {
                out += &format!(" failing-until {} ({error})", rfc3339(until));
            }
            if let Some(until) = entry.rejected_until(now) {
                out += &format!(" rejected-until {}", rfc3339(until));
            }
            out.push('\n');
        }
        return Ok(out);
    }
    let url = match &settings.source {
        Some(HeaderSource::Token(url, ..)) => Some(url.as_str()),
        _ => settings.get("token-url"),
    };
    let client_id = settings.get("client-id");
    let removed = cache.remove_entries(|entry| {
        url.is_none_or(|url| entry.token_url() == url)
            && client_id.is_none_or(|id| entry.client_id() == id)
    });
    let count = |n: usize, one, many: &str| format!("{n} {}", [many, one][usize::from(n == 1)]);
    let mut said = format!("removed {}", count(removed.tokens, "entry", "entries"));
    if removed.records > 0 {
        let what = "failure or rejection record";
        said += &format!(", {}", count(removed.records, what, &format!("{what}s")));
    }
    if removed.stray > 0 {
        let stray = count(removed.stray, "stray file", "stray files");
        said += &format!(", {stray} (temporary, of another version or unreadable)");
    }
    Ok(said + "\n")
}

#[cfg(not(unix))]
pub fn run(_: &Settings) -> Result<String, Exit> {
    Err("the disk cache is Unix only".into())
}

/// The name `cache list` shows for a provider's own token URL: `my-connected-fleet`,
/// `motorweb:test`, `motorweb:production`.
fn preset(url: &str) -> Option<String> {
    if url == urls::preset_url(my_connected_fleet::token_config, None) {
        return Some(Provider::MyConnectedFleet.name().into());
    }
    let url_of = |env: Environment| urls::preset_url(|c| motorweb::token_config(env, c), None);
    let env = Environment::ALL.into_iter().find(|env| url == url_of(*env));
    env.map(|env| format!("{}:{}", Provider::Motorweb.name(), env.name()))
}

/// `time` in RFC 3339, UTC, to the second (truncated). Times before 1970 print as the epoch.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // The proleptic Gregorian date `days` after 1970-01-01: Howard Hinnant's
    // `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
    let z = days + 719_468; // days since 0000-03-01
    let (era, doe) = (z / 146_097, z % 146_097); // doe in [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn known_dates() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // `date -u -d @…`
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_795_446_245), "2026-11-23T15:04:05Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(rfc3339(before), "1970-01-01T00:00:00Z");
    }
}
