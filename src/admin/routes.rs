//! The admin API's endpoints (the contract's table), and their input checks.

use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::json;

use super::{gather, html, prometheus, stats, Reply, Request};
use crate::{
    config::{defaults, Target},
    control::{ChangeError, Registered},
    http::codec::Method,
    http::HttpContext,
};

/// Answers one request.
pub async fn route(shard: &HttpContext, req: &Request<'_>) -> Reply {
    let control = &shard.control;
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let mutation = matches!(req.method, Method::Post | Method::Delete);
    // HAProxy's stats page, when a haproxy.cfg put one on this address (a `listen stats`
    // section): its `stats auth` guards the page and the API (but the liveness probe); any
    // other path is what HAProxy answers there, a section without servers: 503, no auth asked.
    let set = control.current();
    if let Some(page) = &set.config.admin.stats_page {
        let endpoint = matches!(segments.first(), Some(&("stats" | "metrics" | "healthz" | "targets" | "zonal-shift")));
        if !endpoint && !req.target.starts_with(&page.uri) {
            return no_server();
        }
        if req.path != "/healthz" {
            if let Err(reply) = html::authorize(page, req) {
                return reply;
            }
        }
        // At an admin API path (`stats uri /stats`), a browser gets the page, as HAProxy
        // serves it there, and scripts keep the API's answer; elsewhere the page is what no
        // endpoint below answers (the last arm).
        if req.path == page.uri && req.wants_html && !req.target.contains(";csv") {
            return stats_page(control, req).await;
        }
    }
    drop(set);
    if mutation {
        if let Err(reply) = authorize(&control.current().config.admin.token, req.authorization) {
            return reply;
        }
    }
    match (req.method, segments.as_slice()) {
        // HAProxy's CSV export: `/stats;csv`, or any stats URI with `;csv` (`/haproxy?stats;csv`).
        (Method::Get | Method::Head, _) if req.target.contains(";csv") => {
            let set = control.current();
            let figures = gather(control).await;
            Reply {
                status: 200,
                content_type: "text/csv",
                body: super::csv::render(&set, &figures),
                headers: String::new(),
            }
        }
        (Method::Get, ["stats"]) => {
            let set = control.current();
            let figures = gather(control).await;
            Reply::json(200, stats::to_json(&stats::collect(&set, &figures), &set, &figures))
        }
        (Method::Get, ["metrics"]) => {
            let set = control.current();
            let figures = gather(control).await;
            Reply {
                status: 200,
                content_type: prometheus::CONTENT_TYPE,
                body: {
                    let rules = super::rule_figures::RuleCollector::new(&figures);
                    prometheus::render(stats::collect(&set, &figures), figures.shards, rules)
                },
                headers: String::new(),
            }
        }
        (Method::Get, ["healthz"]) => {
            let (status, body) = if control.stopping() { (503, "draining\n") } else { (200, "ok\n") };
            Reply { status, content_type: "text/plain", body: body.into(), headers: String::new() }
        }
        (Method::Post, ["targets", group]) => register(shard, &decode(group), req.body),
        (Method::Delete, ["targets", group, addr]) => deregister(shard, &decode(group), &decode(addr)),
        (Method::Post, ["zonal-shift"]) => match parse::<ZonalShift>(req.body) {
            Ok(ZonalShift { zone }) if !zone.is_empty() => {
                control.shift_zone(&zone);
                Reply::json(200, json!({ "zonal_shift": control.current().shifted_zones }).to_string() + "\n")
            }
            Ok(_) => Reply::error(400, "zone must not be empty"),
            Err(reply) => reply,
        },
        (Method::Delete, ["zonal-shift"]) => {
            control.clear_zonal_shift();
            Reply::json(200, json!({ "zonal_shift": [] }).to_string() + "\n")
        }
        (_, ["stats" | "metrics" | "healthz"]) => not_allowed("GET"),
        (_, ["targets", _]) => not_allowed("POST"),
        (_, ["targets", _, _]) => not_allowed("DELETE"),
        (_, ["zonal-shift"]) => not_allowed("POST, DELETE"),
        _ if control.current().config.admin.stats_page.as_ref().is_some_and(|p| req.target.starts_with(&p.uri)) => {
            stats_page(control, req).await
        }
        _ => Reply::error(404, format!("no endpoint {}", req.path)),
    }
}

