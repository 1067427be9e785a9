//! Seamless reload: a new process takes the running one's listening sockets (HAProxy's `-x`
//! with `-sf`, Pingora's upgrade), so that no client connection is refused or reset.
//!
//! Why pass sockets instead of binding new ones next to the old (SO_REUSEPORT): each socket of
//! a reuseport group has its own accept queue, and closing one *resets* the connections waiting
//! in it. A new process that binds its own sockets and then tells the old one to close its own
//! loses whatever sat in the old queues at that moment. When the sockets themselves are passed,
//! both processes hold the same sockets (the same queues); the old one closing its descriptors
//! drops a reference, not the socket, and whatever waits in the queues is accepted by the new one.
//!
//! The exchange, over the unix socket `[runtime] upgrade_socket` (HAProxy cfg: `stats socket
//! PATH expose-fd listeners`) that every running spillway serves:
//!
//! ```text
//! new → old   "spillway-upgrade 1\n"
//! old → new   "N\n" then N lines "IP:PORT\n", with the N listening sockets attached (SCM_RIGHTS)
//! ```
//!
//! Then the new process starts serving on them and signals the old one (`-sf`: SIGUSR1, a
//! graceful stop; `-st`: SIGTERM). The old process stops offering its sockets as soon as it
//! begins to stop, so a socket is only handed over while it is open and listening.

use std::{
    collections::HashMap,
    io::{self, BufRead, BufReader, IoSlice, IoSliceMut, Write},
    net::{SocketAddr, TcpListener},
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd},
        unix::net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use nix::{
    sys::{
        signal::{kill, Signal},
        socket::{getsockopt, recvmsg, send, sendmsg, sockopt, ControlMessage, ControlMessageOwned, MsgFlags},
    },
    unistd::Pid,
};
use tracing::{info, warn};

const HELLO: &str = "spillway-upgrade 1\n";
/// The kernel's limit on descriptors in one message (SCM_MAX_FD).
const MAX_FDS: usize = 253;
/// A peer that does not complete the exchange within this is dropped.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The sockets on offer, by address; `None` once withdrawn.
type Shelf = Arc<Mutex<Option<Vec<(SocketAddr, OwnedFd)>>>>;

/// Listening sockets received from the previous process, by the address they listen on.
#[derive(Debug, Default)]
pub struct Inherited {
    sockets: HashMap<SocketAddr, Vec<TcpListener>>,
}

impl Inherited {
    /// The sockets listening on `addr`, taken out (each is used once).
    pub fn take(&mut self, addr: SocketAddr) -> Vec<TcpListener> {
        self.sockets.remove(&addr).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.sockets.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sockets no listener of the new configuration wanted (a listener was removed): they are
    /// closed, which is what removing a listener means.
    pub fn leftover(&self) -> Vec<SocketAddr> {
        self.sockets.keys().copied().collect()
    }
}

/// Why taking the sockets over failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("cannot reach the running process at {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("the exchange with the running process at {path} failed: {reason}")]
    Exchange { path: PathBuf, reason: String },
}

