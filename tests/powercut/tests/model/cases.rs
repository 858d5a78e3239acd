//! Self-tests of the power-cut file system (no wxfs here): each rule at the top of `src/lib.rs`,
//! checked through real system calls. A child process runs a scenario on the mount (`scenario`,
//! below: the ignored test the harness starts); the test then cuts the power and reads what the
//! backing directory holds afterwards.
//!
//! `cargo test -p wxfs-powercut --test model`; needs `/dev/fuse` (a visible skip without it,
//! a failure under CI).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use wxfs_powercut::{child_command, copy_tree, mount_or_skip, CutMode, Mount, Outcome};

/// A template state and where the runs of a test mount it.
struct Fixture {
    base: PathBuf,
    template: PathBuf,
}

impl Fixture {
    /// `files`: relative path -> content; a path ending in `/` is a directory.
    fn new(tag: &str, files: &[(&str, &str)]) -> Fixture {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("powercut-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let template = base.join("template");
        fs::create_dir_all(&template).unwrap();
        for (rel, content) in files {
            let p = template.join(rel);
            if let Some(dir) = rel.strip_suffix('/') {
                fs::create_dir_all(template.join(dir)).unwrap();
            } else {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, content).unwrap();
            }
        }
        Fixture { base, template }
    }

    fn backing(&self) -> PathBuf {
        self.base.join("backing")
    }

    /// A mount of a fresh copy of the template.
    fn mount(&self) -> Option<Mount> {
        let _ = fs::remove_dir_all(self.backing());
        copy_tree(&self.template, &self.backing());
        mount_or_skip(&self.backing(), &self.base.join("mnt"))
    }

    /// Runs `scenario` in a child on a fresh mount, with a cut after `cut_after` calls if given.
    fn run(&self, scenario: &str, cut_after: Option<u64>) -> Option<(Mount, Outcome)> {
        let m = self.mount()?;
        let mut cmd = child_command("scenario");
        cmd.env("POWERCUT_SCENARIO", scenario).env("POWERCUT_DIR", m.path());
        let out = m.run(cmd, cut_after);
        if cut_after.is_none() {
            assert!(out.status.success(), "scenario {scenario} failed: {}\n{}", out.stdout, out.stderr);
        }
        Some((m, out))
    }

    /// Runs `scenario` to its end, then cuts the power (strict).
    fn cut_after_run(&self, scenario: &str) -> Option<Outcome> {
        let (m, out) = self.run(scenario, None)?;
        m.cut(CutMode::Strict);
        Some(out)
    }

