//! The Redis check (HAProxy's `option redis-check`): send `PING`, expect `+PONG`.
//!
//! The whole first reply line is read before judging, so an error reply (`-ERR ...`,
//! `-LOADING ...`, `-NOAUTH ...`) is logged with what the server said.

use std::net::SocketAddr;

use super::exchange::{first_line, printable, CheckError, Dial};

/// What the check sends (an inline command, as HAProxy sends it).
pub const PING: &[u8] = b"PING\r\n";

/// One Redis check of `addr` before `deadline`.
pub async fn probe(addr: SocketAddr, dial: &Dial) -> Result<(), CheckError> {
    let mut x = dial.connect(addr).await?;
    x.send(PING, "sending PING").await?;
    let line = x.read_until("waiting for the PING reply", |r| first_line(r).map(<[u8]>::to_vec)).await?;
    judge(&line)
}

/// The verdict on the first reply line.
pub fn judge(line: &[u8]) -> Result<(), CheckError> {
    match line.first() {
        _ if line.starts_with(b"+PONG") => Ok(()),
        Some(b'-') => {
            Err(CheckError::Refused { protocol: "redis", said: String::from_utf8_lossy(&line[1..]).into_owned() })
        }
        _ => Err(CheckError::Unexpected { protocol: "redis", got: printable(line) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pong_passes_and_an_error_reply_says_why() {
        assert!(judge(b"+PONG").is_ok());
        let e = judge(b"-LOADING Redis is loading the dataset in memory").unwrap_err().to_string();
        assert_eq!(e, "redis: LOADING Redis is loading the dataset in memory");
        assert!(judge(b"$4").unwrap_err().to_string().contains("unexpected reply \"$4\""));
        assert!(judge(b"").is_err());
    }
}
