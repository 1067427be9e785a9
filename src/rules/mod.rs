//! The listener-rules engine: a listener's rules (and a target group's) compiled once per
//! shard from the configuration's description (`config::rules`), and evaluated on each request
//! head after it is parsed and before a target is picked.
//!
//! Why compiled per shard: every prepared matcher, group index and weighted-forward state is
//! then shard-local (`Cell`s, no atomics), and a reload swaps the whole set at once: a request
//! sees the rules it started with.
//!
//! Evaluation allocates nothing: conditions read borrowed slices of the head through
//! [`Request`]; the header edits that hold are recorded in a 128-bit mask (validation caps a
//! phase at [`crate::config::rules::MAX_HEADER_EDITS`]); a listener without rules
//! costs one `is_empty` test per request.
//!
//! Semantics (shared by both front doors): request rules in order; header edits that hold
//! before the first holding final rule apply; that final rule decides (forward, redirect,
//! fixed response); none: the listener's target group. Response rules hold header edits only.

mod edits;
mod forward;
mod glob;
mod host_index;
mod matcher;
mod redirect;
mod request;

use std::net::SocketAddr;

pub use edits::{Edits, ResponseEdits, Values};
pub use forward::Forwarding;
pub use redirect::RedirectPlan;
pub use request::{Fields, Request, Response};

use crate::{
    config::{
        rules::{self as model, Action},
        Config,
    },
    metrics::{Counter, RuleFigures, RuleMatches},
};
use matcher::{Cond, Subject};

/// The name of ELB's target-group stickiness cookie.
pub const GROUP_COOKIE: &str = "AWSALBTG";

/// One listener's (or one target group's) compiled rules on one shard.
#[derive(Debug, Default)]
pub struct RuleSet {
    request: Vec<CompiledRule>,
    /// Which request rules can hold for a given host (`host_index.rs`).
    hosts: host_index::HostIndex,
    response: Vec<CompiledRule>,
    trusted: Vec<ipnet::IpNet>,
    /// Rules evaluated (ELB's `RuleEvaluations`: each rule whose condition was looked at).
    pub evaluations: Counter,
    /// Responses made by rules (ELB's `HTTP_Fixed_Response_Count`, `HTTP_Redirect_Count`).
    pub fixed_responses: Counter,
    pub redirects: Counter,
}

/// One compiled rule and how often it held.
#[derive(Debug)]
pub struct CompiledRule {
    pub label: String,
    pub priority: u32,
    cond: Cond,
    action: Compiled,
    /// For a header edit: its bit in the phase's edit mask.
    edit_bit: Option<u32>,
    /// Requests (or responses) this rule held for.
    pub matched: Counter,
}

#[derive(Debug)]
enum Compiled {
    Forward(Forwarding),
    Redirect(RedirectPlan),
    Fixed(model::FixedResponse),
    Header(model::HeaderEdit),
}

/// What the request rules decided.
#[derive(Debug)]
pub enum Decision<'r> {
    /// No final rule held: the listener's target group.
    Default,
    /// Send to this group (its index in the shard's group list); `set_cookie` is the
    /// `Set-Cookie` field line (CRLF included) that keeps the client on it.
    Forward {
        group: usize,
        set_cookie: Option<&'r [u8]>,
    },
    Redirect(&'r RedirectPlan),
    Fixed(&'r model::FixedResponse),
}

/// The decision and the header edits that apply.
#[derive(Debug)]
pub struct Outcome<'r> {
    pub decision: Decision<'r>,
    pub edits: Edits<'r>,
}

