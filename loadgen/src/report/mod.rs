//! Reports: the figures of a finished run ([`Summary`], one [`Row`] per second) computed once
//! from the merged recordings and the stats samples, then rendered by the submodules: `text`
//! (wrk-like summary, wrk2-like spectrum), `files` (JSON, timeline CSV, HdrHistogram interval log)
//! and `plot` (SVG).
//!
//! Invariants: every percentile comes from a merged histogram; rates divide by the measured
//! duration (warmup excluded); "offered" is the plan (open loop) or what was sent (closed loop),
//! "achieved" is responses received; timeline rows are exactly `ceil(duration)` seconds.

pub mod files;
pub mod plot;
pub mod text;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::RunConfig;
use crate::record::{Errors, Merged, TlsCounts};
use crate::stats::{Polled, SurgeSummary};

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("cannot encode {0}: {1}")]
    Encode(&'static str, String),
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let q = |x: f64| h.value_at_quantile(x);
        Percentiles {
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: h.max(),
            mean: h.mean(),
            stdev: h.stdev(),
        }
    }
}

/// Status counts by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Classes {
    #[serde(rename = "1xx")]
    pub c1: u64,
    #[serde(rename = "2xx")]
    pub c2: u64,
    #[serde(rename = "3xx")]
    pub c3: u64,
    #[serde(rename = "4xx")]
    pub c4: u64,
    #[serde(rename = "5xx")]
    pub c5: u64,
}

/// The whole-run figures (the JSON summary is this struct).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub url: String,
    /// "open" (with -R/--steps) or "closed".
    pub mode: &'static str,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Responses to requests planned (open loop) or sent (closed loop) in the measured window,
    /// including those that arrived during the final drain.
    pub requests: u64,
    pub sent: u64,
    /// Responses received before the end of the measured window.
    pub requests_in_window: u64,
    /// Achieved rate: responses received in the measured window per second.
    pub rps: f64,
    /// Offered rate: the plan (open loop) or requests sent (closed loop) per second.
    pub offered_rps: f64,
    /// Latency: from the planned send time in open loop (coordinated omission corrected).
    pub latency_us: Percentiles,
    /// Service time: from the actual send.
    pub service_time_us: Percentiles,
    pub status: BTreeMap<String, u64>,
    pub status_class: Classes,
    pub errors: Errors,
    pub in_flight_at_end: u64,
    /// Largest delay of an actual send behind its planned time (open loop).
    pub max_behind_ms: f64,
    pub connections_opened: u64,
    pub bytes: u64,
    pub surge: SurgeSummary,
    /// `https://` runs only: handshakes completed (full, resumed) and failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCounts>,
}

/// One second of the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    pub second: usize,
    pub offered_rps: f64,
    pub achieved_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub service_p99_ms: f64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub status_503: u64,
    pub errors: u64,
    /// Surge queue length (max of the samples in that second); `None` without --stats-url.
    pub queue_length: Option<f64>,
    /// Spillover in that second; `None` without --stats-url.
    pub spillover: Option<f64>,
}

/// Everything a finished run produced.
pub struct Report {
    pub summary: Summary,
    pub rows: Vec<Row>,
    /// Whole-run histograms (for the spectrum).
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    /// The HdrHistogram interval log text, when asked for.
    pub hdr_log: Option<String>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Compute every figure; `hdr_log` also renders the interval log (it needs the per-second
/// histograms, which are merged only once, here).
/// `hdr_log`: the wall-clock time the measurement started (the log's StartTime).
pub fn build(
    cfg: &RunConfig,
    url: &str,
    merged: Merged,
    polled: Option<&Polled>,
    hdr_log: Option<SystemTime>,
) -> Report {
    let duration = cfg.duration.as_secs_f64();
    let c = &merged.counts;
    let offered = match &cfg.schedule {
        Some(s) => s.offered_between(0.0, duration),
        None => c.sent as f64,
    };
    let summary = Summary {
        url: url.to_string(),
        mode: if cfg.schedule.is_some() { "open" } else { "closed" },
        connections: cfg.connections,
        threads: cfg.threads,
        pipeline: cfg.pipeline,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: duration,
        requests: c.responses,
        sent: c.sent,
        requests_in_window: c.in_window,
        rps: c.in_window as f64 / duration,
        offered_rps: offered / duration,
        latency_us: Percentiles::of(&merged.latency),
        service_time_us: Percentiles::of(&merged.service),
        status: c.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        status_class: Classes {
            c1: c.class(100, 200),
            c2: c.class(200, 300),
            c3: c.class(300, 400),
            c4: c.class(400, 500),
            c5: c.class(500, 600),
        },
        errors: c.errors,
        in_flight_at_end: merged.in_flight_at_end,
        max_behind_ms: merged.max_lag.as_secs_f64() * 1e3,
        connections_opened: merged.connections,
        bytes: c.bytes,
        surge: polled.map(|p| p.summary(duration)).unwrap_or_default(),
        tls: cfg.tls.as_ref().map(|_| merged.tls.clone()),
    };
    let mut hdr_buf = files::HdrLogBuf::new();
    let mut hdr = hdr_log.map(|start| hdr_buf.begin(start));
    let mut rows = Vec::with_capacity(merged.seconds());
    for s in 0..merged.seconds() {
        let sec = merged.second(s);
        // The last row may be a partial second.
        let width = (duration - s as f64).clamp(1e-3, 1.0);
        let sc = &sec.counts;
        let (lat, svc) = (Percentiles::of(&sec.latency), Percentiles::of(&sec.service));
        let window = polled.and_then(|p| p.window(s as f64, s as f64 + 1.0));
        rows.push(Row {
            second: s,
            offered_rps: match &cfg.schedule {
                Some(sch) => sch.offered_between(s as f64, s as f64 + width) / width,
                None => sc.sent as f64 / width,
            },
            achieved_rps: sc.in_window as f64 / width,
            p50_ms: ms(lat.p50),
            p99_ms: ms(lat.p99),
            max_ms: ms(lat.max),
            service_p99_ms: ms(svc.p99),
            status_2xx: sc.class(200, 300),
            status_4xx: sc.class(400, 500),
            status_5xx: sc.class(500, 600),
            status_503: sc.status.get(&503).copied().unwrap_or(0),
            errors: sc.errors.total(),
            queue_length: polled.map(|_| window.map_or(0.0, |w| w.0)),
            spillover: polled.map(|_| window.map_or(0.0, |w| w.1)),
        });
        if let Some(h) = hdr.as_mut() {
            h.interval(s as f64, width, &sec.latency, &sec.service);
        }
    }
    drop(hdr);
    let hdr_log = hdr_log.map(|_| hdr_buf.into_text());
    Report { summary, rows, latency: merged.latency, service: merged.service, hdr_log }
}
