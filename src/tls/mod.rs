//! TLS with rustls: HTTPS listeners (termination, SNI, ALPN, resumption) and TLS to targets
//! (requests and HTTPS health checks).
//!
//! rustls is used through its I/O-free API ([`stream`]) over the same readiness-driven,
//! non-blocking sockets as plain HTTP (`io.rs`), not through an io_uring read that lends the
//! kernel a buffer: an idle keep-alive HTTPS connection then pins no read buffer either, and
//! the HTTP listener's code is the same for both (see docs/decisions/0006).
//!
//! What is shared between shards is read-only at handshake time: each listener's
//! `ServerConfig` (swapped whole on SIGHUP through an `ArcSwap`), the ticket keys inside it,
//! and each target group's `ClientConfig`. Nothing TLS-related is shared per request: a
//! connection's rustls state belongs to its shard.
//!
//! - [`certs`]: SNI selection and the server config (the files are read by [`crate::pem`]);
//! - [`client`]: the client configs for targets (verify against a CA or not);
//! - [`stream`]: a TLS connection over a non-blocking socket: handshake, read, write, close.

pub mod certs;
pub mod client;
pub mod stream;

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use rustls::{crypto::CryptoProvider, server::ProducesTickets, ClientConfig, ServerConfig};

use crate::config::{Config, Protocol};
pub use crate::pem::provider;
use crate::pem::PemError;

pub use stream::{HandshakeError, TlsStream};

/// A TLS setup problem, naming the file it comes from.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] PemError),
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

/// The TLS contexts of a running configuration, shared by the shards.
pub struct TlsContexts {
    provider: Arc<CryptoProvider>,
    /// Ticket keys, kept for the life of the process (across certificate reloads).
    ticketer: Arc<dyn ProducesTickets>,
    /// `listeners[i]`: the server config of listener `i` when it is HTTPS.
    listeners: Vec<Option<ArcSwap<ServerConfig>>>,
    /// Client configs by target group name (groups with `tls`), rebuilt on reload.
    targets: ArcSwap<HashMap<String, Arc<ClientConfig>>>,
    /// For HTTPS health checks of groups without `tls`: no verification, as ELB's checks.
    unverified: Arc<ClientConfig>,
}

impl TlsContexts {
    /// Loads every certificate, key and CA file `config` names.
    pub fn load(config: &Config) -> Result<TlsContexts, TlsError> {
        let provider = provider();
        let ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Setup)?;
        let listeners =
            Self::listener_configs(config, &provider, &ticketer)?.into_iter().map(|c| c.map(ArcSwap::new)).collect();
        let targets = ArcSwap::from_pointee(Self::target_configs(config, &provider)?);
        let unverified = client::unverified(&provider)?;
        Ok(TlsContexts { provider, ticketer, listeners, targets, unverified })
    }

    fn listener_configs(
        config: &Config,
        provider: &Arc<CryptoProvider>,
        ticketer: &Arc<dyn ProducesTickets>,
    ) -> Result<Vec<Option<Arc<ServerConfig>>>, TlsError> {
        config
            .listeners
            .iter()
            .map(|l| match (&l.tls, l.protocol) {
                (Some(tls), Protocol::Https) => certs::server_config(&tls.certs, provider, ticketer).map(Some),
                _ => Ok(None),
            })
            .collect()
    }

    fn target_configs(
        config: &Config,
        provider: &Arc<CryptoProvider>,
    ) -> Result<HashMap<String, Arc<ClientConfig>>, TlsError> {
        let mut map = HashMap::new();
        for g in &config.target_groups {
            if let Some(tls) = &g.tls {
                map.insert(g.name.clone(), client::for_targets(tls, provider)?);
            }
        }
        Ok(map)
    }

    /// Re-reads the certificates and CA files of `config` (SIGHUP). Either everything loads
    /// and is swapped in, or nothing changes and the error says which file is wrong.
    /// Connections keep the configuration they started with.
    pub fn reload(&self, config: &Config) -> Result<(), TlsError> {
        let listeners = Self::listener_configs(config, &self.provider, &self.ticketer)?;
        let targets = Self::target_configs(config, &self.provider)?;
        for (slot, new) in self.listeners.iter().zip(listeners) {
            if let (Some(slot), Some(new)) = (slot, new) {
                slot.store(new);
            }
        }
        self.targets.store(Arc::new(targets));
        Ok(())
    }

    /// The server config of listener `index` (None: not HTTPS).
    pub fn listener(&self, index: usize) -> Option<Arc<ServerConfig>> {
        self.listeners.get(index)?.as_ref().map(ArcSwap::load_full)
    }

    /// The client config for the targets of `group` (None: plain TCP to them).
    pub fn for_group(&self, group: &str) -> Option<Arc<ClientConfig>> {
        self.targets.load().get(group).cloned()
    }

    /// The client config of an HTTPS health check of `group`: the group's own when it talks
    /// TLS to its targets (so a check verifies what requests verify), else one that does not
    /// verify (Elastic Load Balancing's HTTPS checks do not validate certificates either).
    pub fn for_health_check(&self, group: &str) -> Arc<ClientConfig> {
        self.for_group(group).unwrap_or_else(|| self.unverified.clone())
    }
}
