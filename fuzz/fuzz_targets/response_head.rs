//! Fuzz target: `parse_response` and `write_response_head` on arbitrary bytes; the first byte
//! picks the request method and whether the client connection closes. The properties are in
//! `spillway::http::properties::check_response` (also run by `cargo test`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spillway::http::codec::Method;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, input)) = input.split_first() else { return };
    let methods = [Method::Get, Method::Head, Method::Connect, Method::Post];
    let method = methods[usize::from(selector) % methods.len()];
    spillway::http::properties::check_response(input, method, selector & 0x80 != 0);
});
