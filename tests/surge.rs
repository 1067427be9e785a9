//! The surge queue on real sockets: caps, FIFO order, spillover, queue timeout, clients that
//! leave, TCP sessions, draining targets, and two shards sharing a cap of one; on both drivers.
//!
//! The caps are checked where they matter, at the target: the test backend counts the
//! requests it is answering at once (`max_in_flight`), which must never pass the cap. Steps
//! wait on figures (a request at the backend, the queue's length) rather than on sleeps.

mod common;

use std::{
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{admin::*, http_backend::*, on_both_drivers, *};
use spillway::{
    config::{Config, Driver, Protocol},
    Server, StartOptions,
};

/// An HTTP listener over `targets` with a cap per target and a queue.
fn limited(
    driver: Driver,
    targets: &[SocketAddr],
    threads: usize,
    cap: u32,
    queue: u32,
    tune: impl FnOnce(&mut Config),
) -> Server {
    let mut config = tcp_config(targets, threads, driver);
    config.listeners[0].protocol = Protocol::Http;
    let g = &mut config.target_groups[0];
    g.max_connections_per_target = cap;
    g.surge_queue_length = queue;
    g.queue_timeout = Duration::from_secs(10);
    tune(&mut config);
    Server::start(config, StartOptions::default()).unwrap()
}

/// Sends `GET path` tagged `X-Seq: seq` and returns (status, when the answer came).
fn request(addr: SocketAddr, path: &str, seq: usize) -> (u16, Instant) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    write!(&s, "GET {path} HTTP/1.1\r\nHost: test\r\nX-Seq: {seq}\r\n\r\n").unwrap();
    let status = read_response(&mut r).map(|(status, _, _)| status).unwrap_or(0);
    (status, Instant::now())
}

fn group_figure(server: &Server, key: &str) -> u64 {
    stats(server)["target_groups"]["g"][key].as_u64().unwrap()
}

/// The `X-Seq` values a backend received, in the order it received them.
fn seqs(b: &HttpBackend) -> Vec<usize> {
    b.seen
        .heads
        .lock()
        .unwrap()
        .iter()
        .filter_map(|h| h.lines().find_map(|l| l.strip_prefix("X-Seq: ")).and_then(|v| v.trim().parse().ok()))
        .collect()
}

/// Requests the backend is answering now, and the most it ever answered at once.
fn in_flight(b: &HttpBackend) -> usize {
    b.seen.in_flight.load(Ordering::SeqCst)
}

fn max_in_flight(b: &HttpBackend) -> usize {
    b.seen.max_in_flight.load(Ordering::SeqCst)
}

/// Waits (generously) until `f` holds; fails the test naming `what` if it never does.
fn wait_for(what: &str, f: impl FnMut() -> bool) {
    assert!(wait_until(Duration::from_secs(10), f), "timed out waiting for {what}");
}

on_both_drivers!(twenty_requests_on_two_targets_of_one_slot_and_a_queue_of_four, twenty_requests);
fn twenty_requests(driver: Driver) {
    let (a, b) = (http_backend(), http_backend());
    let server = limited(driver, &[a.addr, b.addr], 1, 1, 4, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let start = Instant::now();
    let clients: Vec<_> = (0..20).map(|i| std::thread::spawn(move || request(addr, "/slow?ms=1000", i))).collect();
    let results: Vec<(u16, Instant)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let spilled: Vec<Duration> = results.iter().filter(|(s, _)| *s == 503).map(|(_, t)| *t - start).collect();
    assert_eq!((ok, spilled.len()), (6, 14), "{results:?}");
    for d in &spilled {
        assert!(*d < Duration::from_millis(900), "a spilled request waited {d:?}");
    }
    assert_eq!(group_figure(&server, "SpilloverCount"), 14);
    assert_eq!(group_figure(&server, "HTTPCode_ELB_5XX"), 14);
    assert_eq!(group_figure(&server, "SurgeQueueLengthMax"), 4);
    assert_eq!(group_figure(&server, "SurgeQueueLength"), 0);
    assert_eq!(group_figure(&server, "HTTPCode_Backend_2XX"), 6);
    assert_eq!((max_in_flight(&a), max_in_flight(&b)), (1, 1), "a target of one slot had two requests at once");
    let (_, metrics) = admin(&server, "GET", "/metrics", None, None);
    assert!(metrics.contains("spillway_spillover_count_total{target_group=\"g\"} 14"), "{metrics}");
    assert!(metrics.contains("spillway_queue_wait_seconds_count{target_group=\"g\"} 4"), "{metrics}");
    let s = stats(&server);
    let wait = s["target_groups"]["g"]["QueueWait"]["p50"].as_f64().unwrap();
    assert!((0.5..3.0).contains(&wait), "median queue wait {wait} s");
}

on_both_drivers!(waiters_are_served_in_arrival_order, arrival_order);
fn arrival_order(driver: Driver) {
    let b = http_backend();
    let server = limited(driver, &[b.addr], 1, 1, 4, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    // The first holds the one slot long enough for the other five to arrive (each waits only
    // for the one before it to be queued); the rest are quick.
    let first = std::thread::spawn(move || request(addr, "/slow?ms=1500", 1).0);
    wait_for("the first request at the target", || in_flight(&b) == 1);
    let mut clients = vec![first];
    for i in 2..=5 {
        clients.push(std::thread::spawn(move || request(addr, "/slow?ms=20", i).0));
        wait_for(&format!("request {i} queued"), || group_figure(&server, "SurgeQueueLength") == i as u64 - 1);
    }
    assert_eq!(in_flight(&b), 1, "the first request ended before the queue was full");
    let sixth = request(addr, "/", 6).0;
    let mut statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    statuses.push(sixth);
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 503], "the sixth found the queue full");
    assert_eq!(seqs(&b), vec![1, 2, 3, 4, 5], "not first in, first out");
    assert_eq!(max_in_flight(&b), 1);
    assert_eq!(group_figure(&server, "SpilloverCount"), 1);
}

