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
pub mod least_connections;
pub mod least_outstanding;
pub mod random_two;
pub mod round_robin;

use std::{net::SocketAddr, rc::Rc};

use crate::{
    config::{Algorithm, Target},
    shard::TargetRuntime,
};

pub use flow_hash::FlowHash;
pub use least_connections::LeastConnections;
pub use least_outstanding::LeastOutstanding;
pub use random_two::RandomTwo;
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
    LeastOutstanding(LeastOutstanding),
    LeastConnections(LeastConnections),
    FlowHash(FlowHash),
    RandomTwo(RandomTwo),
}

impl Balancer {
    /// Builds the balancer for `algorithm` over `targets` (indices into that slice are what
    /// `pick` returns). `seed` feeds the randomised algorithms (differs per shard).
    pub fn new(algorithm: Algorithm, targets: &[Target], seed: u64) -> Balancer {
        match algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::new(targets)),
            Algorithm::LeastOutstandingRequests => Balancer::LeastOutstanding(LeastOutstanding::new(targets)),
            Algorithm::LeastConnections => Balancer::LeastConnections(LeastConnections::new(targets)),
            Algorithm::FlowHash => Balancer::FlowHash(FlowHash::new(targets)),
            Algorithm::RandomTwo => Balancer::RandomTwo(RandomTwo::new(targets, seed)),
        }
    }

    /// The next target for this connection or request. `targets` are the group's runtimes, in
    /// the order the balancer was built from (the load-aware algorithms read their counters).
    #[inline]
    pub fn pick(&mut self, ctx: &PickContext, tried: &[usize], targets: &[Rc<TargetRuntime>]) -> Option<usize> {
        match self {
            Balancer::RoundRobin(b) => b.pick(tried),
            Balancer::LeastOutstanding(b) => b.pick(tried, targets),
            Balancer::LeastConnections(b) => b.pick(tried, targets),
            Balancer::FlowHash(b) => b.pick(ctx, tried),
            Balancer::RandomTwo(b) => b.pick(tried, targets),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::TargetCounters;

    /// Targets with these weights, and their runtimes (fresh counters).
    pub fn runtimes(weights: &[u32]) -> (Vec<Target>, Vec<Rc<TargetRuntime>>) {
        let cfg: Vec<Target> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut t = Target::new(format!("127.0.0.1:{}", 9000 + i).parse().unwrap());
                t.weight = w;
                t
            })
            .collect();
        let rts =
            cfg.iter().map(|t| Rc::new(TargetRuntime { addr: t.addr, counters: TargetCounters::default() })).collect();
        (cfg, rts)
    }
}
