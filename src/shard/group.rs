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
    time::Duration,
};

use hdrhistogram::Histogram;

use crate::{
    balance::{Balancer, Eligible, PickContext},
    config::TargetGroup,
    health::{checker, HealthEpoch, HealthState, HealthTable, TargetHealth, TargetSet},
    metrics::{GroupSnapshot, TargetCounters},
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
    /// Target latency (request sent → response head), in microseconds; shared with the
    /// group's earlier and later versions so a reload loses no sample.
    pub latency: Rc<RefCell<Histogram<u64>>>,
    /// Whether the last recomputation found the group failing open (logged on change).
    failing_open: Cell<bool>,
}

/// Latency histogram range: 1 µs to 60 s at 3 significant digits.
const LATENCY_MAX_MICROS: u64 = 60_000_000;

pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3).expect("valid histogram bounds")
}

impl GroupRuntime {
    /// Builds group `g` of `set`. Targets that `previous` already had with the same health
    /// slot keep their runtime (and so their counters); new ones start from zero.
    pub fn new(set: &TargetSet, g: usize, previous: Option<&GroupRuntime>, seed: u64) -> Self {
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
            latency: previous.map_or_else(|| Rc::new(RefCell::new(new_latency_histogram())), |p| p.latency.clone()),
            failing_open: Cell::new(previous.is_some_and(|p| p.failing_open.get())),
            config: config.clone(),
        }
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
        let micros = (latency.as_micros() as u64).clamp(1, LATENCY_MAX_MICROS);
        let _ = self.latency.borrow_mut().record(micros);
    }

    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot { name: self.config.name.clone(), latency: self.latency.borrow().clone() }
    }
}
