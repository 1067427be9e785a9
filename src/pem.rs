//! Certificates and private keys read from PEM files, with errors that name the file and say
//! what is wrong in an operator's words.
//!
//! A leaf: the configuration's checks (`spillway -c`, a reload) read the files through it
//! before anything runs, and the TLS contexts read them through it when they are built, so the
//! two cannot disagree about what a usable file is.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    sign::CertifiedKey,
};

/// A PEM file that cannot be used, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct PemError {
    pub path: PathBuf,
    pub why: String,
}

impl PemError {
    pub fn new(path: &Path, why: String) -> PemError {
        PemError { path: path.to_path_buf(), why }
    }

    /// A PEM reading error, said the way an operator reads it.
    fn reading(path: &Path, what: &str, e: rustls::pki_types::pem::Error) -> PemError {
        use rustls::pki_types::pem::Error as P;
        let why = match e {
            P::Io(e) => format!("cannot read the file: {e}"),
            P::NoItemsFound => format!("no {what} in the file"),
            other => format!("not a valid PEM {what} file: {other:?}"),
        };
        PemError::new(path, why)
    }
}

/// The crypto provider of every TLS context (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a certificate chain (`cert`) and its private key (`key`), and checks that the key
/// belongs to the certificate.
pub fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, PemError> {
    let chain = load_certs(cert)?;
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| PemError::reading(key, "private key", e))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| PemError::new(key, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        // A key type whose public half rustls cannot compute is not a mismatch.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(_) => Err(PemError::new(
            key,
            format!("this private key does not belong to the certificate in {}", cert.display()),
        )),
    }
}

/// The certificates of a PEM file, in order (the leaf first); at least one.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| PemError::reading(path, "certificate", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| PemError::reading(path, "certificate", e))?;
    if chain.is_empty() {
        return Err(PemError::new(path, "no certificate (-----BEGIN CERTIFICATE-----) in the file".into()));
    }
    if let Err(e) = webpki::EndEntityCert::try_from(&chain[0]) {
        return Err(PemError::new(path, format!("the first certificate cannot be parsed: {e}")));
    }
    Ok(chain)
}
