//! HAProxy's content-switching lines, read into the rules model's [`Action`]s: `use_backend`,
//! `redirect`, `http-request`, `http-response`, `http-after-response`, `monitor-uri`.
//!
//! Why a module of its own: each of these lines is an action with options and an optional
//! `if`/`unless` condition, and the order HAProxy runs them in is not the file's order. They
//! are read into [`Pending`] steps while the proxy is read (so a mistake is named at its line
//! at once) and put in HAProxy's order once the proxy is whole ([`Reader::proxy_rules`]):
//! `monitor-uri`, the `http-request` lines, the `redirect` lines, then the `use_backend` lines;
//! responses: `http-response`, then `http-after-response`.
//!
//! What HAProxy does that the model has no word for is expressed with the model's words:
//! `http-request allow` stops the later `http-request` lines, so each of them gets
//! `AND NOT (condition of the allow)`; a frontend without `default_backend` answers 503 when no
//! `use_backend` holds, so a last catch-all rule makes HAProxy's 503 page. Responses made here
//! carry HAProxy's own bodies (`deny`, `monitor-uri`), byte for byte.
//!
//! Anything outside the subset is refused naming the action or option, never dropped.

use super::{
    acl::{self, Acls, Cond},
    validate::{RuleOwner, RuleSite, Site},
    Kind, Proxy, Reader,
};
use crate::config::rules::{
    Action, Condition, FixedResponse, Forward, HeaderEdit, HeaderOp, Piece, Redirect, RedirectTo, Rule, Rules,
    Template, Test,
};
use crate::config::rules::{Fetch, Match};

/// When a step runs, relative to the others of its proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `http-request`.
    Request,
    /// The legacy `redirect` directive: after every `http-request` line.
    Redirect,
    /// `use_backend`: last.
    Switch,
    /// `http-response`.
    Response,
    /// `http-after-response`: after `http-response`.
    AfterResponse,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Act(Action),
    /// `http-request allow`: the later `http-request` lines do not run when it holds.
    Allow,
}

/// A line read, waiting for its proxy to be whole.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pending {
    pub line: usize,
    pub phase: Phase,
    /// `(unless, condition)`; `None` holds always.
    pub cond: Option<(bool, Cond)>,
    pub step: Step,
}

/// Reads one content-switching line of a proxy (`w[0]` is the directive); `acls` are the
/// proxy's ACLs declared so far.
pub(super) fn directive(w: &[String], acls: &Acls, line: usize) -> Result<Pending, String> {
    let (phase, step, rest) = match w[0].as_str() {
        "use_backend" => use_backend(w)?,
        "redirect" => {
            let (action, rest) = redirect(&w[1..], "redirect")?;
            (Phase::Redirect, Step::Act(action), rest)
        }
        "http-request" => http_request(w)?,
        d @ ("http-response" | "http-after-response") => {
            let phase = if d == "http-response" { Phase::Response } else { Phase::AfterResponse };
            let action = w.get(1).ok_or_else(|| format!("{d} needs an action"))?;
            match action.as_str() {
                "set-header" | "add-header" | "del-header" => {
                    let (edit, rest) = header(&w[1..], d)?;
                    (phase, Step::Act(edit), rest)
                }
                a => {
                    return Err(format!(
                        "{d} action \"{a}\" is not supported (supported: set-header, add-header, del-header)"
                    ))
                }
            }
        }
        d => unreachable!("not a content-switching directive: {d}"),
    };
    let cond = tail(rest, acls, &w[0])?;
    Ok(Pending { line, phase, cond, step })
}

fn use_backend(w: &[String]) -> Result<(Phase, Step, &[String]), String> {
    let name = w.get(1).ok_or("use_backend needs a backend name")?;
    if name.contains("%[") {
        return Err(format!("use_backend {name}: dynamic backend names (%[...]) are not supported"));
    }
    if name == "if" || name == "unless" {
        return Err("use_backend needs a backend name before its condition".into());
    }
    let action = Action::Forward(Forward { groups: vec![(name.clone(), 1)], stickiness: None });
    Ok((Phase::Switch, Step::Act(action), &w[2..]))
}

