//! Machine-readable report files: the JSON summary (the contract's schema, plus extra fields),
//! the timeline CSV (one row per second), and the HdrHistogram interval log in the layout Java's
//! `HistogramLogWriter` emits (comment, format version, StartTime, legend, then one line per
//! interval: `start,length,max,base64(V2 deflate histogram)`).
//!
//! Invariants: interval log values are microseconds and `Interval_Max` is in milliseconds
//! (`MaxValueDivisor` 1000, as Java logs nanoseconds with a divisor of 10⁶: Java's
//! HistogramLogProcessor reads it with `-outputValueUnitRatio 1000`); untagged intervals are the
//! corrected latency, `Tag=service` intervals the service time; the CSV has a fixed header and
//! empty queue/spillover fields when no stats were polled.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use super::{ReportError, Row, Summary};

/// Write `text` to `path` (`-` = standard output).
pub fn write_out(path: &Path, text: &str) -> Result<(), ReportError> {
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| ReportError::Write(path.to_path_buf(), e))
}

/// The JSON summary.
pub fn json(summary: &Summary) -> Result<String, ReportError> {
    serde_json::to_string_pretty(summary).map(|s| s + "\n").map_err(|e| ReportError::Encode("JSON", e.to_string()))
}

/// The timeline CSV header.
pub const TIMELINE_HEADER: &str = "second,offered_rps,achieved_rps,p50_ms,p99_ms,max_ms,service_p99_ms,\
status_2xx,status_4xx,status_5xx,status_503,errors,queue_length,spillover";

/// The timeline CSV: a header and one row per second.
pub fn timeline(rows: &[Row]) -> String {
    let mut out = String::from(TIMELINE_HEADER);
    out.push('\n');
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for r in rows {
        let _ = writeln!(
            out,
            "{},{:.1},{:.1},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{},{},{}",
            r.second,
            r.offered_rps,
            r.achieved_rps,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.service_p99_ms,
            r.status_2xx,
            r.status_4xx,
            r.status_5xx,
            r.status_503,
            r.errors,
            opt(r.queue_length),
            opt(r.spillover),
        );
    }
    out
}

/// An HdrHistogram interval log being written, one interval per second.
pub struct HdrLog {
    start: SystemTime,
    body: Vec<u8>,
    ser: V2DeflateSerializer,
}

const DIVISOR: f64 = 1000.0;

impl HdrLog {
    /// `start`: wall-clock time of the first interval (the measurement start).
    pub fn new(start: SystemTime) -> HdrLog {
        HdrLog { start, body: Vec::new(), ser: V2DeflateSerializer::new() }
    }

    /// Add the interval `[at, at + length)` seconds after the start.
    pub fn interval(&mut self, at: f64, length: f64, latency: &Histogram<u64>, service: &Histogram<u64>) {
        let mut buf = Vec::new();
        let Ok(mut w) =
            IntervalLogWriterBuilder::new().with_max_value_divisor(DIVISOR).begin_log_with(&mut buf, &mut self.ser)
        else {
            return;
        };
        let (at, length) = (Duration::from_secs_f64(at.max(0.0)), Duration::from_secs_f64(length.max(0.0)));
        // Writing into a Vec only fails if serialization fails, which an in-memory histogram
        // does not; a lost interval is then the worst outcome.
        let _ = w.write_histogram(latency, at, length, None);
        let _ = w.write_histogram(service, at, length, Tag::new("service"));
        drop(w);
        // The builder writes its own "#[MaxValueDivisor ...]" line first: the header has it.
        let text = String::from_utf8_lossy(&buf);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            self.body.extend_from_slice(line.as_bytes());
            self.body.push(b'\n');
        }
    }

    /// The whole log: header lines then the intervals.
    pub fn finish(self) -> String {
        let since = self.start.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut out = String::new();
        let _ = writeln!(out, "#[Logged with loadgen {} (values in microseconds)]", env!("CARGO_PKG_VERSION"));
        out.push_str("#[Histogram log format version 1.3]\n");
        let _ = writeln!(out, "#[StartTime: {:.3} (seconds since epoch), {}]", since.as_secs_f64(), java_date(since));
        let _ = writeln!(out, "#[MaxValueDivisor: {DIVISOR:.3}]");
        out.push_str("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n");
        out.push_str(&String::from_utf8_lossy(&self.body));
        out
    }
}

/// `Wed Sep 09 15:24:39 UTC 2015`, the way Java's `Date.toString()` prints (in UTC).
fn java_date(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let wd = WD[days.rem_euclid(7) as usize];
    let mo = MO[((month - 1) as usize).min(11)];
    format!("{wd} {mo} {d:02} {h:02}:{m:02}:{s:02} UTC {year}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn java_dates() {
        assert_eq!(java_date(Duration::from_secs(0)), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(Duration::from_secs(1_441_837_479)), "Wed Sep 09 22:24:39 UTC 2015");
    }

    #[test]
    fn interval_log_reads_back() {
        let mut lat = crate::record::new_histogram();
        let mut svc = crate::record::new_histogram();
        lat.record(1500).unwrap();
        lat.record(250_000).unwrap();
        svc.record(900).unwrap();
        let mut log = HdrLog::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        log.interval(0.0, 1.0, &lat, &svc);
        log.interval(1.0, 0.5, &lat, &svc);
        let text = log.finish();
        let mut start = None;
        let mut intervals = Vec::new();
        for e in IntervalLogIterator::new(text.as_bytes()) {
            match e.expect("every line parses") {
                LogEntry::StartTime(t) => start = Some(t),
                LogEntry::Interval(i) => intervals.push((i.tag().map(|t| t.as_str().to_string()), i.max())),
                LogEntry::BaseTime(_) => {}
            }
        }
        assert_eq!(start, Some(Duration::from_secs(1_700_000_000)));
        assert_eq!(intervals.len(), 4);
        assert_eq!(intervals[0].0, None);
        assert_eq!(intervals[1].0.as_deref(), Some("service"));
        assert!((intervals[0].1 - 250.0).abs() < 1.0, "max in ms: {}", intervals[0].1);
    }

    #[test]
    fn timeline_rows_and_empty_stats() {
        let rows =
            vec![Row { second: 0, offered_rps: 10.0, queue_length: Some(3.0), ..Row::default() }, Row::default()];
        let t = timeline(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("0,10.0,"));
        assert!(lines[1].ends_with(",3,"));
        assert!(lines[2].ends_with(",,"));
        assert_eq!(lines[0].split(',').count(), lines[2].split(',').count());
    }
}
