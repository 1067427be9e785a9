//! Watching the proxy: poll spillway's `/stats` JSON (sum of `SurgeQueueLength` and
//! `SpilloverCount` over `target_groups`) or an HAProxy stats CSV (`…;csv`: sum of `qcur`, max of
//! `qmax`) every 100 ms on a plain thread of its own (never on a load worker), and summarise the
//! samples per second and over the measured window.
//!
//! Invariants: a poll has a 1 s deadline and a failed poll is counted, never fatal; sample times
//! are seconds from the start of the measurement (negative during the warmup); spillover during
//! the run is a difference of the cumulative counter, with the last sample before the window as
//! the baseline, so spillover that happened before the run is not reported.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::cli::{parse_url, Target};

/// Poll period.
pub const PERIOD: Duration = Duration::from_millis(100);

/// A poll that failed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("stats URL: {0}")]
    Url(String),
    #[error("stats request failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("stats answer is not usable: {0}")]
    Body(String),
}

/// One poll's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the start of the measurement.
    pub t: f64,
    /// Requests waiting in surge queues now (sum over groups / `qcur` sum).
    pub queue: f64,
    /// Cumulative spillover counter (0 for HAProxy, which has none).
    pub spillover: f64,
    /// The source's own "max since start" (`SurgeQueueLengthMax` / `qmax`), if it has one.
    pub source_max: Option<f64>,
}

/// A parsed `--stats-url`.
#[derive(Debug, Clone)]
pub struct StatsSource {
    addr: std::net::SocketAddr,
    host: String,
    path: String,
    csv: bool,
}

impl StatsSource {
    pub fn parse(url: &str) -> Result<StatsSource, StatsError> {
        match parse_url(url).map_err(|e| StatsError::Url(e.to_string()))? {
            Target::Http { addr, host_header, path, https: false, .. } => {
                Ok(StatsSource { addr, host: host_header, csv: path.ends_with(";csv"), path })
            }
            Target::Http { https: true, .. } | Target::Tcp { .. } => {
                Err(StatsError::Url("the stats URL must be http://".into()))
            }
        }
    }

    /// One GET, parsed into figures (`t` is left at 0).
    pub fn poll(&self) -> Result<Sample, StatsError> {
        let body = self.get()?;
        if self.csv {
            parse_csv(&body)
        } else {
            parse_json(&body)
        }
    }

    fn get(&self) -> Result<String, StatsError> {
        let addr = (self.addr.ip(), self.addr.port()).to_socket_addrs()?.next().unwrap_or(self.addr);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        s.set_write_timeout(Some(Duration::from_secs(1)))?;
        // One write: `write!` on the socket would send each piece of the format in its own
        // syscall (and segment), and a server that answers what its first read got sees `GET `.
        let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.path, self.host);
        s.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        s.take(16 << 20).read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| StatsError::Body("no header end".into()))?;
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(StatsError::Body(format!("status {status}")));
        }
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        Ok(if chunked { dechunk(body) } else { body.to_string() })
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// spillway `/stats`: `{"target_groups": {NAME: {"SurgeQueueLength": n, "SpilloverCount": n, ...}}}`.
pub fn parse_json(body: &str) -> Result<Sample, StatsError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| StatsError::Body(e.to_string()))?;
    let groups = v
        .get("target_groups")
        .and_then(|g| g.as_object())
        .ok_or_else(|| StatsError::Body("no \"target_groups\" object".into()))?;
    let (mut queue, mut spill, mut max) = (0.0, 0.0, None::<f64>);
    for g in groups.values() {
        let num = |k: &str| g.get(k).and_then(serde_json::Value::as_f64);
        queue += num("SurgeQueueLength").unwrap_or(0.0);
        spill += num("SpilloverCount").unwrap_or(0.0);
        if let Some(m) = num("SurgeQueueLengthMax") {
            max = Some(max.unwrap_or(0.0) + m);
        }
    }
    Ok(Sample { t: 0.0, queue, spillover: spill, source_max: max })
}

/// HAProxy stats CSV: header `# pxname,svname,qcur,qmax,...`; `qcur` summed over rows, `qmax` maxed.
pub fn parse_csv(body: &str) -> Result<Sample, StatsError> {
    let mut lines = body.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or_else(|| StatsError::Body("empty CSV".into()))?;
    let cols: Vec<&str> = header.trim_start_matches('#').split(',').map(str::trim).collect();
    let idx = |n: &str| cols.iter().position(|c| *c == n);
    let qcur = idx("qcur").ok_or_else(|| StatsError::Body("no qcur column".into()))?;
    let qmax = idx("qmax");
    let (mut queue, mut max) = (0.0, None::<f64>);
    for row in lines {
        let f: Vec<&str> = row.split(',').collect();
        queue += f.get(qcur).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0);
        if let Some(m) = qmax.and_then(|i| f.get(i)).and_then(|v| v.trim().parse::<f64>().ok()) {
            max = Some(max.map_or(m, |x: f64| x.max(m)));
        }
    }
    Ok(Sample { t: 0.0, queue, spillover: 0.0, source_max: max })
}

