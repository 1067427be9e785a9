//! Target health: the shared lock-free table ([`table`]) and the checkers ([`checker`], with
//! the probes: [`tcp`] and its scripted form [`tcp_script`], [`http`], and the protocols'
//! own exchanges [`mysql`], [`pgsql`], [`redis`], [`smtp`], [`ssl_hello`], all talking through
//! [`exchange`]). Every probe runs on the shard that owns the target, off the request path,
//! bounded by the check's `timeout`.
//!
//! Shards share nothing on the request path except this: every shard routes by the same
//! verdicts, and each target is checked by one shard only (`id % shards`), so N shards do not
//! multiply the check traffic.
//!
//! The table holds health only: one [`TargetHealth`] word per target and the epoch that moves
//! when any verdict does. Which targets exist, with their slots, is the control plane's
//! published target set (`control/set.rs`), which holds each slot by `Arc` so that a target that
//! stays across a change keeps its verdict.

pub mod checker;
pub mod exchange;
pub mod http;
pub mod mysql;
pub mod pgsql;
pub mod redis;
pub mod smtp;
pub mod ssl_hello;
pub mod table;
pub mod tcp;
pub mod tcp_script;

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

pub use table::{Flip, HealthEpoch, HealthState, HealthWord, TargetHealth};

/// The shared table: slot ids and the epoch of verdict changes. The slots themselves are held
/// by the control plane's target set (and by the checks and shards that use them).
#[derive(Debug, Default)]
pub struct HealthTable {
    pub epoch: HealthEpoch,
    next_id: AtomicU64,
}

impl HealthTable {
    /// A slot for a new target: `initial`, or healthy when nothing checks it (`checked` is
    /// false). Ids are never reused, so a re-added target may land on another checking shard
    /// than before, which is harmless.
    pub fn new_slot(&self, checked: bool) -> Arc<TargetHealth> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(if checked { TargetHealth::new(id) } else { TargetHealth::unchecked(id) })
    }
}
