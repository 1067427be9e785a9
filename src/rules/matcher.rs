//! Conditions compiled for the request path: each test's patterns prepared once (lower-cased,
//! wildcards split, regular expressions built, networks parsed), evaluated over borrowed slices
//! of the head without allocating.

use std::net::IpAddr;

use regex::bytes::Regex;

use super::{
    glob::Glob,
    request::{split_pair, Request, Response},
};
use crate::config::rules::{self as model, Fetch, Match};

/// A compiled [`model::Condition`].
#[derive(Debug)]
pub enum Cond {
    Always,
    Never,
    Test(Box<Test>),
    Not(Box<Cond>),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

/// A compiled [`model::Test`].
#[derive(Debug)]
pub struct Test {
    fetch: Fetch,
    patterns: Patterns,
    ignore_case: bool,
}

#[derive(Debug)]
enum Patterns {
    /// Str, Beg, End, Sub, Dom, Dir: the patterns' bytes (lower-cased when ignoring case).
    Bytes(Match, Vec<Vec<u8>>),
    Reg(Vec<Regex>),
    Glob(Vec<Glob>),
    Ip(Vec<ipnet::IpNet>),
    Found,
    Bool,
    /// (key, value); `None` matches anything.
    QueryPair(Vec<(Option<Glob>, Option<Glob>)>),
    Int(Vec<(u64, u64)>),
}

/// What a condition is evaluated on: a request, and for response rules the response too.
pub struct Subject<'s, 'a> {
    pub request: Option<&'s Request<'a>>,
    pub response: Option<&'s Response<'a>>,
    /// The connection's values, known in both phases.
    pub peer: std::net::SocketAddr,
    pub tls: bool,
    pub trusted: &'s [ipnet::IpNet],
}

impl Cond {
    /// Compiles a validated condition: patterns are built by the same calls that validated
    /// them at load (`config::rules::build_regex`, `parse_cidr`, `parse_int_range`), so none is
    /// dropped here.
    pub fn compile(c: &model::Condition) -> Cond {
        match c {
            model::Condition::Always => Cond::Always,
            model::Condition::Never => Cond::Never,
            model::Condition::Test(t) => Cond::Test(Box::new(Test::compile(t))),
            model::Condition::Not(c) => Cond::Not(Box::new(Cond::compile(c))),
            model::Condition::All(list) => Cond::All(list.iter().map(Cond::compile).collect()),
            model::Condition::Any(list) => Cond::Any(list.iter().map(Cond::compile).collect()),
        }
    }

    /// The exact host names this condition requires, if it requires some (see
    /// `host_index.rs`): a case-insensitive host test with no wildcard, alone or in an `All`.
    pub fn required_host(&self) -> Option<super::host_index::Required> {
        match self {
            Cond::Test(t) => t.required_host(),
            Cond::All(list) => list.iter().find_map(Cond::required_host),
            _ => None,
        }
    }

    pub fn holds(&self, s: &Subject) -> bool {
        match self {
            Cond::Always => true,
            Cond::Never => false,
            Cond::Test(t) => t.holds(s),
            Cond::Not(c) => !c.holds(s),
            Cond::All(list) => list.iter().all(|c| c.holds(s)),
            Cond::Any(list) => list.iter().any(|c| c.holds(s)),
        }
    }
}

impl Test {
    fn compile(t: &model::Test) -> Test {
        let ic = t.ignore_case;
        let bytes = |p: &String| {
            let mut b = p.as_bytes().to_vec();
            if ic {
                b.make_ascii_lowercase();
            }
            b
        };
        let patterns = match t.matcher {
            m @ (Match::Str | Match::Beg | Match::End | Match::Sub | Match::Dom | Match::Dir) => {
                Patterns::Bytes(m, t.patterns.iter().map(bytes).collect())
            }
            // Built by the call that validated it at load: it compiles here too.
            Match::Reg => Patterns::Reg(t.patterns.iter().filter_map(|p| model::build_regex(p, ic).ok()).collect()),
            Match::Glob => Patterns::Glob(t.patterns.iter().map(|p| Glob::new(p, ic)).collect()),
            Match::Ip => Patterns::Ip(t.patterns.iter().filter_map(|p| model::parse_cidr(p).ok()).collect()),
            Match::Found => Patterns::Found,
            Match::Bool => Patterns::Bool,
            Match::QueryPair => Patterns::QueryPair(
                t.patterns
                    .iter()
                    .map(|p| {
                        let side = |s: &str| (!s.is_empty() && s != "*").then(|| Glob::new(s, ic));
                        match p.split_once('=') {
                            Some((k, v)) => (side(k), side(v)),
                            None => (None, side(p)),
                        }
                    })
                    .collect(),
            ),
            Match::Int => Patterns::Int(t.patterns.iter().filter_map(|p| model::parse_int_range(p).ok()).collect()),
        };
        Test { fetch: t.fetch.clone(), patterns, ignore_case: ic }
    }

