//! `spillway -c -f FILE` on real files: the check a user runs before a reload.
//!
//! A valid file prints exactly `Configuration file is valid` and exits 0; an invalid one exits 1
//! and prints every problem as `FILE:LINE: message`, in file order. The files are written under
//! the system temporary directory with names unique to this process and test, and removed after.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

/// A configuration file that exists for the life of the value.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("spillway-config-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What `spillway -c -f path` did.
struct Checked {
    code: Option<i32>,
    stdout: String,
    /// Every non-empty line it printed, stdout then stderr.
    lines: Vec<String>,
}

fn check(path: &Path) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_spillway")).arg("-c").arg("-f").arg(path).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines = stdout.lines().chain(stderr.lines()).filter(|l| !l.is_empty()).map(str::to_string).collect();
    Checked { code: out.status.code(), stdout, lines }
}

/// Asserts the check failed with exactly these problems: `(line, words the message contains)`.
fn assert_problems(file: &TempFile, expected: &[(usize, &str)]) {
    let checked = check(&file.0);
    assert_eq!(checked.code, Some(1), "{:#?}", checked.lines);
    assert!(!checked.stdout.contains("is valid"), "{}", checked.stdout);
    assert_eq!(checked.lines.len(), expected.len(), "{:#?}", checked.lines);
    for (printed, (line, words)) in checked.lines.iter().zip(expected) {
        let prefix = format!("{}:{line}: ", file.name());
        assert!(printed.starts_with(&prefix), "expected {prefix}..., got {printed}");
        assert!(printed.contains(words), "expected {words:?} in {printed}");
    }
}

#[test]
fn a_valid_file_is_reported_valid() {
    let file = TempFile::new(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\ntarget_group = \"app\"\n\
         [[target_group]]\nname = \"app\"\ntargets = [{ addr = \"127.0.0.1:9001\" }]\n",
    );
    let checked = check(&file.0);
    assert_eq!(checked.code, Some(0), "{:#?}", checked.lines);
    assert_eq!(checked.stdout, "Configuration file is valid\n");
}

#[test]
fn the_shipped_examples_are_valid() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let checked = check(&examples.join("tcp.toml"));
    assert_eq!(checked.code, Some(0), "tcp.toml: {:#?}", checked.lines);
    assert_eq!(checked.stdout, "Configuration file is valid\n");
    // full.toml names certificate files at placeholder paths: `-c` reads them, so the only
    // problems it may report are those files being absent (the text itself is valid).
    let checked = check(&examples.join("full.toml"));
    if checked.code != Some(0) {
        assert!(!checked.lines.is_empty());
        for line in &checked.lines {
            assert!(line.contains("/etc/spillway/") && line.contains("cannot read the file"), "{line}");
        }
    }
}

#[test]
fn every_problem_is_printed_with_its_file_and_line() {
    let file = TempFile::new(
        r#"# every class of mistake the check finds without stopping
[runtime]
max_connections = 0

[[listener]]
name = "web"
bind = "127.0.0.1"
target_group = "app"
idle_timeout = "60"

[[listener]]
name = "web"
bind = "127.0.0.1:8081"
target_group = "missing"

[[target_group]]
name = "app"
targets = [{ addr = "127.0.0.1:9001" }]
"#,
    );
    assert_problems(
        &file,
        &[
            (3, "max_connections must be greater than 0"),
            (7, "invalid address \"127.0.0.1\": expected IP:PORT"),
            (9, "invalid duration \"60\""),
            (12, "duplicate listener name \"web\" (first defined at line 6)"),
            (14, "target group \"missing\" does not exist"),
        ],
    );
}

#[test]
fn an_unknown_key_is_printed_with_its_path() {
    let file = TempFile::new(
        "[[listener]]\nname = \"web\"\nbnd = \"127.0.0.1:8080\"\ntarget_group = \"app\"\n\
         [[target_group]]\nname = \"app\"\n[target_group.health_check]\nintervall = \"5s\"\n",
    );
    assert_problems(&file, &[(3, "unknown key listener[0].bnd")]);
    let file = TempFile::new("[[target_group]]\nname = \"app\"\n[target_group.health_check]\nintervall = \"5s\"\n");
    assert_problems(&file, &[(4, "unknown key target_group[0].health_check.intervall")]);
}

#[test]
fn a_syntax_error_is_printed_with_its_line() {
    let file = TempFile::new("[runtime]\nthreads = 2\n\n[[listener]\nname = \"web\"\n");
    assert_problems(&file, &[(4, "invalid table header")]);
}
