//! Which driver a shard runs, as `/stats` and `/metrics` report it: the default configuration,
//! native or HAProxy, gets the tuned io_uring ring wherever the kernel has io_uring (issue 15:
//! the untuned ring cost 1.2–1.6× HAProxy's CPU per request), and `driver = "epoll"` gets epoll.
//!
//! What the kernel offers is found out here independently of spillway's code: a ring is asked
//! for with each setup flag, and the flags it accepts are the ones a shard must report.
//!
//! The HTTP data path (issue 20): on an io_uring shard of a 6.0+ kernel, HTTP sockets receive
//! and send through the ring (`data_path` in `/stats`), serve traffic that way without any
//! io_uring kernel worker thread (`iou-wrk`), and `uring_data_path = false` turns it off.

mod common;

use std::{io::Write, net::SocketAddr};

use common::{admin::*, http_backend::*};
use spillway::{
    config::{Config, Driver},
    Server, StartOptions,
};

/// The driver and ring flags a shard must report on this kernel with `auto` or `io_uring`.
fn expected_on_this_kernel() -> (&'static str, Vec<&'static str>) {
    if !monoio::utils::detect_uring() {
        return ("epoll", Vec::new());
    }
    let accepts = |coop: bool, single: bool| {
        let mut b: io_uring::Builder = io_uring::IoUring::builder();
        if coop {
            b.setup_coop_taskrun();
        }
        if single {
            b.setup_single_issuer();
        }
        b.build(8).is_ok()
    };
    let flags = if accepts(true, true) {
        vec!["coop_taskrun", "single_issuer"]
    } else if accepts(true, false) {
        vec!["coop_taskrun"]
    } else {
        Vec::new()
    };
    ("io_uring", flags)
}

/// `(driver, ring_flags)` of every shard in `/stats`, in shard order.
/// The HTTP data path an io_uring shard must report on this kernel: the ring's receives and
/// sends from Linux 6.0 (multishot receive), readiness I/O before.
fn expected_data_path() -> Vec<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release.trim().split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let at_least_6_0 = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 0);
    if monoio::utils::detect_uring() && at_least_6_0 {
        vec!["recv_multishot".into(), "pbuf_ring".into(), "send".into()]
    } else {
        Vec::new()
    }
}

