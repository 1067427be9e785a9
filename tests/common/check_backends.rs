//! Backends that speak just enough of a protocol to answer a health check rightly or wrongly,
//! and record what each check connection sent, so a test can assert the check's real exchange.
//!
//! Each mock is one listener on 127.0.0.1:0 with a thread per connection. A connection whose
//! first bytes are `WHOAMI` is a client routed by spillway, not a check: the mock answers its
//! name and closes, and counts it in `clients` — that is how a test sees where routing went.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// A running mock.
pub struct Mock {
    pub addr: SocketAddr,
    pub name: String,
    /// What each check connection sent, in the order they ended.
    pub conversations: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Client (`WHOAMI`) connections served.
    pub clients: Arc<AtomicUsize>,
    /// Connections that ended with the peer closing while the mock waited (EOF seen).
    pub eofs: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

impl Mock {
    /// The check conversations so far.
    pub fn checks(&self) -> Vec<Vec<u8>> {
        self.conversations.lock().unwrap().clone()
    }
}

/// One connection as a handler sees it: reads record what came in.
pub struct Conn {
    stream: TcpStream,
    name: String,
    /// Everything received on this connection.
    pub received: Vec<u8>,
    /// Where the handler has read up to.
    pub pos: usize,
    client: bool,
    eof: bool,
}

/// Why a handler stopped early: the peer closed, or it was a client.
pub struct Stop;

impl Conn {
    /// Reads more; `Err(Stop)` on EOF, error, or a client's `WHOAMI` (answered here).
    pub fn read_more(&mut self) -> Result<(), Stop> {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                Err(Stop)
            }
            Ok(n) => {
                self.received.extend_from_slice(&buf[..n]);
                if self.received.starts_with(b"WHOAMI") {
                    self.client = true;
                    let _ = self.stream.write_all(format!("\r\nI am {}\r\n", self.name).as_bytes());
                    return Err(Stop);
                }
                Ok(())
            }
            Err(_) => Err(Stop),
        }
    }

    /// Reads until `n` unread bytes are there; answers them and moves past them.
    pub fn take(&mut self, n: usize) -> Result<Vec<u8>, Stop> {
        while self.received.len() - self.pos < n {
            self.read_more()?;
        }
        let out = self.received[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// Reads one line (without its CRLF).
    pub fn line(&mut self) -> Result<String, Stop> {
        loop {
            if let Some(i) = self.received[self.pos..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.received[self.pos..self.pos + i]).trim_end().to_string();
                self.pos += i + 1;
                return Ok(line);
            }
            self.read_more()?;
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        let _ = self.stream.write_all(data);
    }

    /// Reads until the peer closes (what a check sends before closing is recorded).
    pub fn drain(&mut self) {
        while self.read_more().is_ok() {}
    }
}

type Handler = Arc<dyn Fn(&mut Conn) -> Result<(), Stop> + Send + Sync>;

/// Starts a mock named `name` that runs `handler` on each connection.
pub fn mock(name: &str, handler: impl Fn(&mut Conn) -> Result<(), Stop> + Send + Sync + 'static) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Handler = Arc::new(handler);
    let m = Mock {
        addr,
        name: name.to_string(),
        conversations: Arc::default(),
        clients: Arc::default(),
        eofs: Arc::default(),
        stop: Arc::default(),
    };
    let (stop, conversations, clients, eofs, name) =
        (m.stop.clone(), m.conversations.clone(), m.clients.clone(), m.eofs.clone(), m.name.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            let (handler, conversations, clients, eofs, name) =
                (handler.clone(), conversations.clone(), clients.clone(), eofs.clone(), name.clone());
            std::thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut c = Conn { stream, name, received: Vec::new(), pos: 0, client: false, eof: false };
                let _ = handler(&mut c);
                if !c.client {
                    c.drain();
                }
                if c.client {
                    clients.fetch_add(1, Ordering::SeqCst);
                } else {
                    conversations.lock().unwrap().push(c.received.clone());
                }
                if c.eof {
                    eofs.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    m
}

/// Redis: each `PING` line is answered `reply` (`+PONG` or an error), `QUIT` with `+OK`.
pub fn redis(name: &str, reply: &'static str) -> Mock {
    mock(name, move |c| loop {
        match c.line()?.as_str() {
            // A PROXY protocol v1 line, as a proxy-aware Redis takes it: nothing to answer.
            l if l.starts_with("PROXY ") => {}
            "PING" => c.send(format!("{reply}\r\n").as_bytes()),
            "QUIT" => {
                c.send(b"+OK\r\n");
                return Ok(());
            }
            _ => c.send(b"-ERR unknown command\r\n"),
        }
    })
}

/// A MySQL packet.
pub fn mysql_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut out = vec![len[0], len[1], len[2], seq];
    out.extend_from_slice(payload);
    out
}

/// How a MySQL mock answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MysqlAnswer {
    /// Greeting, then OK to the login.
    Ok,
    /// Greeting, then "Access denied" to the login.
    Denied,
    /// An error packet instead of the greeting ("Too many connections").
    Busy,
}

/// MySQL: a protocol-10 greeting, then the login packet is read whole and answered.
pub fn mysql(name: &str, answer: MysqlAnswer) -> Mock {
    mock(name, move |c| {
        if answer == MysqlAnswer::Busy {
            let mut e = vec![0xff, 0x10, 0x04];
            e.extend_from_slice(b"Too many connections");
            c.send(&mysql_packet(0, &e));
            return Ok(());
        }
        let mut g = vec![0x0a];
        g.extend_from_slice(b"8.0.36-mock\0");
        g.extend_from_slice(&7u32.to_le_bytes());
        g.extend_from_slice(b"abcdefgh\0");
        g.extend_from_slice(&[0xff, 0xf7, 0x21, 0x02, 0x00, 0xff, 0xc1, 21]);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
        c.send(&mysql_packet(0, &g));
        let header = c.take(4)?;
        let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        c.take(len)?;
        if answer == MysqlAnswer::Ok {
            c.send(&mysql_packet(2, &[0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]));
        } else {
            let mut e = vec![0xff, 0x15, 0x04];
            e.extend_from_slice(b"#28000Access denied for user 'haproxy'@'localhost'");
            c.send(&mysql_packet(2, &e));
        }
        Ok(())
    })
}

/// PostgreSQL: reads a StartupMessage whole, answers an MD5 authentication request (`ok`) or
/// an ErrorResponse.
pub fn pgsql(name: &str, ok: bool) -> Mock {
    mock(name, move |c| {
        let len = c.take(4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        c.take(len.saturating_sub(4))?;
        if ok {
            c.send(b"R\0\0\0\x0c\0\0\0\x05salt");
        } else {
            let body = b"SFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0";
            let mut m = vec![b'E'];
            m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
            m.extend_from_slice(body);
            c.send(&m);
        }
        Ok(())
    })
}

/// SMTP: `banner` first; when it is 2xx, HELO/EHLO get `250`, QUIT `221`.
pub fn smtp(name: &str, banner: &'static str) -> Mock {
    mock(name, move |c| {
        c.send(format!("{banner}\r\n").as_bytes());
        if !banner.starts_with('2') {
            return Ok(());
        }
        loop {
            let line = c.line()?;
            if line.starts_with("HELO") || line.starts_with("EHLO") {
                c.send(b"250-mock.example.com\r\n250 8BITMIME\r\n");
            } else if line == "QUIT" {
                c.send(b"221 2.0.0 Bye\r\n");
                return Ok(());
            } else {
                c.send(b"500 unknown\r\n");
            }
        }
    })
}

/// HTTP: a request for a path starting `/check` is answered `200` with `check_body`; any other
/// with `200` and the mock's name. One request per connection.
pub fn http(name: &str, check_body: &'static str) -> Mock {
    let me = name.to_string();
    mock(name, move |c| {
        while !c.received.windows(4).any(|w| w == b"\r\n\r\n") {
            c.read_more()?;
        }
        let body = if c.received.starts_with(b"GET /check") || c.received.starts_with(b"HEAD /check") {
            check_body.to_string()
        } else {
            format!("I am {me}")
        };
        c.send(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        );
        Ok(())
    })
}

/// TLS: reads a record header; answers a ServerHello record header (`ok`) or a
/// handshake-failure alert.
pub fn tls_hello(name: &str, ok: bool) -> Mock {
    mock(name, move |c| {
        let head = c.take(5)?;
        let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
        c.take(len)?;
        if ok {
            c.send(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]);
        } else {
            c.send(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        }
        Ok(())
    })
}

/// Connects through `addr` (a TCP listener of spillway) as a client: answers the name of the
/// mock that answered, or None.
pub fn whoami(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"WHOAMI\r\n").ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split("I am ").nth(1).map(|n| n.trim().to_string())
}

/// A target's state in the admin API, whatever its group (empty when not found).
pub fn state(server: &spillway::Server, addr: SocketAddr) -> String {
    let stats = super::admin::stats(server);
    let groups = stats["target_groups"].as_object().cloned().unwrap_or_default();
    groups
        .values()
        .flat_map(|g| g["targets"].as_array().cloned().unwrap_or_default())
        .find(|t| t["addr"] == addr.to_string())
        .and_then(|t| t["state"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Waits until `good` is healthy and every one of `bad` unhealthy.
pub fn verdicts(server: &spillway::Server, good: &Mock, bad: &[&Mock]) {
    let ok = super::wait_until(Duration::from_secs(10), || {
        state(server, good.addr) == "healthy" && bad.iter().all(|b| state(server, b.addr) == "unhealthy")
    });
    let states: Vec<String> = std::iter::once(good)
        .chain(bad.iter().copied())
        .map(|m| format!("{}={}", m.name, state(server, m.addr)))
        .collect();
    assert!(ok, "verdicts not reached: {states:?}");
}

/// Six clients through `listener` all reach `good`, none the others.
pub fn routing_avoids(server: &spillway::Server, listener: &str, good: &Mock, bad: &[&Mock]) {
    let addr = server.listener_addr(listener).unwrap_or_else(|| panic!("no listener {listener}"));
    for _ in 0..6 {
        assert_eq!(whoami(addr).as_deref(), Some(good.name.as_str()));
    }
    for b in bad {
        assert_eq!(b.clients.load(Ordering::SeqCst), 0, "{} took clients", b.name);
    }
}

/// The check conversations `m` recorded, once at least one is in.
pub fn conversations(m: &Mock) -> Vec<Vec<u8>> {
    assert!(super::wait_until(Duration::from_secs(5), || !m.checks().is_empty()), "{} was never checked", m.name);
    m.checks()
}
