//! The HAProxy front door: reads the common subset of `haproxy.cfg` into the same typed
//! [`Config`] the TOML reader produces — one model, two readers — so that a performance test
//! that runs `haproxy -f x.cfg` can run `spillway -f x.cfg`.
//!
//! Read as HAProxy reads it: lines of words, `#` comments, `"..."` (with `\` escapes) and
//! `'...'` quoting, `\` escapes outside quotes; sections `global`, `defaults`, `frontend`,
//! `backend`, `listen`; each `defaults` applies to the proxies after it until the next one.
//! Times are numbers with `us ms s m h d` (milliseconds without a unit, as HAProxy).
//!
//! Where HAProxy and Elastic Load Balancing differ, the file's meaning wins: a group read from
//! haproxy.cfg does not fail open (HAProxy answers 503 when every server is down), checks use
//! HAProxy's defaults (`inter 2s`, `rise 2`, `fall 3`, success = 2xx/3xx for `httpchk`), a
//! server without `check` is not checked, and a queue without `maxqueue` is unbounded (bounded
//! by `timeout queue` only).
//!
//! Content switching (`acl`, `use_backend`, `redirect`, `http-request`, `http-response`,
//! `http-after-response`, `monitor-uri`) maps onto the listener rules shared with the TOML
//! reader: the grammar of ACLs and conditions is in `acl.rs`, the actions and HAProxy's order
//! of evaluation in `actions.rs`.
//!
//! Every error names `FILE:LINE`. Directives that only tune HAProxy itself are accepted and
//! reported as notes (also `FILE:LINE`), which `-c` prints and a start logs. Anything else is an
//! error: silently ignoring a directive that changes routing would make a benchmark lie.

mod acl;
mod actions;
mod build;
mod server;
mod words;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

pub use actions::error_page;
use server::server_options;
use words::{number, parse_endpoint};
pub use words::{parse_time, words};

use super::{
    defaults,
    validate::{self, Site, SourceLines},
    Algorithm, CertKeyPair, Config, ConfigErrors, HealthCheck, HealthProtocol, Listener, ListenerTls, Problem,
    Protocol, StatusMatcher, Target, TargetGroup,
};

/// A queue without `maxqueue` is unbounded in HAProxy; this stands for it.
pub const UNBOUNDED_QUEUE: u32 = 1_000_000;

/// What a read produced: the configuration and the notes on what was accepted without effect.
#[derive(Debug)]
pub struct Parsed {
    pub config: Config,
    pub notes: Vec<Problem>,
}

/// Directives accepted with no effect: they tune HAProxy itself (logging, its own buffers and
/// processes, connection reuse it does its own way).
const NO_EFFECT: &[&str] = &[
    "log",
    "log-send-hostname",
    "log-tag",
    "user",
    "group",
    "uid",
    "gid",
    "chroot",
    "ulimit-n",
    "spread-checks",
    "hard-stop-after",
    "master-worker",
    "http-reuse",
    "retries",
    "redispatch",
    "description",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-options",
    "ssl-server-verify",
    "maxconnrate",
    "maxsessrate",
    "server-state-file",
    "zero-warning",
];

/// `option X` values accepted with no effect.
const NO_EFFECT_OPTIONS: &[&str] = &[
    "splice-auto",
    "splice-request",
    "splice-response",
    "httplog",
    "tcplog",
    "dontlognull",
    "dontlog-normal",
    "log-health-checks",
    "redispatch",
    "http-keep-alive",
    "http-server-close",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "abortonclose",
    "forwardfor",
    "http-buffer-request",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcp,
    Http,
}

