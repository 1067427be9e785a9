//! Reading a PROXY protocol header, v1 or v2 (told apart by their first bytes), from the start
//! of a connection's bytes.
//!
//! The contract with the reader (`accept.rs`), which must never take a byte past the header:
//! - `Ok(None)` (incomplete) is answered only while every byte given can still be part of a
//!   header: a v1 line without its `\r\n` yet and under [`V1_MAX`] bytes, or a v2 header short
//!   of its fixed part or its address block. So the reader may consume all it was given;
//! - `Ok(Some(header))` says how long the whole header is ([`Header::len`]), which for v2 may
//!   be more than was given (TLVs after the addresses: the reader skips them unread);
//! - `Err` as soon as the bytes cannot start a valid header (an HTTP request, a TLS hello, a
//!   v1 line longer than the protocol allows, an unknown v2 version or command).
//!
//! What counts as valid follows the specification (HAProxy's `doc/proxy-protocol.txt`):
//! v1 `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` with single spaces, addresses of the named
//! family and ports 0–65535, or `PROXY UNKNOWN[ anything]\r\n` (the real peer is used); v2
//! version 2, command `LOCAL` (the real peer is used, whatever the family) or `PROXY` with
//! family `INET`/`INET6` over `STREAM`, or `UNSPEC`/`UNIX` (the real peer is used: spillway
//! routes by IP). A declared length shorter than the family's address block is an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Addresses;

/// The v2 signature, the first 12 bytes of every v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A v2 header's fixed part: signature, version/command, family/transport, length.
pub const V2_FIXED: usize = 16;
/// The longest v1 line, `\r\n` included (the specification's 107).
pub const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";

/// A header read whole (or, for v2, its addresses read and its length known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes the header takes on the connection, from its first byte.
    pub len: usize,
    /// The client's addresses it carries; `None`: use the connection's own (v1 `UNKNOWN`, v2
    /// `LOCAL`, or a family spillway does not route by).
    pub addresses: Option<Addresses>,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a PROXY protocol header (neither \"PROXY \" nor the v2 signature)")]
    NotProxy,
    #[error("v1 line over {V1_MAX} bytes without its CRLF")]
    V1TooLong,
    #[error("v1 line malformed: {0}")]
    V1Malformed(&'static str),
    #[error("v2 version {0} (only 2 exists)")]
    V2Version(u8),
    #[error("v2 command {0} (LOCAL is 0, PROXY 1)")]
    V2Command(u8),
    #[error("v2 family/transport byte {0:#04x} not understood")]
    V2Family(u8),
    #[error("v2 length {len} shorter than its address block of {need} bytes")]
    V2Length { len: usize, need: usize },
}

/// Reads the header at the start of `buf`; see the module docs for what each answer promises.
pub fn parse(buf: &[u8]) -> Result<Option<Header>, ParseError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    if first == V1_PREFIX[0] {
        v1(buf)
    } else if first == V2_SIGNATURE[0] {
        v2(buf)
    } else {
        Err(ParseError::NotProxy)
    }
}

/// Whether `buf` is a prefix of `pattern` or starts with it.
fn agrees(buf: &[u8], pattern: &[u8]) -> bool {
    let n = buf.len().min(pattern.len());
    buf[..n] == pattern[..n]
}

fn v1(buf: &[u8]) -> Result<Option<Header>, ParseError> {
    if !agrees(buf, V1_PREFIX) {
        return Err(ParseError::NotProxy);
    }
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX { Err(ParseError::V1TooLong) } else { Ok(None) };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ParseError::V1Malformed("a line feed without its carriage return"));
    }
    let line = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1])
        .map_err(|_| ParseError::V1Malformed("bytes that are not text"))?;
    let len = lf + 1;
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Ok(Some(Header { len, addresses: None }));
    }
    let mut words = line.split(' ');
    let family = words.next().unwrap_or_default();
    let (src, dst, sport, dport) = match (words.next(), words.next(), words.next(), words.next(), words.next()) {
        (Some(a), Some(b), Some(c), Some(d), None) => (a, b, c, d),
        _ => return Err(ParseError::V1Malformed("expected PROXY FAMILY SRC DST SPORT DPORT")),
    };
    let ip = |text: &str| -> Result<IpAddr, ParseError> {
        match family {
            "TCP4" => {
                text.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| ParseError::V1Malformed("not an IPv4 address"))
            }
            "TCP6" => {
                text.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| ParseError::V1Malformed("not an IPv6 address"))
            }
            _ => Err(ParseError::V1Malformed("family is not TCP4, TCP6 or UNKNOWN")),
        }
    };
    let source = SocketAddr::new(ip(src)?, port(sport)?);
    let destination = SocketAddr::new(ip(dst)?, port(dport)?);
    Ok(Some(Header { len, addresses: Some(Addresses { source, destination }) }))
}

