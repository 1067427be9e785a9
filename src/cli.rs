//! The command line: HAProxy's flags where HAProxy has them, so that a performance test that
//! starts `haproxy -f x.cfg -D -p pid` can start `spillway` the same way.
//!
//! HAProxy spells some flags as one dash and two letters (`-sf`, `-st`, `-db`, `-dr`), which no
//! argument parser reads as one flag; [`parse`] rewrites them to long flags before clap sees
//! them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "spillway",
    about = "An io_uring, thread-per-core L4/L7 load balancer",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Configuration file: `.toml` is the native format, anything else is read as haproxy.cfg.
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// Check the configuration and exit: 0 when valid, 1 with every problem printed.
    #[arg(short = 'c')]
    pub check: bool,
    /// Run in the background (daemon).
    #[arg(short = 'D')]
    pub daemon: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Take over from these processes, then ask them to finish gracefully (HAProxy's -sf).
    #[arg(long = "sf", value_name = "PID", num_args = 1..)]
    pub soft_stop: Vec<u32>,
    /// Take over from these processes, then stop them now (HAProxy's -st).
    #[arg(long = "st", value_name = "PID", num_args = 1..)]
    pub hard_stop: Vec<u32>,
    /// Stay in the foreground (HAProxy's -db; spillway does unless -D is given).
    #[arg(long = "db", hide = true)]
    pub foreground: bool,
    /// Debug: stay in the foreground and log at debug level (HAProxy's -d).
    #[arg(short = 'd')]
    pub debug: bool,
    /// Start servers whose host names do not resolve without an address instead of failing
    /// (HAProxy's -dr).
    #[arg(long = "dr", hide = true)]
    pub dns_relaxed: bool,
    /// Quiet: log warnings and errors only (HAProxy's -q).
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Number of shards (overrides `[runtime] threads`).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// CPUs the shards are pinned to, e.g. `0,2-3` (overrides `[runtime] cpus`).
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    pub cpus: Option<Vec<usize>>,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", short_alias = 'V')]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the main job on an embedded default: backends, spillway and load, on loopback.
    Demo {
        /// How long to drive load, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// Parses the process arguments, HAProxy's two-letter flags included.
pub fn parse() -> Cli {
    Cli::parse_from(std::env::args_os().map(|a| match a.to_str() {
        Some("-sf") => "--sf".into(),
        Some("-st") => "--st".into(),
        Some("-db") => "--db".into(),
        Some("-dr") => "--dr".into(),
        _ => a,
    }))
}

/// `0,2-3` → `[0, 2, 3]`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list {s:?}: expected numbers and ranges like 0,2-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("invalid CPU list {s:?}: empty"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
