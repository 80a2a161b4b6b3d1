use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::refresh::{Freshness, RefreshPolicy};

fn jwt(claims: &str) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims)
    )
}

fn parse(body: &str) -> Result<Token> {
    Token::from_response(200, body.as_bytes(), Instant::now(), SystemTime::now())
}

#[test]
fn expires_in_forms() {
    let lifetime = |v: &str| {
        parse(&format!(r#"{{"access_token":"t","expires_in":{v}}}"#))
            .unwrap()
            .lifetime()
    };
    assert_eq!(lifetime("3599"), Duration::from_secs(3599));
    assert_eq!(lifetime(r#""3599""#), Duration::from_secs(3599));
    assert_eq!(lifetime("12.5"), Duration::from_secs_f64(12.5));
    for default in ["0", "-5", "null", r#""soon""#, "[]", "0.5"] {
        assert_eq!(lifetime(default), DEFAULT_LIFETIME, "{default}");
    }
    assert_eq!(lifetime("1e300"), MAX_LIFETIME);
    assert_eq!(lifetime("18446744073709551616"), MAX_LIFETIME);
    assert_eq!(
        parse(r#"{"access_token":"t"}"#).unwrap().lifetime(),
        DEFAULT_LIFETIME
    );
}

#[test]
fn jwt_exp_shortens_the_lifetime() {
    let now = SystemTime::now();
    let exp = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 100;
    let token = jwt(&format!(r#"{{"exp":{exp}}}"#));
    let body = format!(r#"{{"access_token":"{token}","expires_in":3599}}"#);
    let t = Token::from_response(200, body.as_bytes(), Instant::now(), now).unwrap();
    assert_eq!(t.jwt_expiry(), Some(UNIX_EPOCH + Duration::from_secs(exp)));
    assert!(t.lifetime() <= Duration::from_secs(100) && t.lifetime() > Duration::from_secs(98));
    // exp later than expires_in: expires_in wins.
    let late = jwt(r#"{"exp":253402300799}"#);
    let t = parse(&format!(r#"{{"access_token":"{late}","expires_in":60}}"#)).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(60));
    // exp in 1970: refused, the clock or the token is wrong.
    let past = jwt(r#"{"exp":1}"#);
    assert!(matches!(
        parse(&format!(r#"{{"access_token":"{past}"}}"#)),
        Err(Error::InvalidResponse(_))
    ));
}

#[test]
fn jwt_exp_among_other_claims() {
    let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
    let claims = r#"{"sub":"x","aud":["a",{"b":[1,2]}],"nbf":1.5,"exp":2000000000,"z":null}"#;
    assert_eq!(jwt::expiry(&jwt(claims)), at(2_000_000_000));
    assert_eq!(jwt::expiry(&jwt(r#"{"\u0065xp":7,"ex":1}"#)), at(7));
}

#[test]
fn jwt_claims_that_do_not_count() {
    for claims in [
        r#"{"exp":"12"}"#,
        r#"{"sub":"x"}"#,
        "not json",
        r#"{"exp":-1}"#,
        r#"{"exp":1,"exp":2}"#,
        r#"[2000000000]"#,
        r#"{"exp":null}"#,
    ] {
        assert_eq!(jwt::expiry(&jwt(claims)), None, "{claims}");
    }
    assert_eq!(jwt::expiry("a.!!!.c"), None);
    assert_eq!(jwt::expiry("a.b"), None);
    assert_eq!(jwt::expiry("a.b.c.d"), None);
    let float = jwt(r#"{"exp":2000000000.5}"#);
    assert_eq!(
        jwt::expiry(&float),
        Some(UNIX_EPOCH + Duration::from_secs_f64(2000000000.5))
    );
}

#[test]
fn wall_clock_past_exp_means_expired() {
    let now = SystemTime::now();
    let exp = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    let body = format!(
        r#"{{"access_token":"{}"}}"#,
        jwt(&format!(r#"{{"exp":{exp}}}"#))
    );
    let sent = Instant::now();
    let t = Token::from_response(200, body.as_bytes(), sent, now).unwrap();
    // The monotonic clock says a second passed; the wall clock says the machine slept 2 h.
    let woke = now + Duration::from_secs(7200);
    let schedule = RefreshPolicy::default().schedule(t.validity());
    let at = |wall| schedule.freshness(t.validity(), sent + Duration::from_secs(1), || wall);
    assert_eq!(at(woke), Freshness::Expired);
    assert_eq!(at(now), Freshness::Fresh);
}

#[test]
fn a_restored_token_keeps_its_age_and_margin() {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let hour = Duration::from_secs(3600);
    let restore = |token: &str, issued_ago: i64, lifetime| {
        let issued = match issued_ago {
            ago @ 0.. => wall - Duration::from_secs(ago as u64),
            ahead => wall + Duration::from_secs(ahead.unsigned_abs()),
        };
        Token::restore(token.into(), None, issued, lifetime, now, wall)
    };
    let at = |t: &Token, now| {
        RefreshPolicy {
            margin: Some(Duration::from_secs(60)),
            jitter: Some(Duration::ZERO),
        }
        .schedule(t.validity())
        .freshness(t.validity(), now, || wall)
    };
    let t = restore("T", 3000, hour).unwrap();
    assert_eq!(t.expires_at(), now + Duration::from_secs(600));
    assert_eq!(at(&t, now), Freshness::Fresh);
    assert_eq!(at(&t, now + Duration::from_secs(545)), Freshness::Stale);
    // A short-lived token's margin is half its *original* life, not of what is left.
    let short = restore("S", 5, Duration::from_secs(20)).unwrap();
    assert_eq!(at(&short, now), Freshness::Fresh);
    assert_eq!(at(&short, now + Duration::from_secs(6)), Freshness::Stale);
    // Clock set back: a little is tolerated, more is not trusted.
    assert!(restore("T", -30, hour).is_some_and(|t| t.issued_at() == now));
    assert!(restore("T", -120, hour).is_none());
    assert!(restore("bad token", 0, hour).is_none());
    assert!(restore("T", 0, MAX_LIFETIME + Duration::from_secs(1)).is_none());
}

#[test]
fn token_types_and_values() {
    assert!(parse(r#"{"access_token":"t","token_type":"BEARER"}"#).is_ok());
    assert!(matches!(
        parse(r#"{"access_token":"t","token_type":"mac"}"#),
        Err(Error::InvalidResponse("token type is not bearer"))
    ));
    for bad in [r#""""#, r#""a b""#, r#""a\r\nb""#, r#""é""#, "42"] {
        assert!(
            matches!(
                parse(&format!(r#"{{"access_token":{bad}}}"#)),
                Err(Error::InvalidResponse(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn form_and_text_bodies_parse_like_json() {
    let t = parse(" access_token=a%2Eb&token_type=bearer&expires_in=60&scope=x+y\n").unwrap();
    assert_eq!(t.access_token().secret(), "a.b");
    assert_eq!(t.scope(), Some("x y"));
    assert_eq!(t.lifetime(), Duration::from_secs(60));
}
