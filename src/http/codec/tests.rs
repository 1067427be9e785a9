//! Unit tests of the head parsers: one per rule, limits at the boundary ±1 byte, and a
//! seeded-random property test mirroring the `request_head` fuzz target.

use super::*;
use crate::http::properties::{check_request, check_response, mutate};

fn parse(s: &[u8]) -> Result<Parsed<RequestHead>, HttpError> {
    parse_with(s, &Limits::default())
}

fn parse_with(s: &[u8], limits: &Limits) -> Result<Parsed<RequestHead>, HttpError> {
    parse_request(s, limits, &mut Vec::new())
}

#[track_caller]
fn head(s: &str) -> RequestHead {
    match parse(s.as_bytes()) {
        Ok(Parsed::Complete(h)) => h,
        other => panic!("{s:?}: {other:?}"),
    }
}

#[track_caller]
fn status(s: &[u8]) -> u16 {
    match parse(s) {
        Err(e) => e.status,
        other => panic!("{:?}: expected an error, got {other:?}", String::from_utf8_lossy(s)),
    }
}

/// A GET with `fields` (lines "Name: value" joined by CRLF) after a Host.
fn get(fields: &str) -> String {
    if fields.is_empty() {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_string()
    } else {
        format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n\r\n")
    }
}

fn response(s: &[u8], method: Method) -> Result<Parsed<ResponseHead>, HttpError> {
    parse_response(s, &Limits::default(), method, &mut Vec::new())
}

#[track_caller]
fn resp(s: &str, method: Method) -> ResponseHead {
    match response(s.as_bytes(), method) {
        Ok(Parsed::Complete(h)) => h,
        other => panic!("{s:?}: {other:?}"),
    }
}

#[track_caller]
fn resp_status(s: &[u8]) -> u16 {
    match response(s, Method::Get) {
        Err(e) => e.status,
        other => panic!("{:?}: expected an error, got {other:?}", String::from_utf8_lossy(s)),
    }
}

#[test]
fn a_simple_request_is_parsed_in_place() {
    let buf = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \t\r\nX-Empty:\r\n\r\n";
    let mut headers = Vec::new();
    let Ok(Parsed::Complete(h)) = parse_request(buf, &Limits::default(), &mut headers) else { panic!() };
    assert_eq!(h.head_len, buf.len());
    assert_eq!(h.method, Method::Get);
    assert_eq!(slice(buf, h.method_range), b"GET");
    assert_eq!(slice(buf, h.target), b"/index.html?q=1");
    assert_eq!(slice(buf, h.request_line()), b"GET /index.html?q=1 HTTP/1.1");
    assert_eq!(
        (h.version, h.framing, h.keep_alive, h.upgrade, h.expect_continue, h.has_host),
        (Version::Http11, BodyFraming::None, true, false, false, true)
    );
    let fields: Vec<_> = headers.iter().map(|f| (f.name(buf), f.value(buf))).collect();
    assert_eq!(fields, [(&b"Host"[..], &b"example.com"[..]), (b"Accept", b"*/*"), (b"X-Empty", b"")]);
    assert!(headers[0].is(buf, "HOST"));
}

#[test]
fn pipelined_requests_are_parsed_one_after_the_other() {
    let first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    let second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let buf = format!("{first}abc{second}");
    let h = head(&buf);
    assert_eq!((h.head_len, h.framing), (first.len(), BodyFraming::Length(3)));
    let h2 = head(&buf[first.len() + 3..]);
    assert_eq!((h2.head_len, h2.method), (second.len(), Method::Get));
}

#[test]
fn every_prefix_of_a_valid_head_is_partial() {
    let buf = "\r\nPUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX: y\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(parse(&buf.as_bytes()[..n]), Ok(Parsed::Partial), "{:?}", &buf[..n]);
    }
    assert_eq!(head(buf).head_len, buf.len());
}

