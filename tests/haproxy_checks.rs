//! The health-check files of tests/haproxy/drop-in/ (`check-*.cfg`, one per check option, each
//! `haproxy -c`-valid: `haproxy_dropin.rs` checks that) started for real: each server port
//! (19xxx) is a mock that answers the check rightly or wrongly (tests/common/check_backends.rs),
//! each bind port (18xxx) becomes port 0. The tests assert the verdicts, the bytes each check
//! sent, and that clients routed through the file's listener never reach the unhealthy server.
//! Also the reader's side: what each check line maps to and the `FILE:LINE` of a bad one.

mod common;

use std::{
    collections::HashMap,
    io::{BufReader, Write},
    net::TcpStream,
    time::Duration,
};

use common::{check_backends::*, http_backend::read_response};
use spillway::{
    config::{haproxy, CheckStep, Config, ExpectPattern, HealthProtocol},
    Server, StartOptions,
};

/// Starts `file` with its server ports on the mocks `ports` names; answers the server and the
/// configuration read.
fn start(file: &str, ports: &[(u16, &Mock)]) -> (Server, Config) {
    let map: HashMap<u16, u16> = ports.iter().map(|(p, m)| (*p, m.addr.port())).collect();
    let text = common::drop_in_corpus(file, |port| {
        *map.get(&port).unwrap_or_else(|| panic!("{file}: no mock for port {port}"))
    });
    let path = common::scratch_file(file, &text);
    let (mut config, _) =
        Config::load_files_with(&[path], haproxy::Options::default()).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    config.runtime.threads = 2;
    config.runtime.pin = false;
    config.runtime.upgrade_socket = None;
    config.runtime.daemon = false;
    // The verdicts are read from the admin API, on a port of the test's own.
    config.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::start(config.clone(), StartOptions::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
    (server, config)
}

#[test]
fn mysql_check_logs_in_and_routing_avoids_a_denied_and_a_busy_server() {
    let (db1, db2, db3) =
        (mysql("db1", MysqlAnswer::Ok), mysql("db2", MysqlAnswer::Denied), mysql("db3", MysqlAnswer::Busy));
    let (server, config) = start("check-mysql.cfg", &[(19301, &db1), (19302, &db2), (19303, &db3)]);
    let hc = &config.target_groups[0].health_check;
    assert_eq!((hc.protocol, hc.user.as_str()), (HealthProtocol::Mysql, "haproxy"));
    verdicts(&server, &db1, &[&db2, &db3]);
    for c in conversations(&db1) {
        assert_eq!(&c[..4], &[41, 0, 0, 1], "a HandshakeResponse41, sequence 1");
        assert_eq!(&c[36..], b"haproxy\0\0\x01\0\0\0\x01", "the user, no password, then COM_QUIT");
    }
    routing_avoids(&server, "mysql", &db1, &[&db2, &db3]);
}

#[test]
fn pgsql_check_wants_an_authentication_request() {
    let (pg1, pg2) = (pgsql("pg1", true), pgsql("pg2", false));
    let (server, config) = start("check-pgsql.cfg", &[(19311, &pg1), (19312, &pg2)]);
    assert!(config.target_groups[0].health_check.shutdown_sessions, "on-marked-down shutdown-sessions");
    verdicts(&server, &pg1, &[&pg2]);
    for c in conversations(&pg1) {
        assert_eq!(c, b"\0\0\0\x17\0\x03\0\0user\0postgres\0\0");
    }
    routing_avoids(&server, "postgres", &pg1, &[&pg2]);
}

#[test]
fn redis_check_routes_around_a_loading_server() {
    let (r1, r2) = (redis("redis1", "+PONG"), redis("redis2", "-LOADING Redis is loading the dataset in memory"));
    let (server, _) = start("check-redis.cfg", &[(19321, &r1), (19322, &r2)]);
    verdicts(&server, &r1, &[&r2]);
    assert!(conversations(&r2).iter().all(|c| c == b"PING\r\n"));
    routing_avoids(&server, "redis_in", &r1, &[&r2]);
}

#[test]
fn tcp_check_rules_run_against_the_check_port() {
    // Data ports (answering clients) and check ports (answering the rules) are different mocks.
    let (data1, data2) = (redis("R1", "+PONG"), redis("R2", "+PONG"));
    let (check1, check2) = (redis("R1-check", "+PONG"), redis("R2-check", "-ERR"));
    let (server, config) =
        start("check-tcp-check.cfg", &[(19331, &data1), (19332, &data2), (19333, &check1), (19334, &check2)]);
    let hc = &config.target_groups[0].health_check;
    assert_eq!(hc.script.len(), 7);
    assert_eq!(hc.script[0], CheckStep::Connect { port: 0 });
    assert_eq!(hc.script[4], CheckStep::Expect { negate: true, pattern: ExpectPattern::Bytes(b"role:slave".to_vec()) });
    assert!(wait_healthy_unhealthy(&server, &data1, &data2));
    for c in conversations(&check1) {
        assert_eq!(c, b"PING\r\ninfo replication\r\nQUIT\r\n");
    }
    assert!(conversations(&check2).iter().all(|c| c == b"PING\r\n"), "stops at the failed expect");
    assert!(data1.checks().is_empty() && data2.checks().is_empty(), "no check reached a data port");
    routing_avoids(&server, "ft_redis", &data1, &[&data2]);
}

/// The verdicts of targets whose checks go elsewhere (the target is the data mock).
fn wait_healthy_unhealthy(server: &Server, good: &Mock, bad: &Mock) -> bool {
    common::wait_until(Duration::from_secs(10), || {
        state(server, good.addr) == "healthy" && state(server, bad.addr) == "unhealthy"
    })
}

#[test]
fn smtp_check_greets_with_the_files_ehlo() {
    let (mx1, mx2) = (smtp("mx1", "220 mx1.example.com ESMTP"), smtp("mx2", "554 5.3.2 no service"));
    let (server, _) = start("check-smtp.cfg", &[(19341, &mx1), (19342, &mx2)]);
    verdicts(&server, &mx1, &[&mx2]);
    for c in conversations(&mx1) {
        assert_eq!(c, b"EHLO lb.example.com\r\nQUIT\r\n");
    }
    routing_avoids(&server, "smtp", &mx1, &[&mx2]);
}

#[test]
fn httpchk_sends_the_files_request_and_judges_the_body() {
    let (app1, app2) = (http("app1", "{\"status\":\"UP\"}"), http("app2", "{\"status\":\"DOWN\"}"));
    let (server, config) = start("check-httpchk.cfg", &[(19351, &app1), (19352, &app2)]);
    let hc = &config.target_groups[0].health_check;
    assert_eq!((hc.fast_interval, hc.down_interval), (Some(Duration::from_millis(200)), Some(Duration::from_secs(1))));
    verdicts(&server, &app1, &[&app2]);
    let check = String::from_utf8(conversations(&app1)[0].clone()).unwrap();
    assert!(check.starts_with("GET /check/health HTTP/1.1\r\nHost: www.example.com\r\n"), "{check}");
    let addr = server.listener_addr("www").unwrap();
    for _ in 0..6 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let (status, _, body) = read_response(&mut BufReader::new(s)).unwrap();
        assert_eq!((status, String::from_utf8_lossy(&body).into_owned()), (200, "I am app1".to_string()));
    }
}

