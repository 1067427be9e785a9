//! The rewritten heads, checked byte for byte.

use std::net::IpAddr;

use super::*;
use crate::http::codec::{parse_request, parse_response, Limits, Method, Parsed};

fn ctx(ip: &str) -> ForwardContext<'static> {
    ForwardContext {
        client_ip: ip.parse::<IpAddr>().expect("test address"),
        listener_port: 8080,
        proto: "http",
        listener_host: "127.0.0.1:8080",
        edits: None,
    }
}

#[track_caller]
fn forward(request: &str, ip: &str) -> String {
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(head)) = parse_request(request.as_bytes(), &Limits::default(), &mut headers) else {
        panic!("{request:?} does not parse");
    };
    let mut out = b"stale".to_vec();
    write_request_head(&mut out, request.as_bytes(), &head, &headers, &ctx(ip));
    String::from_utf8(out).expect("ASCII")
}

#[track_caller]
fn back(response: &str, method: Method, client: Version, close: bool) -> String {
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(head)) = parse_response(response.as_bytes(), &Limits::default(), method, &mut headers)
    else {
        panic!("{response:?} does not parse");
    };
    let mut out = b"stale".to_vec();
    write_response_head(&mut out, response.as_bytes(), &head, &headers, client, close);
    String::from_utf8(out).expect("ASCII")
}

#[test]
fn a_plain_request_gets_the_x_forwarded_fields() {
    assert_eq!(
        forward("GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nBODY", "192.0.2.7"),
        "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.7\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\n\r\n"
    );
}

#[test]
fn x_forwarded_for_appends_to_every_received_value_in_order() {
    assert_eq!(
        forward(
            "GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.2\r\n\
             X-Forwarded-For:\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n\r\n",
            "2001:db8::1"
        ),
        "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1, 10.0.0.2, 2001:db8::1\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\n\r\n"
    );
}

#[test]
fn an_ipv4_client_of_a_dual_stack_listener_is_written_as_ipv4() {
    assert!(forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "::ffff:198.51.100.9")
        .contains("\r\nX-Forwarded-For: 198.51.100.9\r\n"));
}

#[test]
fn hop_by_hop_fields_and_the_ones_connection_names_are_removed() {
    assert_eq!(
        forward(
            "POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, content-length, HOST\r\n\
             Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\n\
             Upgrade: h2c\r\nx-secret: 1\r\nContent-Length: 3\r\nX-Kept: 2\r\n\r\nabc",
            "10.1.1.1"
        ),
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Kept: 2\r\nX-Forwarded-For: 10.1.1.1\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\n\r\n"
    );
}

#[test]
fn http_1_0_without_host_gets_the_listener_address_and_keep_alive() {
    assert_eq!(
        forward("GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n", "10.0.0.9"),
        "GET /old HTTP/1.0\r\nUser-Agent: x\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\
         X-Forwarded-Port: 8080\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n\r\n"
    );
    assert_eq!(
        forward("GET /old HTTP/1.0\r\nHost: named\r\nConnection: close\r\n\r\n", "10.0.0.9"),
        "GET /old HTTP/1.0\r\nHost: named\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n\
         X-Forwarded-Port: 8080\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn expect_100_continue_is_not_forwarded() {
    assert_eq!(
        forward("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", "10.0.0.1"),
        "PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\
         X-Forwarded-Port: 8080\r\n\r\n"
    );
}

#[test]
fn an_upgrade_keeps_upgrade_and_says_connection_upgrade() {
    assert_eq!(
        forward(
            "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "10.0.0.1"
        ),
        "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\
         X-Forwarded-Port: 8080\r\nConnection: upgrade\r\n\r\n"
    );
}

#[test]
fn framing_fields_are_kept_as_received() {
    let out = forward("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,  chunked\r\n\r\n", "10.0.0.1");
    assert!(out.contains("\r\nTransfer-Encoding: gzip,  chunked\r\n"), "{out}");
    let out = forward("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\n", "10.0.0.1");
    assert!(out.contains("\r\nContent-Length: 2, 2\r\n"), "{out}");
}

#[test]
fn leading_empty_lines_are_not_forwarded_and_https_is_named() {
    let request = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(head)) = parse_request(request.as_bytes(), &Limits::default(), &mut headers) else {
        panic!()
    };
    let mut out = Vec::new();
    let tls = ForwardContext { proto: "https", listener_port: 443, ..ctx("10.0.0.1") };
    write_request_head(&mut out, request.as_bytes(), &head, &headers, &tls);
    assert_eq!(
        out,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\r\n"
    );
}

#[test]
fn a_response_loses_its_hop_by_hop_fields() {
    assert_eq!(
        back(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n\
             Content-Length: 2\r\nServer: t\r\n\r\nok",
            Method::Get,
            Version::Http11,
            false
        ),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: t\r\n\r\n"
    );
}

#[test]
fn a_response_says_close_when_the_client_connection_closes() {
    assert_eq!(
        back("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", Method::Get, Version::Http11, true),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn an_http_1_0_client_gets_its_version_and_keep_alive() {
    assert_eq!(
        back("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", Method::Get, Version::Http10, false),
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    assert_eq!(
        back("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get, Version::Http10, true),
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn switching_protocols_keeps_connection_and_upgrade() {
    assert_eq!(
        back(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nKeep-Alive: 1\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            Method::Get,
            Version::Http11,
            false
        ),
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn interim_responses_get_no_connection_field_and_an_empty_reason_stays_empty() {
    assert_eq!(
        back("HTTP/1.1 103\r\nLink: </a>\r\n\r\n", Method::Get, Version::Http11, true),
        "HTTP/1.1 103 \r\nLink: </a>\r\n\r\n"
    );
}

#[test]
fn output_buffers_are_reused() {
    let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(head)) = parse_request(request.as_bytes(), &Limits::default(), &mut headers) else {
        panic!()
    };
    let mut out = Vec::new();
    write_request_head(&mut out, request.as_bytes(), &head, &headers, &ctx("10.0.0.1"));
    let (capacity, first) = (out.capacity(), out.clone());
    write_request_head(&mut out, request.as_bytes(), &head, &headers, &ctx("10.0.0.1"));
    assert_eq!((out.capacity(), &out), (capacity, &first));
}

#[test]
fn addresses_and_ports_are_written_in_full() {
    let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(head)) = parse_request(request.as_bytes(), &Limits::default(), &mut headers) else {
        panic!()
    };
    let mut out = Vec::new();
    for (ip, port, want) in [
        ("0.0.0.0", 0, "X-Forwarded-For: 0.0.0.0\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 0\r\n"),
        (
            "255.255.255.255",
            65535,
            "X-Forwarded-For: 255.255.255.255\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 65535\r\n",
        ),
        ("10.20.3.40", 80, "X-Forwarded-For: 10.20.3.40\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 80\r\n"),
        ("::1", 8443, "X-Forwarded-For: ::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: 8443\r\n"),
    ] {
        write_request_head(
            &mut out,
            request.as_bytes(),
            &head,
            &headers,
            &ForwardContext { listener_port: port, ..ctx(ip) },
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(want), "{text}");
    }
}
