//! Recording: each worker's own histograms and counters (no sharing, no locks on the request
//! path), one set for the whole measured window and one per second, and their merge at the end.
//!
//! Invariants:
//! - Latency values are microseconds clamped to 1 µs ..= 60 s; histograms have 3 significant
//!   digits. Percentiles are only ever read from (merged) histograms, never averaged.
//! - A response counts in the measurement when its request was *planned* (open loop) or *sent*
//!   (closed loop) at or after the end of the warmup; errors count when they happen after it.
//! - Per-second buckets are keyed by the time an event is recorded ("now"), which only grows
//!   within one worker; so only the current second is live, and a finished second is frozen into
//!   a compressed HdrHistogram V2 blob (a few hundred bytes) to keep long runs small. Events past
//!   the last second (the final drain) land in the last second.
//! - Live atomics (for the progress line) are written with relaxed stores only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// Highest latency recorded (60 s, in µs); longer ones are recorded as 60 s.
pub const MAX_US: u64 = 60_000_000;

/// A fresh histogram for 1 µs .. 60 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("1..60 s at 3 digits is a valid histogram")
}

fn small_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

/// Why a request did not get a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Read,
    Write,
    Timeout,
    /// The response could not be parsed.
    Protocol,
}

/// Error counts by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Errors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    pub protocol: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.protocol
    }
    fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.read += o.read;
        self.write += o.write;
        self.timeout += o.timeout;
        self.protocol += o.protocol;
    }
    fn bump(&mut self, k: ErrorKind) {
        match k {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Read => self.read += 1,
            ErrorKind::Write => self.write += 1,
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Protocol => self.protocol += 1,
        }
    }
}

/// Counters of one window (the whole run, or one second).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Responses received (any status), including those of the final drain.
    pub responses: u64,
    /// Responses received before the end of the measured window (the achieved rate's numerator).
    pub in_window: u64,
    /// Requests sent.
    pub sent: u64,
    /// Responses by exact status code.
    pub status: BTreeMap<u16, u64>,
    pub errors: Errors,
    /// Bytes received (tcp:// modes; HTTP counts responses only).
    pub bytes: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.responses += o.responses;
        self.in_window += o.in_window;
        self.sent += o.sent;
        for (k, v) in &o.status {
            *self.status.entry(*k).or_default() += v;
        }
        self.errors.add(&o.errors);
        self.bytes += o.bytes;
    }
    /// Responses whose status is in `[lo, hi)`.
    pub fn class(&self, lo: u16, hi: u16) -> u64 {
        self.status.range(lo..hi).map(|(_, v)| v).sum()
    }
}

/// TLS handshakes of an `https://` run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsCounts {
    /// Handshakes completed (full + resumed), warmup included, like `connections_opened`.
    pub handshakes: u64,
    /// Of those, full handshakes.
    pub full: u64,
    /// Of those, resumed sessions.
    pub resumed: u64,
    /// Handshakes that failed in the measured window (each is also a `connect` error).
    pub failed: u64,
    /// Why the first handshake of the run failed (e.g. the certificate is not trusted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl TlsCounts {
    fn add(&mut self, o: &TlsCounts) {
        self.handshakes += o.handshakes;
        self.full += o.full;
        self.resumed += o.resumed;
        self.failed += o.failed;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
    }
}

/// Counters the progress line reads while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    pub responses: AtomicU64,
    pub errors: AtomicU64,
}

/// A finished second of one worker.
#[derive(Debug, Default)]
struct FrozenSecond {
    counts: Counts,
    latency: Vec<u8>,
    service: Vec<u8>,
}

/// One worker's recording.
pub struct Recorder {
    measure_start: Instant,
    measure_end: Instant,
    seconds: usize,
    live: Arc<Live>,
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub counts: Counts,
    /// Largest delay between a planned send time and the actual send.
    pub max_lag: Duration,
    /// Requests sent but not answered when the run ended.
    pub in_flight_at_end: u64,
    /// Connections opened successfully (each reconnect counts).
    pub connections: u64,
    pub tls: TlsCounts,
    cur: usize,
    cur_counts: Counts,
    cur_latency: Histogram<u64>,
    cur_service: Histogram<u64>,
    frozen: Vec<FrozenSecond>,
    ser: V2DeflateSerializer,
}

