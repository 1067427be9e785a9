//! One shard's part of a group's surge queue: its waiters in arrival order, the places they
//! hold, and the hand-off of a freed slot to the oldest waiter of the group (on this shard, or
//! through a [`WakeShard`] on another).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{atomic::Ordering::SeqCst, Arc},
    task::{Context, Poll, Waker},
};

use super::{SurgeShared, NO_WAITER};

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
    /// The group's name (for the debug output) and its index in the target set in force (what
    /// a wake-up of another shard names; the shard updates it when a reload moves the group).
    group: String,
    index: Cell<usize>,
    shared: Arc<SurgeShared>,
    /// For waking another shard (none in benchmarks, which run one shard without a mailbox).
    waker: Option<Arc<dyn WakeShard>>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

/// How a shard hands a freed slot to the oldest waiter of a group when that waiter is on
/// another shard. The queue owns this trait so that it names nothing above it; the control
/// plane implements it with the shards' mailboxes. It must not allocate: it may be called once
/// per request while requests wait.
pub trait WakeShard: Send + Sync {
    /// Wake the oldest waiter of group `group` (its index in the target set in force) on
    /// shard `shard`.
    fn wake(&self, shard: usize, group: usize);
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
    /// Shard `shard`'s part of the queue of group `group` (at `index` in the target set), over
    /// the shared figures `shared`; `waker` reaches the other shards.
    pub fn new(
        shard: usize,
        group: &str,
        index: usize,
        shared: Arc<SurgeShared>,
        waker: Option<Arc<dyn WakeShard>>,
    ) -> Self {
        SurgeLocal {
            shard,
            group: group.to_string(),
            index: Cell::new(index),
            shared,
            waker,
            waiters: RefCell::new(VecDeque::new()),
        }
    }

    /// The group moved to `index` in the target set (a reload reordered the groups).
    pub fn set_index(&self, index: usize) {
        self.index.set(index);
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
                if let Some(waker) = &self.waker {
                    waker.wake(shard, self.index.get());
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
