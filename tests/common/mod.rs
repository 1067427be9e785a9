//! Test scaffolding: real sockets on 127.0.0.1, port 0, bounded waits.
//!
//! Backends run on monoio's *epoll* driver, so that any io_uring kernel worker (`iou-wrk`)
//! seen in this process belongs to spillway, which is what the io-wq test asserts.
#![allow(dead_code)]

pub mod admin;
pub mod check_backends;
pub mod http_backend;
pub mod tls;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use monoio::{
    buf::IoBuf,
    io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt},
};
use spillway::config::{Config, Driver, Listener, Protocol, Target, TargetGroup};

/// Runs a scenario `fn(Driver)` once on each driver, as two tests `NAME::io_uring` and
/// `NAME::epoll` (run side by side by the test harness, so this costs little wall time).
#[allow(unused_macros)]
macro_rules! on_both_drivers {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[test]
            fn io_uring() {
                super::$scenario(spillway::config::Driver::IoUring)
            }
            #[test]
            fn epoll() {
                super::$scenario(spillway::config::Driver::Epoll)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_drivers;

/// An echo target: returns every byte, and half-closes when the client half-closes.
pub struct Echo {
    pub addr: SocketAddr,
    /// Connections on which the echo target read EOF.
    pub eofs: Arc<AtomicUsize>,
    pub accepted: Arc<AtomicUsize>,
}

pub fn echo_server() -> Echo {
    // A deep accept queue: the 1,000-session tests connect all at once, and with std's backlog
    // of 128 a loaded machine drops SYNs past it, so a connect can outlast connect_timeout.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.listen(4096).unwrap();
    let std_listener: TcpListener = socket.into();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let eofs = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (e, a) = (eofs.clone(), accepted.clone());
    // Returns only once the server's runtime exists, so descriptor counts taken after this
    // call (the fd-leak test) include the runtime's own epoll and eventfd.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-echo".into())
        .spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
            rt.block_on(async move {
                let listener = monoio::net::TcpListener::from_std(std_listener).unwrap();
                ready_tx.send(()).unwrap();
                loop {
                    let Ok((mut s, _)) = listener.accept().await else { continue };
                    a.fetch_add(1, Ordering::SeqCst);
                    let e = e.clone();
                    monoio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let (r, b) = s.read(buf).await;
                            buf = b;
                            match r {
                                Ok(0) => {
                                    e.fetch_add(1, Ordering::SeqCst);
                                    let _ = s.shutdown().await;
                                    break;
                                }
                                Ok(n) => {
                                    let (w, b) = s.write_all(buf.slice(..n)).await;
                                    buf = b.into_inner();
                                    if w.is_err() {
                                        break;
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                    });
                }
            });
        })
        .unwrap();
    ready_rx.recv().unwrap();
    Echo { addr, eofs, accepted }
}

/// An address on 127.0.0.1 where nothing listens (connects are refused).
pub fn refusing_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A target that never completes a handshake: a listener with a one-slot accept queue that is
/// already full, so the kernel drops further SYNs and connects hang until their timeout.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: socket2::Socket,
    _fillers: Vec<TcpStream>,
}

pub fn black_hole() -> BlackHole {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    // Fill the queue: connects that complete land in it; once full, SYNs are dropped.
    for _ in 0..4 {
        if let Ok(c) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(c);
        }
    }
    BlackHole { addr, _listener: s, _fillers: fillers }
}

/// A configuration with one TCP listener `l4` on 127.0.0.1:0 to group `g` over `targets`.
pub fn tcp_config(targets: &[SocketAddr], threads: usize, driver: Driver) -> Config {
    let mut config = spillway::config::toml::parse("", "test.toml").unwrap_or_else(|_| empty_config());
    config.runtime.threads = threads;
    config.runtime.pin = false;
    config.runtime.driver = driver;
    // Tests run side by side: the admin API on a port of its own, and no health check traffic
    // at the test backends unless a test asks for it.
    config.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    config.listeners = vec![Listener::with_defaults("l4", "127.0.0.1:0".parse().unwrap(), Protocol::Tcp, "g")];
    let mut group = TargetGroup::with_defaults("g", targets.iter().map(|a| Target::new(*a)).collect());
    group.health_check.enabled = false;
    config.target_groups = vec![group];
    config
}

