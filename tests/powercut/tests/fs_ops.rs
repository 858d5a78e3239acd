//! Crash-point enumeration: each FileSystemManager operation and storage call
//! below runs through wxfs on a sandbox rooted on the power-cut file system, in `process` and in
//! `power` durability; the power is cut after every one of its counted calls in turn (every
//! mutating call and every sync point, from the sandbox's open to the operation's return); the
//! sandbox is reopened on what survives, and checked:
//! - the operation is all or nothing: its target is in the state before it or the state after;
//! - the quota journal equals what is on disk (bytes and entries), and fsck finds nothing;
//! - in `power` durability, an operation acknowledged (it returned success) is there.
//!
//! Each cut point is tried twice: a strict cut (only what a sync made durable), and a seeded cut
//! (that, plus a random subset of the unsynced writes, some torn, and a random prefix of the
//! unsynced directory operations, as a real disk may keep). What `process` durability promises
//! under a power cut is stated in `docs/powercut.md` and `docs/design.md` §5; the test checks
//! exactly that statement.
//!
//! `cargo test -p wxfs-powercut --test fs_ops` tries 10 cut points per operation and mode (the
//! points on either side of each sync first, then others spread evenly; `WXFS_POWERCUT_CUTS`: a
//! number or `all`), with one strict and one seeded cut at each; `WXFS_POWERCUT_SEEDS=n` tries n
//! seeded cuts per point. The long run: `WXFS_POWERCUT_CUTS=all WXFS_POWERCUT_SEEDS=8`. Needs
//! `/dev/fuse`: a visible skip without it, a failure when `CI` is set.
//!
//! The cases are in `fs_ops/cases.rs`; this file is their harness (`harness = false`): where this
//! machine cannot mount the file system, each case shows as `ignored` with a `skipped:` line,
//! never as passed, and under `CI` each fails.

#[cfg(target_os = "linux")]
#[path = "fs_ops/cases.rs"]
mod cases;
#[cfg(target_os = "linux")]
mod harness;
#[cfg(target_os = "linux")]
#[path = "fs_ops/random.rs"]
mod random;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    if !harness::is_child() {
        // Before any thread starts: this process reopens sandboxes as the machine after the cut.
        std::env::set_var("WXFS_BOOT_ID", cases::BOOT_AFTER_THE_CUT);
    }
    harness::run(
        &[
            ("power_durability_holds_at_every_cut", cases::power_durability_holds_at_every_cut),
            ("power_durability_names_in_subdirectories_are_durable", cases::power_durability_names_in_subdirectories_are_durable),
            ("power_durability_append_is_all_or_nothing", cases::power_durability_append_is_all_or_nothing),
            (
                "power_durability_holds_for_compaction_ftruncate_and_directory_rename",
                cases::power_durability_holds_for_compaction_ftruncate_and_directory_rename,
            ),
            ("power_durability_unzip_is_all_or_nothing", cases::power_durability_unzip_is_all_or_nothing),
            ("process_durability_state_is_one_the_design_allows", cases::process_durability_state_is_one_the_design_allows),
            (
                "process_durability_quota_journal_is_exact_after_a_power_cut",
                cases::process_durability_quota_journal_is_exact_after_a_power_cut,
            ),
            ("random_workloads_survive_power_cuts", random::random_workloads_survive_power_cuts),
        ],
        &[("workload", cases::workload), ("one", cases::one), ("random_workload", random::random_workload)],
    )
}

#[cfg(not(target_os = "linux"))]
fn main() {}
