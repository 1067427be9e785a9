//! One TLS connection over a non-blocking socket, driven by readiness on the shard thread.
//!
//! rustls does no I/O of its own: records are read from the socket with `recv(2)` into rustls
//! (`read_tls`), decrypted (`process_new_packets`), and taken out as plaintext (`reader`);
//! plaintext goes in through `writer` and the records rustls makes are sent with `send(2)`
//! (`write_tls`). Only after `EAGAIN` does a task wait for readiness, bounded by the caller's
//! deadline, exactly like plain sockets (`io.rs`).
//!
//! The rustls state sits in a `RefCell`: every borrow is taken and dropped between awaits (no
//! borrow is held across a wait), and a connection is used by one task at a time, so a borrow
//! never fails.
//!
//! On an io_uring shard with the ring data path (`ring/`), the records travel through the ring
//! instead: `read_tls` reads from what the connection's multishot receive took in, and the
//! records `write_tls` makes are gathered and sent as one ring send; waits are the ring
//! stream's. The rest (rustls, the borrows, EOF) is the same.
//!
//! End of stream: a `close_notify` and a TCP FIN without one both read as EOF (0 bytes). Many
//! HTTPS clients close without `close_notify`; HTTP's own framing tells a truncated message
//! from a complete one, as HTTP/1.1 over TLS has always relied on.

use std::{
    cell::RefCell,
    io::{self, Read, Write},
    os::fd::{AsRawFd, RawFd},
    sync::Arc,
    time::Instant,
};

use monoio::net::TcpStream;
use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::{
    io::{self as sio, IoError},
    ring::{self, RingStream},
};

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("peer closed during the TLS handshake")]
    Closed,
    #[error("TLS handshake not complete in time")]
    TimedOut,
    #[error("TLS handshake failed: {0}")]
    Tls(rustls::Error),
    #[error("TLS handshake: {0}")]
    Io(io::Error),
}

/// What carries the records: the socket with readiness I/O, or the shard's ring.
enum Transport {
    Plain(TcpStream),
    Ring(RingStream),
}

impl Transport {
    fn new(tcp: TcpStream) -> Transport {
        if ring::enabled() {
            Transport::Ring(RingStream::new(tcp))
        } else {
            Transport::Plain(tcp)
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(t) => t,
            Transport::Ring(r) => r.tcp(),
        }
    }

    /// Feeds `conn` the records that have arrived: bytes taken, 0 at EOF, `WouldBlock` when none.
    fn read_tls(&self, conn: &mut Connection) -> io::Result<usize> {
        match self {
            Transport::Plain(t) => conn.read_tls(&mut Fd(t.as_raw_fd())),
            Transport::Ring(r) => conn.read_tls(&mut RingReader(r)),
        }
    }

    async fn readable(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        match self {
            Transport::Plain(t) => sio::readable(t, deadline).await,
            Transport::Ring(r) => r.readable(deadline).await,
        }
    }
}

/// A ring stream's arrived bytes as `Read` (`WouldBlock` when there are none yet).
struct RingReader<'a>(&'a RingStream);

impl Read for RingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// A socket carrying TLS.
pub struct TlsStream {
    transport: Transport,
    conn: RefCell<Connection>,
    /// Bytes received from the peer during the handshake (a peer that connects and closes
    /// without sending anything did not attempt TLS at all).
    received: usize,
}

