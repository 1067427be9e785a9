//! The HAProxy configuration reader on a corpus (tests/haproxy/): files that load map to the
//! expected configuration, files that do not fail with `FILE:LINE: message` for every problem.

use std::{net::SocketAddr, path::PathBuf, process::Command, time::Duration};

use spillway::config::{haproxy, Algorithm, Config, HealthProtocol, Protocol};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy").join(name)
}

fn load(name: &str) -> (Config, Vec<String>) {
    let (config, notes) = Config::load_files(&[corpus(name)]).unwrap_or_else(|e| panic!("{name}:\n{e}"));
    (config, notes.iter().map(|n| format!("{}: {}", n.line, n.message)).collect())
}

/// Loads a corpus file that must be refused; checks that every `expected` problem (`LINE:
/// message`) is among those reported, all in that file; returns them all.
fn refused(name: &str, expected: &[&str]) -> Vec<String> {
    let err = Config::load_files(&[corpus(name)]).unwrap_err();
    assert!(err.problems.iter().all(|p| p.file.ends_with(name)), "{err}");
    let found: Vec<String> = err.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect();
    for e in expected {
        assert!(found.iter().any(|f| f == e), "missing {e:?} in\n{}", found.join("\n"));
    }
    found
}

fn problems(text: &str) -> Vec<String> {
    match haproxy::parse(text, "x.cfg") {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect(),
    }
}

#[test]
fn a_performance_test_configuration_maps_to_the_model() {
    let (c, notes) = load("perf-http.cfg");
    assert_eq!(c.runtime.max_connections, 20_000);
    assert_eq!(c.runtime.threads, 2);
    assert_eq!(c.runtime.cpus, vec![0, 1]);
    assert_eq!(c.runtime.upgrade_socket, Some(PathBuf::from("/tmp/spillway-test-haproxy.sock")));
    assert_eq!(c.admin.listen, Some("127.0.0.1:18404".parse().unwrap()), "the stats page hosts the admin API");

    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert_eq!((l.name.as_str(), l.bind, l.protocol), ("web", "127.0.0.1:18080".parse().unwrap(), Protocol::Http));
    assert_eq!(l.target_group, "app");
    assert_eq!((l.idle_timeout, l.request_timeout), (Duration::from_secs(10), Duration::from_secs(5)));

    let g = &c.target_groups[0];
    assert_eq!(g.name, "app");
    assert_eq!(g.algorithm, Algorithm::LeastConnections);
    assert!(!g.fail_open, "HAProxy answers 503 when every server is down");
    assert_eq!((g.max_connections_per_target, g.surge_queue_length), (50, 200));
    assert_eq!(
        (g.connect_timeout, g.response_timeout, g.queue_timeout),
        (Duration::from_secs(2), Duration::from_secs(30), Duration::from_secs(3))
    );
    let weights: Vec<u32> = g.targets.iter().map(|t| t.weight).collect();
    assert_eq!(weights, vec![1, 2, 0], "disabled = weight 0");
    let hc = &g.health_check;
    assert!(hc.enabled);
    assert_eq!((hc.protocol, hc.path.as_str()), (HealthProtocol::Http, "/health"));
    assert_eq!((hc.interval, hc.healthy_threshold, hc.unhealthy_threshold), (Duration::from_secs(1), 3, 2));
    assert!(hc.matcher.matches(200) && !hc.matcher.matches(302));

    for line in ["8: log: no effect", "10: tune.bufsize: no effect", "14: option httplog: no effect"] {
        assert!(notes.iter().any(|n| n == line), "missing note {line:?} in {notes:?}");
    }
}

