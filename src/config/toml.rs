//! The native configuration format: TOML text → [`Config`], every problem as `FILE:LINE: message`.
//!
//! Two passes. First serde (through `serde_path_to_error`, for the key path) reads the text into a
//! raw tree whose leaves are `Option<toml::Spanned<_>>`: an absent key stays `None`, and every
//! present one keeps its byte span. Syntax errors, values of the wrong TOML type and unknown keys
//! stop there (serde stops at the first) and give one problem. Then the raw tree is converted leaf
//! by leaf (durations, addresses, choices, ranges), recording each leaf's line in a
//! [`SourceLines`] table and collecting every problem instead of stopping; [`validate::finish`]
//! adds the cross-field rules and sorts the lot into file order.
//!
//! Invariants:
//! - no default value is written here: absent keys take theirs from [`super::defaults`], through
//!   the `Default`/`with_defaults` constructors of the typed tree;
//! - a leaf that could not be converted is reported once and marked unreadable, so validate.rs
//!   never adds a second message about it;
//! - only leaves and array elements are `Spanned`: a table made by dotted keys
//!   (`tls.cert = "c.pem"`) or implied by a deeper header has no span in the toml crate, and
//!   `Spanned` on it would refuse a valid file.
//!
//! Listener rules (`[[listener.rule]]`, `trusted_proxies`) are read in `toml/rules.rs`, which has
//! ELB's many limits to itself.

mod health;
mod rules;
mod stickiness;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;
use serde_path_to_error::Segment;
use toml::Spanned;

use super::{
    defaults,
    validate::{self, Site, SourceLines},
    Admin, Algorithm, CertKeyPair, Config, ConfigErrors, Driver, Listener, ListenerTls, Problem, Protocol,
    ProxyVersion, Runtime, Target, TargetGroup, TargetTls,
};

/// Reads a native configuration file. `label` names the file in messages. The files it names
/// (certificates, keys, CA files) are read and checked too.
pub fn parse(text: &str, label: &str) -> Result<Config, ConfigErrors> {
    parse_with(text, label, validate::Files::Check)
}

/// [`parse`] that checks the text alone, not the files it names.
pub fn parse_text(text: &str, label: &str) -> Result<Config, ConfigErrors> {
    parse_with(text, label, validate::Files::Skip)
}

fn parse_with(text: &str, label: &str, files: validate::Files) -> Result<Config, ConfigErrors> {
    let mut reader = Reader::new(text, label);
    let raw: RawFile = match serde_path_to_error::deserialize(toml::Deserializer::new(text)) {
        Ok(raw) => raw,
        Err(e) => return Err(ConfigErrors { problems: vec![reader.serde_problem(e)] }),
    };
    let config = reader.config(raw);
    validate::finish(config, &reader.lines, label, reader.problems, files)
}

/// Parses `500ms`, `10s`, `2m`, `1h`: a whole number and a unit, nothing else.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => 0,
    };
    match number.parse::<u64>().ok().and_then(|n| n.checked_mul(millis_per_unit)) {
        Some(millis) if millis_per_unit > 0 && Duration::from_millis(millis) > defaults::MAX_DURATION => {
            Err(format!("duration \"{text}\" is longer than the maximum of 30 days"))
        }
        Some(millis) if millis_per_unit > 0 => Ok(Duration::from_millis(millis)),
        _ => Err(format!("invalid duration \"{text}\": expected a number with a unit (ms, s, m, h)")),
    }
}

