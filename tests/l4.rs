//! Layer-4 (TCP listener) scenarios on real loopback sockets, on both drivers.

mod common;

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpStream},
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use common::{on_both_drivers, *};
use spillway::{config::Driver, Server, StartOptions};

const MIB: usize = 1024 * 1024;

on_both_drivers!(sixty_four_mib_round_trip_is_byte_identical, round_trip_64mib);
fn round_trip_64mib(driver: Driver) {
    let echo = echo_server();
    let server = Server::start(tcp_config(&[echo.addr], 1, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let data = Arc::new(random_bytes(64 * MIB, 0x5eed));

    // Watch this process's threads during the transfer: splice must not park io_uring kernel
    // workers (iou-wrk), which would run off the shard's core.
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while watching.load(Ordering::SeqCst) {
                seen.extend(thread_names().into_iter().filter(|n| n.starts_with("iou-wrk")));
                // Kept: the sampling period of the watch, not a wait for an outcome.
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };
    let received = send_and_receive(addr, data.clone(), false, Duration::from_secs(30));
    watching.store(false, Ordering::SeqCst);
    let io_workers = watcher.join().unwrap();

    assert_eq!(received.len(), data.len());
    assert!(received == *data, "bytes differ after the round trip");
    assert!(io_workers.is_empty(), "io_uring kernel workers appeared during the transfer: {io_workers:?}");

    // Byte counters per listener and per target.
    assert!(wait_until(Duration::from_secs(2), || {
        let s = server.snapshot();
        let l = s.listener("l4").unwrap();
        l.bytes_in == data.len() as u64 && l.bytes_out == data.len() as u64
    }));
    let s = server.snapshot();
    let t = s.target(echo.addr).unwrap();
    assert_eq!((t.bytes_in, t.bytes_out, t.sessions), (data.len() as u64, data.len() as u64, 1));
}

on_both_drivers!(client_half_close_reaches_target_and_reply_arrives_whole, half_close_64mib);
fn half_close_64mib(driver: Driver) {
    let echo = echo_server();
    let server = Server::start(tcp_config(&[echo.addr], 1, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let data = Arc::new(random_bytes(64 * MIB, 0xbeef));
    let received = send_and_receive(addr, data.clone(), true, Duration::from_secs(30));
    assert_eq!(echo.eofs.load(Ordering::SeqCst), 1, "the target did not see the client's EOF");
    assert_eq!(received.len(), data.len(), "the reply after the half-close was cut");
    assert!(received == *data);
}

on_both_drivers!(small_exchange_after_half_close, half_close_small);
fn half_close_small(driver: Driver) {
    // A request/reply protocol that relies on half-close: write, shut down, read to EOF.
    let echo = echo_server();
    let server = Server::start(tcp_config(&[echo.addr], 1, driver), StartOptions::default()).unwrap();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"ping").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "ping");
}

on_both_drivers!(refused_target_is_skipped, refused_target);
fn refused_target(driver: Driver) {
    let echo = echo_server();
    let dead = refusing_addr();
    let server = Server::start(tcp_config(&[dead, echo.addr], 1, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    for i in 0..6 {
        let msg = format!("hello {i}");
        let reply = send_and_receive(addr, Arc::new(msg.clone().into_bytes()), true, Duration::from_secs(5));
        assert_eq!(String::from_utf8(reply).unwrap(), msg);
    }
    let s = server.snapshot();
    assert_eq!(s.target(echo.addr).unwrap().sessions, 6);
    assert_eq!(s.target(dead).unwrap().sessions, 0);
    assert!(s.target(dead).unwrap().connect_errors >= 3, "round robin should have tried the dead target");
}

on_both_drivers!(all_targets_down_closes_client_within_connect_timeouts, all_targets_down);
fn all_targets_down(driver: Driver) {
    let holes = [black_hole(), black_hole()];
    let echo = echo_server();
    let mut config = tcp_config(&[holes[0].addr, holes[1].addr], 1, driver);
    let connect_timeout = Duration::from_millis(300);
    config.target_groups[0].connect_timeout = connect_timeout;
    // A second listener to a healthy group proves spillway keeps serving.
    let mut healthy = spillway::config::Listener::with_defaults(
        "ok",
        "127.0.0.1:0".parse().unwrap(),
        spillway::config::Protocol::Tcp,
        "h",
    );
    healthy.idle_timeout = Duration::from_secs(5);
    config.listeners.push(healthy);
    config
        .target_groups
        .push(spillway::config::TargetGroup::with_defaults("h", vec![spillway::config::Target::new(echo.addr)]));
    let server = Server::start(config, StartOptions::default()).unwrap();

    let started = Instant::now();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    let r = c.read(&mut buf);
    let took = started.elapsed();
    assert!(matches!(r, Ok(0)) || r.is_err(), "expected the client to be closed, got {r:?}");
    let budget = connect_timeout * 2;
    assert!(took >= budget - Duration::from_millis(50), "closed after {took:?}: it did not try both targets");
    assert!(took < budget + Duration::from_millis(700), "closed after {took:?}, budget {budget:?}");

    let reply = send_and_receive(
        server.listener_addr("ok").unwrap(),
        Arc::new(b"still here".to_vec()),
        true,
        Duration::from_secs(5),
    );
    assert_eq!(reply, b"still here");
    let s = server.snapshot();
    assert_eq!(s.listener("l4").unwrap().no_target, 1);
    assert_eq!(s.target(holes[0].addr).unwrap().connect_errors, 1);
    assert_eq!(s.target(holes[1].addr).unwrap().connect_errors, 1);
}

on_both_drivers!(idle_timeout_closes_a_silent_session, idle_timeout);
fn idle_timeout(driver: Driver) {
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 1, driver);
    let idle = Duration::from_millis(400);
    config.listeners[0].idle_timeout = idle;
    let server = Server::start(config, StartOptions::default()).unwrap();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Activity keeps the session open past the limit...
    let started = Instant::now();
    for _ in 0..4 {
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        // Kept: activity spaced under the idle limit is the behaviour under test.
        std::thread::sleep(idle / 2);
    }
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert!(started.elapsed() > idle);
    // ...and silence closes it.
    let quiet = Instant::now();
    let r = c.read(&mut b);
    let took = quiet.elapsed();
    assert!(matches!(r, Ok(0)), "expected EOF, got {r:?}");
    assert!(took >= idle - Duration::from_millis(20) && took < idle * 3, "closed after {took:?}");
}

on_both_drivers!(max_connections_holds_the_count_at_the_cap, max_connections);
fn max_connections(driver: Driver) {
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 2, driver);
    config.runtime.max_connections = 3;
    let server = Server::start(config, StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let mut clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &clients {
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    }
    // Three are accepted; the served count below shows the other two never are.
    assert!(wait_until(Duration::from_secs(10), || server.open_connections() == 3), "{}", server.open_connections());
    assert_eq!(server.snapshot().sessions, 3);
    // Exactly three clients are served; the other two wait in the kernel's backlog.
    let mut served = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(b"?").unwrap();
        let mut b = [0u8; 1];
        if c.read_exact(&mut b).is_ok() {
            served.push(i);
        }
    }
    assert_eq!(served.len(), 3, "served: {served:?}");
    // Closing one lets one waiting client in.
    let waiting: Vec<usize> = (0..5).filter(|i| !served.contains(i)).collect();
    clients.remove(served[0]);
    assert!(wait_until(Duration::from_secs(2), || server.snapshot().listener("l4").unwrap().accepted == 4));
    assert_eq!(server.open_connections(), 3);
    let newly_served = waiting
        .iter()
        .map(|&i| if i > served[0] { i - 1 } else { i })
        .filter(|&i| {
            let mut b = [0u8; 1];
            clients[i].set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            clients[i].read_exact(&mut b).is_ok()
        })
        .count();
    assert_eq!(newly_served, 1);
}

#[test]
fn a_second_instance_on_the_same_port_is_refused() {
    let echo = echo_server();
    let first = Server::start(tcp_config(&[echo.addr], 1, Driver::Auto), StartOptions::default()).unwrap();
    let mut config = tcp_config(&[echo.addr], 1, Driver::Auto);
    config.listeners[0].bind = first.listener_addr("l4").unwrap();
    let err = Server::start(config, StartOptions::default()).err().expect("second start must fail");
    let text = err.to_string();
    assert!(text.contains("in use") || text.contains("Address already"), "{text}");
    assert!(text.contains("listener l4"), "{text}");
}

on_both_drivers!(copy_fallback_round_trip_is_byte_identical, copy_fallback);
fn copy_fallback(driver: Driver) {
    // `splice = false` takes the same path as a kernel that refuses splice: the copy loop.
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 1, driver);
    config.runtime.splice = false;
    let server = Server::start(config, StartOptions::default()).unwrap();
    let data = Arc::new(random_bytes(16 * MIB, 0xc0b1));
    let received = send_and_receive(server.listener_addr("l4").unwrap(), data.clone(), true, Duration::from_secs(30));
    assert_eq!(echo.eofs.load(Ordering::SeqCst), 1);
    assert!(received == *data, "bytes differ on the copy path");
    let s = server.snapshot();
    assert_eq!(s.pipes_pooled + s.pipes_in_use, 0, "the copy path must not take pipes");
    assert_eq!(s.listener("l4").unwrap().bytes_out, data.len() as u64);
}

/// Reads until EOF or an error; returns the bytes and whether it ended in a reset.
fn read_to_end_or_reset(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, false),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

on_both_drivers!(a_target_reset_reaches_the_client_as_a_reset, target_reset);
fn target_reset(driver: Driver) {
    // A close-delimited transfer cut by a reset must not look complete to the client.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap();
    let (delivered_tx, delivered_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut s, _) = target.accept().unwrap();
        s.write_all(b"partial").unwrap();
        // Reset once the client has the bytes (dropping the socket with linger 0 sends RST).
        let _ = delivered_rx.recv_timeout(Duration::from_secs(10));
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let server = Server::start(tcp_config(&[target_addr], 1, driver), StartOptions::default()).unwrap();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut partial = [0u8; 7];
    c.read_exact(&mut partial).unwrap();
    assert_eq!(&partial, b"partial");
    delivered_tx.send(()).unwrap();
    let (_, reset) = read_to_end_or_reset(&mut c);
    assert!(reset, "the target's reset reached the client as a clean end of stream");
}

on_both_drivers!(a_client_reset_reaches_the_target_as_a_reset, client_reset);
fn client_reset(driver: Driver) {
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap();
    let (got_byte_tx, got_byte_rx) = std::sync::mpsc::channel();
    let seen = std::thread::spawn(move || {
        let (mut s, _) = target.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        got_byte_tx.send(()).unwrap();
        read_to_end_or_reset(&mut s).1
    });
    let server = Server::start(tcp_config(&[target_addr], 1, driver), StartOptions::default()).unwrap();
    let mut c = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    c.write_all(b"x").unwrap();
    got_byte_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    assert!(seen.join().unwrap(), "the client's reset reached the target as a clean end of stream");
    drop(server);
}

on_both_drivers!(stop_closes_sessions_and_listeners, stop_closes_everything);
fn stop_closes_everything(driver: Driver) {
    let echo = echo_server();
    let server = Server::start(tcp_config(&[echo.addr], 2, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let mut sessions: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
    for c in &mut sessions {
        let mut b = [0u8; 1];
        assert!(matches!(c.read(&mut b), Ok(0) | Err(_)), "a session outlived stop()");
    }
    assert!(TcpStream::connect(addr).is_err(), "the listener outlived stop()");
}

on_both_drivers!(drain_timeout_closes_what_is_left_in_process, drain_closes_leftovers);
fn drain_closes_leftovers(driver: Driver) {
    let echo = echo_server();
    let server = Server::start(tcp_config(&[echo.addr], 1, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    server.drain(Duration::from_millis(200));
    assert!(matches!(c.read(&mut b), Ok(0) | Err(_)), "a session outlived the drain deadline");
    assert!(TcpStream::connect(addr).is_err(), "the listener outlived the drain");
}
