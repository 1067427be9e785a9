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
                dst.write_all(&input.bytes()[..take], Some(Instant::now() + idle))
                    .await
                    .map_err(RelayError::Destination)?;
                input.consume(take);
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
