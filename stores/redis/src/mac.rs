//! Signed records (feature `record-mac`): with an operator's key, each record is stored as
//! `mac1.<HMAC-SHA256 in hex>.<record>`, the MAC over the record's full Redis key and its
//! bytes. A record without a valid MAC reads as none, so a writer of the keys who lacks the
//! key cannot plant a token, a failure or a backoff, nor move a record to another slot.

use ring::hmac;

const MAGIC: &[u8] = b"mac1.";
/// `mac1.` + 64 hex digits + `.`
pub(crate) const OVERHEAD: usize = MAGIC.len() + 64 + 1;

/// The operator's key.
pub(crate) struct RecordKey(hmac::Key);

impl RecordKey {
    pub fn new(secret: &[u8]) -> RecordKey {
        RecordKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// What the MAC covers: a label, the full Redis key, the record.
    fn message(redis_key: &str, record: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(32 + redis_key.len() + record.len());
        message.extend_from_slice(b"apiauth-redis record\0");
        message.extend_from_slice(redis_key.as_bytes());
        message.push(0);
        message.extend_from_slice(record);
        message
    }

    /// `record` with its MAC, as stored under `redis_key`.
    pub fn seal(&self, redis_key: &str, record: &[u8]) -> Vec<u8> {
        let tag = hmac::sign(&self.0, &RecordKey::message(redis_key, record));
        let mut sealed = Vec::with_capacity(OVERHEAD + record.len());
        sealed.extend_from_slice(MAGIC);
        for byte in tag.as_ref() {
            sealed.extend_from_slice(format!("{byte:02x}").as_bytes());
        }
        sealed.push(b'.');
        sealed.extend_from_slice(record);
        sealed
    }

    /// The record in `stored`, if its MAC is valid for `redis_key`.
    pub fn open(&self, redis_key: &str, stored: &[u8]) -> Option<Vec<u8>> {
        let rest = stored.strip_prefix(MAGIC)?;
        let (hex, record) = (rest.get(..64)?, rest.get(65..)?);
        if rest[64] != b'.' {
            return None;
        }
        let tag: Option<Vec<u8>> = hex
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
        let message = RecordKey::message(redis_key, record);
        hmac::verify(&self.0, &message, &tag?).ok()?;
        Some(record.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_with_the_key_under_their_redis_key() {
        let key = RecordKey::new(b"operator key");
        let sealed = key.seal("p:{0123456789abcdef}", b"{\"v\":1}");
        assert_eq!(sealed.len(), OVERHEAD + 7);
        assert_eq!(
            key.open("p:{0123456789abcdef}", &sealed).as_deref(),
            Some(&b"{\"v\":1}"[..])
        );
        // Another slot, another key, a changed byte, no MAC: none.
        assert_eq!(key.open("p:{fedcba9876543210}", &sealed), None);
        assert_eq!(
            RecordKey::new(b"other").open("p:{0123456789abcdef}", &sealed),
            None
        );
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() = b'2';
        assert_eq!(key.open("p:{0123456789abcdef}", &changed), None);
        assert_eq!(key.open("p:{0123456789abcdef}", b"{\"v\":1}"), None);
        assert_eq!(key.open("p:{0123456789abcdef}", b"mac1.00"), None);
    }
}
