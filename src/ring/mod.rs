//! The HTTP data path on the shard's io_uring ring: multishot receives into a provided-buffer
//! ring, and sends as submission entries, all riding on the runtime's own `io_uring_enter`
//! (issue 20, docs/decisions/0009-data-path-on-monoios-ring.md).
//!
//! What a shard gets, once at start ([`init`], on the io_uring driver only):
//! - one buffer ring (`IORING_REGISTER_PBUF_RING`, group [`GROUP`]) of [`BUFFERS`] buffers of
//!   [`BUF_SIZE`] bytes, shared by every connection of the shard. A receive takes a buffer only
//!   when bytes arrive; the bytes are copied out to the reader and the buffer goes back at once,
//!   so an idle connection holds none;
//! - per connection a multishot receive (`IORING_RECV_MULTISHOT`), armed at its first wait and
//!   kept armed while it lives: one submission per connection, not one per request;
//! - sends as `IORING_OP_SEND` entries from a copy of the bytes (the copy makes a dropped future
//!   safe: the kernel reads a buffer this module owns until the completion says it is done).
//!
//! Nothing here makes a system call on the request path: entries go onto monoio's ring through
//! `monoio::uring_ext` (our patch, vendor/monoio/PATCHES.md) and are submitted with the
//! runtime's next `io_uring_enter`, together with everything else the loop turn queued;
//! completions come back through [`on_completion`], called from monoio's completion loop.
//!
//! Invariants:
//! - a slot (receive or send) is freed only after the kernel's last completion for it (no
//!   `IORING_CQE_F_MORE`); an owner that goes away first marks it orphaned and asks for a
//!   cancel, and the completion frees it. So a `user_data` never names a reused slot;
//! - the state is borrowed only in short non-async sections, never across a push onto the ring
//!   (a full submission queue makes monoio submit and run completions, which borrow it).
//!
//! Where the kernel lacks something (multishot receive is Linux 6.0, buffer rings 5.19), the
//! ring is the epoll driver, or `uring_data_path = false`: nothing is set up, `enabled()` is
//! false and streams stay on readiness I/O (`io.rs`), logged once per process.

mod stream;

use std::{
    cell::RefCell,
    collections::VecDeque,
    sync::atomic::{AtomicBool, AtomicU16, Ordering},
    task::Waker,
};

use io_uring::{cqueue, opcode, squeue, types::BufRingEntry};
use monoio::uring_ext;
use tracing::{info, warn};

pub use stream::RingStream;

/// The buffer group of the shard's buffer ring.
pub const GROUP: u16 = 7;
/// Buffers in the ring (a power of two). 64 busy keep-alive connections use a few dozen;
/// past the last one a receive ends with `ENOBUFS` and its reader falls back to `recv(2)`.
pub const BUFFERS: u16 = 256;
/// Bytes per buffer: a request or response head of the benchmark fits in one.
pub const BUF_SIZE: usize = 4096;
/// Most bytes one send entry carries (its copy is this big at most).
const SEND_MAX: usize = 64 * 1024;

const KIND_SHIFT: u32 = 40;
const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
/// Completions nobody waits for (cancels).
const KIND_IGNORE: u64 = 3;
const INDEX_MASK: u64 = (1 << KIND_SHIFT) - 1;

fn user_data(kind: u64, index: usize) -> u64 {
    uring_ext::TAG | (kind << KIND_SHIFT) | index as u64
}

thread_local! {
    static RING: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Whether this shard's HTTP streams go through the ring.
pub fn enabled() -> bool {
    RING.with(|r| r.borrow().is_some())
}

/// What the ring path has done on this shard (for tests and debugging; not in `/stats` yet).
#[derive(Debug, Default, Clone, Copy)]
pub struct RingCounters {
    /// Multishot receives armed.
    pub arms: u64,
    /// Receive completions with bytes.
    pub recv_completions: u64,
    /// Receives that ended because the buffer ring was empty.
    pub no_buffers: u64,
    /// Send entries submitted.
    pub sends: u64,
}

/// This shard's counters, or `None` when the ring path is off.
pub fn counters() -> Option<RingCounters> {
    RING.with(|r| r.borrow().as_ref().map(|s| s.counters))
}

/// Logged once per process: why the ring path is off.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

/// Sets the ring path up on this shard's runtime (call inside `block_on`). Returns the
/// features it runs with (for the shard's report), empty when it runs on readiness I/O.
pub fn init(wanted: bool) -> Vec<&'static str> {
    let why_not = if !wanted {
        Some("uring_data_path = false".to_string())
    } else if !uring_ext::available() {
        None // the epoll driver: nothing to say, the shard's driver says it
    } else if !kernel_at_least(6, 0) {
        Some("multishot receive needs Linux 6.0".to_string())
    } else {
        match BufRing::new() {
            Ok(bufs) => {
                RING.with(|r| *r.borrow_mut() = Some(State::new(bufs)));
                uring_ext::set_handler(on_completion);
                return vec!["recv_multishot", "pbuf_ring", "send"];
            }
            Err(e) => Some(format!("cannot register a provided-buffer ring: {e}")),
        }
    };
    if let Some(why) = why_not {
        if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
            if wanted {
                warn!(reason = %why, "HTTP sockets use readiness I/O, not the io_uring data path");
            } else {
                info!(reason = %why, "HTTP sockets use readiness I/O, not the io_uring data path");
            }
        }
    }
    Vec::new()
}

