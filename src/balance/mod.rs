//! Target selection: one algorithm per file, chosen by an enum (no trait objects).
//!
//! A balancer is built from an immutable list of targets (as Pingora's selectors are) and
//! rebuilt, not mutated, when the target set changes. It is per shard, so `pick` takes
//! `&mut self` and needs no synchronisation.
//!
//! `pick` is given an [`Eligible`] filter: the targets the group may route to now (healthy,
//! not draining, in scope of the zone rules; computed by the caller from the health table, see
//! `group::GroupRuntime::pick`) and the indices already tried for this connection, so the caller
//! can walk to the next target when a connect fails. It returns `None` when no eligible target
//! with a weight above zero is left.
//!
//! The load-aware algorithms read each target's load through [`TargetLoad`], which the caller
//! implements for whatever it keeps per target (a shard's target runtimes): an algorithm knows
//! nothing of shards, sessions or pools.

pub mod flow_hash;
pub mod least_connections;
pub mod least_outstanding;
pub mod random_two;
pub mod round_robin;

use std::{net::SocketAddr, rc::Rc};

use crate::config::{Algorithm, Target};

pub use flow_hash::FlowHash;
pub use least_connections::LeastConnections;
pub use least_outstanding::LeastOutstanding;
pub use random_two::RandomTwo;
pub use round_robin::RoundRobin;

/// A balancer seed for shard `shard` of `shards`: its high 32 bits are the shard's place in the
/// process (`⌈shard·2³²/shards⌉`, which [`rotation_start`] turns into round robin's starting
/// offset), its low 32 bits `random`'s (the randomised algorithms' seed differs per shard and
/// per start).
pub fn shard_seed(shard: usize, shards: usize, random: u64) -> u64 {
    let shards = shards.max(1) as u64;
    let place = ((shard as u64 % shards) << 32).div_ceil(shards);
    (place << 32) | (random & 0xffff_ffff)
}

/// Round robin's starting offset in a rotation of `n` targets: `⌊shard·n/shards⌋` for a seed
/// from [`shard_seed`] (exact while `n·shards < 2³²`).
pub fn rotation_start(seed: u64, n: usize) -> usize {
    (((seed >> 32) * n as u64) >> 32) as usize
}

/// Which targets a pick may return: routable now and not tried yet for this request.
#[derive(Debug, Clone, Copy)]
pub struct Eligible<'a> {
    /// `usable[i]`: target `i` may take new work (one entry per target).
    pub usable: &'a [bool],
    /// Targets already tried for this connection or request.
    pub tried: &'a [usize],
}

impl Eligible<'_> {
    #[inline]
    pub fn allows(&self, i: usize) -> bool {
        self.usable[i] && !self.tried.contains(&i)
    }

    /// Whether any target at all is allowed (an O(n) scan for the algorithms whose walk would
    /// otherwise be long when none is).
    pub fn any(&self) -> bool {
        (0..self.usable.len()).any(|i| self.allows(i))
    }
}

/// What the load-aware algorithms read of a target, as seen from this shard.
pub trait TargetLoad {
    /// Requests (or TCP sessions) in flight to the target now.
    fn outstanding(&self) -> u64;
    /// Connections open to the target now (busy or pooled).
    fn connections(&self) -> u64;
}

impl<T: TargetLoad> TargetLoad for Rc<T> {
    #[inline]
    fn outstanding(&self) -> u64 {
        (**self).outstanding()
    }

