//! A plain TCP connection whose reads and writes go through the shard's ring (`ring/mod.rs`):
//! the same deadline-bound calls as `io.rs` offers for readiness I/O, so `Stream` can hold
//! either behind one enum arm each.
//!
//! Reads come from the connection's multishot receive, armed at the first wait: bytes the
//! kernel put in provided buffers are copied into the caller's buffer and the buffers go back
//! to the ring at once. Writes copy the bytes into a send buffer the ring owns until the
//! kernel's completion (a future dropped on a deadline cannot leave the kernel reading freed
//! memory), push one send entry, and wait for its completion.
//!
//! Before anything else touches the socket's input (parking it, splicing a tunnel, the
//! lingering close), [`RingStream::disarm`] takes the receive out of the kernel, so no byte can
//! land in a buffer nobody reads.

use std::{
    future::poll_fn,
    io,
    os::fd::{AsRawFd, RawFd},
    task::Poll,
    time::Instant,
};

use io_uring::{opcode, types};
use monoio::net::TcpStream;

use super::{push, push_cancel, user_data, with_state, KIND_RECV, KIND_SEND, SEND_MAX};
use crate::io::IoError;

pub struct RingStream {
    tcp: TcpStream,
    /// Its receive slot in the shard's state.
    slot: usize,
}

impl RingStream {
    /// Wraps a connected, non-blocking socket (the ring path must be on: `ring::enabled()`).
    pub fn new(tcp: TcpStream) -> RingStream {
        let slot = with_state(|st| st.recvs.insert());
        RingStream { tcp, slot }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }

    /// Bytes, an EOF or an error have arrived and are not read yet.
    pub fn has_buffered_input(&self) -> bool {
        with_state(|st| st.recvs.slots[self.slot].has_input())
    }

    /// The multishot receive is armed (and not being cancelled): every byte, the end of input
    /// or a reset reaches the slot, so [`has_buffered_input`](Self::has_buffered_input) says
    /// all there is to know about the socket's input without a syscall.
    pub fn is_armed(&self) -> bool {
        with_state(|st| {
            let slot = &st.recvs.slots[self.slot];
            slot.armed && !slot.cancelling
        })
    }

