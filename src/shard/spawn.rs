//! Shard threads: naming, CPU pinning, and the monoio runtime each one runs.
//!
//! `threads = 0` means one shard per CPU the process may run on (its `sched_getaffinity` set,
//! so `taskset -c 0 spillway` gives one shard). With `pin = true`, shard `i` is pinned to the
//! `i`-th CPU of `cpus` (or of the allowed set); a refused pin is a warning, not an error,
//! since a container may forbid it and the shard still works unpinned.
//!
//! The runtime is monoio's io_uring driver on a tuned ring whenever the kernel has io_uring
//! (`driver = "auto"`, the default, and `"io_uring"`), and its epoll driver otherwise. monoio's
//! `FusionDriver`, which picks between the two by itself, is not used: it builds the ring with
//! the default setup flags, which cost 1.2–1.6× HAProxy's CPU per request where the tuned ring
//! costs 0.8× (docs/decisions/0007-auto-runs-the-tuned-ring.md).

use std::{future::Future, io, thread::JoinHandle};

use std::sync::atomic::{AtomicU32, Ordering};

use monoio::{time::TimeDriver, IoUringDriver, LegacyDriver, Runtime, RuntimeBuilder};
use tracing::{debug, info, warn};

use crate::{
    config::Driver,
    metrics::{DriverKind, ShardDriver},
};

/// io_uring submission queue entries per shard.
const URING_ENTRIES: u32 = 4096;

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id).collect()).unwrap_or_default()
}

/// How many shards to start: `threads`; when it is 0, one per CPU of `cpus` if given, else
/// one per CPU the process may run on.
pub fn shard_count(threads: usize, cpus: &[usize]) -> usize {
    if threads > 0 {
        threads
    } else if !cpus.is_empty() {
        cpus.len()
    } else {
        allowed_cpus().len().max(1)
    }
}

/// Starts thread `spillway-shard-{id}`, pins it to `cpu`, builds the runtime for `driver`, sets
/// up the io_uring data path on it when `uring_data_path` asks for it and the ring has it
/// (`ring::init`), and runs `make_future(report)` on it to the end; `report` says which driver,
/// ring flags and data path the shard got.
pub fn spawn_shard<F, Fut>(
    id: usize,
    cpu: Option<usize>,
    driver: Driver,
    uring_data_path: bool,
    make_future: F,
) -> io::Result<JoinHandle<()>>
where
    F: FnOnce(ShardDriver) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new().name(format!("spillway-shard-{id}")).spawn(move || {
        if let Some(cpu) = cpu {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                warn!(shard = id, cpu, "could not pin the shard to its CPU; running unpinned");
            }
        }
        match build_runtime(id, driver) {
            Ok(ShardRuntime::IoUring(mut rt, mut report)) => rt.block_on(async move {
                report.data_path = crate::ring::init(uring_data_path);
                let data_path =
                    if report.data_path.is_empty() { "readiness".into() } else { report.data_path.join(",") };
                info!(shard = id, driver = "io_uring", ring_flags = %report.flags_label(), %data_path, "shard started");
                make_future(report).await
            }),
            Ok(ShardRuntime::Epoll(mut rt, report)) => {
                info!(shard = id, driver = "epoll", "shard started");
                rt.block_on(make_future(report));
            }
            Err(e) => tracing::error!(shard = id, error = %e, "could not start the shard's runtime"),
        }
    })
}

/// A built runtime and what it was built with.
enum ShardRuntime {
    IoUring(Runtime<TimeDriver<IoUringDriver>>, ShardDriver),
    Epoll(Runtime<TimeDriver<LegacyDriver>>, ShardDriver),
}

/// An io_uring setup flag a shard's ring asks for, oldest kernel first: when the kernel refuses
/// a ring with flags, the last one is dropped and the ring is asked for again.
struct RingFlag {
    name: &'static str,
    kernel: &'static str,
    set: fn(&mut io_uring::Builder),
}

