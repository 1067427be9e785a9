//! Listener rules as the configuration states them: conditions and actions, read from TOML
//! (`[[listener.rule]]`, Elastic Load Balancing's model) or from haproxy.cfg (`acl`,
//! `use_backend`, `http-request`, `http-response`, `redirect`, `monitor-uri`), one model for both.
//!
//! This is the *description*; `crate::rules` compiles it once per shard into the structure the
//! request path evaluates (prepared matchers, group indices, no allocation per request).
//!
//! The model, as general as the two front doors need and no more:
//! - a [`Rule`] is a [`Condition`] and an [`Action`]; a listener's request rules are kept in
//!   evaluation order (ELB: lowest `priority` first; haproxy.cfg: `monitor-uri`, then the
//!   `http-request` lines in file order, then the `use_backend` lines). The first rule whose
//!   condition holds and whose action is final ([`Action::is_final`]) decides the request;
//!   header edits ([`Action::Header`]) that hold before it apply and evaluation goes on. No
//!   final rule: the listener's `target_group`.
//! - a [`Condition`] is a boolean formula over [`Test`]s: ELB's "all conditions, any value" is
//!   `All(Test...)`, each test holding several patterns; HAProxy's `if a b || !c` is
//!   `Any(All(a, b), Not(c))`, an ACL of several lines an `Any` of their tests.
//! - a [`Test`] takes one value from the request ([`Fetch`]) and matches it against patterns
//!   with one [`Match`] method; it holds when any pattern matches any value taken.
//!
//! Conditions see the request as the client sent it, not as earlier header edits changed it.

use std::{net::IpAddr, time::Duration};

/// Header edits a listener (or group) may have per phase: the request path records which hold
/// in a 128-bit mask, so that evaluating them allocates nothing.
pub const MAX_HEADER_EDITS: usize = 128;

/// A listener's or a target group's rules, in evaluation order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// Evaluated on each request head, in order.
    pub request: Vec<Rule>,
    /// Evaluated on each response head (from a target, or made by a rule): header edits only.
    pub response: Vec<Rule>,
}

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// One rule: when its condition holds, its action applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// ELB's priority (1..50000) in TOML; in haproxy.cfg the rule's line number. Figures are
    /// labelled with it.
    pub priority: u32,
    /// How figures and messages name the rule: `"priority 10"`, `"haproxy.cfg:42"`.
    pub label: String,
    pub condition: Condition,
    pub action: Action,
}

/// A boolean formula over tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Holds always (a rule without conditions; HAProxy's `TRUE`).
    Always,
    /// Holds never (HAProxy's `FALSE`).
    Never,
    Test(Test),
    Not(Box<Condition>),
    /// Holds when every member holds (an empty list holds).
    All(Vec<Condition>),
    /// Holds when some member holds (an empty list does not).
    Any(Vec<Condition>),
}

/// Takes values from the request with `fetch` and holds when one of them matches one of the
/// patterns by `matcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub fetch: Fetch,
    pub matcher: Match,
    /// Compare ASCII letters without case (`-i`; ELB's `host_header`).
    pub ignore_case: bool,
    /// Empty for [`Match::Found`] and [`Match::Bool`].
    pub patterns: Vec<String>,
}

/// Where a test takes its values from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The `Host` header's host, without a port (ELB's `host_header`).
    HostName,
    /// The path of the request target, without the query.
    Path,
    /// The request target as sent (path and query, or an absolute form).
    Url,
    /// The query string, without the `?` (empty when there is none).
    Query,
    /// The value of one query parameter (HAProxy's `url_param(NAME)`).
    UrlParam(String),
    /// Every value of a header, each comma-separated element a value of its own (HAProxy's
    /// `hdr(NAME)`, `req.hdr(NAME)`).
    Header(String),
    /// Every occurrence of a header, its whole line one value (ELB's `http_header`,
    /// HAProxy's `req.fhdr(NAME)`).
    FullHeader(String),
    /// The request method.
    Method,
    /// The client's address: the peer, or the first `X-Forwarded-For` entry when the peer is
    /// one of the listener's trusted proxies.
    SourceIp,
    /// Whether the client connection is TLS (HAProxy's `ssl_fc`); a [`Match::Bool`] test.
    Tls,
    /// The request's HTTP version, `"1.0"` or `"1.1"` (HAProxy's `req.ver`).
    Version,
    /// The response status (response rules only).
    Status,
    /// Every value of a response header, comma-separated elements apart (response rules only;
    /// HAProxy's `res.hdr(NAME)`).
    ResponseHeader(String),
}

impl Fetch {
    /// Whether a response rule can use it: response values, or the connection's own.
    pub fn available_in_response(&self) -> bool {
        matches!(self, Fetch::Status | Fetch::ResponseHeader(_) | Fetch::SourceIp | Fetch::Tls)
    }
}

