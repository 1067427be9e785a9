//! The PostgreSQL check (HAProxy's `option pgsql-check user U`): a protocol 3.0
//! StartupMessage for `user`, answered by an authentication request (`R`): the server is up,
//! accepts connections and knows how it wants the user to log in. Nothing more is sent; the
//! connection is closed before any password (as HAProxy does).
//!
//! An ErrorResponse (`E`: "the database system is starting up", "too many connections",
//! "no pg_hba.conf entry") fails the check with the server's message.

use std::net::SocketAddr;

use super::exchange::{printable, CheckError, Dial};

/// The StartupMessage HAProxy sends: length, version 3.0, `user` = `user`, end.
pub fn startup_message(user: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + user.len());
    body.extend_from_slice(&0x0003_0000u32.to_be_bytes());
    body.extend_from_slice(b"user\0");
    body.extend_from_slice(user.as_bytes());
    body.extend_from_slice(b"\0\0");
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// One PostgreSQL check of `addr` as `user` before `deadline`.
pub async fn probe(addr: SocketAddr, user: &str, dial: &Dial) -> Result<(), CheckError> {
    let mut x = dial.connect(addr).await?;
    x.send(&startup_message(user), "sending the StartupMessage").await?;
    x.read_until("waiting for the reply to the StartupMessage", judge).await?
}

/// The verdict once enough of the first message is in (`None`: read on).
pub fn judge(bytes: &[u8]) -> Option<Result<(), CheckError>> {
    let kind = *bytes.first()?;
    if kind != b'R' && kind != b'E' {
        return Some(Err(CheckError::Unexpected { protocol: "pgsql", got: printable(bytes) }));
    }
    let len = u32::from_be_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
    if !(4..=super::exchange::MAX_REPLY).contains(&len) {
        return Some(Err(CheckError::Unexpected { protocol: "pgsql", got: printable(bytes) }));
    }
    if kind == b'R' {
        return Some(Ok(()));
    }
    // ErrorResponse: fields `TYPE text\0`, ended by a 0; wait for the whole message.
    let body = bytes.get(5..1 + len)?;
    let message = body
        .split(|&b| b == 0)
        .find_map(|f| f.strip_prefix(b"M"))
        .map_or_else(|| printable(body), |m| String::from_utf8_lossy(m).into_owned());
    Some(Err(CheckError::Refused { protocol: "pgsql", said: message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_message_is_the_one_haproxy_sends() {
        assert_eq!(startup_message("hap"), b"\0\0\0\x12\0\x03\0\0user\0hap\0\0");
    }

    #[test]
    fn an_auth_request_passes_and_an_error_response_says_why() {
        assert!(judge(b"R").is_none());
        assert!(judge(b"R\0\0\0\x0c\0\0\0\x05").unwrap().is_ok());
        let err = b"E\0\0\0\x2cSFATAL\0C57P03\0Mthe database system is starting up\0\0";
        let mut msg = err.to_vec();
        msg[4] = (msg.len() - 1) as u8;
        assert!(judge(&msg[..10]).is_none(), "waits for the whole error");
        assert_eq!(judge(&msg).unwrap().unwrap_err().to_string(), "pgsql: the database system is starting up");
        assert!(judge(b"HTTP/1.1 400").unwrap().is_err());
        assert!(judge(b"R\xff\xff\xff\xff").unwrap().is_err());
    }
}