    /// A file of the backing directory after the cut (`None`: no such file).
    fn read(&self, rel: &str) -> Option<String> {
        fs::read(self.backing().join(rel)).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.backing().join(rel)).is_ok()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

// ---- the scenarios, run by the child -------------------------------------------------------

fn fsync_dir(dir: &Path) {
    File::open(dir).unwrap().sync_all().unwrap();
}

fn put(path: &Path, content: &str) -> File {
    let mut f = File::create(path).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

/// The child: not a test of its own; the harness runs it with `POWERCUT_SCENARIO` set.
pub fn scenario() {
    let Ok(name) = std::env::var("POWERCUT_SCENARIO") else { return };
    let d = PathBuf::from(std::env::var("POWERCUT_DIR").unwrap());
    let p = |rel: &str| d.join(rel);
    match name.as_str() {
        "write_unsynced" => drop(put(&p("f"), "new data")),
        "write_synced_then_more" | "fdatasync" => {
            let f = put(&p("f"), "synced");
            if name == "fdatasync" {
                f.sync_data().unwrap();
            } else {
                f.sync_all().unwrap();
            }
            f.write_all_at(b"XX", 0).unwrap();
            f.write_all_at(b"tail", 6).unwrap();
        }
        "create_file_synced_only" => put(&p("n"), "n").sync_all().unwrap(),
        "create_dir_synced" => {
            put(&p("n"), "n").sync_all().unwrap();
            drop(put(&p("z"), "z")); // data never synced
            fsync_dir(&d);
        }
        "rename_unsynced" => fs::rename(p("a"), p("b")).unwrap(),
        "rename_synced" => {
            fs::rename(p("a"), p("b")).unwrap();
            fsync_dir(&d);
        }
        "rename_across" => {
            fs::rename(p("d1/x"), p("d2/x")).unwrap();
            fsync_dir(&p("d2"));
            fs::rename(p("d1/y"), p("d2/y")).unwrap();
        }
        "unlink" => {
            fs::remove_file(p("u1")).unwrap();
            fsync_dir(&d);
            fs::remove_file(p("u2")).unwrap();
        }
        "mkdir" => {
            fs::create_dir(p("m2")).unwrap();
            fsync_dir(&d);
            fs::create_dir(p("m1")).unwrap();
            put(&p("m1/f"), "f").sync_all().unwrap();
            fsync_dir(&p("m1"));
            fs::create_dir(p("m3")).unwrap();
        }
        "rmdir" => fs::remove_dir(p("e1")).unwrap(),
        "mmap" => {
            let f = OpenOptions::new().read(true).write(true).open(p("f")).unwrap();
            rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, 8192).unwrap();
            f.sync_all().unwrap();
            // SAFETY: the file is this child's alone for the mapping's life, and its length
            // (8192, just allocated) covers the mapping.
            let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
            map[..4].copy_from_slice(b"AAAA");
            map.flush().unwrap(); // msync(MS_SYNC)
            map[4096..4100].copy_from_slice(b"BBBB");
            // What a read through the file sees, while the mapping is live.
            let mut buf = [0u8; 4];
            f.read_exact_at(&mut buf, 4096).unwrap();
            println!("@@read {}", String::from_utf8_lossy(&buf));
        }
        "append_truncate_fallocate" => {
            let mut f = OpenOptions::new().append(true).open(p("f")).unwrap();
            f.write_all(b"ab").unwrap();
            f.write_all(b"cd").unwrap();
            println!("@@appended {}", fs::read_to_string(p("f")).unwrap());
            f.set_len(3).unwrap();
            use rustix::fs::FallocateFlags as F;
            rustix::fs::fallocate(&f, F::empty(), 0, 10).unwrap();
            rustix::fs::fallocate(&f, F::KEEP_SIZE, 0, 4096).unwrap();
            println!("@@len {}", fs::metadata(p("f")).unwrap().len());
            f.sync_all().unwrap();
            f.write_all(b"unsynced").unwrap();
            let g = OpenOptions::new().write(true).open(p("g")).unwrap();
            rustix::fs::fallocate(&g, F::PUNCH_HOLE | F::KEEP_SIZE, 2, 3).unwrap();
            g.sync_data().unwrap();
        }
        "link_symlink" => {
            fs::hard_link(p("h"), p("h2")).unwrap();
            std::os::unix::fs::symlink("h", p("s")).unwrap();
            fsync_dir(&d);
            fs::hard_link(p("h"), p("h3")).unwrap();
        }
        "readdir_statfs_flock" => {
            drop(put(&p("c"), "c"));
            fs::create_dir(p("e")).unwrap();
            let mut names: Vec<String> =
                fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            println!("@@names {}", names.join(","));
            let v = rustix::fs::statvfs(&d).unwrap();
            println!("@@statfs {}", v.f_blocks > 0 && v.f_bsize > 0);
            let (a, b) = (File::open(p("a")).unwrap(), File::open(p("a")).unwrap());
            use rustix::fs::FlockOperation as L;
            rustix::fs::flock(&a, L::NonBlockingLockExclusive).unwrap();
            println!("@@second lock {:?}", rustix::fs::flock(&b, L::NonBlockingLockExclusive).err());
            rustix::fs::flock(&a, L::Unlock).unwrap();
            println!("@@after unlock {:?}", rustix::fs::flock(&b, L::NonBlockingLockExclusive).err());
        }
        "chunks" => {
            let mut f = File::create(p("log")).unwrap();
            for i in 0..4u8 {
                f.write_all(&[b'a' + i; 1000]).unwrap();
                f.sync_data().unwrap();
                println!("@@ack {i}");
            }
        }
        "unsynced_sectors" => {
            let f = OpenOptions::new().write(true).open(p("f")).unwrap();
            for i in 0..8u64 {
                f.write_all_at(&[b'0' + i as u8; 1024], i * 1024).unwrap();
            }
        }
        "unsynced_creates" => {
            for i in 1..=6 {
                drop(put(&p(&format!("e{i}")), "e"));
            }
        }
        other => panic!("no scenario {other}"),
    }
}

// ---- rule 1: file data ----------------------------------------------------------------------

pub fn data_written_and_not_synced_is_gone() {
    let fx = Fixture::new("write-unsynced", &[("f", "old")]);
    let Some(_) = fx.cut_after_run("write_unsynced") else { return };
    assert_eq!(fx.read("f").as_deref(), Some("old"), "the O_TRUNC and the write were not synced");
}

pub fn a_cut_keeps_each_surviving_file_as_the_same_inode() {
    // Recovery code may tell a file from one that took its name since by its inode number, as
    // after a real power cut it can: the rolled-back file is the same inode, not a copy.
    let fx = Fixture::new("same-inode", &[("f", "old"), ("g", "g")]);
    let Some(m) = fx.mount() else { return };
    let ino = |rel: &str| fs::metadata(fx.backing().join(rel)).unwrap().ino();
    let (f, g) = (ino("f"), ino("g"));
    let mut cmd = child_command("scenario");
    cmd.env("POWERCUT_SCENARIO", "write_unsynced").env("POWERCUT_DIR", m.path());
    assert!(m.run(cmd, None).status.success());
    m.cut(CutMode::Strict);
    assert_eq!(fx.read("f").as_deref(), Some("old"));
    assert_eq!((ino("f"), ino("g")), (f, g), "rolled back (f) and untouched (g) files keep their inodes");
}

pub fn fsynced_data_stays_and_what_follows_is_gone() {
    let fx = Fixture::new("write-synced", &[("f", "old")]);
    let Some(_) = fx.cut_after_run("write_synced_then_more") else { return };
    assert_eq!(fx.read("f").as_deref(), Some("synced"));
}

pub fn fdatasync_makes_data_durable_too() {
    let fx = Fixture::new("fdatasync", &[("f", "old")]);
    let Some(_) = fx.cut_after_run("fdatasync") else { return };
    assert_eq!(fx.read("f").as_deref(), Some("synced"));
}

pub fn msync_of_a_shared_mapping_is_durable_and_later_stores_are_not() {
    let fx = Fixture::new("mmap", &[("f", "")]);
    let Some(out) = fx.cut_after_run("mmap") else { return };
    assert!(out.reports().contains(&"@@read BBBB"), "a read sees the mapping's stores: {:?}", out.reports());
    assert!(
        out.events.iter().any(|e| e.sync && e.what.starts_with("fdatasync f")),
        "msync reached the file system: {:?}",
        out.events
    );
    let bytes = fs::read(fx.backing().join("f")).unwrap();
    assert_eq!(bytes.len(), 8192, "the fallocate was synced");
    assert_eq!(&bytes[..4], b"AAAA", "stores before the msync are durable");
    assert_eq!(&bytes[4096..4100], &[0; 4], "stores after it are not");
}

pub fn append_ftruncate_fallocate_go_through_and_follow_the_rule() {
    let fx = Fixture::new("append", &[("f", ""), ("g", "0123456789")]);
    let Some(out) = fx.cut_after_run("append_truncate_fallocate") else { return };
    let r = out.reports();
    assert!(r.contains(&"@@appended abcd"), "{r:?}");
    assert!(r.contains(&"@@len 10"), "ftruncate to 3, then fallocate to 10 (KEEP_SIZE adds nothing): {r:?}");
    assert_eq!(fx.read("f").as_deref(), Some("abc\0\0\0\0\0\0\0"), "the append after the fsync is gone");
    assert_eq!(fx.read("g").as_deref(), Some("01\0\0\x0056789"), "a punched hole reads as zeros");
}

// ---- rules 2 and 4: names -------------------------------------------------------------------

pub fn a_created_file_whose_directory_was_not_synced_is_gone() {
    let fx = Fixture::new("create-unsynced", &[]);
    let Some(_) = fx.cut_after_run("create_file_synced_only") else { return };
    assert!(!fx.exists("n"), "fsync of the file does not make its name durable");
}

pub fn a_created_file_whose_directory_was_synced_stays_with_its_synced_data() {
    let fx = Fixture::new("create-synced", &[]);
    let Some(_) = fx.cut_after_run("create_dir_synced") else { return };
    assert_eq!(fx.read("n").as_deref(), Some("n"));
    assert_eq!(fx.read("z").as_deref(), Some(""), "a durable name whose data was never synced: the zero-length file");
}

pub fn unlink_is_undone_until_its_directory_is_synced() {
    let fx = Fixture::new("unlink", &[("u1", "1"), ("u2", "2")]);
    let Some(_) = fx.cut_after_run("unlink") else { return };
    assert!(!fx.exists("u1"));
    assert_eq!(fx.read("u2").as_deref(), Some("2"), "the unlink after the directory sync is undone, data and all");
}

pub fn mkdir_is_durable_only_through_its_parent_and_takes_its_contents_with_it() {
    let fx = Fixture::new("mkdir", &[]);
    let Some(_) = fx.cut_after_run("mkdir") else { return };
    assert!(!fx.exists("m1"), "m1 was synced inside, never in its parent");
    assert!(fx.exists("m2") && fs::read_dir(fx.backing().join("m2")).unwrap().count() == 0);
    assert!(!fx.exists("m3"));
}

pub fn rmdir_is_undone_until_its_parent_is_synced() {
    let fx = Fixture::new("rmdir", &[("e1/", "")]);
    let Some(_) = fx.cut_after_run("rmdir") else { return };
    assert!(fs::metadata(fx.backing().join("e1")).unwrap().is_dir());
}

pub fn link_and_symlink_follow_the_rule() {
    let fx = Fixture::new("link", &[("h", "H")]);
    let Some(_) = fx.cut_after_run("link_symlink") else { return };
    let (h, h2) = (fs::metadata(fx.backing().join("h")).unwrap(), fs::metadata(fx.backing().join("h2")).unwrap());
    assert_eq!((h.ino(), h.nlink()), (h2.ino(), 2), "one file under two names");
    assert_eq!(fs::read_link(fx.backing().join("s")).unwrap(), Path::new("h"));
    assert!(!fx.exists("h3"));
}

// ---- rule 3: rename -------------------------------------------------------------------------

pub fn a_rename_not_dir_synced_is_undone_whole() {
    let fx = Fixture::new("rename-unsynced", &[("a", "A"), ("b", "B")]);
    let Some(_) = fx.cut_after_run("rename_unsynced") else { return };
    assert_eq!((fx.read("a").as_deref(), fx.read("b").as_deref()), (Some("A"), Some("B")), "the replaced file is back");
}

pub fn a_rename_dir_synced_is_kept_whole() {
    let fx = Fixture::new("rename-synced", &[("a", "A"), ("b", "B")]);
    let Some(_) = fx.cut_after_run("rename_synced") else { return };
    assert_eq!((fx.read("a"), fx.read("b").as_deref()), (None, Some("A")));
}

pub fn a_rename_between_directories_is_kept_by_a_sync_of_either_and_never_shows_twice() {
    let fx = Fixture::new("rename-across", &[("d1/x", "X"), ("d1/y", "Y"), ("d2/", "")]);
    let Some(_) = fx.cut_after_run("rename_across") else { return };
    assert_eq!(
        (fx.read("d1/x"), fx.read("d2/x").as_deref()),
        (None, Some("X")),
        "d2's sync took d1's side of the rename with it"
    );
    assert_eq!((fx.read("d1/y").as_deref(), fx.read("d2/y")), (Some("Y"), None), "the later rename is undone in both");
}

// ---- what else goes through -----------------------------------------------------------------

pub fn readdir_statfs_and_flock_work_through_the_mount() {
    let fx = Fixture::new("readdir", &[("a", "A")]);
    let Some(m) = fx.mount() else { return };
    let mut cmd = child_command("scenario");
    cmd.env("POWERCUT_SCENARIO", "readdir_statfs_flock").env("POWERCUT_DIR", m.path());
    let out = m.run(cmd, None);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let r = out.reports();
    assert!(r.contains(&"@@names a,c,e"), "{r:?}");
    assert!(r.contains(&"@@statfs true"), "{r:?}");
    assert!(
        r.contains(&"@@second lock Some(Os { code: 11, kind: WouldBlock, message: \"Resource temporarily unavailable\" })"),
        "{r:?}"
    );
    assert!(r.contains(&"@@after unlock None"), "{r:?}");
    m.unmount();
}

// ---- the harness: a cut after every call ----------------------------------------------------

pub fn a_cut_after_each_call_keeps_exactly_the_synced_prefix() {
    let fx = Fixture::new("chunks", &[]);
    let Some((m, full)) = fx.run("chunks", None) else { return };
    m.unmount();
    let syncs = full.events.iter().filter(|e| e.sync).count();
    assert_eq!(syncs, 4, "{:?}", full.events);
    let total = full.events.len() as u64;
    for k in 0..=total {
        let (m, out) = fx.run("chunks", Some(k)).unwrap();
        assert_eq!(out.tripped, k < total, "cut after {k} of {total}");
        assert_eq!(out.killed(), k < total, "cut after {k}: {}", out.status);
        assert_eq!(out.events.len() as u64, k, "every call up to the cut went through, none after");
        if k < total {
            // Every call fails from the cut on: a new process cannot even list the mount.
            let ls = std::process::Command::new("ls").arg(m.path()).output().unwrap();
            assert!(!ls.status.success(), "listing after the cut: {ls:?}");
        }
        m.cut(CutMode::Strict);
        assert!(!fx.exists("log"), "cut after {k}: the created file's name was never made durable");
        let synced = out.events.iter().filter(|e| e.sync).count();
        assert!(out.reports().len() <= synced, "cut after {k}: {:?} acknowledged with {synced} syncs", out.reports());
    }
}

pub fn a_cut_after_each_call_keeps_exactly_the_synced_prefix_of_an_existing_file() {
    let fx = Fixture::new("chunks-existing", &[("log", "")]);
    let Some((m, full)) = fx.run("chunks", None) else { return };
    m.unmount();
    let total = full.events.len() as u64;
    let mut seen = BTreeMap::new();
    for k in 0..=total {
        let (m, out) = fx.run("chunks", Some(k)).unwrap();
        m.cut(CutMode::Strict);
        let synced = out.events.iter().filter(|e| e.sync).count();
        let expect: Vec<u8> = (0..synced as u8).flat_map(|i| [b'a' + i; 1000]).collect();
        let got = fs::read(fx.backing().join("log")).unwrap();
        assert!(
            got == expect,
            "cut after {k} ({:?}): {} bytes survived, {} were synced",
            out.events.last(),
            got.len(),
            expect.len()
        );
        let acked = out.reports().len();
        assert!(acked <= synced, "cut after {k}: chunk {acked} acknowledged, {synced} synced");
        seen.insert(synced, k);
    }
    assert_eq!(seen.len(), 5, "cuts landed before the first sync and after each of the four: {seen:?}");
}

// ---- seeded cuts: what a real disk may keep besides -----------------------------------------

pub fn a_seeded_cut_keeps_whole_or_torn_sectors_of_unsynced_writes_and_nothing_else() {
    let fx = Fixture::new("seeded-data", &[("f", &"o".repeat(8192))]);
    let (mut kept, mut dropped) = (0, 0);
    for seed in 1..=8 {
        let Some((m, _)) = fx.run("unsynced_sectors", None) else { return };
        let report = m.cut(CutMode::Seeded(seed));
        let bytes = fs::read(fx.backing().join("f")).unwrap();
        assert_eq!(bytes.len(), 8192);
        for (s, sector) in bytes.chunks(512).enumerate() {
            let new = b'0' + (s / 2) as u8;
            assert!(
                sector.iter().all(|&b| b == b'o') || sector.iter().all(|&b| b == new),
                "seed {seed}: sector {s} is neither old nor new"
            );
            if sector[0] == new {
                kept += 1;
            } else {
                dropped += 1;
            }
        }
        assert!(report.kept_unsynced <= 8, "{report:?}");
    }
    assert!(kept > 0 && dropped > 0, "8 seeds kept {kept} and dropped {dropped} sectors");
}

pub fn a_seeded_cut_keeps_a_prefix_of_unsynced_directory_operations() {
    let fx = Fixture::new("seeded-names", &[]);
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 1..=8 {
        let Some((m, _)) = fx.run("unsynced_creates", None) else { return };
        m.cut(CutMode::Seeded(seed));
        let present: Vec<bool> = (1..=6).map(|i| fx.exists(&format!("e{i}"))).collect();
        let n = present.iter().take_while(|&&p| p).count();
        assert!(present[n..].iter().all(|&p| !p), "seed {seed}: {present:?} is not a prefix of the creates");
        lengths.insert(n);
    }
    assert!(lengths.len() > 1, "8 seeds all kept the same prefix: {lengths:?}");
}
