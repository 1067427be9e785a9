//! Closing a client connection after an answer spillway made itself, without losing it.
//!
//! A connection closed while input is still unread is *reset* by the kernel (RFC 9112 section
//! 9.6), and a reset makes the client's kernel drop whatever it had received and not yet
//! handed to the client: a client still sending a 72 KiB head when its 431 went out would
//! never see the 431. So the close goes in stages, as the RFC says: the answer, then the
//! write side shut (FIN, after `close_notify` on TLS), then the client's input read and thrown
//! away until it closes too, for at most [`LINGER_TIME`] and [`LINGER_BYTES`], then the close.
//!
//! The input is discarded in the kernel (`recv` with `MSG_TRUNC`, which TCP answers without
//! copying): no buffer is held, and on TLS nothing is decrypted — the records after our
//! `close_notify` have no reader anyway. The bounds keep a client that never stops sending from
//! holding the task: past them the connection is closed as before.

use std::time::{Duration, Instant};

use crate::{io, stream::Stream};

/// The longest a closing connection keeps reading its client's input.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// The most input a closing connection reads and throws away.
pub const LINGER_BYTES: usize = 256 * 1024;

/// Shuts the write side of `stream` (the answer already written goes out first), then reads
/// and discards its input until the client closes or a bound is reached. The caller drops
/// the stream after this, which closes it with nothing unread in the common case: no reset.
pub async fn close_in_stages(stream: &Stream) {
    let deadline = Instant::now() + LINGER_TIME;
    stream.shutdown_write(Some(deadline)).await;
    discard_input(stream, deadline, LINGER_BYTES).await;
}

/// Reads and throws away what the client sends until its EOF, an error, `deadline`, or
/// `budget` bytes.
async fn discard_input(stream: &Stream, deadline: Instant, budget: usize) {
    let tcp = stream.tcp();
    let mut left = budget;
    // A ring stream's receive leaves the kernel; what it had taken in is thrown away here.
    if let Some(ring) = stream.ring() {
        ring.disarm().await;
        let (n, ended) = ring.discard_arrived();
        if ended {
            return;
        }
        left = left.saturating_sub(n);
    }
    while left > 0 {
        match io::discard(stream.fd(), left) {
            Ok(0) => return,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if io::readable(tcp, Some(deadline)).await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
