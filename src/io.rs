//! Readiness-driven, non-blocking socket I/O on the shard thread: the epoll driver's data path,
//! the io_uring driver's with `uring_data_path = false` or a kernel older than 6.0, and the
//! sockets that are not HTTP streams (admin, splice, checks). HTTP streams of an io_uring shard
//! otherwise go through the ring (`ring/`).
//!
//! Sockets are `O_NONBLOCK`; a read or write is a plain syscall, and only after `EAGAIN` does
//! the task ask the driver for readiness (`IORING_OP_POLL_ADD` under io_uring). No buffer is
//! lent to the kernel while waiting, so an idle connection pins no read buffer: the caller
//! takes one only when the socket is readable (see the HTTP listener's memory goal).
//!
//! `relaxed = false` on readiness waits: under epoll the driver re-checks with poll(2)
//! instead of trusting a possibly stale readiness bit, which could spin.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    time::Instant,
};

use monoio::net::TcpStream;

/// Why a deadline-bound I/O did not complete.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("timed out")]
    TimedOut,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One `recv(2)`: bytes read, 0 at EOF, `WouldBlock` when nothing is there.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid writable region of buf.len() bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `recv(2)` that throws away up to `max` bytes without copying them (`MSG_TRUNC`, which
/// TCP implements as "discard", tcp(7)): bytes discarded, 0 at EOF, `WouldBlock` when nothing
/// is there.
pub fn discard(fd: RawFd, max: usize) -> io::Result<usize> {
    // SAFETY: with MSG_TRUNC a TCP socket copies nothing into the buffer, so a null buffer is
    // never written to (the kernel only checks the range lies in user space).
    let n = unsafe { libc::recv(fd, std::ptr::null_mut(), max, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `send(2)`. `MSG_NOSIGNAL`: a closed peer gives `EPIPE`, it does not kill the process.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid readable region of buf.len() bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Runs `f` until `deadline` at the latest (`None`: no deadline, and no timer armed).
pub async fn with_deadline<T>(
    f: impl std::future::Future<Output = io::Result<T>>,
    deadline: Option<Instant>,
) -> Result<T, IoError> {
    match deadline {
        None => Ok(f.await?),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, f).await {
                Ok(r) => Ok(r?),
                Err(_) => Err(IoError::TimedOut),
            }
        }
    }
}

/// Waits until `s` is readable, until `deadline` at the latest.
pub async fn readable(s: &TcpStream, deadline: Option<Instant>) -> Result<(), IoError> {
    with_deadline(s.readable(false), deadline).await
}

/// Waits until `s` is writable, until `deadline` at the latest.
pub async fn writable(s: &TcpStream, deadline: Option<Instant>) -> Result<(), IoError> {
    with_deadline(s.writable(false), deadline).await
}

/// Reads what is there (at least one byte, or 0 at EOF) into `buf`, waiting for readability
/// until `deadline`.
pub async fn read_some(s: &TcpStream, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, IoError> {
    loop {
        match recv(s.as_raw_fd(), buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => readable(s, deadline).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `data`, waiting for writability until `deadline`.
pub async fn write_all(s: &TcpStream, mut data: &[u8], deadline: Option<Instant>) -> Result<(), IoError> {
    while !data.is_empty() {
        match send(s.as_raw_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(s, deadline).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
