//! HTTPS listeners and TLS to targets on real loopback sockets, with certificates made by the
//! test (rcgen): termination, SNI, ALPN, resumption, failed handshakes counted without harm to
//! other connections, HTTPS health checks, verified TLS to targets, certificate errors; every
//! scenario that moves bytes runs on both drivers.

mod common;

use std::{
    io::{Read, Write},
    net::SocketAddr,
    sync::atomic::Ordering,
    time::Duration,
};

use common::{admin::stats, http_backend::*, on_both_drivers, tls::*, *};
use spillway::{
    config::{CertKeyPair, Config, Driver, HealthProtocol, ListenerTls, Protocol, TargetTls},
    Server, StartOptions,
};

fn pair(c: &TestCert) -> CertKeyPair {
    CertKeyPair { cert: c.cert.clone(), key: c.key.clone() }
}

/// A configuration with one HTTPS listener `l4` serving `certs` (the first is the default).
fn https_config(driver: Driver, targets: &[SocketAddr], certs: &[&TestCert], threads: usize) -> Config {
    let mut config = tcp_config(targets, threads, driver);
    config.listeners[0].protocol = Protocol::Https;
    config.listeners[0].tls = Some(ListenerTls { certs: certs.iter().map(|c| pair(c)).collect() });
    config
}

fn start(config: Config) -> Server {
    Server::start(config, StartOptions::default()).unwrap()
}

fn addr(server: &Server) -> SocketAddr {
    server.listener_addr("l4").unwrap()
}

fn tls_errors(server: &Server) -> u64 {
    stats(server)["target_groups"]["g"]["ClientTLSNegotiationErrorCount"].as_u64().unwrap()
}

on_both_drivers!(
    get_over_https_reaches_an_http_target_with_forwarded_proto_https,
    get_over_https_reaches_an_http_target_with_forwarded_proto_https
);
fn get_over_https_reaches_an_http_target_with_forwarded_proto_https(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let server = start(https_config(driver, &[b.addr], &[&cert], 1));
    let client = client_config(&[&cert], &[b"http/1.1"]);
    let mut s = tls_connect(addr(&server), "localhost", &client).unwrap();
    let (status, _, body) = tls_get(&mut s, "/echo-head").unwrap();
    assert_eq!(status, 200);
    let seen = String::from_utf8(body).unwrap().to_ascii_lowercase();
    assert!(seen.contains("x-forwarded-proto: https\r\n"), "{seen}");
    assert!(seen.contains(&format!("x-forwarded-port: {}\r\n", addr(&server).port())), "{seen}");
    // Keep-alive over one TLS connection, bodies of every size intact.
    for i in 0..50 {
        let n = [0, 1, 100, 17_000, 300_000][i % 5];
        let (status, _, body) = tls_get(&mut s, &format!("/big?bytes={n}")).unwrap();
        assert_eq!((status, body.len()), (200, n));
        assert_eq!(body, pattern(n));
    }
    assert_eq!(tls_errors(&server), 0);
}

