//! The PROXY protocol on real loopback sockets: spillway writing the header to targets (v1 and
//! v2, TCP and HTTP listeners, health checks), and reading it from clients (`accept_proxy`).
//!
//! The target here decodes the header with its own few lines (not spillway's parser: a shared
//! decoder would hide a shared bug) and answers what it was told, so each test checks the
//! addresses byte for byte.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use spillway::{
    config::{Config, HealthProtocol, Protocol, ProxyVersion},
    Server, StartOptions,
};

/// A target that expects a PROXY header on every connection, v1 or v2, and records it as
/// text: `TCP4 SRC DST`, `TCP6 SRC DST`, `UNKNOWN` (v1), `LOCAL` (v2), `NONE` (no header:
/// the first bytes are the client's), or `INVALID`. Then an
/// HTTP request (`GET`) is answered with the header's text as its body, keep-alive; any other
/// bytes are echoed.
struct ProxyTarget {
    addr: SocketAddr,
    /// One entry per connection, in arrival order.
    headers: Arc<Mutex<Vec<String>>>,
}

fn proxy_target() -> ProxyTarget {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let headers = Arc::new(Mutex::new(Vec::new()));
    let seen = headers.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let seen = seen.clone();
            std::thread::spawn(move || serve(conn, seen));
        }
    });
    ProxyTarget { addr, headers }
}

