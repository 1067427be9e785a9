//! Flow hash: the client's address and port pick the target, through a Maglev lookup table.
//!
//! Why Maglev (Eisenbud et al., NSDI 2016) rather than rendezvous hashing: a pick is one hash
//! and one table load, O(1) whatever the number of targets, where rendezvous costs a hash per
//! target per pick. Maglev keeps the property we need: when a target is added or removed, only
//! about `1/targets` of the flows move (the table is rebuilt from scratch, but each target's
//! preference order depends only on its own address, so most slots keep their owner).
//!
//! The table has a fixed prime size (65,537, the paper's choice), whatever the number of
//! targets: a size that followed the target count would change every slot's owner whenever a
//! target is added or removed (all offsets, skips and `hash % size` change), which is no
//! better than `hash % n`. 65,537 slots of 4 bytes is 256 KiB per group per shard. Weights are honoured: the table is filled in rounds where each
//! target claims slots in proportion to its weight.
//!
//! Hashes use ahash with fixed seeds, so every shard of the process computes the same table
//! and sends a given flow to the same target (not guaranteed across spillway versions).
//!
//! When the chosen target has been tried already (its connect failed), the walk continues to
//! the following table slots, which is deterministic for the flow and spreads the failed
//! target's flows over the others in proportion to their weights.

#[cfg(test)]
use std::net::SocketAddr;

use crate::config::Target;

use super::{Eligible, PickContext};

/// Table size: a prime, so that every skip value generates a full permutation; fixed, so that
/// a change of the target set moves only the flows it must.
const TABLE_SIZE: usize = 65_537;

fn hasher(seed: u64) -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x5350_494c_4c57_4159 ^ seed,
        0x6d61_676c_6576_0001,
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
    )
}

#[derive(Debug)]
pub struct FlowHash {
    /// Slot → target index.
    table: Vec<u32>,
    /// Number of targets with a weight above zero.
    weighted: usize,
    flow_hasher: ahash::RandomState,
}

impl FlowHash {
    pub fn new(targets: &[Target]) -> Self {
        let weighted = targets.iter().filter(|t| t.weight > 0).count();
        FlowHash { table: build_table(targets, TABLE_SIZE), weighted, flow_hasher: hasher(0) }
    }

    /// The flow's target, or the next eligible one along the table.
    pub fn pick(&self, ctx: &PickContext, eligible: &Eligible) -> Option<usize> {
        // `any` stops at the first allowed target (at once in the common case); without it a
        // flow with nothing left would walk the whole table.
        if self.weighted == 0 || !eligible.any() {
            return None;
        }
        let start = (self.flow_hasher.hash_one(ctx.client) % self.table.len() as u64) as usize;
        let n = self.table.len();
        (0..n).map(|step| self.table[(start + step) % n] as usize).find(|&candidate| eligible.allows(candidate))
    }
}

/// Maglev's population: each target walks its own permutation of the slots (offset and skip
/// derived from its address) and claims the first free one, in proportion to its weight,
/// until every slot has an owner.
fn build_table(targets: &[Target], size: usize) -> Vec<u32> {
    const EMPTY: u32 = u32::MAX;
    let mut table = vec![EMPTY; size];
    let live: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].weight > 0).collect();
    if live.is_empty() {
        return Vec::new();
    }
    let (h1, h2) = (hasher(1), hasher(2));
    let perms: Vec<(usize, usize)> = live
        .iter()
        .map(|&i| {
            let offset = (h1.hash_one(targets[i].addr) % size as u64) as usize;
            let skip = (h2.hash_one(targets[i].addr) % (size as u64 - 1)) as usize + 1;
            (offset, skip)
        })
        .collect();
    // Credit-based weighting: per round the heaviest target claims one slot and every other
    // target earns weight/max_weight of a claim, so shares follow the weights exactly even
    // when the weights sum to more than the table size.
    let max_weight = live.iter().map(|&i| targets[i].weight).max().unwrap_or(1) as f64;
    let mut credit = vec![0f64; live.len()];
    let mut next = vec![0usize; live.len()];
    let mut filled = 0;
    'rounds: loop {
        for (k, &i) in live.iter().enumerate() {
            credit[k] += f64::from(targets[i].weight) / max_weight;
            while credit[k] >= 1.0 {
                credit[k] -= 1.0;
                let (offset, skip) = perms[k];
                let mut slot = (offset + next[k] * skip) % size;
                while table[slot] != EMPTY {
                    next[k] += 1;
                    slot = (offset + next[k] * skip) % size;
                }
                table[slot] = i as u32;
                next[k] += 1;
                filled += 1;
                if filled == size {
                    break 'rounds;
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::except;

    fn targets(n: usize) -> Vec<Target> {
        (0..n).map(|i| Target::new(format!("10.0.0.{}:80", i + 1).parse().unwrap())).collect()
    }

    fn client(i: u32) -> PickContext {
        let ip = std::net::Ipv4Addr::from(0xC0A8_0000 + (i >> 8));
        PickContext { client: SocketAddr::from((ip, 10_000 + (i & 0xff) as u16)) }
    }

    #[test]
    fn same_flow_same_target() {
        let fh = FlowHash::new(&targets(4));
        for i in 0..1000 {
            assert_eq!(fh.pick(&client(i), &except(&[])), fh.pick(&client(i), &except(&[])));
        }
    }

    #[test]
    fn flows_spread_evenly() {
        let fh = FlowHash::new(&targets(4));
        let mut counts = [0u32; 4];
        for i in 0..40_000 {
            counts[fh.pick(&client(i), &except(&[])).unwrap()] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven spread: {counts:?}");
        }
    }

    /// Share of flows that move between targets present both before and after (ideal: 0).
    fn needless_moves(before: usize, after: usize) -> f64 {
        let (b, a) = (FlowHash::new(&targets(before)), FlowHash::new(&targets(after)));
        let survivors = before.min(after);
        let flows = 20_000;
        let moved = (0..flows)
            .filter(|&i| {
                let (x, y) = (b.pick(&client(i), &except(&[])).unwrap(), a.pick(&client(i), &except(&[])).unwrap());
                x < survivors && y < survivors && x != y
            })
            .count();
        moved as f64 / flows as f64
    }

    #[test]
    fn adding_or_removing_a_target_moves_only_the_flows_it_must() {
        // Maglev is near-minimal: a few percent at most, where `hash % n` moves most flows.
        for (before, after) in [(5, 4), (2, 3), (3, 2), (10, 11), (20, 21), (21, 20)] {
            let share = needless_moves(before, after);
            assert!(share < 0.03, "{before} -> {after} targets: {:.1}% of flows moved needlessly", share * 100.0);
        }
    }

    #[test]
    fn weights_are_honoured() {
        let mut t = targets(2);
        t[0].weight = 3;
        let fh = FlowHash::new(&t);
        let share0 = fh.table.iter().filter(|&&i| i == 0).count() as f64 / fh.table.len() as f64;
        assert!((0.72..0.78).contains(&share0), "share {share0}");
    }

    #[test]
    fn tried_targets_are_skipped_then_none() {
        let fh = FlowHash::new(&targets(3));
        let c = client(7);
        let first = fh.pick(&c, &except(&[])).unwrap();
        let second = fh.pick(&c, &except(&[first])).unwrap();
        assert_ne!(first, second);
        let third = fh.pick(&c, &except(&[first, second])).unwrap();
        assert!(third != first && third != second);
        assert_eq!(fh.pick(&c, &except(&[first, second, third])), None);
    }
}
