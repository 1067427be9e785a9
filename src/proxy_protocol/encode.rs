//! Writing the header a target receives first: into a fixed array on the stack, no allocation
//! (one per backend connection that carries it).
//!
//! With the client's addresses: v1 `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n`; v2 command
//! `PROXY`, family `INET`/`INET6` over `STREAM`, the addresses and ports in network order.
//! When the two addresses are of different families (an IPv4 client of a listener bound to
//! `[::]`, seen as IPv4-mapped), both are written as IPv6, IPv4 ones mapped, as the protocol
//! allows only one family per header; two IPv4-mapped IPv6 addresses are written as IPv4.
//! Without addresses (a health check): v1 `PROXY UNKNOWN\r\n`, v2 command `LOCAL`, family
//! `UNSPEC`, length 0 — what HAProxy sends on checks.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
};

use super::{parse::V2_SIGNATURE, Addresses, Version};

/// The longest header written: a v1 TCP6 line (104 bytes); a v2 INET6 header is 52.
const CAPACITY: usize = 108;

/// An encoded header: the bytes to write first on the connection.
#[derive(Clone, Copy)]
pub struct Encoded {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl Encoded {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The header of `version` carrying `addresses` (`None`: a check's `UNKNOWN`/`LOCAL`).
pub fn encode(version: Version, addresses: Option<Addresses>) -> Encoded {
    let mut out = Encoded { bytes: [0; CAPACITY], len: 0 };
    let pair = addresses.map(same_family);
    let mut cursor = &mut out.bytes[..];
    match (version, pair) {
        (Version::V1, None) => cursor.write_all(b"PROXY UNKNOWN\r\n"),
        (Version::V1, Some((src, dst))) => {
            let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
            write!(cursor, "PROXY {family} {} {} {} {}\r\n", src.ip(), dst.ip(), src.port(), dst.port())
        }
        (Version::V2, pair) => v2(&mut cursor, pair),
    }
    .expect("a header fits in its array");
    out.len = CAPACITY - cursor.len();
    out
}

fn v2(out: &mut &mut [u8], pair: Option<(SocketAddr, SocketAddr)>) -> std::io::Result<()> {
    out.write_all(&V2_SIGNATURE)?;
    let Some((src, dst)) = pair else {
        // Version 2, LOCAL; UNSPEC/UNSPEC; no address block.
        return out.write_all(&[0x20, 0x00, 0, 0]);
    };
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.write_all(&[0x21, 0x11, 0, 12])?;
            out.write_all(&s.octets())?;
            out.write_all(&d.octets())?;
        }
        (s, d) => {
            out.write_all(&[0x21, 0x21, 0, 36])?;
            out.write_all(&v6(s).octets())?;
            out.write_all(&v6(d).octets())?;
        }
    }
    out.write_all(&src.port().to_be_bytes())?;
    out.write_all(&dst.port().to_be_bytes())
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Both addresses of one family: IPv4 when both are IPv4 (or IPv4-mapped), else IPv6.
fn same_family(a: Addresses) -> (SocketAddr, SocketAddr) {
    let canonical = |s: SocketAddr| SocketAddr::new(s.ip().to_canonical(), s.port());
    let (src, dst) = (canonical(a.source), canonical(a.destination));
    if src.is_ipv4() == dst.is_ipv4() {
        (src, dst)
    } else {
        (SocketAddr::new(IpAddr::V6(v6(src.ip())), src.port()), SocketAddr::new(IpAddr::V6(v6(dst.ip())), dst.port()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(src: &str, dst: &str) -> Option<Addresses> {
        Some(Addresses { source: src.parse().unwrap(), destination: dst.parse().unwrap() })
    }

    #[test]
    fn v1_lines_as_the_specification_writes_them() {
        assert_eq!(
            encode(Version::V1, addrs("192.168.0.1:56324", "192.168.0.11:443")).as_bytes(),
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
        assert_eq!(encode(Version::V1, addrs("[::1]:1", "[::2]:2")).as_bytes(), b"PROXY TCP6 ::1 ::2 1 2\r\n");
        assert_eq!(encode(Version::V1, None).as_bytes(), b"PROXY UNKNOWN\r\n");
        let longest =
            addrs("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
        assert_eq!(encode(Version::V1, longest).as_bytes().len(), 104);
    }

    #[test]
    fn v2_headers_byte_by_byte() {
        let h = encode(Version::V2, addrs("10.0.0.1:1", "10.0.0.2:258"));
        let mut want = V2_SIGNATURE.to_vec();
        want.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 1, 2]);
        assert_eq!(h.as_bytes(), want.as_slice());
        let h6 = encode(Version::V2, addrs("[::1]:80", "[::2]:443"));
        assert_eq!(h6.as_bytes().len(), 16 + 36);
        assert_eq!(&h6.as_bytes()[12..16], &[0x21, 0x21, 0x00, 0x24]);
        let local = encode(Version::V2, None);
        assert_eq!(&local.as_bytes()[12..], &[0x20, 0x00, 0, 0]);
    }

    #[test]
    fn mapped_addresses_are_written_in_the_family_both_share() {
        // Both IPv4-mapped (an IPv4 client of a [::] listener): plain IPv4.
        let h = encode(Version::V1, addrs("[::ffff:10.0.0.1]:5", "[::ffff:10.0.0.2]:6"));
        assert_eq!(h.as_bytes(), b"PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n");
        // One of each: IPv6, the IPv4 one mapped.
        let h = encode(Version::V1, addrs("10.0.0.1:5", "[2001:db8::1]:6"));
        assert_eq!(h.as_bytes(), b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 5 6\r\n");
    }
}