    #[inline]
    fn connections(&self) -> u64 {
        (**self).connections()
    }
}

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
    /// `pick` returns). `seed` (from [`shard_seed`]) feeds the randomised algorithms (it differs
    /// per shard) and says where in the process the shard is, for round robin's starting offset.
    pub fn new(algorithm: Algorithm, targets: &[Target], seed: u64) -> Balancer {
        match algorithm {
            Algorithm::RoundRobin => {
                let picks = rotation_start(seed, RoundRobin::active(targets));
                Balancer::RoundRobin(RoundRobin::starting_at(targets, picks))
            }
            Algorithm::LeastOutstandingRequests => Balancer::LeastOutstanding(LeastOutstanding::new(targets)),
            Algorithm::LeastConnections => Balancer::LeastConnections(LeastConnections::new(targets)),
            Algorithm::FlowHash => Balancer::FlowHash(FlowHash::new(targets)),
            Algorithm::RandomTwo => Balancer::RandomTwo(RandomTwo::new(targets, seed)),
        }
    }

    /// The next target for this connection or request. `targets` are the group's targets' loads,
    /// in the order the balancer was built from (the load-aware algorithms read them).
    #[inline]
    pub fn pick(&mut self, ctx: &PickContext, eligible: &Eligible, targets: &[impl TargetLoad]) -> Option<usize> {
        match self {
            Balancer::RoundRobin(b) => b.pick(eligible),
            Balancer::LeastOutstanding(b) => b.pick(eligible, targets),
            Balancer::LeastConnections(b) => b.pick(eligible, targets),
            Balancer::FlowHash(b) => b.pick(ctx, eligible),
            Balancer::RandomTwo(b) => b.pick(eligible, targets),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::Counter;

    /// Every target usable (tests use at most 64).
    pub const ALL: [bool; 64] = [true; 64];

    /// A filter allowing every target but `tried`.
    pub fn except(tried: &[usize]) -> Eligible<'_> {
        Eligible { usable: &ALL, tried }
    }

    /// A target's load as the tests set it.
    #[derive(Default)]
    pub struct TestCounters {
        pub active: Counter,
        pub connections: Counter,
    }

    #[derive(Default)]
    pub struct TestTarget {
        pub counters: TestCounters,
    }

    impl TargetLoad for TestTarget {
        fn outstanding(&self) -> u64 {
            self.counters.active.get()
        }

        fn connections(&self) -> u64 {
            self.counters.connections.get()
        }
    }

    /// Targets with these weights, and their loads (all zero).
    pub fn runtimes(weights: &[u32]) -> (Vec<Target>, Vec<TestTarget>) {
        let cfg: Vec<Target> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut t = Target::new(format!("127.0.0.1:{}", 9000 + i).parse().unwrap());
                t.weight = w;
                t
            })
            .collect();
        let rts = cfg.iter().map(|_| TestTarget::default()).collect();

        (cfg, rts)
    }

    /// Every algorithm skips targets that are not usable, and says None when none is.
    #[test]
    fn each_shard_starts_its_rotation_at_its_share() {
        for (shards, n) in [(4, 8), (3, 3), (7, 16), (2, 5), (1, 4), (5, 1)] {
            for i in 0..shards {
                let seed = shard_seed(i, shards, 0xdead_beef_1234);
                assert_eq!(rotation_start(seed, n), i * n / shards, "shard {i} of {shards}, {n} targets");
            }
        }
    }

    #[test]
    fn unusable_targets_are_never_picked() {
        let algorithms = [
            Algorithm::RoundRobin,
            Algorithm::LeastOutstandingRequests,
            Algorithm::LeastConnections,
            Algorithm::FlowHash,
            Algorithm::RandomTwo,
        ];
        let (cfg, rts) = runtimes(&[1, 1, 1, 1]);
        let usable = [false, true, false, true];
        for algorithm in algorithms {
            let mut b = Balancer::new(algorithm, &cfg, 9);
            for port in 0..200 {
                let ctx = PickContext { client: SocketAddr::from(([10, 1, 2, 3], port)) };
                let picked = b.pick(&ctx, &Eligible { usable: &usable, tried: &[] }, &rts).unwrap();
                assert!(usable[picked], "{algorithm:?} picked unusable target {picked}");
                let other = b.pick(&ctx, &Eligible { usable: &usable, tried: &[picked] }, &rts).unwrap();
                assert!(usable[other] && other != picked, "{algorithm:?}");
                assert_eq!(b.pick(&ctx, &Eligible { usable: &usable, tried: &[1, 3] }, &rts), None, "{algorithm:?}");
            }
            let none = [false; 4];
            let ctx = PickContext { client: SocketAddr::from(([10, 1, 2, 3], 1)) };
            assert_eq!(b.pick(&ctx, &Eligible { usable: &none, tried: &[] }, &rts), None, "{algorithm:?}");
        }
    }
}
