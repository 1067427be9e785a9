//! `spillway demo [--seconds N]`: the main job on an embedded default, on loopback only.
//!
//! Three test backends of known capacity (the load generator's `serve`, in this process; one of
//! them four times slower), spillway in front of them (an HTTP listener, least outstanding
//! requests, HTTP health checks, a per-target limit and a surge queue small enough to be
//! seen), and the load generator (as a library) driving it through a surge: a normal rate, a
//! burst beyond capacity, the normal rate again. It prints the load generator's summary, then
//! spillway's own figures from the admin API (`SurgeQueueLengthMax`, `SpilloverCount`,
//! `HealthyHostCount`...), and where the timeline, plot and JSON were written.
//!
//! Everything stops by itself: the backends after the run plus a margin, spillway when the
//! demo returns.

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Parser;
use spillway_loadgen::{
    cli::{RunArgs, ServeArgs},
    run::{run as load, Outputs},
};

use crate::{
    admin::stats,
    config::{Algorithm, Config, HealthProtocol, Listener, Protocol, StatusMatcher, Target, TargetGroup},
    Server, StartOptions,
};

/// Each backend serves at most this many requests at once (`--max-concurrency`).
const BACKEND_CONCURRENCY: usize = 10;
/// Per-request latency of the two fast backends and of the slow one.
const FAST: Duration = Duration::from_millis(10);
const SLOW: Duration = Duration::from_millis(40);

/// Capacity of the three backends together, in requests per second.
fn capacity() -> f64 {
    let per = |latency: Duration| BACKEND_CONCURRENCY as f64 / latency.as_secs_f64();
    2.0 * per(FAST) + per(SLOW)
}

