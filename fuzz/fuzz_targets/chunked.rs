//! Fuzz target: the chunked-body validator fed in one piece and split in two (the first two
//! bytes pick the split). The properties are in
//! `spillway::http::properties::check_chunked_split` (also run by `cargo test`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::http::body::ChunkedLimits;

fuzz_target!(|input: &[u8]| {
    let Some((cut, input)) = input.split_first_chunk::<2>() else { return };
    let at = usize::from(u16::from_le_bytes(*cut)) % (input.len() + 1);
    // Small limits so that the fuzzer reaches them.
    let limits = ChunkedLimits { max_size_line: 32, max_trailer_section: 64 };
    spillway::http::properties::check_chunked_split(input, at, limits);
});
