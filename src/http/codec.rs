//! HTTP/1.x message heads: parsing in place, validation and framing (RFC 9112, RFC 9110).
//!
//! Owns the request and response head parsers. httparse does the byte-level scan (SIMD); this
//! file turns its borrowed slices into offsets ([`Header`]) so a parsed head survives an await
//! without borrowing the buffer, and adds what httparse leaves lenient:
//!
//! - CRLF everywhere: httparse accepts a bare LF as a line ending; every line end is re-checked
//!   here from the offsets (O(number of headers), not a second byte scan).
//! - The contract's limits, also while the head is still incomplete (`Parsed::Partial`), so a
//!   client cannot make spillway buffer more than the limit: request line 414, header line or
//!   whole head 431, response head 502, too many headers 431/502.
//! - Framing: Content-Length/Transfer-Encoding conflicts, differing or invalid lengths, chunked
//!   not final or repeated, unknown codings (501), HTTP/1.0 with Transfer-Encoding, Host rules,
//!   `Expect`, well-formed but unsupported versions (505).
//!
//! Invariants: a `Complete` head has `head_len` ≤ the head limit, every line of it ended by
//! CRLF, every [`Header`] range inside `0..head_len` of the buffer it was parsed from, names
//! made of tchar only and values without CTLs other than HTAB. No input panics; errors carry
//! the status spillway must answer and a short reason for logs.

use std::mem::MaybeUninit;

use fields::Fields;
pub(crate) use fields::{is_field_byte, is_tchar, list_elements};

mod fields;

/// Size limits of a head; `Default` is the contract's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Request line without its CRLF; longer: 414.
    pub max_request_line: usize,
    /// One header line without its CRLF; longer: 431.
    pub max_header_line: usize,
    /// The whole request head including every CRLF and the empty line; longer: 431.
    pub max_request_head: usize,
    /// The whole response head, likewise; longer: 502.
    pub max_response_head: usize,
    /// Header fields per head; more: 431 (request) / 502 (response).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 16 * 1024,
            max_header_line: 16 * 1024,
            max_request_head: 64 * 1024,
            max_response_head: 32 * 1024,
            max_headers: 128,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Connect,
    Patch,
    Other,
}

impl Method {
    /// RFC 9110 9.2.2: GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options | Method::Trace)
    }

    /// Methods are case-sensitive (RFC 9110 9.1): `get` is `Other`.
    pub fn from_bytes(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (a request without CL/TE; HEAD, 1xx, 204, 304 and CONNECT 2xx responses).
    None,
    /// Content-Length; `Length(0)` is kept as received.
    Length(u64),
    /// Transfer-Encoding whose final coding is chunked.
    Chunked,
    /// Responses only: the body ends when the target closes; the connection cannot be reused.
    UntilClose,
}

/// A header as offsets into the buffer the head was parsed from (no borrow: survives awaits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `(start, end)` byte offsets of the name.
    pub name: (u32, u32),
    /// `(start, end)` of the value, without surrounding whitespace (may be empty).
    pub value: (u32, u32),
}