fn http_request(w: &[String]) -> Result<(Phase, Step, &[String]), String> {
    let action = w.get(1).ok_or("http-request needs an action")?;
    let (step, rest) = match action.as_str() {
        "redirect" => {
            let (a, rest) = redirect(&w[2..], "http-request redirect")?;
            (Step::Act(a), rest)
        }
        "return" => {
            let (f, rest) = fixed(&w[2..], false)?;
            (Step::Act(Action::Fixed(f)), rest)
        }
        "deny" => {
            let (f, rest) = fixed(&w[2..], true)?;
            (Step::Act(Action::Fixed(f)), rest)
        }
        "allow" => (Step::Allow, &w[2..]),
        "set-header" | "add-header" | "del-header" => {
            let (a, rest) = header(&w[1..], "http-request")?;
            (Step::Act(a), rest)
        }
        a => {
            return Err(format!(
                "http-request action \"{a}\" is not supported (supported: redirect, return, deny, allow, set-header, add-header, del-header)"
            ))
        }
    };
    Ok((Phase::Request, step, rest))
}

/// The optional `if|unless COND` that ends a line; anything else there is a mistake.
fn tail(rest: &[String], acls: &Acls, what: &str) -> Result<Option<(bool, Cond)>, String> {
    let Some(first) = rest.first() else { return Ok(None) };
    let unless = match first.as_str() {
        "if" => false,
        "unless" => true,
        other => return Err(format!("{what}: unexpected \"{other}\" (expected if or unless)")),
    };
    let cond = acl::condition(&rest[1..], &|n| acls.contains_key(n))?;
    Ok(Some((unless, cond)))
}

fn is_cond(word: &str) -> bool {
    word == "if" || word == "unless"
}

/// `location|prefix|scheme VALUE [code N] [drop-query]` and what follows.
fn redirect<'a>(w: &'a [String], what: &str) -> Result<(Action, &'a [String]), String> {
    let (Some(kind), Some(value)) = (w.first(), w.get(1)) else {
        return Err(format!("{what} needs location, prefix or scheme and a value"));
    };
    if value.contains("%[") {
        return Err(format!("{what} {kind} \"{value}\": dynamic values (%[...]) are not supported"));
    }
    let mut status = 302;
    let mut drop_query = false;
    let mut i = 2;
    while i < w.len() && !is_cond(&w[i]) {
        match w[i].as_str() {
            "code" => {
                let code = w.get(i + 1).ok_or_else(|| format!("{what}: code needs a number"))?;
                status = code.parse().map_err(|_| format!("{what}: code \"{code}\" is not a number"))?;
                i += 1;
            }
            "drop-query" => drop_query = true,
            o @ ("append-slash" | "set-cookie" | "clear-cookie" | "ignore-empty" | "keep-query") => {
                return Err(format!("{what}: option \"{o}\" is not supported (supported: code N, drop-query)"))
            }
            o => return Err(format!("{what}: unexpected \"{o}\"")),
        }
        i += 1;
    }
    let to = match kind.as_str() {
        "location" => RedirectTo::Location(value.clone()),
        "prefix" => RedirectTo::Prefix { prefix: value.clone(), drop_query },
        "scheme" => RedirectTo::Scheme { scheme: value.clone(), drop_query },
        k => return Err(format!("{what} {k}: expected location, prefix or scheme")),
    };
    Ok((Action::Redirect(Redirect { status, to }), &w[i..]))
}