/// How a test compares a value with a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Equal.
    Str,
    /// The value begins with the pattern.
    Beg,
    /// The value ends with the pattern.
    End,
    /// The value contains the pattern.
    Sub,
    /// The pattern is a whole `.`-delimited part of the value (HAProxy's `dom`; `:` and `/`
    /// delimit too).
    Dom,
    /// The pattern is a whole `/`-delimited part of the value (HAProxy's `dir`).
    Dir,
    /// A regular expression (the `regex` crate's syntax), unanchored.
    Reg,
    /// ELB's wildcards: `*` any run of characters, `?` one character, the rest literal; the
    /// whole value must match.
    Glob,
    /// The value is an IP address inside the pattern's CIDR (or equal to its address).
    Ip,
    /// The value exists (the header is present), whatever it is; no patterns.
    Found,
    /// The value is true (a boolean fetch such as [`Fetch::Tls`]); no patterns.
    Bool,
    /// ELB's `query_string`: patterns `key=value`, `key=` (any value) or `value`; wildcards on
    /// either side; holds when some `&`-separated pair of the query matches.
    QueryPair,
    /// The value, a number, lies in the pattern's range: `404`, `500-599`, `>=500` (HAProxy's
    /// integer matching, for `status`).
    Int,
}

/// What a rule does when its condition holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the request to a target group (or one of several, by weight).
    Forward(Forward),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with a fixed response (ELB's `fixed_response`, HAProxy's `return` and `deny`).
    Fixed(FixedResponse),
    /// Change a header of the request (request rules) or of the response (response rules) and
    /// go on with the next rule.
    Header(HeaderEdit),
}

impl Action {
    /// A final action decides the request: evaluation stops at the first that holds.
    pub fn is_final(&self) -> bool {
        !matches!(self, Action::Header(_))
    }
}

/// `forward`: one group, or up to five weighted ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    /// Group names and weights (0..=999). A single group has weight 1.
    pub groups: Vec<(String, u32)>,
    /// Group stickiness: a client that got a group keeps it for this long (cookie `AWSALBTG`).
    pub stickiness: Option<Duration>,
}

/// Where a redirect sends the client, and with which status (301, 302, 303, 307, 308).
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub status: u16,
    pub to: RedirectTo,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RedirectTo {
    /// ELB's components, each a template of `#{protocol}`, `#{host}`, `#{port}`, `#{path}`
    /// (the path without its leading `/`) and `#{query}`; the URL is
    /// `protocol://host:port/path?query`, the port left out when it is the protocol's default.
    Parts { protocol: String, host: String, port: String, path: String, query: String },
    /// HAProxy's `redirect location L`: exactly `L`.
    Location(String),
    /// HAProxy's `redirect prefix P`: `P` followed by the request's path and query (`drop_query`
    /// leaves the query out).
    Prefix { prefix: String, drop_query: bool },
    /// HAProxy's `redirect scheme S`: `S://` followed by the request's host, path and query.
    Scheme { scheme: String, drop_query: bool },
}

impl RedirectTo {
    /// ELB's defaults for each component: a redirect with all five changes nothing.
    pub const KEEP_PROTOCOL: &'static str = "#{protocol}";
    pub const KEEP_HOST: &'static str = "#{host}";
    pub const KEEP_PORT: &'static str = "#{port}";
    pub const KEEP_PATH: &'static str = "/#{path}";
    pub const KEEP_QUERY: &'static str = "#{query}";
}

/// A response made by a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedResponse {
    pub status: u16,
    /// Empty: no `Content-Type`.
    pub content_type: String,
    pub body: String,
}

/// A header change.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderEdit {
    pub op: HeaderOp,
    /// The header name, as it is written when added.
    pub name: String,
    /// For `Set` and `Add`; see [`Template`].
    pub value: Template,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderOp {
    /// Remove every occurrence, then add one.
    Set,
    /// Add one more occurrence.
    Add,
    /// Remove every occurrence.
    Del,
}

/// A header value with HAProxy's sample expressions in it: literal text and `%[src]`,
/// `%[src_port]`, `%[dst]`, `%[dst_port]`, `%[ssl_fc]`, `%[method]`, `%[path]`, `%[url]`,
/// `%[query]`, `%[req.ver]`, `%[hdr(NAME)]` / `%[req.hdr(NAME)]` (request values are those of
/// the request the response answers). Anything else in `%[...]` is refused when read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    Src,
    SrcPort,
    Dst,
    DstPort,
    Tls,
    Method,
    Path,
    Url,
    Query,
    Version,
    RequestHeader(String),
}

impl Template {
    /// A template of literal text only (ELB's values, `%` kept as is).
    pub fn literal(text: &str) -> Template {
        Template { pieces: vec![Piece::Literal(text.to_string())] }
    }

