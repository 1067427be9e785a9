//! Reading a client's PROXY header off its socket: bounded in bytes ([`READ_MAX`]) and in time
//! (the caller's deadline), and never past the header's last byte, because what follows is the
//! client's own stream and the session reads it from the socket (an HTTP head) or splices it
//! (a TCP session) without knowing a header was there.
//!
//! How it stays exact without reading a byte at a time: it peeks (`MSG_PEEK`) at what has
//! arrived, asks the parser, and then consumes only what the parser says is header — all of
//! it while the header is incomplete (the parser promises every byte is header then), exactly
//! the header's length once it is known. Consuming what was seen before waiting again is what
//! keeps the wait honest: readiness then means new bytes, not the same ones seen again. A v2
//! header's TLVs beyond the addresses are thrown away unread (`MSG_TRUNC`).

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    time::Instant,
};

use monoio::net::TcpStream;

use super::{parse, Addresses, ParseError, READ_MAX};

/// Why a client's connection had no usable header: it is closed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("no complete PROXY header within the timeout ({0} bytes received)")]
    TimedOut(usize),
    #[error("connection closed after {0} bytes, before a complete PROXY header")]
    Closed(usize),
    #[error("invalid PROXY header: {0}")]
    Invalid(#[from] ParseError),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

impl AcceptError {
    /// Whether the client sent anything at all (a connect-and-close, as a TCP health check of
    /// an upstream balancer does, is not a protocol error worth counting).
    pub fn sent_something(&self) -> bool {
        !matches!(self, AcceptError::Closed(0) | AcceptError::TimedOut(0))
    }
}

/// Reads the PROXY header at the start of `stream` (non-blocking) by `deadline`. `Ok(None)`:
/// a header that names no address (v1 `UNKNOWN`, v2 `LOCAL`): the real peer stands.
pub async fn accept(stream: &TcpStream, deadline: Instant) -> Result<Option<Addresses>, AcceptError> {
    let fd = stream.as_raw_fd();
    let mut buf = [0u8; READ_MAX];
    let mut have = 0;
    loop {
        let n = match recv(fd, &mut buf[have..], libc::MSG_PEEK) {
            Ok(0) => return Err(AcceptError::Closed(have)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait(stream, deadline, have).await?;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        match parse(&buf[..have + n])? {
            None => {
                // Every byte seen is header: take them, then wait for more.
                take(fd, &mut buf[have..have + n])?;
                have += n;
                wait(stream, deadline, have).await?;
            }
            Some(header) => {
                let seen = (have + n).min(header.len);
                take(fd, &mut buf[have..seen])?;
                skip(stream, header.len - seen, deadline).await?;
                return Ok(header.addresses);
            }
        }
    }
}

/// Consumes exactly `into.len()` bytes that a peek showed are there.
fn take(fd: RawFd, into: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < into.len() {
        match recv(fd, &mut into[done..], 0) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Throws away `left` bytes (a v2 header's TLVs) as they arrive, by `deadline`.
async fn skip(stream: &TcpStream, mut left: usize, deadline: Instant) -> Result<(), AcceptError> {
    while left > 0 {
        // SAFETY: with MSG_TRUNC a TCP socket copies nothing into the (null) buffer.
        let n =
            unsafe { libc::recv(stream.as_raw_fd(), std::ptr::null_mut(), left, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
        match n {
            0 => return Err(AcceptError::Closed(0)),
            n if n > 0 => left -= n as usize,
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => wait(stream, deadline, 0).await?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// Waits for new bytes until `deadline`.
async fn wait(stream: &TcpStream, deadline: Instant, have: usize) -> Result<(), AcceptError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match monoio::time::timeout(left, stream.readable(false)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(AcceptError::TimedOut(have)),
    }
}

fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: buf is a valid writable region of buf.len() bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
        time::Duration,
    };

    use super::*;
    use crate::proxy_protocol::{encode, Version};

    fn block_on<T>(test: impl std::future::Future<Output = T>) -> T {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(test)
    }

    /// Runs `accept` on the server end of a loopback connection whose client writes `parts`
    /// (with a pause between them), then answers what `accept` gave and what bytes followed.
    fn accept_after(parts: Vec<Vec<u8>>, within: Duration) -> (Result<Option<Addresses>, String>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            for p in parts {
                c.write_all(&p).unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
            c.shutdown(std::net::Shutdown::Write).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let std_server = server.try_clone().unwrap();
        let result = block_on(async move {
            let stream = TcpStream::from_std(server).unwrap();
            accept(&stream, Instant::now() + within).await.map_err(|e| e.to_string())
        });
        let mut rest = Vec::new();
        if result.is_ok() {
            std_server.set_nonblocking(false).unwrap();
            std_server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            std_server.take(1 << 20).read_to_end(&mut rest).unwrap();
        }
        writer.join().unwrap();
        (result, rest)
    }

    fn addrs(src: &str, dst: &str) -> Addresses {
        Addresses { source: src.parse().unwrap(), destination: dst.parse().unwrap() }
    }

    #[test]
    fn a_header_in_pieces_is_read_exactly_and_the_stream_after_it_is_untouched() {
        let a = addrs("203.0.113.9:4444", "198.51.100.2:80");
        for v in [Version::V1, Version::V2] {
            let h = encode(v, Some(a)).as_bytes().to_vec();
            let (cut1, cut2) = (3, h.len() - 2);
            let parts = vec![h[..cut1].to_vec(), h[cut1..cut2].to_vec(), [&h[cut2..], b"GET / HTTP/1.1\r\n"].concat()];
            let (got, rest) = accept_after(parts, Duration::from_secs(5));
            assert_eq!(got, Ok(Some(a)), "{v:?}");
            assert_eq!(rest, b"GET / HTTP/1.1\r\n", "{v:?}: a byte of the stream was taken, or one of the header left");
        }
    }

    #[test]
    fn tlvs_are_skipped_and_local_names_no_address() {
        let mut h = encode(Version::V2, Some(addrs("10.0.0.1:1", "10.0.0.2:2"))).as_bytes().to_vec();
        // 300 bytes of TLV (more than READ_MAX): the declared length covers them.
        let len = u16::from_be_bytes([h[14], h[15]]) + 300;
        h[14..16].copy_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[0x04, 0x01, 0x29]);
        h.extend_from_slice(&[0u8; 297]);
        let (got, rest) = accept_after(vec![h, b"after".to_vec()], Duration::from_secs(5));
        assert_eq!(got, Ok(Some(addrs("10.0.0.1:1", "10.0.0.2:2"))));
        assert_eq!(rest, b"after");
        let (got, rest) =
            accept_after(vec![encode(Version::V2, None).as_bytes().to_vec(), b"x".to_vec()], Duration::from_secs(5));
        assert_eq!((got, rest), (Ok(None), b"x".to_vec()));
    }

    #[test]
    fn garbage_a_short_close_and_silence_are_errors() {
        let (got, _) = accept_after(vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()], Duration::from_secs(5));
        assert!(got.unwrap_err().contains("invalid PROXY header"));
        let (got, _) = accept_after(vec![b"PROXY TCP4 1.2.3.4".to_vec()], Duration::from_secs(5));
        assert!(got.unwrap_err().contains("closed after 18 bytes"));
        let (got, _) = accept_after(vec![b"PROXY ".to_vec()], Duration::from_millis(10));
        assert!(got.unwrap_err().contains("timeout"));
    }
}
