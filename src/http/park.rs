//! Parking idle keep-alive connections: an HTTP connection that has waited over [`PARK_AFTER`]
//! for its next request stops being a task and becomes a small record in its shard's lot.
//!
//! Why: a waiting session task holds its whole future (the request flow's state machine, about
//! 1.8 KiB), a pending readiness operation and a timer, about 4.7 KiB per connection in all
//! (docs/benchmarks.md, "Memory"). Most keep-alive connections of a busy site are idle most of
//! the time; parked, one costs its record (under 100 bytes) and an entry in the lot's epoll set
//! (kernel memory). Busy connections never park: a request arriving within `PARK_AFTER` is
//! served by the task as before, so the request path is unchanged.
//!
//! How:
//! - the lot has one epoll instance; a parked socket is added with `EPOLLIN | EPOLLRDHUP |
//!   EPOLLONESHOT`, keyed by its slot and a generation (a stale event for a reused slot is
//!   ignored). The socket is a `dup` of the session's: the session's own descriptor may still
//!   be named by a cancelled io_uring operation, and is closed by the runtime in its own time;
//! - one task per shard ([`serve_lot`]) waits for the epoll descriptor to be readable (through
//!   the shard's driver), takes every ready connection out (`EPOLL_CTL_DEL`) and starts a
//!   session task for it, which reads the request that woke it;
//! - the same task sweeps every [`SWEEP_EVERY`]: a connection still parked at its idle deadline
//!   (`idle_timeout` after it went idle) is closed silently, as a waiting task would have; once
//!   the shard drains, parked connections get the drain's grace and are closed then;
//! - a parked connection keeps its session guard, so the connection cap, `ActiveConnectionCount`
//!   and the drain's count of open sessions see it exactly as before;
//! - when the shard closes, the lot is emptied (every parked socket closed);
//! - after many connections park, or wake (a woken one that its client had closed ends at
//!   once), the shard gives back what their tasks freed: its stock of spare scratches is
//!   emptied, and the allocator is asked to return free pages to the system (`memory.rs`).
//!   Without it a burst of connections that then go idle, or go away, leaves the shard's RSS at
//!   the burst's peak, as no later allocation would make the allocator purge. What counts is
//!   the net change (parked minus woken) since the last release: in steady traffic parks and
//!   wakes balance, and what one task frees the next reuses, so nothing is worth releasing. A
//!   release is due at most every [`RELEASE_EVERY`]: once the burst is over (a sweep saw no
//!   change) and the net change is [`RELEASE_AFTER_QUIET`] or more, or while it goes on once
//!   the net change reaches [`RELEASE_DURING_BURST`].
//!
//! TLS connections do not park (their rustls state would have to be kept anyway). Where epoll
//! cannot be set up, nothing parks and connections wait as tasks.

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    rc::Rc,
    time::{Duration, Instant},
};

use tracing::debug;

use super::{resources::HttpContext, session};
use crate::context::{ClientAddrs, SessionGuard};

/// An HTTP connection idle this long for its next request is parked.
pub const PARK_AFTER: Duration = Duration::from_secs(1);
/// How often the lot closes parked connections past their idle deadline.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Ready connections taken from epoll per call.
const READY_BATCH: usize = 64;
/// Net change of parked connections since the last release that makes a sweep release memory
/// once a sweep saw no change (the burst is over)...
pub const RELEASE_AFTER_QUIET: usize = 32;
/// ... and that makes one release while the burst goes on.
pub const RELEASE_DURING_BURST: usize = 4096;
/// Least time between two releases (each walks the shard's heap).
pub const RELEASE_EVERY: Duration = Duration::from_secs(1);
/// Spare scratches a shard keeps through a release: none, as each one left in the stock pins
/// the allocator pages its buffers sit on (with 16 kept, 10,000 parked connections cost 0.8 to
/// 1.3 KiB each instead of 0.65); busy connections refill the stock as they need it.
const SCRATCHES_KEPT: usize = 0;

/// One parked connection.
struct Parked {
    stream: std::net::TcpStream,
    /// The client (its PROXY header's address, on an `accept_proxy` listener).
    peer: SocketAddr,
    /// The address the client connected to, when a PROXY header named it: boxed, so that the
    /// record of the common connection (no header) stays small (see the size test below).
    proxied_local: Option<Box<SocketAddr>>,
    guard: SessionGuard,
    /// Closed if still parked at this moment.
    deadline: Instant,
    generation: u32,
}

/// A shard's parked connections.
#[derive(Default)]
pub struct ParkingLot {
    epoll: Option<OwnedFd>,
    /// Whether the lot's task runs (parking needs it to wake connections up).
    serving: Cell<bool>,
    slots: RefCell<Vec<Option<Parked>>>,
    free: RefCell<Vec<usize>>,
    generation: Cell<u32>,
    /// Parked connections now.
    len: Cell<usize>,
    /// Once the shard drains: the moment the drain's grace runs out; no connection stays parked
    /// past it, whether it was parked before the drain began or after.
    drain_deadline: Cell<Option<Instant>>,
    /// Connections parked minus connections woken since memory was last released, and when
    /// that was.
    net_since_release: Cell<isize>,
    /// `net_since_release` as the previous sweep saw it (unchanged since: the burst is over).
    net_seen: Cell<isize>,
    last_release: Cell<Option<Instant>>,
}

