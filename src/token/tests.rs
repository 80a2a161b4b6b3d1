use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

fn expiry(token: &str) -> Option<SystemTime> {
    jwt::times(token).map(|t| t.exp)
}
use crate::cache::policy::{Freshness, RefreshPolicy};

fn jwt(claims: &str) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(claims)
    )
}

fn parse(body: &str) -> Result<Token> {
    Token::from_response(
        200,
        body.as_bytes(),
        Instant::now(),
        SystemTime::now(),
        None,
    )
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
    for default in ["0", "null", "0.5", r#""0""#] {
        assert_eq!(lifetime(default), DEFAULT_LIFETIME, "{default}");
    }
    // RFC 6749 §5.1: present, it is a number; a guess at anything else could keep a dead
    // token for 5 minutes.
    for refused in [
        "-5",
        r#""soon""#,
        "[]",
        "false",
        "{}",
        r#""zzz""#,
        r#""-5""#,
        r#""""#,
        r#""1.5""#,
    ] {
        assert!(
            matches!(
                parse(&format!(r#"{{"access_token":"t","expires_in":{refused}}}"#)),
                Err(Error::InvalidResponse(crate::Unusable::InvalidExpiresIn))
            ),
            "{refused}"
        );
    }
    // A token type that is not a string is not bearer; null is missing.
    for (token_type, bearer) in [("5", false), ("true", false), ("{}", false), ("null", true)] {
        let body = format!(r#"{{"access_token":"t","token_type":{token_type}}}"#);
        assert_eq!(parse(&body).is_ok(), bearer, "{token_type}");
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
    let t = Token::from_response(200, body.as_bytes(), Instant::now(), now, None).unwrap();
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
    assert_eq!(expiry(&jwt(claims)), at(2_000_000_000));
    assert_eq!(expiry(&jwt(r#"{"\u0065xp":7,"ex":1}"#)), at(7));
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
        assert_eq!(expiry(&jwt(claims)), None, "{claims}");
    }
    assert_eq!(expiry("a.!!!.c"), None);
    assert_eq!(expiry("a.b"), None);
    assert_eq!(expiry("a.b.c.d"), None);
    let float = jwt(r#"{"exp":2000000000.5}"#);
    assert_eq!(
        expiry(&float),
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
    let t = Token::from_response(200, body.as_bytes(), sent, now, None).unwrap();
    // The monotonic clock says a second passed; the wall clock says the machine slept 2 h.
    let woke = now + Duration::from_secs(7200);
    let schedule = RefreshPolicy::default().schedule(t.validity(), 0);
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
        let stored = Stored {
            access_token: token.into(),
            scope: None,
            issued_at: issued,
            lifetime,
            exp: None,
            skew_ms: 0,
        };
        Token::restore(stored, now, wall)
    };
    let at = |t: &Token, now| {
        RefreshPolicy {
            margin: Some(Duration::from_secs(60)),
            jitter: Some(Duration::ZERO),
        }
        .schedule(t.validity(), 0)
        .freshness(t.validity(), now, || wall)
    };
    let t = restore("T", 3000, hour).unwrap();
    assert_eq!(t.expires_at_instant(), now + Duration::from_secs(600));
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
        Err(Error::InvalidResponse(crate::Unusable::NotBearer))
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

/// A JWT issued by a server whose clock reads `server` (unix seconds), living `exp_in` s,
/// answered with `expires_in` and a `Date` of `date` (unix seconds), parsed on a host whose
/// wall clock reads `host`.
fn from_server(
    server: u64,
    exp_in: u64,
    iat: bool,
    date: Option<u64>,
    host: SystemTime,
) -> Result<Token> {
    let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
    let claims = match iat {
        true => format!(r#"{{"iat":{server},"exp":{}}}"#, server + exp_in),
        false => format!(r#"{{"exp":{}}}"#, server + exp_in),
    };
    let body = format!(r#"{{"access_token":"{}","expires_in":3599}}"#, jwt(&claims));
    Token::from_response(200, body.as_bytes(), Instant::now(), host, date.map(at))
}

#[test]
fn jwt_lifetime_is_read_on_the_servers_clock() {
    let host = SystemTime::now();
    let server = host.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (hours2, min50) = (7200, 3000);
    // Host 2 h ahead: the token's hour is the server's hour, by iat or by Date alone.
    let t = from_server(server - hours2, 3600, true, None, host).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(3599));
    assert!(t.clock_skew_ms().abs_diff(hours2 as i64 * 1000) < 1000);
    let t = from_server(server - hours2, 3600, false, Some(server - hours2), host).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(3599));
    // Host 50 min ahead: not shrunk to 10 min.
    let t = from_server(server - min50, 3600, true, Some(server - min50), host).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(3599));
    // Host 2 h behind, exp 600 s while expires_in says 3599: 600 s.
    let t = from_server(server + hours2, 600, true, Some(server + hours2), host).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(600));
    assert_eq!(t.expires_at(), host + Duration::from_secs(600));
    // Expired on the server's own clock: refused, whatever the host's says.
    let expired = from_server(server + hours2, 0, true, Some(server + hours2), host);
    assert!(matches!(
        expired,
        Err(Error::InvalidResponse(crate::Unusable::JwtExpired))
    ));
    // With no word of the server's time, the host's clock is all there is.
    let t = from_server(server - 100, 3600, false, None, host).unwrap();
    let left = t.lifetime().as_secs_f64();
    assert!(left > 3499.0 && left <= 3500.0, "{left}");
    assert_eq!(t.clock_skew_ms(), 0);
    // Motorweb's issued_at (ms, as text) counts when the JWT has no iat.
    let claims = format!(r#"{{"exp":{}}}"#, server - hours2 + 3600);
    let body = format!(
        r#"{{"access_token":"{}","issued_at":"{}000","expires_in":3599}}"#,
        jwt(&claims),
        server - hours2
    );
    let t = Token::from_response(200, body.as_bytes(), Instant::now(), host, None).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(3599));
}

#[test]
fn a_server_clock_far_from_the_tokens_claims_is_not_believed() {
    // A host clock on a whole second, so that lifetimes are exact.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let host = UNIX_EPOCH + Duration::from_secs(secs);
    let lived = |t: Result<Token>| {
        let t = t.unwrap();
        (t.lifetime(), t.clock_skew_ms())
    };
    // A Date of 1970, exp 60 s away on the host's clock: 60 s, not expires_in's 3599 s.
    let t = from_server(secs, 60, false, Some(0), host);
    assert_eq!(lived(t), (Duration::from_secs(60), 0));
    // A day-old iat and no Date, exp 60 s away: 60 s.
    let t = from_server(secs - 86_400, 86_460, true, None, host);
    assert_eq!(lived(t), (Duration::from_secs(60), 0));
    // A Date in year 9999, no iat, exp an hour away: kept for expires_in's 3599 s.
    let t = from_server(secs, 3600, false, Some(253_402_300_799), host);
    assert_eq!(lived(t), (Duration::from_secs(3599), 0));
}

#[test]
fn a_jwt_closer_than_the_floor_is_marked() {
    let now = SystemTime::now();
    let exp = (now + Duration::from_millis(50))
        .duration_since(UNIX_EPOCH)
        .unwrap();
    let body = format!(
        r#"{{"access_token":"{}","expires_in":3599}}"#,
        jwt(&format!(r#"{{"exp":{}}}"#, exp.as_secs_f64()))
    );
    let t = Token::from_response(200, body.as_bytes(), Instant::now(), now, None).unwrap();
    assert!(t.validity().below_floor);
    assert!(
        t.lifetime() <= Duration::from_millis(51),
        "{:?}",
        t.lifetime()
    );
    assert!(
        !parse(r#"{"access_token":"t","expires_in":1}"#)
            .unwrap()
            .validity()
            .below_floor
    );
}

#[test]
fn the_wall_recheck_moves_the_host_clock_by_the_skew() {
    let host = SystemTime::now();
    let server = host.duration_since(UNIX_EPOCH).unwrap().as_secs() - 7200;
    let t = from_server(server, 3600, true, Some(server), host).unwrap();
    let v = t.validity();
    let left = |after: u64| v.wall_left(host + Duration::from_secs(after)).unwrap();
    assert!(left(0) > Duration::from_secs(3598) && left(0) <= Duration::from_secs(3600));
    assert!(left(3000) > Duration::from_secs(598));
    assert_eq!(left(3601), Duration::ZERO);
    assert_eq!(
        parse(r#"{"access_token":"t"}"#)
            .unwrap()
            .validity()
            .wall_left(host),
        None
    );
    // Fresh on the host clock 2 h ahead: the schedule sees the server's hour.
    let schedule = RefreshPolicy::default().schedule(v, 0);
    assert_eq!(
        schedule.freshness(v, v.issued_at, || host),
        Freshness::Fresh
    );
    // Read back from disk with the stored skew, the same judgement.
    let restored = |skew_ms| {
        let stored = Stored {
            access_token: t.access_token().secret().into(),
            scope: None,
            issued_at: host,
            lifetime: t.lifetime(),
            exp: t.jwt_expiry(),
            skew_ms,
        };
        Token::restore(stored, v.issued_at, host).unwrap()
    };
    let r = restored(t.clock_skew_ms());
    assert_eq!(r.validity().wall_left(host), v.wall_left(host));
    assert_eq!(r.expires_at(), t.expires_at());
    assert_eq!(restored(0).validity().wall_left(host), Some(Duration::ZERO));
}

#[test]
fn an_empty_token_type_means_bearer() {
    assert!(parse(r#"{"access_token":"t","token_type":""}"#).is_ok());
    assert!(parse("access_token=t&token_type=").is_ok());
    assert!(matches!(
        parse(r#"{"access_token":"t","token_type":" "}"#),
        Err(Error::InvalidResponse(crate::Unusable::NotBearer))
    ));
}
