//! `[[listener.rule]]` and `trusted_proxies`: Elastic Load Balancing's listener rules, read from
//! TOML into the model of [`crate::config::rules`].
//!
//! A file of its own because ELB's rules come with many small limits (priorities, values per
//! condition, characters, wildcards, redirect components, response statuses) that only this front
//! door can get wrong: haproxy.cfg has a grammar of its own, and the checks both readers need
//! (groups exist, patterns compile) are in `rules_check.rs`.
//!
//! It follows the reader's two passes: serde reads the raw tables (unknown keys and wrong TOML
//! types stop there), then every rule is converted here and each problem is reported at the line
//! of the value, key or rule it is about, without stopping. A rule with a problem is left out of
//! the model, so the cross-reader checks never add a second message about it. The rules that
//! are read are sorted by priority (lowest first: evaluation order) and each one's line recorded
//! under its sorted index. Actions are read by [`actions`].

mod actions;

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Leaf, Reader};
use crate::config::{
    rules::{self, Condition, Fetch, Match, Rule, Test},
    validate::{RuleOwner, RuleSite, Site},
    Problem, Protocol,
};

/// ELB's quotas and ranges.
pub const MAX_RULES: usize = 100;
pub const MAX_PRIORITY: i64 = 50_000;
/// Condition types per rule.
pub const MAX_CONDITIONS: usize = 5;
/// Values per condition.
pub const MAX_VALUES: usize = 5;
/// Values holding `*` or `?`, per rule.
pub const MAX_WILDCARDS: usize = 5;
/// Characters of a condition value or a redirect component.
pub const MAX_VALUE_LEN: usize = 128;
pub const MAX_METHOD_LEN: usize = 40;
/// Characters of an `http_header` name.
pub const MAX_HEADER_NAME_LEN: usize = 40;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(super) struct RawRule {
    priority: Leaf<i64>,
    /// Not `Spanned` as a whole: a `[listener.rule.conditions]` header or dotted keys make a
    /// table with no span. The same goes for `action`.
    conditions: Option<RawConditions>,
    action: Option<actions::RawAction>,
}

type Values = Leaf<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawConditions {
    host_header: Values,
    path_pattern: Values,
    http_header: Option<RawHttpHeader>,
    http_request_method: Values,
    query_string: Values,
    source_ip: Values,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawHttpHeader {
    name: Leaf<String>,
    values: Values,
}

/// How one condition type becomes a [`Test`], and what its values may hold.
struct Kind {
    key: &'static str,
    fetch: Fetch,
    matcher: Match,
    ignore_case: bool,
    max_len: usize,
    /// Checks one value; the message says what is wrong with it.
    check: fn(&str) -> Result<(), String>,
}

fn host_value(v: &str) -> Result<(), String> {
    let ok = v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.*?".contains(&b));
    ok.then_some(()).ok_or_else(|| format!("\"{v}\": a host_header value holds only A-Z a-z 0-9 - . * ?"))
}

fn path_value(v: &str) -> Result<(), String> {
    let ok = v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.$/~\"'@:+&*?".contains(&b));
    if !ok {
        return Err(format!("\"{v}\": a path_pattern holds only A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ?"));
    }
    // A path starts with '/': a pattern that cannot match one is a mistake.
    match v.as_bytes()[0] {
        b'/' | b'*' | b'?' => Ok(()),
        _ => Err(format!("\"{v}\": a path_pattern starts with '/' (or a wildcard)")),
    }
}

fn header_value(v: &str) -> Result<(), String> {
    match v.bytes().any(|b| b.is_ascii_control()) {
        true => Err(format!("{v:?}: a header value holds no control characters")),
        false => Ok(()),
    }
}

fn method_value(v: &str) -> Result<(), String> {
    let ok = v.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    ok.then_some(())
        .ok_or_else(|| format!("\"{v}\": an http_request_method holds only A-Z - _ (methods are upper case)"))
}

fn query_value(v: &str) -> Result<(), String> {
    if v.bytes().any(|b| b.is_ascii_control() || b.is_ascii_whitespace() || b == b'&' || b == b'#') {
        return Err(format!("{v:?}: a query_string value holds no spaces, '&' or '#' (write them percent-encoded)"));
    }
    if v == "=" {
        return Err("\"=\": give a key, a value or both (key=value, key=, value)".into());
    }
    Ok(())
}

fn source_value(v: &str) -> Result<(), String> {
    rules::parse_cidr(v).map(|_| ())
}

