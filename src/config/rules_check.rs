//! The checks every reader's rules get (validate.rs runs them with the other cross-field
//! rules): forwarded groups exist, each phase holds only what it can do, patterns compile,
//! header names are tokens. What only one front door can get wrong (ELB's priority range and
//! per-listener limits, HAProxy's grammar) is checked by that reader as it reads.

use super::{
    rules::{self, Action, Condition, Fetch, Match, Piece, RedirectTo, Rule, Rules, MAX_HEADER_EDITS},
    validate::{who, Checker, RuleOwner, RuleSite, Site},
    Config, Protocol,
};

/// Fields no header edit may touch.
const FRAMING: [&str; 4] = ["content-length", "transfer-encoding", "connection", "upgrade"];

/// Statuses a redirect may have.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

pub(super) fn all(c: &mut Checker, config: &Config) {
    for (i, l) in config.listeners.iter().enumerate() {
        let who = who("listener", &l.name, i);
        if l.protocol == Protocol::Tcp && !l.rules.is_empty() {
            c.report(Site::Listener(i, ""), format!("{who}: rules need protocol \"http\" or \"https\""));
            continue;
        }
        owner(c, config, &l.rules, RuleOwner::Listener(i), &who);
    }
    for (g, group) in config.target_groups.iter().enumerate() {
        let who = who("target group", &group.name, g);
        owner(c, config, &group.rules, RuleOwner::Group(g), &who);
    }
}

fn owner(c: &mut Checker, config: &Config, rules: &Rules, owner: RuleOwner, who: &str) {
    for (response, list) in [(false, &rules.request), (true, &rules.response)] {
        let edits = list.iter().filter(|r| !r.action.is_final()).count();
        if edits > MAX_HEADER_EDITS {
            let site = Site::Rule(RuleSite { owner, response, index: 0 });
            c.report(site, format!("{who}: more than {MAX_HEADER_EDITS} header edits in one phase ({edits})"));
        }
        for (index, rule) in list.iter().enumerate() {
            let site = Site::Rule(RuleSite { owner, response, index });
            if !c.ok(site) {
                continue;
            }
            let mut problems = Vec::new();
            check_rule(config, rule, owner, response, &mut problems);
            for p in problems {
                c.report(site, format!("{who}: {}: {p}", rule.label));
            }
        }
    }
}

fn check_rule(config: &Config, rule: &Rule, owner: RuleOwner, response: bool, out: &mut Vec<String>) {
    condition(&rule.condition, response, out);
    match &rule.action {
        Action::Header(edit) => {
            if edit.name.is_empty() || !edit.name.bytes().all(rules::is_token_byte) {
                out.push(format!("\"{}\" is not a header name", edit.name));
            }
            // The framing fields are never edited: the body that follows is forwarded as
            // received, and a changed length would smuggle or cut it.
            if FRAMING.iter().any(|f| edit.name.eq_ignore_ascii_case(f)) {
                out.push(format!("{} cannot be edited (it frames the message)", edit.name));
            }
            let request_piece = edit.value.pieces.iter().any(|p| {
                !matches!(p, Piece::Literal(_) | Piece::Src | Piece::SrcPort | Piece::Dst | Piece::DstPort | Piece::Tls)
            });
            if response && request_piece {
                out.push("a response rule's value can use only src, src_port, dst, dst_port and ssl_fc".into());
            }
        }
        _ if response => out.push("a response rule can only set, add or delete headers".into()),
        Action::Forward(f) => {
            if matches!(owner, RuleOwner::Group(_)) {
                out.push("a target group's rules cannot forward (the group is chosen already)".into());
            }
            if f.groups.is_empty() {
                out.push("forward names no target group".into());
            }
            for (name, _) in &f.groups {
                if config.group_index(name).is_none() {
                    out.push(format!("target group \"{name}\" does not exist"));
                }
            }
            if f.groups.iter().all(|(_, w)| *w == 0) && !f.groups.is_empty() {
                out.push("every weight is 0: the rule could send nowhere".into());
            }
        }
        Action::Redirect(r) => {
            if !REDIRECT_STATUSES.contains(&r.status) {
                out.push(format!("redirect status {} (301, 302, 303, 307 or 308)", r.status));
            }
            if let RedirectTo::Location(l) | RedirectTo::Prefix { prefix: l, .. } = &r.to {
                if l.is_empty() {
                    out.push("redirect to an empty location".into());
                }
            }
        }
        Action::Fixed(f) => {
            if !(200..=599).contains(&f.status) {
                out.push(format!("response status {} (200 to 599)", f.status));
            }
            if f.content_type.bytes().any(|b| b.is_ascii_control()) {
                out.push("content type with a control character".into());
            }
        }
    }
}

fn condition(cond: &Condition, response: bool, out: &mut Vec<String>) {
    match cond {
        Condition::Always | Condition::Never => {}
        Condition::Not(c) => condition(c, response, out),
        Condition::All(list) | Condition::Any(list) => list.iter().for_each(|c| condition(c, response, out)),
        Condition::Test(t) => {
            let in_response = t.fetch.available_in_response();
            let response_only = matches!(t.fetch, Fetch::Status | Fetch::ResponseHeader(_));
            if response && !in_response {
                out.push(format!("{} is not known when the response arrives", fetch_name(&t.fetch)));
            }
            if !response && response_only {
                out.push(format!("{} is only known in response rules", fetch_name(&t.fetch)));
            }
            for p in &t.patterns {
                let checked = match t.matcher {
                    Match::Reg => rules::check_regex(p, t.ignore_case),
                    Match::Ip => rules::parse_cidr(p).map(|_| ()),
                    Match::Int => rules::parse_int_range(p).map(|_| ()),
                    _ => Ok(()),
                };
                if let Err(e) = checked {
                    out.push(e);
                }
            }
        }
    }
}

fn fetch_name(f: &Fetch) -> String {
    match f {
        Fetch::HostName => "the host".into(),
        Fetch::Path => "the path".into(),
        Fetch::Url => "the URL".into(),
        Fetch::Query => "the query string".into(),
        Fetch::UrlParam(n) => format!("url_param({n})"),
        Fetch::Header(n) | Fetch::FullHeader(n) => format!("request header {n}"),
        Fetch::Method => "the method".into(),
        Fetch::SourceIp => "the source address".into(),
        Fetch::Tls => "ssl_fc".into(),
        Fetch::Version => "the HTTP version".into(),
        Fetch::Status => "the status".into(),
        Fetch::ResponseHeader(n) => format!("response header {n}"),
    }
}