/// Settings a `defaults` section passes on, and a proxy may override.
#[derive(Debug, Clone, Default)]
struct Common {
    mode: Option<Mode>,
    balance: Option<Algorithm>,
    timeouts: Timeouts,
    httpchk: Option<String>,
    expect: Option<StatusMatcher>,
    default_server: ServerOptions,
    /// `monitor-uri URI` and its line: a frontend answers HAProxy's 200 page there.
    monitor_uri: Option<(String, usize)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Timeouts {
    connect: Option<Duration>,
    client: Option<Duration>,
    server: Option<Duration>,
    queue: Option<Duration>,
    check: Option<Duration>,
    http_request: Option<Duration>,
    http_keep_alive: Option<Duration>,
    tunnel: Option<Duration>,
}

#[derive(Debug, Clone, Default)]
struct ServerOptions {
    check: bool,
    inter: Option<Duration>,
    rise: Option<u32>,
    fall: Option<u32>,
    weight: Option<u32>,
    maxconn: Option<u32>,
    maxqueue: Option<u32>,
    disabled: bool,
    port: Option<u16>,
}

#[derive(Debug, Clone)]
struct Server {
    addr: SocketAddr,
    options: ServerOptions,
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Frontend,
    Backend,
    Listen,
}

#[derive(Debug, Clone)]
struct Proxy {
    kind: Kind,
    name: String,
    line: usize,
    common: Common,
    binds: Vec<(SocketAddr, Option<PathBuf>, usize)>,
    default_backend: Option<(String, usize)>,
    servers: Vec<Server>,
    /// `stats enable` / `stats uri`: this proxy is HAProxy's stats page; spillway serves its
    /// admin API there.
    stats: bool,
    /// The proxy's `acl` lines.
    acls: acl::Acls,
    /// Its content-switching lines, in file order.
    rules: Vec<actions::Pending>,
    /// It has `use_backend` lines (read or refused).
    switching: bool,
}

#[derive(Debug, Clone, Copy)]
enum Section {
    None,
    Global,
    Defaults,
    Proxy(usize),
    Unsupported,
}

struct Reader {
    file: String,
    problems: Vec<Problem>,
    notes: Vec<Problem>,
    config: Config,
    defaults: Common,
    proxies: Vec<Proxy>,
    lines: SourceLines,
    /// (first global line, label) of each file read: where a line of the concatenated text
    /// comes from.
    starts: Vec<(usize, String)>,
}

/// The file and the line in it of a line of the concatenated text.
fn locate(starts: &[(usize, String)], line: usize) -> Option<(String, usize)> {
    starts.iter().rev().find(|(start, _)| line >= *start).map(|(start, label)| (label.clone(), line - start + 1))
}

/// Reads one HAProxy configuration text; `label` names the file in messages.
pub fn parse(text: &str, label: &str) -> Result<Parsed, ConfigErrors> {
    parse_files(&[(text.to_string(), label.to_string())])
}

/// Reads several files as HAProxy does with repeated `-f`: in order, as one text.
pub fn parse_files(files: &[(String, String)]) -> Result<Parsed, ConfigErrors> {
    let mut text = String::new();
    // (first global line, label) of each file, to name the right file in messages.
    let mut starts = Vec::new();
    let mut line = 1;
    for (content, label) in files {
        starts.push((line, label.clone()));
        text.push_str(content);
        if !content.ends_with('\n') {
            text.push('\n');
        }
        line += content.lines().count().max(usize::from(!content.is_empty()));
    }
    let locate = |p: Problem| -> Problem {
        match locate(&starts, p.line) {
            Some((file, line)) => Problem { file, line, message: p.message },
            None => p,
        }
    };
    let first = files.first().map_or_else(String::new, |f| f.1.clone());
    let mut r = Reader {
        file: first.clone(),
        problems: Vec::new(),
        notes: Vec::new(),
        config: Config {
            runtime: Default::default(),
            admin: Default::default(),
            listeners: Vec::new(),
            target_groups: Vec::new(),
        },
        defaults: Common::default(),
        proxies: Vec::new(),
        lines: SourceLines::default(),
        starts: starts.clone(),
    };
    r.read(&text);
    r.build();
    let notes = std::mem::take(&mut r.notes).into_iter().map(locate).collect();
    match validate::finish(r.config, &r.lines, &first, r.problems, validate::Files::Check) {
        Ok(config) => Ok(Parsed { config, notes }),
        Err(e) => Err(ConfigErrors { problems: e.problems.into_iter().map(locate).collect() }),
    }
}

impl Reader {
    fn fail(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem { file: self.file.clone(), line, message: message.into() });
    }

    fn note(&mut self, line: usize, message: impl Into<String>) {
        self.notes.push(Problem { file: self.file.clone(), line, message: message.into() });
    }

    /// The file label and the line in that file of a line of the concatenated text.
    fn locate(&self, line: usize) -> (String, usize) {
        locate(&self.starts, line).unwrap_or_else(|| (self.file.clone(), line))
    }

