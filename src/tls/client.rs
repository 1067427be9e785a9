//! Client TLS configurations: to the targets of a group with `tls = { ... }`, and for HTTPS
//! health checks.
//!
//! `verify = true` checks the target's certificate chain and name against the `ca` file's
//! certificates, or the system's roots when no `ca` is given. `verify = false` accepts any
//! certificate (the connection is encrypted, not authenticated: for targets with self-signed
//! certificates on a trusted network) but still checks the handshake signatures, so the peer
//! holds the key of the certificate it sent. Both offer ALPN `http/1.1` and keep sessions for
//! resumption, so a pool refill does not cost a full handshake.

use std::sync::Arc;

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::TlsError;
use crate::{
    config::TargetTls,
    pem::{self, PemError},
};

/// The configuration for the targets of a group with `tls`.
pub fn for_targets(tls: &TargetTls, provider: &Arc<CryptoProvider>) -> Result<Arc<ClientConfig>, TlsError> {
    if !tls.verify {
        return unverified(provider);
    }
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        Some(path) => {
            for cert in pem::load_certs(path)? {
                roots.add(cert).map_err(|e| PemError::new(path, format!("not a usable CA certificate: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TlsError::Setup(rustls::Error::General(
                    "tls.verify = true without tls.ca, and no system CA certificates could be loaded \
                     (install ca-certificates or give tls.ca)"
                        .into(),
                )));
            }
        }
    }
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(finish(config))
}

/// A configuration that accepts any certificate (signatures still checked).
pub fn unverified(provider: &Arc<CryptoProvider>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider: provider.clone() }))
        .with_no_client_auth();
    Ok(finish(config))
}

fn finish(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.alpn_protocols = vec![super::certs::ALPN_HTTP1.to_vec()];
    Arc::new(config)
}

/// The name a connection to `addr` sends and checks: `server_name` when set, else the IP.
pub fn server_name(tls: Option<&TargetTls>, addr: std::net::SocketAddr) -> ServerName<'static> {
    tls.filter(|t| !t.server_name.is_empty())
        .and_then(|t| ServerName::try_from(t.server_name.clone()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
}

/// `verify = false`: any certificate is accepted; the handshake signature is still verified.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
