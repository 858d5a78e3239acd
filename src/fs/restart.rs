//! The boot a sandbox was last written in, so that open knows when to stop trusting the quota
//! journal (docs/design.md §5).
//!
//! In `process` durability neither the files nor the journal are synced as they change: while the
//! machine stays up they agree (the page cache holds both), and a killed process loses nothing.
//! A power cut loses an arbitrary part of each, so the journal can count bytes the files lost, or
//! miss bytes they kept. The sandbox's `quota.boot` names the boot (`crate::boot::id`) in which
//! it was last opened in `process` durability, written and synced before anything else of that
//! boot. An open that finds another boot named, or none, recounts the usage from the files. In
//! `power` durability everything is synced before it is acknowledged, so the journal is exact; it
//! recounts only when a `process` session of an earlier boot left its stamp, and then removes it.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The stamp's file name in the sandbox directory.
pub(crate) const STAMP: &str = "quota.boot";

/// What open must do about the journal, given the stamp it found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Restart {
    /// Why the journal cannot be trusted (open recounts from the files), if it cannot.
    pub recount: Option<&'static str>,
    stamp: Option<String>,
    boot: Option<String>,
    power: bool,
}

/// Reads the stamp of the sandbox in `dir` and decides.
pub(crate) fn check(dir: &Path, boot: Option<String>, power: bool) -> Restart {
    let stamp = fs::read_to_string(dir.join(STAMP)).ok().map(|s| s.trim().to_string());
    let recount = match (&stamp, &boot, power) {
        (Some(s), Some(b), _) if s == b => None,
        (None, _, true) => None,
        (Some(_), Some(_), _) => Some("the machine restarted since the sandbox was last written in process durability"),
        (Some(_), None, true) | (_, None, false) => Some("the system gives no boot identity to tell a restart by"),
        (None, Some(_), false) => Some("no record of the boot the sandbox was last written in"),
    };
    Restart { recount, stamp, boot, power }
}

impl Restart {
    /// After open has settled the usage: in `process` durability, name this boot (synced, file
    /// and directory, before the session writes anything); in `power` durability, remove a stamp
    /// an earlier boot left. Best effort: a stamp that cannot be written makes the next open
    /// recount, which is safe.
    pub(crate) fn record(&self, dir: &Path) {
        if self.power {
            if self.stamp.is_some() && self.recount.is_some() && fs::remove_file(dir.join(STAMP)).is_ok() {
                let _ = fs::File::open(dir).and_then(|d| d.sync_all());
            }
            return;
        }
        let Some(boot) = &self.boot else { return };
        if self.stamp.as_ref() == Some(boot) {
            return;
        }
        let _ = write_synced(dir, boot);
    }
}

fn write_synced(dir: &Path, boot: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{STAMP}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(boot.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(STAMP))?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!("wxfs-restart-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn stamp(dir: &Path) -> Option<String> {
        fs::read_to_string(dir.join(STAMP)).ok()
    }

    #[test]
    fn process_durability_trusts_the_journal_only_within_the_boot_it_stamped() {
        let d = Dir::new("process");
        let first = check(d.path(), Some("boot-a".into()), false);
        assert_eq!(first.recount, Some("no record of the boot the sandbox was last written in"));
        first.record(d.path());
        assert_eq!(stamp(d.path()).as_deref(), Some("boot-a"));
        assert_eq!(check(d.path(), Some("boot-a".into()), false).recount, None);
        let after = check(d.path(), Some("boot-b".into()), false);
        assert_eq!(after.recount, Some("the machine restarted since the sandbox was last written in process durability"));
        after.record(d.path());
        assert_eq!(stamp(d.path()).as_deref(), Some("boot-b"));
        assert!(!d.path().join(format!("{STAMP}.tmp")).exists());
        assert_eq!(check(d.path(), None, false).recount, Some("the system gives no boot identity to tell a restart by"));
    }

    #[test]
    fn power_durability_recounts_once_after_a_process_session_of_an_earlier_boot() {
        let d = Dir::new("power");
        assert_eq!(check(d.path(), Some("boot-a".into()), true).recount, None, "no stamp: nothing unsynced");
        check(d.path(), Some("boot-a".into()), false).record(d.path());
        let same = check(d.path(), Some("boot-a".into()), true);
        assert_eq!(same.recount, None);
        same.record(d.path());
        assert_eq!(stamp(d.path()).as_deref(), Some("boot-a"), "kept: the process session's writes may still be unsynced");
        let later = check(d.path(), Some("boot-b".into()), true);
        assert!(later.recount.is_some());
        later.record(d.path());
        assert_eq!(stamp(d.path()), None);
        assert_eq!(check(d.path(), Some("boot-c".into()), true).recount, None);
    }
}