    fn read(&mut self, text: &str) {
        let mut section = Section::None;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let w = match words(raw) {
                Ok(w) if w.is_empty() => continue,
                Ok(w) => w,
                Err(e) => {
                    self.fail(line, e);
                    continue;
                }
            };
            if let Some(s) = self.section_start(&w, line) {
                section = s;
                continue;
            }
            let outcome = match section {
                Section::None => Err(format!("\"{}\" outside of any section", w[0])),
                Section::Unsupported => Ok(()),
                Section::Global => self.global(&w, line),
                Section::Defaults => {
                    let mut common = std::mem::take(&mut self.defaults);
                    let r = self.common(&mut common, &w, line, None);
                    self.defaults = common;
                    r
                }
                Section::Proxy(p) => self.proxy(p, &w, line),
            };
            if let Err(message) = outcome {
                self.fail(line, message);
            }
        }
    }

    fn section_start(&mut self, w: &[String], line: usize) -> Option<Section> {
        let kind = match w[0].as_str() {
            "global" => return Some(Section::Global),
            "defaults" => {
                if w.iter().any(|x| x == "from") {
                    self.fail(line, "defaults ... from: named defaults inheritance is not supported");
                }
                // A new defaults section starts from nothing, as in HAProxy.
                self.defaults = Common::default();
                return Some(Section::Defaults);
            }
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            "listen" => Kind::Listen,
            "resolvers" | "peers" | "userlist" | "program" | "cache" | "http-errors" | "mailers" | "ring" => {
                self.fail(line, format!("section \"{}\" is not supported", w[0]));
                return Some(Section::Unsupported);
            }
            _ => return None,
        };
        let Some(name) = w.get(1) else {
            self.fail(line, format!("{} needs a name", w[0]));
            return Some(Section::Unsupported);
        };
        if w.len() > 2 {
            self.fail(line, format!("{} {name}: unexpected \"{}\"", w[0], w[2]));
        }
        self.proxies.push(Proxy {
            kind,
            name: name.clone(),
            line,
            common: self.defaults.clone(),
            binds: Vec::new(),
            default_backend: None,
            servers: Vec::new(),
            stats: false,
            acls: acl::Acls::new(),
            rules: Vec::new(),
            switching: false,
        });
        Some(Section::Proxy(self.proxies.len() - 1))
    }

    fn global(&mut self, w: &[String], line: usize) -> Result<(), String> {
        let rt = &mut self.config.runtime;
        match w[0].as_str() {
            "maxconn" => {
                rt.max_connections = number(w.get(1), "maxconn")?;
                self.lines.set(Site::Runtime("max_connections"), line);
            }
            "nbthread" => {
                rt.threads = number(w.get(1), "nbthread")?;
                self.lines.set(Site::Runtime("threads"), line);
            }
            "cpu-map" => return self.cpu_map(w, line),
            "daemon" => rt.daemon = true,
            "pidfile" => rt.pidfile = Some(PathBuf::from(w.get(1).ok_or("pidfile needs a path")?)),
            "stats" if w.get(1).is_some_and(|s| s == "socket") => {
                let path = w.get(2).ok_or("stats socket needs a path")?;
                let expose = w.windows(2).any(|p| p[0] == "expose-fd" && p[1] == "listeners");
                if expose {
                    rt.upgrade_socket = Some(PathBuf::from(path));
                } else {
                    self.note(
                        line,
                        "stats socket without expose-fd listeners: no effect (spillway has no runtime CLI)",
                    );
                }
            }
            "stats" => self.note(line, format!("{}: no effect", w.join(" "))),
            d if NO_EFFECT.contains(&d) || d.starts_with("tune.") => self.note(line, format!("{d}: no effect")),
            "nbproc" => return Err("nbproc is not supported: use nbthread".into()),
            "debug" | "quiet" => self.note(line, format!("{}: no effect (use -d / -q)", w[0])),
            d => return Err(format!("global: unsupported directive \"{d}\"")),
        }
        Ok(())
    }

    /// `cpu-map [auto:]1/T CPU` or `cpu-map [auto:]1/A-B C-D`: thread T (1-based) on CPU.
    fn cpu_map(&mut self, w: &[String], line: usize) -> Result<(), String> {
        let (Some(threads), Some(cpus)) = (w.get(1), w.get(2)) else {
            return Err("cpu-map needs a thread set and a CPU set".into());
        };
        let threads = threads.trim_start_matches("auto:");
        let threads = threads.split_once('/').map_or(threads, |(_, t)| t);
        let range = |s: &str| -> Option<(usize, usize)> {
            match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|n| (n, n)),
            }
        };
        let (Some((t0, t1)), Some((c0, c1))) = (range(threads), range(cpus)) else {
            self.note(line, format!("cpu-map {} {}: form not understood, ignored", w[1], w[2]));
            return Ok(());
        };
        if t0 == 0 || t1 < t0 || c1 < c0 {
            return Err(format!("cpu-map {} {}: invalid range", w[1], w[2]));
        }
        let cpus = &mut self.config.runtime.cpus;
        for (k, t) in (t0..=t1).enumerate() {
            let cpu = if c0 == c1 { c0 } else { c0 + k };
            if cpus.len() < t {
                cpus.resize(t, cpu);
            }
            cpus[t - 1] = cpu;
        }
        self.lines.set(Site::Runtime("cpus"), line);
        Ok(())
    }

    /// Settings valid in `defaults` and in proxies. `Ok(())` when handled; `proxy` is None in
    /// `defaults`.
    fn common(&mut self, c: &mut Common, w: &[String], line: usize, proxy: Option<&str>) -> Result<(), String> {
        let arg = |i: usize| w.get(i).map(String::as_str);
        match w[0].as_str() {
            "mode" => {
                c.mode = Some(match arg(1) {
                    Some("tcp") => Mode::Tcp,
                    Some("http") => Mode::Http,
                    other => return Err(format!("mode {}: expected tcp or http", other.unwrap_or(""))),
                })
            }
            "balance" => {
                c.balance = Some(match arg(1) {
                    Some("roundrobin") | Some("static-rr") => Algorithm::RoundRobin,
                    Some("leastconn") => Algorithm::LeastConnections,
                    Some("source") => Algorithm::FlowHash,
                    Some("random") | Some("random(2)") => Algorithm::RandomTwo,
                    other => {
                        return Err(format!(
                            "balance {}: supported are roundrobin, static-rr, leastconn, source, random",
                            other.unwrap_or("")
                        ))
                    }
                })
            }
            "timeout" => {
                let value = parse_time(arg(2).ok_or("timeout needs a value")?)?;
                let t = &mut c.timeouts;
                let slot = match arg(1).unwrap_or("") {
                    "connect" => &mut t.connect,
                    "client" => &mut t.client,
                    "server" => &mut t.server,
                    "queue" => &mut t.queue,
                    "check" => &mut t.check,
                    "http-request" => &mut t.http_request,
                    "http-keep-alive" => &mut t.http_keep_alive,
                    "tunnel" => &mut t.tunnel,
                    "client-fin" | "server-fin" | "tarpit" => {
                        self.note(line, format!("timeout {}: no effect", arg(1).unwrap_or("")));
                        return Ok(());
                    }
                    other => return Err(format!("timeout {other}: unsupported")),
                };
                if value.is_zero() {
                    return Err(format!("timeout {} must be greater than 0", arg(1).unwrap_or("")));
                }
                *slot = Some(value);
            }
            "option" => match arg(1) {
                Some("httpchk") => {
                    // `option httpchk [METHOD] URI [VERSION]`: only GET checks are made.
                    let (method, uri) = match (arg(2), arg(3)) {
                        (Some(m), Some(u)) => (m, u),
                        (Some(u), None) if u.starts_with('/') => ("GET", u),
                        (None, _) => ("OPTIONS", "/"),
                        (Some(m), None) => (m, "/"),
                    };
                    if !matches!(method, "GET" | "HEAD" | "OPTIONS") {
                        return Err(format!(
                            "option httpchk {method}: only GET, HEAD and OPTIONS checks are supported"
                        ));
                    }
                    c.httpchk = Some(uri.to_string());
                }
                Some(o) if NO_EFFECT_OPTIONS.contains(&o) => {
                    let why = if o == "forwardfor" { " (spillway always adds X-Forwarded-For)" } else { "" };
                    self.note(line, format!("option {o}: no effect{why}"));
                }
                Some(o) => return Err(format!("option {o}: unsupported")),
                None => return Err("option needs a name".into()),
            },
            "http-check" => match arg(1) {
                Some("expect") if arg(2) == Some("status") => {
                    let text = arg(3).ok_or("http-check expect status needs a code")?;
                    c.expect = Some(validate::parse_matcher(text)?);
                }
                Some("send") => {
                    // `http-check send meth GET uri /path [ver HTTP/1.1] [hdr ...]`.
                    if let Some(i) = w.iter().position(|x| x == "uri") {
                        c.httpchk = Some(w.get(i + 1).ok_or("http-check send uri needs a path")?.clone());
                    }
                    if let Some(i) = w.iter().position(|x| x == "meth") {
                        if w.get(i + 1).is_some_and(|m| m != "GET" && m != "HEAD") {
                            return Err("http-check send: only GET and HEAD checks are supported".into());
                        }
                    }
                    if c.httpchk.is_none() {
                        c.httpchk = Some("/".into());
                    }
                }
                Some("connect") => {}
                _ => return Err(format!("{}: unsupported", w.join(" "))),
            },
            "monitor-uri" => {
                let uri = arg(1).ok_or("monitor-uri needs a URI")?;
                if arg(2).is_some() {
                    return Err(format!("monitor-uri {uri}: unexpected \"{}\"", w[2]));
                }
                c.monitor_uri = Some((uri.to_string(), line));
            }
            "default-server" => {
                let mut options = c.default_server.clone();
                server_options(&mut options, &w[1..])?;
                c.default_server = options;
            }
            d if NO_EFFECT.contains(&d) => self.note(line, format!("{d}: no effect")),
            old @ ("contimeout" | "clitimeout" | "srvtimeout") => {
                let new = match old {
                    "contimeout" => "connect",
                    "clitimeout" => "client",
                    _ => "server",
                };
                return Err(format!("{old} was removed from HAProxy (2.1): write \"timeout {new}\""));
            }
            "maxconn" if proxy.is_none() => self
                .note(line, "maxconn in defaults (a frontend limit): no effect; the global maxconn caps connections"),
            d => return Err(format!("unsupported directive \"{d}\"")),
        }
        Ok(())
    }

    fn proxy(&mut self, p: usize, w: &[String], line: usize) -> Result<(), String> {
        let kind = self.proxies[p].kind;
        let name = self.proxies[p].name.clone();
        let front = kind != Kind::Backend;
        let back = kind != Kind::Frontend;
        match w[0].as_str() {
            "bind" if front => {
                let addrs = w.get(1).ok_or("bind needs an address")?;
                let mut crt = None;
                let mut i = 2;
                while i < w.len() {
                    match w[i].as_str() {
                        "ssl" => {}
                        // The bind line's name in HAProxy's stats: no effect here.
                        "name" => i += 1,
                        "crt" => {
                            i += 1;
                            crt = Some(PathBuf::from(w.get(i).ok_or("crt needs a file")?));
                        }
                        o => {
                            return Err(format!(
                                "bind option \"{o}\" is not supported (supported: ssl crt FILE, name N)"
                            ))
                        }
                    }
                    i += 1;
                }
                if w.iter().any(|x| x == "ssl") != crt.is_some() {
                    return Err("bind ... ssl needs crt FILE (and crt needs ssl)".into());
                }
                for a in addrs.split(',') {
                    let addr = parse_endpoint(a, "bind")?;
                    self.proxies[p].binds.push((addr, crt.clone(), line));
                }
            }
            "default_backend" if kind == Kind::Frontend => {
                let b = w.get(1).ok_or("default_backend needs a name")?;
                self.proxies[p].default_backend = Some((b.clone(), line));
            }
            "acl" => {
                let (name, test) = acl::acl_line(w)?;
                self.proxies[p].acls.entry(name).or_default().push(test);
            }
            "use_backend" if !front => return Err("use_backend is only valid in a frontend or listen section".into()),
            "use_backend" | "redirect" | "http-request" | "http-response" | "http-after-response" => {
                // A use_backend line, even a refused one, answers "no default_backend".
                self.proxies[p].switching |= w[0] == "use_backend";
                let pending = actions::directive(w, &self.proxies[p].acls, line)?;
                self.proxies[p].rules.push(pending);
            }
            "monitor-uri" if !front => {
                self.note(line, format!("{name}: monitor-uri in a backend: no effect (HAProxy ignores it there too)"))
            }
            "server" if back => {
                let addr = w.get(2).ok_or("server needs a name and an address")?;
                let addr = parse_endpoint(addr, "server")?;
                if addr.ip().is_unspecified() || addr.port() == 0 {
                    return Err(format!("server {}: needs a real address and port", w[1]));
                }
                let mut options = self.proxies[p].common.default_server.clone();
                server_options(&mut options, &w[3..]).map_err(|e| format!("server {}: {e}", w[1]))?;
                self.proxies[p].servers.push(Server { addr, options, line });
            }
            "stats" => {
                if matches!(w.get(1).map(String::as_str), Some("enable") | Some("uri")) {
                    self.proxies[p].stats = true;
                }
            }
            "maxconn" if front => self.note(
                line,
                format!("{name}: maxconn (a frontend limit): no effect; the global maxconn caps connections"),
            ),
            _ => {
                let mut common = std::mem::take(&mut self.proxies[p].common);
                let r = self.common(&mut common, w, line, Some(&name));
                self.proxies[p].common = common;
                return r;
            }
        }
        Ok(())
    }
}