#[test]
fn a_layer_4_listen_section_maps_to_a_listener_and_a_group() {
    let (c, notes) = load("tcp.cfg");
    let l = &c.listeners[0];
    assert_eq!((l.bind, l.protocol, l.target_group.as_str()), ("0.0.0.0:15432".parse().unwrap(), Protocol::Tcp, "db"));
    assert_eq!(l.idle_timeout, Duration::from_secs(60));
    let g = &c.target_groups[0];
    assert_eq!(g.algorithm, Algorithm::FlowHash);
    assert_eq!(g.connect_timeout, Duration::from_millis(5000), "a time without a unit is in milliseconds");
    assert_eq!(g.targets[1].addr, "[2001:db8::2]:5432".parse::<SocketAddr>().unwrap());
    assert_eq!(g.max_connections_per_target, 0);
    let hc = &g.health_check;
    assert_eq!(
        (hc.protocol, hc.interval, hc.healthy_threshold, hc.unhealthy_threshold),
        (HealthProtocol::Tcp, Duration::from_secs(2), 1, 1)
    );
    assert!(hc.timeout < hc.interval);
    assert_eq!(notes, vec!["8: option splice-auto: no effect"]);
}

/// From HAProxy's own repository (examples/tcp-splicing-sample.cfg, haproxy/haproxy commit
/// 6d1a988): a configuration of the 1.3 era. Every directive spillway cannot honour is named.
#[test]
fn an_old_haproxy_example_is_refused_line_by_line() {
    let found = refused(
        "haproxy-examples-tcp-splicing-sample.cfg",
        &[
            "32: clitimeout was removed from HAProxy (2.1): write \"timeout client\"",
            "35: unsupported directive \"reqisetbe\"",
        ],
    );
    assert!(!found.iter().any(|f| f.starts_with("54:")), "old `redispatch` is accepted without effect: {found:?}");
    // `option httpclose` and `minconn` are accepted with a warning (tests/haproxy_dropin.rs).
    assert!(!found.iter().any(|f| f.starts_with("28:") || f.contains("\"minconn\"")), "{found:?}");
    assert!(!found.iter().any(|f| f.starts_with("30:")), "monitor-uri is understood: {found:?}");
    assert!(!found.iter().any(|f| f.starts_with("69:")), "cookie stickiness is understood: {found:?}");
}

#[test]
fn each_mistake_is_named_at_its_line() {
    let base = "defaults\n  mode http\n  timeout connect 1s\nbackend b\n  server s 127.0.0.1:81\n";
    let cases: [(&str, &str); 10] = [
        ("frontend f\n  bind 127.0.0.1:80\n", "6: frontend f: no default_backend"),
        ("frontend f\n  bind \"127.0.0.1:80\n", "7: unterminated double quote"),
        (
            "backend c\n  server s app.spillway-test.invalid:80\n",
            "7: server s: cannot resolve \"app.spillway-test.invalid\"",
        ),
        ("backend c\n  timeout server 5x\n", "7: invalid time \"5x\": units are us, ms, s, m, h, d"),
        ("peers p\n", "6: section \"peers\" is not supported"),
        ("frontend f\n  bind 127.0.0.1:80\n  use_backend b if x\n", "8: no such ACL: \"x\""),
        (
            "backend c\n  balance uri\n",
            "7: balance uri: supported are roundrobin, static-rr, leastconn, source, random",
        ),
        ("maxconn 10\n", "1: \"maxconn\" outside of any section"),
        ("backend c\n  server s 127.0.0.1:82 check rise\n", "7: server s: rise needs a value"),
        (
            "frontend f\n  bind 127.0.0.1:80 ssl\n  default_backend b\n",
            "7: bind ... ssl needs crt FILE (and crt needs ssl)",
        ),
    ];
    for (extra, expected) in cases {
        let text = if extra.starts_with("maxconn") { format!("{extra}{base}") } else { format!("{base}{extra}") };
        let found = problems(&text);
        assert!(found.iter().any(|f| f == expected), "{extra:?}: expected {expected:?}, got {found:?}");
    }
    // A listener naming a backend that does not exist is the model's own rule, at the right line.
    let found = problems("frontend f\n  bind 127.0.0.1:80\n  default_backend nope\n");
    assert!(found.iter().any(|f| f.starts_with("3: ") && f.contains("\"nope\" does not exist")), "{found:?}");
}

