//! Idle keep-alive HTTP connections are parked after a second without a request (src/http/
//! park.rs): these scenarios prove a parked connection behaves as a waiting one did — served
//! when its next request comes, counted as active meanwhile, closed silently at its
//! `idle_timeout`, closed within the drain's grace — on both drivers.

mod common;

use std::{
    io::{BufReader, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::{admin::stats, http_backend::*, *};
use spillway::{
    config::{Driver, Protocol},
    Server, StartOptions,
};

fn server(driver: Driver, idle: Duration) -> (Server, HttpBackend) {
    let b = http_backend();
    let mut config = tcp_config(&[b.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    config.listeners[0].idle_timeout = idle;
    (Server::start(config, StartOptions::default()).unwrap(), b)
}

fn connect(server: &Server) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn ping(s: &mut TcpStream, r: &mut BufReader<TcpStream>) -> (u16, Vec<u8>) {
    write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (status, _, body) = read_response(r).unwrap();
    (status, body)
}

fn active(server: &Server) -> u64 {
    stats(server)["target_groups"]["g"]["ActiveConnectionCount"].as_u64().unwrap()
}

#[test]
fn a_parked_connection_is_served_when_its_next_request_comes() {
    for driver in [Driver::IoUring, Driver::Epoll] {
        let (server, b) = server(driver, Duration::from_secs(20));
        let (mut s, mut r) = connect(&server);
        assert_eq!(ping(&mut s, &mut r), (200, b"pong".to_vec()));
        std::thread::sleep(Duration::from_millis(1500)); // parked after 1 s
        assert_eq!(active(&server), 1, "{driver:?}: a parked connection is still an active one");
        for _ in 0..3 {
            assert_eq!(ping(&mut s, &mut r), (200, b"pong".to_vec()), "{driver:?}");
        }
        // Parked again, and woken by a request split over two writes.
        std::thread::sleep(Duration::from_millis(1300));
        s.write_all(b"GET /ping HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"Host: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r).unwrap().2, b"pong", "{driver:?}");
        assert_eq!(b.seen.connections.load(std::sync::atomic::Ordering::SeqCst), 1, "one backend connection");
    }
}

#[test]
fn many_parked_connections_all_resume() {
    for driver in [Driver::IoUring, Driver::Epoll] {
        let (server, _b) = server(driver, Duration::from_secs(20));
        // More than RELEASE_AFTER_QUIET (32): parking them, and waking them, each makes the
        // shard release memory (park.rs), which must leave every connection as it was.
        let mut conns: Vec<_> = (0..300).map(|_| connect(&server)).collect();
        for (s, r) in conns.iter_mut() {
            assert_eq!(ping(s, r).0, 200);
        }
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(active(&server), 300, "{driver:?}");
        // All at once: every parked connection becomes readable together.
        for (s, _) in conns.iter_mut() {
            write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        }
        for (_, r) in conns.iter_mut() {
            assert_eq!(read_response(r).unwrap().2, b"pong", "{driver:?}");
        }
        // A client that closes while parked is noticed and its connection freed.
        drop(conns.split_off(100));
        assert!(wait_until(Duration::from_secs(5), || active(&server) == 100), "{driver:?}: {}", active(&server));
        // The rest parks again (after the releases) and is served once more.
        std::thread::sleep(Duration::from_millis(2500));
        for (s, r) in conns.iter_mut() {
            assert_eq!(ping(s, r).0, 200, "{driver:?}");
        }
    }
}

#[test]
fn a_parked_connection_is_closed_silently_at_its_idle_timeout() {
    for driver in [Driver::IoUring, Driver::Epoll] {
        let (server, _b) = server(driver, Duration::from_millis(2500));
        let (mut s, mut r) = connect(&server);
        assert_eq!(ping(&mut s, &mut r).0, 200);
        let idle_from = Instant::now();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap(); // EOF when spillway closes
        let closed_after = idle_from.elapsed();
        assert!(rest.is_empty(), "{driver:?}: closed silently, got {rest:?}");
        assert!(
            closed_after >= Duration::from_millis(2300) && closed_after < Duration::from_millis(4000),
            "{driver:?}: closed after {closed_after:?}, idle_timeout 2.5 s"
        );
        assert!(wait_until(Duration::from_secs(2), || active(&server) == 0), "{driver:?}");
    }
}

#[test]
fn a_drain_closes_parked_connections_within_its_grace() {
    let (mut server, _b) = server(Driver::Auto, Duration::from_secs(60));
    let (mut s, mut r) = connect(&server);
    assert_eq!(ping(&mut s, &mut r).0, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    server.begin_drain(Duration::from_secs(30));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

#[test]
fn a_connection_that_parks_just_after_a_drain_began_gets_the_grace_too() {
    // Its wait to park began before the drain and ends after the lot applied the grace to the
    // connections parked then: it must get the grace all the same, not its 60 s idle deadline.
    let (mut server, _b) = server(Driver::Auto, Duration::from_secs(60));
    let (mut s, mut r) = connect(&server);
    assert_eq!(ping(&mut s, &mut r).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.begin_drain(Duration::from_secs(30));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("closed by the proxy within the read timeout (10 s)");
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}
