//! The command line: clap definitions for `loadgen URL ...` and `loadgen serve ...`, and their
//! translation into checked, typed configurations ([`RunConfig`], [`ServeConfig`]).
//!
//! Invariants: every value a worker reads has been validated here (durations parse, the URL names
//! a supported scheme and resolves, header lines have a colon, rates are finite and >= 0), so the
//! workers never see bad input. Errors are [`ConfigError`] values with a message naming the flag.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::schedule::{RateSchedule, Step};
use crate::tls::{ClientTls, TlsError, Verify};

/// A command line value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("bad duration {0:?}: expected a number with a unit (us, ms, s, m), e.g. 500ms or 10s")]
    Duration(String),
    #[error("bad URL {0:?}: {1}")]
    Url(String, String),
    #[error("bad header {0:?}: expected 'Name: value'")]
    Header(String),
    #[error("bad --steps {0:?}: expected RATE:DURATION[,RATE:DURATION...], e.g. 2000:5s,20000:10s")]
    Steps(String),
    #[error("bad value for {0}: {1}")]
    Value(&'static str, String),
    #[error("cannot read {0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Parse a duration: `250us`, `500ms`, `1.5s`, `2m`; a bare number means seconds (as in wrk).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| ConfigError::Duration(s.to_string()))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(ConfigError::Duration(s.to_string())),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(ConfigError::Duration(s.to_string()));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Parse `RATE:DURATION,...` into steps.
pub fn parse_steps(s: &str) -> Result<Vec<Step>, ConfigError> {
    let bad = || ConfigError::Steps(s.to_string());
    let mut steps = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (rate, dur) = part.split_once(':').ok_or_else(bad)?;
        let rate: f64 = rate.trim().parse().map_err(|_| bad())?;
        if !rate.is_finite() || rate < 0.0 {
            return Err(bad());
        }
        let duration = parse_duration(dur).map_err(|_| bad())?;
        steps.push(Step { rate, duration });
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

/// What the URL points at.
#[derive(Debug, Clone)]
pub enum Target {
    /// `http://host[:port][/path]`, or `https://` when `https` is set.
    Http {
        addr: SocketAddr,
        host_header: String,
        path: String,
        /// The URL host without the port (the default TLS server name).
        host: String,
        https: bool,
    },
    /// `tcp://host:port`
    Tcp { addr: SocketAddr },
}

impl Target {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Http { addr, .. } | Target::Tcp { addr } => *addr,
        }
    }
}

