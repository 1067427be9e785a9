//! Spillway's addition: operations of the embedding program on the runtime's own ring.
//!
//! monoio's `Op` machinery is crate-private and completes each operation once, so multishot
//! operations (a receive armed once per connection) and buffer rings cannot be expressed with
//! it. This module lets a program push raw submission entries onto the current thread's ring
//! and receive their completions through one handler it installs: an entry whose `user_data`
//! has [`TAG`] set is never looked up in monoio's table of operations, it is handed to the
//! handler instead. The entries go to the kernel with monoio's own `io_uring_enter` (at the
//! next park or submit), so the program's operations cost no system call of their own.
//!
//! Invariants: the handler runs inside the driver's completion loop, with the ring borrowed;
//! it must not call back into this module (it may wake tasks). Only the thread that runs the
//! runtime calls these functions (they reach the ring through the runtime's thread-local
//! context).

use std::{cell::Cell, io};

use io_uring::{squeue, Submitter};

use super::super::{Inner, CURRENT};

/// The bit that marks a completion as the program's. monoio's own operations use slab indices
/// (far below it) and its reserved values all lie above `u64::MAX - 4`, which have bit 63 set;
/// the program's `user_data` must keep bit 63 clear.
pub const TAG: u64 = 1 << 62;

/// Receives `(user_data, result, flags)` of every completion tagged with [`TAG`].
pub type Handler = fn(u64, i32, u32);

thread_local! {
    static HANDLER: Cell<Option<Handler>> = const { Cell::new(None) };
}

/// Installs the completion handler of this thread's program operations.
pub fn set_handler(handler: Handler) {
    HANDLER.with(|h| h.set(Some(handler)));
}

pub(super) fn dispatch(user_data: u64, result: i32, flags: u32) {
    if let Some(h) = HANDLER.with(|h| h.get()) {
        h(user_data, result, flags);
    }
}

/// Whether this thread runs a runtime on the io_uring driver (else nothing here works).
pub fn available() -> bool {
    CURRENT.is_set() && CURRENT.with(|inner| matches!(inner, Inner::Uring(_)))
}

/// Pushes `sqe` onto the current ring; it is submitted with the driver's next `io_uring_enter`.
/// A full submission queue is flushed first. `Unsupported` when the runtime is not io_uring.
///
/// # Safety
/// Whatever `sqe` points at must stay valid until its completion arrives, and its `user_data`
/// must have [`TAG`] set and bit 63 clear.
pub unsafe fn push(sqe: &squeue::Entry) -> io::Result<()> {
    if !CURRENT.is_set() {
        return Err(io::ErrorKind::Unsupported.into());
    }
    CURRENT.with(|inner| match inner {
        Inner::Uring(this) => {
            let inner = &mut *this.get();
            if inner.uring.submission().is_full() {
                inner.submit()?;
            }
            inner.uring.submission().push(sqe).map_err(|_| io::Error::other("submission queue full"))
        }
        #[allow(unreachable_patterns)]
        _ => Err(io::ErrorKind::Unsupported.into()),
    })
}

/// Submits what is queued now (one `io_uring_enter`), without waiting.
pub fn submit() -> io::Result<()> {
    if !CURRENT.is_set() {
        return Err(io::ErrorKind::Unsupported.into());
    }
    CURRENT.with(|inner| match inner {
        Inner::Uring(this) => unsafe { (*this.get()).submit() },
        #[allow(unreachable_patterns)]
        _ => Err(io::ErrorKind::Unsupported.into()),
    })
}

/// Runs `f` with the ring's submitter (registering buffer rings, probing), or `None` when the
/// runtime is not io_uring.
pub fn with_submitter<R>(f: impl FnOnce(&Submitter<'_>) -> R) -> Option<R> {
    if !CURRENT.is_set() {
        return None;
    }
    CURRENT.with(|inner| match inner {
        Inner::Uring(this) => {
            let inner = unsafe { &*this.get() };
            Some(f(&inner.uring.submitter()))
        }
        #[allow(unreachable_patterns)]
        _ => None,
    })
}
