//! After a 101: the connection becomes a two-way byte tunnel (WebSocket) with its own idle
//! limit (`tunnel_timeout`).
//!
//! Between two plain sockets the tunnel is the layer-4 relay: spliced kernel to kernel
//! (`l4::relay`). When either side carries TLS, bytes must pass through user space to be
//! decrypted or encrypted, so each direction reads plaintext from one stream and writes it to
//! the other through a buffer, with the same half-close rule (EOF on one side ends that
//! direction on the other: `close_notify` and FIN) and the same idle clock.

use std::{cell::Cell, time::Instant};

use crate::{
    context::{ListenerRuntime, ShardContext},
    io::IoError,
    l4::idle_watch,
    metrics::ByteCounter,
    pool::BackendConn,
    stream::Stream,
};

/// Bytes that arrived together with the heads and belong to the tunnel.
pub struct Buffered<'a> {
    pub from_client: &'a [u8],
    pub from_target: &'a [u8],
}

/// Buffer of one direction of a TLS tunnel.
const CHUNK: usize = 16 * 1024;

/// Runs the tunnel until both directions end, one fails, or it idles past `tunnel_timeout`.
pub async fn run(
    shard: &ShardContext,
    listener: &ListenerRuntime,
    client: &Stream,
    upstream: &BackendConn,
    buffered: Buffered<'_>,
) {
    let deadline = Some(Instant::now() + listener.idle_timeout);
    if upstream.stream.write_all(buffered.from_client, deadline).await.is_err()
        || client.write_all(buffered.from_target, deadline).await.is_err()
    {
        return;
    }
    let target = &upstream.target;
    let idle = listener.tunnel_timeout;
    // Ring streams give their input back to syscalls first; splicing needs nothing of theirs
    // left unread (else the copy loop below forwards it).
    client.disarm().await;
    upstream.stream.disarm().await;
    let spliceable =
        |s: &Stream| matches!(s, Stream::Plain(_)) || (matches!(s, Stream::Ring(_)) && !s.has_buffered_input());
    if spliceable(client) && spliceable(&upstream.stream) {
        let _ = crate::l4::relay(shard, client.tcp(), upstream.stream.tcp(), idle, listener, target).await;
        return;
    }
    let last_activity = Cell::new(Instant::now());
    let up = copy(client, &upstream.stream, &last_activity, [&listener.counters.bytes_in, &target.counters.bytes_in]);
    let down =
        copy(&upstream.stream, client, &last_activity, [&listener.counters.bytes_out, &target.counters.bytes_out]);
    let both = async { monoio::try_join!(up, down) };
    monoio::select! {
        _ = both => {}
        _ = idle_watch(&last_activity, idle) => {}
    }
}

/// One direction: plaintext from `src` to `dst` until EOF (then `dst` is half-closed).
async fn copy(
    src: &Stream,
    dst: &Stream,
    last_activity: &Cell<Instant>,
    counters: [&ByteCounter; 2],
) -> Result<(), IoError> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = src.read_some(&mut buf, None).await?;
        if n == 0 {
            dst.shutdown_write(None).await;
            return Ok(());
        }
        dst.write_all(&buf[..n], None).await?;
        last_activity.set(Instant::now());
        for c in counters {
            c.add(n as u64);
        }
    }
}
