//! A running spillway: the bound listeners, the shard threads, and the control operations on
//! them (figures, drain, stop). `main.rs` drives it from signals; tests drive it directly.
//!
//! Start-up order: bind every listener (so a port in use fails before anything runs), then
//! start the shards, then wait until each one reports that its accept loops run. When
//! `start` returns `Ok`, every listener accepts.

use std::{
    net::SocketAddr,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    config::{Config, Protocol},
    listener::{self, ConnectionLimit},
    metrics::ShardSnapshot,
    shard::{
        self,
        mailbox::{self, MailboxSender, Message},
        spawn, Shard,
    },
};

/// Why spillway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("listener {listener}: cannot listen on {addr}: {source}{hint}")]
    Bind { listener: String, addr: SocketAddr, source: std::io::Error, hint: &'static str },
    #[error("listener {listener}: protocol {protocol:?} is not available in this build (tcp and http are)")]
    Protocol { listener: String, protocol: Protocol },
    #[error("cannot start shard {shard}: {reason}")]
    Shard { shard: usize, reason: String },
}

/// Why a reload was not applied (the running configuration stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("listener {0} changed: listener changes need a restart or a -sf reload; nothing was applied")]
    ListenerChanged(String),
    #[error(
        "the listeners are not the same set: listener changes need a restart or a -sf reload; nothing was applied"
    )]
    ListenersDiffer,
    #[error("listener {listener} names target group {group}, which the new configuration lacks; nothing was applied")]
    MissingGroup { listener: String, group: String },
}

/// How long control operations wait for a shard's answer.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of a start that are not configuration.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// This start takes sockets over from a running process (`-sf`/`-st`): skip the check that
    /// nobody else listens on the ports.
    pub handover: bool,
}

struct ShardHandle {
    mailbox: MailboxSender,
    thread: Option<JoinHandle<()>>,
}

pub struct Server {
    config: Arc<Config>,
    listeners: Vec<(String, SocketAddr)>,
    shards: Vec<ShardHandle>,
    limit: Arc<ConnectionLimit>,
}

impl Server {
    /// Binds every listener and starts the shards; returns when all of them accept.
    pub fn start(config: Config, options: StartOptions) -> Result<Server, StartError> {
        check_supported(&config)?;
        let shard_count = spawn::shard_count(config.runtime.threads, &config.runtime.cpus);
        // splice(2) into a socket whose peer has gone raises SIGPIPE (it has no MSG_NOSIGNAL):
        // ignore it, as a library user's process may not have (Rust binaries do by default).
        // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let _ = crate::sockopt::raise_fd_limit();

        let mut listeners = Vec::new();
        let mut resolved = Vec::new();
        let mut sockets_per_shard: Vec<Vec<std::net::TcpListener>> = (0..shard_count).map(|_| Vec::new()).collect();
        for l in &config.listeners {
            let (addr, sockets) = listener::bind(l.bind, shard_count, options.handover).map_err(|source| {
                let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                    " (another process listens there; to take over from a running spillway, start with -sf PID)"
                } else {
                    ""
                };
                StartError::Bind { listener: l.name.clone(), addr: l.bind, source, hint }
            })?;
            listeners.push((l.name.clone(), addr));
            resolved.push(addr);
            for (i, s) in sockets.into_iter().enumerate() {
                sockets_per_shard[i].push(s);
            }
        }

