//! The host index: which request rules can hold for a given `Host`, found by one hash lookup
//! instead of testing every rule.
//!
//! Most rule sets route by host: each rule requires one of a few exact host names (ELB's
//! `host_header` without wildcards, HAProxy's `hdr(host) -i NAME`). A rule whose condition is
//! an `All` holding such a test (or is that test) cannot hold for any other host, so it is
//! filed under each of its names; every other rule (wildcards, no host condition, `Any`, `Not`)
//! stays unindexed. Evaluating walks, in rule order, the merge of the unindexed rules and the
//! rules filed under the request's host: the same rules hold and the same one decides as in a
//! full scan, and a set of 20 host rules tests one or two instead of 20.
//!
//! Keys are lower-case (only case-insensitive tests are indexed). Two kinds, for the two ways
//! files name a host: the host without its port (ELB) and the `Host` field's whole value
//! (HAProxy's `hdr(host)`, port included when the client sent one).

use ahash::AHashMap;

use super::{
    matcher::Cond,
    request::{strip_port, Request},
};

/// Below this many indexed rules a full scan is as fast.
const WORTH_INDEXING: usize = 4;

/// The longest host name looked up (a longer one cannot be a key: DNS names are ≤ 253).
const MAX_KEY: usize = 256;

#[derive(Debug, Default)]
pub struct HostIndex {
    /// Host name (no port) → rules requiring it, ascending.
    by_name: AHashMap<Box<[u8]>, Vec<u32>>,
    /// Whole `Host` value → rules requiring it, ascending.
    by_field: AHashMap<Box<[u8]>, Vec<u32>>,
    /// Rules the index cannot rule out, ascending.
    unindexed: Vec<u32>,
    enabled: bool,
}

/// The rules filed under `key`, looked up lower-cased through a stack buffer.
fn lookup<'m>(map: &'m AHashMap<Box<[u8]>, Vec<u32>>, key: &[u8], buf: &mut [u8; MAX_KEY]) -> &'m [u32] {
    if map.is_empty() || key.len() > MAX_KEY {
        return &[];
    }
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key);
    lower.make_ascii_lowercase();
    map.get(&*lower).map_or(&[], |v| &v[..])
}

/// A host requirement found in a condition: (keys, whole field rather than name).
pub struct Required {
    pub names: Vec<Vec<u8>>,
    pub whole_field: bool,
}

impl HostIndex {
    /// Builds the index over the rules' conditions, in order.
    pub fn build<'c>(conditions: impl Iterator<Item = &'c Cond>) -> HostIndex {
        let mut index = HostIndex::default();
        let mut indexed = 0;
        for (i, cond) in conditions.enumerate() {
            let i = i as u32;
            match cond.required_host() {
                Some(Required { names, whole_field }) => {
                    indexed += 1;
                    let map = if whole_field { &mut index.by_field } else { &mut index.by_name };
                    for name in names {
                        let rules = map.entry(name.into_boxed_slice()).or_default();
                        if rules.last() != Some(&i) {
                            rules.push(i);
                        }
                    }
                }
                None => index.unindexed.push(i),
            }
        }
        index.enabled = indexed >= WORTH_INDEXING;
        index
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Calls `visit` with each rule that may hold for `request`, in rule order, until it
    /// answers true (stop).
    pub fn candidates(&self, request: &Request<'_>, mut visit: impl FnMut(u32) -> bool) {
        let field = request.host_field();
        let mut name_buf = [0u8; MAX_KEY];
        let mut field_buf = [0u8; MAX_KEY];
        let by_name = lookup(&self.by_name, strip_port(field), &mut name_buf);
        let by_field = lookup(&self.by_field, field, &mut field_buf);
        // A three-way merge of ascending lists, without allocating.
        let lists = [&self.unindexed[..], by_name, by_field];
        let mut at = [0usize; 3];
        let mut last = None;
        loop {
            let next = (0..3).filter_map(|k| lists[k].get(at[k]).map(|&r| (r, k))).min();
            let Some((rule, k)) = next else { return };
            at[k] += 1;
            if last == Some(rule) {
                continue; // filed under both kinds of key
            }
            last = Some(rule);
            if visit(rule) {
                return;
            }
        }
    }
}
