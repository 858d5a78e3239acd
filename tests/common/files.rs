//! Directory trees on disk: copied, and compared before and after.

use std::path::{Path, PathBuf};

/// Every entry under `dir` with its content (a directory as `<dir>`, a symlink as its target),
/// sorted, leaving out entries named in `skip`: the "nothing changed" check. A missing `dir` is empty.
pub fn snapshot(dir: &Path, skip: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    fn add_entries(d: &Path, skip: &[&str], out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if skip.iter().any(|s| e.file_name() == *s) {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.push((p.clone(), b"<dir>".to_vec()));
                add_entries(&p, skip, out);
            } else if ft.is_symlink() {
                out.push((p.clone(), std::fs::read_link(&p).unwrap().to_string_lossy().as_bytes().to_vec()));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    add_entries(dir, skip, &mut out);
    out.sort();
    out
}

/// Copies the tree `from` to `to` (files and directories).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The body of the first fenced block of language `lang` in `text` at or after byte `from`, and
/// the byte after its closing fence (a README's commands, run as written).
pub fn fenced_block<'a>(text: &'a str, from: usize, lang: &str) -> (&'a str, usize) {
    let open = format!("```{lang}\n");
    let start = from + text[from..].find(&open).unwrap_or_else(|| panic!("no ```{lang} block after byte {from}")) + open.len();
    let len = text[start..].find("```\n").expect("unclosed block");
    (&text[start..start + len], start + len + 4)
}

/// The names in a closed store's `kv/` directory, sorted, less its spare log (`data.log.spare`,
/// a log a compaction replaced, kept for the next one to write into), which must be all zeros.
pub fn store_files(kv: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(kv).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    if let Some(at) = names.iter().position(|n| n == "data.log.spare") {
        let bytes = std::fs::read(kv.join("data.log.spare")).unwrap();
        assert!(bytes.iter().all(|&b| b == 0), "{}: a spare log that is not all zeros", kv.display());
        names.remove(at);
    }
    names
}
