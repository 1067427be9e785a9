//! What a shard's client sessions share: [`ShardContext`], and each session's bookkeeping
//! ([`ListenerRuntime`], [`SessionGuard`], the process-wide [`ConnectionLimit`]).
//!
//! The shard (`shard/`) owns the run loop, the mailbox, the health checks and the listeners'
//! accept loops; the sessions below it (`l4/`, `http/`) need only a narrow part of its state:
//! its target groups, its pipes, the drain and close signals and the session count. That part
//! lives here, below the session code, so that sessions never name the shard: imports run one
//! way (the layering map in `lib.rs`). The HTTP listener adds its own per-shard resources on
//! top (`http::HttpContext`, which dereferences to this).
//!
//! Everything here is one thread's (`Cell`/`RefCell`), except the connection cap: one atomic
//! add when a connection is accepted and one subtract when it closes, never per request.

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::{
    config::{Config, Listener, Protocol},
    control::Control,
    group::GroupRuntime,
    health::HealthTable,
    latch::Latch,
    live_sessions::LiveSessions,
    metrics::ListenerCounters,
    pipe::PipePool,
    rules::RuleSet,
};

/// Who a client session serves: the client's address (the peer's, or the one its PROXY header
/// named) and the address it connected to when a PROXY header named it. It stands for the peer
/// everywhere: `X-Forwarded-For`, `source_ip` rules, stickiness by source, logs, and the PROXY
/// header spillway itself sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddrs {
    pub peer: SocketAddr,
    /// `None`: the listening socket's own address ([`ClientAddrs::local_of`]).
    pub local: Option<SocketAddr>,
}

impl ClientAddrs {
    /// The address the client connected to: the PROXY header's destination, the listener's
    /// configured address, or, when that is a wildcard, the socket's own (one `getsockname`,
    /// only asked for by a session that sends a PROXY header).
    pub fn local_of(&self, listener: &ListenerRuntime, socket: &impl std::os::fd::AsRawFd) -> SocketAddr {
        if let Some(local) = self.local {
            return local;
        }
        if !listener.local.ip().is_unspecified() && listener.local.port() != 0 {
            return listener.local;
        }
        // SAFETY: the caller's socket outlives this call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket.as_raw_fd()) };
        socket2::SockRef::from(&fd).local_addr().ok().and_then(|a| a.as_socket()).unwrap_or(listener.local)
    }

    /// The PROXY header of `version` for this client.
    pub fn proxy_header(
        &self,
        version: crate::config::ProxyVersion,
        listener: &ListenerRuntime,
        socket: &impl std::os::fd::AsRawFd,
    ) -> crate::proxy_protocol::Encoded {
        let destination = self.local_of(listener, socket);
        crate::proxy_protocol::encode(
            version,
            Some(crate::proxy_protocol::Addresses { source: self.peer, destination }),
        )
    }
}

/// The process-wide cap on client connections.
#[derive(Debug)]
pub struct ConnectionLimit {
    open: AtomicUsize,
    max: usize,
}

impl ConnectionLimit {
    pub fn new(max: usize) -> Self {
        ConnectionLimit { open: AtomicUsize::new(0), max }
    }

    /// Reserves a slot for one connection; false at the cap.
    pub fn try_acquire(&self) -> bool {
        self.open.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < self.max).then_some(n + 1)).is_ok()
    }

    pub fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    /// Client connections open now, over all shards.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// A listener as a shard runs it.
#[derive(Debug)]
pub struct ListenerRuntime {
    /// Position in the configuration's listener list (its TLS context is found by it).
    pub index: usize,
    pub name: String,
    pub protocol: Protocol,
    /// Index of its target group in the shard's group list (changes when a reload reorders
    /// the groups).
    pub group: Cell<usize>,
    pub idle_timeout: Duration,
    /// HTTP: the whole request head must arrive within this, else 408.
    pub request_timeout: Duration,
    /// HTTP: idle limit of an upgraded (WebSocket) tunnel.
    pub tunnel_timeout: Duration,
    /// HTTP: `X-Forwarded-Port` and `X-Forwarded-Proto` values, and the `Host` given to an
    /// HTTP/1.0 request without one.
    pub port: u16,
    pub scheme: &'static str,
    pub host: String,
    /// The address the listener was configured with (HAProxy's `dst`, `dst_port` in rules).
    pub local: SocketAddr,
    /// Connections start with a PROXY protocol header (`accept_proxy`), read before the session.
    pub accept_proxy: bool,
    /// HTTP: the listener rules, compiled for this shard; replaced as a whole on reload (a
    /// request keeps the set it started with).
    rules: RefCell<Rc<RuleSet>>,
    pub counters: ListenerCounters,
}

