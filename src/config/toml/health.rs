//! `[target_group.health_check]`: what is checked and how often, read into the model's
//! [`HealthCheck`]. Beside ELB's keys (`protocol`, `path`, `port`, `interval`, `timeout`,
//! thresholds, `matcher`), the checks haproxy.cfg offers, named the native way:
//!
//! ```toml
//! protocol = "redis"                 # tcp | http | https | mysql | pgsql | redis | smtp | ssl_hello
//! user = "haproxy"                   # mysql, pgsql: log in as (no password)
//! smtp_hello = "EHLO lb.example.com" # smtp: the greeting (default "HELO localhost")
//! fast_interval = "500ms"            # between checks while a verdict is changing (default: interval)
//! down_interval = "10s"              # between checks while unhealthy (default: interval)
//! shutdown_sessions = true           # an unhealthy target's pooled connections are closed
//! method = "HEAD"                    # http(s): the method (GET), the version, extra headers
//! version = "HTTP/1.1"
//! headers = { Host = "www.example.com" }
//! expect = { body = "UP" }           # or body_regex / status_regex; negate = true inverts
//! tcp_check = [                      # tcp: the conversation, step by step
//!   { connect = 6379 },              # (re)connect to this port (0 = the check's port)
//!   { send = "PING\r\n" },           # or send_binary = "hex"
//!   { expect = "+PONG" },            # or expect_regex / expect_binary; negate = true inverts
//! ]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Leaf, Reader};
use crate::config::{
    validate::{self, Site},
    CheckStep, ExpectPattern, HealthCheck, HealthProtocol, HttpExpect, HttpMatch,
};

