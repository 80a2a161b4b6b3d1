//! `application/x-www-form-urlencoded` encoding and decoding (WHATWG URL §5), std only.

/// Appends `value` form-urlencoded to `out`: `*-._` and alphanumerics stay, a space becomes
/// `+`, every other byte of the UTF-8 encoding becomes `%XX`.
pub(crate) fn encode_into(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        match b {
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Encodes pairs as `k=v&k=v`.
pub(crate) fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(if out.is_empty() { "" } else { "&" });
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

/// Decodes one form-urlencoded component; `None` when the bytes are not UTF-8 after decoding.
/// A `%` not followed by two hex digits is kept as it is, as browsers do.
pub(crate) fn decode(input: &[u8]) -> Option<String> {
    let hex = |b: Option<&u8>| char::from(*b?).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let (byte, read) = match (b, hex(input.get(i + 1)), hex(input.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) => ((hi << 4 | lo) as u8, 3),
            (b'+', ..) => (b' ', 1),
            _ => (b, 1),
        };
        out.push(byte);
        i += read;
    }
    String::from_utf8(out).ok()
}

/// Decodes `k=v&k=v` into pairs; `None` when any component is not UTF-8.
pub(crate) fn decode_pairs(input: &[u8]) -> Option<Vec<(String, String)>> {
    input
        .split(|&b| b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut kv = part.splitn(2, |&b| b == b'=');
            let mut next = || decode(kv.next().unwrap_or_default());
            Some((next()?, next()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_non_ascii() {
        let mut s = String::new();
        encode_into(&mut s, "a:b+c%d e&f/g?h=i~é*-._");
        assert_eq!(s, "a%3Ab%2Bc%25d+e%26f%2Fg%3Fh%3Di%7E%C3%A9*-._");
    }

    #[test]
    fn decode_round_trips_and_tolerates_bad_escapes() {
        let mut s = String::new();
        encode_into(&mut s, "a:b+c%d e&é");
        assert_eq!(decode(s.as_bytes()).as_deref(), Some("a:b+c%d e&é"));
        assert_eq!(decode(b"100%").as_deref(), Some("100%"));
        assert_eq!(decode(b"%zz%4").as_deref(), Some("%zz%4"));
        assert_eq!(decode(b"%ff"), None);
        assert_eq!(
            decode_pairs(b"a=1&&b=x+y&c").unwrap(),
            [("a", "1"), ("b", "x y"), ("c", "")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
