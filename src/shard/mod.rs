//! One shard: one core's share of everything, and its run loop.
//!
//! A shard owns, in plain `Rc`/`Cell`/`RefCell` (it is one thread, one monoio runtime): its
//! SO_REUSEPORT listening sockets, the sessions it accepted, its balancers, its pipe pool and
//! its counters. Nothing here is touched by another thread; what other threads need goes
//! through the [`mailbox`] (control in) and [`ShardSnapshot`]s (figures out).
//!
//! The part of the shard its client sessions use lives below them, in
//! [`crate::context::ShardContext`] (and [`crate::http::HttpContext`] on top of it): sessions
//! never name the shard. The shard keeps the rest: its listeners, its health checks, its share
//! of each surge queue, and the run loop that applies what the mailbox brings.
//!
//! The only shared write on the connection path is the global connection cap
//! ([`crate::context::ConnectionLimit`]): one atomic add when a connection is accepted and one
//! subtract when it closes, never per byte or per request.

pub mod spawn;

use std::{
    cell::RefCell,
    collections::HashMap,
    ops::Deref,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{debug, info};

use crate::{
    config::{HealthCheck, HealthProtocol},
    context::{ConnectionLimit, ListenerRuntime, ShardContext},
    control::{
        mailbox::{Mailbox, MailboxReceiver, Message},
        Control, TargetSet,
    },
    group::GroupRuntime,
    health::checker,
    http::HttpContext,
    latch::Latch,
    listener,
    metrics::{ShardDriver, ShardReport, ShardSnapshot},
    pipe::PipePool,
    surge::SurgeLocal,
};

/// Idle pipes a shard keeps for reuse (each is two file descriptors).
const PIPE_POOL_CAP: usize = 64;

/// One core's state.
pub struct Shard {
    /// What the shard's sessions use: groups, pipes, HTTP resources, drain and close signals.
    /// `Shard` dereferences to it.
    context: Rc<HttpContext>,
    /// How many shards the process runs (target `i` is checked by shard `i % shard_count`).
    shard_count: usize,
    listeners: Vec<Rc<ListenerRuntime>>,
    /// The health checks this shard runs, by health-slot id.
    checkers: RefCell<HashMap<u64, Checker>>,
    /// This shard's part of each group's surge queue, by group name (kept across reloads).
    surges: RefCell<HashMap<String, Rc<SurgeLocal>>>,
    /// The driver and ring flags this shard's runtime was built with (reported in `/stats`).
    driver: ShardDriver,
}

impl Deref for Shard {
    type Target = HttpContext;

    fn deref(&self) -> &HttpContext {
        &self.context
    }
}

/// The shard's queue of group `g` of `set`: the one it has when the group keeps its shared
/// queue figures, else a new one.
fn surge_local(
    surges: &RefCell<HashMap<String, Rc<SurgeLocal>>>,
    shard: usize,
    control: &Arc<Control>,
    set: &TargetSet,
    g: usize,
) -> Rc<SurgeLocal> {
    let name = &set.config.target_groups[g].name;
    let mut surges = surges.borrow_mut();
    match surges.get(name) {
        Some(local) if Arc::ptr_eq(local.shared(), &set.surge[g]) => {
            local.set_index(g);
            local.clone()
        }
        _ => {
            let waker: Arc<dyn crate::surge::WakeShard> = control.clone();
            let local = Rc::new(SurgeLocal::new(shard, name, g, set.surge[g].clone(), Some(waker)));
            surges.insert(name.clone(), local.clone());
            local
        }
    }
}

/// A running health check and what it was started with (a changed check is restarted).
struct Checker {
    check: HealthCheck,
    /// The TLS client config of an HTTPS check. Compared by identity: a reload rebuilds it (a
    /// CA file rotated in place, a changed `verify` or `server_name`), and the check must then
    /// trust what requests trust.
    client: Option<Arc<rustls::ClientConfig>>,
    stop: Rc<Latch>,
}

impl Checker {
    fn started_as(&self, check: &HealthCheck, client: &Option<Arc<rustls::ClientConfig>>) -> bool {
        let same_client = match (&self.client, client) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        self.check == *check && same_client
    }
}

impl Shard {
    pub fn new(id: usize, control: Arc<Control>, limit: Arc<ConnectionLimit>, driver: ShardDriver) -> Shard {
        let set = control.current();
        let config = &set.config;
        let surges = RefCell::new(HashMap::new());
        let groups: Vec<Rc<GroupRuntime>> = (0..config.target_groups.len())
            .map(|g| {
                let surge = surge_local(&surges, id, &control, &set, g);
                let tls = control.tls().for_group(&config.target_groups[g].name);
                Rc::new(GroupRuntime::new(&set, g, None, balancer_seed(id, control.shard_count()), surge, tls))
            })
            .collect();
        let listeners = config
            .listeners
            .iter()
            .enumerate()
            .map(|(index, l)| Rc::new(ListenerRuntime::new(index, l, config)))
            .collect();
        let splice = config.runtime.splice;
        let shard_count = control.shard_count();
        let context = ShardContext::new(id, control, groups, PipePool::new(PIPE_POOL_CAP), limit, splice);
        Shard {
            context: Rc::new(HttpContext::new(Rc::new(context))),
            shard_count,
            listeners,
            checkers: RefCell::new(HashMap::new()),
            surges,
            driver,
        }
    }

    /// Applies a published target set (registration, drain removal, zonal shift, reload):
    /// balancers are rebuilt from the new target lists, targets that stay keep their counters,
    /// sessions in flight go on with the group they started with, and the health checks this
    /// shard owns are started or stopped to match. Listeners are unchanged (the control plane
    /// checked).
    pub fn apply_set(&self, set: &TargetSet) {
        let config = &set.config;
        let old = self.groups();
        let new: Vec<Rc<GroupRuntime>> = (0..config.target_groups.len())
            .map(|g| {
                let previous = old.iter().find(|o| o.config.name == config.target_groups[g].name);
                let surge = surge_local(&self.surges, self.id, &self.control, set, g);
                let tls = self.control.tls().for_group(&config.target_groups[g].name);
                let seed = balancer_seed(self.id, self.shard_count);
                Rc::new(GroupRuntime::new(set, g, previous.map(|p| &**p), seed, surge, tls))
            })
            .collect();
        // Idle pooled connections to targets no group routes to any more are closed now.
        self.http.pool.retain_targets(|addr| new.iter().any(|g| g.targets.iter().any(|t| t.addr == addr)));
        self.replace_groups(new);
        self.surges.borrow_mut().retain(|name, _| config.group_index(name).is_some());
        for (l, lc) in self.listeners.iter().zip(&config.listeners) {
            l.reconfigure(lc, config);
        }
        self.sync_checkers(set);
    }

    /// Starts the checks of the targets this shard owns (`id % shards == self.id`) that are
    /// not running, and stops those of targets that are gone or whose check changed.
    fn sync_checkers(&self, set: &TargetSet) {
        let mut running = self.checkers.borrow_mut();
        let mut wanted: HashMap<u64, ()> = HashMap::new();
        for (g, group) in set.config.target_groups.iter().enumerate() {
            if !group.health_check.enabled {
                continue;
            }
            for (t, target) in group.targets.iter().enumerate() {
                let slot = &set.targets[g][t].health;
                if slot.id % self.shard_count as u64 != self.id as u64 {
                    continue;
                }
                wanted.insert(slot.id, ());
                let client = (group.health_check.protocol == HealthProtocol::Https)
                    .then(|| self.control.tls().for_health_check(&group.name));
                if running.get(&slot.id).is_some_and(|c| c.started_as(&group.health_check, &client)) {
                    continue;
                }
                if let Some(old) = running.remove(&slot.id) {
                    old.stop.set();
                }
                let stop = Rc::new(Latch::default());
                let tls = client
                    .clone()
                    .map(|config| (config, crate::tls::client::server_name(group.tls.as_ref(), target.addr)));
                let probe = checker::Probe {
                    group: group.name.clone(),
                    addr: target.addr,
                    check: group.health_check.clone(),
                    tls,
                    slot: slot.clone(),
                    table: self.control.table().clone(),
                };
                monoio::spawn(checker::run(probe, stop.clone()));
                running.insert(slot.id, Checker { check: group.health_check.clone(), client, stop });
            }
        }
        running.retain(|id, c| {
            let keep = wanted.contains_key(id);
            if !keep {
                c.stop.set();
            }
            keep
        });
    }

    /// Stops every health check (the shard is ending).
    fn stop_checkers(&self) {
        for (_, c) in self.checkers.borrow_mut().drain() {
            c.stop.set();
        }
    }

    /// Ends everything the shard runs and waits (briefly) until sessions and accept loops have
    /// dropped their sockets.
    async fn close_all(&self) {
        self.stop_accepting();
        self.close();
        for _ in 0..CLOSE_WAIT_ROUNDS {
            if self.sessions() == 0 && self.accept_loops() == 0 {
                return;
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
        tracing::warn!(shard = self.id, sessions = self.sessions(), "sessions did not close in time");
    }

    pub fn snapshot(&self) -> ShardSnapshot {
        let pipes = self.pipes.borrow();
        let groups = self.groups();
        ShardSnapshot {
            listeners: self
                .listeners
                .iter()
                .map(|l| {
                    let mut snapshot = l.counters.snapshot(&l.name);
                    snapshot.rules = l.rules().figures();
                    snapshot
                })
                .collect(),
            groups: groups.iter().map(|g| g.snapshot()).collect(),
            targets: groups
                .iter()
                .flat_map(|g| g.targets.iter().map(|t| t.counters.snapshot(&g.config.name, t.addr)))
                .collect(),
            sessions: self.sessions() as u64,
            pipes_pooled: pipes.pooled() as u64,
            pipes_in_use: pipes.in_use() as u64,
            shards: vec![ShardReport {
                shard: self.id,
                driver: self.driver.clone(),
                parked_connections: self.http.parking.len() as u64,
            }],
        }
    }
}

/// A seed for the balancers: random bits different per shard and per start, and the shard's
/// place among the shards, where its round-robin rotation starts (`balance::shard_seed`).
fn balancer_seed(shard: usize, shards: usize) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    let random = now ^ (shard as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    crate::balance::shard_seed(shard, shards, random ^ (random >> 32))
}

/// How often a shard closes idle backend connections that expired or were closed by the target.
const POOL_EVICT_EVERY: Duration = Duration::from_secs(2);

async fn evict_idle_backend_connections(shard: Rc<HttpContext>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(POOL_EVICT_EVERY) => shard.http.pool.evict_idle(),
            _ = shard.closing() => return,
        }
    }
}

/// How often a shard looks whether a verdict changed, to act on targets marked down in groups
/// with `shutdown_sessions` (one atomic load when nothing did).
const MARKED_DOWN_POLL: Duration = Duration::from_millis(100);

/// HAProxy's `on-marked-down shutdown-sessions`: when a target of such a group is judged
/// unhealthy, within [`MARKED_DOWN_POLL`],
/// - the TCP sessions this shard holds open to it are shut ([`crate::live_sessions`]): their
///   clients see the connection end and reconnect, to a target that is up. Only once, as the
///   verdict turns: a session opened to it later (fail-open, every target down) is left alone;
/// - the idle connections this shard pooled to it are closed, so none is reused once it comes
///   back and the target sees them end. An HTTP request in flight on one finishes; its
///   connection, pooled after the verdict, is closed by the next poll (polls go on while some
///   target is down).
async fn close_marked_down(shard: Rc<HttpContext>) {
    let mut seen = u64::MAX;
    let mut was_down: Vec<std::net::SocketAddr> = Vec::new();
    loop {
        monoio::select! {
            _ = monoio::time::sleep(MARKED_DOWN_POLL) => {}
            _ = shard.closing() => return,
        }
        let epoch = shard.control.table().epoch.load();
        if epoch == seen && was_down.is_empty() {
            continue;
        }
        seen = epoch;
        let down: Vec<std::net::SocketAddr> = shard
            .groups()
            .iter()
            .filter(|g| g.config.health_check.shutdown_sessions)
            .flat_map(|g| g.targets.iter())
            .filter(|t| t.health.load().verdict == crate::health::HealthState::Unhealthy)
            .map(|t| t.addr)
            .collect();
        let newly: Vec<std::net::SocketAddr> = down.iter().filter(|a| !was_down.contains(a)).copied().collect();
        if !newly.is_empty() && !shard.live_sessions.is_empty() {
            let shut = shard.live_sessions.shut(&newly);
            if shut > 0 {
                tracing::info!(shard = shard.id, sessions = shut, targets = ?newly, "shut the sessions of targets marked down (shutdown_sessions)");
            }
        }
        if !down.is_empty() {
            shard.http.pool.retain_targets(|addr| !down.contains(&addr));
        }
        was_down = down;
    }
}

/// Rounds of 1 ms a closing shard waits for its sessions to drop their sockets (they do so on
/// their next poll, which comes at once: this is a safety bound, not a delay).
const CLOSE_WAIT_ROUNDS: usize = 1000;

/// How often a draining shard looks whether its last session has ended.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How a shard takes part in the start (`server.rs`): it reports on `ready` once its runtime
/// and sockets are set up, then waits for `go` (sent once every socket listens) before it
/// accepts, and reports again.
pub struct Start {
    pub ready: crossbeam_channel::Sender<Result<(), String>>,
    pub go: futures_channel::oneshot::Receiver<()>,
}

/// The shard's life: start one accept loop per listening socket, then serve the mailbox until
/// told to stop, or until a drain has finished.
pub async fn run(
    shard: Rc<Shard>,
    sockets: Vec<(usize, std::net::TcpListener)>,
    admin: Option<std::net::TcpListener>,
    mailbox: MailboxReceiver,
    start: Start,
) {
    let Start { ready, go } = start;
    let mailbox = match Mailbox::open(mailbox) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {}: mailbox: {e}", shard.id)));
            return;
        }
    };
    let mut registered = Vec::with_capacity(sockets.len());
    for (index, socket) in sockets {
        let listener = shard.listeners[index].clone();
        match monoio::net::TcpListener::from_std(socket) {
            Ok(socket) => registered.push((listener, socket)),
            Err(e) => {
                let _ = ready.send(Err(format!("shard {}: listener {}: {e}", shard.id, listener.name)));
                return;
            }
        }
    }
    // Everything that can fail in this shard has succeeded: the sockets may listen now. A
    // `go` dropped unsent means the start failed elsewhere.
    let _ = ready.send(Ok(()));
    if go.await.is_err() {
        return;
    }
    for (listener, socket) in registered {
        monoio::spawn(listener::accept_loop(shard.context.clone(), listener, socket));
    }
    shard.sync_checkers(&shard.control.current());
    if shard.id == 0 {
        if let Some(admin) = admin {
            monoio::spawn(crate::admin::serve(shard.context.clone(), admin));
        }
        monoio::spawn(crate::admin::sweep_drained_targets(shard.context.clone()));
    }
    let _ = ready.send(Ok(()));
    debug!(shard = shard.id, "shard running");
    monoio::spawn(evict_idle_backend_connections(shard.context.clone()));
    monoio::spawn(close_marked_down(shard.context.clone()));
    monoio::spawn(crate::http::park::serve_lot(shard.context.clone(), crate::http::proxy::DRAIN_IDLE_GRACE));

    let mut drain_deadline: Option<Instant> = None;
    'life: loop {
        let batch = match drain_deadline {
            None => mailbox.recv().await,
            Some(deadline) => {
                // Drained when no session is left *and* every accept loop has ended: a loop
                // ending beside a successor first takes what is queued on its socket (see
                // `listener::accept_loop`), and those sessions must be served, not closed
                // with the shard before they ran.
                if shard.sessions() == 0 && shard.accept_loops() == 0 {
                    debug!(shard = shard.id, "drained");
                    break 'life;
                }
                if Instant::now() >= deadline {
                    info!(shard = shard.id, open = shard.sessions(), "drain timeout: closing the remaining sessions");
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
                Message::UpdateGroups(set) => shard.apply_set(&set),
                Message::SurgeWake { group } => {
                    // The index is of the target set in force when the message was sent; after
                    // a reload that reordered the groups it may name another group, whose head
                    // waiter then looks once for nothing, while the meant one finds its slot at
                    // its next periodic look (surge::HEAD_RECHECK).
                    if let Some(g) = shard.groups().get(group) {
                        g.surge.woken_by_another_shard();
                    }
                }
                Message::Snapshot(reply) => {
                    let _ = reply.send(shard.snapshot());
                }
            }
        }
    }
    // Whatever is still open (sessions past the drain deadline, idle backend connections,
    // listening sockets, health checks) is closed here, before the runtime goes away.
    shard.stop_checkers();
    shard.close_all().await;
    shard.http.pool.clear();
}
