//! The backend sockets of a shard's sessions in progress, by target, so that a target marked
//! down can have them shut: HAProxy's `on-marked-down shutdown-sessions` (TOML
//! `health_check.shutdown_sessions`).
//!
//! Why it matters: behind a database pair (Patroni, a MySQL primary and replica), clients hold
//! long TCP sessions; when the primary fails its check, the sessions still open to it must end
//! so that the clients reconnect and reach the new primary. Closing only the idle pooled
//! connections (which the shard does too) leaves those sessions hanging on a dead server.
//!
//! Only sessions of groups that ask for it register (one hash-map insert and remove per
//! session, on the shard's own thread: no cross-core traffic, nothing per request). A session
//! is ended by `shutdown(2)` of its backend socket, both ways: the session's own relay then
//! sees the end of the stream and error on write, ends as it would if the target had closed,
//! and closes the client. The socket is never closed here (its owner does that), and an entry
//! is removed before its socket closes (the guard is declared after the socket), so the
//! descriptor shut is always the session's.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    net::SocketAddr,
    os::fd::RawFd,
};

/// The registered sessions of one shard.
#[derive(Default)]
pub struct LiveSessions {
    next: Cell<u64>,
    open: RefCell<HashMap<u64, (SocketAddr, RawFd), ahash::RandomState>>,
}

/// A registered session; dropping it removes the entry.
pub struct LiveSession<'a> {
    set: &'a LiveSessions,
    id: u64,
}

impl LiveSessions {
    /// Registers the session whose backend socket `fd` is connected to `target`.
    pub fn enter(&self, target: SocketAddr, fd: RawFd) -> LiveSession<'_> {
        let id = self.next.get();
        self.next.set(id + 1);
        self.open.borrow_mut().insert(id, (target, fd));
        LiveSession { set: self, id }
    }

    /// Shuts down (both ways) the backend socket of every registered session to one of `down`;
    /// answers how many.
    pub fn shut(&self, down: &[SocketAddr]) -> usize {
        let open = self.open.borrow();
        let mut shut = 0;
        for (target, fd) in open.values() {
            if down.contains(target) {
                // SAFETY-free: shutdown(2) on a descriptor the session still owns (see the
                // module doc); an error (the peer already gone) changes nothing.
                unsafe { libc::shutdown(*fd, libc::SHUT_RDWR) };
                shut += 1;
            }
        }
        shut
    }

    /// Sessions registered now.
    pub fn len(&self) -> usize {
        self.open.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LiveSession<'_> {
    fn drop(&mut self) {
        self.set.open.borrow_mut().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::Read,
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd,
    };

    #[test]
    fn shut_ends_only_the_sessions_to_the_targets_down() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, b) = (
            TcpStream::connect(server.local_addr().unwrap()).unwrap(),
            TcpStream::connect(server.local_addr().unwrap()).unwrap(),
        );
        let (down, up): (SocketAddr, SocketAddr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let set = LiveSessions::default();
        let ga = set.enter(down, a.as_raw_fd());
        let gb = set.enter(up, b.as_raw_fd());
        assert_eq!(set.shut(&[down]), 1);
        // The shut socket reads its end at once; the other would block (checked with a timeout).
        let mut buf = [0u8; 1];
        assert_eq!((&a).read(&mut buf).unwrap(), 0);
        b.set_read_timeout(Some(std::time::Duration::from_millis(50))).unwrap();
        assert!((&b).read(&mut buf).is_err());
        drop(ga);
        assert_eq!(set.len(), 1);
        drop(gb);
        assert!(set.is_empty());
        assert_eq!(set.shut(&[down, up]), 0);
    }
}