    /// Arms the multishot receive unless it is armed (or the last one starved: then the
    /// reader reads with `recv(2)` first).
    fn arm(&self) -> io::Result<()> {
        let fire = with_state(|st| {
            let slot = &mut st.recvs.slots[self.slot];
            if slot.armed || slot.has_input() {
                return false;
            }
            slot.armed = true;
            st.counters.arms += 1;
            true
        });
        if fire {
            let sqe = opcode::RecvMulti::new(types::Fd(self.fd()), super::GROUP)
                .build()
                .user_data(user_data(KIND_RECV, self.slot));
            // SAFETY: the receive writes only into the shard's provided buffers.
            if let Err(e) = unsafe { push(sqe) } {
                with_state(|st| st.recvs.slots[self.slot].armed = false);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Waits until a read can make progress, until `deadline` at the latest. After a receive
    /// starved of buffers, the wait is for readiness (and the read a `recv(2)`) until a read
    /// finds bytes: re-arming at once would starve again at once, every loop turn.
    pub async fn readable(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        if self.starved() {
            return crate::io::readable(&self.tcp, deadline).await;
        }
        let wait = poll_fn(|cx| {
            let ready = with_state(|st| {
                let slot = &mut st.recvs.slots[self.slot];
                if slot.has_input() || (slot.starved && !slot.armed) {
                    true
                } else {
                    slot.waker = Some(cx.waker().clone());
                    false
                }
            });
            if ready {
                return Poll::Ready(Ok(()));
            }
            match self.arm() {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            }
        });
        crate::io::with_deadline(wait, deadline).await
    }

    /// Copies what has arrived into `buf`: `Some(n)` (0 at EOF), `None` when nothing has.
    fn take_into(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        with_state(|st| {
            let slot = &mut st.recvs.slots[self.slot];
            let mut n = 0;
            while n < buf.len() {
                let Some(&(bid, len)) = slot.chunks.front() else { break };
                let from = &st.bufs.bytes(bid, len as usize)[slot.offset as usize..];
                let take = from.len().min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&from[..take]);
                n += take;
                slot.offset += take as u32;
                if slot.offset == len {
                    slot.chunks.pop_front();
                    slot.offset = 0;
                    st.bufs.give_back(bid);
                }
            }
            if n > 0 || buf.is_empty() {
                Some(Ok(n))
            } else if let Some(e) = slot.error {
                Some(Err(io::Error::from_raw_os_error(e)))
            } else if slot.eof {
                Some(Ok(0))
            } else {
                None
            }
        })
    }

    /// Throws away what has arrived; returns the bytes thrown away and whether the input ended.
    pub fn discard_arrived(&self) -> (usize, bool) {
        with_state(|st| {
            let slot = &mut st.recvs.slots[self.slot];
            let mut n = 0;
            while let Some((bid, len)) = slot.chunks.pop_front() {
                n += (len - slot.offset) as usize;
                slot.offset = 0;
                st.bufs.put(bid);
            }
            st.bufs.publish();
            (n, slot.eof || slot.error.is_some())
        })
    }

    /// Reads what has arrived without waiting: bytes read, 0 at EOF, `WouldBlock` when nothing
    /// has (then [`readable`](Self::readable) waits). After a receive starved of buffers, the
    /// socket is read with `recv(2)` once before the receive is armed again.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = self.take_into(buf) {
            return r;
        }
        if self.starved() {
            let got = crate::io::recv(self.fd(), buf);
            if matches!(got, Ok(n) if n > 0) {
                // Buffers are likely back; the next wait arms the receive again.
                with_state(|st| st.recvs.slots[self.slot].starved = false);
            }
            return got;
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// The last receive ended for want of buffers, nothing re-armed it since, and nothing it
    /// brought is left to read: then the socket itself is waited on and read. (With bytes
    /// still in hand, waiting on the socket could wait for ever for a request that is here.)
    fn starved(&self) -> bool {
        with_state(|st| {
            let slot = &st.recvs.slots[self.slot];
            slot.starved && !slot.armed && !slot.has_input()
        })
    }

    /// Reads what is there (at least one byte, or 0 at EOF) into `buf`, waiting until `deadline`.
    pub async fn read_some(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, IoError> {
        loop {
            match self.try_read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            self.readable(deadline).await?;
        }
    }

    /// Writes all of `data`, waiting until `deadline`.
    pub async fn write_all(&self, data: &[u8], deadline: Option<Instant>) -> Result<(), IoError> {
        // One timer for the whole write, not one per send entry.
        let sends = async {
            let mut data = data;
            while !data.is_empty() {
                let n = self.send(&data[..data.len().min(SEND_MAX)]).await?;
                data = &data[n..];
            }
            Ok(())
        };
        crate::io::with_deadline(sends, deadline).await
    }

    /// One send entry of `data` (a copy of it): the bytes the kernel took.
    async fn send(&self, data: &[u8]) -> io::Result<usize> {
        let (index, ptr, len) = with_state(|st| {
            let index = st.sends.insert();
            let mut buf = st.spare.pop().unwrap_or_default();
            buf.extend_from_slice(data);
            let (ptr, len) = (buf.as_ptr(), buf.len() as u32);
            st.sends.slots[index].buf = buf;
            st.counters.sends += 1;
            (index, ptr, len)
        });
        let sqe = opcode::Send::new(types::Fd(self.fd()), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(KIND_SEND, index));
        // SAFETY: the buffer stays in the slot until the send's completion frees it (an
        // abandoned send is orphaned, not freed: see SendGuard).
        if let Err(e) = unsafe { push(sqe) } {
            with_state(|st| st.free_send(index));
            return Err(e);
        }
        let mut guard = SendGuard { index, done: false };
        let result = poll_fn(|cx| {
            with_state(|st| {
                let slot = &mut st.sends.slots[index];
                match slot.result {
                    Some(r) => {
                        st.free_send(index);
                        Poll::Ready(r)
                    }
                    None => {
                        slot.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        })
        .await;
        guard.done = true;
        if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else if result == 0 {
            Err(io::ErrorKind::WriteZero.into())
        } else {
            Ok(result as usize)
        }
    }

    /// Takes the multishot receive out of the kernel and waits for its last completion, so
    /// that the socket's input is again the caller's to read with syscalls. Bytes that arrived
    /// before stay buffered here (`has_buffered_input`).
    pub async fn disarm(&self) {
        let cancel = with_state(|st| {
            let slot = &mut st.recvs.slots[self.slot];
            let fire = slot.armed && !slot.cancelling;
            slot.cancelling |= fire;
            fire
        });
        if cancel {
            push_cancel(user_data(KIND_RECV, self.slot));
        }
        poll_fn(|cx| {
            with_state(|st| {
                let slot = &mut st.recvs.slots[self.slot];
                if slot.armed {
                    slot.waker = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
        })
        .await
    }

    /// The socket, once nothing of it is in the kernel's hands or buffered here: `Err(self)`
    /// when input arrived meanwhile (the caller reads it instead).
    pub async fn into_tcp(self) -> Result<TcpStream, RingStream> {
        self.disarm().await;
        if self.has_buffered_input() {
            return Err(self);
        }
        let this = std::mem::ManuallyDrop::new(self);
        with_state(|st| st.free_recv(this.slot));
        // SAFETY: `this` is never used or dropped again; its only other field is a usize.
        Ok(unsafe { std::ptr::read(&this.tcp) })
    }
}

impl Drop for RingStream {
    /// An armed receive is cancelled and its slot freed at its last completion; the socket's
    /// close (monoio queues it as an entry after the cancel) follows in the same submission.
    fn drop(&mut self) {
        let cancel = with_state(|st| {
            let slot = &mut st.recvs.slots[self.slot];
            if slot.armed {
                slot.orphan = true;
                slot.waker = None;
                let fire = !slot.cancelling;
                slot.cancelling = true;
                fire
            } else {
                st.free_recv(self.slot);
                false
            }
        });
        if cancel {
            push_cancel(user_data(KIND_RECV, self.slot));
        }
    }
}

/// A send whose future is dropped before its completion: its slot (and the buffer the kernel
/// may still read) is orphaned and freed by the completion; the send is asked to cancel.
struct SendGuard {
    index: usize,
    done: bool,
}

impl Drop for SendGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let pending = with_state(|st| {
            let slot = &mut st.sends.slots[self.index];
            if slot.result.is_some() {
                st.free_send(self.index);
                false
            } else {
                slot.orphan = true;
                slot.waker = None;
                true
            }
        });
        if pending {
            push_cancel(user_data(KIND_SEND, self.index));
        }
    }
}
