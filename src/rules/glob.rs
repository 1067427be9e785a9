//! ELB's wildcard patterns: `*` matches any run of bytes (also none), `?` exactly one, every
//! other byte itself; the whole value must match. Compiled once, matched without allocation.

/// A prepared wildcard pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    /// The pattern's bytes, lower-cased when matching ignores case.
    pattern: Vec<u8>,
    ignore_case: bool,
    /// No `*` or `?`: a plain comparison.
    literal: bool,
}

impl Glob {
    pub fn new(pattern: &str, ignore_case: bool) -> Glob {
        let mut bytes = pattern.as_bytes().to_vec();
        if ignore_case {
            bytes.make_ascii_lowercase();
        }
        let literal = !bytes.iter().any(|&b| b == b'*' || b == b'?');
        Glob { pattern: bytes, ignore_case, literal }
    }

    /// The pattern when it has no wildcard (lower-cased if it ignores case).
    pub fn literal(&self) -> Option<&[u8]> {
        self.literal.then_some(&self.pattern[..])
    }

    pub fn matches(&self, value: &[u8]) -> bool {
        if self.literal {
            return if self.ignore_case {
                value.eq_ignore_ascii_case(&self.pattern)
            } else {
                value == &self.pattern[..]
            };
        }
        let same = |p: u8, v: u8| p == b'?' || p == if self.ignore_case { v.to_ascii_lowercase() } else { v };
        // The classic linear-space matcher: on a mismatch after a `*`, let that star take one
        // more byte and try again from there. O(len(pattern) * len(value)) at worst.
        let (p, v) = (&self.pattern, value);
        let (mut pi, mut vi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while vi < v.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, vi));
                pi += 1;
            } else if pi < p.len() && same(p[pi], v[vi]) {
                pi += 1;
                vi += 1;
            } else if let Some((sp, sv)) = star {
                pi = sp + 1;
                vi = sv + 1;
                star = Some((sp, sv + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&b| b == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn wildcards_match_runs_and_single_bytes() {
        let m = |p: &str, v: &str| Glob::new(p, false).matches(v.as_bytes());
        assert!(m("/api/*", "/api/"));
        assert!(m("/api/*", "/api/v1/x"));
        assert!(!m("/api/*", "/api"));
        assert!(m("*.example.com", "a.b.example.com"));
        assert!(!m("*.example.com", "example.com"));
        assert!(m("/v?/x", "/v1/x"));
        assert!(!m("/v?/x", "/v10/x"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxxc"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(!m("/API/*", "/api/x"), "case-sensitive unless asked");
    }

    #[test]
    fn ignoring_case_lowers_both_sides() {
        let g = Glob::new("*.Example.COM", true);
        assert!(g.matches(b"WWW.example.com"));
        assert!(Glob::new("API.example.com", true).matches(b"api.EXAMPLE.com"));
    }
}
