//! The open-loop plan: a piecewise-constant rate schedule and the planned send time of every
//! request, as wrk2 plans them, so latency can be measured from when a request *should* have
//! been sent (coordinated omission corrected) rather than from when it was.
//!
//! The schedule is a list of segments starting at the beginning of the run (time 0): the warmup
//! (at the first step's rate) followed by the measured steps. `N(t)` is the number of requests
//! planned before `t` (the integral of the rate); request number `k` (0-based, over all
//! connections) is planned at `N⁻¹(k)`. Connection `i` of `c` owns requests `i, i+c, i+2c, ...`,
//! so the connections are evenly interleaved and the total plan is exactly the rate, with no
//! drift however long the run.
//!
//! Invariants: rates are finite and >= 0; `planned(k)` is non-decreasing in `k`; a rate change at
//! a step boundary takes effect at that boundary for every connection at once (the plan does not
//! depend on which connection asks, nor on what has been sent).

use std::time::Duration;

/// One `RATE:DURATION` item of `--steps` (or the single step of `-R RATE -d D`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Requests per second, all connections together.
    pub rate: f64,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    end: f64,
    rate: f64,
    /// N(start): requests planned before this segment.
    before: f64,
}

/// The whole plan of a run (warmup + measured steps), shared read-only by every worker.
#[derive(Debug, Clone)]
pub struct RateSchedule {
    segments: Vec<Segment>,
    warmup: f64,
}

impl RateSchedule {
    /// A plan of `warmup` at the first step's rate, then the steps.
    pub fn new(warmup: Duration, steps: Vec<Step>) -> RateSchedule {
        let first_rate = steps.first().map_or(0.0, |s| s.rate);
        let all = std::iter::once(Step { rate: first_rate, duration: warmup }).chain(steps);
        let mut segments = Vec::new();
        let (mut t, mut n) = (0.0, 0.0);
        for s in all {
            let d = s.duration.as_secs_f64();
            if d <= 0.0 {
                continue;
            }
            let rate = if s.rate.is_finite() && s.rate > 0.0 { s.rate } else { 0.0 };
            segments.push(Segment { start: t, end: t + d, rate, before: n });
            t += d;
            n += rate * d;
        }
        RateSchedule { segments, warmup: warmup.as_secs_f64() }
    }

    /// End of the plan, from the start of the run (warmup included).
    pub fn end(&self) -> Duration {
        Duration::from_secs_f64(self.segments.last().map_or(0.0, |s| s.end))
    }

    /// Requests planned before `t` seconds after the start of the run: `N(t)`.
    pub fn planned_before(&self, t: f64) -> f64 {
        let mut n = 0.0;
        for s in &self.segments {
            if t <= s.start {
                break;
            }
            n = s.before + s.rate * (t.min(s.end) - s.start);
        }
        n
    }

    /// Requests planned in the measured window `[warmup + from, warmup + to)` (seconds).
    pub fn offered_between(&self, from: f64, to: f64) -> f64 {
        self.planned_before(self.warmup + to) - self.planned_before(self.warmup + from)
    }

    /// The rate in force at `t` seconds after the start of the run (0 after the end).
    pub fn rate_at(&self, t: f64) -> f64 {
        self.segments.iter().find(|s| t >= s.start && t < s.end).map_or(0.0, |s| s.rate)
    }

    /// Planned send time of request `k` (0-based, over all connections), from the start of the
    /// run; `None` when the plan ends before it.
    pub fn planned(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        for s in &self.segments {
            let after = s.before + s.rate * (s.end - s.start);
            if s.rate > 0.0 && k < after {
                let t = s.start + (k - s.before).max(0.0) / s.rate;
                return Some(Duration::from_secs_f64(t.min(s.end)));
            }
        }
        None
    }
}

/// The planned send times of one connection: requests `index, index + stride, ...`.
#[derive(Debug, Clone)]
pub struct ConnPlan {
    next_k: u64,
    stride: u64,
}

impl ConnPlan {
    /// Connection `index` of `connections` (over all workers).
    pub fn new(index: usize, connections: usize) -> ConnPlan {
        ConnPlan { next_k: index as u64, stride: connections.max(1) as u64 }
    }

    /// The next planned send time, without consuming it.
    pub fn peek(&self, schedule: &RateSchedule) -> Option<Duration> {
        schedule.planned(self.next_k)
    }

    /// Consume the next planned send time.
    pub fn advance(&mut self) {
        self.next_k += self.stride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: &[(f64, u64)]) -> Vec<Step> {
        v.iter().map(|&(rate, ms)| Step { rate, duration: Duration::from_millis(ms) }).collect()
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = RateSchedule::new(Duration::ZERO, steps(&[(1000.0, 2000)]));
        assert_eq!(s.planned(0), Some(Duration::ZERO));
        assert_eq!(s.planned(500), Some(Duration::from_millis(500)));
        assert_eq!(s.planned(1999), Some(Duration::from_millis(1999)));
        assert_eq!(s.planned(2000), None);
        assert!((s.planned_before(1.5) - 1500.0).abs() < 1e-9);
        assert_eq!(s.end(), Duration::from_secs(2));
    }

    #[test]
    fn steps_change_rate_at_the_boundary() {
        let s = RateSchedule::new(Duration::ZERO, steps(&[(100.0, 1000), (1000.0, 1000), (0.0, 500), (10.0, 1000)]));
        // 100 requests in the first second, then 1000 in the second.
        assert_eq!(s.planned(99).unwrap(), Duration::from_millis(990));
        assert_eq!(s.planned(100).unwrap(), Duration::from_secs(1));
        assert_eq!(s.planned(600).unwrap(), Duration::from_millis(1500));
        // The zero-rate step is skipped over: the next request is at 2.5 s.
        assert_eq!(s.planned(1100).unwrap(), Duration::from_millis(2500));
        assert_eq!(s.planned(1110), None);
        assert_eq!(s.rate_at(1.2), 1000.0);
        assert_eq!(s.rate_at(2.2), 0.0);
        assert!((s.offered_between(0.0, 2.0) - 1100.0).abs() < 1e-9);
    }

    #[test]
    fn warmup_runs_at_the_first_rate_before_the_window() {
        let s = RateSchedule::new(Duration::from_secs(1), steps(&[(200.0, 1000)]));
        assert_eq!(s.planned(200).unwrap(), Duration::from_secs(1));
        assert!((s.offered_between(0.0, 1.0) - 200.0).abs() < 1e-9);
        assert_eq!(s.end(), Duration::from_secs(2));
    }

    #[test]
    fn connections_interleave_without_overlap() {
        let s = RateSchedule::new(Duration::ZERO, steps(&[(400.0, 1000)]));
        let mut all = Vec::new();
        for i in 0..4 {
            let mut p = ConnPlan::new(i, 4);
            while let Some(t) = p.peek(&s) {
                all.push(t);
                p.advance();
            }
        }
        all.sort();
        assert_eq!(all.len(), 400);
        let gaps: Vec<_> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| g.as_micros().abs_diff(2500) <= 1), "uneven gaps {gaps:?}");
    }
}