/// `http-request return` (`deny` false) or `http-request deny` options, and what follows.
fn fixed(w: &[String], deny: bool) -> Result<(FixedResponse, &[String]), String> {
    let what = if deny { "http-request deny" } else { "http-request return" };
    let mut status: u16 = if deny { 403 } else { 200 };
    let mut content_type = None;
    let mut payload: Option<String> = None;
    let mut errorfiles = false;
    let mut i = 0;
    while i < w.len() && !is_cond(&w[i]) {
        let value = || w.get(i + 1).ok_or_else(|| format!("{what}: {} needs a value", w[i]));
        match w[i].as_str() {
            o @ ("status" | "deny_status") if o == "status" || deny => {
                let v = value()?;
                status = v.parse().map_err(|_| format!("{what}: {o} \"{v}\" is not a number"))?;
                i += 1;
            }
            "content-type" => {
                content_type = Some(value()?.clone());
                i += 1;
            }
            "string" => {
                payload = Some(value()?.clone());
                i += 1;
            }
            "lf-string" => {
                let v = value()?;
                let t = Template::parse_haproxy(v).map_err(|e| format!("{what}: lf-string {e}"))?;
                let mut text = String::new();
                for piece in t.pieces {
                    match piece {
                        Piece::Literal(l) => text.push_str(&l),
                        _ => return Err(format!("{what}: lf-string \"{v}\": %[...] is not supported in a body")),
                    }
                }
                payload = Some(text);
                i += 1;
            }
            "default-errorfiles" => errorfiles = true,
            o @ ("hdr" | "file" | "lf-file" | "errorfile" | "errorfiles") => {
                return Err(format!("{what}: option \"{o}\" is not supported (supported: status, content-type, string, lf-string, default-errorfiles)"))
            }
            o => return Err(format!("{what}: unexpected \"{o}\"")),
        }
        i += 1;
    }
    let rest = &w[i..];
    let response = match payload {
        Some(body) => {
            if !body.is_empty() && content_type.is_none() {
                return Err(format!("{what}: a content type must be defined when non-empty payload is configured"));
            }
            FixedResponse { status, content_type: content_type.unwrap_or_default(), body }
        }
        None if deny || errorfiles => {
            let body = error_page(status).ok_or_else(|| {
                format!("{what}: status {status} has no HAProxy error page; give content-type and string")
            })?;
            FixedResponse { status, content_type: "text/html".into(), body: body.into() }
        }
        None => FixedResponse { status, content_type: content_type.unwrap_or_default(), body: String::new() },
    };
    Ok((response, rest))
}

/// `set-header NAME FMT`, `add-header NAME FMT`, `del-header NAME [-m str]` (`w[0]` is the
/// action).
fn header<'a>(w: &'a [String], what: &str) -> Result<(Action, &'a [String]), String> {
    let action = w[0].as_str();
    let name = w.get(1).ok_or_else(|| format!("{what} {action} needs a header name"))?.clone();
    let (op, value, rest) = match action {
        "del-header" => {
            let mut rest = &w[2..];
            if rest.first().is_some_and(|x| x == "-m") {
                match rest.get(1).map(String::as_str) {
                    Some("str") => rest = &rest[2..],
                    m => {
                        return Err(format!(
                            "{what} del-header -m {}: only -m str (the whole name) is supported",
                            m.unwrap_or("")
                        ))
                    }
                }
            }
            (HeaderOp::Del, Template::default(), rest)
        }
        _ => {
            let value = w.get(2).ok_or_else(|| format!("{what} {action} {name} needs a value"))?;
            let value = Template::parse_haproxy(value).map_err(|e| format!("{what} {action} {name}: {e}"))?;
            let op = if action == "set-header" { HeaderOp::Set } else { HeaderOp::Add };
            (op, value, &w[3..])
        }
    };
    Ok((Action::Header(HeaderEdit { op, name, value }), rest))
}

