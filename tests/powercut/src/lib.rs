//! A file system for tests that forgets, on a power cut, what no sync made durable; and the
//! harness that cuts a workload at any one of its calls.
//!
//! A kill leaves the page cache to the kernel, which writes it out later: nothing is lost. A power
//! cut (a dead battery, a kernel panic) loses every byte and every directory entry that no
//! `fsync`/`fdatasync` made durable. This crate mounts a FUSE pass-through over a backing
//! directory, records what each sync made durable, and on a cut rolls the backing directory back
//! to exactly that. It is a dev-only package of the workspace: library users never build it.
//!
//! # The model (ext4's ordered mode, as LazyFS and ALICE model it)
//!
//! The durable state starts as the backing directory at mount: all of it. Then:
//! 1. **File data** (the bytes and the length) is durable as it was at the last `fsync` or
//!    `fdatasync` of that file. `msync(MS_SYNC)` of a shared mapping reaches the file system as
//!    the same `fsync` (after the mapped pages are written back), so it counts the same. A write,
//!    `ftruncate`, `fallocate` or `O_TRUNC` since then is lost by a cut.
//! 2. **A directory entry** (a create, `mkdir`, `symlink`, `link`, `unlink`, `rmdir`, rename) is
//!    durable once its directory has been `fsync`ed. An `fsync` of the file does not make its
//!    name durable, and a directory whose own entry is not durable is gone with all it holds,
//!    even what was synced inside it.
//! 3. **`rename` is atomic, not durable**: until a directory sync, a cut undoes it whole (the old
//!    name back, the replaced file back); after one, it is kept whole. A rename between two
//!    directories is one journal transaction, as on ext4: a sync of either directory makes it
//!    durable in both, together with the changes of the other directory made before it (each
//!    directory's durable entries are always a state it was in), so a cut never shows the file
//!    under both names or under neither.
//! 4. **A file's content and its name are independent**: a name made durable by a directory sync
//!    whose file's data was never synced shows that file as it was at its last sync (empty if it
//!    never was): the zero-length file after a power cut.
//! 5. Attributes other than the length (mode, owner, times) are not rolled back: a file keeps
//!    the ones it has at the cut. Extended attributes, device nodes and `O_TMPFILE` are refused.
//! 6. A file that survives is the same inode (its number unchanged), as on a real disk, so
//!    recovery that tells files apart by inode number sees what it would see after a real cut;
//!    only a file whose last name is gone before the cut (an unlink or a replacing rename that
//!    the cut undoes) comes back as a copy under a new number.
//!
//! A strict cut ([`CutMode::Strict`]) keeps only what the rules make durable. A seeded cut
//! ([`CutMode::Seeded`]) keeps more, as a real disk may: a random subset of each file's unsynced
//! writes (in their order, some of them torn at a 512-byte sector boundary) and a random prefix
//! of the directory operations not yet synced (ext4 commits its metadata journal in order, every
//! few seconds, whether asked to or not).
//!
//! # The harness
//!
//! [`mount`] serves the file system from a thread of the calling (test) process. Every process
//! that touches the mount is a child ([`Mount::run`]): a page fault on a shared mapping of a FUSE
//! file holds the faulting process's memory map lock while the kernel waits for the server, and a
//! server in that same process that allocates can need that lock; so the serving process never
//! touches the mount itself. The workload child runs in a process group of its own. Its calls are
//! counted as events ([`Event`]): each mutating call and each sync point is one. "Cut after `k`"
//! lets events `1..=k` through; event `k + 1` kills the child's process group before it is
//! answered (so no thread of it ever sees an error, as with a real power cut) and from then on
//! every call fails with `EIO` and nothing more reaches the backing directory. [`Mount::cut`] then
//! unmounts and rolls the backing directory back to the durable state; a new [`mount`] of it is
//! the machine after the reboot, on which a check child runs.
//!
//! Where `/dev/fuse` is missing or the mount is refused, [`probe`] says why, and the tests' harness
//! reports every test as skipped (`ignored` in cargo's summary, with a `skipped: <why>` line); when
//! `CI` is set they fail instead. The number of cut
//! points a test enumerates is bounded by [`cut_points`]: `WXFS_POWERCUT_CUTS` (a number, or
//! `all`) raises it.

#![cfg(target_os = "linux")]

mod fs;
mod harness;
mod model;

pub use harness::{child_command, copy_tree, cut_points, mount, mount_or_skip, probe, Mount, Outcome, Unavailable};
pub use model::{CutMode, CutReport, Event};
