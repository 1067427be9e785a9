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
mod checks;
mod common;
mod cookie;
mod global;
mod keywords;
mod resolvers;
mod server;
mod stats;
mod words;

mod cond;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

pub use actions::error_page;
pub use checks::hex;
use keywords::WARNED;
use server::server_options;
use words::{number, parse_endpoint, words_env, Endpoint};
pub use words::{parse_time, words};

use super::{
    defaults,
    validate::{self, IpFamily, Site, SourceLines},
    Algorithm, CertKeyPair, Config, ConfigErrors, HealthCheck, HealthProtocol, Listener, ListenerTls, NamedTarget,
    Problem, Protocol, ProxyVersion, StatusMatcher, Stickiness, Target, TargetGroup,
};

/// Why a unix-socket server address (`unix@/path`, `/path`, `abns@name`) is refused.
pub const UNIX_REFUSED: &str = "unix-socket addresses are not supported: spillway's targets are TCP \
     addresses (its connection pool, health table, balancers and admin API key a target by IP:port); \
     give the target a TCP address";

/// A queue without `maxqueue` is unbounded in HAProxy; this stands for it.
pub const UNBOUNDED_QUEUE: u32 = 1_000_000;

/// How a read treats what the file alone does not decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// HAProxy's `-dr`: a server whose name does not resolve starts without an address (left
    /// out of its group until a reload resolves it) instead of failing the read.
    pub unresolved_down: bool,
}

/// What a read produced: the configuration and the notes on what was accepted without effect.
#[derive(Debug)]
pub struct Parsed {
    pub config: Config,
    pub notes: Vec<Problem>,
}

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
    /// The health-check lines (`checks.rs`).
    checks: checks::CheckLines,
    default_server: ServerOptions,
    /// `monitor-uri URI` and its line: a frontend answers HAProxy's 200 page there.
    monitor_uri: Option<(String, usize)>,
    /// `cookie NAME ...`: the backend's cookie stickiness (`cookie.rs`).
    cookie: Option<cookie::CookieLine>,
    /// `option allbackups`: every up backup server takes traffic, not only the first.
    all_backups: bool,
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
    /// `addr A`: the address checks go to instead of the server's.
    check_addr: Option<std::net::IpAddr>,
    /// `fastinter T` / `downinter T`.
    fast_inter: Option<Duration>,
    down_inter: Option<Duration>,
    /// `on-marked-down shutdown-sessions`.
    shutdown_sessions: bool,
    /// `cookie VALUE`: the stickiness cookie's value naming this server.
    cookie: Option<String>,
    /// `init-addr`: the methods tried in order for a server named by host.
    init_addr: Option<Vec<String>>,
    /// `resolve-prefer ipv4|ipv6`.
    prefer: Option<IpFamily>,
    /// `send-proxy` (v1) / `send-proxy-v2`.
    send_proxy: Option<ProxyVersion>,
    /// `check-send-proxy`: checks carry the PROXY header even with `port`.
    check_send_proxy: bool,
    /// `backup`: used only when no other server is up.
    backup: bool,
    /// `resolvers R`: the server's name is resolved again as section `R` says.
    resolvers: Option<String>,
}

#[derive(Debug, Clone)]
struct Server {
    name: String,
    /// `None`: the host name did not resolve and `init-addr none` or `-dr` started the server
    /// without an address.
    addr: Option<SocketAddr>,
    /// The host name and port, when the server was named by host.
    host: Option<(String, u16)>,
    options: ServerOptions,
    line: usize,
}

