//! A target group as one shard runs it: the settings, the balancer, the targets with their
//! counters, health slots and slot counters, the routable set, the per-target caps (a pick
//! that takes a slot, and the wait in the surge queue when every target is full) and the
//! latency histograms.
//!
//! It sits below the session code (which picks through it) and above the control plane (whose
//! published target set it is built from), the balancers, the surge queue and the health table.
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
//!   take traffic until proven unhealthy), primaries only; when no primary is routable, the
//!   first routable backup target (in the group's order), or every routable backup with
//!   `all_backups` (HAProxy's `backup` and `option allbackups`);
//! - when none is, `fail_open = true` routes to every target in scope (what ALB and NLB do when
//!   every target is unhealthy), and `fail_open = false` routes to none (the caller answers 503,
//!   as Classic ELB does).

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use hdrhistogram::Histogram;

use monoio::net::TcpStream;

use crate::{
    balance::{Balancer, Eligible, PickContext, TargetLoad},
    config::TargetGroup,
    control::{SharedTarget, TargetSet},
    health::{checker, HealthEpoch, HealthState, HealthTable, TargetHealth},
    metrics::{new_latency_histogram, Counter, GroupSnapshot, TargetCounters, LATENCY_MAX_MICROS},
    rules::RuleSet,
    sticky::Sticky,
    surge::{self, SlotCounter, SlotOwner, SurgeLocal, Try},
};

pub use crate::surge::{Refusal, SlotGuard};

/// One target as a shard sees it.
#[derive(Debug)]
pub struct TargetRuntime {
    pub addr: SocketAddr,
    /// The shared health slot (read through the group's routable set, written by checks).
    pub health: Arc<TargetHealth>,
    /// Slots of `max_connections_per_target` in use on it over all shards.
    pub slots: Arc<SlotCounter>,
    pub counters: TargetCounters,
}

