//! The differential check of the drop-in promise: each haproxy.cfg of the corpus started under
//! HAProxy (where it is installed: `.ci/run` installs it) and under the spillway binary with the
//! same flags (`-f FILE -db`), in turn, against the same test backends, and sent the same
//! requests; for every request the two must agree on the status, the backend section that
//! answered (or that the proxy answered itself), and the `Location` of a redirect.
//!
//! The requests are made from the file: its ACLs' literal paths and host names, crossed, plus a
//! few of every file's (`/`, a deep path, a static file). The listeners keep the file's own
//! ports (HAProxy refuses `bind :0`); those of the corpus are below the kernel's ephemeral range
//! and no other test binds them, and the two proxies never run at once. The servers' ports are
//! replaced by test backends' (bound to port 0), so the backend that counts a request names the
//! server, hence the section, that took it.
//!
//! Left out: the files whose health checks speak MySQL, PostgreSQL, Redis, SMTP or TLS (an HTTP
//! backend fails them, and when each proxy notices is a matter of timing; tests/health_protocols.rs
//! covers them), and the spread of round robin over a section's servers, which differs by design
//! (docs/configuration.md: each shard keeps its own rotation).

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::http_backend::*;

const HAPROXY: &str = "/usr/sbin/haproxy";

/// Files whose checks need a backend of another protocol (see the module doc).
const SKIPPED: &[&str] = &[
    "check-mysql.cfg",
    "check-pgsql.cfg",
    "check-redis.cfg",
    "check-smtp.cfg",
    "check-ssl-hello.cfg",
    "check-tcp-check.cfg",
];

/// What a proxy did with one request.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Outcome {
    status: u16,
    /// The section of the server that took the request; None: the proxy answered itself.
    section: Option<String>,
    location: Option<String>,
}

/// One corpus file with its servers' ports replaced.
struct Prepared {
    path: PathBuf,
    /// Backend port → (section, the test backend standing for every server on that port).
    backends: BTreeMap<u16, (String, HttpBackend)>,
    /// The ports the file's listeners bind.
    binds: Vec<u16>,
    requests: Vec<Request>,
}