    fn required_host(&self) -> Option<super::host_index::Required> {
        if !self.ignore_case {
            return None;
        }
        let whole_field = match &self.fetch {
            Fetch::HostName => false,
            Fetch::Header(name) | Fetch::FullHeader(name) if name.eq_ignore_ascii_case("host") => true,
            _ => return None,
        };
        let names = match &self.patterns {
            Patterns::Glob(globs) => {
                globs.iter().map(|g| g.literal().map(<[u8]>::to_vec)).collect::<Option<Vec<_>>>()?
            }
            // `hdr(host)` splits the value at commas; a key with one would never be looked up.
            Patterns::Bytes(Match::Str, pats) if !pats.iter().any(|p| p.contains(&b',')) => pats.clone(),
            _ => return None,
        };
        (!names.is_empty()).then_some(super::host_index::Required { names, whole_field })
    }

    fn holds(&self, s: &Subject) -> bool {
        match &self.fetch {
            Fetch::Tls => return matches!(self.patterns, Patterns::Bool | Patterns::Found) && s.tls,
            Fetch::SourceIp => {
                let ip = match s.request {
                    Some(r) => r.source(s.trusted),
                    None => s.peer.ip().to_canonical(),
                };
                return self.ip(ip);
            }
            Fetch::Status => {
                let Some(r) = s.response else { return false };
                let mut buf = [0u8; 5];
                return self.value(decimal(r.status, &mut buf));
            }
            Fetch::ResponseHeader(name) => {
                let Some(r) = s.response else { return false };
                return self.fields(r.fields, name, true);
            }
            _ => {}
        }
        let Some(r) = s.request else { return false };
        match &self.fetch {
            Fetch::HostName => self.present(r.host_field()) && self.value(r.host_name()),
            Fetch::Path => self.value(r.path()),
            Fetch::Url => self.value(r.target),
            Fetch::Query => match &self.patterns {
                Patterns::QueryPair(pairs) => query_pairs(r.query(), pairs),
                _ => self.value(r.query()),
            },
            Fetch::UrlParam(name) => match r.url_param(name.as_bytes()) {
                Some(v) => matches!(self.patterns, Patterns::Found) || self.value(v),
                None => false,
            },
            Fetch::Header(name) => self.fields(r.fields, name, true),
            Fetch::FullHeader(name) => self.fields(r.fields, name, false),
            Fetch::Method => self.value(r.method),
            Fetch::Version => self.value(r.version.as_bytes()),
            Fetch::Tls | Fetch::SourceIp | Fetch::Status | Fetch::ResponseHeader(_) => false,
        }
    }

    /// A host test on a request without `Host` holds for `Found`-less tests only if the empty
    /// value matches; `Found` needs the field.
    fn present(&self, host: &[u8]) -> bool {
        !matches!(self.patterns, Patterns::Found) || !host.is_empty()
    }

    /// Each field called `name`: its whole value, or each comma-separated element of it.
    fn fields(&self, fields: &dyn super::request::Fields<'_>, name: &str, split: bool) -> bool {
        fields.any(&mut |n, v| {
            if !n.eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
            if matches!(self.patterns, Patterns::Found) {
                return true;
            }
            if split {
                v.split(|&b| b == b',').any(|e| self.value(e.trim_ascii()))
            } else {
                self.value(v)
            }
        })
    }

    fn ip(&self, ip: IpAddr) -> bool {
        match &self.patterns {
            Patterns::Ip(nets) => nets.iter().any(|n| n.contains(&ip)),
            Patterns::Found => true,
            _ => {
                let mut buf = [0u8; 64];
                let text = format_ip(ip, &mut buf);
                self.value(text)
            }
        }
    }