/// `COOP_TASKRUN` (5.19) runs completion work at the shard's next syscall instead of
/// interrupting it with an IPI; `SINGLE_ISSUER` (6.0) lets the kernel skip locking for
/// submissions, since only the shard's thread submits. Together they took L7 CPU per request
/// from 1.2–1.6× HAProxy's to 0.8× (issue 15; docs/benchmarks.md "Drivers").
const RING_FLAGS: [RingFlag; 2] = [
    RingFlag {
        name: "coop_taskrun",
        kernel: "5.19",
        set: |b| {
            b.setup_coop_taskrun();
        },
    },
    RingFlag {
        name: "single_issuer",
        kernel: "6.0",
        set: |b| {
            b.setup_single_issuer();
        },
    },
];

/// Bit `i` set: refusal of `RING_FLAGS[i]` was logged (once per process, not once per shard).
static REFUSAL_LOGGED: AtomicU32 = AtomicU32::new(0);

/// Builds the runtime `driver` asks for. `auto` is the tuned io_uring ring when the kernel has
/// io_uring (monoio's probe of the operations it uses), and epoll when it has not or the ring
/// cannot be built (a memlock limit, `io_uring_disabled`, seccomp).
fn build_runtime(id: usize, driver: Driver) -> io::Result<ShardRuntime> {
    match driver {
        Driver::Epoll => epoll_runtime(),
        Driver::IoUring => tuned_uring_runtime(),
        Driver::Auto if !monoio::utils::detect_uring() => {
            debug!(shard = id, "io_uring is not available here; the shard runs on epoll");
            epoll_runtime()
        }
        Driver::Auto => tuned_uring_runtime().or_else(|e| {
            warn!(shard = id, error = %e, "cannot build the io_uring ring; falling back to epoll");
            epoll_runtime()
        }),
    }
}

fn epoll_runtime() -> io::Result<ShardRuntime> {
    let rt = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build()?;
    Ok(ShardRuntime::Epoll(rt, ShardDriver { kind: DriverKind::Epoll, ring_flags: Vec::new(), data_path: Vec::new() }))
}

/// The io_uring runtime with every flag of [`RING_FLAGS`] the kernel accepts. A kernel refuses
/// a flag it does not know with `EINVAL`; any other error (no memory, not permitted) is not
/// about the flags and is returned as it is.
fn tuned_uring_runtime() -> io::Result<ShardRuntime> {
    let mut wanted = RING_FLAGS.len();
    loop {
        let mut ring = io_uring::IoUring::builder();
        for flag in &RING_FLAGS[..wanted] {
            (flag.set)(&mut ring);
        }
        let built = RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(URING_ENTRIES)
            .uring_builder(ring)
            .enable_timer()
            .build();
        match built {
            Ok(rt) => {
                let ring_flags = RING_FLAGS[..wanted].iter().map(|f| f.name).collect();
                return Ok(ShardRuntime::IoUring(
                    rt,
                    ShardDriver { kind: DriverKind::IoUring, ring_flags, data_path: Vec::new() },
                ));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && wanted > 0 => {
                wanted -= 1;
                let flag = &RING_FLAGS[wanted];
                if REFUSAL_LOGGED.fetch_or(1 << wanted, Ordering::Relaxed) & (1 << wanted) == 0 {
                    warn!(
                        flag = flag.name,
                        kernel = flag.kernel,
                        "the kernel refused the io_uring setup flag {} (it needs Linux {}); shards run without it",
                        flag.name,
                        flag.kernel
                    );
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_follows_threads_then_cpus_then_the_allowed_set() {
        assert_eq!(shard_count(3, &[0]), 3);
        assert_eq!(shard_count(0, &[0]), 1, "--cpus 0 with threads = 0 means one shard");
        assert_eq!(shard_count(0, &[0, 2, 3]), 3);
        assert_eq!(shard_count(0, &[]), allowed_cpus().len().max(1));
    }
}