fn empty_config() -> Config {
    Config { runtime: Default::default(), admin: Default::default(), listeners: Vec::new(), target_groups: Vec::new() }
}

/// Moves a configuration read from a file onto this test's own loopback ports: one unpinned
/// shard on the default driver, the admin API and every listener on 127.0.0.1:0.
pub fn on_loopback_ports(config: &mut Config) {
    config.runtime.threads = 1;
    config.runtime.pin = false;
    config.runtime.driver = Driver::Auto;
    config.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    for l in &mut config.listeners {
        l.bind = "127.0.0.1:0".parse().unwrap();
    }
}

/// Starts the spillway binary on `file` (whose listener binds port 0, output discarded) and
/// answers the child and the address of the port it listens on, once it listens.
pub fn spawn_on_file(file: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_spillway"))
        .arg("-f")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut ports = Vec::new();
    if !wait_until(Duration::from_secs(10), || {
        ports = listening_ports(child.id());
        !ports.is_empty()
    }) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("spillway -f {} never listened", file.display());
    }
    (child, ([127, 0, 0, 1], ports[0]).into())
}

/// Calls `f` until it returns true or `limit` passes; returns whether it did.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// The TCP ports process `pid` (a child the test started) listens on, sorted: its socket
/// descriptors matched by inode against `/proc/net/tcp` in state LISTEN. A test starts the
/// binary on port 0 and learns the port here, so no port is chosen free, released, and then
/// bound (by which time another process may have taken it).
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let inodes: Vec<String> = fds
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| t.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != "0A" || !inodes.iter().any(|i| i == fields[9]) {
                continue;
            }
            if let Some(port) = fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) {
                ports.push(port);
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// What each open descriptor of this process is (`socket:[...]`, `pipe:[...]`, ...), sorted.
pub fn fd_kinds() -> Vec<String> {
    let mut kinds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    kinds.sort();
    kinds
}

/// Names of this process's threads (io_uring kernel workers show up here as `iou-wrk-N`).
pub fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            names.push(comm.trim().to_string());
        }
    }
    names
}

/// Deterministic pseudo-random bytes (xorshift), so a failure is reproducible.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sends `data` from one thread while reading the answer on this one. With `half_close`, shuts
/// the write side after the last byte and reads until EOF; without, reads `data.len()` bytes.
pub fn send_and_receive(addr: SocketAddr, data: Arc<Vec<u8>>, half_close: bool, limit: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let want = data.len();
    let sender = std::thread::spawn(move || {
        writer.write_all(&data).unwrap();
        if half_close {
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        }
    });
    let mut received = Vec::with_capacity(want);
    let mut buf = vec![0u8; 256 * 1024];
    while half_close || received.len() < want {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", received.len()),
        }
    }
    sender.join().unwrap();
    received
}

/// A file of tests/haproxy/drop-in/ with its ports replaced, as the corpus tests run it: every
/// bind port (18xxx) becomes 0, so the kernel picks a free one at bind time and the test reads
/// it back (`Server::listener_addr`), and every server port (19xxx) becomes
/// `server_port(port)`, the port of the test backend standing for that server.
pub fn drop_in_corpus(file: &str, mut server_port: impl FnMut(u16) -> u16) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy/drop-in").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ports = regex::Regex::new(r"\b(1[89]\d{3})\b").unwrap();
    ports
        .replace_all(&text, |c: &regex::Captures| {
            let port: u16 = c[1].parse().unwrap();
            if port >= 19000 {
                server_port(port).to_string()
            } else {
                "0".to_string()
            }
        })
        .into_owned()
}

/// Writes `text` to a scratch file named `file`, in a directory of this test process; answers
/// its path.
pub fn scratch_file(file: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spillway-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}
