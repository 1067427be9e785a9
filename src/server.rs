//! A running spillway: the bound listeners, the shard threads, and the control operations on
//! them (figures, drain, stop). `main.rs` drives it from signals; tests drive it directly.
//!
//! Start-up order: first everything that can fail, with no socket listening yet: certificates,
//! binding every listener and the admin API (so a port in use fails before anything runs), the
//! upgrade socket (under a temporary name), the shards' runtimes. Only then do the sockets
//! listen (join their SO_REUSEPORT groups, `listener.rs`), the shards start accepting, and the
//! upgrade socket takes its name. So a reload (`-sf`) that fails leaves the running process's
//! share of the ports and its upgrade socket as they were, and resets nobody. When `start`
//! returns `Ok`, every listener accepts.

use std::{
    net::SocketAddr,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use std::os::fd::OwnedFd;

use crate::{
    config::{Config, Protocol},
    context::ConnectionLimit,
    control::{
        mailbox::{self, Message},
        resolver::Resolver,
        Control,
    },
    listener,
    metrics::ShardSnapshot,
    shard::{self, spawn, Shard},
    upgrade::{Inherited, Offer},
};

pub use crate::control::ReloadError;

/// Why spillway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("listener {listener}: cannot listen on {addr}: {source}{hint}")]
    Bind { listener: String, addr: SocketAddr, source: std::io::Error, hint: &'static str },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(
        "admin API: cannot listen on {addr}: {source} (set [admin] listen to a free address, or \"\" for no admin API)"
    )]
    AdminBind { addr: SocketAddr, source: std::io::Error },
    #[error("upgrade socket {}: {source}", path.display())]
    Upgrade { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start shard {shard}: {reason}")]
    Shard { shard: usize, reason: String },
    #[error("cannot start the {what} thread: {source}")]
    Thread { what: &'static str, source: std::io::Error },
}

/// How long control operations wait for a shard's answer.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of a start that are not configuration.
#[derive(Debug, Default)]
pub struct StartOptions {
    /// This start takes over from a running process (`-sf`/`-st`): skip the check that nobody
    /// else listens on the ports.
    pub handover: bool,
    /// Listening sockets received from that process (`upgrade::receive`), used instead of new
    /// ones for the listeners (and admin API) on the same addresses.
    pub inherited: Inherited,
}

pub struct Server {
    control: Arc<Control>,
    /// The listening sockets offered to a reloading process (`[runtime] upgrade_socket`).
    offer: Option<Offer>,
    listeners: Vec<(String, SocketAddr)>,
    admin: Option<SocketAddr>,
    threads: Vec<Option<JoinHandle<()>>>,
    limit: Arc<ConnectionLimit>,
    /// Re-resolves targets named by host (`control::resolver`); stops when dropped.
    _resolver: Resolver,
}

impl Server {
    /// Binds every listener and starts the shards; returns when all of them accept.
    pub fn start(config: Config, mut options: StartOptions) -> Result<Server, StartError> {
        // Certificates and CA files first: a bad one is refused before anything is bound.
        let tls = crate::tls::TlsContexts::load(&config)?;
        let shard_count = spawn::shard_count(config.runtime.threads, &config.runtime.cpus);
        // splice(2) into a socket whose peer has gone raises SIGPIPE (it has no MSG_NOSIGNAL):
        // ignore it, as a library user's process may not have (Rust binaries do by default).
        // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        warn_if_short_of_files(&config);

        let mut listeners = Vec::new();
        let mut resolved = Vec::new();
        let mut sockets_per_shard: Vec<Vec<(usize, std::net::TcpListener)>> =
            (0..shard_count).map(|_| Vec::new()).collect();
        // Duplicates of every listening socket: they listen through these, and are offered to
        // a reloading process. A socket without one would never listen: a failed dup fails.
        let mut offered: Vec<(SocketAddr, OwnedFd)> = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            let inherited = options.inherited.take(l.bind);
            let (addr, sockets) =
                listener::bind(l.bind, shard_count, options.handover, inherited).map_err(|source| {
                    let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                        " (another process listens there; to take over from a running spillway, start with -sf PID)"
                    } else {
                        ""
                    };
                    StartError::Bind { listener: l.name.clone(), addr: l.bind, source, hint }
                })?;
            listeners.push((l.name.clone(), addr));
            resolved.push(addr);
            for (i, list) in sockets.into_iter().enumerate() {
                for s in list {
                    let dup = s.try_clone().map_err(|source| StartError::Listen { addr, source })?;
                    offered.push((addr, OwnedFd::from(dup)));
                    sockets_per_shard[i].push((index, s));
                }
            }
        }

        let (admin_addr, mut admin_socket) = match config.admin.listen {
            Some(addr) => {
                let socket = bind_admin(addr, options.handover, options.inherited.take(addr))?;
                let local = socket.local_addr().map_err(|source| StartError::AdminBind { addr, source })?;
                let dup = socket.try_clone().map_err(|source| StartError::AdminBind { addr, source })?;
                offered.push((local, OwnedFd::from(dup)));
                (Some(local), Some(socket))
            }
            None => (None, None),
        };
        for addr in options.inherited.leftover() {
            tracing::warn!(%addr, "the previous process listened on {addr}, which this configuration does not: closed");
        }

        // Shards see the addresses actually bound (a port 0 resolved), e.g. for X-Forwarded-Port.
        let mut config = config;
        for (l, addr) in config.listeners.iter_mut().zip(resolved) {
            l.bind = addr;
        }
        config.admin.listen = admin_addr;
        let config = Arc::new(config);
        let limit = Arc::new(ConnectionLimit::new(config.runtime.max_connections));
        let cpus = if config.runtime.cpus.is_empty() { spawn::allowed_cpus() } else { config.runtime.cpus.clone() };
        let mut senders = Vec::with_capacity(shard_count);
        let mut receivers = Vec::with_capacity(shard_count);
        for id in 0..shard_count {
            let (tx, rx) = mailbox::mailbox().map_err(|e| StartError::Shard { shard: id, reason: e.to_string() })?;
            senders.push(tx);
            receivers.push(rx);
        }
        let control = Arc::new(Control::new(config.clone(), senders, tls));
        // Everything listens from the duplicates kept here (the same sockets the shards get).
        // A failed duplicate fails the start: a socket that never listens would leave a shard
        // without its listener and nobody told.
        let to_listen: Vec<(SocketAddr, OwnedFd)> = offered
            .iter()
            .map(|(addr, fd)| {
                fd.try_clone().map(|fd| (*addr, fd)).map_err(|source| StartError::Listen { addr: *addr, source })
            })
            .collect::<Result<_, _>>()?;
        let offer = match &config.runtime.upgrade_socket {
            Some(path) => Some(
                Offer::serve(path, offered, control.handed_over_flag())
                    .map_err(|source| StartError::Upgrade { path: path.clone(), source })?,
            ),
            None => None,
        };
        // Each shard reports twice: its runtime is up (it waits then for `go`), and it accepts.
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(2 * shard_count);
        let mut threads = Vec::with_capacity(shard_count);
        let mut go = Vec::with_capacity(shard_count);
        for (id, (sockets, receiver)) in sockets_per_shard.into_iter().zip(receivers).enumerate() {
            let cpu = (config.runtime.pin && !cpus.is_empty()).then(|| cpus[id % cpus.len()]);
            let (ctl, lim, ready) = (control.clone(), limit.clone(), ready_tx.clone());
            let admin = if id == 0 { admin_socket.take() } else { None };
            let (go_tx, go_rx) = futures_channel::oneshot::channel();
            go.push(go_tx);
            let thread = spawn::spawn_shard(
                id,
                cpu,
                config.runtime.driver,
                config.runtime.uring_data_path,
                move |driver| async move {
                    let s = Shard::new(id, ctl, lim, driver);
                    shard::run(std::rc::Rc::new(s), sockets, admin, receiver, shard::Start { ready, go: go_rx }).await
                },
            )
            .map_err(|e| StartError::Shard { shard: id, reason: e.to_string() })?;
            threads.push(Some(thread));
        }
        drop(ready_tx);
        // Targets named by host with `resolvers`: followed off the shards.
        let resolver =
            Resolver::start(control.clone()).map_err(|source| StartError::Thread { what: "resolver", source })?;
        let mut server = Server { control, offer, listeners, admin: admin_addr, threads, limit, _resolver: resolver };
        // On failure `go` is dropped unsent, which ends the shards waiting for it, before
        // `server` is (its drop joins them).
        let listening = wait_for_shards(&ready_rx, shard_count).and_then(|()| {
            to_listen.iter().try_for_each(|(addr, fd)| {
                listener::listen(fd).map_err(|source| StartError::Listen { addr: *addr, source })
            })
        });
        if let Err(e) = listening {
            drop(go);
            return Err(e);
        }
        for g in go {
            let _ = g.send(());
        }
        wait_for_shards(&ready_rx, shard_count)?;
        if let Some(offer) = server.offer.as_mut() {
            offer.publish();
        }
        Ok(server)
    }

    /// The configuration in force (with the target changes made since start).
    pub fn config(&self) -> Arc<Config> {
        self.control.current().config.clone()
    }

    /// The control plane (target registration, zonal shift), as the admin API uses it.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Where the admin API listens (its port resolved when it was 0), if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The address a listener actually listens on (its port resolved when it was 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Every listener's name and the address it listens on.
    pub fn listeners(&self) -> &[(String, SocketAddr)] {
        &self.listeners
    }

    pub fn shard_count(&self) -> usize {
        self.threads.len()
    }

    /// Client connections open now, over all shards (the global cap's counter).
    pub fn open_connections(&self) -> usize {
        self.limit.open()
    }

    /// Applies the target groups of `new` (targets, weights, algorithm, limits, checks) to
    /// every shard without dropping a connection: targets the new file lacks drain. Listeners
    /// must be unchanged; `[runtime]` and `[admin]` keep their running values.
    pub fn update_groups(&mut self, new: Config) -> Result<(), ReloadError> {
        self.control.reload(new)
    }

    /// The figures of every shard, added up.
    pub fn snapshot(&self) -> ShardSnapshot {
        let mut total = ShardSnapshot::default();
        for reply in self.control.ask_snapshots() {
            if let Some(snap) = wait_blocking(reply, CONTROL_TIMEOUT) {
                total.merge(&snap);
            }
        }
        total
    }

    /// Graceful stop: close the listeners, let sessions finish for up to `timeout`, then end.
    pub fn drain(mut self, timeout: Duration) {
        self.begin_drain(timeout);
        self.join();
    }

    /// Starts a graceful stop and returns at once; [`Server::finished`] tells when it is over.
    /// A later [`Server::stop`] cuts it short (SIGTERM during a drain).
    pub fn begin_drain(&mut self, timeout: Duration) {
        // A stopping process offers its sockets no more.
        if let Some(offer) = self.offer.as_mut() {
            offer.withdraw();
        }
        let deadline = Instant::now() + timeout;
        self.control.set_stopping();
        for m in self.control.mailboxes() {
            let _ = m.send(Message::Drain { deadline });
        }
    }

    /// Every shard thread has ended.
    pub fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.as_ref().is_none_or(|t| t.is_finished()))
    }

    /// Some shard thread ended without being told to (a panic): its share of the listening
    /// sockets would accept connections nobody serves.
    pub fn shard_died(&self) -> bool {
        self.threads.iter().any(|t| t.as_ref().is_some_and(|t| t.is_finished()))
    }

    /// Stop now: open sessions are closed.
    pub fn stop(mut self) {
        if let Some(offer) = self.offer.as_mut() {
            offer.withdraw();
        }
        self.send_stop();
        self.join();
    }

    fn send_stop(&self) {
        for m in self.control.mailboxes() {
            let _ = m.send(Message::Stop);
        }
    }

    /// Waits until every shard thread has ended (after a drain or stop was sent).
    fn join(&mut self) {
        for t in &mut self.threads {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.send_stop();
        self.join();
    }
}