impl ParkingLot {
    /// A lot with its epoll instance (or one that never parks, when epoll is unavailable).
    pub fn new() -> ParkingLot {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        // SAFETY: a new descriptor nothing else owns.
        let epoll = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        ParkingLot { epoll, ..Default::default() }
    }

    /// Whether connections may be parked now.
    pub fn enabled(&self) -> bool {
        self.epoll.is_some() && self.serving.get()
    }

    /// Parked connections now.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks `stream` until it is readable or `deadline` passes. On any failure the connection
    /// is closed, as an idle timeout would close it.
    pub(crate) fn park(
        &self,
        stream: monoio::net::TcpStream,
        peer: ClientAddrs,
        guard: SessionGuard,
        deadline: Instant,
    ) {
        // Not served (the shard is closing and the lot was emptied): close it now rather than
        // keep a record nobody will wake or sweep.
        let Some(epoll) = self.epoll.as_ref().filter(|_| self.serving.get()) else { return };
        // SAFETY: duplicating a descriptor the stream owns; the duplicate is owned below.
        let fd = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        drop(stream);
        if fd < 0 {
            return;
        }
        // SAFETY: a new descriptor nothing else owns.
        let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        let slot = match self.free.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(None);
                slots.len() - 1
            }
        };
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
            u64: key(slot, generation),
        };
        // SAFETY: valid descriptors and a valid event.
        if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            self.free.borrow_mut().push(slot);
            return;
        }
        // Parked after the drain began: its grace applies as to those parked before.
        let deadline = self.drain_deadline.get().map_or(deadline, |end| deadline.min(end));
        self.slots.borrow_mut()[slot] = Some(Parked {
            stream,
            peer: peer.peer,
            proxied_local: peer.local.map(Box::new),
            guard,
            deadline,
            generation,
        });
        self.len.set(self.len.get() + 1);
        self.moved(1);
    }

    /// Counts `n` connections parked (positive) or woken (negative) towards the next release.
    fn moved(&self, n: isize) {
        self.net_since_release.set(self.net_since_release.get() + n);
    }

    /// Whether enough connections have parked or woken since the last release to make another
    /// worth a walk of the heap (see the module docs); if so, the release is counted as done.
    fn release_due(&self, now: Instant) -> bool {
        let net = self.net_since_release.get();
        let quiet = self.net_seen.replace(net) == net;
        let change = net.unsigned_abs();
        let recent = self.last_release.get().is_some_and(|at| now.duration_since(at) < RELEASE_EVERY);
        let enough = change >= RELEASE_DURING_BURST || (quiet && change >= RELEASE_AFTER_QUIET);
        if recent || !enough {
            return false;
        }
        self.net_since_release.set(0);
        self.net_seen.set(0);
        self.last_release.set(Some(now));
        true
    }

    /// Takes the connection of `slot` out of the lot (and out of the epoll set).
    fn take(&self, slot: usize) -> Option<Parked> {
        let parked = self.slots.borrow_mut().get_mut(slot)?.take()?;
        if let Some(epoll) = &self.epoll {
            // SAFETY: valid descriptors; DEL ignores the event argument.
            unsafe {
                libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, parked.stream.as_raw_fd(), std::ptr::null_mut())
            };
        }
        self.free.borrow_mut().push(slot);
        self.len.set(self.len.get() - 1);
        Some(parked)
    }

    /// The connections that became readable (or were closed by their client).
    fn take_ready(&self) -> Vec<Parked> {
        let Some(epoll) = &self.epoll else { return Vec::new() };
        let mut ready = Vec::new();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; READY_BATCH];
        loop {
            // SAFETY: `events` has room for READY_BATCH entries; timeout 0 does not block.
            let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), READY_BATCH as i32, 0) };
            if n <= 0 {
                return ready;
            }
            for e in &events[..n as usize] {
                let (slot, generation) = unkey(e.u64);
                let current = self.slots.borrow().get(slot).and_then(|p| p.as_ref().map(|p| p.generation));
                if current == Some(generation) {
                    ready.extend(self.take(slot));
                    self.moved(-1);
                }
            }
            if (n as usize) < READY_BATCH {
                return ready;
            }
        }
    }

    /// Closes the connections past their deadline (with the drain's grace once draining).
    fn sweep(&self, now: Instant, draining: Option<Duration>) {
        if let (Some(grace), None) = (draining, self.drain_deadline.get()) {
            self.drain_deadline.set(Some(now + grace));
            for p in self.slots.borrow_mut().iter_mut().flatten() {
                p.deadline = p.deadline.min(now + grace);
            }
        }
        let slots = self.slots.borrow().len();
        for slot in 0..slots {
            let expired = self.slots.borrow()[slot].as_ref().is_some_and(|p| p.deadline <= now);
            if expired {
                drop(self.take(slot));
            }
        }
    }

    /// Closes every parked connection (the shard is ending).
    fn clear(&self) {
        let slots = self.slots.borrow().len();
        for slot in 0..slots {
            drop(self.take(slot));
        }
    }
}

