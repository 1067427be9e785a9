//! Faults from outside, each of which once cost a client or a target something: clients that
//! close in the middle of a response (backend connections must not be held), and errors
//! answered to a client still sending (the answer must not be lost to a reset). Real sockets
//! on 127.0.0.1, both drivers.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::Ordering,
    time::Duration,
};

use common::{http_backend::*, on_both_drivers, tls::*, *};
use spillway::{
    config::{CertKeyPair, Driver, ListenerTls, Protocol},
    Server, StartOptions,
};

/// spillway with one HTTP listener `l4` over `targets`.
fn http_server(driver: Driver, targets: &[SocketAddr], protocol: Protocol) -> Server {
    let mut config = tcp_config(targets, 1, driver);
    config.listeners[0].protocol = protocol;
    Server::start(config, StartOptions::default()).unwrap()
}

/// Backend connections open now: accepted by the test backend and not yet finished with.
fn held(b: &HttpBackend) -> usize {
    b.seen.connections.load(Ordering::SeqCst) - b.seen.closed.load(Ordering::SeqCst)
}

on_both_drivers!(
    clients_closing_mid_response_leave_no_backend_connection_held,
    clients_closing_mid_response_leave_no_backend_connection_held
);
/// 100 clients one after the other, each asking for 256 KiB with `Connection: close`, reading
/// once and closing: the responses are cut. Every backend connection whose response was cut
/// must be closed (or drained and pooled): at most a pooled one or two stay open, not one per
/// cut response until the pool's idle timeout.
fn clients_closing_mid_response_leave_no_backend_connection_held(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], Protocol::Http);
    let addr = server.listener_addr("l4").unwrap();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /big?bytes=262144 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "no answer");
        drop(s);
    }
    let settled = wait_until(Duration::from_secs(3), || held(&b) <= 2);
    assert!(
        settled,
        "{} backend connections held after 100 cut responses ({} made)",
        held(&b),
        b.seen.connections.load(Ordering::SeqCst)
    );
    // spillway still serves, on a connection it may have pooled.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(String::from_utf8_lossy(&got).ends_with("pong"), "{}", String::from_utf8_lossy(&got));
}

on_both_drivers!(
    a_response_cut_with_little_left_keeps_its_backend_connection,
    a_response_cut_with_little_left_keeps_its_backend_connection
);
/// Clients that close while the last 16 KiB of a 32 KiB response is still on its way: the
/// rest is small, so spillway reads it, throws it away and pools the connection; the next
/// request reuses it instead of connecting again.
fn a_response_cut_with_little_left_keeps_its_backend_connection(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], Protocol::Http);
    let addr = server.listener_addr("l4").unwrap();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /stall-tail?bytes=32768&ms=50 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        assert!(s.read(&mut buf).unwrap() > 0, "no answer");
        drop(s);
        // The tail arrives 50 ms later; then the connection is back in the pool.
        std::thread::sleep(Duration::from_millis(150));
    }
    let made = b.seen.connections.load(Ordering::SeqCst);
    assert!(made <= 3, "{made} backend connections for 20 cut responses: the cut ones were not kept");
    assert!(held(&b) <= 2, "{} backend connections held", held(&b));
}

/// A request head of 72 KiB: over the 64 KiB limit of all request headers (431).
fn oversized_head() -> Vec<u8> {
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..9 {
        req.extend_from_slice(format!("X-H{i}: ").as_bytes());
        req.extend(std::iter::repeat_n(b'c', 8 * 1024));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// How many of `tries` clients see the 431: each sends `oversized_head` a line at a time, 5 ms
/// apart (so that spillway answers while the rest is still coming), and reads 0.2 s later.
/// `exchange` gets the lines and answers what the client read, or None when sending failed
/// (a reset: a client gives up there and never reads the answer).
fn answers_seen(tries: usize, mut exchange: impl FnMut(&[&[u8]]) -> Option<Vec<u8>>) -> usize {
    let request = oversized_head();
    let lines: Vec<&[u8]> = request.split_inclusive(|&b| b == b'\n').collect();
    (0..tries).filter(|_| exchange(&lines).is_some_and(|got| got.starts_with(b"HTTP/1.1 431 "))).count()
}

/// Sends `lines` one at a time, 5 ms apart.
fn send_slowly(w: &mut impl Write, lines: &[&[u8]]) -> std::io::Result<()> {
    for line in lines {
        w.write_all(line)?;
        w.flush()?;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

on_both_drivers!(
    an_error_answered_to_a_client_still_sending_is_not_lost,
    an_error_answered_to_a_client_still_sending_is_not_lost
);
/// RFC 9112 section 9.6: spillway answers 431 while the client's head is still arriving; if it
/// closed with the rest unread, the kernel would reset the connection and the client would
/// lose the answer. Closed in stages (answer, half-close, drain), all 20 clients see it.
fn an_error_answered_to_a_client_still_sending_is_not_lost(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], Protocol::Http);
    let addr = server.listener_addr("l4").unwrap();
    let seen = answers_seen(20, |lines| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_slowly(&mut s, lines).ok()?;
        std::thread::sleep(Duration::from_millis(200));
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        Some(got)
    });
    assert_eq!(seen, 20, "the 431 reached {seen} of 20 clients");
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 0);
}

on_both_drivers!(
    an_error_answered_to_a_tls_client_still_sending_is_not_lost,
    an_error_answered_to_a_tls_client_still_sending_is_not_lost
);
/// The same over HTTPS: the answer and `close_notify` go out, then the rest of the client's
/// records are read and discarded.
fn an_error_answered_to_a_tls_client_still_sending_is_not_lost(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let mut config = tcp_config(&[b.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Https;
    config.listeners[0].tls =
        Some(ListenerTls { certs: vec![CertKeyPair { cert: cert.cert.clone(), key: cert.key.clone() }] });
    let server = Server::start(config, StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let client = client_config(&[&cert], &[b"http/1.1"]);
    let seen = answers_seen(20, |lines| {
        let mut s = tls_connect(addr, "localhost", &client).unwrap();
        send_slowly(&mut s, lines).ok()?;
        std::thread::sleep(Duration::from_millis(200));
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        Some(got)
    });
    assert_eq!(seen, 20, "the 431 reached {seen} of 20 TLS clients");
}
