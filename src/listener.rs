//! Listening sockets: binding one SO_REUSEPORT socket per shard for every listener, and the
//! accept loop each shard runs on its own socket.
//!
//! Binding happens on the control thread before any shard starts, so that a port in use is a
//! clear start-up error, and so that a listener bound to port 0 (tests) gets one port shared by
//! all shards (the first bind resolves it, the others join it).
//!
//! Binding and listening are two steps. A socket joins its SO_REUSEPORT group, and the kernel
//! starts queueing connections at it, only at `listen(2)`: closing it after that resets what
//! sits in its queue. During a `-sf` reload without an upgrade socket the group is shared with
//! the running process, so a new process that listened and then failed (its admin port, a
//! shard that cannot start) would reset clients the old one could have served. So [`bind`]
//! only binds, and [`listen`] is called on every socket once everything that can fail has
//! succeeded (`server.rs`).
//!
//! A second spillway started by mistake on the same port would, with SO_REUSEPORT alone,
//! silently share the traffic. So before binding, a probe socket *without* SO_REUSEPORT binds
//! the address: it fails with `EADDRINUSE` if anybody listens there. Only a hand-over (`-sf`)
//! skips the probe. The window between the probe and the real binds is a few microseconds of
//! one start-up; a process that binds exactly then is not caught, which is acceptable.
//!
//! The global connection cap ([`crate::context::ConnectionLimit`]) is one atomic counter shared by the shards. A slot is reserved
//! *before* `accept` (compare-and-swap below the cap), so the count never exceeds the cap even
//! when shards accept at the same moment; at the cap, accepting pauses and clients wait in the
//! kernel's backlog, as with HAProxy's `maxconn`.

use std::{
    io,
    net::SocketAddr,
    os::fd::{AsRawFd, FromRawFd, RawFd},
    rc::Rc,
    time::{Duration, Instant},
};

use socket2::{Domain, Socket, Type};
use tracing::{debug, warn};

use crate::{
    config::Protocol,
    context::{ClientAddrs, ListenerRuntime, SessionGuard},
    http::{self, HttpContext},
    l4, proxy_protocol,
};

/// Kernel accept queue length asked for (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 65_535;

/// Binds `shards` SO_REUSEPORT sockets to `addr` and returns them with the address they got;
/// they do not listen yet (see [`listen`]), apart from `inherited` ones, which listen already.
/// Unless `handover`, first makes sure no other process listens there.
pub fn bind(
    addr: SocketAddr,
    shards: usize,
    handover: bool,
    inherited: Vec<std::net::TcpListener>,
) -> io::Result<(SocketAddr, Vec<Vec<std::net::TcpListener>>)> {
    let mut addr = addr;
    // Sockets taken over from the previous process (`-sf`): every one of them is kept (closing
    // one would reset the connections in its queue), spread over the shards; a shard left
    // without one gets a new socket in the same reuseport group.
    if !inherited.is_empty() {
        let mut per_shard: Vec<Vec<std::net::TcpListener>> = (0..shards).map(|_| Vec::new()).collect();
        for (i, s) in inherited.into_iter().enumerate() {
            per_shard[i % shards].push(s);
        }
        for list in per_shard.iter_mut().filter(|l| l.is_empty()) {
            list.push(reuseport_socket(addr)?);
        }
        return Ok((addr, per_shard));
    }
    if !handover {
        let probe = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        probe.set_reuse_address(true)?;
        if addr.is_ipv6() {
            probe.set_only_v6(true)?;
        }
        probe.bind(&addr.into())?;
        if addr.port() == 0 {
            addr = probe.local_addr()?.as_socket().expect("an inet socket has an inet address");
        }
    }
    let mut sockets = Vec::with_capacity(shards);
    for _ in 0..shards {
        let s = reuseport_socket(addr)?;
        if addr.port() == 0 {
            addr = s.local_addr()?;
        }
        sockets.push(vec![s]);
    }
    Ok((addr, sockets))
}

/// Makes a bound socket listen: from here on it is in its SO_REUSEPORT group and the kernel
/// queues connections at it. Harmless on a socket that listens already (an inherited one).
pub fn listen(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
    socket2::SockRef::from(socket).listen(BACKLOG)
}

