//! From the sections read to the model: proxies become listeners and target groups, with
//! HAProxy's defaults where the file says nothing.

use std::{net::SocketAddr, time::Duration};

use super::{
    actions::{Phase, Step},
    defaults,
    validate::RuleOwner,
    Algorithm, CertKeyPair, HealthCheck, HealthProtocol, Kind, Listener, ListenerTls, Mode, NamedTarget, Protocol,
    Proxy, Reader, Server, Site, StatusMatcher, Target, TargetGroup, UNBOUNDED_QUEUE,
};

impl Reader {
    /// Turns the proxies into listeners and groups.
    pub(super) fn build(&mut self) {
        let proxies = std::mem::take(&mut self.proxies);
        // Groups first (backends and listens), so listeners can name them.
        for p in proxies.iter().filter(|p| p.kind != Kind::Frontend && !p.stats) {
            let g = self.config.target_groups.len();
            let mut group = self.group(p, g);
            if p.kind == Kind::Backend {
                // A listen's rules are its listener's: HAProxy runs them once.
                let (rules, request, response) = self.proxy_rules(p, false);
                self.rule_lines(RuleOwner::Group(g), &request, &response);
                group.rules = rules;
            }
            self.config.target_groups.push(group);
        }
        for p in proxies.iter().filter(|p| p.kind != Kind::Backend) {
            if p.stats {
                self.stats_page(p);
                continue;
            }
            let tcp_default = self.tcp_use_backend(p);
            let p = tcp_default.as_ref().unwrap_or(p);
            // Without default_backend, the first use_backend's backend stands for the default;
            // the rules end with HAProxy's 503 for the requests no use_backend takes.
            let first_switch = p.rules.iter().find_map(|s| match (&s.phase, &s.step) {
                (Phase::Switch, Step::Act(crate::config::rules::Action::Forward(f))) => {
                    f.groups.first().map(|(g, _)| (g.clone(), s.line))
                }
                _ => None,
            });
            let (group, group_line) = match (&p.kind, &p.default_backend, first_switch) {
                (Kind::Listen, _, _) => (p.name.clone(), None),
                (_, Some((b, l)), _) => (b.clone(), Some(*l)),
                (_, None, Some((b, l))) => (b, Some(l)),
                // A refused use_backend was reported at its line.
                (_, None, None) if p.switching => continue,
                (_, None, None) => {
                    self.fail(p.line, format!("frontend {}: no default_backend", p.name));
                    continue;
                }
            };
            let (rules, request_lines, response_lines) = self.proxy_rules(p, true);
            if p.binds.is_empty() {
                self.fail(p.line, format!("{} has no bind line", p.name));
            }
            for (k, bind) in p.binds.iter().enumerate() {
                let (addr, crt, line) = (&bind.addr, &bind.crt, &bind.line);
                let i = self.config.listeners.len();
                let name = if k == 0 { p.name.clone() } else { format!("{}#{}", p.name, k + 1) };
                let protocol = match (p.common.mode.unwrap_or(Mode::Tcp), crt) {
                    (_, Some(_)) => Protocol::Https,
                    (Mode::Http, None) => Protocol::Http,
                    (Mode::Tcp, None) => Protocol::Tcp,
                };
                if crt.is_some() && p.common.mode != Some(Mode::Http) {
                    self.fail(*line, "bind ... ssl needs mode http (TLS is terminated for HTTP only)");
                }
                let mut l = Listener::with_defaults(&name, *addr, protocol, &group);
                let t = &p.common.timeouts;
                if let Some(d) = t.http_keep_alive.or(t.client) {
                    l.idle_timeout = d;
                }
                if let Some(d) = t.http_request.or(t.client) {
                    l.request_timeout = d;
                }
                if let Some(d) = t.tunnel {
                    l.tunnel_timeout = d;
                }
                l.accept_proxy = bind.accept_proxy;
                l.tls =
                    crt.as_ref().map(|f| ListenerTls { certs: vec![CertKeyPair { cert: f.clone(), key: f.clone() }] });
                self.lines.set(Site::Listener(i, ""), *line);
                self.lines.set(Site::Listener(i, "bind"), *line);
                if let Some(dl) = group_line {
                    self.lines.set(Site::Listener(i, "target_group"), dl);
                }
                l.rules = rules.clone();
                self.rule_lines(RuleOwner::Listener(i), &request_lines, &response_lines);
                self.config.listeners.push(l);
            }
        }
    }

