//! Shard threads: naming, CPU pinning, and the monoio runtime each one runs.
//!
//! `threads = 0` means one shard per CPU the process may run on (its `sched_getaffinity` set,
//! so `taskset -c 0 spillway` gives one shard). With `pin = true`, shard `i` is pinned to the
//! `i`-th CPU of `cpus` (or of the allowed set); a refused pin is a warning, not an error,
//! since a container may forbid it and the shard still works unpinned.

use std::{future::Future, io, thread::JoinHandle};

use monoio::{FusionDriver, IoUringDriver, LegacyDriver, RuntimeBuilder};
use tracing::{info, warn};

use crate::config::Driver;

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

/// Starts thread `spillway-shard-{id}`, pins it to `cpu`, builds the runtime for `driver` and
/// runs `make_future()` on it to the end.
pub fn spawn_shard<F, Fut>(id: usize, cpu: Option<usize>, driver: Driver, make_future: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::Builder::new().name(format!("spillway-shard-{id}")).spawn(move || {
        if let Some(cpu) = cpu {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                warn!(shard = id, cpu, "could not pin the shard to its CPU; running unpinned");
            }
        }
        if let Err(e) = run_on_driver(id, driver, make_future) {
            tracing::error!(shard = id, error = %e, "could not start the shard's runtime");
        }
    })
}

/// Ring flags for a ring that one thread owns: `SINGLE_ISSUER` (kernel 6.0) lets the kernel
/// skip locking for submissions, `COOP_TASKRUN` (5.19) runs completion work at the shard's next
/// syscall instead of interrupting it with an IPI. A kernel that knows neither refuses the
/// setup, and the caller builds the ring again with the defaults.
fn tuned_ring() -> io_uring::Builder {
    let mut b = io_uring::IoUring::builder();
    b.setup_coop_taskrun();
    b.setup_single_issuer();
    b
}

fn run_on_driver<F, Fut>(id: usize, driver: Driver, make_future: F) -> io::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    match driver {
        Driver::Auto => {
            match RuntimeBuilder::<FusionDriver>::new().with_entries(URING_ENTRIES).enable_timer().build() {
                Ok(mut rt) => {
                    let name = if monoio::utils::detect_uring() { "io_uring" } else { "epoll" };
                    info!(shard = id, driver = name, "shard started");
                    rt.block_on(make_future());
                }
                // io_uring was detected, but the shard's ring could not be built (memlock limit on
                // older kernels, for one): run on epoll rather than not at all.
                Err(e) => {
                    warn!(shard = id, error = %e, "cannot build the io_uring ring; falling back to epoll");
                    let mut rt = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build()?;
                    info!(shard = id, driver = "epoll", "shard started");
                    rt.block_on(make_future());
                }
            }
        }
        Driver::IoUring => {
            let mut rt = RuntimeBuilder::<IoUringDriver>::new()
                .with_entries(URING_ENTRIES)
                .uring_builder(tuned_ring())
                .enable_timer()
                .build()
                .or_else(|_| {
                    RuntimeBuilder::<IoUringDriver>::new().with_entries(URING_ENTRIES).enable_timer().build()
                })?;
            info!(shard = id, driver = "io_uring", "shard started");
            rt.block_on(make_future());
        }
        Driver::Epoll => {
            let mut rt = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build()?;
            info!(shard = id, driver = "epoll", "shard started");
            rt.block_on(make_future());
        }
    }
    Ok(())
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