impl Recorder {
    /// `seconds`: rows of the timeline (the measured duration rounded up).
    pub fn new(measure_start: Instant, measure_end: Instant, seconds: usize, live: Arc<Live>) -> Recorder {
        Recorder {
            measure_start,
            measure_end,
            seconds: seconds.max(1),
            live,
            latency: new_histogram(),
            service: new_histogram(),
            counts: Counts::default(),
            max_lag: Duration::ZERO,
            in_flight_at_end: 0,
            connections: 0,
            tls: TlsCounts::default(),
            cur: 0,
            cur_counts: Counts::default(),
            cur_latency: small_histogram(),
            cur_service: small_histogram(),
            frozen: Vec::new(),
            ser: V2DeflateSerializer::new(),
        }
    }

    /// Move the live second forward to the one `now` falls in; `false` during the warmup.
    fn roll(&mut self, now: Instant) -> bool {
        let Some(since) = now.checked_duration_since(self.measure_start) else { return false };
        let s = (since.as_secs() as usize).min(self.seconds - 1);
        while self.cur < s {
            self.freeze();
        }
        true
    }

    fn freeze(&mut self) {
        let mut f = FrozenSecond { counts: std::mem::take(&mut self.cur_counts), ..Default::default() };
        // Serializing an in-memory histogram into a Vec cannot fail in practice; an empty blob
        // (read back as an empty histogram) is the harmless fallback.
        let _ = self.ser.serialize(&self.cur_latency, &mut f.latency);
        let _ = self.ser.serialize(&self.cur_service, &mut f.service);
        self.cur_latency.reset();
        self.cur_service.reset();
        self.frozen.push(f);
        self.cur += 1;
    }

    /// A request was written: `planned` is its planned send time (= `now` in closed loop).
    pub fn sent(&mut self, now: Instant, planned: Instant) {
        if planned < self.measure_start || !self.roll(now) {
            return;
        }
        self.counts.sent += 1;
        self.cur_counts.sent += 1;
        self.max_lag = self.max_lag.max(now.saturating_duration_since(planned));
    }

    /// A response arrived at `now` for a request planned at `planned` and written at `sent`;
    /// `status` 0 = no status (tcp:// echo).
    pub fn response(&mut self, now: Instant, planned: Instant, sent: Instant, status: u16, bytes: u64) {
        self.live.responses.fetch_add(1, Ordering::Relaxed);
        if planned < self.measure_start || !self.roll(now) {
            return;
        }
        let (lat, svc) = (us(now.saturating_duration_since(planned)), us(now.saturating_duration_since(sent)));
        self.latency.saturating_record(lat);
        self.service.saturating_record(svc);
        // `record`, not `saturating_record`: the latter clamps an auto-resizing histogram to its
        // current top instead of growing it. Values are already clamped to 60 s.
        let _ = self.cur_latency.record(lat);
        let _ = self.cur_service.record(svc);
        let in_window = u64::from(now < self.measure_end);
        for c in [&mut self.counts, &mut self.cur_counts] {
            c.responses += 1;
            c.in_window += in_window;
            c.bytes += bytes;
            if status != 0 {
                *c.status.entry(status).or_default() += 1;
            }
        }
    }

    /// `n` bytes arrived on a bulk (read-only) connection.
    pub fn bytes(&mut self, now: Instant, n: u64) {
        if self.roll(now) {
            self.counts.bytes += n;
            self.cur_counts.bytes += n;
        }
    }

    /// A request (or connection attempt) failed at `now`.
    pub fn error(&mut self, now: Instant, kind: ErrorKind) {
        self.live.errors.fetch_add(1, Ordering::Relaxed);
        if !self.roll(now) {
            return;
        }
        self.counts.errors.bump(kind);
        self.cur_counts.errors.bump(kind);
    }

    /// A TLS handshake completed (`resumed`: an abbreviated one).
    pub fn handshake(&mut self, resumed: bool) {
        self.tls.handshakes += 1;
        if resumed {
            self.tls.resumed += 1;
        } else {
            self.tls.full += 1;
        }
    }

    /// A TLS handshake failed at `now` (`why`: the error): a `connect` error, also counted as a
    /// TLS failure.
    pub fn handshake_failed(&mut self, now: Instant, why: impl FnOnce() -> String) {
        if now >= self.measure_start {
            self.tls.failed += 1;
        }
        if self.tls.first_error.is_none() {
            self.tls.first_error = Some(why());
        }
        self.error(now, ErrorKind::Connect);
    }

