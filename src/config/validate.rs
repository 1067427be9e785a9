//! The rules that span fields of a [`Config`], shared by every reader of a configuration file.
//!
//! A reader (`toml.rs`, `haproxy/`) builds the typed tree and, beside it,
//! a [`SourceLines`] table: the line each field came from, keyed by [`Site`], and the fields it
//! could not read. [`finish`] runs every rule of this file, adds the reader's own problems and
//! returns them all sorted by line, which is file order: `spillway -c` prints every mistake at
//! once instead of stopping at the first.
//!
//! Invariants:
//! - a field the reader marked unreadable was already reported and holds a placeholder, so no
//!   rule looks at it: one mistake gives one message, never a cascade;
//! - a site with no recorded line falls back to its entry (a target to its group, a key to its
//!   `[[listener]]`), then to line 0, "the file as a whole";
//! - the only part of the machine looked at is the files the configuration names (certificates,
//!   keys, CA files; read through [`crate::pem`] unless the reader asks for [`Files::Skip`]), so
//!   that `-c` and a reload refuse an unusable one with its line; ports in use and CPUs present
//!   are checked when spillway starts, not by `-c`.
//!
//! [`parse_addr`] and [`parse_matcher`] live here too, so every reader gives the same message for
//! the same mistake.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    net::SocketAddr,
    time::Duration,
};

use super::{defaults, Config, ConfigErrors, Problem, Protocol, StatusMatcher};

/// More shards than this is a typo, not a machine.
pub const MAX_THREADS: usize = 1024;

/// Where a value of the configuration came from: an entry (`field = ""`) or one of its fields.
/// Field names are those of the typed tree, which are the native format's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    Runtime(&'static str),
    Admin(&'static str),
    /// Listener index, field.
    Listener(usize, &'static str),
    /// Target-group index, field.
    Group(usize, &'static str),
    /// Target-group index, target index, field.
    Target(usize, usize, &'static str),
    /// Target-group index, field of its health check.
    HealthCheck(usize, &'static str),
    /// A listener rule or a target group's rule.
    Rule(RuleSite),
}

/// Where a rule is: whose it is, which phase, its position in that phase's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleSite {
    pub owner: RuleOwner,
    /// A response rule (else a request rule).
    pub response: bool,
    pub index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleOwner {
    Listener(usize),
    Group(usize),
}

impl Site {
    /// The site a missing line falls back to.
    fn parent(self) -> Option<Site> {
        match self {
            Site::Runtime("") | Site::Admin("") | Site::Listener(_, "") | Site::Group(_, "") => None,
            Site::Runtime(_) => Some(Site::Runtime("")),
            Site::Admin(_) => Some(Site::Admin("")),
            Site::Listener(i, _) => Some(Site::Listener(i, "")),
            Site::Group(g, _) | Site::HealthCheck(g, "") => Some(Site::Group(g, "")),
            Site::Target(g, _, "") => Some(Site::Group(g, "targets")),
            Site::Target(g, t, _) => Some(Site::Target(g, t, "")),
            Site::HealthCheck(g, _) => Some(Site::HealthCheck(g, "")),
            Site::Rule(RuleSite { owner: RuleOwner::Listener(i), .. }) => Some(Site::Listener(i, "")),
            Site::Rule(RuleSite { owner: RuleOwner::Group(g), .. }) => Some(Site::Group(g, "")),
        }
    }
}

/// The key path of the native format: `listener[0].bind`, `target_group[1].health_check.timeout`.
impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entry, field) = match *self {
            Site::Runtime(field) => ("runtime".to_string(), field),
            Site::Admin(field) => ("admin".to_string(), field),
            Site::Listener(i, field) => (format!("listener[{i}]"), field),
            Site::Group(g, field) => (format!("target_group[{g}]"), field),
            Site::Target(g, t, field) => (format!("target_group[{g}].targets[{t}]"), field),
            Site::HealthCheck(g, field) => (format!("target_group[{g}].health_check"), field),
            Site::Rule(r) => {
                let owner = match r.owner {
                    RuleOwner::Listener(i) => format!("listener[{i}]"),
                    RuleOwner::Group(g) => format!("target_group[{g}]"),
                };
                let phase = if r.response { "response_rule" } else { "rule" };
                (format!("{owner}.{phase}[{}]", r.index), "")
            }
        };
        if field.is_empty() {
            f.write_str(&entry)
        } else {
            write!(f, "{entry}.{field}")
        }
    }
}

/// The table a reader fills while it builds a [`Config`]: lines of sites, and sites it could not
/// read (already reported, holding a placeholder).
#[derive(Debug, Default, Clone)]
pub struct SourceLines {
    lines: HashMap<Site, usize>,
    unreadable: HashSet<Site>,
}

impl SourceLines {
    /// Records the (1-based) line `site` was read from.
    pub fn set(&mut self, site: Site, line: usize) {
        self.lines.insert(site, line);
    }

    /// The line of `site`, else of the nearest entry holding it, else 0.
    pub fn line(&self, site: Site) -> usize {
        let mut at = Some(site);
        while let Some(site) = at {
            if let Some(&line) = self.lines.get(&site) {
                return line;
            }
            at = site.parent();
        }
        0
    }

    /// The reader reported a problem with `site`: its value is a placeholder that rules skip.
    pub fn mark_unreadable(&mut self, site: Site) {
        self.unreadable.insert(site);
    }

    pub fn is_readable(&self, site: Site) -> bool {
        !self.unreadable.contains(&site)
    }
}

/// Runs every rule on `config`, adds the reader's `problems`, and answers the config if there
/// are none, else all of them sorted by line (file order; a stable sort keeps the order of
/// problems found on the same line).
pub fn finish(
    config: Config,
    lines: &SourceLines,
    file: &str,
    mut problems: Vec<Problem>,
    files: Files,
) -> Result<Config, ConfigErrors> {
    problems.extend(check(&config, lines, file, files));
    if problems.is_empty() {
        return Ok(config);
    }
    problems.sort_by_key(|p| p.line);
    Err(ConfigErrors { problems })
}

/// Every cross-field problem of `config`, sorted by line.
pub fn check(config: &Config, lines: &SourceLines, file: &str, files: Files) -> Vec<Problem> {
    let mut c = Checker { lines, file, problems: Vec::new(), files };
    runtime(&mut c, config);
    listeners(&mut c, config);
    groups(&mut c, config);
    super::rules_check::all(&mut c, config);
    c.problems.sort_by_key(|p| p.line);
    c.problems
}

/// Parses a socket address as written in a file: an IP and a port, never a name to resolve.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("invalid address \"{text}\": expected IP:PORT or HOST:PORT, like 127.0.0.1:8080 or [::1]:8080")
    })
}

