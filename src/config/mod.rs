//! The configuration: one typed tree, every default in one place.
//!
//! Files are read by [`toml`] (the native format) or, later, `haproxy` (the cfg subset); both
//! produce this tree, and [`validate`] checks the rules that span fields (duplicate names,
//! missing groups, limits that make no sense) so that `spillway -c` can print *every* problem as
//! `FILE:LINE: message` instead of stopping at the first.
//!
//! Invariants a validated [`Config`] guarantees to the rest of the program:
//! - listener and target-group names are unique, and every `listener.target_group` names a group
//!   that exists (so [`Config::group_index`] never fails for a listener's group);
//! - every timeout is greater than zero; `threads`/`max_connections` are usable numbers;
//! - target addresses in a group are unique.

pub mod haproxy;
pub mod rules;
mod rules_check;
pub mod toml;
pub mod validate;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

/// The whole configuration, as the shards and the control thread see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub runtime: Runtime,
    pub admin: Admin,
    pub listeners: Vec<Listener>,
    pub target_groups: Vec<TargetGroup>,
}

/// `[runtime]`: how the process runs, not what it routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    /// Number of shards; 0 = one per CPU the process may run on (`sched_getaffinity`).
    pub threads: usize,
    /// Pin shard `i` to `cpus[i]` (or CPU `i` of the allowed set when `cpus` is empty).
    pub pin: bool,
    /// The CPUs the shards are pinned to, in shard order (`--cpus`); empty = the allowed set.
    pub cpus: Vec<usize>,
    pub driver: Driver,
    /// Global cap on client connections, counted across shards; at the cap accept pauses.
    pub max_connections: usize,
    /// Unix socket that hands listening sockets to a reloading process (empty = none).
    pub upgrade_socket: Option<PathBuf>,
    /// How long a graceful stop (SIGUSR1) lets sessions finish before closing them.
    pub drain_timeout: Duration,
    /// Forward layer-4 bytes with splice(2); `false` forces the user-space copy loop.
    pub splice: bool,
    /// HTTP sockets of an io_uring shard receive and send through the ring (multishot receives
    /// into a provided-buffer ring, sends batched into the shard's `io_uring_enter`, `ring.rs`);
    /// `false` keeps them on readiness and plain `recv`/`send`, as the epoll driver does.
    pub uring_data_path: bool,
    /// Run in the background (HAProxy's `daemon` in `global`; the command line's `-D`).
    pub daemon: bool,
    /// Where to write the pid (HAProxy's `pidfile`; the command line's `-p` wins).
    pub pidfile: Option<PathBuf>,
}

/// Which I/O driver each shard's runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring on the tuned ring where the kernel offers it, epoll otherwise (`shard/spawn.rs`).
    Auto,
    IoUring,
    Epoll,
}

/// `[admin]`: the admin API listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// Where the admin API listens; `None` (`listen = ""`) runs no admin API.
    pub listen: Option<SocketAddr>,
    /// When non-empty, mutations need `Authorization: Bearer TOKEN`.
    pub token: String,
    /// HAProxy's stats page, when a haproxy.cfg proxy declares one (`stats enable`, `stats uri`):
    /// the admin API serves it on that proxy's address.
    pub stats_page: Option<StatsPage>,
}

/// HAProxy's stats page: `GET <uri>` answers an HTML table of the figures, `<uri>;csv` the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsPage {
    /// HAProxy's default is `/haproxy?stats`; matched as a prefix of the request target.
    pub uri: String,
    /// The Basic realm asked for when `auth` is set.
    pub realm: String,
    /// `Refresh` for the HTML page.
    pub refresh: Option<Duration>,
    /// `user:password` pairs; when any, every request to the page (and the admin API beside it)
    /// needs one of them as Basic credentials.
    pub auth: Vec<String>,
    /// Leave spillway's version off the page.
    pub hide_version: bool,
}

impl Default for StatsPage {
    fn default() -> Self {
        StatsPage {
            uri: "/haproxy?stats".into(),
            realm: "HAProxy Statistics".into(),
            refresh: None,
            auth: Vec::new(),
            hide_version: false,
        }
    }
}

