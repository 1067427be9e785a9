//! Seamless reload through the binary, as a perf-test script does it: `spillway -f x -sf PID`
//! five times under load, with no refused, reset or failed request, every old process exiting
//! 0; and the HAProxy way with `-D -p pidfile`.

mod common;

use std::{
    io::{BufReader, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{http_backend::*, listening_ports, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_spillway");

/// The (listener, admin) ports process `pid` listens on, once it listens on both: started on
/// port 0, it tells the test which ports it got (no port is picked free and bound later). The
/// admin API is the one whose `/stats` is spillway's JSON.
fn listener_and_admin_ports(pid: u32) -> (u16, u16) {
    let mut ports = Vec::new();
    let both = wait_until(Duration::from_secs(10), || {
        ports = listening_ports(pid);
        ports.len() == 2
    });
    assert!(both, "spillway (pid {pid}) listens on {ports:?}, expected a listener and the admin API");
    let is_admin = |port: u16| {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        write!(&s, "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        read_response(&mut r).is_ok_and(|(_, _, body)| String::from_utf8_lossy(&body).contains("\"target_groups\""))
    };
    if is_admin(ports[1]) {
        (ports[0], ports[1])
    } else {
        assert!(is_admin(ports[0]), "neither of {ports:?} serves the admin API");
        (ports[1], ports[0])
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spillway-upgrade-{}-{name}", std::process::id()))
}

/// A native configuration with an HTTP listener, the admin API and an upgrade socket.
fn write_config(port: u16, admin: u16, backend: SocketAddr) -> (PathBuf, PathBuf) {
    let (path, socket) = (temp("x.toml"), temp("upgrade.sock"));
    std::fs::write(
        &path,
        format!(
            "[runtime]\nthreads = 2\npin = false\ndrain_timeout = \"10s\"\nupgrade_socket = \"{}\"\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\ntarget_group = \"g\"\n\
             [[target_group]]\nname = \"g\"\ntargets = [ {{ addr = \"{backend}\" }} ]\n\
             [target_group.health_check]\nenabled = false\n",
            socket.display()
        ),
    )
    .unwrap();
    (path, socket)
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// New connection per request until `stop`.
fn churn_client(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::SeqCst) {
        let s = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                tally.fail(format!("connect: {e}"));
                continue;
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        if let Err(e) = write!(&s, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") {
            tally.fail(format!("write: {e}"));
            continue;
        }
        match read_response(&mut r) {
            Ok((200, _, _)) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, _, _)) => tally.fail(format!("status {status}")),
            Err(e) => tally.fail(format!("read: {e}")),
        }
    }
}

/// Keep-alive requests until `stop`; reconnects only when the server said `Connection: close`.
fn keep_alive_client(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    'connection: while !stop.load(Ordering::SeqCst) {
        let s = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                tally.fail(format!("keep-alive connect: {e}"));
                continue;
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = write!(&s, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") {
                tally.fail(format!("keep-alive write: {e}"));
                continue 'connection;
            }
            match read_response(&mut r) {
                Ok((200, head, _)) => {
                    tally.ok.fetch_add(1, Ordering::SeqCst);
                    if head.to_ascii_lowercase().contains("connection: close") {
                        continue 'connection;
                    }
                }
                Ok((status, _, _)) => tally.fail(format!("keep-alive status {status}")),
                Err(e) => {
                    tally.fail(format!("keep-alive read: {e}"));
                    continue 'connection;
                }
            }
        }
    }
}

#[test]
fn five_reloads_under_load_lose_nothing() {
    let backend = http_backend();
    // The first process binds port 0 for both; the file then names the ports it got, so that
    // the reloads take those sockets over.
    let (config, socket) = write_config(0, 0, backend.addr);
    let cfg = config.to_str().unwrap();
    let mut current = spawn(&["-f", cfg]);
    let (port, admin) = listener_and_admin_ports(current.id());
    write_config(port, admin, backend.addr);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(wait_until(Duration::from_secs(10), || socket.exists()), "no upgrade socket");

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = [churn_client as fn(_, _, _), churn_client, keep_alive_client]
        .into_iter()
        .map(|f| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || f(addr, stop, tally))
        })
        .collect();
    let mut exits = Vec::new();
    // Five reloads spread over five seconds of load (the clients run from here to `stop`).
    let load_started = Instant::now();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(800));
        let old_pid = current.id().to_string();
        let next = spawn(&["-f", cfg, "-sf", &old_pid]);
        exits.push(wait_exit(&mut current, Duration::from_secs(15)));
        current = next;
    }
    std::thread::sleep(Duration::from_secs(5).saturating_sub(load_started.elapsed()));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    // The last one serves the admin API on the port it took over.
    let stats = TcpStream::connect(("127.0.0.1", admin));
    assert!(stats.is_ok(), "the admin API did not survive the reloads");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(current.id() as i32, libc::SIGTERM) };
    exits.push(wait_exit(&mut current, Duration::from_secs(10)));

    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failed requests during the reloads: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(tally.ok.load(Ordering::SeqCst) > 200, "too little traffic: {}", tally.ok.load(Ordering::SeqCst));
    assert_eq!(exits, vec![Some(0); 6], "every old process exits 0");
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_file(socket);
}