/// An `IP:PORT`, or a `HOST:PORT` resolved now through the system resolver (`/etc/hosts`,
/// DNS): the configuration is read off the shards, at start and at every reload.
pub fn resolve_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.parse() {
        return Ok(a);
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok() => {
            resolve_host(host, port.parse().unwrap_or(0), None)
        }
        _ => parse_addr(text),
    }
}

/// The first address the system resolver answers for `host` (of the `prefer`red family when
/// it answers one), with `port`. The error is `cannot resolve "HOST"`.
pub fn resolve_host(host: &str, port: u16, prefer: Option<IpFamily>) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    // The config fuzz targets feed random host names: asking the system resolver would make
    // each execution a DNS query (slow, and traffic off the machine). Only `localhost` resolves.
    if cfg!(feature = "fuzzing") && host != "localhost" {
        return Err(format!("cannot resolve \"{host}\""));
    }
    let all: Vec<SocketAddr> = (host, port).to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    let preferred = all.iter().find(|a| match prefer {
        Some(IpFamily::V4) => a.is_ipv4(),
        Some(IpFamily::V6) => a.is_ipv6(),
        None => true,
    });
    preferred.or(all.first()).copied().ok_or_else(|| format!("cannot resolve \"{host}\""))
}

/// HAProxy's `resolve-prefer ipv4|ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