fn serve(conn: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let header = read_header(&mut reader).unwrap_or_else(|| "INVALID".into());
    seen.lock().unwrap().push(header.clone());
    let mut conn = conn;
    let Ok(first) = reader.fill_buf().map(|b| b.to_vec()) else { return };
    if first.starts_with(b"GET") {
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let xff = head
                .lines()
                .find_map(|l| l.strip_prefix("X-Forwarded-For: ").or_else(|| l.strip_prefix("x-forwarded-for: ")))
                .unwrap_or("-")
                .to_string();
            let body = format!("{header} xff={xff}");
            let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            if conn.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The header at the start of `r`, decoded independently of spillway.
fn read_header(r: &mut BufReader<TcpStream>) -> Option<String> {
    let start = r.fill_buf().ok()?.to_vec();
    if start.starts_with(b"PROXY ") {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let line = line.strip_suffix("\r\n")?;
        let words: Vec<&str> = line.split(' ').collect();
        return match words.as_slice() {
            ["PROXY", "UNKNOWN", ..] => Some("UNKNOWN".into()),
            ["PROXY", fam @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
                let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
                let (s, d) =
                    (SocketAddr::new(ip(src)?, sport.parse().ok()?), SocketAddr::new(ip(dst)?, dport.parse().ok()?));
                Some(format!("{fam} {s} {d}"))
            }
            _ => None,
        };
    }
    if !start.starts_with(b"\r\n\r\n") {
        return Some("NONE".into());
    }
    let mut fixed = [0u8; 16];
    r.read_exact(&mut fixed).ok()?;
    if fixed[..12] != *b"\r\n\r\n\0\r\nQUIT\n" || fixed[12] >> 4 != 2 {
        return None;
    }
    let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
    let mut rest = vec![0u8; len];
    r.read_exact(&mut rest).ok()?;
    match (fixed[12] & 0xf, fixed[13]) {
        (0, 0) if len == 0 => Some("LOCAL".into()),
        (1, 0x11) if len >= 12 => {
            let ip = |a: &[u8]| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = |a: &[u8]| u16::from_be_bytes([a[0], a[1]]);
            Some(format!(
                "TCP4 {} {}",
                SocketAddr::from((ip(&rest[0..4]), port(&rest[8..10]))),
                SocketAddr::from((ip(&rest[4..8]), port(&rest[10..12])))
            ))
        }
        _ => None,
    }
}

fn config(protocol: Protocol, target: SocketAddr, send: Option<ProxyVersion>, accept: bool) -> Config {
    let mut c = tcp_config(&[target], 1, spillway::config::Driver::Auto);
    c.listeners[0].protocol = protocol;
    c.listeners[0].accept_proxy = accept;
    c.target_groups[0].proxy_protocol = send;
    c
}

/// One GET on `conn` (after whatever the caller wrote), answered body.
fn get(conn: &mut TcpStream, preface: &[u8]) -> String {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(&[preface, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"].concat()).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let (status, _, body) = http_backend::read_response(&mut reader).expect("a response");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

fn local_port(c: &TcpStream) -> u16 {
    c.local_addr().unwrap().port()
}

#[test]
fn a_tcp_listener_sends_v1_and_v2_headers_naming_the_client_and_the_listener() {
    for version in [ProxyVersion::V1, ProxyVersion::V2] {
        let target = proxy_target();
        let server =
            Server::start(config(Protocol::Tcp, target.addr, Some(version), false), StartOptions::default()).unwrap();
        let listener = server.listener_addr("l4").unwrap();
        let mut c = TcpStream::connect(listener).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut echoed = [0u8; 4];
        c.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"ping", "{version:?}: the client's bytes follow the header untouched");
        let want = format!("TCP4 127.0.0.1:{} {listener}", local_port(&c));
        assert_eq!(*target.headers.lock().unwrap(), vec![want], "{version:?}");
    }
}

#[test]
fn an_http_listener_keeps_each_proxied_backend_connection_private_to_its_client() {
    let target = proxy_target();
    let server =
        Server::start(config(Protocol::Http, target.addr, Some(ProxyVersion::V2), false), StartOptions::default())
            .unwrap();
    let listener = server.listener_addr("l4").unwrap();
    let mut a = TcpStream::connect(listener).unwrap();
    let mut b = TcpStream::connect(listener).unwrap();
    let (pa, pb) = (local_port(&a), local_port(&b));
    // Interleaved, keep-alive: with a shared pool, b's first request would take a's idle
    // connection and the target would believe a sent it.
    for _ in 0..3 {
        assert_eq!(get(&mut a, b""), format!("TCP4 127.0.0.1:{pa} {listener} xff=127.0.0.1"));
        assert_eq!(get(&mut b, b""), format!("TCP4 127.0.0.1:{pb} {listener} xff=127.0.0.1"));
    }
    let headers = target.headers.lock().unwrap().clone();
    assert_eq!(headers.len(), 2, "one backend connection per client, reused for its own requests: {headers:?}");
}

#[test]
fn accept_proxy_takes_the_client_address_from_v1_and_v2_headers() {
    let target = proxy_target();
    let server = Server::start(config(Protocol::Http, target.addr, None, true), StartOptions::default()).unwrap();
    let listener = server.listener_addr("l4").unwrap();
    // No PROXY header to the target here: its first bytes are the request.
    let v1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 5555 80\r\n".to_vec();
    let mut c = TcpStream::connect(listener).unwrap();
    assert_eq!(get(&mut c, &v1), "NONE xff=203.0.113.7");
    // The address holds for the connection's later requests too.
    assert_eq!(get(&mut c, b""), "NONE xff=203.0.113.7");
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[192, 0, 2, 44, 198, 51, 100, 1, 0x1f, 0x90, 0, 80]);
    let mut c = TcpStream::connect(listener).unwrap();
    assert_eq!(get(&mut c, &v2), "NONE xff=192.0.2.44");
    // LOCAL (a health check of the balancer in front): the real peer stands.
    let local = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec();
    let mut c = TcpStream::connect(listener).unwrap();
    assert_eq!(get(&mut c, &local), "NONE xff=127.0.0.1");
    assert_eq!(server.snapshot().listener("l4").unwrap().proxy_protocol_errors, 0);
}

#[test]
fn a_header_received_is_passed_on_to_the_target_through_a_tcp_listener() {
    let target = proxy_target();
    let server =
        Server::start(config(Protocol::Tcp, target.addr, Some(ProxyVersion::V1), true), StartOptions::default())
            .unwrap();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[203, 0, 113, 9, 198, 51, 100, 2, 0x11, 0x5c, 0x01, 0xbb]);
    c.write_all(&[&v2[..], b"hello"].concat()).unwrap();
    let mut echoed = [0u8; 5];
    c.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"hello");
    assert_eq!(*target.headers.lock().unwrap(), vec!["TCP4 203.0.113.9:4444 198.51.100.2:443".to_string()]);
}

#[test]
fn a_connection_without_a_valid_header_is_closed_unanswered_and_counted() {
    let target = proxy_target();
    let mut c = config(Protocol::Http, target.addr, None, true);
    c.listeners[0].request_timeout = Duration::from_millis(300);
    let server = Server::start(c, StartOptions::default()).unwrap();
    let listener = server.listener_addr("l4").unwrap();
    for (what, bytes) in [
        ("a plain request", &b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"[..]),
        ("garbage after PROXY", b"PROXY TCP4 nonsense\r\nGET / HTTP/1.1\r\n\r\n"),
        ("a header cut short", b"PROXY TCP4 10.0.0.1 "),
    ] {
        let mut c = TcpStream::connect(listener).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(bytes).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        assert!(got.is_empty(), "{what}: answered {:?}", String::from_utf8_lossy(&got));
    }
    // A connect-and-close sends nothing: not counted.
    drop(TcpStream::connect(listener).unwrap());
    assert!(
        wait_until(Duration::from_secs(2), || server.snapshot().listener("l4").unwrap().proxy_protocol_errors == 3),
        "errors counted: {}",
        server.snapshot().listener("l4").unwrap().proxy_protocol_errors
    );
    assert!(target.headers.lock().unwrap().is_empty(), "nothing reached the target");
}

#[test]
fn http_health_checks_carry_a_header_that_names_no_client() {
    for (version, want) in [(ProxyVersion::V1, "UNKNOWN"), (ProxyVersion::V2, "LOCAL")] {
        let target = proxy_target();
        let mut c = config(Protocol::Http, target.addr, Some(version), false);
        let hc = &mut c.target_groups[0].health_check;
        hc.enabled = true;
        hc.protocol = HealthProtocol::Http;
        hc.path = "/".into();
        hc.interval = Duration::from_millis(100);
        hc.timeout = Duration::from_millis(50);
        hc.proxy_protocol = Some(version);
        let _server = Server::start(c, StartOptions::default()).unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || target.headers.lock().unwrap().len() >= 2),
            "{version:?}: no check arrived"
        );
        let headers = target.headers.lock().unwrap().clone();
        assert!(headers.iter().all(|h| h == want), "{version:?}: {headers:?}");
    }
}

