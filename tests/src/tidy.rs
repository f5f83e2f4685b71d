//! The tidy checks: rules about the tree that no compiler enforces, run by the
//! README's test command as ordinary unit tests of this crate.
//!
//! * every Rust source file opens with a `//!` module doc;
//! * no Rust source file is longer than [`MAX_LINES`] lines;
//! * every path written in backticks in `ARCHITECTURE.md` exists, so the map
//!   cannot point at a file that moved;
//! * every dependency version is declared once, in the root `Cargo.toml`'s
//!   `[workspace.dependencies]`; members say `foo.workspace = true`; and every
//!   declared dependency is used by the code of the crate that declares it.
//!
//! The fuzz crates (`*/fuzz/`) are separate workspaces pinned to a nightly
//! toolchain; only their sources' module docs are checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed; the style guide says "about 1,000 lines".
pub const MAX_LINES: usize = 1_100;

/// The repository root (this crate lives in `tests/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Directories never walked: build output, virtualenvs, fuzzing state, VCS.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "target"
            | ".git"
            | ".venv"
            | "var"
            | "node_modules"
            | "__pycache__"
            | "corpus"
            | "artifacts"
    )
}

/// Every file under `dir` (recursively), skipping [`skipped`] directories.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skipped(&name) {
                walk(&path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn files_with_extension(root: &Path, ext: &str) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(root, &mut all);
    all.retain(|p| p.extension().is_some_and(|e| e == ext));
    all.sort();
    all
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Rust files that do not open with `//!` (leading blank lines and `#![..]`
/// attributes are not allowed before it either: the doc comes first).
pub fn files_without_module_doc(root: &Path) -> Vec<String> {
    files_with_extension(root, "rs")
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|p| relative(root, &p))
        .collect()
}

/// Rust files over [`MAX_LINES`] lines, with their length.
pub fn oversized_files(root: &Path) -> Vec<(String, usize)> {
    files_with_extension(root, "rs")
        .into_iter()
        .filter_map(|p| {
            let lines = std::fs::read_to_string(&p).ok()?.lines().count();
            (lines > MAX_LINES).then(|| (relative(root, &p), lines))
        })
        .collect()
}

/// The backticked spans of a Markdown text, outside fenced code blocks.
fn backticked(markdown: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.push(inside.to_string());
        }
    }
    spans
}

/// Whether a backticked span names a file or directory of the tree: it has
/// only path characters, and either starts at a top-level entry of the
/// repository (or at `../shared`), or is a bare file name with an extension.
fn as_tree_path(span: &str, top_level: &BTreeSet<String>) -> Option<String> {
    let pathlike = span.chars().any(|c| c.is_ascii_alphanumeric())
        && span
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !span.starts_with('/')
        && !span.starts_with('-');
    if !pathlike {
        return None;
    }
    let first = span.split('/').next().unwrap_or_default();
    if span.starts_with("../shared/") || (span.contains('/') && top_level.contains(first)) {
        return Some(span.to_string());
    }
    let has_extension = !span.contains('/')
        && span.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic()) && ext.len() <= 4
        });
    has_extension.then(|| span.to_string())
}

/// Backticked paths of `ARCHITECTURE.md` that do not exist. Paths under
/// `../shared` are checked only when that folder is present.
pub fn missing_map_paths(root: &Path) -> Vec<String> {
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let top_level: BTreeSet<String> = std::fs::read_dir(root)
        .expect("repository root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = BTreeSet::new();
    let mut all = Vec::new();
    walk(root, &mut all);
    for p in &all {
        if let Some(n) = p.file_name() {
            names.insert(n.to_string_lossy().into_owned());
        }
    }
    let shared = root.join("../shared");
    let mut missing = Vec::new();
    for span in backticked(&map) {
        let Some(path) = as_tree_path(&span, &top_level) else {
            continue;
        };
        let exists = if path.contains('/') {
            if path.starts_with("../shared/") && !shared.exists() {
                true
            } else {
                root.join(&path).exists()
            }
        } else {
            names.contains(&path)
                || (shared.exists() && shared.join("design").join(&path).exists())
                || !shared.exists() && path.ends_with(".md")
        };
        if !exists {
            missing.push(path);
        }
    }
    missing.sort();
    missing.dedup();
    missing
}

/// The dependency tables of a manifest: `[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, and the same under `[target.'..']`.
fn dependency_tables(manifest: &toml::Table) -> Vec<(String, &toml::Table)> {
    let mut tables = Vec::new();
    for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = manifest.get(kind).and_then(|v| v.as_table()) {
            tables.push((kind.to_string(), t));
        }
    }
    if let Some(targets) = manifest.get("target").and_then(|v| v.as_table()) {
        for (cfg, target) in targets {
            for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(t) = target.get(kind).and_then(|v| v.as_table()) {
                    tables.push((format!("target.{cfg}.{kind}"), t));
                }
            }
        }
    }
    tables
}

