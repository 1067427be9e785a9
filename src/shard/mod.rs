//! One shard: one core's share of everything, and its run loop.
//!
//! A shard owns, in plain `Rc`/`Cell`/`RefCell` (it is one thread, one monoio runtime): its
//! SO_REUSEPORT listening sockets, the sessions it accepted, its balancers, its pipe pool and
//! its counters. Nothing here is touched by another thread; what other threads need goes
//! through the [`mailbox`] (control in) and [`ShardSnapshot`]s (figures out).
//!
//! The only shared write on the connection path is the global connection cap
//! ([`crate::listener::ConnectionLimit`]): one atomic add when a connection is accepted and one
//! subtract when it closes, never per byte or per request.

mod latch;
pub mod mailbox;
pub mod spawn;

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{debug, info};

use crate::{
    balance::Balancer,
    config::{Config, Protocol, TargetGroup},
    http::resources::HttpShard,
    l4::pipe::PipePool,
    listener::{self, ConnectionLimit},
    metrics::{ListenerCounters, ShardSnapshot, TargetCounters},
};

use latch::Latch;
use mailbox::{Mailbox, MailboxReceiver, Message};

/// Idle pipes a shard keeps for reuse (each is two file descriptors).
const PIPE_POOL_CAP: usize = 64;

/// A listener as a shard runs it.
#[derive(Debug)]
pub struct ListenerRuntime {
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
    pub counters: ListenerCounters,
}

/// A target group as a shard runs it: the settings, the balancer over its targets, and the
/// per-target counters.
#[derive(Debug)]
pub struct GroupRuntime {
    pub config: TargetGroup,
    pub balancer: RefCell<Balancer>,
    pub targets: Vec<Rc<TargetRuntime>>,
}

#[derive(Debug)]
pub struct TargetRuntime {
    pub addr: SocketAddr,
    pub counters: TargetCounters,
}

impl GroupRuntime {
    /// Builds a group. Targets that `previous` already had keep their runtime (and so their
    /// counters) across a reload; new ones start from zero.
    pub fn new(config: &TargetGroup, previous: Option<&GroupRuntime>, seed: u64) -> Self {
        let reuse = |addr: SocketAddr| previous.and_then(|p| p.targets.iter().find(|t| t.addr == addr).cloned());
        GroupRuntime {
            balancer: RefCell::new(Balancer::new(config.algorithm, &config.targets, seed)),
            targets: config
                .targets
                .iter()
                .map(|t| {
                    reuse(t.addr)
                        .unwrap_or_else(|| Rc::new(TargetRuntime { addr: t.addr, counters: TargetCounters::default() }))
                })
                .collect(),
            config: config.clone(),
        }
    }
}

/// One core's state.
pub struct Shard {
    pub id: usize,
    listeners: Vec<Rc<ListenerRuntime>>,
    /// Replaced as a whole on reload; sessions keep the `Rc` of the group they started with.
    groups: RefCell<Vec<Rc<GroupRuntime>>>,
    /// Empty pipes for splice, reused across sessions.
    pub pipes: RefCell<PipePool>,
    /// Buffers, idle backend connections and limits of the HTTP listeners.
    pub http: HttpShard,
    limit: Arc<ConnectionLimit>,
    /// Client sessions open on this shard.
    sessions: Cell<usize>,
    splice: bool,
    /// Set once the shard drains: accept loops end and close their sockets.
    stop_accepting: Latch,
    /// Set when the shard ends: every session and background task drops what it holds (its
    /// sockets close). A monoio runtime that ends does not drop its parked tasks, so the shard
    /// must end them itself before returning.
    closing: Latch,
    /// Accept loops still running (they close their listening socket when they end).
    accept_loops: Cell<usize>,
}

impl Shard {
    pub fn new(id: usize, config: &Config, limit: Arc<ConnectionLimit>) -> Shard {
        let groups: Vec<GroupRuntime> =
            config.target_groups.iter().map(|g| GroupRuntime::new(g, None, balancer_seed(id))).collect();
        let listeners = config
            .listeners
            .iter()
            .map(|l| {
                Rc::new(ListenerRuntime {
                    name: l.name.clone(),
                    protocol: l.protocol,
                    group: Cell::new(config.group_index(&l.target_group).expect("validated: group exists")),
                    idle_timeout: l.idle_timeout,
                    request_timeout: l.request_timeout,
                    tunnel_timeout: l.tunnel_timeout,
                    port: l.bind.port(),
                    scheme: if l.protocol == Protocol::Https { "https" } else { "http" },
                    host: l.bind.to_string(),
                    counters: ListenerCounters::default(),
                })
            })
            .collect();
        Shard {
            id,
            listeners,
            groups: RefCell::new(groups.into_iter().map(Rc::new).collect()),
            pipes: RefCell::new(PipePool::new(PIPE_POOL_CAP)),
            http: HttpShard::default(),
            limit,
            sessions: Cell::new(0),
            splice: config.runtime.splice,
            stop_accepting: Latch::default(),
            closing: Latch::default(),
            accept_loops: Cell::new(0),
        }
    }

    pub fn group(&self, index: usize) -> Rc<GroupRuntime> {
        self.groups.borrow()[index].clone()
    }

