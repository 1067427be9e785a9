//! The surge queue: per-target connection limits, the group's bounded FIFO of waiting requests
//! (or, on TCP listeners, new sessions), and spillover.
//!
//! # States of a request that meets a limit
//!
//! ```text
//!                  queue empty and a target below its cap
//!   arriving ──────────────────────────────────────────────────────► SERVED (holds a slot)
//!      │ every eligible target at its cap (or others already wait)
//!      ├── queue full (queued == surge_queue_length) ──────────────► SPILLED: 503 at once,
//!      │                                                             SpilloverCount + 1
//!      ▼
//!   QUEUED (a ticket; counted in SurgeQueueLength)
//!      ├── woken at the head of the queue, a slot is free ─────────► SERVED (after a wait,
//!      │                                                             recorded in queue_wait)
//!      ├── queue_timeout passes ───────────────────────────────────► TIMED OUT: 503, counted
//!      │                                                             in HTTPCode_ELB_5XX only
//!      └── the client disconnects (or the shard closes) ───────────► GONE: leaves at once,
//!                                                                    its place is free
//! ```
//!
//! What moves a waiter: a slot freed on any target of the group (a request or session ended).
//! The one that frees it hands it on ([`SurgeLocal::after_release`]): to the oldest waiter of
//! its own shard, or, when another shard holds an older one, to that shard through whatever
//! [`WakeShard`] the queue was given (the control plane's mailboxes).
//! Exactly one waiter is woken per freed slot (no thundering herd); a waiter that got a slot
//! wakes the next one of its shard, so several slots freed at once serve several waiters.
//! The head waiter of each shard also looks again every [`HEAD_RECHECK`]: capacity can appear
//! without a release (a target registered or healthy again).
//!
//! # Shards: one shared slot counter per target, one shared queue length per group
//!
//! The caps are exact across shards: each target has one atomic `in_use` counter (on its own
//! cache line), taken with a compare-and-swap below the cap and given back with a subtract —
//! one uncontended atomic operation each way per request, and none at all for groups without a
//! limit. Splitting the caps per shard (`cap / N`) was rejected: a cap of 1 over 2 shards would
//! starve one of them, and borrowing between shards costs more messages than it saves.
//!
//! The queue length is one shared atomic per group (the `surge_queue_length` cap holds for the
//! sum, exactly), and each waiter holds a ticket from a shared counter; the waiters themselves
//! live in their shard's local FIFO (a task cannot move between shards). Each shard publishes
//! the ticket of its oldest waiter, so a shard freeing a slot can tell which shard's waiter is
//! the oldest of the group. FIFO order is exact within a shard and across shards up to the
//! moment a ticket is published (a few instructions).
//!
//! # Ordering, and why no wake-up is lost
//!
//! A waiter increments `queued`, publishes its ticket, then tries to take a slot; a releaser
//! gives its slot back, then reads `queued` and the published tickets. All four are `SeqCst`,
//! so in their single total order either the releaser sees the waiter (and wakes it), or the
//! waiter's attempt comes after the release (and finds the slot). A request arriving while
//! nobody waits takes a free slot directly; one arriving while others wait joins the queue
//! behind them, so arrivals do not overtake waiters (except one that checked `queued == 0` just
//! before a waiter joined: it takes the slot that waiter would have waited for, harmlessly).

//! # Files
//!
//! - [`shared`]: what the shards share: the group's queue figures ([`SurgeShared`]) and each
//!   target's slot counter ([`SlotCounter`]);
//! - [`local`]: one shard's part of a group's queue: its waiters, places, the hand-off;
//! - [`wait`]: a request's wait for a slot ([`wait_for_slot`]), the slot's guard and why a
//!   wait ended without one;
//! - tests: each file has its own; `stress.rs` runs two shards on two threads against one
//!   group to hold the no-lost-wake-up argument above to account.

pub mod local;
pub mod shared;
#[cfg(test)]
mod stress;
#[cfg(test)]
mod testing;
pub mod wait;

use std::time::Duration;

pub use local::{Place, Refused, SurgeLocal, WakeShard};
pub use shared::{SlotCounter, SurgeShared};
pub use wait::{wait_for_slot, Refusal, SlotGuard, SlotOwner, Try};

/// How often the head waiter of a shard looks for a slot without being woken.
pub const HEAD_RECHECK: Duration = Duration::from_millis(100);

/// A published ticket meaning "no waiter on this shard".
const NO_WAITER: u64 = u64::MAX;