on_both_drivers!(a_large_request_body_crosses_tls_intact, a_large_request_body_crosses_tls_intact);
fn a_large_request_body_crosses_tls_intact(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let server = start(https_config(driver, &[b.addr], &[&cert], 1));
    let mut s = tls_connect(addr(&server), "localhost", &client_config(&[&cert], &[])).unwrap();
    let body = random_bytes(3 * 1024 * 1024, 7);
    write!(s, "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    s.write_all(&body).unwrap();
    s.flush().unwrap();
    let (status, _, echoed) = read_response(&mut std::io::BufReader::new(&mut s)).unwrap();
    assert_eq!(status, 200);
    assert!(echoed == body, "the echoed body differs ({} bytes back)", echoed.len());
}

on_both_drivers!(
    sni_picks_the_certificate_and_an_unknown_name_gets_the_default,
    sni_picks_the_certificate_and_an_unknown_name_gets_the_default
);
fn sni_picks_the_certificate_and_an_unknown_name_gets_the_default(driver: Driver) {
    let b = http_backend();
    let (a, bee) = (cert_for(&["a.test"]), cert_for(&["b.test", "*.b.test"]));
    let server = start(https_config(driver, &[b.addr], &[&a, &bee], 1));
    let any = any_cert_client();
    let served = |name: &str| {
        let s = tls_connect(addr(&server), name, &any).unwrap();
        s.conn.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(served("b.test"), bee.der);
    assert_eq!(served("www.b.test"), bee.der, "wildcard");
    assert_eq!(served("a.test"), a.der);
    assert_eq!(served("unknown.test"), a.der, "the first certificate is the default");
    // And a verifying client accepts what it gets for its name.
    let mut s = tls_connect(addr(&server), "b.test", &client_config(&[&bee], &[])).unwrap();
    assert_eq!(tls_get(&mut s, "/ping").unwrap().0, 200);
    assert_eq!(tls_errors(&server), 0);
    // A name no certificate covers gets the default, which a verifying client refuses: its
    // alert ends the handshake, counted as a negotiation error.
    assert!(tls_connect(addr(&server), "wrong.test", &client_config(&[&a, &bee], &[])).is_err());
    assert!(wait_until(Duration::from_secs(5), || tls_errors(&server) == 1), "{}", tls_errors(&server));
}

on_both_drivers!(alpn_agrees_on_http11_and_refuses_h2_only, alpn_agrees_on_http11_and_refuses_h2_only);
fn alpn_agrees_on_http11_and_refuses_h2_only(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let server = start(https_config(driver, &[b.addr], &[&cert], 1));
    let s = tls_connect(addr(&server), "localhost", &client_config(&[&cert], &[b"h2", b"http/1.1"])).unwrap();
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    // No common protocol: the handshake fails (no_application_protocol), and is counted.
    assert!(tls_connect(addr(&server), "localhost", &client_config(&[&cert], &[b"h2"])).is_err());
    assert!(wait_until(Duration::from_secs(5), || tls_errors(&server) == 1));
}

on_both_drivers!(sessions_resume_across_connections_and_shards, sessions_resume_across_connections_and_shards);
fn sessions_resume_across_connections_and_shards(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    // Two shards: SO_REUSEPORT spreads the connections, and a ticket from one shard must
    // resume on the other.
    let server = start(https_config(driver, &[b.addr], &[&cert], 2));
    for versions in [&[&rustls::version::TLS13][..], &[&rustls::version::TLS12][..]] {
        // One client config: its session store is what resumes.
        let client = client_config_for(&[&cert], &[], versions);
        let mut first = tls_connect(addr(&server), "localhost", &client).unwrap();
        assert_eq!(tls_get(&mut first, "/ping").unwrap().0, 200);
        assert_eq!(first.conn.handshake_kind(), Some(rustls::HandshakeKind::Full));
        let mut resumed = 0;
        for _ in 0..12 {
            let mut s = tls_connect(addr(&server), "localhost", &client).unwrap();
            // TLS 1.3 tickets arrive after the handshake: a request makes sure they are read.
            assert_eq!(tls_get(&mut s, "/ping").unwrap().0, 200);
            if s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                resumed += 1;
            }
        }
        assert_eq!(resumed, 12, "{versions:?}: every reconnection resumes");
    }
}

on_both_drivers!(
    plain_http_and_garbage_on_the_https_port_are_counted_and_harm_no_other_connection,
    plain_http_and_garbage_on_the_https_port_are_counted_and_harm_no_other_connection
);
fn plain_http_and_garbage_on_the_https_port_are_counted_and_harm_no_other_connection(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let server = start(https_config(driver, &[b.addr], &[&cert], 1));
    let client = client_config(&[&cert], &[]);
    let mut steady = tls_connect(addr(&server), "localhost", &client).unwrap();
    assert_eq!(tls_get(&mut steady, "/ping").unwrap().0, 200);
    // Concurrent traffic on other connections while the bad ones arrive.
    let port = addr(&server);
    let busy = std::thread::spawn({
        let client = client.clone();
        move || {
            let mut s = tls_connect(port, "localhost", &client).unwrap();
            (0..200).filter(|_| tls_get(&mut s, "/ping").is_ok_and(|r| r.0 == 200)).count()
        }
    });
    let plain = plain_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(5));
    // Nothing HTTP comes back: at most a TLS alert record (content type 21).
    assert!(plain.is_empty() || plain[0] == 21, "{plain:?}");
    let garbage = plain_exchange(port, &random_bytes(3000, 99), Duration::from_secs(5));
    assert!(garbage.is_empty() || garbage[0] == 21, "{garbage:?}");
    // A connect-and-close (a TCP health check of some other balancer) attempted no TLS.
    drop(std::net::TcpStream::connect(port).unwrap());
    assert_eq!(busy.join().unwrap(), 200, "the concurrent connection was not disturbed");
    assert_eq!(tls_get(&mut steady, "/ping").unwrap().0, 200, "nor the one opened before");
    assert!(wait_until(Duration::from_secs(5), || tls_errors(&server) == 2), "{}", tls_errors(&server));
}