    /// Applies the target groups of a reloaded configuration: balancers are rebuilt from the
    /// new target lists, targets that stay keep their counters, sessions in flight go on with
    /// the group they started with. Listeners are unchanged (the control thread checked).
    pub fn apply_groups(&self, config: &Config) {
        let old = self.groups.borrow().clone();
        let new = config
            .target_groups
            .iter()
            .map(|g| {
                let previous = old.iter().find(|o| o.config.name == g.name);
                Rc::new(GroupRuntime::new(g, previous.map(|p| &**p), balancer_seed(self.id)))
            })
            .collect();
        *self.groups.borrow_mut() = new;
        for (l, lc) in self.listeners.iter().zip(&config.listeners) {
            l.group.set(config.group_index(&lc.target_group).expect("validated: group exists"));
        }
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
    fn stop_accepting(&self) {
        self.stop_accepting.set();
    }

    /// Completes when the shard is ending: the caller drops what it holds.
    pub async fn closing(&self) {
        self.closing.wait().await
    }

    pub fn accept_loop_started(&self) {
        self.accept_loops.set(self.accept_loops.get() + 1);
    }

    pub fn accept_loop_ended(&self) {
        self.accept_loops.set(self.accept_loops.get() - 1);
    }

    /// Ends everything the shard runs and waits (briefly) until sessions and accept loops have
    /// dropped their sockets.
    async fn close_all(&self) {
        self.stop_accepting();
        self.closing.set();
        for _ in 0..CLOSE_WAIT_ROUNDS {
            if self.sessions.get() == 0 && self.accept_loops.get() == 0 {
                return;
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
        tracing::warn!(shard = self.id, sessions = self.sessions.get(), "sessions did not close in time");
    }

    pub fn session_opened(&self) {
        self.sessions.set(self.sessions.get() + 1);
    }

    pub fn session_closed(&self) {
        self.sessions.set(self.sessions.get() - 1);
    }

    pub fn snapshot(&self) -> ShardSnapshot {
        let pipes = self.pipes.borrow();
        ShardSnapshot {
            listeners: self.listeners.iter().map(|l| l.counters.snapshot(&l.name)).collect(),
            targets: self
                .groups
                .borrow()
                .iter()
                .flat_map(|g| g.targets.iter().map(|t| t.counters.snapshot(&g.config.name, t.addr)))
                .collect(),
            sessions: self.sessions.get() as u64,
            pipes_pooled: pipes.pooled() as u64,
            pipes_in_use: pipes.in_use() as u64,
        }
    }
}

/// A seed for the randomised balancers: different per shard and per start.
fn balancer_seed(shard: usize) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    now ^ (shard as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How often a shard closes idle backend connections that expired or were closed by the target.
const POOL_EVICT_EVERY: Duration = Duration::from_secs(2);

async fn evict_idle_backend_connections(shard: Rc<Shard>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(POOL_EVICT_EVERY) => shard.http.pool.evict_idle(),
            _ = shard.closing() => return,
        }
    }
}

/// Rounds of 1 ms a closing shard waits for its sessions to drop their sockets (they do so on
/// their next poll, which comes at once: this is a safety bound, not a delay).
const CLOSE_WAIT_ROUNDS: usize = 1000;

/// How often a draining shard looks whether its last session has ended.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// The shard's life: start one accept loop per listening socket, then serve the mailbox until
/// told to stop, or until a drain has finished.
pub async fn run(
    shard: Rc<Shard>,
    sockets: Vec<std::net::TcpListener>,
    mailbox: MailboxReceiver,
    ready: crossbeam_channel::Sender<Result<(), String>>,
) {
    let mailbox = match Mailbox::open(mailbox) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {}: mailbox: {e}", shard.id)));
            return;
        }
    };
    for (socket, listener) in sockets.into_iter().zip(shard.listeners.clone()) {
        match monoio::net::TcpListener::from_std(socket) {
            Ok(socket) => {
                monoio::spawn(listener::accept_loop(shard.clone(), listener, socket));
            }
            Err(e) => {
                let _ = ready.send(Err(format!("shard {}: listener {}: {e}", shard.id, listener.name)));
                return;
            }
        }
    }
    let _ = ready.send(Ok(()));
    debug!(shard = shard.id, "shard running");
    monoio::spawn(evict_idle_backend_connections(shard.clone()));

    let mut drain_deadline: Option<Instant> = None;
    'life: loop {
        let batch = match drain_deadline {
            None => mailbox.recv().await,
            Some(deadline) => {
                if shard.sessions.get() == 0 {
                    debug!(shard = shard.id, "drained");
                    break 'life;
                }
                if Instant::now() >= deadline {
                    info!(
                        shard = shard.id,
                        open = shard.sessions.get(),
                        "drain timeout: closing the remaining sessions"
                    );
                    break 'life;
                }
                monoio::time::timeout(DRAIN_POLL, mailbox.recv()).await.unwrap_or_default()
            }
        };
        for message in batch {
            match message {
                Message::Stop => break 'life,
                Message::Drain { deadline } => {
                    shard.stop_accepting();
                    drain_deadline = Some(drain_deadline.map_or(deadline, |d| d.min(deadline)));
                }
                Message::UpdateGroups(config) => shard.apply_groups(&config),
                Message::Snapshot(reply) => {
                    let _ = reply.send(shard.snapshot());
                }
            }
        }
    }
    // Whatever is still open (sessions past the drain deadline, idle backend connections,
    // listening sockets) is closed here, before the runtime goes away.
    shard.close_all().await;
    shard.http.pool.clear();
}
