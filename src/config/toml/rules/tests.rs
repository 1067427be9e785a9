//! The TOML rules reader: the model it builds, the sort by priority, and every error at its line.

use std::time::Duration;

use super::*;
use crate::config::{
    rules::{Action, FixedResponse, Forward, Redirect, RedirectTo},
    toml::parse_text,
};

/// Four groups, then the listener the rules appended to it belong to: they start at line 13.
const BASE: &str = "[[target_group]]\nname = \"app\"\n[[target_group]]\nname = \"api\"\n\
                    [[target_group]]\nname = \"blue\"\n[[target_group]]\nname = \"green\"\n\
                    [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\ntarget_group = \"app\"\n";

/// Every problem of BASE + `extra` as `LINE: message`.
fn problems(extra: &str) -> Vec<String> {
    let Err(errors) = parse_text(&format!("{BASE}{extra}"), "t.toml") else { return Vec::new() };
    errors.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect()
}

/// One rule, priority 1: its header is line 13, `priority` 14, `conditions` 15, `action` 16.
fn one(conditions: &str, action: &str) -> Vec<String> {
    problems(&format!("[[listener.rule]]\npriority = 1\nconditions = {{ {conditions} }}\naction = {{ {action} }}\n"))
}

const FORWARD: &str = "type = \"forward\", target_group = \"api\"";
const HOST: &str = "host_header = [\"a.example\"]";

fn test(fetch: Fetch, matcher: Match, ignore_case: bool, patterns: &[&str]) -> Condition {
    let patterns = patterns.iter().map(|p| p.to_string()).collect();
    Condition::Test(Test { fetch, matcher, ignore_case, patterns })
}

fn rule(priority: u32, tests: Vec<Condition>, action: Action) -> Rule {
    Rule { priority, label: format!("priority {priority}"), condition: Condition::All(tests), action }
}

fn parts(protocol: &str, host: &str, port: &str, path: &str, query: &str) -> RedirectTo {
    let s = |v: &str| v.to_string();
    RedirectTo::Parts { protocol: s(protocol), host: s(host), port: s(port), path: s(path), query: s(query) }
}

/// Every condition and action, in every TOML form, listed out of priority order.
const RULES: &str = r##"trusted_proxies = ["10.0.0.0/8", "::1"]
[[listener.rule]]
priority = 40
conditions = { http_request_method = ["DELETE", "PURGE"], source_ip = ["10.0.0.0/8", "::1"], query_string = ["debug=*", "key=", "value"] }
action = { type = "fixed_response", status = 403, content_type = "text/plain", body = "forbidden" }
[[listener.rule]]
priority = 10
conditions = { host_header = ["api.example.com", "*.API.example.com"], path_pattern = ["/v1/*"] }
action = { type = "forward", target_group = "api" }
[[listener.rule]]
priority = 20
[listener.rule.conditions]
http_header = { name = "X-Canary", values = ["1", "y?s"] }
[listener.rule.action]
type = "forward"
target_groups = [{ name = "blue", weight = 90 }, { name = "green", weight = 0 }]
stickiness = "1h"
[[listener.rule]]
priority = 30
conditions.path_pattern = ["/old/*"]
action = { type = "redirect", status = 301, path = "/new/#{path}" }
[[listener.rule]]
priority = 35
conditions = { host_header = ["www.example.com"] }
action = { type = "redirect", status = 302, protocol = "HTTPS", host = "example.com", port = 443, query = "from=www&#{query}" }
[[listener.rule]]
priority = 50000
conditions = { path_pattern = ["*"] }
action = { type = "fixed_response", status = 503 }
"##;