/// Binds the admin API's socket like a listener's (SO_REUSEPORT, not listening yet; the one
/// inherited from the previous process if any), so that a reload without an upgrade socket
/// binds it next to the running process's instead of failing on the port.
fn bind_admin(
    addr: SocketAddr,
    handover: bool,
    inherited: Vec<std::net::TcpListener>,
) -> Result<std::net::TcpListener, StartError> {
    let fail = |source| StartError::AdminBind { addr, source };
    let (_, sockets) = listener::bind(addr, 1, handover, inherited).map_err(fail)?;
    sockets.into_iter().flatten().next().ok_or_else(|| fail(std::io::ErrorKind::AddrNotAvailable.into()))
}

/// Waits until each of `count` shards has reported (the next step of its start).
fn wait_for_shards(ready: &crossbeam_channel::Receiver<Result<(), String>>, count: usize) -> Result<(), StartError> {
    for id in 0..count {
        match ready.recv_timeout(CONTROL_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(StartError::Shard { shard: id, reason }),
            Err(_) => {
                return Err(StartError::Shard {
                    shard: id,
                    reason: "the shard's runtime did not start (is io_uring disabled? try driver = \"epoll\")".into(),
                })
            }
        }
    }
    Ok(())
}

/// Raises the open-file limit to its hard limit and warns when even that is below what
/// `max_connections` may need: past it, accepts and connects fail with EMFILE under load,
/// which is much harder to diagnose than a line at start.
fn warn_if_short_of_files(config: &Config) {
    // A TCP session holds its two sockets and, while bytes move, two pipes (four fds); an HTTP
    // connection holds its socket and a backend connection. Plus a margin for pools, pipes kept
    // for reuse, listeners and the process itself.
    let splices = config.runtime.splice && config.listeners.iter().any(|l| l.protocol == Protocol::Tcp);
    let per_connection: u64 = if splices { 6 } else { 2 };
    let needed = (config.runtime.max_connections as u64).saturating_mul(per_connection).saturating_add(1000);
    match crate::sockopt::raise_fd_limit() {
        Ok(limit) if limit < needed => tracing::warn!(
            limit,
            needed,
            max_connections = config.runtime.max_connections,
            "the open-file limit is below what max_connections may need: raise it (systemd LimitNOFILE=, \
             ulimit -n, tuning/limits.conf) or lower max_connections"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-file limit"),
    }
}

/// Waits on the control thread for a shard's reply (a few per second at most: polling is fine).
fn wait_blocking<T>(mut reply: futures_channel::oneshot::Receiver<T>, timeout: Duration) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match reply.try_recv() {
            Ok(Some(value)) => return Some(value),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_micros(200)),
            _ => return None,
        }
    }
}
