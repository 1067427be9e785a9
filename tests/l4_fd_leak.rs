//! 1,000 concurrent sessions through one TCP listener served by 2 shards: every session
//! completes with its bytes intact, and the process's file descriptors return to where they
//! were (less the shard's pooled pipes, which are counted and accounted for).
//!
//! A test binary of its own: it counts the descriptors of the whole process, which tests
//! running beside it would disturb.

mod common;

use std::{cell::Cell, net::SocketAddr, rc::Rc, time::Duration};

use common::*;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use spillway::{config::Driver, Server, StartOptions};

const SESSIONS: usize = 1000;
const PAYLOAD: usize = 16 * 1024;

/// Opens `SESSIONS` connections, waits until all are established end to end, then has each
/// send its payload, half-close and read the echo to EOF. Returns how many got their bytes
/// back intact, and the most sessions spillway reported open at once.
fn run_clients(
    rt: &mut monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>>,
    addr: SocketAddr,
    server: &Server,
) -> (usize, u64) {
    let established = Rc::new(Cell::new(0usize));
    let go = Rc::new(Cell::new(false));
    let ok = Rc::new(Cell::new(0usize));
    let mut peak = 0;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..SESSIONS {
            let (established, go, ok) = (established.clone(), go.clone(), ok.clone());
            tasks.push(monoio::spawn(async move {
                let mut s = monoio::net::TcpStream::connect_addr(addr).await.expect("connect");
                // One byte there and back: the session reaches the target.
                let (r, _) = s.write_all(vec![b'!']).await;
                r.unwrap();
                let (r, _) = s.read(vec![0u8; 1]).await;
                assert_eq!(r.unwrap(), 1);
                established.set(established.get() + 1);
                while !go.get() {
                    monoio::time::sleep(Duration::from_millis(2)).await;
                }
                let payload = random_bytes(PAYLOAD, i as u64 + 1);
                let (r, _) = s.write_all(payload.clone()).await;
                r.unwrap();
                s.shutdown().await.unwrap();
                let mut got = Vec::with_capacity(PAYLOAD);
                let mut buf = vec![0u8; 8192];
                loop {
                    let (r, b) = s.read(buf).await;
                    buf = b;
                    match r {
                        Ok(0) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) => panic!("session {i}: {e}"),
                    }
                }
                if got == payload {
                    ok.set(ok.get() + 1);
                }
            }));
        }
        let waited = monoio::time::timeout(Duration::from_secs(20), async {
            while established.get() < SESSIONS {
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "only {} of {SESSIONS} sessions were established", established.get());
        peak = server.snapshot().sessions;
        go.set(true);
        for t in tasks {
            t.await;
        }
    });
    (ok.get(), peak)
}

fn scenario(driver: Driver) {
    let echo = echo_server();
    let before_server = open_fds();
    let server = Server::start(tcp_config(&[echo.addr], 2, driver), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    // The clients' runtime is built before the baseline, so its own descriptors are in it.
    let mut client_rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
    // A shard reports ready before its parking lot has opened its epoll descriptor (on the lot
    // task's first poll): wait until the count has held still for 200 ms before taking it.
    let mut last = (open_fds(), 0);
    let settled = wait_until(Duration::from_secs(3), || {
        let now = open_fds();
        last = if now == last.0 { (now, last.1 + 1) } else { (now, 0) };
        last.1 >= 20 // wait_until looks every 10 ms
    });
    assert!(settled, "the descriptor count did not settle after start");
    let baseline = open_fds();
    let baseline_kinds = fd_kinds();

    let (intact, peak) = run_clients(&mut client_rt, addr, &server);
    assert_eq!(intact, SESSIONS, "{driver:?}: sessions with their bytes intact");
    assert_eq!(peak, SESSIONS as u64, "{driver:?}: all sessions were open at once");

    assert!(wait_until(Duration::from_secs(10), || server.snapshot().sessions == 0), "{driver:?}: sessions still open");
    let snap = server.snapshot();
    assert_eq!(snap.pipes_in_use, 0, "{driver:?}: pipes still lent out");
    assert_eq!(snap.listener("l4").unwrap().accepted, SESSIONS as u64);
    // Pooled pipes are kept on purpose (two descriptors each); everything else must be closed.
    let expected = baseline + 2 * snap.pipes_pooled as usize;
    assert!(
        wait_until(Duration::from_secs(10), || open_fds() == expected),
        "{driver:?}: {} descriptors open, expected {expected} ({} pooled pipes); new: {:?}",
        open_fds(),
        snap.pipes_pooled,
        {
            // Multiset difference: identical names (anon inodes) count one by one.
            let mut left = baseline_kinds.clone();
            fd_kinds()
                .into_iter()
                .filter(|k| match left.iter().position(|b| b == k) {
                    Some(i) => {
                        left.remove(i);
                        false
                    }
                    None => true,
                })
                .collect::<Vec<_>>()
        }
    );
    // Stopping closes everything the server had: listeners, pipes, runtimes, mailboxes.
    drop(client_rt);
    server.stop();
    assert!(
        wait_until(Duration::from_secs(5), || open_fds() == before_server),
        "{driver:?}: {} descriptors open after stop, {before_server} before the server started",
        open_fds()
    );
}

#[test]
fn thousand_concurrent_sessions_two_shards_then_no_descriptor_leak() {
    scenario(Driver::IoUring);
    scenario(Driver::Epoll);
}
