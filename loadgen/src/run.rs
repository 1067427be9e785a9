//! One client run from start to finish: start the workers and the stats poller, show the live
//! progress line (only on a terminal), wait for the end, merge, and write every report asked for.
//!
//! Invariants: the run ends by itself (the workers stop at the drain deadline, the poller at the
//! end of the measured window); the main thread never touches the load path; report files are
//! written only after the run, each completely or not at all.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::cli::RunConfig;
use crate::record::{Live, Merged};
use crate::report::{self, files, plot, text, Report, ReportError};
use crate::stats::{poll_until, StatsError, StatsSource};
use crate::worker::{self, Times, WorkerError};

/// A run that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error(transparent)]
    Stats(#[from] StatsError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("the stats poller thread failed")]
    Poller,
}

/// Where the reports go.
#[derive(Debug, Default, Clone)]
pub struct Outputs {
    pub json: Option<PathBuf>,
    pub hdr_log: Option<PathBuf>,
    pub timeline: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    /// Print the percentile spectrum.
    pub spectrum: bool,
    /// No text summary.
    pub quiet: bool,
}

fn progress(live: &Live, times: &Times) {
    let tty = std::io::stderr().is_terminal();
    let (mut last_n, mut last_t) = (0u64, Instant::now());
    while Instant::now() < times.end {
        std::thread::sleep(times.end.saturating_duration_since(Instant::now()).min(Duration::from_secs(1)));
        if !tty {
            continue;
        }
        let (n, now) = (live.responses.load(Ordering::Relaxed), Instant::now());
        let rate = (n - last_n) as f64 / (now - last_t).as_secs_f64().max(1e-3);
        let elapsed = now.saturating_duration_since(times.run_start).as_secs_f64();
        let phase = if now < times.measure_start { " (warmup)" } else { "" };
        eprint!(
            "\r\x1b[2K  {elapsed:6.1}s{phase}  {rate:10.0} req/s  {} responses  {} errors",
            n,
            live.errors.load(Ordering::Relaxed)
        );
        (last_n, last_t) = (n, now);
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
}

/// Run the load and produce the report (also writing the files in `out`).
pub fn run(cfg: &RunConfig, url: &str, out: &Outputs) -> Result<Report, RunError> {
    let source = cfg.stats_url.as_deref().map(StatsSource::parse).transpose()?;
    let live = Arc::new(Live::default());
    let times = Times::new(cfg);
    let wall_start = SystemTime::now() + times.measure_start.saturating_duration_since(Instant::now());
    let workers = worker::start(cfg, times, live.clone())?;
    let poller = source.map(|src| std::thread::spawn(move || poll_until(&src, times.measure_start, times.end)));
    progress(&live, &times);
    let records = workers.join()?;
    let polled = poller.map(|p| p.join().map_err(|_| RunError::Poller)).transpose()?;
    let merged = Merged::new(records);
    let hdr_start = out.hdr_log.as_ref().map(|_| wall_start);
    let rep = report::build(cfg, url, merged, polled.as_ref(), hdr_start);
    if let Some(p) = &out.json {
        files::write_out(p, &files::json(&rep.summary)?)?;
    }
    if let (Some(p), Some(log)) = (&out.hdr_log, &rep.hdr_log) {
        files::write_out(p, log)?;
    }
    if let Some(p) = &out.timeline {
        files::write_out(p, &files::timeline(&rep.rows))?;
    }
    if let Some(p) = &out.plot {
        files::write_out(p, &plot::svg(&rep.rows, &format!("loadgen {url}"))?)?;
    }
    if !out.quiet {
        print!("{}", text::summary(&rep));
        if out.spectrum {
            print!("{}", text::spectrum(&rep.latency));
        }
    }
    Ok(rep)
}
