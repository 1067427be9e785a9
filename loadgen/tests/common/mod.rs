//! Shared helpers for the loadgen scenarios: start `loadgen serve` (the built binary) on a free
//! loopback port and stop it when dropped, run a bounded `loadgen` client and read its JSON,
//! and a tiny fake `/stats` server. Every process started here is killed by its own handle.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A running `loadgen serve`, killed on drop.
pub struct Serve {
    pub child: Child,
    pub addr: String,
}

impl Serve {
    /// Start with these extra arguments; waits for its "listening on" line. It stops by itself
    /// after 60 s in any case.
    pub fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--duration", "60s"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start loadgen serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read listening line");
        let addr =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}")).to_string();
        Serve { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kill it now (the test started it).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
pub fn request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A fresh temporary directory for output files.
pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("loadgen-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the client with these arguments plus `--json FILE -q`; returns the parsed JSON.
pub fn run_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let json = dir.join("summary.json");
    let out = Command::new(BIN).args(args).arg("--json").arg(&json).arg("-q").output().expect("run loadgen");
    assert!(out.status.success(), "loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("valid JSON")
}

/// A fake spillway admin answering `GET /stats`: queue length 5 in group "a" and 2 in "b",
/// spillover growing by one per poll. Returns its address and the poll counter.
///
/// It reads the whole request head before it answers, as a real server does: a request may
/// arrive in several reads, and closing a socket with unread bytes resets the connection, so
/// answering after the first read made polls fail at random (more often on a loaded machine).
pub fn fake_stats() -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let polls = Arc::new(AtomicU64::new(0));
    let p = polls.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            if !read_head(&mut s) {
                continue;
            }
            let n = p.fetch_add(1, Ordering::Relaxed) + 1;
            let body = format!(
                r#"{{"target_groups":{{"a":{{"SurgeQueueLength":5,"SpilloverCount":{n}}},"b":{{"SurgeQueueLength":2,"SpilloverCount":0}}}}}}"#
            );
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (addr, polls)
}

/// Reads from `s` until the end of an HTTP request head (a blank line); `false` when the peer
/// closes, fails or stays silent for 5 s first.
fn read_head(s: &mut TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let (mut head, mut buf) = (Vec::new(), [0u8; 4096]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}
