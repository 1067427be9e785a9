//! HAProxy's `resolvers`: a server named by host follows its name's address while spillway runs
//! (a container restarted on a new address), and one whose name did not resolve at start
//! (`init-addr none`: the container was not up yet) joins its group once it does.
//!
//! The name's address is changed the way a container platform changes it, in the hosts file
//! the system resolver reads: the spillway binary runs in a mount namespace of its own
//! (`unshare --mount`, as root) where a scratch file is bind-mounted over `/etc/hosts`, and the
//! test rewrites that file in place. Where the namespace cannot be made (not root), the test
//! says so and does nothing.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// A target that answers every request with `200` and its own one-letter name.
fn target(bind: SocketAddr, name: &'static str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(bind)?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    // One request head (no body), then the answer; until the client closes.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{name}");
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// Two targets on one port, at 127.0.0.1 and 127.0.0.2 (a name's two addresses over time).
fn two_targets() -> (SocketAddr, SocketAddr) {
    for _ in 0..20 {
        let a = target("127.0.0.1:0".parse().unwrap(), "A").unwrap();
        if let Ok(b) = target(SocketAddr::from(([127, 0, 0, 2], a.port())), "B") {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// The answer's status and body to `GET /` on a new connection.
fn get(addr: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

struct Running {
    child: Child,
    /// Listener name → address, from the binary's log.
    listeners: std::collections::HashMap<String, SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary on `cfg`, in a mount namespace where `hosts` is `/etc/hosts`; None when the
/// namespace cannot be made here.
fn start(cfg: &std::path::Path, hosts: &std::path::Path, listeners: usize) -> Option<Running> {
    let probe = Command::new("unshare").args(["--mount", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("unshare --mount is not permitted here (not root?): the resolvers test is skipped");
        return None;
    }
    let script = format!(
        "mount --bind '{}' /etc/hosts && exec '{}' -f '{}' -db",
        hosts.display(),
        env!("CARGO_BIN_EXE_spillway"),
        cfg.display()
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log is read to its end on a thread of its own (a full pipe would stall the binary);
    // its "listening" lines say where each listener is.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
        let field = regex::Regex::new(r"listener=(\S+) addr=(\S+)").unwrap();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let line = ansi.replace_all(&line, "");
            if let Some(c) = field.captures(&line) {
                let _ = tx.send((c[1].to_string(), c[2].parse::<SocketAddr>().unwrap()));
            }
        }
    });
    let mut found = std::collections::HashMap::new();
    while found.len() < listeners {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok((name, addr)) => {
                found.insert(name, addr);
            }
            Err(_) => panic!("spillway did not report its listeners (status {:?})", child.try_wait()),
        }
    }
    Some(Running { child, listeners: found })
}

#[test]
fn a_server_follows_its_name_and_one_unresolved_at_start_joins_when_it_resolves() {
    let (a, _b) = two_targets();
    let port = a.port();
    let dir = std::env::temp_dir().join(format!("spillway-resolvers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n127.0.0.1 app.spillway-test\n").unwrap();
    let cfg = dir.join("resolvers.cfg");
    std::fs::write(
        &cfg,
        format!(
            "resolvers dns\n    nameserver d1 127.0.0.11:53\n    hold valid 10s\n    timeout resolve 200ms\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend moves\n    bind 127.0.0.1:0\n    default_backend moves\n\
             frontend late\n    bind 127.0.0.1:0\n    default_backend late\n\
             backend moves\n    server app app.spillway-test:{port} resolvers dns\n\
             backend late\n    server late late.spillway-test:{port} resolvers dns init-addr none\n"
        ),
    )
    .unwrap();
    let Some(running) = start(&cfg, &hosts, 2) else { return };
    let (moves, late) = (running.listeners["moves"], running.listeners["late"]);
    assert_eq!(get(moves), (200, "A".to_string()));
    // Not resolved at start: no target, HAProxy's 503.
    assert_eq!(get(late).0, 503);

    // The name moves to 127.0.0.2 and the late one appears; the file is rewritten in place (the
    // bind mount follows the inode).
    std::fs::write(&hosts, "127.0.0.1 localhost\n127.0.0.2 app.spillway-test\n127.0.0.1 late.spillway-test\n").unwrap();
    wait_for("the moved name reaches B", Duration::from_secs(10), || get(moves) == (200, "B".to_string()));
    // And stays there: the old address was deregistered, not kept beside the new one.
    for _ in 0..10 {
        assert_eq!(get(moves), (200, "B".to_string()));
    }
    wait_for("the late name joins its group", Duration::from_secs(10), || get(late) == (200, "A".to_string()));
}