#[test]
fn empty_lines_before_the_request_line_are_skipped_but_must_be_crlf() {
    let h = head("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.method_range, (4, 7));
    assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn methods_are_case_sensitive_tokens() {
    for (m, want) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("OPTIONS", Method::Options),
        ("TRACE", Method::Trace),
        ("PATCH", Method::Patch),
        ("get", Method::Other),
        ("PURGE", Method::Other),
        ("M-SEARCH", Method::Other),
    ] {
        assert_eq!(head(&format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n")).method, want, "{m}");
    }
    assert_eq!(head("CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n").method, Method::Connect);
    let idempotent: Vec<_> = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Trace,
        Method::Connect,
        Method::Patch,
        Method::Other,
    ]
    .into_iter()
    .filter(|m| m.is_idempotent())
    .collect();
    assert_eq!(idempotent, [Method::Get, Method::Head, Method::Put, Method::Delete, Method::Options, Method::Trace]);
    for bad in ["G(T / HTTP/1.1", "G@T / HTTP/1.1", " / HTTP/1.1", "GET  / HTTP/1.1", "G\x01T / HTTP/1.1"] {
        assert_eq!(status(format!("{bad}\r\nHost: a\r\n\r\n").as_bytes()), 400, "{bad:?}");
    }
}

#[test]
fn request_targets_without_spaces_or_ctls_in_the_form_the_method_allows() {
    for ok in [
        "GET /a%20b?c=d|e HTTP/1.1",
        "GET http://a.example/x HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "CONNECT a.example:443 HTTP/1.1",
        "GET /caf\u{e9} HTTP/1.1",
    ] {
        head(&format!("{ok}\r\nHost: a\r\n\r\n"));
    }
    for bad in [
        "GET /a b HTTP/1.1",
        "GET /a\x01 HTTP/1.1",
        "GET /a\x7f HTTP/1.1",
        "GET /a\tb HTTP/1.1",
        "GET a HTTP/1.1",
        "GET * HTTP/1.1",
        "CONNECT /x HTTP/1.1",
        "CONNECT a.example HTTP/1.1",
        "GET 1http:x HTTP/1.1",
        "GET / HTTP/1.1 ",
        "GET /",
    ] {
        assert_eq!(status(format!("{bad}\r\nHost: a\r\n\r\n").as_bytes()), 400, "{bad:?}");
    }
    assert_eq!(status(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"), 400); // not UTF-8
}

#[test]
fn versions_other_than_1_0_and_1_1() {
    for v in ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"] {
        assert_eq!(status(format!("GET / {v}\r\nHost: a\r\n\r\n").as_bytes()), 505, "{v}");
    }
    for v in ["http/1.1", "HTTP/11", "HTTP/1.1x", "HTTP/1", "HTTP/a.b", "HTTX/1.1", "HTTP/1.10"] {
        assert_eq!(status(format!("GET / {v}\r\nHost: a\r\n\r\n").as_bytes()), 400, "{v}");
    }
    assert_eq!(parse(b"GET / HTTP/2"), Ok(Parsed::Partial));
    assert_eq!(parse(b"GET / HTTP/2.0"), Ok(Parsed::Partial));
    assert_eq!(status(b"GET / HTTP/2x"), 400);
    assert_eq!(head("GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
}

#[test]
fn every_line_must_end_with_crlf() {
    for bad in [
        &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a \n\r\n",
        b"GET / HTTP/1.1\r\nX:\nHost: a\r\n\r\n",
    ] {
        assert_eq!(status(bad), 400, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn obs_fold_and_whitespace_before_the_colon_are_rejected() {
    assert_eq!(status(get("X: a\r\n  folded\r\n").as_bytes()), 400);
    assert_eq!(status(get("X: a\r\n\tfolded\r\n").as_bytes()), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
    assert_eq!(status(get("X : a\r\n").as_bytes()), 400);
    assert_eq!(status(get("X\t: a\r\n").as_bytes()), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
}

#[test]
fn field_names_are_tokens_and_values_have_no_ctls() {
    for name in ["X(a", "X@b", "X/c", "X\"d", ": empty name", "X\u{e9}"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: v\r\n\r\n");
        assert_eq!(status(buf.as_bytes()), 400, "{name:?}");
    }
    for ctl in [0u8, 1, 0x0b, 0x0c, 0x1f, 0x7f] {
        let buf = [&b"GET / HTTP/1.1\r\nHost: a\r\nX: a"[..], &[ctl], b"b\r\n\r\n"].concat();
        assert_eq!(status(&buf), 400, "{ctl:#x}");
    }
    head("GET / HTTP/1.1\r\nHost: a\r\nX-T!#$%&'*+.^_`|~0: a\tb \"c\" \u{e9}\r\n\r\n");
    let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    buf.extend((0x80..=0xffu8).chain(0x20..0x7f));
    buf.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(parse(&buf), Ok(Parsed::Complete(_))));
}

#[test]
fn host_is_required_on_1_1_unique_and_valid() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    for bad in ["a b", "a/b", "a@b", "a\"b", "a\\b"] {
        assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes()), 400, "{bad}");
    }
    for good in ["example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.example", ""] {
        assert!(head(&format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n")).has_host);
    }
    let h = head("GET / HTTP/1.0\r\n\r\n");
    assert!(!h.has_host && !h.keep_alive);
}

#[test]
fn content_length_rules() {
    assert_eq!(head(&get("Content-Length: 5")).framing, BodyFraming::Length(5));
    assert_eq!(head(&get("Content-Length: 0")).framing, BodyFraming::Length(0));
    assert_eq!(head(&get("Content-Length: 007")).framing, BodyFraming::Length(7));
    assert_eq!(head(&get("Content-Length: 5, 5")).framing, BodyFraming::Length(5));
    assert_eq!(head(&get("Content-Length: 5\r\ncontent-length: 5")).framing, BodyFraming::Length(5));
    assert_eq!(head(&get("Content-Length: 18446744073709551615")).framing, BodyFraming::Length(u64::MAX));
    for bad in [
        "5, 6",
        "5\r\nContent-Length: 6",
        "-5",
        "+5",
        "",
        " ",
        "5a",
        "0x5",
        "5 5",
        "5,",
        ",5",
        "5,,5",
        "1.0",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_eq!(status(get(&format!("Content-Length: {bad}")).as_bytes()), 400, "{bad:?}");
    }
}

#[test]
fn transfer_encoding_rules() {
    for ok in [
        "chunked",
        "Chunked",
        "gzip, chunked",
        "GZIP ,\tCHUNKED",
        "deflate,compress , chunked",
        "gzip;q=1, chunked",
        "gzip\r\nTransfer-Encoding: chunked",
        ",chunked",
    ] {
        assert_eq!(head(&get(&format!("Transfer-Encoding: {ok}"))).framing, BodyFraming::Chunked, "{ok:?}");
    }
    for bad in [
        "chunked, gzip",
        "gzip",
        "chunked\r\nTransfer-Encoding: gzip",
        "chunked, chunked",
        "chunked\r\nTransfer-Encoding: chunked",
        "chunked;x=1",
        "",
        "chun ked",
        "chunked, g(zip",
    ] {
        assert_eq!(status(get(&format!("Transfer-Encoding: {bad}")).as_bytes()), 400, "{bad:?}");
    }
    for unsupported in ["br, chunked", "identity, chunked", "x-custom, gzip, chunked"] {
        assert_eq!(status(get(&format!("Transfer-Encoding: {unsupported}")).as_bytes()), 501, "{unsupported:?}");
    }
    assert_eq!(status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

#[test]
fn content_length_with_transfer_encoding_is_the_smuggling_classic() {
    let attack = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n0\r\n\r\n";
    assert_eq!(parse(attack), Err(HttpError { status: 400, reason: "Content-Length with Transfer-Encoding" }));
    assert_eq!(status(get("Transfer-Encoding: chunked\r\nContent-Length: 4").as_bytes()), 400);
}

#[test]
fn keep_alive_follows_the_version_and_connection_tokens() {
    assert!(head(&get("")).keep_alive);
    assert!(!head(&get("Connection: close")).keep_alive);
    assert!(!head(&get("Connection: Keep-Alive, CLOSE")).keep_alive);
    assert!(!head(&get("Connection: keep-alive\r\nConnection: close")).keep_alive);
    assert!(head(&get("Connection: closed, x-close")).keep_alive);
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

#[test]
fn upgrade_needs_the_connection_token_and_the_header_on_1_1() {
    assert!(head(&get("Connection: Upgrade\r\nUpgrade: websocket")).upgrade);
    assert!(head(&get("Connection: keep-alive, upgrade\r\nUpgrade: websocket")).upgrade);
    assert!(!head(&get("Upgrade: websocket")).upgrade);
    assert!(!head(&get("Connection: upgrade")).upgrade);
    assert!(!head("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade);
}

#[test]
fn expect_100_continue_on_1_1_and_417_for_other_expectations() {
    assert!(head(&get("Expect: 100-continue\r\nContent-Length: 1")).expect_continue);
    assert!(head(&get("Expect: 100-Continue")).expect_continue);
    assert!(!head(&get("Expect:")).expect_continue);
    assert!(!head("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    assert!(!head("POST / HTTP/1.0\r\nExpect: something\r\n\r\n").expect_continue);
    assert_eq!(status(get("Expect: something").as_bytes()), 417);
    assert_eq!(status(get("Expect: 100-continue, x").as_bytes()), 417);
}

/// A request whose request line is `line_len` bytes long (without CRLF).
fn line_of(line_len: usize) -> String {
    format!("GET /{} HTTP/1.1", "a".repeat(line_len - 14))
}

#[test]
fn request_line_limit_is_16k_also_while_partial() {
    let max = Limits::default().max_request_line;
    assert_eq!(line_of(max).len(), max);
    head(&format!("{}\r\nHost: a\r\n\r\n", line_of(max)));
    assert_eq!(status(format!("{}\r\nHost: a\r\n\r\n", line_of(max + 1)).as_bytes()), 414);
    let line = line_of(max + 1);
    assert_eq!(parse(&line.as_bytes()[..max]), Ok(Parsed::Partial));
    assert_eq!(status(&line.as_bytes()[..max + 1]), 414);
    assert_eq!(parse(format!("{}\r", line_of(max)).as_bytes()), Ok(Parsed::Partial));
    assert_eq!(status(format!("{}\r", line_of(max + 1)).as_bytes()), 414);
    assert_eq!(status(&[b'G'; 20_000]), 414); // no space at all: still a request line
}

/// A header line `X: vvv…` of `len` bytes (without CRLF).
fn field_of(len: usize) -> String {
    format!("X: {}", "v".repeat(len - 3))
}

#[test]
fn header_line_limit_is_16k_also_while_partial() {
    let max = Limits::default().max_header_line;
    head(&get(&field_of(max)));
    assert_eq!(status(get(&field_of(max + 1)).as_bytes()), 431);
    let partial = format!("GET / HTTP/1.1\r\nHost: a\r\n{}", field_of(max + 1));
    assert_eq!(parse(&partial.as_bytes()[..partial.len() - 1]), Ok(Parsed::Partial));
    assert_eq!(status(partial.as_bytes()), 431);
}

#[test]
fn request_head_limit_is_64k_also_while_partial() {
    let max = Limits::default().max_request_head;
    let base = get("").len(); // the head without extra fields
                              // Fields of 8000-byte lines (+2 CRLF each), then one to make up the rest exactly.
    let mut fields = String::new();
    while base + fields.len() + 8002 + 2 <= max - 100 {
        fields.push_str(&field_of(8000));
        fields.push_str("\r\n");
    }
    let rest = max - base - fields.len() - 2;
    fields.push_str(&field_of(rest));
    let exact = get(&fields);
    assert_eq!(exact.len(), max);
    assert_eq!(head(&exact).head_len, max);
    let over = get(&format!("{fields}v"));
    assert_eq!(status(over.as_bytes()), 431);
    assert_eq!(parse(&over.as_bytes()[..max - 1]), Ok(Parsed::Partial));
    assert_eq!(status(&over.as_bytes()[..max]), 431);
}

#[test]
fn at_most_128_header_fields() {
    let fields = |n: usize| (1..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    head(&format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(128)));
    assert_eq!(status(format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(129)).as_bytes()), 431);
    let many = Limits { max_headers: 300, ..Limits::default() }; // beyond the stack slots
    let buf = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(300));
    let mut headers = Vec::new();
    assert!(matches!(parse_request(buf.as_bytes(), &many, &mut headers), Ok(Parsed::Complete(_))));
    assert_eq!(headers.len(), 300);
    let unbounded = Limits { max_headers: usize::MAX, ..Limits::default() }; // no huge allocation
    assert!(matches!(parse_with(buf.as_bytes(), &unbounded), Ok(Parsed::Complete(_))));
    let over = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(301));
    assert_eq!(parse_with(over.as_bytes(), &many).map_err(|e| e.status), Err(431));
}

#[test]
fn responses_are_framed_by_method_status_and_fields() {
    let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", Method::Get);
    assert_eq!((r.status, r.framing, r.keep_alive, r.head_len), (200, BodyFraming::Length(3), true, 38));
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::Get).framing,
        BodyFraming::Chunked
    );
    assert_eq!(
        resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n", Method::Get).framing,
        BodyFraming::Chunked
    );
    let until_close = resp("HTTP/1.1 200 OK\r\n\r\n", Method::Get);
    assert_eq!((until_close.framing, until_close.keep_alive), (BodyFraming::UntilClose, false));
    let gzip_only = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Method::Get);
    assert_eq!((gzip_only.framing, gzip_only.keep_alive), (BodyFraming::UntilClose, false));
    assert_eq!(resp("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::Head).framing, BodyFraming::None);
    for s in [100, 101, 103, 204, 304] {
        let r = resp(&format!("HTTP/1.1 {s} X\r\nContent-Length: 9\r\n\r\n"), Method::Get);
        assert_eq!(r.framing, BodyFraming::None, "{s}");
    }
    assert_eq!(resp("HTTP/1.1 200 Connection established\r\n\r\n", Method::Connect).framing, BodyFraming::None);
    assert_eq!(resp("HTTP/1.1 407 No\r\n\r\n", Method::Connect).framing, BodyFraming::UntilClose);
}

#[test]
fn response_keep_alive_follows_version_and_connection() {
    assert!(!resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", Method::Get).keep_alive);
    assert!(!resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get).keep_alive);
    let r = resp("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", Method::Get);
    assert!(r.keep_alive && r.version == Version::Http10);
}

#[test]
fn the_reason_phrase_is_a_range_and_may_be_empty() {
    let buf = "HTTP/1.1 404 Not \u{e9} Found\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(slice(buf.as_bytes(), resp(buf, Method::Get).reason), "Not \u{e9} Found".as_bytes());
    let buf = "\r\nHTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n";
    assert_eq!(resp(buf, Method::Get).reason, (15, 15));
    let buf = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
    let r = resp(buf, Method::Get);
    assert_eq!((r.reason, r.head_len), ((12, 12), buf.len()));
}

#[test]
fn invalid_responses_are_502() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        b"HTTP/1.1 200\nContent-Length: 0\r\n\r\n",
        b"\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 600 High\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ] {
        assert_eq!(resp_status(bad), 502, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn response_head_limit_is_32k_and_128_fields_also_while_partial() {
    let max = Limits::default().max_response_head;
    let start = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ";
    let filler = "v".repeat(max - start.len() - 4);
    let exact = format!("{start}{filler}\r\n\r\n");
    assert_eq!(resp(&exact, Method::Get).head_len, max);
    let over = format!("{start}{filler}v\r\n\r\n");
    assert_eq!(resp_status(over.as_bytes()), 502);
    assert_eq!(response(&over.as_bytes()[..max - 1], Method::Get), Ok(Parsed::Partial));
    assert_eq!(resp_status(&over.as_bytes()[..max]), 502);
    let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    resp(&format!("HTTP/1.1 204 No Content\r\n{}\r\n", fields(128)), Method::Get);
    assert_eq!(resp_status(format!("HTTP/1.1 204 No Content\r\n{}\r\n", fields(129)).as_bytes()), 502);
}

#[test]
fn every_prefix_of_a_valid_response_is_partial() {
    let buf = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(response(&buf.as_bytes()[..n], Method::Get), Ok(Parsed::Partial), "{:?}", &buf[..n]);
    }
}

#[test]
fn parse_and_rewrite_hold_their_properties_on_random_inputs() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(0x000c_0dec);
    let seeds: [&[u8]; 5] = [
        b"GET /a?b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: x-a, close\r\nX-A: 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n0\r\n\r\n",
        b"PUT / HTTP/1.0\r\nContent-Length: 5, 5\r\nConnection: keep-alive\r\n\r\nabcde",
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"\r\nOPTIONS * HTTP/1.1\r\nHost:\r\nTE: trailers\r\nKeep-Alive: 5\r\n\r\n",
    ];
    const ALPHABET: &[u8] = b" \t\r\n:,;=/aAzZ09-\x00\x7f\xe9HTP1.ce";
    for _ in 0..200_000 {
        let seed = seeds[rng.gen_range(0..seeds.len())];
        check_request(&mutate(seed, ALPHABET, &mut |n| rng.gen_range(0..n)));
    }
}

#[test]
fn response_parse_and_rewrite_hold_their_properties_on_random_inputs() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(0x0051_a7e5);
    let seeds: [&[u8]; 4] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, x-a\r\nX-A: 1\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nKeep-Alive: 5\r\n\r\n0\r\n\r\n",
        b"HTTP/1.0 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ];
    const ALPHABET: &[u8] = b" \t\r\n:,;=/aAzZ09-\x00\x7f\xe9HTP1.ce";
    let methods = [Method::Get, Method::Head, Method::Connect, Method::Post];
    for _ in 0..100_000 {
        let seed = seeds[rng.gen_range(0..seeds.len())];
        let input = mutate(seed, ALPHABET, &mut |n| rng.gen_range(0..n));
        check_response(&input, methods[rng.gen_range(0..methods.len())], rng.gen_range(0..2) == 1);
    }
}
