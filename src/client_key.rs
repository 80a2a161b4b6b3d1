//! Client authentication without a shared secret: a JWT the client signs (RFC 7523 §2.2,
//! OpenID Connect Core §9 `private_key_jwt` and `client_secret_jwt`), an assertion another
//! party issues and rotates (a file read for every request, a command, a function), and the
//! client certificates of RFC 8705 (`tls_client_auth`). [`ClientKey`] says which; the TLS
//! side (a client certificate, a private CA) is [`TlsSettings`], checked here and handed to
//! ureq by the transport. No network here: the transport asks for an assertion, then sends
//! it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[cfg(feature = "rustls")]
use rustls::{crypto::ring::default_provider, sign::CertifiedKey};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::{Credentials, Error, Result};

/// The most of an assertion file or a command's output that is read.
const MAX_ASSERTION: u64 = 64 * 1024;

/// How the client proves who it is without sending a secret: a signed JWT (RFC 7523 §2.2),
/// an assertion from a file, a command or a function, or a client certificate (RFC 8705).
/// Given to [`TokenConfig::with_client_key`](crate::TokenConfig::with_client_key), it
/// replaces the [`ClientAuth`](crate::ClientAuth) style: the form body then carries
/// `client_id` and, but for [`tls_client_auth`](Self::tls_client_auth),
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and
/// `client_assertion`, made anew for every token request.
///
/// # Security
///
/// `Debug` shows the method's name only, never a key or an assertion; errors name the file,
/// the command or the function, never what it holds or printed. The cache binds a slot to
/// a hash of the public key or of the assertion's source.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{ClientKey, Credentials, TokenConfig};
///
/// let pem = std::fs::read("client-key.pem")?;
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("my-client", "")?)
///     .with_client_key(ClientKey::private_key_jwt(&pem)?.with_key_id("2026-12"))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientKey {
    kind: Kind,
    key_id: Option<String>,
}

type AssertionFn = Arc<dyn Fn() -> std::io::Result<String> + Send + Sync>;

#[derive(Clone)]
enum Kind {
    #[cfg(feature = "rustls")]
    Signed(Arc<sign::KeyPair>),
    SecretJwt,
    File(PathBuf),
    Command(OsString, Vec<OsString>),
    Function(String, AssertionFn),
    Tls,
}

impl ClientKey {
    /// `private_key_jwt`: assertions signed with the private key in `pem` (PKCS#8, or PKCS#1
    /// for RSA): RS256 for an RSA key, ES256 for a P-256 key. Claims: `iss` and `sub` the
    /// client id, `aud` the token URL, a random `jti`, `iat` now and `exp` 5 minutes later.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a PEM without such a key (the message holds none of it), and in
    /// a build without the `rustls` feature, which brings the signing code (ring).
    pub fn private_key_jwt(pem: &[u8]) -> Result<ClientKey> {
        #[cfg(feature = "rustls")]
        return sign::KeyPair::from_pem(pem).map(|key| ClientKey::of(Kind::Signed(Arc::new(key))));
        #[cfg(not(feature = "rustls"))]
        return Err((pem, no_signing()).1); // (`pem` unused without ring)
    }

    /// `client_secret_jwt`: assertions signed with HS256 and the client secret of the
    /// [`Credentials`](crate::Credentials), with the claims of
    /// [`private_key_jwt`](Self::private_key_jwt). A build without the `rustls` feature
    /// refuses it with [`Error::Config`] at [`build`](crate::TokenConfig::build).
    pub fn client_secret_jwt() -> ClientKey {
        ClientKey::of(Kind::SecretJwt)
    }

    /// The assertion is the content of the file at `path`, read again for every token
    /// request (a Kubernetes projected service-account token, a CI system's OIDC token), so a
    /// rotated file is used at once. Surrounding whitespace is dropped. The file is opened
    /// without blocking (a FIFO is refused), must be a regular file no one else may write,
    /// of at most 64 KiB; symbolic links are followed, as Kubernetes rotates files by
    /// swapping one.
    pub fn assertion_file(path: impl Into<PathBuf>) -> ClientKey {
        ClientKey::of(Kind::File(path.into()))
    }

