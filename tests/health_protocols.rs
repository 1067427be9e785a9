//! Protocol health checks on real sockets, configured in TOML: each check speaks its protocol's
//! real exchange to a mock that answers it rightly or wrongly (tests/common/check_backends.rs).
//! Each scenario asserts the verdicts, the bytes the check sent (the mock records them), and
//! that routing avoids the target judged unhealthy. Also: fast/down intervals, and the pooled
//! connections and the open TCP sessions of a target marked down closed by `shutdown_sessions`.

mod common;

use std::{
    net::SocketAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use common::{check_backends::*, http_backend::*, *};
use spillway::{Server, StartOptions};

/// A TCP listener `l4` over `targets`, checked every 300 ms, one result flips a verdict;
/// `extra` is appended to `[target_group.health_check]`.
fn start(targets: &[SocketAddr], extra: &str) -> Server {
    start_with(
        targets,
        "tcp",
        &format!("interval = \"300ms\"\ntimeout = \"250ms\"\nhealthy_threshold = 1\nunhealthy_threshold = 1\n{extra}"),
    )
}

fn start_with(targets: &[SocketAddr], listener: &str, health: &str) -> Server {
    let targets: Vec<String> = targets.iter().map(|a| format!("{{ addr = \"{a}\" }}")).collect();
    let text = format!(
        "[runtime]\nthreads = 1\npin = false\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nprotocol = \"{listener}\"\ntarget_group = \"g\"\n\
         [[target_group]]\nname = \"g\"\ntargets = [{}]\n[target_group.health_check]\n{health}",
        targets.join(", ")
    );
    let config = spillway::config::toml::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    Server::start(config, StartOptions::default()).unwrap()
}

#[test]
fn redis_check_sends_ping_and_an_error_reply_marks_the_target_down() {
    let (good, loading) = (redis("good", "+PONG"), redis("loading", "-LOADING Redis is loading the dataset"));
    let server = start(&[good.addr, loading.addr], "protocol = \"redis\"\n");
    verdicts(&server, &good, &[&loading]);
    for c in conversations(&good).iter().chain(&conversations(&loading)) {
        assert_eq!(c, b"PING\r\n");
    }
    routing_avoids(&server, "l4", &good, &[&loading]);
}

/// A group whose targets expect the PROXY protocol gets it on every kind of check, not only
/// HTTP's: the header naming no client (v1 `UNKNOWN`), then the protocol's own exchange.
#[test]
fn protocol_checks_of_a_proxy_protocol_group_start_with_the_header() {
    let (good, loading) = (redis("good", "+PONG"), redis("loading", "-LOADING"));
    let text = format!(
        "[runtime]\nthreads = 1\npin = false\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp\"\ntarget_group = \"g\"\n\
         [[target_group]]\nname = \"g\"\nproxy_protocol = \"v1\"\ntargets = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\n\
         [target_group.health_check]\nprotocol = \"redis\"\ninterval = \"300ms\"\ntimeout = \"250ms\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 1\n",
        good.addr, loading.addr
    );
    let config = spillway::config::toml::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let server = Server::start(config, StartOptions::default()).unwrap();
    verdicts(&server, &good, &[&loading]);
    for c in conversations(&good).iter().chain(&conversations(&loading)) {
        assert_eq!(c, b"PROXY UNKNOWN\r\nPING\r\n");
    }
}

#[test]
fn mysql_check_logs_in_without_password_and_an_error_packet_marks_the_target_down() {
    let good = mysql("good", MysqlAnswer::Ok);
    let denied = mysql("denied", MysqlAnswer::Denied);
    let busy = mysql("busy", MysqlAnswer::Busy);
    let server = start(&[good.addr, denied.addr, busy.addr], "protocol = \"mysql\"\nuser = \"haproxy\"\n");
    verdicts(&server, &good, &[&denied, &busy]);
    for c in conversations(&good).iter().chain(&conversations(&denied)) {
        // HandshakeResponse41: 41 bytes of payload, sequence 1, protocol-41 capabilities,
        // charset 0x21, the user, an empty auth response; then COM_QUIT.
        assert_eq!(&c[..4], &[41, 0, 0, 1], "{c:?}");
        assert_eq!(&c[4..8], &[0x00, 0x82, 0x00, 0x00]);
        assert_eq!(&c[36..45], b"haproxy\0\0");
        assert_eq!(&c[45..], &[1, 0, 0, 0, 1]);
    }
    assert!(conversations(&busy).iter().all(|c| c.is_empty()), "nothing is sent to a server that refused");
    routing_avoids(&server, "l4", &good, &[&denied, &busy]);
}

#[test]
fn mysql_check_without_user_reads_the_greeting_only() {
    let (denied, busy) = (mysql("denied", MysqlAnswer::Denied), mysql("busy", MysqlAnswer::Busy));
    let server = start(&[denied.addr, busy.addr], "protocol = \"mysql\"\n");
    // Without a user the login is never tried: the greeting makes the target healthy.
    verdicts(&server, &denied, &[&busy]);
    assert!(conversations(&denied).iter().all(|c| c.is_empty()));
}

#[test]
fn pgsql_check_sends_a_startup_message_and_an_error_response_marks_the_target_down() {
    let (good, refused) = (pgsql("good", true), pgsql("refused", false));
    let server = start(&[good.addr, refused.addr], "protocol = \"pgsql\"\nuser = \"postgres\"\n");
    verdicts(&server, &good, &[&refused]);
    for c in conversations(&good) {
        assert_eq!(c, b"\0\0\0\x17\0\x03\0\0user\0postgres\0\0");
    }
    routing_avoids(&server, "l4", &good, &[&refused]);
}

#[test]
fn smtp_check_greets_and_quits_and_a_554_banner_marks_the_target_down() {
    let (good, refusing) = (smtp("good", "220 mail.example.com ESMTP"), smtp("refusing", "554 no service"));
    let server = start(&[good.addr, refusing.addr], "protocol = \"smtp\"\nsmtp_hello = \"EHLO lb.example.com\"\n");
    verdicts(&server, &good, &[&refusing]);
    for c in conversations(&good) {
        assert_eq!(c, b"EHLO lb.example.com\r\nQUIT\r\n");
    }
    assert!(conversations(&refusing).iter().all(|c| c.is_empty()), "no greeting after a 554 banner");
    routing_avoids(&server, "l4", &good, &[&refusing]);
}

#[test]
fn tcp_check_steps_run_in_order_and_a_wrong_reply_fails() {
    let (good, bad) = (redis("good", "+PONG"), redis("bad", "-ERR"));
    let steps = "tcp_check = [\n  { send = \"PING\\r\\n\" },\n  { expect = \"+PONG\" },\n  \
                 { expect_regex = \"^-ERR\", negate = true },\n  { send = \"QUIT\\r\\n\" },\n  { expect_binary = \"2b4f4b\" },\n]\n";
    let server = start(&[good.addr, bad.addr], steps);
    verdicts(&server, &good, &[&bad]);
    for c in conversations(&good) {
        assert_eq!(c, b"PING\r\nQUIT\r\n");
    }
    for c in conversations(&bad) {
        assert_eq!(c, b"PING\r\n", "the conversation stops at the failed expect");
    }
    routing_avoids(&server, "l4", &good, &[&bad]);
}

#[test]
fn http_check_sends_method_and_headers_and_judges_the_body() {
    let (up, down) = (http("up", "{\"status\":\"UP\"}"), http("down", "{\"status\":\"DOWN\"}"));
    let health = "protocol = \"http\"\npath = \"/check\"\nmethod = \"GET\"\nversion = \"HTTP/1.0\"\n\
                  headers = { Host = \"www.example.com\", X-Check = \"spillway\" }\nexpect = { body = \"UP\" }\n";
    let server = start(&[up.addr, down.addr], health);
    verdicts(&server, &up, &[&down]);
    let check = String::from_utf8(conversations(&up)[0].clone()).unwrap();
    assert!(check.starts_with("GET /check HTTP/1.0\r\nHost: www.example.com\r\nX-Check: spillway\r\n"), "{check}");
    routing_avoids(&server, "l4", &up, &[&down]);
}

#[test]
fn ssl_hello_check_wants_a_server_hello() {
    let (tls, alert) = (tls_hello("tls", true), tls_hello("alert", false));
    let server = start(&[tls.addr, alert.addr], "protocol = \"ssl_hello\"\n");
    verdicts(&server, &tls, &[&alert]);
    let hello = &conversations(&tls)[0];
    assert_eq!((&hello[..3], hello[5]), (&[0x16, 0x03, 0x01][..], 0x01), "a ClientHello record");
    routing_avoids(&server, "l4", &tls, &[&alert]);
}

#[test]
fn fast_interval_while_going_down_and_down_interval_while_down() {
    let bad = redis("bad", "-ERR");
    let started = Instant::now();
    let server = start_with(
        &[bad.addr],
        "tcp",
        "protocol = \"redis\"\ninterval = \"2s\"\ntimeout = \"500ms\"\nfast_interval = \"100ms\"\n\
         down_interval = \"20s\"\nhealthy_threshold = 1\nunhealthy_threshold = 3\n",
    );
    assert!(wait_until(Duration::from_secs(8), || state(&server, bad.addr) == "unhealthy"));
    // The first check within the first interval (2 s), the next two 100 ms apart: every 2 s
    // they would take until 6 s.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3500), "unhealthy after {took:?}: fast_interval not used");
    assert_eq!(bad.checks().len(), 3);
    // Down: the next check is 20 s away (2 s without down_interval).
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(bad.checks().len(), 3, "checked again within down_interval");
}

/// Connections the backend holds open now.
fn open(b: &HttpBackend) -> usize {
    b.seen.connections.load(Ordering::SeqCst) - b.seen.closed.load(Ordering::SeqCst)
}

fn pooled_connection_after_marked_down(shutdown: bool) -> bool {
    let b = http_backend();
    let health = format!(
        "protocol = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 1\nshutdown_sessions = {shutdown}\n"
    );
    let server = start_with(&[b.addr], "http", &health);
    assert!(wait_until(Duration::from_secs(5), || state(&server, b.addr) == "healthy"));
    let addr = server.listener_addr("l4").unwrap();
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let (status, head, _) = read_response(&mut std::io::BufReader::new(s)).unwrap();
        assert_eq!(status, 200, "{head}");
    }
    // The backend connection stays in spillway's pool.
    assert!(wait_until(Duration::from_secs(2), || open(&b) == 1), "open: {}", open(&b));
    b.seen.unhealthy.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || state(&server, b.addr) == "unhealthy"));
    // Closed within the shard's poll (100 ms), with room for a loaded machine.
    !wait_until(Duration::from_millis(1500), || open(&b) == 0)
}

