//! The no-lost-wake-up argument of `mod.rs`, under load. Two shards on two threads, each with
//! its own monoio runtime (one io_uring where the kernel offers it, one epoll), share one
//! group's queue figures and one target's slot counter with a cap of one; a [`WakeShard`]
//! forwards hand-offs between them through channels, as the shards' mailboxes do. Many
//! waiters on both shards take the slots in turns, arriving as requests do (straight to a free
//! slot when nobody waits, else into the queue).
//!
//! The head's periodic look is pushed beyond the test's time limit, so only hand-offs serve
//! waiters: a wake-up lost anywhere (a release that misses a waiter that just joined, a
//! hand-off that reaches the other shard before the slot is free) leaves a waiter stuck until
//! its queue timeout, and the test fails with `QueueTimeout`. The cap is one because with more
//! slots the next release of another slot wakes the stuck head again and hides the loss: with
//! one, a lost wake-up leaves the only slot free and every waiter waiting.

use std::{
    pin::Pin,
    rc::Rc,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_channel::mpsc;
use futures_core::Stream;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::{
    testing::{client, yield_now, Target},
    wait::wait_with_recheck,
    Refusal, SlotCounter, SlotGuard, SurgeLocal, SurgeShared, Try, WakeShard,
};

const SHARDS: usize = 2;
const CAP: u32 = 1;
/// All waiters of both shards must be done within this (about 2 s when nothing is lost).
const BOUND: Duration = Duration::from_secs(30);
/// Waiters per shard, each with its own client connection, and the slots each takes in turn.
const WAITERS: usize = 64;
const ROUNDS: usize = 60;
/// A waiter whose wake-up was lost waits this long, then fails the test.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// The head's periodic look: never, within the test.
const NO_RECHECK: Duration = Duration::from_secs(3600);

/// Hand-offs to another shard, through that shard's channel.
struct Forward {
    shards: Vec<mpsc::UnboundedSender<usize>>,
    sent: AtomicUsize,
}

impl WakeShard for Forward {
    fn wake(&self, shard: usize, group: usize) {
        self.sent.fetch_add(1, SeqCst);
        self.shards[shard].unbounded_send(group).expect("the other shard's channel is open");
    }
}

/// What every shard shares.
#[derive(Clone)]
struct Shared {
    queue: Arc<SurgeShared>,
    slots: Arc<SlotCounter>,
    forward: Arc<Forward>,
    /// Set if a waiter holding a slot ever saw more than `CAP` in use.
    over_cap: Arc<AtomicBool>,
    served_after_waiting: Arc<AtomicUsize>,
}

#[test]
fn two_shards_sharing_a_cap_lose_no_wake_up() {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..SHARDS).map(|_| mpsc::unbounded()).unzip();
    let shared = Shared {
        queue: Arc::new(SurgeShared::new(SHARDS)),
        slots: Arc::default(),
        forward: Arc::new(Forward { shards: senders, sent: AtomicUsize::new(0) }),
        over_cap: Arc::default(),
        served_after_waiting: Arc::default(),
    };
    let started = Instant::now();
    let (done_tx, done) = std::sync::mpsc::channel();
    for (shard, mailbox) in receivers.into_iter().enumerate() {
        let (shared, done_tx) = (shared.clone(), done_tx.clone());
        std::thread::spawn(move || done_tx.send((shard, run_shard(shard, shared, mailbox))).unwrap());
    }
    let mut outcomes = vec![Vec::new(); SHARDS];
    for _ in 0..SHARDS {
        let left = BOUND.saturating_sub(started.elapsed());
        let (shard, outcome) =
            done.recv_timeout(left).unwrap_or_else(|_| panic!("waiters still waiting after {BOUND:?}"));
        outcomes[shard] = outcome;
    }
    let took = started.elapsed();
    for (shard, outcome) in outcomes.iter().enumerate() {
        let failed: Vec<_> = outcome.iter().filter_map(|r| r.err()).collect();
        assert!(failed.is_empty(), "shard {shard}: {} waiters not served: {failed:?}", failed.len());
        assert_eq!(outcome.len(), WAITERS);
    }
    assert!(!shared.over_cap.load(SeqCst), "more than {CAP} slots in use at once");
    assert_eq!(shared.slots.in_use(), 0, "every slot given back");
    assert_eq!(shared.queue.length(), 0, "every place given back");
    let (waited, forwarded) = (shared.served_after_waiting.load(SeqCst), shared.forward.sent.load(SeqCst));
    println!(
        "{} slots taken in {took:?}: {waited} after waiting, {forwarded} handed to the other shard",
        SHARDS * WAITERS * ROUNDS
    );
    assert!(waited > SHARDS * WAITERS, "the queue was hardly used: {waited} waits");
    assert!(forwarded > 0, "no hand-off crossed shards");
}

/// One shard: its waiters, and the task that applies hand-offs from the other shard.
fn run_shard(shard: usize, shared: Shared, mailbox: mpsc::UnboundedReceiver<usize>) -> Vec<Result<(), Refusal>> {
    let work = move || serve(shard, shared, mailbox);
    if shard == 0 {
        if let Ok(mut rt) = RuntimeBuilder::<IoUringDriver>::new().enable_timer().build() {
            return rt.block_on(work());
        }
    }
    RuntimeBuilder::<LegacyDriver>::new().enable_timer().build().expect("an epoll runtime").block_on(work())
}

async fn serve(shard: usize, shared: Shared, mut mailbox: mpsc::UnboundedReceiver<usize>) -> Vec<Result<(), Refusal>> {
    let forward: Arc<dyn WakeShard> = shared.forward.clone();
    let local = Rc::new(SurgeLocal::new(shard, "g", 0, shared.queue.clone(), Some(forward)));
    monoio::spawn({
        let local = local.clone();
        async move {
            while let Some(group) = std::future::poll_fn(|cx| Pin::new(&mut mailbox).poll_next(cx)).await {
                assert_eq!(group, 0);
                local.woken_by_another_shard();
            }
        }
    });
    let target = Rc::new(Target(shared.slots.clone()));
    let waiters: Vec<_> =
        (0..WAITERS).map(|w| monoio::spawn(waiter(w, local.clone(), target.clone(), shared.clone()))).collect();
    let mut outcomes = Vec::with_capacity(WAITERS);
    for w in waiters {
        outcomes.push(w.await);
    }
    outcomes
}

/// Takes a slot `ROUNDS` times, holding it briefly each time (across a timer tick every
/// eighth time, so that queues form on both shards).
async fn waiter(w: usize, local: Rc<SurgeLocal>, target: Rc<Target>, shared: Shared) -> Result<(), Refusal> {
    let (conn, _peer) = client();
    let take = || target.0.try_acquire(CAP).then(|| SlotGuard::new(target.clone(), local.clone()));
    for round in 0..ROUNDS {
        let direct = if local.anyone_waiting() { None } else { take() };
        let guard = match direct {
            Some(guard) => guard,
            None => {
                let try_slot = || take().map_or(Try::AllFull, Try::Got);
                let (guard, _) =
                    wait_with_recheck(&local, u32::MAX, QUEUE_TIMEOUT, &conn, NO_RECHECK, try_slot).await?;
                shared.served_after_waiting.fetch_add(1, SeqCst);
                guard
            }
        };
        if shared.slots.in_use() > CAP {
            shared.over_cap.store(true, SeqCst);
        }
        if (w + round) % 8 == 0 {
            monoio::time::sleep(Duration::from_millis(1)).await;
        } else {
            yield_now().await;
        }
        drop(guard);
        yield_now().await;
    }
    Ok(())
}
