//! A target group as one shard runs it: the settings, the balancer, the targets with their
//! counters and health slots, the routable set, and the latency histogram.
//!
//! # Routing with health
//!
//! A pick first makes sure the group's routable set is current: it loads the health epoch (one
//! atomic load) and, only when the epoch moved since the set was computed, recomputes it from
//! the targets' health words. Then the balancer picks among the routable targets. So health
//! costs one load per pick in the steady state, whatever the number of targets.
//!
//! The routable set, in order:
//! - a target is *in scope* when it is not draining, its zone is not shifted away, and, with
//!   `cross_zone = false`, its zone is this node's zone;
//! - the routable targets are those in scope whose verdict is not `unhealthy` (`initial` ones
//!   take traffic until proven unhealthy);
//! - when none is, `fail_open = true` routes to every target in scope (what ALB and NLB do when
//!   every target is unhealthy), and `fail_open = false` routes to none (the caller answers 503,
//!   as Classic ELB does).

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use monoio::net::TcpStream;

use crate::{
    balance::{Balancer, Eligible, PickContext},
    config::TargetGroup,
    health::{checker, HealthEpoch, HealthState, HealthTable, TargetHealth, TargetSet},
    metrics::{Counter, GroupSnapshot, TargetCounters},
    surge::{SurgeLocal, HEAD_RECHECK},
};

/// One target as a shard sees it.
#[derive(Debug)]
pub struct TargetRuntime {
    pub addr: SocketAddr,
    /// The shared health slot (read through the group's routable set, written by checks).
    pub health: Arc<TargetHealth>,
    pub counters: TargetCounters,
}

impl TargetRuntime {
    pub fn new(addr: SocketAddr, health: Arc<TargetHealth>) -> Self {
        TargetRuntime { addr, health, counters: TargetCounters::default() }
    }
}

/// The balancer and the routable set it picks from, with the epoch the set was computed at.
/// One `RefCell` for both: a pick borrows once.
#[derive(Debug)]
struct Picker {
    balancer: Balancer,
    epoch: u64,
    usable: Vec<bool>,
}

#[derive(Debug)]
pub struct GroupRuntime {
    pub config: TargetGroup,
    pub targets: Vec<Rc<TargetRuntime>>,
    /// Zones shifted away when the group was built (a shift rebuilds every group).
    shifted_zones: Vec<String>,
    picker: RefCell<Picker>,
    /// This shard's part of the group's surge queue (kept across reloads).
    pub surge: Rc<SurgeLocal>,
    /// Shared with the group's earlier and later versions, so a reload loses no figure.
    pub figures: Rc<GroupFigures>,
    /// Whether the last recomputation found the group failing open (logged on change).
    failing_open: Cell<bool>,
    /// TLS to the targets (`tls = { ... }`), with the config in force when the group was built.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The group's figures on this shard that are not per target.
#[derive(Debug)]
pub struct GroupFigures {
    /// Target latency (request sent → response head), in microseconds.
    pub latency: RefCell<Histogram<u64>>,
    /// Time spent in the surge queue by requests that were served after waiting, in µs.
    pub queue_wait: RefCell<Histogram<u64>>,
    /// Requests (or sessions) refused because the queue was full (`SpilloverCount`).
    pub spillover: Counter,
}

impl Default for GroupFigures {
    fn default() -> Self {
        GroupFigures {
            latency: RefCell::new(new_latency_histogram()),
            queue_wait: RefCell::new(new_latency_histogram()),
            spillover: Counter::default(),
        }
    }
}

/// What one pick under the group's limits found.
pub enum Pick {
    /// Target `index`, with its slot when the group has `max_connections_per_target`.
    Got(usize, Option<SlotGuard>),
    /// No target may take work (none routable, or every one failed already).
    NoTarget,
    /// Every eligible target is at its cap (or others wait already): queue.
    AllFull,
}

/// Why a request got no target after waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No target may take work: 503.
    NoTarget,
    /// The surge queue was full: 503 at once, `SpilloverCount` + 1.
    Spilled,
    /// Waited `queue_timeout` in the queue: 503.
    QueueTimeout,
    /// The client went away while queued: nothing to answer.
    ClientGone,
}

/// A slot of `max_connections_per_target` held on a target; given back (and handed to the
/// oldest waiter of the group) when dropped.
pub struct SlotGuard {
    target: Rc<TargetRuntime>,
    surge: Rc<SurgeLocal>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.target.health.slots.release();
        self.surge.after_release();
    }
}