/// Parses a health-check matcher: `"200"`, `"200-299"`, `"200,302"` or a mix (`"200-204,302"`).
pub fn parse_matcher(text: &str) -> Result<StatusMatcher, String> {
    let bad = |why: String| format!("invalid matcher \"{text}\": {why}; write \"200\", \"200-299\" or \"200,302\"");
    let code = |s: &str| match s.trim().parse::<u16>() {
        Ok(n) if (100..=599).contains(&n) => Ok(n),
        _ => Err(bad(format!("\"{}\" is not an HTTP status code (100 to 599)", s.trim()))),
    };
    let mut ranges = Vec::new();
    for item in text.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (code(lo)?, code(hi)?),
            None => code(item).map(|code| (code, code))?,
        };
        if lo > hi {
            return Err(bad(format!("the range {lo}-{hi} runs backwards")));
        }
        ranges.push((lo, hi));
    }
    Ok(StatusMatcher { ranges })
}

pub(super) struct Checker<'a> {
    lines: &'a SourceLines,
    file: &'a str,
    problems: Vec<Problem>,
    files: Files,
}

/// Whether validation reads the files a configuration names (certificates, keys, CA files).
/// Running configurations always do (`Config::load*`, so `-c`, start and SIGHUP refuse a bad
/// file with its line); [`Files::Skip`] is for checking the text alone, as the examples in the
/// documentation, whose paths are placeholders, are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Check,
    Skip,
}

impl Checker<'_> {
    pub(super) fn report(&mut self, site: Site, message: String) {
        let line = self.lines.line(site);
        self.problems.push(Problem { file: self.file.to_string(), line, message });
    }

    pub(super) fn ok(&self, site: Site) -> bool {
        self.lines.is_readable(site)
    }

    /// Reports `who: FIELD must be greater than 0` when `zero`.
    fn nonzero(&mut self, site: Site, who: &str, field: &str, zero: bool) {
        if zero && self.ok(site) {
            self.report(site, format!("{who}: {field} must be greater than 0"));
        }
    }
}

/// How an entry is named in messages: by its name, or by its position when it has none.
pub(super) fn who(kind: &str, name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("{kind} #{}", index + 1)
    } else {
        format!("{kind} \"{name}\"")
    }
}

/// Whether two listening addresses would take the same connections. Port 0 asks the kernel for
/// a free port (tests do it), so it never collides.
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let covers =
        |wide: SocketAddr, other: SocketAddr| wide.ip().is_unspecified() && (wide.is_ipv6() || other.is_ipv4());
    a.port() != 0 && a.port() == b.port() && (a.ip() == b.ip() || covers(a, b) || covers(b, a))
}

fn runtime(c: &mut Checker, config: &Config) {
    let rt = &config.runtime;
    let at = Site::Runtime;
    if rt.threads > MAX_THREADS && c.ok(at("threads")) {
        c.report(at("threads"), format!("runtime: threads = {} is more than {MAX_THREADS}", rt.threads));
    }
    if rt.threads > 0 && !rt.cpus.is_empty() && rt.cpus.len() < rt.threads && c.ok(at("cpus")) {
        c.report(
            at("cpus"),
            format!("runtime: threads = {} but cpus names only {}: give one CPU per thread", rt.threads, rt.cpus.len()),
        );
    }
    c.nonzero(at("max_connections"), "runtime", "max_connections", rt.max_connections == 0);
    c.nonzero(at("drain_timeout"), "runtime", "drain_timeout", rt.drain_timeout.is_zero());
}