/// A v1 port: 1 to 5 decimal digits, at most 65535.
fn port(text: &str) -> Result<u16, ParseError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::V1Malformed("a port is not a number 0-65535"));
    }
    text.parse().map_err(|_| ParseError::V1Malformed("a port is not a number 0-65535"))
}

fn v2(buf: &[u8]) -> Result<Option<Header>, ParseError> {
    if !agrees(buf, &V2_SIGNATURE) {
        return Err(ParseError::NotProxy);
    }
    if buf.len() < V2_FIXED {
        // Check the version and command as soon as they are there: garbage is refused early.
        if let Some(&vc) = buf.get(12) {
            check_version_command(vc)?;
        }
        return Ok(None);
    }
    let local = check_version_command(buf[12])?;
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = V2_FIXED + len;
    let (family, transport) = (buf[13] >> 4, buf[13] & 0x0f);
    let need = match family {
        0 => 0,
        1 => 12,
        2 => 36,
        3 => 216,
        _ => return Err(ParseError::V2Family(buf[13])),
    };
    if transport > 2 || (family != 0 && transport == 0 && !local) {
        return Err(ParseError::V2Family(buf[13]));
    }
    if local {
        // LOCAL: the sender's own connection (a health check); its addresses, if any, are
        // skipped with the rest.
        return Ok(Some(Header { len: total, addresses: None }));
    }
    if len < need {
        return Err(ParseError::V2Length { len, need });
    }
    // A datagram transport on a stream connection makes no sense: refused.
    if transport == 2 {
        return Err(ParseError::V2Family(buf[13]));
    }
    if buf.len() < V2_FIXED + need {
        return Ok(None);
    }
    let a = &buf[V2_FIXED..V2_FIXED + need];
    let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
    let addresses = match family {
        1 => {
            let src = Ipv4Addr::from([a[0], a[1], a[2], a[3]]);
            let dst = Ipv4Addr::from([a[4], a[5], a[6], a[7]]);
            Some(Addresses { source: SocketAddr::from((src, port(8))), destination: SocketAddr::from((dst, port(10))) })
        }
        2 => {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&a[0..16]).expect("16 bytes"));
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&a[16..32]).expect("16 bytes"));
            Some(Addresses {
                source: SocketAddr::from((src, port(32))),
                destination: SocketAddr::from((dst, port(34))),
            })
        }
        // UNSPEC and UNIX: nothing spillway routes by; the real peer stands.
        _ => None,
    };
    Ok(Some(Header { len: total, addresses }))
}