/// One `[[listener]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub bind: SocketAddr,
    pub protocol: Protocol,
    /// Name of the target group; validated to exist.
    pub target_group: String,
    /// Idle keep-alive connection / idle TCP session limit.
    pub idle_timeout: Duration,
    /// The whole request head must arrive within this (HTTP only): else 408.
    pub request_timeout: Duration,
    /// Idle limit of an upgraded (WebSocket) tunnel.
    pub tunnel_timeout: Duration,
    /// Certificates, for `https` listeners (required there, refused elsewhere).
    pub tls: Option<ListenerTls>,
    /// Listener rules (HTTP and HTTPS only): evaluated before the default `target_group`.
    pub rules: rules::Rules,
    /// Peers whose `X-Forwarded-For` is believed: for them a rule's `source_ip` is the first
    /// address of that header instead of the peer's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Every connection starts with a PROXY protocol header (v1 or v2, HAProxy's `bind ...
    /// accept-proxy`): the client address it names stands for the peer's everywhere; a
    /// connection without a valid one is closed.
    pub accept_proxy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Http,
    Https,
}

/// Certificates of an HTTPS listener; the first pair is the default when SNI matches none.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    pub certs: Vec<CertKeyPair>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertKeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `[[target_group]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroup {
    pub name: String,
    pub algorithm: Algorithm,
    /// 0 = unlimited; reaching it sends requests to the surge queue.
    pub max_connections_per_target: u32,
    /// Cap of the group's surge queue (summed over shards); 0 = spill over at once.
    pub surge_queue_length: u32,
    pub queue_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub deregistration_delay: Duration,
    /// All targets unhealthy: route to all of them.
    pub fail_open: bool,
    pub cross_zone: bool,
    /// This node's zone, used when `cross_zone = false`.
    pub zone: String,
    /// TLS to the targets.
    pub tls: Option<TargetTls>,
    pub targets: Vec<Target>,
    pub health_check: HealthCheck,
    /// Rules applied after a listener chose this group (haproxy.cfg `http-request` and
    /// `http-response` lines in a backend): header edits, redirects and fixed responses, never
    /// a forward.
    pub rules: rules::Rules,
    /// Target stickiness by cookie (ELB's `lb_cookie`/`app_cookie`, HAProxy's `cookie`); `None`
    /// costs nothing on the request path.
    pub stickiness: Option<Stickiness>,
    /// Write a PROXY protocol header first on every connection to a target (NLB's
    /// `proxy_protocol_v2`, HAProxy's `send-proxy`/`send-proxy-v2`). On an HTTP listener such a
    /// connection is private to the client connection it was made for (never pooled for
    /// another client): the header names one client.
    pub proxy_protocol: Option<ProxyVersion>,
    /// HAProxy's `option allbackups`: when no primary target is routable, every routable
    /// backup target takes traffic, not only the first.
    pub all_backups: bool,
    /// Targets named by host and resolved again in the background (HAProxy's `server ...
    /// resolvers R`; `control::resolver`).
    pub names: Vec<NamedTarget>,
}

/// A target named by host, resolved again every [`NamedTarget::every`] by the system resolver
/// off the shards; a new address is registered and the old one deregistered (drained) through
/// the same path as the admin API's.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTarget {
    pub host: String,
    pub port: u16,
    /// HAProxy's `resolve-prefer`.
    pub prefer: Option<IpFamily>,
    /// Between two resolutions (the `resolvers` section's `timeout resolve`).
    pub every: Duration,
    /// The target as registered (weight, zone, cookie, backup); its `addr` is the one the read
    /// of the file resolved when `resolved`.
    pub target: Target,
    /// false: the name did not resolve when the file was read (`init-addr none`, `-dr`); the
    /// target joins the group once it does.
    pub resolved: bool,
}

pub use validate::IpFamily;

pub use crate::proxy_protocol::Version as ProxyVersion;

