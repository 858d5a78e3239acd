//! The language bindings of `bindings/`, driven from `cargo test`:
//!
//! - `kotlin_binding`: `bindings/kotlin/run-tests.sh` compiles the JNA binding and its test with
//!   `kotlinc` and runs it against the `libwxfs` cargo built for this test run.
//! - `kotlin_binding_minified`: the same test shrunk and obfuscated by ProGuard with the AAR's
//!   consumer rules (`packaging/android/consumer-rules.pro`), JNA included, as an Android release
//!   build with minify ships it.
//! - `swift_syntax`: `bindings/swift/check_syntax.py` parses the Swift package with tree-sitter
//!   (no Swift toolchain is assumed) and checks its C calls against `include/wxfs.h`.
//!
//! A missing tool (`kotlinc`, `java`, JNA, ProGuard; `python3` or the tree-sitter Swift grammar)
//! skips the test, reported as ignored with a `skipped:` line (tests/common/skip.rs), except under
//! CI (`CI` set), where it fails: CI must install them.

mod common;

use common::skip::{self, Test, Tool};
use common::{lib_dir, repo_dir};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// True when `program --version`-style probing runs at all.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string()
}

const KOTLIN_INSTALL: &str = "apt-get install -y kotlin libjna-java";

fn jna_jar() -> String {
    std::env::var("JNA_JAR").unwrap_or_else(|_| "/usr/share/java/jna.jar".to_string())
}

/// What the Kotlin tests need.
fn kotlin_tools() -> Vec<Tool> {
    let jna = jna_jar();
    vec![
        Tool::runs("kotlinc", &["-version"], KOTLIN_INSTALL),
        Tool::runs("java", &["-version"], KOTLIN_INSTALL),
        Tool::file(format!("JNA ({jna})"), Path::new(&jna), KOTLIN_INSTALL),
    ]
}

/// `bindings/kotlin/run-tests.sh [extra...] LIB_DIR`.
fn run_kotlin(extra: &[&str]) -> Output {
    let jna = jna_jar();
    let lib_dir = lib_dir();
    let lib = lib_dir.join(format!("{}wxfs{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    assert!(lib.exists(), "{} was not built by cargo (crate-type cdylib)", lib.display());

    let script = repo_dir().join("bindings/kotlin/run-tests.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args(extra)
        .arg(&lib_dir)
        .env("JNA_JAR", &jna)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(out.status.success(), "{}", report(&format!("bindings/kotlin/run-tests.sh {}", extra.join(" ")), &out));
    let summary = last_line(&out);
    assert!(summary.ends_with(" passed, 0 failed"), "{}", report(&format!("unexpected summary {summary:?}"), &out));
    out
}

fn kotlin_binding() {
    let out = run_kotlin(&[]);
    println!("kotlin: {}", last_line(&out));
}

/// An app built with `minifyEnabled` runs R8 over the binding and JNA; the consumer rules must keep
/// what JNA reaches by name. Without `-keepattributes RuntimeVisibleAnnotations` this failed 13 of
/// 14 checks ("Structure.getFieldOrder() on class com.sun.jna.Structure$FFIType does not provide
/// enough names").
fn kotlin_binding_minified() {
    let out = run_kotlin(&["--minify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("minified with packaging/android/consumer-rules.pro"), "{text}");
    println!("kotlin minified: {}", last_line(&out));
}

const SWIFT_INSTALL: &str = "pip install tree-sitter tree-sitter-swift";

fn swift_syntax() {
    let script = repo_dir().join("bindings/swift/check_syntax.py");
    let out = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(out.status.success(), "{}", report("bindings/swift/check_syntax.py", &out));
    let summary = last_line(&out);
    assert!(summary.ends_with(" passed, 0 failed"), "{}", report(&format!("unexpected summary {summary:?}"), &out));
    println!("swift: {summary}");
}

fn main() -> std::process::ExitCode {
    let mut minified = kotlin_tools();
    minified.push(Tool::on_path("proguard", "apt-get install -y proguard-cli default-jdk-headless"));
    skip::run(vec![
        Test { name: "kotlin_binding", needs: kotlin_tools(), body: kotlin_binding },
        Test { name: "kotlin_binding_minified", needs: minified, body: kotlin_binding_minified },
        Test {
            name: "swift_syntax",
            needs: vec![
                Tool::runs("python3", &["--version"], SWIFT_INSTALL),
                Tool::probed(
                    "the Python tree-sitter Swift grammar",
                    runs("python3", &["-c", "import tree_sitter, tree_sitter_swift"]),
                    SWIFT_INSTALL,
                ),
            ],
            body: swift_syntax,
        },
    ])
}