#[test]
fn shutdown_sessions_closes_the_pooled_connections_of_a_target_marked_down() {
    assert!(!pooled_connection_after_marked_down(true), "the pooled connection outlived the down verdict");
    assert!(pooled_connection_after_marked_down(false), "without shutdown_sessions the pool keeps it");
}

/// A TCP session open through spillway to a target that is then marked down: with
/// `shutdown_sessions` the client sees the connection end (within the shard's poll), without
/// it the session goes on. Answers whether the session was ended.
fn open_tcp_session_after_marked_down(shutdown: bool) -> bool {
    use std::io::{Read, Write};
    let b = http_backend();
    let health = format!(
        "protocol = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\n\
         healthy_threshold = 1\nunhealthy_threshold = 1\nshutdown_sessions = {shutdown}\n"
    );
    let server = start_with(&[b.addr], "tcp", &health);
    assert!(wait_until(Duration::from_secs(5), || state(&server, b.addr) == "healthy"));
    let mut s = std::net::TcpStream::connect(server.listener_addr("l4").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    let (status, head, _) = read_response(&mut r).unwrap();
    assert_eq!(status, 200, "{head}");
    b.seen.unhealthy.store(true, Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(5), || state(&server, b.addr) == "unhealthy"));
    // Ended: the read sees the end of the stream (or a reset) well within 1.5 s; going on: the
    // read times out, and the session still carries a request.
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut byte = [0u8; 1];
    match r.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("unexpected bytes on an idle session"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(_) => {
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (status, head, _) = read_response(&mut r).unwrap();
            assert_eq!(status, 200, "the session kept without shutdown_sessions: {head}");
            false
        }
    }
}

