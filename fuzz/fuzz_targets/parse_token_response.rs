//! Token-response parsing, every dialect and shape: the first byte picks the HTTP status,
//! the rest is the body. Whatever comes in, no panic, and a token that comes out is usable.
#![no_main]

use std::time::{Instant, SystemTime};

use apiauth::Token;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/it/usable.rs"]
mod usable;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = [200, 201, 204, 400, 401, 403, 429, 500, 503][usize::from(selector) % 9];
    let (sent, now) = (Instant::now(), SystemTime::now());
    if let Ok(token) = Token::from_response(status, body, sent, now) {
        usable::assert_usable(&token, sent, now);
    }
});
