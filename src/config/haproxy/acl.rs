//! HAProxy's ACLs and conditions, read into the rules model's [`Condition`]s.
//!
//! Why a module of its own: the same grammar serves every line that takes `if`/`unless`
//! (`use_backend`, `redirect`, `http-request`, `http-response`), and it is the part of
//! haproxy.cfg where a silently different reading would route traffic elsewhere. So it reads
//! exactly HAProxy's forms and refuses the rest by name:
//!
//! - `acl NAME CRITERION [flags] VALUES...`: one [`Test`]; several lines with one name OR
//!   together (HAProxy extends the same ACL object, so a rule sees lines written after it too).
//! - flags `-i`, `-m METHOD` (overrides the criterion's default, as in HAProxy), `-f FILE`
//!   (one pattern a line, `#` comments; read relative to the working directory as HAProxy
//!   does), `-n` and `-u ID` (no effect here), `--` (end of flags).
//! - conditions: AND by juxtaposition, `||` or `or`, `!` (attached or a word of its own),
//!   `{ CRITERION ... }` anonymous ACLs, named ACLs (known at the line that uses them, as
//!   HAProxy requires) and the predefined ones (`TRUE`, `METH_GET`, `HTTP_1.1`, ...).
//!
//! Patterns are checked here (regular expressions, networks, integer ranges) so a bad one is
//! reported at the `acl` line, not at the rule that uses it.

use std::collections::HashMap;

use crate::config::rules::{self, Condition, Fetch, Match, Test};

/// A proxy's ACLs: each name with the condition of each of its lines, in file order.
pub(super) type Acls = HashMap<String, Vec<Condition>>;

/// A condition as written: an OR of ANDs of (negated?, operand). Named ACLs stay names until
/// the proxy is read whole, so that later lines of an ACL count, as in HAProxy.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cond {
    pub any: Vec<Vec<(bool, Operand)>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Named(String),
    Given(Condition),
}

/// Reads `acl NAME CRITERION [flags] VALUES...` (`w[0]` is `acl`): the name and the line's
/// condition.
pub(super) fn acl_line(w: &[String]) -> Result<(String, Condition), String> {
    let name = w.get(1).ok_or("acl needs a name and a criterion")?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        return Err(format!("acl name \"{name}\": only letters, digits, '-', '_', '.' and ':' are allowed"));
    }
    if w.len() < 3 {
        return Err(format!("acl {name}: a criterion is needed"));
    }
    let test = test(&w[2..]).map_err(|e| format!("acl {name}: {e}"))?;
    Ok((name.clone(), test))
}

/// `CRITERION [flags] VALUES...`: the body of an `acl` line or of `{ ... }`.
pub(super) fn test(w: &[String]) -> Result<Condition, String> {
    let (fetch, mut matcher) = criterion(&w[0])?;
    let mut ignore_case = false;
    let mut patterns = Vec::new();
    let mut i = 1;
    while i < w.len() && w[i].starts_with('-') {
        let value = w.get(i + 1);
        match w[i].as_str() {
            "--" => {
                i += 1;
                break;
            }
            "-i" => ignore_case = true,
            "-n" => {}
            "-u" => i += 1,
            "-m" => {
                matcher = match_method(value.ok_or("-m needs a matching method")?)?;
                i += 1;
            }
            "-f" => {
                let file = value.ok_or("-f needs a file")?;
                patterns.extend(pattern_file(file)?);
                i += 1;
            }
            flag => {
                return Err(format!(
                    "'{flag}' is not a supported ACL flag (supported: -i, -m, -f, -n, -u, --; write '--' before a value beginning with '-')"
                ))
            }
        }
        i += 1;
    }
    if i > w.len() {
        return Err(format!("{} needs a value", w[w.len() - 1]));
    }
    patterns.extend(values(&w[i..], matcher)?);
    kind_fits(&w[0], &fetch, matcher)?;
    if matches!(matcher, Match::Found | Match::Bool) {
        if let Some(p) = patterns.first() {
            return Err(format!("{} -m {}: takes no value, found \"{p}\"", w[0], match_name(matcher)));
        }
    } else if patterns.is_empty() {
        // HAProxy warns and accepts: such an ACL never matches.
        return Ok(Condition::Never);
    }
    for p in &patterns {
        match matcher {
            Match::Reg => rules::check_regex(p, ignore_case)?,
            Match::Ip => drop(rules::parse_cidr(p)?),
            Match::Int => drop(rules::parse_int_range(p)?),
            _ => {}
        }
    }
    Ok(Condition::Test(Test { fetch, matcher, ignore_case, patterns }))
}

