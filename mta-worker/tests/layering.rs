//! The worker's folders follow the mail path, and dependencies point one way: a module may
//! use modules of its own or an earlier folder, never a later one, and two files of one
//! folder never use each other both ways. This test reads `src/` and checks every
//! `crate::` path outside test modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders, in the order of the mail path; the root modules (`start`) come last.
const ORDER: &[&str] = &[
    "common",
    "policy",
    "upstream",
    "connection",
    "envelope",
    "content",
    "verdict",
    "delivery",
    "node",
    "smtp",
    "tools",
];

/// Root-level files: `lib.rs`/`main.rs` compose everything, `start` starts it all, `scratch`
/// is a test helper.
const ROOT: &[&str] = &["lib", "main", "start", "scratch"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `content/scan/mod.rs` → `["content", "scan"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The source without `#[cfg(test)]` modules and comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Every path named after `crate::`, with grouped imports (`crate::{a::b, c}`) expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                paths.push(segments(item.trim()));
            }
        } else {
            paths.push(segments(rest));
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

fn segments(text: &str) -> Vec<String> {
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(text.len());
    text[..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The longest prefix of `path` that is a module of the crate.
fn target_module(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m))
}

fn rank(module: &[String]) -> usize {
    let top = module.first().map(String::as_str).unwrap_or_default();
    match ORDER.iter().position(|f| *f == top) {
        Some(n) => n,
        None if ROOT.contains(&top) => ORDER.len(),
        None => panic!("module {top} is in no layer: add it to ORDER"),
    }
}

#[test]
fn modules_use_only_their_own_or_earlier_folders_and_siblings_never_both_ways() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut uses: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let me = module_of(&src, file);
        let code = code_of(&std::fs::read_to_string(file).expect("read"));
        for path in crate_paths(&code) {
            let Some(target) = target_module(&path, &modules) else { continue };
            if rank(&target) > rank(&me) {
                wrong.push(format!("{} uses {} (a later stage)", me.join("::"), path.join("::")));
            }
            if target != me {
                uses.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    // Siblings: two modules with the same parent (a folder's `mod.rs` is its hub, not a sibling).
    for (a, targets) in &uses {
        for b in targets {
            let siblings = a.len() == b.len() && a.len() > 1 && a[..a.len() - 1] == b[..b.len() - 1];
            if siblings && a < b && uses.get(b).is_some_and(|t| t.contains(a)) {
                wrong.push(format!("{} and {} use each other", a.join("::"), b.join("::")));
            }
        }
    }
    assert!(uses.len() > 20, "the source tree was not read: {} modules with dependencies", uses.len());
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_grouped_imports_and_plain_paths() {
    let code = "use crate::{common::config::WorkerConfig, smtp};\nfn f() { crate::delivery::queue::run(); }";
    let paths = crate_paths(code);
    assert_eq!(paths.len(), 3);
    assert_eq!(paths[0], ["common", "config", "WorkerConfig"]);
    assert_eq!(paths[1], ["smtp"]);
    assert_eq!(paths[2], ["delivery", "queue", "run"]);
    assert!(rank(&["smtp".to_string()]) > rank(&["delivery".to_string()]));
}

/// The length of every function in `file`, by its first line and its closing brace at the
/// same indentation (rustfmt's layout).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(crate) async fn "];
        if !signature.iter().any(|s| trimmed.starts_with(s)) || trimmed.ends_with(';') {
            continue;
        }
        let closing = format!("{indent}}}");
        if let Some(end) = lines[i..].iter().position(|l| *l == closing) {
            let name = trimmed.split('(').next().unwrap_or(trimmed).to_string();
            found.push((name, end + 1));
        }
    }
    found
}

#[test]
fn no_function_of_the_worker_or_the_api_is_over_a_hundred_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("../api/src"), &mut files);
    let mut long = Vec::new();
    for file in &files {
        for (name, lines) in function_lengths(&std::fs::read_to_string(file).expect("read")) {
            if lines > 100 {
                long.push(format!("{}: {name} has {lines} lines", file.display()));
            }
        }
    }
    assert!(files.len() > 60, "the sources were not found");
    assert!(long.is_empty(), "split these into named steps:\n{}", long.join("\n"));
    let sample = "fn short() {\n    one();\n}\n\npub async fn longer() {\n    a();\n    b();\n}\n";
    assert_eq!(function_lengths(sample), vec![("fn short".to_string(), 3), ("pub async fn longer".to_string(), 4)]);
}