fn read_manifest(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workspace members' directories, from the root manifest.
fn members(root: &Path, workspace: &toml::Table) -> Vec<PathBuf> {
    workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .filter_map(|m| m.as_str())
        .map(|m| root.join(m))
        .collect()
}

/// Whether Rust code names the crate `ident`: as a path (`ident::`, which
/// covers `use` lists and attributes such as `#[tokio::test]`), as
/// `use ident;`, or as `extern crate ident`.
fn mentions_crate(text: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + ident.len()..];
        let bounded = !before.ends_with(is_ident) && !after.starts_with(is_ident);
        bounded
            && (after.starts_with("::")
                || before.ends_with("use ")
                || before.ends_with("extern crate "))
    })
}

/// Problems with dependency declarations: versions declared in a member,
/// workspace dependencies nobody uses, and member dependencies the member's
/// code never names. A dependency used only for its side effects (features
/// turned on for another crate) says so with a `# tidy: unused-ok` comment on
/// its line.
pub fn dependency_problems(root: &Path) -> Vec<String> {
    let workspace = read_manifest(&root.join("Cargo.toml"));
    let declared: BTreeSet<String> = workspace["workspace"]["dependencies"]
        .as_table()
        .expect("[workspace.dependencies]")
        .keys()
        .cloned()
        .collect();
    let mut used_somewhere: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for dir in members(root, &workspace) {
        let manifest_path = dir.join("Cargo.toml");
        let manifest_text = std::fs::read_to_string(&manifest_path).unwrap_or_default();
        let manifest = read_manifest(&manifest_path);
        let member = relative(root, &dir);
        let mut all_sources = files_with_extension(&dir, "rs");
        // Fuzz crates are workspaces of their own.
        all_sources.retain(|p| !p.strip_prefix(&dir).is_ok_and(|r| r.starts_with("fuzz")));
        // Each source is read once; the library's own code is what its
        // normal dependencies must be used by.
        let sources: Vec<(bool, String)> = all_sources
            .iter()
            .map(|p| {
                let in_lib = p
                    .strip_prefix(&dir)
                    .is_ok_and(|r| r.starts_with("src") || r == Path::new("build.rs"));
                (in_lib, std::fs::read_to_string(p).unwrap_or_default())
            })
            .collect();
        for (kind, table) in dependency_tables(&manifest) {
            for (name, spec) in table {
                let key = spec
                    .get("package")
                    .and_then(|p| p.as_str())
                    .map(str::to_string);
                let workspace_ref = spec.get("workspace").and_then(|w| w.as_bool()) == Some(true);
                if !workspace_ref {
                    problems.push(format!(
                        "{member}/Cargo.toml [{kind}] {name}: declare the version in [workspace.dependencies] and say `{name}.workspace = true`"
                    ));
                }
                let lookup = key.unwrap_or_else(|| name.clone());
                if workspace_ref && !declared.contains(&lookup) {
                    problems.push(format!(
                        "{member}/Cargo.toml [{kind}] {name}: not in [workspace.dependencies]"
                    ));
                }
                *used_somewhere.entry(lookup).or_default() += 1;
                let allowed_unused = manifest_text.lines().any(|l| {
                    l.trim_start().starts_with(name.as_str()) && l.contains("tidy: unused-ok")
                });
                let any_target =
                    kind.ends_with("dev-dependencies") || kind.ends_with("build-dependencies");
                let ident = name.replace('-', "_");
                let used = sources
                    .iter()
                    .any(|(in_lib, text)| (any_target || *in_lib) && mentions_crate(text, &ident));
                if !allowed_unused && !used {
                    problems.push(format!("{member}/Cargo.toml [{kind}] {name}: declared but never used by {member}'s code"));
                }
            }
        }
    }
    for name in declared {
        if !used_somewhere.contains_key(&name) {
            problems.push(format!(
                "Cargo.toml [workspace.dependencies] {name}: no member uses it"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_file_opens_with_a_module_doc() {
        let missing = files_without_module_doc(&repo_root());
        assert!(
            missing.is_empty(),
            "files without a leading `//!` doc:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn no_rust_file_is_oversized() {
        let big = oversized_files(&repo_root());
        assert!(big.is_empty(), "files over {MAX_LINES} lines: {big:?}");
    }

    #[test]
    fn every_path_in_the_architecture_map_exists() {
        let missing = missing_map_paths(&repo_root());
        assert!(
            missing.is_empty(),
            "ARCHITECTURE.md names paths that do not exist:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn dependencies_are_declared_once_and_used() {
        let problems = dependency_problems(&repo_root());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_path_filter_ignores_urls_flags_and_code() {
        let top: BTreeSet<String> = ["native".to_string(), "docs".to_string()].into();
        assert_eq!(
            as_tree_path("native/src/set.rs", &top).as_deref(),
            Some("native/src/set.rs")
        );
        assert_eq!(as_tree_path("docs/", &top).as_deref(), Some("docs/"));
        assert_eq!(
            as_tree_path("FORMAT.md", &top).as_deref(),
            Some("FORMAT.md")
        );
        assert_eq!(as_tree_path("/metrics", &top), None);
        assert_eq!(as_tree_path("--volume-root", &top), None);
        assert_eq!(as_tree_path("cim::ops", &top), None);
        assert_eq!(as_tree_path("application/xml", &top), None);
        assert_eq!(as_tree_path("test_contract_*.py", &top), None);
        assert_eq!(as_tree_path("Engine::open", &top), None);
        assert_eq!(as_tree_path("..", &top), None);
    }

    #[test]
    fn crate_mentions_respect_identifier_boundaries() {
        assert!(mentions_crate("use serde::Deserialize;", "serde"));
        assert!(mentions_crate("#[tokio::test]", "tokio"));
        assert!(mentions_crate("use itoa;", "itoa"));
        assert!(!mentions_crate("use serde_json::Value;", "serde"));
        assert!(!mentions_crate("let my_serde::x", "serde"));
        assert!(!mentions_crate("// serde is great", "serde"));
    }

    #[test]
    fn a_missing_path_and_a_stray_version_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"a\"]\n[workspace.dependencies]\nserde = \"1\"\nunused = \"1\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("a/src")).unwrap();
        std::fs::write(
            root.join("a/Cargo.toml"),
            "[package]\nname = \"a\"\n[dependencies]\nserde.workspace = true\nitoa = \"1\"\n",
        )
        .unwrap();
        std::fs::write(root.join("a/src/lib.rs"), "fn f() {}\n").unwrap();
        std::fs::write(
            root.join("ARCHITECTURE.md"),
            "See `a/src/lib.rs` and `a/src/gone.rs`.\n",
        )
        .unwrap();
        assert_eq!(missing_map_paths(root), vec!["a/src/gone.rs".to_string()]);
        assert_eq!(
            files_without_module_doc(root),
            vec!["a/src/lib.rs".to_string()]
        );
        let problems = dependency_problems(root).join("\n");
        assert!(
            problems.contains("[dependencies] itoa: declare the version"),
            "{problems}"
        );
        assert!(
            problems.contains("[dependencies] serde: declared but never used"),
            "{problems}"
        );
        assert!(problems.contains("unused: no member uses it"), "{problems}");
    }
}
