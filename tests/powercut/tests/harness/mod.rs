//! The harness of both test binaries (`harness = false`): where this machine cannot mount the
//! file system, each case shows as `ignored` with a `skipped:` line, never as passed, and under
//! `CI` each fails. Children a case starts (`--exact <name> --ignored`) run on a mount their
//! parent made, and probe nothing.

#[path = "../../../common/skip.rs"]
#[allow(dead_code)] // the harness half these tests use
mod skip;

/// Whether this process is a child a case started.
pub fn is_child() -> bool {
    std::env::args().any(|a| a == "--ignored")
}

/// Runs `cases` (each needs a mountable FUSE) and the `children` entry points.
pub fn run(cases: &[(&'static str, fn())], children: &[(&'static str, fn())]) -> std::process::ExitCode {
    let fuse = if is_child() { Ok(()) } else { wxfs_powercut::probe(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) };
    let tests = cases
        .iter()
        .map(|&(name, body)| {
            let needs = match &fuse {
                Ok(()) => vec![skip::Tool::probed("FUSE", true, "")],
                Err(e) => vec![skip::Tool::probed(
                    &format!("a mountable FUSE ({})", e.0),
                    false,
                    "Debian: fuse3; /dev/fuse in the container",
                )],
            };
            skip::Test { name, needs, body }
        })
        .collect();
    skip::run_with_ignored(tests, children.to_vec())
}