/// Target stickiness: a cookie names the target that served a client, and the next request
/// carrying it goes to that target while it is routable (healthy or initial, not draining, not
/// at its cap); otherwise the algorithm picks, and the response names the new target.
#[derive(Debug, Clone, PartialEq)]
pub struct Stickiness {
    /// The cookie's name: `AWSALB` (`lb_cookie`), `AWSALBAPP-0` (`app_cookie`), or HAProxy's.
    pub cookie: String,
    /// Whether spillway sets the cookie (ELB, HAProxy `insert`), or only reads the one the
    /// application sets itself (HAProxy's `cookie NAME` without a mode).
    pub insert: bool,
    /// ELB's `app_cookie`: spillway's cookie is set on the responses that set this one.
    pub app_cookie: Option<String>,
    /// `Max-Age` of the cookie; `None`: a session cookie (HAProxy's).
    pub max_age: Option<Duration>,
    /// Set the cookie on every response (ELB renews its expiry), or only when the client's
    /// cookie did not name the target that answered (HAProxy).
    pub renew: bool,
    /// HAProxy `indirect`: the cookie is removed from the request sent to the target.
    pub indirect: bool,
    /// HAProxy `nocache`: a cacheable response that sets the cookie gets `Cache-Control: private`.
    pub nocache: bool,
    /// HAProxy `postonly`: the cookie is set on responses to POST only.
    pub postonly: bool,
    /// Attributes after `; path=/`, each written as `; ATTR` (`HttpOnly`, `Secure`, `domain=D`).
    pub attributes: Vec<String>,
    /// A target without a [`Target::cookie`] gets a value derived from its address (ELB); else
    /// it is never sticky and a response from it deletes the cookie (HAProxy).
    pub derive_values: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
    LeastConnections,
    FlowHash,
    RandomTwo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetTls {
    /// Check the target's certificate (against `ca`, or the system's roots without one).
    pub verify: bool,
    /// PEM file of the CA certificates that sign the targets' certificates.
    pub ca: Option<PathBuf>,
    /// The name sent as SNI and checked in the certificate; empty: the target's IP address.
    pub server_name: String,
}

/// One target of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub addr: SocketAddr,
    pub weight: u32,
    pub zone: String,
    /// The group stickiness cookie's value naming this target (HAProxy's `server ... cookie V`);
    /// empty: see [`Stickiness::derive_values`].
    pub cookie: String,
    /// HAProxy's `backup`: takes traffic only while no primary (non-backup) target of the group
    /// is routable; then the first routable backup, or all of them with
    /// [`TargetGroup::all_backups`].
    pub backup: bool,
}

/// `[target_group.health_check]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// `false`: the targets are not checked and count as healthy (HAProxy's `server` without
    /// `check`); only draining takes them out of rotation.
    pub enabled: bool,
    pub protocol: HealthProtocol,
    pub path: String,
    /// 0 = the target's own port.
    pub port: u16,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: StatusMatcher,
    /// HTTP and HTTPS checks start with a PROXY header of this version naming no client (v1
    /// `UNKNOWN`, v2 `LOCAL`), for targets that refuse connections without one (HAProxy's
    /// `send-proxy` without `port`, or `check-send-proxy`; NLB with proxy protocol on). A TCP
    /// check only connects, so it sends nothing.
    pub proxy_protocol: Option<ProxyVersion>,
    /// HTTP checks: what is sent beyond `path` and what else a good answer must show.
    pub http: HttpCheck,
    /// A TCP check's conversation (HAProxy's `tcp-check` rules, TOML's `tcp_check`); empty =
    /// the handshake alone.
    pub script: Vec<CheckStep>,
    /// `mysql` and `pgsql` checks: the user to log in as (no password). `mysql` without one
    /// only reads the server's greeting.
    pub user: String,
    /// `smtp` checks: the greeting command sent after the server's banner.
    pub smtp_hello: String,
    /// Between checks while a target is between verdicts (a run of results that has not
    /// flipped it yet); `None` = `interval`. HAProxy's `fastinter`.
    pub fast_interval: Option<Duration>,
    /// Between checks while a target is unhealthy; `None` = `interval`. HAProxy's `downinter`.
    pub down_interval: Option<Duration>,
    /// Where the checks of some targets go instead of the target's address (haproxy.cfg's
    /// per-server `check port N addr A`), by target address. Kept here, not on the target, so
    /// that a change restarts the checks like any other change of the check.
    pub check_addrs: Vec<(SocketAddr, SocketAddr)>,
    /// A target judged unhealthy has its idle pooled connections closed (HAProxy's
    /// `on-marked-down shutdown-sessions`).
    pub shutdown_sessions: bool,
}

