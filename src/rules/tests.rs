//! Evaluation of compiled rules on heads built here (the request path's own tests, with real
//! sockets, are in tests/rules.rs).

use std::time::Duration;

use super::*;
use crate::config::{
    rules::{
        Condition, FixedResponse, Forward, HeaderEdit, HeaderOp, Match, Redirect, RedirectTo, Rule, Rules, Template,
        Test,
    },
    Listener, Protocol, Target, TargetGroup,
};

struct Head(Vec<(&'static str, &'static str)>);

impl<'a> Fields<'a> for Head {
    fn any(&self, f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool) -> bool {
        // The test heads are 'static.
        self.0.iter().any(|(n, v)| f(n.as_bytes(), v.as_bytes()))
    }
}

fn config() -> Config {
    let t = |p: u16| Target::new(([127, 0, 0, 1], p).into());
    Config {
        runtime: Default::default(),
        admin: Default::default(),
        listeners: vec![Listener::with_defaults("web", "127.0.0.1:80".parse().unwrap(), Protocol::Http, "default")],
        target_groups: vec![
            TargetGroup::with_defaults("default", vec![t(1)]),
            TargetGroup::with_defaults("api", vec![t(2)]),
            TargetGroup::with_defaults("blue", vec![t(3)]),
            TargetGroup::with_defaults("green", vec![t(4)]),
        ],
    }
}

fn test(fetch: Fetch, matcher: Match, ignore_case: bool, patterns: &[&str]) -> Condition {
    Condition::Test(crate::config::rules::Test {
        fetch,
        matcher,
        ignore_case,
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
    })
}

use crate::config::rules::Fetch;

fn rule(priority: u32, condition: Condition, action: Action) -> Rule {
    Rule { priority, label: format!("priority {priority}"), condition, action }
}

fn forward(group: &str) -> Action {
    Action::Forward(Forward { groups: vec![(group.into(), 1)], stickiness: None })
}

fn request<'a>(head: &'a Head, method: &'a str, target: &'a str) -> Request<'a> {
    Request::new(
        method.as_bytes(),
        target.as_bytes(),
        "1.1",
        head,
        "10.1.2.3:5555".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        false,
        "127.0.0.1:80",
    )
}