#[test]
fn shutdown_sessions_ends_the_tcp_sessions_open_to_a_target_marked_down() {
    assert!(open_tcp_session_after_marked_down(true), "the session outlived the down verdict");
    assert!(!open_tcp_session_after_marked_down(false), "without shutdown_sessions the session was ended");
}

#[test]
fn toml_check_keys_are_checked_with_the_key_path_and_line() {
    let base = "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:0\"\ntarget_group = \"g\"\n\
                [[target_group]]\nname = \"g\"\ntargets = [{ addr = \"127.0.0.1:1\" }]\n[target_group.health_check]\n";
    let err = |extra: &str| {
        spillway::config::toml::parse(&format!("{base}{extra}"), "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        err("protocol = \"pgsql\"\n"),
        "t.toml:9: target_group[0].health_check.user: protocol \"pgsql\" needs a user to log in as"
    );
    assert_eq!(
        err("tcp_check = [\n { send = \"a\", expect = \"b\" },\n]\n"),
        "t.toml:10: target_group[0].health_check.tcp_check[0]: give exactly one of connect, send, send_binary, expect, expect_regex, expect_binary"
    );
    assert!(err("tcp_check = [{ expect_regex = \"(\" }]\n")
        .starts_with("t.toml:9: target_group[0].health_check.tcp_check: invalid regular expression"));
    assert!(err("tcp_check = [{ send_binary = \"0g\" }]\n")
        .contains("tcp_check[0]: send_binary: \"0g\" is not an even number of hex digits"));
    assert!(
        err("protocol = \"ldap\"\n").contains("expected one of tcp, http, https, mysql, pgsql, redis, smtp, ssl_hello")
    );
    assert_eq!(
        err("fast_interval = \"0s\"\n"),
        "t.toml:9: target_group[0].health_check.fast_interval: must be greater than 0"
    );
    assert_eq!(
        err("protocol = \"redis\"\ntcp_check = [{ send = \"x\" }]\n"),
        "t.toml:9: target_group[0].health_check.tcp_check: steps are for protocol \"tcp\""
    );
    assert!(err("protocol = \"redis\"\nuser = \"x\"\nfast_interval = \"1s\"\ndown_interval = \"5s\"\nshutdown_sessions = true\n").is_empty());
}