const PROTOCOLS: &[(&str, HealthProtocol)] = &[
    ("tcp", HealthProtocol::Tcp),
    ("http", HealthProtocol::Http),
    ("https", HealthProtocol::Https),
    ("mysql", HealthProtocol::Mysql),
    ("pgsql", HealthProtocol::Pgsql),
    ("redis", HealthProtocol::Redis),
    ("smtp", HealthProtocol::Smtp),
    ("ssl_hello", HealthProtocol::SslHello),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawHealthCheck {
    enabled: Leaf<bool>,
    protocol: Leaf<String>,
    path: Leaf<String>,
    port: Leaf<i64>,
    interval: Leaf<toml::Value>,
    timeout: Leaf<toml::Value>,
    healthy_threshold: Leaf<i64>,
    unhealthy_threshold: Leaf<i64>,
    matcher: Leaf<String>,
    user: Leaf<String>,
    smtp_hello: Leaf<String>,
    fast_interval: Leaf<toml::Value>,
    down_interval: Leaf<toml::Value>,
    shutdown_sessions: Leaf<bool>,
    method: Leaf<String>,
    version: Leaf<String>,
    /// Not `Spanned`: a `[target_group.health_check.headers]` table has no span.
    headers: Option<BTreeMap<String, String>>,
    expect: Option<Spanned<RawExpect>>,
    tcp_check: Option<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawExpect {
    body: Option<String>,
    body_regex: Option<String>,
    status_regex: Option<String>,
    negate: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawStep {
    connect: Option<i64>,
    send: Option<String>,
    send_binary: Option<String>,
    expect: Option<String>,
    expect_regex: Option<String>,
    expect_binary: Option<String>,
    negate: Option<bool>,
}

impl Reader<'_> {
    pub(super) fn health_check(&mut self, g: usize, raw: RawHealthCheck) -> HealthCheck {
        let at = |field| Site::HealthCheck(g, field);
        let mut hc = HealthCheck::default();
        hc.enabled = self.value(at("enabled"), raw.enabled, hc.enabled);
        let protocol = raw.protocol.as_ref().map(|p| self.line_of(p.span().start));
        hc.protocol = self.choice(at("protocol"), raw.protocol, hc.protocol, PROTOCOLS);
        hc.path = self.value(at("path"), raw.path, hc.path);
        hc.port = self.number(at("port"), raw.port, hc.port);
        hc.healthy_threshold = self.number(at("healthy_threshold"), raw.healthy_threshold, hc.healthy_threshold);
        hc.unhealthy_threshold =
            self.number(at("unhealthy_threshold"), raw.unhealthy_threshold, hc.unhealthy_threshold);
        hc.interval = self.duration(at("interval"), raw.interval, hc.interval);
        hc.timeout = self.duration(at("timeout"), raw.timeout, hc.timeout);
        if let Some((text, line)) = self.leaf(at("matcher"), raw.matcher) {
            match validate::parse_matcher(&text) {
                Ok(matcher) => hc.matcher = matcher,
                Err(message) => self.fail(at("matcher"), line, format!("{}: {message}", at("matcher"))),
            }
        }
        hc.user = self.value(at("user"), raw.user, hc.user);
        hc.smtp_hello = self.value(at("smtp_hello"), raw.smtp_hello, hc.smtp_hello);
        for (field, leaf, slot) in [
            ("fast_interval", raw.fast_interval, &mut hc.fast_interval),
            ("down_interval", raw.down_interval, &mut hc.down_interval),
        ] {
            let line = leaf.as_ref().map(|l| self.line_of(l.span().start));
            if let Some(line) = line {
                let d = self.duration(at(field), leaf, hc.interval);
                if d.is_zero() {
                    self.fail(at(field), line, format!("{}: must be greater than 0", at(field)));
                }
                *slot = Some(d);
            }
        }
        hc.shutdown_sessions = self.value(at("shutdown_sessions"), raw.shutdown_sessions, false);
        hc.http.method = self.value(at("method"), raw.method, hc.http.method);
        hc.http.version = self.value(at("version"), raw.version, hc.http.version);
        hc.http.headers = raw.headers.unwrap_or_default().into_iter().collect();
        if let Some(expect) = raw.expect {
            hc.http.expect = self.http_expect(g, expect);
        }
        if let Some(steps) = raw.tcp_check {
            hc.script = steps.into_iter().enumerate().filter_map(|(i, s)| self.step(g, i, s)).collect();
        }
        self.protocol_needs(g, &hc, protocol);
        hc
    }

    /// What each protocol needs of the other keys.
    fn protocol_needs(&mut self, g: usize, hc: &HealthCheck, line: Option<usize>) {
        let at = |field| Site::HealthCheck(g, field);
        let line = line.unwrap_or_else(|| self.lines.line(at("")));
        if hc.protocol == HealthProtocol::Pgsql && hc.user.is_empty() {
            self.fail(at("user"), line, format!("{}: protocol \"pgsql\" needs a user to log in as", at("user")));
        }
        if !hc.script.is_empty() && hc.protocol != HealthProtocol::Tcp {
            self.fail(at("tcp_check"), line, format!("{}: steps are for protocol \"tcp\"", at("tcp_check")));
        }
        if !matches!(hc.http.method.as_str(), m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic())) {
            self.fail(at("method"), line, format!("{}: \"{}\" is not an HTTP method", at("method"), hc.http.method));
        }
        if !matches!(hc.http.version.as_str(), "HTTP/1.0" | "HTTP/1.1") {
            self.fail(at("version"), line, format!("{}: \"HTTP/1.0\" or \"HTTP/1.1\"", at("version")));
        }
        let bad_header = hc.http.headers.iter().find(|(n, v)| {
            n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || v.contains(['\r', '\n'])
        });
        if let Some((n, _)) = bad_header {
            self.fail(
                at("headers"),
                line,
                format!("{}: header \"{n}\" is not a valid name with a one-line value", at("headers")),
            );
        }
    }

    fn http_expect(&mut self, g: usize, raw: Spanned<RawExpect>) -> Option<HttpExpect> {
        let site = Site::HealthCheck(g, "expect");
        let (raw, line) = self.entry(site, raw);
        let negate = raw.negate.unwrap_or(false);
        let what = match (raw.body, raw.body_regex, raw.status_regex) {
            (Some(s), None, None) => HttpMatch::String(s),
            (None, Some(re), None) => HttpMatch::RString(self.regex(site, line, re)?),
            (None, None, Some(re)) => HttpMatch::RStatus(self.regex(site, line, re)?),
            _ => {
                self.fail(site, line, format!("{site}: give one of body, body_regex, status_regex"));
                return None;
            }
        };
        Some(HttpExpect { negate, what })
    }

    fn step(&mut self, g: usize, i: usize, raw: Spanned<RawStep>) -> Option<CheckStep> {
        let site = Site::HealthCheck(g, "tcp_check");
        let (raw, line) = self.entry(site, raw);
        let name = format!("{site}[{i}]");
        let negate = raw.negate.unwrap_or(false);
        let actions = [
            raw.connect.is_some(),
            raw.send.is_some(),
            raw.send_binary.is_some(),
            raw.expect.is_some(),
            raw.expect_regex.is_some(),
            raw.expect_binary.is_some(),
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            let message =
                format!("{name}: give exactly one of connect, send, send_binary, expect, expect_regex, expect_binary");
            self.fail(site, line, message);
            return None;
        }
        let fail = |r: &mut Self, message: String| {
            r.fail(site, line, format!("{name}: {message}"));
            None
        };
        if negate && (raw.connect.is_some() || raw.send.is_some() || raw.send_binary.is_some()) {
            return fail(self, "negate goes with an expect".into());
        }
        let hex = |t: &str| crate::config::haproxy::hex(t);
        let step = if let Some(port) = raw.connect {
            match u16::try_from(port) {
                Ok(port) => CheckStep::Connect { port },
                Err(_) => return fail(self, format!("connect: port {port} is out of range")),
            }
        } else if let Some(s) = raw.send {
            CheckStep::Send(s.into_bytes())
        } else if let Some(h) = raw.send_binary {
            match hex(&h) {
                Ok(b) => CheckStep::Send(b),
                Err(e) => return fail(self, format!("send_binary: {e}")),
            }
        } else if let Some(s) = raw.expect {
            CheckStep::Expect { negate, pattern: ExpectPattern::Bytes(s.into_bytes()) }
        } else if let Some(re) = raw.expect_regex {
            let re = self.regex(site, line, re)?;
            CheckStep::Expect { negate, pattern: ExpectPattern::Regex(re) }
        } else {
            match hex(raw.expect_binary.as_deref().unwrap_or_default()) {
                Ok(b) => CheckStep::Expect { negate, pattern: ExpectPattern::Bytes(b) },
                Err(e) => return fail(self, format!("expect_binary: {e}")),
            }
        };
        Some(step)
    }

    fn regex(&mut self, site: Site, line: usize, re: String) -> Option<String> {
        match regex::bytes::Regex::new(&re) {
            Ok(_) => Some(re),
            Err(e) => {
                self.fail(site, line, format!("{site}: invalid regular expression {re:?}: {e}"));
                None
            }
        }
    }
}
