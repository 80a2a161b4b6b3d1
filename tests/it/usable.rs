//! What every token that comes out of parsing must be. Shared by the randomized test and,
//! through `#[path]`, by the fuzz target.

use std::time::{Instant, SystemTime};

use apiauth::{Token, TokenScheme};

/// Panics unless `token`, parsed at `sent`/`now`, can be used as it is.
pub fn assert_usable(token: &Token, sent: Instant, now: SystemTime) {
    let secret = token.access_token().secret();
    assert!(secret.bytes().all(|b| b.is_ascii_graphic()));
    assert!(!token.lifetime().is_zero() && token.lifetime() <= Token::MAX_LIFETIME);
    for scheme in [TokenScheme::Bearer, TokenScheme::ConnectToken] {
        assert!(token.header(scheme).1.to_str().is_ok());
    }
    assert!(token.expires_at_instant() > sent);
    assert!(token.jwt_expiry().is_none_or(|exp| exp > now));
}