    /// The assertion is what `program` run with `args` prints on stdout (at most 64 KiB,
    /// surrounding whitespace dropped), run for every token request with no stdin and its
    /// stderr discarded. It must exit with success within the token request timeout
    /// ([`with_timeout`](crate::TokenConfig::with_timeout)) or it is killed.
    pub fn assertion_command(program: impl AsRef<OsStr>, args: &[impl AsRef<OsStr>]) -> ClientKey {
        let args = args.iter().map(|arg| arg.as_ref().into()).collect();
        ClientKey::of(Kind::Command(program.as_ref().into(), args))
    }

    /// The assertion is what `assertion` returns, called for every token request. `name`
    /// tells the cache one function from another (two names, two cache slots) and appears
    /// in errors.
    pub fn assertion_fn(
        name: impl Into<String>,
        assertion: impl Fn() -> std::io::Result<String> + Send + Sync + 'static,
    ) -> ClientKey {
        ClientKey::of(Kind::Function(name.into(), Arc::new(assertion)))
    }

    /// RFC 8705 `tls_client_auth` and `self_signed_tls_client_auth`: only `client_id` in the
    /// form body; the client certificate ([`TlsSettings::with_client_cert`], or one on the
    /// caller's agent) authenticates. Without one, [`build`](crate::TokenConfig::build)
    /// fails with [`Error::Config`].
    pub fn tls_client_auth() -> ClientKey {
        ClientKey::of(Kind::Tls)
    }