impl ListenerRuntime {
    /// The runtime of listener `index` of `config`.
    pub fn new(index: usize, l: &Listener, config: &Config) -> Self {
        ListenerRuntime {
            index,
            name: l.name.clone(),
            protocol: l.protocol,
            group: Cell::new(config.group_index(&l.target_group).expect("validated: group exists")),
            idle_timeout: l.idle_timeout,
            request_timeout: l.request_timeout,
            tunnel_timeout: l.tunnel_timeout,
            port: l.bind.port(),
            scheme: if l.protocol == Protocol::Https { "https" } else { "http" },
            host: l.bind.to_string(),
            local: l.bind,
            accept_proxy: l.accept_proxy,
            rules: RefCell::new(Rc::new(RuleSet::compile(&l.rules, &l.trusted_proxies, config))),
            counters: ListenerCounters::default(),
        }
    }

    /// Applies a reloaded configuration's version of this listener: its default group's
    /// index and its rules.
    pub fn reconfigure(&self, l: &Listener, config: &Config) {
        self.group.set(config.group_index(&l.target_group).expect("validated: group exists"));
        *self.rules.borrow_mut() = Rc::new(RuleSet::compile(&l.rules, &l.trusted_proxies, config));
    }

    /// The rules in force now.
    pub fn rules(&self) -> Rc<RuleSet> {
        self.rules.borrow().clone()
    }
}

/// What the sessions of one shard share.
pub struct ShardContext {
    pub id: usize,
    /// The control plane: target sets, TLS contexts, the other shards' mailboxes.
    pub control: Arc<Control>,
    /// Replaced as a whole on reload; sessions keep the `Rc` of the group they started with.
    groups: RefCell<Vec<Rc<GroupRuntime>>>,
    /// Empty pipes for splice, reused across sessions.
    pub pipes: RefCell<PipePool>,
    limit: Arc<ConnectionLimit>,
    /// Client sessions open on this shard.
    sessions: Cell<usize>,
    splice: bool,
    /// The backend sockets of sessions to groups with `shutdown_sessions`, shut when their
    /// target is marked down.
    pub live_sessions: LiveSessions,
    /// Set once the shard drains: accept loops end and close their sockets.
    stop_accepting: Latch,
    /// Set when the shard ends: every session and background task drops what it holds (its
    /// sockets close). A monoio runtime that ends does not drop its parked tasks, so the shard
    /// must end them itself before returning.
    closing: Latch,
    /// Accept loops still running (they close their listening socket when they end).
    accept_loops: Cell<usize>,
}

impl ShardContext {
    pub fn new(
        id: usize,
        control: Arc<Control>,
        groups: Vec<Rc<GroupRuntime>>,
        pipes: PipePool,
        limit: Arc<ConnectionLimit>,
        splice: bool,
    ) -> Self {
        ShardContext {
            id,
            control,
            groups: RefCell::new(groups),
            pipes: RefCell::new(pipes),
            limit,
            sessions: Cell::new(0),
            live_sessions: LiveSessions::default(),
            splice,
            stop_accepting: Latch::default(),
            closing: Latch::default(),
            accept_loops: Cell::new(0),
        }
    }

    /// The shared health table (its epoch is read on every pick).
    pub fn health(&self) -> &HealthTable {
        self.control.table()
    }

    pub fn group(&self, index: usize) -> Rc<GroupRuntime> {
        self.groups.borrow()[index].clone()
    }

    /// The group at `index`, if there is one (a rule's forward names it by index).
    pub fn find_group(&self, index: usize) -> Option<Rc<GroupRuntime>> {
        self.groups.borrow().get(index).cloned()
    }

    /// Every group in force now.
    pub fn groups(&self) -> Vec<Rc<GroupRuntime>> {
        self.groups.borrow().clone()
    }

    /// Puts a new list of groups in force (the shard does, when a target set is published).
    pub fn replace_groups(&self, groups: Vec<Rc<GroupRuntime>>) {
        *self.groups.borrow_mut() = groups;
    }

    pub fn splice_enabled(&self) -> bool {
        self.splice
    }

    pub fn limit(&self) -> &ConnectionLimit {
        &self.limit
    }

    pub fn accepting(&self) -> bool {
        !self.stop_accepting.is_set()
    }

    /// Draining: finish what is in flight, keep no client connection alive for more.
    pub fn draining(&self) -> bool {
        self.stop_accepting.is_set()
    }

    /// Completes when the shard stops accepting (the accept loops wait on this beside the
    /// listening socket's readiness).
    pub async fn stopped_accepting(&self) {
        self.stop_accepting.wait().await
    }

    /// Stops accepting: the accept loops wake up and close their sockets.
    pub fn stop_accepting(&self) {
        self.stop_accepting.set();
    }

