//! Tests that need an outside tool (kotlinc, valgrind, cmake, ...), run by a harness that reports
//! a missing tool as a skip: the test shows as `ignored` in cargo's summary and a
//! `skipped: <test>: <tool> not installed (<how to install>)` line is printed before and after the
//! run, so a skip never reads as a pass. When `CI` is set a missing tool fails the test instead:
//! CI must install it.
//!
//! A test file that uses it sets `harness = false` in Cargo.toml and calls [`run`] from `main`.

use std::process::{Command, ExitCode, Stdio};

/// One tool a test needs.
pub struct Tool {
    pub what: String,
    pub install: &'static str,
    pub present: bool,
}

impl Tool {
    /// A program that exits 0 when run with `args` (`--version` style probing).
    pub fn runs(program: &str, args: &[&str], install: &'static str) -> Tool {
        let present = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Tool { what: program.to_string(), install, present }
    }

    /// A program found on `PATH` (for tools with no option that exits 0 without work).
    pub fn on_path(program: &str, install: &'static str) -> Tool {
        let present = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
        Tool { what: program.to_string(), install, present }
    }

    /// A file that must exist (a jar, a grammar).
    pub fn file(what: String, path: &std::path::Path, install: &'static str) -> Tool {
        Tool { what, install, present: path.exists() }
    }

    /// Anything else, probed by the caller.
    pub fn probed(what: &str, present: bool, install: &'static str) -> Tool {
        Tool { what: what.to_string(), install, present }
    }
}

/// A test and the tools it needs.
pub struct Test {
    pub name: &'static str,
    pub needs: Vec<Tool>,
    pub body: fn(),
}

pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Runs the tests with libtest's command line (filters, `--list`, `--test-threads`, ...).
pub fn run(tests: Vec<Test>) -> ExitCode {
    run_with_ignored(tests, Vec::new())
}

/// [`run`], plus tests that run only when asked for (`--ignored`): the entry points of child
/// processes a test starts by running its own binary with `--exact <name> --ignored`.
pub fn run_with_ignored(tests: Vec<Test>, ignored: Vec<(&'static str, fn())>) -> ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let ci = in_ci();
    let mut skipped = Vec::new();
    let mut trials: Vec<libtest_mimic::Trial> = ignored
        .into_iter()
        .map(|(name, body)| {
            libtest_mimic::Trial::test(name, move || {
                body();
                Ok(())
            })
            .with_ignored_flag(true)
        })
        .collect();
    trials.extend(tests.into_iter().map(|t| {
        let missing: Vec<String> =
            t.needs.iter().filter(|n| !n.present).map(|n| format!("{} not installed ({})", n.what, n.install)).collect();
        if missing.is_empty() {
            let body = t.body;
            libtest_mimic::Trial::test(t.name, move || {
                body();
                Ok(())
            })
        } else if ci {
            let why = missing.join("; ");
            libtest_mimic::Trial::test(t.name, move || Err(format!("{why}, and CI must run this test").into()))
        } else {
            skipped.push(format!("skipped: {}: {}", t.name, missing.join("; ")));
            libtest_mimic::Trial::test(t.name, || Ok(())).with_ignored_flag(true)
        }
    }));
    for s in &skipped {
        eprintln!("{s}");
    }
    let conclusion = libtest_mimic::run(&args, trials);
    for s in &skipped {
        eprintln!("{s}");
    }
    conclusion.exit_code()
}
