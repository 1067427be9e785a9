//! TLS for loadgen: rustls 0.23 with the ring provider, through futures-rustls on glommio's
//! `TcpStream`. The client side of `https://` runs ([`ClientTls`], one [`Connector`] per worker)
//! and the server side of `loadgen serve --tls-cert/--tls-key` ([`acceptor`]).
//!
//! Why here and not in the connection code: everything that knows about certificates, keys,
//! server names and rustls configurations is in this file; the connection loops only see a
//! stream that implements `AsyncRead`/`AsyncWrite`, so the plain `http://` path does not change.
//!
//! Invariants:
//! - Only the ring provider is used (explicitly, never the process default), so the workspace
//!   keeps one rustls and never pulls in aws-lc-rs.
//! - Certificate verification is one of: the `--ca` bundle, the system roots (failing clearly when
//!   none load), or `--insecure`, which accepts any certificate but still checks the handshake
//!   signatures with the provider's algorithms (so the peer must hold the key of the certificate
//!   it sends, and the figures measure real handshakes).
//! - Each worker's connections share one `ClientConfig`, hence one session cache
//!   ([`crate::tls_cache`], sized for the worker's connections): a reconnecting connection resumes
//!   unless `--no-resume` (then every handshake is full).
//! - Every file or configuration problem is a [`TlsError`] naming the file or the flag; nothing
//!   here panics on bad input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_rustls::{TlsAcceptor, TlsConnector};
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, HandshakeKind, RootCertStore, ServerConfig, SignatureScheme};

use crate::tls_cache::SessionCache;

/// The only protocol offered and accepted with ALPN.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A TLS set-up that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the {what} file {path}: {err}")]
    Pem { what: &'static str, path: PathBuf, err: String },
    #[error("{path} holds no {what} (PEM expected)")]
    Empty { what: &'static str, path: PathBuf },
    #[error("bad CA certificate in {0}: {1}")]
    Ca(PathBuf, String),
    #[error("no system CA certificates could be loaded{0}; give --ca FILE, or --insecure")]
    NoSystemRoots(String),
    #[error("bad TLS server name {0:?} (from --sni or the URL host)")]
    ServerName(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// How the client checks the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// `--insecure`: any certificate (handshake signatures are still verified).
    Insecure,
    /// `--ca FILE`: a PEM bundle of the CAs to trust.
    Ca(PathBuf),
    /// The system's roots (rustls-native-certs).
    System,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |err: String| TlsError::Pem { what, path: path.to_path_buf(), err };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty { what, path: path.to_path_buf() });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::Empty { what: "private key", path: path.to_path_buf() }
        }
        e => TlsError::Pem { what: "private key", path: path.to_path_buf(), err: e.to_string() },
    })
}

fn roots(verify: &Verify) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match verify {
        Verify::Ca(path) => {
            for cert in read_certs(path, "CA certificate")? {
                store.add(cert).map_err(|e| TlsError::Ca(path.clone(), e.to_string()))?;
            }
        }
        Verify::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = match found.errors.first() {
                    Some(e) => format!(" ({e})"),
                    None => String::new(),
                };
                return Err(TlsError::NoSystemRoots(why));
            }
        }
        Verify::Insecure => {}
    }
    Ok(store)
}

/// The server name to send (SNI) and verify: a DNS name, or an IP address (no SNI is sent then,
/// and the certificate must name the IP). Brackets of an IPv6 URL host are dropped.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(bare.to_string()).map_err(|_| TlsError::ServerName(host.to_string()))
}

/// `--insecure`: accepts any certificate chain, but verifies the handshake signatures with the
/// provider's algorithms, as a real verifier would.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client side of an `https://` run, checked at start-up (files read, roots loaded).
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    resume: bool,
}

impl ClientTls {
    /// `server_name`: `--sni`, or the URL host. `resume`: false for `--no-resume`.
    pub fn new(verify: &Verify, server_name: &str, resume: bool) -> Result<ClientTls, TlsError> {
        let provider = provider();
        let algorithms = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut config = match verify {
            Verify::Insecure => {
                builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate { algorithms }))
            }
            v => builder.with_root_certificates(roots(v)?),
        }
        .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(ClientTls { config: Arc::new(config), server_name: self::server_name(server_name)?, resume })
    }

    /// A worker's connector: its `connections` share one session cache (none with `--no-resume`)
    /// holding up to two TLS 1.3 tickets per connection.
    pub fn connector(&self, connections: usize) -> Connector {
        let mut config = (*self.config).clone();
        // A fresh cache per worker (a clone would share the original's), so no lock is shared
        // between workers.
        config.resumption = if self.resume {
            let tickets = connections.saturating_mul(2).min(1 << 16);
            Resumption::store(Arc::new(SessionCache::new(tickets)))
        } else {
            Resumption::disabled()
        };
        Connector { inner: TlsConnector::from(Arc::new(config)), server_name: self.server_name.clone() }
    }
}

/// One worker's TLS client.
pub struct Connector {
    inner: TlsConnector,
    server_name: ServerName<'static>,
}

/// A client TLS stream over glommio's TCP stream.
pub type ClientStream = futures_rustls::client::TlsStream<TcpStream>;

impl Connector {
    /// Run the handshake on `tcp`; on success also says whether the session was resumed.
    pub async fn handshake(&self, tcp: TcpStream) -> std::io::Result<(ClientStream, bool)> {
        let stream = self.inner.connect(self.server_name.clone(), tcp).await?;
        let resumed = stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        Ok((stream, resumed))
    }
}

/// The server side of `loadgen serve --tls-cert FILE --tls-key FILE`: that certificate chain and
/// key, ALPN http/1.1, TLS 1.2 and 1.3, and stateless session tickets (so a client resumes
/// whichever executor thread accepts its next connection).
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = read_certs(cert_file, "certificate")?;
    let key = read_key(key_file)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("{} with {}: {e}", cert_file.display(), key_file.display())))?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_dns_and_ip() {
        assert!(matches!(server_name("localhost").unwrap(), ServerName::DnsName(_)));
        assert!(matches!(server_name("127.0.0.1").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("[::1]").unwrap(), ServerName::IpAddress(_)));
        assert!(server_name("bad name!").is_err());
    }

    #[test]
    fn missing_and_empty_files_are_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("loadgen-tls-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let empty = dir.join("empty.pem");
        let _ = std::fs::write(&empty, "not a pem file\n");
        let e = ClientTls::new(&Verify::Ca(dir.join("missing.pem")), "localhost", true).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let e = ClientTls::new(&Verify::Ca(empty.clone()), "localhost", true).unwrap_err();
        assert!(matches!(e, TlsError::Empty { .. }), "{e}");
        let e = acceptor(&empty, &empty).err();
        assert!(matches!(e, Some(TlsError::Empty { .. })), "{e:?}");
        assert!(ClientTls::new(&Verify::Insecure, "localhost", false).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
