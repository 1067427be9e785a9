//! Idle keep-alive HTTP connections are parked after a second without a request (src/http/
//! park.rs): these scenarios prove that parking happens (the shard's `parked_connections`
//! figure in `/stats` and `/metrics` counts them) and that a parked connection behaves as a
//! waiting one did — served when its next request comes, counted as active meanwhile, closed
//! silently at its `idle_timeout`, closed within the drain's grace — on both drivers.
//!
//! Every step waits on the figure (with a generous limit) instead of sleeping past the park
//! delay, so a connection that never parks fails the test instead of passing it unparked.

mod common;

use std::{
    io::{BufReader, Read, Write},
    net::TcpStream,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{
    admin::{admin, stats},
    http_backend::*,
    on_both_drivers, *,
};
use spillway::{
    config::{Driver, Protocol},
    Server, StartOptions,
};

/// How long a figure is waited for: far above the park delay (1 s) and the lot's sweep.
const LIMIT: Duration = Duration::from_secs(10);

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

/// Connections parked now, from `/stats`: the per-shard figure of the one shard, checked
/// against the top-level sum.
fn parked(server: &Server) -> u64 {
    let s = stats(server);
    let shard = s["shards"][0]["parked_connections"].as_u64().expect("shards[0].parked_connections");
    assert_eq!(s["parked_connections"].as_u64(), Some(shard), "the total is the sum over the one shard");
    shard
}

/// Waits until `parked(server) == n`; fails naming `what` if it does not come.
fn wait_parked(server: &Server, n: u64, what: &str) {
    let mut last = u64::MAX;
    let reached = wait_until(LIMIT, || {
        last = parked(server);
        last == n
    });
    assert!(reached, "{what}: {last} parked after {LIMIT:?}, expected {n}");
}

on_both_drivers!(a_parked_connection_is_served_when_its_next_request_comes, served_when_request_comes);
fn served_when_request_comes(driver: Driver) {
    let (server, b) = server(driver, Duration::from_secs(20));
    let (mut s, mut r) = connect(&server);
    assert_eq!(parked(&server), 0);
    assert_eq!(ping(&mut s, &mut r), (200, b"pong".to_vec()));
    wait_parked(&server, 1, "idle after its first request");
    assert_eq!(active(&server), 1, "a parked connection is still an active one");
    let (_, metrics) = admin(&server, "GET", "/metrics", None, None);
    assert!(metrics.contains("spillway_parked_connections{shard=\"0\"} 1"), "{metrics}");

    // Its next request wakes it: while that request is at the target, nothing is parked.
    write!(s, "GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(wait_until(LIMIT, || b.seen.in_flight.load(Ordering::SeqCst) == 1), "the request never reached the target");
    assert_eq!(parked(&server), 0, "a connection with a request in flight is parked");
    assert_eq!(read_response(&mut r).unwrap().2, b"slow");
    for _ in 0..3 {
        assert_eq!(ping(&mut s, &mut r), (200, b"pong".to_vec()));
    }

    // Parked again, and woken by a request split over two writes: the first half alone
    // takes it out of the lot, the second completes the request.
    wait_parked(&server, 1, "idle again");
    s.write_all(b"GET /ping HTTP/1.1\r\n").unwrap();
    wait_parked(&server, 0, "woken by half a request");
    s.write_all(b"Host: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r).unwrap().2, b"pong");
    assert_eq!(b.seen.connections.load(Ordering::SeqCst), 1, "one backend connection");
}

on_both_drivers!(many_parked_connections_all_resume, many_resume);
fn many_resume(driver: Driver) {
    let (server, _b) = server(driver, Duration::from_secs(20));
    // More than RELEASE_AFTER_QUIET (32): parking them, and waking them, each makes the
    // shard release memory (park.rs), which must leave every connection as it was.
    let mut conns: Vec<_> = (0..300).map(|_| connect(&server)).collect();
    for (s, r) in conns.iter_mut() {
        assert_eq!(ping(s, r).0, 200);
    }
    wait_parked(&server, 300, "300 idle connections");
    assert_eq!(active(&server), 300);
    // All at once: every parked connection becomes readable together.
    for (s, _) in conns.iter_mut() {
        write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }
    for (_, r) in conns.iter_mut() {
        assert_eq!(read_response(r).unwrap().2, b"pong");
    }
    // Clients that close while parked are noticed and their connections freed.
    wait_parked(&server, 300, "parked again after their second request");
    drop(conns.split_off(100));
    assert!(wait_until(LIMIT, || active(&server) == 100), "{}", active(&server));
    wait_parked(&server, 100, "the connections left after 200 clients closed");
    // The rest, parked through those releases, is served once more, and parks again.
    for (s, r) in conns.iter_mut() {
        assert_eq!(ping(s, r).0, 200);
    }
    wait_parked(&server, 100, "parked after a third request");
}

on_both_drivers!(a_parked_connection_is_closed_silently_at_its_idle_timeout, closed_at_idle_timeout);
fn closed_at_idle_timeout(driver: Driver) {
    let (server, _b) = server(driver, Duration::from_millis(2500));
    let (mut s, mut r) = connect(&server);
    assert_eq!(ping(&mut s, &mut r).0, 200);
    let idle_from = Instant::now();
    // Parked at 1 s; this wait returns then, well before the close at 2.5 s.
    wait_parked(&server, 1, "idle for its idle_timeout");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap(); // EOF when spillway closes
    let closed_after = idle_from.elapsed();
    assert!(rest.is_empty(), "closed silently, got {rest:?}");
    assert!(
        closed_after >= Duration::from_millis(2300) && closed_after < Duration::from_millis(4000),
        "closed after {closed_after:?}, idle_timeout 2.5 s"
    );
    assert!(wait_until(LIMIT, || active(&server) == 0));
    assert_eq!(parked(&server), 0, "a closed connection left in the lot");
}

on_both_drivers!(a_drain_closes_parked_connections_within_its_grace, drain_closes_parked);
fn drain_closes_parked(driver: Driver) {
    let (mut server, _b) = server(driver, Duration::from_secs(60));
    let (mut s, mut r) = connect(&server);
    assert_eq!(ping(&mut s, &mut r).0, 200);
    wait_parked(&server, 1, "idle before the drain");
    let started = Instant::now();
    server.begin_drain(Duration::from_secs(30));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

on_both_drivers!(a_connection_that_parks_just_after_a_drain_began_gets_the_grace_too, parks_after_drain_began);
fn parks_after_drain_began(driver: Driver) {
    // Its wait to park began before the drain and ends after the lot applied the grace to the
    // connections parked then: it must get the grace all the same, not its 60 s idle deadline.
    let (mut server, _b) = server(driver, Duration::from_secs(60));
    let (mut s, mut r) = connect(&server);
    assert_eq!(ping(&mut s, &mut r).0, 200);
    // Kept: this places the drain's start inside the connection's wait to park (which ends
    // 1 s after the request); the outcome is decided by the close time measured below.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(parked(&server), 0, "parked before the drain began: not the case this test is for");
    let started = Instant::now();
    server.begin_drain(Duration::from_secs(30));
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("closed by the proxy within the read timeout (10 s)");
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}
