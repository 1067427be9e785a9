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

#[cfg(test)]
mod tests {
    use std::{
        pin::pin,
        sync::{
            atomic::{AtomicUsize, Ordering::SeqCst},
            Mutex,
        },
        task::Wake,
    };

    use super::*;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A [`WakeShard`] that records what it is asked to wake.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(usize, usize)>>);

    impl WakeShard for Recorder {
        fn wake(&self, shard: usize, group: usize) {
            self.0.lock().unwrap().push((shard, group));
        }
    }

    impl Recorder {
        fn taken(&self) -> Vec<(usize, usize)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    /// `shards` shards' parts of one group's queue (group index 3), with a recorder for the
    /// wake-ups sent between them.
    fn queues(shards: usize) -> (Vec<Rc<SurgeLocal>>, Arc<Recorder>) {
        let shared = Arc::new(SurgeShared::new(shards));
        let recorder = Arc::new(Recorder::default());
        let queues = (0..shards)
            .map(|s| {
                let waker: Arc<dyn WakeShard> = recorder.clone();
                Rc::new(SurgeLocal::new(s, "g", 3, shared.clone(), Some(waker)))
            })
            .collect();
        (queues, recorder)
    }

    /// Polls the place's wake-up once with a counting waker: whether it was woken, and the
    /// waker (which counts the wake-ups that come later).
    fn poll_woken(place: &Place) -> (bool, Arc<Count>) {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let ready = pin!(place.woken()).poll(&mut Context::from_waker(&waker)).is_ready();
        (ready, count)
    }

    fn woken(place: &Place) -> bool {
        poll_woken(place).0
    }

    #[test]
    fn places_are_counted_and_a_full_queue_refuses() {
        let (q, _) = queues(1);
        let a = q[0].join(2).unwrap();
        let b = q[0].join(2).unwrap();
        assert!(q[0].anyone_waiting());
        assert_eq!(q[0].join(2).err(), Some(Refused::Full));
        assert_eq!((q[0].shared().length(), q[0].shared().length_max()), (2, 2));
        drop(a);
        assert_eq!(q[0].shared().length(), 1, "a dropped place is free at once");
        let c = q[0].join(2).expect("the freed place is taken");
        b.leave(false);
        c.leave(false);
        assert_eq!((q[0].shared().length(), q[0].shared().length_max()), (0, 2));
        assert!(!q[0].anyone_waiting());
        assert_eq!(q[0].join(0).err(), Some(Refused::Full), "a queue of length 0 spills at once");
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let (q, _) = queues(1);
        let mut places: std::collections::VecDeque<Place> = (0..4).map(|_| q[0].join(10).unwrap()).collect();
        while let Some(head) = places.pop_front() {
            assert!(head.is_head());
            assert!(places.iter().all(|p| !p.is_head()), "only the oldest is the head");
            head.leave(true);
        }
    }

    #[test]
    fn a_release_with_nobody_waiting_wakes_nobody() {
        let (q, recorder) = queues(2);
        q[0].after_release();
        q[1].after_release();
        assert!(recorder.taken().is_empty());
    }

    #[test]
    fn a_release_wakes_exactly_the_oldest_waiter_of_its_shard() {
        let (q, recorder) = queues(1);
        let (a, b) = (q[0].join(10).unwrap(), q[0].join(10).unwrap());
        let (a_ready, a_waker) = poll_woken(&a);
        let (b_ready, b_waker) = poll_woken(&b);
        assert!(!a_ready && !b_ready, "nobody is woken before a release");
        q[0].after_release();
        assert_eq!((a_waker.0.load(SeqCst), b_waker.0.load(SeqCst)), (1, 0), "one release, one wake-up");
        assert!(woken(&a));
        assert!(!woken(&b));
        assert!(!woken(&a), "a wake-up is consumed by the poll that sees it");
        assert!(recorder.taken().is_empty(), "no other shard was involved");
    }

    #[test]
    fn a_waiter_that_got_a_slot_wakes_the_next_one() {
        // Several slots freed at once: the first waiter served passes the word on.
        let (q, _) = queues(1);
        let (a, b, c) = (q[0].join(10).unwrap(), q[0].join(10).unwrap(), q[0].join(10).unwrap());
        q[0].after_release();
        assert!(woken(&a));
        a.leave(true);
        assert!(woken(&b));
        assert!(!woken(&c));
    }

    #[test]
    fn a_dropped_head_frees_its_place_and_the_next_takes_over() {
        let (q, _) = queues(1);
        let (a, b) = (q[0].join(10).unwrap(), q[0].join(10).unwrap());
        drop(a); // the client hung up
        assert_eq!(q[0].shared().length(), 1);
        assert!(b.is_head());
        assert!(woken(&b), "the new head is woken, to try and to take over the periodic look");
    }

    #[test]
    fn a_dropped_waiter_behind_the_head_wakes_nobody() {
        let (q, _) = queues(1);
        let (a, b, c) = (q[0].join(10).unwrap(), q[0].join(10).unwrap(), q[0].join(10).unwrap());
        drop(b);
        assert_eq!(q[0].shared().length(), 2);
        assert!(!woken(&a) && !woken(&c));
        a.leave(true);
        assert!(c.is_head());
    }

    #[test]
    fn a_freed_slot_goes_to_the_shard_with_the_oldest_waiter() {
        let (q, recorder) = queues(2);
        let older = q[1].join(10).unwrap();
        let younger = q[0].join(10).unwrap();
        q[0].after_release();
        assert_eq!(recorder.taken(), vec![(1, 3)], "shard 1 is told, for group index 3");
        assert!(!woken(&younger), "the younger waiter on the releasing shard waits on");
        q[1].woken_by_another_shard();
        assert!(woken(&older));
        drop((older, younger));
    }

    #[test]
    fn a_waiter_woken_for_a_slot_it_no_longer_wants_hands_it_on() {
        // Shard 0's only waiter is woken for a slot, then its client hangs up: the slot goes to
        // the oldest waiter left, on shard 1.
        let (q, recorder) = queues(2);
        let a = q[0].join(10).unwrap();
        let b = q[1].join(10).unwrap();
        q[0].after_release();
        assert!(recorder.taken().is_empty(), "shard 0's waiter is the oldest");
        drop(a);
        assert_eq!(recorder.taken(), vec![(1, 3)], "the slot was dropped with the waiter");
        drop(b);
    }

    #[test]
    fn a_wake_up_from_another_shard_that_finds_nobody_is_passed_on() {
        let (q, recorder) = queues(2);
        let a = q[0].join(10).unwrap();
        // Shard 1 was told to wake its head, but that waiter left meanwhile.
        q[1].woken_by_another_shard();
        assert_eq!(recorder.taken(), vec![(0, 3)]);
        q[0].woken_by_another_shard();
        assert!(woken(&a));
        assert!(recorder.taken().is_empty());
    }

    #[test]
    fn a_wake_up_names_the_group_where_a_reload_moved_it() {
        let (q, recorder) = queues(2);
        let b = q[1].join(10).unwrap();
        q[0].set_index(5);
        q[0].after_release();
        assert_eq!(recorder.taken(), vec![(1, 5)]);
        drop(b);
    }
}
