//! Target selection: one algorithm per file, chosen by an enum (no trait objects).
//!
//! A balancer is built from an immutable list of targets (as Pingora's selectors are) and
//! rebuilt, not mutated, when the target set changes. It is per shard, so `pick` takes
//! `&mut self` and needs no synchronisation.
//!
//! `pick` is given the indices already tried for this connection and returns another one, so
//! the caller can walk to the next target when a connect fails; it returns `None` when every
//! target with a weight above zero has been tried.

pub mod flow_hash;
pub mod round_robin;

use std::net::SocketAddr;

use crate::config::{Algorithm, Target};

pub use flow_hash::FlowHash;
pub use round_robin::RoundRobin;

/// What a pick may depend on.
#[derive(Debug, Clone, Copy)]
pub struct PickContext {
    pub client: SocketAddr,
}

/// The algorithms, dispatched by `match`.
#[derive(Debug)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    FlowHash(FlowHash),
}

impl Balancer {
    /// Builds the balancer for `algorithm` over `targets` (indices into that slice are what
    /// `pick` returns).
    pub fn new(algorithm: Algorithm, targets: &[Target]) -> Result<Balancer, UnsupportedAlgorithm> {
        match algorithm {
            Algorithm::RoundRobin => Ok(Balancer::RoundRobin(RoundRobin::new(targets))),
            Algorithm::FlowHash => Ok(Balancer::FlowHash(FlowHash::new(targets))),
            other => Err(UnsupportedAlgorithm(other)),
        }
    }

    #[inline]
    pub fn pick(&mut self, ctx: &PickContext, tried: &[usize]) -> Option<usize> {
        match self {
            Balancer::RoundRobin(b) => b.pick(tried),
            Balancer::FlowHash(b) => b.pick(ctx, tried),
        }
    }
}

/// An algorithm this build cannot run on the listener that asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("algorithm {0:?} is not available in this build (round_robin and flow_hash are)")]
pub struct UnsupportedAlgorithm(pub Algorithm);
