//! The C harness (STYLE.md 13): the C11 programs of `tests/c/` compiled with `cc` against the
//! shared and against the static library cargo built for this test run, and run with a fresh
//! root directory. One test per (program, linkage), so a failure names both.
//!
//! Needs a C compiler (`cc`, or `$CC`) and, for the C++ header check, `g++` (or `$CXX`).
//! Binaries and roots go under `target/<profile>/c-harness/`; a passing test removes its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];
/// A program that has not finished by then is reported as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
enum Link {
    Shared,
    Static,
}

/// `target/<profile>`: this test is `target/<profile>/deps/c_harness-<hash>`.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(Path::parent).expect("test binary is not under target/<profile>/deps").to_path_buf()
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test under `target/<profile>/c-harness/`.
fn work_dir(name: &str) -> PathBuf {
    let d = build_dir().join("c-harness").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    d
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// Run a compiler; a missing compiler or a failed compile panics with its full output.
fn compile(compiler: &str, args: &[String]) {
    let out = Command::new(compiler).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run the C compiler `{compiler}` ({e}). The C harness needs a C11 compiler on PATH \
             (install gcc, or set CC/CXX); it is not skipped."
        )
    });
    if !out.status.success() {
        panic!(
            "compile failed: {compiler} {}\n--- stdout\n{}\n--- stderr\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn library(link: Link) -> PathBuf {
    let dir = build_dir();
    let lib = match link {
        Link::Shared => dir.join(format!("{}wxfs{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)),
        Link::Static => dir.join("libwxfs.a"),
    };
    assert!(lib.exists(), "{} was not built by cargo (crate-type cdylib + staticlib)", lib.display());
    lib
}

/// Compile `tests/c/<program>.c` into `dir` against the library, returning the binary.
fn build_program(program: &str, link: Link, dir: &Path) -> PathBuf {
    let lib_dir = build_dir();
    let lib = library(link);
    let src = repo_dir().join("tests/c").join(format!("{program}.c"));
    let bin = dir.join(program);
    let mut args: Vec<String> = vec!["-std=c11".into()];
    args.extend(WARNINGS.iter().map(|s| s.to_string()));
    args.extend(["-g".into(), "-pthread".into(), format!("-I{}", repo_dir().join("include").display())]);
    args.extend([src.display().to_string(), "-o".into(), bin.display().to_string()]);
    match link {
        Link::Shared => args.extend([
            format!("-L{}", lib_dir.display()),
            "-lwxfs".into(),
            format!("-Wl,-rpath,{}", lib_dir.display()),
        ]),
        Link::Static => {
            args.extend([lib.display().to_string(), "-lpthread".into(), "-ldl".into(), "-lm".into()])
        }
    }
    compile(&tool("CC", "cc"), &args);
    bin
}

/// Run a binary, killing it after RUN_TIMEOUT.
fn run(bin: &Path, args: &[String]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{} did not finish within {RUN_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                bin.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("wait_with_output")
}

/// How a program is run.
enum Runs<'a> {
    /// No arguments.
    Plain,
    /// Once per entry, in order, each time with the same fresh root as argv[1] and the entry's
    /// words after it (`&[&[]]`: once, with the root only).
    WithRoot(&'a [&'a [&'a str]]),
}

/// Build `tests/c/<program>.c` with `link` and run it as `runs` says; every run must exit 0.
fn run_c_program(program: &str, link: Link, runs: Runs) {
    let name = format!("{program}-{link:?}").to_lowercase();
    let dir = work_dir(&name);
    let bin = build_program(program, link, &dir);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let arg_lists: Vec<Vec<String>> = match runs {
        Runs::Plain => vec![vec![]],
        Runs::WithRoot(phases) => phases
            .iter()
            .map(|extra| {
                let mut v = vec![root.display().to_string()];
                v.extend(extra.iter().map(|s| s.to_string()));
                v
            })
            .collect(),
    };
    for args in &arg_lists {
        let out = run(&bin, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            panic!(
                "{program} {} ({link:?} library) failed: {}\n(binary and root kept in {})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                args.join(" "),
                out.status,
                dir.display()
            );
        }
        print!("{stdout}");
        eprint!("{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const ONCE: Runs = Runs::WithRoot(&[&[]]);
/// Write, then check from a second process with the same root.
const TWO_PROCESSES: Runs = Runs::WithRoot(&[&["write"], &["check"]]);

#[test]
fn abi_test_shared() {
    run_c_program("abi_test", Link::Shared, ONCE);
}

#[test]
fn abi_test_static() {
    run_c_program("abi_test", Link::Static, ONCE);
}

#[test]
fn threads_test_shared() {
    run_c_program("threads_test", Link::Shared, ONCE);
}

#[test]
fn threads_test_static() {
    run_c_program("threads_test", Link::Static, ONCE);
}

#[test]
fn persist_test_shared() {
    run_c_program("persist_test", Link::Shared, TWO_PROCESSES);
}

#[test]
fn persist_test_static() {
    run_c_program("persist_test", Link::Static, TWO_PROCESSES);
}

#[test]
fn header_only_c11_shared() {
    run_c_program("header_only", Link::Shared, Runs::Plain);
}

#[test]
fn header_only_c11_static() {
    run_c_program("header_only", Link::Static, Runs::Plain);
}

/// wxfs.h alone is valid, warning-free C++11 (`extern "C"`, no C-only constructs).
#[test]
fn header_only_cxx11() {
    let mut args: Vec<String> = ["-x", "c++", "-std=c++11"].iter().map(|s| s.to_string()).collect();
    args.extend(WARNINGS.iter().map(|s| s.to_string()));
    args.extend([
        "-fsyntax-only".into(),
        format!("-I{}", repo_dir().join("include").display()),
        repo_dir().join("tests/c/header_only.c").display().to_string(),
    ]);
    compile(&tool("CXX", "g++"), &args);
}