fn key(slot: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | slot as u64
}

fn unkey(k: u64) -> (usize, u32) {
    ((k & 0xffff_ffff) as usize, (k >> 32) as u32)
}

/// The lot's task: wakes parked connections that became readable, sweeps the expired ones,
/// and empties the lot when the shard closes.
pub async fn serve_lot(shard: Rc<HttpContext>, drain_grace: Duration) {
    let lot = &shard.http.parking;
    let Some(epoll) = &lot.epoll else { return };
    let waker = match wait_handle(epoll.as_raw_fd()) {
        Ok(w) => w,
        Err(e) => {
            debug!(shard = shard.id, error = %e, "no parking of idle connections");
            return;
        }
    };
    lot.serving.set(true);
    loop {
        let woke = monoio::select! {
            r = waker.readable(false) => r.is_ok(),
            _ = monoio::time::sleep(SWEEP_EVERY) => true,
            _ = shard.closing() => false,
        };
        if !woke {
            lot.serving.set(false);
            lot.clear();
            return;
        }
        for p in lot.take_ready() {
            match monoio::net::TcpStream::from_std(p.stream) {
                Ok(stream) => {
                    let peer = ClientAddrs { peer: p.peer, local: p.proxied_local.map(|l| *l) };
                    session::spawn_plain(shard.clone(), p.guard, stream, peer)
                }
                Err(e) => debug!(error = %e, "cannot resume a parked connection"),
            }
        }
        let now = Instant::now();
        lot.sweep(now, shard.draining().then_some(drain_grace));
        if lot.release_due(now) {
            let started = Instant::now();
            shard.http.scratch.trim(SCRATCHES_KEPT);
            crate::memory::release_free_pages();
            let took_us = started.elapsed().as_micros() as u64;
            debug!(shard = shard.id, parked = lot.len(), took_us, "released memory after connections parked or woke");
        }
    }
}

/// The epoll descriptor as something the shard's driver can wait on for readability. monoio
/// has no type for a bare descriptor; a Unix stream handle of a duplicate serves (only
/// readiness is ever asked of it, and dropping it closes the duplicate only).
fn wait_handle(epoll: RawFd) -> std::io::Result<monoio::net::UnixStream> {
    // SAFETY: duplicating a descriptor the lot owns; the duplicate is owned by the handle.
    let fd = unsafe { libc::fcntl(epoll, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    monoio::net::UnixStream::from_std(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moves(lot: &ParkingLot, n: isize) {
        lot.moved(n);
    }

    const QUIET: isize = RELEASE_AFTER_QUIET as isize;
    const BURST: isize = RELEASE_DURING_BURST as isize;

    #[test]
    fn a_burst_releases_once_it_is_large_or_over() {
        let lot = ParkingLot::new();
        let t0 = Instant::now();
        // Still parking: not yet.
        moves(&lot, QUIET);
        assert!(!lot.release_due(t0));
        // A burst large enough while it goes on: due, and counted as done.
        moves(&lot, BURST);
        assert!(lot.release_due(t0));
        assert!(!lot.release_due(t0), "nothing moved since");
        // More within RELEASE_EVERY of the last: not before it has passed.
        moves(&lot, BURST);
        assert!(!lot.release_due(t0 + RELEASE_EVERY / 2));
        assert!(lot.release_due(t0 + RELEASE_EVERY));
        // The end of a burst: some parked, then a sweep that sees no change.
        let t1 = t0 + 3 * RELEASE_EVERY;
        moves(&lot, QUIET);
        assert!(!lot.release_due(t1), "moved since the last sweep");
        assert!(lot.release_due(t1 + SWEEP_EVERY), "quiet for a sweep");
        // A mass wake (clients closing) counts the same way.
        let t2 = t1 + 3 * RELEASE_EVERY;
        moves(&lot, -BURST);
        assert!(lot.release_due(t2));
        // Below the quiet threshold nothing is worth a walk of the heap.
        let t3 = t2 + 3 * RELEASE_EVERY;
        moves(&lot, QUIET - 1);
        assert!(!lot.release_due(t3));
        assert!(!lot.release_due(t3 + SWEEP_EVERY));
    }

    #[test]
    fn steady_parking_and_waking_releases_nothing() {
        let lot = ParkingLot::new();
        let t0 = Instant::now();
        for round in 0..100u32 {
            // Many park and as many wake between two sweeps: no net change.
            moves(&lot, BURST);
            moves(&lot, -BURST);
            assert!(!lot.release_due(t0 + round * SWEEP_EVERY), "round {round}");
        }
    }

    #[test]
    fn a_parked_record_is_small() {
        // What a parked connection costs the process (besides its slot in the epoll set,
        // which is kernel memory): docs/benchmarks.md, "Memory", counts on it.
        let size = std::mem::size_of::<Option<Parked>>();
        println!("a parked record: {size} bytes");
        assert!(size <= 96, "{size}");
    }
}
