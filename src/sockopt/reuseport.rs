//! Whether another process listens beside one of our sockets: a successor started by `-sf`
//! that bound its own socket in the SO_REUSEPORT group (no upgrade socket on its side, or none
//! on ours to take the sockets from). Such a drain is a hand-over like one through the upgrade
//! socket, and the old process must leave the port to it cleanly: its admin API stops
//! answering there (else the kernel spreads admin connections over both processes for the
//! whole drain, and a health checker polling `/healthz` sees the old process's 503 about every
//! other time), and its listeners take what is queued on them before closing (closing resets
//! every connection still in a socket's accept queue). Both found by `bench/soak`.
//!
//! Linux says who listens where in /proc/net/tcp{,6}: one line per socket with its local
//! address, its state (`0A` = LISTEN) and its inode. Another LISTEN inode on our exact address
//! is another socket of the group; ours is known by the inode `fstat` gives. A socket handed
//! over through the upgrade socket is the same inode in both processes, so it does not count:
//! it lives on in the successor, queue and all. Only processes of the same user can join a
//! SO_REUSEPORT group, so the other socket is a spillway of ours (or something started to
//! share the port on purpose).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::AsRawFd,
};

/// True when a listening socket other than `socket` is bound to `socket`'s local address.
pub fn listens_beside(socket: &impl AsRawFd, addr: SocketAddr) -> bool {
    let Some(own) = inode(socket) else { return false };
    let table = if addr.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let Ok(text) = std::fs::read_to_string(table) else { return false };
    text.lines().skip(1).filter_map(parse_line).any(|(local, state, ino)| state == "0A" && local == addr && ino != own)
}

fn inode(socket: &impl AsRawFd) -> Option<u64> {
    // SAFETY: fstat on a descriptor we own, into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(socket.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
}

/// (local address, state, inode) of one /proc/net/tcp{,6} line.
fn parse_line(line: &str) -> Option<(SocketAddr, &str, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let (ip, port) = f[1].split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some((SocketAddr::new(parse_ip(ip)?, port), f[3], f[9].parse().ok()?))
}

/// The kernel prints the address as 32-bit words in the machine's byte order.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_socket_in_the_group_is_seen_and_a_lone_one_is_not() {
        let bind = |addr: SocketAddr| {
            let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None).unwrap();
            s.set_reuse_port(true).unwrap();
            s.bind(&addr.into()).unwrap();
            s.listen(16).unwrap();
            s
        };
        let first = bind("127.0.0.1:0".parse().unwrap());
        let addr = first.local_addr().unwrap().as_socket().unwrap();
        assert!(!listens_beside(&first, addr));
        let second = bind(addr);
        assert!(listens_beside(&first, addr));
        assert!(listens_beside(&second, addr));
        drop(second);
        assert!(!listens_beside(&first, addr));
    }

    #[test]
    fn proc_lines_parse() {
        let line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1";
        let (addr, state, ino) = parse_line(line).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        }
        assert_eq!((state, ino), ("0A", 12345));
    }
}
