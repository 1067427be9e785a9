//! Which driver a shard runs, as `/stats` and `/metrics` report it: the default configuration,
//! native or HAProxy, gets the tuned io_uring ring wherever the kernel has io_uring (issue 15:
//! the untuned ring cost 1.2–1.6× HAProxy's CPU per request), and `driver = "epoll"` gets epoll.
//!
//! What the kernel offers is found out here independently of spillway's code: a ring is asked
//! for with each setup flag, and the flags it accepts are the ones a shard must report.

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