/// The perf-test script idiom, unchanged from HAProxy's: `-D -p pidfile`, then
/// `-D -p pidfile -sf $(cat pidfile)`, then stop by the pid file.
#[test]
fn the_haproxy_script_idiom_works_with_a_haproxy_cfg() {
    let backend = http_backend();
    let (cfg, socket, pidfile) = (temp("perf.cfg"), temp("perf.sock"), temp("perf.pid"));
    let write_cfg = |port: u16, admin: u16| {
        std::fs::write(
            &cfg,
            format!(
                "global\n    stats socket {} mode 600 expose-fd listeners\n    nbthread 1\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
             frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\
             backend be\n    server s1 {}\n\
             listen stats\n    bind 127.0.0.1:{admin}\n    stats enable\n",
                socket.display(),
                backend.addr
            ),
        )
        .unwrap()
    };
    // The first process binds port 0 for both; the file then names the ports it got, so that
    // the reload takes those sockets over.
    write_cfg(0, 0);
    let (cfg_s, pid_s) = (cfg.to_str().unwrap(), pidfile.to_str().unwrap());
    let read_pid = || std::fs::read_to_string(&pidfile).unwrap().trim().parse::<i32>().unwrap();
    // SAFETY: signal 0 only checks that the process exists.
    let alive = |pid: i32| unsafe { libc::kill(pid, 0) } == 0;
    let get = |port: u16| {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        write!(&s, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        read_response(&mut r).unwrap().0
    };

    // -D returns once the daemon serves.
    let status = Command::new(BIN).args(["-f", cfg_s, "-D", "-p", pid_s]).status().unwrap();
    assert!(status.success());
    let first = read_pid();
    let (port, admin) = listener_and_admin_ports(first as u32);
    write_cfg(port, admin);
    assert_eq!(get(port), 200);

    let status = Command::new(BIN).args(["-f", cfg_s, "-D", "-p", pid_s, "-sf", &first.to_string()]).status().unwrap();
    assert!(status.success());
    assert!(wait_until(Duration::from_secs(10), || !alive(first)), "the old process did not leave");
    let second = read_pid();
    assert_ne!(first, second, "the pid file names the new process");
    assert_eq!(listener_and_admin_ports(second as u32), (port, admin), "the new process took the sockets over");
    assert_eq!(get(port), 200);

    // SAFETY: the daemon this test started, named by its pid file.
    unsafe { libc::kill(second, libc::SIGTERM) };
    assert!(wait_until(Duration::from_secs(10), || !alive(second)));
    assert!(!pidfile.exists(), "the last process removes its pid file");
    let _ = std::fs::remove_file(cfg);
    let _ = std::fs::remove_file(socket);
}

/// A child that is killed when the test ends, passed or not: a spillway left running by a
/// failed assertion would hold its ports, and whatever descriptors it inherited, for good.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A native configuration with an HTTP listener and the admin API, and no upgrade socket: a
/// reload binds new sockets next to the running process's.
fn write_config_without_upgrade_socket(name: &str, port: u16, admin: u16, backend: SocketAddr) -> PathBuf {
    let path = temp(name);
    std::fs::write(
        &path,
        format!(
            "[runtime]\nthreads = 2\npin = false\ndrain_timeout = \"10s\"\n\
             [admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:{port}\"\nprotocol = \"http\"\ntarget_group = \"g\"\n\
             [[target_group]]\nname = \"g\"\ntargets = [ {{ addr = \"{backend}\" }} ]\n\
             [target_group.health_check]\nenabled = false\n"
        ),
    )
    .unwrap();
    path
}

/// `-sf` with the admin API on and no upgrade socket: the new process binds the admin port
/// next to the old one's (SO_REUSEPORT, as the listeners), starts, and the old one finishes.
#[test]
fn a_reload_without_upgrade_socket_takes_the_admin_port_too() {
    let backend = http_backend();
    let config = write_config_without_upgrade_socket("noupgrade.toml", 0, 0, backend.addr);
    let cfg = config.to_str().unwrap();
    let mut old = Reaped(spawn(&["-f", cfg]));
    let (port, admin) = listener_and_admin_ports(old.0.id());
    write_config_without_upgrade_socket("noupgrade.toml", port, admin, backend.addr);

    let mut new = Reaped(
        Command::new(BIN)
            .args(["-f", cfg, "-sf", &old.0.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let old_exit = wait_exit(&mut old.0, Duration::from_secs(15));
    let new_status = new.0.try_wait().unwrap();
    if new_status.is_some() {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(new.0.stderr.as_mut().unwrap(), &mut err);
        panic!("the new process ended ({new_status:?}): {err}");
    }
    assert_eq!(old_exit, Some(0), "the old process was told to finish and did");
    assert_eq!(listener_and_admin_ports(new.0.id()), (port, admin), "the new process serves both ports");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(new.0.id() as i32, libc::SIGTERM) };
    assert_eq!(wait_exit(&mut new.0, Duration::from_secs(10)), Some(0));
    let _ = std::fs::remove_file(config);
}

/// Reloads that fail (the new file's admin port is taken by another program) under load: each
/// new process exits 1 saying the old one keeps serving, having listened on nothing, so no
/// client connection is reset; the old process serves on.
#[test]
fn a_failed_reload_leaves_the_old_process_serving_and_resets_nobody() {
    let backend = http_backend();
    let config = write_config_without_upgrade_socket("failing.toml", 0, 0, backend.addr);
    let cfg = config.to_str().unwrap();
    let mut old = Reaped(spawn(&["-f", cfg]));
    let (port, _admin) = listener_and_admin_ports(old.0.id());
    // Another program's socket (no SO_REUSEPORT) on the admin port of the new file.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    write_config_without_upgrade_socket("failing.toml", port, taken, backend.addr);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || churn_client(addr, stop, tally))
        })
        .collect();
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        let out = Command::new(BIN).args(["-f", cfg, "-sf", &old.0.id().to_string()]).output().unwrap();
        outcomes.push((out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    for (code, err) in &outcomes {
        assert_eq!(*code, Some(1), "the reload should fail: {err}");
        assert!(err.contains("keeps serving"), "the error does not say the old process serves on: {err}");
    }
    assert!(old.0.try_wait().unwrap().is_none(), "the old process must keep running");
    let failures = tally.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} requests failed during failed reloads: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(tally.ok.load(Ordering::SeqCst) > 100, "too little traffic: {}", tally.ok.load(Ordering::SeqCst));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(old.0.id() as i32, libc::SIGTERM) };
    assert_eq!(wait_exit(&mut old.0, Duration::from_secs(10)), Some(0));
    drop(squatter);
    let _ = std::fs::remove_file(config);
}

/// `GET /healthz` on `admin`: the status, or 0 when no answer came.
fn healthz(admin: u16) -> u16 {
    let Ok(s) = TcpStream::connect(("127.0.0.1", admin)) else { return 0 };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    if write!(&s, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").is_err() {
        return 0;
    }
    read_response(&mut r).map_or(0, |(status, _, _)| status)
}

/// A reload whose new process binds beside the old one (the old has an upgrade socket, the new
/// none, so nothing is handed through it): while the old process drains, it no longer answers
/// on the admin port. Before, the kernel spread admin connections over both processes and
/// `/healthz` answered the draining one's 503 to about every other poll (found by bench/soak).
#[test]
fn a_draining_process_leaves_the_admin_port_to_a_successor_bound_beside_it() {
    let backend = http_backend();
    let (config, _socket) = write_config(0, 0, backend.addr);
    let mut old = Reaped(spawn(&["-f", config.to_str().unwrap()]));
    let (port, admin) = listener_and_admin_ports(old.0.id());
    // A request in flight keeps the old process draining: its head and 3 of 100 body bytes.
    let mut held = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(held, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let next = write_config_without_upgrade_socket("beside.toml", port, admin, backend.addr);
    let new = Reaped(spawn(&["-f", next.to_str().unwrap(), "-sf", &old.0.id().to_string()]));
    assert_eq!(listener_and_admin_ports(new.0.id()), (port, admin));
    std::thread::sleep(Duration::from_millis(500)); // SIGUSR1 reaches the old process
    assert!(old.0.try_wait().unwrap().is_none(), "the old process drains the request in flight");
    let answers: Vec<u16> = (0..40).map(|_| healthz(admin)).collect();
    assert!(answers.iter().all(|&s| s == 200), "/healthz during the old process's drain: {answers:?}");
    drop(held);
    assert_eq!(wait_exit(&mut old.0, Duration::from_secs(15)), Some(0));
    let _ = std::fs::remove_file(next);
}
