//! `spillway demo`: the main job on an embedded default.
//!
//! The full demo (HTTP backends, the load generator, latency histograms and surge figures)
//! comes with the load generator; until then it says so.

use std::process::ExitCode;

pub fn run(_seconds: u64) -> ExitCode {
    println!("spillway demo: coming with the load generator (see README.md)");
    ExitCode::SUCCESS
}