    /// `use_backend NAME` without a condition in a `mode tcp` frontend: it takes every
    /// connection, which is what a default backend is (a TCP listener has no rules). Answers the
    /// proxy with it as its `default_backend` and no rules, when every switching line is so.
    fn tcp_use_backend(&mut self, p: &Proxy) -> Option<Proxy> {
        if p.common.mode.unwrap_or(Mode::Tcp) != Mode::Tcp || p.rules.is_empty() {
            return None;
        }
        let all_plain = p.rules.iter().all(|s| s.phase == Phase::Switch && s.cond.is_none());
        let (first, line) = p.rules.iter().find_map(|s| match &s.step {
            Step::Act(crate::config::rules::Action::Forward(f)) => f.groups.first().map(|(g, _)| (g.clone(), s.line)),
            _ => None,
        })?;
        if !all_plain {
            return None;
        }
        if let Some((b, l)) = &p.default_backend {
            let (_, l) = self.locate(*l);
            self.note(line, format!("use_backend {first} without a condition takes every connection: default_backend {b} (line {l}) is never used"));
        }
        let mut q = p.clone();
        q.default_backend = Some((first, line));
        q.rules.clear();
        Some(q)
    }

    /// A `listen` with `stats enable`: spillway's admin API answers there (`/stats;csv`,
    /// `/stats`, `/metrics`), on loopback.
    fn stats_page(&mut self, p: &Proxy) {
        let Some(bind) = p.binds.first() else { return };
        let (mut addr, line) = (bind.addr, &bind.line);
        if !addr.ip().is_loopback() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            self.note(
                *line,
                format!("{}: the stats page is served by spillway's admin API on {addr} (loopback only)", p.name),
            );
        } else {
            self.note(*line, format!("{}: the stats page is served by spillway's admin API on {addr}", p.name));
        }
        self.config.admin.listen = Some(addr);
        self.config.admin.stats_page = Some(p.stats_page.clone());
        self.lines.set(Site::Admin("listen"), *line);
    }

    fn group(&mut self, p: &Proxy, g: usize) -> TargetGroup {
        let mut group = TargetGroup::with_defaults(&p.name, Vec::new());
        self.lines.set(Site::Group(g, ""), p.line);
        self.lines.set(Site::Group(g, "name"), p.line);
        let c = &p.common;
        group.algorithm = c.balance.unwrap_or(Algorithm::RoundRobin);
        // HAProxy answers 503 when every server is down.
        group.fail_open = false;
        let t = &c.timeouts;
        if let Some(d) = t.connect {
            group.connect_timeout = d;
        }
        if let Some(d) = t.server {
            group.response_timeout = d;
        }
        if let Some(d) = t.queue.or(t.connect) {
            group.queue_timeout = d;
        }
        let mut caps: Vec<u32> = Vec::new();
        let mut queue_sum: u64 = 0;
        let mut unbounded = false;
        // The server that made each target: two servers on one address share it.
        let mut made_by: Vec<&Server> = Vec::new();
        for s in &p.servers {
            let o = &s.options;
            let weight = if o.disabled { 0 } else { o.weight.unwrap_or(defaults::WEIGHT) };
            // `resolvers R`: the name is resolved again in the background.
            if let (Some((host, port)), Some(section)) = (&s.host, &s.options.resolvers) {
                match self.resolvers.iter().find(|(r, _)| &r.name == section) {
                    Some((r, _)) => group.names.push(NamedTarget {
                        host: host.clone(),
                        port: *port,
                        prefer: o.prefer,
                        every: r.every,
                        target: Target {
                            addr: s.addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], *port))),
                            weight,
                            zone: String::new(),
                            cookie: o.cookie.clone().unwrap_or_default(),
                            backup: o.backup,
                        },
                        resolved: s.addr.is_some(),
                    }),
                    None => self.fail(s.line, format!("server {}: resolvers {section}: no such section", s.name)),
                }
            }
            // A server without an address (init-addr none, -dr) is no target until it
            // resolves (a reload, or its `resolvers`): the model keys targets by address.
            let Some(addr) = s.addr else { continue };
            if let Some(k) = group.targets.iter().position(|t| t.addr == addr) {
                // HAProxy allows two servers on one address; spillway's targets are keyed by
                // address, so they become one target carrying both weights.
                let t = &mut group.targets[k];
                let sum = t.weight.saturating_add(weight).min(defaults::MAX_WEIGHT);
                self.note(
                    s.line,
                    format!(
                        "server {} has the address of server {} (line {}): one target {addr} of weight {} \
                         ({} + {}{})",
                        s.name,
                        made_by[k].name,
                        self.locate(made_by[k].line).1,
                        sum,
                        t.weight,
                        weight,
                        if sum < t.weight + weight { ", capped at 256" } else { "" }
                    ),
                );
                t.weight = sum;
            } else {
                let k = group.targets.len();
                group.targets.push(Target {
                    addr,
                    weight,
                    zone: String::new(),
                    cookie: o.cookie.clone().unwrap_or_default(),
                    backup: o.backup,
                });
                made_by.push(s);
                self.lines.set(Site::Target(g, k, ""), s.line);
                self.lines.set(Site::Target(g, k, "addr"), s.line);
                self.lines.set(Site::Target(g, k, "weight"), s.line);
            }
            if let Some(m) = o.maxconn.filter(|&m| m > 0) {
                caps.push(m);
                match o.maxqueue {
                    Some(q) if q > 0 => queue_sum += u64::from(q),
                    _ => unbounded = true,
                }
            }
        }
        if let Some(&cap) = caps.iter().max() {
            if caps.iter().any(|&c| c != cap) {
                self.note(
                    p.line,
                    format!("backend {}: servers have different maxconn; spillway has one per group: {cap}", p.name),
                );
            }
            group.max_connections_per_target = cap;
            group.surge_queue_length =
                if unbounded { UNBOUNDED_QUEUE } else { queue_sum.min(u64::from(UNBOUNDED_QUEUE)) as u32 };
        }
        group.health_check = self.health(p);
        group.stickiness = self.stickiness(c.cookie.as_ref());
        group.all_backups = c.all_backups;
        group.proxy_protocol = self.send_proxy(p);
        group
    }

    /// The backend's `send-proxy`/`send-proxy-v2`: spillway writes the header per backend, so
    /// servers that differ in it are refused (a server that does not expect the header would
    /// read it as its client's first bytes, one that expects it would close).
    fn send_proxy(&mut self, p: &Proxy) -> Option<crate::config::ProxyVersion> {
        let first = p.servers.first()?;
        for s in &p.servers[1..] {
            if s.options.send_proxy != first.options.send_proxy {
                let word = |v: Option<crate::config::ProxyVersion>| match v {
                    None => "no send-proxy",
                    Some(crate::config::ProxyVersion::V1) => "send-proxy",
                    Some(crate::config::ProxyVersion::V2) => "send-proxy-v2",
                };
                let (_, first_line) = self.locate(first.line);
                self.fail(
                    s.line,
                    format!(
                        "server {}: {} but server {} (line {first_line}) has {}: spillway sends the PROXY \
                         protocol per backend; give every server of backend {} the same",
                        s.name,
                        word(s.options.send_proxy),
                        first.name,
                        word(first.options.send_proxy),
                        p.name
                    ),
                );
                break;
            }
        }
        first.options.send_proxy
    }

    /// The group's check: the type and conversation of the section's check lines
    /// (`checks.rs`), the timing of the first checked server (one per group: a note when
    /// servers differ), and where each server's checks go (`check port N addr A`).
    fn health(&mut self, p: &Proxy) -> HealthCheck {
        let checked: Vec<&Server> = p.servers.iter().filter(|s| s.options.check).collect();
        let first = checked.first().map(|s| &s.options);
        let interval = first.and_then(|o| o.inter).unwrap_or(Duration::from_secs(2));
        let timeout =
            p.common.timeouts.check.or(p.common.timeouts.connect).filter(|t| *t < interval).unwrap_or(interval / 2);
        let differ = |f: fn(&super::ServerOptions) -> Option<Duration>| {
            checked.iter().any(|s| f(&s.options) != first.and_then(f))
        };
        if differ(|o| o.inter) || differ(|o| o.fast_inter) || differ(|o| o.down_inter) {
            self.note(
                p.line,
                format!("backend {}: servers check at different intervals; spillway uses one per group", p.name),
            );
        }
        // HAProxy: checks carry the PROXY header when the server sends it and the check has no
        // port of its own, or with check-send-proxy (v1 unless the server sends v2).
        let proxy_protocol = first.and_then(|o| match (o.send_proxy, o.check_send_proxy) {
            (Some(v), _) if o.check_send_proxy || (o.port.is_none() && o.check_addr.is_none()) => Some(v),
            (None, true) => Some(crate::config::ProxyVersion::V1),
            _ => None,
        });
        let c = &p.common.checks;
        if c.script_line.is_some() && !c.tcp_check {
            let line = c.script_line.unwrap_or(p.line);
            self.note(line, "tcp-check rules without option tcp-check: no effect (as in HAProxy)");
        }
        let mut hc = HealthCheck {
            proxy_protocol,
            enabled: !checked.is_empty(),
            protocol: c.kind.unwrap_or(HealthProtocol::Tcp),
            path: c.path.clone().unwrap_or_else(|| "/".into()),
            port: 0,
            interval,
            timeout,
            healthy_threshold: first.and_then(|o| o.rise).unwrap_or(2),
            unhealthy_threshold: first.and_then(|o| o.fall).unwrap_or(3),
            matcher: c.status.clone().unwrap_or(StatusMatcher { ranges: vec![(200, 399)] }),
            http: c.http.clone(),
            script: if c.tcp_check { c.script.clone() } else { Vec::new() },
            user: c.user.clone(),
            fast_interval: first.and_then(|o| o.fast_inter),
            down_interval: first.and_then(|o| o.down_inter),
            check_addrs: Vec::new(),
            shutdown_sessions: checked.iter().any(|s| s.options.shutdown_sessions),
            ..HealthCheck::default()
        };
        if let Some(hello) = &c.smtp_hello {
            hc.smtp_hello = hello.clone();
        }
        for s in &checked {
            if let Some(to) = s.addr.and_then(|a| super::checks::check_target(&s.options, a).map(|to| (a, to))) {
                if !hc.check_addrs.iter().any(|(a, _)| *a == to.0) {
                    hc.check_addrs.push(to);
                }
            }
        }
        hc
    }
}