#[test]
fn every_condition_and_action_reads_into_the_model_sorted_by_priority() {
    let config = parse_text(&format!("{BASE}{RULES}"), "t.toml").unwrap();
    let l = &config.listeners[0];
    let nets = ["10.0.0.0/8", "::1"].map(|n| rules::parse_cidr(n).unwrap());
    assert_eq!(l.trusted_proxies, nets);
    assert!(l.rules.response.is_empty());
    let fixed = |status, content_type: &str, body: &str| {
        Action::Fixed(FixedResponse { status, content_type: content_type.into(), body: body.into() })
    };
    let redirect = |status, to| Action::Redirect(Redirect { status, to });
    let forward = |groups: &[(&str, u32)], stickiness| {
        let groups = groups.iter().map(|&(g, w)| (g.to_string(), w)).collect();
        Action::Forward(Forward { groups, stickiness })
    };
    let expected = vec![
        rule(
            10,
            vec![
                test(Fetch::HostName, Match::Glob, true, &["api.example.com", "*.API.example.com"]),
                test(Fetch::Path, Match::Glob, false, &["/v1/*"]),
            ],
            forward(&[("api", 1)], None),
        ),
        rule(
            20,
            vec![test(Fetch::FullHeader("X-Canary".into()), Match::Glob, true, &["1", "y?s"])],
            forward(&[("blue", 90), ("green", 0)], Some(Duration::from_secs(3600))),
        ),
        rule(
            30,
            vec![test(Fetch::Path, Match::Glob, false, &["/old/*"])],
            redirect(301, parts("#{protocol}", "#{host}", "#{port}", "/new/#{path}", "#{query}")),
        ),
        rule(
            35,
            vec![test(Fetch::HostName, Match::Glob, true, &["www.example.com"])],
            redirect(302, parts("https", "example.com", "443", "/#{path}", "from=www&#{query}")),
        ),
        rule(
            40,
            vec![
                test(Fetch::Method, Match::Str, false, &["DELETE", "PURGE"]),
                test(Fetch::Query, Match::QueryPair, true, &["debug=*", "key=", "value"]),
                test(Fetch::SourceIp, Match::Ip, false, &["10.0.0.0/8", "::1"]),
            ],
            fixed(403, "text/plain", "forbidden"),
        ),
        rule(50000, vec![test(Fetch::Path, Match::Glob, false, &["*"])], fixed(503, "", "")),
    ];
    assert_eq!(l.rules.request, expected);
}

#[test]
fn a_lower_number_wins_even_when_listed_later() {
    let rule = |p: u32, group: &str| {
        format!("[[listener.rule]]\npriority = {p}\nconditions = {{ {HOST} }}\naction = {{ type = \"forward\", target_group = \"{group}\" }}\n")
    };
    let text = format!("{BASE}{}{}{}", rule(300, "app"), rule(2, "blue"), rule(40, "green"));
    let config = parse_text(&text, "t.toml").unwrap();
    let order: Vec<(u32, &Action)> =
        config.listeners[0].rules.request.iter().map(|r| (r.priority, &r.action)).collect();
    let to = |g: &str| Action::Forward(Forward { groups: vec![(g.into(), 1)], stickiness: None });
    assert_eq!(order, [(2, &to("blue")), (40, &to("green")), (300, &to("app"))]);
    // Each rule keeps its own line after the sort: the cross-reader checks find them.
    let text = format!("{BASE}{}{}{}", rule(300, "nope"), rule(2, "blue"), rule(40, "gone"));
    let found = problems(&text[BASE.len()..]);
    let expected = [
        r#"13: listener "web": priority 300: target group "nope" does not exist"#,
        r#"21: listener "web": priority 40: target group "gone" does not exist"#,
    ];
    assert_eq!(found, expected);
}

#[test]
fn priorities_are_required_in_range_and_unique() {
    let rule = |p: &str| format!("[[listener.rule]]\n{p}conditions = {{ {HOST} }}\naction = {{ {FORWARD} }}\n");
    let text = rule("priority = 7\n")
        + &rule("")
        + &rule("priority = 0\n")
        + &rule("priority = 50001\n")
        + &rule("priority = 7\n");
    assert_eq!(
        problems(&text),
        [
            "17: missing key listener[0].rule[1].priority",
            "21: listener[0].rule[2].priority: 0 is out of range (1 to 50000)",
            "25: listener[0].rule[3].priority: 50001 is out of range (1 to 50000)",
            "29: listener[0].rule[4].priority: duplicate priority 7 (first at line 14)",
        ]
    );
}