fn kinds() -> [Kind; 5] {
    let kind =
        |key, fetch, matcher, ignore_case, max_len, check| Kind { key, fetch, matcher, ignore_case, max_len, check };
    [
        kind("host_header", Fetch::HostName, Match::Glob, true, MAX_VALUE_LEN, host_value as fn(&str) -> _),
        kind("path_pattern", Fetch::Path, Match::Glob, false, MAX_VALUE_LEN, path_value),
        kind("http_request_method", Fetch::Method, Match::Str, false, MAX_METHOD_LEN, method_value),
        kind("query_string", Fetch::Query, Match::QueryPair, true, MAX_VALUE_LEN, query_value),
        kind("source_ip", Fetch::SourceIp, Match::Ip, false, MAX_VALUE_LEN, source_value),
    ]
}

/// A rule read without problems, before sorting.
struct Read {
    priority: u32,
    line: usize,
    rule: Rule,
}

impl Reader<'_> {
    /// Reports a problem with a rule; the rule is left out of the model.
    fn complain(&mut self, line: usize, message: String) {
        self.problems.push(Problem { file: self.file.to_string(), line, message });
    }

    fn line_at<T>(&self, leaf: &Leaf<T>) -> Option<usize> {
        leaf.as_ref().map(|v| self.line_of(v.span().start))
    }

    /// `trusted_proxies = ["10.0.0.0/8", "::1"]`: each a CIDR or an address.
    pub(super) fn trusted_proxies(&mut self, i: usize, leaf: Values) -> Vec<ipnet::IpNet> {
        let site = Site::Listener(i, "trusted_proxies");
        let Some((list, _)) = self.leaf(site, leaf) else {
            return Vec::new();
        };
        let mut nets = Vec::new();
        for value in list {
            let line = self.line_of(value.span().start);
            match rules::parse_cidr(value.get_ref()) {
                Ok(net) => nets.push(net),
                Err(message) => self.fail(site, line, format!("{site}: {message}")),
            }
        }
        nets
    }

    /// A listener's `[[listener.rule]]` tables, sorted by priority; `protocol` is the
    /// listener's (an HTTPS listener cannot redirect to HTTP).
    pub(super) fn listener_rules(&mut self, i: usize, protocol: Protocol, raw: Vec<Spanned<RawRule>>) -> Vec<Rule> {
        let mut read = Vec::new();
        // Priority → the line of its first `priority` key.
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for (j, raw) in raw.into_iter().enumerate() {
            let line = self.line_of(raw.span().start);
            let at = format!("listener[{i}].rule[{j}]");
            if j == MAX_RULES {
                self.complain(line, format!("{at}: more than {MAX_RULES} rules in one listener"));
            }
            let before = self.problems.len();
            let raw = raw.into_inner();
            let priority = self.priority(&at, raw.priority, line, &mut seen);
            let condition = self.conditions(&at, raw.conditions, line);
            let action = match raw.action {
                Some(action) => self.action(&at, action, line, protocol),
                None => {
                    self.complain(line, format!("missing key {at}.action"));
                    None
                }
            };
            if let (Some(priority), Some(condition), Some(action), true) =
                (priority, condition, action, self.problems.len() == before)
            {
                let rule = Rule { priority, label: format!("priority {priority}"), condition, action };
                read.push(Read { priority, line, rule });
            }
        }
        read.sort_by_key(|r| r.priority);
        let owner = RuleOwner::Listener(i);
        for (index, r) in read.iter().enumerate() {
            self.lines.set(Site::Rule(RuleSite { owner, response: false, index }), r.line);
        }
        read.into_iter().map(|r| r.rule).collect()
    }

    fn priority(&mut self, at: &str, leaf: Leaf<i64>, line: usize, seen: &mut HashMap<i64, usize>) -> Option<u32> {
        let Some(leaf) = leaf else {
            self.complain(line, format!("missing key {at}.priority"));
            return None;
        };
        let (line, p) = (self.line_of(leaf.span().start), leaf.into_inner());
        if let Some(first) = seen.get(&p) {
            self.complain(line, format!("{at}.priority: duplicate priority {p} (first at line {first})"));
            return None;
        }
        seen.insert(p, line);
        if !(1..=MAX_PRIORITY).contains(&p) {
            self.complain(line, format!("{at}.priority: {p} is out of range (1 to {MAX_PRIORITY})"));
            return None;
        }
        u32::try_from(p).ok()
    }

    /// ELB's conditions: all must hold, each by any of its values.
    fn conditions(&mut self, at: &str, raw: Option<RawConditions>, line: usize) -> Option<Condition> {
        let Some(raw) = raw else {
            self.complain(line, format!("missing key {at}.conditions (a rule needs at least one condition)"));
            return None;
        };
        let at = format!("{at}.conditions");
        let [host, path, method, query, source] = kinds();
        let mut tests = Vec::new();
        let mut ok = true;
        // In the order of the keys of the contract's table.
        let list = [(host, raw.host_header), (path, raw.path_pattern)];
        let after = [(method, raw.http_request_method), (query, raw.query_string), (source, raw.source_ip)];
        for (kind, leaf) in list {
            ok &= self.test(&at, kind, leaf, &mut tests);
        }
        if let Some(header) = raw.http_header {
            ok &= self.http_header(&at, header, line, &mut tests);
        }
        for (kind, leaf) in after {
            ok &= self.test(&at, kind, leaf, &mut tests);
        }
        if !ok {
            return None;
        }
        if tests.is_empty() {
            self.complain(line, format!("{at}: a rule needs at least one condition"));
            return None;
        }
        if tests.len() > MAX_CONDITIONS {
            let n = tests.len();
            self.complain(line, format!("{at}: {n} conditions; a rule has at most {MAX_CONDITIONS}"));
            return None;
        }
        let globs = tests.iter().filter(|t| t.matcher != Match::Ip);
        let wildcards = globs.flat_map(|t| &t.patterns).filter(|p| p.contains(['*', '?'])).count();
        if wildcards > MAX_WILDCARDS {
            let message =
                format!("{at}: {wildcards} values with wildcards (* or ?); a rule has at most {MAX_WILDCARDS}");
            self.complain(line, message);
            return None;
        }
        Some(Condition::All(tests.into_iter().map(Condition::Test).collect()))
    }

    /// One condition of a list of values; answers whether it was read without problems.
    fn test(&mut self, at: &str, kind: Kind, leaf: Values, tests: &mut Vec<Test>) -> bool {
        let Some(leaf) = leaf else {
            return true;
        };
        let at = format!("{at}.{}", kind.key);
        let Some(patterns) = self.values(&at, leaf, kind.max_len, kind.check) else {
            return false;
        };
        tests.push(Test { fetch: kind.fetch, matcher: kind.matcher, ignore_case: kind.ignore_case, patterns });
        true
    }

    fn http_header(&mut self, at: &str, raw: RawHttpHeader, line: usize, tests: &mut Vec<Test>) -> bool {
        let at = format!("{at}.http_header");
        let line = self.line_at(&raw.name).or(self.line_at(&raw.values)).unwrap_or(line);
        let name = raw.name.map(Spanned::into_inner);
        let name = match name {
            None => {
                self.complain(line, format!("missing key {at}.name"));
                None
            }
            Some(n) if n.is_empty() || !n.bytes().all(rules::is_token_byte) || n.len() > MAX_HEADER_NAME_LEN => {
                let why =
                    format!("at most {MAX_HEADER_NAME_LEN} characters of A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~");
                self.complain(line, format!("{at}.name: \"{n}\" is not a header name ({why})"));
                None
            }
            Some(n) => Some(n),
        };
        let Some(values) = raw.values else {
            self.complain(line, format!("missing key {at}.values"));
            return false;
        };
        let patterns = self.values(&format!("{at}.values"), values, MAX_VALUE_LEN, header_value);
        let (Some(name), Some(patterns)) = (name, patterns) else {
            return false;
        };
        tests.push(Test { fetch: Fetch::FullHeader(name), matcher: Match::Glob, ignore_case: true, patterns });
        true
    }

    /// A condition's values: 1 to 5 of them, each checked; reported at the value's line.
    fn values(
        &mut self,
        at: &str,
        leaf: Spanned<Vec<Spanned<String>>>,
        max_len: usize,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let line = self.line_of(leaf.span().start);
        let list = leaf.into_inner();
        if list.is_empty() || list.len() > MAX_VALUES {
            let n = list.len();
            self.complain(line, format!("{at}: {n} values; a condition has 1 to {MAX_VALUES}"));
            return None;
        }
        let mut ok = true;
        let mut values = Vec::new();
        for value in list {
            let line = self.line_of(value.span().start);
            let value = value.into_inner();
            let checked = match value.len() {
                0 => Err("an empty value".to_string()),
                n if n > max_len => Err(format!("a value of {n} characters (at most {max_len})")),
                _ => check(&value),
            };
            if let Err(message) = checked {
                self.complain(line, format!("{at}: {message}"));
                ok = false;
            }
            values.push(value);
        }
        ok.then_some(values)
    }
}

#[cfg(test)]
mod tests;
