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

/// What a program is built with and run under.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tool {
    /// Built and run as is.
    Plain,
    /// Built with `-fsanitize=address,undefined` against the shared library; any report fails.
    Asan,
    /// Built plainly against the shared library and run under valgrind's memcheck.
    Valgrind,
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

/// The SONAME the shared library declares (`libwxfs.so.<ABI>`), if any. A program linked against
/// it records that name as NEEDED, so the loader looks for a file of that name at run time.
fn soname(lib: &Path) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let out = Command::new("readelf").arg("-d").arg(lib).stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run `readelf` ({e}): the C harness needs binutils (it comes with gcc)")
    });
    assert!(out.status.success(), "readelf -d {} failed: {}", lib.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("(SONAME)"))?;
    let name = line.split('[').nth(1)?.split(']').next()?;
    Some(name.to_string())
}

/// A directory holding the shared library under the names a link and a load need: cargo builds
/// only `libwxfs.so`, while the programs linked against it ask the loader for its SONAME.
fn shared_lib_dir(dir: &Path) -> PathBuf {
    let lib = library(Link::Shared);
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let file_name = lib.file_name().unwrap().to_string_lossy().into_owned();
    let mut names = vec![file_name];
    names.extend(soname(&lib));
    for name in names {
        let link = lib_dir.join(&name);
        if !link.exists() {
            std::os::unix::fs::symlink(&lib, &link)
                .unwrap_or_else(|e| panic!("cannot link {} -> {}: {e}", link.display(), lib.display()));
        }
    }
    lib_dir
}

/// Compile `tests/c/<program>.c` into `dir` against the library, returning the binary.
fn build_program(program: &str, link: Link, tool_: Tool, dir: &Path) -> PathBuf {
    let src = repo_dir().join("tests/c").join(format!("{program}.c"));
    let bin = dir.join(program);
    let mut args: Vec<String> = vec!["-std=c11".into()];
    args.extend(WARNINGS.iter().map(|s| s.to_string()));
    args.extend(["-g".into(), "-pthread".into(), format!("-I{}", repo_dir().join("include").display())]);
    if tool_ == Tool::Asan {
        // -fno-sanitize-recover: a UBSan finding aborts the program instead of printing and going on.
        args.extend(
            ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
                .iter()
                .map(|s| s.to_string()),
        );
    }
    args.extend([src.display().to_string(), "-o".into(), bin.display().to_string()]);
    match link {
        Link::Shared => {
            let lib_dir = shared_lib_dir(dir);
            args.extend([
                format!("-L{}", lib_dir.display()),
                "-lwxfs".into(),
                format!("-Wl,-rpath,{}", lib_dir.display()),
            ])
        }
        Link::Static => {
            assert!(tool_ == Tool::Plain, "ASan and valgrind runs use the shared library");
            args.extend([library(link).display().to_string(), "-lpthread".into(), "-ldl".into(), "-lm".into()])
        }
    }
    compile(&tool("CC", "cc"), &args);
    bin
}

/// Run a command, killing it after RUN_TIMEOUT.
fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    // Drain the pipes while waiting: valgrind and the sanitizers can write more than a pipe holds.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = t_out.join().unwrap();
            let stderr = t_err.join().unwrap();
            panic!(
                "{shown} did not finish within {RUN_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

/// How a program is run.
enum Runs<'a> {
    /// No arguments.
    Plain,
    /// Once per entry, in order, each time with the same fresh root as argv[1] and the entry's
    /// words after it (`&[&[]]`: once, with the root only).
    WithRoot(&'a [&'a [&'a str]]),
}

/// What marks a sanitizer report in a program's stderr (the exit status is checked as well).
const SANITIZER_REPORTS: &[&str] =
    &["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: AddressSanitizer", "SUMMARY: UndefinedBehaviorSanitizer"];

/// Under valgrind the programs do fewer repetitions (they read it; 1 means the full count).
const VALGRIND_SCALE: &str = "10";

/// Build `tests/c/<program>.c` with `link` (and `tool_`) and run it as `runs` says; every run
/// must exit 0 (and, under a tool, report nothing).
fn run_c_program(program: &str, link: Link, tool_: Tool, runs: Runs) {
    let name = match tool_ {
        Tool::Plain => format!("{program}-{link:?}"),
        _ => format!("{program}-{tool_:?}"),
    }
    .to_lowercase();
    let dir = work_dir(&name);
    let bin = build_program(program, link, tool_, &dir);
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
        let cmd = match tool_ {
            Tool::Plain => {
                let mut c = Command::new(&bin);
                c.args(args);
                c
            }
            Tool::Asan => {
                let mut c = Command::new(&bin);
                // Leak detection works here (LeakSanitizer needs ptrace-like thread suspension,
                // which some containers forbid; then this test fails loudly rather than passing).
                c.args(args)
                    .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=98")
                    .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
                    .env("LSAN_OPTIONS", "exitcode=97");
                c
            }
            Tool::Valgrind => {
                let mut c = Command::new("valgrind");
                c.args([
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--errors-for-leak-kinds=definite,indirect",
                    "--show-leak-kinds=definite,indirect",
                ])
                .arg(&bin)
                .args(args)
                .env("WXFS_TEST_SCALE", VALGRIND_SCALE);
                c
            }
        };
        let out = run(cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = if out.status.code() == Some(99) && tool_ == Tool::Valgrind {
            Some("valgrind reported memory errors or definite/indirect leaks (exit 99)".to_string())
        } else if !out.status.success() {
            Some(format!("{}", out.status))
        } else if tool_ == Tool::Asan && SANITIZER_REPORTS.iter().any(|m| stderr.contains(m)) {
            Some("a sanitizer report on stderr".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            panic!(
                "{program} {} ({link:?} library, {tool_:?}) failed: {why}\n(binary and root kept in {})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                args.join(" "),
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

/// Every program with how it is run: one test per (program, linkage or tool) below.
fn runs_of(program: &str) -> Runs<'static> {
    match program {
        "persist_test" => TWO_PROCESSES,
        "header_only" => Runs::Plain,
        _ => ONCE,
    }
}

macro_rules! c_tests {
    ($($program:ident),* $(,)?) => {
        mod shared {
            $(#[test] fn $program() { super::run_c_program(stringify!($program), super::Link::Shared, super::Tool::Plain, super::runs_of(stringify!($program))); })*
        }
        mod r#static {
            $(#[test] fn $program() { super::run_c_program(stringify!($program), super::Link::Static, super::Tool::Plain, super::runs_of(stringify!($program))); })*
        }
        mod asan {
            $(#[test] fn $program() { super::run_c_program(stringify!($program), super::Link::Shared, super::Tool::Asan, super::runs_of(stringify!($program))); })*
        }
        mod valgrind {
            $(#[test] fn $program() {
                if super::valgrind_missing() { return; }
                super::run_c_program(stringify!($program), super::Link::Shared, super::Tool::Valgrind, super::runs_of(stringify!($program)));
            })*
        }
    };
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
