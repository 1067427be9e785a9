//! The admin API on real sockets: figures that agree with what a client counted, target
//! registration and draining, zonal shift, bad input, and the token.

mod common;

use std::{
    io::Write,
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use common::{admin::*, http_backend::*, *};
use spillway::{
    config::{Config, Driver, Protocol, Target},
    Server, StartOptions,
};

fn http_server(targets: &[SocketAddr], tune: impl FnOnce(&mut Config)) -> Server {
    let mut config = tcp_config(targets, 1, Driver::Auto);
    config.listeners[0].protocol = Protocol::Http;
    tune(&mut config);
    Server::start(config, StartOptions::default()).unwrap()
}

fn get(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let s = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    write!(&s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut r).unwrap();
    (status, body)
}

/// Which backend answered: `/echo-head` returns the head, and each backend is told apart by
/// its own request counter.
fn requests_seen(b: &HttpBackend) -> usize {
    b.seen.requests.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn stats_and_metrics_agree_with_what_the_client_counted() {
    let b = http_backend();
    let server = http_server(&[b.addr], |_| {});
    let mut counted = (0, 0, 0); // (2xx, 4xx from the target, 502 from spillway)
    for i in 0..28 {
        let path = match i % 7 {
            0 => "/status?code=404",
            1 if i < 21 => "/reset",
            _ => "/",
        };
        match get(&server, path).0 {
            200 => counted.0 += 1,
            404 => counted.1 += 1,
            502 => counted.2 += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(counted, (21, 4, 3));

    let s = stats(&server);
    let g = &s["target_groups"]["g"];
    assert_eq!(g["RequestCount"], 28);
    assert_eq!(g["HTTPCode_Backend_2XX"], 21);
    assert_eq!(g["HTTPCode_Backend_4XX"], 4);
    assert_eq!(g["HTTPCode_ELB_5XX"], 3);
    assert_eq!(g["HTTPCode_ELB_4XX"], 0);
    assert_eq!(g["NewConnectionCount"], 28);
    assert_eq!(g["HealthyHostCount"], 1);
    assert_eq!(g["UnHealthyHostCount"], 0);
    assert_eq!(g["SpilloverCount"], 0);
    assert!(g["Latency"]["p50"].as_f64().unwrap() > 0.0, "{g}");
    assert!(g["Latency"]["p99"].as_f64().unwrap() >= g["Latency"]["p50"].as_f64().unwrap());
    assert!(g["ProcessedBytes"].as_u64().unwrap() > 0);
    let ratio = g["BackendConnectionReuseRatio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    assert_eq!(g["targets"][0]["addr"], b.addr.to_string());
    assert_eq!(g["targets"][0]["state"], "healthy", "unchecked targets count as healthy");

    let (status, text) = admin(&server, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    for line in [
        "spillway_request_count_total{target_group=\"g\"} 28",
        "spillway_backend_responses_total{target_group=\"g\",code_class=\"2xx\"} 21",
        "spillway_backend_responses_total{target_group=\"g\",code_class=\"4xx\"} 4",
        "spillway_elb_responses_total{target_group=\"g\",code_class=\"5xx\"} 3",
        "spillway_healthy_host_count{target_group=\"g\"} 1",
        "spillway_new_connections_total{target_group=\"g\"} 28",
        "spillway_spillover_count_total{target_group=\"g\"} 0",
        "spillway_surge_queue_length{target_group=\"g\"} 0",
        "spillway_latency_seconds_bucket{le=\"+Inf\",target_group=\"g\"} 25",
        "spillway_latency_seconds_count{target_group=\"g\"} 25",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    let target_line = format!("spillway_target_healthy{{target_group=\"g\",target=\"{}\"}} 1", b.addr);
    assert!(text.contains(&target_line), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
    assert_eq!(admin(&server, "GET", "/healthz", None, None), (200, "ok\n".into()));
}

#[test]
fn registered_targets_take_traffic_and_deregistered_ones_drain() {
    let (a, b) = (http_backend(), http_backend());
    let server = http_server(&[a.addr], |_| {});
    let body = format!(r#"{{"addr":"{}","weight":1,"zone":"z"}}"#, b.addr);
    let (status, reply) = admin(&server, "POST", "/targets/g", Some(&body), None);
    assert_eq!(status, 201, "{reply}");
    assert!(reply.contains("\"state\":\"healthy\""), "{reply}");
    assert_eq!(admin(&server, "POST", "/targets/g", Some(&body), None).0, 200, "registering again is a no-op");
    for _ in 0..10 {
        assert_eq!(get(&server, "/").0, 200);
    }
    assert!(requests_seen(&b) >= 4, "the registered target took no traffic");
    assert_eq!(target_state(&server, b.addr).as_deref(), Some("healthy"));

    // A slow request in flight on b, then b is deregistered: it finishes; nothing new goes to b.
    let slow = {
        let addr = server.listener_addr("l4").unwrap();
        std::thread::spawn(move || {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            // It lands on a or b; the test looks up which one is busy.
            write!(&s, "GET /slow?ms=1500 HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
            read_response(&mut r).unwrap().0
        })
    };
    assert!(wait_until(Duration::from_secs(2), || {
        stats(&server)["target_groups"]["g"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["outstanding_requests"] == 1)
    }));
    let busy = stats(&server)["target_groups"]["g"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["outstanding_requests"] == 1)
        .map(|t| t["addr"].as_str().unwrap().parse::<SocketAddr>().unwrap())
        .unwrap();
    let (status, reply) = admin(&server, "DELETE", &format!("/targets/g/{busy}"), None, None);
    assert_eq!(status, 202, "{reply}");
    assert_eq!(target_state(&server, busy).as_deref(), Some("draining"));
    let other = if busy == a.addr { &b } else { &a };
    let drained = if busy == a.addr { &a } else { &b };
    let before = (requests_seen(other), requests_seen(drained));
    for _ in 0..6 {
        assert_eq!(get(&server, "/").0, 200);
    }
    assert_eq!(requests_seen(drained), before.1, "a draining target got new requests");
    assert_eq!(requests_seen(other), before.0 + 6);
    assert_eq!(slow.join().unwrap(), 200, "the in-flight request was cut");
    // Nothing in flight any more: removed long before the 300 s deregistration delay.
    assert!(wait_until(Duration::from_secs(5), || target_state(&server, busy).is_none()), "never removed");
    assert_eq!(server.config().target_groups[0].targets.len(), 1);
}

#[test]
fn zonal_shift_and_cross_zone_off_keep_traffic_in_the_right_zones() {
    let (a, b) = (http_backend(), http_backend());
    let zoned = |addr, zone: &str| Target { zone: zone.into(), ..Target::new(addr) };
    let server = http_server(&[], |c| c.target_groups[0].targets = vec![zoned(a.addr, "a"), zoned(b.addr, "b")]);
    let (status, reply) = admin(&server, "POST", "/zonal-shift", Some(r#"{"zone":"a"}"#), None);
    assert_eq!(status, 200, "{reply}");
    let before = requests_seen(&a);
    for _ in 0..6 {
        assert_eq!(get(&server, "/").0, 200);
    }
    assert_eq!(requests_seen(&a), before, "zone a still gets traffic during the shift");
    assert_eq!(stats(&server)["zonal_shift"][0], "a");
    assert_eq!(admin(&server, "DELETE", "/zonal-shift", None, None).0, 200);
    for _ in 0..6 {
        get(&server, "/");
    }
    assert_eq!(requests_seen(&a), before + 3, "zone a is back in rotation");
    drop(server);

    let node_in_b = http_server(&[], |c| {
        c.target_groups[0].targets = vec![zoned(a.addr, "a"), zoned(b.addr, "b")];
        c.target_groups[0].cross_zone = false;
        c.target_groups[0].zone = "b".into();
    });
    let before = requests_seen(&a);
    for _ in 0..6 {
        assert_eq!(get(&node_in_b, "/").0, 200);
    }
    assert_eq!(requests_seen(&a), before, "cross_zone = false routed out of the node's zone");
}

#[test]
fn bad_admin_input_gets_a_4xx_with_a_json_error() {
    let b = http_backend();
    let server = http_server(&[b.addr], |_| {});
    let cases: [(&str, &str, Option<&str>, u16); 9] = [
        ("POST", "/targets/g", Some("{not json"), 400),
        ("POST", "/targets/g", Some(r#"{"addr":"nowhere"}"#), 400),
        ("POST", "/targets/g", Some(r#"{"addr":"127.0.0.1:0"}"#), 400),
        ("POST", "/targets/g", Some(r#"{"addr":"127.0.0.1:9","weight":1000}"#), 400),
        ("POST", "/targets/g", Some(r#"{"addr":"127.0.0.1:9","colour":"red"}"#), 400),
        ("POST", "/targets/nope", Some(r#"{"addr":"127.0.0.1:9"}"#), 404),
        ("DELETE", "/targets/g/127.0.0.1:9", None, 404),
        ("GET", "/nothing-here", None, 404),
        ("PUT", "/stats", None, 405),
    ];
    for (method, path, body, expected) in cases {
        let (status, reply) = admin(&server, method, path, body, None);
        assert_eq!(status, expected, "{method} {path} {body:?}: {reply}");
        let json: serde_json::Value = serde_json::from_str(&reply).unwrap_or_else(|_| panic!("not JSON: {reply}"));
        assert!(json["error"].is_string(), "{reply}");
    }
    assert_eq!(admin(&server, "POST", "/zonal-shift", Some(r#"{"zone":""}"#), None).0, 400);
    // Nothing was changed by the refused requests.
    assert_eq!(server.config().target_groups[0].targets.len(), 1);
}

#[test]
fn mutations_need_the_token_when_one_is_set() {
    let b = http_backend();
    let server = http_server(&[b.addr], |c| c.admin.token = "s3cret".into());
    let body = r#"{"addr":"127.0.0.1:9"}"#;
    assert_eq!(admin(&server, "POST", "/targets/g", Some(body), None).0, 401);
    assert_eq!(admin(&server, "POST", "/targets/g", Some(body), Some("wrong")).0, 401);
    assert_eq!(admin(&server, "DELETE", "/zonal-shift", None, None).0, 401);
    assert_eq!(admin(&server, "GET", "/stats", None, None).0, 200, "reading needs no token");
    assert_eq!(admin(&server, "POST", "/targets/g", Some(body), Some("s3cret")).0, 201);
}

#[test]
fn healthz_answers_503_while_draining() {
    let echo = echo_server();
    let mut config = tcp_config(&[echo.addr], 1, Driver::Auto);
    config.runtime.drain_timeout = Duration::from_secs(5);
    let mut server = Server::start(config, StartOptions::default()).unwrap();
    // An open session keeps the shard (and its admin API) alive through the drain.
    let session = TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    assert!(wait_until(Duration::from_secs(2), || server.open_connections() == 1));
    assert_eq!(admin(&server, "GET", "/healthz", None, None).0, 200);
    server.begin_drain(Duration::from_secs(5));
    let started = Instant::now();
    assert_eq!(admin(&server, "GET", "/healthz", None, None), (503, "draining\n".into()));
    drop(session);
    assert!(wait_until(Duration::from_secs(5), || server.finished()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The CSV's per-server `eresp` names the target behind each 502/504 spillway answered: what
/// lets the soak (`bench/soak`) tell a dead target's gateway errors from a proxy fault.
#[test]
fn csv_counts_gateway_errors_on_the_target_that_caused_them() {
    let good = http_backend();
    // A target that accepts and closes without a word: every request sent to it gets a 502.
    let closer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bad = closer.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in closer.incoming() {
            drop(conn);
        }
    });
    let server = http_server(&[good.addr, bad], |c| c.target_groups[0].health_check.enabled = false);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(get(&server, "/").0); // round robin: half to each
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 502, 502, 502, 502]);
    let (status, csv) = admin(&server, "GET", "/stats;csv", None, None);
    assert_eq!(status, 200);
    let columns: Vec<&str> = csv.lines().next().unwrap().trim_start_matches("# ").split(',').collect();
    let eresp = columns.iter().position(|c| *c == "eresp").unwrap();
    let row = |svname: &str| -> u64 {
        let line = csv.lines().find(|l| l.split(',').nth(1) == Some(svname)).unwrap_or_else(|| panic!("{csv}"));
        line.split(',').nth(eresp).unwrap().parse().unwrap_or_else(|_| panic!("eresp of {svname}: {line}"))
    };
    assert_eq!((row(&good.addr.to_string()), row(&bad.to_string())), (0, 4), "{csv}");
    assert_eq!(row("BACKEND"), 4, "{csv}");
}