/// The values of a test; HAProxy's integer operators (`gt 400`) become the model's ranges.
fn values(w: &[String], matcher: Match) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut it = w.iter();
    while let Some(v) = it.next() {
        let op = match v.as_str() {
            "eq" => "",
            "ge" => ">=",
            "gt" => ">",
            "le" => "<=",
            "lt" => "<",
            _ => {
                out.push(v.clone());
                continue;
            }
        };
        if matcher != Match::Int {
            out.push(v.clone());
            continue;
        }
        let n = it.next().ok_or_else(|| format!("\"{v}\" needs a number after it"))?;
        out.push(format!("{op}{n}"));
    }
    Ok(out)
}

/// Patterns from a file: one a line, blank lines and `#` comments skipped, spaces around
/// trimmed (as HAProxy's pattern files).
fn pattern_file(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read pattern file \"{path}\": {e}"))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect())
}

fn match_method(name: &str) -> Result<Match, String> {
    Ok(match name {
        "str" => Match::Str,
        "beg" => Match::Beg,
        "end" => Match::End,
        "sub" => Match::Sub,
        "dom" => Match::Dom,
        "dir" => Match::Dir,
        "reg" => Match::Reg,
        "found" => Match::Found,
        "ip" => Match::Ip,
        "int" => Match::Int,
        "bool" => Match::Bool,
        "len" | "bin" => return Err(format!("matching method -m {name} is not supported")),
        other => return Err(format!("unknown matching method -m {other}")),
    })
}

pub(super) fn match_name(m: Match) -> &'static str {
    match m {
        Match::Str => "str",
        Match::Beg => "beg",
        Match::End => "end",
        Match::Sub => "sub",
        Match::Dom => "dom",
        Match::Dir => "dir",
        Match::Reg => "reg",
        Match::Found => "found",
        Match::Ip => "ip",
        Match::Int => "int",
        Match::Bool => "bool",
        Match::Glob => "glob",
        Match::QueryPair => "query pair",
    }
}

/// Refuses the matching methods a fetch cannot be compared with here: the address only as a
/// network, the status only as a number, `ssl_fc` only as a boolean.
fn kind_fits(criterion: &str, fetch: &Fetch, m: Match) -> Result<(), String> {
    let fits = match fetch {
        Fetch::SourceIp => m == Match::Ip,
        Fetch::Status => m == Match::Int,
        Fetch::Tls => m == Match::Bool,
        _ => m != Match::Bool,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{criterion} -m {}: this matching method is not supported for this criterion", match_name(m)))
    }
}

