//! Fuzz target: `parse_response` and `write_response_head` on arbitrary bytes.
//!
//! Properties: no panic; ranges inside the head; prefixes are partial, the same head, or an
//! error the whole input also gets; the head written for the client parses again with the
//! same status and framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::http::{
    codec::{parse_response, BodyFraming, Limits, Method, Parsed, Version},
    headers::write_response_head,
};

fuzz_target!(|input: &[u8]| {
    let Some((&selector, input)) = input.split_first() else { return };
    let methods = [Method::Get, Method::Head, Method::Connect, Method::Post];
    let method = methods[usize::from(selector) % methods.len()];
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
        write_response_head(&mut out, input, h, &headers, Version::Http11, selector & 0x80 != 0);
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
});
