//! Per-shard counters, and the snapshots the control thread merges from them.
//!
//! Each shard owns its counters in plain `Cell`s: no atomic and no shared cache line on the
//! per-connection path. A figure for the whole process is built by asking every shard for a
//! [`ShardSnapshot`] through its mailbox and adding them up (`merge`). The names the figures
//! are published under in `/metrics` are in [`names`].

mod driver;
pub mod names;

use std::{cell::Cell, net::SocketAddr};

use hdrhistogram::Histogram;

pub use driver::{DriverKind, ShardDriver};

/// Latency histogram range: 1 µs to 60 s at 3 significant digits (target latency and queue
/// wait, per group per shard; the admin API merges them).
pub const LATENCY_MAX_MICROS: u64 = 60_000_000;

/// A latency histogram with the bounds every shard uses, so that merging cannot fail.
pub fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3).expect("valid histogram bounds")
}

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
    /// HTTP requests received (complete heads).
    pub requests: Counter,
    /// Responses spillway made itself (`HTTPCode_ELB_4XX` / `_5XX`).
    pub elb_4xx: Counter,
    pub elb_5xx: Counter,
    /// Responses from targets by class, 1xx..5xx (`HTTPCode_Backend_*`).
    pub backend_by_class: [Counter; 5],
    /// HTTPS: client connections whose TLS handshake failed (`ClientTLSNegotiationErrorCount`).
    pub tls_negotiation_errors: Counter,
    /// `accept_proxy`: client connections closed without a valid PROXY header
    /// (`ProxyProtocolErrorCount`).
    pub proxy_protocol_errors: Counter,
}

/// One target's figures on one shard.
#[derive(Debug, Default)]
pub struct TargetCounters {
    /// Sessions (or backend connections) established.
    pub sessions: Counter,
    /// Requests (HTTP) or sessions (TCP) in flight to the target now: what
    /// `least_outstanding_requests` and `random_two` balance on.
    pub active: Counter,
    /// Backend connections open now, busy or idle in the pool: what `least_connections`
    /// balances on.
    pub connections: Counter,
    /// Connects refused or timed out (`BackendConnectionErrors`).
    pub connect_errors: Counter,
    /// Requests spillway answered 502/504 for because this target reset, closed, broke the
    /// protocol, did not answer in time, or refused the fresh connection a failed pooled one
    /// was retried on (HAProxy's per-server `eresp`): which target each gateway error came
    /// from, so a soak can tell a dead target's 502s from a proxy fault.
    pub response_errors: Counter,
    /// Bytes delivered to the target.
    pub bytes_in: ByteCounter,
    /// Bytes delivered from the target to clients.
    pub bytes_out: ByteCounter,
    /// HTTP requests sent to the target, and how many went over a reused (pooled) connection
    /// (`BackendConnectionReuseRatio` = reused / requests).
    pub requests: Counter,
    pub reused: Counter,
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
    pub requests: u64,
    pub elb_4xx: u64,
    pub elb_5xx: u64,
    pub backend_by_class: [u64; 5],
    pub tls_negotiation_errors: u64,
    pub proxy_protocol_errors: u64,
    /// The listener's rules: how many were evaluated (ELB's `RuleEvaluations`), the responses
    /// they made, and each rule's matches.
    pub rules: RuleFigures,
}

/// The figures of a set of rules (a listener's, or a target group's own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFigures {
    /// Rules whose condition was evaluated (ELB's `RuleEvaluations`).
    pub evaluations: u64,
    /// ELB's `HTTP_Fixed_Response_Count` and `HTTP_Redirect_Count`.
    pub fixed_responses: u64,
    pub redirects: u64,
    /// Each rule, in evaluation order (request rules, then response rules).
    pub matches: Vec<RuleMatches>,
}

/// How often one rule held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMatches {
    /// `"priority 10"`, `"haproxy.cfg:42"`.
    pub rule: String,
    pub priority: u32,
    pub matched: u64,
}

impl RuleFigures {
    /// Adds `other` (another shard's figures of the same rules): rules by label.
    pub fn merge(&mut self, other: &RuleFigures) {
        self.evaluations += other.evaluations;
        self.fixed_responses += other.fixed_responses;
        self.redirects += other.redirects;
        for r in &other.matches {
            match self.matches.iter_mut().find(|m| m.rule == r.rule) {
                Some(m) => m.matched += r.matched,
                None => self.matches.push(r.clone()),
            }
        }
    }
}

/// Plain-number copy of a [`TargetCounters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetSnapshot {
    pub group: String,
    pub addr: Option<SocketAddr>,
    pub sessions: u64,
    pub active: u64,
    pub connections: u64,
    pub connect_errors: u64,
    pub response_errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub requests: u64,
    pub reused: u64,
}

/// One target group's figures that are not per target: the target latency (ELB's `Latency`,
/// request sent → response head) and the surge queue's wait, in microseconds, and spillover.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub name: String,
    pub latency: Histogram<u64>,
    /// Time waited in the surge queue by requests served after waiting, in microseconds.
    pub queue_wait: Histogram<u64>,
    /// Requests or sessions spilled over (`SpilloverCount`).
    pub spillover: u64,
    /// The group's own rules (haproxy.cfg `http-request` in a backend).
    pub rules: RuleFigures,
}

/// Everything one shard reports, or the sum over shards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardSnapshot {
    pub listeners: Vec<ListenerSnapshot>,
    pub groups: Vec<GroupSnapshot>,
    pub targets: Vec<TargetSnapshot>,
    /// Client sessions open on the shard (all listeners).
    pub sessions: u64,
    /// Pipes idle in the shard's pool (two file descriptors each) and pipes in use.
    pub pipes_pooled: u64,
    pub pipes_in_use: u64,
    /// What is reported of each shard by itself, not only summed: one record per shard, in
    /// shard order once merged.
    pub shards: Vec<ShardReport>,
}

