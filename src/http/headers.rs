//! The heads spillway forwards: hop-by-hop fields removed, `X-Forwarded-*` added.
//!
//! Owns the rewriting rules of the contract ("HTTP listener behaviour") as two writers, one
//! per direction, that copy a parsed head's fields from the receive buffer into an output
//! buffer (reused: no allocation once it has grown).
//!
//! Removed in both directions: the hop-by-hop fields (Connection, Keep-Alive,
//! Proxy-Connection, TE, Trailer, Upgrade) and every field the `Connection` header names
//! (RFC 9110 7.6.1), except the framing and routing fields Host, Content-Length and
//! Transfer-Encoding, which are never removed: a client naming `Content-Length` in
//! `Connection` would otherwise make spillway forward a body the target does not expect, the
//! next request smuggled inside it. Upgrade and the upgrade token survive when the exchange
//! is a protocol upgrade.
//!
//! Invariants: the output is a complete head ending in CRLF CRLF, with the framing fields
//! exactly as received, so the body that follows can be forwarded verbatim.

use std::{io::Write, net::IpAddr};

use super::codec::{list_elements, Header, RequestHead, ResponseHead, Version};

/// Changes the listener rules make to a head: received fields to leave out, fields to add at
/// the end. The writers ask for each field, so a head without edits pays one call per field.
pub trait EditHook {
    fn drops(&self, name: &[u8]) -> bool;
    fn append(&self, out: &mut Vec<u8>);
}

pub struct ForwardContext<'a> {
    pub client_ip: IpAddr,
    /// The listener's port, sent as `X-Forwarded-Port`.
    pub listener_port: u16,
    /// "http" or "https", sent as `X-Forwarded-Proto`.
    pub proto: &'a str,
    /// Sent as `Host` for an HTTP/1.0 request without one, e.g. "127.0.0.1:8080".
    pub listener_host: &'a str,
    /// The rules' header edits, if any hold (applied to the received fields; spillway's own
    /// fields, the `X-Forwarded-*` ones and the framing, are written as they always are).
    /// `None` costs nothing per field.
    pub edits: Option<&'a dyn EditHook>,
}

/// Writes the request head to send to the target into `out` (cleared first): the request line
/// as received; the received fields but the hop-by-hop ones (Upgrade kept when `head.upgrade`),
/// `Expect` when spillway answers the 100-continue itself, and the `X-Forwarded-*` it replaces;
/// then `X-Forwarded-For` (received values, in order, joined by ", ", then the client),
/// `X-Forwarded-Proto`, `X-Forwarded-Port`, `Host` for a request without one,
/// `Connection: upgrade` for an upgrade and `Connection: keep-alive` for HTTP/1.0 (so the
/// target connection can be pooled).
pub fn write_request_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    headers: &[Header],
    ctx: &ForwardContext<'_>,
) {
    out.clear();
    out.reserve(head.head_len + 128);
    let (start, end) = head.request_line();
    out.extend_from_slice(buf.get(start as usize..end as usize).unwrap_or(&[]));
    out.extend_from_slice(b"\r\n");
    let listed = Listed::new(buf, headers, head.upgrade);
    let mut xff = false;
    for h in headers {
        let name = h.name(buf);
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            xff = true;
            continue;
        }
        let dropped = is_hop_by_hop(name, head.upgrade)
            || (head.expect_continue && name.eq_ignore_ascii_case(b"expect"))
            || name.eq_ignore_ascii_case(b"x-forwarded-proto")
            || name.eq_ignore_ascii_case(b"x-forwarded-port")
            || listed.names(name)
            || ctx.edits.is_some_and(|e| e.drops(name));
        if !dropped {
            push_field(out, name, h.value(buf));
        }
    }
    if let Some(e) = ctx.edits {
        e.append(out);
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    if xff {
        for h in headers.iter().filter(|h| h.is(buf, "x-forwarded-for")) {
            let value = h.value(buf);
            if !value.is_empty() {
                out.extend_from_slice(value);
                out.extend_from_slice(b", ");
            }
        }
    }
    push_ip(out, ctx.client_ip);
    out.extend_from_slice(b"\r\nX-Forwarded-Proto: ");
    out.extend_from_slice(ctx.proto.as_bytes());
    out.extend_from_slice(b"\r\nX-Forwarded-Port: ");
    push_decimal(out, ctx.listener_port.into());
    out.extend_from_slice(b"\r\n");
    if !head.has_host {
        push_field(out, b"Host", ctx.listener_host.as_bytes());
    }
    if head.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if head.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the response head to send to the client into `out` (cleared first): the status line
/// with the client's version, the received fields but the hop-by-hop ones (Connection and
/// Upgrade kept for a 101), then `Connection: close` when `close_client`, or
/// `Connection: keep-alive` for a keep-alive HTTP/1.0 client. Interim (1xx) responses get no
/// Connection field of spillway's.
pub fn write_response_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    headers: &[Header],
    client_version: Version,
    close_client: bool,
) {
    write_response_head_edited(out, buf, head, headers, client_version, close_client, None);
}

