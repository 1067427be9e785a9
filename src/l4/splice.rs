//! One direction of a layer-4 session moved with splice(2): socket → pipe → socket.
//!
//! Why not io_uring's own `IORING_OP_SPLICE`: the kernel refuses to run it on the non-blocking
//! issue path, so every pending splice parks an `iou-wrk` kernel thread, unpinned, off the
//! shard's core (measured: 8 such threads for 4 downloads, and no cheaper than HAProxy). Here
//! the shard thread itself calls `splice(2)` with `SPLICE_F_NONBLOCK` on `O_NONBLOCK` sockets and
//! only asks the driver for *readiness* (`IORING_OP_POLL_ADD` under io_uring, epoll otherwise)
//! when the kernel says `EAGAIN`. Everything stays on the shard's core.
//!
//! The loop, per direction: fill the pipe from the source with one splice of up to the pipe's
//! capacity; drain it to the destination (waiting for writability as needed); repeat. When the
//! source says EOF, the pipe is drained and the destination gets `shutdown(SHUT_WR)`: that is
//! how a half-close crosses the proxy. While the source is idle the direction holds no pipe (it
//! goes back to the shard's pool), so an idle session costs no pipe at all.
//!
//! `EAGAIN` on the fill is ambiguous (no data, or pipe full): the loop only waits for
//! readability when the pipe is empty, which makes it unambiguous.

use std::{cell::RefCell, io, os::fd::RawFd};

use monoio::net::TcpStream;

use super::Flow;
use crate::pipe::{Pipe, PipePool};

/// How a splice direction ended. `Unsupported`: splice is not possible here (refused by the
/// kernel, or no pipe to be had) and no byte is pending: the caller goes on by copying.
pub enum SpliceOutcome {
    Done,
    Unsupported,
}

/// A pipe borrowed from the shard's pool, with how many bytes it holds. Dropping it (the session
/// ended, timed out, or failed) returns the pipe when empty and closes it otherwise.
struct PipeLease<'a> {
    pool: &'a RefCell<PipePool>,
    pipe: Option<Pipe>,
    held: usize,
}

impl<'a> PipeLease<'a> {
    fn pipe(&mut self) -> io::Result<&Pipe> {
        if self.pipe.is_none() {
            self.pipe = Some(self.pool.borrow_mut().take()?);
        }
        Ok(self.pipe.as_ref().expect("just filled"))
    }

    /// Hands an empty pipe back to the pool (while the source is idle).
    fn release_if_empty(&mut self) {
        if self.held == 0 {
            if let Some(p) = self.pipe.take() {
                self.pool.borrow_mut().give_back(p, true);
            }
        }
    }
}

impl Drop for PipeLease<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pipe.take() {
            self.pool.borrow_mut().give_back(p, self.held == 0);
        }
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;
    // SAFETY: plain syscall on fds the caller keeps open for the duration of the call; null
    // offsets mean "current position", as required for sockets and pipes.
    let n = unsafe { libc::splice(from, std::ptr::null_mut(), to, std::ptr::null_mut(), len, flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Moves `flow.src` → `flow.dst` until EOF (then half-closes `dst`) or an error.
pub async fn forward(flow: &Flow<'_>, pool: &RefCell<PipePool>) -> io::Result<SpliceOutcome> {
    let src_fd = flow.src_fd();
    let dst_fd = flow.dst_fd();
    let mut lease = PipeLease { pool, pipe: None, held: 0 };
    let mut moved_any = false;
    // After a short splice the kernel has told us the socket is empty (fill) or full (drain):
    // arm readiness straight away instead of paying one more splice to hear EAGAIN. Safe on
    // both drivers: POLL_ADD and the epoll driver's `relaxed = false` check the current state
    // when armed, so bytes that arrived in between are not missed.
    let mut source_drained = false;
    loop {
        if source_drained {
            lease.release_if_empty();
            readable(flow.src).await?;
            source_drained = false;
        }
        // Fill: one splice from the source socket into the pipe. No pipe to be had (EMFILE,
        // ENFILE): the pipe is empty whenever a new one is needed, so the copy loop can go on
        // from here.
        let Ok(pipe) = lease.pipe() else { return Ok(SpliceOutcome::Unsupported) };
        let (pipe_r, pipe_w, room) = (pipe.read_fd(), pipe.write_fd(), pipe.capacity() - lease.held);
        let mut eof = false;
        if room > 0 {
            match splice(src_fd, pipe_w, room) {
                Ok(0) => eof = true,
                Ok(n) => {
                    lease.held += n;
                    moved_any = true;
                    source_drained = n < room;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if lease.held == 0 {
                        source_drained = true;
                        continue;
                    }
                }
                Err(e) if !moved_any && is_unsupported(&e) => return Ok(SpliceOutcome::Unsupported),
                Err(e) => return Err(e),
            }
        }
        // Drain: everything in the pipe goes to the destination.
        while lease.held > 0 {
            match splice(pipe_r, dst_fd, lease.held) {
                Ok(n) => {
                    lease.held -= n;
                    flow.moved(n);
                    if lease.held > 0 {
                        // Short write: the socket's send buffer is full.
                        writable(flow.dst).await?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(flow.dst).await?,
                Err(e) => return Err(e),
            }
        }
        if eof {
            flow.half_close_dst();
            return Ok(SpliceOutcome::Done);
        }
    }
}

/// splice(2) refuses this pair of files (old kernel, a socket type without splice support).
fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP))
}

/// Waits until `s` is readable. `relaxed = false`: under epoll the driver re-checks with
/// poll(2) instead of trusting a possibly stale readiness bit, which could spin.
pub(crate) async fn readable(s: &TcpStream) -> io::Result<()> {
    s.readable(false).await
}

pub(crate) async fn writable(s: &TcpStream) -> io::Result<()> {
    s.writable(false).await
}