on_both_drivers!(
    a_client_that_stalls_its_handshake_is_cut_at_request_timeout_and_counted,
    a_client_that_stalls_its_handshake_is_cut_at_request_timeout_and_counted
);
fn a_client_that_stalls_its_handshake_is_cut_at_request_timeout_and_counted(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let mut config = https_config(driver, &[b.addr], &[&cert], 1);
    config.listeners[0].request_timeout = Duration::from_millis(300);
    let server = start(config);
    let mut s = std::net::TcpStream::connect(addr(&server)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The first bytes of a ClientHello record, then nothing.
    s.write_all(&[22, 3, 1, 0, 200, 1]).unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    assert!(wait_until(Duration::from_secs(5), || tls_errors(&server) == 1));
}

on_both_drivers!(websocket_over_https_tunnels_bytes_both_ways, websocket_over_https_tunnels_bytes_both_ways);
fn websocket_over_https_tunnels_bytes_both_ways(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let server = start(https_config(driver, &[b.addr], &[&cert], 1));
    let mut s = tls_connect(addr(&server), "localhost", &client_config(&[&cert], &[])).unwrap();
    write!(s, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
    s.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    for round in 0..20u64 {
        let data = random_bytes(1 + round as usize * 5000, round);
        s.write_all(&data).unwrap();
        s.flush().unwrap();
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        assert!(back == data, "round {round}");
    }
}

on_both_drivers!(https_health_checks_follow_the_target, https_health_checks_follow_the_target);
fn https_health_checks_follow_the_target(driver: Driver) {
    let cert = cert_for(&["localhost", "127.0.0.1"]);
    let target = https_backend(&cert);
    let mut config = https_config(driver, &[target.addr], &[&cert], 1);
    config.listeners[0].protocol = Protocol::Http;
    config.listeners[0].tls = None;
    let hc = &mut config.target_groups[0].health_check;
    (hc.enabled, hc.protocol, hc.path) = (true, HealthProtocol::Https, "/health".into());
    (hc.interval, hc.timeout, hc.healthy_threshold, hc.unhealthy_threshold) =
        (Duration::from_millis(200), Duration::from_millis(150), 2, 2);
    let server = start(config);
    let state = || common::admin::target_state(&server, target.addr).unwrap();
    assert!(wait_until(Duration::from_secs(5), || state() == "healthy"), "{}", state());
    assert!(target.handshakes.load(Ordering::SeqCst) >= 2, "each check is a TLS handshake");
    target.unhealthy.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || state() == "unhealthy"), "{}", state());
    target.unhealthy.store(false, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || state() == "healthy"), "{}", state());
}