/// `recv`/`send` on a raw socket as `Read`/`Write`, for rustls' `read_tls`/`write_tls`.
struct Fd(RawFd);

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sio::recv(self.0, buf)
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sio::send(self.0, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Completes the server side of a handshake on an accepted socket, until `deadline`.
    /// On failure the alert rustls chose (if any) is sent before the error is returned.
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        deadline: Instant,
    ) -> Result<TlsStream, (HandshakeError, usize)> {
        let conn = match ServerConnection::new(config) {
            Ok(c) => c,
            Err(e) => return Err((HandshakeError::Tls(e), 0)),
        };
        let mut stream = TlsStream { transport: Transport::new(tcp), conn: RefCell::new(conn.into()), received: 0 };
        match stream.handshake(deadline).await {
            Ok(()) => Ok(stream),
            Err(e) => Err((e, stream.received)),
        }
    }

    /// Completes the client side of a handshake on a connected socket, until `deadline`.
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        deadline: Instant,
    ) -> Result<TlsStream, HandshakeError> {
        let conn = ClientConnection::new(config, name).map_err(HandshakeError::Tls)?;
        let mut stream = TlsStream { transport: Transport::new(tcp), conn: RefCell::new(conn.into()), received: 0 };
        stream.handshake(deadline).await?;
        Ok(stream)
    }

    async fn handshake(&mut self, deadline: Instant) -> Result<(), HandshakeError> {
        loop {
            self.flush(Some(deadline)).await.map_err(|e| match e {
                IoError::TimedOut => HandshakeError::TimedOut,
                IoError::Io(e) => HandshakeError::Io(e),
            })?;
            if !self.conn.get_mut().is_handshaking() {
                return Ok(());
            }
            let read = self.transport.read_tls(self.conn.get_mut());
            match read {
                Ok(0) => return Err(HandshakeError::Closed),
                Ok(n) => {
                    self.received += n;
                    if let Err(e) = self.conn.get_mut().process_new_packets() {
                        self.send_alert();
                        return Err(HandshakeError::Tls(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.transport.readable(Some(deadline)).await {
                        Ok(()) => {}
                        Err(IoError::TimedOut) => return Err(HandshakeError::TimedOut),
                        Err(IoError::Io(e)) => return Err(HandshakeError::Io(e)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HandshakeError::Io(e)),
            }
        }
    }

    /// Best effort, without waiting: the alert rustls queued after an error (a direct
    /// `send(2)` on either transport: it is the last thing the connection sends).
    fn send_alert(&self) {
        let mut conn = self.conn.borrow_mut();
        let mut fd = Fd(self.transport.tcp().as_raw_fd());
        while conn.wants_write() {
            if conn.write_tls(&mut fd).is_err() {
                break;
            }
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        self.transport.tcp()
    }

    /// The ring stream under the records, if they travel through the ring.
    pub fn ring(&self) -> Option<&RingStream> {
        match &self.transport {
            Transport::Ring(r) => Some(r),
            Transport::Plain(_) => None,
        }
    }

    /// The ALPN protocol agreed on, if any.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.conn.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// Whether the handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.conn.borrow().handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Plaintext is waiting to be read, or the peer closed: a read will not wait. (Records a
    /// ring stream took in and rustls has not seen yet do not count: as records in the
    /// kernel's socket buffer do not.)
    pub fn has_pending(&self) -> bool {
        let mut conn = self.conn.borrow_mut();
        match conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
            Err(_) => true, // the read reports the error
        }
    }

    /// Waits until a read can make progress (plaintext is buffered, or the socket is readable).
    pub async fn readable(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        if self.has_pending() {
            return Ok(());
        }
        self.transport.readable(deadline).await
    }

    /// Reads plaintext (at least one byte, or 0 at the end), waiting until `deadline`.
    pub async fn read_some(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, IoError> {
        loop {
            let read = self.conn.borrow_mut().reader().read(buf);
            match read {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e.into()),
            }
            // Records rustls wants to send first (a key update answer, an alert).
            self.flush(deadline).await?;
            let got = self.transport.read_tls(&mut self.conn.borrow_mut());
            match got {
                // EOF is noted by rustls; the reader says 0 or "unexpected EOF" next turn.
                Ok(0) => {}
                Ok(_) => {
                    let processed = self.conn.borrow_mut().process_new_packets();
                    if let Err(e) = processed {
                        self.send_alert();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e).into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.transport.readable(deadline).await?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Encrypts and sends all of `data`, waiting for writability until `deadline`.
    pub async fn write_all(&self, mut data: &[u8], deadline: Option<Instant>) -> Result<(), IoError> {
        while !data.is_empty() {
            // rustls takes what fits in its send buffer (64 KiB by default) at a time.
            let taken = self.conn.borrow_mut().writer().write(data)?;
            data = &data[taken..];
            self.flush(deadline).await?;
        }
        Ok(())
    }

    /// Sends every record rustls has queued.
    async fn flush(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        let fd = match &self.transport {
            Transport::Plain(t) => t.as_raw_fd(),
            Transport::Ring(r) => {
                // Every queued record in one ring send.
                let mut records = Vec::new();
                {
                    let mut conn = self.conn.borrow_mut();
                    while conn.wants_write() {
                        conn.write_tls(&mut records)?;
                    }
                }
                return r.write_all(&records, deadline).await;
            }
        };
        loop {
            let sent = {
                let mut conn = self.conn.borrow_mut();
                if !conn.wants_write() {
                    return Ok(());
                }
                conn.write_tls(&mut Fd(fd))
            };
            match sent {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    sio::writable(self.transport.tcp(), deadline).await?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends `close_notify` (then the caller's FIN): the end of this direction.
    pub async fn close_write(&self, deadline: Option<Instant>) -> Result<(), IoError> {
        self.conn.borrow_mut().send_close_notify();
        self.flush(deadline).await
    }
}