/// HAProxy's own error pages (its `http_err_msgs`), the bodies `deny` answers with.
pub fn error_page(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
        400 => "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
        401 => "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
        403 => "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
        404 => "<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n",
        405 => "<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n",
        407 => "<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
        408 => "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
        410 => "<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n",
        413 => "<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n",
        425 => "<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
        429 => "<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n",
        500 => "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n",
        501 => "<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n",
        502 => "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
        503 => "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
        504 => "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
        _ => return None,
    })
}

fn and(a: Condition, b: Condition) -> Condition {
    match (a, b) {
        (Condition::Always, c) | (c, Condition::Always) => c,
        (Condition::All(mut list), c) => {
            list.push(c);
            Condition::All(list)
        }
        (a, b) => Condition::All(vec![a, b]),
    }
}

impl Reader {
    /// A proxy's rules in HAProxy's order, each with its (global) line. `front`: the proxy's
    /// rules go to a listener (frontend, listen), else to its target group.
    pub(super) fn proxy_rules(&self, p: &Proxy, front: bool) -> (Rules, Vec<usize>, Vec<usize>) {
        let mut rules = Rules::default();
        let (mut request_lines, mut response_lines) = (Vec::new(), Vec::new());
        let rule = |line: usize, condition: Condition, action: Action| {
            let (label, local) = self.locate(line);
            Rule { priority: local as u32, label: format!("{label}:{local}"), condition, action }
        };
        // HAProxy ignores monitor-uri outside of HTTP mode.
        let http = p.common.mode == Some(super::Mode::Http);
        if let (true, true, Some((uri, line))) = (front, http, &p.common.monitor_uri) {
            // HAProxy compares a monitor-uri starting with '/' with the path and query as sent.
            let test = Test { fetch: Fetch::Url, matcher: Match::Str, ignore_case: false, patterns: vec![uri.clone()] };
            let ok = FixedResponse {
                status: 200,
                content_type: "text/html".into(),
                body: error_page(200).expect("HAProxy's 200 page").into(),
            };
            rules.request.push(rule(*line, Condition::Test(test), Action::Fixed(ok)));
            request_lines.push(*line);
        }
        let condition = |s: &Pending| match &s.cond {
            None => Condition::Always,
            Some((false, c)) => c.resolve(&p.acls),
            Some((true, c)) => Condition::Not(Box::new(c.resolve(&p.acls))),
        };
        // Conditions of the `allow` lines seen so far: a later http-request line runs only
        // when none of them held.
        let mut allowed: Vec<Condition> = Vec::new();
        for phase in [Phase::Request, Phase::Redirect, Phase::Switch] {
            for s in p.rules.iter().filter(|s| s.phase == phase) {
                let mut c = condition(s);
                match &s.step {
                    Step::Allow => {
                        allowed.push(c);
                        continue;
                    }
                    Step::Act(action) => {
                        if phase == Phase::Request && !allowed.is_empty() {
                            let stop =
                                if allowed.len() == 1 { allowed[0].clone() } else { Condition::Any(allowed.clone()) };
                            c = and(c, Condition::Not(Box::new(stop)));
                        }
                        rules.request.push(rule(s.line, c, action.clone()));
                        request_lines.push(s.line);
                    }
                }
            }
        }
        let switches = p.rules.iter().any(|s| s.phase == Phase::Switch);
        if front && p.kind == Kind::Frontend && p.default_backend.is_none() && switches {
            // HAProxy answers 503 when no use_backend holds and there is no default.
            let none = FixedResponse {
                status: 503,
                content_type: "text/html".into(),
                body: error_page(503).expect("HAProxy's 503 page").into(),
            };
            let mut r = rule(p.line, Condition::Always, Action::Fixed(none));
            r.label.push_str(" (no use_backend matched, no default_backend: 503)");
            rules.request.push(r);
            request_lines.push(p.line);
        }
        for phase in [Phase::Response, Phase::AfterResponse] {
            for s in p.rules.iter().filter(|s| s.phase == phase) {
                if let Step::Act(action) = &s.step {
                    rules.response.push(rule(s.line, condition(s), action.clone()));
                    response_lines.push(s.line);
                }
            }
        }
        (rules, request_lines, response_lines)
    }