/// What a health check speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthProtocol {
    /// The handshake, or the `script` when there is one.
    Tcp,
    Http,
    Https,
    /// The server's greeting, then (with `user`) a login without password answered by OK.
    Mysql,
    /// A StartupMessage for `user` answered by an authentication request.
    Pgsql,
    /// `PING` answered by `+PONG`.
    Redis,
    /// A 2xx banner, `smtp_hello` answered by 2xx, `QUIT`.
    Smtp,
    /// A TLS ClientHello answered by a ServerHello.
    SslHello,
}

/// The HTTP request a check sends and the extra condition on its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub method: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Extra request headers; a `Host` here replaces the default one.
    pub headers: Vec<(String, String)>,
    /// When set, replaces the status `matcher` as the verdict.
    pub expect: Option<HttpExpect>,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck { method: "GET".into(), version: "HTTP/1.1".into(), headers: Vec::new(), expect: None }
    }
}

/// HAProxy's `http-check expect [!] status|rstatus|string|rstring VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExpect {
    /// `!`: the check passes when the condition does *not* hold.
    pub negate: bool,
    pub what: HttpMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMatch {
    Status(StatusMatcher),
    /// A regular expression over the status code's three digits.
    RStatus(String),
    /// The body contains this text.
    String(String),
    /// A regular expression over the body.
    RString(String),
}

/// One step of a TCP check's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStep {
    /// (Re)connect, to `port` of the check address (0 = the check's port).
    Connect { port: u16 },
    /// Send these bytes (what was received so far is forgotten).
    Send(Vec<u8>),
    /// Wait until what was received matches (or, with `negate`, does not).
    Expect { negate: bool, pattern: ExpectPattern },
}

/// What a [`CheckStep::Expect`] looks for in the bytes received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectPattern {
    /// These bytes, anywhere (`string`, `binary`).
    Bytes(Vec<u8>),
    /// A regular expression over the bytes (`rstring`), validated when read.
    Regex(String),
}

/// Which HTTP status codes count as a healthy answer: `"200"`, `"200-299"`, `"200,302"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMatcher {
    /// Inclusive ranges; a single code is a range of one.
    pub ranges: Vec<(u16, u16)>,
}

impl StatusMatcher {
    pub fn matches(&self, status: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= status && status <= hi)
    }
}

/// Every default of the configuration, in one place. The TOML and HAProxy readers start from
/// these and override what the file says.
pub mod defaults {
    use super::*;

    /// The longest duration any setting accepts: longer ones are typing mistakes, and the
    /// runtime's timers cannot represent arbitrarily distant deadlines.
    pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

    pub const THREADS: usize = 0;
    pub const PIN: bool = true;
    pub const DRIVER: Driver = Driver::Auto;
    pub const URING_DATA_PATH: bool = true;
    pub const MAX_CONNECTIONS: usize = 100_000;
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
    pub const SPLICE: bool = true;

    pub const ADMIN_LISTEN: &str = "127.0.0.1:9900";

    pub const PROTOCOL: Protocol = Protocol::Http;
    /// Elastic Load Balancing's default idle timeout.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// HAProxy's `timeout http-request` role.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const TUNNEL_TIMEOUT: Duration = Duration::from_secs(3600);

