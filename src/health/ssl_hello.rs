//! The TLS hello check (HAProxy's `option ssl-hello-chk`): send a TLS 1.2 ClientHello and
//! expect the first record back to be a handshake record carrying a ServerHello. The
//! handshake goes no further (no certificate is checked, no key is exchanged): it proves a TLS
//! stack answers on the port, as HAProxy's check does, for a server spillway forwards TLS to in
//! `mode tcp`.
//!
//! The hello offers the common TLS 1.2 suites (ECDHE with AES-GCM and ChaCha20, then RSA key
//! exchange) with the extensions servers require (groups, point formats, signature
//! algorithms, extended master secret, renegotiation info). A server that speaks TLS 1.3 only
//! answers it with an alert: a failed check, whose log line says so.

use std::net::SocketAddr;

use super::exchange::{printable, CheckError, Dial};

const SUITES: &[u16] = &[0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009c, 0x009d, 0x002f, 0x0035];
const GROUPS: &[u16] = &[0x001d, 0x0017, 0x0018];
const SIGNATURES: &[u16] = &[0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807];

fn u16s(list: &[u16]) -> Vec<u8> {
    let mut out = ((list.len() * 2) as u16).to_be_bytes().to_vec();
    for v in list {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The ClientHello record the check sends.
pub fn client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x03];
    let seed = ahash::RandomState::new().hash_one(0u8).to_be_bytes();
    hello.extend((0..32).map(|i| seed[i % 8] ^ i as u8));
    hello.push(0); // no session id
    hello.extend(u16s(SUITES));
    hello.extend([1, 0]); // compression: null
    let mut ext = Vec::new();
    ext.extend(extension(0x000a, &u16s(GROUPS)));
    ext.extend(extension(0x000b, &[1, 0]));
    ext.extend(extension(0x000d, &u16s(SIGNATURES)));
    ext.extend(extension(0x0017, &[]));
    ext.extend(extension(0xff01, &[0]));
    hello.extend((ext.len() as u16).to_be_bytes());
    hello.extend(ext);
    let mut handshake = vec![0x01];
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// One TLS hello check of `addr` before `deadline`.
pub async fn probe(addr: SocketAddr, dial: &Dial) -> Result<(), CheckError> {
    let mut x = dial.connect(addr).await?;
    x.send(&client_hello(), "sending the ClientHello").await?;
    x.read_until("waiting for the ServerHello", judge).await?
}

/// The verdict once the first record's header and handshake type are in.
pub fn judge(bytes: &[u8]) -> Option<Result<(), CheckError>> {
    let head = bytes.get(..6)?;
    Some(match head {
        [0x16, 0x03, _, _, _, 0x02] => Ok(()),
        [0x15, 0x03, ..] => Err(CheckError::Refused {
            protocol: "ssl-hello",
            said: format!("TLS alert {}", bytes.get(6).map_or("?".into(), |d| d.to_string())),
        }),
        _ => Err(CheckError::Unexpected { protocol: "ssl-hello", got: printable(bytes) }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_is_one_well_framed_record() {
        let r = client_hello();
        assert_eq!(&r[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(usize::from(u16::from_be_bytes([r[3], r[4]])), r.len() - 5);
        assert_eq!(r[5], 0x01);
        let hs = (usize::from(r[6]) << 16) | (usize::from(r[7]) << 8) | usize::from(r[8]);
        assert_eq!(hs, r.len() - 9);
    }

    #[test]
    fn a_server_hello_passes_and_anything_else_fails() {
        assert!(judge(&[0x16, 0x03]).is_none());
        assert!(judge(b"HTTP/").is_none(), "judged on the record header");
        assert!(judge(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]).unwrap().is_ok());
        assert!(judge(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]).unwrap().is_err());
        assert!(judge(b"HTTP/1.1 400 Bad Request").unwrap().is_err());
    }
}
