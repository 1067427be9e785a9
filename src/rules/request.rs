//! What rules read from a request or a response: a view the HTTP code fills from its parsed
//! head (this module cannot name the codec: it sits below `http`), and the values derived from
//! it once per evaluation (host without port, path and query, the client's address).

use std::{
    cell::OnceCell,
    net::{IpAddr, SocketAddr},
};

/// A head's fields, walked in order; the slices borrow the head for `'a`.
pub trait Fields<'a> {
    /// Calls `f` with each field's name and value until it answers true; answers whether it did.
    fn any(&self, f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> bool) -> bool;
}

/// The request as rules see it.
pub struct Request<'a> {
    pub method: &'a [u8],
    /// The request target as sent.
    pub target: &'a [u8],
    /// `"1.0"` or `"1.1"`.
    pub version: &'static str,
    pub fields: &'a dyn Fields<'a>,
    pub peer: SocketAddr,
    /// The listener's address (HAProxy's `dst`, `dst_port`).
    pub local: SocketAddr,
    pub tls: bool,
    /// Used for `#{host}` when the request has no `Host` (HTTP/1.0).
    pub listener_host: &'a str,
    cache: Derived<'a>,
}

#[derive(Default)]
struct Derived<'a> {
    host: OnceCell<&'a [u8]>,
    source: OnceCell<IpAddr>,
}

/// The response as response rules see it.
pub struct Response<'a> {
    pub status: u16,
    pub fields: &'a dyn Fields<'a>,
}

impl<'a> Request<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: &'a [u8],
        target: &'a [u8],
        version: &'static str,
        fields: &'a dyn Fields<'a>,
        peer: SocketAddr,
        local: SocketAddr,
        tls: bool,
        listener_host: &'a str,
    ) -> Self {
        Request { method, target, version, fields, peer, local, tls, listener_host, cache: Derived::default() }
    }

    /// The path: the target up to `?` (the path of an absolute-form target).
    pub fn path(&self) -> &'a [u8] {
        let t = without_authority(self.target);
        match t.iter().position(|&b| b == b'?') {
            Some(q) => &t[..q],
            None => t,
        }
    }

    /// The query without `?`; empty when there is none.
    pub fn query(&self) -> &'a [u8] {
        match self.target.iter().position(|&b| b == b'?') {
            Some(q) => &self.target[q + 1..],
            None => &[],
        }
    }

    /// The first `Host` field's value (empty when there is none).
    pub fn host_field(&self) -> &'a [u8] {
        self.cache.host.get_or_init(|| {
            let mut found: &[u8] = &[];
            self.fields.any(&mut |name, value| {
                if name.eq_ignore_ascii_case(b"host") {
                    found = value;
                    return true;
                }
                false
            });
            found
        })
    }

    /// The host without its port (`[v6]` keeps its brackets off: ELB matches the name).
    pub fn host_name(&self) -> &'a [u8] {
        strip_port(self.host_field())
    }

    /// The client's address: the peer's, or the first `X-Forwarded-For` entry when the peer is
    /// a trusted proxy.
    pub fn source(&self, trusted: &[ipnet::IpNet]) -> IpAddr {
        *self.cache.source.get_or_init(|| {
            let peer = self.peer.ip().to_canonical();
            if !trusted.iter().any(|n| n.contains(&peer)) {
                return peer;
            }
            let mut first = None;
            self.fields.any(&mut |name, value| {
                if name.eq_ignore_ascii_case(b"x-forwarded-for") {
                    let entry = value.split(|&b| b == b',').next().unwrap_or(&[]);
                    first = std::str::from_utf8(entry).ok().and_then(|s| s.trim().parse::<IpAddr>().ok());
                    return true;
                }
                false
            });
            first.map_or(peer, |ip| ip.to_canonical())
        })
    }

    /// The value of query parameter `name` (the first), if present.
    pub fn url_param(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.query().split(|&b| b == b'&').find_map(|pair| {
            let (k, v) = split_pair(pair);
            (k == name).then_some(v.unwrap_or(&[]))
        })
    }
}

/// `key=value` → (key, Some(value)); `key` → (key, None).
pub fn split_pair(pair: &[u8]) -> (&[u8], Option<&[u8]>) {
    match pair.iter().position(|&b| b == b'=') {
        Some(eq) => (&pair[..eq], Some(&pair[eq + 1..])),
        None => (pair, None),
    }
}

/// `http://host/path?q` → `/path?q`; an origin-form target unchanged.
fn without_authority(target: &[u8]) -> &[u8] {
    let Some(scheme_end) = target.windows(3).position(|w| w == b"://") else { return target };
    if target.first() == Some(&b'/') {
        return target;
    }
    let rest = &target[scheme_end + 3..];
    match rest.iter().position(|&b| b == b'/' || b == b'?') {
        Some(i) if rest[i] == b'/' => &rest[i..],
        Some(i) => &rest[i..], // `http://h?q`: no path
        None => b"/",
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `::1`.
pub fn strip_port(host: &[u8]) -> &[u8] {
    if let Some(rest) = host.strip_prefix(b"[") {
        return match rest.iter().position(|&b| b == b']') {
            Some(end) => &rest[..end],
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(colon) if host[colon + 1..].iter().all(u8::is_ascii_digit) => &host[..colon],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_authorities_come_off() {
        assert_eq!(strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(strip_port(b"example.com"), b"example.com");
        assert_eq!(strip_port(b"[::1]:80"), b"::1");
        assert_eq!(without_authority(b"http://h.example/a/b?x=1"), b"/a/b?x=1");
        assert_eq!(without_authority(b"http://h.example"), b"/");
        assert_eq!(without_authority(b"/p?q"), b"/p?q");
        assert_eq!(split_pair(b"a=b=c"), (&b"a"[..], Some(&b"b=c"[..])));
    }
}
