//! Scenarios for the client against `loadgen serve` in its modes: `--steps` changes the rate
//! without new connections, errors are counted (not dropped) when the backend dies mid-run, a
//! backend with `--max-concurrency` has the capacity it promises, the health path flips, the
//! tcp:// echo and bulk modes work, and SIGINT/SIGTERM stop the backend cleanly.

mod common;
use common::*;

fn connections(addr: &str) -> u64 {
    let (status, body) = request(addr, "GET", "/admin/stats");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["connections"].as_u64().unwrap()
}

#[test]
fn steps_change_the_rate_without_new_connections() {
    let serve = Serve::start(&[]);
    let dir = tmp_dir("steps");
    let csv = dir.join("t.csv");
    let before = connections(&serve.addr);
    let url = serve.url("/");
    let j = run_json(
        &dir,
        &[url.as_str(), "-c", "4", "-t", "1", "--steps", "200:1s,1000:1s,200:1s", "--timeline", csv.to_str().unwrap()],
    );
    // 4 load connections, plus our own /admin/stats request.
    assert_eq!(connections(&serve.addr) - before, 4 + 1);
    assert_eq!(j["connections_opened"].as_u64(), Some(4));
    let t = std::fs::read_to_string(&csv).unwrap();
    let achieved: Vec<f64> = t.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert_eq!(achieved.len(), 3);
    assert!((achieved[0] - 200.0).abs() < 20.0, "{achieved:?}");
    assert!((achieved[1] - 1000.0).abs() < 50.0, "{achieved:?}");
    assert!((achieved[2] - 200.0).abs() < 20.0, "{achieved:?}");
    assert!((j["offered_rps"].as_f64().unwrap() - 1400.0 / 3.0).abs() < 1.0);
}

#[test]
fn errors_are_counted_not_dropped_when_the_backend_dies() {
    let mut serve = Serve::start(&["--latency", "20ms"]);
    let dir = tmp_dir("dies");
    let url = serve.url("/");
    let client = std::thread::spawn(move || run_json(&dir, &[url.as_str(), "-c", "8", "-t", "1", "-d", "2s"]));
    std::thread::sleep(std::time::Duration::from_millis(800));
    serve.kill();
    let j = client.join().unwrap();
    let e = &j["errors"];
    let get = |k: &str| e[k].as_u64().unwrap();
    assert!(j["requests"].as_u64().unwrap() > 100);
    // The 8 requests in flight when it died each count once, then reconnects fail.
    assert!(get("read") >= 1, "{j}");
    assert!(get("connect") >= 8, "{j}");
    // Every request sent is accounted for.
    let sent = j["sent"].as_u64().unwrap();
    let ended = j["requests"].as_u64().unwrap()
        + get("read")
        + get("timeout")
        + get("protocol")
        + j["in_flight_at_end"].as_u64().unwrap();
    assert_eq!(sent, ended, "{j}");
}

#[test]
fn max_concurrency_gives_a_known_capacity() {
    // 2 slots held 50 ms each: 40 requests/s however many connections ask.
    let serve = Serve::start(&["--latency", "50ms", "--max-concurrency", "2"]);
    let dir = tmp_dir("capacity");
    let url = serve.url("/");
    let j = run_json(&dir, &[url.as_str(), "-c", "8", "-t", "1", "-d", "2s"]);
    let rps = j["rps"].as_f64().unwrap();
    assert!((34.0..=41.0).contains(&rps), "rps {rps}");
    // 8 connections share 2 slots: each waits ~4 × 50 ms.
    assert!(j["latency_us"]["p50"].as_u64().unwrap() > 150_000, "{j}");
}

#[test]
fn health_path_flips_with_the_admin_posts_and_failures_are_500s_without_body_on_head() {
    let serve = Serve::start(&["--health-path", "/health", "--fail-rate", "1"]);
    assert_eq!(request(&serve.addr, "GET", "/health").0, 200);
    assert_eq!(request(&serve.addr, "POST", "/admin/unhealthy").0, 200);
    assert_eq!(request(&serve.addr, "GET", "/health").0, 503);
    assert_eq!(request(&serve.addr, "POST", "/admin/healthy").0, 200);
    assert_eq!(request(&serve.addr, "GET", "/health").0, 200);
    assert_eq!(request(&serve.addr, "GET", "/anything"), (500, "fail\n".to_string()));
    // HEAD: the same status and Content-Length, no body.
    assert_eq!(request(&serve.addr, "HEAD", "/anything"), (500, String::new()));
}

#[test]
fn tcp_echo_and_bulk_modes() {
    let echo = Serve::start(&["--mode", "echo"]);
    let dir = tmp_dir("tcp");
    let url = format!("tcp://{}", echo.addr);
    let j = run_json(&dir, &[url.as_str(), "-c", "2", "-t", "1", "-d", "1s", "--tcp-bytes", "100"]);
    let n = j["requests"].as_u64().unwrap();
    assert!(n > 100, "{j}");
    assert_eq!(j["bytes"].as_u64(), Some(n * 100));
    assert_eq!(j["errors"]["read"].as_u64(), Some(0));

    let bulk = Serve::start(&["--mode", "bulk", "--body-bytes", "65536"]);
    let url = format!("tcp://{}", bulk.addr);
    let j = run_json(&dir, &[url.as_str(), "-c", "1", "-t", "1", "-d", "1s", "--tcp-mode", "bulk"]);
    assert!(j["bytes"].as_u64().unwrap() > 10_000_000, "{j}");
}

#[test]
fn sigint_and_sigterm_stop_the_backend_with_exit_0() {
    for signal in ["INT", "TERM"] {
        let mut serve = Serve::start(&["--threads", "2"]);
        assert_eq!(request(&serve.addr, "GET", "/").0, 200);
        // The `kill` utility, on the pid of the backend this test started.
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &serve.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let status = loop {
            if let Some(status) = serve.child.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < end, "SIG{signal}: still running");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // Stopped by its own handler (exit 0), not killed by the signal.
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status:?}");
    }
}
