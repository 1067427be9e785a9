//! The figures of each target group, computed once per request from the published target set
//! (health, membership) and the merged shard snapshots (counters, latency). `/stats` (JSON) and
//! `/metrics` (Prometheus) both render this one structure, so they cannot disagree.

use std::net::SocketAddr;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::{
    control::TargetSet,
    health::HealthState,
    metrics::{new_latency_histogram, RuleFigures, ShardSnapshot},
};

/// One target group's figures, with the CloudWatch meanings.
#[derive(Debug, Clone)]
pub struct GroupStats {
    pub name: String,
    /// Targets taking traffic on their health: `healthy` or `initial` (not draining).
    pub healthy: u64,
    /// Targets judged `unhealthy` (not draining).
    pub unhealthy: u64,
    pub requests: u64,
    pub surge_queue_length: u64,
    pub surge_queue_length_max: u64,
    pub spillover: u64,
    pub elb_4xx: u64,
    pub elb_5xx: u64,
    /// Responses from targets by class, 1xx..5xx.
    pub backend: [u64; 5],
    pub backend_connection_errors: u64,
    /// Target latency in microseconds.
    pub latency: Histogram<u64>,
    /// Surge queue wait of the requests served after waiting, in microseconds.
    pub queue_wait: Histogram<u64>,
    pub active_connections: u64,
    pub new_connections: u64,
    pub processed_bytes: u64,
    /// Requests sent to targets, and how many over a reused connection.
    pub backend_requests: u64,
    pub backend_reused: u64,
    pub tls_negotiation_errors: u64,
    /// Client connections closed for want of a valid PROXY header (`accept_proxy` listeners).
    pub proxy_protocol_errors: u64,
    pub targets: Vec<TargetStats>,
    /// The group's own rules (haproxy.cfg `http-request` in a backend).
    pub rules: RuleFigures,
}

#[derive(Debug, Clone)]
pub struct TargetStats {
    pub addr: SocketAddr,
    pub zone: String,
    pub weight: u32,
    pub state: HealthState,
    /// Backend connections open now (busy or pooled; a TCP session is one).
    pub active_connections: u64,
    /// Requests (HTTP) or sessions (TCP) in flight now.
    pub outstanding_requests: u64,
}

/// The figures of every group of `set`, from `figures` (the sum over shards).
pub fn collect(set: &TargetSet, figures: &ShardSnapshot) -> Vec<GroupStats> {
    let config = &set.config;
    config
        .target_groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let mut s = GroupStats {
                name: group.name.clone(),
                healthy: 0,
                unhealthy: 0,
                requests: 0,
                surge_queue_length: u64::from(set.surge[g].length()),
                surge_queue_length_max: u64::from(set.surge[g].length_max()),
                spillover: figures.group(&group.name).map_or(0, |f| f.spillover),
                elb_4xx: 0,
                elb_5xx: 0,
                backend: [0; 5],
                backend_connection_errors: 0,
                latency: figures.group(&group.name).map_or_else(new_latency_histogram, |f| f.latency.clone()),
                queue_wait: figures.group(&group.name).map_or_else(new_latency_histogram, |f| f.queue_wait.clone()),
                active_connections: 0,
                new_connections: 0,
                processed_bytes: 0,
                backend_requests: 0,
                backend_reused: 0,
                tls_negotiation_errors: 0,
                proxy_protocol_errors: 0,
                targets: Vec::with_capacity(group.targets.len()),
                rules: figures.group(&group.name).map(|f| f.rules.clone()).unwrap_or_default(),
            };
            for l in config.listeners.iter().filter(|l| l.target_group == group.name) {
                let Some(f) = figures.listener(&l.name) else { continue };
                s.requests += f.requests;
                s.elb_4xx += f.elb_4xx;
                s.elb_5xx += f.elb_5xx;
                for (sum, n) in s.backend.iter_mut().zip(f.backend_by_class) {
                    *sum += n;
                }
                s.active_connections += f.active;
                s.new_connections += f.accepted;
                s.processed_bytes += f.bytes_in + f.bytes_out;
                s.tls_negotiation_errors += f.tls_negotiation_errors;
                s.proxy_protocol_errors += f.proxy_protocol_errors;
            }
            for (t, slot) in group.targets.iter().zip(set.targets[g].iter().map(|s| &s.health)) {
                let state = slot.load().state();
                match state {
                    HealthState::Healthy | HealthState::Initial => s.healthy += 1,
                    HealthState::Unhealthy => s.unhealthy += 1,
                    HealthState::Draining => {}
                }
                let f = figures.target_in(&group.name, t.addr);
                s.backend_connection_errors += f.map_or(0, |f| f.connect_errors);
                s.backend_requests += f.map_or(0, |f| f.requests);
                s.backend_reused += f.map_or(0, |f| f.reused);
                s.targets.push(TargetStats {
                    addr: t.addr,
                    zone: t.zone.clone(),
                    weight: t.weight,
                    state,
                    active_connections: f.map_or(0, |f| f.connections),
                    outstanding_requests: f.map_or(0, |f| f.active),
                });
            }
            s
        })
        .collect()
}

