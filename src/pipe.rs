//! Kernel pipes for splice(2), and the per-shard pool that recycles them.
//!
//! A pipe is the kernel-side buffer that splice moves socket pages through: socket → pipe →
//! socket, with no copy into user space. Making one costs two syscalls (`pipe2` and
//! `F_SETPIPE_SZ`), so a shard keeps a capped pool of empty ones, as HAProxy's `pipe.c` does.
//!
//! Invariants:
//! - a pipe in the pool is empty (a direction returns its pipe only when it holds no bytes; a
//!   pipe that may hold bytes is closed instead, so stale bytes can never leak into another
//!   connection);
//! - the pool is per shard (`RefCell`, no lock) and holds at most `cap` pipes: the rest are
//!   closed, so a burst of connections does not pin file descriptors for ever.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

/// The pipe size we ask for: large enough that one splice moves a big batch.
pub const PIPE_SIZE_WANTED: usize = 1024 * 1024;
/// The least we accept before settling for the kernel's default (64 KiB): if the user's pipe
/// budget (`fs.pipe-user-pages-soft`) is spent, the kernel refuses large sizes.
pub const PIPE_SIZE_MIN: usize = 256 * 1024;

/// Warn about small pipes once per process, not once per pipe.
static WARNED_SMALL_PIPES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One pipe: the read end and the write end, and the capacity the kernel granted.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// Makes a non-blocking pipe and grows it to [`PIPE_SIZE_WANTED`], or [`PIPE_SIZE_MIN`], or
    /// keeps the default when both are refused.
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for size in [PIPE_SIZE_WANTED, PIPE_SIZE_MIN] {
            // SAFETY: fcntl on an fd we own.
            if unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) } > 0 {
                break;
            }
        }
        // What the kernel actually granted: past the user's pipe budget a new pipe may be as
        // small as two pages, whatever was asked.
        // SAFETY: fcntl on an fd we own.
        let capacity = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let capacity = if capacity > 0 { capacity as usize } else { 4096 };
        if capacity < PIPE_SIZE_MIN && !WARNED_SMALL_PIPES.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                granted = capacity,
                wanted = PIPE_SIZE_WANTED,
                "the kernel refused large pipes (the user's pipe budget, fs.pipe-user-pages-soft, is spent?): \
                 splice moves fewer bytes per call; run as root or raise the sysctl"
            );
        }
        Ok(Pipe { read, write, capacity })
    }

    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    pub fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// The pipe's size as granted by the kernel, in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A shard's stock of empty pipes.
#[derive(Debug)]
pub struct PipePool {
    free: Vec<Pipe>,
    cap: usize,
    /// Pipes handed out and not yet returned or closed (for figures and the fd-leak test).
    in_use: usize,
}

impl PipePool {
    pub fn new(cap: usize) -> Self {
        PipePool { free: Vec::with_capacity(cap), cap, in_use: 0 }
    }

    /// An empty pipe: a pooled one, or a new one.
    pub fn take(&mut self) -> io::Result<Pipe> {
        let pipe = match self.free.pop() {
            Some(p) => p,
            None => Pipe::new()?,
        };
        self.in_use += 1;
        Ok(pipe)
    }

    /// Returns a pipe. `empty` must be true only when the caller knows no byte is left in it;
    /// a pipe that may hold bytes is closed.
    pub fn give_back(&mut self, pipe: Pipe, empty: bool) {
        self.in_use -= 1;
        if empty && self.free.len() < self.cap {
            self.free.push(pipe);
        }
    }

    /// Pipes waiting in the pool (each holds two file descriptors).
    pub fn pooled(&self) -> usize {
        self.free.len()
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }
}