type Leaf<T> = Option<Spanned<T>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
struct RawFile {
    runtime: RawRuntime,
    admin: RawAdmin,
    listener: Vec<Spanned<RawListener>>,
    target_group: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawRuntime {
    threads: Leaf<i64>,
    pin: Leaf<bool>,
    cpus: Leaf<Vec<i64>>,
    driver: Leaf<String>,
    max_connections: Leaf<i64>,
    upgrade_socket: Leaf<String>,
    drain_timeout: Leaf<toml::Value>,
    splice: Leaf<bool>,
    uring_data_path: Leaf<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawAdmin {
    listen: Leaf<String>,
    token: Leaf<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawListener {
    name: Leaf<String>,
    bind: Leaf<String>,
    protocol: Leaf<String>,
    target_group: Leaf<String>,
    idle_timeout: Leaf<toml::Value>,
    request_timeout: Leaf<toml::Value>,
    tunnel_timeout: Leaf<toml::Value>,
    tls: Option<RawListenerTls>,
    trusted_proxies: Leaf<Vec<Spanned<String>>>,
    accept_proxy: Leaf<bool>,
    /// `[[listener.rule]]`; the array itself has no span (see `targets`).
    rule: Option<Vec<Spanned<rules::RawRule>>>,
}

/// `{ cert, key }` or `{ certs = [ { cert, key }, ... ] }`, told apart after reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawListenerTls {
    cert: Leaf<String>,
    key: Leaf<String>,
    certs: Leaf<Vec<Spanned<RawCertPair>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawCertPair {
    cert: Leaf<String>,
    key: Leaf<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawGroup {
    name: Leaf<String>,
    algorithm: Leaf<String>,
    max_connections_per_target: Leaf<i64>,
    surge_queue_length: Leaf<i64>,
    queue_timeout: Leaf<toml::Value>,
    connect_timeout: Leaf<toml::Value>,
    response_timeout: Leaf<toml::Value>,
    deregistration_delay: Leaf<toml::Value>,
    fail_open: Leaf<bool>,
    cross_zone: Leaf<bool>,
    zone: Leaf<String>,
    tls: Option<RawTargetTls>,
    /// Not `Spanned` as a whole: `[[target_group.targets]]` tables make an array with no span.
    targets: Option<Vec<Spanned<RawTarget>>>,
    health_check: Option<health::RawHealthCheck>,
    /// `stickiness = { type, duration, cookie }` (`toml/stickiness.rs`).
    stickiness: Option<stickiness::RawStickiness>,
    /// `""` (none), `"v1"` or `"v2"`.
    proxy_protocol: Leaf<String>,
    all_backups: Leaf<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawTargetTls {
    verify: Leaf<bool>,
    ca: Leaf<String>,
    server_name: Leaf<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawTarget {
    addr: Leaf<String>,
    weight: Leaf<i64>,
    zone: Leaf<String>,
    backup: Leaf<bool>,
}

/// The words of the keys that name a choice: `driver = "epoll"`.
const DRIVERS: &[(&str, Driver)] = &[("auto", Driver::Auto), ("io_uring", Driver::IoUring), ("epoll", Driver::Epoll)];
const PROTOCOLS: &[(&str, Protocol)] = &[("tcp", Protocol::Tcp), ("http", Protocol::Http), ("https", Protocol::Https)];
const PROXY_VERSIONS: &[(&str, Option<ProxyVersion>)] =
    &[("", None), ("v1", Some(ProxyVersion::V1)), ("v2", Some(ProxyVersion::V2))];
const ALGORITHMS: &[(&str, Algorithm)] = &[
    ("round_robin", Algorithm::RoundRobin),
    ("least_outstanding_requests", Algorithm::LeastOutstandingRequests),
    ("least_connections", Algorithm::LeastConnections),
    ("flow_hash", Algorithm::FlowHash),
    ("random_two", Algorithm::RandomTwo),
];

/// `read!(self.KIND(at, raw => into.a, b))` sets `into.a = self.KIND(at("a"), raw.a, into.a)` and
/// the same for `b`: the key, its site and the typed field share one name, so they cannot drift,
/// and the typed field's current value (from `defaults`) is what an absent key leaves.
macro_rules! read {
    ($r:tt . $kind:ident ($at:ident, $raw:ident => $into:ident . $($field:ident),+)) => {
        $( $into.$field = $r.$kind($at(stringify!($field)), $raw.$field, $into.$field); )+
    };
}

/// The second pass: converts leaves, records lines, collects problems.
struct Reader<'t> {
    file: &'t str,
    /// Byte offset where each line starts, for span → line.
    line_starts: Vec<usize>,
    lines: SourceLines,
    problems: Vec<Problem>,
}

impl<'t> Reader<'t> {
    fn new(text: &str, file: &'t str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Reader { file, line_starts, lines: SourceLines::default(), problems: Vec::new() }
    }

    /// The 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// Reports a problem with `site`, whose value becomes a placeholder rules must skip.
    fn fail(&mut self, site: Site, line: usize, message: String) {
        self.problems.push(Problem { file: self.file.to_string(), line, message });
        self.lines.mark_unreadable(site);
    }

    /// Records where an entry (a `[[listener]]`, a target...) starts; answers that line.
    fn entry<T>(&mut self, site: Site, raw: Spanned<T>) -> (T, usize) {
        let line = self.line_of(raw.span().start);
        self.lines.set(site, line);
        (raw.into_inner(), line)
    }

    /// Unwraps a present leaf, recording its line.
    fn leaf<T>(&mut self, site: Site, leaf: Leaf<T>) -> Option<(T, usize)> {
        leaf.map(|leaf| self.entry(site, leaf))
    }

    fn value<T>(&mut self, site: Site, leaf: Leaf<T>, default: T) -> T {
        self.leaf(site, leaf).map_or(default, |(v, _)| v)
    }

    /// A path where `""` means none.
    fn path(&mut self, site: Site, leaf: Leaf<String>, default: Option<PathBuf>) -> Option<PathBuf> {
        match self.leaf(site, leaf) {
            None => default,
            Some((path, _)) => Some(PathBuf::from(path)).filter(|p| !p.as_os_str().is_empty()),
        }
    }

    /// A key every entry must have; reported at the entry's line when absent.
    fn required(&mut self, site: Site, leaf: Leaf<String>, entry: usize) -> Option<(String, usize)> {
        let found = self.leaf(site, leaf);
        if found.is_none() {
            self.fail(site, entry, format!("missing key {site}"));
        }
        found
    }

    fn number<T: TryFrom<i64>>(&mut self, site: Site, leaf: Leaf<i64>, default: T) -> T {
        let Some((v, line)) = self.leaf(site, leaf) else {
            return default;
        };
        T::try_from(v).unwrap_or_else(|_| {
            let why = if v < 0 { "must not be negative" } else { "is too large" };
            self.fail(site, line, format!("{site}: {v} {why}"));
            default
        })
    }

    /// A duration string; a bare number (`10` for `"10s"`) is a likely slip, so it is reported
    /// with the other problems instead of stopping the read as a type error.
    fn duration(&mut self, site: Site, leaf: Leaf<toml::Value>, default: Duration) -> Duration {
        let Some((v, line)) = self.leaf(site, leaf) else {
            return default;
        };
        let parsed = match v {
            toml::Value::String(text) => parse_duration(&text),
            toml::Value::Integer(n) => {
                Err(format!("invalid duration {n}: write it as a string with a unit, like \"{n}s\""))
            }
            other => Err(format!("invalid duration {other}: expected a string like \"10s\"")),
        };
        parsed.unwrap_or_else(|message| {
            self.fail(site, line, format!("{site}: {message}"));
            default
        })
    }

    fn choice<T: Copy>(&mut self, site: Site, leaf: Leaf<String>, default: T, words: &[(&str, T)]) -> T {
        let Some((v, line)) = self.leaf(site, leaf) else {
            return default;
        };
        if let Some(&(_, value)) = words.iter().find(|(word, _)| *word == v) {
            return value;
        }
        let words: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
        let message = format!("{site}: unknown value \"{v}\": expected one of {}", words.join(", "));
        self.fail(site, line, message);
        default
    }

    /// An IP:PORT or HOST:PORT address (a host name resolved now, the first address it has);
    /// absent or unreadable ones give a placeholder marked unreadable.
    fn addr(&mut self, site: Site, found: Option<(String, usize)>) -> SocketAddr {
        let placeholder = SocketAddr::from(([0, 0, 0, 0], 0));
        let Some((text, line)) = found else {
            return placeholder;
        };
        validate::resolve_addr(&text).unwrap_or_else(|message| {
            self.fail(site, line, format!("{site}: {message}"));
            placeholder
        })
    }

    fn config(&mut self, raw: RawFile) -> Config {
        let listeners = raw.listener.into_iter().enumerate();
        let groups = raw.target_group.into_iter().enumerate();
        Config {
            runtime: self.runtime(raw.runtime),
            admin: self.admin(raw.admin),
            listeners: listeners.map(|(i, l)| self.listener(i, l)).collect(),
            target_groups: groups.map(|(g, group)| self.group(g, group)).collect(),
        }
    }

    fn runtime(&mut self, raw: RawRuntime) -> Runtime {
        let at = Site::Runtime;
        let mut rt = Runtime::default();
        read!(self.number(at, raw => rt.threads, max_connections));
        read!(self.value(at, raw => rt.pin, splice, uring_data_path));
        rt.driver = self.choice(at("driver"), raw.driver, rt.driver, DRIVERS);
        read!(self.duration(at, raw => rt.drain_timeout));
        read!(self.path(at, raw => rt.upgrade_socket));
        if let Some((cpus, line)) = self.leaf(at("cpus"), raw.cpus) {
            if let Some(bad) = cpus.iter().find(|&&cpu| cpu < 0) {
                self.fail(at("cpus"), line, format!("{}: {bad} is not a CPU number", at("cpus")));
            }
            rt.cpus = cpus.into_iter().filter_map(|cpu| usize::try_from(cpu).ok()).collect();
        }
        rt
    }

    fn admin(&mut self, raw: RawAdmin) -> Admin {
        let at = Site::Admin;
        let mut admin = Admin::default();
        read!(self.value(at, raw => admin.token));
        if let Some(listen) = self.leaf(at("listen"), raw.listen) {
            admin.listen = (!listen.0.is_empty()).then(|| self.addr(at("listen"), Some(listen)));
        }
        admin
    }

    fn listener(&mut self, i: usize, raw: Spanned<RawListener>) -> Listener {
        let at = |field| Site::Listener(i, field);
        let (raw, line) = self.entry(at(""), raw);
        let name = self.required(at("name"), raw.name, line).unwrap_or_default().0;
        let bind = self.required(at("bind"), raw.bind, line);
        let bind = self.addr(at("bind"), bind);
        let protocol = self.choice(at("protocol"), raw.protocol, defaults::PROTOCOL, PROTOCOLS);
        let group = self.required(at("target_group"), raw.target_group, line).unwrap_or_default();
        let mut l = Listener::with_defaults(&name, bind, protocol, &group.0);
        read!(self.duration(at, raw => l.idle_timeout, request_timeout, tunnel_timeout));
        l.tls = raw.tls.map(|tls| self.listener_tls(i, tls, line));
        l.trusted_proxies = self.trusted_proxies(i, raw.trusted_proxies);
        read!(self.value(at, raw => l.accept_proxy));
        l.rules.request = self.listener_rules(i, protocol, raw.rule.unwrap_or_default());
        l
    }

    fn listener_tls(&mut self, i: usize, raw: RawListenerTls, entry: usize) -> ListenerTls {
        let site = Site::Listener(i, "tls");
        // The table may have no span (dotted keys): its line is that of its first key.
        let spans = [raw.cert.as_ref(), raw.key.as_ref()].into_iter().flatten().map(Spanned::span);
        let first = spans.chain(raw.certs.as_ref().map(Spanned::span)).map(|s| s.start).min();
        let line = first.map_or(entry, |offset| self.line_of(offset));
        self.lines.set(site, line);
        // Every pair as (cert, key, its path in messages, its line).
        let pairs = match (raw.cert, raw.key, raw.certs) {
            (None, None, None) => {
                let message = format!("{site}: give cert and key, or certs = [ {{ cert, key }} ]");
                self.fail(site, line, message);
                Vec::new()
            }
            (None, None, Some(list)) => {
                let list = list.into_inner().into_iter().enumerate();
                let pair = |(j, pair): (usize, Spanned<RawCertPair>)| {
                    let line = self.line_of(pair.span().start);
                    let pair = pair.into_inner();
                    (pair.cert, pair.key, format!("{site}.certs[{j}]"), line)
                };
                list.map(pair).collect()
            }
            (cert, key, None) => vec![(cert, key, site.to_string(), line)],
            _ => {
                let message = format!("{site}: give either cert and key, or certs, not both");
                self.fail(site, line, message);
                Vec::new()
            }
        };
        let mut certs = Vec::new();
        for (cert, key, path, line) in pairs {
            match (cert, key) {
                (Some(cert), Some(key)) => {
                    let (cert, key) = (cert.into_inner().into(), key.into_inner().into());
                    certs.push(CertKeyPair { cert, key });
                }
                (cert, _) => {
                    let missing = if cert.is_none() { "cert" } else { "key" };
                    self.fail(site, line, format!("missing key {path}.{missing}"));
                }
            }
        }
        ListenerTls { certs }
    }

    fn group(&mut self, g: usize, raw: Spanned<RawGroup>) -> TargetGroup {
        let at = |field| Site::Group(g, field);
        let (raw, line) = self.entry(at(""), raw);
        let name = self.required(at("name"), raw.name, line).unwrap_or_default().0;
        let mut tg = TargetGroup::with_defaults(&name, Vec::new());
        tg.algorithm = self.choice(at("algorithm"), raw.algorithm, tg.algorithm, ALGORITHMS);
        read!(self.number(at, raw => tg.max_connections_per_target, surge_queue_length));
        read!(self.duration(at, raw => tg.queue_timeout, connect_timeout, response_timeout));
        read!(self.duration(at, raw => tg.deregistration_delay));
        read!(self.value(at, raw => tg.fail_open, cross_zone, zone, all_backups));
        tg.proxy_protocol = self.choice(at("proxy_protocol"), raw.proxy_protocol, None, PROXY_VERSIONS);
        tg.tls = raw.tls.map(|tls| TargetTls {
            verify: self.value(at("tls"), tls.verify, defaults::TARGET_TLS_VERIFY),
            ca: self.path(at("tls"), tls.ca, None),
            server_name: self.value(at("tls"), tls.server_name, String::new()),
        });
        for (t, target) in raw.targets.into_iter().flatten().enumerate() {
            let target = self.target(g, t, target);
            tg.targets.push(target);
        }
        if let Some(hc) = raw.health_check {
            tg.health_check = self.health_check(g, hc);
        }
        tg.stickiness = raw.stickiness.and_then(|s| self.target_stickiness(g, s, line));
        // As NLB: with the PROXY protocol on, HTTP checks carry a header too (naming no client).
        tg.health_check.proxy_protocol = tg.proxy_protocol;
        tg
    }

    fn target(&mut self, g: usize, t: usize, raw: Spanned<RawTarget>) -> Target {
        let at = |field| Site::Target(g, t, field);
        let (raw, line) = self.entry(at(""), raw);
        let mut addr = self.required(at("addr"), raw.addr, line);
        if let Some((text, line)) = addr.take_if(|(a, _)| a.starts_with("unix:") || a.starts_with('/')) {
            let message = format!("{}: \"{text}\": {}", at("addr"), super::haproxy::UNIX_REFUSED);
            self.fail(at("addr"), line, message);
        }
        let mut target = Target::new(self.addr(at("addr"), addr));
        read!(self.number(at, raw => target.weight));
        read!(self.value(at, raw => target.zone, backup));
        target
    }

    /// The one problem of a file serde could not read: a syntax error, a value of the wrong TOML
    /// type, or an unknown key, named by its full path.
    fn serde_problem(&self, error: serde_path_to_error::Error<toml::de::Error>) -> Problem {
        let mut path = String::new();
        for segment in error.path().iter() {
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                // `toml::Spanned` reads its value under a private key: not part of the file.
                Segment::Map { key } if !key.starts_with("$__serde_spanned") => {
                    path.push_str(&format!("{}{key}", if path.is_empty() { "" } else { "." }));
                }
                _ => {}
            }
        }
        let inner = error.into_inner();
        let line = inner.span().map_or(0, |span| self.line_of(span.start));
        let message = humanize(&inner.message().replace('\n', "; "));
        let message = match message.strip_prefix("unknown field `") {
            Some(rest) => match rest.split_once(", expected ") {
                Some((_, known)) => {
                    format!("unknown key {path} (expected {})", known.replace('`', ""))
                }
                None => format!("unknown key {path}"),
            },
            None if path.is_empty() => message,
            None => format!("{path}: {message}"),
        };
        Problem { file: self.file.to_string(), line, message }
    }
}

/// serde names Rust types; say TOML's.
fn humanize(message: &str) -> String {
    message
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HealthProtocol, StatusMatcher};

    /// Every problem of `text` as `LINE: message` (all of them in `t.toml`), or none.
    fn problems(text: &str) -> Vec<String> {
        let Err(errors) = parse(text, "t.toml") else {
            return Vec::new();
        };
        assert!(errors.problems.iter().all(|p| p.file == "t.toml"));
        errors.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect()
    }

    /// Every key, none at its default.
    const FULL: &str = r#"
[runtime]
threads = 2
pin = false
cpus = [2, 3]
driver = "epoll"
max_connections = 500
upgrade_socket = "/run/spillway.sock"
drain_timeout = "1m"
splice = false
uring_data_path = false
[admin]
listen = "127.0.0.1:9901"
token = "secret"
[[listener]]
name = "web"
bind = "0.0.0.0:8443"
protocol = "https"
target_group = "app"
idle_timeout = "61s"
request_timeout = "500ms"
tunnel_timeout = "2h"
tls = { certs = [ { cert = "a.pem", key = "a.key" }, { cert = "b.pem", key = "b.key" } ] }
[[listener]]
name = "api"
bind = "[::1]:9000"
protocol = "https"
target_group = "other"
tls.cert = "c.pem"
tls.key = "c.key"
[[target_group]]
name = "app"
algorithm = "least_outstanding_requests"
max_connections_per_target = 8
surge_queue_length = 0
queue_timeout = "250ms"
connect_timeout = "1s"
response_timeout = "3m"
deregistration_delay = "0s"
fail_open = false
cross_zone = false
zone = "a"
tls = { verify = false, ca = "ca.pem" }
targets = [
  { addr = "127.0.0.1:9001", weight = 3, zone = "a" },
  { addr = "[::1]:9002" },
]
[target_group.health_check]
protocol = "https"
path = "/ping"
port = 8081
interval = "10s"
timeout = "2s"
healthy_threshold = 3
unhealthy_threshold = 4
matcher = "200-204,302"
[[target_group]]
name = "other"
health_check.path = "/up"
[[target_group.targets]]
addr = "127.0.0.1:9003"
weight = 2
"#;

    #[test]
    fn a_full_file_reads_every_key() {
        let config = parse_text(FULL, "t.toml").unwrap();
        let (secs, ms) = (Duration::from_secs, Duration::from_millis);
        let mut rt = Runtime::default();
        (rt.threads, rt.pin, rt.cpus, rt.driver) = (2, false, vec![2, 3], Driver::Epoll);
        (rt.max_connections, rt.drain_timeout, rt.splice) = (500, secs(60), false);
        rt.uring_data_path = false;
        rt.upgrade_socket = Some("/run/spillway.sock".into());
        let admin = Admin { listen: Some("127.0.0.1:9901".parse().unwrap()), token: "secret".into(), stats_page: None };
        let pair = |cert: &str, key: &str| CertKeyPair { cert: cert.into(), key: key.into() };
        let mut web = Listener::with_defaults("web", "0.0.0.0:8443".parse().unwrap(), Protocol::Https, "app");
        (web.idle_timeout, web.request_timeout, web.tunnel_timeout) = (secs(61), ms(500), secs(7200));
        web.tls = Some(ListenerTls { certs: vec![pair("a.pem", "a.key"), pair("b.pem", "b.key")] });
        let mut api = Listener::with_defaults("api", "[::1]:9000".parse().unwrap(), Protocol::Https, "other");
        api.tls = Some(ListenerTls { certs: vec![pair("c.pem", "c.key")] });
        let a = Target { weight: 3, zone: "a".into(), ..Target::new("127.0.0.1:9001".parse().unwrap()) };
        let mut app = TargetGroup::with_defaults("app", vec![a, Target::new("[::1]:9002".parse().unwrap())]);
        app.algorithm = Algorithm::LeastOutstandingRequests;
        (app.max_connections_per_target, app.surge_queue_length) = (8, 0);
        (app.queue_timeout, app.connect_timeout, app.response_timeout) = (ms(250), secs(1), secs(180));
        (app.deregistration_delay, app.fail_open, app.cross_zone) = (Duration::ZERO, false, false);
        app.zone = "a".into();
        app.tls = Some(TargetTls { verify: false, ca: Some("ca.pem".into()), server_name: String::new() });
        let hc = &mut app.health_check;
        (hc.protocol, hc.path, hc.port) = (HealthProtocol::Https, "/ping".into(), 8081);
        (hc.interval, hc.timeout, hc.healthy_threshold, hc.unhealthy_threshold) = (secs(10), secs(2), 3, 4);
        hc.matcher = StatusMatcher { ranges: vec![(200, 204), (302, 302)] };
        let target = Target { weight: 2, ..Target::new("127.0.0.1:9003".parse().unwrap()) };
        let mut other = TargetGroup::with_defaults("other", vec![target]);
        other.health_check.path = "/up".into();
        let (listeners, target_groups) = (vec![web, api], vec![app, other]);
        assert_eq!(config, Config { runtime: rt, admin, listeners, target_groups });
    }

    #[test]
    fn absent_keys_take_the_defaults() {
        let text = "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:8000\"\ntarget_group = \"g\"\n\
                    [[target_group]]\nname = \"g\"\ntargets = [{ addr = \"127.0.0.1:9001\" }]\n";
        let bind = "127.0.0.1:8000".parse().unwrap();
        let target = Target::new("127.0.0.1:9001".parse().unwrap());
        let expected = Config {
            runtime: Runtime::default(),
            admin: Admin::default(),
            listeners: vec![Listener::with_defaults("l", bind, defaults::PROTOCOL, "g")],
            target_groups: vec![TargetGroup::with_defaults("g", vec![target])],
        };
        assert_eq!(parse(text, "t.toml").unwrap(), expected);
        assert_eq!(expected.target_groups[0].health_check.matcher.ranges, [(200, 200)]);
        assert_eq!(parse("", "t.toml").unwrap().listeners, []);
    }

    #[test]
    fn an_unknown_key_is_named_by_its_full_path() {
        let found = problems("[[listener]]\nname = \"l\"\nbnd = \"127.0.0.1:1\"\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("3: unknown key listener[0].bnd (expected one of name, bind,"));
        let text = "[[target_group]]\nname = \"a\"\n[[target_group]]\nname = \"b\"\n\
                    targets = [{ addr = \"127.0.0.1:1\", wieght = 1 }]\n\
                    [target_group.health_check]\nintervall = \"5s\"\n";
        assert!(problems(text)[0].starts_with("5: unknown key target_group[1].targets[0].wieght ("));
        let text = text.replace("wieght", "weight");
        let found = problems(&text);
        assert!(found[0].starts_with("7: unknown key target_group[1].health_check.intervall ("));
        assert!(problems("\n\nlistners = []\n")[0].starts_with("3: unknown key listners ("));
    }

    #[test]
    fn syntax_and_type_errors_stop_at_the_first_with_its_line() {
        let found = problems("[runtime]\npin = true\nthreads = \"four\"\nsplice = 1\n");
        let expected = "3: runtime.threads: invalid type: string \"four\", expected an integer";
        assert_eq!(found, [expected]);
        let found = problems("[admin]\ntoken = \"a\"\nlisten = \"unterminated\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("3: "), "{found:?}");
    }

    #[test]
    fn tls_takes_one_pair_or_a_list_never_both() {
        let l = "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nprotocol = \"https\"\n\
                 target_group = \"g\"\n[[target_group]]\nname = \"g\"\n[listener.tls]\n";
        let both = format!("{l}cert = \"c\"\nkey = \"k\"\ncerts = []\n");
        let message = "listener[0].tls: give either cert and key, or certs, not both";
        assert_eq!(problems(&both), [format!("9: {message}")]);
        let message = "listener[0].tls: give cert and key, or certs = [ { cert, key } ]";
        assert_eq!(problems(l), [format!("1: {message}")]);
        let short = format!("{l}certs = [\n {{ cert = \"c\" }},\n {{ key = \"k\" }}]\n");
        let missing = ["missing key listener[0].tls.certs[0].key", "missing key listener[0].tls.certs[1].cert"];
        assert_eq!(problems(&short), [format!("10: {}", missing[0]), format!("11: {}", missing[1])]);
    }

    #[test]
    fn durations_need_a_whole_number_and_a_unit() {
        for (text, ms) in [("500ms", 500), ("10s", 10_000), ("2m", 120_000), ("1h", 3_600_000), ("0s", 0)] {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)));
        }
        for bad in "10|s||1.5s|-1s|10 s|10sec|99999999999999999999s|9999999999999999999h".split('|') {
            let message = format!("invalid duration \"{bad}\": expected a number with a unit (ms, s, m, h)");
            assert_eq!(parse_duration(bad), Err(message));
        }
        assert_eq!(parse_duration("720h"), Ok(defaults::MAX_DURATION));
        for too_long in ["721h", "18446744073709551615ms"] {
            let message = format!("duration \"{too_long}\" is longer than the maximum of 30 days");
            assert_eq!(parse_duration(too_long), Err(message));
        }
    }

    #[test]
    fn the_shipped_examples_are_valid() {
        let tcp = parse(include_str!("../../examples/tcp.toml"), "tcp.toml").unwrap();
        assert_eq!(tcp.listeners[0].protocol, Protocol::Tcp);
        assert_eq!(tcp.target_groups[0].targets.len(), 2);
        // Its certificate paths are placeholders: the text is checked, not the files.
        let full = parse_text(include_str!("../../examples/full.toml"), "full.toml").unwrap();
        assert!(full.listeners.iter().any(|l| l.tls.is_some()));
        assert!(full.target_groups[0].tls.is_some());
    }
}