/// A criterion: where the value comes from and HAProxy's default matching method for it.
pub(super) fn criterion(word: &str) -> Result<(Fetch, Match), String> {
    let unsupported = || format!("criterion \"{word}\" is not supported");
    if has_converter(word) {
        // `hdr(host),lower`, `path,map(...)`: converters change the value; not read.
        return Err(format!("{} (converters are not)", unsupported()));
    }
    let (name, arg) = match word.split_once('(') {
        Some((name, rest)) => {
            let arg = rest.strip_suffix(')').ok_or_else(unsupported)?;
            (name, Some(arg))
        }
        None => (word, None),
    };
    let header = |arg: Option<&str>| -> Result<String, String> {
        match arg {
            None | Some("") => Err(format!(
                "criterion \"{word}\" without a header name (every header) is not supported; write {name}(NAME)"
            )),
            Some(h) if h.bytes().all(rules::is_token_byte) => Ok(h.to_string()),
            Some(_) => Err(format!("{} (one header name, no occurrence argument)", unsupported())),
        }
    };
    let no_arg = |fetch: Fetch, m: Match| if arg.is_none() { Ok((fetch, m)) } else { Err(unsupported()) };
    let hdr_match = |suffix: &str| match suffix {
        "" => Some(Match::Str),
        "_beg" => Some(Match::Beg),
        "_end" => Some(Match::End),
        "_sub" => Some(Match::Sub),
        "_dom" => Some(Match::Dom),
        "_dir" => Some(Match::Dir),
        "_reg" => Some(Match::Reg),
        _ => None,
    };
    if let Some(m) = name.strip_prefix("hdr").and_then(hdr_match) {
        return Ok((Fetch::Header(header(arg)?), m));
    }
    if let Some(m) = name.strip_prefix("path").and_then(hdr_match) {
        return no_arg(Fetch::Path, m);
    }
    if let Some(m) = name.strip_prefix("url").and_then(hdr_match) {
        return no_arg(Fetch::Url, m);
    }
    match name {
        "req.hdr" => Ok((Fetch::Header(header(arg)?), Match::Str)),
        "req.fhdr" => Ok((Fetch::FullHeader(header(arg)?), Match::Str)),
        "res.hdr" | "shdr" => Ok((Fetch::ResponseHeader(header(arg)?), Match::Str)),
        "url_param" | "urlp" => match arg {
            Some(p) if !p.is_empty() && !p.contains(',') => Ok((Fetch::UrlParam(p.to_string()), Match::Str)),
            _ => Err(format!("{} (write {name}(NAME): one parameter name)", unsupported())),
        },
        "query" => no_arg(Fetch::Query, Match::Str),
        "method" => no_arg(Fetch::Method, Match::Str),
        "src" => no_arg(Fetch::SourceIp, Match::Ip),
        "ssl_fc" => no_arg(Fetch::Tls, Match::Bool),
        "req.ver" | "req_ver" => no_arg(Fetch::Version, Match::Str),
        "status" => no_arg(Fetch::Status, Match::Int),
        _ => Err(unsupported()),
    }
}

/// Whether a criterion goes on with `,converter` after its fetch (a comma outside parentheses).
fn has_converter(word: &str) -> bool {
    let mut depth = 0i32;
    word.chars().any(|c| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        c == ',' && depth == 0
    })
}

