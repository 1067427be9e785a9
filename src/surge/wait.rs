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
        let nap = if place.is_head() { HEAD_RECHECK.min(deadline - now) } else { deadline - now };
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
