//! Fuzz target: the haproxy.cfg reader (`config::haproxy::parse`) on arbitrary UTF-8. It must
//! never panic, and every refusal must name a line (`config_lines.rs`). With the `fuzzing`
//! feature only `localhost` resolves, so no input makes a DNS query.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "config_lines.rs"]
mod config_lines;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Err(errors) = spillway::config::haproxy::parse(text, "h.cfg") {
        config_lines::assert_located(text, "h.cfg", &errors);
    }
});
