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
//! its own shard, or, when another shard holds an older one, to that shard through its mailbox.
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

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering::SeqCst},
        Arc,
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use crate::{control::Control, shard::mailbox::Message};

/// How often the head waiter of a shard looks for a slot without being woken.
pub const HEAD_RECHECK: Duration = Duration::from_millis(100);

/// A published ticket meaning "no waiter on this shard".
const NO_WAITER: u64 = u64::MAX;

/// One target group's queue figures shared by every shard.
#[derive(Debug)]
pub struct SurgeShared {
    /// Requests (or sessions) waiting now, over all shards (`SurgeQueueLength`).
    queued: AtomicU32,
    /// The highest `queued` ever seen (`SurgeQueueLengthMax`).
    max: AtomicU32,
    next_ticket: AtomicU64,
    /// Per shard: the ticket of its oldest waiter, or [`NO_WAITER`].
    heads: Vec<AtomicU64>,
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
    fn oldest_shard(&self) -> Option<usize> {
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

/// One waiter, as its shard's FIFO holds it.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// One shard's part of a group's queue: its waiters in arrival order. Kept across reloads (a
/// rebuilt group takes the same `Rc`), so waiters survive a change of the target set.
pub struct SurgeLocal {
    shard: usize,
    group: String,
    shared: Arc<SurgeShared>,
    /// For waking another shard (none in benchmarks, which run one shard without a mailbox).
    control: Option<Arc<Control>>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

impl std::fmt::Debug for SurgeLocal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurgeLocal")
            .field("shard", &self.shard)
            .field("group", &self.group)
            .field("waiting_here", &self.waiters.borrow().len())
            .field("shared", &self.shared)
            .finish()
    }
}

/// Why a request did not get a place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full: spill over.
    Full,
}

impl SurgeLocal {
    pub fn new(shard: usize, group: &str, shared: Arc<SurgeShared>, control: Option<Arc<Control>>) -> Self {
        SurgeLocal { shard, group: group.to_string(), shared, control, waiters: RefCell::new(VecDeque::new()) }
    }

    pub fn shared(&self) -> &Arc<SurgeShared> {
        &self.shared
    }

    /// Whether anyone waits in the group (any shard): arrivals then queue behind them.
    #[inline]
    pub fn anyone_waiting(&self) -> bool {
        self.shared.queued.load(SeqCst) > 0
    }

    /// Joins the queue (`cap` = the group's `surge_queue_length`), or is refused when it is full.
    pub fn join(self: &Rc<Self>, cap: u32) -> Result<Place, Refused> {
        let joined = self.shared.queued.fetch_update(SeqCst, SeqCst, |n| (n < cap).then_some(n + 1));
        let Ok(before) = joined else { return Err(Refused::Full) };
        self.shared.max.fetch_max(before + 1, SeqCst);
        let waiter = Rc::new(Waiter {
            ticket: self.shared.next_ticket.fetch_add(1, SeqCst),
            woken: Cell::new(false),
            waker: RefCell::new(None),
        });
        self.waiters.borrow_mut().push_back(waiter.clone());
        self.publish_head();
        Ok(Place { queue: self.clone(), waiter, left: false })
    }

    /// Publishes the ticket of this shard's oldest waiter.
    fn publish_head(&self) {
        let head = self.waiters.borrow().front().map_or(NO_WAITER, |w| w.ticket);
        self.shared.heads[self.shard].store(head, SeqCst);
    }

    /// Wakes this shard's oldest waiter; false when there is none.
    fn wake_head(&self) -> bool {
        let waiters = self.waiters.borrow();
        let Some(head) = waiters.front() else { return false };
        head.woken.set(true);
        if let Some(w) = head.waker.borrow_mut().take() {
            w.wake();
        }
        true
    }

    /// A slot of the group was just given back: hand it to the oldest waiter of the group, on
    /// this shard or another.
    #[inline]
    pub fn after_release(&self) {
        if self.shared.queued.load(SeqCst) == 0 {
            return;
        }
        self.hand_off();
    }

    #[cold]
    fn hand_off(&self) {
        match self.shared.oldest_shard() {
            Some(shard) if shard == self.shard => {
                self.wake_head();
            }
            Some(shard) => {
                if let Some(m) = self.control.as_ref().and_then(|c| c.mailboxes().get(shard)) {
                    let _ = m.send(Message::SurgeWake(self.group.clone()));
                }
            }
            // A waiter that has not published its ticket yet tries for a slot after publishing.
            None => {}
        }
    }

    /// Another shard handed a freed slot to this one.
    pub fn woken_by_another_shard(&self) {
        if !self.wake_head() {
            // The waiter it meant has left meanwhile: pass the slot on.
            self.hand_off();
        }
    }
}

/// A place in the queue. Leaving (by [`Place::leave`] or by being dropped, e.g. when the client
/// disconnects) frees it at once.
pub struct Place {
    queue: Rc<SurgeLocal>,
    waiter: Rc<Waiter>,
    left: bool,
}

impl Place {
    /// Whether this waiter is the oldest of its shard (only the head tries for a slot).
    pub fn is_head(&self) -> bool {
        self.queue.waiters.borrow().front().is_some_and(|w| Rc::ptr_eq(w, &self.waiter))
    }

    /// Completes when this waiter is woken (a slot may be free).
    pub fn woken(&self) -> Woken<'_> {
        Woken { waiter: &self.waiter }
    }

    /// Leaves the queue. `served`: it got a slot, so the next waiter of this shard may find one
    /// too (several slots freed at once); otherwise, if it was woken for a slot it no longer
    /// wants, the slot is handed on.
    pub fn leave(mut self, served: bool) {
        self.remove(served);
    }

    fn remove(&mut self, served: bool) {
        if self.left {
            return;
        }
        self.left = true;
        let was_head = self.is_head();
        let q = &self.queue;
        let was_woken = self.waiter.woken.get();
        q.waiters.borrow_mut().retain(|w| !Rc::ptr_eq(w, &self.waiter));
        q.shared.queued.fetch_sub(1, SeqCst);
        q.publish_head();
        if served || was_woken || was_head {
            // The next waiter tries as well: the freed capacity may be more than one slot, or
            // the slot this one was woken for is still free; and a new head takes over the
            // periodic look for capacity.
            if !q.wake_head() && was_woken && !served {
                q.hand_off();
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.remove(false);
    }
}

/// See [`Place::woken`].
pub struct Woken<'a> {
    waiter: &'a Waiter,
}

impl Future for Woken<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.waiter.woken.replace(false) {
            return Poll::Ready(());
        }
        *self.waiter.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}
