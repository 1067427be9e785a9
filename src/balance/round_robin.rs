//! Smooth weighted round robin (the nginx algorithm).
//!
//! Every pick adds each target's weight to its running score, takes the highest score and
//! subtracts the total weight from it. Over a cycle of `sum(weights)` picks each target is
//! chosen exactly `weight` times, and the choices are interleaved (weights 5,1,1 give
//! a a b a c a a, not a a a a a b c). Equal weights reduce to plain rotation. A weight of 0
//! takes no traffic. Cost: O(targets) per pick, no allocation.
//!
//! Each shard keeps its own rotation (no shared counter on the hot path), so that N shards do
//! not all start at the first target, shard `i` of `S` starts its rotation `⌊i·n/S⌋` picks in,
//! `n` being the number of targets of non-zero weight: with 4 shards and 8 servers the
//! rotations start at servers 0, 2, 4 and 6 ([`RoundRobin::starting_at`]).

use super::Eligible;
use crate::config::Target;

#[derive(Debug)]
pub struct RoundRobin {
    weights: Vec<i64>,
    scores: Vec<i64>,
}

impl RoundRobin {
    pub fn new(targets: &[Target]) -> Self {
        RoundRobin { weights: targets.iter().map(|t| i64::from(t.weight)).collect(), scores: vec![0; targets.len()] }
    }

    /// A rotation already `picks` picks in (every target eligible): where shard `i` of `S`
    /// starts, `picks = ⌊i·n/S⌋`. Cost O(picks × targets), once per (re)build of the group.
    pub fn starting_at(targets: &[Target], picks: usize) -> Self {
        let mut rr = RoundRobin::new(targets);
        let usable = vec![true; targets.len()];
        let all = super::Eligible { usable: &usable, tried: &[] };
        for _ in 0..picks {
            rr.pick(&all);
        }
        rr
    }

    /// The targets that take traffic (weight > 0): the `n` of the starting offset.
    pub fn active(targets: &[Target]) -> usize {
        targets.iter().filter(|t| t.weight > 0).count()
    }

    /// The next target, skipping those not eligible and those of weight 0.
    pub fn pick(&mut self, eligible: &Eligible) -> Option<usize> {
        let mut total = 0;
        let mut best: Option<usize> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            if w == 0 || !eligible.allows(i) {
                continue;
            }
            self.scores[i] += w;
            total += w;
            if best.is_none_or(|b| self.scores[i] > self.scores[b]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.scores[chosen] -= total;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::except;

    fn targets(weights: &[u32]) -> Vec<Target> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut t = Target::new(format!("127.0.0.1:{}", 9000 + i).parse().unwrap());
                t.weight = w;
                t
            })
            .collect()
    }

    #[test]
    fn equal_weights_rotate() {
        let mut rr = RoundRobin::new(&targets(&[1, 1, 1]));
        let picks: Vec<_> = (0..6).map(|_| rr.pick(&except(&[])).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn weights_are_honoured_and_interleaved() {
        let mut rr = RoundRobin::new(&targets(&[5, 1, 1]));
        let picks: Vec<_> = (0..7).map(|_| rr.pick(&except(&[])).unwrap()).collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
        let mut counts = [0; 3];
        for _ in 0..700 {
            counts[rr.pick(&except(&[])).unwrap()] += 1;
        }
        assert_eq!(counts, [500, 100, 100]);
    }

    #[test]
    fn shards_start_their_rotations_apart() {
        let t = targets(&[1; 8]);
        let firsts: Vec<usize> =
            (0..4).map(|i| RoundRobin::starting_at(&t, i * 8 / 4).pick(&except(&[])).unwrap()).collect();
        assert_eq!(firsts, vec![0, 2, 4, 6]);
        // Each still visits every target once per cycle.
        let mut rr = RoundRobin::starting_at(&t, 3);
        let picks: Vec<usize> = (0..8).map(|_| rr.pick(&except(&[])).unwrap()).collect();
        assert_eq!(picks, vec![3, 4, 5, 6, 7, 0, 1, 2]);
    }

    #[test]
    fn tried_and_zero_weight_targets_are_skipped() {
        let mut rr = RoundRobin::new(&targets(&[1, 0, 1]));
        for _ in 0..10 {
            assert_ne!(rr.pick(&except(&[])), Some(1));
        }
        assert_eq!(rr.pick(&except(&[0])), Some(2));
        assert_eq!(rr.pick(&except(&[0, 2])), None);
    }
}