#[test]
fn a_listener_has_at_most_100_rules() {
    let rule =
        |p: usize| format!("[[listener.rule]]\npriority = {p}\nconditions = {{ {HOST} }}\naction = {{ {FORWARD} }}\n");
    let hundred: String = (1..=100).map(rule).collect();
    assert_eq!(problems(&hundred), Vec::<String>::new());
    let line = 13 + 4 * 100;
    let expected = format!("{line}: listener[0].rule[100]: more than 100 rules in one listener");
    assert_eq!(problems(&(hundred + &rule(101))), [expected]);
}

#[test]
fn conditions_follow_elb_limits_at_their_lines() {
    let cases: &[(&str, &str)] = &[
        ("", "13: listener[0].rule[0].conditions: a rule needs at least one condition"),
        (
            r#"host_header = ["a"], path_pattern = ["/"], http_request_method = ["GET"], query_string = ["a"], source_ip = ["::1"], http_header = { name = "X", values = ["1"] }"#,
            "13: listener[0].rule[0].conditions: 6 conditions; a rule has at most 5",
        ),
        (r#"host_header = []"#, "15: listener[0].rule[0].conditions.host_header: 0 values; a condition has 1 to 5"),
        (
            r#"path_pattern = ["/a", "/b", "/c", "/d", "/e", "/f"]"#,
            "15: listener[0].rule[0].conditions.path_pattern: 6 values; a condition has 1 to 5",
        ),
        (
            r#"host_header = ["*.a", "?.b", "c*"], path_pattern = ["/*", "/x?", "/y*"]"#,
            "13: listener[0].rule[0].conditions: 6 values with wildcards (* or ?); a rule has at most 5",
        ),
        (
            r#"host_header = ["a_b.example"]"#,
            r#"15: listener[0].rule[0].conditions.host_header: "a_b.example": a host_header value holds only A-Z a-z 0-9 - . * ?"#,
        ),
        (r#"host_header = [""]"#, "15: listener[0].rule[0].conditions.host_header: an empty value"),
        (
            r#"path_pattern = ["v1/*"]"#,
            r#"15: listener[0].rule[0].conditions.path_pattern: "v1/*": a path_pattern starts with '/' (or a wildcard)"#,
        ),
        (
            r#"path_pattern = ["/a b"]"#,
            r#"15: listener[0].rule[0].conditions.path_pattern: "/a b": a path_pattern holds only A-Z a-z 0-9 _ - . $ / ~ " ' @ : + & * ?"#,
        ),
        (
            r#"http_request_method = ["get"]"#,
            r#"15: listener[0].rule[0].conditions.http_request_method: "get": an http_request_method holds only A-Z - _ (methods are upper case)"#,
        ),
        (
            r#"query_string = ["a&b"]"#,
            r#"15: listener[0].rule[0].conditions.query_string: "a&b": a query_string value holds no spaces, '&' or '#' (write them percent-encoded)"#,
        ),
        (
            r#"query_string = ["="]"#,
            r#"15: listener[0].rule[0].conditions.query_string: "=": give a key, a value or both (key=value, key=, value)"#,
        ),
        (
            r#"source_ip = ["10.0.0.0/33"]"#,
            r#"15: listener[0].rule[0].conditions.source_ip: "10.0.0.0/33" is not an IP address or a CIDR network (10.0.0.0/8, 2001:db8::/32)"#,
        ),
        (
            r#"http_header = { name = "X Canary", values = ["1"] }"#,
            "15: listener[0].rule[0].conditions.http_header.name: \"X Canary\" is not a header name (at most 40 characters of A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
        ),
        (r#"http_header = { name = "X" }"#, "15: missing key listener[0].rule[0].conditions.http_header.values"),
        (r#"http_header = { values = ["1"] }"#, "15: missing key listener[0].rule[0].conditions.http_header.name"),
        (
            r#"http_header = { name = "X", values = ["a\u0001"] }"#,
            r#"15: listener[0].rule[0].conditions.http_header.values: "a\u{1}": a header value holds no control characters"#,
        ),
    ];
    for (conditions, expected) in cases {
        assert_eq!(one(conditions, FORWARD), [*expected], "for {conditions}");
    }
    let long = format!("host_header = [\"{}\"]", "a".repeat(129));
    let expected = "15: listener[0].rule[0].conditions.host_header: a value of 129 characters (at most 128)";
    assert_eq!(one(&long, FORWARD), [expected]);
    assert_eq!(one(&long.replace(&"a".repeat(129), &"a".repeat(128)), FORWARD), Vec::<String>::new());
    let method = format!("http_request_method = [\"{}\"]", "A".repeat(41));
    let expected = "15: listener[0].rule[0].conditions.http_request_method: a value of 41 characters (at most 40)";
    assert_eq!(one(&method, FORWARD), [expected]);
    // Every problem of a rule is reported, not the first only.
    let found = one(r#"host_header = ["a_b"], source_ip = ["x"]"#, FORWARD);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn missing_parts_are_reported_at_the_rule() {
    let text = "[[listener.rule]]\npriority = 1\n";
    assert_eq!(
        problems(text),
        [
            "13: missing key listener[0].rule[0].conditions (a rule needs at least one condition)",
            "13: missing key listener[0].rule[0].action",
        ]
    );
    let text =
        format!("[[listener.rule]]\npriority = 1\nconditions = {{ {HOST} }}\naction = {{ target_group = \"api\" }}\n");
    assert_eq!(
        problems(&text),
        ["13: missing key listener[0].rule[0].action.type (forward, redirect or fixed_response)"]
    );
    // An unknown key stops the reading, as everywhere in the file.
    let found = one("hots_header = [\"a\"]", FORWARD);
    assert!(found[0].starts_with("15: unknown key listener[0].rule[0].conditions.hots_header (expected"), "{found:?}");
    let found = one(HOST, "type = \"forward\", target_group = \"api\", weight = 1");
    assert!(found[0].starts_with("16: unknown key listener[0].rule[0].action.weight (expected"), "{found:?}");
}

#[test]
fn actions_are_checked_by_type_at_their_lines() {
    let cases: &[(&str, &str)] = &[
        (r#"type = "drop""#, r#"16: listener[0].rule[0].action.type: unknown value "drop": expected one of forward, redirect, fixed_response"#),
        (
            r#"type = "forward", target_group = "api", body = "x""#,
            "16: listener[0].rule[0].action.body: a forward action does not take body (it takes target_group, target_groups, stickiness)",
        ),
        (r#"type = "forward""#, "16: listener[0].rule[0].action: a forward action needs target_group or target_groups"),
        (
            r#"type = "forward", target_group = "api", target_groups = [{ name = "blue", weight = 1 }]"#,
            "16: listener[0].rule[0].action: give target_group or target_groups, not both",
        ),
        (r#"type = "forward", target_groups = []"#, "16: listener[0].rule[0].action.target_groups: 0 groups; a forward has 1 to 5"),
        (
            r#"type = "forward", target_groups = [{ name = "a", weight = 1 }, { name = "b", weight = 1 }, { name = "c", weight = 1 }, { name = "d", weight = 1 }, { name = "e", weight = 1 }, { name = "f", weight = 1 }]"#,
            "16: listener[0].rule[0].action.target_groups: 6 groups; a forward has 1 to 5",
        ),
        (
            r#"type = "forward", target_groups = [{ name = "blue", weight = 1000 }]"#,
            "16: listener[0].rule[0].action.target_groups[0].weight: 1000 is out of range (0 to 999)",
        ),
        (r#"type = "forward", target_groups = [{ name = "blue" }]"#, "16: missing key listener[0].rule[0].action.target_groups[0].weight"),
        (
            r#"type = "forward", target_groups = [{ name = "blue", weight = 1 }, { name = "blue", weight = 2 }]"#,
            r#"16: listener[0].rule[0].action.target_groups[1]: target group "blue" is listed twice"#,
        ),
        (
            r#"type = "forward", target_group = "api", stickiness = "0s""#,
            r#"16: listener[0].rule[0].action.stickiness: 0ns is out of range (1s to 7 days, "168h")"#,
        ),
        (
            r#"type = "forward", target_group = "api", stickiness = "169h""#,
            r#"16: listener[0].rule[0].action.stickiness: 608400s is out of range (1s to 7 days, "168h")"#,
        ),
        (
            r#"type = "forward", target_group = "api", stickiness = 3600"#,
            r#"16: listener[0].rule[0].action.stickiness: invalid duration 3600: expected a string like "1h""#,
        ),
        (r#"type = "redirect", path = "/x""#, "16: missing key listener[0].rule[0].action.status"),
        (r#"type = "redirect", status = 307, path = "/x""#, "16: listener[0].rule[0].action.status: 307: a redirect's status is 301 or 302"),
        (
            r#"type = "redirect", status = 301, protocol = "ftp""#,
            r#"16: listener[0].rule[0].action.protocol: "ftp" is not HTTP, HTTPS or #{protocol}"#,
        ),
        (
            r#"type = "redirect", status = 301, path = "new""#,
            r#"16: listener[0].rule[0].action.path: "new" must start with '/' (and hold no '?': the query is a component of its own)"#,
        ),
        (
            r#"type = "redirect", status = 301, query = "?a=1""#,
            r#"16: listener[0].rule[0].action.query: "?a=1": write the query without its leading '?'"#,
        ),
        (
            r#"type = "redirect", status = 301, host = "a/b""#,
            r#"16: listener[0].rule[0].action.host: "a/b" is not a host name (no '/', '?' or '@'; not empty)"#,
        ),
        (r#"type = "redirect", status = 301, port = 0"#, r#"16: listener[0].rule[0].action.port: "0" is not a port (1 to 65535) or #{port}"#),
        (
            r#"type = "redirect", status = 301, port = "8o""#,
            r#"16: listener[0].rule[0].action.port: "8o" is not a port (1 to 65535) or #{port}"#,
        ),
        (
            r#"type = "redirect", status = 301, path = "/#{uri}""#,
            r#"16: listener[0].rule[0].action.path: "/#{uri}": #{uri} is not a placeholder (#{protocol}, #{host}, #{port}, #{path}, #{query})"#,
        ),
        (
            r#"type = "redirect", status = 301, query = "a#b""#,
            r#"16: listener[0].rule[0].action.query: "a#b" holds spaces, control characters or a '#' that opens no placeholder"#,
        ),
        (
            r##"type = "redirect", status = 301, path = "/#{path}", protocol = "#{protocol}""##,
            "16: listener[0].rule[0].action: this redirect keeps the protocol, host, port, path and query: it would send the client back to the same URL; change at least one",
        ),
        (
            r#"type = "redirect", status = 302, protocol = "HTTP""#,
            "16: listener[0].rule[0].action: this redirect keeps the protocol, host, port, path and query: it would send the client back to the same URL; change at least one",
        ),
        (
            r#"type = "redirect", status = 301, body = "x", path = "/a""#,
            "16: listener[0].rule[0].action.body: a redirect action does not take body (it takes status, protocol, host, port, path, query)",
        ),
        (
            r#"type = "fixed_response", status = 302"#,
            "16: listener[0].rule[0].action.status: 302: a fixed response's status is 2XX, 4XX or 5XX",
        ),
        (
            r#"type = "fixed_response", status = 600"#,
            "16: listener[0].rule[0].action.status: 600: a fixed response's status is 2XX, 4XX or 5XX",
        ),
        (
            r#"type = "fixed_response", status = 200, content_type = "text/xml""#,
            r#"16: listener[0].rule[0].action.content_type: "text/xml" is not one of text/plain, text/css, text/html, application/javascript, application/json"#,
        ),
    ];
    for (action, expected) in cases {
        assert_eq!(one(HOST, action), [*expected], "for {action}");
    }
    let body = |n: usize| format!("type = \"fixed_response\", status = 200, body = \"{}\"", "x".repeat(n));
    assert_eq!(one(HOST, &body(1024)), Vec::<String>::new());
    assert_eq!(one(HOST, &body(1025)), ["16: listener[0].rule[0].action.body: 1025 bytes (at most 1024)"]);
    // Placeholders elsewhere and a port as a string are fine.
    let ok =
        r##"type = "redirect", status = 301, host = "#{host}.example", port = "8443", query = "#{query}&x=#{port}""##;
    assert_eq!(one(HOST, ok), Vec::<String>::new());
}

#[test]
fn an_https_listener_does_not_redirect_to_http() {
    let https = "[[target_group]]\nname = \"app\"\n[[listener]]\nname = \"s\"\nbind = \"127.0.0.1:8443\"\n\
                 protocol = \"https\"\ntarget_group = \"app\"\ntls = { cert = \"c.pem\", key = \"k.pem\" }\n\
                 [[listener.rule]]\npriority = 1\nconditions = { host_header = [\"a\"] }\n";
    let found = |action: &str| {
        let text = format!("{https}action = {{ {action} }}\n");
        let Err(errors) = parse_text(&text, "t.toml") else { return Vec::new() };
        errors.problems.iter().map(|p| format!("{}: {}", p.line, p.message)).collect::<Vec<_>>()
    };
    let message = "12: listener[0].rule[0].action.protocol: an HTTPS listener does not redirect to HTTP";
    assert_eq!(found(r#"type = "redirect", status = 301, protocol = "HTTP", host = "b""#), [message]);
    let message = "12: listener[0].rule[0].action: this redirect keeps the protocol, host, port, path and query: \
                   it would send the client back to the same URL; change at least one";
    assert_eq!(found(r#"type = "redirect", status = 301, protocol = "HTTPS""#), [message]);
    assert_eq!(found(r#"type = "redirect", status = 301, host = "b""#), Vec::<String>::new());
}

#[test]
fn trusted_proxies_are_cidrs_or_addresses() {
    let text = "trusted_proxies = [\n  \"10.0.0.0/8\",\n  \"proxy.local\",\n]\n";
    let message = "15: listener[0].trusted_proxies: \"proxy.local\" is not an IP address or a CIDR network (10.0.0.0/8, 2001:db8::/32)";
    assert_eq!(problems(text), [message]);
}

#[test]
fn the_documented_examples_are_valid() {
    let docs = include_str!("../../../../docs/configuration.md");
    let start = docs.find("\n## Listener rules\n").expect("the section exists");
    let end = start + docs[start..].find("\n### HAProxy mapping\n").expect("the HAProxy mapping subsection exists");
    let blocks: Vec<&str> = docs[start..end].split("```toml\n").skip(1).map(|b| &b[..b.find("```").unwrap()]).collect();
    assert!(blocks.len() >= 6, "{} examples found", blocks.len());
    let groups: String = ["app", "api", "static", "blue", "green", "site-a", "site-b"]
        .iter()
        .map(|g| format!("[[target_group]]\nname = \"{g}\"\n"))
        .collect();
    for block in blocks {
        // A fragment of rules belongs to a listener; a block with its own listener is whole.
        let listener = "[[listener]]\nname = \"web\"\nbind = \"0.0.0.0:8080\"\ntarget_group = \"app\"\n";
        let listener = if block.contains("[[listener]]") { "" } else { listener };
        let text = format!("{groups}{listener}{block}");
        let config = parse_text(&text, "docs").unwrap_or_else(|e| panic!("{e}\nin:\n{block}"));
        assert!(!config.listeners[0].rules.request.is_empty(), "{block}");
    }
}
