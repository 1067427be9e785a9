//! The published target set: the configuration the shards run, with what every shard shares
//! about each target (its health slot and its connection-cap counter) and about each group (its
//! surge queue figures), and the zones shifted away.
//!
//! It is swapped as a whole (`ArcSwap`, in [`super::Control`]) when targets are registered,
//! deregistered, removed or reloaded, and sent to every shard, which rebuilds its balancers
//! from it. Shared parts are held by `Arc`, so a target that stays across a change keeps its
//! verdict and its count of slots in use, and a group keeps its queue.

use std::{net::SocketAddr, sync::Arc};

use crate::{
    config::Config,
    health::{HealthTable, TargetHealth},
    surge::{SlotCounter, SurgeShared},
};

/// What every shard shares about one target.
#[derive(Debug, Clone)]
pub struct SharedTarget {
    /// Its health: verdict, draining bit, check counts (written by its checking shard).
    pub health: Arc<TargetHealth>,
    /// Connections (requests or sessions) it serves now over all shards, for
    /// `max_connections_per_target` (see `surge/`).
    pub slots: Arc<SlotCounter>,
}

impl SharedTarget {
    /// A new target's shared state: a fresh health slot from `table` (`initial`, or healthy when
    /// `checked` is false: nothing would ever judge it) and no slot in use.
    pub fn new(table: &HealthTable, checked: bool) -> Self {
        SharedTarget { health: table.new_slot(checked), slots: Arc::default() }
    }
}

/// The configuration the shards run, and what they share about its targets and groups.
#[derive(Debug)]
pub struct TargetSet {
    pub config: Arc<Config>,
    /// `targets[g][t]` belongs to `config.target_groups[g].targets[t]`.
    pub targets: Vec<Vec<SharedTarget>>,
    /// Zones no group routes to (zonal shift).
    pub shifted_zones: Vec<String>,
    /// `surge[g]`: the queue figures of group `g` shared by the shards (kept by group name
    /// across changes).
    pub surge: Vec<Arc<SurgeShared>>,
}

impl TargetSet {
    /// The set of a configuration as it starts: every target new, every queue empty.
    pub fn initial(config: Arc<Config>, table: &HealthTable, shards: usize) -> Self {
        let targets = config
            .target_groups
            .iter()
            .map(|g| g.targets.iter().map(|_| SharedTarget::new(table, g.health_check.enabled)).collect())
            .collect();
        let surge = config.target_groups.iter().map(|_| Arc::new(SurgeShared::new(shards))).collect();
        TargetSet { config, targets, shifted_zones: Vec::new(), surge }
    }

    /// The health slot of a target, by group name and address.
    pub fn slot(&self, group: &str, addr: SocketAddr) -> Option<&Arc<TargetHealth>> {
        let g = self.config.group_index(group)?;
        let t = self.config.target_groups[g].targets.iter().position(|t| t.addr == addr)?;
        Some(&self.targets[g][t].health)
    }
}