/// Asks the process serving `path` for its listening sockets.
pub fn receive(path: &Path) -> Result<Inherited, UpgradeError> {
    let fail = |reason: String| UpgradeError::Exchange { path: path.to_path_buf(), reason };
    let mut stream =
        UnixStream::connect(path).map_err(|source| UpgradeError::Connect { path: path.to_path_buf(), source })?;
    stream.set_read_timeout(Some(EXCHANGE_TIMEOUT)).map_err(|e| fail(e.to_string()))?;
    stream.write_all(HELLO.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let (mut payload, fds) = recv_with_fds(&stream).map_err(|e| fail(e.to_string()))?;
    // The text may arrive in more than one read; the descriptors come with the first byte.
    let complete = |p: &[u8]| -> Option<usize> {
        let text = std::str::from_utf8(p).ok()?;
        let n: usize = text.lines().next()?.parse().ok()?;
        (text.matches('\n').count() > n).then_some(n)
    };
    while complete(&payload).is_none() {
        let (more, extra) = recv_with_fds(&stream).map_err(|e| fail(e.to_string()))?;
        drop(extra);
        if more.is_empty() {
            return Err(fail("the running process closed the connection mid-answer".into()));
        }
        payload.extend_from_slice(&more);
    }
    let text = String::from_utf8_lossy(&payload);
    let mut lines = text.lines();
    let n: usize = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
    if fds.len() != n {
        return Err(fail(format!("{n} sockets announced, {} received", fds.len())));
    }
    let mut inherited = Inherited::default();
    for (fd, line) in fds.into_iter().zip(lines) {
        let addr: SocketAddr = line.parse().map_err(|_| fail(format!("bad address line {line:?}")))?;
        let socket = TcpListener::from(fd);
        // It must really be a listening TCP socket on that address.
        if socket.local_addr().ok() != Some(addr) || !is_listening(&socket) {
            return Err(fail(format!("the socket offered for {addr} is not listening there")));
        }
        socket.set_nonblocking(true).map_err(|e| fail(e.to_string()))?;
        inherited.sockets.entry(addr).or_default().push(socket);
    }
    Ok(inherited)
}

fn is_listening(socket: &impl AsFd) -> bool {
    getsockopt(socket, sockopt::AcceptConn).unwrap_or(false)
}

/// The sockets a running process offers, and the thread that serves them on the upgrade socket.
pub struct Offer {
    sockets: Shelf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
    /// Where the socket is bound until [`Offer::publish`] moves it to `path`; None after.
    staged: Option<PathBuf>,
}

impl Offer {
    /// Serves `sockets` (duplicates of the listening sockets) until [`Offer::withdraw`], on a
    /// temporary name next to `path` until [`Offer::publish`]: binding can fail, and a start
    /// that fails must leave the running process's socket file in place (a reload that failed
    /// must not take the next reload's way to the running process away).
    pub fn serve(path: &Path, sockets: Vec<(SocketAddr, OwnedFd)>, taken: Arc<AtomicBool>) -> io::Result<Offer> {
        let mut staged = path.as_os_str().to_owned();
        staged.push(format!(".new-{}", std::process::id()));
        let staged = PathBuf::from(staged);
        // A leftover of an earlier process with this pid.
        let _ = std::fs::remove_file(&staged);
        let listener = UnixListener::bind(&staged)?;
        listener.set_nonblocking(true)?;
        let sockets = Arc::new(Mutex::new(Some(sockets)));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sockets.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("spillway-upgrade".into())
            .spawn(move || accept_loop(listener, s, st, taken));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        };
        Ok(Offer { sockets, stop, thread: Some(thread), path: path.to_path_buf(), staged: Some(staged) })
    }

    /// Gives the socket its name (the process started): the previous process's socket file,
    /// if any, is replaced in one step. A failure here is only logged: the process serves, it
    /// just cannot hand its sockets over (the next reload binds next to them instead).
    pub fn publish(&mut self) {
        let Some(staged) = self.staged.take() else { return };
        match std::fs::rename(&staged, &self.path) {
            Ok(()) => {
                info!(path = %self.path.display(), "upgrade socket ready: `spillway -sf PID` takes the listeners over")
            }
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "cannot offer the listening sockets for reloads");
                let _ = std::fs::remove_file(&staged);
            }
        }
    }

    /// Stops offering (the process is stopping): the duplicates are closed, so once the shards
    /// close theirs, the sockets are gone unless a new process took them.
    pub fn withdraw(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Ok(mut s) = self.sockets.lock() {
            s.take();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Offer {
    fn drop(&mut self) {
        // The socket file stays: a newer process may have bound its own at the same path. A
        // socket never published (the start failed) goes with its temporary name.
        self.withdraw();
        if let Some(staged) = self.staged.take() {
            let _ = std::fs::remove_file(staged);
        }
    }
}

impl Offer {
    /// Where the offer is served.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn accept_loop(listener: UnixListener, sockets: Shelf, stop: Arc<AtomicBool>, taken: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => match answer(stream, &sockets) {
                Ok(()) => taken.store(true, Ordering::Release),
                Err(e) => warn!(error = %e, "upgrade request failed"),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                warn!(error = %e, "upgrade socket accept failed");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn answer(stream: UnixStream, sockets: &Shelf) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(EXCHANGE_TIMEOUT))?;
    let mut hello = String::new();
    BufReader::new(&stream).read_line(&mut hello)?;
    if hello != HELLO {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unexpected request {hello:?}")));
    }
    let guard = sockets.lock().map_err(|_| io::Error::other("offer lock poisoned"))?;
    let Some(list) = guard.as_ref() else {
        return Err(io::Error::other("this process is stopping and offers no sockets"));
    };
    if list.len() > MAX_FDS {
        return Err(io::Error::other(format!("{} sockets are more than one message can carry", list.len())));
    }
    let mut text = format!("{}\n", list.len());
    for (addr, _) in list {
        text.push_str(&format!("{addr}\n"));
    }
    let fds: Vec<RawFd> = list.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
    send_with_fds(&stream, text.as_bytes(), &fds)?;
    info!(sockets = fds.len(), "listening sockets handed to a new process");
    Ok(())
}

fn send_with_fds(stream: &UnixStream, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let rights = [ControlMessage::ScmRights(fds)];
    // Nothing to pass: no control message at all.
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let fd = stream.as_raw_fd();
    let mut sent = sendmsg::<()>(fd, &[IoSlice::new(payload)], cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    // The rest of the text, if the first send was short (descriptors went with it).
    while sent < payload.len() {
        sent += send(fd, &payload[sent..], MsgFlags::MSG_NOSIGNAL)?;
    }
    Ok(())
}

fn recv_with_fds(stream: &UnixStream) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; 64 * 1024];
    // Room for the most descriptors one message can carry, laid out by nix (cmsg alignment).
    let mut control = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut fds = Vec::new();
    let n = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut control), MsgFlags::MSG_CMSG_CLOEXEC)?;
        // A truncated control buffer (MSG_CTRUNC) cannot be read. The buffer holds SCM_MAX_FD
        // descriptors, the kernel's limit for one message, so only a peer that is not spillway
        // gets here.
        let cmsgs = msg.cmsgs().map_err(|_| io::Error::other("too many descriptors offered"))?;
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: the kernel installed these descriptors in this process for this
                // message; nothing else owns them.
                fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        msg.bytes
    };
    buf.truncate(n);
    Ok((buf, fds))
}