/// A non-blocking socket bound to `addr` with SO_REUSEPORT; not listening yet.
fn reuseport_socket(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// Back-off when accept fails for lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM).
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often a shard paused at the connection cap looks again.
const CAP_POLL: Duration = Duration::from_millis(5);
const PAUSE_WARN_EVERY: Duration = Duration::from_secs(10);
/// Connections accepted in one go before the loop yields to the sessions (HAProxy's
/// `tune.maxaccept` role): fairness between a burst of new clients and established ones.
const MAX_ACCEPT_BATCH: usize = 64;

/// Accepts connections on one socket until the shard stops accepting; each connection becomes a
/// task of its own. Dropping the socket at the end closes it.
///
/// Readiness first, then a cap slot, then a non-blocking `accept4`, repeated until `EAGAIN`.
/// Reserving a slot only when this shard's own queue holds a client matters: each shard has its
/// own SO_REUSEPORT queue, and a shard that reserved the last slot while waiting on an empty
/// queue would starve a client waiting in another shard's queue.
pub async fn accept_loop(shard: Rc<HttpContext>, listener: Rc<ListenerRuntime>, socket: monoio::net::TcpListener) {
    shard.accept_loop_started();
    let mut backoff = BACKOFF_MIN;
    let mut paused = false;
    // At most one "paused" warning per PAUSE_WARN_EVERY: under churn at the cap the loop
    // pauses and resumes constantly, and a log flood (into a pipe nobody reads) stalls a shard.
    let mut last_pause_warning: Option<Instant> = None;
    let fd = socket.as_raw_fd();
    'outer: while shard.accepting() {
        monoio::select! {
            r = socket.readable(false) => {
                if let Err(e) = r {
                    warn!(shard = shard.id, listener = %listener.name, error = %e, "waiting for clients failed");
                    monoio::time::sleep(backoff).await;
                    continue;
                }
            }
            _ = shard.stopped_accepting() => break,
        }
        for _ in 0..MAX_ACCEPT_BATCH {
            // Never accept once the shard stops accepting, even when readiness won the race
            // with the stop above: a draining shard that finds no session left closes at once,
            // and a connection accepted after that check would be dropped with its request
            // unread (a reset) instead of staying queued for the process taking over.
            if !shard.accepting() {
                break 'outer;
            }
            if !shard.limit().try_acquire() {
                if !paused && last_pause_warning.is_none_or(|t| t.elapsed() >= PAUSE_WARN_EVERY) {
                    warn!(shard = shard.id, listener = %listener.name, "max_connections reached: accept paused");
                    last_pause_warning = Some(Instant::now());
                }
                paused = true;
                monoio::time::sleep(CAP_POLL).await;
                continue 'outer;
            }
            paused = false;
            match accept_nonblocking(fd) {
                Ok((stream, peer)) => {
                    backoff = BACKOFF_MIN;
                    admit(&shard, &listener, stream, peer);
                }
                Err(e) => {
                    shard.limit().release();
                    if e.kind() == io::ErrorKind::WouldBlock {
                        break;
                    }
                    if is_resource_shortage(&e) {
                        warn!(shard = shard.id, listener = %listener.name, error = %e, retry_in = ?backoff, "accept failed");
                        monoio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        break;
                    }
                    // ECONNABORTED and friends: that one client is gone, the listener is fine.
                    debug!(shard = shard.id, listener = %listener.name, error = %e, "accept failed");
                }
            }
        }
        // After a batch, let the sessions run before accepting more. (Under epoll, readiness of
        // a non-empty backlog returns at once, so without this the batch limit would not yield.)
        yield_now().await;
    }
    // A socket that was not handed over closes with this loop, and closing resets every
    // connection the kernel already queued on it (`-sf` without the upgrade socket: the
    // successor's sockets beside it; the other shards' sockets: the same). So what is queued is
    // taken first and served by this draining shard, and the socket leaves the SO_REUSEPORT
    // group at once (other descriptors of it, the upgrade offer's copies, would keep it
    // listening and queuing). A connect in the instant between the last accept and the
    // shutdown can still be reset; `net.ipv4.tcp_migrate_req = 1` closes that window too (the
    // kernel then moves a closing listener's queue to another socket of the group).
    if !shard.control.handed_over() {
        take_queued(&shard, &listener, fd);
        crate::sockopt::stop_listening(fd);
    }
    drop(socket);
    shard.accept_loop_ended();
    debug!(shard = shard.id, listener = %listener.name, "listener closed");
}

/// Accepts, until none is left (or the connection cap is reached), the connections queued on
/// a socket about to close. A client that gave up while queued (`ECONNABORTED`) is skipped,
/// not taken for the end of the queue.
fn take_queued(shard: &Rc<HttpContext>, listener: &Rc<ListenerRuntime>, fd: std::os::fd::RawFd) {
    let mut taken = 0usize;
    while shard.limit().try_acquire() {
        match accept_nonblocking(fd) {
            Ok((stream, peer)) => {
                admit(shard, listener, stream, peer);
                taken += 1;
            }
            Err(e) => {
                shard.limit().release();
                if !matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR)) {
                    break;
                }
            }
        }
    }
    if taken > 0 {
        debug!(shard = shard.id, listener = %listener.name, taken, "took the connections queued on a closing listener");
    }
}