impl GroupStats {
    /// A latency quantile in seconds (0 before the first sample).
    pub fn latency_seconds(&self, quantile: f64) -> f64 {
        seconds_at(&self.latency, quantile)
    }

    /// Share of requests that went over a reused backend connection (0 before any request).
    pub fn reuse_ratio(&self) -> f64 {
        if self.backend_requests == 0 {
            0.0
        } else {
            self.backend_reused as f64 / self.backend_requests as f64
        }
    }

    fn json(&self) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                json!({
                    "addr": t.addr.to_string(),
                    "zone": t.zone,
                    "weight": t.weight,
                    "state": t.state.as_str(),
                    "active_connections": t.active_connections,
                    "outstanding_requests": t.outstanding_requests,
                })
            })
            .collect();
        json!({
            "HealthyHostCount": self.healthy,
            "UnHealthyHostCount": self.unhealthy,
            "RequestCount": self.requests,
            "SurgeQueueLength": self.surge_queue_length,
            "SurgeQueueLengthMax": self.surge_queue_length_max,
            "SpilloverCount": self.spillover,
            "HTTPCode_ELB_4XX": self.elb_4xx,
            "HTTPCode_ELB_5XX": self.elb_5xx,
            "HTTPCode_Backend_1XX": self.backend[0],
            "HTTPCode_Backend_2XX": self.backend[1],
            "HTTPCode_Backend_3XX": self.backend[2],
            "HTTPCode_Backend_4XX": self.backend[3],
            "HTTPCode_Backend_5XX": self.backend[4],
            "BackendConnectionErrors": self.backend_connection_errors,
            "Latency": quantiles(&self.latency),
            "QueueWait": quantiles(&self.queue_wait),
            "ActiveConnectionCount": self.active_connections,
            "NewConnectionCount": self.new_connections,
            "ProcessedBytes": self.processed_bytes,
            "BackendConnectionReuseRatio": self.reuse_ratio(),
            "ClientTLSNegotiationErrorCount": self.tls_negotiation_errors,
            "ProxyProtocolErrorCount": self.proxy_protocol_errors,
            "targets": targets,
            "rules": super::rule_figures::rules_json(&self.rules),
        })
    }
}

/// A quantile of a histogram of microseconds, in seconds (0 before the first sample).
fn seconds_at(h: &Histogram<u64>, quantile: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(quantile) as f64 / 1e6
    }
}

/// `{"p50": s, "p90": s, "p99": s}`.
fn quantiles(h: &Histogram<u64>) -> Value {
    json!({ "p50": seconds_at(h, 0.5), "p90": seconds_at(h, 0.9), "p99": seconds_at(h, 0.99) })
}

/// The `/stats` document: `{"target_groups": {NAME: {...}}, "zonal_shift": [...],
/// "parked_connections": N, "shards": [{"shard", "driver", "ring_flags", "data_path", "parked_connections"}]}`
/// (`parked_connections` at the top is the sum over the shards).
pub fn to_json(groups: &[GroupStats], set: &TargetSet, figures: &ShardSnapshot) -> String {
    let groups: serde_json::Map<String, Value> = groups.iter().map(|g| (g.name.clone(), g.json())).collect();
    let shards: Vec<Value> = figures
        .shards
        .iter()
        .map(|s| {
            json!({
                "shard": s.shard,
                "driver": s.driver.kind.name(),
                "ring_flags": s.driver.ring_flags,
                "data_path": s.driver.data_path,
                "parked_connections": s.parked_connections,
            })
        })
        .collect();
    let total = figures.parked_connections();
    let doc = json!({
        "target_groups": groups,
        "listeners": super::rule_figures::listeners_json(&figures.listeners),
        "zonal_shift": set.shifted_zones,
        "parked_connections": total,
        "shards": shards,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}