    pub const ALGORITHM: Algorithm = Algorithm::RoundRobin;
    pub const MAX_CONNECTIONS_PER_TARGET: u32 = 0;
    /// Classic ELB's surge queue cap.
    pub const SURGE_QUEUE_LENGTH: u32 = 1024;
    pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Elastic Load Balancing's default deregistration delay.
    pub const DEREGISTRATION_DELAY: Duration = Duration::from_secs(300);
    pub const FAIL_OPEN: bool = true;
    pub const CROSS_ZONE: bool = true;
    pub const WEIGHT: u32 = 1;
    pub const MAX_WEIGHT: u32 = 256;
    /// ELB's stickiness durations, target group (`stickiness`) and rule group stickiness
    /// alike: 1 second to 7 days.
    pub const STICKINESS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));
    /// Verify the targets' certificates when a group has `tls = { ... }` without `verify`.
    pub const TARGET_TLS_VERIFY: bool = true;

    /// A TCP handshake: it works for any target, where an HTTP path would need the target to
    /// serve it. Set `protocol = "http"` to check a ping path as Classic ELB does.
    pub const HEALTH_ENABLED: bool = true;
    pub const HEALTH_PROTOCOL: HealthProtocol = HealthProtocol::Tcp;
    /// Classic ELB's default ping path.
    pub const HEALTH_PATH: &str = "/index.html";
    pub const HEALTH_PORT: u16 = 0;
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
    pub const HEALTHY_THRESHOLD: u32 = 10;
    pub const UNHEALTHY_THRESHOLD: u32 = 2;
    pub const MATCHER: &str = "200";
    /// HAProxy's `option smtpchk` without arguments.
    pub const SMTP_HELLO: &str = "HELO localhost";
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            threads: defaults::THREADS,
            pin: defaults::PIN,
            cpus: Vec::new(),
            driver: defaults::DRIVER,
            max_connections: defaults::MAX_CONNECTIONS,
            upgrade_socket: None,
            drain_timeout: defaults::DRAIN_TIMEOUT,
            splice: defaults::SPLICE,
            uring_data_path: defaults::URING_DATA_PATH,
            daemon: false,
            pidfile: None,
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: Some(defaults::ADMIN_LISTEN.parse().expect("default admin address parses")),
            token: String::new(),
            stats_page: None,
        }
    }
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: defaults::HEALTH_ENABLED,
            protocol: defaults::HEALTH_PROTOCOL,
            path: defaults::HEALTH_PATH.to_string(),
            port: defaults::HEALTH_PORT,
            interval: defaults::HEALTH_INTERVAL,
            timeout: defaults::HEALTH_TIMEOUT,
            healthy_threshold: defaults::HEALTHY_THRESHOLD,
            unhealthy_threshold: defaults::UNHEALTHY_THRESHOLD,
            matcher: StatusMatcher { ranges: vec![(200, 200)] },
            proxy_protocol: None,
            http: HttpCheck::default(),
            script: Vec::new(),
            user: String::new(),
            smtp_hello: defaults::SMTP_HELLO.to_string(),
            fast_interval: None,
            down_interval: None,
            check_addrs: Vec::new(),
            shutdown_sessions: false,
        }
    }
}

impl HealthCheck {
    /// Where the checks of the target at `target` go: a per-target address, or the target's
    /// address with the check's `port`.
    pub fn check_addr(&self, target: SocketAddr) -> SocketAddr {
        if let Some((_, to)) = self.check_addrs.iter().find(|(t, _)| *t == target) {
            return *to;
        }
        match self.port {
            0 => target,
            port => SocketAddr::new(target.ip(), port),
        }
    }
}

impl Stickiness {
    /// ELB's cookie names for `lb_cookie` and `app_cookie` stickiness.
    pub const LB_COOKIE: &'static str = "AWSALB";
    pub const APP_COOKIE: &'static str = "AWSALBAPP-0";

    /// ELB's stickiness: `lb_cookie` (cookie `AWSALB`), or `app_cookie` following the
    /// application's cookie `app_cookie` (cookie `AWSALBAPP-0`); set by spillway, renewed on
    /// every response, valid for `duration`.
    pub fn elb(app_cookie: Option<String>, duration: Duration) -> Stickiness {
        Stickiness {
            cookie: if app_cookie.is_some() { Self::APP_COOKIE } else { Self::LB_COOKIE }.to_string(),
            insert: true,
            app_cookie,
            max_age: Some(duration),
            renew: true,
            indirect: false,
            nocache: false,
            postonly: false,
            attributes: Vec::new(),
            derive_values: true,
        }
    }
}

