//! The HTTP check: `GET path` with `Host` and `Connection: close` (or the method, version and
//! headers of HAProxy's `http-check send`); a success when the status code matches the group's
//! `matcher`, or the `http-check expect` rule when there is one, and the answer arrives within
//! `timeout`. The body is read only when the rule looks into it (`string`, `rstring`), up to
//! [`MAX_BODY`] bytes or its end; otherwise the status line is the verdict and the connection
//! is closed after the head. With the group's PROXY protocol, the check's connection starts
//! with a header naming no client (v1 `UNKNOWN`, v2 `LOCAL`), before TLS if any.
//! The HTTPS check is the same request over TLS; the handshake counts against `timeout` too,
//! and a failed handshake is a failed check (with rustls' reason).

use std::{
    net::SocketAddr,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use crate::{
    config::{HealthCheck, HttpExpect, HttpMatch},
    io,
    stream::{ClientTls, Stream},
};

/// Largest response head a check reads; a target answering more is judged broken.
const MAX_HEAD: usize = 16 * 1024;
/// The most of a body a `string`/`rstring` rule searches (HAProxy's check buffer holds 16 KiB
/// in all).
pub const MAX_BODY: usize = 16 * 1024;

/// One HTTP check of `addr` (HTTPS with `tls`).
pub async fn probe(addr: SocketAddr, check: &HealthCheck, tls: Option<ClientTls<'_>>) -> Result<(), String> {
    let deadline = Instant::now() + check.timeout;
    let tcp = super::tcp::connect(addr, check.timeout).await?;
    crate::sockopt::set_nonblocking(tcp.as_raw_fd()).map_err(|e| e.to_string())?;
    if let Some(version) = check.proxy_protocol {
        // A check is nobody's connection: v1 `UNKNOWN`, v2 `LOCAL` (HAProxy's and NLB's way).
        let header = crate::proxy_protocol::encode(version, None);
        io::write_all(&tcp, header.as_bytes(), Some(deadline)).await.map_err(|e| describe(e, check.timeout))?;
    }
    let stream = Stream::client(tcp, tls, deadline).await.map_err(|e| e.to_string())?;
    let request = request(check, addr);
    stream.write_all(request.as_bytes(), Some(deadline)).await.map_err(|e| describe(e, check.timeout))?;
    let mut buf = vec![0u8; MAX_HEAD + MAX_BODY];
    let mut len = 0;
    let mut head: Option<Head> = None;
    loop {
        if let Some(h) = &head {
            // Reading the body for a string rule: until its end, the cap, or the close.
            let body_end = h.body_start + h.length.unwrap_or(usize::MAX).min(MAX_BODY);
            if len >= body_end.min(buf.len()) {
                return judge(check, h.code, &buf[h.body_start..len]);
            }
        }
        let n = stream.read_some(&mut buf[len..], Some(deadline)).await.map_err(|e| describe(e, check.timeout))?;
        if n == 0 {
            return match &head {
                Some(h) => judge(check, h.code, &buf[h.body_start..len]),
                None => Err("connection closed before a complete response head".into()),
            };
        }
        len += n;
        if head.is_some() {
            continue;
        }
        match parse_head(&buf[..len]) {
            Ok(Some(h)) if !reads_body(check) => return judge(check, h.code, &[]),
            Ok(Some(h)) => head = Some(h),
            Ok(None) if len >= MAX_HEAD => return Err(format!("response head over {MAX_HEAD} bytes")),
            Ok(None) => {}
            Err(e) => return Err(format!("invalid response: {e}")),
        }
    }
}

/// Whether the verdict needs the body.
fn reads_body(check: &HealthCheck) -> bool {
    matches!(check.http.expect, Some(HttpExpect { what: HttpMatch::String(_) | HttpMatch::RString(_), .. }))
}

/// The verdict on a status code and what was read of the body.
fn judge(check: &HealthCheck, code: u16, body: &[u8]) -> Result<(), String> {
    let Some(rule) = &check.http.expect else {
        return if check.matcher.matches(code) { Ok(()) } else { Err(format!("status {code}")) };
    };
    let regex = |re: &str, hay: &[u8]| -> Result<bool, String> {
        regex::bytes::Regex::new(re).map(|r| r.is_match(hay)).map_err(|e| format!("pattern {re:?}: {e}"))
    };
    let (found, what) = match &rule.what {
        HttpMatch::Status(m) => (m.matches(code), format!("status {code}")),
        HttpMatch::RStatus(re) => (regex(re, code.to_string().as_bytes())?, format!("status {code}")),
        HttpMatch::String(s) => {
            let s = s.as_bytes();
            (
                s.is_empty() || body.windows(s.len()).any(|w| w == s),
                format!("status {code}, body {}", super::exchange::printable(body)),
            )
        }
        HttpMatch::RString(re) => {
            (regex(re, body)?, format!("status {code}, body {}", super::exchange::printable(body)))
        }
    };
    if found != rule.negate {
        Ok(())
    } else {
        Err(format!("{what} does not pass http-check expect{}", if rule.negate { " !" } else { "" }))
    }
}

/// The request a check sends.
pub fn request(check: &HealthCheck, addr: SocketAddr) -> String {
    let h = &check.http;
    let mut out = format!("{} {} {}\r\n", h.method, check.path, h.version);
    if !h.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        out.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in &h.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("Connection: close\r\nUser-Agent: spillway-health-check\r\nAccept: */*\r\n\r\n");
    out
}

/// What a check needs of a response head.
struct Head {
    code: u16,
    /// Where the body starts in the buffer.
    body_start: usize,
    /// `Content-Length`, when given (else the body ends at the close, or it is chunked and
    /// searched as it comes).
    length: Option<usize>,
}

/// The final response head once complete (interim 1xx answers skipped).
fn parse_head(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut offset = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf[offset..])? {
            httparse::Status::Partial => return Ok(None),
            httparse::Status::Complete(n) => {
                let code = response.code.unwrap_or(0);
                if (100..200).contains(&code) && code != 101 {
                    offset += n;
                    continue;
                }
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                let no_body = code == 204 || code == 304;
                return Ok(Some(Head { code, body_start: offset + n, length: if no_body { Some(0) } else { length } }));
            }
        }
    }
}