impl Header {
    pub fn name<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        slice(buf, self.name)
    }

    pub fn value<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        slice(buf, self.value)
    }

    /// ASCII case-insensitive name comparison.
    pub fn is(&self, buf: &[u8], name: &str) -> bool {
        self.name(buf).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// `buf[range]`, or empty for a range that does not fit (never panics).
pub(crate) fn slice(buf: &[u8], (start, end): (u32, u32)) -> &[u8] {
    buf.get(start as usize..end as usize).unwrap_or(&[])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head including the final empty line (and any empty lines before it).
    pub head_len: usize,
    pub method: Method,
    pub method_range: (u32, u32),
    pub target: (u32, u32),
    pub version: Version,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    /// `Connection: upgrade` and an `Upgrade` header (HTTP/1.1 only: RFC 9110 7.8).
    pub upgrade: bool,
    /// `Expect: 100-continue` on HTTP/1.1 (ignored on HTTP/1.0: RFC 9110 10.1.1).
    pub expect_continue: bool,
    pub has_host: bool,
}

impl RequestHead {
    /// `(start, end)` of the request line without its CRLF: method, target and version.
    pub fn request_line(&self) -> (u32, u32) {
        (self.method_range.0, self.target.1.saturating_add(VERSION_FIELD))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub head_len: usize,
    pub status: u16,
    pub version: Version,
    pub framing: BodyFraming,
    /// False for `UntilClose` bodies, `Connection: close`, and HTTP/1.0 without keep-alive.
    pub keep_alive: bool,
    /// `(start, end)` of the reason phrase (may be empty).
    pub reason: (u32, u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    Complete(T),
    /// The head is not complete yet and no limit is exceeded: read more.
    Partial,
}

/// The status spillway must answer (400/414/431/501/505 for requests; 502 for responses) and
/// a short reason for logs. The response itself comes from [`super::errors::response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}")]
pub struct HttpError {
    pub status: u16,
    pub reason: &'static str,
}

const fn bad(reason: &'static str) -> HttpError {
    HttpError { status: 400, reason }
}

const fn bad_gateway(reason: &'static str) -> HttpError {
    HttpError { status: 502, reason }
}

const URI_TOO_LONG: HttpError = HttpError { status: 414, reason: "request line too long" };
const LINE_TOO_LARGE: HttpError = HttpError { status: 431, reason: "header line too long" };
const HEAD_TOO_LARGE: HttpError = HttpError { status: 431, reason: "request head too large" };
const TOO_MANY: HttpError = HttpError { status: 431, reason: "too many header fields" };

/// " HTTP/1.x" after the request target.
const VERSION_FIELD: u32 = 9;
/// httparse header slots on the stack; larger `max_headers` limits use a heap buffer.
const STACK_HEADERS: usize = 256;

/// Parses a request head at the start of `buf` (which may also hold its body and more
/// pipelined requests). `headers` is a reused Vec (cleared and refilled): no allocation per
/// request once it has grown.
pub fn parse_request(buf: &[u8], limits: &Limits, headers: &mut Vec<Header>) -> Result<Parsed<RequestHead>, HttpError> {
    headers.clear();
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, limits.max_headers, buf.len());
    let mut req = httparse::Request::new(&mut []);
    let head_len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits.max_request_line, URI_TOO_LONG, limits.max_header_line, LINE_TOO_LARGE)?;
            return partial_head(buf, limits.max_request_head, HEAD_TOO_LARGE);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(TOO_MANY),
        Err(httparse::Error::Version) => return version_error(buf, limits),
        Err(_) => return Err(bad("malformed request head")),
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request line"));
    };
    let m0 = offset(buf, method.as_bytes());
    let t0 = offset(buf, path.as_bytes());
    let t1 = t0.saturating_add(path.len());
    let line_end = t1.saturating_add(VERSION_FIELD as usize);
    if !is_crlf_run(buf.get(..m0)) {
        return Err(bad("bare LF before the request line"));
    }
    if line_end.saturating_sub(m0) > limits.max_request_line {
        return Err(URI_TOO_LONG);
    }
    if buf.get(line_end..line_end.saturating_add(2)) != Some(b"\r\n") {
        return Err(bad("request line not ended by CRLF"));
    }
    if head_len > limits.max_request_head || head_len > u32::MAX as usize {
        return Err(HEAD_TOO_LARGE);
    }
    walk_headers(buf, line_end + 2, head_len, req.headers, limits.max_header_line, headers).map_err(|e| match e {
        LineError::TooLong => LINE_TOO_LARGE,
        LineError::Malformed(reason) => bad(reason),
    })?;

    let method = Method::from_bytes(method.as_bytes());
    let target = buf.get(t0..t1).unwrap_or(&[]);
    if !valid_target(method, target) {
        return Err(bad("invalid request target"));
    }
    let version = if minor == 1 { Version::Http11 } else { Version::Http10 };
    let f = Fields::scan(buf, headers);
    if f.host_count > 1 {
        return Err(bad("more than one Host"));
    }
    if f.host_invalid {
        return Err(bad("invalid Host"));
    }
    if version == Version::Http11 && f.host_count == 0 {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    let framing = request_framing(&f, version)?;
    let expect_continue = version == Version::Http11 && f.expect_continue;
    if version == Version::Http11 && f.expect_other {
        return Err(HttpError { status: 417, reason: "Expect other than 100-continue" });
    }
    Ok(Parsed::Complete(RequestHead {
        head_len,
        method,
        method_range: (m0 as u32, (m0 + req.method.map_or(0, str::len)) as u32),
        target: (t0 as u32, t1 as u32),
        version,
        framing,
        keep_alive: f.keep_alive(version),
        upgrade: version == Version::Http11 && f.conn_upgrade && f.upgrade_header,
        expect_continue,
        has_host: f.host_count == 1,
    }))
}

fn request_framing(f: &Fields, version: Version) -> Result<BodyFraming, HttpError> {
    if f.cl_invalid {
        return Err(bad("invalid Content-Length"));
    }
    if !f.te_seen {
        return Ok(f.content_length.map_or(BodyFraming::None, BodyFraming::Length));
    }
    if f.content_length.is_some() {
        return Err(bad("Content-Length with Transfer-Encoding"));
    }
    if version == Version::Http10 {
        return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if f.te.invalid || f.te.elements == 0 {
        return Err(bad("invalid Transfer-Encoding"));
    }
    if !f.te.last_chunked {
        return Err(bad("chunked is not the final transfer coding"));
    }
    if f.te.chunked > 1 {
        return Err(bad("chunked applied more than once"));
    }
    if f.te.unknown {
        return Err(HttpError { status: 501, reason: "unsupported transfer coding" });
    }
    Ok(BodyFraming::Chunked)
}

/// Parses a response head at the start of `buf`. `request_method` decides HEAD/CONNECT bodies;
/// 1xx, 204, 304 have no body. Every error is a 502 (the target sent an invalid response).
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    request_method: Method,
    headers: &mut Vec<Header>,
) -> Result<Parsed<ResponseHead>, HttpError> {
    const HEAD_TOO_BIG: HttpError = bad_gateway("response head too large");
    headers.clear();
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, limits.max_headers, buf.len());
    let mut resp = httparse::Response::new(&mut []);
    let head_len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial_head(buf, limits.max_response_head, HEAD_TOO_BIG),
        Err(httparse::Error::TooManyHeaders) => return Err(bad_gateway("too many response header fields")),
        Err(_) => return Err(bad_gateway("malformed response head")),
    };
    if head_len > limits.max_response_head || head_len > u32::MAX as usize {
        return Err(HEAD_TOO_BIG);
    }
    let (Some(minor), Some(status)) = (resp.version, resp.code) else {
        return Err(bad_gateway("malformed status line"));
    };
    // Leading empty lines, then "HTTP/1.x NNN" and either " reason" or nothing before CRLF.
    let v0 = leading_crlf_len(buf);
    let code_end = v0 + 12;
    let Some(lf) = buf.get(code_end..head_len).and_then(|s| s.iter().position(|&b| b == b'\n')) else {
        return Err(bad_gateway("malformed status line"));
    };
    let cr = code_end + lf;
    if lf == 0 || buf.get(cr - 1) != Some(&b'\r') || !is_crlf_run(buf.get(..v0)) {
        return Err(bad_gateway("status line not ended by CRLF"));
    }
    let reason = if cr - 1 > code_end { (code_end as u32 + 1, cr as u32 - 1) } else { (cr as u32 - 1, cr as u32 - 1) };
    walk_headers(buf, cr + 1, head_len, resp.headers, usize::MAX, headers).map_err(|e| match e {
        LineError::TooLong => HEAD_TOO_BIG,
        LineError::Malformed(reason) => bad_gateway(reason),
    })?;
    if !(100..=599).contains(&status) {
        return Err(bad_gateway("status code out of range"));
    }
    let version = if minor == 1 { Version::Http11 } else { Version::Http10 };
    let f = Fields::scan(buf, headers);
    if f.cl_invalid {
        return Err(bad_gateway("invalid Content-Length"));
    }
    if f.te_seen {
        if f.content_length.is_some() {
            return Err(bad_gateway("Content-Length with Transfer-Encoding"));
        }
        if version == Version::Http10 {
            return Err(bad_gateway("Transfer-Encoding in an HTTP/1.0 response"));
        }
        if f.te.invalid || f.te.elements == 0 || f.te.chunked > 1 {
            return Err(bad_gateway("invalid Transfer-Encoding"));
        }
    }
    let no_body = request_method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (request_method == Method::Connect && (200..300).contains(&status));
    let framing = if no_body {
        BodyFraming::None
    } else if f.te_seen {
        if f.te.last_chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        }
    } else {
        f.content_length.map_or(BodyFraming::UntilClose, BodyFraming::Length)
    };
    let keep_alive = framing != BodyFraming::UntilClose && f.keep_alive(version);
    Ok(Parsed::Complete(ResponseHead { head_len, status, version, framing, keep_alive, reason }))
}