fn group_of(set: &RuleSet, head: &Head, method: &str, target: &str) -> Option<usize> {
    match set.evaluate(&request(head, method, target)).decision {
        Decision::Forward { group, .. } => Some(group),
        Decision::Default => None,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_first_holding_rule_in_order_decides() {
    let host = test(Fetch::HostName, Match::Glob, true, &["api.example.com", "*.api.example.com"]);
    let path = test(Fetch::Path, Match::Glob, false, &["/v1/*"]);
    let rules = Rules {
        request: vec![
            rule(10, Condition::All(vec![host, path]), forward("api")),
            rule(20, test(Fetch::Path, Match::Glob, false, &["/v1/*"]), forward("blue")),
        ],
        response: vec![],
    };
    let set = RuleSet::compile(&rules, &[], &config());
    let h = Head(vec![("Host", "API.Example.com:8080")]);
    assert_eq!(group_of(&set, &h, "GET", "/v1/users?x=1"), Some(1));
    let other = Head(vec![("Host", "www.example.com")]);
    assert_eq!(group_of(&set, &other, "GET", "/v1/users"), Some(2));
    assert_eq!(group_of(&set, &other, "GET", "/V1/users"), None, "paths are case-sensitive");
    assert_eq!(set.evaluations.get(), 1 + 2 + 2, "evaluation stops at the deciding rule");
    assert_eq!(set.rules().map(|r| r.matched.get()).collect::<Vec<_>>(), vec![1, 1]);
}

#[test]
fn queries_headers_methods_and_sources() {
    let rules = Rules {
        request: vec![
            rule(1, test(Fetch::Query, Match::QueryPair, true, &["debug=*"]), forward("api")),
            rule(2, test(Fetch::FullHeader("X-Canary".into()), Match::Glob, true, &["yes"]), forward("blue")),
            rule(
                3,
                Condition::All(vec![
                    test(Fetch::Method, Match::Str, false, &["DELETE"]),
                    test(Fetch::SourceIp, Match::Ip, false, &["10.0.0.0/8"]),
                ]),
                forward("green"),
            ),
        ],
        response: vec![],
    };
    let set = RuleSet::compile(&rules, &[], &config());
    let none = Head(vec![]);
    assert_eq!(group_of(&set, &none, "GET", "/?a=1&DEBUG=on"), Some(1));
    assert_eq!(group_of(&set, &none, "GET", "/?debugx=1"), None);
    assert_eq!(group_of(&set, &Head(vec![("x-canary", "YES")]), "GET", "/"), Some(2));
    assert_eq!(group_of(&set, &none, "DELETE", "/"), Some(3));
    assert_eq!(group_of(&set, &none, "delete", "/"), None);
}

#[test]
fn a_trusted_proxy_hands_over_the_client_address() {
    let rules = Rules {
        request: vec![rule(1, test(Fetch::SourceIp, Match::Ip, false, &["192.0.2.0/24"]), forward("api"))],
        response: vec![],
    };
    let xff = Head(vec![("X-Forwarded-For", "192.0.2.7, 10.9.9.9")]);
    let untrusted = RuleSet::compile(&rules, &[], &config());
    assert_eq!(group_of(&untrusted, &xff, "GET", "/"), None);
    let trusted = RuleSet::compile(&rules, &["10.0.0.0/8".parse().unwrap()], &config());
    assert_eq!(group_of(&trusted, &xff, "GET", "/"), Some(1));
}

#[test]
fn weights_are_kept_exactly_and_stickiness_wins() {
    let f = Forward {
        groups: vec![("blue".into(), 90), ("green".into(), 10)],
        stickiness: Some(Duration::from_secs(3600)),
    };
    let rules = Rules { request: vec![rule(1, Condition::Always, Action::Forward(f))], response: vec![] };
    let set = RuleSet::compile(&rules, &[], &config());
    let none = Head(vec![]);
    let mut blue = 0;
    let mut cookie_green = None;
    for _ in 0..1000 {
        let outcome = set.evaluate(&request(&none, "GET", "/"));
        let Decision::Forward { group, set_cookie } = outcome.decision else { panic!() };
        if group == 2 {
            blue += 1;
        } else {
            cookie_green = set_cookie.map(|c| String::from_utf8(c.to_vec()).unwrap());
        }
    }
    assert_eq!(blue, 900);
    let cookie = cookie_green.unwrap();
    assert!(cookie.starts_with("Set-Cookie: AWSALBTG=") && cookie.ends_with("; Max-Age=3600; Path=/\r\n"), "{cookie}");
    let value: &'static str =
        Box::leak(cookie["Set-Cookie: ".len()..cookie.find(';').unwrap()].to_string().into_boxed_str());
    let sticky = Head(vec![("Cookie", "a=b; "), ("Cookie", value)]);
    for _ in 0..20 {
        assert_eq!(group_of(&set, &sticky, "GET", "/"), Some(3));
    }
}

#[test]
fn redirects_fill_elb_placeholders() {
    let parts = |protocol: &str, port: &str, path: &str| RedirectTo::Parts {
        protocol: protocol.into(),
        host: "#{host}".into(),
        port: port.into(),
        path: path.into(),
        query: "#{query}".into(),
    };
    let location = |to: RedirectTo, target: &str, host: &'static str| {
        let plan = RedirectPlan::new(&Redirect { status: 301, to });
        let head = Head(vec![("Host", host)]);
        let mut out = Vec::new();
        plan.write_location(&request(&head, "GET", target), &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(location(parts("HTTPS", "443", "/#{path}"), "/a/b?x=1", "ex.com"), "https://ex.com/a/b?x=1");
    assert_eq!(
        location(parts("#{protocol}", "#{port}", "/new/#{path}"), "/old/x", "ex.com:80"),
        "http://ex.com/new/old/x"
    );
    assert_eq!(location(parts("https", "#{port}", "/"), "/p", "ex.com"), "https://ex.com:80/");
    let scheme = RedirectTo::Scheme { scheme: "https".into(), drop_query: false };
    assert_eq!(location(scheme, "/p?q=1", "ex.com:80"), "https://ex.com/p?q=1");
    let prefix = RedirectTo::Prefix { prefix: "https://new.example/".into(), drop_query: true };
    assert_eq!(location(prefix, "/p?q=1", "ex.com"), "https://new.example/p");
}

#[test]
fn header_edits_before_the_decision_apply() {
    let set_header = |name: &str, value: &str| {
        Action::Header(HeaderEdit {
            op: HeaderOp::Set,
            name: name.into(),
            value: Template::parse_haproxy(value).unwrap(),
        })
    };
    let rules = Rules {
        request: vec![
            rule(1, Condition::Always, set_header("X-Client", "%[src]:%[src_port]")),
            rule(2, Condition::Never, set_header("X-Never", "1")),
            rule(
                3,
                test(Fetch::Path, Match::Beg, false, &["/deny"]),
                Action::Fixed(FixedResponse { status: 403, content_type: "text/plain".into(), body: "no".into() }),
            ),
            rule(4, Condition::Always, set_header("X-After", "1")),
        ],
        response: vec![],
    };
    let set = RuleSet::compile(&rules, &[], &config());
    let head = Head(vec![("X-Client", "forged")]);
    let req = request(&head, "GET", "/x");
    let outcome = set.evaluate(&req);
    assert!(matches!(outcome.decision, Decision::Default));
    assert!(outcome.edits.drops(b"x-client"));
    assert!(!outcome.edits.drops(b"x-never"));
    let mut out = Vec::new();
    outcome.edits.write_added(&mut out, &edits::Values::Request(&req));
    assert_eq!(String::from_utf8(out).unwrap(), "X-Client: 10.1.2.3:5555\r\nX-After: 1\r\n");
    let denied = set.evaluate(&request(&head, "GET", "/deny"));
    assert!(matches!(denied.decision, Decision::Fixed(f) if f.status == 403));
    assert_eq!(set.fixed_responses.get(), 1);
    let _ = Test { fetch: Fetch::Path, matcher: Match::Str, ignore_case: false, patterns: vec![] };
}

#[test]
fn the_host_index_gives_the_same_decisions_as_a_full_scan() {
    // Eight host rules (indexed), a wildcard one and a header edit (unindexed) in between, and
    // an haproxy-style whole-field rule: every request decides as rule order says.
    let mut request_rules = Vec::new();
    for i in 1..=8u32 {
        let host = format!("h{i}.example");
        let group = if i % 2 == 0 { "api" } else { "blue" };
        request_rules.push(rule(
            i * 10,
            Condition::All(vec![
                test(Fetch::HostName, Match::Glob, true, &[host.as_str()]),
                test(Fetch::Path, Match::Beg, false, &["/p"]),
            ]),
            forward(group),
        ));
        if i == 4 {
            request_rules.push(rule(45, test(Fetch::HostName, Match::Glob, true, &["*.wild"]), forward("green")));
            request_rules.push(rule(
                46,
                Condition::Always,
                Action::Header(HeaderEdit { op: HeaderOp::Add, name: "X-Seen".into(), value: Template::literal("1") }),
            ));
        }
    }
    request_rules.push(rule(
        99,
        test(Fetch::Header("host".into()), Match::Str, true, &["whole.example:8080"]),
        forward("green"),
    ));
    let rules = Rules { request: request_rules, response: vec![] };
    let indexed = RuleSet::compile(&rules, &[], &config());
    assert!(indexed.hosts.enabled());
    let mut scan = RuleSet::compile(&rules, &[], &config());
    scan.hosts = host_index::HostIndex::default();
    for host in ["h1.example", "H6.EXAMPLE:80", "a.wild", "h4.example", "nope", "whole.example:8080", "whole.example"] {
        for path in ["/p/x", "/q"] {
            let head = Head(vec![("Host", Box::leak(host.to_string().into_boxed_str()))]);
            let a = indexed.evaluate(&request(&head, "GET", path));
            let b = scan.evaluate(&request(&head, "GET", path));
            assert_eq!(format!("{:?}", a.decision), format!("{:?}", b.decision), "{host} {path}");
            assert_eq!(a.edits.is_empty(), b.edits.is_empty(), "{host} {path}");
        }
    }
    assert!(indexed.evaluations.get() < scan.evaluations.get(), "the index tests fewer rules");
}
