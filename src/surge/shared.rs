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

#[cfg(test)]
mod tests {
    use std::sync::{atomic::AtomicBool, Arc};

    use super::*;

    #[test]
    fn a_slot_counter_takes_slots_up_to_its_cap_and_gives_them_back() {
        let slots = SlotCounter::default();
        assert!(slots.try_acquire(2));
        assert!(slots.try_acquire(2));
        assert!(!slots.try_acquire(2), "a third slot under a cap of two");
        assert_eq!(slots.in_use(), 2, "a refused try takes nothing");
        slots.release();
        assert_eq!(slots.in_use(), 1);
        assert!(slots.try_acquire(2), "a slot given back is free again");
        assert!(!slots.try_acquire(1), "a lower cap counts the slots already in use");
    }

    #[test]
    fn a_slot_counter_never_passes_its_cap_under_contention() {
        // Four threads take and give back slots of one counter as fast as they can; whoever
        // holds a slot must see at most `CAP` in use (a load-then-store would let two threads
        // take the last slot together). A cap of one: with two CPUs at most two threads run at
        // once, so such a race could never show above a cap of two.
        const CAP: u32 = 1;
        let slots = Arc::new(SlotCounter::default());
        let over = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (slots, over) = (slots.clone(), over.clone());
                std::thread::spawn(move || {
                    let mut held = 0u32;
                    for _ in 0..500_000 {
                        if slots.try_acquire(CAP) {
                            held += 1;
                            if slots.in_use() > CAP {
                                over.store(true, SeqCst);
                            }
                            slots.release();
                        }
                    }
                    held
                })
            })
            .collect();
        let held: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(!over.load(SeqCst), "more than {CAP} slots in use at once");
        assert!(held > 0);
        assert_eq!(slots.in_use(), 0, "every slot taken was given back");
    }

    #[test]
    fn the_oldest_shard_is_the_one_with_the_lowest_published_ticket() {
        let shared = SurgeShared::new(3);
        assert_eq!(shared.oldest_shard(), None, "nobody waits");
        shared.heads[2].store(7, SeqCst);
        assert_eq!(shared.oldest_shard(), Some(2));
        shared.heads[0].store(9, SeqCst);
        shared.heads[1].store(4, SeqCst);
        assert_eq!(shared.oldest_shard(), Some(1));
        shared.heads[1].store(NO_WAITER, SeqCst);
        assert_eq!(shared.oldest_shard(), Some(2), "a shard whose waiters left is not the oldest");
    }
}