/// `data_path` of every shard in `/stats`, in shard order.
fn shard_data_paths(server: &Server) -> Vec<Vec<String>> {
    let stats = stats(server);
    let shards = stats["shards"].as_array().expect("/stats has a shards list");
    shards
        .iter()
        .map(|s| s["data_path"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect())
        .collect()
}

fn shard_drivers(server: &Server) -> Vec<(String, Vec<String>)> {
    let stats = stats(server);
    let shards = stats["shards"].as_array().expect("/stats has a shards list");
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"].as_u64(), Some(i as u64), "shards in order: {stats}");
    }
    shards
        .iter()
        .map(|s| {
            let flags = s["ring_flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
            (s["driver"].as_str().unwrap().to_string(), flags)
        })
        .collect()
}

fn native_config(target: SocketAddr, driver_line: &str) -> Config {
    let text = format!(
        r#"
[runtime]
threads = 2
pin = false
{driver_line}

[admin]
listen = "127.0.0.1:0"

[[listener]]
name = "web"
bind = "127.0.0.1:0"
protocol = "http"
target_group = "app"

[[target_group]]
name = "app"
targets = [ {{ addr = "{target}" }} ]
"#
    );
    spillway::config::toml::parse(&text, "driver.toml").unwrap()
}

/// Checks that the server answers through its listener: the driver it reports is the one
/// serving traffic.
fn serves(server: &Server, listener: &str) {
    let (status, _, body) = plain_get(server.listener_addr(listener).unwrap(), "/ping");
    assert_eq!((status, body.as_slice()), (200, b"pong".as_slice()));
}

fn plain_get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    write!(&s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    read_response(&mut r).unwrap()
}

#[test]
fn a_shard_started_with_the_default_config_runs_the_tuned_io_uring_ring() {
    let b = http_backend();
    let config = native_config(b.addr, "");
    assert_eq!(config.runtime.driver, Driver::Auto, "no driver key means auto");
    let server = Server::start(config, StartOptions::default()).unwrap();
    let (driver, flags) = expected_on_this_kernel();
    let reported = shard_drivers(&server);
    assert_eq!(reported.len(), 2, "{reported:?}");
    for (d, f) in &reported {
        assert_eq!(d, driver, "{reported:?}");
        assert_eq!(f, &flags, "every flag the kernel accepts: {reported:?}");
    }
    serves(&server, "web");

    // The same figure in Prometheus form, one series per shard.
    let (status, metrics) = admin(&server, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let label = if flags.is_empty() { "none".to_string() } else { flags.join(",") };
    for shard in 0..2 {
        let series = format!("spillway_shard_driver{{shard=\"{shard}\",driver=\"{driver}\",ring_flags=\"{label}\"}} 1");
        assert!(metrics.lines().any(|l| l == series), "no {series:?} in\n{metrics}");
    }
    server.stop();
}

#[test]
fn driver_io_uring_reports_the_same_tuned_ring_as_auto() {
    let b = http_backend();
    let server = Server::start(native_config(b.addr, r#"driver = "io_uring""#), StartOptions::default()).unwrap();
    let (driver, flags) = expected_on_this_kernel();
    if driver == "io_uring" {
        for (d, f) in shard_drivers(&server) {
            assert_eq!((d.as_str(), f), ("io_uring", flags.iter().map(|f| f.to_string()).collect()));
        }
        serves(&server, "web");
    }
    server.stop();
}

#[test]
fn driver_epoll_reports_epoll_with_no_ring_flags() {
    let b = http_backend();
    let server = Server::start(native_config(b.addr, r#"driver = "epoll""#), StartOptions::default()).unwrap();
    for (d, f) in shard_drivers(&server) {
        assert_eq!((d.as_str(), f.len()), ("epoll", 0));
    }
    serves(&server, "web");
    server.stop();
}

#[test]
fn an_haproxy_cfg_gets_the_tuned_ring_too() {
    let b = http_backend();
    let dir = common::tls::scratch_dir();
    let path = dir.join("driver.cfg");
    std::fs::write(
        &path,
        format!(
            "global\n    nbthread 2\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    \
             timeout server 10s\n\nfrontend web\n    bind 127.0.0.1:0\n    default_backend app\n\nbackend app\n    \
             server s1 {}\n\nlisten stats\n    bind 127.0.0.1:0\n    stats enable\n    stats uri /stats\n",
            b.addr
        ),
    )
    .unwrap();
    let (mut config, _notes) = Config::load_files(&[path]).unwrap();
    assert_eq!(config.runtime.driver, Driver::Auto);
    config.runtime.pin = false;
    let server = Server::start(config, StartOptions::default()).unwrap();
    let (driver, flags) = expected_on_this_kernel();
    let reported = shard_drivers(&server);
    assert_eq!(reported.len(), 2, "nbthread 2: {reported:?}");
    for (d, f) in reported {
        assert_eq!((d.as_str(), f), (driver, flags.iter().map(|f| f.to_string()).collect()));
    }
    serves(&server, "web");
    server.stop();
}

#[test]
fn http_on_an_io_uring_shard_runs_through_the_ring_with_no_io_worker_thread() {
    use std::{
        sync::{atomic::AtomicBool, atomic::Ordering, Arc},
        time::Duration,
    };
    let b = http_backend();
    let server = Server::start(native_config(b.addr, ""), StartOptions::default()).unwrap();
    let expected = expected_data_path();
    for reported in shard_data_paths(&server) {
        assert_eq!(reported, expected, "the default config runs the ring's data path where the kernel has it");
    }
    let addr = server.listener_addr("web").unwrap();

    // No io_uring kernel worker may serve the ring's receives and sends: they would run off
    // the shard's core (the l4 test asserts the same of splice).
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while watching.load(Ordering::SeqCst) {
                seen.extend(common::thread_names().into_iter().filter(|n| n.starts_with("iou-wrk")));
                // Kept: the sampling period of the watch, not a wait for an outcome.
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };
    // Keep-alive clients at once, small answers and answers larger than the shard's whole
    // buffer ring (256 × 4 KiB), so receives run out of buffers and fall back, and come back.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut r = std::io::BufReader::new(s.try_clone().unwrap());
                for i in 0..150 {
                    let bytes = if (i + c) % 50 == 0 { 3 * 1024 * 1024 } else { 100 };
                    write!(&s, "GET /big?bytes={bytes} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
                    let (status, _, body) = read_response(&mut r).unwrap();
                    assert_eq!(status, 200);
                    assert!(body == pattern(bytes), "body of {bytes} bytes differs");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    watching.store(false, Ordering::SeqCst);
    let workers = watcher.join().unwrap();
    assert!(workers.is_empty(), "io_uring kernel workers appeared while serving HTTP: {workers:?}");
    server.stop();
}

#[test]
fn uring_data_path_false_keeps_http_on_readiness_io() {
    let b = http_backend();
    let config = native_config(b.addr, "uring_data_path = false");
    assert!(!config.runtime.uring_data_path);
    let server = Server::start(config, StartOptions::default()).unwrap();
    for reported in shard_data_paths(&server) {
        assert!(reported.is_empty(), "{reported:?}");
    }
    serves(&server, "web");
    server.stop();
}