impl RuleSet {
    /// Compiles `rules` against `config` (group names become indices). `rules` was validated
    /// with `config`: a name that is missing anyway makes that forward send nowhere (its rule
    /// answers 503 through the caller's "no target").
    pub fn compile(rules: &model::Rules, trusted: &[ipnet::IpNet], config: &Config) -> RuleSet {
        let compile = |r: &model::Rule| CompiledRule {
            edit_bit: None,
            label: r.label.clone(),
            priority: r.priority,
            cond: Cond::compile(&r.condition),
            action: match &r.action {
                Action::Forward(f) => Compiled::Forward(Forwarding::compile(f, config)),
                Action::Redirect(r) => Compiled::Redirect(RedirectPlan::new(r)),
                Action::Fixed(f) => Compiled::Fixed(f.clone()),
                Action::Header(e) => Compiled::Header(e.clone()),
            },
            matched: Counter::default(),
        };
        let number_edits = |mut list: Vec<CompiledRule>| {
            for (bit, r) in list.iter_mut().filter(|r| matches!(r.action, Compiled::Header(_))).enumerate() {
                r.edit_bit = Some(bit as u32);
            }
            list
        };
        let request = number_edits(rules.request.iter().map(compile).collect());
        RuleSet {
            hosts: host_index::HostIndex::build(request.iter().map(|r| &r.cond)),
            request,
            response: number_edits(rules.response.iter().map(compile).collect()),
            trusted: trusted.to_vec(),
            ..RuleSet::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }

    pub fn has_response_rules(&self) -> bool {
        !self.response.is_empty()
    }

    /// The rules, request phase then response phase, for figures.
    pub fn rules(&self) -> impl Iterator<Item = &CompiledRule> {
        self.request.iter().chain(&self.response)
    }

    /// This set's figures on this shard.
    pub fn figures(&self) -> RuleFigures {
        RuleFigures {
            evaluations: self.evaluations.get(),
            fixed_responses: self.fixed_responses.get(),
            redirects: self.redirects.get(),
            matches: self
                .rules()
                .map(|r| RuleMatches { rule: r.label.clone(), priority: r.priority, matched: r.matched.get() })
                .collect(),
        }
    }

    /// Evaluates the request rules on `request`.
    pub fn evaluate<'r>(&'r self, request: &Request<'_>) -> Outcome<'r> {
        let subject = Subject {
            request: Some(request),
            response: None,
            peer: request.peer,
            tls: request.tls,
            trusted: &self.trusted,
        };
        let mut mask = 0u128;
        let mut evaluated = 0;
        let mut decision = Decision::Default;
        // One rule: false to go on, true once it decided.
        let mut visit = |rule: &'r CompiledRule| -> bool {
            evaluated += 1;
            if !rule.cond.holds(&subject) {
                return false;
            }
            rule.matched.add(1);
            decision = match &rule.action {
                Compiled::Header(_) => {
                    mask |= rule.edit_bit.and_then(|b| 1u128.checked_shl(b)).unwrap_or(0);
                    return false;
                }
                Compiled::Forward(f) => {
                    let (group, set_cookie) = f.pick(request);
                    Decision::Forward { group, set_cookie }
                }
                Compiled::Redirect(r) => {
                    self.redirects.add(1);
                    Decision::Redirect(r)
                }
                Compiled::Fixed(f) => {
                    self.fixed_responses.add(1);
                    Decision::Fixed(f)
                }
            };
            true
        };
        if self.hosts.enabled() {
            self.hosts.candidates(request, |i| visit(&self.request[i as usize]));
        } else {
            for rule in &self.request {
                if visit(rule) {
                    break;
                }
            }
        }
        self.evaluations.add(evaluated);
        Outcome { decision, edits: Edits::new(&self.request, mask) }
    }

    /// Evaluates the response rules: the header edits that apply to this response.
    pub fn evaluate_response<'r>(&'r self, response: &Response<'_>, peer: SocketAddr, tls: bool) -> ResponseEdits<'r> {
        if self.response.is_empty() {
            return ResponseEdits::none();
        }
        let subject = Subject { request: None, response: Some(response), peer, tls, trusted: &self.trusted };
        let mut mask = 0u128;
        for (bit, rule) in self.response.iter().enumerate() {
            if rule.cond.holds(&subject) {
                rule.matched.add(1);
                mask |= 1u128.checked_shl(bit as u32).unwrap_or(0);
            }
        }
        self.evaluations.add(self.response.len() as u64);
        ResponseEdits(Edits::new(&self.response, mask))
    }
}

#[cfg(test)]
mod tests;
