//! The `spillway` binary's life: version, graceful stop (SIGUSR1), stop now (SIGTERM),
//! daemon mode with a pid file, and refusing a port another process listens on.
//!
//! The binary listens on 127.0.0.1:0 and the test learns the port from the process itself
//! (`listening_ports`): no port is picked free, released, and bound later.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_spillway");

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spillway-lifecycle-{}-{name}", std::process::id()))
}

/// Writes a config with one TCP listener on `port` (0: any) to `target`; returns its path.
fn write_config(name: &str, port: u16, target: SocketAddr, extra_runtime: &str) -> PathBuf {
    let path = temp_path(&format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[runtime]\nthreads = 1\npin = false\n{extra_runtime}\n[admin]\nlisten = \"\"\n\
             [[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:{port}\"\nprotocol = \"tcp\"\ntarget_group = \"g\"\n\
             [[target_group]]\nname = \"g\"\ntargets = [ {{ addr = \"{target}\" }} ]\n\
             [target_group.health_check]\nenabled = false\n"
        ),
    )
    .unwrap();
    path
}

/// Starts the binary and waits until it listens; returns it and the port it listens on.
fn start(config: &PathBuf) -> (Child, u16) {
    let child = Command::new(BIN).arg("-f").arg(config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let port = listening_port(child.id());
    (child, port)
}

/// The one port process `pid` listens on, once it does.
fn listening_port(pid: u32) -> u16 {
    let mut ports = Vec::new();
    let listening = wait_until(Duration::from_secs(10), || {
        ports = listening_ports(pid);
        !ports.is_empty()
    });
    assert!(listening, "spillway (pid {pid}) did not start listening");
    assert_eq!(ports.len(), 1, "one listener, no admin API: {ports:?}");
    ports[0]
}

/// A session through spillway on `port` that has carried one byte each way (so it is
/// established end to end, not waiting in a backlog).
fn established_session(port: u16) -> TcpStream {
    let mut session = TcpStream::connect(("127.0.0.1", port)).unwrap();
    session.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    session.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    session.read_exact(&mut b).unwrap();
    session
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill on a process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// Waits for the child to exit, at most `limit`; kills it if it did not.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn version_flag_prints_the_version() {
    for flag in ["-v", "--version"] {
        let out = Command::new(BIN).arg(flag).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.trim(), format!("spillway version {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn sigusr1_closes_the_listener_and_lets_a_session_finish() {
    let echo = echo_server();
    let config = write_config("usr1", 0, echo.addr, "drain_timeout = \"10s\"");
    let (mut child, port) = start(&config);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    let mut session = established_session(port);

    signal(child.id(), libc::SIGUSR1);
    // The listener closes: new clients are refused...
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect(addr).is_err()),
        "the listener still accepts after SIGUSR1"
    );
    // ...while the session in flight goes on to its end.
    assert!(child.try_wait().unwrap().is_none(), "exited with a session in flight");
    session.write_all(b"after").unwrap();
    session.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    session.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "after");
    drop(session);
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("did not exit after its last session");
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigusr1_drain_timeout_closes_an_idle_session() {
    let echo = echo_server();
    let config = write_config("drain", 0, echo.addr, "drain_timeout = \"500ms\"");
    let (mut child, port) = start(&config);
    let mut session = established_session(port);
    let mut b = [0u8; 1];
    let started = Instant::now();
    signal(child.id(), libc::SIGUSR1);
    let status = wait_exit(&mut child, Duration::from_secs(5)).expect("did not exit at the drain timeout");
    assert!(status.success());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "exited after {took:?}, before the drain timeout");
    assert!(matches!(session.read(&mut b), Ok(0) | Err(_)), "the session survived the process");
}

#[test]
fn sigterm_stops_now() {
    let echo = echo_server();
    let config = write_config("term", 0, echo.addr, "drain_timeout = \"30s\"");
    let (mut child, port) = start(&config);
    let mut session = established_session(port);
    let mut b = [0u8; 1];
    signal(child.id(), libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(3)).expect("SIGTERM did not stop it at once");
    assert!(status.success());
    assert!(matches!(session.read(&mut b), Ok(0) | Err(_)));
}

#[test]
fn daemon_mode_writes_the_pid_file_and_serves() {
    let echo = echo_server();
    let config = write_config("daemon", 0, echo.addr, "");
    let pidfile = temp_path("daemon.pid");
    let status = Command::new(BIN)
        .args(["-D", "-p"])
        .arg(&pidfile)
        .arg("-f")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // The parent returns only once the daemon serves.
    assert!(status.success());
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let port = listening_port(pid as u32);
    let reply = send_and_receive(
        ([127, 0, 0, 1], port).into(),
        std::sync::Arc::new(b"hi".to_vec()),
        true,
        Duration::from_secs(5),
    );
    assert_eq!(reply, b"hi");
    // SAFETY: signalling the daemon this test started (its pid from its own pid file).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // SAFETY: signal 0 only checks that the process exists.
    assert!(wait_until(Duration::from_secs(5), || unsafe { libc::kill(pid, 0) } != 0), "daemon still running");
    assert!(wait_until(Duration::from_secs(2), || !pidfile.exists()), "pid file left behind");
}

