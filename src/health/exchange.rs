//! One check's conversation with a target: connect, send, read until the reply says enough,
//! all of it before one deadline (the check's `timeout`).
//!
//! Every protocol check (`tcp_script`, `mysql`, `pgsql`, `redis`, `smtp`, `ssl_hello`) talks
//! through this, so each of them is only its protocol: what to send and how to judge the
//! bytes that came back. Invariants: nothing here waits past the deadline; what is read is
//! capped at [`MAX_REPLY`] (a target sending more is judged on what fits, never buffered
//! without bound); no reply, however malformed, can panic a check — the parsers work on
//! slices with checked lengths and answer a [`CheckError`] instead.

use std::{
    net::SocketAddr,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use crate::{config::ProxyVersion, io, stream::Stream};

/// The most a check keeps of a reply (HAProxy's check buffer is one 16 KiB buffer too).
pub const MAX_REPLY: usize = 16 * 1024;

/// Why a check failed, for the log line of a verdict change.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("connect to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("no answer within {timeout:?} while {during}")]
    Timeout { timeout: Duration, during: &'static str },
    #[error("{during}: {reason}")]
    Io { during: &'static str, reason: String },
    #[error("connection closed while {during}")]
    Closed { during: &'static str },
    /// The target answered, and the answer says it is not well.
    #[error("{protocol}: {said}")]
    Refused { protocol: &'static str, said: String },
    /// The target answered something the protocol does not allow there.
    #[error("{protocol}: unexpected reply {got}")]
    Unexpected { protocol: &'static str, got: String },
    #[error("{0}")]
    Other(String),
}

/// An open check connection with its deadline and what it received since the last send.
pub struct Exchange {
    stream: Stream,
    deadline: Instant,
    timeout: Duration,
    /// Bytes received since the last [`Exchange::send`].
    pub received: Vec<u8>,
    /// The target closed its side (nothing more will come).
    pub closed: bool,
}

/// How a check opens its connection: before `deadline` (the check started `timeout` before
/// it), starting with a PROXY header naming no client when the group's targets expect one
/// (HAProxy sends it on every kind of check of a `send-proxy` server without a check port or
/// address, or with `check-send-proxy`; NLB on every check).
pub struct Dial {
    pub deadline: Instant,
    pub timeout: Duration,
    pub proxy: Option<ProxyVersion>,
}

impl Dial {
    /// Connects to `addr`, sends the PROXY header if any, and answers the open exchange.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Exchange, CheckError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let tcp = super::tcp::connect(addr, left).await.map_err(|reason| CheckError::Connect { addr, reason })?;
        crate::sockopt::set_nonblocking(tcp.as_raw_fd())
            .map_err(|e| CheckError::Io { during: "connecting", reason: e.to_string() })?;
        let mut x = Exchange {
            stream: Stream::Plain(tcp),
            deadline: self.deadline,
            timeout: self.timeout,
            received: Vec::new(),
            closed: false,
        };
        if let Some(version) = self.proxy {
            // A check is nobody's connection: v1 `UNKNOWN`, v2 `LOCAL`.
            x.send(crate::proxy_protocol::encode(version, None).as_bytes(), "sending the PROXY header").await?;
        }
        Ok(x)
    }
}

impl Exchange {
    /// Sends `data` whole; forgets what was received before.
    pub async fn send(&mut self, data: &[u8], during: &'static str) -> Result<(), CheckError> {
        self.received.clear();
        self.stream.write_all(data, Some(self.deadline)).await.map_err(|e| self.describe(e, during))
    }

    /// Reads what comes next onto `received`; answers how many bytes came (0: the target
    /// closed, or `received` is full).
    pub async fn read_more(&mut self, during: &'static str) -> Result<usize, CheckError> {
        if self.closed || self.received.len() >= MAX_REPLY {
            return Ok(0);
        }
        let mut buf = [0u8; 4096];
        let room = (MAX_REPLY - self.received.len()).min(buf.len());
        let n =
            self.stream.read_some(&mut buf[..room], Some(self.deadline)).await.map_err(|e| self.describe(e, during))?;
        if n == 0 {
            self.closed = true;
        }
        self.received.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    /// Reads until `received` holds at least `len` bytes; a close before is an error.
    pub async fn read_at_least(&mut self, len: usize, during: &'static str) -> Result<(), CheckError> {
        while self.received.len() < len.min(MAX_REPLY) {
            if self.read_more(during).await? == 0 {
                return Err(CheckError::Closed { during });
            }
        }
        Ok(())
    }

    /// Reads until `done(received)` answers, and answers it; a close or a full buffer before
    /// is an error.
    pub async fn read_until<T>(
        &mut self,
        during: &'static str,
        mut done: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T, CheckError> {
        loop {
            if let Some(t) = done(&self.received) {
                return Ok(t);
            }
            if self.read_more(during).await? == 0 {
                return Err(if self.closed {
                    CheckError::Closed { during }
                } else {
                    CheckError::Other(format!("reply over {MAX_REPLY} bytes while {during}"))
                });
            }
        }
    }

    /// Drops the first `n` bytes received (a packet that has been judged).
    pub fn consume(&mut self, n: usize) {
        self.received.drain(..n.min(self.received.len()));
    }

    fn describe(&self, e: io::IoError, during: &'static str) -> CheckError {
        match e {
            io::IoError::TimedOut => CheckError::Timeout { timeout: self.timeout, during },
            io::IoError::Io(e) => CheckError::Io { during, reason: super::tcp::describe(&e) },
        }
    }
}

/// `bytes` for a log line: printable ASCII as is, the rest escaped, at most 64 bytes.
pub fn printable(bytes: &[u8]) -> String {
    let mut s: String = bytes.iter().take(64).flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if bytes.len() > 64 {
        s.push_str("...");
    }
    format!("\"{s}\"")
}

/// The first line of `bytes` (without its end), if a whole one arrived.
pub fn first_line(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}
