//! One direction of a layer-4 session moved through a user-space buffer: the fallback when
//! splice(2) is refused (`EINVAL`/`ENOSYS`) or disabled (`[runtime] splice = false`).
//!
//! Same shape as `splice.rs`: non-blocking `read(2)`/`write(2)` on the shard thread, readiness
//! from the driver only after `EAGAIN`, EOF turned into `shutdown(SHUT_WR)` on the other side.
//! The buffer is allocated only when a direction first has bytes to move.

use std::io;

use super::{
    splice::{readable, writable},
    Flow,
};
use crate::io::{recv as read, send as write};

/// Bytes read per `read(2)`.
const COPY_CHUNK: usize = 64 * 1024;

/// Moves `flow.src` → `flow.dst` until EOF (then half-closes `dst`) or an error.
pub async fn forward(flow: &Flow<'_>) -> io::Result<()> {
    let (src_fd, dst_fd) = (flow.src_fd(), flow.dst_fd());
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if buf.is_empty() {
            buf.resize(COPY_CHUNK, 0);
        }
        let n = match read(src_fd, &mut buf) {
            Ok(0) => {
                flow.half_close_dst();
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                readable(flow.src).await?;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut sent = 0;
        while sent < n {
            match write(dst_fd, &buf[sent..n]) {
                Ok(k) => {
                    sent += k;
                    flow.moved(k);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable(flow.dst).await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