fn listeners(c: &mut Checker, config: &Config) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    // Addresses bound so far, with who binds them and where.
    let mut binds: Vec<(SocketAddr, String, usize)> = Vec::new();
    if let (true, Some(listen)) = (c.ok(Site::Admin("listen")), config.admin.listen) {
        let line = c.lines.line(Site::Admin("listen"));
        binds.push((listen, "the admin listener".to_string(), line));
        // The admin API can add targets and shift traffic: open to the network, it must be
        // locked.
        if !listen.ip().is_loopback() && config.admin.token.is_empty() {
            c.report(
                Site::Admin("listen"),
                format!("admin: listen = {listen} is not a loopback address: set admin.token, or listen on 127.0.0.1"),
            );
        }
    }
    for (i, l) in config.listeners.iter().enumerate() {
        let at = |field| Site::Listener(i, field);
        let who = who("listener", &l.name, i);
        if c.ok(at("name")) {
            if l.name.is_empty() {
                c.report(at("name"), format!("{who}: name is empty"));
            } else if let Some(&first) = names.get(l.name.as_str()) {
                let first = c.lines.line(Site::Listener(first, "name"));
                c.report(at("name"), format!("duplicate listener name \"{}\" (first defined at line {first})", l.name));
            } else {
                names.insert(&l.name, i);
            }
        }
        if c.ok(at("target_group")) && config.group_index(&l.target_group).is_none() {
            c.report(at("target_group"), format!("{who}: target group \"{}\" does not exist", l.target_group));
        }
        if c.ok(at("bind")) {
            if let Some((addr, other, line)) = binds.iter().find(|(b, ..)| overlaps(*b, l.bind)) {
                let message = format!("{who}: bind {} conflicts with {addr} of {other} (line {line})", l.bind);
                c.report(at("bind"), message);
            }
            binds.push((l.bind, who.clone(), c.lines.line(at("bind"))));
        }
        for (field, value) in [
            ("idle_timeout", l.idle_timeout),
            ("request_timeout", l.request_timeout),
            ("tunnel_timeout", l.tunnel_timeout),
        ] {
            c.nonzero(at(field), &who, field, value.is_zero());
        }
        if !c.ok(at("protocol")) || !c.ok(at("tls")) {
            continue;
        }
        match (&l.tls, l.protocol) {
            (None, Protocol::Https) => c.report(
                at("protocol"),
                format!("{who}: protocol \"https\" needs tls = {{ cert = \"...\", key = \"...\" }}"),
            ),
            (Some(_), Protocol::Tcp | Protocol::Http) => {
                c.report(at("tls"), format!("{who}: tls is only used with protocol = \"https\""))
            }
            (Some(tls), Protocol::Https) if tls.certs.is_empty() => {
                c.report(at("tls"), format!("{who}: tls.certs is empty: give at least one {{ cert, key }} pair"))
            }
            (Some(tls), Protocol::Https) => {
                for pair in &tls.certs {
                    if pair.cert.as_os_str().is_empty() || pair.key.as_os_str().is_empty() {
                        c.report(at("tls"), format!("{who}: a tls cert or key path is empty"));
                    } else if c.files == Files::Check {
                        // The files are read now, so that `-c` and a reload refuse them too.
                        if let Err(e) = crate::pem::load_pair(&pair.cert, &pair.key, &crate::pem::provider()) {
                            c.report(at("tls"), format!("{who}: {e}"));
                        }
                    }
                }
            }
            (None, _) => {}
        }
    }
}

fn groups(c: &mut Checker, config: &Config) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (g, group) in config.target_groups.iter().enumerate() {
        let at = |field| Site::Group(g, field);
        let who = who("target group", &group.name, g);
        if c.ok(at("name")) {
            if group.name.is_empty() {
                c.report(at("name"), format!("{who}: name is empty"));
            } else if let Some(&first) = names.get(group.name.as_str()) {
                let first = c.lines.line(Site::Group(first, "name"));
                let name = &group.name;
                c.report(at("name"), format!("duplicate target group name \"{name}\" (first defined at line {first})"));
            } else {
                names.insert(&group.name, g);
            }
        }
        for (field, value) in [
            ("queue_timeout", group.queue_timeout),
            ("connect_timeout", group.connect_timeout),
            ("response_timeout", group.response_timeout),
        ] {
            c.nonzero(at(field), &who, field, value.is_zero());
        }
        if !group.cross_zone && group.zone.is_empty() && c.ok(at("cross_zone")) {
            c.report(at("cross_zone"), format!("{who}: cross_zone = false needs zone (this node's zone)"));
        }
        let ca = group.tls.as_ref().and_then(|t| t.ca.as_ref());
        if let Some(ca) = ca.filter(|_| c.files == Files::Check && c.ok(at("tls"))) {
            if let Err(e) = crate::pem::load_certs(ca) {
                c.report(at("tls"), format!("{who}: tls.ca {e}"));
            }
        }
        // Checked here, not found out at the first connection: an unusable name would
        // otherwise fall back to the target's IP, a different SNI and a different name checked.
        let name = group.tls.as_ref().map(|t| t.server_name.as_str()).filter(|n| !n.is_empty());
        if let Some(name) = name.filter(|_| c.ok(at("tls"))) {
            if rustls::pki_types::ServerName::try_from(name).is_err() {
                c.report(at("tls"), format!("{who}: tls.server_name {name:?} is neither a DNS name nor an IP address"));
            }
        }
        targets(c, config, g, &who);
        health_check(c, config, g, &who);
    }
}

