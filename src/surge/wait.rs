//! A request's (or a TCP session's) wait for a slot: join the queue, try when at the head or
//! woken, give up at the queue timeout or when the client hangs up. The slot it gets is held by
//! a [`SlotGuard`], which gives it back and hands it on when dropped.
//!
//! The queue does not know how a slot is taken (which targets, which caps, which balancer):
//! the caller passes its own try ([`Try`]), the target group's pick under its caps.

use std::{
    rc::Rc,
    time::{Duration, Instant},
};

use monoio::net::TcpStream;

use super::{SlotCounter, SurgeLocal, HEAD_RECHECK};

/// What one try for a slot found.
pub enum Try<T> {
    /// A slot (and whatever the caller took with it).
    Got(T),
    /// No target may take work at all: waiting would not help.
    NoTarget,
    /// Every eligible target is at its cap: keep waiting.
    AllFull,
}

/// Why a request got no target after waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No target may take work: 503.
    NoTarget,
    /// The surge queue was full: 503 at once, `SpilloverCount` + 1.
    Spilled,
    /// Waited `queue_timeout` in the queue: 503.
    QueueTimeout,
    /// The client went away while queued: nothing to answer.
    ClientGone,
}

/// What holds a slot counter: the target a slot was taken on.
pub trait SlotOwner {
    fn slot_counter(&self) -> &SlotCounter;
}

/// A slot of `max_connections_per_target` held on a target; given back (and handed to the
/// oldest waiter of the group) when dropped.
pub struct SlotGuard {
    owner: Rc<dyn SlotOwner>,
    surge: Rc<SurgeLocal>,
}

impl SlotGuard {
    /// Holds a slot already taken on `owner`'s counter (`SlotCounter::try_acquire`).
    pub fn new(owner: Rc<dyn SlotOwner>, surge: Rc<SurgeLocal>) -> Self {
        SlotGuard { owner, surge }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.owner.slot_counter().release();
        self.surge.after_release();
    }
}

/// Waits in `queue` (capped at `queue_length` over all shards) for `try_slot` to get a slot,
/// for at most `queue_timeout`, watching `client` so that one that disconnects leaves at once.
/// Returns what the try got and how long the wait took.
pub async fn wait_for_slot<T>(
    queue: &Rc<SurgeLocal>,
    queue_length: u32,
    queue_timeout: Duration,
    client: &TcpStream,
    try_slot: impl FnMut() -> Try<T>,
) -> Result<(T, Duration), Refusal> {
    wait_with_recheck(queue, queue_length, queue_timeout, client, HEAD_RECHECK, try_slot).await
}

/// [`wait_for_slot`] with the head's periodic look every `recheck`. The tests set it beyond
/// their time limit, so that only a hand-off can serve a waiter: a lost wake-up then shows as
/// a waiter that times out instead of one the periodic look rescues.
pub(super) async fn wait_with_recheck<T>(
    queue: &Rc<SurgeLocal>,
    queue_length: u32,
    queue_timeout: Duration,
    client: &TcpStream,
    recheck: Duration,
    mut try_slot: impl FnMut() -> Try<T>,
) -> Result<(T, Duration), Refusal> {
    let place = match queue.join(queue_length) {
        Ok(place) => place,
        Err(_) => return Err(Refusal::Spilled),
    };
    let joined = Instant::now();
    let deadline = joined + queue_timeout;
    let mut watch_client = true;
    loop {
        if place.is_head() {
            match try_slot() {
                Try::Got(got) => {
                    place.leave(true);
                    return Ok((got, joined.elapsed()));
                }
                Try::NoTarget => return Err(Refusal::NoTarget),
                Try::AllFull => {}
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Refusal::QueueTimeout);
        }
        let nap = if place.is_head() { recheck.min(deadline - now) } else { deadline - now };
        monoio::select! {
            _ = place.woken() => {}
            _ = monoio::time::sleep(nap) => {}
            gone = client_hangs_up(client), if watch_client => {
                if gone {
                    return Err(Refusal::ClientGone);
                }
                watch_client = false;
            }
        }
    }
}