/// Signals the processes being replaced: SIGUSR1 (graceful, `-sf`) or SIGTERM (now, `-st`).
pub fn signal_old(soft: &[u32], hard: &[u32]) {
    for (pids, signal) in [(soft, Signal::SIGUSR1), (hard, Signal::SIGTERM)] {
        let name = signal.as_str();
        for &pid in pids {
            let Ok(pid) = i32::try_from(pid) else { continue };
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) => info!(pid, signal = name, "told the previous process to stop"),
                Err(e) => warn!(pid, signal = name, error = %io::Error::from(e), "cannot signal the previous process"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_and_their_addresses_cross_a_unix_socket() {
        let listeners: Vec<TcpListener> = (0..3).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let fds: Vec<RawFd> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
        let (a, b) = UnixStream::pair().unwrap();
        send_with_fds(&a, b"3\nhello\n", &fds).unwrap();
        let (text, received) = recv_with_fds(&b).unwrap();
        assert_eq!(text, b"3\nhello\n");
        assert_eq!(received.len(), 3);
        for (fd, addr) in received.into_iter().zip(&addrs) {
            let socket = TcpListener::from(fd);
            assert_eq!(socket.local_addr().unwrap(), *addr);
            assert!(is_listening(&socket));
        }
        // Text alone: no control message, no descriptor.
        send_with_fds(&a, b"0\n", &[]).unwrap();
        let (text, received) = recv_with_fds(&b).unwrap();
        assert_eq!((text.as_slice(), received.len()), (&b"0\n"[..], 0));
        // A connected (not listening) socket is told apart.
        let c = std::net::TcpStream::connect(addrs[0]).unwrap();
        assert!(!is_listening(&c));
    }
}