/// Everything the poller saw.
#[derive(Debug, Default, Clone)]
pub struct Polled {
    pub samples: Vec<Sample>,
    pub failures: u64,
    pub last_error: Option<String>,
}

/// Poll every [`PERIOD`] from now until `until`; `measure_start` is time 0 of the samples.
pub fn poll_until(src: &StatsSource, measure_start: Instant, until: Instant) -> Polled {
    let mut out = Polled::default();
    let mut next = Instant::now();
    while next < until {
        let at = Instant::now();
        match src.poll() {
            Ok(mut s) => {
                s.t = if at >= measure_start {
                    (at - measure_start).as_secs_f64()
                } else {
                    -(measure_start - at).as_secs_f64()
                };
                out.samples.push(s);
            }
            Err(e) => {
                out.failures += 1;
                out.last_error = Some(e.to_string());
            }
        }
        next += PERIOD;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    out
}

/// Surge figures over the measured window `[0, duration)`.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SurgeSummary {
    pub queue_length_max: f64,
    pub queue_length_mean: f64,
    pub spillover_count: f64,
    /// The source's own maximum since it started (`SurgeQueueLengthMax` / `qmax`), if any.
    pub source_queue_length_max: Option<f64>,
    pub samples: usize,
    pub failed_polls: u64,
}

impl Polled {
    fn baseline(&self, t: f64) -> f64 {
        self.samples
            .iter()
            .take_while(|s| s.t < t)
            .last()
            .map_or_else(|| self.samples.iter().find(|s| s.t >= t).map_or(0.0, |s| s.spillover), |s| s.spillover)
    }

    /// Queue max and spillover in `[from, to)` seconds; `None` without a sample there.
    pub fn window(&self, from: f64, to: f64) -> Option<(f64, f64)> {
        let inside: Vec<&Sample> = self.samples.iter().filter(|s| s.t >= from && s.t < to).collect();
        let last = inside.last()?;
        let max = inside.iter().map(|s| s.queue).fold(0.0, f64::max);
        Some((max, (last.spillover - self.baseline(from)).max(0.0)))
    }

    /// Summary over the measured window.
    pub fn summary(&self, duration: f64) -> SurgeSummary {
        let inside: Vec<&Sample> = self.samples.iter().filter(|s| s.t >= 0.0 && s.t < duration + 0.05).collect();
        let n = inside.len();
        SurgeSummary {
            queue_length_max: inside.iter().map(|s| s.queue).fold(0.0, f64::max),
            queue_length_mean: if n == 0 { 0.0 } else { inside.iter().map(|s| s.queue).sum::<f64>() / n as f64 },
            spillover_count: inside.last().map_or(0.0, |l| (l.spillover - self.baseline(0.0)).max(0.0)),
            source_queue_length_max: inside.iter().filter_map(|s| s.source_max).reduce(f64::max),
            samples: n,
            failed_polls: self.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_sums_groups() {
        let s = parse_json(
            r#"{"target_groups":{"a":{"SurgeQueueLength":3,"SpilloverCount":10,"SurgeQueueLengthMax":7},
            "b":{"SurgeQueueLength":2,"SpilloverCount":1}}}"#,
        )
        .unwrap();
        assert_eq!((s.queue, s.spillover, s.source_max), (5.0, 11.0, Some(7.0)));
        assert!(parse_json("{}").is_err());
        assert!(parse_json("not json").is_err());
    }

    #[test]
    fn csv_sums_qcur_and_maxes_qmax() {
        let csv = "# pxname,svname,qcur,qmax,scur\nweb,FRONTEND,,,3\napp,s1,4,9,1\napp,s2,1,12,1\napp,BACKEND,2,5,2\n";
        let s = parse_csv(csv).unwrap();
        assert_eq!((s.queue, s.source_max), (7.0, Some(12.0)));
        assert!(parse_csv("# pxname,svname\nx,y\n").is_err());
    }

    #[test]
    fn windows_use_the_counter_before_them() {
        let p = Polled {
            samples: [(-0.1, 0.0, 5.0), (0.1, 4.0, 5.0), (0.9, 8.0, 9.0), (1.2, 2.0, 12.0)]
                .iter()
                .map(|&(t, queue, spillover)| Sample { t, queue, spillover, source_max: None })
                .collect(),
            ..Default::default()
        };
        assert_eq!(p.window(0.0, 1.0), Some((8.0, 4.0)));
        assert_eq!(p.window(1.0, 2.0), Some((2.0, 3.0)));
        assert_eq!(p.window(2.0, 3.0), None);
        let s = p.summary(2.0);
        assert_eq!((s.queue_length_max, s.spillover_count, s.samples), (8.0, 7.0, 3));
        assert!((s.queue_length_mean - 14.0 / 3.0).abs() < 1e-9);
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
