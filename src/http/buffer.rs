//! Buffers of the HTTP listener, and the per-shard stock they come from.
//!
//! An idle keep-alive client connection holds *no* buffer: it waits for readability, and only
//! then takes a [`Scratch`] from the shard's stock; the scratch goes back when the request is
//! done and no pipelined bytes are left in it. (A pending io_uring read would own its buffer for
//! as long as the connection is idle; readiness-then-read does not.) With 10,000 idle
//! connections this is the difference between a few hundred bytes and tens of KiB each.
//!
//! [`InBuf`] keeps bytes read but not yet consumed at `data[start..end]`; heads are parsed in
//! place there (offsets into `bytes()`), bodies are relayed from there.

use std::{cell::RefCell, time::Instant};

use super::codec::Header;
use crate::{io::IoError, stream::Stream};

/// Initial size of an input buffer; it grows (doubling) up to the head limit when a head is
/// larger, and keeps its size while pooled.
const INITIAL: usize = 16 * 1024;
/// Scratches a shard keeps for reuse.
const STOCK_CAP: usize = 256;

/// Bytes read from one socket and not yet consumed.
#[derive(Debug, Default)]
pub struct InBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    /// The unconsumed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more from `s` (at least one byte, or 0 at EOF), waiting until `deadline`. Room is
    /// made by moving unconsumed bytes to the front, then by doubling up to `limit` bytes in
    /// all. Callers pass a limit above the head limits, so the parser refuses an oversized head
    /// before the buffer is full; a full buffer is an error all the same.
    pub async fn fill(&mut self, s: &Stream, limit: usize, deadline: Option<Instant>) -> Result<usize, IoError> {
        if self.start > 0 && self.end == self.data.len() {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() {
            let grown = (self.data.len() * 2).clamp(INITIAL, limit.max(INITIAL));
            if grown <= self.data.len() {
                return Err(IoError::Io(std::io::Error::other("buffer limit reached")));
            }
            self.data.resize(grown, 0);
        }
        let n = s.read_some(&mut self.data[self.end..], deadline).await?;
        self.end += n;
        Ok(n)
    }

    /// Drops any unconsumed bytes.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

/// Everything one request needs while in flight: the client's input (kept across requests
/// while it holds pipelined bytes), the target's input, parsed header offsets, and the
/// rewritten head being sent.
#[derive(Debug, Default)]
pub struct Scratch {
    pub client_in: InBuf,
    pub request_headers: Vec<Header>,
    pub target_in: InBuf,
    pub response_headers: Vec<Header>,
    pub out: Vec<u8>,
}

/// One shard's stock of scratches.
#[derive(Default)]
pub struct ScratchStock {
    free: RefCell<Vec<Scratch>>,
}

impl ScratchStock {
    pub fn take(&self) -> Scratch {
        self.free.borrow_mut().pop().unwrap_or_default()
    }

    /// Returns a scratch; its contents are dropped (the caller checked nothing is pending).
    pub fn give_back(&self, mut s: Scratch) {
        s.client_in.clear();
        s.target_in.clear();
        let mut free = self.free.borrow_mut();
        if free.len() < STOCK_CAP {
            free.push(s);
        }
    }

    /// Keeps at most `keep` spare scratches, freeing the others (after a burst, see `park.rs`).
    pub fn trim(&self, keep: usize) {
        let mut free = self.free.borrow_mut();
        free.truncate(keep);
        free.shrink_to_fit();
    }
}
