//! The check loop of one target, run by the one shard that owns it (`id % shards`).
//!
//! Timing: the first check fires at a random moment within the first `interval` (so that the
//! checks of many targets, started together, do not fire together), then every `interval` on
//! that phase. The schedule is kept from one check to the next rather than restarted after each
//! one, so a slow check does not shift the phase; a check that overruns a whole interval (it
//! cannot, `timeout < interval` is validated) would skip to the next slot.
//!
//! Each result is written to the target's health slot; when it flips the verdict, the health
//! epoch is bumped (every shard recomputes its routable sets at its next pick) and the flip is
//! logged once, with the reason.

use std::{
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{info, warn};

use super::{Flip, HealthState, HealthTable, TargetHealth};
use crate::{
    config::{HealthCheck, HealthProtocol},
    latch::Latch,
};

/// What one check loop needs.
pub struct Probe {
    pub group: String,
    pub addr: SocketAddr,
    pub check: HealthCheck,
    /// HTTPS checks: the client config and the name to send (see `TlsContexts::for_health_check`).
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    pub slot: Arc<TargetHealth>,
    pub table: Arc<HealthTable>,
}

impl Probe {
    /// Where checks go: the target, or its address with the check's own port.
    fn check_addr(&self) -> SocketAddr {
        match self.check.port {
            0 => self.addr,
            port => SocketAddr::new(self.addr.ip(), port),
        }
    }

    async fn once(&self) -> Result<(), String> {
        let addr = self.check_addr();
        match self.check.protocol {
            HealthProtocol::Tcp => super::tcp::probe(addr, self.check.timeout).await,
            HealthProtocol::Http => super::http::probe(addr, &self.check, None).await,
            HealthProtocol::Https => match &self.tls {
                Some((config, name)) => super::http::probe(addr, &self.check, Some((config, name.clone()))).await,
                None => Err("https check without a TLS context".into()),
            },
        }
    }
}

/// Checks the target until `stop` is set.
pub async fn run(probe: Probe, stop: Rc<Latch>) {
    let interval = probe.check.interval;
    let mut next = Instant::now() + phase(interval, probe.slot.id);
    loop {
        monoio::select! {
            _ = monoio::time::sleep_until(next.into()) => {}
            _ = stop.wait() => return,
        }
        let result = monoio::select! {
            r = probe.once() => r,
            _ = stop.wait() => return,
        };
        let reason = match &result {
            Ok(()) => "check passed",
            Err(reason) => reason.as_str(),
        };
        if let Some(flip) = probe.slot.record(result.is_ok(), &probe.check) {
            probe.table.epoch.bump();
            log_flip(&probe.group, probe.addr, flip, reason);
        }
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
    }
}

/// A random offset in `[0, interval)`, different per target and per start.
fn phase(interval: Duration, id: u64) -> Duration {
    let r = ahash::RandomState::new().hash_one(id);
    interval.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64)
}

/// Logs a verdict change once, with its reason.
pub fn log_flip(group: &str, target: SocketAddr, flip: Flip, reason: &str) {
    if flip.to == HealthState::Unhealthy {
        warn!(group, %target, from = flip.from.as_str(), to = flip.to.as_str(), reason, "target is unhealthy");
    } else {
        info!(group, %target, from = flip.from.as_str(), to = flip.to.as_str(), reason, "target is healthy");
    }
}
