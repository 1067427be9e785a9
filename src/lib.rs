//! spillway: an io_uring, thread-per-core layer-4/layer-7 load balancer.
//!
//! # Layout, in data-flow order
//!
//! - [`config`]: the typed configuration tree, its readers and validation.
//! - [`server`]: a running spillway: binds the listeners, starts the shards, controls them.
//! - [`shard`]: one pinned core running one monoio runtime; its state, run loop and mailbox.
//! - [`listener`]: SO_REUSEPORT sockets per shard, the accept loop, the global connection cap.
//! - [`balance`]: picking a target (one algorithm per file).
//! - [`l4`]: a TCP session: connect, then splice both ways with half-close.
//! - [`http`]: the HTTP listener: codec, request flow, bodies, errors; [`pool`]: idle backend
//!   connections per shard; [`io`]: readiness-driven non-blocking socket I/O; [`stream`]: plain
//!   or TLS streams over it; [`tls`]: certificates, SNI, rustls contexts (HTTPS).
//! - [`health`]: the lock-free health table and the checkers; [`control`]: registration,
//!   draining, zonal shift and reloads, published to every shard.
//! - [`metrics`]: per-shard counters and merged snapshots; [`admin`]: the admin API
//!   (`/stats`, `/metrics`, `/healthz`, targets, zonal shift), served by shard 0.
//! - [`cli`], [`daemon`], [`logging`], [`demo`]: what the binary needs around the server.
//! - [`sockopt`]: the few socket settings std and monoio do not expose; [`memory`]: handing
//!   freed memory back to the system after a burst.
pub mod admin;
pub mod balance;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod health;
pub mod http;
pub mod io;
pub mod l4;
pub mod listener;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod pool;
pub mod server;
pub mod shard;
pub mod sockopt;
pub mod stream;
pub mod surge;
pub mod tls;
pub mod upgrade;

pub use server::{ReloadError, Server, StartError, StartOptions};
