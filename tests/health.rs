//! Health checks on real sockets: verdicts within their bounds, HTTP checks by status, fail
//! open and closed, one checking shard per target, passive detection.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{admin::*, http_backend::*, *};
use spillway::{
    config::{Config, Driver, HealthProtocol, Protocol, StatusMatcher},
    Server, StartOptions,
};

/// An HTTP target that can be killed (its socket closed) and restarted on the same port, and
/// that counts the health checks it receives.
struct Switchable {
    addr: SocketAddr,
    running: Arc<AtomicBool>,
    checks: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Switchable {
    fn start() -> Switchable {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut s = Switchable {
            addr: listener.local_addr().unwrap(),
            running: Arc::default(),
            checks: Arc::default(),
            requests: Arc::default(),
            thread: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.running.store(true, Ordering::SeqCst);
        let (running, checks, requests) = (self.running.clone(), self.checks.clone(), self.requests.clone());
        self.thread = Some(std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (checks, requests) = (checks.clone(), requests.clone());
                        std::thread::spawn(move || answer(stream, &checks, &requests));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }));
    }

    /// Closes the listening socket: connects are refused from now on.
    fn kill(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).unwrap();
        self.serve(listener);
    }
}

impl Drop for Switchable {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Answers `200 ok` to each request; a request with spillway's check user agent counts as a
/// check; a connection that sends nothing (a TCP check) counts as a check too.
fn answer(stream: TcpStream, checks: &AtomicUsize, requests: &AtomicUsize) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut first = true;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    if first && head.is_empty() {
                        checks.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                }
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        first = false;
        if head.contains("User-Agent: spillway-health-check") {
            assert!(head.starts_with("GET /ping HTTP/1.1\r\n"), "{head}");
            assert!(head.contains("\r\nHost: ") && head.contains("\r\nConnection: close\r\n"), "{head}");
            checks.fetch_add(1, Ordering::SeqCst);
        } else {
            requests.fetch_add(1, Ordering::SeqCst);
        }
        if out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
            return;
        }
    }
}

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(100);

/// An HTTP listener over `targets` with fast HTTP checks of `/ping`.
fn checked_server(targets: &[SocketAddr], threads: usize, tune: impl FnOnce(&mut Config)) -> Server {
    let mut config = tcp_config(targets, threads, Driver::Auto);
    config.listeners[0].protocol = Protocol::Http;
    let hc = &mut config.target_groups[0].health_check;
    hc.enabled = true;
    hc.protocol = HealthProtocol::Http;
    hc.path = "/ping".into();
    hc.interval = INTERVAL;
    hc.timeout = TIMEOUT;
    hc.healthy_threshold = 2;
    hc.unhealthy_threshold = 2;
    tune(&mut config);
    Server::start(config, StartOptions::default()).unwrap()
}

fn get(server: &Server, path: &str) -> u16 {
    let s = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    write!(&s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    read_response(&mut r).unwrap().0
}

fn state(server: &Server, addr: SocketAddr) -> String {
    target_state(server, addr).unwrap_or_default()
}

#[test]
fn a_killed_target_turns_unhealthy_in_time_and_back_healthy_when_restarted() {
    let (mut a, b) = (Switchable::start(), Switchable::start());
    let server = checked_server(&[a.addr, b.addr], 1, |_| {});
    assert!(wait_until(Duration::from_secs(3), || state(&server, a.addr) == "healthy"), "{}", state(&server, a.addr));

    a.kill();
    let killed = Instant::now();
    assert!(wait_until(Duration::from_secs(5), || state(&server, a.addr) == "unhealthy"));
    // interval × unhealthy_threshold + timeout, plus scheduling slack for a busy machine.
    let bound = INTERVAL * 2 + TIMEOUT + Duration::from_millis(300);
    assert!(killed.elapsed() <= bound, "unhealthy after {:?} (bound {bound:?})", killed.elapsed());
    let g = &stats(&server)["target_groups"]["g"];
    assert_eq!((g["HealthyHostCount"].as_u64(), g["UnHealthyHostCount"].as_u64()), (Some(1), Some(1)));
    // No request fails once the verdict is in.
    let before = b.requests.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(get(&server, "/"), 200);
    }
    assert_eq!(b.requests.load(Ordering::SeqCst), before + 20);

    a.restart();
    let restarted = Instant::now();
    assert!(wait_until(Duration::from_secs(5), || state(&server, a.addr) == "healthy"));
    // healthy_threshold checks, one interval apart, the first within an interval.
    let bound = INTERVAL * 2 + TIMEOUT + Duration::from_millis(300);
    assert!(restarted.elapsed() <= bound, "healthy after {:?} (bound {bound:?})", restarted.elapsed());
    for _ in 0..10 {
        assert_eq!(get(&server, "/"), 200);
    }
    assert!(a.requests.load(Ordering::SeqCst) >= 4, "the restarted target takes no traffic");
}