    /// The `kid` header of signed assertions, naming the key among those the provider holds
    /// for the client. Ignored by the methods that sign nothing. Defaults to none.
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// The JWS algorithm of a [`private_key_jwt`](Self::private_key_jwt) key (`RS256` or
    /// `ES256`), `HS256` for [`client_secret_jwt`](Self::client_secret_jwt), `None` for the
    /// others.
    pub fn algorithm(&self) -> Option<&'static str> {
        match &self.kind {
            #[cfg(feature = "rustls")]
            Kind::Signed(key) => Some(key.public().0),
            Kind::SecretJwt => Some("HS256"),
            _ => None,
        }
    }

    fn of(kind: Kind) -> ClientKey {
        ClientKey { kind, key_id: None }
    }

    /// What authenticates, for the cache to hash into the slot's name: the method and the
    /// public key, or the source of the assertion (the secret of `client_secret_jwt` has its
    /// own check). Never key material or an assertion.
    pub(crate) fn binding(&self) -> String {
        let kid = self.key_id.as_deref().unwrap_or("");
        match &self.kind {
            #[cfg(feature = "rustls")]
            Kind::Signed(key) => {
                let (alg, public) = key.public();
                format!("private_key_jwt {alg} {kid} {public:?}")
            }
            Kind::SecretJwt => format!("client_secret_jwt {kid}"),
            Kind::File(path) => format!("assertion_file {path:?}"),
            Kind::Command(program, args) => format!("assertion_command {program:?} {args:?}"),
            Kind::Function(name, _) => format!("assertion_fn {name:?}"),
            Kind::Tls => "tls_client_auth".into(),
        }
    }

    /// Whether this is [`tls_client_auth`](Self::tls_client_auth), which sends no assertion.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.kind, Kind::Tls)
    }

    /// Refuses a method that cannot work with this build or these credentials.
    pub(crate) fn check(&self, credentials: &Credentials) -> Result<()> {
        let no_secret = credentials.secret().secret().is_empty();
        match self.kind {
            Kind::SecretJwt if cfg!(not(feature = "rustls")) || no_secret => Err(no_signing()),
            _ => Ok(()),
        }
    }

    /// The client assertion of a token request for `creds` to `url` made at `now`, made or
    /// read anew (a command within `limit`); `None` for `tls_client_auth`, which sends none.
    pub(crate) fn assertion(
        &self,
        creds: &Credentials,
        url: &str,
        limit: Duration,
        now: SystemTime,
    ) -> Result<Option<String>> {
        let (text, source) = match &self.kind {
            Kind::Tls => return Ok(None),
            #[cfg(feature = "rustls")]
            Kind::Signed(_) | Kind::SecretJwt => return self.jwt(creds, url, now).map(Some),
            #[cfg(not(feature = "rustls"))]
            // Nothing signs without ring: the arguments go unused.
            Kind::SecretJwt => return Err((creds, url, now, no_signing()).3),
            Kind::File(path) => (read_file(path), format!("file {}", path.display())),
            Kind::Command(cmd, args) => (run(cmd, args, limit), format!("command {cmd:?}")),
            Kind::Function(name, f) => (f().map_err(|e| e.to_string()), format!("fn {name:?}")),
        };
        // Trimmed, it must be able to be an assertion (not empty, visible ASCII only); the
        // error names the source and holds none of it.
        let fit = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        match text.as_deref().map(str::trim) {
            Ok(text) if fit(text) => Ok(Some(text.into())),
            Ok(_) => Err(Error::Assertion(format!("{source}: empty or binary"))),
            Err(why) => Err(Error::Assertion(format!("{source}: {why}"))),
        }
    }

    /// A JWT with the claims of RFC 7523 §3, signed with the key or (HS256) the secret.
    #[cfg(feature = "rustls")]
    fn jwt(&self, creds: &Credentials, url: &str, now: SystemTime) -> Result<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use ring::rand::SecureRandom as _;
        use std::time::UNIX_EPOCH;
        /// `exp` of a signed assertion: this long after `iat`.
        const LIFETIME: u64 = 300;
        let mut jti = [0u8; 16];
        (ring::rand::SystemRandom::new().fill(&mut jti))
            .map_err(|_| Error::Assertion("no randomness for the jti".into()))?;
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |t| t.as_secs());
        let mut header = serde_json::json!({"alg": self.algorithm(), "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.as_str().into();
        }
        let id = creds.id();
        let claims = serde_json::json!({
            "iss": id, "sub": id, "aud": url,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "iat": iat, "exp": iat + LIFETIME,
        });
        let part = |v: &serde_json::Value| B64.encode(v.to_string());
        let input = format!("{}.{}", part(&header), part(&claims));
        let signature = match &self.kind {
            Kind::Signed(key) => key.sign(input.as_bytes())?,
            _ => {
                let secret = creds.secret().secret().as_bytes();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
        };
        Ok(format!("{input}.{}", B64.encode(signature)))
    }
}

/// What a build without ring, or `client_secret_jwt` without a secret, is told.
fn no_signing() -> Error {
    Error::Config("signing needs the rustls feature (ring); client_secret_jwt a secret".into())
}

/// The content of the file at `path`, read now.
fn read_file(path: &Path) -> Result<String, String> {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let unreadable = |e: std::io::Error| format!("cannot read it: {e}");
    let file = options.read(true).open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::mode(&meta) & 0o022 != 0 {
        return Err("others can write it".into());
    }
    let mut text = String::new();
    (file.take(MAX_ASSERTION + 1).read_to_string(&mut text)).map_err(unreadable)?;
    (text.len() as u64 <= MAX_ASSERTION)
        .then_some(text)
        .ok_or_else(|| "larger than 64 KiB".into())
}

