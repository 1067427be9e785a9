//! The health table: one atomic word per target, read by every shard on the request path.
//!
//! # The word
//!
//! ```text
//!  63            40 39          24 23           8 7    3   2      1 0
//! ┌────────────────┬──────────────┬──────────────┬──────┬────────┬─────┐
//! │ generation (24)│ failures (16)│successes (16)│  —   │draining│state│
//! └────────────────┴──────────────┴──────────────┴──────┴────────┴─────┘
//! ```
//!
//! `state` is the verdict of the checks (`initial`, `healthy`, `unhealthy`); `draining` is set
//! when the target is deregistered and is reported in place of the verdict. `successes` and
//! `failures` are the current run of consecutive results (one of them is always 0).
//! `generation` grows by one at every change of `state` or `draining`, so a reader can tell
//! "still unhealthy" from "unhealthy again".
//!
//! Each word sits alone on its cache line ([`TargetHealth`] is 64-byte aligned): a check result
//! written for one target never invalidates the line another target's word lives in.
//!
//! # Writers
//!
//! - the checker of the target, on the one shard that checks it (`id % shards`): every result;
//! - any shard, when a connect to the target fails (passive detection counts it as a failed
//!   check) — rare by nature, it only happens when something is already wrong;
//! - the control plane (admin API, reload) setting or clearing `draining`.
//!
//! Every write is a compare-and-swap loop over the whole word ([`AtomicU64::fetch_update`]),
//! so concurrent writers never lose an update: a passive failure racing a check result is
//! counted once each, and the draining bit is never overwritten by a check. The common case has
//! one writer (the checker) and the CAS succeeds at once.
//!
//! # Readers and the epoch
//!
//! Balancers do not read the words on every pick. Each shard keeps, per target group, a plain
//! `Vec<bool>` of routable targets and the [`HealthTable::epoch`] it was computed at. Every
//! change of `state` or `draining` is followed by an increment of the epoch (`Release`); a pick
//! loads the epoch (`Acquire`) — one load of a line that changes only on verdicts — and
//! recomputes its routable set when the epoch moved. The words themselves are read with
//! `Acquire` loads during that recomputation.
//!
//! # Race windows, and why each is harmless
//!
//! - A verdict is written, and a pick on another shard loads the old epoch before the
//!   increment lands: that pick routes by the previous verdict, nanoseconds late. It is the
//!   same as the request having arrived a moment earlier; the next pick sees the new epoch.
//! - A shard loads the new epoch and recomputes while a *second* verdict is being written: it
//!   may see the second verdict's word already (it reads words after the epoch), and it will
//!   also see the second increment on its next pick and recompute again. It never keeps a
//!   verdict older than the epoch it recorded, because the word is written before the epoch
//!   is incremented and the epoch load is an `Acquire` of that `Release`.
//! - A target is deregistered while a request on another shard has just picked it: the request
//!   goes on (draining lets in-flight work finish); the draining target is only removed once
//!   no shard reports work in flight on it, or after `deregistration_delay`.
//! - Counts saturate at `u16::MAX` and the generation wraps at 2^24: thresholds are validated
//!   to be far below the first, and the second is only compared for equality between
//!   neighbouring reads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::HealthCheck;

/// What the checks say of a target, or that it is being deregistered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Registered, not yet judged: takes traffic (as HAProxy servers start UP).
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered: takes no new requests or sessions; in-flight ones finish.
    Draining,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Draining => "draining",
        }
    }
}

const STATE_MASK: u64 = 0b11;
const INITIAL: u64 = 0;
const HEALTHY: u64 = 1;
const UNHEALTHY: u64 = 2;
const DRAINING_BIT: u64 = 1 << 2;
const SUCCESS_SHIFT: u32 = 8;
const FAILURE_SHIFT: u32 = 24;
const GENERATION_SHIFT: u32 = 40;
const COUNT_MASK: u64 = 0xffff;
const GENERATION_MASK: u64 = (1 << 24) - 1;

/// A decoded health word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthWord {
    /// The checks' verdict (never `Draining`).
    pub verdict: HealthState,
    pub draining: bool,
    pub successes: u32,
    pub failures: u32,
    pub generation: u32,
}

impl HealthWord {
    fn decode(w: u64) -> Self {
        let verdict = match w & STATE_MASK {
            HEALTHY => HealthState::Healthy,
            UNHEALTHY => HealthState::Unhealthy,
            _ => HealthState::Initial,
        };
        HealthWord {
            verdict,
            draining: w & DRAINING_BIT != 0,
            successes: ((w >> SUCCESS_SHIFT) & COUNT_MASK) as u32,
            failures: ((w >> FAILURE_SHIFT) & COUNT_MASK) as u32,
            generation: ((w >> GENERATION_SHIFT) & GENERATION_MASK) as u32,
        }
    }

    fn encode(self) -> u64 {
        let state = match self.verdict {
            HealthState::Healthy => HEALTHY,
            HealthState::Unhealthy => UNHEALTHY,
            HealthState::Initial | HealthState::Draining => INITIAL,
        };
        state
            | if self.draining { DRAINING_BIT } else { 0 }
            | (u64::from(self.successes.min(COUNT_MASK as u32)) << SUCCESS_SHIFT)
            | (u64::from(self.failures.min(COUNT_MASK as u32)) << FAILURE_SHIFT)
            | ((u64::from(self.generation) & GENERATION_MASK) << GENERATION_SHIFT)
    }