/// Parse and resolve a URL (`http://`, `https://` or `tcp://`).
pub fn parse_url(url: &str) -> Result<Target, ConfigError> {
    let err = |m: &str| ConfigError::Url(url.to_string(), m.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(|| err("missing scheme (http://, https:// or tcp://)"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(err("missing host (or userinfo, which is not supported)"));
    }
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        "tcp" => 0,
        _ => return Err(err("unsupported scheme: use http://, https:// or tcp://")),
    };
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| !p.is_empty() && !h.ends_with(':'))
        && !authority.ends_with(']');
    let host = match authority.rsplit_once(':') {
        Some((h, _)) if has_port => h,
        _ => authority,
    };
    let host_port = if has_port { authority.to_string() } else { format!("{authority}:{default_port}") };
    if !has_port && scheme == "tcp" {
        return Err(err("tcp:// needs a port"));
    }
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| err(&format!("cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| err("host resolves to no address"))?;
    Ok(match scheme {
        "tcp" => Target::Tcp { addr },
        _ => Target::Http {
            addr,
            host_header: authority.to_string(),
            path,
            host: host.to_string(),
            https: scheme == "https",
        },
    })
}

/// Parse a `Name: value` header line.
pub fn parse_header(h: &str) -> Result<(String, String), ConfigError> {
    let (name, value) = h.split_once(':').ok_or_else(|| ConfigError::Header(h.to_string()))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) || value.contains(['\r', '\n']) {
        return Err(ConfigError::Header(h.to_string()));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// What a `tcp://` connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TcpMode {
    /// Send `--tcp-bytes` bytes, wait for them to come back: one "request".
    Echo,
    /// Only read, as fast as possible (the server streams); throughput in bytes.
    Bulk,
}

/// `loadgen URL ...`: drive a target.
#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "HTTP/TCP load generator (open and closed loop) and test backend.",
    after_help = "Run `loadgen serve --help` for the test backend."
)]
pub struct RunArgs {
    /// http://host[:port]/path, https://host[:port]/path or tcp://host:port
    pub url: String,
    /// Connections to keep open (split over the threads)
    #[arg(short = 'c', long = "connections", default_value_t = 10)]
    pub connections: usize,
    /// Worker threads, one pinned glommio executor each (default: one per CPU in --cpus, or all)
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// CPUs to pin the workers to, e.g. 0,1 or 2-3 (default: any)
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// Measured duration (after --warmup)
    #[arg(short = 'd', long = "duration", default_value = "10s", value_parser = duration_arg, conflicts_with = "steps")]
    pub duration: Duration,
    /// Open loop: total request rate per second (latency corrected for coordinated omission)
    #[arg(short = 'R', long = "rate")]
    pub rate: Option<f64>,
    /// Open loop rate schedule, e.g. 2000:5s,20000:10s,2000:5s (replaces -R and -d)
    #[arg(long = "steps")]
    pub steps: Option<String>,
    /// Requests in flight per connection (HTTP/1.1 pipelining)
    #[arg(long = "pipeline", default_value_t = 1)]
    pub pipeline: usize,
    /// HTTP method
    #[arg(short = 'm', long = "method", default_value = "GET")]
    pub method: String,
    /// Extra request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body read from this file (sent with Content-Length)
    #[arg(long = "body-file")]
    pub body_file: Option<PathBuf>,
    /// Per-request timeout from the actual send (the connection is then closed and reopened)
    #[arg(long = "timeout", default_value = "2s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Run this long before measuring (at the first rate); excluded from every figure
    #[arg(long = "warmup", default_value = "0s", value_parser = duration_arg)]
    pub warmup: Duration,
    /// tcp:// mode
    #[arg(long = "tcp-mode", value_enum, default_value_t = TcpMode::Echo)]
    pub tcp_mode: TcpMode,
    /// tcp:// echo: bytes per exchange
    #[arg(long = "tcp-bytes", default_value_t = 64)]
    pub tcp_bytes: usize,
    /// Print the wrk2-style percentile spectrum
    #[arg(long = "latency")]
    pub latency: bool,
    /// Write the JSON summary here ('-' = stdout)
    #[arg(long = "json")]
    pub json: Option<PathBuf>,
    /// Write an HdrHistogram interval log (one interval per second, values in µs)
    #[arg(long = "hdr-log")]
    pub hdr_log: Option<PathBuf>,
    /// Write one CSV row per second
    #[arg(long = "timeline")]
    pub timeline: Option<PathBuf>,
    /// Write an SVG chart of the timeline
    #[arg(long = "plot")]
    pub plot: Option<PathBuf>,
    /// Poll spillway's /stats (JSON) or an HAProxy stats CSV URL ending in ;csv every 100 ms
    #[arg(long = "stats-url")]
    pub stats_url: Option<String>,
    /// Do not print the text summary
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// A new connection (and TLS handshake) for every request, sent with `Connection: close`
    #[arg(long = "new-conn")]
    pub new_conn: bool,
    /// https://: do not verify the server's certificate (handshake signatures still are)
    #[arg(long = "insecure", conflicts_with = "ca")]
    pub insecure: bool,
    /// https://: trust the CAs of this PEM bundle (default: the system's roots)
    #[arg(long = "ca")]
    pub ca: Option<PathBuf>,
    /// https://: the server name to send (SNI) and verify (default: the URL host)
    #[arg(long = "sni")]
    pub sni: Option<String>,
    /// https://: no session resumption (a full handshake on every connection)
    #[arg(long = "no-resume")]
    pub no_resume: bool,
}

/// Response behaviour of `loadgen serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServeMode {
    /// HTTP/1.1 keep-alive, Content-Length responses
    Http,
    /// Echo every byte back
    Echo,
    /// Stream --body-bytes chunks as fast as the client reads
    Bulk,
}