on_both_drivers!(https_health_checks_trust_the_ca_file_as_reloaded, https_health_checks_trust_the_ca_file_as_reloaded);
fn https_health_checks_trust_the_ca_file_as_reloaded(driver: Driver) {
    // The group verifies its target against a CA file; the file is replaced in place by one
    // that does not sign the target's certificate, and the configuration reloaded: requests
    // and health checks must both stop trusting the target.
    let cert = cert_for(&["127.0.0.1"]);
    let other = cert_for(&["127.0.0.1"]);
    let target = https_backend(&cert);
    let ca = cert.cert.with_file_name("rotating-ca.pem");
    std::fs::copy(&cert.cert, &ca).unwrap();
    let mut config = tcp_config(&[target.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    config.target_groups[0].tls = Some(TargetTls { verify: true, ca: Some(ca.clone()), server_name: "".into() });
    let hc = &mut config.target_groups[0].health_check;
    (hc.enabled, hc.protocol, hc.path) = (true, HealthProtocol::Https, "/health".into());
    (hc.interval, hc.timeout, hc.healthy_threshold, hc.unhealthy_threshold) =
        (Duration::from_millis(200), Duration::from_millis(150), 2, 2);
    let mut server = start(config);
    let state = || common::admin::target_state(&server, target.addr).unwrap();
    assert!(wait_until(Duration::from_secs(5), || state() == "healthy"), "{}", state());
    std::fs::copy(&other.cert, &ca).unwrap();
    server.update_groups(server.config().as_ref().clone()).unwrap();
    let state = || common::admin::target_state(&server, target.addr).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || state() == "unhealthy"),
        "the check still trusts the old CA: {}",
        state()
    );
}