fn targets(c: &mut Checker, config: &Config, g: usize, who: &str) {
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    for (t, target) in config.target_groups[g].targets.iter().enumerate() {
        let at = |field| Site::Target(g, t, field);
        if c.ok(at("addr")) {
            let addr = target.addr;
            if addr.port() == 0 {
                c.report(at("addr"), format!("{who}: target {addr}: port 0 cannot be connected to"));
            } else if let Some(&first) = seen.get(&addr) {
                let first = c.lines.line(Site::Target(g, first, "addr"));
                c.report(at("addr"), format!("{who}: target {addr} is listed twice (first at line {first})"));
            } else {
                seen.insert(addr, t);
            }
        }
        if target.weight > defaults::MAX_WEIGHT && c.ok(at("weight")) {
            c.report(
                at("weight"),
                format!(
                    "{who}: target {}: weight {} is out of range (0 to {})",
                    target.addr,
                    target.weight,
                    defaults::MAX_WEIGHT
                ),
            );
        }
    }
}

fn health_check(c: &mut Checker, config: &Config, g: usize, who: &str) {
    let hc = &config.target_groups[g].health_check;
    let at = |field| Site::HealthCheck(g, field);
    let zero_interval = hc.interval == Duration::ZERO;
    let zero_timeout = hc.timeout == Duration::ZERO;
    c.nonzero(at("interval"), who, "health_check.interval", zero_interval);
    c.nonzero(at("timeout"), who, "health_check.timeout", zero_timeout);
    let healthy = hc.healthy_threshold == 0;
    c.nonzero(at("healthy_threshold"), who, "health_check.healthy_threshold", healthy);
    let unhealthy = hc.unhealthy_threshold == 0;
    c.nonzero(at("unhealthy_threshold"), who, "health_check.unhealthy_threshold", unhealthy);
    let timing_known = c.ok(at("interval")) && c.ok(at("timeout"));
    if timing_known && !zero_interval && !zero_timeout && hc.timeout >= hc.interval {
        c.report(
            at("timeout"),
            format!(
                "{who}: health_check.timeout ({:?}) must be shorter than health_check.interval ({:?})",
                hc.timeout, hc.interval
            ),
        );
    }
    if !hc.path.starts_with('/') && c.ok(at("path")) {
        c.report(at("path"), format!("{who}: health_check.path \"{}\" must start with '/'", hc.path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{toml::parse, Admin, Runtime, Target, TargetGroup};

    /// A valid file of 7 lines; the cases below append to it, so their lines start at 8.
    const BASE: &str = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\ntarget_group = \"app\"\n\
                        [[target_group]]\nname = \"app\"\ntargets = [{ addr = \"127.0.0.1:9001\" }]\n";

    /// Every problem of BASE + `extra` as `LINE: message`.
    fn problems(extra: &str) -> Vec<String> {
        let Err(errors) = parse(&format!("{BASE}{extra}"), "t.toml") else { return Vec::new() };
        errors.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect()
    }

    fn listener(name: &str, bind: &str, more: &str) -> String {
        format!("[[listener]]\nname = \"{name}\"\nbind = \"{bind}\"\ntarget_group = \"app\"\n{more}")
    }

    #[test]
    fn the_base_file_is_valid() {
        assert_eq!(problems(""), Vec::<String>::new());
        // Port 0 asks the kernel for a free port: two such listeners do not collide.
        let zero = listener("a", "127.0.0.1:0", "") + &listener("b", "127.0.0.1:0", "");
        assert_eq!(problems(&zero), Vec::<String>::new());
    }

    #[test]
    fn each_rule_names_the_problem_at_its_line() {
        let web_https = "protocol = \"https\"\n";
        let cases: Vec<(String, Vec<&str>)> = vec![
            (listener("web", "127.0.0.1:8081", ""), vec![r#"9: duplicate listener name "web" (first defined at line 2)"#]),
            ("[[target_group]]\nname = \"app\"\n".into(), vec![r#"9: duplicate target group name "app" (first defined at line 6)"#]),
            (listener("api", "127.0.0.1:8081", "").replace("\"app\"", "\"nope\""), vec![r#"11: listener "api": target group "nope" does not exist"#]),
            (listener("api", "127.0.0.1:8080", ""), vec![r#"10: listener "api": bind 127.0.0.1:8080 conflicts with 127.0.0.1:8080 of listener "web" (line 3)"#]),
            (listener("api", "0.0.0.0:8080", ""), vec![r#"10: listener "api": bind 0.0.0.0:8080 conflicts with 127.0.0.1:8080 of listener "web" (line 3)"#]),
            ("[admin]\nlisten = \"[::]:8080\"\ntoken = \"t\"\n".into(), vec![r#"3: listener "web": bind 127.0.0.1:8080 conflicts with [::]:8080 of the admin listener (line 9)"#]),
            ("[admin]\nlisten = \"0.0.0.0:9900\"\n".into(), vec!["9: admin: listen = 0.0.0.0:9900 is not a loopback address: set admin.token, or listen on 127.0.0.1"]),
            ("[runtime]\nmax_connections = 0\ndrain_timeout = \"0ms\"\n".into(), vec!["9: runtime: max_connections must be greater than 0", "10: runtime: drain_timeout must be greater than 0"]),
            ("[runtime]\nthreads = 1025\n".into(), vec!["9: runtime: threads = 1025 is more than 1024"]),
            ("[runtime]\nthreads = 3\ncpus = [0, 1]\n".into(), vec!["10: runtime: threads = 3 but cpus names only 2: give one CPU per thread"]),
            (listener("api", "127.0.0.1:8081", "request_timeout = \"0s\"\n"), vec![r#"12: listener "api": request_timeout must be greater than 0"#]),
            (listener("api", "127.0.0.1:8081", web_https), vec![r#"12: listener "api": protocol "https" needs tls = { cert = "...", key = "..." }"#]),
            (listener("api", "127.0.0.1:8081", "tls = { cert = \"c\", key = \"k\" }\n"), vec![r#"12: listener "api": tls is only used with protocol = "https""#]),
            (listener("api", "127.0.0.1:8081", "protocol = \"https\"\ntls = { certs = [] }\n"), vec![r#"13: listener "api": tls.certs is empty: give at least one { cert, key } pair"#]),
            (listener("", "127.0.0.1:8081", ""), vec![r#"9: listener #2: name is empty"#]),
            ("[[target_group]]\nname = \"b\"\nconnect_timeout = \"0s\"\n".into(), vec![r#"10: target group "b": connect_timeout must be greater than 0"#]),
            ("[[target_group]]\nname = \"b\"\ncross_zone = false\n".into(), vec![r#"10: target group "b": cross_zone = false needs zone (this node's zone)"#]),
            (
                "[[target_group]]\nname = \"b\"\ntargets = [\n{ addr = \"127.0.0.1:1\", weight = 0 },\n{ addr = \"127.0.0.1:1\", weight = 257 },\n{ addr = \"127.0.0.1:0\" }]\n".into(),
                vec![
                    r#"12: target group "b": target 127.0.0.1:1 is listed twice (first at line 11)"#,
                    r#"12: target group "b": target 127.0.0.1:1: weight 257 is out of range (0 to 256)"#,
                    r#"13: target group "b": target 127.0.0.1:0: port 0 cannot be connected to"#,
                ],
            ),
            (
                "[[target_group]]\nname = \"b\"\n[target_group.health_check]\ninterval = \"0s\"\nhealthy_threshold = 0\nunhealthy_threshold = 0\npath = \"up\"\n".into(),
                vec![
                    r#"11: target group "b": health_check.interval must be greater than 0"#,
                    r#"12: target group "b": health_check.healthy_threshold must be greater than 0"#,
                    r#"13: target group "b": health_check.unhealthy_threshold must be greater than 0"#,
                    r#"14: target group "b": health_check.path "up" must start with '/'"#,
                ],
            ),
            (
                "[[target_group]]\nname = \"b\"\ntls = { verify = false, server_name = \"api example.com\" }\n".into(),
                vec![r#"10: target group "b": tls.server_name "api example.com" is neither a DNS name nor an IP address"#],
            ),
            (
                "[[target_group]]\nname = \"b\"\ntls = { verify = false, server_name = \"api.example.com\" }\n".into(),
                vec![],
            ),
            (
                "[[target_group]]\nname = \"b\"\nhealth_check = { interval = \"5s\", timeout = \"5000ms\" }\n".into(),
                vec![r#"10: target group "b": health_check.timeout (5s) must be shorter than health_check.interval (5s)"#],
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(problems(&extra), expected, "for:\n{extra}");
        }
    }

    #[test]
    fn listener_rules_get_the_checks_of_every_reader_at_their_lines() {
        // The listener of `listener()` starts at line 8, so a rule after it at line 12.
        let rule = |priority: u32, action: &str| {
            format!("[[listener.rule]]\npriority = {priority}\nconditions = {{ path_pattern = [\"/a\"] }}\naction = {{ {action} }}\n")
        };
        let cases: Vec<(String, Vec<&str>)> = vec![
            (
                listener("api", "127.0.0.1:8081", "protocol = \"tcp\"\n") + &rule(1, "type = \"forward\", target_group = \"app\""),
                vec![r#"8: listener "api": rules need protocol "http" or "https""#],
            ),
            (
                listener("api", "127.0.0.1:8081", "") + &rule(5, "type = \"forward\", target_group = \"nope\""),
                vec![r#"12: listener "api": priority 5: target group "nope" does not exist"#],
            ),
            (
                listener("api", "127.0.0.1:8081", "")
                    + &rule(9, "type = \"forward\", target_groups = [{ name = \"app\", weight = 0 }]")
                    + &rule(3, "type = \"forward\", target_groups = [{ name = \"app\", weight = 1 }, { name = \"b\", weight = 1 }]"),
                vec![
                    r#"12: listener "api": priority 9: every weight is 0: the rule could send nowhere"#,
                    r#"16: listener "api": priority 3: target group "b" does not exist"#,
                ],
            ),
            (listener("api", "127.0.0.1:8081", "") + &rule(5, "type = \"fixed_response\", status = 503"), vec![]),
        ];
        for (extra, expected) in cases {
            assert_eq!(problems(&extra), expected, "for:\n{extra}");
        }
    }

    #[test]
    fn problems_of_both_passes_are_all_reported_in_file_order() {
        let text = r#"[runtime]
threads = 2000
driver = "iouring"
[[listener]]
name = "web"
bind = "127.0.0.1:80"
target_group = "ap"
idle_timeout = "10"
[[listener]]
name = "web"
bind = "127.0.0.1"
target_group = "app"
[[target_group]]
name = "app"
targets = [{ addr = "127.0.0.1:9001", weight = 300 }, { addr = "127.0.0.1:9001" }]
health_check = { matcher = "600", healthy_threshold = 0 }
"#;
        let expected = [
            "t.toml:2: runtime: threads = 2000 is more than 1024",
            "t.toml:3: runtime.driver: unknown value \"iouring\": expected one of auto, io_uring, epoll",
            "t.toml:7: listener \"web\": target group \"ap\" does not exist",
            "t.toml:8: listener[0].idle_timeout: invalid duration \"10\": expected a number with a unit (ms, s, m, h)",
            "t.toml:10: duplicate listener name \"web\" (first defined at line 5)",
            "t.toml:11: listener[1].bind: invalid address \"127.0.0.1\": expected IP:PORT or HOST:PORT, like 127.0.0.1:8080 or [::1]:8080",
            "t.toml:15: target group \"app\": target 127.0.0.1:9001: weight 300 is out of range (0 to 256)",
            "t.toml:15: target group \"app\": target 127.0.0.1:9001 is listed twice (first at line 15)",
            "t.toml:16: target_group[0].health_check.matcher: invalid matcher \"600\": \"600\" is not an HTTP status code (100 to 599); write \"200\", \"200-299\" or \"200,302\"",
            "t.toml:16: target group \"app\": health_check.healthy_threshold must be greater than 0",
        ];
        // Within a line, the reader's problems come before the rules'.
        let errors = parse(text, "t.toml").unwrap_err();
        assert_eq!(errors.to_string(), expected.join("\n"));
    }

    #[test]
    fn a_value_the_reader_could_not_read_gives_one_message() {
        // Two unreadable binds do not "conflict"; an unknown protocol does not make tls wrong;
        // a missing group name is not also a missing group; a bad interval is not compared.
        let text = listener("a", "127.0.0.1", "protocol = \"htps\"\ntls = { cert = \"c\", key = \"k\" }\n")
            + &listener("b", "127.0.0.1", "")
            + "[[listener]]\nname = \"c\"\nbind = \"127.0.0.1:2\"\n"
            + "[[target_group]]\nname = \"b\"\nhealth_check = { interval = \"1\", timeout = \"9s\" }\n";
        let found = problems(&text);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("10: listener[1].bind: invalid address \"127.0.0.1\""));
        assert!(found[1].starts_with("12: listener[1].protocol: unknown value \"htps\""));
        assert!(found[2].starts_with("16: listener[2].bind: invalid address \"127.0.0.1\""));
        assert_eq!(found[3], "18: missing key listener[3].target_group");
        assert!(found[4].starts_with("23: target_group[1].health_check.interval: invalid duration \"1\""));
    }

    #[test]
    fn lines_fall_back_to_the_entry_then_to_the_whole_file() {
        let mut lines = SourceLines::default();
        lines.set(Site::Group(0, ""), 5);
        lines.set(Site::Target(0, 1, ""), 7);
        assert_eq!(lines.line(Site::Target(0, 1, "addr")), 7);
        assert_eq!(lines.line(Site::Target(0, 0, "addr")), 5);
        assert_eq!(lines.line(Site::HealthCheck(0, "timeout")), 5);
        assert_eq!(lines.line(Site::Runtime("threads")), 0);
        assert_eq!(Site::HealthCheck(1, "timeout").to_string(), "target_group[1].health_check.timeout");
        // A configuration built in code (the demo) is checked the same way, at line 0.
        let target = || Target::new("127.0.0.1:9001".parse().unwrap());
        let group = TargetGroup::with_defaults("g", vec![target(), target()]);
        let config = Config {
            runtime: Runtime::default(),
            admin: Admin::default(),
            listeners: Vec::new(),
            target_groups: vec![group.clone(), group],
        };
        let found: Vec<String> =
            check(&config, &SourceLines::default(), "demo", Files::Check).iter().map(|p| p.to_string()).collect();
        assert_eq!(
            found,
            [
                "demo:0: target group \"g\": target 127.0.0.1:9001 is listed twice (first at line 0)",
                "demo:0: duplicate target group name \"g\" (first defined at line 0)",
                "demo:0: target group \"g\": target 127.0.0.1:9001 is listed twice (first at line 0)",
            ]
        );
    }

    #[test]
    fn addresses_are_an_ip_and_a_port_never_a_name() {
        assert_eq!(parse_addr("127.0.0.1:80"), Ok(SocketAddr::from(([127, 0, 0, 1], 80))));
        assert_eq!(parse_addr("[::1]:443").map(|a| a.port()), Ok(443));
        for bad in ["localhost:80", "127.0.0.1", "127.0.0.1:99999", ":80", "[::1]", ""] {
            assert!(parse_addr(bad).unwrap_err().contains("expected IP:PORT"), "{bad}");
        }
    }

    #[test]
    fn matchers_take_codes_ranges_and_lists() {
        let ranges = |text: &str| parse_matcher(text).map(|m| m.ranges);
        assert_eq!(ranges("200"), Ok(vec![(200, 200)]));
        assert_eq!(ranges("200-299"), Ok(vec![(200, 299)]));
        assert_eq!(ranges("200, 301-302"), Ok(vec![(200, 200), (301, 302)]));
        assert!(parse_matcher("200,302").unwrap().matches(302));
        assert!(!parse_matcher("200,302").unwrap().matches(301));
        assert!(ranges("300-200").unwrap_err().contains("the range 300-200 runs backwards"));
        for bad in ["", "abc", "99", "600", "200-", "200,,302", "2xx"] {
            assert!(ranges(bad).unwrap_err().contains("is not an HTTP status code (100 to 599)"), "{bad}");
        }
    }

    #[test]
    fn wildcard_binds_cover_their_family() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(a("0.0.0.0:80"), a("127.0.0.1:80")));
        assert!(overlaps(a("127.0.0.1:80"), a("[::]:80")));
        assert!(!overlaps(a("0.0.0.0:80"), a("[::1]:80")));
        assert!(!overlaps(a("127.0.0.1:80"), a("127.0.0.2:80")));
        assert!(!overlaps(a("127.0.0.1:80"), a("127.0.0.1:81")));
    }
}
