//! Fuzz target: `ChunkedState` over arbitrary bytes split at an arbitrary point.
//!
//! Properties: no panic; feeding the input in one piece or in two pieces (the first two bytes
//! choose where to cut) gives the same result; the bytes claimed never exceed the input, and a
//! body that ended claimed the same prefix either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::http::body::{ChunkedLimits, ChunkedState};

fuzz_target!(|input: &[u8]| {
    let Some((cut, input)) = input.split_first_chunk::<2>() else { return };
    let at = usize::from(u16::from_le_bytes(*cut)) % (input.len() + 1);
    // Small limits so that the fuzzer reaches them.
    let limits = ChunkedLimits { max_size_line: 32, max_trailer_section: 64 };
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
            assert_eq!(w, s);
            assert!(w.0 <= input.len());
            assert!(w.1 || w.0 == input.len());
        }
        (Err(_), Err(_)) => {}
        (w, s) => panic!("one shot {w:?}, split at {at}: {s:?}"),
    }
});