/// Latency histogram range: 1 µs to 60 s at 3 significant digits.
const LATENCY_MAX_MICROS: u64 = 60_000_000;

pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3).expect("valid histogram bounds")
}

impl GroupRuntime {
    /// Builds group `g` of `set`. Targets that `previous` already had with the same health
    /// slot keep their runtime (and so their counters); new ones start from zero.
    pub fn new(
        set: &TargetSet,
        g: usize,
        previous: Option<&GroupRuntime>,
        seed: u64,
        surge: Rc<SurgeLocal>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let config = &set.config.target_groups[g];
        let reuse = |addr: SocketAddr, slot: &Arc<TargetHealth>| {
            previous.and_then(|p| p.targets.iter().find(|t| t.addr == addr && Arc::ptr_eq(&t.health, slot)).cloned())
        };
        let targets = config
            .targets
            .iter()
            .zip(&set.health[g])
            .map(|(t, slot)| reuse(t.addr, slot).unwrap_or_else(|| Rc::new(TargetRuntime::new(t.addr, slot.clone()))))
            .collect::<Vec<_>>();
        GroupRuntime {
            picker: RefCell::new(Picker {
                balancer: Balancer::new(config.algorithm, &config.targets, seed),
                epoch: u64::MAX,
                usable: vec![false; targets.len()],
            }),
            targets,
            shifted_zones: set.shifted_zones.clone(),
            surge,
            figures: previous.map_or_else(Rc::default, |p| p.figures.clone()),
            failing_open: Cell::new(previous.is_some_and(|p| p.failing_open.get())),
            config: config.clone(),
            tls,
        }
    }

