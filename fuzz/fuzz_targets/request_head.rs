//! Fuzz target: `parse_request` and `write_request_head` on arbitrary bytes. The properties
//! are in `spillway::http::properties::check_request` (also run by `cargo test`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| spillway::http::properties::check_request(input));