    /// Reads HAProxy's log-format subset: literal text with `%[FETCH]` expressions; `%%` is a
    /// `%`. Converters (`%[src,ipmask(24)]`) and the `%x` log variables are refused.
    pub fn parse_haproxy(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
                continue;
            }
            let Some(expr) = after.strip_prefix('[') else {
                return Err(format!(
                    "\"{text}\": log-format variables (%{}) are not supported in values; write %[FETCH]",
                    after.chars().next().map_or(String::new(), String::from)
                ));
            };
            let end = expr.find(']').ok_or_else(|| format!("\"{text}\": %[ without its ]"))?;
            let fetch = &expr[..end];
            let piece = Template::piece(fetch).ok_or_else(|| {
                format!(
                    "\"{text}\": %[{fetch}] is not supported (supported: src, src_port, dst, dst_port, ssl_fc, \
                     method, path, url, query, req.ver, hdr(NAME), req.hdr(NAME))"
                )
            })?;
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            rest = &expr[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    fn piece(fetch: &str) -> Option<Piece> {
        Some(match fetch {
            "src" => Piece::Src,
            "src_port" => Piece::SrcPort,
            "dst" => Piece::Dst,
            "dst_port" => Piece::DstPort,
            "ssl_fc" => Piece::Tls,
            "method" => Piece::Method,
            "path" => Piece::Path,
            "url" => Piece::Url,
            "query" => Piece::Query,
            "req.ver" => Piece::Version,
            f => {
                let name = f.strip_prefix("req.hdr(").or_else(|| f.strip_prefix("hdr("))?.strip_suffix(')')?;
                if name.is_empty() || !name.bytes().all(is_token_byte) {
                    return None;
                }
                Piece::RequestHeader(name.to_string())
            }
        })
    }
}

/// Whether a byte may appear in a header name (an RFC 9110 token).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An IP network in CIDR notation, `10.0.0.0/8` or `::1/128`; a bare address is a /32 or /128.
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    if let Ok(net) = text.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    match text.parse::<IpAddr>() {
        Ok(addr) => Ok(ipnet::IpNet::from(addr)),
        Err(_) => Err(format!("\"{text}\" is not an IP address or a CIDR network (10.0.0.0/8, 2001:db8::/32)")),
    }
}

/// Builds a test's regular expression (the `regex` crate's syntax) as the engine does: the
/// same call validates it at load, so a pattern that loads is one the engine can run.
pub fn build_regex(pattern: &str, ignore_case: bool) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|e| format!("bad regular expression \"{pattern}\": {e}"))
}

/// Checks that a regular expression compiles (see [`build_regex`]).
pub fn check_regex(pattern: &str, ignore_case: bool) -> Result<(), String> {
    build_regex(pattern, ignore_case).map(|_| ())
}

/// Reads an integer-range pattern of [`Match::Int`]: `N`, `A-B`, `>=N`, `>N`, `<=N`, `<N`,
/// `eq N` forms as HAProxy writes them (`ge`, `gt`, `le`, `lt`, `eq` as words are handled by
/// the haproxy reader). Answers the inclusive range.
pub fn parse_int_range(text: &str) -> Result<(u64, u64), String> {
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("\"{text}\" is not a number or a range"));
    if let Some(n) = text.strip_prefix(">=") {
        return Ok((num(n)?, u64::MAX));
    }
    if let Some(n) = text.strip_prefix("<=") {
        return Ok((0, num(n)?));
    }
    if let Some(n) = text.strip_prefix('>') {
        return Ok((num(n)?.saturating_add(1), u64::MAX));
    }
    if let Some(n) = text.strip_prefix('<') {
        let n = num(n)?;
        return if n == 0 { Err(format!("\"{text}\" matches nothing")) } else { Ok((0, n - 1)) };
    }
    match text.split_once(':').or_else(|| text.split_once('-')) {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("\"{text}\": the range is empty"));
            }
            Ok((a, b))
        }
        None => num(text).map(|n| (n, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_haproxy_fetches_and_refuse_the_rest() {
        let t = Template::parse_haproxy("ip=%[src]:%[src_port] 100%% %[req.hdr(X-A)]").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Literal("ip=".into()),
                Piece::Src,
                Piece::Literal(":".into()),
                Piece::SrcPort,
                Piece::Literal(" 100% ".into()),
                Piece::RequestHeader("X-A".into()),
            ]
        );
        assert!(Template::parse_haproxy("%[src,ipmask(24)]").unwrap_err().contains("not supported"));
        assert!(Template::parse_haproxy("%ci").unwrap_err().contains("log-format"));
        assert!(Template::parse_haproxy("%[src").unwrap_err().contains("without its ]"));
        assert_eq!(Template::parse_haproxy("plain").unwrap(), Template::literal("plain"));
    }

    #[test]
    fn cidrs_and_int_ranges() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert_eq!(parse_int_range("500-599").unwrap(), (500, 599));
        assert_eq!(parse_int_range(">=400").unwrap(), (400, u64::MAX));
        assert_eq!(parse_int_range("<0").unwrap_err(), "\"<0\" matches nothing");
        assert_eq!(parse_int_range("<1").unwrap(), (0, 0));
        assert!(parse_int_range("6-5").is_err());
    }
}
