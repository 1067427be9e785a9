//! `tcp://` targets: the echo framing (send N bytes, an exchange is complete when N bytes came
//! back) and the bulk loop (only read, as fast as the server streams, counting bytes).
//!
//! Invariants: echo exchanges complete in order, so pipelined exchanges match FIFO like HTTP
//! responses; bytes read are counted, never stored; the bulk loop stops by itself at the end of
//! the run and reconnects (counting a connect error, with back-off) when the server goes away.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use crate::conn::{connect, RunCtx};
use crate::http::Response;
use crate::record::{ErrorKind, Recorder};

/// Frames echo exchanges out of the bytes read.
#[derive(Debug)]
pub struct EchoReader {
    buf: Vec<u8>,
    size: usize,
    pending: usize,
}

impl EchoReader {
    /// Exchanges of `size` bytes each.
    pub fn new(size: usize) -> EchoReader {
        EchoReader { buf: vec![0; 64 * 1024], size: size.max(1), pending: 0 }
    }

    /// The request: `size` bytes.
    pub fn request(&self) -> Vec<u8> {
        (0..self.size).map(|i| b'a' + (i % 26) as u8).collect()
    }

    /// Space to read into (the bytes are only counted).
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    pub fn filled(&mut self, n: usize) {
        self.pending += n;
    }

    /// A completed exchange, if `size` bytes have come back since the last one.
    pub fn next_exchange(&mut self) -> Option<Response> {
        if self.pending >= self.size {
            self.pending -= self.size;
            Some(Response { status: 0, close: false })
        } else {
            None
        }
    }

    pub fn reset(&mut self) {
        self.pending = 0;
    }

    /// Bytes per exchange.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// One bulk connection: read until the end of the run, counting bytes per second.
pub async fn bulk_conn(ctx: Rc<RunCtx>, rec: Rc<RefCell<Recorder>>) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut backoff = Duration::from_millis(10);
    while Instant::now() < ctx.end {
        let Some(mut stream) = connect(&ctx, &rec, &mut backoff).await else { continue };
        loop {
            let left = ctx.end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match read_for(&mut stream, &mut buf, left).await {
                Some(Ok(0)) | Some(Err(_)) => {
                    rec.borrow_mut().error(Instant::now(), ErrorKind::Read);
                    break;
                }
                Some(Ok(n)) => {
                    let now = Instant::now();
                    rec.borrow_mut().bytes(now, n as u64);
                }
                None => return,
            }
        }
    }
}

async fn read_for(stream: &mut TcpStream, buf: &mut [u8], d: Duration) -> Option<std::io::Result<usize>> {
    futures_lite::future::or(async { Some(stream.read(buf).await) }, async {
        glommio::timer::sleep(d).await;
        None
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_exchanges_complete_in_whole_sizes() {
        let mut e = EchoReader::new(10);
        assert_eq!(e.request().len(), 10);
        e.filled(7);
        assert!(e.next_exchange().is_none());
        e.filled(14);
        assert!(e.next_exchange().is_some());
        assert!(e.next_exchange().is_some());
        assert!(e.next_exchange().is_none());
        e.reset();
        e.filled(9);
        assert!(e.next_exchange().is_none());
    }
}
