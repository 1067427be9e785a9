//! The `action` of a `[[listener.rule]]`: ELB's `forward`, `redirect` and `fixed_response`.
//!
//! Apart from the conditions because each type has keys and limits of its own (weights and
//! stickiness; redirect components, placeholders and the refusal of a redirect that would loop;
//! response statuses, content types and body size). All keys of all types are read by serde in
//! one table, and a key the action's type does not take is reported here, naming the type, so
//! that `body` on a `forward` says more than "unknown key".

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Leaf, Reader, MAX_VALUE_LEN};
use crate::config::{
    rules::{Action, FixedResponse, Forward, Redirect, RedirectTo},
    toml::parse_duration,
    Protocol,
};

/// Groups of a weighted forward, and their weight.
pub const MAX_GROUPS: usize = 5;
pub const MAX_GROUP_WEIGHT: i64 = 999;
/// Bytes of a fixed response's body.
pub const MAX_BODY: usize = 1024;
pub const CONTENT_TYPES: &[&str] =
    &["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
/// The placeholders a redirect component may hold.
const PLACEHOLDERS: &[&str] = &["protocol", "host", "port", "path", "query"];

/// Every key of every action type; which ones a type takes is checked after reading, so that
/// a key of another type gets a message naming the type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawAction {
    #[serde(rename = "type")]
    kind: Leaf<String>,
    target_group: Leaf<String>,
    target_groups: Leaf<Vec<Spanned<RawWeighted>>>,
    stickiness: Leaf<toml::Value>,
    status: Leaf<i64>,
    protocol: Leaf<String>,
    host: Leaf<String>,
    port: Leaf<toml::Value>,
    path: Leaf<String>,
    query: Leaf<String>,
    content_type: Leaf<String>,
    body: Leaf<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawWeighted {
    name: Leaf<String>,
    weight: Leaf<i64>,
}

/// The action types and the keys each takes besides `type`.
const ACTION_KEYS: &[(&str, &[&str])] = &[
    ("forward", &["target_group", "target_groups", "stickiness"]),
    ("redirect", &["status", "protocol", "host", "port", "path", "query"]),
    ("fixed_response", &["status", "content_type", "body"]),
];

impl Reader<'_> {
    /// The rule's action; `protocol` is the listener's (an HTTPS listener cannot redirect to HTTP).
    pub(super) fn action(&mut self, at: &str, raw: RawAction, line: usize, protocol: Protocol) -> Option<Action> {
        let at = format!("{at}.action");
        let Some(kind) = raw.kind.as_ref() else {
            self.complain(line, format!("missing key {at}.type (forward, redirect or fixed_response)"));
            return None;
        };
        let (kind, line) = (kind.get_ref().clone(), self.line_of(kind.span().start));
        let Some(&(_, allowed)) = ACTION_KEYS.iter().find(|(k, _)| *k == kind) else {
            let message =
                format!("{at}.type: unknown value \"{kind}\": expected one of forward, redirect, fixed_response");
            self.complain(line, message);
            return None;
        };
        let present = [
            ("target_group", self.line_at(&raw.target_group)),
            ("target_groups", self.line_at(&raw.target_groups)),
            ("stickiness", self.line_at(&raw.stickiness)),
            ("status", self.line_at(&raw.status)),
            ("protocol", self.line_at(&raw.protocol)),
            ("host", self.line_at(&raw.host)),
            ("port", self.line_at(&raw.port)),
            ("path", self.line_at(&raw.path)),
            ("query", self.line_at(&raw.query)),
            ("content_type", self.line_at(&raw.content_type)),
            ("body", self.line_at(&raw.body)),
        ];
        let mut ok = true;
        for (key, key_line) in present {
            if let Some(key_line) = key_line.filter(|_| !allowed.contains(&key)) {
                let message =
                    format!("{at}.{key}: a {kind} action does not take {key} (it takes {})", allowed.join(", "));
                self.complain(key_line, message);
                ok = false;
            }
        }
        let action = match kind.as_str() {
            "forward" => self.forward(&at, raw, line).map(Action::Forward),
            "redirect" => self.redirect(&at, raw, line, protocol).map(Action::Redirect),
            _ => self.fixed(&at, raw, line).map(Action::Fixed),
        };
        action.filter(|_| ok)
    }

    fn forward(&mut self, at: &str, raw: RawAction, line: usize) -> Option<Forward> {
        let stickiness = match raw.stickiness {
            None => Some(None),
            Some(leaf) => self.stickiness(at, leaf).map(Some),
        };
        let groups = match (raw.target_group, raw.target_groups) {
            (Some(group), None) => {
                let line = self.line_of(group.span().start);
                let group = group.into_inner();
                if group.is_empty() {
                    self.complain(line, format!("{at}.target_group: an empty name"));
                    None
                } else {
                    Some(vec![(group, 1)])
                }
            }
            (None, Some(list)) => self.weighted(at, list),
            (None, None) => {
                self.complain(line, format!("{at}: a forward action needs target_group or target_groups"));
                None
            }
            (Some(_), Some(_)) => {
                self.complain(line, format!("{at}: give target_group or target_groups, not both"));
                None
            }
        };
        Some(Forward { groups: groups?, stickiness: stickiness? })
    }

    fn stickiness(&mut self, at: &str, leaf: Spanned<toml::Value>) -> Option<Duration> {
        let line = self.line_of(leaf.span().start);
        let parsed = match leaf.into_inner() {
            toml::Value::String(text) => parse_duration(&text),
            other => Err(format!("invalid duration {other}: expected a string like \"1h\"")),
        };
        let (min, max) = crate::config::defaults::STICKINESS;
        match parsed {
            Ok(d) if (min..=max).contains(&d) => Some(d),
            Ok(d) => {
                self.complain(line, format!("{at}.stickiness: {d:?} is out of range (1s to 7 days, \"168h\")"));
                None
            }
            Err(message) => {
                self.complain(line, format!("{at}.stickiness: {message}"));
                None
            }
        }
    }

    fn weighted(&mut self, at: &str, list: Spanned<Vec<Spanned<RawWeighted>>>) -> Option<Vec<(String, u32)>> {
        let line = self.line_of(list.span().start);
        let list = list.into_inner();
        if list.is_empty() || list.len() > MAX_GROUPS {
            let n = list.len();
            self.complain(line, format!("{at}.target_groups: {n} groups; a forward has 1 to {MAX_GROUPS}"));
            return None;
        }
        let mut groups: Vec<(String, u32)> = Vec::new();
        let mut ok = true;
        for (k, entry) in list.into_iter().enumerate() {
            let at = format!("{at}.target_groups[{k}]");
            let line = self.line_of(entry.span().start);
            let entry = entry.into_inner();
            let name = entry.name.map(Spanned::into_inner).filter(|n| !n.is_empty());
            let weight = entry.weight.map(|w| (self.line_of(w.span().start), w.into_inner()));
            match (name, weight) {
                (None, _) => self.complain(line, format!("missing key {at}.name")),
                (_, None) => self.complain(line, format!("missing key {at}.weight")),
                (Some(_), Some((line, w))) if !(0..=MAX_GROUP_WEIGHT).contains(&w) => {
                    self.complain(line, format!("{at}.weight: {w} is out of range (0 to {MAX_GROUP_WEIGHT})"))
                }
                (Some(name), Some(_)) if groups.iter().any(|(n, _)| *n == name) => {
                    self.complain(line, format!("{at}: target group \"{name}\" is listed twice"))
                }
                (Some(name), Some((_, w))) => {
                    groups.push((name, w as u32));
                    continue;
                }
            }
            ok = false;
        }
        ok.then_some(groups)
    }

    fn redirect(&mut self, at: &str, raw: RawAction, line: usize, listener: Protocol) -> Option<Redirect> {
        let status = self.status(at, raw.status, line, "a redirect's status is 301 or 302", |s| s == 301 || s == 302);
        let mut ok = true;
        let protocol = match raw.protocol {
            None => RedirectTo::KEEP_PROTOCOL.to_string(),
            Some(p) => {
                let line = self.line_of(p.span().start);
                let p = p.into_inner();
                let lower = p.to_ascii_lowercase();
                if lower == "http" && listener == Protocol::Https {
                    self.complain(line, format!("{at}.protocol: an HTTPS listener does not redirect to HTTP"));
                    ok = false;
                } else if lower != "http" && lower != "https" && p != RedirectTo::KEEP_PROTOCOL {
                    self.complain(line, format!("{at}.protocol: \"{p}\" is not HTTP, HTTPS or #{{protocol}}"));
                    ok = false;
                }
                if p == RedirectTo::KEEP_PROTOCOL {
                    p
                } else {
                    lower
                }
            }
        };
        let port = match raw.port {
            None => RedirectTo::KEEP_PORT.to_string(),
            Some(p) => {
                let line = self.line_of(p.span().start);
                let text = match p.into_inner() {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                let number = text.parse::<u16>().ok().filter(|&n| n > 0 && !text.starts_with('0'));
                if number.is_none() && text != RedirectTo::KEEP_PORT {
                    self.complain(line, format!("{at}.port: {text:?} is not a port (1 to 65535) or #{{port}}"));
                    ok = false;
                }
                text
            }
        };
        let mut component = |key: &str, leaf: Leaf<String>, keep: &str, check: fn(&str) -> Result<(), String>| {
            let Some(leaf) = leaf else {
                return keep.to_string();
            };
            let line = self.line_of(leaf.span().start);
            let value = leaf.into_inner();
            let checked = match value.len() {
                n if n > MAX_VALUE_LEN => Err(format!("{n} characters (at most {MAX_VALUE_LEN})")),
                _ => check(&value).and_then(|_| placeholders(&value)),
            };
            if let Err(message) = checked {
                self.complain(line, format!("{at}.{key}: {message}"));
                ok = false;
            }
            value
        };
        let host = component("host", raw.host, RedirectTo::KEEP_HOST, redirect_host);
        let path = component("path", raw.path, RedirectTo::KEEP_PATH, redirect_path);
        let query = component("query", raw.query, RedirectTo::KEEP_QUERY, redirect_query);
        let status = status?;
        if !ok {
            return None;
        }
        // The listener's own protocol is no change either.
        let own = matches!((protocol.as_str(), listener), ("http", Protocol::Http) | ("https", Protocol::Https));
        let same_protocol = protocol == RedirectTo::KEEP_PROTOCOL || own;
        if same_protocol
            && host == RedirectTo::KEEP_HOST
            && port == RedirectTo::KEEP_PORT
            && path == RedirectTo::KEEP_PATH
            && query == RedirectTo::KEEP_QUERY
        {
            let message = format!(
                "{at}: this redirect keeps the protocol, host, port, path and query: it would send the client \
                 back to the same URL; change at least one"
            );
            self.complain(line, message);
            return None;
        }
        Some(Redirect { status, to: RedirectTo::Parts { protocol, host, port, path, query } })
    }

    fn fixed(&mut self, at: &str, raw: RawAction, line: usize) -> Option<FixedResponse> {
        let ok_status = |s: u16| matches!(s / 100, 2 | 4 | 5);
        let status = self.status(at, raw.status, line, "a fixed response's status is 2XX, 4XX or 5XX", ok_status);
        let mut ok = true;
        let content_type = match raw.content_type {
            None => String::new(),
            Some(t) => {
                let line = self.line_of(t.span().start);
                let t = t.into_inner();
                if !CONTENT_TYPES.contains(&t.as_str()) {
                    let message = format!("{at}.content_type: \"{t}\" is not one of {}", CONTENT_TYPES.join(", "));
                    self.complain(line, message);
                    ok = false;
                }
                t
            }
        };
        let body = match raw.body {
            None => String::new(),
            Some(b) => {
                let line = self.line_of(b.span().start);
                let b = b.into_inner();
                if b.len() > MAX_BODY {
                    self.complain(line, format!("{at}.body: {} bytes (at most {MAX_BODY})", b.len()));
                    ok = false;
                }
                b
            }
        };
        Some(FixedResponse { status: status?, content_type, body, monitor: false }).filter(|_| ok)
    }

    /// A required `status` that `allowed` accepts.
    fn status(&mut self, at: &str, leaf: Leaf<i64>, line: usize, rule: &str, allowed: fn(u16) -> bool) -> Option<u16> {
        let Some(leaf) = leaf else {
            self.complain(line, format!("missing key {at}.status"));
            return None;
        };
        let (line, status) = (self.line_of(leaf.span().start), leaf.into_inner());
        match u16::try_from(status).ok().filter(|&s| (100..=999).contains(&s) && allowed(s)) {
            Some(s) => Some(s),
            None => {
                self.complain(line, format!("{at}.status: {status}: {rule}"));
                None
            }
        }
    }
}

/// Characters no URL component holds as such; `#` only opens a placeholder.
fn plain(v: &str) -> Result<(), String> {
    let stray_hash = v.match_indices('#').any(|(i, _)| !v[i + 1..].starts_with('{'));
    match stray_hash || v.bytes().any(|b| b.is_ascii_control() || b.is_ascii_whitespace()) {
        true => Err(format!("{v:?} holds spaces, control characters or a '#' that opens no placeholder")),
        false => Ok(()),
    }
}

fn redirect_host(v: &str) -> Result<(), String> {
    plain(v)?;
    match v.is_empty() || v.contains(['/', '?', '@']) {
        true => Err(format!("\"{v}\" is not a host name (no '/', '?' or '@'; not empty)")),
        false => Ok(()),
    }
}

fn redirect_path(v: &str) -> Result<(), String> {
    plain(v)?;
    match v.starts_with('/') && !v.contains('?') {
        true => Ok(()),
        false => Err(format!("\"{v}\" must start with '/' (and hold no '?': the query is a component of its own)")),
    }
}

fn redirect_query(v: &str) -> Result<(), String> {
    plain(v)?;
    match v.starts_with('?') {
        true => Err(format!("\"{v}\": write the query without its leading '?'")),
        false => Ok(()),
    }
}

/// Every `#{...}` names one of ELB's five placeholders.
fn placeholders(v: &str) -> Result<(), String> {
    let mut rest = v;
    while let Some(at) = rest.find("#{") {
        let inner = &rest[at + 2..];
        let end = inner.find('}').ok_or_else(|| format!("\"{v}\": #{{ without its }}"))?;
        let name = &inner[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "\"{v}\": #{{{name}}} is not a placeholder (#{{protocol}}, #{{host}}, #{{port}}, #{{path}}, #{{query}})"
            ));
        }
        rest = &inner[end + 1..];
    }
    Ok(())
}
