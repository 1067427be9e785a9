//! The check loop of one target, run by the one shard that owns it (`id % shards`).
//!
//! Timing: the first check fires at a random moment within the first `interval` (so that the
//! checks of many targets, started together, do not fire together), then every `interval` on
//! that phase — or every `fast_interval` while the target is between verdicts and every
//! `down_interval` while it is down ([`next_interval`]). The schedule is kept from one check to the next rather than restarted after each
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

use super::{exchange::Dial, Flip, HealthState, HealthTable, HealthWord, TargetHealth};
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
    /// Where checks go: the target, its address with the check's own port, or the per-target
    /// address of haproxy.cfg's `check addr A port N`.
    fn check_addr(&self) -> SocketAddr {
        self.check.check_addr(self.addr)
    }

    async fn once(&self) -> Result<(), String> {
        let addr = self.check_addr();
        let c = &self.check;
        let dial = Dial { deadline: Instant::now() + c.timeout, timeout: c.timeout, proxy: c.proxy_protocol };
        let result = match c.protocol {
            HealthProtocol::Tcp if c.script.is_empty() => return super::tcp::probe(addr, c.timeout).await,
            HealthProtocol::Tcp => super::tcp_script::probe(addr, &c.script, &dial).await,
            HealthProtocol::Http => return super::http::probe(addr, c, None).await,
            HealthProtocol::Https => {
                return match &self.tls {
                    Some((config, name)) => super::http::probe(addr, c, Some((config, name.clone()))).await,
                    None => Err("https check without a TLS context".into()),
                }
            }
            HealthProtocol::Mysql => super::mysql::probe(addr, &c.user, &dial).await,
            HealthProtocol::Pgsql => super::pgsql::probe(addr, &c.user, &dial).await,
            HealthProtocol::Redis => super::redis::probe(addr, &dial).await,
            HealthProtocol::Smtp => super::smtp::probe(addr, &c.smtp_hello, &dial).await,
            HealthProtocol::SslHello => super::ssl_hello::probe(addr, &dial).await,
        };
        result.map_err(|e| e.to_string())
    }
}

/// The time to the next check after a result left the target's word as `word`: `down_interval`
/// while unhealthy with no success since, `fast_interval` while a run of results is on its way
/// to a flip (or the verdict is not in yet), `interval` otherwise — HAProxy's `downinter`,
/// `fastinter` and `inter`.
pub fn next_interval(check: &HealthCheck, word: HealthWord) -> Duration {
    let fast = check.fast_interval.unwrap_or(check.interval);
    match word.verdict {
        HealthState::Unhealthy if word.successes == 0 => check.down_interval.unwrap_or(check.interval),
        HealthState::Unhealthy => fast,
        HealthState::Healthy if word.failures > 0 => fast,
        HealthState::Initial if word.successes > 0 || word.failures > 0 => fast,
        _ => check.interval,
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
        next += next_interval(&probe.check, probe.slot.load());
        let now = Instant::now();
        if next <= now {
            next = now + next_interval(&probe.check, probe.slot.load());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastinter_while_transitioning_and_downinter_while_down() {
        let ms = Duration::from_millis;
        let check = HealthCheck {
            interval: ms(1000),
            fast_interval: Some(ms(100)),
            down_interval: Some(ms(5000)),
            ..HealthCheck::default()
        };
        let word =
            |verdict, successes, failures| HealthWord { verdict, draining: false, successes, failures, generation: 0 };
        assert_eq!(next_interval(&check, word(HealthState::Healthy, 5, 0)), ms(1000));
        assert_eq!(next_interval(&check, word(HealthState::Healthy, 0, 1)), ms(100), "going down");
        assert_eq!(next_interval(&check, word(HealthState::Unhealthy, 0, 3)), ms(5000), "down");
        assert_eq!(next_interval(&check, word(HealthState::Unhealthy, 1, 0)), ms(100), "coming back");
        assert_eq!(next_interval(&check, word(HealthState::Initial, 0, 0)), ms(1000));
        assert_eq!(next_interval(&check, word(HealthState::Initial, 1, 0)), ms(100));
        let plain = HealthCheck { interval: ms(1000), ..HealthCheck::default() };
        assert_eq!(next_interval(&plain, word(HealthState::Unhealthy, 0, 3)), ms(1000), "unset: inter");
    }
}
