//! The listener rules' figures in `/stats` (`listeners`, and `rules` in a group's entry) and in
//! `/metrics`: ELB's `RuleEvaluations`, `HTTP_Fixed_Response_Count` and `HTTP_Redirect_Count`
//! per listener, and each rule's matches. docs/metrics.md ("Listener rules") is the reference.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
};
use serde_json::{json, Value};

use crate::metrics::{names, ListenerSnapshot, RuleFigures, ShardSnapshot};

/// `{"rule", "priority", "matched"}` per rule.
pub fn rules_json(figures: &RuleFigures) -> Value {
    figures.matches.iter().map(|m| json!({ "rule": m.rule, "priority": m.priority, "matched": m.matched })).collect()
}

/// The `/stats` `listeners` object, by listener name.
pub fn listeners_json(listeners: &[ListenerSnapshot]) -> Value {
    let map: serde_json::Map<String, Value> = listeners
        .iter()
        .map(|l| {
            let r = &l.rules;
            let entry = json!({
                "RuleEvaluations": r.evaluations,
                "HTTP_Fixed_Response_Count": r.fixed_responses,
                "HTTP_Redirect_Count": r.redirects,
                "rules": rules_json(r),
            });
            (l.name.clone(), entry)
        })
        .collect();
    Value::Object(map)
}

/// The rule figures of every listener and of every group with rules of its own.
#[derive(Debug)]
pub struct RuleCollector {
    /// `(label name, owner name, figures)`: `("listener", "web", ..)`, `("target_group", ..)`.
    owners: Vec<(&'static str, String, RuleFigures)>,
}

impl RuleCollector {
    pub fn new(figures: &ShardSnapshot) -> Self {
        let listeners = figures.listeners.iter().map(|l| ("listener", l.name.clone(), l.rules.clone()));
        let groups = figures
            .groups
            .iter()
            .filter(|g| !g.rules.matches.is_empty())
            .map(|g| ("target_group", g.name.clone(), g.rules.clone()));
        RuleCollector { owners: listeners.chain(groups).collect() }
    }

    fn per_listener(
        &self,
        e: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&RuleFigures) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (kind, owner, figures) in self.owners.iter().filter(|o| o.0 == "listener") {
            m.encode_family(&[(*kind, owner.as_str())])?.encode_counter::<NoLabelSet, _, u64>(&value(figures), None)?;
        }
        Ok(())
    }
}

impl Collector for RuleCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.per_listener(&mut e, names::RULE_EVALUATIONS, "Listener rules evaluated (ELB RuleEvaluations)", |r| {
            r.evaluations
        })?;
        self.per_listener(&mut e, names::FIXED_RESPONSES, "Fixed responses made by listener rules", |r| {
            r.fixed_responses
        })?;
        self.per_listener(&mut e, names::REDIRECTS, "Redirects made by listener rules", |r| r.redirects)?;
        let mut m = e.encode_descriptor(
            names::RULE_MATCHES,
            "Requests (or responses) each rule held for, labelled by its owner and its label",
            None,
            MetricType::Counter,
        )?;
        for (kind, owner, figures) in &self.owners {
            for rule in &figures.matches {
                let labels = [(*kind, owner.as_str()), ("rule", rule.rule.as_str())];
                m.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&rule.matched, None)?;
            }
        }
        Ok(())
    }
}
