//! spillway's load generator and test backend (`loadgen`), independent of the proxy: its own
//! runtime (glommio, where the proxy runs on monoio) and its own HTTP code, so that neither can
//! hide a bug of the proxy from the measurements. It never imports the `spillway` crate.
//!
//! Layout, in data-flow order:
//! - [`cli`]: the command line, checked into [`cli::RunConfig`] / [`cli::ServeArgs`].
//! - [`schedule`]: the open-loop plan (planned send time of every request, `--steps`).
//! - [`worker`]: one pinned glommio executor per thread, each with its connections.
//! - [`conn`]: one connection's send/receive loop (closed or open loop, pipelining, reconnects).
//! - [`http`], [`tcp`]: the client codecs (HTTP/1.1 responses; echo and bulk TCP).
//! - [`tls`]: rustls set-up for `https://` targets and `serve --tls-cert` (both ends of TLS);
//!   [`tls_cache`]: a worker's client session cache.
//! - [`record`]: per-worker histograms and counters, per second; their merge.
//! - [`stats`]: polling the proxy's surge queue (`/stats` JSON or HAProxy CSV).
//! - [`report`]: text, JSON, timeline CSV, HdrHistogram log, SVG.
//! - [`run`]: one run from start to reports.
//! - [`serve`], [`serve_http`]: the test backend.

pub mod cli;
pub mod conn;
pub mod http;
pub mod record;
pub mod report;
pub mod run;
pub mod schedule;
pub mod serve;
pub mod serve_http;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod tls_cache;
pub mod worker;
