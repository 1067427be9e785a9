//! A TCP check's conversation (HAProxy's `option tcp-check` with `tcp-check connect|send|
//! send-binary|expect` lines; TOML's `tcp_check` steps), run step by step:
//!
//! - the conversation starts with a connect to the check address, unless its first step is a
//!   `connect` of its own; a later `connect` closes the connection and opens a new one;
//! - `send` writes its bytes whole and forgets what was received before (so each `expect`
//!   judges the reply to the last `send`, and several `expect`s in a row the same reply);
//! - `expect` reads until the pattern is in what was received (a pass), or the target closed,
//!   or [`MAX_REPLY`](super::exchange::MAX_REPLY) bytes arrived, or the timeout struck (a
//!   failure). A negated `expect` (`!`) judges as soon as anything has arrived: a pass when the
//!   pattern is not there yet — HAProxy would wait for the close or the buffer to fill, which a
//!   server that keeps the connection open never gives, so the check could only time out.
//!
//! The whole conversation shares the check's one `timeout`. Patterns are validated when the
//! configuration is read; one that does not compile here fails the check, it cannot panic.

use std::net::SocketAddr;

use super::exchange::{printable, CheckError, Dial, Exchange};
use crate::config::{CheckStep, ExpectPattern};

/// Runs `steps` against the check address `addr` before `deadline`.
pub async fn probe(addr: SocketAddr, steps: &[CheckStep], dial: &Dial) -> Result<(), CheckError> {
    let mut conn = match steps.first() {
        Some(CheckStep::Connect { .. }) => None,
        _ => Some(dial.connect(addr).await?),
    };
    for (i, step) in steps.iter().enumerate() {
        match step {
            CheckStep::Connect { port } => {
                drop(conn.take());
                let to = if *port == 0 { addr } else { SocketAddr::new(addr.ip(), *port) };
                conn = Some(dial.connect(to).await?);
            }
            CheckStep::Send(data) => open(&mut conn)?.send(data, "sending").await?,
            CheckStep::Expect { negate, pattern } => {
                let matcher = Matcher::new(pattern)?;
                expect(open(&mut conn)?, &matcher, *negate)
                    .await
                    .map_err(|e| CheckError::Other(format!("step {} ({}): {e}", i + 1, describe(step))))?;
            }
        }
    }
    Ok(())
}

fn open(conn: &mut Option<Exchange>) -> Result<&mut Exchange, CheckError> {
    conn.as_mut().ok_or_else(|| CheckError::Other("no connection".into()))
}

async fn expect(x: &mut Exchange, matcher: &Matcher, negate: bool) -> Result<(), CheckError> {
    loop {
        let found = matcher.is_in(&x.received);
        if found || (negate && !x.received.is_empty()) {
            return if found == negate {
                Err(CheckError::Unexpected { protocol: "tcp-check", got: printable(&x.received) })
            } else {
                Ok(())
            };
        }
        if x.read_more("waiting for the expected reply").await? == 0 {
            return if negate {
                Ok(())
            } else {
                Err(CheckError::Unexpected { protocol: "tcp-check", got: printable(&x.received) })
            };
        }
    }
}

/// An [`ExpectPattern`] ready to search with.
enum Matcher {
    Bytes(Vec<u8>),
    Regex(regex::bytes::Regex),
}

impl Matcher {
    fn new(p: &ExpectPattern) -> Result<Matcher, CheckError> {
        Ok(match p {
            ExpectPattern::Bytes(b) => Matcher::Bytes(b.clone()),
            ExpectPattern::Regex(re) => Matcher::Regex(
                regex::bytes::Regex::new(re).map_err(|e| CheckError::Other(format!("pattern {re:?}: {e}")))?,
            ),
        })
    }

    fn is_in(&self, hay: &[u8]) -> bool {
        match self {
            Matcher::Bytes(b) => b.is_empty() || hay.windows(b.len()).any(|w| w == b.as_slice()),
            Matcher::Regex(re) => re.is_match(hay),
        }
    }
}

/// A step as the log names it.
fn describe(step: &CheckStep) -> String {
    match step {
        CheckStep::Connect { port } => format!("connect port {port}"),
        CheckStep::Send(d) => format!("send {}", printable(d)),
        CheckStep::Expect { negate, pattern } => {
            let bang = if *negate { "! " } else { "" };
            match pattern {
                ExpectPattern::Bytes(b) => format!("expect {bang}{}", printable(b)),
                ExpectPattern::Regex(r) => format!("expect {bang}rstring {r:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_regexes_match_anywhere_in_the_reply() {
        let m = Matcher::new(&ExpectPattern::Bytes(b"+PONG".to_vec())).unwrap();
        assert!(m.is_in(b"+PONG\r\n") && m.is_in(b"x+PONG") && !m.is_in(b"-ERR"));
        let r = Matcher::new(&ExpectPattern::Regex("^2[0-9]{2} ".into())).unwrap();
        assert!(r.is_in(b"220 ready\r\n") && !r.is_in(b"554 no\r\n"));
        assert!(Matcher::new(&ExpectPattern::Regex("(".into())).is_err());
    }
}
