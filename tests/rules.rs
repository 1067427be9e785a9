//! Listener rules on real sockets: spillway started with rules, real backends (one per target
//! group, so the backend that counts a request says which group it went to), real clients.
//! The rules here are built in code; the readers' own tests cover the file syntax.

mod common;

use std::{
    io::{BufReader, Write},
    net::TcpStream,
    sync::atomic::Ordering,
    time::Duration,
};

use common::{http_backend::*, on_both_drivers, *};
use spillway::{
    config::{
        rules::{
            Action, Condition, Fetch, FixedResponse, Forward, HeaderEdit, HeaderOp, Match, Redirect, RedirectTo, Rule,
            Template, Test,
        },
        Config, Driver, Protocol, Target, TargetGroup,
    },
    Server, StartOptions,
};

/// Groups `g` (the listener's default), `api`, `blue`, `green`, each over its own backend.
struct Setup {
    server: Server,
    backends: Vec<(&'static str, HttpBackend)>,
}

const GROUPS: [&str; 4] = ["g", "api", "blue", "green"];

fn config_with(driver: Driver, rules: Vec<Rule>) -> (Config, Vec<(&'static str, HttpBackend)>) {
    let backends: Vec<_> = GROUPS.iter().map(|g| (*g, http_backend())).collect();
    let mut config = tcp_config(&[backends[0].1.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    config.listeners[0].rules.request = rules;
    for (name, b) in &backends[1..] {
        let mut group = TargetGroup::with_defaults(name, vec![Target::new(b.addr)]);
        group.health_check.enabled = false;
        config.target_groups.push(group);
    }
    (config, backends)
}

fn start(driver: Driver, rules: Vec<Rule>) -> Setup {
    let (config, backends) = config_with(driver, rules);
    Setup { server: Server::start(config, StartOptions::default()).unwrap(), backends }
}

impl Setup {
    fn connect(&self) -> (TcpStream, BufReader<TcpStream>) {
        let s = TcpStream::connect(self.server.listener_addr("l4").unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let r = BufReader::new(s.try_clone().unwrap());
        (s, r)
    }

    /// Requests served by each group's backend so far.
    fn counts(&self) -> Vec<usize> {
        self.backends.iter().map(|(_, b)| b.seen.requests.load(Ordering::SeqCst)).collect()
    }

    /// Sends `request` on a new connection; answers (status, head, body) and the group whose
    /// backend took it (None: no backend saw it).
    fn send(&self, request: &str) -> (u16, String, Vec<u8>, Option<&'static str>) {
        let before = self.counts();
        let (mut s, mut r) = self.connect();
        s.write_all(request.as_bytes()).unwrap();
        let (status, head, body) = read_response(&mut r).unwrap();
        let after = self.counts();
        let went = (0..GROUPS.len()).find(|&i| after[i] > before[i]).map(|i| GROUPS[i]);
        (status, head, body, went)
    }

    fn group_for(&self, request: &str) -> Option<&'static str> {
        let (status, head, _, went) = self.send(request);
        assert_eq!(status, 200, "{head}");
        went
    }
}

fn test(fetch: Fetch, matcher: Match, ignore_case: bool, patterns: &[&str]) -> Condition {
    Condition::Test(Test { fetch, matcher, ignore_case, patterns: patterns.iter().map(|p| p.to_string()).collect() })
}

fn host(patterns: &[&str]) -> Condition {
    test(Fetch::HostName, Match::Glob, true, patterns)
}

fn path(patterns: &[&str]) -> Condition {
    test(Fetch::Path, Match::Glob, false, patterns)
}

fn rule(priority: u32, condition: Condition, action: Action) -> Rule {
    Rule { priority, label: format!("priority {priority}"), condition, action }
}

fn forward(group: &str) -> Action {
    Action::Forward(Forward { groups: vec![(group.into(), 1)], stickiness: None })
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

on_both_drivers!(
    conditions_route_to_their_groups_in_priority_order,
    conditions_route_to_their_groups_in_priority_order
);
fn conditions_route_to_their_groups_in_priority_order(driver: Driver) {
    let setup = start(
        driver,
        vec![
            rule(5, Condition::All(vec![host(&["*.example.com"]), path(&["/v1/*"])]), forward("api")),
            rule(10, path(&["/static/*", "*.png"]), forward("blue")),
            rule(20, test(Fetch::FullHeader("X-Canary".into()), Match::Glob, true, &["yes", "1"]), forward("green")),
            rule(30, test(Fetch::Method, Match::Str, false, &["DELETE"]), forward("blue")),
            rule(40, test(Fetch::Query, Match::QueryPair, true, &["version=v?"]), forward("api")),
            rule(50, test(Fetch::SourceIp, Match::Ip, false, &["192.0.2.0/24"]), forward("green")),
        ],
    );
    // Host: case-insensitive, wildcard, port ignored; and the path.
    assert_eq!(setup.group_for(&get("/v1/users", "API.Example.com:8080")), Some("api"));
    // Same path, host that does not match: the next rule that holds.
    assert_eq!(setup.group_for(&get("/v1/users", "example.org")), Some("g"));
    assert_eq!(setup.group_for(&get("/static/a.css", "x")), Some("blue"));
    assert_eq!(setup.group_for(&get("/img/logo.png?x=1", "x")), Some("blue"), "the path without the query");
    assert_eq!(setup.group_for(&get("/STATIC/a.css", "x")), Some("g"), "paths are case-sensitive");
    assert_eq!(setup.group_for("GET / HTTP/1.1\r\nHost: x\r\nx-canary: YES\r\n\r\n"), Some("green"));
    assert_eq!(setup.group_for("DELETE /thing HTTP/1.1\r\nHost: x\r\n\r\n"), Some("blue"));
    assert_eq!(setup.group_for(&get("/q?a=1&VERSION=v2", "x")), Some("api"));
    assert_eq!(setup.group_for(&get("/q?version=v10", "x")), Some("g"));
    // The peer is 127.0.0.1: the source-ip rule does not hold.
    assert_eq!(setup.group_for(&get("/", "x")), Some("g"));
}

on_both_drivers!(
    a_lower_priority_number_wins_even_when_listed_later,
    a_lower_priority_number_wins_even_when_listed_later
);
fn a_lower_priority_number_wins_even_when_listed_later(driver: Driver) {
    // The TOML reader sorts by priority; the model is the order of evaluation. Listed in file
    // order 20 then 10, the reader gives [10, 20], and the request goes by 10.
    let text = format!(
        "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\ntarget_group = \"g\"\n\
         [[listener.rule]]\npriority = 20\nconditions = {{ path_pattern = [\"/a/*\"] }}\naction = {{ type = \"forward\", target_group = \"blue\" }}\n\
         [[listener.rule]]\npriority = 10\nconditions = {{ path_pattern = [\"/a/*\"] }}\naction = {{ type = \"forward\", target_group = \"api\" }}\n{}",
        GROUPS.iter().map(|g| format!("[[target_group]]\nname = \"{g}\"\n")).collect::<String>()
    );
    let parsed = spillway::config::toml::parse(&text, "t.toml").expect("a valid file");
    let rules = parsed.listeners[0].rules.request.clone();
    assert_eq!(rules.iter().map(|r| r.priority).collect::<Vec<_>>(), vec![10, 20]);
    let setup = start(driver, rules);
    assert_eq!(setup.group_for(&get("/a/x", "h")), Some("api"));
}

#[test]
fn weighted_forward_keeps_its_shares_and_stickiness_holds_a_client() {
    let weighted = Action::Forward(Forward {
        groups: vec![("blue".into(), 90), ("green".into(), 10)],
        stickiness: Some(Duration::from_secs(3600)),
    });
    let setup = start(Driver::Auto, vec![rule(1, path(&["/app/*"]), weighted)]);
    let (mut s, mut r) = setup.connect();
    let before = setup.counts();
    let mut cookies = std::collections::HashSet::new();
    for _ in 0..10_000 {
        s.write_all(get("/app/x", "h").as_bytes()).unwrap();
        let (status, head, _) = read_response(&mut r).unwrap();
        assert_eq!(status, 200);
        let cookie = head.lines().find(|l| l.starts_with("Set-Cookie: AWSALBTG=")).expect("a stickiness cookie");
        cookies.insert(cookie.to_string());
    }
    let after = setup.counts();
    let (blue, green) = (after[2] - before[2], after[3] - before[3]);
    assert_eq!(blue + green, 10_000);
    assert!((8_550..=9_450).contains(&blue), "blue got {blue} of 10000 (90% ± 5%)");
    assert_eq!(cookies.len(), 2, "one cookie value per group: {cookies:?}");
    // A client that carries the green cookie stays on green.
    let green_cookie = cookies
        .iter()
        .map(|c| c.trim_start_matches("Set-Cookie: ").split(';').next().unwrap().to_string())
        .find(|c| {
            let (mut s, mut r) = setup.connect();
            let before = setup.counts()[3];
            write!(s, "GET /app/y HTTP/1.1\r\nHost: h\r\nCookie: {c}\r\n\r\n").unwrap();
            read_response(&mut r).unwrap();
            setup.counts()[3] > before
        })
        .expect("one of the two cookies names green");
    let before = setup.counts();
    for _ in 0..50 {
        write!(s, "GET /app/z HTTP/1.1\r\nHost: h\r\nCookie: other=1; {green_cookie}\r\n\r\n").unwrap();
        let (status, head, _) = read_response(&mut r).unwrap();
        assert_eq!(status, 200, "{head}");
        assert!(head.contains(&format!("Set-Cookie: {green_cookie};")), "renewed: {head}");
    }
    assert_eq!(setup.counts()[3] - before[3], 50, "every request of the sticky client went to green");
}

#[test]
fn redirects_answer_with_each_placeholder_filled() {
    let parts = |protocol: &str, host: &str, port: &str, path: &str, query: &str| {
        Action::Redirect(Redirect {
            status: 301,
            to: RedirectTo::Parts {
                protocol: protocol.into(),
                host: host.into(),
                port: port.into(),
                path: path.into(),
                query: query.into(),
            },
        })
    };
    let setup = start(
        Driver::Auto,
        vec![
            rule(1, path(&["/secure/*"]), parts("HTTPS", "#{host}", "443", "/#{path}", "#{query}")),
            rule(2, path(&["/old/*"]), parts("#{protocol}", "new.#{host}", "#{port}", "/new/#{path}", "from=#{query}")),
            rule(
                3,
                path(&["/legacy"]),
                Action::Redirect(Redirect {
                    status: 302,
                    to: RedirectTo::Scheme { scheme: "https".into(), drop_query: true },
                }),
            ),
        ],
    );
    let port = setup.server.listener_addr("l4").unwrap().port();
    let location = |request: &str| {
        let (status, head, body, went) = setup.send(request);
        assert_eq!(went, None, "a redirect reaches no target");
        assert!(body.is_empty());
        let location = head.lines().find_map(|l| l.strip_prefix("Location: ")).unwrap_or_default().to_string();
        (status, location)
    };
    assert_eq!(location(&get("/secure/a?b=1", "shop.example:8080")), (301, "https://shop.example/secure/a?b=1".into()));
    // The listener's port as bound here is 0 (tests bind port 0), so #{port} is 0.
    let (status, loc) = location(&get("/old/x/y?k=v", "ex.com"));
    assert_eq!(status, 301);
    assert!(
        loc == "http://new.ex.com:0/new/old/x/y?from=k=v" || loc.ends_with(&format!(":{port}/new/old/x/y?from=k=v")),
        "{loc}"
    );
    assert_eq!(location(&get("/legacy?q=1", "ex.com:80")), (302, "https://ex.com/legacy".into()));
}

on_both_drivers!(
    fixed_responses_keep_the_connection_and_header_edits_apply,
    fixed_responses_keep_the_connection_and_header_edits_apply
);
fn fixed_responses_keep_the_connection_and_header_edits_apply(driver: Driver) {
    let edit = |op: HeaderOp, name: &str, value: &str| {
        Action::Header(HeaderEdit { op, name: name.into(), value: Template::parse_haproxy(value).unwrap() })
    };
    let (mut config, backends) = config_with(
        driver,
        vec![
            rule(1, Condition::Always, edit(HeaderOp::Set, "X-Client", "%[src] via %[req.hdr(host)]")),
            rule(2, Condition::Always, edit(HeaderOp::Del, "X-Secret", "")),
            rule(3, path(&["/echo-head"]), edit(HeaderOp::Add, "X-Added", "1")),
            rule(
                4,
                path(&["/maintenance/*"]),
                Action::Fixed(FixedResponse {
                    status: 503,
                    content_type: "text/plain".into(),
                    body: "down for maintenance".into(),
                    monitor: false,
                }),
            ),
            rule(5, Condition::Always, edit(HeaderOp::Set, "X-After-Fixed", "1")),
        ],
    );
    config.listeners[0].rules.response = vec![
        rule(1, test(Fetch::Status, Match::Int, false, &["200-299"]), edit(HeaderOp::Set, "X-Served-By", "spillway")),
        rule(2, Condition::Always, edit(HeaderOp::Del, "Server", "")),
    ];
    let setup = Setup { server: Server::start(config, StartOptions::default()).unwrap(), backends };
    let (mut s, mut r) = setup.connect();
    for _ in 0..3 {
        write!(s, "GET /maintenance/x HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let (status, head, body) = read_response(&mut r).unwrap();
        assert_eq!((status, body.as_slice()), (503, &b"down for maintenance"[..]), "{head}");
        assert!(head.contains("Content-Type: text/plain\r\n") && !head.contains("Connection: close"), "{head}");
    }
    assert_eq!(setup.counts().iter().sum::<usize>(), 0, "fixed responses reach no target");
    // The same connection goes on to a forwarded request, with the edits applied.
    write!(s, "GET /echo-head HTTP/1.1\r\nHost: h.example\r\nX-Client: forged\r\nX-Secret: s\r\n\r\n").unwrap();
    let (status, head, body) = read_response(&mut r).unwrap();
    assert_eq!(status, 200);
    let seen = String::from_utf8(body).unwrap();
    assert!(seen.contains("X-Client: 127.0.0.1 via h.example\r\n"), "{seen}");
    assert!(!seen.contains("forged") && !seen.contains("X-Secret"), "{seen}");
    assert!(seen.contains("X-Added: 1\r\n") && seen.contains("X-After-Fixed: 1\r\n"), "{seen}");
    assert!(head.contains("X-Served-By: spillway\r\n"), "{head}");
    // A response rule on the status: a 404 does not get it.
    write!(s, "GET /status?code=404 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut r).unwrap();
    assert_eq!(status, 404);
    assert!(!head.contains("X-Served-By"), "{head}");
    // The figures: the maintenance rule matched 3 times; fixed responses counted.
    let figures = setup.server.snapshot();
    let rules = &figures.listener("l4").unwrap().rules;
    assert_eq!(rules.fixed_responses, 3);
    let matched = |label: &str| rules.matches.iter().find(|m| m.rule == label).map(|m| m.matched);
    assert_eq!(matched("priority 4"), Some(3));
    assert_eq!(matched("priority 1"), Some(5), "an edit that holds counts as a match");
    // The same figures in the admin API.
    let stats = common::admin::stats(&setup.server);
    let listener = &stats["listeners"]["l4"];
    assert_eq!(listener["HTTP_Fixed_Response_Count"], 3, "{stats}");
    assert!(listener["RuleEvaluations"].as_u64().unwrap() >= 5 * 4, "{stats}");
    let (status, metrics) = common::admin::admin(&setup.server, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(metrics.contains("spillway_rule_matches_total{listener=\"l4\",rule=\"priority 4\"} 3"), "{metrics}");
    assert!(metrics.contains("spillway_fixed_responses_total{listener=\"l4\"} 3"), "{metrics}");
}

#[test]
fn a_reload_changes_the_rules_while_requests_flow() {
    let (config, backends) = config_with(Driver::Auto, vec![rule(1, path(&["/x/*"]), forward("api"))]);
    let mut config = config;
    config.runtime.threads = 2;
    let mut setup = Setup { server: Server::start(config, StartOptions::default()).unwrap(), backends };
    assert_eq!(setup.group_for(&get("/x/1", "h")), Some("api"));
    // A client keeps sending while the rules change under it.
    let addr = setup.server.listener_addr("l4").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flow = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            while !stop.load(Ordering::SeqCst) {
                w.write_all(get("/x/flow", "h").as_bytes()).unwrap();
                statuses.push(read_response(&mut r).unwrap().0);
                sent.fetch_add(1, Ordering::SeqCst);
            }
            statuses
        })
    };
    assert!(wait_until(Duration::from_secs(5), || sent.load(Ordering::SeqCst) >= 20));
    let mut next = (*setup.server.config()).clone();
    next.listeners[0].rules.request = vec![rule(1, path(&["/x/*"]), forward("green"))];
    setup.server.update_groups(next).unwrap();
    assert!(wait_until(Duration::from_secs(5), || setup.send(&get("/x/2", "h")).3 == Some("green")));
    let at_reload = sent.load(Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || sent.load(Ordering::SeqCst) >= at_reload + 20));
    stop.store(true, Ordering::SeqCst);
    let statuses = flow.join().unwrap();
    assert!(statuses.len() >= 40 && statuses.iter().all(|&s| s == 200), "{} requests: {statuses:?}", statuses.len());
    for _ in 0..10 {
        assert_eq!(setup.group_for(&get("/x/3", "h")), Some("green"));
    }
    // A reload whose rule names a missing group is refused as a whole; the rules stay.
    let mut bad = (*setup.server.config()).clone();
    bad.listeners[0].rules.request = vec![rule(1, path(&["/x/*"]), forward("nope"))];
    assert!(spillway::config::validate::check(&bad, &Default::default(), "t", spillway::config::validate::Files::Skip)
        .iter()
        .any(|p| p.message.contains("target group \"nope\" does not exist")));
    assert_eq!(setup.group_for(&get("/x/4", "h")), Some("green"));
}

/// Writes the TOML file the binary tests run: listener `l4` on `port` (0: the kernel picks),
/// groups over `backends`, one rule sending `/a/*` to `rule_group`, and an upgrade socket next
/// to the file, so that `-sf` passes the listening socket over (without one, connections queued
/// at the old process when it closes are reset: docs/operations.md).
fn write_rules_file(path: &std::path::Path, backends: &[(&str, HttpBackend)], port: u16, rule_group: &str) {
    let groups: String = backends
        .iter()
        .map(|(g, b)| format!("[[target_group]]\nname = \"{g}\"\ntargets = [{{ addr = \"{}\" }}]\nhealth_check = {{ enabled = false }}\n", b.addr))
        .collect();
    std::fs::write(
        path,
        format!(
            "[runtime]\nthreads = 1\npin = false\ndrain_timeout = \"10s\"\nupgrade_socket = \"{}\"\n[admin]\nlisten = \"\"\n[[listener]]\nname = \"l4\"\n\
             bind = \"127.0.0.1:{port}\"\ntarget_group = \"g\"\n[[listener.rule]]\npriority = 1\n\
             conditions = {{ path_pattern = [\"/a/*\"] }}\naction = {{ type = \"forward\", target_group = \"{rule_group}\" }}\n{groups}",
            path.with_extension("sock").display()
        ),
    )
    .unwrap()
}

/// The group whose backend answered one `GET /a/x` on a new connection to `addr` (counted by
/// the heads each backend saw, so other requests running meanwhile do not blur it).
fn went_by_file(addr: std::net::SocketAddr, backends: &[(&'static str, HttpBackend)]) -> Option<&'static str> {
    let counts = || {
        backends
            .iter()
            .map(|(_, b)| b.seen.heads.lock().unwrap().iter().filter(|h| h.starts_with("GET /a/x ")).count())
            .collect::<Vec<_>>()
    };
    let before = counts();
    let got = raw_exchange(addr, b"GET /a/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    let after = counts();
    (0..backends.len()).find(|&i| after[i] > before[i]).map(|i| backends[i].0)
}

/// The spillway binary started on a TOML file; SIGHUP re-reads it. A file whose rule is wrong
/// is refused as a whole and the running rules go on; a good one replaces them.
#[test]
fn sighup_with_a_bad_rule_keeps_the_old_rules_running() {
    let backends: Vec<_> = GROUPS.iter().map(|g| (*g, http_backend())).collect();
    let path = std::env::temp_dir().join(format!("spillway-rules-{}.toml", std::process::id()));
    write_rules_file(&path, &backends, 0, "api");
    let (mut child, addr) = spawn_on_file(&path);
    let went = || went_by_file(addr, &backends);
    let hup = || {
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(went(), Some("api"));
        write_rules_file(&path, &backends, addr.port(), "nope");
        hup();
        // Given time to (not) apply it: every request still goes by the old rule.
        for _ in 0..20 {
            assert_eq!(went(), Some("api"), "a refused reload changed the rules");
            std::thread::sleep(Duration::from_millis(25));
        }
        write_rules_file(&path, &backends, addr.port(), "green");
        hup();
        assert!(wait_until(Duration::from_secs(5), || went() == Some("green")), "the good file was not applied");
    }));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("sock"));
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

/// HAProxy's seamless reload, `spillway -f FILE -sf OLDPID`, with a file whose rule now sends
/// `/a/*` elsewhere, while a client opens a new connection per request: the new process takes
/// the listener over and routes by the new rule, no request is refused, reset or answered with
/// anything but 200, and the old process drains and exits 0.
#[test]
fn an_sf_reload_changes_the_rules_while_requests_flow() {
    let backends: Vec<_> = GROUPS.iter().map(|g| (*g, http_backend())).collect();
    let path = std::env::temp_dir().join(format!("spillway-rules-sf-{}.toml", std::process::id()));
    write_rules_file(&path, &backends, 0, "api");
    let (mut old, addr) = spawn_on_file(&path);
    let mut new: Option<std::process::Child> = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(went_by_file(addr, &backends), Some("api"));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flow = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failures) = (0usize, Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let got = raw_exchange(
                        addr,
                        b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                        Duration::from_secs(5),
                    );
                    if got.starts_with(b"HTTP/1.1 200") {
                        ok += 1;
                    } else {
                        failures.push(String::from_utf8_lossy(&got[..got.len().min(80)]).into_owned());
                    }
                }
                (ok, failures)
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        write_rules_file(&path, &backends, addr.port(), "green");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_spillway"))
            .arg("-f")
            .arg(&path)
            .args(["-sf", &old.id().to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        new = Some(child);
        assert!(
            wait_until(Duration::from_secs(10), || went_by_file(addr, &backends) == Some("green")),
            "the new process never routed by the new rule"
        );
        let mut exit = None;
        assert!(
            wait_until(Duration::from_secs(15), || {
                exit = old.try_wait().unwrap();
                exit.is_some()
            }),
            "the old process did not exit after -sf"
        );
        assert_eq!(exit.and_then(|s| s.code()), Some(0), "the old process exits 0");
        // Every request from here on is the new process's, by the new rule.
        for _ in 0..10 {
            assert_eq!(went_by_file(addr, &backends), Some("green"));
        }
        stop.store(true, Ordering::SeqCst);
        let (ok, failures) = flow.join().unwrap();
        assert!(
            failures.is_empty(),
            "{} of {} requests failed across the reload: {failures:?}",
            failures.len(),
            ok + failures.len()
        );
        assert!(ok >= 20, "too little traffic across the reload: {ok}");
    }));
    for child in [Some(&mut old), new.as_mut()].into_iter().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("sock"));
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
