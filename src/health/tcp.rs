//! The TCP check: a completed three-way handshake is a success, and the connection is closed at
//! once (what Elastic Load Balancing's TCP checks do). Refused, unreachable or silent within
//! the check's `timeout` is a failure, with the reason for the log.

use std::{net::SocketAddr, time::Duration};

use monoio::net::TcpStream;

/// Connects to `addr` within `timeout`; returns the connection on success.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// One TCP check.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    connect(addr, timeout).await.map(drop)
}

/// A short reason for the log: "connection refused", not an error's debug form.
pub fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}