/// `uname -r` is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else { return false };
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

/// The shard's provided-buffer ring: the ring of descriptors the kernel takes buffers from, and
/// the buffers themselves (both anonymous mappings: page-aligned, and pages are only made
/// resident when the kernel first writes a buffer).
struct BufRing {
    entries: *mut BufRingEntry,
    memory: *mut u8,
    /// Our copy of the ring's tail (the kernel reads the shared one).
    tail: u16,
}

impl BufRing {
    fn new() -> std::io::Result<BufRing> {
        let ring_bytes = BUFFERS as usize * std::mem::size_of::<BufRingEntry>();
        let entries = map(ring_bytes)?.cast::<BufRingEntry>();
        let memory = match map(BUFFERS as usize * BUF_SIZE) {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: the mapping just made, of this length.
                unsafe { libc::munmap(entries.cast(), ring_bytes) };
                return Err(e);
            }
        };
        let mut ring = BufRing { entries, memory, tail: 0 };
        for bid in 0..BUFFERS {
            ring.put(bid);
        }
        ring.publish();
        let registered = uring_ext::with_submitter(|s| {
            // SAFETY: the ring memory lives as long as the thread (never unmapped once
            // registered: the shard's ring may outlive this state's uses).
            unsafe { s.register_buf_ring(entries as u64, BUFFERS, GROUP) }
        });
        match registered {
            Some(Ok(())) => Ok(ring),
            Some(Err(e)) => Err(e),
            None => Err(std::io::ErrorKind::Unsupported.into()),
        }
    }

    /// Writes buffer `bid` at the tail (not yet visible to the kernel).
    fn put(&mut self, bid: u16) {
        // SAFETY: tail & mask is within the ring's BUFFERS entries; bid < BUFFERS.
        unsafe {
            let e = &mut *self.entries.add((self.tail & (BUFFERS - 1)) as usize);
            e.set_addr(self.memory.add(bid as usize * BUF_SIZE) as u64);
            e.set_len(BUF_SIZE as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers put so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved field, a u16 the kernel
        // reads with acquire semantics.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn give_back(&mut self, bid: u16) {
        self.put(bid);
        self.publish();
    }

    /// The first `len` bytes of buffer `bid`.
    fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: the kernel filled len ≤ BUF_SIZE bytes of buffer bid and handed it to us.
        unsafe { std::slice::from_raw_parts(self.memory.add(bid as usize * BUF_SIZE), len.min(BUF_SIZE)) }
    }
}

fn map(len: usize) -> std::io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

/// One connection's receive side.
#[derive(Default)]
struct RecvSlot {
    /// Buffers filled and not yet read: (buffer id, length); `offset` bytes of the first are read.
    chunks: VecDeque<(u16, u32)>,
    offset: u32,
    /// A multishot receive is in the kernel (no completion without `MORE` yet).
    armed: bool,
    /// A cancel of it was asked for.
    cancelling: bool,
    eof: bool,
    error: Option<i32>,
    /// The last receive ended for want of buffers: read with `recv(2)` before arming again.
    starved: bool,
    /// Its stream is gone; free the slot at the last completion.
    orphan: bool,
    waker: Option<Waker>,
}

impl RecvSlot {
    fn has_input(&self) -> bool {
        !self.chunks.is_empty() || self.eof || self.error.is_some()
    }
}

/// One send in flight.
#[derive(Default)]
struct SendSlot {
    buf: Vec<u8>,
    result: Option<i32>,
    orphan: bool,
    waker: Option<Waker>,
}

