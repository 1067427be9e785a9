//! Fuzz target: the PROXY protocol header parser (`spillway::proxy_protocol::parse`) on
//! arbitrary bytes. Properties: it never panics; a header it accepts is no longer than the
//! protocol allows (v1: 107 bytes; v2: 16 + its declared length) and, for v1, within the
//! input; and every prefix of an input is answered "incomplete", the same header, or an error
//! (never a different header): the reader relies on this to consume what it has seen.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::proxy_protocol::parse;

fuzz_target!(|input: &[u8]| {
    let whole = parse(input);
    if let Ok(Some(h)) = whole {
        assert!(h.len >= 15, "shorter than any header: {h:?}");
        if input[0] == b'P' {
            assert!(h.len <= 107 && h.len <= input.len(), "{h:?}");
        } else {
            assert!(h.len <= 16 + 65535, "{h:?}");
        }
    }
    for cut in 0..input.len().min(300) {
        match parse(&input[..cut]) {
            Ok(None) => {}
            Ok(Some(h)) => assert_eq!(Ok(Some(h)), whole, "a prefix of {cut} bytes gave a different header"),
            Err(_) => assert!(whole.is_err(), "a prefix of {cut} bytes was refused, the whole accepted"),
        }
    }
});