/// What `program` prints, run now: its output (at most 64 KiB) and its exit, within
/// `limit`, or it is killed. A program that exits at once but leaves a child holding its
/// output (a helper that starts a daemon) is taken at its word after a short grace.
fn run(program: &OsStr, args: &[OsString], limit: Duration) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let mut child = (Command::new(program).args(args).stdin(Stdio::null()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let deadline = Instant::now() + limit;
    let stdout = child.stdout.take().ok_or_else(|| "no stdout".to_string())?;
    let (chunks, received) = std::sync::mpsc::channel();
    let reader = std::thread::Builder::new().spawn(move || {
        // One byte past the limit tells too much from just enough.
        let (mut stdout, mut chunk) = (stdout.take(MAX_ASSERTION + 1), [0; 4096]);
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            let _ = chunks.send(chunk[..n].to_vec());
        }
    });
    let (mut out, mut exited_at) = (Vec::new(), None);
    let status = loop {
        // Finished first, then drained: a finished reader's chunks are all in the channel.
        let read = reader.as_ref().map_or(true, |reader| reader.is_finished());
        out.extend(received.try_iter().flatten());
        let status = child.try_wait().ok().flatten();
        exited_at = exited_at.or(status.map(|_| Instant::now()));
        let grace_over = exited_at.is_some_and(|at| at.elapsed() > Duration::from_millis(100));
        match status {
            Some(status) if read || grace_over => break Some(status),
            _ if Instant::now() >= deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // Nothing to kill or wait for once `try_wait` has seen the exit: std then does neither.
    drop((child.kill(), child.wait()));
    match status {
        _ if out.len() as u64 > MAX_ASSERTION => Err("printed more than 64 KiB".into()),
        // Bytes that are not UTF-8 become U+FFFD, which `assertion` refuses.
        Some(done) if done.success() => Ok(String::from_utf8_lossy(&out).into()),
        Some(done) => Err(format!("{done}")),
        None => Err(format!("no output of at most 64 KiB and exit in {limit:?}")),
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The method's name only: the binding's first word.
        let binding = self.binding();
        let method = binding.split(' ').next().unwrap_or_default();
        write!(f, "ClientKey({method:?})")
    }
}

/// The keys of `private_key_jwt`, with ring.
#[cfg(feature = "rustls")]
mod sign {
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
    use rustls_pki_types::PrivateKeyDer as Der;
    use rustls_pki_types::pem::PemObject as _;

    use crate::{Error, Result};

    /// An RSA or P-256 key pair.
    pub(super) enum KeyPair {
        Rsa(RsaKeyPair),
        Ec(EcdsaKeyPair),
    }

    impl KeyPair {
        pub fn from_pem(pem: &[u8]) -> Result<KeyPair> {
            let unfit = || Error::Config("private key: no RSA or P-256 key in the PEM".into());
            let ec = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let ec = |der| EcdsaKeyPair::from_pkcs8(ec, der, &SystemRandom::new());
            match Der::from_pem_slice(pem).map_err(|_| unfit())? {
                Der::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()).map(Self::Rsa),
                Der::Pkcs8(der) => {
                    let der = der.secret_pkcs8_der();
                    let rsa = RsaKeyPair::from_pkcs8(der).map(KeyPair::Rsa);
                    rsa.or_else(|_| ec(der).map(KeyPair::Ec))
                }
                _ => return Err(unfit()),
            }
            .map_err(|_| unfit())
        }

        /// The JWS algorithm and the public key.
        pub fn public(&self) -> (&'static str, &[u8]) {
            match self {
                KeyPair::Rsa(key) => ("RS256", key.public_key().as_ref()),
                KeyPair::Ec(key) => ("ES256", key.public_key().as_ref()),
            }
        }

        pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
            let rng = SystemRandom::new();
            let failed = |_| Error::Assertion("signing failed".into());
            match self {
                KeyPair::Rsa(key) => {
                    let mut signature = vec![0; key.public().modulus_len()];
                    let pkcs1 = &signature::RSA_PKCS1_SHA256;
                    (key.sign(pkcs1, &rng, message, &mut signature)).map_err(failed)?;
                    Ok(signature)
                }
                KeyPair::Ec(key) => Ok(key.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            }
        }
    }
}

/// TLS settings for apiauth's own agent: a client certificate (RFC 8705, or an API that
/// requires one) and the CA certificates to trust instead of the default roots (a private
/// CA, like curl's `--cacert`). Given to [`TokenConfig::with_tls`](crate::TokenConfig::with_tls)
/// for token requests; [`agent_config`](Self::agent_config) makes an agent for API calls.
///
/// # Security
///
/// `Debug` shows whether there is a client certificate and how many CA certificates, never
/// the key.
///
/// # Examples
///
/// ```no_run
/// use apiauth::{ClientKey, Credentials, TlsSettings, TokenConfig};
///
/// let tls = TlsSettings::new()
///     .with_client_cert(&std::fs::read("client.pem")?, &std::fs::read("client-key.pem")?)?
///     .with_root_certs(&std::fs::read("private-ca.pem")?)?;
/// let for_api_calls = tls.agent_config().build(); // the same certificate and CA
/// let source = TokenConfig::new("https://auth.example.com/token", Credentials::new("my-client", "")?)
///     .with_client_key(ClientKey::tls_client_auth())
///     .with_tls(tls)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// The chain (the client's first) and the PEM its key was read from.
    pub(crate) client_cert: Option<(Vec<CertificateDer<'static>>, Arc<[u8]>)>,
    pub(crate) roots: Option<Vec<CertificateDer<'static>>>,
}

impl TlsSettings {
    /// No client certificate and the TLS stack's default roots.
    pub fn new() -> Self {
        TlsSettings::default()
    }

    /// Presents the certificate chain in `chain_pem` (the client's first) with the private
    /// key in `key_pem` (PKCS#8; with rustls also PKCS#1 or SEC1). Defaults to none.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when either PEM holds no certificate or key, or (with rustls) the
    /// key is unusable or not the certificate's: refused here, not inside the TLS stack.
    pub fn with_client_cert(mut self, chain_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let bad = |why: String| Error::Config(format!("client certificate: {why}"));
        let chain = certs(chain_pem).map_err(|why| bad(why.into()))?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem);
        let key = key.map_err(|_| bad("no private key in the PEM".into()))?;
        // What ureq's rustls connector does with them, so it cannot panic on them later.
        #[cfg(feature = "rustls")]
        (CertifiedKey::from_der(chain.clone(), key, &default_provider()))
            .map_err(|e| bad(format!("the key does not fit the certificate: {e}")))?;
        #[cfg(not(feature = "rustls"))]
        if !matches!(key, rustls_pki_types::PrivateKeyDer::Pkcs8(_)) {
            return Err(bad("native-tls takes only PKCS#8 keys".into()));
        }
        self.client_cert = Some((chain, Arc::from(key_pem)));
        Ok(self)
    }

    /// Trusts only the CA certificates in `pem` for the servers this reaches, instead of the
    /// webpki roots (with rustls and with native-tls alike: ureq's default). Defaults to those.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `pem` holds no certificate.
    pub fn with_root_certs(mut self, pem: &[u8]) -> Result<Self> {
        let bad = |why| Error::Config(format!("CA certificates: {why}"));
        self.roots = Some(certs(pem).map_err(bad)?);
        Ok(self)
    }

    /// The client's certificate (DER), for the cache to hash into the slot's name.
    pub(crate) fn client_cert_der(&self) -> Option<&[u8]> {
        Some(self.client_cert.as_ref()?.0.first()?)
    }
}

/// The certificates in `pem`; at least one.
fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs.map_err(|_| "the PEM does not parse")? {
        certs if certs.is_empty() => Err("no certificate in the PEM"),
        certs => Ok(certs),
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("client_cert", &self.client_cert.is_some())
            .field("root_certs", &self.roots.as_ref().map(Vec::len))
            .finish()
    }
}
