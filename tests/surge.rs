//! The surge queue on real sockets: caps, FIFO order, spillover, queue timeout, clients that
//! leave, TCP sessions, draining targets, and two shards sharing a cap of one.

mod common;

use std::{
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{admin::*, http_backend::*, *};
use spillway::{
    config::{Config, Driver, Protocol},
    Server, StartOptions,
};

/// An HTTP listener over `targets` with a cap per target and a queue.
fn limited(targets: &[SocketAddr], threads: usize, cap: u32, queue: u32, tune: impl FnOnce(&mut Config)) -> Server {
    let mut config = tcp_config(targets, threads, Driver::Auto);
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

#[test]
fn twenty_requests_on_two_targets_of_one_slot_and_a_queue_of_four() {
    let (a, b) = (http_backend(), http_backend());
    let server = limited(&[a.addr, b.addr], 1, 1, 4, |_| {});
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
    let (_, metrics) = admin(&server, "GET", "/metrics", None, None);
    assert!(metrics.contains("spillway_spillover_count_total{target_group=\"g\"} 14"), "{metrics}");
    assert!(metrics.contains("spillway_queue_wait_seconds_count{target_group=\"g\"} 4"), "{metrics}");
    let s = stats(&server);
    let wait = s["target_groups"]["g"]["QueueWait"]["p50"].as_f64().unwrap();
    assert!((0.5..3.0).contains(&wait), "median queue wait {wait} s");
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let b = http_backend();
    let server = limited(&[b.addr], 1, 1, 4, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let mut clients = Vec::new();
    for i in 1..=6 {
        // All six arrive within the first request's 300 ms of service.
        clients.push(std::thread::spawn(move || request(addr, "/slow?ms=300", i).0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 503], "the sixth found the queue full");
    assert_eq!(seqs(&b), vec![1, 2, 3, 4, 5], "not first in, first out");
}

#[test]
fn a_request_that_waits_past_queue_timeout_gets_503_and_is_not_spillover() {
    let b = http_backend();
    let server = limited(&[b.addr], 1, 1, 4, |c| c.target_groups[0].queue_timeout = Duration::from_millis(300));
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=1500", 1).0);
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    let (status, answered) = request(addr, "/", 2);
    assert_eq!(status, 503);
    let waited = answered - asked;
    assert!(waited >= Duration::from_millis(280) && waited < Duration::from_millis(1200), "waited {waited:?}");
    assert_eq!(busy.join().unwrap(), 200);
    assert_eq!(group_figure(&server, "SpilloverCount"), 0);
    assert_eq!(group_figure(&server, "HTTPCode_ELB_5XX"), 1);
    assert_eq!(group_figure(&server, "SurgeQueueLength"), 0);
}

#[test]
fn a_queued_client_that_disconnects_frees_its_place() {
    let b = http_backend();
    let server = limited(&[b.addr], 1, 1, 1, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=1200", 1).0);
    std::thread::sleep(Duration::from_millis(100));
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
}

#[test]
fn tcp_sessions_queue_and_spill_over() {
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 1, Driver::Auto);
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
fn waiters_go_to_the_other_target(tune: impl FnOnce(&mut Config), take_out: impl FnOnce(&Server, &HttpBackend)) {
    let (a, b) = (http_backend(), http_backend());
    let server = limited(&[a.addr, b.addr], 1, 1, 4, tune);
    let addr = server.listener_addr("l4").unwrap();
    let mut clients = Vec::new();
    for i in 1..=4 {
        clients.push(std::thread::spawn(move || request(addr, "/slow?ms=800", i).0));
        std::thread::sleep(Duration::from_millis(40));
    }
    assert!(wait_until(Duration::from_secs(2), || group_figure(&server, "SurgeQueueLength") == 2));
    let (busy_a, busy_b) = (seqs(&a), seqs(&b));
    assert_eq!(busy_a.len() + busy_b.len(), 2);
    take_out(&server, &a);
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(seqs(&a), busy_a, "the target taken out got a waiter");
    assert_eq!(seqs(&b).len(), busy_b.len() + 2, "the waiters went elsewhere");
}

#[test]
fn waiters_for_a_draining_target_are_served_by_the_other() {
    waiters_go_to_the_other_target(
        |_| {},
        |server, a| assert_eq!(admin(server, "DELETE", &format!("/targets/g/{}", a.addr), None, None).0, 202),
    );
}

#[test]
fn waiters_for_a_target_that_turns_unhealthy_are_served_by_the_other() {
    let checked = |c: &mut Config| {
        let hc = &mut c.target_groups[0].health_check;
        hc.enabled = true;
        hc.protocol = spillway::config::HealthProtocol::Http;
        hc.path = "/health".into();
        hc.interval = Duration::from_millis(100);
        hc.timeout = Duration::from_millis(50);
        hc.unhealthy_threshold = 1;
    };
    waiters_go_to_the_other_target(checked, |server, a| {
        a.seen.unhealthy.store(true, Ordering::SeqCst);
        let unhealthy = || target_state(server, a.addr).as_deref() == Some("unhealthy");
        assert!(wait_until(Duration::from_secs(2), unhealthy));
    });
}

#[test]
fn a_cap_of_one_over_two_shards_serves_clients_on_both() {
    let b = http_backend();
    let server = limited(&[b.addr], 2, 1, 16, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let clients: Vec<_> = (0..10).map(|i| std::thread::spawn(move || request(addr, "/slow?ms=50", i).0)).collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(statuses, vec![200; 10], "a shard was starved");
    assert_eq!(group_figure(&server, "SpilloverCount"), 0);
    let max = group_figure(&server, "SurgeQueueLengthMax");
    assert!((1..=9).contains(&max), "queue max {max}");
    // Never two requests at the target at once.
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 10);
    assert_eq!(group_figure(&server, "SurgeQueueLength"), 0);
}

#[test]
fn a_spilled_request_read_whole_keeps_its_connection() {
    let b = http_backend();
    let server = limited(&[b.addr], 1, 1, 0, |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let busy = std::thread::spawn(move || request(addr, "/slow?ms=500", 1).0);
    std::thread::sleep(Duration::from_millis(100));
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