/// HAProxy's predefined ACLs; `None` for a name that is not one.
pub(super) fn predefined(name: &str) -> Option<Result<Condition, String>> {
    let test = |fetch: Fetch, matcher: Match, patterns: &[&str]| {
        Condition::Test(Test {
            fetch,
            matcher,
            ignore_case: false,
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
        })
    };
    let method = |m: &[&str]| test(Fetch::Method, Match::Str, m);
    Some(Ok(match name {
        "TRUE" => Condition::Always,
        "FALSE" => Condition::Never,
        // Every rule here is in an HTTP proxy.
        "HTTP" => Condition::Always,
        "LOCALHOST" => test(Fetch::SourceIp, Match::Ip, &["127.0.0.1/8", "::1"]),
        "METH_GET" => method(&["GET", "HEAD"]),
        "METH_POST" => method(&["POST"]),
        "METH_PUT" => method(&["PUT"]),
        "METH_DELETE" => method(&["DELETE"]),
        "METH_HEAD" => method(&["HEAD"]),
        "METH_OPTIONS" => method(&["OPTIONS"]),
        "METH_TRACE" => method(&["TRACE"]),
        "METH_CONNECT" => method(&["CONNECT"]),
        "HTTP_1.0" => test(Fetch::Version, Match::Str, &["1.0"]),
        "HTTP_1.1" => test(Fetch::Version, Match::Str, &["1.1"]),
        // spillway speaks HTTP/1 to clients: these hold never, as they would in HAProxy for
        // such a client.
        "HTTP_2.0" => test(Fetch::Version, Match::Str, &["2.0"]),
        "HTTP_3.0" => test(Fetch::Version, Match::Str, &["3.0"]),
        "HTTP_URL_ABS" => test(Fetch::Url, Match::Reg, &["^[^/:]*://"]),
        "HTTP_URL_SLASH" => test(Fetch::Url, Match::Beg, &["/"]),
        "HTTP_URL_STAR" => test(Fetch::Url, Match::Str, &["*"]),
        // HAProxy: `hdr_val(content-length) gt 0`.
        "HTTP_CONTENT" => test(Fetch::Header("content-length".into()), Match::Int, &[">0"]),
        "REQ_CONTENT" | "WAIT_END" | "RDP_COOKIE" => {
            return Some(Err(format!(
                "predefined ACL {name} is not supported (it inspects layer-4 content, which HAProxy ignores on HTTP proxies too)"
            )))
        }
        _ => return None,
    }))
}