/// httparse's header slots: `max` of them, or as many as `buf` can hold fields ("a:" CRLF is
/// 4 bytes) when that is fewer, so a huge `max_headers` costs no huge allocation; "too many"
/// still means more than `max`.
fn header_slots<'s, 'b>(
    stack: &'s mut [MaybeUninit<httparse::Header<'b>>; STACK_HEADERS],
    heap: &'s mut Vec<MaybeUninit<httparse::Header<'b>>>,
    max: usize,
    buf_len: usize,
) -> &'s mut [MaybeUninit<httparse::Header<'b>>] {
    let n = max.min(buf_len / 4 + 1);
    if n <= STACK_HEADERS {
        &mut stack[..n]
    } else {
        heap.resize_with(n, MaybeUninit::uninit);
        heap
    }
}

/// Offset of `sub` (a subslice handed back by httparse) within `buf`.
fn offset(buf: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// `Some(s)` where `s` is zero or more CRLF pairs (the empty lines allowed before a message).
fn is_crlf_run(s: Option<&[u8]>) -> bool {
    s.is_some_and(|s| s.len() % 2 == 0 && s.chunks_exact(2).all(|p| p == b"\r\n"))
}

fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len())
}

enum LineError {
    TooLong,
    Malformed(&'static str),
}

/// Converts httparse's headers to offsets and checks what it does not: every line ends with
/// CRLF (it accepts a bare LF) and no header line is longer than `max_line`.
fn walk_headers(
    buf: &[u8],
    mut pos: usize,
    head_len: usize,
    parsed: &[httparse::Header<'_>],
    max_line: usize,
    out: &mut Vec<Header>,
) -> Result<(), LineError> {
    let head = buf.get(..head_len).ok_or(LineError::Malformed("head out of range"))?;
    let skip_ows = |mut i: usize| {
        while matches!(head.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    for h in parsed {
        let ns = offset(head, h.name.as_bytes());
        let ne = ns.saturating_add(h.name.len());
        if ns != pos || head.get(ne) != Some(&b':') {
            return Err(LineError::Malformed("bare LF in the head"));
        }
        let (vs, ve) = if h.value.is_empty() {
            let p = skip_ows(ne + 1);
            (p, p)
        } else {
            let vs = offset(head, h.value);
            (vs, vs.saturating_add(h.value.len()))
        };
        if vs <= ne || ve > head_len {
            return Err(LineError::Malformed("header value out of range"));
        }
        let cr = skip_ows(ve);
        if head.get(cr..cr + 2) != Some(b"\r\n") {
            return Err(LineError::Malformed("header line not ended by CRLF"));
        }
        if cr - ns > max_line {
            return Err(LineError::TooLong);
        }
        out.push(Header { name: (ns as u32, ne as u32), value: (vs as u32, ve as u32) });
        pos = cr + 2;
    }
    if head.get(pos..) != Some(b"\r\n") {
        return Err(LineError::Malformed("head not ended by CRLF CRLF"));
    }
    Ok(())
}

/// Line limits of an incomplete head: a line already longer than its limit (the first line
/// has its own) fails now rather than after more bytes were buffered.
fn check_partial(
    buf: &[u8],
    first_max: usize,
    first_err: HttpError,
    line_max: usize,
    line_err: HttpError,
) -> Result<(), HttpError> {
    if buf.len() <= first_max.min(line_max) {
        return Ok(());
    }
    let mut rest = &buf[leading_crlf_len(buf)..];
    let (mut max, mut err) = (first_max, first_err);
    loop {
        let (content, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (lf - usize::from(lf > 0 && rest[lf - 1] == b'\r'), Some(lf + 1)),
            None => (rest.len() - usize::from(rest.last() == Some(&b'\r')), None),
        };
        if content > max {
            return Err(err);
        }
        match next {
            Some(n) => rest = &rest[n..],
            None => return Ok(()),
        }
        (max, err) = (line_max, line_err);
    }
}

/// An incomplete head that already fills the head limit can only end past it.
fn partial_head<T>(buf: &[u8], max_head: usize, err: HttpError) -> Result<Parsed<T>, HttpError> {
    if buf.len() >= max_head {
        Err(err)
    } else {
        Ok(Parsed::Partial)
    }
}

/// httparse rejects every version but HTTP/1.0 and HTTP/1.1. A well-formed `HTTP/d.d` is 505,
/// anything else 400; a line that may still become `HTTP/d.d` waits for more bytes.
fn version_error<T>(buf: &[u8], limits: &Limits) -> Result<Parsed<T>, HttpError> {
    const PATTERN: &[u8; 8] = b"HTTP/0.0";
    let line = &buf[leading_crlf_len(buf)..];
    let mut fields = line.splitn(3, |&b| b == b' ');
    let version = fields.nth(2).unwrap_or(&[]);
    let end = version.iter().position(|&b| b == b'\r' || b == b'\n');
    let token = &version[..end.unwrap_or(version.len())];
    let matches = token.len() <= 8
        && token.iter().zip(PATTERN).all(|(&b, &p)| if p == b'0' { b.is_ascii_digit() } else { b == p });
    match (matches, end) {
        (true, Some(_)) if token.len() == 8 => Err(HttpError { status: 505, reason: "HTTP version not supported" }),
        (true, None) => {
            check_partial(buf, limits.max_request_line, URI_TOO_LONG, limits.max_header_line, LINE_TOO_LARGE)?;
            partial_head(buf, limits.max_request_head, HEAD_TOO_LARGE)
        }
        _ => Err(bad("invalid HTTP version")),
    }
}

/// origin-form for most methods, authority-form for CONNECT, `*` for OPTIONS, absolute-form.
fn valid_target(method: Method, t: &[u8]) -> bool {
    match t {
        [b'/', ..] => method != Method::Connect,
        b"*" => method == Method::Options,
        _ if method == Method::Connect => t.contains(&b':') && !t.contains(&b'/'),
        [first, ..] if first.is_ascii_alphabetic() => match t.iter().position(|&b| b == b':') {
            Some(colon) => t[..colon].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests;
