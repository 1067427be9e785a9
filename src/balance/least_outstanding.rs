//! Least outstanding requests: the target with the fewest requests in flight, relative to its
//! weight (the Classic ELB HTTP default; HAProxy's `leastconn` in spirit).
//!
//! "In flight" is this shard's count (`TargetCounters::active`): shards share nothing per
//! request, so each balances its own load. With N shards each sees about 1/N of the traffic
//! and the sum stays balanced.
//!
//! Score = (in flight + 1) / weight, compared exactly by cross-multiplying (no floats). Ties go
//! to the target after the last one chosen, so equal targets take turns instead of the first
//! one taking every request while loads are equal (e.g. at zero).

use super::{Eligible, TargetLoad};
use crate::config::Target;

#[derive(Debug)]
pub struct LeastOutstanding {
    weights: Vec<u64>,
    /// Where the next tie-break scan starts.
    cursor: usize,
}

impl LeastOutstanding {
    pub fn new(targets: &[Target]) -> Self {
        LeastOutstanding { weights: targets.iter().map(|t| u64::from(t.weight)).collect(), cursor: 0 }
    }

    pub fn pick(&mut self, eligible: &Eligible, targets: &[impl TargetLoad]) -> Option<usize> {
        let chosen = least_loaded(&self.weights, self.cursor, eligible, |i| targets[i].outstanding())?;
        self.cursor = chosen + 1;
        Some(chosen)
    }
}

/// The eligible index with the lowest (load + 1) / weight, scanning from `start` so that the
/// first of equals is the one after the previous pick. Shared with `least_connections`.
pub(super) fn least_loaded(
    weights: &[u64],
    start: usize,
    eligible: &Eligible,
    load: impl Fn(usize) -> u64,
) -> Option<usize> {
    let n = weights.len();
    let mut best: Option<(usize, u64, u64)> = None; // (index, load + 1, weight)
    for k in 0..n {
        let i = (start + k) % n;
        let w = weights[i];
        if w == 0 || !eligible.allows(i) {
            continue;
        }
        let l = load(i) + 1;
        // l / w < bl / bw  ⇔  l * bw < bl * w
        if best.is_none_or(|(_, bl, bw)| u128::from(l) * u128::from(bw) < u128::from(bl) * u128::from(w)) {
            best = Some((i, l, w));
        }
    }
    best.map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::{except, runtimes};

    #[test]
    fn picks_the_least_loaded_and_rotates_among_equals() {
        let (cfg, rts) = runtimes(&[1, 1, 1]);
        let mut b = LeastOutstanding::new(&cfg);
        // All idle: take turns.
        assert_eq!((0..3).map(|_| b.pick(&except(&[]), &rts).unwrap()).collect::<Vec<_>>(), vec![0, 1, 2]);
        rts[0].counters.active.add(3);
        rts[1].counters.active.add(1);
        assert_eq!(b.pick(&except(&[]), &rts), Some(2));
        rts[2].counters.active.add(2);
        assert_eq!(b.pick(&except(&[]), &rts), Some(1));
        assert_eq!(b.pick(&except(&[1]), &rts), Some(2));
    }

    #[test]
    fn weight_scales_the_load() {
        let (cfg, rts) = runtimes(&[3, 1]);
        let mut b = LeastOutstanding::new(&cfg);
        rts[0].counters.active.add(2); // (2+1)/3 = 1.0
        rts[1].counters.active.add(1); // (1+1)/1 = 2.0
        assert_eq!(b.pick(&except(&[]), &rts), Some(0));
    }
}