#[test]
fn a_port_in_use_is_a_clear_error_at_start() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write_config("inuse", port, "127.0.0.1:9".parse().unwrap(), "");
    let out = Command::new(BIN).arg("-f").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("listener l4: cannot listen on 127.0.0.1:{port}")), "{err}");
    assert!(err.contains("in use"), "{err}");
    // Daemon mode reports the same error through the parent.
    let out = Command::new(BIN).arg("-D").arg("-f").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("in use"));
}

#[test]
fn running_out_of_descriptors_is_survived() {
    use std::os::unix::process::CommandExt;
    let echo = echo_server();
    let config = write_config("emfile", 0, echo.addr, "");
    let mut command = Command::new(BIN);
    command.arg("-f").arg(&config).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limit.
    unsafe {
        command.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 48, rlim_max: 48 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    // Its log, read as it comes (a full pipe would block the process).
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (mut err, log) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let emfile_logged = || {
        let log = log.lock().unwrap();
        log.contains("Too many open files") || log.contains("os error 24")
    };
    let addr: SocketAddr = ([127, 0, 0, 1], listening_port(child.id())).into();

    // Far more sessions than 48 descriptors allow: spillway hits EMFILE on accept or connect.
    let mut crowd = Vec::new();
    for _ in 0..60 {
        if let Ok(c) = TcpStream::connect(addr) {
            c.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            crowd.push(c);
        }
    }
    let hit = wait_until(Duration::from_secs(10), emfile_logged);
    assert!(child.try_wait().unwrap().is_none(), "spillway died when descriptors ran out");
    assert!(hit, "EMFILE was never hit; log:\n{}", log.lock().unwrap());
    drop(crowd);

    // Once descriptors are free again, it serves as before.
    let served = wait_until(Duration::from_secs(5), || {
        let mut c = match TcpStream::connect(addr) {
            Ok(c) => c,
            Err(_) => return false,
        };
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut b = [0u8; 2];
        c.write_all(b"ok").is_ok() && c.read_exact(&mut b).is_ok() && &b == b"ok"
    });
    signal(child.id(), libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    reader.join().unwrap();
    let log = log.lock().unwrap();
    assert!(served, "no service after descriptors were freed; log:\n{log}");
    assert!(status.is_some_and(|s| s.success()), "{status:?}; log:\n{log}");
}

#[test]
fn sigterm_during_a_drain_stops_now() {
    let echo = echo_server();
    let config = write_config("drainterm", 0, echo.addr, "drain_timeout = \"30s\"");
    let (mut child, port) = start(&config);
    let _session = established_session(port);
    signal(child.id(), libc::SIGUSR1);
    // The drain has begun once the listener refuses new clients.
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(wait_until(Duration::from_secs(5), || TcpStream::connect(addr).is_err()), "SIGUSR1 began no drain");
    assert!(child.try_wait().unwrap().is_none(), "exited with a session in flight");
    let started = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let status = wait_exit(&mut child, Duration::from_secs(3)).expect("SIGTERM did not cut the drain short");
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn sigint_stops_now() {
    let echo = echo_server();
    let config = write_config("int", 0, echo.addr, "drain_timeout = \"30s\"");
    let (mut child, port) = start(&config);
    let _session = established_session(port);
    signal(child.id(), libc::SIGINT);
    let status = wait_exit(&mut child, Duration::from_secs(3)).expect("SIGINT did not stop it at once");
    assert!(status.success());
}

/// The README's first command: the demo runs the whole job on loopback and reports the surge.
#[test]
fn the_demo_runs_a_surge_and_reports_it() {
    let out = Command::new(BIN).args(["demo", "--seconds", "4"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in ["SurgeQueueLengthMax", "SpilloverCount", "HealthyHostCount", "Written: ", "surge.svg"] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let written = text.lines().find_map(|l| l.strip_prefix("Written: ")).unwrap().trim();
    let dir = std::path::Path::new(written).parent().unwrap();
    for file in ["surge.csv", "surge.svg", "surge.json"] {
        assert!(dir.join(file).metadata().map(|m| m.len() > 0).unwrap_or(false), "{file} not written");
    }
    let _ = std::fs::remove_dir_all(dir);
}