#[derive(Debug, Clone)]
struct Request {
    port: u16,
    host: String,
    path: String,
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/haproxy");
    let mut files = Vec::new();
    for dir in ["drop-in", "rules"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".cfg") && !SKIPPED.contains(&name.as_str()) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The words of a line, comments cut (a `#` starts one anywhere but inside quotes is rare
/// enough in the corpus to ignore).
fn words(line: &str) -> Vec<&str> {
    line.split('#').next().unwrap_or("").split_whitespace().collect()
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit(':').next()?.parse().ok()
}

fn prepare(path: &Path) -> Prepared {
    let text = std::fs::read_to_string(path).unwrap();
    let mut backends: BTreeMap<u16, (String, HttpBackend)> = BTreeMap::new();
    let mut binds = Vec::new();
    let (mut paths, mut hosts) = (BTreeSet::new(), BTreeSet::new());
    let mut section = String::new();
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let w = words(line);
        let mut line = line.to_string();
        match w.first().copied() {
            Some("frontend" | "backend" | "listen" | "defaults" | "global" | "resolvers" | "peers" | "userlist") => {
                section = w.get(1).copied().unwrap_or("").to_string();
            }
            // Not a TCP socket (`quic4@`, `unix@`...), or one in a block HAProxy may skip: left out.
            Some("bind") => {
                binds.extend(w.get(1).filter(|a| !a.contains('@') || a.starts_with("ipv")).and_then(|a| port_of(a)))
            }
            Some("server") => {
                if let Some(port) = w.get(2).and_then(|a| port_of(a)) {
                    let b = backends.entry(port).or_insert_with(|| (section.clone(), http_backend()));
                    let new = format!("127.0.0.1:{}", b.1.addr.port());
                    line = line.replacen(w[2], &new, 1);
                }
            }
            // HAProxy sizes its descriptor limit from the global `maxconn` (100,023 for 50,000)
            // and will not start below it; a test machine may not raise its limit that far.
            // Capped in both proxies' copy: routing does not depend on it.
            Some("maxconn")
                if section.is_empty() && w.get(1).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n > 4000) =>
            {
                line = line.replacen(w[1], "4000", 1);
            }
            Some("acl") => {
                let values = w.iter().skip(3).filter(|v| !v.starts_with('-') && !v.contains('{'));
                for v in values {
                    if v.starts_with('/') && !v.contains(['^', '$', '[', '*']) {
                        paths.insert(v.to_string());
                    } else if w[2].contains("host") && !v.contains(['^', '$', '[', '\\', '*']) {
                        hosts.insert(v.to_string());
                    }
                }
            }
            _ => {}
        }
        out.push_str(&line);
    }
    let dir = std::env::temp_dir().join(format!("spillway-differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let written = dir.join(path.file_name().unwrap());
    std::fs::write(&written, out).unwrap();
    paths.extend(["/".to_string(), "/a/b/c.png".into(), "/static/app.css".into(), "/item/42".into()]);
    hosts.insert("test".into());
    let mut requests = Vec::new();
    for &port in &binds {
        for host in &hosts {
            for path in &paths {
                requests.push(Request { port, host: host.clone(), path: path.clone() });
            }
        }
    }
    Prepared { path: written, backends, binds, requests }
}

/// Starts `argv` in `dir` and waits until every bind port answers a connect; the process's
/// stderr if it exits first or does not listen in time.
fn start(argv: &[&str], dir: &Path, binds: &[u16]) -> Result<Child, String> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).ok();
            return Err(err);
        }
        let up = binds.iter().all(|p| TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], *p))).is_ok());
        if up {
            // Health checks with `rise 1` and short intervals: give each proxy its first round.
            std::thread::sleep(Duration::from_millis(800));
            return Ok(child);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("not listening on {binds:?} after 15 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends each request on a connection of its own; answers what happened to each.
fn drive(p: &Prepared) -> Vec<Outcome> {
    let counts = |p: &Prepared| -> Vec<usize> {
        p.backends.values().map(|(_, b)| b.seen.requests.load(Ordering::SeqCst)).collect()
    };
    let mut outcomes = Vec::new();
    for r in &p.requests {
        let before = counts(p);
        let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], r.port))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: differential\r\nConnection: close\r\n\r\n",
            r.path, r.host
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(s);
        let outcome = match read_response(&mut reader) {
            Ok((status, head, _)) => {
                let location = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("location").then(|| value.trim().to_string())
                });
                let after = counts(p);
                let section = before
                    .iter()
                    .zip(&after)
                    .zip(p.backends.values())
                    .find(|((b, a), _)| a > b)
                    .map(|(_, (section, _))| section.clone());
                Outcome { status, section, location }
            }
            // No answer (a TCP listener whose section is down, a `deny` that closes): status 0.
            Err(_) => Outcome { status: 0, section: None, location: None },
        };
        outcomes.push(outcome);
    }
    outcomes
}

#[test]
fn every_corpus_file_routes_each_request_as_haproxy_does() {
    if !Path::new(HAPROXY).exists() {
        eprintln!("{HAPROXY} is not installed: the differential check is skipped");
        return;
    }
    let spillway = env!("CARGO_BIN_EXE_spillway");
    let (mut compared, mut differences, mut not_run) = (0, Vec::new(), Vec::new());
    for file in corpus_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let p = prepare(&file);
        // Paths in a file (`-f tests/haproxy/rules/blocked.lst`) are relative to the checkout.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = p.path.to_str().unwrap();
        let theirs = match start(&[HAPROXY, "-f", cfg, "-db"], dir, &p.binds) {
            Ok(child) => {
                let o = drive(&p);
                stop(child);
                o
            }
            // HAProxy cannot run the file on this machine (a resolver, a path): nothing to
            // compare with, said below and counted.
            Err(e) => {
                not_run.push(format!("{name}: {}", e.lines().last().unwrap_or("")));
                continue;
            }
        };
        let child = start(&[spillway, "-f", cfg, "-db"], dir, &p.binds)
            .unwrap_or_else(|e| panic!("{name}: HAProxy runs it, spillway does not start:\n{e}"));
        let ours = drive(&p);
        stop(child);
        for ((r, t), o) in p.requests.iter().zip(&theirs).zip(&ours) {
            if t != o {
                differences.push(format!(
                    "{name}: GET {} Host {} on :{}: haproxy {t:?}, spillway {o:?}",
                    r.path, r.host, r.port
                ));
            }
        }
        compared += 1;
    }
    eprintln!("compared {compared} files; HAProxy could not run: {not_run:?}");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    assert!(compared >= 15, "only {compared} files compared (HAProxy could not run: {not_run:?})");
}