/// [`write_response_head`] with the rules' edits: fields they drop are left out, the fields
/// they add come after the received ones.
pub fn write_response_head_edited(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    headers: &[Header],
    client_version: Version,
    close_client: bool,
    edits: Option<&dyn EditHook>,
) {
    out.clear();
    out.reserve(head.head_len + 32);
    out.extend_from_slice(match client_version {
        Version::Http10 => b"HTTP/1.0 ",
        Version::Http11 => b"HTTP/1.1 ",
    });
    let status = head.status.min(999);
    out.extend_from_slice(&[b'0' + (status / 100) as u8, b'0' + (status / 10 % 10) as u8, b'0' + (status % 10) as u8]);
    out.push(b' ');
    out.extend_from_slice(super::codec::slice(buf, head.reason));
    out.extend_from_slice(b"\r\n");
    let switching = head.status == 101;
    let listed = Listed::new(buf, headers, switching);
    for h in headers {
        let name = h.name(buf);
        let kept = if switching && name.eq_ignore_ascii_case(b"connection") {
            true
        } else {
            !is_hop_by_hop(name, switching) && !listed.names(name) && !edits.is_some_and(|e| e.drops(name))
        };
        if kept {
            push_field(out, name, h.value(buf));
        }
    }
    if let Some(e) = edits {
        e.append(out);
    }
    if !(100..200).contains(&head.status) {
        if close_client {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if client_version == Version::Http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The client address; a dual-stack listener's IPv4 client (`::ffff:a.b.c.d`) as IPv4. IPv4,
/// the common case, is written without the formatting machinery.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, octet.into());
            }
        }
        // Writing to a Vec cannot fail.
        IpAddr::V6(v6) => drop(write!(out, "{v6}")),
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The fields that concern one connection only (RFC 9110 7.6.1); Upgrade passes in an upgrade.
fn is_hop_by_hop(name: &[u8], upgrading: bool) -> bool {
    match name.len() {
        2 => name.eq_ignore_ascii_case(b"te"),
        7 => name.eq_ignore_ascii_case(b"trailer") || (!upgrading && name.eq_ignore_ascii_case(b"upgrade")),
        10 => name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive"),
        16 => name.eq_ignore_ascii_case(b"proxy-connection"),
        _ => false,
    }
}

/// The field names a head's `Connection` fields list, looked up without allocating.
struct Listed<'a> {
    buf: &'a [u8],
    headers: &'a [Header],
    upgrading: bool,
    /// Whether any Connection field lists anything but close/keep-alive/upgrade (the common
    /// case has none, and then no lookup happens).
    any: bool,
}

impl<'a> Listed<'a> {
    fn new(buf: &'a [u8], headers: &'a [Header], upgrading: bool) -> Self {
        let any = headers.iter().filter(|h| h.is(buf, "connection")).any(|h| {
            list_elements(h.value(buf)).any(|t| !CONNECTION_OPTIONS.iter().any(|o| t.eq_ignore_ascii_case(o)))
        });
        Listed { buf, headers, upgrading, any }
    }

    fn names(&self, name: &[u8]) -> bool {
        if !self.any || PROTECTED.iter().any(|p| name.eq_ignore_ascii_case(p)) {
            return false;
        }
        if self.upgrading && name.eq_ignore_ascii_case(b"upgrade") {
            return false;
        }
        self.headers
            .iter()
            .filter(|h| h.is(self.buf, "connection"))
            .any(|h| list_elements(h.value(self.buf)).any(|t| t.eq_ignore_ascii_case(name)))
    }
}

/// Connection tokens that are options, not (or not only) field names to remove.
const CONNECTION_OPTIONS: [&[u8]; 3] = [b"close", b"keep-alive", b"upgrade"];

/// Never removed because `Connection` names them: they frame and route the message.
const PROTECTED: [&[u8]; 3] = [b"host", b"content-length", b"transfer-encoding"];

#[cfg(test)]
mod tests;