impl TargetGroup {
    /// A group with every default and the given targets (used by the demo, tests and readers).
    pub fn with_defaults(name: &str, targets: Vec<Target>) -> Self {
        TargetGroup {
            name: name.to_string(),
            algorithm: defaults::ALGORITHM,
            max_connections_per_target: defaults::MAX_CONNECTIONS_PER_TARGET,
            surge_queue_length: defaults::SURGE_QUEUE_LENGTH,
            queue_timeout: defaults::QUEUE_TIMEOUT,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            response_timeout: defaults::RESPONSE_TIMEOUT,
            deregistration_delay: defaults::DEREGISTRATION_DELAY,
            fail_open: defaults::FAIL_OPEN,
            cross_zone: defaults::CROSS_ZONE,
            zone: String::new(),
            tls: None,
            targets,
            health_check: HealthCheck::default(),
            rules: rules::Rules::default(),
            stickiness: None,
            proxy_protocol: None,
            all_backups: false,
            names: Vec::new(),
        }
    }
}

impl Listener {
    /// A listener with every default (used by the demo, tests and readers).
    pub fn with_defaults(name: &str, bind: SocketAddr, protocol: Protocol, group: &str) -> Self {
        Listener {
            name: name.to_string(),
            bind,
            protocol,
            target_group: group.to_string(),
            idle_timeout: defaults::IDLE_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            tunnel_timeout: defaults::TUNNEL_TIMEOUT,
            tls: None,
            rules: rules::Rules::default(),
            trusted_proxies: Vec::new(),
            accept_proxy: false,
        }
    }
}

impl Target {
    pub fn new(addr: SocketAddr) -> Self {
        Target { addr, weight: defaults::WEIGHT, zone: String::new(), cookie: String::new(), backup: false }
    }
}

impl Config {
    /// Reads and validates a configuration file: `.toml` is the native format, anything else is
    /// read as an HAProxy configuration. Notes (HAProxy directives accepted without effect) are
    /// logged as warnings.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let (config, notes) = Config::load_files(std::slice::from_ref(&path.to_path_buf()))?;
        for n in notes {
            tracing::warn!("{n}");
        }
        Ok(config)
    }

    /// Reads one or more files (HAProxy merges repeated `-f` in order; the native format takes
    /// one file) and answers the configuration with the notes on what was accepted without
    /// effect.
    pub fn load_files(paths: &[PathBuf]) -> Result<(Config, Vec<Problem>), ConfigErrors> {
        Config::load_files_with(paths, haproxy::Options::default())
    }

    /// [`Config::load_files`] with the command line's say on what the file leaves open
    /// (`-dr`: servers whose names do not resolve start without an address). Host names are
    /// resolved here, in the load path (start, `-c`, SIGHUP), never on a shard.
    pub fn load_files_with(
        paths: &[PathBuf],
        options: haproxy::Options,
    ) -> Result<(Config, Vec<Problem>), ConfigErrors> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigErrors::single(path.display().to_string(), 0, format!("cannot read: {e}")))?;
            files.push((text, path.display().to_string()));
        }
        let toml_files = paths.iter().filter(|p| p.extension().is_some_and(|e| e == "toml")).count();
        match (toml_files, files.len()) {
            (0, _) => haproxy::parse_files_with(&files, options).map(|p| (p.config, p.notes)),
            (1, 1) => toml::parse(&files[0].0, &files[0].1).map(|c| (c, Vec::new())),
            _ => Err(ConfigErrors::single(
                files[0].1.clone(),
                0,
                "several -f files are merged only for HAProxy configurations; give one .toml file".into(),
            )),
        }
    }

    /// The index of the target group with this name.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.target_groups.iter().position(|g| g.name == name)
    }
}

/// One problem in a configuration file, located at a line (1-based; 0 = the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found in a configuration, in file order. Displayed one `FILE:LINE: message`
/// per line, which is what `spillway -c` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    pub fn single(file: String, line: usize, message: String) -> Self {
        ConfigErrors { problems: vec![Problem { file, line, message }] }
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
