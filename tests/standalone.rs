//! The repository stands alone: no file in it points at a document outside it, at a build
//! machine's path, or at the project's internal tracker. A user who clones it has only what is in
//! it, so a comment, doc or message that cites something else sends them nowhere.

mod common;

use std::path::{Path, PathBuf};

/// The words that point outside. Each is built from parts so this file does not match itself.
fn outside_references() -> Vec<(String, &'static str)> {
    vec![
        (["DESIGN", ".md"].concat(), "a design document that is not in the repository (cite docs/design.md)"),
        (["spec", ".md"].concat(), "a WeChat digest that is not in the repository (cite docs/wechat-behaviour.md)"),
        (["STYLE", ".md"].concat(), "a style guide that is not in the repository"),
        (["..", "/shared"].concat(), "a folder beside the repository"),
        (["/work", "/"].concat(), "a build machine's path"),
        (["the ", "lead"].concat(), "the project's internal roles"),
    ]
}

/// `word` in `line`, not as the start of a longer word ("the leading" is not "the lead").
fn contains_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| !line[i + word.len()..].chars().next().is_some_and(|c| c.is_alphanumeric()))
}

/// `issue N` (a tracker number that means nothing to a reader of the repository).
fn issue_number(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("issue ") {
        let after = &rest[i + 6..];
        let word_start = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        if word_start && after.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return true;
        }
        rest = after;
    }
    false
}

/// The files of the repository: `git ls-files` in a checkout, otherwise a walk that skips build
/// output and installed packages.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    if let Ok(out) = std::process::Command::new("git").arg("-C").arg(root).args(["ls-files", "-z"]).output() {
        if out.status.success() && !out.stdout.is_empty() {
            return out
                .stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
                .collect();
        }
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.as_ref(), "target" | "node_modules" | ".git" | "corpus" | "artifacts") {
                    dirs.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = common::repo_dir();
    let me = root.join("tests/standalone.rs");
    let words = outside_references();
    let mut found = Vec::new();
    let mut read = 0;
    for path in repository_files(&root) {
        if path == me {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue }; // binary or removed
        read += 1;
        for (n, line) in text.lines().enumerate() {
            let rel = path.strip_prefix(&root).unwrap_or(&path).display();
            for (word, why) in &words {
                if contains_word(line, word) {
                    found.push(format!("{rel}:{}: `{word}`, {why}: {}", n + 1, line.trim()));
                }
            }
            if issue_number(line) {
                found.push(format!("{rel}:{}: a tracker issue number: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(read > 100, "only {read} files read: the walk did not find the repository");
    assert!(found.is_empty(), "{} lines point outside the repository:\n{}", found.len(), found.join("\n"));
}

#[test]
fn the_issue_number_rule_matches_what_it_should() {
    assert!(issue_number("as built for issue 10; it"));
    assert!(issue_number("(Issue 13)"));
    assert!(!issue_number("a known issue with 3 files"));
    assert!(!issue_number("reissue 4"));
    assert!(contains_word("as the lead said", "the lead"));
    assert!(!contains_word("for the leading words", "the lead"));
}
