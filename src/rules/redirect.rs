//! Redirect actions: the `Location` a redirect rule answers with, built from the request.
//!
//! ELB's form has five components (protocol, host, port, path, query), each a template of
//! `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its leading `/`) and `#{query}`;
//! HAProxy's forms are a fixed location, a prefix put before the request's path, or a scheme
//! put before its host. Templates are split into pieces once; a redirect writes into the
//! caller's reused buffer.

use super::request::Request;
use crate::config::rules::{Redirect, RedirectTo};

#[derive(Debug)]
pub struct RedirectPlan {
    pub status: u16,
    to: To,
}

#[derive(Debug)]
enum To {
    Parts { protocol: Vec<Piece>, host: Vec<Piece>, port: Vec<Piece>, path: Vec<Piece>, query: Vec<Piece> },
    Location(String),
    Prefix { prefix: String, drop_query: bool },
    Scheme { scheme: String, drop_query: bool },
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Protocol,
    Host,
    Port,
    Path,
    Query,
}

impl RedirectPlan {
    pub fn new(r: &Redirect) -> RedirectPlan {
        let to = match &r.to {
            RedirectTo::Parts { protocol, host, port, path, query } => To::Parts {
                protocol: pieces(&protocol.to_ascii_lowercase()),
                host: pieces(host),
                port: pieces(port),
                path: pieces(path),
                query: pieces(query),
            },
            RedirectTo::Location(l) => To::Location(l.clone()),
            RedirectTo::Prefix { prefix, drop_query } => {
                To::Prefix { prefix: prefix.trim_end_matches('/').to_string(), drop_query: *drop_query }
            }
            RedirectTo::Scheme { scheme, drop_query } => To::Scheme { scheme: scheme.clone(), drop_query: *drop_query },
        };
        RedirectPlan { status: r.status, to }
    }

    /// Writes the `Location` value for `request` into `out` (appended).
    pub fn write_location(&self, request: &Request<'_>, out: &mut Vec<u8>) {
        let scheme: &[u8] = if request.tls { b"https" } else { b"http" };
        match &self.to {
            To::Parts { protocol, host, port, path, query } => {
                let start = out.len();
                expand(protocol, request, out);
                let proto_len = out.len() - start;
                let is_https = out[start..].eq_ignore_ascii_case(b"https");
                let is_http = out[start..].eq_ignore_ascii_case(b"http");
                out[start..start + proto_len].make_ascii_lowercase();
                out.extend_from_slice(b"://");
                expand(host, request, out);
                let port_at = out.len();
                out.push(b':');
                expand(port, request, out);
                let written_port = &out[port_at + 1..];
                let default = (is_https && written_port == b"443") || (is_http && written_port == b"80");
                if default || written_port.is_empty() {
                    out.truncate(port_at);
                }
                let path_at = out.len();
                expand(path, request, out);
                if out.len() == path_at || out[path_at] != b'/' {
                    out.insert(path_at, b'/');
                }
                let query_at = out.len();
                out.push(b'?');
                expand(query, request, out);
                if out.len() == query_at + 1 {
                    out.truncate(query_at);
                }
            }
            To::Location(l) => out.extend_from_slice(l.as_bytes()),
            To::Prefix { prefix, drop_query } => {
                out.extend_from_slice(prefix.as_bytes());
                push_path_query(request, *drop_query, out);
            }
            To::Scheme { scheme: to, drop_query } => {
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(b"://");
                let host = request.host_field();
                let host = if host.is_empty() { request.listener_host.as_bytes() } else { host };
                // The old scheme's default port does not follow the client to the new one.
                let default_port: &[u8] = if scheme == b"https" { b":443" } else { b":80" };
                out.extend_from_slice(host.strip_suffix(default_port).unwrap_or(host));
                push_path_query(request, *drop_query, out);
            }
        }
    }
}

fn push_path_query(request: &Request<'_>, drop_query: bool, out: &mut Vec<u8>) {
    let path = request.path();
    out.extend_from_slice(if path.is_empty() { b"/" } else { path });
    let query = request.query();
    if !drop_query && !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query);
    }
}

fn pieces(template: &str) -> Vec<Piece> {
    const NAMES: [(&str, Piece); 5] = [
        ("#{protocol}", Piece::Protocol),
        ("#{host}", Piece::Host),
        ("#{port}", Piece::Port),
        ("#{path}", Piece::Path),
        ("#{query}", Piece::Query),
    ];
    let mut out = Vec::new();
    let mut rest = template;
    'outer: while !rest.is_empty() {
        for (name, piece) in &NAMES {
            if let Some(tail) = rest.strip_prefix(name) {
                out.push(piece.clone());
                rest = tail;
                continue 'outer;
            }
        }
        let next = rest[1..].find("#{").map_or(rest.len(), |i| i + 1);
        out.push(Piece::Text(rest[..next].to_string()));
        rest = &rest[next..];
    }
    out
}

fn expand(pieces: &[Piece], request: &Request<'_>, out: &mut Vec<u8>) {
    for p in pieces {
        match p {
            Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
            Piece::Protocol => out.extend_from_slice(if request.tls { b"https" } else { b"http" }),
            Piece::Host => {
                let host = request.host_name();
                if host.is_empty() {
                    out.extend_from_slice(super::request::strip_port(request.listener_host.as_bytes()));
                } else {
                    out.extend_from_slice(host);
                }
            }
            Piece::Port => {
                let _ = std::io::Write::write_fmt(out, format_args!("{}", request.local.port()));
            }
            Piece::Path => out.extend_from_slice(request.path().strip_prefix(b"/").unwrap_or(request.path())),
            Piece::Query => out.extend_from_slice(request.query()),
        }
    }
}