#[test]
fn ssl_hello_check_routes_around_a_server_that_alerts() {
    let (tls1, tls2) = (tls_hello("tls1", true), tls_hello("tls2", false));
    let (server, _) = start("check-ssl-hello.cfg", &[(19361, &tls1), (19362, &tls2)]);
    verdicts(&server, &tls1, &[&tls2]);
    routing_avoids(&server, "https_in", &tls1, &[&tls2]);
}

/// Every problem (or the notes) of a backend with `lines`, as `LINE: message`.
fn read(lines: &str) -> Result<Vec<String>, Vec<String>> {
    let text = format!(
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
         listen l\n  bind 127.0.0.1:18001\n{lines}"
    );
    let fmt = |p: &spillway::config::Problem| format!("{}: {}", p.line, p.message);
    haproxy::parse(&text, "x.cfg")
        .map(|p| p.notes.iter().map(fmt).collect())
        .map_err(|e| e.problems.iter().map(fmt).collect())
}

#[test]
fn malformed_check_lines_are_refused_at_their_line() {
    for (line, message) in [
        ("option pgsql-check", "option pgsql-check: expected user NAME"),
        ("option mysql-check user u pre-41", "only the post-4.1 exchange is supported"),
        ("option ldap-check", "option ldap-check: not supported"),
        ("tcp-check send-binary 0x0a", "is not an even number of hex digits"),
        ("tcp-check expect rbinary ^00", "tcp-check expect rbinary: not supported"),
        ("tcp-check expect rstring (", "invalid regular expression"),
        ("tcp-check connect port 6379 ssl", "tcp-check connect ssl: not supported"),
        ("http-check expect status abc", "abc"),
        ("http-check send meth GET uri /x body hello", "http-check send body: not supported"),
        ("http-check expect string", "needs a pattern"),
        ("server s 127.0.0.1:9 check fastinter 0", "fastinter must be greater than 0"),
        ("server s 127.0.0.1:9 check addr nowhere", "addr \"nowhere\": expected an IP address"),
        ("server s 127.0.0.1:9 check on-marked-down reset", "on-marked-down: expected shutdown-sessions"),
    ] {
        let err = read(&format!("  server ok 127.0.0.1:1\n  {line}\n")).expect_err(line);
        assert!(err.iter().any(|e| e.starts_with("9: ") && e.contains(message)), "{line}: {err:?}");
    }
}