/// `loadgen serve ...`: the test backend.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen serve", about = "Test backend with a known capacity and latency.")]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:9001 (port 0 picks one; the address is printed)
    #[arg(long = "listen")]
    pub listen: String,
    #[arg(long = "mode", value_enum, default_value_t = ServeMode::Http)]
    pub mode: ServeMode,
    /// Time each request takes (held while occupying a concurrency slot)
    #[arg(long = "latency", default_value = "0s", value_parser = duration_arg)]
    pub latency: Duration,
    /// Uniform random extra latency in [0, jitter)
    #[arg(long = "jitter", default_value = "0s", value_parser = duration_arg)]
    pub jitter: Duration,
    /// Requests served at once (per thread); beyond it requests wait in FIFO order. 0 = no limit
    #[arg(long = "max-concurrency", default_value_t = 0)]
    pub max_concurrency: usize,
    /// Response body size (http) or chunk size (bulk)
    #[arg(long = "body-bytes", default_value_t = 0)]
    pub body_bytes: usize,
    /// Fraction of requests answered 500
    #[arg(long = "fail-rate", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Path answering 200, or 503 after POST /admin/unhealthy (200 again after POST /admin/healthy)
    #[arg(long = "health-path")]
    pub health_path: Option<String>,
    /// Stop by itself after this long (default: run until SIGINT/SIGTERM)
    #[arg(long = "duration", value_parser = duration_arg)]
    pub duration: Option<Duration>,
    /// Executor threads (each its own SO_REUSEPORT listener)
    #[arg(short = 't', long = "threads", default_value_t = 1)]
    pub threads: usize,
    /// Serve HTTPS with this PEM certificate chain (http mode; needs --tls-key)
    #[arg(long = "tls-cert", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long = "tls-key", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    pub connections: usize,
    pub threads: usize,
    pub cpus: Option<Vec<usize>>,
    /// Open loop when set; covers warmup then the measured steps.
    pub schedule: Option<RateSchedule>,
    pub warmup: Duration,
    pub duration: Duration,
    pub pipeline: usize,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
    pub tcp_mode: TcpMode,
    pub tcp_bytes: usize,
    pub stats_url: Option<String>,
    /// `https://`: the TLS client set-up (certificates loaded, server name checked).
    pub tls: Option<ClientTls>,
    /// One request per connection (`--new-conn`).
    pub new_conn: bool,
}

