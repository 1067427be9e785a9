//! Target health: the shared lock-free table ([`table`]), the published target set, and the
//! checkers ([`checker`], with the probes in [`tcp`] and [`http`]).
//!
//! Shards share nothing on the request path except this: every shard routes by the same
//! verdicts, and each target is checked by one shard only (`id % shards`), so N shards do not
//! multiply the check traffic.
//!
//! The *target set* is what the control plane publishes: the configuration the shards run
//! (targets, weights, zones, thresholds), one [`TargetHealth`] slot per target, and the zones
//! shifted away. It is swapped as a whole ([`ArcSwap`]) when targets are registered,
//! deregistered, removed or reloaded, and sent to every shard, which rebuilds its balancers from
//! it. The slots are shared by `Arc`, so a target that stays across a change keeps its verdict.

pub mod checker;
pub mod http;
pub mod table;
pub mod tcp;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use arc_swap::ArcSwap;

use crate::{config::Config, surge::SurgeShared};

pub use table::{Flip, HealthEpoch, HealthState, HealthWord, TargetHealth};

/// The configuration the shards run, and the health slot of each of its targets.
#[derive(Debug)]
pub struct TargetSet {
    pub config: Arc<Config>,
    /// `health[g][t]` belongs to `config.target_groups[g].targets[t]`.
    pub health: Vec<Vec<Arc<TargetHealth>>>,
    /// Zones no group routes to (zonal shift).
    pub shifted_zones: Vec<String>,
    /// `surge[g]`: the queue figures of group `g` shared by the shards (kept by group name
    /// across changes).
    pub surge: Vec<Arc<SurgeShared>>,
}

impl TargetSet {
    /// The slot of a target, by group name and address.
    pub fn slot(&self, group: &str, addr: std::net::SocketAddr) -> Option<&Arc<TargetHealth>> {
        let g = self.config.group_index(group)?;
        let t = self.config.target_groups[g].targets.iter().position(|t| t.addr == addr)?;
        Some(&self.health[g][t])
    }
}

/// The shared table: the published target set and the epoch of verdict changes.
#[derive(Debug)]
pub struct HealthTable {
    pub epoch: HealthEpoch,
    set: ArcSwap<TargetSet>,
    next_id: AtomicU64,
    /// Shards of the process (each group's queue keeps one published ticket per shard).
    shards: usize,
}

impl HealthTable {
    /// A table for `config`, every target in `initial` (or healthy when its group checks
    /// nothing).
    pub fn new(config: Arc<Config>, shards: usize) -> Self {
        let table = HealthTable {
            epoch: HealthEpoch::default(),
            set: ArcSwap::from_pointee(TargetSet {
                config: config.clone(),
                health: Vec::new(),
                shifted_zones: Vec::new(),
                surge: Vec::new(),
            }),
            next_id: AtomicU64::new(0),
            shards,
        };
        let health = config
            .target_groups
            .iter()
            .map(|g| g.targets.iter().map(|_| table.new_slot(g.health_check.enabled)).collect())
            .collect();
        let surge = config.target_groups.iter().map(|_| table.new_surge()).collect();
        table.set.store(Arc::new(TargetSet { config, health, shifted_zones: Vec::new(), surge }));
        table
    }

    /// Queue figures for a new group.
    pub fn new_surge(&self) -> Arc<SurgeShared> {
        Arc::new(SurgeShared::new(self.shards))
    }

    /// The set in force now.
    pub fn current(&self) -> Arc<TargetSet> {
        self.set.load_full()
    }

    /// Publishes a new set (the control plane does, then tells the shards).
    pub fn publish(&self, set: Arc<TargetSet>) {
        self.set.store(set);
        self.epoch.bump();
    }

    /// A slot for a new target; ids are never reused, so a re-added target may land on another
    /// checking shard than before, which is harmless.
    pub fn new_slot(&self, checked: bool) -> Arc<TargetHealth> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(if checked { TargetHealth::new(id) } else { TargetHealth::unchecked(id) })
    }
}