/// One address of a `bind` line.
#[derive(Debug, Clone)]
struct Bind {
    addr: SocketAddr,
    /// `ssl crt FILE`.
    crt: Option<PathBuf>,
    /// `accept-proxy`: connections start with a PROXY protocol header.
    accept_proxy: bool,
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
    binds: Vec<Bind>,
    default_backend: Option<(String, usize)>,
    servers: Vec<Server>,
    /// `stats enable` / `stats uri`: this proxy is HAProxy's stats page; spillway serves its
    /// admin API there.
    stats: bool,
    /// The page's settings (`stats uri/realm/auth/refresh/hide-version`, `stats.rs`).
    stats_page: super::StatsPage,
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
    /// A `resolvers` section, by index in `Reader::resolvers`.
    Resolvers(usize),
    Unsupported,
}

struct Reader {
    file: String,
    problems: Vec<Problem>,
    notes: Vec<Problem>,
    config: Config,
    defaults: Common,
    proxies: Vec<Proxy>,
    /// The `resolvers` sections, with their lines.
    resolvers: Vec<(resolvers::Resolvers, usize)>,
    lines: SourceLines,
    /// (first global line, label) of each file read: where a line of the concatenated text
    /// comes from.
    starts: Vec<(usize, String)>,
    options: Options,
    /// `setenv`/`presetenv` values, over the process environment, for `"$VAR"` expansion.
    env: HashMap<String, String>,
    /// Named `defaults NAME` sections, for `from NAME`.
    named_defaults: HashMap<String, Common>,
    /// The `defaults` section being read, when it has a name.
    defaults_name: Option<String>,
    /// `crt-base`: the directory of relative `crt` paths.
    crt_base: Option<PathBuf>,
    /// `default-path`: the directory other relative paths are read from (`None`: the current
    /// directory, HAProxy's `current`).
    default_path: Option<PathBuf>,
    /// The open `.if` blocks.
    conds: cond::Blocks,
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
    parse_files_with(files, Options::default())
}

