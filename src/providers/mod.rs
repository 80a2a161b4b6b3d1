//! Presets for the providers apiauth is built from: token URLs, client authentication and
//! header schemes, each with a base-URL override.

pub mod motorweb;
pub mod my_connected_fleet;

use crate::{Error, Result};

/// `value` as one URL path segment: letters, digits, `-`, `_` and `.` only, so that an id
/// can never change the path it is put in.
fn path_segment<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let plain = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match plain && !value.is_empty() && value != "." && value != ".." {
        true => Ok(value),
        false => Err(Error::Config(format!(
            "{what} {value:?} is not a plain path segment"
        ))),
    }
}

/// `base_url` without trailing slashes, and `path` after it.
fn join(base_url: &str, path: &str) -> String {
    format!("{}{path}", base_url.trim_end_matches('/'))
}