/// tests/haproxy/drop-in/proxy-protocol.cfg started for real: its 19xxx servers are PROXY-aware
/// targets, its 18xxx binds port 0 (read back from the server).
#[test]
fn the_haproxy_corpus_file_passes_the_client_on_and_checks_with_a_header() {
    let mut targets = std::collections::HashMap::new();
    let text = common::drop_in_corpus("proxy-protocol.cfg", |port| {
        targets.entry(port).or_insert_with(proxy_target).addr.port()
    });
    let mut config = spillway::config::haproxy::parse(&text, "proxy-protocol.cfg").unwrap().config;
    config.runtime.threads = 1;
    config.runtime.pin = false;
    let server = Server::start(config, StartOptions::default()).unwrap();

    let mut c = TcpStream::connect(server.listener_addr("edge").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"PROXY TCP4 203.0.113.5 192.0.2.10 40000 443\r\nping").unwrap();
    let mut echoed = [0u8; 4];
    c.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping");
    assert_eq!(*targets[&19171].headers.lock().unwrap(), vec!["TCP4 203.0.113.5:40000 192.0.2.10:443".to_string()]);

    let web = server.listener_addr("web").unwrap();
    let mut c = TcpStream::connect(web).unwrap();
    let port = local_port(&c);
    assert_eq!(get(&mut c, b""), format!("TCP4 127.0.0.1:{port} {web} xff=127.0.0.1"));
    let w1 = &targets[&19173];
    assert!(
        wait_until(Duration::from_secs(5), || w1.headers.lock().unwrap().iter().any(|h| h == "UNKNOWN")),
        "no check with a v1 UNKNOWN header: {:?}",
        w1.headers.lock().unwrap()
    );
}