/// A vector of slots with a free list.
struct Slots<T> {
    slots: Vec<T>,
    free: Vec<usize>,
}

impl<T: Default> Slots<T> {
    fn new() -> Self {
        Slots { slots: Vec::new(), free: Vec::new() }
    }
    fn insert(&mut self) -> usize {
        match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(T::default());
                self.slots.len() - 1
            }
        }
    }
    fn remove(&mut self, i: usize) {
        self.slots[i] = T::default();
        self.free.push(i);
    }
}

struct State {
    bufs: BufRing,
    recvs: Slots<RecvSlot>,
    sends: Slots<SendSlot>,
    /// Send buffers kept for reuse (each at most SEND_MAX of capacity).
    spare: Vec<Vec<u8>>,
    counters: RingCounters,
}

impl State {
    fn new(bufs: BufRing) -> State {
        State { bufs, recvs: Slots::new(), sends: Slots::new(), spare: Vec::new(), counters: RingCounters::default() }
    }

    fn free_recv(&mut self, i: usize) {
        let slot = std::mem::take(&mut self.recvs.slots[i]);
        for (bid, _) in slot.chunks {
            self.bufs.put(bid);
        }
        self.bufs.publish();
        self.recvs.remove(i);
    }

    fn free_send(&mut self, i: usize) {
        let mut buf = std::mem::take(&mut self.sends.slots[i].buf);
        if self.spare.len() < 64 {
            buf.clear();
            self.spare.push(buf);
        }
        self.sends.remove(i);
    }
}

/// Every completion of ours, from monoio's completion loop.
fn on_completion(user_data: u64, result: i32, flags: u32) {
    let index = (user_data & INDEX_MASK) as usize;
    RING.with(|r| {
        let mut r = r.borrow_mut();
        let Some(st) = r.as_mut() else { return };
        match (user_data & !uring_ext::TAG) >> KIND_SHIFT {
            KIND_RECV => {
                let more = cqueue::more(flags);
                let buffer = cqueue::buffer_select(flags);
                let slot = &mut st.recvs.slots[index];
                match buffer {
                    Some(bid) if result > 0 && !slot.orphan => {
                        slot.chunks.push_back((bid, result as u32));
                        st.counters.recv_completions += 1;
                    }
                    Some(bid) => st.bufs.give_back(bid),
                    None => {}
                }
                let slot = &mut st.recvs.slots[index];
                match result {
                    0 => slot.eof = true,
                    r if r > 0 => {}
                    r if -r == libc::ENOBUFS => {
                        slot.starved = true;
                        st.counters.no_buffers += 1;
                    }
                    r if -r == libc::ECANCELED => {}
                    r => slot.error = Some(-r),
                }
                let slot = &mut st.recvs.slots[index];
                if !more {
                    slot.armed = false;
                    slot.cancelling = false;
                    if slot.orphan {
                        st.free_recv(index);
                        return;
                    }
                }
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
            KIND_SEND => {
                let slot = &mut st.sends.slots[index];
                slot.result = Some(result);
                if slot.orphan {
                    st.free_send(index);
                } else if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
            _ => {}
        }
    });
}

/// Pushes `sqe` onto the shard's ring. Never with the state borrowed.
///
/// # Safety
/// What `sqe` points at stays valid until its last completion.
unsafe fn push(sqe: squeue::Entry) -> std::io::Result<()> {
    uring_ext::push(&sqe)
}

/// Asks the kernel to cancel the operation named `target`.
fn push_cancel(target: u64) {
    let sqe = opcode::AsyncCancel::new(target).build().user_data(user_data(KIND_IGNORE, 0));
    // SAFETY: a cancel points at nothing of ours.
    let _ = unsafe { push(sqe) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    RING.with(|r| f(r.borrow_mut().as_mut().expect("the ring path is set up on this shard")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_keeps_kind_and_index_apart_from_the_tag() {
        let ud = user_data(KIND_SEND, 12345);
        assert_ne!(ud & uring_ext::TAG, 0);
        assert_eq!(ud >> 63, 0, "bit 63 is monoio's reserved range");
        assert_eq!((ud & !uring_ext::TAG) >> KIND_SHIFT, KIND_SEND);
        assert_eq!((ud & INDEX_MASK) as usize, 12345);
    }

    #[test]
    fn kernel_version_compares_major_then_minor() {
        assert!(kernel_at_least(0, 0));
        assert!(!kernel_at_least(999, 0));
    }
}