on_both_drivers!(https_health_check_of_a_plain_target_fails, https_health_check_of_a_plain_target_fails);
fn https_health_check_of_a_plain_target_fails(driver: Driver) {
    let b = http_backend();
    let mut config = tcp_config(&[b.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    let hc = &mut config.target_groups[0].health_check;
    (hc.enabled, hc.protocol, hc.path) = (true, HealthProtocol::Https, "/health".into());
    (hc.interval, hc.timeout, hc.unhealthy_threshold) = (Duration::from_millis(200), Duration::from_millis(150), 2);
    let server = start(config);
    let state = || common::admin::target_state(&server, b.addr).unwrap();
    assert!(wait_until(Duration::from_secs(5), || state() == "unhealthy"), "{}", state());
}

/// An HTTP listener in front of `target` with `tls` to it.
fn to_tls_target(driver: Driver, target: SocketAddr, tls: TargetTls) -> Server {
    let mut config = tcp_config(&[target], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    config.target_groups[0].tls = Some(tls);
    start(config)
}

fn http_get(server: &Server, path: &str) -> u16 {
    let got = raw_exchange(
        addr(server),
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&got).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

on_both_drivers!(
    requests_reach_an_https_target_verified_against_its_ca_and_reuse_the_connection,
    requests_reach_an_https_target_verified_against_its_ca_and_reuse_the_connection
);
fn requests_reach_an_https_target_verified_against_its_ca_and_reuse_the_connection(driver: Driver) {
    let cert = cert_for(&["backend.test", "127.0.0.1"]);
    let target = https_backend(&cert);
    // Verified by IP address (the certificate names 127.0.0.1)...
    let server = to_tls_target(
        driver,
        target.addr,
        TargetTls { verify: true, ca: Some(cert.cert.clone()), server_name: "".into() },
    );
    for _ in 0..20 {
        assert_eq!(http_get(&server, "/x"), 200);
    }
    assert_eq!(target.requests.load(Ordering::SeqCst), 20);
    assert_eq!(target.handshakes.load(Ordering::SeqCst), 1, "pooled TLS connections are reused");
    // ... and by a name sent as SNI.
    let by_name = TargetTls { verify: true, ca: Some(cert.cert.clone()), server_name: "backend.test".into() };
    let server = to_tls_target(driver, target.addr, by_name);
    assert_eq!(http_get(&server, "/x"), 200);
}

on_both_drivers!(
    a_tls_target_connection_with_unasked_for_bytes_is_not_reused,
    a_tls_target_connection_with_unasked_for_bytes_is_not_reused
);
fn a_tls_target_connection_with_unasked_for_bytes_is_not_reused(driver: Driver) {
    let cert = cert_for(&["127.0.0.1"]);
    let target = https_backend(&cert);
    let server = to_tls_target(
        driver,
        target.addr,
        TargetTls { verify: true, ca: Some(cert.cert.clone()), server_name: "".into() },
    );
    let body = |path: &str| {
        let got = raw_exchange(
            addr(&server),
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        String::from_utf8_lossy(&got).rsplit("\r\n\r\n").next().unwrap_or("").to_string()
    };
    assert_eq!(body("/extra"), "ok");
    // The stale second response must never be taken for the answer to the next request.
    assert_eq!(body("/x"), "secure");
    assert_eq!(target.handshakes.load(Ordering::SeqCst), 2, "the tainted connection was dropped");
}

on_both_drivers!(
    a_target_whose_certificate_does_not_verify_gets_no_request,
    a_target_whose_certificate_does_not_verify_gets_no_request
);
fn a_target_whose_certificate_does_not_verify_gets_no_request(driver: Driver) {
    let cert = cert_for(&["127.0.0.1"]);
    let other = cert_for(&["127.0.0.1"]);
    let target = https_backend(&cert);
    let server = to_tls_target(
        driver,
        target.addr,
        TargetTls { verify: true, ca: Some(other.cert.clone()), server_name: "".into() },
    );
    assert_eq!(http_get(&server, "/x"), 503, "no target could be reached");
    assert_eq!(target.requests.load(Ordering::SeqCst), 0);
    let errors = stats(&server)["target_groups"]["g"]["BackendConnectionErrors"].as_u64().unwrap();
    assert!(errors >= 1);
    // verify = false accepts it (encrypted, not authenticated).
    let server = to_tls_target(driver, target.addr, TargetTls { verify: false, ca: None, server_name: "".into() });
    assert_eq!(http_get(&server, "/x"), 200);
}

on_both_drivers!(
    groups_with_different_tls_settings_never_share_a_pooled_connection,
    groups_with_different_tls_settings_never_share_a_pooled_connection
);
fn groups_with_different_tls_settings_never_share_a_pooled_connection(driver: Driver) {
    // One TLS target, reached by two groups: "g" does not verify, "g2" verifies against a CA
    // that did not sign the target's certificate. A connection "g" pooled must not serve "g2".
    let cert = cert_for(&["127.0.0.1"]);
    let other = cert_for(&["127.0.0.1"]);
    let target = https_backend(&cert);
    let mut config = tcp_config(&[target.addr], 1, driver);
    config.listeners[0].protocol = Protocol::Http;
    config.target_groups[0].tls = Some(TargetTls { verify: false, ca: None, server_name: "".into() });
    let mut second = config.listeners[0].clone();
    second.name = "l2".into();
    second.target_group = "g2".into();
    config.listeners.push(second);
    let mut strict = config.target_groups[0].clone();
    strict.name = "g2".into();
    strict.tls = Some(TargetTls { verify: true, ca: Some(other.cert.clone()), server_name: "".into() });
    config.target_groups.push(strict);
    let server = start(config);
    assert_eq!(http_get(&server, "/x"), 200, "g reaches the target unverified");
    assert_eq!(target.requests.load(Ordering::SeqCst), 1);
    let got = raw_exchange(
        server.listener_addr("l2").unwrap(),
        b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let status = String::from_utf8_lossy(&got).split(' ').nth(1).map(str::to_owned);
    assert_eq!(status.as_deref(), Some("503"), "g2 verifies and must not reuse g's connection");
    assert_eq!(target.requests.load(Ordering::SeqCst), 1, "g2's request never reached the target");
    // And g still reuses its own.
    assert_eq!(http_get(&server, "/x"), 200);
}

/// The problems `spillway -c` would print for a native file with this listener TLS block.
fn problems_with(tls: &str) -> Vec<String> {
    let text = format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ntarget_group = \"g\"\n{tls}\n\
         [[target_group]]\nname = \"g\"\ntargets = [{{ addr = \"127.0.0.1:9\" }}]\n"
    );
    match spillway::config::toml::parse(&text, "x.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(|p| format!("{}:{}: {}", p.file, p.line, p.message)).collect(),
    }
}

#[test]
fn missing_unreadable_and_mismatched_certificate_files_are_config_errors_naming_the_file() {
    let a = cert_for(&["a.test"]);
    let b = cert_for(&["b.test"]);
    let good = format!("tls = {{ cert = {:?}, key = {:?} }}", a.cert, a.key);
    assert_eq!(problems_with(&good), Vec::<String>::new());
    let missing = problems_with("tls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\" }");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].starts_with("x.toml:6: listener \"web\": /nonexistent/c.pem: cannot read the file"),
        "{missing:?}"
    );
    let mismatched = problems_with(&format!("tls = {{ cert = {:?}, key = {:?} }}", a.cert, b.key));
    assert_eq!(mismatched.len(), 1, "{mismatched:?}");
    assert!(mismatched[0].contains("does not belong to the certificate"), "{mismatched:?}");
    assert!(mismatched[0].contains(&b.key.display().to_string()), "{mismatched:?}");
    // A key file given as the certificate: no certificate in it.
    let swapped = problems_with(&format!("tls = {{ cert = {:?}, key = {:?} }}", a.key, a.key));
    assert!(swapped[0].contains("no certificate"), "{swapped:?}");
    let no_key = problems_with(&format!("tls = {{ cert = {:?}, key = {:?} }}", a.cert, a.cert));
    assert!(no_key[0].contains("no private key"), "{no_key:?}");
}

on_both_drivers!(haproxy_bind_ssl_crt_serves_https_from_one_pem, haproxy_bind_ssl_crt_serves_https_from_one_pem);
fn haproxy_bind_ssl_crt_serves_https_from_one_pem(driver: Driver) {
    let b = http_backend();
    let cert = cert_for(&["localhost"]);
    let pem = cert.combined_pem();
    let text = format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend fe\n  bind 127.0.0.1:0 ssl crt {}\n  default_backend be\n\
         backend be\n  server s1 {}\n",
        pem.display(),
        b.addr
    );
    let mut config = spillway::config::haproxy::parse(&text, "x.cfg").unwrap().config;
    config.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    config.runtime.threads = 1;
    config.runtime.driver = driver;
    let server = start(config);
    let name = server.config().listeners[0].name.clone();
    let mut s = tls_connect(server.listener_addr(&name).unwrap(), "localhost", &client_config(&[&cert], &[])).unwrap();
    assert_eq!(tls_get(&mut s, "/ping").unwrap().2, b"pong");
}

on_both_drivers!(
    a_reload_swaps_certificates_and_a_bad_one_changes_nothing,
    a_reload_swaps_certificates_and_a_bad_one_changes_nothing
);
fn a_reload_swaps_certificates_and_a_bad_one_changes_nothing(driver: Driver) {
    let b = http_backend();
    let (old, new) = (cert_for(&["localhost"]), cert_for(&["localhost"]));
    let mut server = start(https_config(driver, &[b.addr], &[&old], 1));
    let any = any_cert_client();
    let served = |server: &Server| {
        tls_connect(addr(server), "localhost", &any).unwrap().conn.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(served(&server), old.der);
    // A renewal gone wrong: the new certificate written, the old key left in place.
    std::fs::copy(&new.cert, &old.cert).unwrap();
    let err = server.update_groups(server.config().as_ref().clone()).unwrap_err().to_string();
    assert!(err.contains("does not belong") && err.contains("nothing was applied"), "{err}");
    assert_eq!(served(&server), old.der, "nothing changed");
    // Same paths, new contents: what a certificate renewal looks like.
    std::fs::copy(&new.key, &old.key).unwrap();
    server.update_groups(server.config().as_ref().clone()).unwrap();
    assert_eq!(served(&server), new.der);
}
