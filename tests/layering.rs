//! The layering map of `src/lib.rs`, held: every `crate::` path in `src/` (in `use` lines and
//! inline, outside comments) names a module on a lower line of the map than the module it is
//! written in; and every top-level module has a line.
//!
//! The map is read from `lib.rs` itself, so the documentation and this check cannot drift
//! apart. A module's own submodules are its own business: only imports between top-level
//! modules are checked. Paths are read as text, the way a reviewer reads them: `use
//! crate::{a, b::{c, d}}` names `a` and `b`; a capitalised name at the root (`crate::Server`)
//! is a re-export of `server`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The map: module name → its line (0 = top).
fn layering_map() -> BTreeMap<String, usize> {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let doc: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//!")).map(str::trim).collect();
    let start = doc.iter().position(|l| *l == "# Layering map").expect("lib.rs has a '# Layering map' section");
    let open = start + doc[start..].iter().position(|l| *l == "```text").expect("the map is a ```text block");
    let close = open + 1 + doc[open + 1..].iter().position(|l| *l == "```").expect("the block is closed");
    let mut map = BTreeMap::new();
    for (rank, line) in doc[open + 1..close].iter().enumerate() {
        for module in line.split_whitespace() {
            assert!(map.insert(module.to_string(), rank).is_none(), "{module} is on two lines of the map");
        }
    }
    map
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/http/park.rs` → `http`), or None for the crate
/// root and the binary.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (first != "lib" && first != "main").then_some(first)
}

/// The code of a file without its comments (line comments, doc comments, block comments) and
/// without the contents of string literals, so that a path in prose or in a message does not
/// count.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The top-level modules a piece of code names through `crate::`, with the text that names
/// each (for the failure message).
fn imports(code: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mycrate::`, not `crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, E}`: the names at depth 0 of the group.
            let (mut depth, mut item, mut end) = (0, String::new(), group.len());
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        end = i;
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_name(&mut found, &item);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            push_name(&mut found, &item);
            rest = &group[end..];
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            push_name(&mut found, &name);
        }
    }
    found
}

fn push_name(found: &mut Vec<(String, String)>, item: &str) {
    let item = item.trim();
    let name: String = item.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() || name == "self" {
        return;
    }
    // Root re-exports (`crate::Server`, `crate::StartOptions`) are the server's.
    let module = if name.starts_with(char::is_uppercase) { "server".to_string() } else { name };
    found.push((module, item.to_string()));
}

#[test]
fn every_import_runs_down_the_layering_map() {
    let map = layering_map();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut unmapped = BTreeSet::new();
    let mut edges = 0;
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        let Some(&rank) = map.get(&module) else {
            unmapped.insert(module);
            continue;
        };
        let code = code_of(&fs::read_to_string(file).unwrap());
        for (target, text) in imports(&code) {
            if target == module {
                continue;
            }
            edges += 1;
            match map.get(&target) {
                Some(&t) if t > rank => {}
                Some(&t) => violations.push(format!(
                    "{}: crate::{text} — {module} (line {rank}) may not import {target} (line {t})",
                    file.strip_prefix(src()).unwrap().display()
                )),
                None => {
                    unmapped.insert(target);
                }
            }
        }
    }
    assert!(unmapped.is_empty(), "modules without a line in lib.rs's layering map: {unmapped:?}");
    assert!(edges > 50, "only {edges} imports between modules found: is the reader broken?");
    assert!(violations.is_empty(), "imports against the layering map:\n{}", violations.join("\n"));
}

#[test]
fn the_reader_sees_grouped_nested_and_inline_paths_and_skips_comments_and_strings() {
    let code = code_of(
        "use crate::{a, b::{c, d}, E};\n// crate::commented\n/* crate::blocked */\nlet x = crate::f::g();\n\
         let s = \"crate::quoted\";\nuse mycrate::h;\n",
    );
    let names: Vec<String> = imports(&code).into_iter().map(|(m, _)| m).collect();
    assert_eq!(names, ["a", "b", "server", "f"]);
}