#[test]
fn an_http_check_failing_on_the_ping_path_marks_the_target_unhealthy_while_requests_still_work() {
    // The backend answers 500 on the ping path; with one target and fail_open, requests go on.
    let b = http_backend();
    let server = checked_server(&[b.addr], 1, |c| c.target_groups[0].health_check.path = "/status?code=500".into());
    assert!(wait_until(Duration::from_secs(3), || state(&server, b.addr) == "unhealthy"));
    assert_eq!(get(&server, "/"), 200, "fail open: the only target still serves");
    let g = &stats(&server)["target_groups"]["g"];
    assert_eq!(g["UnHealthyHostCount"], 1);
    let (_, metrics) = admin(&server, "GET", "/metrics", None, None);
    assert!(metrics.contains(&format!("spillway_target_healthy{{target_group=\"g\",target=\"{}\"}} 0", b.addr)));
    drop(server);

    // A matcher that accepts the answer makes the same target healthy.
    let server = checked_server(&[b.addr], 1, |c| {
        let hc = &mut c.target_groups[0].health_check;
        hc.path = "/status?code=302".into();
        hc.matcher = StatusMatcher { ranges: vec![(200, 200), (302, 302)] };
    });
    assert!(wait_until(Duration::from_secs(3), || state(&server, b.addr) == "healthy"));
}

#[test]
fn fail_closed_answers_503_when_every_target_is_unhealthy() {
    let b = http_backend();
    let server = checked_server(&[b.addr], 1, |c| {
        c.target_groups[0].fail_open = false;
        c.target_groups[0].health_check.path = "/status?code=500".into();
    });
    assert!(wait_until(Duration::from_secs(3), || state(&server, b.addr) == "unhealthy"));
    let before = b.seen.requests.load(Ordering::SeqCst);
    assert_eq!(get(&server, "/"), 503);
    assert_eq!(get(&server, "/"), 503);
    // Only checks reached the target, no request.
    let after = b.seen.requests.load(Ordering::SeqCst);
    assert!(after - before <= 2, "requests reached an unhealthy target: {before} → {after}");
    assert_eq!(stats(&server)["target_groups"]["g"]["HTTPCode_ELB_5XX"], 2);
}

#[test]
fn each_target_is_checked_by_one_shard_only() {
    let targets: Vec<Switchable> = (0..4).map(|_| Switchable::start()).collect();
    let addrs: Vec<SocketAddr> = targets.iter().map(|t| t.addr).collect();
    let interval = Duration::from_millis(100);
    let started = Instant::now();
    let server = checked_server(&addrs, 2, |c| {
        let hc = &mut c.target_groups[0].health_check;
        hc.protocol = HealthProtocol::Tcp;
        hc.interval = interval;
        hc.timeout = Duration::from_millis(50);
    });
    assert_eq!(server.shard_count(), 2);
    // Every target checked ten times, however long a loaded machine takes for that.
    let checked = || targets.iter().all(|t| t.checks.load(Ordering::SeqCst) >= 10);
    assert!(wait_until(Duration::from_secs(30), checked), "a target was not checked ten times");
    drop(server);
    let checking = started.elapsed();
    // One checker per target fires at most once per interval (its schedule never catches up
    // on missed slots), so over `checking` a target gets at most checking / interval + 1
    // checks; a second checker would double that.
    let most = (checking.as_millis() / interval.as_millis()) as usize + 2;
    for t in &targets {
        let n = t.checks.load(Ordering::SeqCst);
        assert!(n <= most, "{} got {n} checks in {checking:?} at {interval:?}: more than one checker", t.addr);
    }
}

#[test]
fn a_connect_failure_on_the_request_path_counts_as_a_failed_check() {
    let b = http_backend();
    let dead = refusing_addr();
    let server = checked_server(&[dead, b.addr], 1, |c| {
        // Checks far apart: only request traffic can reach a verdict within the test.
        c.target_groups[0].health_check.interval = Duration::from_secs(3600);
        c.target_groups[0].health_check.timeout = Duration::from_secs(1);
    });
    for _ in 0..4 {
        assert_eq!(get(&server, "/"), 200, "a refused connect moves the request to the next target");
    }
    assert_eq!(state(&server, dead), "unhealthy");
    let g = &stats(&server)["target_groups"]["g"];
    assert_eq!(g["BackendConnectionErrors"], 2, "{g}");
}