    /// Close the recording: every second up to the last one is frozen.
    pub fn finish(mut self) -> WorkerRecord {
        while self.frozen.len() < self.seconds {
            self.freeze();
        }
        WorkerRecord {
            latency: self.latency,
            service: self.service,
            counts: self.counts,
            max_lag: self.max_lag,
            in_flight_at_end: self.in_flight_at_end,
            connections: self.connections,
            tls: self.tls,
            seconds: self.frozen,
        }
    }
}

/// What one worker hands back at the end (it is `Send`: plain data and histograms).
pub struct WorkerRecord {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub counts: Counts,
    pub max_lag: Duration,
    pub in_flight_at_end: u64,
    pub connections: u64,
    pub tls: TlsCounts,
    seconds: Vec<FrozenSecond>,
}

/// One merged second, over all workers.
pub struct SecondRecord {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
}

/// All workers merged.
pub struct Merged {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub counts: Counts,
    pub max_lag: Duration,
    pub in_flight_at_end: u64,
    pub connections: u64,
    pub tls: TlsCounts,
    seconds: Vec<Vec<FrozenSecond>>,
}

impl Merged {
    /// Merge every worker's totals (per-second data is merged lazily by [`Merged::second`]).
    pub fn new(records: Vec<WorkerRecord>) -> Merged {
        let mut m = Merged {
            latency: new_histogram(),
            service: new_histogram(),
            counts: Counts::default(),
            max_lag: Duration::ZERO,
            in_flight_at_end: 0,
            connections: 0,
            tls: TlsCounts::default(),
            seconds: Vec::new(),
        };
        for r in records {
            // Same bounds on both sides: `add` cannot fail; a failure would only lose data we
            // then do not report, so it is not worth a panic.
            let _ = m.latency.add(&r.latency);
            let _ = m.service.add(&r.service);
            m.counts.add(&r.counts);
            m.max_lag = m.max_lag.max(r.max_lag);
            m.in_flight_at_end += r.in_flight_at_end;
            m.connections += r.connections;
            m.tls.add(&r.tls);
            m.seconds.push(r.seconds);
        }
        m
    }

    /// Number of per-second rows.
    pub fn seconds(&self) -> usize {
        self.seconds.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Second `s` merged over all workers.
    pub fn second(&self, s: usize) -> SecondRecord {
        let mut out = SecondRecord { counts: Counts::default(), latency: new_histogram(), service: new_histogram() };
        let mut de = Deserializer::new();
        for w in &self.seconds {
            let Some(f) = w.get(s) else { continue };
            out.counts.add(&f.counts);
            for (blob, into) in [(&f.latency, &mut out.latency), (&f.service, &mut out.service)] {
                if let Ok(h) = de.deserialize::<u64, _>(&mut blob.as_slice()) {
                    let _ = into.add(&h);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_is_excluded_and_seconds_merge() {
        let t0 = Instant::now();
        let m0 = t0 + Duration::from_secs(1);
        let live = Arc::new(Live::default());
        let e = m0 + Duration::from_secs(2);
        let mut a = Recorder::new(m0, e, 2, live.clone());
        let mut b = Recorder::new(m0, e, 2, live);
        // planned in the warmup: not counted
        a.response(m0 + Duration::from_millis(10), t0, t0, 200, 0);
        a.response(m0 + Duration::from_millis(10), m0, m0, 200, 0);
        a.response(
            m0 + Duration::from_millis(1500),
            m0 + Duration::from_millis(1400),
            m0 + Duration::from_millis(1490),
            503,
            0,
        );
        b.error(m0 + Duration::from_millis(1600), ErrorKind::Read);
        b.error(m0 + Duration::from_secs(7), ErrorKind::Timeout); // after the end: last second
        let m = Merged::new(vec![a.finish(), b.finish()]);
        assert_eq!(m.counts.responses, 2);
        assert_eq!(m.seconds(), 2);
        let s0 = m.second(0);
        let s1 = m.second(1);
        assert_eq!(s0.counts.status.get(&200), Some(&1));
        assert_eq!(s1.counts.status.get(&503), Some(&1));
        assert_eq!(s1.counts.errors.read + s1.counts.errors.timeout, 2);
        // corrected latency 100 ms, service time 10 ms
        assert_eq!(s1.latency.max() / 1000, 100);
        assert_eq!(s0.latency.max() / 1000, 10);
        assert_eq!(s1.service.max() / 1000, 10);
        assert_eq!(m.latency.max() / 1000, 100);
        assert_eq!(m.counts.class(500, 600), 1);
    }
}
