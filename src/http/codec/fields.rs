//! The grammar of the field values that frame and route a message (RFC 9110 5.5-5.6, 7.2,
//! 8.6, 10.1.1; RFC 9112 6): tokens, comma lists, Content-Length, Transfer-Encoding codings,
//! Connection options, Expect and Host.
//!
//! [`Fields::scan`] reads a head's fields once and records what they say, and what is wrong
//! with them, without deciding the answer: the request and response parsers in `codec.rs`
//! turn the same findings into different statuses (400/501/417 against 502). Nothing here
//! allocates or panics.

use super::{Header, Version};

/// tchar (RFC 9110 5.6.2).
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// field-vchar, SP or HTAB: what a field value may hold (RFC 9110 5.5; obs-text allowed).
pub(crate) const fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The elements of a comma-separated list value, trimmed, empty elements skipped (RFC 9110 5.6.1).
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows).filter(|e| !e.is_empty())
}

/// Host = uri-host [ ":" port ]: reg-name, IPv4 or IP-literal characters only.
fn valid_host(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+')
            || matches!(b, b',' | b';' | b'=' | b':' | b'%' | b'[' | b']')
    })
}

/// Transfer-Encoding codings, across every TE field line in order.
#[derive(Default)]
pub(super) struct TeSummary {
    pub(super) elements: u32,
    pub(super) chunked: u32,
    pub(super) last_chunked: bool,
    pub(super) unknown: bool,
    pub(super) invalid: bool,
}

impl TeSummary {
    fn add(&mut self, value: &[u8]) {
        for element in list_elements(value) {
            let mut parts = element.splitn(2, |&b| b == b';');
            let coding = trim_ows(parts.next().unwrap_or(&[]));
            let params = parts.next();
            self.elements += 1;
            if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
                self.invalid = true;
            }
            self.last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if self.last_chunked {
                self.chunked += 1;
                self.invalid |= params.is_some(); // chunked takes no parameters
            } else if !KNOWN_CODINGS.iter().any(|k| coding.eq_ignore_ascii_case(k)) {
                self.unknown = true;
            }
        }
    }
}

const KNOWN_CODINGS: [&[u8]; 5] = [b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];

/// What the framing and connection-management fields of one head say.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) host_count: u32,
    pub(super) host_invalid: bool,
    pub(super) content_length: Option<u64>,
    pub(super) cl_invalid: bool,
    pub(super) te_seen: bool,
    pub(super) te: TeSummary,
    pub(super) conn_close: bool,
    pub(super) conn_keep_alive: bool,
    pub(super) conn_upgrade: bool,
    pub(super) upgrade_header: bool,
    pub(super) expect_continue: bool,
    pub(super) expect_other: bool,
}

impl Fields {
    pub(super) fn scan(buf: &[u8], headers: &[Header]) -> Fields {
        let mut f = Fields::default();
        for h in headers {
            let name = h.name(buf);
            let value = h.value(buf);
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    f.host_count += 1;
                    f.host_invalid |= !valid_host(value);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    for e in list_elements(value) {
                        if e.eq_ignore_ascii_case(b"100-continue") {
                            f.expect_continue = true;
                        } else {
                            f.expect_other = true;
                        }
                    }
                }
                7 if name.eq_ignore_ascii_case(b"upgrade") => f.upgrade_header = true,
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    for token in list_elements(value) {
                        f.conn_close |= token.eq_ignore_ascii_case(b"close");
                        f.conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                        f.conn_upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                    }
                }
                14 if name.eq_ignore_ascii_case(b"content-length") => f.add_content_length(value),
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    f.te_seen = true;
                    f.te.add(value);
                }
                _ => {}
            }
        }
        f
    }

    /// 1*DIGIT, possibly as a list of identical values (`5, 5`) or repeated lines; anything
    /// else (sign, empty, overflow, differing values) makes the length invalid.
    fn add_content_length(&mut self, value: &[u8]) {
        for element in value.split(|&b| b == b',').map(trim_ows) {
            let n = parse_decimal(element);
            match (n, self.content_length) {
                (None, _) => self.cl_invalid = true,
                (Some(n), Some(seen)) if n != seen => self.cl_invalid = true,
                (Some(n), _) => self.content_length = Some(n),
            }
        }
    }

    pub(super) fn keep_alive(&self, version: Version) -> bool {
        !self.conn_close && (version == Version::Http11 || self.conn_keep_alive)
    }
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(
        0u64,
        |n, &b| {
            if b.is_ascii_digit() {
                n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            } else {
                None
            }
        },
    )
}
