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
//!   the connect timeout, before it is handed out;
//! - a connection that began with a PROXY protocol header (the group's `proxy_protocol`) names
//!   one client: it never enters the pool. The HTTP session keeps it as its own (private) and
//!   closes it with the client connection (`http/proxy.rs`).

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
    /// It began with a PROXY header naming one client: it serves that client alone and
    /// never enters the pool ([`Pool::put`] refuses it).
    pub private: bool,
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
    /// given); the socket is non-blocking with Nagle off. `preface` (a PROXY protocol header)
    /// is written first, before the TLS handshake: the target reads it before anything else.
    pub async fn connect(
        target: Rc<TargetRuntime>,
        timeout: Duration,
        tls: Option<ClientTls<'_>>,
        preface: Option<&[u8]>,
    ) -> io::Result<BackendConn> {
        let deadline = Instant::now() + timeout;
        let identity = tls_identity(tls.as_ref().map(|(config, _)| *config));
        let stream = match monoio::time::timeout(timeout, TcpStream::connect_addr(target.addr)).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
        };
        sockopt::set_nonblocking(stream.as_raw_fd())?;
        stream.set_nodelay(true)?;
        if let Some(preface) = preface {
            crate::io::write_all(&stream, preface, Some(deadline)).await.map_err(|e| match e {
                crate::io::IoError::TimedOut => {
                    io::Error::new(io::ErrorKind::TimedOut, "PROXY header not sent in time")
                }
                crate::io::IoError::Io(e) => e,
            })?;
            target.counters.bytes_in.add(preface.len() as u64);
        }
        let stream = Stream::client(stream, tls, deadline)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()))?;
        target.counters.connections.add(1);
        target.counters.sessions.add(1);
        Ok(BackendConn { stream, target, reused: false, private: preface.is_some(), tls: identity })
    }

    /// Still open, and nothing unasked-for waiting to be read (in the kernel, or taken in by a
    /// ring stream's receive).
    pub fn is_idle_and_open(&self) -> bool {
        if self.stream.has_buffered_input() {
            return false;
        }
        if self.stream.ring().is_some_and(crate::ring::RingStream::is_armed) {
            // The armed receive would have taken any byte, EOF or reset: no peek needed.
            return true;
        }
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
            // A ring stream knows without a syscall when its target closed or spoke unasked.
            let trusted = can_retry && age < TRUST_RECENT && !conn.stream.has_buffered_input();
            if age < POOL_IDLE_TIMEOUT && (trusted || conn.is_idle_and_open()) {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for a later request (or closes it when the target's list is full).
    pub fn put(&self, conn: BackendConn) {
        if conn.private {
            // Another client's request must never travel behind this client's PROXY header.
            return;
        }
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

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        net::{TcpListener, TcpStream as StdStream},
    };

    use super::*;
    use crate::{control::set::SharedTarget, health::HealthTable};

    /// A target listening on 127.0.0.1, as the shard knows it.
    struct Target {
        listener: TcpListener,
        runtime: Rc<TargetRuntime>,
    }

    fn target() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = SharedTarget::new(&HealthTable::default(), false);
        let runtime = Rc::new(TargetRuntime::new(listener.local_addr().unwrap(), &shared));
        Target { listener, runtime }
    }

    impl Target {
        fn addr(&self) -> SocketAddr {
            self.runtime.addr
        }

        /// Backend connections open to it now (the gauge `least_connections` reads).
        fn open(&self) -> u64 {
            self.runtime.counters.connections.get()
        }

        /// A new connection to it, and the target's end of it.
        async fn connect(&self) -> (BackendConn, StdStream) {
            let conn = BackendConn::connect(self.runtime.clone(), Duration::from_secs(5), None, None).await.unwrap();
            let (peer, _) = self.listener.accept().unwrap();
            (conn, peer)
        }

        /// A new connection put in `pool`: which one it is (its local port), and the target's
        /// end of it.
        async fn pooled(&self, pool: &Pool) -> (u16, StdStream) {
            let (conn, peer) = self.connect().await;
            let port = port(&conn);
            pool.put(conn);
            (port, peer)
        }

        /// Which connection `pool` hands out for a plain request to this target, if any.
        fn take(&self, pool: &Pool, can_retry: bool) -> Option<u16> {
            pool.take(self.addr(), None, can_retry).map(|c| port(&c))
        }

        /// Marks the connections to it in `pool` as idle since POOL_IDLE_TIMEOUT ago.
        fn age(&self, pool: &Pool) {
            let long_ago = Instant::now().checked_sub(POOL_IDLE_TIMEOUT).expect("the clock is old enough");
            for idle in pool.idle.borrow_mut().get_mut(&(self.addr(), None)).unwrap() {
                idle.since = long_ago;
            }
        }
    }

    /// The connection's local port: which connection it is.
    fn port(conn: &BackendConn) -> u16 {
        conn.stream.tcp().local_addr().unwrap().port()
    }

    fn block_on(test: impl std::future::Future<Output = ()>) {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(test)
    }

    /// Whether the connection has something to read (bytes or the target's FIN) within 5 s,
    /// asked with poll(2), not with the peek under test.
    fn readable_soon(conn: &BackendConn) -> bool {
        let mut p = libc::pollfd { fd: conn.stream.fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 5000) == 1 }
    }

    /// A connection in the pool after the target `spoil`ed it (closed it, sent bytes).
    async fn spoiled(t: &Target, pool: &Pool, spoil: impl FnOnce(StdStream)) {
        let (conn, peer) = t.connect().await;
        spoil(peer);
        assert!(readable_soon(&conn), "what the target did never arrived");
        pool.put(conn);
    }

    #[test]
    fn the_connection_used_last_is_taken_first_and_marked_reused() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            let (conn, _peer) = t.connect().await;
            assert!(!conn.reused, "a new connection");
            pool.put(conn);
            assert!(pool.take(t.addr(), None, false).expect("pooled").reused);
            let mut pooled = Vec::new();
            for _ in 0..3 {
                pooled.push(t.pooled(&pool).await);
            }
            assert_eq!(pool.len(), 3);
            for (expected, _) in pooled.iter().rev() {
                assert_eq!(t.take(&pool, false), Some(*expected), "not last in, first out (the warmest first)");
            }
            assert_eq!(t.take(&pool, false), None);
            assert_eq!(t.open(), 0, "taken connections dropped here close");
        });
    }

    #[test]
    fn connections_are_pooled_by_target_and_tls_config() {
        block_on(async {
            let (a, b, pool) = (target(), target(), Pool::default());
            let (plain, _peer) = a.pooled(&pool).await;
            assert!(pool.take(b.addr(), None, false).is_none(), "another target's connection");
            assert!(pool.take(a.addr(), Some(1), false).is_none(), "a plain connection for a TLS group");
            assert_eq!(a.take(&pool, false), Some(plain));
        });
    }

    #[test]
    fn a_connection_the_target_closed_is_not_handed_out() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            spoiled(&t, &pool, drop).await;
            assert_eq!(t.take(&pool, false), None, "a closed connection was handed out");
            assert_eq!((pool.len(), t.open()), (0, 0), "it was closed, not kept");
        });
    }

    #[test]
    fn a_recent_connection_is_trusted_without_a_peek_only_when_the_request_can_be_retried() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            spoiled(&t, &pool, drop).await;
            // Idle under TRUST_RECENT and retriable: taken unchecked (a failure costs a retry).
            let trusted = pool.take(t.addr(), None, true).expect("taken without the peek");
            pool.put(trusted);
            // Not retriable: checked, and the dead connection is dropped.
            assert_eq!(t.take(&pool, false), None);
        });
    }

    #[test]
    fn a_connection_with_bytes_nobody_asked_for_is_not_handed_out() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            spoiled(&t, &pool, |mut peer| peer.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap()).await;
            assert_eq!(t.take(&pool, false), None, "a stale answer would be read as the next one");
            assert_eq!(t.open(), 0);
        });
    }

    #[test]
    fn a_connection_idle_past_the_pool_limit_is_closed() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            let _old = t.pooled(&pool).await;
            t.age(&pool);
            let (fresh, _peer) = t.pooled(&pool).await;
            pool.evict_idle();
            assert_eq!((pool.len(), t.open()), (1, 1), "the old one is closed, the fresh one kept");
            assert_eq!(t.take(&pool, true), Some(fresh));
            // And one found expired by a take is not handed out either.
            let _old = t.pooled(&pool).await;
            t.age(&pool);
            assert_eq!(t.take(&pool, true), None);
        });
    }

    #[test]
    fn eviction_closes_what_the_target_closed_and_keeps_the_rest() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            spoiled(&t, &pool, drop).await;
            let (live, _peer) = t.pooled(&pool).await;
            pool.evict_idle();
            assert_eq!((pool.len(), t.open()), (1, 1), "the closed connection stayed in the pool");
            assert_eq!(t.take(&pool, false), Some(live));
        });
    }

    #[test]
    fn at_most_the_per_target_limit_is_kept_idle() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            let mut peers = Vec::new();
            for _ in 0..POOL_MAX_IDLE_PER_TARGET + 3 {
                peers.push(t.pooled(&pool).await);
            }
            assert_eq!(pool.len(), POOL_MAX_IDLE_PER_TARGET);
            assert_eq!(t.open(), POOL_MAX_IDLE_PER_TARGET as u64, "the ones over the limit were closed");
        });
    }

    #[test]
    fn connections_to_targets_no_group_routes_to_are_closed() {
        block_on(async {
            let (a, b, pool) = (target(), target(), Pool::default());
            let (_pa, _pb) = (a.pooled(&pool).await, b.pooled(&pool).await);
            pool.retain_targets(|addr| addr == a.addr());
            assert_eq!((pool.len(), a.open(), b.open()), (1, 1, 0));
            pool.clear();
            assert_eq!((pool.len(), a.open()), (0, 0));
            assert!(pool.is_empty());
        });
    }

    #[test]
    fn the_connections_gauge_counts_a_connection_from_connect_to_drop() {
        block_on(async {
            let (t, pool) = (target(), Pool::default());
            let (conn, _peer) = t.connect().await;
            assert_eq!((t.open(), t.runtime.counters.sessions.get()), (1, 1));
            pool.put(conn);
            assert_eq!(t.open(), 1, "an idle pooled connection is still open");
            drop(pool);
            assert_eq!(t.open(), 0);
        });
    }
}