        // Shards see the addresses actually bound (a port 0 resolved), e.g. for X-Forwarded-Port.
        let mut config = config;
        for (l, addr) in config.listeners.iter_mut().zip(resolved) {
            l.bind = addr;
        }
        let config = Arc::new(config);
        let limit = Arc::new(ConnectionLimit::new(config.runtime.max_connections));
        let cpus = if config.runtime.cpus.is_empty() { spawn::allowed_cpus() } else { config.runtime.cpus.clone() };
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(shard_count);
        let mut shards = Vec::with_capacity(shard_count);
        for (id, sockets) in sockets_per_shard.into_iter().enumerate() {
            let (sender, receiver) =
                mailbox::mailbox().map_err(|e| StartError::Shard { shard: id, reason: e.to_string() })?;
            let cpu = (config.runtime.pin && !cpus.is_empty()).then(|| cpus[id % cpus.len()]);
            let (cfg, lim, ready) = (config.clone(), limit.clone(), ready_tx.clone());
            let thread = spawn::spawn_shard(id, cpu, config.runtime.driver, move || async move {
                let s = Shard::new(id, &cfg, lim);
                shard::run(std::rc::Rc::new(s), sockets, receiver, ready).await
            })
            .map_err(|e| StartError::Shard { shard: id, reason: e.to_string() })?;
            shards.push(ShardHandle { mailbox: sender, thread: Some(thread) });
        }
        drop(ready_tx);
        let server = Server { config, listeners, shards, limit };
        for id in 0..shard_count {
            match ready_rx.recv_timeout(CONTROL_TIMEOUT) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(StartError::Shard { shard: id, reason }),
                Err(_) => {
                    return Err(StartError::Shard {
                        shard: id,
                        reason: "the shard's runtime did not start (is io_uring disabled? try driver = \"epoll\")"
                            .into(),
                    })
                }
            }
        }
        Ok(server)
    }

    pub fn config(&self) -> &Config {
        &self.config
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
        self.shards.len()
    }

    /// Client connections open now, over all shards (the global cap's counter).
    pub fn open_connections(&self) -> usize {
        self.limit.open()
    }

    /// Applies the target groups of `new` (targets, weights, algorithm, limits) to every
    /// shard without dropping a connection. Listeners must be unchanged; the process-level
    /// settings (`[runtime]`, `[admin]`) keep their running values.
    pub fn update_groups(&mut self, new: Config) -> Result<(), ReloadError> {
        if new.listeners.len() != self.config.listeners.len() {
            return Err(ReloadError::ListenersDiffer);
        }
        for (old, new) in self.config.listeners.iter().zip(&new.listeners) {
            if old != new {
                return Err(ReloadError::ListenerChanged(new.name.clone()));
            }
        }
        for l in &new.listeners {
            if new.group_index(&l.target_group).is_none() {
                return Err(ReloadError::MissingGroup { listener: l.name.clone(), group: l.target_group.clone() });
            }
        }
        let mut next = new;
        next.runtime = self.config.runtime.clone();
        next.admin = self.config.admin.clone();
        let next = Arc::new(next);
        for s in &self.shards {
            let _ = s.mailbox.send(Message::UpdateGroups(next.clone()));
        }
        self.config = next;
        Ok(())
    }

    /// The figures of every shard, added up.
    pub fn snapshot(&self) -> ShardSnapshot {
        let mut total = ShardSnapshot::default();
        let replies: Vec<_> = self
            .shards
            .iter()
            .filter_map(|s| {
                let (tx, rx) = crossbeam_channel::bounded(1);
                s.mailbox.send(Message::Snapshot(tx)).ok().map(|_| rx)
            })
            .collect();
        for rx in replies {
            if let Ok(snap) = rx.recv_timeout(CONTROL_TIMEOUT) {
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
    pub fn begin_drain(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for s in &self.shards {
            let _ = s.mailbox.send(Message::Drain { deadline });
        }
    }

    /// Every shard thread has ended.
    pub fn finished(&self) -> bool {
        self.shards.iter().all(|s| s.thread.as_ref().is_none_or(|t| t.is_finished()))
    }

    /// Some shard thread ended without being told to (a panic): its share of the listening
    /// sockets would accept connections nobody serves.
    pub fn shard_died(&self) -> bool {
        self.shards.iter().any(|s| s.thread.as_ref().is_some_and(|t| t.is_finished()))
    }

    /// Stop now: open sessions are closed.
    pub fn stop(mut self) {
        for s in &self.shards {
            let _ = s.mailbox.send(Message::Stop);
        }
        self.join();
    }

    /// Waits until every shard thread has ended (after a drain or stop was sent).
    fn join(&mut self) {
        for s in &mut self.shards {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for s in &self.shards {
            let _ = s.mailbox.send(Message::Stop);
        }
        self.join();
    }
}

/// Refuses, before binding anything, what this build cannot serve.
fn check_supported(config: &Config) -> Result<(), StartError> {
    for l in &config.listeners {
        if l.protocol == Protocol::Https {
            return Err(StartError::Protocol { listener: l.name.clone(), protocol: l.protocol });
        }
    }
    Ok(())
}
