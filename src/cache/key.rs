//! What a shared record is for: the settings a token was asked with, the check that binds
//! it to one client secret, and the [`StoreKey`] both give.

use serde_json::{Value, json};

use crate::store::StoreKey;
use crate::wire::TokenRequest;
use crate::{BasicEncoding, ClientAuth, TlsSettings};

/// The settings a record was written for, and the secret's check. A record is used only if
/// both match the reader's.
#[derive(Clone)]
pub(crate) struct Binding {
    /// `{"token_url", "client_id", "client_auth", "scopes", "params"}`, as written.
    pub settings: Value,
    /// [`secret_check`] of the client secret.
    pub check: u16,
    /// Names the store slot: the settings and the check, hashed.
    pub key: StoreKey,
}

impl Binding {
    pub fn new(request: &TokenRequest) -> Binding {
        let mut settings = json!({
            "token_url": request.url,
            "client_id": request.credentials.id(),
            "client_auth": client_auth_name(request.client_auth),
            "scopes": request.scopes,
            "params": request.params,
        });
        // Only when set, so that the slots of the other methods keep their names.
        if let Some(key) = &request.client_key {
            settings["client_key"] = format!("{:016x}", fnv1a(key.binding().as_bytes())).into();
        }
        if let Some(cert) = request.tls.as_ref().and_then(TlsSettings::client_cert_der) {
            settings["client_cert"] = format!("{:016x}", fnv1a(cert)).into();
        }
        let secret = request.credentials.secret().secret();
        let check = secret_check(secret, &request.url, request.credentials.id());
        let key = key_of(&settings, check);
        Binding {
            settings,
            check,
            key,
        }
    }

    /// Whether a record's `settings` and `check` are this binding's.
    pub fn matches(&self, record: &Value) -> bool {
        record.get("settings") == Some(&self.settings)
            && record.get("check").and_then(Value::as_u64) == Some(u64::from(self.check))
    }
}

/// The key a record with these settings and check lives under: a listing checks that a
/// record is where its contents say it belongs.
pub(crate) fn key_of(settings: &Value, check: u16) -> StoreKey {
    let mut bytes = serde_json::to_vec(settings).unwrap_or_default();
    bytes.extend_from_slice(&check.to_be_bytes());
    StoreKey::new(format!("{:016x}", fnv1a(&bytes)))
}

/// The stable names of the client authentication methods, as records keep them.
fn client_auth_name(auth: ClientAuth) -> &'static str {
    match auth {
        ClientAuth::Basic(BasicEncoding::FormUrlEncoded) => "basic",
        ClientAuth::Basic(BasicEncoding::Raw) => "basic-raw",
        ClientAuth::RequestBody => "body",
    }
}

/// FNV-1a, 64 bits: names that are stable across builds and Rust versions (std's hashers
/// promise neither). Collisions are harmless: a record's settings are checked on reading.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a record keeps of the client secret: 16 bits, enough to tell another secret apart
/// (all but one in 65,536) and too few to tell anything about it but that it is one of the
/// 1 in 65,536 candidates that give them. Any well-mixed hash truncated to 16 bits leaks
/// exactly that much, so FNV-1a serves (no hash in std, and no cryptographic one in the
/// tree of both TLS features); a slow hash would make a cached run dearer than a token
/// request, to guard only secrets weak enough to guess online.
fn secret_check(secret: &str, token_url: &str, client_id: &str) -> u16 {
    let parts = [secret, "\0", token_url, "\0", client_id];
    let hash = fnv1a(parts.concat().as_bytes());
    // The top bits: the last multiplications mix every byte into them.
    (hash >> 48) as u16
}

/// The binding of client `id` with `secret` at `https://a.example/t`, for tests.
#[cfg(test)]
pub(crate) fn for_tests(secret: &str) -> Binding {
    let creds = crate::Credentials::new("id", secret).unwrap();
    let request = TokenRequest::new("https://a.example/t".into(), creds, ClientAuth::RequestBody);
    Binding::new(&request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_check_tells_secrets_apart() {
        let check = |secret: &str| secret_check(secret, "https://a.example/t", "id");
        assert_eq!(check("s3cr3t"), check("s3cr3t"));
        let distinct: std::collections::HashSet<u16> =
            (0..1000).map(|n| check(&format!("secret-{n}"))).collect();
        assert!(distinct.len() > 980, "{}", distinct.len());
        assert_ne!(
            check("s3cr3t"),
            secret_check("s3cr3t", "https://a.example/t", "id2")
        );
    }

    #[test]
    fn each_client_key_and_certificate_gets_its_own_slot() {
        use crate::{ClientKey, Credentials};
        let pem = |name: &str| std::fs::read(format!("tests/it/keys/{name}")).unwrap();
        let tls =
            |cert: &str, key: &str| TlsSettings::new().with_client_cert(&pem(cert), &pem(key));
        let binding = |key: Option<ClientKey>, tls: Option<TlsSettings>| {
            let creds = Credentials::new("id", "").unwrap();
            let url = "https://a.example/t".into();
            let mut request = TokenRequest::new(url, creds, ClientAuth::RequestBody);
            (request.client_key, request.tls) = (key, tls);
            Binding::new(&request)
        };
        let plain = binding(None, None);
        assert!(
            plain.settings.get("client_key").is_none(),
            "other slots keep their names"
        );
        let keys = [
            plain.key,
            binding(Some(ClientKey::assertion_file("/run/a")), None).key,
            binding(Some(ClientKey::assertion_file("/run/b")), None).key,
            binding(Some(ClientKey::assertion_command("cat", &["/run/a"])), None).key,
            binding(
                Some(ClientKey::tls_client_auth()),
                tls("client.pem", "client.key").ok(),
            )
            .key,
            binding(
                Some(ClientKey::tls_client_auth()),
                tls("server.pem", "server.key").ok(),
            )
            .key,
        ];
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        let again = binding(Some(ClientKey::assertion_file("/run/a")), None);
        assert_eq!(again.key, keys[1]);
        assert!(
            !again.settings.to_string().contains("/run/a"),
            "a hash, not the path"
        );
    }

    #[test]
    fn names_are_stable_and_one_per_secret() {
        let binding = for_tests;
        // Published FNV-1a 64 test vectors: a name must not change between builds.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let (one, other) = (binding("s1"), binding("s2"));
        assert_eq!(one.settings, other.settings);
        assert_ne!(one.key, other.key);
        assert_eq!(one.key, binding("s1").key);
        assert!(!one.key.id().contains("s1") && one.key.id().len() == 16);
    }
}
