//! Per-shard idle keep-alive connections to targets (connection multiplexing, as ELB calls
//! it): a request takes an idle connection to its target if one is alive, or connects.
//!
//! Invariants and race windows:
//! - the pool is per shard (`RefCell`, no lock); a connection is in the pool only while no
//!   request uses it, and one request at a time uses a backend connection;
//! - a connection the target closed while idle is found before reuse: `recv(MSG_PEEK |
//!   MSG_DONTWAIT)` must say `EAGAIN` (nothing to read, still open). Data or EOF means the target
//!   closed it or sent something unasked for: it is dropped. The window between that check and
//!   our write (the target closes just then) is covered by the caller's one retry on a fresh
//!   connection when a reused one fails before any response byte; for requests that can be
//!   retried, a connection idle under a second skips the peek and relies on that retry;
//! - connections idle longer than [`POOL_IDLE_TIMEOUT`] are closed by [`Pool::evict_idle`],
//!   most targets close keep-alive connections after 5–75 s of silence themselves;
//! - every [`BackendConn`] counts itself in its target's `connections` gauge from connect to
//!   drop, so `least_connections` and the figures see pooled connections too;
//! - connections are pooled by target address *and* by the TLS client config they were made
//!   with (none for plain TCP): each group with `tls` has its own config, rebuilt at every
//!   reload, so two groups that reach one address with different `verify`, `ca` or
//!   `server_name` never take each other's connections, and after a reload connections made
//!   under the old settings are no longer handed out (they idle out). The config's address is
//!   the key: every pooled TLS connection holds the config, so the address cannot be reused by
//!   another while the connection is in the pool. A TLS connection's handshake is done within
//!   the connect timeout, before it is handed out.

use std::{
    cell::RefCell,
    io,
    net::SocketAddr,
    os::fd::AsRawFd,
    rc::Rc,
    time::{Duration, Instant},
};

use crate::{
    group::TargetRuntime,
    sockopt,
    stream::{ClientTls, Stream},
};
use monoio::net::TcpStream;

/// Idle connections kept per target per shard.
pub const POOL_MAX_IDLE_PER_TARGET: usize = 128;
/// An idle connection older than this is closed rather than reused.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Idle for less than this, a connection is reused without the liveness peek when the request
/// can be retried (see [`Pool::take`]).
pub const TRUST_RECENT: Duration = Duration::from_secs(1);

/// Which TLS client config a backend connection was made with (its address), or None for
/// plain TCP: part of the pool's key.
pub type TlsIdentity = Option<usize>;

/// The identity of connections made with `config`.
pub fn tls_identity(config: Option<&std::sync::Arc<rustls::ClientConfig>>) -> TlsIdentity {
    config.map(|c| std::sync::Arc::as_ptr(c) as usize)
}

/// A connection to a target, counted in the target's `connections` gauge while it exists.
pub struct BackendConn {
    pub stream: Stream,
    pub target: Rc<TargetRuntime>,
    /// Taken from the pool (it served a request before).
    pub reused: bool,
    /// The TLS client config it was made with (see the module docs).
    tls: TlsIdentity,
}

impl Drop for BackendConn {
    fn drop(&mut self) {
        self.target.counters.connections.sub(1);
    }
}

impl BackendConn {
    /// Connects to `target` within `timeout` (the TLS handshake included, when `tls` is
    /// given); the socket is non-blocking with Nagle off.
    pub async fn connect(
        target: Rc<TargetRuntime>,
        timeout: Duration,
        tls: Option<ClientTls<'_>>,
    ) -> io::Result<BackendConn> {
        let deadline = Instant::now() + timeout;
        let identity = tls_identity(tls.as_ref().map(|(config, _)| *config));
        let stream = match monoio::time::timeout(timeout, TcpStream::connect_addr(target.addr)).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        };
        sockopt::set_nonblocking(stream.as_raw_fd())?;
        stream.set_nodelay(true)?;
        let stream = Stream::client(stream, tls, deadline)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()))?;
        target.counters.connections.add(1);
        target.counters.sessions.add(1);
        Ok(BackendConn { stream, target, reused: false, tls: identity })
    }

    /// Still open, and nothing unasked-for waiting to be read.
    fn is_idle_and_open(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: one-byte peek into a valid local.
        let n = unsafe {
            libc::recv(self.stream.fd(), (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

struct Idle {
    conn: BackendConn,
    since: Instant,
}

/// One shard's idle backend connections, by target address.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<ahash::AHashMap<(SocketAddr, TlsIdentity), Vec<Idle>>>,
}

impl Pool {
    /// An idle, open connection to `addr` made with the TLS client config `tls` (None: plain
    /// TCP), most recently used first (warm), or None.
    ///
    /// `can_retry`: the caller can send the request again on a fresh connection if this one
    /// turns out dead before any response byte. Then a connection idle for less than
    /// [`TRUST_RECENT`] is taken without the liveness peek (one syscall per request saved):
    /// targets close idle keep-alive connections after seconds, not milliseconds, and the rare
    /// one closed just then costs a retry, not an error.
    pub fn take(&self, addr: SocketAddr, tls: TlsIdentity, can_retry: bool) -> Option<BackendConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&(addr, tls))?;
        while let Some(Idle { mut conn, since }) = list.pop() {
            let age = since.elapsed();
            let trusted = can_retry && age < TRUST_RECENT;
            if age < POOL_IDLE_TIMEOUT && (trusted || conn.is_idle_and_open()) {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for a later request (or closes it when the target's list is full).
    pub fn put(&self, conn: BackendConn) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry((conn.target.addr, conn.tls)).or_default();
        if list.len() < POOL_MAX_IDLE_PER_TARGET {
            list.push(Idle { conn, since: Instant::now() });
        }
    }

    /// Closes connections idle longer than [`POOL_IDLE_TIMEOUT`] or closed by their target.
    pub fn evict_idle(&self) {
        let mut idle = self.idle.borrow_mut();
        for list in idle.values_mut() {
            list.retain(|i| i.since.elapsed() < POOL_IDLE_TIMEOUT && i.conn.is_idle_and_open());
        }
        idle.retain(|_, list| !list.is_empty());
    }

    /// Closes the idle connections to targets `keep` refuses (targets no group routes to).
    pub fn retain_targets(&self, keep: impl Fn(SocketAddr) -> bool) {
        self.idle.borrow_mut().retain(|&(addr, _), _| keep(addr));
    }

    /// Closes every idle connection (the shard is ending).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }

    /// Idle connections held now (all targets).
    pub fn len(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
