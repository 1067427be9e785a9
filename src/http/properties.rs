//! The properties the codec must hold on *any* input, written once and checked twice: by the
//! cargo-fuzz targets (`fuzz/`, on libFuzzer's inputs) and by property tests in `cargo test`
//! (on seeded mutations of valid messages, so CI keeps checking them without nightly).
//!
//! Compiled for tests and with the `fuzzing` feature only; it panics on a violated property,
//! which is what both callers want.

use super::{
    body::{ChunkedLimits, ChunkedState},
    codec::{parse_request, parse_response, BodyFraming, Limits, Method, Parsed, Version},
    headers::{write_request_head, write_response_head, ForwardContext},
};

/// Limits small enough that random inputs reach them.
fn small_request_limits() -> Limits {
    Limits { max_request_line: 64, max_header_line: 64, max_request_head: 256, ..Limits::default() }
}

/// `parse_request` and `write_request_head`: header ranges lie inside the head; a prefix of
/// the input is partial, the same complete head, or an error the whole input also gets; the
/// rewritten head parses again, complete, with the same method, framing and upgrade, a Host,
/// and no Expect.
pub fn check_request(input: &[u8]) {
    let limits = small_request_limits();
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
            edits: None,
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
}

/// `parse_response` and `write_response_head` for the request `method`: ranges inside the
/// head; prefixes are partial, the same head, or an error the whole input also gets; the head
/// written for the client parses again with the same status and framing.
pub fn check_response(input: &[u8], method: Method, close_client: bool) {
    let limits = Limits { max_response_head: 256, ..Limits::default() };
    let mut headers = Vec::new();
    let whole = parse_response(input, &limits, method, &mut headers);
    if let Ok(Parsed::Complete(h)) = &whole {
        assert!(h.head_len <= input.len() && h.head_len <= limits.max_response_head);
        assert!(h.reason.0 <= h.reason.1 && h.reason.1 as usize <= h.head_len);
        assert!(h.framing != BodyFraming::UntilClose || !h.keep_alive);
        for f in &headers {
            assert!(f.name.0 < f.name.1 && f.name.1 <= f.value.0 && f.value.0 <= f.value.1);
            assert!(f.value.1 as usize <= h.head_len);
        }
        let mut out = Vec::new();
        write_response_head(&mut out, input, h, &headers, Version::Http11, close_client);
        let relaxed = Limits { max_response_head: 1 << 20, ..limits };
        match parse_response(&out, &relaxed, method, &mut Vec::new()) {
            Ok(Parsed::Complete(again)) => {
                assert_eq!((again.head_len, again.status), (out.len(), h.status));
                // Connection options may change keep-alive, and with it nothing else.
                assert_eq!(again.framing, h.framing);
            }
            other => panic!("rewritten head {:?} does not parse: {other:?}", String::from_utf8_lossy(&out)),
        }
    }
    let cut = input.len() / 2;
    match (parse_response(&input[..cut], &limits, method, &mut headers), &whole) {
        (Err(_), Err(_)) | (Ok(Parsed::Partial), _) => {}
        (Ok(Parsed::Complete(p)), Ok(Parsed::Complete(w))) => assert_eq!(&p, w),
        (prefix, whole) => panic!("prefix of {cut} bytes: {prefix:?}, whole: {whole:?}"),
    }
}

/// A chunked body fed in one piece and split at `at` gives the same result; nothing past the
/// input is claimed; an unfinished body claims all it was given.
pub fn check_chunked_split(input: &[u8], at: usize, limits: ChunkedLimits) {
    let at = at.min(input.len());
    let whole = ChunkedState::with_limits(limits).advance(input);
    let mut s = ChunkedState::with_limits(limits);
    let split = s.advance(&input[..at]).and_then(|(n, done)| {
        assert!(n <= at);
        if done {
            Ok((n, true))
        } else {
            assert_eq!(n, at, "an unfinished body claims all it was given");
            s.advance(&input[at..]).map(|(m, done)| (n + m, done))
        }
    });
    match (whole, split) {
        (Ok(w), Ok(s)) => {
            assert_eq!(w, s, "{input:?} at {at}");
            assert!(w.0 <= input.len());
            assert!(w.1 || w.0 == input.len());
        }
        (Err(_), Err(_)) => {}
        (w, s) => panic!("{input:?}: one shot {w:?}, split at {at}: {s:?}"),
    }
}

/// `seed` with up to three random edits (insert, remove or replace a byte of `alphabet`).
/// `pick(n)` must return a number below `n` (the caller's seeded RNG).
pub fn mutate(seed: &[u8], alphabet: &[u8], pick: &mut dyn FnMut(usize) -> usize) -> Vec<u8> {
    let mut input = seed.to_vec();
    for _ in 0..pick(4) {
        let at = pick(input.len() + 1);
        match pick(3) {
            0 => input.insert(at, alphabet[pick(alphabet.len())]),
            1 if at < input.len() => {
                input.remove(at);
            }
            _ if at < input.len() => input[at] = alphabet[pick(alphabet.len())],
            _ => {}
        }
    }
    input
}
