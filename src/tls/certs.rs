//! Certificates of HTTPS listeners: loading and checking PEM files, choosing one by SNI, and
//! the rustls server configuration built from them.
//!
//! A listener has one or more `{ cert, key }` pairs. Each is loaded at start (and on SIGHUP)
//! and refused with the file's name when it cannot be read, holds no certificate or key, uses
//! a key type the crypto provider does not sign with, or has a key that is not the
//! certificate's. The first pair is the default: it answers a client that sends no SNI or a
//! name no certificate covers (as ELB's default certificate does).
//!
//! SNI selection checks the name against each certificate's subject alternative names with
//! webpki (wildcards included) at handshake time: a handshake already parses and signs, and a
//! listener has a handful of certificates, so a walk over them costs nothing measurable and
//! needs no name table to keep in step with the files.

use std::sync::Arc;

use rustls::{
    crypto::CryptoProvider,
    pki_types::ServerName,
    server::{ClientHello, ProducesTickets, ResolvesServerCert},
    sign::CertifiedKey,
    ServerConfig,
};

use super::TlsError;
use crate::{config::CertKeyPair, pem};

/// ALPN protocols an HTTPS listener offers: it speaks HTTP/1.1 to clients.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// One loaded certificate chain with its key.
#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
}

/// Picks the certificate for a handshake by SNI; the first is the default.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<Loaded>,
}

impl SniResolver {
    /// The certificate covering `name`, if any.
    fn for_name(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = ServerName::try_from(name).ok()?;
        self.certs.iter().map(|c| &c.key).find(|key| {
            key.end_entity_cert()
                .ok()
                .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
                .is_some_and(|ee| ee.verify_is_valid_for_subject_name(&name).is_ok())
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|name| self.for_name(name));
        chosen.or_else(|| self.certs.first().map(|c| &c.key)).cloned()
    }
}

/// The rustls configuration of one HTTPS listener: TLS 1.3 and 1.2, the certificates chosen by
/// SNI, ALPN `http/1.1`, and resumption by tickets from `ticketer` (shared by every shard and
/// kept across certificate reloads, so a ticket issued by one shard resumes on any other) and
/// by session id for TLS 1.2 clients without ticket support.
pub fn server_config(
    pairs: &[CertKeyPair],
    provider: &Arc<CryptoProvider>,
    ticketer: &Arc<dyn ProducesTickets>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = pairs
        .iter()
        .map(|p| pem::load_pair(&p.cert, &p.key, provider).map(|key| Loaded { key }))
        .collect::<Result<_, _>>()?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { certs }));
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.ticketer = ticketer.clone();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Arc::new(config))
}

/// TLS 1.2 sessions kept for resumption by session id (clients without tickets).
const SESSION_CACHE: usize = 4096;
