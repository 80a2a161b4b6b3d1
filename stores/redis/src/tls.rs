//! TLS to Redis (`rediss://`, feature `tls-rustls`): rustls (ring), as ureq uses it, so no
//! crate is added to a build that has ureq's TLS. Trusted roots are the platform's bundle
//! (`SSL_CERT_FILE` when set, else the system's CA file), or a CA file given in code; a
//! client certificate when the server asks for one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The system CA bundles, where distributions put them (the list openssl-probe checks
/// first).
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

/// What TLS trusts and shows: the settings a [`ClientConfig`] is built from.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSettings {
    /// A CA file given in code: then only its certificates are trusted.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain and its key (PEM files).
    pub client: Option<(PathBuf, PathBuf)>,
}

impl TlsSettings {
    /// The rustls configuration; the error names the file that could not be used.
    pub fn config(&self) -> Result<Arc<ClientConfig>, String> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => add_pem_file(&mut roots, path)?,
            None => platform_roots(&mut roots)?,
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?
            .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((certs, key)) => {
                let chain = CertificateDer::pem_file_iter(certs)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("client certificate {}: {e}", certs.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("client key {}: {e:?}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate {}: {e}", certs.display()))?
            }
        };
        Ok(Arc::new(config))
    }
}

/// `SSL_CERT_FILE` when set (an operator's choice: an error if it cannot be used), else the
/// first system bundle found, else the webpki roots (Mozilla's list, compiled in).
fn platform_roots(roots: &mut RootCertStore) -> Result<(), String> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        return add_pem_file(roots, Path::new(&file));
    }
    match SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
        Some(bundle) => add_pem_file(roots, bundle),
        None => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Ok(())
        }
    }
}

/// Adds every certificate of a PEM file; one that cannot be read, or holds none usable, is
/// an error naming it.
fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    match added {
        0 => Err(format!("CA file {}: no certificate in it", path.display())),
        _ => Ok(()),
    }
}
