//! The HTTP check: `GET path` with `Host` and `Connection: close`; a success when the status
//! code matches the group's `matcher` and the response head arrives within `timeout`. The
//! body is not read: the status line is the verdict, and the connection is closed after it.
//! With the group's PROXY protocol, the check's connection starts with a header naming no
//! client (v1 `UNKNOWN`, v2 `LOCAL`), before TLS if any.
//! The HTTPS check is the same request over TLS; the handshake counts against `timeout` too,
//! and a failed handshake is a failed check (with rustls' reason).

use std::{
    net::SocketAddr,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use crate::{
    config::HealthCheck,
    io,
    stream::{ClientTls, Stream},
};

/// Largest response head a check reads; a target answering more is judged broken.
const MAX_HEAD: usize = 16 * 1024;

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
    let request = request(&check.path, addr);
    stream.write_all(request.as_bytes(), Some(deadline)).await.map_err(|e| describe(e, check.timeout))?;
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let n = stream.read_some(&mut buf[len..], Some(deadline)).await.map_err(|e| describe(e, check.timeout))?;
        if n == 0 {
            return Err("connection closed before a complete response head".into());
        }
        len += n;
        match status(&buf[..len]) {
            Ok(Some(code)) if check.matcher.matches(code) => return Ok(()),
            Ok(Some(code)) => return Err(format!("status {code}")),
            Ok(None) if len == buf.len() => return Err(format!("response head over {MAX_HEAD} bytes")),
            Ok(None) => {}
            Err(e) => return Err(format!("invalid response: {e}")),
        }
    }
}

/// The request a check sends.
pub fn request(path: &str, addr: SocketAddr) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: spillway-health-check\r\nAccept: */*\r\n\r\n"
    )
}

/// The status code once the head is complete (interim 1xx answers skipped).
fn status(mut buf: &[u8]) -> Result<Option<u16>, httparse::Error> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf)? {
            httparse::Status::Partial => return Ok(None),
            httparse::Status::Complete(n) => {
                let code = response.code.unwrap_or(0);
                if (100..200).contains(&code) && code != 101 {
                    buf = &buf[n..];
                    continue;
                }
                return Ok(Some(code));
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
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert_eq!(status(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").unwrap(), Some(503));
        assert_eq!(status(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\n\r\n").unwrap(), Some(302));
        assert!(status(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