    /// How to talk TLS to `target`, when the group does: its client config and the name to
    /// send and verify.
    pub fn target_tls(&self, target: &TargetRuntime) -> Option<crate::stream::ClientTls<'_>> {
        let config = self.tls.as_ref()?;
        Some((config, crate::tls::client::server_name(self.config.tls.as_ref(), target.addr)))
    }

    /// The next target for this connection or request among the routable ones not `tried`.
    #[inline]
    pub fn pick(&self, epoch: &HealthEpoch, ctx: &PickContext, tried: &[usize]) -> Option<usize> {
        let now = epoch.load();
        let picker = &mut *self.picker.borrow_mut();
        if picker.epoch != now {
            self.recompute(&mut picker.usable);
            picker.epoch = now;
        }
        picker.balancer.pick(ctx, &Eligible { usable: &picker.usable, tried }, &self.targets)
    }

    /// A pick that also takes a slot when the group limits targets: targets at their cap are
    /// skipped; `AllFull` when every eligible one is. `queued`: the caller is a waiter at the
    /// head of the queue (others waiting do not make it queue again).
    pub fn pick_slot(&self, epoch: &HealthEpoch, ctx: &PickContext, failed: &[usize], queued: bool) -> Pick {
        let cap = self.config.max_connections_per_target;
        if cap == 0 {
            return match self.pick(epoch, ctx, failed) {
                Some(i) => Pick::Got(i, None),
                None => Pick::NoTarget,
            };
        }
        if !queued && self.surge.anyone_waiting() {
            // Arrivals queue behind the waiters; but with no routable target at all, 503 now.
            return if self.pick(epoch, ctx, failed).is_some() { Pick::AllFull } else { Pick::NoTarget };
        }
        // Targets found full are skipped on the next try; the list is made only then, so a
        // pick whose first target has a free slot allocates nothing.
        let mut full: Option<Vec<usize>> = None;
        while let Some(i) = self.pick(epoch, ctx, full.as_deref().unwrap_or(failed)) {
            if self.targets[i].health.slots.try_acquire(cap) {
                let guard = SlotGuard { target: self.targets[i].clone(), surge: self.surge.clone() };
                return Pick::Got(i, Some(guard));
            }
            full.get_or_insert_with(|| failed.to_vec()).push(i);
        }
        if full.is_some() {
            Pick::AllFull
        } else {
            Pick::NoTarget
        }
    }

    /// Waits in the surge queue for a slot (see `surge.rs`), watching the client so that one
    /// that disconnects leaves at once.
    pub async fn wait_for_slot(
        &self,
        epoch: &HealthEpoch,
        ctx: &PickContext,
        failed: &[usize],
        client: &TcpStream,
    ) -> Result<(usize, Option<SlotGuard>), Refusal> {
        let place = match self.surge.join(self.config.surge_queue_length) {
            Ok(place) => place,
            Err(_) => {
                self.figures.spillover.add(1);
                return Err(Refusal::Spilled);
            }
        };
        let joined = Instant::now();
        let deadline = joined + self.config.queue_timeout;
        let mut watch_client = true;
        loop {
            if place.is_head() {
                match self.pick_slot(epoch, ctx, failed, true) {
                    Pick::Got(i, guard) => {
                        place.leave(true);
                        self.record(&self.figures.queue_wait, joined.elapsed());
                        return Ok((i, guard));
                    }
                    Pick::NoTarget => return Err(Refusal::NoTarget),
                    Pick::AllFull => {}
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Refusal::QueueTimeout);
            }
            let nap = if place.is_head() { HEAD_RECHECK.min(deadline - now) } else { deadline - now };
            monoio::select! {
                _ = place.woken() => {}
                _ = monoio::time::sleep(nap) => {}
                gone = client_hangs_up(client), if watch_client => {
                    if gone {
                        return Err(Refusal::ClientGone);
                    }
                    watch_client = false;
                }
            }
        }
    }

    /// Whether target `i` may take new work regardless of its verdict.
    fn in_scope(&self, i: usize, draining: bool) -> bool {
        let zone = &self.config.targets[i].zone;
        if draining || (!self.config.cross_zone && *zone != self.config.zone) {
            return false;
        }
        zone.is_empty() || !self.shifted_zones.iter().any(|z| z == zone)
    }

    #[cold]
    #[inline(never)]
    fn recompute(&self, usable: &mut [bool]) {
        let mut any_healthy = false;
        for (i, t) in self.targets.iter().enumerate() {
            let word = t.health.load();
            usable[i] = self.in_scope(i, word.draining) && word.verdict != HealthState::Unhealthy;
            any_healthy |= usable[i];
        }
        let fail_open = !any_healthy && self.config.fail_open;
        if fail_open {
            for (i, t) in self.targets.iter().enumerate() {
                usable[i] = self.in_scope(i, t.health.load().draining);
            }
        }
        let some_in_scope = usable.iter().any(|&u| u);
        let was = self.failing_open.replace(fail_open && some_in_scope);
        if fail_open && some_in_scope && !was {
            tracing::warn!(group = %self.config.name, "every target is unhealthy: failing open (routing to all of them)");
        } else if !fail_open && was {
            tracing::info!(group = %self.config.name, "a target is healthy again: no longer failing open");
        }
    }

    /// Records a connect failure to target `i` as a failed check (passive detection).
    pub fn connect_failed(&self, table: &HealthTable, target: &TargetRuntime, reason: &str) {
        target.counters.connect_errors.add(1);
        if !self.config.health_check.enabled {
            return;
        }
        if let Some(flip) = target.health.record(false, &self.config.health_check) {
            table.epoch.bump();
            checker::log_flip(&self.config.name, target.addr, flip, &format!("{reason} (request traffic)"));
        }
    }

    /// Records one target latency sample.
    #[inline]
    pub fn record_latency(&self, latency: Duration) {
        self.record(&self.figures.latency, latency);
    }

    #[inline]
    fn record(&self, histogram: &RefCell<Histogram<u64>>, d: Duration) {
        let micros = (d.as_micros() as u64).clamp(1, LATENCY_MAX_MICROS);
        let _ = histogram.borrow_mut().record(micros);
    }

    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.config.name.clone(),
            latency: self.figures.latency.borrow().clone(),
            queue_wait: self.figures.queue_wait.borrow().clone(),
            spillover: self.figures.spillover.get(),
        }
    }
}

/// Completes with `true` when the client closed (or reset) its connection, `false` when it sent
/// bytes (a pipelined request, or the start of a TCP stream: it is still there, and readiness
/// would keep firing, so the caller stops watching).
async fn client_hangs_up(client: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    loop {
        if client.readable(false).await.is_err() {
            return true;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a valid local.
        let n = unsafe {
            libc::recv(client.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        };
        match n {
            0 => return true,
            n if n > 0 => return false,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => continue,
            _ => return true,
        }
    }
}
