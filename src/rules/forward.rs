//! `forward` to one group or to several by weight, with ELB's group stickiness.
//!
//! Weighted forwards use smooth weighted round robin (as nginx does) per shard: over any run of
//! requests each group's share is within one request of its weight's, which a random pick only
//! approaches. Stickiness is a cookie, `AWSALBTG`, naming the group by a stable hash of its name
//! (the same across shards, restarts and reloads, and it does not spell the group's name); a
//! request carrying one of this rule's groups with a weight above 0 goes there, and every
//! response renews the cookie.

use std::cell::Cell;

use super::{request::Request, GROUP_COOKIE};
use crate::config::{rules::Forward, Config};

#[derive(Debug)]
pub struct Forwarding {
    groups: Vec<WeightedGroup>,
    total: i64,
    sticky: bool,
}

#[derive(Debug)]
struct WeightedGroup {
    /// Index in the shard's group list; `usize::MAX` for a group the configuration lacks.
    index: usize,
    weight: i64,
    current: Cell<i64>,
    /// The cookie's value for this group.
    cookie: String,
    /// `Set-Cookie: AWSALBTG=...; Max-Age=...; Path=/\r\n`.
    set_cookie: Vec<u8>,
}

impl Forwarding {
    pub fn compile(f: &Forward, config: &Config) -> Forwarding {
        let max_age = f.stickiness.map_or(0, |d| d.as_secs().max(1));
        let groups: Vec<WeightedGroup> = f
            .groups
            .iter()
            .map(|(name, weight)| {
                let cookie = crate::cookie::opaque_value(name);
                let set_cookie = format!("Set-Cookie: {GROUP_COOKIE}={cookie}; Max-Age={max_age}; Path=/\r\n");
                WeightedGroup {
                    index: config.group_index(name).unwrap_or(usize::MAX),
                    weight: i64::from(*weight),
                    current: Cell::new(0),
                    cookie,
                    set_cookie: set_cookie.into_bytes(),
                }
            })
            .collect();
        let total = groups.iter().map(|g| g.weight).sum();
        Forwarding { groups, total, sticky: f.stickiness.is_some() }
    }

    /// The group for this request, and the stickiness cookie to set on its response.
    pub fn pick(&self, request: &Request<'_>) -> (usize, Option<&[u8]>) {
        if self.groups.len() == 1 {
            let g = &self.groups[0];
            return (g.index, self.sticky.then_some(&g.set_cookie[..]));
        }
        let chosen =
            self.sticky.then(|| self.named_by_cookie(request)).flatten().unwrap_or_else(|| self.next_by_weight());
        (chosen.index, self.sticky.then_some(&chosen.set_cookie[..]))
    }

    fn named_by_cookie(&self, request: &Request<'_>) -> Option<&WeightedGroup> {
        let mut found = None;
        request.fields.any(&mut |name, value| {
            if !name.eq_ignore_ascii_case(b"cookie") {
                return false;
            }
            let Some(v) = crate::cookie::value_in(value, GROUP_COOKIE.as_bytes()) else { return false };
            found = self.groups.iter().find(|g| g.weight > 0 && g.cookie.as_bytes() == v);
            found.is_some()
        });
        found
    }

    fn next_by_weight(&self) -> &WeightedGroup {
        let mut best: Option<&WeightedGroup> = None;
        for g in self.groups.iter().filter(|g| g.weight > 0) {
            g.current.set(g.current.get() + g.weight);
            if best.is_none_or(|b| g.current.get() > b.current.get()) {
                best = Some(g);
            }
        }
        // Validation refuses a forward whose weights are all 0; the first group stands in.
        let best = best.unwrap_or(&self.groups[0]);
        best.current.set(best.current.get() - self.total);
        best
    }
}
