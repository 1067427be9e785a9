//! The MySQL check (HAProxy's `option mysql-check [user U [post-41|pre-41]]`), the post-4.1
//! exchange:
//!
//! 1. the server speaks first: its Initial Handshake packet (protocol 10) — an Error packet
//!    instead ("Host is blocked", "Too many connections") fails the check;
//! 2. with a user: a HandshakeResponse41 for it with no password, and COM_QUIT in the same
//!    write, exactly the bytes HAProxy sends;
//! 3. the answer must be an OK packet; an Error packet ("Access denied") or an authentication
//!    switch (the user needs a password) fails the check with what the server said.
//!
//! Without a user only step 1 is made. The user must exist without a password and may have no
//! privileges (`CREATE USER 'haproxy'@'lb-host'`), as HAProxy's documentation advises.

use std::net::SocketAddr;

use super::exchange::{printable, CheckError, Dial};

/// `CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION`, as HAProxy announces them.
const CAPABILITIES: u32 = 0x0000_8200;
/// HAProxy's max packet field (bytes `00 80 00 01`).
const MAX_PACKET: [u8; 4] = [0x00, 0x80, 0x00, 0x01];
/// utf8_general_ci.
const CHARSET: u8 = 0x21;
/// COM_QUIT as its own packet, sequence 0.
const QUIT: [u8; 5] = [1, 0, 0, 0, 1];

/// The HandshakeResponse41 for `user` (sequence 1, no password), then COM_QUIT.
pub fn login(user: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(34 + user.len());
    payload.extend_from_slice(&CAPABILITIES.to_le_bytes());
    payload.extend_from_slice(&MAX_PACKET);
    payload.push(CHARSET);
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    // auth-response length: no password.
    payload.push(0);
    let mut out = packet(1, &payload);
    out.extend_from_slice(&QUIT);
    out
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = vec![len[0], len[1], len[2], seq];
    out.extend_from_slice(payload);
    out
}

/// One MySQL check of `addr` (logging in as `user` when not empty) before `deadline`.
pub async fn probe(addr: SocketAddr, user: &str, dial: &Dial) -> Result<(), CheckError> {
    let mut x = dial.connect(addr).await?;
    let (len, greeting) = x.read_until("waiting for the handshake", whole_packet).await??;
    match greeting.first() {
        Some(0x0a) | Some(0x09) => {}
        Some(0xff) => return Err(error_packet(&greeting)),
        _ => return Err(CheckError::Unexpected { protocol: "mysql", got: printable(&x.received[..len]) }),
    }
    if user.is_empty() {
        return Ok(());
    }
    x.send(&login(user), "sending the login").await?;
    let (_, answer) = x.read_until("waiting for the login's answer", whole_packet).await??;
    match answer.first() {
        Some(0x00) => Ok(()),
        Some(0xff) => Err(error_packet(&answer)),
        Some(0xfe) => Err(CheckError::Refused {
            protocol: "mysql",
            said: format!("user \"{user}\" needs another authentication method (a password?)"),
        }),
        _ => Err(CheckError::Unexpected { protocol: "mysql", got: printable(&answer) }),
    }
}

/// A whole packet at the start of `bytes`: `Some(Ok((its length, its payload)))`, `None`
/// while it is incomplete.
#[allow(clippy::type_complexity)]
pub fn whole_packet(bytes: &[u8]) -> Option<Result<(usize, Vec<u8>), CheckError>> {
    let header = bytes.get(..4)?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len == 0 || 4 + len > super::exchange::MAX_REPLY {
        return Some(Err(CheckError::Unexpected { protocol: "mysql", got: printable(bytes) }));
    }
    let payload = bytes.get(4..4 + len)?;
    Some(Ok((4 + len, payload.to_vec())))
}

/// An Error packet's code and message.
fn error_packet(payload: &[u8]) -> CheckError {
    let code = payload.get(1..3).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
    let mut message = payload.get(3..).unwrap_or_default();
    if message.first() == Some(&b'#') {
        message = message.get(6..).unwrap_or_default();
    }
    CheckError::Refused { protocol: "mysql", said: format!("error {code}: {}", String::from_utf8_lossy(message)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_is_the_one_haproxy_sends() {
        let l = login("haproxy");
        // 4 + 4 + 1 + 23 + 8 + 1 = 41 bytes of payload, sequence 1.
        assert_eq!(&l[..4], &[41, 0, 0, 1]);
        assert_eq!(&l[4..13], &[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
        assert_eq!(&l[13..36], &[0u8; 23]);
        assert_eq!(&l[36..45], b"haproxy\0\0");
        assert_eq!(&l[45..], &QUIT);
    }

    #[test]
    fn packets_are_read_whole_and_errors_say_why() {
        assert!(whole_packet(b"\x05\0\0").is_none());
        assert!(whole_packet(b"\x05\0\0\0\x0a5.7").is_none());
        assert_eq!(whole_packet(b"\x01\0\0\x02\x00rest").unwrap().unwrap(), (5, vec![0]));
        assert!(whole_packet(b"\xff\xff\xff\0").unwrap().is_err(), "over the cap");
        let e = error_packet(b"\xff\x15\x04#28000Access denied for user 'x'");
        assert_eq!(e.to_string(), "mysql: error 1045: Access denied for user 'x'");
        assert_eq!(error_packet(b"\xff").to_string(), "mysql: error 0: ");
    }
}
