//! The property both config fuzz targets check: a refusal is a list of problems, each located
//! at a line of the text it was given (1-based), and its text (what `spillway -c` prints) names
//! that line. A refusal without a line leaves an operator searching a 500-line haproxy.cfg.

use spillway::config::ConfigErrors;

/// Panics (a libFuzzer crash) when `errors` has no problem, or one outside `text`'s lines, or
/// one whose printed form does not carry `LABEL:LINE:`.
pub fn assert_located(text: &str, label: &str, errors: &ConfigErrors) {
    assert!(!errors.problems.is_empty(), "a refusal with no problem in it");
    // A text ending without a newline still has its last line; an empty text has line 1.
    let lines = text.lines().count().max(1) + 1;
    for p in &errors.problems {
        assert!(p.line >= 1 && p.line <= lines, "problem outside the text ({lines} lines): {p}");
        let shown = p.to_string();
        assert!(shown.starts_with(&format!("{label}:{}: ", p.line)), "printed without its line: {shown}");
    }
}
