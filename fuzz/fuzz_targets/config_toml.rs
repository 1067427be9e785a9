//! Fuzz target: the native TOML reader (`config::toml::parse_text`, the text alone: files it
//! names are not opened) on arbitrary UTF-8. It must never panic, and every refusal must name a
//! line (`config_lines.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "config_lines.rs"]
mod config_lines;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Err(errors) = spillway::config::toml::parse_text(text, "f.toml") {
        config_lines::assert_located(text, "f.toml", &errors);
    }
});
