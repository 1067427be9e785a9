//! What the shards share of a surge queue: the group's figures (length, its maximum, the
//! ticket counter, each shard's oldest published ticket) and each target's slot counter. Every
//! field is an atomic, read and written with `SeqCst` (the ordering argument in `mod.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

use super::NO_WAITER;

/// One target group's queue figures shared by every shard.
#[derive(Debug)]
pub struct SurgeShared {
    /// Requests (or sessions) waiting now, over all shards (`SurgeQueueLength`).
    pub(super) queued: AtomicU32,
    /// The highest `queued` ever seen (`SurgeQueueLengthMax`).
    pub(super) max: AtomicU32,
    pub(super) next_ticket: AtomicU64,
    /// Per shard: the ticket of its oldest waiter, or [`NO_WAITER`].
    pub(super) heads: Vec<AtomicU64>,
}

impl SurgeShared {
    pub fn new(shards: usize) -> Self {
        SurgeShared {
            queued: AtomicU32::new(0),
            max: AtomicU32::new(0),
            next_ticket: AtomicU64::new(0),
            heads: (0..shards).map(|_| AtomicU64::new(NO_WAITER)).collect(),
        }
    }

    /// Waiting now, over all shards.
    pub fn length(&self) -> u32 {
        self.queued.load(SeqCst)
    }

    /// The highest length seen since start.
    pub fn length_max(&self) -> u32 {
        self.max.load(SeqCst)
    }

    /// The shard whose oldest waiter is the oldest of the group.
    pub(super) fn oldest_shard(&self) -> Option<usize> {
        let (shard, ticket) =
            self.heads.iter().enumerate().map(|(i, t)| (i, t.load(SeqCst))).min_by_key(|&(_, t)| t)?;
        (ticket != NO_WAITER).then_some(shard)
    }
}

/// A target's slot counter, alone on its cache line (it changes on every request of a limited
/// group, from every shard).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct SlotCounter(AtomicU32);

impl SlotCounter {
    /// Takes a slot if fewer than `cap` are in use.
    #[inline]
    pub fn try_acquire(&self, cap: u32) -> bool {
        self.0.fetch_update(SeqCst, SeqCst, |n| (n < cap).then_some(n + 1)).is_ok()
    }

    #[inline]
    pub fn release(&self) {
        self.0.fetch_sub(1, SeqCst);
    }

    pub fn in_use(&self) -> u32 {
        self.0.load(SeqCst)
    }
}