/// HAProxy's stats page (GET and HEAD only); its CSV is the `;csv` arm above.
async fn stats_page(control: &crate::control::Control, req: &Request<'_>) -> Reply {
    if !matches!(req.method, Method::Get | Method::Head) {
        return not_allowed("GET");
    }
    let set = control.current();
    let figures = gather(control).await;
    match &set.config.admin.stats_page {
        Some(page) => html::render(page, &set, &figures),
        None => Reply::error(404, format!("no endpoint {}", req.path)),
    }
}

/// HAProxy's answer on a stats listener outside its stats URI (no server to send it to), with
/// its own page.
fn no_server() -> Reply {
    Reply {
        status: 503,
        content_type: "text/html",
        body: crate::config::haproxy::error_page(503).unwrap_or_default().into(),
        headers: String::new(),
    }
}

fn not_allowed(allow: &str) -> Reply {
    let mut reply = Reply::error(405, format!("method not allowed here; allowed: {allow}"));
    reply.headers = format!("Allow: {allow}\r\n");
    reply
}

/// Mutations need `Authorization: Bearer TOKEN` when a token is set (compared in constant time).
fn authorize(token: &str, given: Option<&[u8]>) -> Result<(), Reply> {
    if token.is_empty() {
        return Ok(());
    }
    let presented = given.and_then(|v| v.strip_prefix(b"Bearer ")).unwrap_or(b"");
    let expected = token.as_bytes();
    let same_len = presented.len() == expected.len();
    let diff = presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same_len && diff == 0 {
        return Ok(());
    }
    let mut reply = Reply::error(401, "this change needs Authorization: Bearer TOKEN (the [admin] token)");
    reply.headers = "WWW-Authenticate: Bearer\r\n".into();
    Err(reply)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    addr: String,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    zone: String,
}

fn default_weight() -> u32 {
    defaults::WEIGHT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ZonalShift {
    zone: String,
}

/// A JSON body, or a 400 naming what is wrong with it.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| Reply::error(400, format!("malformed JSON body: {e}")))
}

fn register(shard: &HttpContext, group: &str, body: &[u8]) -> Reply {
    let r: Registration = match parse(body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let addr: SocketAddr = match r.addr.parse() {
        Ok(a) => a,
        Err(_) => return Reply::error(400, format!("addr {:?} is not an IP:PORT address", r.addr)),
    };
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Reply::error(400, format!("addr {addr} cannot be a target (needs a real address and port)"));
    }
    if r.weight > defaults::MAX_WEIGHT {
        return Reply::error(400, format!("weight {} is more than {}", r.weight, defaults::MAX_WEIGHT));
    }
    let target = Target { addr, weight: r.weight, zone: r.zone, ..Target::new(addr) };
    match shard.control.register(group, target) {
        Ok(outcome) => {
            let status = if outcome == Registered::Added { 201 } else { 200 };
            let state = shard.control.current().slot(group, addr).map(|s| s.load().state().as_str());
            Reply::json(status, json!({ "group": group, "addr": addr.to_string(), "state": state }).to_string() + "\n")
        }
        Err(e) => change_error(e),
    }
}

fn deregister(shard: &HttpContext, group: &str, addr: &str) -> Reply {
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        return Reply::error(400, format!("{addr:?} is not an IP:PORT address"));
    };
    match shard.control.deregister(group, addr) {
        Ok(()) => Reply::json(
            202,
            json!({ "group": group, "addr": addr.to_string(), "state": "draining" }).to_string() + "\n",
        ),
        Err(e) => change_error(e),
    }
}

fn change_error(e: ChangeError) -> Reply {
    Reply::error(404, e)
}

/// Percent-decodes a path segment (`%5B::1%5D:80` → `[::1]:80`); bad escapes stay as they are.
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(decode("%5B::1%5D:8080"), "[::1]:8080");
        assert_eq!(decode("127.0.0.1:80"), "127.0.0.1:80");
        assert_eq!(decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(decode("%41"), "A");
    }

    #[test]
    fn tokens_are_checked() {
        assert!(authorize("", None).is_ok());
        assert!(authorize("s3cret", Some(b"Bearer s3cret")).is_ok());
        assert_eq!(authorize("s3cret", Some(b"Bearer s3cre")).unwrap_err().status, 401);
        assert_eq!(authorize("s3cret", Some(b"s3cret")).unwrap_err().status, 401);
        assert_eq!(authorize("s3cret", None).unwrap_err().status, 401);
    }
}
