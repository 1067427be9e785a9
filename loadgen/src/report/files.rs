//! Machine-readable report files: the JSON summary (the contract's schema, plus extra fields),
//! the timeline CSV (one row per second), and the HdrHistogram interval log, written whole by
//! the hdrhistogram crate's `IntervalLogWriter` (comments, StartTime, BaseTime, MaxValueDivisor,
//! then one line per interval: `start,length,max,base64(V2 deflate histogram)`), which Java's
//! `HistogramLogReader` and the crate's `IntervalLogIterator` read.
//!
//! Invariants: interval log values are microseconds and `Interval_Max` is in milliseconds
//! (`MaxValueDivisor` 1000, as Java logs nanoseconds with a divisor of 10⁶: Java's
//! HistogramLogProcessor reads it with `-outputValueUnitRatio 1000`); untagged intervals are the
//! corrected latency, `Tag=service` intervals the service time; the CSV has a fixed header and
//! empty queue/spillover fields when no stats were polled.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriter, IntervalLogWriterBuilder, Tag};
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

/// Where an HdrHistogram interval log is written: its text and the serializer (V2 with deflate,
/// as Java's `HistogramLogWriter` writes).
pub struct HdrLogBuf {
    text: Vec<u8>,
    ser: V2DeflateSerializer,
}

/// An HdrHistogram interval log being written, one interval per second.
pub struct HdrLog<'a> {
    writer: IntervalLogWriter<'a, 'a, Vec<u8>, V2DeflateSerializer>,
}

const DIVISOR: f64 = 1000.0;

/// Java's legend line. The crate's writer puts only comments before the intervals, so it is
/// written as one: readers skip it either way.
const LEGEND: &str = "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

impl HdrLogBuf {
    pub fn new() -> HdrLogBuf {
        HdrLogBuf { text: Vec::new(), ser: V2DeflateSerializer::new() }
    }

    /// Start the log. `start`: wall-clock time of the first interval (the measurement start):
    /// the StartTime, and the BaseTime the intervals' timestamps count from.
    pub fn begin(&mut self, start: SystemTime) -> HdrLog<'_> {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(&format!("[Logged with loadgen {} (values in microseconds)]", env!("CARGO_PKG_VERSION")))
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(DIVISOR)
            .begin_log_with(&mut self.text, &mut self.ser)
            .expect("writing to a Vec does not fail");
        let _ = writer.write_comment(LEGEND);
        HdrLog { writer }
    }

    /// The whole log.
    pub fn into_text(self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

impl Default for HdrLogBuf {
    fn default() -> Self {
        HdrLogBuf::new()
    }
}

impl HdrLog<'_> {
    /// Add the interval `[at, at + length)` seconds after the start: the latency untagged, the
    /// service time tagged `service`.
    pub fn interval(&mut self, at: f64, length: f64, latency: &Histogram<u64>, service: &Histogram<u64>) {
        let (at, length) = (Duration::from_secs_f64(at.max(0.0)), Duration::from_secs_f64(length.max(0.0)));
        // Writing into a Vec only fails if serialization fails, which an in-memory histogram
        // does not; a lost interval is then the worst outcome.
        let _ = self.writer.write_histogram(latency, at, length, None);
        let _ = self.writer.write_histogram(service, at, length, Tag::new("service"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    use std::time::UNIX_EPOCH;

    /// The log of two intervals, each with `latency` untagged and `service` tagged.
    fn two_intervals(start: SystemTime, latency: &Histogram<u64>, service: &Histogram<u64>) -> String {
        let mut buf = HdrLogBuf::new();
        let mut log = buf.begin(start);
        log.interval(0.0, 1.0, latency, service);
        log.interval(1.0, 0.5, latency, service);
        drop(log);
        buf.into_text()
    }

    #[test]
    fn interval_log_reads_back() {
        let mut lat = crate::record::new_histogram();
        let mut svc = crate::record::new_histogram();
        lat.record(1500).unwrap();
        lat.record(250_000).unwrap();
        svc.record(900).unwrap();
        let text = two_intervals(UNIX_EPOCH + Duration::from_secs(1_700_000_000), &lat, &svc);
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
    fn interval_log_counts_and_times_read_back() {
        let (mut lat, mut svc) = (crate::record::new_histogram(), crate::record::new_histogram());
        for us in [120, 480, 1_500, 1_500, 90_000] {
            lat.record(us).unwrap();
        }
        lat.record_n(3_000, 10).unwrap();
        svc.record_n(800, 7).unwrap();
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_123_456);
        let text = two_intervals(start, &lat, &svc);
        assert!(text.starts_with("#[Logged with loadgen "), "{text}");
        assert!(text.contains("\n#[Histogram log format version 1.3]\n"), "{text}");
        assert!(text.contains("\n#[MaxValueDivisor: 1000.000]\n"), "{text}");

        let since_epoch = Duration::from_millis(1_700_000_123_456);
        let (mut starts, mut bases, mut seen) = (Vec::new(), Vec::new(), Vec::new());
        let mut de = Deserializer::new();
        for e in IntervalLogIterator::new(text.as_bytes()) {
            match e.expect("every line parses") {
                LogEntry::StartTime(t) => starts.push(t),
                LogEntry::BaseTime(t) => bases.push(t),
                LogEntry::Interval(i) => {
                    let bytes = STANDARD.decode(i.encoded_histogram()).expect("base64");
                    let h: Histogram<u64> = de.deserialize(&mut bytes.as_slice()).expect("histogram decodes");
                    let tag = i.tag().map(|t| t.as_str().to_string());
                    seen.push((tag, i.start_timestamp(), i.duration(), h));
                }
            }
        }
        assert_eq!(starts, [since_epoch]);
        assert_eq!(bases, [since_epoch]);
        assert_eq!(seen.len(), 4);
        let at = |s: u64, ms: u64| Duration::from_secs(s) + Duration::from_millis(ms);
        for (k, (tag, begin, length, h)) in seen.iter().enumerate() {
            let (want, want_tag) = if k % 2 == 0 { (&lat, None) } else { (&svc, Some("service")) };
            assert_eq!(tag.as_deref(), want_tag, "interval {k}");
            assert_eq!(*begin, if k < 2 { at(0, 0) } else { at(1, 0) }, "interval {k}");
            assert_eq!(*length, if k < 2 { at(1, 0) } else { at(0, 500) }, "interval {k}");
            // The same counts, value by value.
            assert_eq!(h.len(), want.len(), "interval {k}");
            assert_eq!(h.max(), want.max(), "interval {k}");
            for v in want.iter_recorded() {
                assert_eq!(h.count_at(v.value_iterated_to()), v.count_at_value(), "interval {k}");
            }
        }
        assert_eq!(seen[0].3.len(), 15);
        assert_eq!(seen[1].3.len(), 7);
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