#[test]
fn words_are_split_and_unquoted_as_haproxy_does() {
    assert_eq!(haproxy::words("  server a 1.2.3.4:80   # comment").unwrap(), vec!["server", "a", "1.2.3.4:80"]);
    assert_eq!(haproxy::words(r#"x "a b\" c" 'd e' f\ g"#).unwrap(), vec!["x", "a b\" c", "d e", "f g"]);
    assert_eq!(haproxy::words("   # only a comment").unwrap(), Vec::<String>::new());
    assert!(haproxy::words("x 'open").is_err());
    assert_eq!(haproxy::parse_time("150us").unwrap(), Duration::from_micros(150));
    assert_eq!(haproxy::parse_time("2d").unwrap(), Duration::from_secs(172_800));
    assert!(haproxy::parse_time("31d").is_err());
}

#[test]
fn repeated_files_merge_in_order_and_name_their_own_lines() {
    let dir = std::env::temp_dir().join(format!("spillway-haproxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.cfg"), dir.join("b.cfg"));
    std::fs::write(&a, "defaults\n  mode http\nbackend app\n  server s 127.0.0.1:81\n").unwrap();
    std::fs::write(&b, "frontend web\n  bind 127.0.0.1:18081\n  default_backend app\n").unwrap();
    let (c, _) = Config::load_files(&[a.clone(), b.clone()]).unwrap();
    assert_eq!((c.listeners[0].protocol, c.listeners[0].target_group.as_str()), (Protocol::Http, "app"));
    std::fs::write(&b, "frontend web\n  bind 127.0.0.1:18081\n  bogus on\n  default_backend app\n").unwrap();
    let err = Config::load_files(&[a, b.clone()]).unwrap_err();
    let p = &err.problems[0];
    assert_eq!((p.file.as_str(), p.line), (b.display().to_string().as_str(), 3), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dash_c_says_valid_or_lists_every_problem() {
    let bin = env!("CARGO_BIN_EXE_spillway");
    let ok = Command::new(bin).arg("-c").arg("-f").arg(corpus("tcp.cfg")).output().unwrap();
    assert!(ok.status.success());
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "Configuration file is valid\n");
    assert!(String::from_utf8_lossy(&ok.stderr).contains("tcp.cfg:8: option splice-auto: no effect"));
    let bad =
        Command::new(bin).arg("-c").arg("-f").arg(corpus("haproxy-examples-tcp-splicing-sample.cfg")).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.lines().count() >= 10 && err.contains("tcp-splicing-sample.cfg:65: "), "{err}");
}

/// From HAProxy's repository (examples/basic-config-edge.cfg, haproxy/haproxy commit 3ce3959):
/// a modern edge configuration. What spillway does not do (caching) is refused line by line;
/// what it maps (`default-path`, `.if` blocks, cookies) or accepts with a warning
/// (`compression`) is not complained of.
#[test]
fn a_modern_haproxy_example_is_refused_only_where_it_needs_more_than_the_subset() {
    let found = refused(
        "haproxy-examples-basic-config-edge.cfg",
        &[
        "96: http-request action \"cache-use\" is not supported (supported: redirect, return, deny, allow, set-header, add-header, del-header)",
        "97: http-response action \"cache-store\" is not supported (supported: set-header, add-header, del-header)",
        "103: section \"cache\" is not supported",
        ],
    );
    // The global section (daemon, pidfile, stats socket expose-fd, ssl defaults), the named
    // defaults, the stats frontend and the bind lines are understood. (Line 70's `ssl crt
    // pub1.pem` is read as a file, which this test does not have: that is its only complaint.)
    // Its redirect to HTTPS and its header rules (80, 81, 88) are content switching spillway maps.
    // Its cookie stickiness (121, 128-131) is mapped.
    for line in [23, 24, 31, 38, 44, 62, 69, 70, 80, 81, 88, 121, 124, 125, 128, 129, 130, 131] {
        let complaints: Vec<_> = found.iter().filter(|f| f.starts_with(&format!("{line}: "))).collect();
        let only_the_missing_file = complaints.iter().all(|f| f.contains("pub1.pem: cannot read the file"));
        assert!(only_the_missing_file, "line {line} refused: {found:?}");
    }
}

// ---- Content switching (tests/haproxy/rules/): each file is `haproxy -c`-valid; these
// tests check what spillway's reader makes of it, rule by rule.

mod rules_corpus {
    use super::*;
    use spillway::config::{
        haproxy::error_page,
        rules::{
            Action, Condition as C, Fetch as F, FixedResponse, Forward, HeaderEdit, HeaderOp, Match as M, Piece,
            Redirect, RedirectTo, Rule, Template, Test,
        },
    };

    fn load_rules(name: &str) -> Config {
        load(&format!("rules/{name}")).0
    }

    fn t(fetch: F, matcher: M, ignore_case: bool, patterns: &[&str]) -> C {
        C::Test(Test { fetch, matcher, ignore_case, patterns: patterns.iter().map(|p| p.to_string()).collect() })
    }
    fn hdr(name: &str) -> F {
        F::Header(name.into())
    }
    fn not(c: C) -> C {
        C::Not(Box::new(c))
    }
    fn fwd(group: &str) -> Action {
        Action::Forward(Forward { groups: vec![(group.into(), 1)], stickiness: None })
    }
    fn fixed(status: u16, content_type: &str, body: &str) -> Action {
        Action::Fixed(FixedResponse { status, content_type: content_type.into(), body: body.into(), monitor: false })
    }
    fn monitor_page() -> Action {
        let Action::Fixed(f) = page(200) else { unreachable!() };
        Action::Fixed(FixedResponse { monitor: true, ..f })
    }
    fn page(status: u16) -> Action {
        fixed(status, "text/html", error_page(status).unwrap())
    }
    fn edit(op: HeaderOp, name: &str, value: Template) -> Action {
        Action::Header(HeaderEdit { op, name: name.into(), value })
    }
    fn redirect(status: u16, to: RedirectTo) -> Action {
        Action::Redirect(Redirect { status, to })
    }

    /// Every rule is labelled `FILE:LINE` with its priority the line, and the list is as
    /// expected: `(line, condition, action)` in evaluation order.
    fn check(file: &str, rules: &[Rule], expected: Vec<(u32, C, Action)>) {
        for r in rules {
            assert!(
                r.label.starts_with(&format!("{}:{}", corpus(&format!("rules/{file}")).display(), r.priority)),
                "{r:?}"
            );
        }
        let got: Vec<(u32, C, Action)> =
            rules.iter().map(|r| (r.priority, r.condition.clone(), r.action.clone())).collect();
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, e);
        }
    }

    #[test]
    fn host_and_path_criteria_and_the_condition_grammar() {
        let c = load_rules("host-path.cfg");
        let l = &c.listeners[0];
        assert_eq!(l.target_group, "app");
        let host_a = t(hdr("host"), M::Str, true, &["a.example", "a.example:28080"]);
        let host_b = t(hdr("host"), M::Beg, false, &["b."]);
        let host_c = t(hdr("host"), M::Beg, true, &["c."]);
        // An ACL of two lines is either of them.
        let is_api = C::Any(vec![t(F::Path, M::Beg, false, &["/api/"]), t(F::Path, M::Beg, false, &["/v2/"])]);
        check(
            "host-path.cfg",
            &l.rules.request,
            vec![
                (31, C::All(vec![host_a, is_api.clone()]), fwd("api")),
                (
                    32,
                    C::Any(vec![
                        C::All(vec![t(F::Path, M::Beg, false, &["/api/"]), host_b]),
                        C::All(vec![host_c, is_api]),
                    ]),
                    fwd("api"),
                ),
                (
                    33,
                    C::Any(vec![
                        t(F::Path, M::End, false, &[".png"]),
                        t(F::Path, M::Dir, false, &["static"]),
                        t(F::Path, M::Dom, false, &["www"]),
                    ]),
                    fwd("static"),
                ),
                (
                    34,
                    C::All(vec![t(F::Path, M::Sub, false, &["admin"]), not(t(F::Path, M::Str, false, &["/exact"]))]),
                    fwd("admin"),
                ),
                (35, t(hdr("x-beta"), M::Found, false, &[]), fwd("beta")),
                (36, t(F::Path, M::Reg, false, &["^/item/[0-9]+$"]), fwd("items")),
                (
                    37,
                    C::Any(vec![
                        t(hdr("host"), M::End, false, &[".org"]),
                        t(hdr("host"), M::Dom, false, &["shop"]),
                        t(hdr("host"), M::Sub, true, &["blue"]),
                        // `\.` outside quotes is an escaped `.`, in HAProxy as here.
                        t(hdr("host"), M::Reg, false, &["^v[0-9]+.example"]),
                    ]),
                    fwd("orgs"),
                ),
                (
                    38,
                    C::Any(vec![
                        t(hdr("user-agent"), M::Dir, false, &["bot"]),
                        t(F::FullHeader("user-agent".into()), M::Str, false, &["curl/8.0"]),
                        t(F::FullHeader("x-full".into()), M::Str, false, &["a,b"]),
                    ]),
                    fwd("bots"),
                ),
                (39, not(t(F::Url, M::Beg, false, &["/"])), fwd("static")),
            ],
        );
        assert!(l.rules.response.is_empty());
    }

    #[test]
    fn url_query_method_address_tls_version_files_and_predefined_acls() {
        let c = load_rules("fetches.cfg");
        let l = &c.listeners[0];
        let method = |m: &[&str]| t(F::Method, M::Str, false, m);
        let localhost = t(F::SourceIp, M::Ip, false, &["127.0.0.1/8", "::1"]);
        let tls = t(F::Tls, M::Bool, false, &[]);
        check(
            "fetches.cfg",
            &l.rules.request,
            vec![
                (
                    29,
                    C::Any(vec![
                        t(F::Url, M::Str, false, &["/u?a=1"]),
                        t(F::Url, M::Beg, false, &["/ub"]),
                        t(F::Url, M::End, false, &[".json"]),
                        t(F::Url, M::Sub, false, &["token="]),
                        t(F::Url, M::Reg, true, &["^/ur/[a-z]+$"]),
                        t(F::Url, M::Dir, false, &["ud"]),
                        t(F::Url, M::Dom, false, &["udom"]),
                    ]),
                    fwd("u"),
                ),
                (
                    30,
                    C::Any(vec![
                        t(F::UrlParam("lang".into()), M::Str, false, &["fr", "de"]),
                        t(F::UrlParam("page".into()), M::Int, false, &[">=10"]),
                        t(F::Query, M::Str, false, &["debug=1"]),
                    ]),
                    fwd("params"),
                ),
                (
                    31,
                    C::Any(vec![
                        method(&["PATCH"]),
                        method(&["POST"]),
                        method(&["PUT"]),
                        method(&["DELETE"]),
                        method(&["OPTIONS"]),
                        method(&["TRACE"]),
                        method(&["CONNECT"]),
                    ]),
                    fwd("meth"),
                ),
                (32, C::All(vec![method(&["GET", "HEAD"]), method(&["HEAD"])]), fwd("meth")),
                (
                    33,
                    C::Any(vec![
                        // From the pattern file: comments and blank lines skipped, spaces trimmed.
                        t(F::SourceIp, M::Ip, false, &["192.0.2.0/24", "198.51.100.7"]),
                        t(F::SourceIp, M::Ip, false, &["10.0.0.0/8", "172.16.0.0/12"]),
                        C::All(vec![localhost, not(tls)]),
                    ]),
                    fwd("net"),
                ),
                (
                    34,
                    C::Any(vec![
                        t(F::Version, M::Str, false, &["1.0"]),
                        t(F::Version, M::Str, false, &["1.0"]),
                        C::All(vec![t(F::Version, M::Str, false, &["1.1"]), t(F::Url, M::Reg, false, &["^[^/:]*://"])]),
                    ]),
                    fwd("vers"),
                ),
                (
                    35,
                    C::Any(vec![
                        t(F::Url, M::Str, false, &["*"]),
                        C::All(vec![
                            t(hdr("content-length"), M::Int, false, &[">0"]),
                            t(hdr("content-length"), M::Int, false, &[">1000"]),
                        ]),
                        C::All(vec![t(hdr("authorization"), M::Found, false, &[]), C::Always]),
                    ]),
                    fwd("vers"),
                ),
                (36, C::Any(vec![C::Never, not(C::Always)]), fwd("vers")),
            ],
        );
    }

    #[test]
    fn redirects_in_haproxy_order() {
        let c = load_rules("redirects.cfg");
        let l = &c.listeners[0];
        // http-request lines (13, 14) run before the legacy redirect lines (11, 12, 15).
        check(
            "redirects.cfg",
            &l.rules.request,
            vec![
                (
                    13,
                    t(F::Path, M::Beg, false, &["/v1/"]),
                    redirect(308, RedirectTo::Prefix { prefix: "/v2".into(), drop_query: true }),
                ),
                (
                    14,
                    t(F::Path, M::Str, false, &["/elsewhere"]),
                    redirect(303, RedirectTo::Location("http://other.example/".into())),
                ),
                (
                    11,
                    C::All(vec![
                        not(t(F::Tls, M::Bool, false, &[])),
                        t(hdr("host"), M::Str, true, &["secure.example"]),
                    ]),
                    redirect(301, RedirectTo::Scheme { scheme: "https".into(), drop_query: false }),
                ),
                (12, t(F::Path, M::Str, false, &["/old"]), redirect(302, RedirectTo::Location("/moved".into()))),
                (
                    15,
                    not(t(hdr("host"), M::Str, true, &["new.example"])),
                    redirect(307, RedirectTo::Prefix { prefix: "https://new.example".into(), drop_query: false }),
                ),
            ],
        );
    }

    #[test]
    fn answers_allow_and_header_edits_of_listeners_and_backends() {
        let c = load_rules("responses.cfg");
        let l = &c.listeners[0];
        let trusted = t(F::SourceIp, M::Ip, false, &["127.0.0.0/8"]);
        let internal = t(F::Path, M::Beg, false, &["/internal/"]);
        // `http-request allow if trusted internal` stops every later http-request line.
        let allowed = not(C::All(vec![trusted.clone(), internal.clone()]));
        let after = |c: C| C::All(vec![c, allowed.clone()]);
        check(
            "responses.cfg",
            &l.rules.request,
            vec![
                (8, t(F::Url, M::Str, false, &["/alive"]), monitor_page()),
                (15, after(internal), page(403)),
                (16, after(t(F::Path, M::Str, false, &["/slow"])), page(429)),
                (17, after(t(F::Path, M::Beg, false, &["/maint"])), fixed(503, "text/plain", "down for maintenance")),
                (18, after(t(F::Path, M::Str, false, &["/empty"])), fixed(200, "", "")),
                (19, after(t(F::Path, M::Str, false, &["/gone"])), page(404)),
                (20, allowed.clone(), edit(HeaderOp::Set, "X-Client-IP", Template { pieces: vec![Piece::Src] })),
                (
                    21,
                    allowed.clone(),
                    edit(
                        HeaderOp::Add,
                        "X-Via",
                        Template { pieces: vec![Piece::Literal("spillway ".into()), Piece::Version] },
                    ),
                ),
                (22, after(not(trusted)), edit(HeaderOp::Del, "X-Debug", Template::default())),
            ],
        );
        check(
            "responses.cfg",
            &l.rules.response,
            vec![
                (23, C::Always, edit(HeaderOp::Set, "X-Frame-Options", Template::literal("DENY"))),
                (24, t(F::Status, M::Int, false, &["200:299"]), edit(HeaderOp::Del, "Server", Template::default())),
                (
                    25,
                    C::Any(vec![
                        t(F::Status, M::Int, false, &[">=500"]),
                        t(F::ResponseHeader("x-app-error".into()), M::Found, false, &[]),
                    ]),
                    edit(HeaderOp::Add, "X-Error", Template::literal("yes")),
                ),
                (
                    26,
                    C::Always,
                    edit(HeaderOp::Set, "Strict-Transport-Security", Template::literal("max-age=31536000")),
                ),
            ],
        );
        // The backend's lines, with its own ACL, are its target group's rules.
        let g = &c.target_groups[0];
        assert_eq!(g.name, "app");
        check(
            "responses.cfg",
            &g.rules.request,
            vec![
                (31, not(t(F::Method, M::Str, false, &["GET", "HEAD"])), page(405)),
                (32, C::Always, edit(HeaderOp::Set, "X-Backend", Template::literal("app"))),
            ],
        );
        check(
            "responses.cfg",
            &g.rules.response,
            vec![(
                33,
                t(F::ResponseHeader("content-type".into()), M::Beg, false, &["text/"]),
                edit(HeaderOp::Set, "X-Served-By", Template::literal("app")),
            )],
        );
    }

    #[test]
    fn without_default_backend_the_first_use_backend_stands_in_and_the_rest_is_503() {
        let c = load_rules("no-default.cfg");
        let web = &c.listeners[0];
        assert_eq!(web.target_group, "api");
        check(
            "no-default.cfg",
            &web.rules.request,
            vec![
                (10, t(F::Path, M::Beg, false, &["/api"]), fwd("api")),
                (11, t(hdr("host"), M::Str, true, &["app.example"]), fwd("app")),
                (8, C::Always, page(503)),
            ],
        );
        assert!(web.rules.request[2]
            .label
            .ends_with("no-default.cfg:8 (no use_backend matched, no default_backend: 503)"));
        // A listen section: its own group is the default, its rules are its listener's
        // (http-request before use_backend, whatever the file order).
        let both = &c.listeners[1];
        assert_eq!(both.target_group, "both");
        check(
            "no-default.cfg",
            &both.rules.request,
            vec![
                (17, C::Always, edit(HeaderOp::Set, "X-Listen", Template::literal("both"))),
                (16, t(F::Path, M::Beg, false, &["/api"]), fwd("api")),
            ],
        );
        assert!(c.target_groups.iter().all(|g| g.rules.is_empty()));
    }

    #[test]
    fn every_corpus_file_is_valid_haproxy_where_haproxy_is_installed() {
        let Ok(out) = Command::new("haproxy").arg("-v").output() else { return };
        assert!(out.status.success());
        let dir = corpus("rules");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cfg") {
                let out = Command::new("haproxy")
                    .arg("-c")
                    .arg("-f")
                    .arg(&path)
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            }
        }
    }

    #[test]
    fn rule_labels_name_the_file_each_line_came_from() {
        let dir = std::env::temp_dir().join(format!("spillway-haproxy-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.cfg"), dir.join("b.cfg"));
        std::fs::write(&a, "defaults\n  mode http\nbackend app\n  server s 127.0.0.1:81\n").unwrap();
        std::fs::write(&b, "frontend web\n  bind 127.0.0.1:18082\n  use_backend app if { path /x }\n").unwrap();
        let (c, _) = Config::load_files(&[a.clone(), b.clone()]).unwrap();
        let r = &c.listeners[0].rules.request[0];
        assert_eq!((r.label.clone(), r.priority), (format!("{}:3", b.display()), 3));
        // A rule the model refuses is reported at its own file and line.
        std::fs::write(
            &b,
            "frontend web\n  bind 127.0.0.1:18082\n  use_backend nope if { path /x }\n  default_backend app\n",
        )
        .unwrap();
        let err = Config::load_files(&[a, b.clone()]).unwrap_err();
        let p = &err.problems[0];
        assert_eq!((p.file.as_str(), p.line), (b.display().to_string().as_str(), 3), "{err}");
        assert!(p.message.contains("target group \"nope\" does not exist"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_at_its_line() {
        let base = "defaults\n  mode http\nbackend b\n  server s 127.0.0.1:81\nfrontend f\n  bind 127.0.0.1:80\n  default_backend b\n";
        let cases: &[(&str, &str)] = &[
            ("acl a hdr(host),lower x", "8: acl a: criterion \"hdr(host),lower\" is not supported (converters are not)"),
            ("acl a path,map(f.map) x", "8: acl a: criterion \"path,map(f.map)\" is not supported (converters are not)"),
            ("acl a hdr_beg x", "8: acl a: criterion \"hdr_beg\" without a header name (every header) is not supported; write hdr_beg(NAME)"),
            ("acl a path_len 3", "8: acl a: criterion \"path_len\" is not supported"),
            ("acl a fhdr(x) 1", "8: acl a: criterion \"fhdr(x)\" is not supported"),
            ("acl a path -f /nonexistent/list", "8: acl a: cannot read pattern file \"/nonexistent/list\": No such file or directory (os error 2)"),
            ("acl a path -x y", "8: acl a: '-x' is not a supported ACL flag (supported: -i, -m, -f, -n, -u, --; write '--' before a value beginning with '-')"),
            ("acl a path -m len 3", "8: acl a: matching method -m len is not supported"),
            ("acl a src -m str 1.2.3.4", "8: acl a: src -m str: this matching method is not supported for this criterion"),
            ("acl a path_reg (", "8: acl a: bad regular expression \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group"),
            ("use_backend b if nope", "8: no such ACL: \"nope\""),
            ("use_backend b if REQ_CONTENT", "8: predefined ACL REQ_CONTENT is not supported (it inspects layer-4 content, which HAProxy ignores on HTTP proxies too)"),
            ("use_backend %[req.hdr(host)]", "8: use_backend %[req.hdr(host)]: dynamic backend names (%[...]) are not supported"),
            ("redirect prefix /p append-slash", "8: redirect: option \"append-slash\" is not supported (supported: code N, drop-query)"),
            ("http-request redirect location /%[path]", "8: http-request redirect location \"/%[path]\": dynamic values (%[...]) are not supported"),
            ("http-request return string hi", "8: http-request return: a content type must be defined when non-empty payload is configured"),
            ("http-request return status 200 hdr X y", "8: http-request return: option \"hdr\" is not supported (supported: status, content-type, string, lf-string, default-errorfiles)"),
            ("http-request deny deny_status 418", "8: http-request deny: status 418 has no HAProxy error page; give content-type and string"),
            ("http-request set-var(txn.x) str(y)", "8: http-request action \"set-var(txn.x)\" is not supported (supported: redirect, return, deny, allow, set-header, add-header, del-header)"),
            ("http-response set-status 500", "8: http-response action \"set-status\" is not supported (supported: set-header, add-header, del-header)"),
            ("http-request set-header X %[src,ipmask(24)]", "8: http-request set-header X: \"%[src,ipmask(24)]\": %[src,ipmask(24)] is not supported (supported: src, src_port, dst, dst_port, ssl_fc, method, path, url, query, req.ver, hdr(NAME), req.hdr(NAME))"),
            ("http-request deny if { path /x", "8: \"{\" without its \"}\""),
            ("use_backend b if { path /x } ||", "8: the condition ends with \"||\""),
            ("use_backend b when x", "8: use_backend: unexpected \"when\" (expected if or unless)"),
        ];
        for (line, expected) in cases {
            let found = problems(&format!("{base}  {line}\n"));
            assert!(found.iter().any(|f| f == expected), "{line:?}: expected {expected:?}, got {found:?}");
        }
        // The model's own checks, at the rule's line: a request criterion in a response rule.
        let found = problems(&format!("{base}  http-response set-header X 1 if {{ path /x }}\n"));
        assert!(
            found.iter().any(|f| f.starts_with("8: ") && f.contains("the path is not known when the response arrives")),
            "{found:?}"
        );
        // A tcp frontend cannot switch on HTTP content.
        let found = problems("backend b\n  server s 127.0.0.1:81\nfrontend f\n  bind 127.0.0.1:80\n  use_backend b if { src 10.0.0.0/8 }\n  default_backend b\n");
        assert!(found.iter().any(|f| f.contains("rules need protocol \"http\" or \"https\"")), "{found:?}");
    }
}