    /// Completes when the shard is ending: the caller drops what it holds.
    pub async fn closing(&self) {
        self.closing.wait().await
    }

    /// Ends every session and background task (they drop what they hold on their next poll).
    pub fn close(&self) {
        self.closing.set();
    }

    pub fn accept_loop_started(&self) {
        self.accept_loops.set(self.accept_loops.get() + 1);
    }

    pub fn accept_loop_ended(&self) {
        self.accept_loops.set(self.accept_loops.get() - 1);
    }

    /// Accept loops still running.
    pub fn accept_loops(&self) -> usize {
        self.accept_loops.get()
    }

    /// Client sessions open on this shard.
    pub fn sessions(&self) -> usize {
        self.sessions.get()
    }

    fn session_opened(&self) {
        self.sessions.set(self.sessions.get() + 1);
    }

    fn session_closed(&self) {
        self.sessions.set(self.sessions.get() - 1);
    }
}

/// Keeps a session's bookkeeping right however the session ends: the shard's and listener's
/// open counts and the global cap slot are given back on drop.
pub struct SessionGuard {
    pub shard: Rc<ShardContext>,
    pub listener: Rc<ListenerRuntime>,
}

impl SessionGuard {
    /// Counts a session whose cap slot was already taken (`ConnectionLimit::try_acquire`).
    pub fn open(shard: Rc<ShardContext>, listener: Rc<ListenerRuntime>) -> Self {
        shard.session_opened();
        listener.counters.accepted.add(1);
        listener.counters.active.add(1);
        SessionGuard { shard, listener }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.listener.counters.active.sub(1);
        self.shard.session_closed();
        self.shard.limit().release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Config, pipe::PipePool, tls::TlsContexts};

    #[test]
    fn the_cap_admits_up_to_its_maximum_and_a_release_admits_one_more() {
        let limit = ConnectionLimit::new(3);
        assert!((0..3).all(|_| limit.try_acquire()));
        assert!(!limit.try_acquire(), "a fourth connection under a cap of three");
        assert_eq!(limit.open(), 3, "a refused try takes nothing");
        limit.release();
        assert_eq!(limit.open(), 2);
        assert!(limit.try_acquire());
        assert!(!limit.try_acquire());
    }

    #[test]
    fn the_cap_holds_across_threads() {
        // Every shard accepts against the one counter: whoever holds a slot sees at most `MAX`.
        // A cap of one: with two CPUs at most two threads run at once, so a check-then-add race
        // could never show above a cap of two.
        const MAX: usize = 1;
        let limit = Arc::new(ConnectionLimit::new(MAX));
        let over = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (limit, over) = (limit.clone(), over.clone());
                std::thread::spawn(move || {
                    for _ in 0..500_000 {
                        if limit.try_acquire() {
                            if limit.open() > MAX {
                                over.store(true, Ordering::SeqCst);
                            }
                            limit.release();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!over.load(Ordering::SeqCst), "more than {MAX} connections admitted at once");
        assert_eq!(limit.open(), 0);
    }

    #[test]
    fn a_session_guard_gives_its_cap_slot_and_counts_back_however_the_session_ends() {
        let config = Config {
            runtime: Default::default(),
            admin: Default::default(),
            listeners: Vec::new(),
            target_groups: Vec::new(),
        };
        let tls = TlsContexts::load(&config).expect("no TLS files");
        let control = Arc::new(Control::new(Arc::new(config), Vec::new(), tls));
        let limit = Arc::new(ConnectionLimit::new(1));
        let shard = Rc::new(ShardContext::new(0, control, Vec::new(), PipePool::new(1), limit.clone(), true));
        let l = crate::config::Listener::with_defaults("l", "127.0.0.1:80".parse().unwrap(), Protocol::Http, "g");
        let config = Config {
            runtime: Default::default(),
            admin: Default::default(),
            listeners: vec![l.clone()],
            target_groups: vec![crate::config::TargetGroup::with_defaults("g", Vec::new())],
        };
        let listener = Rc::new(ListenerRuntime::new(0, &l, &config));
        assert!(limit.try_acquire());
        let guard = SessionGuard::open(shard.clone(), listener.clone());
        assert_eq!((limit.open(), shard.sessions(), listener.counters.active.get()), (1, 1, 1));
        assert!(!limit.try_acquire(), "the session holds the only slot");
        // A session task that panics or is cancelled drops its guard like one that returns.
        drop(guard);
        assert_eq!((limit.open(), shard.sessions(), listener.counters.active.get()), (0, 0, 0));
        assert_eq!(listener.counters.accepted.get(), 1, "accepted counts every session ever opened");
        assert!(limit.try_acquire(), "the slot is free for the next connection");
    }
}
