//! A connection's byte stream, plain TCP or TLS over TCP, with one set of deadline-bound,
//! readiness-driven reads and writes for both.
//!
//! The HTTP listener, the backend pool and the HTTP health check speak through this type, so
//! HTTPS needs no second copy of the request flow. It is an enum, not a trait object: the plain
//! arm is the same syscall path as before (`io.rs`), the ring arm the io_uring data path
//! (`ring/`, on io_uring shards unless `uring_data_path = false`), one predictable branch per
//! call.

use std::{
    os::fd::{AsRawFd, RawFd},
    time::Instant,
};

use monoio::net::TcpStream;

use crate::{
    io::{self, IoError},
    ring::{self, RingStream},
    tls::{HandshakeError, TlsStream},
};

pub enum Stream {
    Plain(TcpStream),
    /// Plain TCP through the shard's ring: multishot receives, sends as ring entries.
    Ring(RingStream),
    /// Boxed: rustls' connection state is large, and most streams are plain.
    Tls(Box<TlsStream>),
}

/// How to talk TLS to a peer: the client config and the name to send and verify.
pub type ClientTls<'a> = (&'a std::sync::Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>);

impl Stream {
    /// The stream a connected socket carries: plain, or TLS once the client handshake (until
    /// `deadline`) is done. The one place the pool and the HTTP health check make streams.
    pub async fn client(
        tcp: TcpStream,
        tls: Option<ClientTls<'_>>,
        deadline: Instant,
    ) -> Result<Stream, HandshakeError> {
        match tls {
            None => Ok(Stream::plain(tcp)),
            Some((config, name)) => {
                Ok(Stream::Tls(Box::new(TlsStream::connect(tcp, config.clone(), name, deadline).await?)))
            }
        }
    }

    /// A plain connection: through the ring where this shard runs the io_uring data path,
    /// with readiness I/O otherwise.
    pub fn plain(tcp: TcpStream) -> Stream {
        if ring::enabled() {
            Stream::Ring(RingStream::new(tcp))
        } else {
            Stream::Plain(tcp)
        }
    }

    /// The socket under the stream (readiness, peeks, socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Ring(r) => r.tcp(),
            Stream::Tls(t) => t.tcp(),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Input already taken off the socket and not yet read: TLS plaintext rustls decrypted
    /// beyond what the caller asked for, or a `close_notify`. Always false for a plain socket
    /// (bytes in the kernel are the pool's liveness peek's business); for a ring stream, what
    /// its receive delivered and nobody read yet (bytes, or the peer's EOF).
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Ring(r) => r.has_buffered_input(),
            // Records a ring transport took in count too: bytes (or an EOF) nobody asked for.
            Stream::Tls(t) => t.has_pending() || t.ring().is_some_and(RingStream::has_buffered_input),
        }
    }

    /// Waits until a read can make progress, until `deadline` at the latest.
    pub async fn readable(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        match self {
            Stream::Plain(s) => io::readable(s, deadline).await,
            Stream::Ring(r) => r.readable(deadline).await,
            Stream::Tls(t) => t.readable(deadline).await,
        }
    }

    /// Reads what is there (at least one byte, or 0 at the end), waiting until `deadline`.
    pub async fn read_some(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, IoError> {
        match self {
            Stream::Plain(s) => io::read_some(s, buf, deadline).await,
            Stream::Ring(r) => r.read_some(buf, deadline).await,
            Stream::Tls(t) => t.read_some(buf, deadline).await,
        }
    }

    /// Writes all of `data`, waiting until `deadline`.
    pub async fn write_all(&self, data: &[u8], deadline: Option<Instant>) -> Result<(), IoError> {
        match self {
            Stream::Plain(s) => io::write_all(s, data, deadline).await,
            Stream::Ring(r) => r.write_all(data, deadline).await,
            Stream::Tls(t) => t.write_all(data, deadline).await,
        }
    }

    /// Ends this direction: the peer reads EOF after the bytes sent (`close_notify` first on
    /// TLS). The other direction stays open.
    pub async fn shutdown_write(&self, deadline: Option<Instant>) {
        if let Stream::Tls(t) = self {
            let _ = t.close_write(deadline).await;
        }
        // SAFETY: shutdown on a socket this stream owns; ENOTCONN is harmless.
        unsafe { libc::shutdown(self.fd(), libc::SHUT_WR) };
    }

    /// The ring stream under this stream (plain or TLS), when its bytes travel through the ring.
    pub fn ring(&self) -> Option<&RingStream> {
        match self {
            Stream::Plain(_) => None,
            Stream::Ring(r) => Some(r),
            Stream::Tls(t) => t.ring(),
        }
    }

    /// Gives the socket's input back to syscalls: a ring stream's receive leaves the kernel
    /// (see `RingStream::disarm`); nothing to do for the others.
    pub async fn disarm(&self) {
        if let Some(r) = self.ring() {
            r.disarm().await;
        }
    }
}
