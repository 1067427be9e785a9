//! HTTP listener scenarios on real loopback sockets: one test per rule of the contract's
//! "HTTP listener behaviour", each run on both drivers.

mod common;

use std::{
    io::{BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{http_backend::*, on_both_drivers, *};
use spillway::{
    config::{Algorithm, Driver, Protocol},
    Server, StartOptions,
};

/// spillway with one HTTP listener `l4` (the name the helpers use) over `targets`.
fn http_server(driver: Driver, targets: &[SocketAddr], tune: impl FnOnce(&mut spillway::config::Config)) -> Server {
    let mut config = tcp_config(targets, 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    tune(&mut config);
    Server::start(config, StartOptions::default()).unwrap()
}

fn connect(server: &Server) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn get(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    let (mut s, mut r) = connect(server);
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    read_response(&mut r).unwrap()
}

on_both_drivers!(
    x_forwarded_headers_are_added_and_the_client_address_appended,
    x_forwarded_headers_are_added_and_the_client_address_appended
);
fn x_forwarded_headers_are_added_and_the_client_address_appended(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let port = server.listener_addr("l4").unwrap().port();
    let (mut s, mut r) = connect(&server);
    write!(
        s,
        "GET /echo-head HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: gopher\r\n\r\n"
    )
    .unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!(status, 200);
    let seen = String::from_utf8(body).unwrap().to_ascii_lowercase();
    assert!(seen.contains("x-forwarded-for: 10.1.2.3, 127.0.0.1\r\n"), "{seen}");
    assert!(seen.contains("x-forwarded-proto: http\r\n"), "{seen}");
    assert!(!seen.contains("gopher"), "{seen}");
    assert!(seen.contains(&format!("x-forwarded-port: {port}\r\n")), "{seen}");

    write!(s, "GET /echo-head HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let seen = String::from_utf8(read_response(&mut r).unwrap().2).unwrap().to_ascii_lowercase();
    assert!(seen.contains("x-forwarded-for: 127.0.0.1\r\n"), "{seen}");
}

on_both_drivers!(
    http10_request_without_host_gets_the_listener_address,
    http10_request_without_host_gets_the_listener_address
);
fn http10_request_without_host_gets_the_listener_address(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let addr = server.listener_addr("l4").unwrap();
    let got = raw_exchange(addr, b"GET /echo-head HTTP/1.0\r\n\r\n", Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.0 200"), "{text}");
    // The listener's configured bind address (127.0.0.1:0 here, as configured).
    assert!(text.contains("host: 127.0.0.1:"), "{text}");
}

on_both_drivers!(
    expect_100_continue_is_answered_by_spillway_and_not_forwarded,
    expect_100_continue_is_answered_by_spillway_and_not_forwarded
);
fn expect_100_continue_is_answered_by_spillway_and_not_forwarded(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    write!(s, "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
    // The 100 arrives before any body byte is sent.
    let mut interim = [0u8; 25];
    r.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    let heads = b.seen.heads.lock().unwrap();
    assert!(!heads[0].to_ascii_lowercase().contains("expect:"), "{}", heads[0]);
}

on_both_drivers!(three_pipelined_requests_are_answered_in_order, three_pipelined_requests_are_answered_in_order);
fn three_pipelined_requests_are_answered_in_order(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    s.write_all(
        b"GET /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\nGET /ping HTTP/1.1\r\nHost: t\r\n\r\nGET /status?code=404 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let answers: Vec<_> = (0..3).map(|_| read_response(&mut r).unwrap()).collect();
    assert_eq!(answers[0].2, b"slow");
    assert_eq!(answers[1].2, b"pong");
    assert_eq!(answers[2].0, 404);
}

on_both_drivers!(chunked_request_and_response_bodies_pass_through, chunked_request_and_response_bodies_pass_through);
fn chunked_request_and_response_bodies_pass_through(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    s.write_all(b"POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"Wikipedia"[..]));
    write!(s, "GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (status, head, body) = read_response(&mut r).unwrap();
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"));
    assert_eq!(body, b"hello, world");
}

on_both_drivers!(an_eight_mib_body_arrives_intact_both_ways, an_eight_mib_body_arrives_intact_both_ways);
fn an_eight_mib_body_arrives_intact_both_ways(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    let body = random_bytes(8 << 20, 8);
    let writer = {
        let mut s = s.try_clone().unwrap();
        let body = body.clone();
        std::thread::spawn(move || {
            write!(s, "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
            s.write_all(&body).unwrap();
        })
    };
    let (status, _, echoed) = read_response(&mut r).unwrap();
    writer.join().unwrap();
    assert_eq!(status, 200);
    assert!(echoed == body, "8 MiB body differs");
    write!(s, "GET /big?bytes={} HTTP/1.1\r\nHost: t\r\n\r\n", 8 << 20).unwrap();
    let (_, _, big) = read_response(&mut r).unwrap();
    assert!(big == pattern(8 << 20));
}

on_both_drivers!(
    two_hundred_requests_on_one_keep_alive_connection_reuse_backend_connections,
    two_hundred_requests_on_one_keep_alive_connection_reuse_backend_connections
);
fn two_hundred_requests_on_one_keep_alive_connection_reuse_backend_connections(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    for i in 0..200 {
        write!(s, "GET /ping?{i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let (status, _, body) = read_response(&mut r).unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"pong"[..]), "request {i}");
    }
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 200);
    // Connection multiplexing: far fewer backend connections than requests.
    assert!(
        b.seen.connections.load(Ordering::SeqCst) <= 2,
        "{} backend connections",
        b.seen.connections.load(Ordering::SeqCst)
    );
    let snap = server.snapshot();
    let t = snap.target(b.addr).unwrap();
    assert_eq!(t.requests, 200);
    assert!(t.reused >= 198, "reused {}", t.reused);
    assert_eq!(snap.listener("l4").unwrap().backend_by_class[1], 200);
}

on_both_drivers!(connection_close_from_the_client_is_honoured, connection_close_from_the_client_is_honoured);
fn connection_close_from_the_client_is_honoured(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let got = raw_exchange(
        server.listener_addr("l4").unwrap(),
        b"GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert!(text.ends_with("pong"), "{text}");
}

on_both_drivers!(
    connection_close_from_the_target_does_not_break_the_client,
    connection_close_from_the_target_does_not_break_the_client
);
fn connection_close_from_the_target_does_not_break_the_client(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    write!(s, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r).unwrap().2, b"bye");
    write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r).unwrap().2, b"pong");
}

/// Sends `request` and expects spillway's own `status`, the connection closed, and nothing at
/// the target.
fn expect_rejection(driver: Driver, request: &[u8], status: u16) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let got = raw_exchange(server.listener_addr("l4").unwrap(), request, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "expected {status}, got: {text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 0, "the target saw the request");
    let snap = server.snapshot();
    let l = snap.listener("l4").unwrap();
    assert_eq!(l.elb_4xx + l.elb_5xx, 1);
}

on_both_drivers!(
    content_length_with_transfer_encoding_is_400_and_nothing_is_smuggled,
    content_length_with_transfer_encoding_is_400_and_nothing_is_smuggled
);
fn content_length_with_transfer_encoding_is_400_and_nothing_is_smuggled(driver: Driver) {
    expect_rejection(
        driver,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
        400,
    );
}

on_both_drivers!(differing_content_lengths_are_400, differing_content_lengths_are_400);
fn differing_content_lengths_are_400(driver: Driver) {
    expect_rejection(driver, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
}

on_both_drivers!(obs_fold_is_400, obs_fold_is_400);
fn obs_fold_is_400(driver: Driver) {
    expect_rejection(driver, b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: a\r\n b\r\n\r\n", 400);
}

on_both_drivers!(space_before_colon_is_400, space_before_colon_is_400);
fn space_before_colon_is_400(driver: Driver) {
    expect_rejection(driver, b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400);
}

on_both_drivers!(a_bad_chunk_size_is_400, a_bad_chunk_size_is_400);
fn a_bad_chunk_size_is_400(driver: Driver) {
    // The head is streamed to the target before the body's framing is known to be bad (as
    // HAProxy does); the client gets 400, the backend connection is dropped, and the target
    // never receives a complete request to answer.
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let got = raw_exchange(
        server.listener_addr("l4").unwrap(),
        b"POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(5),
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(!text.contains("hello"), "the target answered a broken body: {text}");
    assert_eq!(server.snapshot().listener("l4").unwrap().elb_4xx, 1);
    assert!(wait_until(Duration::from_secs(2), || server.snapshot().target(b.addr).unwrap().connections == 0));
}

on_both_drivers!(an_unknown_transfer_coding_is_501, an_unknown_transfer_coding_is_501);
fn an_unknown_transfer_coding_is_501(driver: Driver) {
    expect_rejection(driver, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: rot13, chunked\r\n\r\n0\r\n\r\n", 501);
}

on_both_drivers!(a_request_line_over_16_kib_is_414, a_request_line_over_16_kib_is_414);
fn a_request_line_over_16_kib_is_414(driver: Driver) {
    let mut req = b"GET /".to_vec();
    req.extend(std::iter::repeat_n(b'a', 17 * 1024));
    req.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_rejection(driver, &req, 414);
}

on_both_drivers!(a_header_over_16_kib_is_431, a_header_over_16_kib_is_431);
fn a_header_over_16_kib_is_431(driver: Driver) {
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'b', 17 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    expect_rejection(driver, &req, 431);
}

on_both_drivers!(headers_over_64_kib_in_all_are_431, headers_over_64_kib_in_all_are_431);
fn headers_over_64_kib_in_all_are_431(driver: Driver) {
    let mut req = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..10 {
        req.extend_from_slice(format!("X-H{i}: ").as_bytes());
        req.extend(std::iter::repeat_n(b'c', 8 * 1024));
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    expect_rejection(driver, &req, 431);
}

on_both_drivers!(a_slow_request_head_gets_408, a_slow_request_head_gets_408);
fn a_slow_request_head_gets_408(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |c| c.listeners[0].request_timeout = Duration::from_millis(300));
    let (mut s, _) = connect(&server);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap(); // never finished
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&got));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.snapshot().listener("l4").unwrap().elb_4xx, 1);
}

on_both_drivers!(a_slow_target_gets_504, a_slow_target_gets_504);
fn a_slow_target_gets_504(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |c| c.target_groups[0].response_timeout = Duration::from_millis(300));
    let (status, _, _) = get(&server, "/slow?ms=2000");
    assert_eq!(status, 504);
    assert_eq!(server.snapshot().listener("l4").unwrap().elb_5xx, 1);
}

on_both_drivers!(
    a_target_that_resets_gets_502_and_other_requests_go_on,
    a_target_that_resets_gets_502_and_other_requests_go_on
);
fn a_target_that_resets_gets_502_and_other_requests_go_on(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let slow = std::thread::spawn({
        let addr = server.listener_addr("l4").unwrap();
        move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(s, "GET /slow?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            read_response(&mut BufReader::new(s)).unwrap().2
        }
    });
    assert!(
        wait_until(Duration::from_secs(10), || b.seen.in_flight.load(Ordering::SeqCst) == 1),
        "the slow request never reached the target"
    );
    assert_eq!(get(&server, "/reset").0, 502);
    assert_eq!(get(&server, "/garbage").0, 502);
    assert_eq!(slow.join().unwrap(), b"slow", "the request in flight elsewhere was disturbed");
    assert_eq!(get(&server, "/ping").2, b"pong");
}

on_both_drivers!(no_reachable_target_is_503, no_reachable_target_is_503);
fn no_reachable_target_is_503(driver: Driver) {
    let server = http_server(driver, &[refusing_addr()], |_| {});
    assert_eq!(get(&server, "/").0, 503);
}

on_both_drivers!(
    a_target_closing_an_idle_pooled_connection_is_survived,
    a_target_closing_an_idle_pooled_connection_is_survived
);
fn a_target_closing_an_idle_pooled_connection_is_survived(driver: Driver) {
    // The target closes keep-alive connections idle for 200 ms; the pooled one dies while idle
    // and the next request must still succeed (on a new connection). Each round waits until
    // the target has closed the connection (not for a time that should be long enough).
    let b = http_backend_with_keep_alive(Duration::from_millis(200));
    let server = http_server(driver, &[b.addr], |_| {});
    for round in 0..3 {
        assert_eq!(get(&server, "/ping").2, b"pong", "round {round}");
        let closed = || b.seen.closed.load(Ordering::SeqCst) == round + 1;
        assert!(wait_until(Duration::from_secs(10), closed), "round {round}: the target kept the connection");
    }
    assert_eq!(b.seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(b.seen.connections.load(Ordering::SeqCst), 3, "a dead pooled connection was reused");
    assert_eq!(server.snapshot().listener("l4").unwrap().elb_5xx, 0);
}

on_both_drivers!(a_target_answering_connection_close_is_not_pooled, a_target_answering_connection_close_is_not_pooled);
fn a_target_answering_connection_close_is_not_pooled(driver: Driver) {
    // The test backend closes after `/close`; spillway must not reuse that connection.
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    for _ in 0..5 {
        assert_eq!(get(&server, "/close").2, b"bye");
        assert_eq!(get(&server, "/ping").2, b"pong");
    }
}

on_both_drivers!(
    least_outstanding_requests_sends_fewer_requests_to_a_slow_target,
    least_outstanding_requests_sends_fewer_requests_to_a_slow_target
);
fn least_outstanding_requests_sends_fewer_requests_to_a_slow_target(driver: Driver) {
    let fast = http_backend();
    let slow = http_backend_with_delay(Duration::from_millis(100));
    let server = http_server(driver, &[fast.addr, slow.addr], |c| {
        c.target_groups[0].algorithm = Algorithm::LeastOutstandingRequests;
    });
    let addr = server.listener_addr("l4").unwrap();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                for _ in 0..25 {
                    write!(s, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut r).unwrap().0, 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (f, s) = (fast.seen.requests.load(Ordering::SeqCst), slow.seen.requests.load(Ordering::SeqCst));
    assert_eq!(f + s, 200);
    // Round robin would give each 100; the slow target's requests stay outstanding, so it
    // gets far fewer.
    assert!(s * 2 < f, "fast {f}, slow {s}");
}

on_both_drivers!(websocket_upgrade_becomes_a_tunnel_both_ways, websocket_upgrade_becomes_a_tunnel_both_ways);
fn websocket_upgrade_becomes_a_tunnel_both_ways(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut r).unwrap();
    assert_eq!(status, 101);
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
    for msg in [&b"frame one"[..], b"frame two", &[0u8, 1, 2, 255]] {
        s.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        r.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
}

on_both_drivers!(a_head_arriving_one_byte_at_a_time_is_served, a_head_arriving_one_byte_at_a_time_is_served);
fn a_head_arriving_one_byte_at_a_time_is_served(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    s.set_nodelay(true).unwrap();
    for byte in b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Slow: drip\r\n\r\n" {
        s.write_all(&[*byte]).unwrap();
        // Kept: the gaps are the behaviour under test (each byte its own segment).
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_response(&mut r).unwrap().2, b"pong");
}

on_both_drivers!(
    a_streamed_body_followed_by_a_pipelined_request_keeps_both_intact,
    a_streamed_body_followed_by_a_pipelined_request_keeps_both_intact
);
fn a_streamed_body_followed_by_a_pipelined_request_keeps_both_intact(driver: Driver) {
    // The body arrives in two parts (so it is relayed, not sent from the buffer), and the next
    // request, longer than the body, is already pipelined behind it.
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    let (mut s, mut r) = connect(&server);
    s.set_nodelay(true).unwrap();
    s.write_all(b"POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nfirst").unwrap();
    // The head has reached the target: the first part of the body was read on its own.
    assert!(wait_until(Duration::from_secs(10), || b.seen.requests.load(Ordering::SeqCst) == 1));
    // One write, so the body's tail and the next request arrive in the same read.
    s.write_all(b"-halfGET /ping HTTP/1.1\r\nHost: t\r\nX-Padding: make-this-request-longer-than-the-body\r\n\r\n")
        .unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"first-half"[..]));
    let (status, _, body) = read_response(&mut r).unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"pong"[..]));
}

on_both_drivers!(
    a_switch_of_protocols_nobody_asked_for_is_502_and_not_pooled,
    a_switch_of_protocols_nobody_asked_for_is_502_and_not_pooled
);
fn a_switch_of_protocols_nobody_asked_for_is_502_and_not_pooled(driver: Driver) {
    let b = http_backend();
    let server = http_server(driver, &[b.addr], |_| {});
    assert_eq!(get(&server, "/unasked-101").0, 502);
    assert_eq!(get(&server, "/ping").2, b"pong");
    assert_eq!(b.seen.connections.load(Ordering::SeqCst), 2, "the switched connection was reused");
}
