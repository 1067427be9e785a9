//! The `loadgen` binary: `loadgen serve ...` runs the test backend, anything else is a client run
//! (`loadgen URL ...`). Exit status: 0 done, 1 the run failed, 2 bad command line.

use std::process::ExitCode;

use clap::Parser;
use spillway_loadgen::cli::{RunArgs, ServeArgs};
use spillway_loadgen::run::{run, Outputs};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let serve = ServeArgs::parse_from(&args[1..]);
        return match spillway_loadgen::serve::run(serve) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen serve: {e}");
                ExitCode::from(1)
            }
        };
    }
    let a = RunArgs::parse_from(&args);
    let out = Outputs {
        json: a.json.clone(),
        hdr_log: a.hdr_log.clone(),
        timeline: a.timeline.clone(),
        plot: a.plot.clone(),
        spectrum: a.latency,
        quiet: a.quiet,
    };
    let url = a.url.clone();
    let cfg = match a.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg, &url, &out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
