//! Fuzz target: `parse_request` and `write_request_head` on arbitrary bytes.
//!
//! Properties: no panic; header ranges lie inside the head; a prefix of the input is partial,
//! the same complete head, or an error the whole input also gets (limits and errors do not
//! depend on how the bytes were split into reads); the rewritten head parses again, complete,
//! with the same method, framing and upgrade, and a Host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::http::{
    codec::{parse_request, Limits, Parsed},
    headers::{write_request_head, ForwardContext},
};

fuzz_target!(|input: &[u8]| {
    // Small limits so that the fuzzer reaches them.
    let limits = Limits { max_request_line: 64, max_header_line: 64, max_request_head: 256, ..Limits::default() };
    let mut headers = Vec::new();
    let whole = parse_request(input, &limits, &mut headers);
    if let Ok(Parsed::Complete(h)) = &whole {
        assert!(h.head_len <= input.len() && h.head_len <= limits.max_request_head);
        for f in &headers {
            assert!(f.name.0 < f.name.1 && f.name.1 <= f.value.0 && f.value.0 <= f.value.1);
            assert!(f.value.1 as usize <= h.head_len);
        }
        let ctx = ForwardContext {
            client_ip: std::net::IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 1]),
            listener_port: 8080,
            proto: "http",
            listener_host: "127.0.0.1:8080",
        };
        let mut out = Vec::new();
        write_request_head(&mut out, input, h, &headers, &ctx);
        let relaxed = Limits {
            max_request_line: 1 << 20,
            max_header_line: 1 << 20,
            max_request_head: 1 << 20,
            max_headers: 512,
            ..limits
        };
        match parse_request(&out, &relaxed, &mut Vec::new()) {
            Ok(Parsed::Complete(again)) => {
                assert_eq!(
                    (again.head_len, again.method, again.framing, again.upgrade),
                    (out.len(), h.method, h.framing, h.upgrade)
                );
                assert!(again.has_host && !again.expect_continue);
            }
            other => panic!("rewritten head {:?} does not parse: {other:?}", String::from_utf8_lossy(&out)),
        }
    }
    for cut in [input.len() / 2, input.len().saturating_sub(1)] {
        match (parse_request(&input[..cut], &limits, &mut headers), &whole) {
            (Err(_), Err(_)) | (Ok(Parsed::Partial), _) => {}
            (Ok(Parsed::Complete(p)), Ok(Parsed::Complete(w))) => assert_eq!(&p, w),
            (prefix, whole) => panic!("prefix of {cut} bytes: {prefix:?}, whole: {whole:?}"),
        }
    }
});