    /// Records the line of each rule of `owner`.
    pub(super) fn rule_lines(&mut self, owner: RuleOwner, request: &[usize], response: &[usize]) {
        for (response, lines) in [(false, request), (true, response)] {
            for (index, &line) in lines.iter().enumerate() {
                self.lines.set(Site::Rule(RuleSite { owner, response, index }), line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{haproxy::parse, Listener};

    const BASE: &str = "defaults\n  mode http\nbackend b\n  server s 127.0.0.1:81\nbackend c\n  server s 127.0.0.1:82\nfrontend f\n  bind 127.0.0.1:80\n";

    fn listener(lines: &str) -> Listener {
        let text = format!("{BASE}{lines}");
        parse(&text, "x.cfg").unwrap_or_else(|e| panic!("{e}")).config.listeners.remove(0)
    }

    fn actions(l: &Listener) -> Vec<Action> {
        l.rules.request.iter().map(|r| r.action.clone()).collect()
    }

    fn path(p: &str) -> Condition {
        Condition::Test(Test { fetch: Fetch::Path, matcher: Match::Str, ignore_case: false, patterns: vec![p.into()] })
    }

    #[test]
    fn use_backend_forwards_and_unless_negates() {
        let l = listener("  use_backend c unless { path /x }\n  default_backend b\n");
        assert_eq!(l.target_group, "b");
        let r = &l.rules.request[0];
        assert_eq!((r.priority, r.label.as_str()), (9, "x.cfg:9"));
        assert_eq!(r.condition, Condition::Not(Box::new(path("/x"))));
        assert_eq!(r.action, Action::Forward(Forward { groups: vec![("c".into(), 1)], stickiness: None }));
    }

    #[test]
    fn redirects_default_to_302() {
        let l = listener(
            "  redirect scheme https\n  http-request redirect location /l code 301\n  redirect prefix /p drop-query code 307\n  default_backend b\n",
        );
        let r = |status, to| Action::Redirect(Redirect { status, to });
        assert_eq!(
            actions(&l),
            vec![
                r(301, RedirectTo::Location("/l".into())),
                r(302, RedirectTo::Scheme { scheme: "https".into(), drop_query: false }),
                r(307, RedirectTo::Prefix { prefix: "/p".into(), drop_query: true }),
            ]
        );
    }

    #[test]
    fn return_and_deny_answer_as_haproxy() {
        let l = listener(
            "  http-request return\n  http-request return status 201 content-type text/plain lf-string \"100%% ok\"\n  http-request deny\n  http-request deny deny_status 503\n  http-request deny status 418 content-type text/plain string teapot\n  default_backend b\n",
        );
        let f = |status, content_type: &str, body: &str| {
            Action::Fixed(FixedResponse { status, content_type: content_type.into(), body: body.into() })
        };
        assert_eq!(
            actions(&l),
            vec![
                f(200, "", ""),
                f(201, "text/plain", "100% ok"),
                f(
                    403,
                    "text/html",
                    "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
                ),
                f(503, "text/html", error_page(503).unwrap()),
                f(418, "text/plain", "teapot"),
            ]
        );
    }

    #[test]
    fn allow_stops_the_later_http_request_lines_only() {
        let l = listener(
            "  http-request set-header A 1\n  http-request allow if { path /a }\n  http-request allow\n  http-request deny\n  use_backend c if { path /c }\n  default_backend b\n",
        );
        let conds: Vec<Condition> = l.rules.request.iter().map(|r| r.condition.clone()).collect();
        let not = |c: Condition| Condition::Not(Box::new(c));
        assert_eq!(
            conds,
            vec![
                Condition::Always,
                // deny: neither allow held.
                not(Condition::Any(vec![path("/a"), Condition::Always])),
                // use_backend is not an http-request line: allow does not stop it.
                path("/c"),
            ]
        );
    }

    #[test]
    fn header_edits_in_each_phase() {
        let l = listener(
            "  http-request set-header X-Ip %[src]\n  http-request del-header X-A -m str\n  http-after-response add-header X-B 2\n  http-response set-header X-C 3\n  default_backend b\n",
        );
        let e = |op, name: &str, value| Action::Header(HeaderEdit { op, name: name.into(), value });
        assert_eq!(
            actions(&l),
            vec![
                e(HeaderOp::Set, "X-Ip", Template { pieces: vec![Piece::Src] }),
                e(HeaderOp::Del, "X-A", Template::default()),
            ]
        );
        let response: Vec<Action> = l.rules.response.iter().map(|r| r.action.clone()).collect();
        // http-response before http-after-response, whatever the file order.
        assert_eq!(
            response,
            vec![e(HeaderOp::Set, "X-C", Template::literal("3")), e(HeaderOp::Add, "X-B", Template::literal("2"))]
        );
    }

    #[test]
    fn monitor_uri_comes_first_and_answers_haproxys_page() {
        let l = listener("  http-request deny\n  monitor-uri /up\n  default_backend b\n");
        let r = &l.rules.request[0];
        assert_eq!(r.priority, 10);
        let url = Test { fetch: Fetch::Url, matcher: Match::Str, ignore_case: false, patterns: vec!["/up".into()] };
        assert_eq!(r.condition, Condition::Test(url));
        assert_eq!(
            r.action,
            Action::Fixed(FixedResponse {
                status: 200,
                content_type: "text/html".into(),
                body: "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n".into()
            })
        );
    }

    #[test]
    fn refusals() {
        let refused = |lines: &str| -> Vec<String> {
            let text = format!("{BASE}{lines}  default_backend b\n");
            parse(&text, "x.cfg").unwrap_err().problems.iter().map(|p| p.to_string()).collect()
        };
        let cases = [
            ("  http-request tarpit\n", "x.cfg:9: http-request action \"tarpit\" is not supported (supported: redirect, return, deny, allow, set-header, add-header, del-header)"),
            ("  http-request del-header X -m beg\n", "x.cfg:9: http-request del-header -m beg: only -m str (the whole name) is supported"),
            ("  http-request return lf-string %[src] content-type text/plain\n", "x.cfg:9: http-request return: lf-string \"%[src]\": %[...] is not supported in a body"),
            ("  redirect scheme https set-cookie A=1\n", "x.cfg:9: redirect: option \"set-cookie\" is not supported (supported: code N, drop-query)"),
            ("  redirect scheme %[hdr(x)]\n", "x.cfg:9: redirect scheme \"%[hdr(x)]\": dynamic values (%[...]) are not supported"),
            ("  redirect to /x\n", "x.cfg:9: redirect to: expected location, prefix or scheme"),
            ("  redirect location /x code 304\n", "x.cfg:9: listener \"f\": x.cfg:9: redirect status 304 (301, 302, 303, 307 or 308)"),
            ("  http-request set-header X\n", "x.cfg:9: http-request set-header X needs a value"),
            ("  http-response set-header X 1 if { path /x }\n", "x.cfg:9: listener \"f\": x.cfg:9: the path is not known when the response arrives"),
            ("  use_backend if TRUE\n", "x.cfg:9: use_backend needs a backend name before its condition"),
        ];
        for (lines, expected) in cases {
            let found = refused(lines);
            assert!(found.iter().any(|f| f == expected), "{lines:?}: expected {expected:?}, got {found:?}");
        }
        let text = "backend b\n  use_backend c\n  server s 127.0.0.1:81\n";
        let found: Vec<String> = parse(text, "x.cfg").unwrap_err().problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(found, vec!["x.cfg:2: use_backend is only valid in a frontend or listen section"]);
    }
}
