//! A Rust host's first contact with wxfs: open a sandbox, call mini-program apis through the
//! same bridge the C ABI serves, and hear what the library repairs through the `log` facade.
//!
//! `cargo run --example rust_host [ROOT]`; `cargo test --example rust_host` runs it on a fresh root.

use std::path::Path;

use wxfs::{bridge, Config, Session};

/// Prints the library's events (target "wxfs") on stderr; a real host routes them to its logger.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "wxfs" && m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("wxfs {}: {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

/// What the host does for one mini-program launch; returns the lines it printed.
fn run(root: &Path) -> Result<Vec<String>, String> {
    let session = Session::open(Config::new(root, "u1", "wx0123456789abcdef")).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    for (api, args) in [
        ("writeFileSync", r#"{"filePath":"wxfile://usr/hello.txt","data":"hello from Rust"}"#),
        ("readFileSync", r#"{"filePath":"wxfile://usr/hello.txt","encoding":"utf8"}"#),
        ("setStorageSync", r#"{"key":"visits","data":1}"#),
        ("readFileSync", r#"{"filePath":"wxfile://usr/missing.txt"}"#),
    ] {
        let (code, result) = bridge::invoke(&session, api, args);
        lines.push(format!("{api} -> {code} {result}"));
    }
    Ok(lines)
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), String> {
    log::set_logger(&Stderr).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Warn);
    let root = std::env::args().nth(1).unwrap_or_else(|| "wxfs-root".into());
    for line in run(Path::new(&root))? {
        println!("{line}");
    }
    Ok(())
}

#[test]
fn the_example_runs() {
    let root = std::env::temp_dir().join(format!("wxfs-rust-host-{}", std::process::id()));
    let lines = run(&root).unwrap();
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!(
        lines,
        [
            r#"writeFileSync -> 0 {"errMsg":"writeFileSync:ok"}"#,
            r#"readFileSync -> 0 {"errMsg":"readFileSync:ok","data":"hello from Rust"}"#,
            r#"setStorageSync -> 0 {"errMsg":"setStorageSync:ok"}"#,
            r#"readFileSync -> 1300002 {"errMsg":"readFileSync:fail no such file or directory, open wxfile://usr/missing.txt","errCode":1300002}"#,
        ]
    );
}
