//! The ureq side of [`TlsSettings`]: its agent configuration, and the checks of a token
//! source's settings that need the agent.

use rustls_pki_types::CertificateDer;
use ureq::Agent;
use ureq::config::ConfigBuilder;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
use ureq::typestate::AgentScope;

use crate::wire::TokenRequest;
use crate::{Error, Result, TlsSettings};

impl TlsSettings {
    /// [`agent_config`](crate::agent_config) with these settings: for an agent that makes
    /// API calls with the same certificate and CA as the token requests.
    pub fn agent_config(&self) -> ConfigBuilder<AgentScope> {
        let ureq = |certs: &[CertificateDer]| {
            Vec::from_iter(certs.iter().map(|c| Certificate::from_der(c).to_owned()))
        };
        // Checked by `with_client_cert`; a key that did not parse would go unsent, no panic.
        let client_cert = (self.client_cert.as_ref()).and_then(|(chain, pem)| {
            let key = PrivateKey::from_pem(pem).ok()?;
            Some(ClientCert::new_with_certs(&ureq(chain), key))
        });
        let roots = (self.roots.as_deref()).map_or(RootCerts::WebPki, |r| ureq(r).into());
        let provider = super::agent_config().build().tls_config().provider();
        let tls = (TlsConfig::builder().provider(provider))
            .client_cert(client_cert)
            .root_certs(roots)
            .build();
        super::agent_config().tls_config(tls)
    }
}

/// An error unless `agent`'s TLS provider is compiled into this build: ureq would panic on
/// its first https request otherwise (an agent from `Agent::new_with_defaults()` asks for
/// rustls, which a `native-tls`-only build of apiauth leaves out).
pub(crate) fn check_agent(agent: &Agent) -> Result<()> {
    let name = match agent.config().tls_config().provider() {
        TlsProvider::Rustls if cfg!(not(feature = "rustls")) => "rustls",
        TlsProvider::NativeTls if cfg!(not(feature = "native-tls")) => "native-tls",
        _ => return Ok(()),
    };
    Err(Error::Config(format!(
        "the agent's TLS provider is {name}, which this build of apiauth does not include; \
         start the agent from apiauth::agent_config()"
    )))
}

/// The checks of [`TokenConfig::build`](crate::TokenConfig::build) that need the agent: TLS
/// settings are for apiauth's own, and `tls_client_auth` has a certificate to present.
pub(crate) fn check(request: &TokenRequest, agent: Option<&Agent>) -> Result<()> {
    let config = |why: &str| Err(Error::Config(why.into()));
    if request.tls.is_some() && agent.is_some() {
        return config("with_tls is for apiauth's own agent; see TlsSettings::agent_config");
    }
    if request.client_key.as_ref().is_some_and(|key| key.is_tls()) {
        let own = request.tls.as_ref().and_then(TlsSettings::client_cert_der);
        let theirs = agent.and_then(|a| a.config().tls_config().client_cert().cloned());
        if own.is_none() && theirs.is_none() {
            return config("tls_client_auth needs a client certificate (TlsSettings)");
        }
    }
    Ok(())
}
