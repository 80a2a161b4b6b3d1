//! Header-value validation: any client id and secret either is refused, or gives Basic
//! values that are valid, visible-ASCII header values under both encodings.
#![no_main]

use apiauth::{BasicEncoding, Credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (id, secret) = text.split_once('\u{1}').unwrap_or((&text, ""));
    let Ok(creds) = Credentials::new(id, secret) else {
        assert!(
            id.chars()
                .chain(secret.chars())
                .any(|c| c < ' ' || c == '\u{7f}')
        );
        return;
    };
    for encoding in [BasicEncoding::Raw, BasicEncoding::FormUrlEncoded] {
        match creds.basic_header(encoding) {
            Ok(value) => assert!(value.to_str().is_ok_and(|v| v.starts_with("Basic "))),
            Err(_) => assert!(encoding == BasicEncoding::Raw && id.contains(':')),
        }
    }
});