    /// Whether one value matches one of the patterns.
    fn value(&self, v: &[u8]) -> bool {
        let ic = self.ignore_case;
        match &self.patterns {
            Patterns::Bytes(m, pats) => pats.iter().any(|p| bytes_match(*m, p, v, ic)),
            Patterns::Reg(res) => res.iter().any(|re| re.is_match(v)),
            Patterns::Glob(globs) => globs.iter().any(|g| g.matches(v)),
            Patterns::Ip(nets) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip.to_canonical()))),
            Patterns::Found => true,
            Patterns::Bool => !v.is_empty() && v != b"0",
            Patterns::QueryPair(pairs) => query_pairs(v, pairs),
            Patterns::Int(ranges) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|n| ranges.iter().any(|&(lo, hi)| lo <= n && n <= hi)),
        }
    }
}

fn query_pairs(query: &[u8], pairs: &[(Option<Glob>, Option<Glob>)]) -> bool {
    query.split(|&b| b == b'&').filter(|p| !p.is_empty()).any(|pair| {
        let (k, v) = split_pair(pair);
        let v = v.unwrap_or(&[]);
        pairs
            .iter()
            .any(|(pk, pv)| pk.as_ref().is_none_or(|g| g.matches(k)) && pv.as_ref().is_none_or(|g| g.matches(v)))
    })
}

fn eq(a: &[u8], b: &[u8], ic: bool) -> bool {
    if ic {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// `p` is lower-cased already when `ic`.
fn bytes_match(m: Match, p: &[u8], v: &[u8], ic: bool) -> bool {
    match m {
        Match::Str => eq(p, v, ic),
        Match::Beg => v.len() >= p.len() && eq(p, &v[..p.len()], ic),
        Match::End => v.len() >= p.len() && eq(p, &v[v.len() - p.len()..], ic),
        Match::Sub => p.is_empty() || v.windows(p.len()).any(|w| eq(p, w, ic)),
        Match::Dom => delimited(p, v, ic, |b| matches!(b, b'.' | b':' | b'/' | b'?')),
        Match::Dir => delimited(p, v, ic, |b| matches!(b, b'/' | b'?')),
        _ => false,
    }
}

/// HAProxy's `dom`/`dir`: the pattern (itself possibly holding delimiters) equals a run of
/// whole delimited parts of the value.
fn delimited(p: &[u8], v: &[u8], ic: bool, delim: impl Fn(u8) -> bool) -> bool {
    let p = trim_delims(p, &delim);
    if p.is_empty() {
        return false;
    }
    let mut start = 0;
    while start + p.len() <= v.len() {
        let at_boundary = start == 0 || delim(v[start - 1]);
        let end = start + p.len();
        if at_boundary && eq(p, &v[start..end], ic) && (end == v.len() || delim(v[end])) {
            return true;
        }
        start += 1;
    }
    false
}

fn trim_delims<'p>(mut p: &'p [u8], delim: &impl Fn(u8) -> bool) -> &'p [u8] {
    while let [first, rest @ ..] = p {
        if !delim(*first) {
            break;
        }
        p = rest;
    }
    while let [rest @ .., last] = p {
        if !delim(*last) {
            break;
        }
        p = rest;
    }
    p
}

/// A status code as text, in a stack buffer.
fn decimal(mut n: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

fn format_ip(ip: IpAddr, buf: &mut [u8; 64]) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{}", ip.to_canonical());
    let len = cursor.position() as usize;
    &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimited_parts_match_whole() {
        assert!(delimited(b"example.com", b"www.example.com:80", false, |b| matches!(b, b'.' | b':')));
        assert!(!delimited(b"ample.com", b"www.example.com", false, |b| b == b'.'));
        assert!(delimited(b"/img/", b"/static/img/a.png", false, |b| b == b'/'));
        assert!(!delimited(b"im", b"/static/img/a.png", false, |b| b == b'/'));
    }

    #[test]
    fn byte_methods() {
        assert!(bytes_match(Match::Beg, b"/api", b"/api/v1", false));
        assert!(!bytes_match(Match::Beg, b"/api", b"/ap", false));
        assert!(bytes_match(Match::End, b".jpg", b"/a.JPG", true));
        assert!(!bytes_match(Match::End, b".jpg", b"/a.JPG", false));
        assert!(bytes_match(Match::Sub, b"adm", b"/xadmin", false));
        assert!(bytes_match(Match::Str, b"get", b"GET", true));
    }
}