on_both_drivers!(a_request_that_waits_past_queue_timeout_gets_503_and_is_not_spillover, queue_timeout);
fn queue_timeout(driver: Driver) {
    let b = http_backend();
    let server = limited(driver, &[b.addr], 1, 1, 4, |c| c.target_groups[0].queue_timeout = Duration::from_millis(300));
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=1500", 1).0);
    wait_for("the first request at the target", || in_flight(&b) == 1);
    let asked = Instant::now();
    let (status, answered) = request(addr, "/", 2);
    assert_eq!(status, 503);
    let waited = answered - asked;
    assert!(waited >= Duration::from_millis(280) && waited < Duration::from_millis(1200), "waited {waited:?}");
    assert_eq!(busy.join().unwrap(), 200);
    assert_eq!(group_figure(&server, "SpilloverCount"), 0);
    assert_eq!(group_figure(&server, "HTTPCode_ELB_5XX"), 1);
    assert_eq!(group_figure(&server, "SurgeQueueLength"), 0);
    assert_eq!(max_in_flight(&b), 1);
}

on_both_drivers!(a_queued_client_that_disconnects_frees_its_place, client_leaves);
fn client_leaves(driver: Driver) {
    let b = http_backend();
    let server = limited(driver, &[b.addr], 1, 1, 1, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=1200", 1).0);
    wait_for("the first request at the target", || in_flight(&b) == 1);
    // Takes the one place in the queue, then hangs up.
    let quitter = TcpStream::connect(addr).unwrap();
    write!(&quitter, "GET / HTTP/1.1\r\nHost: test\r\nX-Seq: 2\r\n\r\n").unwrap();
    assert!(wait_until(Duration::from_secs(2), || group_figure(&server, "SurgeQueueLength") == 1));
    // HAProxy's CSV says the same, and reads with a CSV reader.
    let (status, text) = admin(&server, "GET", "/stats;csv", None, None);
    assert_eq!(status, 200);
    let mut reader = csv::ReaderBuilder::new().from_reader(text.trim_start_matches("# ").as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let backend = rows.iter().find(|r| &r[col("pxname")] == "g" && &r[col("svname")] == "BACKEND").unwrap();
    assert_eq!((&backend[col("qcur")], &backend[col("qmax")], &backend[col("status")]), ("1", "1", "UP"));
    let server_row = rows.iter().find(|r| r[col("svname")] == b.addr.to_string()).unwrap();
    assert_eq!((&server_row[col("scur")], &server_row[col("status")]), ("1", "no check"));
    assert!(rows.iter().any(|r| &r[col("pxname")] == "l4" && &r[col("svname")] == "FRONTEND"));
    assert_eq!(header.len(), 62);
    drop(quitter);
    assert!(wait_until(Duration::from_secs(2), || group_figure(&server, "SurgeQueueLength") == 0), "place kept");
    // The place is free: the next request is queued (and served), not spilled.
    assert_eq!(request(addr, "/", 3).0, 200);
    assert_eq!(busy.join().unwrap(), 200);
    assert_eq!(group_figure(&server, "SpilloverCount"), 0);
    assert_eq!(seqs(&b), vec![1, 3], "the request of the client that left was sent");
    assert_eq!(max_in_flight(&b), 1);
}

on_both_drivers!(tcp_sessions_queue_and_spill_over, tcp_sessions);
fn tcp_sessions(driver: Driver) {
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 1, driver);
    config.target_groups[0].max_connections_per_target = 1;
    config.target_groups[0].surge_queue_length = 1;
    let server = Server::start(config, StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let roundtrip = |s: &mut TcpStream, byte: u8| {
        s.write_all(&[byte]).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).map(|_| b[0])
    };
    let mut first = TcpStream::connect(addr).unwrap();
    first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(roundtrip(&mut first, b'a').unwrap(), b'a');
    let mut queued = TcpStream::connect(addr).unwrap();
    queued.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(wait_until(Duration::from_secs(2), || group_figure(&server, "SurgeQueueLength") == 1));
    // The queue is full: the third session is closed at once.
    let mut spilled = TcpStream::connect(addr).unwrap();
    spilled.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1];
    let n = spilled.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the spilled session was not closed");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(group_figure(&server, "SpilloverCount"), 1);
    // The first session ends: the queued one gets the target.
    drop(first);
    assert_eq!(roundtrip(&mut queued, b'b').unwrap(), b'b');
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);
}

