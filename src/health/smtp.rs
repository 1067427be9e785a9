//! The SMTP check (HAProxy's `option smtpchk [HELO|EHLO domain]`): the server's banner must be
//! 2xx, the greeting command (`HELO localhost` unless the file names another) must be answered
//! 2xx, then `QUIT` is sent and must be answered 2xx, so that the server logs a clean session.
//!
//! Replies may span lines (`250-first`, `250-second`, `250 last`): each reply is read up to its
//! last line, whose code is the verdict. A `554` banner (a server refusing service) is the
//! usual unhealthy answer.

use std::net::SocketAddr;

use super::exchange::{printable, CheckError, Dial, Exchange};

/// One SMTP check of `addr` before `deadline`, greeting with `hello` (`HELO localhost`).
pub async fn probe(addr: SocketAddr, hello: &str, dial: &Dial) -> Result<(), CheckError> {
    let mut x = dial.connect(addr).await?;
    expect_2xx(&mut x, "waiting for the banner", "banner").await?;
    x.send(format!("{hello}\r\n").as_bytes(), "sending the greeting").await?;
    expect_2xx(&mut x, "waiting for the greeting's reply", hello).await?;
    x.send(b"QUIT\r\n", "sending QUIT").await?;
    expect_2xx(&mut x, "waiting for the QUIT reply", "QUIT").await
}

async fn expect_2xx(x: &mut Exchange, during: &'static str, what: &str) -> Result<(), CheckError> {
    let (code, last) = x.read_until(during, reply).await??;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(CheckError::Refused { protocol: "smtp", said: format!("{what} answered {}", printable(&last)) })
    }
}

/// A whole reply in `bytes`: `Some(Ok((code, last line)))`, `Some(Err(..))` for lines that are
/// no SMTP reply, `None` while its last line has not arrived.
#[allow(clippy::type_complexity)]
pub fn reply(bytes: &[u8]) -> Option<Result<(u16, Vec<u8>), CheckError>> {
    let mut rest = bytes;
    loop {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = &rest[end + 1..];
        let code = match line.get(..3).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| d.parse::<u16>().ok()) {
            Some(c) if (100..600).contains(&c) => c,
            _ => return Some(Err(CheckError::Unexpected { protocol: "smtp", got: printable(line) })),
        };
        match line.get(3) {
            Some(b'-') => continue,
            None | Some(b' ') => return Some(Ok((code, line.to_vec()))),
            Some(_) => return Some(Err(CheckError::Unexpected { protocol: "smtp", got: printable(line) })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_are_read_to_their_last_line() {
        assert!(reply(b"250-mail.example.com\r\n250-PIPELINING\r\n").is_none());
        let (code, last) = reply(b"250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n").unwrap().unwrap();
        assert_eq!((code, last.as_slice()), (250, &b"250 8BITMIME"[..]));
        assert_eq!(reply(b"554\r\n").unwrap().unwrap().0, 554);
        assert!(reply(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap().is_err());
        assert!(reply(b"22\r\n").unwrap().is_err());
    }
}