fn describe(e: io::IoError, timeout: Duration) -> String {
    match e {
        io::IoError::TimedOut => format!("no response within {timeout:?}"),
        io::IoError::Io(e) => super::tcp::describe(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_skips_interim_answers_and_waits_for_the_head() {
        let code = |b: &[u8]| parse_head(b).map(|h| h.map(|h| h.code));
        assert_eq!(code(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert_eq!(code(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").unwrap(), Some(503));
        assert_eq!(code(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\n\r\n").unwrap(), Some(302));
        assert!(code(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nup").unwrap().unwrap();
        assert_eq!((h.body_start, h.length), (38, Some(7)));
    }

    #[test]
    fn expect_rules_judge_status_and_body() {
        let mut c = HealthCheck::default();
        assert!(judge(&c, 200, b"").is_ok() && judge(&c, 302, b"").is_err(), "the matcher without a rule");
        let rule = |negate, what| Some(HttpExpect { negate, what });
        c.http.expect = rule(false, HttpMatch::String("UP".into()));
        assert!(reads_body(&c));
        assert!(judge(&c, 500, b"{\"status\":\"UP\"}").is_ok(), "string looks at the body only");
        assert!(judge(&c, 200, b"DOWN").unwrap_err().contains("body \"DOWN\""));
        c.http.expect = rule(true, HttpMatch::RString("maint(enance)?".into()));
        assert!(judge(&c, 200, b"ok").is_ok() && judge(&c, 200, b"in maintenance").is_err());
        c.http.expect = rule(false, HttpMatch::RStatus("^2".into()));
        assert!(!reads_body(&c) && judge(&c, 204, b"").is_ok() && judge(&c, 404, b"").is_err());
        c.http.expect = rule(true, HttpMatch::Status(crate::config::StatusMatcher { ranges: vec![(500, 599)] }));
        assert!(judge(&c, 404, b"").is_ok() && judge(&c, 503, b"").is_err());
    }

    #[test]
    fn the_request_carries_the_method_version_and_headers_asked_for() {
        let mut c = HealthCheck { path: "/health".into(), ..HealthCheck::default() };
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(request(&c, addr).starts_with("GET /health HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"));
        c.http.method = "OPTIONS".into();
        c.http.version = "HTTP/1.0".into();
        c.http.headers = vec![("Host".into(), "www".into()), ("X-Check".into(), "1".into())];
        assert!(request(&c, addr)
            .starts_with("OPTIONS /health HTTP/1.0\r\nHost: www\r\nX-Check: 1\r\nConnection: close\r\n"));
    }
}