/// Version 2 and a known command: true for `LOCAL`, false for `PROXY`.
fn check_version_command(vc: u8) -> Result<bool, ParseError> {
    if vc >> 4 != 2 {
        return Err(ParseError::V2Version(vc >> 4));
    }
    match vc & 0x0f {
        0 => Ok(true),
        1 => Ok(false),
        c => Err(ParseError::V2Command(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_protocol::{encode, Version};

    fn addrs(src: &str, dst: &str) -> Option<Addresses> {
        Some(Addresses { source: src.parse().unwrap(), destination: dst.parse().unwrap() })
    }

    #[test]
    fn a_v1_tcp4_line_gives_its_addresses_and_its_length() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
        let h = parse(line).unwrap().unwrap();
        assert_eq!(h.len, 45);
        assert_eq!(h.addresses, addrs("192.0.2.7:56324", "198.51.100.1:443"));
    }

    #[test]
    fn a_v1_tcp6_line_and_unknown_lines() {
        let h = parse(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n").unwrap().unwrap();
        assert_eq!(h.addresses, addrs("[2001:db8::1]:1", "[::1]:65535"));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Some(Header { len: 15, addresses: None }));
        let h = parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nxyz").unwrap().unwrap();
        assert_eq!((h.len, h.addresses), (35, None));
    }

    #[test]
    fn every_prefix_of_a_valid_header_is_incomplete_never_an_error() {
        let v1 = b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\n".to_vec();
        let v2 = encode(Version::V2, addrs("[2001:db8::5]:7000", "[2001:db8::9]:8443")).as_bytes().to_vec();
        let local = encode(Version::V2, None).as_bytes().to_vec();
        for header in [v1, v2, local] {
            for cut in 0..header.len() {
                assert_eq!(parse(&header[..cut]), Ok(None), "prefix of {cut} bytes of {header:?}");
            }
            assert_eq!(parse(&header).unwrap().unwrap().len, header.len());
        }
    }

    #[test]
    fn bytes_that_cannot_start_a_header_are_refused_at_once() {
        assert_eq!(parse(b"G"), Err(ParseError::NotProxy));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ParseError::NotProxy));
        assert_eq!(parse(b"PROXZ"), Err(ParseError::NotProxy));
        assert_eq!(parse(b"\x16\x03\x01"), Err(ParseError::NotProxy), "a TLS hello");
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX"), Err(ParseError::NotProxy));
        let mut v3 = V2_SIGNATURE.to_vec();
        v3.push(0x31);
        assert_eq!(parse(&v3), Err(ParseError::V2Version(3)));
        let mut cmd = V2_SIGNATURE.to_vec();
        cmd.push(0x22);
        assert_eq!(parse(&cmd), Err(ParseError::V2Command(2)));
    }

    #[test]
    fn malformed_v1_lines_are_refused() {
        for bad in [
            &b"PROXY TCP4 10.0.0.1 10.0.0.2 1000\r\n"[..],
            b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 80 9\r\n",
            b"PROXY TCP4  10.0.0.1 10.0.0.2 1000 80\r\n",
            b"PROXY TCP4 ::1 10.0.0.2 1000 80\r\n",
            b"PROXY TCP6 10.0.0.1 ::1 1000 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 70000 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 -1 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 +1 80\r\n",
            b"PROXY UDP4 10.0.0.1 10.0.0.2 1 80\r\n",
            b"PROXY TCP4 10.0.0.1 10.0.0.2 1 80\n",
            b"PROXY \xff\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?} was accepted", String::from_utf8_lossy(bad));
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 120]].concat();
        assert_eq!(parse(&long), Err(ParseError::V1TooLong));
    }

    #[test]
    fn a_v2_header_with_tlvs_is_known_whole_once_its_addresses_are_read() {
        let mut h = encode(Version::V2, addrs("192.0.2.1:5000", "192.0.2.2:80")).as_bytes().to_vec();
        // Add a 7-byte TLV (type 0x04 NOOP, length 4): the declared length grows by 7.
        let len = u16::from_be_bytes([h[14], h[15]]) + 7;
        h[14..16].copy_from_slice(&len.to_be_bytes());
        let header = parse(&h).unwrap().unwrap();
        assert_eq!(header.len, 16 + 12 + 7, "TLVs count in the length, unread");
        assert_eq!(header.addresses, addrs("192.0.2.1:5000", "192.0.2.2:80"));
    }

    #[test]
    fn v2_local_unspec_and_unix_use_the_real_peer() {
        assert_eq!(parse(encode(Version::V2, None).as_bytes()), Ok(Some(Header { len: 16, addresses: None })));
        // PROXY command, UNSPEC family.
        let mut unspec = V2_SIGNATURE.to_vec();
        unspec.extend_from_slice(&[0x21, 0x00, 0, 0]);
        assert_eq!(parse(&unspec), Ok(Some(Header { len: 16, addresses: None })));
        // PROXY command, UNIX stream, two 108-byte paths.
        let mut unix = V2_SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0, 216]);
        assert_eq!(parse(&unix), Ok(None), "waits for the address block");
        unix.extend_from_slice(&[0u8; 216]);
        assert_eq!(parse(&unix), Ok(Some(Header { len: 232, addresses: None })));
    }

    #[test]
    fn v2_lengths_and_families_that_do_not_fit_are_refused() {
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 11]);
        assert_eq!(parse(&short), Err(ParseError::V2Length { len: 11, need: 12 }));
        let mut dgram = V2_SIGNATURE.to_vec();
        dgram.extend_from_slice(&[0x21, 0x12, 0, 12]);
        assert_eq!(parse(&dgram), Err(ParseError::V2Family(0x12)));
        let mut family = V2_SIGNATURE.to_vec();
        family.extend_from_slice(&[0x21, 0x41, 0, 12]);
        assert_eq!(parse(&family), Err(ParseError::V2Family(0x41)));
    }

    #[test]
    fn encode_then_parse_gives_back_the_addresses() {
        for (src, dst) in [
            ("10.1.2.3:65535", "10.9.8.7:1"),
            ("[2001:db8::1]:443", "[fe80::2]:8080"),
            // Mixed families go out as TCP6, the IPv4 one mapped.
            ("10.1.2.3:4000", "[::1]:80"),
        ] {
            for v in [Version::V1, Version::V2] {
                let bytes = encode(v, addrs(src, dst));
                let h = parse(bytes.as_bytes()).unwrap().unwrap();
                assert_eq!(h.len, bytes.as_bytes().len(), "{v:?} {src} {dst}");
                let got = h.addresses.unwrap();
                let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
                assert_eq!(canonical(got.source), src.parse().unwrap(), "{v:?}");
                assert_eq!(canonical(got.destination), canonical(dst.parse().unwrap()), "{v:?}");
            }
        }
    }
}
