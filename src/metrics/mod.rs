//! Per-shard counters, and the snapshots the control thread merges from them.
//!
//! Each shard owns its counters in plain `Cell`s: no atomic and no shared cache line on the
//! per-connection path. A figure for the whole process is built by asking every shard for a
//! [`ShardSnapshot`] through its mailbox and adding them up (`merge`).

use std::{cell::Cell, net::SocketAddr};

/// A shard-local counter or gauge.
#[derive(Debug, Default)]
pub struct Counter(Cell<u64>);

/// Counters of bytes are plain counters; the alias names what the figure is.
pub type ByteCounter = Counter;

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.set(self.0.get().wrapping_add(n));
    }

    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.set(self.0.get().saturating_sub(n));
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// One listener's figures on one shard.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Client connections accepted (`NewConnectionCount`).
    pub accepted: Counter,
    /// Client connections open now (`ActiveConnectionCount`).
    pub active: Counter,
    /// Bytes from clients delivered to targets.
    pub bytes_in: ByteCounter,
    /// Bytes from targets delivered to clients.
    pub bytes_out: ByteCounter,
    /// Client connections closed because no target could be reached.
    pub no_target: Counter,
}

/// One target's figures on one shard.
#[derive(Debug, Default)]
pub struct TargetCounters {
    /// Sessions (or backend connections) established.
    pub sessions: Counter,
    /// Sessions open now.
    pub active: Counter,
    /// Connects refused or timed out (`BackendConnectionErrors`).
    pub connect_errors: Counter,
    /// Bytes delivered to the target.
    pub bytes_in: ByteCounter,
    /// Bytes delivered from the target to clients.
    pub bytes_out: ByteCounter,
}

/// Plain-number copy of a [`ListenerCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSnapshot {
    pub name: String,
    pub accepted: u64,
    pub active: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub no_target: u64,
}

/// Plain-number copy of a [`TargetCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSnapshot {
    pub group: String,
    pub addr: Option<SocketAddr>,
    pub sessions: u64,
    pub active: u64,
    pub connect_errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Everything one shard reports, or the sum over shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardSnapshot {
    pub listeners: Vec<ListenerSnapshot>,
    pub targets: Vec<TargetSnapshot>,
    /// Client sessions open on the shard (all listeners).
    pub sessions: u64,
    /// Pipes idle in the shard's pool (two file descriptors each) and pipes in use.
    pub pipes_pooled: u64,
    pub pipes_in_use: u64,
}

impl ListenerCounters {
    pub fn snapshot(&self, name: &str) -> ListenerSnapshot {
        ListenerSnapshot {
            name: name.to_string(),
            accepted: self.accepted.get(),
            active: self.active.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            no_target: self.no_target.get(),
        }
    }
}

impl TargetCounters {
    pub fn snapshot(&self, group: &str, addr: SocketAddr) -> TargetSnapshot {
        TargetSnapshot {
            group: group.to_string(),
            addr: Some(addr),
            sessions: self.sessions.get(),
            active: self.active.get(),
            connect_errors: self.connect_errors.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
        }
    }
}

impl ShardSnapshot {
    /// Adds `other` into `self`: listeners by name, targets by (group, address).
    pub fn merge(&mut self, other: &ShardSnapshot) {
        for l in &other.listeners {
            match self.listeners.iter_mut().find(|m| m.name == l.name) {
                Some(m) => {
                    m.accepted += l.accepted;
                    m.active += l.active;
                    m.bytes_in += l.bytes_in;
                    m.bytes_out += l.bytes_out;
                    m.no_target += l.no_target;
                }
                None => self.listeners.push(l.clone()),
            }
        }
        for t in &other.targets {
            match self.targets.iter_mut().find(|m| m.group == t.group && m.addr == t.addr) {
                Some(m) => {
                    m.sessions += t.sessions;
                    m.active += t.active;
                    m.connect_errors += t.connect_errors;
                    m.bytes_in += t.bytes_in;
                    m.bytes_out += t.bytes_out;
                }
                None => self.targets.push(t.clone()),
            }
        }
        self.sessions += other.sessions;
        self.pipes_pooled += other.pipes_pooled;
        self.pipes_in_use += other.pipes_in_use;
    }

    /// The figures of one listener, by name.
    pub fn listener(&self, name: &str) -> Option<&ListenerSnapshot> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// The figures of one target, by address.
    pub fn target(&self, addr: SocketAddr) -> Option<&TargetSnapshot> {
        self.targets.iter().find(|t| t.addr == Some(addr))
    }
}