/// Two targets of one slot each, both busy with a slow request and two more waiting; then
/// `take_out` removes target a from rotation. The waiters must all be served by b.
fn waiters_go_to_the_other_target(
    driver: Driver,
    tune: impl FnOnce(&mut Config),
    take_out: impl FnOnce(&Server, &HttpBackend),
) {
    let (a, b) = (http_backend(), http_backend());
    let server = limited(driver, &[a.addr, b.addr], 1, 1, 4, tune);
    let addr = server.listener_addr("l4").unwrap();
    let mut clients = Vec::new();
    for i in 1..=4 {
        clients.push(std::thread::spawn(move || request(addr, "/slow?ms=800", i).0));
    }
    wait_for("both targets busy and two waiting", || {
        in_flight(&a) + in_flight(&b) == 2 && group_figure(&server, "SurgeQueueLength") == 2
    });
    let (busy_a, busy_b) = (seqs(&a), seqs(&b));
    assert_eq!(busy_a.len() + busy_b.len(), 2);
    take_out(&server, &a);
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(seqs(&a), busy_a, "the target taken out got a waiter");
    assert_eq!(seqs(&b).len(), busy_b.len() + 2, "the waiters went elsewhere");
    assert_eq!((max_in_flight(&a), max_in_flight(&b)), (1, 1));
}

on_both_drivers!(waiters_for_a_draining_target_are_served_by_the_other, draining_target);
fn draining_target(driver: Driver) {
    waiters_go_to_the_other_target(
        driver,
        |_| {},
        |server, a| assert_eq!(admin(server, "DELETE", &format!("/targets/g/{}", a.addr), None, None).0, 202),
    );
}

on_both_drivers!(waiters_for_a_target_that_turns_unhealthy_are_served_by_the_other, unhealthy_target);
fn unhealthy_target(driver: Driver) {
    let checked = |c: &mut Config| {
        let hc = &mut c.target_groups[0].health_check;
        hc.enabled = true;
        hc.protocol = spillway::config::HealthProtocol::Http;
        hc.path = "/health".into();
        hc.interval = Duration::from_millis(100);
        hc.timeout = Duration::from_millis(50);
        hc.unhealthy_threshold = 1;
    };
    waiters_go_to_the_other_target(driver, checked, |server, a| {
        a.seen.unhealthy.store(true, Ordering::SeqCst);
        let unhealthy = || target_state(server, a.addr).as_deref() == Some("unhealthy");
        assert!(wait_until(Duration::from_secs(2), unhealthy));
    });
}

on_both_drivers!(a_cap_of_one_over_two_shards_serves_clients_on_both, cap_over_two_shards);
fn cap_over_two_shards(driver: Driver) {
    let b = http_backend();
    let server = limited(driver, &[b.addr], 2, 1, 16, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let clients: Vec<_> = (0..10).map(|i| std::thread::spawn(move || request(addr, "/slow?ms=50", i).0)).collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 10], "a shard was starved");
    assert_eq!(group_figure(&server, "SpilloverCount"), 0);
    let max = group_figure(&server, "SurgeQueueLengthMax");
    assert!((1..=9).contains(&max), "queue max {max}");
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 10);
    assert_eq!(max_in_flight(&b), 1, "two requests were at the target at once");
    assert_eq!(group_figure(&server, "SurgeQueueLength"), 0);
}

on_both_drivers!(a_spilled_request_read_whole_keeps_its_connection, spilled_keeps_connection);
fn spilled_keeps_connection(driver: Driver) {
    let b = http_backend();
    let server = limited(driver, &[b.addr], 1, 1, 0, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=1000", 1).0);
    wait_for("the first request at the target", || in_flight(&b) == 1);
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    write!(&s, "POST /echo-body HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello").unwrap();
    let (status, head, _) = read_response(&mut r).unwrap();
    assert_eq!(status, 503, "queue length 0: spilled at once");
    assert!(head.to_ascii_lowercase().contains("connection: keep-alive"), "{head}");
    assert_eq!(busy.join().unwrap(), 200);
    // The same connection carries the next request, and the refused body was not taken for it.
    write!(&s, "POST /echo-body HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
    assert_eq!(group_figure(&server, "SpilloverCount"), 1);
}
