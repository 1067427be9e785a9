//! spillway: an io_uring, thread-per-core layer-4/layer-7 load balancer.
//!
//! # Layering map
//!
//! Imports run one way: a module may name (`crate::x`) only modules on a lower line of this
//! map, never one on its own line or above. A lower layer that must reach up offers a trait or
//! a callback instead (the surge queue's [`surge::WakeShard`], the balancers' [`balance::TargetLoad`]),
//! and the session code gets the narrow [`context::ShardContext`] instead of the shard.
//! `tests/layering.rs` reads this block and every `crate::` path in `src/`, and fails on an
//! import against it; a new module must be given a line here.
//!
//! ```text
//! demo cli daemon logging
//! server
//! upgrade
//! shard
//! admin
//! listener
//! http
//! l4
//! context
//! pool
//! group
//! control
//! surge
//! balance
//! health
//! stream
//! tls
//! ring
//! io
//! sticky
//! rules
//! config
//! metrics pem pipe latch sockopt memory proxy_protocol cookie live_sessions
//! ```
//!
//! One paragraph per layer, top to bottom:
//!
//! - [`demo`], [`cli`], [`daemon`], [`logging`]: what the binary needs around the server: the
//!   embedded demo, the command line, daemonizing, the log subscriber.
//! - [`server`], [`upgrade`]: a running spillway: binds the listeners, starts the shards,
//!   controls them; hands listening sockets to a reloading process (`-sf`).
//! - [`shard`]: one pinned core running one monoio runtime: its run loop, its health checks,
//!   its share of each surge queue, the messages from its mailbox.
//! - [`admin`]: the admin API (`/stats`, `/metrics`, `/healthz`, targets, zonal shift), served
//!   by shard 0.
//! - [`listener`]: SO_REUSEPORT sockets per shard, the accept loop, the connection cap; hands
//!   each connection to its protocol's session code.
//! - [`http`]: the HTTP listener: codec, request flow, bodies, parking, tunnels, errors.
//! - [`l4`]: a TCP session: connect, then splice both ways with half-close.
//! - [`context`]: what a shard's sessions share (groups, pipes, drain and close signals, the
//!   session count) and each session's bookkeeping.
//! - [`pool`]: idle backend connections per shard.
//! - [`group`]: a target group as one shard runs it: balancer, routable set, caps, figures.
//! - [`control`]: the published target set, registration, draining, zonal shift, reloads, and
//!   the shards' mailboxes.
//! - [`surge`]: the surge queue: shared figures, slot counters, waiting, hand-off.
//! - [`balance`]: picking a target, one algorithm per file, over a load view it defines.
//! - [`health`]: the lock-free health table and the checkers.
//! - [`stream`], [`tls`], [`ring`], [`io`]: plain or TLS streams; rustls contexts and
//!   connections; the io_uring data path (multishot receives into a provided-buffer ring,
//!   sends as ring entries); readiness-driven non-blocking socket I/O.
//! - [`sticky`]: target stickiness by cookie: the values and `Set-Cookie` lines a group
//!   prepares, the request's cookie read, what a response gets.
//! - [`rules`]: listener rules compiled for the request path: conditions, forwards, redirects,
//!   fixed responses, header edits.
//! - [`config`]: the typed configuration tree, its readers (TOML, haproxy.cfg) and validation.
//! - Leaves: [`metrics`] (per-shard counters, merged snapshots, the `/metrics` names), [`pem`]
//!   (certificate and key files), [`pipe`] (the per-shard pipe pool for splice), [`latch`] (a
//!   one-way shard-local signal), [`sockopt`] (socket settings std and monoio do not expose),
//!   [`memory`] (handing freed memory back after a burst), [`proxy_protocol`] (the PROXY
//!   header: written to targets, read from clients), [`cookie`] (the cookie helpers both kinds
//!   of stickiness use), [`live_sessions`] (the backend sockets of sessions in progress, shut
//!   when their target is marked down).
pub mod admin;
pub mod balance;
pub mod cli;
pub mod config;
pub mod context;
pub mod control;
pub mod cookie;
pub mod daemon;
pub mod demo;
pub mod group;
pub mod health;
pub mod http;
pub mod io;
pub mod l4;
pub mod latch;
pub mod listener;
pub mod live_sessions;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod pem;
pub mod pipe;
pub mod pool;
pub mod proxy_protocol;
pub mod ring;
pub mod rules;
pub mod server;
pub mod shard;
pub mod sockopt;
pub mod sticky;
pub mod stream;
pub mod surge;
pub mod tls;
pub mod upgrade;

pub use server::{ReloadError, Server, StartError, StartOptions};
