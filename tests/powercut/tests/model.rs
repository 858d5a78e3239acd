//! Self-tests of the power-cut file system (no wxfs here): each rule at the top of `src/lib.rs`,
//! checked through real system calls. A child process runs a scenario on the mount (`scenario`,
//! below: the ignored test the harness starts); the test then cuts the power and reads what the
//! backing directory holds afterwards.
//!
//! `cargo test -p wxfs-powercut --test model`; needs `/dev/fuse` (a visible skip without it,
//! a failure under CI).
//!
//! The cases are in `model/cases.rs`; this file is their harness (`harness = false`): where this
//! machine cannot mount the file system, each case shows as `ignored` with a `skipped:` line,
//! never as passed, and under `CI` each fails.

#[cfg(target_os = "linux")]
#[path = "model/cases.rs"]
mod cases;
#[cfg(target_os = "linux")]
#[path = "../../common/skip.rs"]
#[allow(dead_code)] // the harness half these tests use
mod skip;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    // A child this binary starts for a case (`--exact <name> --ignored`) runs on a mount made
    // by its parent: it probes nothing.
    let child = std::env::args().any(|a| a == "--ignored");
    let fuse = if child { Ok(()) } else { wxfs_powercut::probe(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))) };
    let need = || match &fuse {
        Ok(()) => vec![skip::Tool::probed("FUSE", true, "")],
        Err(e) => {
            vec![skip::Tool::probed(&format!("a mountable FUSE ({})", e.0), false, "Debian: fuse3; /dev/fuse in the container")]
        }
    };
    let tests = vec![
        skip::Test {
            name: "data_written_and_not_synced_is_gone",
            needs: need(),
            body: cases::data_written_and_not_synced_is_gone,
        },
        skip::Test {
            name: "a_cut_keeps_each_surviving_file_as_the_same_inode",
            needs: need(),
            body: cases::a_cut_keeps_each_surviving_file_as_the_same_inode,
        },
        skip::Test {
            name: "fsynced_data_stays_and_what_follows_is_gone",
            needs: need(),
            body: cases::fsynced_data_stays_and_what_follows_is_gone,
        },
        skip::Test { name: "fdatasync_makes_data_durable_too", needs: need(), body: cases::fdatasync_makes_data_durable_too },
        skip::Test {
            name: "msync_of_a_shared_mapping_is_durable_and_later_stores_are_not",
            needs: need(),
            body: cases::msync_of_a_shared_mapping_is_durable_and_later_stores_are_not,
        },
        skip::Test {
            name: "append_ftruncate_fallocate_go_through_and_follow_the_rule",
            needs: need(),
            body: cases::append_ftruncate_fallocate_go_through_and_follow_the_rule,
        },
        skip::Test {
            name: "a_created_file_whose_directory_was_not_synced_is_gone",
            needs: need(),
            body: cases::a_created_file_whose_directory_was_not_synced_is_gone,
        },
        skip::Test {
            name: "a_created_file_whose_directory_was_synced_stays_with_its_synced_data",
            needs: need(),
            body: cases::a_created_file_whose_directory_was_synced_stays_with_its_synced_data,
        },
        skip::Test {
            name: "unlink_is_undone_until_its_directory_is_synced",
            needs: need(),
            body: cases::unlink_is_undone_until_its_directory_is_synced,
        },
        skip::Test {
            name: "mkdir_is_durable_only_through_its_parent_and_takes_its_contents_with_it",
            needs: need(),
            body: cases::mkdir_is_durable_only_through_its_parent_and_takes_its_contents_with_it,
        },
        skip::Test {
            name: "rmdir_is_undone_until_its_parent_is_synced",
            needs: need(),
            body: cases::rmdir_is_undone_until_its_parent_is_synced,
        },
        skip::Test { name: "link_and_symlink_follow_the_rule", needs: need(), body: cases::link_and_symlink_follow_the_rule },
        skip::Test {
            name: "a_rename_not_dir_synced_is_undone_whole",
            needs: need(),
            body: cases::a_rename_not_dir_synced_is_undone_whole,
        },
        skip::Test { name: "a_rename_dir_synced_is_kept_whole", needs: need(), body: cases::a_rename_dir_synced_is_kept_whole },
        skip::Test {
            name: "a_rename_between_directories_is_kept_by_a_sync_of_either_and_never_shows_twice",
            needs: need(),
            body: cases::a_rename_between_directories_is_kept_by_a_sync_of_either_and_never_shows_twice,
        },
        skip::Test {
            name: "readdir_statfs_and_flock_work_through_the_mount",
            needs: need(),
            body: cases::readdir_statfs_and_flock_work_through_the_mount,
        },
        skip::Test {
            name: "a_cut_after_each_call_keeps_exactly_the_synced_prefix",
            needs: need(),
            body: cases::a_cut_after_each_call_keeps_exactly_the_synced_prefix,
        },
        skip::Test {
            name: "a_cut_after_each_call_keeps_exactly_the_synced_prefix_of_an_existing_file",
            needs: need(),
            body: cases::a_cut_after_each_call_keeps_exactly_the_synced_prefix_of_an_existing_file,
        },
        skip::Test {
            name: "a_seeded_cut_keeps_whole_or_torn_sectors_of_unsynced_writes_and_nothing_else",
            needs: need(),
            body: cases::a_seeded_cut_keeps_whole_or_torn_sectors_of_unsynced_writes_and_nothing_else,
        },
        skip::Test {
            name: "a_seeded_cut_keeps_a_prefix_of_unsynced_directory_operations",
            needs: need(),
            body: cases::a_seeded_cut_keeps_a_prefix_of_unsynced_directory_operations,
        },
    ];
    skip::run_with_ignored(tests, vec![("scenario", cases::scenario as fn())])
}

#[cfg(not(target_os = "linux"))]
fn main() {}
