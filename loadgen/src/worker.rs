//! The workers: one glommio executor per thread, pinned to its own CPU when there are enough
//! CPUs, each owning its share of the connections and its own [`Recorder`]; they hand their
//! recordings back when the run is over.
//!
//! Invariants: worker `w` of `t` owns the connections `[w·c/t, (w+1)·c/t)` (global indices, so the
//! open-loop plan interleaves over all of them); nothing is shared between workers while they
//! run except the read-only [`RunCtx`] and the relaxed progress counters; every worker stops by
//! itself at the drain deadline (see [`crate::conn`]). Each worker has its own TLS connector
//! (so its own session cache: its connections resume each other's sessions, without a lock
//! shared between workers).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{CpuSet, LocalExecutorPoolBuilder, PoolPlacement, PoolThreadHandles};

use crate::cli::{RunConfig, Target, TcpMode};
use crate::conn::{run_conn, RunCtx};
use crate::http::build_request;
use crate::record::{Live, Recorder, WorkerRecord};
use crate::schedule::RateSchedule;
use crate::tls::ClientTls;

/// The runtime could not start or a worker died.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start the glommio executors: {0}")]
    Start(String),
    #[error("a worker thread failed: {0}")]
    Join(String),
}

/// The clock of a run.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub run_start: Instant,
    pub measure_start: Instant,
    pub end: Instant,
    pub drain_until: Instant,
}

impl Times {
    /// Start now (plus a short set-up margin so every worker starts on the same plan).
    pub fn new(cfg: &RunConfig) -> Times {
        let run_start = Instant::now() + Duration::from_millis(100);
        let measure_start = run_start + cfg.warmup;
        let end = measure_start + cfg.duration;
        let drain_until = end + cfg.timeout.min(Duration::from_secs(2));
        Times { run_start, measure_start, end, drain_until }
    }
}

/// Where the executors go: one CPU each when there are enough CPUs, else fenced to the set.
pub fn placement(threads: usize, cpus: Option<&[usize]>) -> Result<PoolPlacement, WorkerError> {
    let online = CpuSet::online().map_err(|e| WorkerError::Start(e.to_string()))?;
    let set = match cpus {
        Some(list) => online.filter(|l| list.contains(&l.cpu)),
        None => online,
    };
    if set.is_empty() {
        return Err(WorkerError::Start("none of the --cpus is online".into()));
    }
    Ok(if threads <= set.len() {
        PoolPlacement::MaxSpread(threads, Some(set))
    } else {
        PoolPlacement::Fenced(threads, set)
    })
}

/// Running workers; [`Workers::join`] waits for their recordings.
pub struct Workers {
    handles: PoolThreadHandles<WorkerRecord>,
}

/// What every worker copies into its [`RunCtx`] (everything but the clock and the connector).
#[derive(Clone)]
struct Shared {
    addr: SocketAddr,
    schedule: Option<RateSchedule>,
    pipeline: usize,
    timeout: Duration,
    request: Vec<u8>,
    head: bool,
    echo: Option<usize>,
    tls: Option<ClientTls>,
    new_conn: bool,
}

/// Build the request bytes and the per-run context (without the clock-dependent parts).
fn request_of(cfg: &RunConfig) -> (Vec<u8>, bool, Option<usize>) {
    match &cfg.target {
        Target::Http { host_header, path, .. } => {
            let mut headers = cfg.headers.clone();
            if cfg.new_conn && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("connection")) {
                headers.push(("Connection".into(), "close".into()));
            }
            (build_request(&cfg.method, host_header, path, &headers, &cfg.body), cfg.method == "HEAD", None)
        }
        Target::Tcp { .. } => {
            let echo = crate::tcp::EchoReader::new(cfg.tcp_bytes);
            (echo.request(), false, Some(cfg.tcp_bytes))
        }
    }
}

/// Start the workers; they run until `times.drain_until` at the latest.
pub fn start(cfg: &RunConfig, times: Times, live: Arc<Live>) -> Result<Workers, WorkerError> {
    let (request, head, echo) = request_of(cfg);
    let bulk = matches!(cfg.target, Target::Tcp { .. }) && cfg.tcp_mode == TcpMode::Bulk;
    let threads = cfg.threads;
    let connections = cfg.connections;
    let seconds = cfg.duration.as_secs_f64().ceil().max(1.0) as usize;
    let shared = Arc::new(Shared {
        addr: cfg.target.addr(),
        schedule: cfg.schedule.clone(),
        pipeline: cfg.pipeline,
        timeout: cfg.timeout,
        request,
        head,
        echo,
        tls: cfg.tls.clone(),
        new_conn: cfg.new_conn,
    });
    let next_worker = Arc::new(AtomicUsize::new(0));
    let handles = LocalExecutorPoolBuilder::new(placement(threads, cfg.cpus.as_deref())?)
        .name("loadgen")
        .on_all_shards(move || {
            let shared = shared.clone();
            let w = next_worker.fetch_add(1, Ordering::Relaxed);
            let live = live.clone();
            async move {
                let Shared { addr, schedule, pipeline, timeout, request, head, echo, tls, new_conn } =
                    (*shared).clone();
                let (lo, hi) = (w * connections / threads, (w + 1) * connections / threads);
                let ctx = Rc::new(RunCtx {
                    addr,
                    run_start: times.run_start,
                    measure_start: times.measure_start,
                    end: times.end,
                    drain_until: times.drain_until,
                    schedule,
                    connections,
                    pipeline,
                    timeout,
                    request,
                    head,
                    echo,
                    tls: tls.as_ref().map(|t| t.connector(hi - lo)),
                    new_conn,
                });
                let rec = Rc::new(RefCell::new(Recorder::new(times.measure_start, times.end, seconds, live)));
                glommio::timer::sleep(times.run_start.saturating_duration_since(Instant::now())).await;
                let tasks: Vec<_> = (lo..hi)
                    .map(|i| {
                        let (ctx, rec) = (ctx.clone(), rec.clone());
                        glommio::spawn_local(async move {
                            if bulk {
                                crate::tcp::bulk_conn(ctx, rec).await
                            } else {
                                run_conn(ctx, rec, i).await
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
                drop(ctx);
                match Rc::try_unwrap(rec) {
                    Ok(r) => r.into_inner().finish(),
                    // Every task has finished, so no other reference is left; an empty record
                    // keeps this path panic-free all the same.
                    Err(r) => std::mem::replace(
                        &mut *r.borrow_mut(),
                        Recorder::new(times.measure_start, times.end, seconds, Arc::new(Live::default())),
                    )
                    .finish(),
                }
            }
        })
        .map_err(|e| WorkerError::Start(e.to_string()))?;
    Ok(Workers { handles })
}

impl Workers {
    /// Wait for every worker and collect their recordings.
    pub fn join(self) -> Result<Vec<WorkerRecord>, WorkerError> {
        self.handles.join_all().into_iter().map(|r| r.map_err(|e| WorkerError::Join(e.to_string()))).collect()
    }
}
