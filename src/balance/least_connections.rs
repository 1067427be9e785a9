//! Least connections: the target with the fewest open backend connections (busy or idle in
//! this shard's pool), relative to its weight — HAProxy's `balance leastconn`.
//!
//! On a TCP listener a session is one connection, so this equals least outstanding. On an HTTP
//! listener it differs: pooled idle connections count, which favours targets this shard has
//! not yet opened many connections to. Same scoring and tie rotation as `least_outstanding`.

use crate::config::Target;

use super::{least_outstanding::least_loaded, Eligible, TargetLoad};

#[derive(Debug)]
pub struct LeastConnections {
    weights: Vec<u64>,
    cursor: usize,
}

impl LeastConnections {
    pub fn new(targets: &[Target]) -> Self {
        LeastConnections { weights: targets.iter().map(|t| u64::from(t.weight)).collect(), cursor: 0 }
    }

    pub fn pick(&mut self, eligible: &Eligible, targets: &[impl TargetLoad]) -> Option<usize> {
        let chosen = least_loaded(&self.weights, self.cursor, eligible, |i| targets[i].connections())?;
        self.cursor = chosen + 1;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::{except, runtimes};

    #[test]
    fn counts_connections_not_requests() {
        let (cfg, rts) = runtimes(&[1, 1]);
        let mut b = LeastConnections::new(&cfg);
        rts[0].counters.active.add(5);
        rts[1].counters.connections.add(1);
        assert_eq!(b.pick(&except(&[]), &rts), Some(0));
        assert_eq!(b.pick(&except(&[0]), &rts), Some(1));
    }
}