/// Reads the words after `if`/`unless`; `known` says whether a name is a declared ACL.
pub(super) fn condition(w: &[String], known: &dyn Fn(&str) -> bool) -> Result<Cond, String> {
    if w.is_empty() {
        return Err("a condition is needed after if/unless".into());
    }
    let mut any = vec![Vec::new()];
    let mut i = 0;
    while i < w.len() {
        let word = w[i].as_str();
        if word == "||" || word == "or" {
            if any.last().is_some_and(Vec::is_empty) {
                return Err(format!("\"{word}\" without a term before it"));
            }
            any.push(Vec::new());
            i += 1;
            continue;
        }
        let (negated, rest) = match word.strip_prefix('!') {
            Some("") => {
                i += 1;
                let next = w.get(i).ok_or("\"!\" at the end of the condition")?;
                (true, next.as_str())
            }
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let operand = if rest == "{" {
            let end = w[i + 1..].iter().position(|x| x == "}").ok_or("\"{\" without its \"}\"")? + i + 1;
            if end == i + 1 {
                return Err("empty anonymous ACL \"{ }\"".into());
            }
            let t = test(&w[i + 1..end])?;
            i = end;
            Operand::Given(t)
        } else if rest == "}" {
            return Err("\"}\" without its \"{\"".into());
        } else if known(rest) {
            Operand::Named(rest.to_string())
        } else if let Some(p) = predefined(rest) {
            Operand::Given(p?)
        } else {
            return Err(format!("no such ACL: \"{rest}\""));
        };
        any.last_mut().expect("never empty").push((negated, operand));
        i += 1;
    }
    if any.last().is_some_and(Vec::is_empty) {
        return Err("the condition ends with \"||\"".into());
    }
    Ok(Cond { any })
}

impl Cond {
    /// The model's condition, with the proxy's ACLs (all their lines) in place of the names.
    pub(super) fn resolve(&self, acls: &Acls) -> Condition {
        let any: Vec<Condition> = self
            .any
            .iter()
            .map(|all| {
                let all: Vec<Condition> = all
                    .iter()
                    .map(|(negated, operand)| {
                        let c = match operand {
                            Operand::Given(c) => c.clone(),
                            Operand::Named(n) => match acls.get(n).map(Vec::as_slice) {
                                Some([one]) => one.clone(),
                                Some(lines) => Condition::Any(lines.to_vec()),
                                None => Condition::Never,
                            },
                        };
                        if *negated {
                            Condition::Not(Box::new(c))
                        } else {
                            c
                        }
                    })
                    .collect();
                one_or(all, Condition::All)
            })
            .collect();
        one_or(any, Condition::Any)
    }
}

fn one_or(mut list: Vec<Condition>, many: fn(Vec<Condition>) -> Condition) -> Condition {
    if list.len() == 1 {
        list.pop().expect("one")
    } else {
        many(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        crate::config::haproxy::words(text).unwrap()
    }

    fn test_of(text: &str) -> Result<Condition, String> {
        test(&w(text))
    }

    fn t(fetch: Fetch, matcher: Match, ignore_case: bool, patterns: &[&str]) -> Condition {
        Condition::Test(Test {
            fetch,
            matcher,
            ignore_case,
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn each_criterion_has_haproxys_default_match() {
        let h = |n: &str| Fetch::Header(n.into());
        let cases: Vec<(&str, Fetch, Match)> = vec![
            ("hdr(host)", h("host"), Match::Str),
            ("req.hdr(X-A)", h("X-A"), Match::Str),
            ("req.fhdr(ua)", Fetch::FullHeader("ua".into()), Match::Str),
            ("hdr_beg(host)", h("host"), Match::Beg),
            ("hdr_end(host)", h("host"), Match::End),
            ("hdr_sub(host)", h("host"), Match::Sub),
            ("hdr_dom(host)", h("host"), Match::Dom),
            ("hdr_dir(host)", h("host"), Match::Dir),
            ("hdr_reg(host)", h("host"), Match::Reg),
            ("path", Fetch::Path, Match::Str),
            ("path_beg", Fetch::Path, Match::Beg),
            ("path_end", Fetch::Path, Match::End),
            ("path_sub", Fetch::Path, Match::Sub),
            ("path_dir", Fetch::Path, Match::Dir),
            ("path_dom", Fetch::Path, Match::Dom),
            ("path_reg", Fetch::Path, Match::Reg),
            ("url", Fetch::Url, Match::Str),
            ("url_beg", Fetch::Url, Match::Beg),
            ("url_end", Fetch::Url, Match::End),
            ("url_sub", Fetch::Url, Match::Sub),
            ("url_dir", Fetch::Url, Match::Dir),
            ("url_dom", Fetch::Url, Match::Dom),
            ("url_reg", Fetch::Url, Match::Reg),
            ("url_param(id)", Fetch::UrlParam("id".into()), Match::Str),
            ("urlp(id)", Fetch::UrlParam("id".into()), Match::Str),
            ("query", Fetch::Query, Match::Str),
            ("method", Fetch::Method, Match::Str),
            ("src", Fetch::SourceIp, Match::Ip),
            ("ssl_fc", Fetch::Tls, Match::Bool),
            ("req.ver", Fetch::Version, Match::Str),
            ("req_ver", Fetch::Version, Match::Str),
            ("status", Fetch::Status, Match::Int),
            ("res.hdr(server)", Fetch::ResponseHeader("server".into()), Match::Str),
            ("shdr(server)", Fetch::ResponseHeader("server".into()), Match::Str),
        ];
        for (word, fetch, m) in cases {
            assert_eq!(criterion(word), Ok((fetch, m)), "{word}");
        }
    }

    #[test]
    fn flags_change_case_method_and_patterns() {
        assert_eq!(
            test_of("hdr(host) -i A.example").unwrap(),
            t(Fetch::Header("host".into()), Match::Str, true, &["A.example"])
        );
        // -m overrides the criterion's default, as in HAProxy; the last one counts.
        assert_eq!(test_of("path_beg -m end -m sub x").unwrap(), t(Fetch::Path, Match::Sub, false, &["x"]));
        assert_eq!(test_of("req.hdr(x) -m found").unwrap(), t(Fetch::Header("x".into()), Match::Found, false, &[]));
        assert_eq!(test_of("path -n -u 3 -- -dash").unwrap(), t(Fetch::Path, Match::Str, false, &["-dash"]));
        assert_eq!(
            test_of("status gt 499 lt 200 eq 302 404").unwrap(),
            t(Fetch::Status, Match::Int, false, &[">499", "<200", "302", "404"])
        );
        // Operators are words of integer matching only.
        assert_eq!(test_of("path gt").unwrap(), t(Fetch::Path, Match::Str, false, &["gt"]));
        // No value: never matches (HAProxy warns and accepts).
        assert_eq!(test_of("path_beg").unwrap(), Condition::Never);
        let dir = std::env::temp_dir().join(format!("spillway-acl-{}", std::process::id()));
        std::fs::write(&dir, "# comment\n /a \n\n/b\n").unwrap();
        let got = test_of(&format!("path -f {} /c", dir.display())).unwrap();
        assert_eq!(got, t(Fetch::Path, Match::Str, false, &["/a", "/b", "/c"]));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn refusals_name_what_is_refused() {
        let cases = [
            ("hdr(host),lower x", "criterion \"hdr(host),lower\" is not supported (converters are not)"),
            ("hdr x", "criterion \"hdr\" without a header name (every header) is not supported; write hdr(NAME)"),
            (
                "hdr_dom() x",
                "criterion \"hdr_dom()\" without a header name (every header) is not supported; write hdr_dom(NAME)",
            ),
            ("hdr(host,1) x", "criterion \"hdr(host,1)\" is not supported (one header name, no occurrence argument)"),
            ("url_param x", "criterion \"url_param\" is not supported (write url_param(NAME): one parameter name)"),
            ("path(x) y", "criterion \"path(x)\" is not supported"),
            ("req.cook(x) y", "criterion \"req.cook(x)\" is not supported"),
            ("path -m foo x", "unknown matching method -m foo"),
            ("path -m", "-m needs a matching method"),
            ("ssl_fc 1", "ssl_fc -m bool: takes no value, found \"1\""),
            ("path -m bool", "path -m bool: this matching method is not supported for this criterion"),
            ("status -m str 200", "status -m str: this matching method is not supported for this criterion"),
            ("src 10.0.0.0/33", "\"10.0.0.0/33\" is not an IP address or a CIDR network (10.0.0.0/8, 2001:db8::/32)"),
            ("status 5xx", "\"5xx\" is not a number or a range"),
            ("status gt", "\"gt\" needs a number after it"),
        ];
        for (text, expected) in cases {
            assert_eq!(test_of(text).unwrap_err(), expected, "{text}");
        }
        assert_eq!(
            acl_line(&w("acl a/b path x")).unwrap_err(),
            "acl name \"a/b\": only letters, digits, '-', '_', '.' and ':' are allowed"
        );
        assert_eq!(acl_line(&w("acl a")).unwrap_err(), "acl a: a criterion is needed");
    }

    #[test]
    fn predefined_acls() {
        assert_eq!(predefined("TRUE"), Some(Ok(Condition::Always)));
        assert_eq!(predefined("FALSE"), Some(Ok(Condition::Never)));
        assert_eq!(predefined("HTTP"), Some(Ok(Condition::Always)));
        assert_eq!(predefined("LOCALHOST"), Some(Ok(t(Fetch::SourceIp, Match::Ip, false, &["127.0.0.1/8", "::1"]))));
        assert_eq!(predefined("METH_GET"), Some(Ok(t(Fetch::Method, Match::Str, false, &["GET", "HEAD"]))));
        for m in ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"] {
            assert_eq!(predefined(&format!("METH_{m}")), Some(Ok(t(Fetch::Method, Match::Str, false, &[m]))));
        }
        assert_eq!(predefined("HTTP_1.0"), Some(Ok(t(Fetch::Version, Match::Str, false, &["1.0"]))));
        assert_eq!(predefined("HTTP_1.1"), Some(Ok(t(Fetch::Version, Match::Str, false, &["1.1"]))));
        assert_eq!(predefined("HTTP_URL_ABS"), Some(Ok(t(Fetch::Url, Match::Reg, false, &["^[^/:]*://"]))));
        assert_eq!(predefined("HTTP_URL_SLASH"), Some(Ok(t(Fetch::Url, Match::Beg, false, &["/"]))));
        assert_eq!(predefined("HTTP_URL_STAR"), Some(Ok(t(Fetch::Url, Match::Str, false, &["*"]))));
        assert_eq!(
            predefined("HTTP_CONTENT"),
            Some(Ok(t(Fetch::Header("content-length".into()), Match::Int, false, &[">0"])))
        );
        for refused in ["REQ_CONTENT", "WAIT_END", "RDP_COOKIE"] {
            assert!(predefined(refused)
                .unwrap()
                .unwrap_err()
                .starts_with(&format!("predefined ACL {refused} is not supported")));
        }
        assert_eq!(predefined("nope"), None);
    }

    #[test]
    fn conditions_and_or_not_braces_and_names() {
        let mut acls = Acls::new();
        let a = t(Fetch::Path, Match::Beg, false, &["/a"]);
        let b1 = t(Fetch::Method, Match::Str, false, &["GET"]);
        let b2 = t(Fetch::Method, Match::Str, false, &["PUT"]);
        acls.insert("a".into(), vec![a.clone()]);
        acls.insert("b".into(), vec![b1.clone(), b2.clone()]);
        let known = |n: &str| n == "a" || n == "b";
        let cond = |text: &str| condition(&w(text), &known).map(|c| c.resolve(&acls));
        let b = Condition::Any(vec![b1, b2]);
        let not = |c: Condition| Condition::Not(Box::new(c));
        let ssl = t(Fetch::Tls, Match::Bool, false, &[]);
        assert_eq!(cond("a").unwrap(), a);
        // Lines of one name OR together; juxtaposition ANDs; || and `or` OR.
        assert_eq!(cond("a b").unwrap(), Condition::All(vec![a.clone(), b.clone()]));
        assert_eq!(cond("a || b or TRUE").unwrap(), Condition::Any(vec![a.clone(), b.clone(), Condition::Always]));
        assert_eq!(cond("!a ! b").unwrap(), Condition::All(vec![not(a.clone()), not(b.clone())]));
        assert_eq!(cond("!{ ssl_fc }").unwrap(), not(ssl.clone()));
        assert_eq!(
            cond("{ ssl_fc } a || ! { path -i /x /y } METH_POST").unwrap(),
            Condition::Any(vec![
                Condition::All(vec![ssl, a]),
                Condition::All(vec![
                    not(t(Fetch::Path, Match::Str, true, &["/x", "/y"])),
                    t(Fetch::Method, Match::Str, false, &["POST"]),
                ]),
            ])
        );
        let err = |text: &str| condition(&w(text), &known).unwrap_err();
        assert_eq!(err("c"), "no such ACL: \"c\"");
        assert_eq!(err("{ssl_fc}"), "no such ACL: \"{ssl_fc}\"");
        assert_eq!(err("{ ssl_fc"), "\"{\" without its \"}\"");
        assert_eq!(err("ssl_fc }"), "no such ACL: \"ssl_fc\"");
        assert_eq!(err("a }"), "\"}\" without its \"{\"");
        assert_eq!(err("{ }"), "empty anonymous ACL \"{ }\"");
        assert_eq!(err("|| a"), "\"||\" without a term before it");
        assert_eq!(err("a ||"), "the condition ends with \"||\"");
        assert_eq!(err("a !"), "\"!\" at the end of the condition");
        assert_eq!(err("WAIT_END"), "predefined ACL WAIT_END is not supported (it inspects layer-4 content, which HAProxy ignores on HTTP proxies too)");
        assert_eq!(condition(&[], &known).unwrap_err(), "a condition is needed after if/unless");
    }
}
