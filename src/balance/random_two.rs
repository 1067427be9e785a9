//! Power of two choices: pick two different targets at random (weighted), send to the one with
//! fewer requests in flight (Mitzenmacher). Nearly as good as least-outstanding at spreading
//! load, without scanning every target, and without the herd effect of every shard choosing
//! the same momentarily least-loaded target.
//!
//! The random numbers come from a per-balancer xorshift generator seeded from the shard id and
//! the clock: no shared RNG, no syscall per pick. Weighted choice walks a prefix-sum table
//! (O(log n) by binary search).

use super::{Eligible, TargetLoad};
use crate::config::Target;

#[derive(Debug)]
pub struct RandomTwo {
    /// Running sums of the weights: target i owns [prefix[i-1], prefix[i]).
    prefix: Vec<u64>,
    state: u64,
}

impl RandomTwo {
    pub fn new(targets: &[Target], seed: u64) -> Self {
        let mut sum = 0;
        let prefix = targets
            .iter()
            .map(|t| {
                sum += u64::from(t.weight);
                sum
            })
            .collect();
        RandomTwo { prefix, state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A weighted random eligible target (other than `also_not`), or None when there is none.
    fn draw(&mut self, eligible: &Eligible, also_not: Option<usize>) -> Option<usize> {
        let total = *self.prefix.last()?;
        if total == 0 {
            return None;
        }
        // A few draws find an untried target quickly; fall back to a scan if unlucky.
        for _ in 0..8 {
            let r = self.next() % total;
            let i = self.prefix.partition_point(|&p| p <= r);
            if eligible.allows(i) && Some(i) != also_not {
                return Some(i);
            }
        }
        let start = (self.next() % self.prefix.len() as u64) as usize;
        (0..self.prefix.len()).map(|k| (start + k) % self.prefix.len()).find(|&i| {
            let w = self.prefix[i] - if i == 0 { 0 } else { self.prefix[i - 1] };
            w > 0 && eligible.allows(i) && Some(i) != also_not
        })
    }

    pub fn pick(&mut self, eligible: &Eligible, targets: &[impl TargetLoad]) -> Option<usize> {
        let a = self.draw(eligible, None)?;
        let Some(b) = self.draw(eligible, Some(a)) else { return Some(a) };
        let (la, lb) = (targets[a].outstanding(), targets[b].outstanding());
        Some(if lb < la { b } else { a })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::{except, runtimes};

    #[test]
    fn never_picks_the_busier_of_two() {
        let (cfg, rts) = runtimes(&[1, 1]);
        let mut b = RandomTwo::new(&cfg, 42);
        rts[0].counters.active.add(10);
        for _ in 0..100 {
            assert_eq!(b.pick(&except(&[]), &rts), Some(1));
        }
    }

    #[test]
    fn weights_shape_the_draw_and_tried_is_skipped() {
        let (cfg, rts) = runtimes(&[3, 1, 0]);
        let mut b = RandomTwo::new(&cfg, 7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[b.draw(&except(&[]), None).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0, "weight 0 was drawn");
        assert!((28_000..32_000).contains(&counts[0]), "{counts:?}");
        assert_eq!(b.pick(&except(&[0]), &rts), Some(1));
        assert_eq!(b.pick(&except(&[0, 1]), &rts), None);
    }
}
