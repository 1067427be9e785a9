//! HAProxy's conditional blocks: `.if COND` ... `.elif COND` ... `.else` ... `.endif`.
//!
//! A condition is terms joined by `&&` (tighter) and `||`, each term optionally preceded by
//! `!`: a number (`0` is false), `defined(VAR)`, `feature(NAME)`, `version_atleast(V)`,
//! `version_before(V)`, `streq(A,B)`, `strneq(A,B)`. spillway answers as HAProxy 2.6 would
//! for the features it has ([`FEATURES`]) and the version it claims ([`VERSION`]).

/// The HAProxy version spillway claims in `version_atleast`/`version_before`: the 2.6 build it
/// is checked against.
pub const VERSION: [u32; 3] = [2, 6, 12];

/// The `feature(...)` names spillway has: TLS, splicing, threads pinned to CPUs, the system
/// resolver, regular expressions. Not LUA, PROMEX, compression (SLZ/ZLIB), QUIC, TPROXY.
pub const FEATURES: &[&str] = &[
    "ACCEPT4",
    "CPU_AFFINITY",
    "EPOLL",
    "GETADDRINFO",
    "LINUX_SPLICE",
    "OPENSSL",
    "PCRE2",
    "PCRE2_JIT",
    "POLL",
    "THREAD",
];

/// The open blocks: for each, whether its lines are read, whether a branch was taken, and
/// the line of its `.if`.
#[derive(Debug, Default)]
pub(super) struct Blocks(Vec<Block>);

#[derive(Debug)]
struct Block {
    parent: bool,
    now: bool,
    taken: bool,
    seen_else: bool,
    line: usize,
}

impl Blocks {
    /// Lines here are read.
    pub fn active(&self) -> bool {
        self.0.last().is_none_or(|b| b.now)
    }

    pub fn parent_active(&self) -> Option<bool> {
        self.0.last().map(|b| b.parent)
    }

    pub fn taken(&self) -> bool {
        self.0.last().is_some_and(|b| b.taken)
    }

    pub fn open(&mut self, holds: bool, line: usize) {
        let parent = self.active();
        let now = parent && holds;
        self.0.push(Block { parent, now, taken: now, seen_else: false, line });
    }

    pub fn elif(&mut self, holds: bool) -> Result<(), String> {
        let b = self.0.last_mut().ok_or(".elif without .if")?;
        if b.seen_else {
            return Err(".elif after .else".into());
        }
        b.now = b.parent && !b.taken && holds;
        b.taken |= b.now;
        Ok(())
    }

    pub fn otherwise(&mut self) -> Result<(), String> {
        let b = self.0.last_mut().ok_or(".else without .if")?;
        if b.seen_else {
            return Err(".else after .else".into());
        }
        b.seen_else = true;
        b.now = b.parent && !b.taken;
        b.taken = true;
        Ok(())
    }

    pub fn close(&mut self) -> Result<(), String> {
        self.0.pop().map(|_| ()).ok_or_else(|| ".endif without .if".into())
    }

    /// The line of the innermost `.if` left open at the end of the text.
    pub fn unclosed(&self) -> Option<usize> {
        self.0.last().map(|b| b.line)
    }
}

/// Evaluates a condition's words (already split and expanded).
pub(super) fn eval(w: &[String], var: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    if w.is_empty() {
        return Err(".if needs a condition".into());
    }
    let text = w.join(" ");
    let mut any = false;
    for alternative in text.split("||") {
        let mut all = true;
        for term in alternative.split("&&") {
            all &= term_value(term.trim(), var)?;
        }
        any |= all;
    }
    Ok(any)
}

fn term_value(term: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    if let Some(rest) = term.strip_prefix('!') {
        return Ok(!term_value(rest.trim(), var)?);
    }
    if let Ok(n) = term.parse::<i64>() {
        return Ok(n != 0);
    }
    let bad = || format!("unparsable conditional expression \"{term}\"");
    let (name, args) = term.split_once('(').ok_or_else(bad)?;
    let args = args.strip_suffix(')').ok_or_else(bad)?;
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let one = || -> Result<&str, String> {
        match args.as_slice() {
            [a] => Ok(*a),
            _ => Err(format!("{name}() takes one argument")),
        }
    };
    let two = || -> Result<(&str, &str), String> {
        match args.as_slice() {
            [a, b] => Ok((*a, *b)),
            _ => Err(format!("{name}() takes two arguments")),
        }
    };
    Ok(match name {
        "defined" => var(one()?).is_some(),
        "feature" => FEATURES.contains(&one()?),
        "version_atleast" => version(one()?)? <= VERSION,
        "version_before" => version(one()?)? > VERSION,
        "streq" => {
            let (a, b) = two()?;
            a == b
        }
        "strneq" => {
            let (a, b) = two()?;
            a != b
        }
        _ => return Err(format!("unknown conditional function \"{name}\"")),
    })
}

/// `2.6`, `2.6.12`, `2.6-dev3`: the numbers, missing ones 0.
fn version(text: &str) -> Result<[u32; 3], String> {
    let mut v = [0; 3];
    let numeric = text.split(['-', '+']).next().unwrap_or("");
    for (i, part) in numeric.split('.').enumerate().take(3) {
        v[i] = part.parse().map_err(|_| format!("invalid version \"{text}\""))?;
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(text: &str) -> bool {
        let w: Vec<String> = text.split(' ').map(String::from).collect();
        eval(&w, &|n| (n == "SET").then(|| "x".to_string())).unwrap()
    }

    #[test]
    fn conditions_answer_as_haproxy_2_6() {
        assert!(holds("feature(OPENSSL)"));
        assert!(!holds("feature(LUA)"));
        assert!(holds("!feature(LUA)"));
        assert!(holds("version_atleast(2.4)"));
        assert!(holds("version_atleast(2.6)"));
        assert!(!holds("version_atleast(2.8)"));
        assert!(holds("version_before(2.7)"));
        assert!(!holds("version_before(2.6)"));
        assert!(holds("defined(SET) && feature(THREAD)"));
        assert!(!holds("defined(UNSET) && 1"));
        assert!(holds("defined(UNSET) || 1"));
        assert!(holds("streq(a,a)") && holds("strneq(a,b)") && !holds("0"));
    }

    #[test]
    fn blocks_take_one_branch() {
        let mut b = Blocks::default();
        b.open(false, 1);
        assert!(!b.active());
        b.elif(true).unwrap();
        assert!(b.active());
        b.otherwise().unwrap();
        assert!(!b.active());
        b.close().unwrap();
        assert!(b.active());
        assert!(b.close().is_err());
    }
}
