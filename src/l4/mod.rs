//! A layer-4 (TCP) session: admit → pick a target → connect → forward both ways → half-close.
//!
//! The session owns both sockets. Bytes move in two directions concurrently on the shard
//! thread (`splice.rs`, or `copy.rs` when splice is refused or disabled); EOF on one side
//! becomes `shutdown(SHUT_WR)` on the other, and the session ends when both directions have
//! ended, when either fails (a reset: both sockets are closed), or when `idle_timeout` passes
//! with no byte moving either way.
//!
//! With the group's `health_check.shutdown_sessions` (HAProxy's `on-marked-down
//! shutdown-sessions`), the session registers its backend socket with the shard's
//! [`crate::live_sessions`], which shuts it when the target is marked down.
//!
//! With the group's `proxy_protocol`, the target reads a PROXY header naming the client (the
//! peer, or the address an `accept_proxy` listener was told) before the client's first byte.
//!
//! Connecting: a target that refuses or does not answer within `connect_timeout` is counted as
//! a backend connection error and the next target is tried, at most once each; when none
//! answers, the client is closed. So a client waits at most `connect_timeout × targets`.

pub mod copy;
pub mod splice;

use std::{
    cell::Cell,
    io,
    net::SocketAddr,
    os::fd::{AsRawFd, RawFd},
    rc::Rc,
    time::{Duration, Instant},
};

use monoio::net::TcpStream;
use tracing::debug;

use crate::{
    balance::PickContext,
    context::{ClientAddrs, ListenerRuntime, ShardContext},
    group::{GroupRuntime, Pick, Refusal, SlotGuard, TargetRuntime},
    metrics::ByteCounter,
    sockopt,
};

/// One direction of a session and where its bytes are counted.
pub struct Flow<'a> {
    pub src: &'a TcpStream,
    pub dst: &'a TcpStream,
    /// When a byte last moved in either direction (the idle clock of the session).
    pub last_activity: &'a Cell<Instant>,
    /// Counters this direction adds its bytes to (listener and target).
    pub counters: [&'a ByteCounter; 2],
}

impl Flow<'_> {
    fn src_fd(&self) -> RawFd {
        self.src.as_raw_fd()
    }

    fn dst_fd(&self) -> RawFd {
        self.dst.as_raw_fd()
    }

    /// Records `n` bytes delivered to the destination.
    fn moved(&self, n: usize) {
        self.last_activity.set(Instant::now());
        for c in self.counters {
            c.add(n as u64);
        }
    }

    /// Passes the source's EOF on: the destination reads EOF once it has every byte.
    fn half_close_dst(&self) {
        // ENOTCONN (the peer already went away) is harmless: the other direction will see it.
        // SAFETY: shutdown on an fd the session owns.
        unsafe { libc::shutdown(self.dst_fd(), libc::SHUT_WR) };
    }
}

/// Serves one accepted client connection on a TCP listener, to its end.
pub async fn serve(shard: Rc<ShardContext>, listener: Rc<ListenerRuntime>, client: TcpStream, addrs: ClientAddrs) {
    let peer = addrs.peer;
    let group = shard.group(listener.group.get());
    let (target, upstream, slot) = match connect_some_target(&shard, &group, &client, peer).await {
        Ok(found) => found,
        Err(refusal) => {
            // Spilled over, timed out in the queue, or no target: the client is closed at once.
            debug!(listener = %listener.name, client = %peer, ?refusal, "no target for the session; closing client");
            if refusal != Refusal::ClientGone {
                listener.counters.no_target.add(1);
            }
            return;
        }
    };
    // The client socket is non-blocking already (accept4); the upstream one is made so here.
    let setup = client.set_nodelay(true).and_then(|_| prepare(&upstream));
    if let Err(e) = setup {
        debug!(error = %e, "socket setup failed");
        return;
    }
    // The PROXY header goes first, before any byte of the client's (within connect_timeout:
    // the connection is new, its send buffer empty, so this is one send that does not wait).
    if let Some(version) = group.config.proxy_protocol {
        let header = addrs.proxy_header(version, &listener, &client);
        let deadline = Instant::now() + group.config.connect_timeout;
        if let Err(e) = crate::io::write_all(&upstream, header.as_bytes(), Some(deadline)).await {
            debug!(target = %target.addr, error = %e, "sending the PROXY header failed");
            return;
        }
        target.counters.bytes_in.add(header.as_bytes().len() as u64);
    }
    // With `shutdown_sessions`, a down verdict on the target ends the session (declared after
    // `upstream`, so the entry goes before the socket closes).
    let _live = group
        .config
        .health_check
        .shutdown_sessions
        .then(|| shard.live_sessions.enter(target.addr, upstream.as_raw_fd()));
    // A TCP session is one request in flight and one backend connection for as long as it lasts.
    target.counters.active.add(1);
    target.counters.connections.add(1);
    let outcome = relay(&shard, &client, &upstream, listener.idle_timeout, &listener, &target).await;
    target.counters.active.sub(1);
    target.counters.connections.sub(1);
    drop(slot);
    if let Err(e) = outcome {
        debug!(listener = %listener.name, client = %peer, target = %target.addr, error = %e, "session ended");
    }
}