    /// What the admin API reports: draining wins over the verdict.
    pub fn state(self) -> HealthState {
        if self.draining {
            HealthState::Draining
        } else {
            self.verdict
        }
    }

    /// Whether the target may take new work while at least one target of its group is
    /// healthy (fail-open aside): not draining and not judged unhealthy.
    pub fn routable(self) -> bool {
        !self.draining && self.verdict != HealthState::Unhealthy
    }
}

/// A flip of the verdict caused by one result, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flip {
    pub from: HealthState,
    pub to: HealthState,
}

/// One target's health word, alone on its cache line.
#[derive(Debug)]
#[repr(align(64))]
pub struct TargetHealth {
    /// Stable for the target's life in its group: decides which shard checks it (`id % N`).
    pub id: u64,
    word: AtomicU64,
}

impl TargetHealth {
    pub fn new(id: u64) -> Self {
        TargetHealth { id, word: AtomicU64::new(0) }
    }

    /// A target nobody checks: healthy from the start (HAProxy's server without `check`).
    pub fn unchecked(id: u64) -> Self {
        let w = HealthWord { verdict: HealthState::Healthy, draining: false, successes: 0, failures: 0, generation: 0 };
        TargetHealth { id, word: AtomicU64::new(w.encode()) }
    }

    #[inline]
    pub fn load(&self) -> HealthWord {
        HealthWord::decode(self.word.load(Ordering::Acquire))
    }

    /// Records one check result (or a passive failure) under the group's thresholds; returns
    /// the flip it caused, if any. The caller bumps the epoch when it gets one.
    pub fn record(&self, success: bool, check: &HealthCheck) -> Option<Flip> {
        let mut flip = None;
        let _ = self.word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            let mut h = HealthWord::decode(w);
            let before = h.verdict;
            if success {
                h.successes = h.successes.saturating_add(1);
                h.failures = 0;
                if before != HealthState::Healthy && h.successes >= check.healthy_threshold {
                    h.verdict = HealthState::Healthy;
                }
            } else {
                h.failures = h.failures.saturating_add(1);
                h.successes = 0;
                if before != HealthState::Unhealthy && h.failures >= check.unhealthy_threshold {
                    h.verdict = HealthState::Unhealthy;
                }
            }
            flip = (h.verdict != before).then_some(Flip { from: before, to: h.verdict });
            if flip.is_some() {
                h.generation = h.generation.wrapping_add(1);
            }
            Some(h.encode())
        });
        flip
    }

    /// Sets or clears `draining`; returns whether it changed.
    pub fn set_draining(&self, draining: bool) -> bool {
        self.word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let mut h = HealthWord::decode(w);
                if h.draining == draining {
                    return None;
                }
                h.draining = draining;
                h.generation = h.generation.wrapping_add(1);
                Some(h.encode())
            })
            .is_ok()
    }
}

/// The epoch every shard compares its routable sets against. One per process: verdicts are
/// rare, and a shard recomputing every group on any flip costs microseconds.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct HealthEpoch(AtomicU64);

impl HealthEpoch {
    #[inline]
    pub fn load(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Announces that some word changed state (call after the word's write).
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck { healthy_threshold: healthy, unhealthy_threshold: unhealthy, ..HealthCheck::default() }
    }

    #[test]
    fn word_round_trips() {
        let w =
            HealthWord { verdict: HealthState::Unhealthy, draining: true, successes: 3, failures: 0, generation: 77 };
        assert_eq!(HealthWord::decode(w.encode()), w);
        assert_eq!(w.state(), HealthState::Draining);
        assert!(!w.routable());
    }

    #[test]
    fn thresholds_flip_the_verdict_once() {
        let t = TargetHealth::new(0);
        let c = check(3, 2);
        assert_eq!(t.load().state(), HealthState::Initial);
        assert!(t.load().routable(), "initial targets take traffic");
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.record(false, &c), Some(Flip { from: HealthState::Initial, to: HealthState::Unhealthy }));
        assert_eq!(t.record(false, &c), None, "a flip is reported once");
        assert_eq!(t.load().failures, 3);
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(false, &c), None, "a failure resets the run of successes");
        for _ in 0..2 {
            assert_eq!(t.record(true, &c), None);
        }
        assert_eq!(t.record(true, &c), Some(Flip { from: HealthState::Unhealthy, to: HealthState::Healthy }));
        assert_eq!(t.load().generation, 2);
    }

    #[test]
    fn draining_survives_check_results() {
        let t = TargetHealth::new(0);
        let c = check(1, 1);
        assert!(t.set_draining(true));
        assert!(!t.set_draining(true), "already draining");
        t.record(true, &c);
        let w = t.load();
        assert_eq!((w.verdict, w.state()), (HealthState::Healthy, HealthState::Draining));
        assert!(t.set_draining(false));
        assert_eq!(t.load().state(), HealthState::Healthy);
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let t = std::sync::Arc::new(TargetHealth::new(0));
        let c = check(u32::MAX, u32::MAX);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (t, c) = (t.clone(), c.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        t.record(false, &c);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.load().failures, 40_000);
    }

    #[test]
    fn unchecked_targets_start_healthy() {
        assert_eq!(TargetHealth::unchecked(1).load().state(), HealthState::Healthy);
    }
}