pub fn run(seconds: u64) -> ExitCode {
    match demo(seconds.max(3)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spillway demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(seconds: u64) -> Result<(), String> {
    let capacity = capacity();
    let (normal, surge) = ((capacity * 0.4).round() as u64, (capacity * 2.0).round() as u64);
    let (calm, burst) = ((seconds * 3 / 10).max(1), (seconds * 4 / 10).max(1));
    let rest = seconds.saturating_sub(calm + burst).max(1);
    let out = std::env::temp_dir().join(format!("spillway-demo-{}", std::process::id()));
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    println!(
        "spillway demo: 3 backends (2 × {FAST:?}, 1 × {SLOW:?} per request, {BACKEND_CONCURRENCY} at a time each:"
    );
    println!("  {capacity:.0} req/s together), spillway in front, load {normal} → {surge} → {normal} req/s over {seconds} s\n");

    let lifetime = Duration::from_secs(seconds + 15);
    let backends: Vec<SocketAddr> =
        [FAST, FAST, SLOW].iter().map(|&latency| start_backend(latency, lifetime)).collect::<Result<_, _>>()?;
    let server = Server::start(config(&backends), StartOptions::default()).map_err(|e| e.to_string())?;
    let listener = server.listener_addr("web").ok_or("the listener did not start")?;
    let admin = server.admin_addr().ok_or("the admin API did not start")?;

    // The health checks have judged every backend before the load starts.
    let judged = Instant::now() + Duration::from_secs(3);
    while Instant::now() < judged && healthy_hosts(&server) < backends.len() as u64 {
        std::thread::sleep(Duration::from_millis(50));
    }

    let (timeline, plot, json) = (out.join("surge.csv"), out.join("surge.svg"), out.join("surge.json"));
    let url = format!("http://{listener}/");
    let steps = format!("{normal}:{calm}s,{surge}:{burst}s,{normal}:{rest}s");
    let args = RunArgs::try_parse_from([
        "loadgen",
        url.as_str(),
        "-c",
        "600",
        "-t",
        "1",
        "--steps",
        steps.as_str(),
        "--timeout",
        "5s",
        "--stats-url",
        &format!("http://{admin}/stats"),
    ])
    .map_err(|e| e.to_string())?;
    let outputs = Outputs {
        json: Some(json.clone()),
        hdr_log: None,
        timeline: Some(timeline.clone()),
        plot: Some(plot.clone()),
        spectrum: false,
        quiet: false,
    };
    let cfg = args.into_config().map_err(|e| e.to_string())?;
    load(&cfg, &url, &outputs).map_err(|e| format!("the load generator failed: {e}"))?;

    let set = server.control().current();
    let groups = stats::collect(&set, &server.snapshot());
    let g = groups.first().ok_or("no target group")?;
    println!("\nspillway's own figures (GET http://{admin}/stats):");
    println!("  RequestCount {}  HTTPCode_Backend_2XX {}  HTTPCode_ELB_5XX {}", g.requests, g.backend[1], g.elb_5xx);
    println!(
        "  SurgeQueueLengthMax {}  SpilloverCount {}  SurgeQueueLength now {}",
        g.surge_queue_length_max, g.spillover, g.surge_queue_length
    );
    println!(
        "  HealthyHostCount {}  UnHealthyHostCount {}  Latency p50 {:.1} ms p99 {:.1} ms  QueueWait p99 {:.1} ms",
        g.healthy,
        g.unhealthy,
        g.latency_seconds(0.5) * 1e3,
        g.latency_seconds(0.99) * 1e3,
        queue_wait_p99_ms(g)
    );
    for t in &g.targets {
        println!("    target {} {}", t.addr, t.state.as_str());
    }
    println!(
        "\nThe surge: requests beyond the backends' {} slots wait in the queue (at most {}), the rest",
        3 * BACKEND_CONCURRENCY,
        SURGE_QUEUE
    );
    println!("is spilled over with 503 at once, and the queue drains when the burst ends.");
    println!("Written: {}\n         {}\n         {}", timeline.display(), plot.display(), json.display());
    server.stop();
    Ok(())
}

/// The surge queue's cap in the demo: small, so that it fills visibly.
const SURGE_QUEUE: u32 = 100;

fn queue_wait_p99_ms(g: &stats::GroupStats) -> f64 {
    if g.queue_wait.is_empty() {
        0.0
    } else {
        g.queue_wait.value_at_quantile(0.99) as f64 / 1e3
    }
}

fn healthy_hosts(server: &Server) -> u64 {
    let set = server.control().current();
    set.targets.iter().flatten().filter(|t| t.health.load().state() == crate::health::HealthState::Healthy).count()
        as u64
}

/// Starts one `loadgen serve` backend on a free loopback port, in a thread of this process.
fn start_backend(latency: Duration, lifetime: Duration) -> Result<SocketAddr, String> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?;
    let args = ServeArgs::try_parse_from([
        "serve".to_string(),
        "--listen".into(),
        addr.to_string(),
        "--latency".into(),
        format!("{}ms", latency.as_millis()),
        "--max-concurrency".into(),
        BACKEND_CONCURRENCY.to_string(),
        "--health-path".into(),
        "/health".into(),
        "--duration".into(),
        format!("{}s", lifetime.as_secs()),
    ])
    .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("demo-backend".into())
        .spawn(move || {
            if let Err(e) = spillway_loadgen::serve::run(args) {
                eprintln!("spillway demo: backend {addr}: {e}");
            }
        })
        .map_err(|e| e.to_string())?;
    let ready = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > ready {
            return Err(format!("backend {addr} did not start"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(addr)
}

fn config(backends: &[SocketAddr]) -> Config {
    let mut group = TargetGroup::with_defaults("app", backends.iter().map(|a| Target::new(*a)).collect());
    group.algorithm = Algorithm::LeastOutstandingRequests;
    group.max_connections_per_target = BACKEND_CONCURRENCY as u32;
    group.surge_queue_length = SURGE_QUEUE;
    group.queue_timeout = Duration::from_secs(2);
    let hc = &mut group.health_check;
    hc.protocol = HealthProtocol::Http;
    hc.path = "/health".into();
    hc.interval = Duration::from_millis(500);
    hc.timeout = Duration::from_millis(250);
    hc.healthy_threshold = 2;
    hc.unhealthy_threshold = 2;
    hc.matcher = StatusMatcher { ranges: vec![(200, 200)] };
    let mut config = Config {
        runtime: Default::default(),
        admin: Default::default(),
        listeners: vec![Listener::with_defaults("web", "127.0.0.1:0".parse().expect("address"), Protocol::Http, "app")],
        target_groups: vec![group],
    };
    config.runtime.threads = 1;
    config.runtime.pin = false;
    // The demo opens a few hundred connections: a cap that fits any default open-file limit,
    // so a newcomer's first run does not start with a warning about raising it.
    config.runtime.max_connections = 4096;
    config.admin.listen = Some("127.0.0.1:0".parse().expect("address"));
    config
}
