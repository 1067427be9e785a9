//! The human report: a wrk-like summary (latency and service-time percentiles side by side,
//! counts, statuses, errors, offered vs achieved rate, surge figures) and, with `--latency`, the
//! wrk2-style percentile spectrum of the corrected latency.
//!
//! Invariants: pure formatting of a [`Report`]; nothing here computes a figure that the JSON
//! does not also carry (so the text and the JSON cannot disagree).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::{Percentiles, Report};

/// `950us`, `1.23ms`, `2.50s`.
pub fn fmt_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

fn row(out: &mut String, name: &str, p: &Percentiles) {
    let cells = [p.p50 as f64, p.p75 as f64, p.p90 as f64, p.p99 as f64, p.p999 as f64, p.p9999 as f64, p.max as f64];
    let _ = write!(out, "  {name:<9}");
    for c in cells {
        let _ = write!(out, "{:>10}", fmt_us(c));
    }
    let _ = writeln!(out, "{:>10}{:>10}", fmt_us(p.mean), fmt_us(p.stdev));
}

/// The summary text.
pub fn summary(r: &Report) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let warm = if s.warmup_s > 0.0 { format!(" after {:.2}s warmup", s.warmup_s) } else { String::new() };
    let _ = writeln!(out, "Running {:.2}s test @ {}{warm}", s.duration_s, s.url);
    let mode = if s.mode == "open" {
        format!("open loop at {:.0} req/s offered (latency from planned send times)", s.offered_rps)
    } else {
        "closed loop".to_string()
    };
    let _ =
        writeln!(out, "  {} threads and {} connections (pipeline {}), {mode}", s.threads, s.connections, s.pipeline);
    let _ = writeln!(
        out,
        "  {:<9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "", "p50", "p75", "p90", "p99", "p99.9", "p99.99", "max", "mean", "stdev"
    );
    row(&mut out, "Latency", &s.latency_us);
    row(&mut out, "Service", &s.service_time_us);
    let _ = writeln!(
        out,
        "  {} requests in {:.2}s ({} sent, {} in flight at the end), {} connections opened",
        s.requests, s.duration_s, s.sent, s.in_flight_at_end, s.connections_opened
    );
    if s.bytes > 0 {
        let _ =
            writeln!(out, "  {:.2} MB read ({:.2} MB/s)", s.bytes as f64 / 1e6, s.bytes as f64 / 1e6 / s.duration_s);
    }
    if !s.status.is_empty() {
        let codes: Vec<String> = s.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let c = &s.status_class;
        let _ =
            writeln!(out, "  Status: {}  [2xx {}, 3xx {}, 4xx {}, 5xx {}]", codes.join(", "), c.c2, c.c3, c.c4, c.c5);
    }
    if let Some(t) = &s.tls {
        let _ = writeln!(
            out,
            "  TLS: {} handshakes ({} full, {} resumed), {} failed{}",
            t.handshakes,
            t.full,
            t.resumed,
            t.failed,
            t.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
    }
    let e = &s.errors;
    let _ = writeln!(
        out,
        "  Errors: connect {}, read {}, write {}, timeout {}, protocol {}",
        e.connect, e.read, e.write, e.timeout, e.protocol
    );
    if s.mode == "open" {
        let _ = writeln!(
            out,
            "  Offered {:.2} req/s, achieved {:.2} req/s; sends fell behind the plan by up to {:.2}ms",
            s.offered_rps, s.rps, s.max_behind_ms
        );
    }
    if s.surge.samples > 0 || s.surge.failed_polls > 0 {
        let g = &s.surge;
        let _ = writeln!(
            out,
            "  Surge queue: max {}, mean {:.2}; spillover {} ({} polls, {} failed)",
            g.queue_length_max, g.queue_length_mean, g.spillover_count, g.samples, g.failed_polls
        );
    }
    let _ = writeln!(out, "Requests/sec: {:>10.2}", s.rps);
    out
}

/// The wrk2-style percentile spectrum (values in ms).
pub fn spectrum(h: &Histogram<u64>) -> String {
    let mut out = String::from("  Detailed Percentile spectrum (corrected latency):\n");
    let _ = writeln!(out, "{:>12} {:>14} {:>10} {:>14}", "Value(ms)", "Percentile", "TotalCount", "1/(1-Percentile)");
    let mut total = 0;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 { format!("{:>14.2}", 1.0 / (1.0 - q)) } else { format!("{:>14}", "inf") };
        let _ = writeln!(out, "{:>12.3} {:>14.12} {:>10} {inv}", v.value_iterated_to() as f64 / 1e3, q, total);
    }
    let _ = writeln!(out, "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]", h.mean() / 1e3, h.stdev() / 1e3);
    let _ = writeln!(out, "#[Max     = {:>12.3}, Total count    = {:>12}]", h.max() as f64 / 1e3, h.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_us(950.0), "950us");
        assert_eq!(fmt_us(1234.0), "1.23ms");
        assert_eq!(fmt_us(2_500_000.0), "2.50s");
    }

    #[test]
    fn spectrum_ends_at_the_max() {
        let mut h = crate::record::new_histogram();
        for v in 1..=1000 {
            h.record(v * 10).unwrap();
        }
        let s = spectrum(&h);
        assert!(s.contains("Total count    =         1000"), "{s}");
        let last = s.lines().rev().nth(2).unwrap();
        assert!(last.contains("1000"), "{last}");
    }
}