/// One shard's own record, reported per shard in `/stats` (`shards`) and `/metrics` (`shard`
/// label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardReport {
    pub shard: usize,
    /// The driver and ring flags the shard's runtime was built with.
    pub driver: ShardDriver,
    /// Idle keep-alive HTTP connections parked now (`http/park.rs`): no task, a record in the
    /// shard's lot. They are also in `ActiveConnectionCount`.
    pub parked_connections: u64,
}

impl ListenerCounters {
    /// Counts a response spillway made itself.
    pub fn count_elb_response(&self, status: u16) {
        if status >= 500 {
            self.elb_5xx.add(1);
        } else if status >= 400 {
            self.elb_4xx.add(1);
        }
    }

    /// Counts a response from a target by its class.
    pub fn count_backend_response(&self, status: u16) {
        if let Some(c) = self.backend_by_class.get(usize::from(status / 100).wrapping_sub(1)) {
            c.add(1);
        }
    }

    pub fn snapshot(&self, name: &str) -> ListenerSnapshot {
        ListenerSnapshot {
            name: name.to_string(),
            accepted: self.accepted.get(),
            active: self.active.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            no_target: self.no_target.get(),
            requests: self.requests.get(),
            elb_4xx: self.elb_4xx.get(),
            elb_5xx: self.elb_5xx.get(),
            backend_by_class: std::array::from_fn(|i| self.backend_by_class[i].get()),
            tls_negotiation_errors: self.tls_negotiation_errors.get(),
            proxy_protocol_errors: self.proxy_protocol_errors.get(),
            rules: RuleFigures::default(),
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
            connections: self.connections.get(),
            connect_errors: self.connect_errors.get(),
            response_errors: self.response_errors.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            requests: self.requests.get(),
            reused: self.reused.get(),
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
                    m.requests += l.requests;
                    m.elb_4xx += l.elb_4xx;
                    m.elb_5xx += l.elb_5xx;
                    m.tls_negotiation_errors += l.tls_negotiation_errors;
                    m.proxy_protocol_errors += l.proxy_protocol_errors;
                    m.rules.merge(&l.rules);
                    for (a, b) in m.backend_by_class.iter_mut().zip(l.backend_by_class) {
                        *a += b;
                    }
                }
                None => self.listeners.push(l.clone()),
            }
        }
        for t in &other.targets {
            match self.targets.iter_mut().find(|m| m.group == t.group && m.addr == t.addr) {
                Some(m) => {
                    m.sessions += t.sessions;
                    m.active += t.active;
                    m.connections += t.connections;
                    m.connect_errors += t.connect_errors;
                    m.response_errors += t.response_errors;
                    m.bytes_in += t.bytes_in;
                    m.bytes_out += t.bytes_out;
                    m.requests += t.requests;
                    m.reused += t.reused;
                }
                None => self.targets.push(t.clone()),
            }
        }
        for g in &other.groups {
            match self.groups.iter_mut().find(|m| m.name == g.name) {
                // Same bounds on every shard: adding cannot fail.
                Some(m) => {
                    let _ = m.latency.add(&g.latency);
                    let _ = m.queue_wait.add(&g.queue_wait);
                    m.spillover += g.spillover;
                    m.rules.merge(&g.rules);
                }
                None => self.groups.push(g.clone()),
            }
        }
        self.sessions += other.sessions;
        self.pipes_pooled += other.pipes_pooled;
        self.pipes_in_use += other.pipes_in_use;
        self.shards.extend(other.shards.iter().cloned());
        self.shards.sort_by_key(|s| s.shard);
    }

    /// Parked connections now, over all shards.
    pub fn parked_connections(&self) -> u64 {
        self.shards.iter().map(|s| s.parked_connections).sum()
    }

    /// The figures of one listener, by name.
    pub fn listener(&self, name: &str) -> Option<&ListenerSnapshot> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// The figures of one target of one group.
    pub fn target_in(&self, group: &str, addr: SocketAddr) -> Option<&TargetSnapshot> {
        self.targets.iter().find(|t| t.group == group && t.addr == Some(addr))
    }

    /// The figures of one group, by name.
    pub fn group(&self, name: &str) -> Option<&GroupSnapshot> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The figures of one target, by address.
    pub fn target(&self, addr: SocketAddr) -> Option<&TargetSnapshot> {
        self.targets.iter().find(|t| t.addr == Some(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_shard(shard: usize, kind: DriverKind, parked: u64) -> ShardSnapshot {
        let driver = ShardDriver { kind, ring_flags: Vec::new(), data_path: Vec::new() };
        ShardSnapshot { shards: vec![ShardReport { shard, driver, parked_connections: parked }], ..Default::default() }
    }

    #[test]
    fn merged_shard_reports_keep_one_record_per_shard_in_shard_order() {
        let mut sum = ShardSnapshot::default();
        sum.merge(&one_shard(2, DriverKind::Epoll, 5));
        sum.merge(&one_shard(0, DriverKind::IoUring, 1));
        sum.merge(&one_shard(1, DriverKind::IoUring, 0));
        let shards: Vec<_> = sum.shards.iter().map(|s| (s.shard, s.driver.kind, s.parked_connections)).collect();
        assert_eq!(shards, [(0, DriverKind::IoUring, 1), (1, DriverKind::IoUring, 0), (2, DriverKind::Epoll, 5)]);
        assert_eq!(sum.parked_connections(), 6);
    }
}
