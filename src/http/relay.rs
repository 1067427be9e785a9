//! Moving a message body from one socket to the other, its framing checked as it passes.
//!
//! Bodies are forwarded as they arrive, never re-framed: a Content-Length body is counted
//! down, a chunked body goes through the strict chunk validator (`body.rs`) byte for byte, and
//! a response without length is relayed until the target closes. Bytes beyond the body (the
//! next pipelined request) stay in the input buffer for the next exchange.
//!
//! Each wait (for the source to send, for the destination to take) is bounded by the idle
//! timeout: ELB closes a connection on which no byte has moved for that long.

use std::time::{Duration, Instant};

use super::{
    body::{ChunkedState, LengthState},
    buffer::InBuf,
    codec::{BodyFraming, HttpError},
};
use crate::{io::IoError, metrics::ByteCounter, stream::Stream};

/// Where a body stands: which framing ends it.
pub enum Framer {
    Length(LengthState),
    Chunked(ChunkedState),
    UntilClose,
}

impl Framer {
    /// The framer of a body, or None when the message has none.
    pub fn for_framing(framing: BodyFraming) -> Option<Framer> {
        match framing {
            BodyFraming::None | BodyFraming::Length(0) => None,
            BodyFraming::Length(n) => Some(Framer::Length(LengthState::new(n))),
            BodyFraming::Chunked => Some(Framer::Chunked(ChunkedState::new())),
            BodyFraming::UntilClose => Some(Framer::UntilClose),
        }
    }

    /// The whole body has gone past (a relay whose last write failed may have counted it all).
    pub fn is_done(&self) -> bool {
        match self {
            Framer::Length(s) => s.remaining() == 0,
            Framer::Chunked(s) => s.is_done(),
            Framer::UntilClose => false,
        }
    }

    /// How much of `input` belongs to the body, and whether the body ends there.
    pub fn advance(&mut self, input: &[u8]) -> Result<(usize, bool), HttpError> {
        match self {
            Framer::Length(s) => Ok(s.advance(input)),
            Framer::Chunked(s) => s.advance(input),
            Framer::UntilClose => Ok((input.len(), false)),
        }
    }
}

/// Why a body did not get through whole.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading the body: {0}")]
    Source(IoError),
    #[error("the sender closed before the end of the body")]
    Truncated,
    #[error("writing the body: {0}")]
    Destination(IoError),
    #[error("bad body framing: {0}")]
    Framing(HttpError),
}

/// Relays one body from `src` (whose already-read bytes are in `input`) to `dst`.
pub async fn relay_body(
    src: &Stream,
    input: &mut InBuf,
    dst: &Stream,
    framer: &mut Framer,
    idle: Duration,
    buffer_limit: usize,
    counters: [&ByteCounter; 2],
) -> Result<(), RelayError> {
    loop {
        if !input.is_empty() {
            let (take, done) = framer.advance(input.bytes()).map_err(RelayError::Framing)?;
            if take > 0 {
                let written = dst.write_all(&input.bytes()[..take], Some(Instant::now() + idle)).await;
                // Consumed even when the write failed: the framer has counted these bytes, so
                // what stays in `input` is what the framer has not seen (see `discard_rest`).
                input.consume(take);
                written.map_err(RelayError::Destination)?;
                for c in counters {
                    c.add(take as u64);
                }
            }
            if done {
                return Ok(());
            }
        }
        match input.fill(src, buffer_limit, Some(Instant::now() + idle)).await {
            Ok(0) if matches!(framer, Framer::UntilClose) => return Ok(()),
            Ok(0) => return Err(RelayError::Truncated),
            Ok(_) => {}
            Err(e) => return Err(RelayError::Source(e)),
        }
    }
}

/// Reads and throws away the rest of a body nobody will read (its reader went away), so that
/// the connection it arrives on can carry another message. True when the body ended within
/// `max` more bytes and by `deadline`; false as soon as it cannot (more is left, the length is
/// unknown, the sender closed or broke the framing): the caller closes the connection then.
pub async fn discard_rest(
    src: &Stream,
    input: &mut InBuf,
    framer: &mut Framer,
    max: usize,
    deadline: Instant,
    buffer_limit: usize,
) -> bool {
    let mut budget = max;
    loop {
        if framer.is_done() {
            return true;
        }
        if !input.is_empty() {
            let Ok((take, done)) = framer.advance(input.bytes()) else { return false };
            input.consume(take);
            match budget.checked_sub(take) {
                Some(left) => budget = left,
                None => return false,
            }
            if done {
                return true;
            }
        }
        match framer {
            // Known to be too long: no point reading any of it.
            Framer::Length(s) if s.remaining() > budget as u64 => return false,
            Framer::UntilClose => return false,
            _ => {}
        }
        match input.fill(src, buffer_limit, Some(deadline)).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}
