//! Applying new target groups to a running spillway (the SIGHUP path) without dropping a
//! connection.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Arc,
    time::Duration,
};

use common::*;
use spillway::{
    config::{Driver, Target},
    Server, StartOptions,
};

#[test]
fn new_targets_take_new_sessions_while_old_sessions_go_on() {
    let (old, new) = (echo_server(), echo_server());
    let mut server = Server::start(tcp_config(&[old.addr], 2, Driver::Auto), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();

    // A session on the old target, open across the reload.
    let mut long = TcpStream::connect(addr).unwrap();
    long.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    long.write_all(b"a").unwrap();
    let mut b = [0u8; 1];
    long.read_exact(&mut b).unwrap();

    let mut next = (*server.config()).clone();
    next.target_groups[0].targets = vec![Target::new(new.addr)];
    server.update_groups(next).unwrap();

    // The message reaches each shard between two sessions; give it a moment.
    assert!(wait_until(Duration::from_secs(2), || {
        let _ = send_and_receive(addr, Arc::new(b"probe".to_vec()), true, Duration::from_secs(5));
        new.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 2
    }));
    let before = old.accepted.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..6 {
        assert_eq!(send_and_receive(addr, Arc::new(b"x".to_vec()), true, Duration::from_secs(5)), b"x");
    }
    assert_eq!(old.accepted.load(std::sync::atomic::Ordering::SeqCst), before, "old target still gets sessions");

    // The session that started before the reload is untouched.
    long.write_all(b"b").unwrap();
    long.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"b");

    // The target the new file dropped drains: listed as draining while its session is open,
    // removed once it ends (long before the 300 s deregistration delay).
    let listed = |server: &Server| server.config().target_groups[0].targets.iter().any(|t| t.addr == old.addr);
    let slot = server.control().current().slot("g", old.addr).cloned().expect("still listed while draining");
    assert_eq!(slot.load().state(), spillway::health::HealthState::Draining);
    assert!(listed(&server));
    drop(long);
    assert!(wait_until(Duration::from_secs(5), || !listed(&server)), "the drained target was never removed");
}

#[test]
fn a_kept_target_keeps_its_counters_and_a_listener_change_is_refused() {
    let (a, b) = (echo_server(), echo_server());
    let mut server = Server::start(tcp_config(&[a.addr], 1, Driver::Auto), StartOptions::default()).unwrap();
    let addr = server.listener_addr("l4").unwrap();
    for _ in 0..3 {
        send_and_receive(addr, Arc::new(b"x".to_vec()), true, Duration::from_secs(5));
    }
    let mut next = (*server.config()).clone();
    next.target_groups[0].targets.push(Target::new(b.addr));
    server.update_groups(next.clone()).unwrap();
    assert!(wait_until(Duration::from_secs(2), || server.snapshot().target(b.addr).is_some()));
    assert_eq!(server.snapshot().target(a.addr).unwrap().sessions, 3);

    let mut no_group = next.clone();
    no_group.target_groups[0].name = "other".into();
    let err = server.update_groups(no_group).unwrap_err();
    assert!(err.to_string().contains("names target group g, which the new configuration lacks"), "{err}");

    next.listeners[0].idle_timeout = Duration::from_secs(1);
    let err = server.update_groups(next).unwrap_err();
    assert!(err.to_string().contains("listener l4 changed"), "{err}");
    // Refused reloads changed nothing: the running groups still serve.
    assert_eq!(send_and_receive(addr, Arc::new(b"y".to_vec()), true, Duration::from_secs(5)), b"y");
}

#[test]
fn sighup_rereads_the_file() {
    let (old, new) = (echo_server(), echo_server());
    let path = std::env::temp_dir().join(format!("spillway-reload-{}.toml", std::process::id()));
    let write = |port: u16, target: std::net::SocketAddr| {
        std::fs::write(
            &path,
            format!(
                "[runtime]\nthreads = 1\npin = false\n[admin]\nlisten = \"\"\n[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:{port}\"\n\
                 protocol = \"tcp\"\ntarget_group = \"g\"\n[[target_group]]\nname = \"g\"\n\
                 targets = [ {{ addr = \"{target}\" }} ]\n"
            ),
        )
        .unwrap()
    };
    write(0, old.addr);
    // Started on port 0, the process tells which port it got; the re-read file names that
    // port (a file that still said 0 would count as a changed listener and be refused).
    let (mut child, addr) = spawn_on_file(&path);
    write(addr.port(), new.addr);
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    // The child is killed whatever happens: a failed exchange panics, and a child left running
    // would keep the test runner's inherited descriptors (and any lock on them) open.
    let switched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(Duration::from_secs(5), || {
            let _ = send_and_receive(addr, Arc::new(b"x".to_vec()), true, Duration::from_secs(5));
            new.accepted.load(std::sync::atomic::Ordering::SeqCst) > 0
        })
    }));
    let _ = child.kill();
    let _ = child.wait();
    let switched = switched.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(switched, "sessions did not move to the new target after SIGHUP");
}