fn parse_cpus(s: &str) -> Result<Vec<usize>, ConfigError> {
    let bad = || ConfigError::Value("--cpus", s.to_string());
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 4096 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

impl RunArgs {
    /// Check every value and build the configuration the workers use.
    pub fn into_config(self) -> Result<RunConfig, ConfigError> {
        let target = parse_url(&self.url)?;
        if self.connections == 0 {
            return Err(ConfigError::Value("-c", "need at least one connection".into()));
        }
        if self.pipeline == 0 || self.pipeline > 1024 {
            return Err(ConfigError::Value("--pipeline", "must be 1..=1024".into()));
        }
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(ConfigError::Value("-m", self.method));
        }
        let cpus = self.cpus.as_deref().map(parse_cpus).transpose()?;
        let default_threads =
            cpus.as_ref().map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |c| c.len());
        let threads = self.threads.unwrap_or(default_threads).clamp(1, self.connections);
        let headers = self.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
        let body = match &self.body_file {
            Some(p) => std::fs::read(p).map_err(|e| ConfigError::File(p.clone(), e))?,
            None => Vec::new(),
        };
        let (schedule, duration) = match (&self.steps, self.rate) {
            (Some(s), _) => {
                let steps = parse_steps(s)?;
                let d = steps.iter().map(|s| s.duration).sum();
                (Some(RateSchedule::new(self.warmup, steps)), d)
            }
            (None, Some(r)) if r.is_finite() && r > 0.0 => {
                (Some(RateSchedule::new(self.warmup, vec![Step { rate: r, duration: self.duration }])), self.duration)
            }
            (None, Some(r)) => return Err(ConfigError::Value("-R", format!("{r}: must be > 0"))),
            (None, None) => (None, self.duration),
        };
        if duration.is_zero() {
            return Err(ConfigError::Value("-d", "duration must be > 0".into()));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::Value("--timeout", "must be > 0".into()));
        }
        if self.tcp_bytes == 0 || self.tcp_bytes > 1 << 24 {
            return Err(ConfigError::Value("--tcp-bytes", "must be 1..=16777216".into()));
        }
        let tls = self.tls_config(&target)?;
        if self.new_conn {
            if self.pipeline > 1 {
                return Err(ConfigError::Value("--new-conn", "one request per connection: no --pipeline".into()));
            }
            if matches!(target, Target::Tcp { .. }) && self.tcp_mode == TcpMode::Bulk {
                return Err(ConfigError::Value("--new-conn", "not with --tcp-mode bulk".into()));
            }
        }
        Ok(RunConfig {
            target,
            connections: self.connections,
            threads,
            cpus,
            schedule,
            warmup: self.warmup,
            duration,
            pipeline: self.pipeline,
            method: self.method.to_ascii_uppercase(),
            headers,
            body,
            timeout: self.timeout,
            tcp_mode: self.tcp_mode,
            tcp_bytes: self.tcp_bytes,
            stats_url: self.stats_url,
            tls,
            new_conn: self.new_conn,
        })
    }

    /// The TLS client of an `https://` URL; the TLS flags are refused for other URLs.
    fn tls_config(&self, target: &Target) -> Result<Option<ClientTls>, ConfigError> {
        let Target::Http { host, https: true, .. } = target else {
            let flag = [
                (self.insecure, "--insecure"),
                (self.ca.is_some(), "--ca"),
                (self.sni.is_some(), "--sni"),
                (self.no_resume, "--no-resume"),
            ]
            .into_iter()
            .find_map(|(given, name)| given.then_some(name));
            return match flag {
                Some(name) => Err(ConfigError::Value(name, "only for https:// URLs".into())),
                None => Ok(None),
            };
        };
        let verify = match (&self.ca, self.insecure) {
            (_, true) => Verify::Insecure,
            (Some(file), false) => Verify::Ca(file.clone()),
            (None, false) => Verify::System,
        };
        let name = self.sni.as_deref().unwrap_or(host);
        Ok(Some(ClientTls::new(&verify, name, !self.no_resume)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("10parsecs").is_err());
    }

    #[test]
    fn steps_parse_and_reject() {
        let s = parse_steps("2000:5s, 20000:10s,0:1s").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].rate, 20000.0);
        assert_eq!(s[1].duration, Duration::from_secs(10));
        assert!(parse_steps("2000").is_err());
        assert!(parse_steps("-1:5s").is_err());
        assert!(parse_steps("").is_err());
    }

    #[test]
    fn urls() {
        match parse_url("http://127.0.0.1:8080/a?b=1").unwrap() {
            Target::Http { addr, host_header, path, host, https } => {
                assert_eq!(addr.port(), 8080);
                assert_eq!(host_header, "127.0.0.1:8080");
                assert_eq!(path, "/a?b=1");
                assert_eq!(host, "127.0.0.1");
                assert!(!https);
            }
            t => panic!("wrong target {t:?}"),
        }
        match parse_url("https://localhost/x").unwrap() {
            Target::Http { addr, host_header, host, https, .. } => {
                assert_eq!(
                    (addr.port(), host_header.as_str(), host.as_str(), https),
                    (443, "localhost", "localhost", true)
                );
            }
            t => panic!("wrong target {t:?}"),
        }
        match parse_url("https://[::1]:8443/").unwrap() {
            Target::Http { addr, host, .. } => assert_eq!((addr.port(), host.as_str()), (8443, "[::1]")),
            t => panic!("wrong target {t:?}"),
        }
        assert!(matches!(parse_url("tcp://127.0.0.1:9").unwrap(), Target::Tcp { .. }));
        assert!(parse_url("tcp://127.0.0.1").is_err());
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("127.0.0.1:80").is_err());
    }

    #[test]
    fn tls_flags_need_https_and_new_conn_no_pipeline() {
        let cfg = |args: &[&str]| {
            RunArgs::try_parse_from(args).map_err(|e| e.to_string())?.into_config().map_err(|e| e.to_string())
        };
        let e = cfg(&["loadgen", "http://127.0.0.1:9/", "--insecure"]).unwrap_err();
        assert!(e.contains("--insecure") && e.contains("https://"), "{e}");
        let e = cfg(&["loadgen", "tcp://127.0.0.1:9", "--ca", "x.pem"]).unwrap_err();
        assert!(e.contains("--ca"), "{e}");
        assert!(cfg(&["loadgen", "https://127.0.0.1:9/", "--insecure", "--ca", "x.pem"]).is_err());
        let e = cfg(&["loadgen", "https://127.0.0.1:9/", "--ca", "/nonexistent/ca.pem"]).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let c = cfg(&["loadgen", "https://127.0.0.1:9/", "--insecure", "--new-conn"]).unwrap();
        assert!(c.tls.is_some() && c.new_conn);
        assert!(cfg(&["loadgen", "http://127.0.0.1:9/", "--new-conn"]).is_ok_and(|c| c.tls.is_none()));
        assert!(cfg(&["loadgen", "http://127.0.0.1:9/", "--new-conn", "--pipeline", "4"]).is_err());
    }

    #[test]
    fn headers_and_cpus() {
        assert_eq!(parse_header("X-A: b c").unwrap(), ("X-A".to_string(), "b c".to_string()));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("X: a\r\nY: b").is_err());
        assert_eq!(parse_cpus("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpus("3-1").is_err());
    }
}