#[test]
fn check_lines_map_onto_the_group_check() {
    let text = "  option tcp-check\n  tcp-check send PING\\r\\n\n  tcp-check expect string +PONG\n  \
                server a 127.0.0.1:6379 check port 6380 addr 127.0.0.2 inter 1s fastinter 100ms downinter 5s rise 1 fall 2\n  \
                server b 127.0.0.1:6381 check\n";
    let parsed = haproxy::parse(
        &format!("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nlisten l\n  bind 127.0.0.1:18001\n{text}"),
        "x.cfg",
    )
    .unwrap();
    let hc = &parsed.config.target_groups[0].health_check;
    assert_eq!(hc.protocol, HealthProtocol::Tcp);
    assert_eq!(
        hc.script,
        vec![
            CheckStep::Send(b"PING\r\n".to_vec()),
            CheckStep::Expect { negate: false, pattern: ExpectPattern::Bytes(b"+PONG".to_vec()) }
        ]
    );
    let ms = Duration::from_millis;
    assert_eq!((hc.interval, hc.fast_interval, hc.down_interval), (ms(1000), Some(ms(100)), Some(ms(5000))));
    assert_eq!(hc.check_addr("127.0.0.1:6379".parse().unwrap()), "127.0.0.2:6380".parse().unwrap());
    assert_eq!(
        hc.check_addr("127.0.0.1:6381".parse().unwrap()),
        "127.0.0.1:6381".parse().unwrap(),
        "b has no check port"
    );
    // Servers checked at different paces share one: the first server's, with a note.
    assert!(parsed.notes.iter().any(|n| n.message.contains("servers check at different intervals")));
    // tcp-check rules without option tcp-check: ignored with a warning, as HAProxy does.
    let notes = read("  tcp-check send PING\\r\\n\n  server a 127.0.0.1:6379 check\n").unwrap();
    assert!(
        notes.iter().any(|n| n == "8: tcp-check rules without option tcp-check: no effect (as in HAProxy)"),
        "{notes:?}"
    );
}