/// Completes with `true` when the client closed (or reset) its connection, `false` when it sent
/// bytes (a pipelined request, or the start of a TCP stream: it is still there, and readiness
/// would keep firing, so the caller stops watching).
async fn client_hangs_up(client: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    loop {
        if client.readable(false).await.is_err() {
            return true;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a valid local.
        let n = unsafe {
            libc::recv(client.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        };
        match n {
            0 => return true,
            n if n > 0 => return false,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => continue,
            _ => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, io::Write, sync::Arc};

    use super::{
        super::{
            testing::{client, on_both_drivers, Target},
            SurgeShared,
        },
        *,
    };

    /// One shard's queue of a group, alone (no other shard to wake).
    fn queue() -> Rc<SurgeLocal> {
        Rc::new(SurgeLocal::new(0, "g", 0, Arc::new(SurgeShared::new(1)), None))
    }

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn a_free_slot_is_taken_at_once() {
        on_both_drivers(|| async {
            let (q, (conn, _peer)) = (queue(), client());
            let (got, waited) = wait_for_slot(&q, 4, LONG, &conn, || Try::Got(7)).await.unwrap();
            assert_eq!(got, 7);
            assert!(waited < Duration::from_millis(50), "waited {waited:?}");
            assert_eq!((q.shared().length(), q.shared().length_max()), (0, 1));
        });
    }

    #[test]
    fn a_full_queue_spills_without_trying() {
        on_both_drivers(|| async {
            let (q, (conn, _peer)) = (queue(), client());
            let tries = Cell::new(0);
            let r = wait_for_slot(&q, 0, LONG, &conn, || {
                tries.set(tries.get() + 1);
                Try::Got(())
            })
            .await;
            assert_eq!(r.err(), Some(Refusal::Spilled));
            assert_eq!(tries.get(), 0);
            assert_eq!(q.shared().length_max(), 0, "a spilled request never counted as queued");
        });
    }

    #[test]
    fn no_target_ends_the_wait_and_frees_the_place() {
        on_both_drivers(|| async {
            let (q, (conn, _peer)) = (queue(), client());
            let r = wait_for_slot(&q, 4, LONG, &conn, || Try::<()>::NoTarget).await;
            assert_eq!(r.err(), Some(Refusal::NoTarget));
            assert_eq!(q.shared().length(), 0);
        });
    }

    #[test]
    fn a_waiter_times_out_at_queue_timeout_and_its_head_looks_meanwhile() {
        on_both_drivers(|| async {
            let (q, (conn, _peer)) = (queue(), client());
            let timeout = Duration::from_millis(250);
            let tries = Cell::new(0);
            let started = Instant::now();
            let r = wait_for_slot(&q, 4, timeout, &conn, || {
                tries.set(tries.get() + 1);
                Try::<()>::AllFull
            })
            .await;
            let took = started.elapsed();
            assert_eq!(r.err(), Some(Refusal::QueueTimeout));
            assert!(took >= timeout && took < timeout + Duration::from_secs(1), "timed out after {took:?}");
            // At arrival, then every HEAD_RECHECK without any release: capacity can appear
            // without one (a target registered or healthy again).
            assert!(tries.get() >= 2, "{} tries in {took:?}", tries.get());
            assert_eq!(q.shared().length(), 0);
        });
    }

    #[test]
    fn a_client_that_hangs_up_leaves_the_queue_at_once() {
        on_both_drivers(|| async {
            let (q, (conn, peer)) = (queue(), client());
            drop(peer);
            let started = Instant::now();
            let r = wait_for_slot(&q, 4, LONG, &conn, || Try::<()>::AllFull).await;
            assert_eq!(r.err(), Some(Refusal::ClientGone));
            assert!(started.elapsed() < Duration::from_secs(2), "left after {:?}", started.elapsed());
            assert_eq!(q.shared().length(), 0);
        });
    }

    #[test]
    fn a_client_that_sends_more_keeps_its_place() {
        // A pipelined request (or a TCP client's first bytes) is not a hang-up.
        on_both_drivers(|| async {
            let (q, (conn, mut peer)) = (queue(), client());
            peer.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let tries = Cell::new(0);
            let r = wait_for_slot(&q, 4, LONG, &conn, || {
                tries.set(tries.get() + 1);
                if tries.get() < 3 {
                    Try::AllFull
                } else {
                    Try::Got(())
                }
            })
            .await;
            assert!(r.is_ok(), "{:?}", r.err());
        });
    }

    #[test]
    fn a_released_slot_is_handed_to_the_waiter() {
        // With the periodic look out of the way, only the hand-off of the released slot can
        // serve the waiter before its timeout.
        on_both_drivers(|| async {
            let (q, (conn, _peer)) = (queue(), client());
            let target = Rc::new(Target::default());
            assert!(target.0.try_acquire(1));
            let held = SlotGuard::new(target.clone(), q.clone());
            let released = Rc::new(Cell::new(None));
            monoio::spawn({
                let released = released.clone();
                async move {
                    monoio::time::sleep(Duration::from_millis(50)).await;
                    drop(held);
                    released.set(Some(Instant::now()));
                }
            });
            let timeout = Duration::from_secs(3);
            let r = wait_with_recheck(&q, 4, timeout, &conn, LONG, || {
                if target.0.try_acquire(1) {
                    Try::Got(SlotGuard::new(target.clone(), q.clone()))
                } else {
                    Try::AllFull
                }
            })
            .await;
            let (guard, waited) = r.expect("the released slot never reached the waiter");
            let handed_after = released.get().expect("released").elapsed();
            assert!(handed_after < Duration::from_millis(500), "served {handed_after:?} after the release");
            assert!(waited >= Duration::from_millis(40), "served before the release ({waited:?})");
            assert_eq!(target.0.in_use(), 1);
            drop(guard);
            assert_eq!(target.0.in_use(), 0, "a guard gives its slot back");
        });
    }
}
