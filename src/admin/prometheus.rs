//! `/metrics`: the group figures in the Prometheus (OpenMetrics) text format.
//!
//! Encoded by the `prometheus-client` crate through a [`Collector`] that renders the figures
//! gathered for this scrape. The counters themselves stay the shards' plain `Cell`s: nothing of
//! the Prometheus machinery (no atomic, no registry lookup) is on the request path, and the
//! crate takes care of the format's rules (escaping, `_total` suffixes, histogram buckets,
//! `# EOF`).

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};

use hdrhistogram::Histogram;

use super::{rule_figures::RuleCollector, stats::GroupStats};
use crate::metrics::{names, ShardReport};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug)]
struct Figures(Vec<GroupStats>, Vec<ShardReport>);

/// Renders `groups`, each shard's own record (driver, parked connections) and the rule figures
/// as one exposition.
pub fn render(groups: Vec<GroupStats>, shards: Vec<ShardReport>, rules: RuleCollector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Figures(groups, shards)));
    registry.register_collector(Box::new(rules));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

type Fmt = Result<(), std::fmt::Error>;

impl Figures {
    fn gauge(&self, e: &mut DescriptorEncoder, name: &str, help: &str, value: impl Fn(&GroupStats) -> u64) -> Fmt {
        let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for g in &self.0 {
            m.encode_family(&[("target_group", g.name.as_str())])?.encode_gauge(&value(g))?;
        }
        Ok(())
    }

    fn counter(&self, e: &mut DescriptorEncoder, name: &str, help: &str, value: impl Fn(&GroupStats) -> u64) -> Fmt {
        let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        for g in &self.0 {
            m.encode_family(&[("target_group", g.name.as_str())])?
                .encode_counter::<NoLabelSet, _, u64>(&value(g), None)?;
        }
        Ok(())
    }

    /// A counter split by response class (`code_class="2xx"`).
    fn by_class(
        &self,
        e: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&GroupStats) -> [u64; 5],
    ) -> Fmt {
        let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        for g in &self.0 {
            for (class, n) in CLASSES.iter().zip(value(g)) {
                let labels = [("target_group", g.name.as_str()), ("code_class", class)];
                m.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        Ok(())
    }

    fn histogram(
        &self,
        e: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        histogram: impl Fn(&GroupStats) -> &Histogram<u64>,
    ) -> Fmt {
        let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
        for g in &self.0 {
            let h = histogram(g);
            // Cumulative counts at each bound; the encoder adds +Inf from the total.
            let mut buckets: Vec<(f64, u64)> =
                LATENCY_BUCKETS.iter().map(|&bound| (bound, h.count_between(0, (bound * 1e6) as u64))).collect();
            // Per-bucket counts, as the encoder expects (it accumulates them).
            for i in (1..buckets.len()).rev() {
                buckets[i].1 -= buckets[i - 1].1;
            }
            buckets.push((f64::MAX, h.len() - h.count_between(0, (LATENCY_BUCKETS[15] * 1e6) as u64)));
            let sum = h.mean() * h.len() as f64 / 1e6;
            m.encode_family(&[("target_group", g.name.as_str())])?.encode_histogram::<NoLabelSet>(
                sum,
                h.len(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

impl Collector for Figures {
    fn encode(&self, mut e: DescriptorEncoder) -> Fmt {
        self.gauge(&mut e, names::HEALTHY_HOST_COUNT, "Targets taking traffic on their health", |g| g.healthy)?;
        self.gauge(&mut e, names::UNHEALTHY_HOST_COUNT, "Targets judged unhealthy", |g| g.unhealthy)?;
        self.counter(&mut e, names::REQUEST_COUNT, "HTTP requests received", |g| g.requests)?;
        self.gauge(&mut e, names::SURGE_QUEUE_LENGTH, "Requests waiting in the surge queue now", |g| {
            g.surge_queue_length
        })?;
        self.counter(&mut e, names::SPILLOVER_COUNT, "Requests refused because the surge queue was full", |g| {
            g.spillover
        })?;
        self.by_class(&mut e, names::ELB_RESPONSES, "Responses spillway made itself, by class", |g| {
            [0, 0, 0, g.elb_4xx, g.elb_5xx]
        })?;
        self.by_class(&mut e, names::BACKEND_RESPONSES, "Responses from targets, by class", |g| g.backend)?;
        self.histogram(
            &mut e,
            names::LATENCY_SECONDS,
            "Target latency: request sent to response head received (ELB Latency)",
            |g| &g.latency,
        )?;
        self.histogram(
            &mut e,
            names::QUEUE_WAIT_SECONDS,
            "Time spent in the surge queue by requests served after waiting",
            |g| &g.queue_wait,
        )?;
        self.gauge(&mut e, names::SURGE_QUEUE_LENGTH_MAX, "Highest surge queue length since start", |g| {
            g.surge_queue_length_max
        })?;
        self.gauge(&mut e, names::ACTIVE_CONNECTIONS, "Client connections open now", |g| g.active_connections)?;
        self.counter(&mut e, names::NEW_CONNECTIONS, "Client connections accepted", |g| g.new_connections)?;
        self.counter(&mut e, names::PROCESSED_BYTES, "Bytes moved between clients and targets", |g| g.processed_bytes)?;
        self.counter(&mut e, names::BACKEND_CONNECTION_ERRORS, "Connects to targets refused or timed out", |g| {
            g.backend_connection_errors
        })?;
        self.counter(&mut e, names::CLIENT_TLS_NEGOTIATION_ERRORS, "Client TLS handshakes that failed", |g| {
            g.tls_negotiation_errors
        })?;
        self.counter(
            &mut e,
            names::PROXY_PROTOCOL_ERRORS,
            "Client connections closed without a valid PROXY protocol header",
            |g| g.proxy_protocol_errors,
        )?;
        let mut m = e.encode_descriptor(
            names::TARGET_HEALTHY,
            "1 when the target takes traffic on its health (healthy or initial), else 0",
            None,
            MetricType::Gauge,
        )?;
        for g in &self.0 {
            for t in &g.targets {
                let addr = t.addr.to_string();
                let up = u64::from(matches!(
                    t.state,
                    crate::health::HealthState::Healthy | crate::health::HealthState::Initial
                ));
                m.encode_family(&[("target_group", g.name.as_str()), ("target", addr.as_str())])?.encode_gauge(&up)?;
            }
        }
        let mut m = e.encode_descriptor(
            names::SHARD_DRIVER,
            "1 for each shard, labelled with the I/O driver and io_uring setup flags its runtime was built with",
            None,
            MetricType::Gauge,
        )?;
        for s in &self.1 {
            let shard = s.shard.to_string();
            let flags = s.driver.flags_label();
            let labels = [("shard", shard.as_str()), ("driver", s.driver.kind.name()), ("ring_flags", flags.as_str())];
            m.encode_family(&labels)?.encode_gauge(&1u64)?;
        }
        let mut m = e.encode_descriptor(
            names::PARKED_CONNECTIONS,
            "Idle keep-alive HTTP connections parked now (no task, a record in the shard's lot), per shard",
            None,
            MetricType::Gauge,
        )?;
        for s in &self.1 {
            let shard = s.shard.to_string();
            m.encode_family(&[("shard", shard.as_str())])?.encode_gauge(&s.parked_connections)?;
        }
        Ok(())
    }
}
