//! The names of the figure families in `/metrics` (Prometheus), in the order of the exposition.
//!
//! One list, next to the counters the figures come from, instead of names passed mid-argument
//! through the renderer's helpers (`admin/prometheus.rs`); docs/metrics.md documents each one.
//! The encoder adds `_total` to counters: [`REQUEST_COUNT`] is exposed as
//! `spillway_request_count_total`. These names are part of the contract: renaming one breaks
//! every dashboard and alert that reads it.
//!
//! The `/stats` keys (CloudWatch's names, `HealthyHostCount`...) are not here: each is written
//! once, in the `json!` block of `admin/stats.rs`, which reads as the document's own table of
//! key → figure; constants would only hide that shape behind a second name.

/// Gauge per target group: targets taking traffic on their health.
pub const HEALTHY_HOST_COUNT: &str = "spillway_healthy_host_count";
/// Gauge per target group: targets judged unhealthy.
pub const UNHEALTHY_HOST_COUNT: &str = "spillway_unhealthy_host_count";
/// Counter per target group: HTTP requests received.
pub const REQUEST_COUNT: &str = "spillway_request_count";
/// Gauge per target group: requests waiting in the surge queue now.
pub const SURGE_QUEUE_LENGTH: &str = "spillway_surge_queue_length";
/// Counter per target group: requests refused because the surge queue was full.
pub const SPILLOVER_COUNT: &str = "spillway_spillover_count";
/// Counter per target group and `code_class`: responses spillway made itself.
pub const ELB_RESPONSES: &str = "spillway_elb_responses";
/// Counter per target group and `code_class`: responses from targets.
pub const BACKEND_RESPONSES: &str = "spillway_backend_responses";
/// Histogram per target group: target latency.
pub const LATENCY_SECONDS: &str = "spillway_latency_seconds";
/// Histogram per target group: time waited in the surge queue.
pub const QUEUE_WAIT_SECONDS: &str = "spillway_queue_wait_seconds";
/// Gauge per target group: highest surge queue length since start.
pub const SURGE_QUEUE_LENGTH_MAX: &str = "spillway_surge_queue_length_max";
/// Gauge per target group: client connections open now.
pub const ACTIVE_CONNECTIONS: &str = "spillway_active_connections";
/// Counter per target group: client connections accepted.
pub const NEW_CONNECTIONS: &str = "spillway_new_connections";
/// Counter per target group: bytes moved between clients and targets.
pub const PROCESSED_BYTES: &str = "spillway_processed_bytes";
/// Counter per target group: connects to targets refused or timed out.
pub const BACKEND_CONNECTION_ERRORS: &str = "spillway_backend_connection_errors";
/// Counter per target group: client TLS handshakes that failed.
pub const CLIENT_TLS_NEGOTIATION_ERRORS: &str = "spillway_client_tls_negotiation_errors";
/// Counter per target group: client connections closed without a valid PROXY protocol header.
pub const PROXY_PROTOCOL_ERRORS: &str = "spillway_proxy_protocol_errors";
/// Gauge per target group and target: 1 when the target takes traffic on its health.
pub const TARGET_HEALTHY: &str = "spillway_target_healthy";
/// Gauge per shard, labelled with its driver and ring flags: always 1.
pub const SHARD_DRIVER: &str = "spillway_shard_driver";
/// Gauge per shard: idle keep-alive HTTP connections parked now.
pub const PARKED_CONNECTIONS: &str = "spillway_parked_connections";
/// Counter per listener: listener rules evaluated (ELB's `RuleEvaluations`).
pub const RULE_EVALUATIONS: &str = "spillway_rule_evaluations";
/// Counter per listener: fixed responses made by rules (ELB's `HTTP_Fixed_Response_Count`).
pub const FIXED_RESPONSES: &str = "spillway_fixed_responses";
/// Counter per listener: redirects made by rules (ELB's `HTTP_Redirect_Count`).
pub const REDIRECTS: &str = "spillway_redirects";
/// Counter per listener (or target group) and rule: requests the rule held for.
pub const RULE_MATCHES: &str = "spillway_rule_matches";
