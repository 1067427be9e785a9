//! Smooth weighted round robin (the nginx algorithm).
//!
//! Every pick adds each target's weight to its running score, takes the highest score and
//! subtracts the total weight from it. Over a cycle of `sum(weights)` picks each target is
//! chosen exactly `weight` times, and the choices are interleaved (weights 5,1,1 give
//! a a b a c a a, not a a a a a b c). Equal weights reduce to plain rotation. A weight of 0
//! takes no traffic. Cost: O(targets) per pick, no allocation.

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
    fn tried_and_zero_weight_targets_are_skipped() {
        let mut rr = RoundRobin::new(&targets(&[1, 0, 1]));
        for _ in 0..10 {
            assert_ne!(rr.pick(&except(&[])), Some(1));
        }
        assert_eq!(rr.pick(&except(&[0])), Some(2));
        assert_eq!(rr.pick(&except(&[0, 2])), None);
    }
}
