//! Where the listener rules meet the request flow: the parsed head shown to the rules engine
//! (`crate::rules`), the route it decides (a group, header edits, a stickiness cookie), and the
//! responses rules make themselves (redirects, fixed responses) written to the client.
//!
//! The engine decides; this file only adapts: the head's fields as [`Fields`], the edits as the
//! head writers' [`EditHook`], a rule's answer as HTTP/1.1 bytes in the exchange's reused output
//! buffer.

use std::net::SocketAddr;

use super::{
    codec::{Header, Method, RequestHead, Version},
    errors,
    headers::EditHook,
};
use crate::{
    config::rules::FixedResponse,
    context::ListenerRuntime,
    rules::{Edits, Fields, RedirectPlan, Request, ResponseEdits, RuleSet, Values},
    sticky::{self, Found, ResponseCookie},
};

/// A parsed head's fields, over the buffer they were parsed from.
pub(super) struct HeadFields<'a> {
    pub buf: &'a [u8],
    pub headers: &'a [Header],
}

impl<'a> Fields<'a> for HeadFields<'a> {
    fn any(&self, f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool) -> bool {
        self.headers.iter().any(|h| f(h.name(self.buf), h.value(self.buf)))
    }
}

/// The request as the rules see it.
pub(super) fn request_view<'a>(
    fields: &'a HeadFields<'a>,
    head: &RequestHead,
    peer: SocketAddr,
    listener: &'a ListenerRuntime,
    tls: bool,
) -> Request<'a> {
    let slice = |r: (u32, u32)| super::codec::slice(fields.buf, r);
    let version = match head.version {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    };
    Request::new(
        slice(head.method_range),
        slice(head.target),
        version,
        fields,
        peer,
        listener.local,
        tls,
        &listener.host,
    )
}

/// Where a request goes and what changes on the way: decided by the listener's rules, then the
/// chosen group's.
pub(super) struct Route<'r> {
    pub group: usize,
    /// The listener's and the group's request edits.
    pub edits: [Edits<'r>; 2],
    /// The `Set-Cookie` line of group stickiness, for the response.
    pub set_cookie: Option<&'r [u8]>,
    /// What the request's target-stickiness cookie said (when the group has stickiness).
    pub sticky: Found,
}

impl Route<'_> {
    pub fn to(group: usize) -> Self {
        Route { group, edits: [Edits::none(), Edits::none()], set_cookie: None, sticky: Found::default() }
    }
}

/// A response a rule makes itself.
#[derive(Clone, Copy)]
pub(super) enum Answer<'r> {
    Redirect(&'r RedirectPlan),
    Fixed(&'r FixedResponse),
}

impl Answer<'_> {
    pub fn status(&self) -> u16 {
        match self {
            Answer::Redirect(r) => r.status,
            Answer::Fixed(f) => f.status,
        }
    }
}

/// HAProxy's 503 page, answered at a `monitor-uri` while the process drains.
pub(super) fn monitor_down() -> &'static FixedResponse {
    static PAGE: std::sync::OnceLock<FixedResponse> = std::sync::OnceLock::new();
    PAGE.get_or_init(|| FixedResponse {
        status: 503,
        content_type: "text/html".into(),
        body: crate::config::haproxy::error_page(503).unwrap_or_default().into(),
        monitor: false,
    })
}

/// Writes a rule's response into `out` (cleared first). `keep_alive`: the connection stays
/// open after it (else `Connection: close`).
pub(super) fn write_answer(
    out: &mut Vec<u8>,
    answer: Answer<'_>,
    request: &Request<'_>,
    method: Method,
    keep_alive: bool,
) {
    use std::io::Write;
    out.clear();
    let status = answer.status();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", errors::reason_if_known(status));
    let body: &[u8] = match answer {
        Answer::Redirect(plan) => {
            out.extend_from_slice(b"Location: ");
            plan.write_location(request, out);
            out.extend_from_slice(b"\r\n");
            b""
        }
        Answer::Fixed(f) => {
            if !f.content_type.is_empty() {
                let _ = write!(out, "Content-Type: {}\r\n", f.content_type);
            }
            f.body.as_bytes()
        }
    };
    let _ = write!(out, "Content-Length: {}\r\n", body.len());
    out.extend_from_slice(if keep_alive { b"\r\n" as &[u8] } else { b"Connection: close\r\n\r\n" });
    if method != Method::Head {
        out.extend_from_slice(body);
    }
}

/// The request edits as the request head writer's hook.
pub(super) struct RequestEdits<'x, 'r, 'a> {
    pub edits: &'x [Edits<'r>; 2],
    pub request: &'x Request<'a>,
    /// The target-stickiness cookie to take out of the request's `Cookie` fields (HAProxy
    /// `indirect`): they are dropped and written again without it.
    pub strip_cookie: Option<&'x [u8]>,
}

impl RequestEdits<'_, '_, '_> {
    /// Nothing to change: the writer is given no hook at all.
    pub fn is_empty(&self) -> bool {
        self.strip_cookie.is_none() && self.edits.iter().all(|e| e.is_empty())
    }
}

impl EditHook for RequestEdits<'_, '_, '_> {
    fn drops(&self, name: &[u8]) -> bool {
        (self.strip_cookie.is_some() && name.eq_ignore_ascii_case(b"cookie"))
            || self.edits.iter().any(|e| e.drops(name))
    }

    fn append(&self, out: &mut Vec<u8>) {
        if let Some(cookie) = self.strip_cookie {
            sticky::write_request_cookies(self.request.fields, cookie, out);
        }
        for e in self.edits {
            e.write_added(out, &Values::Request(self.request));
        }
    }
}

/// The response edits (the listener's and the group's response rules) and the stickiness
/// cookie, as the response head writer's hook.
pub(super) struct ResponseHook<'r> {
    pub edits: [ResponseEdits<'r>; 2],
    pub set_cookie: Option<&'r [u8]>,
    /// The target-stickiness cookie (and `Cache-Control: private`), for the response.
    pub target_cookie: ResponseCookie<'r>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
}

impl ResponseHook<'_> {
    /// Whether there is anything to do (else the plain writer serves).
    pub fn is_empty(&self) -> bool {
        self.set_cookie.is_none()
            && self.target_cookie.set_cookie.is_none()
            && self.edits.iter().all(|e| e.0.is_empty())
    }
}

impl EditHook for ResponseHook<'_> {
    fn drops(&self, name: &[u8]) -> bool {
        self.edits.iter().any(|e| e.0.drops(name))
    }

    fn append(&self, out: &mut Vec<u8>) {
        let values = Values::Connection { peer: self.peer, local: self.local, tls: self.tls };
        for e in &self.edits {
            e.0.write_added(out, &values);
        }
        if let Some(cookie) = self.set_cookie {
            out.extend_from_slice(cookie);
        }
        if let Some(cookie) = self.target_cookie.set_cookie {
            out.extend_from_slice(cookie);
            if self.target_cookie.cache_private {
                out.extend_from_slice(b"Cache-Control: private\r\n");
            }
        }
    }
}

/// The response rules of a listener and of a group, evaluated on a response head.
pub(super) fn response_edits<'r>(
    sets: [&'r RuleSet; 2],
    status: u16,
    fields: &HeadFields<'_>,
    peer: SocketAddr,
    tls: bool,
) -> [ResponseEdits<'r>; 2] {
    let response = crate::rules::Response { status, fields };
    sets.map(|s| if s.has_response_rules() { s.evaluate_response(&response, peer, tls) } else { ResponseEdits::none() })
}
