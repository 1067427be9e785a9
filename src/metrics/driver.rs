//! Which I/O driver each shard runs, and with which io_uring setup flags.
//!
//! The driver decides most of the kernel time a request costs (the untuned ring cost 1.2–1.6×
//! HAProxy's CPU per request where the tuned one cost 0.8×: docs/benchmarks.md "Drivers"), and
//! which one a shard got depends on the kernel, its sysctls and seccomp. So each shard reports
//! what it built, once, at start; `/stats`, `/metrics` and the start-up log show it, and the
//! benchmarks record it next to every figure.

/// What one shard's runtime was built with (the shard's number is kept by whoever holds it:
/// the shard itself, and its [`ShardReport`](super::ShardReport) in a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDriver {
    pub kind: DriverKind,
    /// The io_uring setup flags the kernel accepted, by their short names (`coop_taskrun`,
    /// `single_issuer`), in the order they were asked for; empty on epoll.
    pub ring_flags: Vec<&'static str>,
    /// What the HTTP data path runs on the ring (`recv_multishot`, `pbuf_ring`, `send`); empty
    /// when HTTP sockets use readiness I/O (epoll, `uring_data_path = false`, an old kernel).
    pub data_path: Vec<&'static str>,
}

/// The two drivers a shard can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    IoUring,
    Epoll,
}

impl DriverKind {
    /// The name used in the configuration (`driver = "io_uring"`) and in every report.
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::IoUring => "io_uring",
            DriverKind::Epoll => "epoll",
        }
    }
}

impl ShardDriver {
    /// The flags joined by commas (`coop_taskrun,single_issuer`), or `none`: one word for a log
    /// line or a Prometheus label.
    pub fn flags_label(&self) -> String {
        if self.ring_flags.is_empty() {
            "none".into()
        } else {
            self.ring_flags.join(",")
        }
    }
}
