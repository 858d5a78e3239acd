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
mod harness;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    harness::run(
        &[
            ("data_written_and_not_synced_is_gone", cases::data_written_and_not_synced_is_gone),
            ("a_cut_keeps_each_surviving_file_as_the_same_inode", cases::a_cut_keeps_each_surviving_file_as_the_same_inode),
            ("fsynced_data_stays_and_what_follows_is_gone", cases::fsynced_data_stays_and_what_follows_is_gone),
            ("fdatasync_makes_data_durable_too", cases::fdatasync_makes_data_durable_too),
            (
                "msync_of_a_shared_mapping_is_durable_and_later_stores_are_not",
                cases::msync_of_a_shared_mapping_is_durable_and_later_stores_are_not,
            ),
            (
                "append_ftruncate_fallocate_go_through_and_follow_the_rule",
                cases::append_ftruncate_fallocate_go_through_and_follow_the_rule,
            ),
            (
                "a_created_file_whose_directory_was_not_synced_is_gone",
                cases::a_created_file_whose_directory_was_not_synced_is_gone,
            ),
            (
                "a_created_file_whose_directory_was_synced_stays_with_its_synced_data",
                cases::a_created_file_whose_directory_was_synced_stays_with_its_synced_data,
            ),
            ("unlink_is_undone_until_its_directory_is_synced", cases::unlink_is_undone_until_its_directory_is_synced),
            (
                "mkdir_is_durable_only_through_its_parent_and_takes_its_contents_with_it",
                cases::mkdir_is_durable_only_through_its_parent_and_takes_its_contents_with_it,
            ),
            ("rmdir_is_undone_until_its_parent_is_synced", cases::rmdir_is_undone_until_its_parent_is_synced),
            ("link_and_symlink_follow_the_rule", cases::link_and_symlink_follow_the_rule),
            ("a_rename_not_dir_synced_is_undone_whole", cases::a_rename_not_dir_synced_is_undone_whole),
            ("a_rename_dir_synced_is_kept_whole", cases::a_rename_dir_synced_is_kept_whole),
            (
                "a_rename_between_directories_is_kept_by_a_sync_of_either_and_never_shows_twice",
                cases::a_rename_between_directories_is_kept_by_a_sync_of_either_and_never_shows_twice,
            ),
            ("readdir_statfs_and_flock_work_through_the_mount", cases::readdir_statfs_and_flock_work_through_the_mount),
            (
                "a_cut_after_each_call_keeps_exactly_the_synced_prefix",
                cases::a_cut_after_each_call_keeps_exactly_the_synced_prefix,
            ),
            (
                "a_cut_after_each_call_keeps_exactly_the_synced_prefix_of_an_existing_file",
                cases::a_cut_after_each_call_keeps_exactly_the_synced_prefix_of_an_existing_file,
            ),
            (
                "a_seeded_cut_keeps_whole_or_torn_sectors_of_unsynced_writes_and_nothing_else",
                cases::a_seeded_cut_keeps_whole_or_torn_sectors_of_unsynced_writes_and_nothing_else,
            ),
            (
                "a_seeded_cut_keeps_a_prefix_of_unsynced_directory_operations",
                cases::a_seeded_cut_keeps_a_prefix_of_unsynced_directory_operations,
            ),
        ],
        &[("scenario", cases::scenario)],
    )
}

#[cfg(not(target_os = "linux"))]
fn main() {}