/// An accepted connection (its cap slot already taken) becomes a session of `listener`.
fn admit(shard: &Rc<HttpContext>, listener: &Rc<ListenerRuntime>, stream: std::net::TcpStream, peer: SocketAddr) {
    let guard = SessionGuard::open(shard.shard().clone(), listener.clone());
    match monoio::net::TcpStream::from_std(stream) {
        Ok(stream) => start_session(shard, guard, stream, peer),
        Err(e) => debug!(error = %e, "cannot register an accepted socket"),
    }
}

/// Lets every other ready task of the shard run once before this one goes on.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

/// Hands an accepted connection to the session code of its listener's protocol; on an
/// `accept_proxy` listener, once its PROXY header is read.
fn start_session(shard: &Rc<HttpContext>, guard: SessionGuard, stream: monoio::net::TcpStream, peer: SocketAddr) {
    // HTTP answers are small writes that must not wait for an ACK (Nagle). Set once here: a
    // parked connection woken later keeps it (its socket is a duplicate of this one).
    if !matches!(guard.listener.protocol, Protocol::Tcp) {
        let _ = stream.set_nodelay(true);
    }
    if guard.listener.accept_proxy {
        monoio::spawn(accept_proxy(shard.clone(), guard, stream, peer));
        return;
    }
    serve(shard, guard, stream, ClientAddrs { peer, local: None });
}

/// Reads the PROXY header of a connection (within the listener's `request_timeout`, HAProxy's
/// `timeout client` role here), then starts its session with the client address the header
/// names (`LOCAL`/`UNKNOWN`: the real one). No valid header: the connection is closed and
/// counted, unless the client sent nothing at all (a connect-and-close is a TCP health check).
async fn accept_proxy(shard: Rc<HttpContext>, guard: SessionGuard, stream: monoio::net::TcpStream, peer: SocketAddr) {
    let deadline = Instant::now() + guard.listener.request_timeout;
    let read = monoio::select! {
        r = proxy_protocol::accept(&stream, deadline) => r,
        _ = shard.closing() => return,
    };
    match read {
        Ok(Some(a)) => serve(&shard, guard, stream, ClientAddrs { peer: a.source, local: Some(a.destination) }),
        Ok(None) => serve(&shard, guard, stream, ClientAddrs { peer, local: None }),
        Err(e) => {
            if e.sent_something() {
                guard.listener.counters.proxy_protocol_errors.add(1);
            }
            debug!(listener = %guard.listener.name, client = %peer, error = %e, "closing a connection without a PROXY header");
        }
    }
}

/// Starts the session of a connection whose client is `addrs`.
fn serve(shard: &Rc<HttpContext>, guard: SessionGuard, stream: monoio::net::TcpStream, addrs: ClientAddrs) {
    match guard.listener.protocol {
        // Each session ends by itself, or when the shard closes (its future, and with it the
        // sockets, pipes and buffers it holds, is dropped there).
        Protocol::Tcp => {
            monoio::spawn(async move {
                let (shard, listener) = (guard.shard.clone(), guard.listener.clone());
                monoio::select! {
                    _ = l4::serve(shard.clone(), listener, stream, addrs) => {}
                    _ = shard.closing() => {}
                }
                drop(guard);
            });
        }
        Protocol::Http => http::session::spawn_plain(shard.clone(), guard, stream, addrs),
        Protocol::Https => http::session::spawn_tls(shard.clone(), guard, stream, addrs),
    }
}

/// One `accept4(2)`: the new socket is non-blocking and close-on-exec from the start (no extra
/// syscall), as splice and the readiness-driven loops need.
pub(crate) fn accept_nonblocking(listener_fd: RawFd) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    // SAFETY: zeroed sockaddr_storage is a valid out-buffer for accept4.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage and len are valid for accept4 to write the peer address into.
    let fd = unsafe {
        libc::accept4(
            listener_fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: accept4 returned a new socket that nothing else owns.
    let stream = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    // SAFETY: the kernel wrote a socket address of `len` bytes into storage.
    let addr = unsafe { socket2::SockAddr::new(storage, len) };
    let peer = addr.as_socket().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an inet peer"))?;
    Ok((stream, peer))
}

fn is_resource_shortage(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM))
}