/// Tries targets in the balancer's order until one accepts, each within `connect_timeout`.
/// When the group limits targets and every one is at its cap, the session waits in the surge
/// queue first; the slot it gets is held for the session's life.
async fn connect_some_target(
    shard: &ShardContext,
    group: &GroupRuntime,
    client: &TcpStream,
    peer: SocketAddr,
) -> Result<(Rc<TargetRuntime>, TcpStream, Option<SlotGuard>), Refusal> {
    let ctx = PickContext { client: peer };
    let epoch = &shard.health().epoch;
    let mut tried: Vec<usize> = Vec::new();
    let connect_timeout = group.config.connect_timeout;
    loop {
        let (index, slot) = match group.pick_slot(epoch, &ctx, &tried, false) {
            Pick::Got(index, slot) => (index, slot),
            Pick::NoTarget => return Err(Refusal::NoTarget),
            Pick::AllFull => group.wait_for_slot(epoch, &ctx, &tried, client).await?,
        };
        // Recorded before connecting: a connect is a syscall and a wait anyway.
        tried.push(index);
        let target = group.targets[index].clone();
        match monoio::time::timeout(connect_timeout, TcpStream::connect_addr(target.addr)).await {
            Ok(Ok(stream)) => {
                target.counters.sessions.add(1);
                return Ok((target, stream, slot));
            }
            Ok(Err(e)) => {
                debug!(target = %target.addr, error = %e, "connect failed");
                group.connect_failed(shard.health(), &target, &crate::health::tcp::describe(&e));
            }
            Err(_) => {
                debug!(target = %target.addr, timeout = ?connect_timeout, "connect timed out");
                group.connect_failed(shard.health(), &target, "connect timed out");
            }
        }
    }
}

/// Both sockets non-blocking (splice and the copy loop are readiness-driven) and with Nagle off
/// (a proxy must not add latency to small writes).
fn prepare(s: &TcpStream) -> io::Result<()> {
    sockopt::set_nonblocking(s.as_raw_fd())?;
    s.set_nodelay(true)
}

/// Moves bytes both ways between `client` and `upstream` until both directions end, one fails,
/// or no byte moves for `idle`. Used by TCP sessions and by upgraded (WebSocket) HTTP
/// connections. Both sockets must be non-blocking.
pub async fn relay(
    shard: &ShardContext,
    client: &TcpStream,
    upstream: &TcpStream,
    idle: Duration,
    listener: &ListenerRuntime,
    target: &TargetRuntime,
) -> io::Result<()> {
    let last_activity = Cell::new(Instant::now());
    let upward = Flow {
        src: client,
        dst: upstream,
        last_activity: &last_activity,
        counters: [&listener.counters.bytes_in, &target.counters.bytes_in],
    };
    let downward = Flow {
        src: upstream,
        dst: client,
        last_activity: &last_activity,
        counters: [&listener.counters.bytes_out, &target.counters.bytes_out],
    };
    let both = async { monoio::try_join!(direction(shard, &upward), direction(shard, &downward)).map(|_| ()) };
    let watch = idle_watch(&last_activity, idle);
    let outcome = monoio::select! {
        r = both => r,
        _ = watch => Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
    };
    if let Err(e) = &outcome {
        if e.kind() != io::ErrorKind::TimedOut {
            // One side reset (or broke): pass the reset on instead of a clean FIN, so that a
            // truncated close-delimited transfer never looks complete on the other side.
            sockopt::reset_on_close(client.as_raw_fd());
            sockopt::reset_on_close(upstream.as_raw_fd());
        }
    }
    outcome
}

/// One direction: splice when allowed and possible, else copy.
async fn direction(shard: &ShardContext, flow: &Flow<'_>) -> io::Result<()> {
    if shard.splice_enabled() {
        match splice::forward(flow, &shard.pipes).await? {
            splice::SpliceOutcome::Done => return Ok(()),
            splice::SpliceOutcome::Unsupported => {
                debug!("splice refused on this socket pair; copying instead");
            }
        }
    }
    copy::forward(flow).await
}

/// Completes when no byte has moved for `limit`. Sleeps until the earliest moment the session
/// could be idle, so it wakes at most about once per `limit` on a busy session.
pub(crate) async fn idle_watch(last_activity: &Cell<Instant>, limit: Duration) {
    loop {
        let idle_for = last_activity.get().elapsed();
        if idle_for >= limit {
            return;
        }
        monoio::time::sleep(limit - idle_for).await;
    }
}