impl TargetRuntime {
    pub fn new(addr: SocketAddr, shared: &SharedTarget) -> Self {
        TargetRuntime {
            addr,
            health: shared.health.clone(),
            slots: shared.slots.clone(),
            counters: TargetCounters::default(),
        }
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
    /// Whether the last recomputation routed to backup targets (logged on change).
    on_backups: Cell<bool>,
    /// TLS to the targets (`tls = { ... }`), with the config in force when the group was built.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The group's own rules (haproxy.cfg `http-request`/`http-response` in a backend), run
    /// after a listener chose the group.
    pub rules: RuleSet,
    /// Target stickiness by cookie (`sticky.rs`), when the group has it.
    pub sticky: Option<Sticky>,
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

impl TargetLoad for TargetRuntime {
    #[inline]
    fn outstanding(&self) -> u64 {
        self.counters.active.get()
    }

    #[inline]
    fn connections(&self) -> u64 {
        self.counters.connections.get()
    }
}

impl SlotOwner for TargetRuntime {
    fn slot_counter(&self) -> &SlotCounter {
        &self.slots
    }
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
        let reuse = |addr: SocketAddr, shared: &SharedTarget| {
            previous.and_then(|p| {
                p.targets.iter().find(|t| t.addr == addr && Arc::ptr_eq(&t.health, &shared.health)).cloned()
            })
        };
        let targets = config
            .targets
            .iter()
            .zip(&set.targets[g])
            .map(|(t, shared)| reuse(t.addr, shared).unwrap_or_else(|| Rc::new(TargetRuntime::new(t.addr, shared))))
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
            on_backups: Cell::new(previous.is_some_and(|p| p.on_backups.get())),
            rules: RuleSet::compile(&config.rules, &[], &set.config),
            sticky: Sticky::build(config),
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
        let picker = &mut *self.picker(epoch);
        picker.balancer.pick(ctx, &Eligible { usable: &picker.usable, tried }, &self.targets)
    }

    /// The balancer and the routable set, the set brought up to date first when the health
    /// table changed since it was computed.
    #[inline]
    fn picker(&self, epoch: &HealthEpoch) -> std::cell::RefMut<'_, Picker> {
        let now = epoch.load();
        let mut picker = self.picker.borrow_mut();
        if picker.epoch != now {
            self.recompute(&mut picker.usable);
            picker.epoch = now;
        }
        picker
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
            if self.targets[i].slots.try_acquire(cap) {
                let guard = SlotGuard::new(self.targets[i].clone(), self.surge.clone());
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

    /// Target `i` (named by a stickiness cookie) with its slot, when it may take the request:
    /// routable (healthy or initial, not draining, in scope), weighted above 0, not `failed`,
    /// below its cap, and nobody waits in the queue. `None`: pick with the algorithm instead.
    pub fn pick_named(&self, epoch: &HealthEpoch, i: usize, failed: &[usize]) -> Option<Pick> {
        if i >= self.targets.len() || failed.contains(&i) || self.config.targets.get(i).is_none_or(|t| t.weight == 0) {
            return None;
        }
        if !self.picker(epoch).usable[i] {
            return None;
        }
        let cap = self.config.max_connections_per_target;
        if cap == 0 {
            return Some(Pick::Got(i, None));
        }
        if self.surge.anyone_waiting() || !self.targets[i].slots.try_acquire(cap) {
            return None;
        }
        Some(Pick::Got(i, Some(SlotGuard::new(self.targets[i].clone(), self.surge.clone()))))
    }

    /// Waits in the surge queue for a slot (`surge/wait.rs`), watching the client so that one
    /// that disconnects leaves at once.
    pub async fn wait_for_slot(
        &self,
        epoch: &HealthEpoch,
        ctx: &PickContext,
        failed: &[usize],
        client: &TcpStream,
    ) -> Result<(usize, Option<SlotGuard>), Refusal> {
        let (cap, timeout) = (self.config.surge_queue_length, self.config.queue_timeout);
        let waited = surge::wait_for_slot(&self.surge, cap, timeout, client, || {
            match self.pick_slot(epoch, ctx, failed, true) {
                Pick::Got(i, guard) => Try::Got((i, guard)),
                Pick::NoTarget => Try::NoTarget,
                Pick::AllFull => Try::AllFull,
            }
        })
        .await;
        match waited {
            Ok((got, wait)) => {
                self.record(&self.figures.queue_wait, wait);
                Ok(got)
            }
            Err(refusal) => {
                if refusal == Refusal::Spilled {
                    self.figures.spillover.add(1);
                }
                Err(refusal)
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
        // Primaries first: a backup target is routable only when no primary is.
        // A target of weight 0 (haproxy.cfg's `disabled`, or a weight set to 0) takes no
        // traffic from any algorithm, so it does not keep the backups out either.
        let backup = |i: usize| self.config.targets[i].backup;
        let serves = |i: usize| self.config.targets[i].weight > 0;
        for (i, t) in self.targets.iter().enumerate() {
            let word = t.health.load();
            usable[i] = !backup(i) && self.in_scope(i, word.draining) && word.verdict != HealthState::Unhealthy;
            any_healthy |= usable[i] && serves(i);
        }
        if !any_healthy {
            for (i, t) in self.targets.iter().enumerate() {
                if !backup(i) || (any_healthy && !self.config.all_backups) {
                    continue;
                }
                let word = t.health.load();
                usable[i] = self.in_scope(i, word.draining) && word.verdict != HealthState::Unhealthy;
                any_healthy |= usable[i] && serves(i);
            }
            let backups = any_healthy;
            if backups != self.on_backups.replace(backups) {
                if backups {
                    tracing::warn!(group = %self.config.name, "no primary target is healthy: routing to the backup targets");
                } else {
                    tracing::info!(group = %self.config.name, "no backup target is healthy either");
                }
            }
        } else if self.on_backups.replace(false) {
            tracing::info!(group = %self.config.name, "a primary target is healthy again: backup targets take no new traffic");
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
            rules: self.rules.figures(),
        }
    }
}
