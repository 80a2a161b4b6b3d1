//! What an entry keeps of the client secret: 16 bits of HMAC-SHA256 keyed by the secret,
//! enough to tell another secret apart (all but one in 65,536) and too little to recover it.
//!
//! SHA-256 (FIPS 180-4) is written out here: std has none, and the crates that have one
//! are in the dependency tree of one TLS feature only (`ring` with rustls, OpenSSL with
//! native-tls on Linux). Known-answer tests below pin it.

/// The check an entry fetched with `secret` for (`token_url`, `client_id`) carries.
///
/// # Security
///
/// HMAC keyed by the secret is a pseudo-random function of it: the 16 bits tell someone who
/// reads the file nothing about the secret but that it is one of the 1 in 65,536 candidates
/// that give them, whatever computing power they have. Every entry of one client (other
/// scopes, parameters, rewrites) carries the same 16 bits, so they do not add up. An
/// iterated hash (PBKDF2) would make each offline guess dearer, but a cached run of the
/// command would then cost more than a token request (2048 rounds: 2.1 ms a new process,
/// against 1.7 ms for a request to loopback), and it would guard only secrets weak enough
/// to be guessed against the endpoint itself.
pub(super) fn check(secret: &str, token_url: &str, client_id: &str) -> u16 {
    let context = [
        b"apiauth disk cache\0".as_slice(),
        token_url.as_bytes(),
        b"\0",
        client_id.as_bytes(),
    ];
    let mac = Hmac::new(secret.as_bytes()).mac(&context);
    u16::from_be_bytes([mac[0], mac[1]])
}

/// HMAC-SHA256 (RFC 2104) with both padded keys hashed once, up front.
struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    fn new(key: &[u8]) -> Hmac {
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let padded = |pad: u8| {
            let mut hash = Sha256::new();
            hash.update(&block.map(|b| b ^ pad));
            hash
        };
        Hmac {
            inner: padded(0x36),
            outer: padded(0x5c),
        }
    }

    fn mac(&self, message: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        message.iter().for_each(|part| inner.update(part));
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }
}

/// SHA-256, FIPS 180-4 §6.2.
#[derive(Clone)]
struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    filled: usize,
    length: u64,
}

impl Sha256 {
    fn new() -> Sha256 {
        Sha256 {
            state: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            filled: 0,
            length: 0,
        }
    }

    fn digest(bytes: &[u8]) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(bytes);
        hash.finish()
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        while !bytes.is_empty() {
            let n = (64 - self.filled).min(bytes.len());
            self.block[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            (self.filled, bytes) = (self.filled + n, &bytes[n..]);
            if self.filled == 64 {
                compress(&mut self.state, &self.block);
                self.filled = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.length.wrapping_mul(8);
        // 0x80, then zeros up to 8 bytes before the end of a block.
        let mut padding = [0; 64];
        padding[0] = 0x80;
        self.update(&padding[..64 - (self.filled + 8) % 64]);
        self.update(&bits.to_be_bytes());
        let mut out = [0; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (w, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (k, w) in K.iter().zip(w) {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(w);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
    }
    for (s, x) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_known_answers() {
        // FIPS 180-4 examples, and a message spanning several blocks.
        let cases: [(&[u8], &str); 4] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                &[b'a'; 1000],
                "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3",
            ),
        ];
        for (message, digest) in cases {
            assert_eq!(hex(&Sha256::digest(message)), digest);
        }
    }

    #[test]
    fn hmac_sha256_known_answers() {
        // RFC 4231 test cases 2 and 6 (a key longer than a block).
        let jefe = Hmac::new(b"Jefe").mac(&[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            hex(&jefe),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = Hmac::new(&[0xaa; 131])
            .mac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(
            hex(&long),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_check_depends_on_secret_url_and_client_id() {
        let check = check("S", "https://a.example/token", "id");
        assert_eq!(check, super::check("S", "https://a.example/token", "id"));
        assert_ne!(
            check,
            super::check("WRONG", "https://a.example/token", "id")
        );
        assert_ne!(check, super::check("S", "https://b.example/token", "id"));
        assert_ne!(check, super::check("S", "https://a.example/token", "id2"));
    }
}