/// [`parse_files`] with the command line's say (`-dr`).
pub fn parse_files_with(files: &[(String, String)], options: Options) -> Result<Parsed, ConfigErrors> {
    let mut text = String::new();
    // (first global line, label) of each file, to name the right file in messages.
    let mut starts = Vec::new();
    let mut line = 1;
    // The last line of each file that does not end with a newline.
    let mut unterminated = Vec::new();
    for (content, label) in files {
        starts.push((line, label.clone()));
        text.push_str(content);
        let count = content.lines().count().max(usize::from(!content.is_empty()));
        if !content.is_empty() && !content.ends_with('\n') {
            text.push('\n');
            unterminated.push(line + count - 1);
        }
        line += count;
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
            // A haproxy.cfg run opens only the sockets the file names: the admin API only on
            // a stats listener (`stats_page`).
            admin: super::Admin { listen: None, ..Default::default() },
            listeners: Vec::new(),
            target_groups: Vec::new(),
        },
        defaults: Common::default(),
        proxies: Vec::new(),
        resolvers: Vec::new(),
        lines: SourceLines::default(),
        starts: starts.clone(),
        options,
        env: HashMap::new(),
        named_defaults: HashMap::new(),
        defaults_name: None,
        crt_base: None,
        default_path: None,
        conds: cond::Blocks::default(),
    };
    for line in unterminated {
        r.note(
            line,
            "the file does not end with a newline (HAProxy 2.3+ refuses it as possibly truncated; spillway reads it)",
        );
    }
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

    /// The warning of a directive of [`WARNED`].
    fn warned(&mut self, d: &str, line: usize) {
        let why = WARNED.iter().find(|(k, _)| *k == d).map_or("no effect", |(_, why)| why);
        self.note(line, format!("{d}: {why}"));
    }

    /// The directory of the file this line is in (`default-path config`).
    fn config_dir(&self, line: usize) -> PathBuf {
        let (file, _) = self.locate(line);
        Path::new(&file).parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// A path as written, read from `default-path` when relative.
    fn path(&self, text: &str) -> PathBuf {
        match &self.default_path {
            Some(base) if Path::new(text).is_relative() => base.join(text),
            _ => PathBuf::from(text),
        }
    }

    /// A `crt` path: relative ones from `crt-base`, else from `default-path`.
    fn crt_path(&self, text: &str) -> PathBuf {
        match &self.crt_base {
            Some(base) if Path::new(text).is_relative() => base.join(text),
            _ => self.path(text),
        }
    }

    /// The file label and the line in that file of a line of the concatenated text.
    fn locate(&self, line: usize) -> (String, usize) {
        locate(&self.starts, line).unwrap_or_else(|| (self.file.clone(), line))
    }

    /// A variable's value for `"$VAR"`: `setenv`/`presetenv` lines, then the environment.
    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned().or_else(|| std::env::var(name).ok())
    }

    fn read(&mut self, text: &str) {
        let mut section = Section::None;
        let mut last = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            last = line;
            let w = match words_env(raw, &|name| self.var(name)) {
                Ok(w) if w.is_empty() => continue,
                Ok(w) => w,
                Err(e) => {
                    if self.conds.active() {
                        self.fail(line, e);
                    }
                    continue;
                }
            };
            // `.if`/`.elif`/`.else`/`.endif` and the messages: read before anything else, and
            // lines in a block whose condition fails are skipped.
            if w[0].starts_with('.') {
                if let Err(message) = self.directive(&w, line) {
                    self.fail(line, message);
                }
                continue;
            }
            if !self.conds.active() {
                continue;
            }
            if let Some(s) = self.section_start(&w, line) {
                section = s;
                continue;
            }
            let outcome = match section {
                Section::None => Err(format!("\"{}\" outside of any section", w[0])),
                Section::Unsupported => Ok(()),
                Section::Resolvers(r) => match resolvers::line(&mut self.resolvers[r].0, &w) {
                    Ok(Some(warning)) => {
                        self.note(line, warning);
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
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
        self.end_defaults();
        if let Some(open) = self.conds.unclosed() {
            self.fail(last.max(open), format!(".if at line {} has no .endif", self.locate(open).1));
        }
    }

    /// A line starting with a dot: conditional blocks and messages (`.notice` ...).
    fn directive(&mut self, w: &[String], line: usize) -> Result<(), String> {
        let active = self.conds.active();
        match w[0].as_str() {
            ".if" => {
                let holds = if active { cond::eval(&w[1..], &|n| self.var(n))? } else { false };
                self.conds.open(holds, line);
            }
            ".elif" => {
                let parent = self.conds.parent_active().ok_or(".elif without .if")?;
                let holds = if parent && !self.conds.taken() { cond::eval(&w[1..], &|n| self.var(n))? } else { false };
                self.conds.elif(holds)?;
            }
            ".else" => self.conds.otherwise()?,
            ".endif" => self.conds.close()?,
            ".notice" | ".warning" | ".diag" if active => {
                self.note(line, format!("{}: {}", &w[0][1..], w[1..].join(" ")))
            }
            ".alert" if active => return Err(format!("alert: {}", w[1..].join(" "))),
            ".notice" | ".warning" | ".diag" | ".alert" => {}
            d => return Err(format!("unknown directive \"{d}\"")),
        }
        Ok(())
    }

    /// Keeps a named `defaults` section for the proxies and defaults that name it in `from`.
    fn end_defaults(&mut self) {
        if let Some(name) = self.defaults_name.take() {
            self.named_defaults.insert(name, self.defaults.clone());
        }
    }

    /// The defaults a `from NAME` names, or an error naming it.
    fn named(&self, w: &[String]) -> Result<Option<Common>, String> {
        let Some(i) = w.iter().position(|x| x == "from") else { return Ok(None) };
        let name = w.get(i + 1).ok_or("from needs the name of a defaults section")?;
        if let Some(extra) = w.get(i + 2) {
            return Err(format!("{} {}: unexpected \"{extra}\"", w[0], w[1]));
        }
        self.named_defaults
            .get(name)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("from {name}: no defaults section of that name before this line"))
    }

    fn section_start(&mut self, w: &[String], line: usize) -> Option<Section> {
        let kind = match w[0].as_str() {
            "global" => {
                self.end_defaults();
                return Some(Section::Global);
            }
            "defaults" => {
                self.end_defaults();
                // A new defaults section starts from nothing (or from the one it names), as
                // in HAProxy; `defaults NAME` is kept for `from NAME`.
                let from = match self.named(w) {
                    Ok(from) => from,
                    Err(e) => {
                        self.fail(line, e);
                        None
                    }
                };
                self.defaults = from.unwrap_or_default();
                self.defaults_name = w.get(1).filter(|n| *n != "from").cloned();
                return Some(Section::Defaults);
            }
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            "listen" => Kind::Listen,
            "resolvers" => {
                self.end_defaults();
                let Some(name) = w.get(1) else {
                    self.fail(line, "resolvers needs a name");
                    return Some(Section::Unsupported);
                };
                if self.resolvers.iter().any(|r| &r.0.name == name) {
                    self.fail(line, format!("resolvers {name}: a section of that name exists already"));
                    return Some(Section::Unsupported);
                }
                self.resolvers
                    .push((resolvers::Resolvers { name: name.clone(), every: resolvers::DEFAULT_EVERY }, line));
                return Some(Section::Resolvers(self.resolvers.len() - 1));
            }
            "peers" | "userlist" | "program" | "cache" | "http-errors" | "mailers" | "ring" => {
                self.end_defaults();
                self.fail(line, format!("section \"{}\" is not supported", w[0]));
                return Some(Section::Unsupported);
            }
            _ => return None,
        };
        self.end_defaults();
        let Some(name) = w.get(1) else {
            self.fail(line, format!("{} needs a name", w[0]));
            return Some(Section::Unsupported);
        };
        let common = match self.named(w) {
            Ok(from) => from.unwrap_or_else(|| self.defaults.clone()),
            Err(e) => {
                self.fail(line, e);
                self.defaults.clone()
            }
        };
        if w.len() > 2 && w[2] != "from" {
            self.fail(line, format!("{} {name}: unexpected \"{}\"", w[0], w[2]));
        }
        self.proxies.push(Proxy {
            kind,
            name: name.clone(),
            line,
            common,
            binds: Vec::new(),
            default_backend: None,
            servers: Vec::new(),
            stats: false,
            stats_page: Default::default(),
            acls: acl::Acls::new(),
            rules: Vec::new(),
            switching: false,
        });
        Some(Section::Proxy(self.proxies.len() - 1))
    }

    /// A server named by host: HAProxy's `init-addr` methods in order (default `last,libc`):
    /// `last` (a state file: spillway keeps none, so it is skipped), `libc` (the system
    /// resolver, first address), `none` (start without an address), or an IP address. With
    /// none left, `-dr` starts the server without an address too; else the read fails.
    fn resolve_server(
        &mut self,
        server: &str,
        host: &str,
        port: u16,
        o: &ServerOptions,
        line: usize,
    ) -> Result<Option<SocketAddr>, String> {
        let default = ["last".to_string(), "libc".to_string()];
        let methods = o.init_addr.as_deref().unwrap_or(&default);
        let unresolved = |why: &str| {
            format!(
                "server {server}: cannot resolve \"{host}\": started without an address ({why}): \
                 it takes no traffic until its name resolves (a reload, or its resolvers section)"
            )
        };
        for m in methods {
            match m.as_str() {
                "last" => {}
                "libc" => {
                    if let Ok(addr) = validate::resolve_host(host, port, o.prefer) {
                        return Ok(Some(addr));
                    }
                }
                "none" => {
                    self.note(line, unresolved("init-addr none"));
                    return Ok(None);
                }
                ip => match ip.parse::<std::net::IpAddr>() {
                    Ok(ip) => return Ok(Some(SocketAddr::new(ip, port))),
                    Err(_) => {
                        return Err(format!(
                            "server {server}: init-addr {ip}: expected last, libc, none or an IP address"
                        ))
                    }
                },
            }
        }
        if self.options.unresolved_down {
            self.note(line, unresolved("-dr"));
            return Ok(None);
        }
        Err(format!("server {server}: cannot resolve \"{host}\""))
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
                let mut accept_proxy = false;
                let mut i = 2;
                while i < w.len() {
                    match w[i].as_str() {
                        "ssl" => {}
                        "accept-proxy" => accept_proxy = true,
                        // The bind line's name in HAProxy's stats: no effect here.
                        "name" => i += 1,
                        "crt" => {
                            i += 1;
                            crt = Some(self.crt_path(w.get(i).ok_or("crt needs a file")?));
                        }
                        "alpn" => {
                            i += 1;
                            self.note(line, format!("bind ... alpn {}: no effect (spillway negotiates http/1.1)", w.get(i).map_or("", String::as_str)));
                        }
                        "allow-0rtt" => self.note(line, "bind ... allow-0rtt: no effect (TLS early data is not accepted)"),
                        o @ ("maxconn" | "backlog" | "process" | "thread" | "nice" | "ssl-min-ver" | "ssl-max-ver" | "ciphers" | "ciphersuites" | "curves") => {
                            i += 1;
                            self.note(line, format!("bind ... {o}: no effect"));
                        }
                        o @ ("tfo" | "defer-accept" | "transparent" | "v4v6" | "v6only" | "no-sslv3" | "no-tlsv10" | "no-tlsv11" | "prefer-client-ciphers" | "strict-sni") => {
                            self.note(line, format!("bind ... {o}: no effect"))
                        }
                        o => {
                            return Err(format!(
                                "bind option \"{o}\" is not supported (supported: ssl crt FILE, name N, accept-proxy, and those accepted without effect: alpn, allow-0rtt, ...)"
                            ))
                        }
                    }
                    i += 1;
                }
                if w.iter().any(|x| x == "ssl") != crt.is_some() {
                    return Err("bind ... ssl needs crt FILE (and crt needs ssl)".into());
                }
                for a in addrs.split(',') {
                    let addr = match parse_endpoint(a, "bind")? {
                        Endpoint::Addr(addr) => addr,
                        Endpoint::Name(host, port) => {
                            validate::resolve_host(&host, port, None).map_err(|e| format!("bind: {e}"))?
                        }
                    };
                    self.proxies[p].binds.push(Bind { addr, crt: crt.clone(), accept_proxy, line });
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
                let server = &w[1];
                if addr.starts_with('/') || addr.starts_with("unix@") || addr.starts_with("abns@") {
                    return Err(format!("server {server}: {UNIX_REFUSED}"));
                }
                let endpoint = parse_endpoint(addr, "server")?;
                let mut options = self.proxies[p].common.default_server.clone();
                let (cookie, rest) =
                    cookie::split_server_words(&w[3..]).map_err(|e| format!("server {server}: {e}"))?;
                let notes = server_options(&mut options, &rest).map_err(|e| format!("server {server}: {e}"))?;
                options.cookie = cookie.or(options.cookie);
                for n in notes {
                    self.note(line, format!("server {server}: {n}"));
                }
                let (addr, host) = match endpoint {
                    Endpoint::Addr(addr) => (Some(addr), None),
                    Endpoint::Name(host, port) => {
                        (self.resolve_server(server, &host, port, &options, line)?, Some((host, port)))
                    }
                };
                if addr.is_some_and(|a| a.ip().is_unspecified() || a.port() == 0) {
                    return Err(format!("server {server}: needs a real address and port"));
                }
                self.proxies[p].servers.push(Server { name: server.clone(), addr, host, options, line });
            }
            "stats" => self.stats_line(p, w, line)?,
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
