//! A kill at every point of the multi-step mutations (`crate::crash`), and then at every point of
//! the repairs the next open makes: the open after that finds the operation done or not done,
//! nothing torn, staging empty, and the journal's usage (bytes, temp bytes, entries) equal to
//! what is on disk.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{scan, Durability, FileSystem, TempSource};
use crate::crash;
use crate::quota::Limits;
use crate::sandbox::{Protocol, Sandbox};

fn fresh(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!("wxfs-crash-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn open(root: &Path) -> FileSystem {
    let sb = Sandbox::open(root, b"user", b"app", None).unwrap();
    FileSystem::new(Arc::new(sb), Protocol::Wxfile, Limits::default(), Durability::Process).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// What can be seen: usr's files (bytes) and directories (`None`) by path; the bytes of the
/// temp and of the saved files, whose names are random.
#[derive(PartialEq, Eq)]
struct Seen {
    usr: BTreeMap<String, Option<Vec<u8>>>,
    tmp: Vec<Vec<u8>>,
    store: Vec<Vec<u8>>,
}

/// A file as its length and first byte.
fn brief(b: &[u8]) -> String {
    format!("{}b{}", b.len(), b.first().map(|c| format!(" {:?}", *c as char)).unwrap_or_default())
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let usr: Vec<_> = self
            .usr
            .iter()
            .map(|(p, b)| format!("{p}{}", b.as_ref().map(|b| format!("={}", brief(b))).unwrap_or("/".into())))
            .collect();
        let list = |v: &[Vec<u8>]| v.iter().map(|b| brief(b)).collect::<Vec<_>>();
        write!(f, "usr {usr:?} tmp {:?} store {:?}", list(&self.tmp), list(&self.store))
    }
}

fn seen(fs: &FileSystem) -> Seen {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                out.insert(name.clone(), None);
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, Some(std::fs::read(e.path()).unwrap()));
            }
        }
    }
    let base = fs.sb.dir();
    let mut usr = BTreeMap::new();
    walk(&base.join("usr"), "", &mut usr);
    let contents = |area: &str| {
        let mut m = BTreeMap::new();
        walk(&base.join(area), "", &mut m);
        let mut v: Vec<Vec<u8>> = m.into_values().flatten().collect();
        v.sort();
        v
    };
    Seen { usr, tmp: contents("tmp"), store: contents("store") }
}

/// The journal's usage is what is on disk, and nothing is left in staging.
fn exact(fs: &FileSystem, what: &str) {
    assert_eq!(fs.usage(), scan(&fs.sb).unwrap(), "{what}: journal usage != what is on disk");
    let left: Vec<_> = fs.sb.staging().unwrap().entries().unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{what}: staging keeps {left:?}");
}

/// Run `f`; true if a kill (the armed crash point) stopped it.
fn killed_in<T>(f: impl FnOnce() -> T) -> (bool, Option<T>) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => (false, Some(v)),
        Err(p) if p.is::<crash::Killed>() => (true, None),
        Err(p) => resume_unwind(p),
    }
}

/// Kill `op` at each of its points in turn, and each such crash's recovery at each of its points;
/// every outcome must be `op` done or not done, with the journal exact. `setup` runs (and its
/// sandbox is closed and reopened) before `op`; what it returns is passed to `op`. Returns the
/// number of kills made.
fn every_kill<C>(tag: &str, setup: impl Fn(&FileSystem) -> C, op: impl Fn(&FileSystem, &C)) -> u32 {
    // The outcome without a kill.
    let root = fresh(tag);
    let fs = open(&root);
    let ctx = setup(&fs);
    drop(fs);
    let fs = open(&root);
    let before = seen(&fs);
    op(&fs, &ctx);
    let after = seen(&fs);
    assert_ne!(before, after, "{tag}: the operation changes something");
    exact(&fs, tag);
    drop(fs);
    std::fs::remove_dir_all(&root).unwrap();
    let mut kills = 0;
    for n in 0.. {
        let root = fresh(tag);
        let fs = open(&root);
        let ctx = setup(&fs);
        drop(fs);
        let fs = open(&root);
        crash::arm(n);
        let (hit, _) = killed_in(|| op(&fs, &ctx));
        drop(fs); // while the kill is flagged: nothing more reaches the journal
        crash::disarm();
        if !hit {
            std::fs::remove_dir_all(&root).unwrap();
            break;
        }
        // Open the crashed state, killing that open at each of its points in turn.
        for m in 0.. {
            let again = fresh(tag);
            copy_tree(&root, &again);
            crash::arm(m);
            let (hit_open, fs) = killed_in(|| open(&again));
            drop(fs);
            crash::disarm();
            kills += 1 + hit_open as u32;
            let fs = open(&again);
            let what = format!("{tag}: killed at point {n}, then its recovery at point {}", if hit_open { m as i64 } else { -1 });
            exact(&fs, &what);
            let now = seen(&fs);
            assert!(now == before || now == after, "{what}: torn\n  seen:   {now:?}\n  before: {before:?}\n  after:  {after:?}");
            drop(fs);
            std::fs::remove_dir_all(&again).unwrap();
            if !hit_open {
                break;
            }
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
    assert!(kills > 0, "{tag}: no crash point reached");
    kills
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const U: &str = "wxfile://usr";

fn bytes(c: u8, n: usize) -> Vec<u8> {
    vec![c; n]
}

#[test]
fn unzip_over_files_and_into_new_directories() {
    let zip = zip_of(&[("u0", &bytes(b'n', 2775)), ("sub/u1", &bytes(b'm', 1000)), ("u2", b""), ("sub/deep/u3", b"x")]);
    // Into an existing directory, replacing a file and keeping another.
    every_kill(
        "unzip-over",
        |fs| {
            fs.create_temp(TempSource::Bytes(&zip), Some("zip")).unwrap();
            fs.mkdir(&format!("{U}/d0/sub"), true).unwrap();
            fs.write_file(&format!("{U}/d0/u0"), &bytes(b'o', 4000)).unwrap();
            fs.write_file(&format!("{U}/d0/sub/u1"), &bytes(b'p', 10)).unwrap();
            fs.write_file(&format!("{U}/d0/keep"), b"keep").unwrap();
            fs.write_file(&format!("{U}/z.zip"), &zip).unwrap();
        },
        |fs, _| fs.unzip(&format!("{U}/z.zip"), &format!("{U}/d0")).unwrap(),
    );
    // Into a target whose ancestors are missing.
    every_kill(
        "unzip-new",
        |fs| fs.write_file(&format!("{U}/z.zip"), &zip).unwrap(),
        |fs, _| fs.unzip(&format!("{U}/z.zip"), &format!("{U}/e0/x/y")).unwrap(),
    );
}

#[test]
fn rename_of_a_directory_and_of_a_file() {
    let tree = |fs: &FileSystem| {
        fs.mkdir(&format!("{U}/d0/d1"), true).unwrap();
        fs.write_file(&format!("{U}/d0/f"), &bytes(b'a', 300)).unwrap();
        fs.write_file(&format!("{U}/d0/d1/g"), &bytes(b'b', 700)).unwrap();
        fs.mkdir(&format!("{U}/e0"), true).unwrap();
        fs.write_file(&format!("{U}/h"), &bytes(b'c', 50)).unwrap();
    };
    every_kill("rename-dir", tree, |fs, _| fs.rename(&format!("{U}/d0"), &format!("{U}/e0")).unwrap());
    every_kill("rename-file", tree, |fs, _| fs.rename(&format!("{U}/d0/d1/g"), &format!("{U}/h")).unwrap());
}

#[test]
fn copy_save_write_and_append() {
    let files = |fs: &FileSystem| {
        fs.write_file(&format!("{U}/a"), &bytes(b'a', 5000)).unwrap();
        fs.write_file(&format!("{U}/b"), &bytes(b'b', 20)).unwrap();
        fs.create_temp(TempSource::Bytes(&bytes(b't', 900)), None).unwrap()
    };
    every_kill("copy", files, |fs, _| fs.copy_file(&format!("{U}/a"), &format!("{U}/b")).unwrap());
    every_kill("save", files, |fs, temp| drop(fs.save_file(temp, Some(&format!("{U}/b"))).unwrap()));
    every_kill("save-store", files, |fs, temp| drop(fs.save_file(temp, None).unwrap()));
    every_kill("write", files, |fs, _| fs.write_file(&format!("{U}/b"), &bytes(b'w', 3000)).unwrap());
    every_kill("append", files, |fs, _| fs.append_file(&format!("{U}/b"), &bytes(b'+', 3000)).unwrap());
}

#[test]
fn rmdir_recursive_and_mkdir_recursive() {
    every_kill(
        "rmdir",
        |fs| {
            fs.mkdir(&format!("{U}/d0/d1/d2"), true).unwrap();
            fs.write_file(&format!("{U}/d0/f"), &bytes(b'a', 300)).unwrap();
            fs.write_file(&format!("{U}/d0/d1/g"), &bytes(b'b', 700)).unwrap();
            fs.write_file(&format!("{U}/d0/d1/d2/h"), &bytes(b'c', 70)).unwrap();
        },
        |fs, _| fs.rmdir(&format!("{U}/d0"), true).unwrap(),
    );
    every_kill(
        "mkdir",
        |fs| fs.mkdir(&format!("{U}/d0"), false).unwrap(),
        |fs, _| fs.mkdir(&format!("{U}/d0/a/b/c"), true).unwrap(),
    );
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One random operation of the kill test's mix (tests/kill.rs), its failures ignored.
fn random_op(fs: &FileSystem, r: &mut Rng, fds: &mut Vec<String>) {
    const NAMES: [&str; 4] = ["f0", "f1", "d0/f2", "d0/d1/f3"];
    const DIRS: [&str; 3] = ["d0", "d0/d1", "e0"];
    let name = |r: &mut Rng| format!("{U}/{}", NAMES[r.below(4) as usize]);
    let dir = |r: &mut Rng| format!("{U}/{}", DIRS[r.below(3) as usize]);
    // One in eight is empty: writes of nothing are where sizes are easiest to get wrong.
    let data = |r: &mut Rng, max: u64| {
        let n = if r.below(8) == 0 { 0 } else { r.below(max) as usize };
        bytes(b'a' + r.below(26) as u8, n)
    };
    match r.below(14) {
        0 => drop(fs.write_file(&name(r), &data(r, 20000))),
        1 => drop(fs.append_file(&name(r), &data(r, 4000))),
        2 => drop(fs.copy_file(&name(r), &name(r))),
        3 => {
            let t = fs.create_temp(TempSource::Bytes(&data(r, 9000)), None).unwrap();
            drop(fs.save_file(&t, Some(&name(r))));
        }
        4 if r.below(2) == 0 => drop(fs.rename(&name(r), &name(r))),
        4 => drop(fs.rename(&dir(r), &dir(r))),
        5 => drop(fs.unlink(&name(r))),
        6 => drop(fs.mkdir(&dir(r), true)),
        7 => drop(fs.rmdir(&dir(r), true)),
        8 => {
            let n = 1 + r.below(4) as usize;
            let entries: Vec<(String, Vec<u8>)> =
                (0..n).map(|i| (if i % 2 == 0 { format!("u{i}") } else { format!("sub/u{i}") }, data(r, 5000))).collect();
            let list: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
            let t = fs.create_temp(TempSource::Bytes(&zip_of(&list)), Some("zip")).unwrap();
            drop(fs.unzip(&t, &dir(r)));
        }
        9 if fds.len() < 6 => {
            if let Ok(fd) = fs.open_fd(&name(r), ["a", "r+", "w"][r.below(3) as usize]) {
                fds.push(fd);
            }
        }
        10 | 11 if !fds.is_empty() => {
            let fd = &fds[r.below(fds.len() as u64) as usize];
            let (d, at) = (data(r, 6000), r.below(3000));
            drop(fs.write_fd(fd, &d, Some(at)));
        }
        12 if !fds.is_empty() => drop(fs.ftruncate(&fds[r.below(fds.len() as u64) as usize], r.below(8000))),
        13 if !fds.is_empty() => {
            let fd = fds.remove(r.below(fds.len() as u64) as usize);
            drop(fs.close_fd(&fd));
        }
        _ => {}
    }
}

/// The kill test's mix in one process, killed at a random crash point, many times over on one
/// sandbox: after each kill the next open finds the journal exact. WXFS_CRASH_ROUNDS and
/// WXFS_CRASH_SEED make longer or other runs.
#[test]
fn random_kills_leave_the_journal_exact() {
    let rounds: u64 = std::env::var("WXFS_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let root = fresh("random");
    let seed: u64 = std::env::var("WXFS_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut r = Rng(seed | 1);
    for round in 0..rounds {
        let fs = open(&root);
        exact(&fs, &format!("round {round}"));
        let mut fds = Vec::new();
        crash::arm(r.below(400) as u32);
        let (_, _) = killed_in(|| loop {
            random_op(&fs, &mut r, &mut fds)
        });
        drop(fs);
        crash::disarm();
    }
    let _ = std::fs::remove_dir_all(root);
}

/// A write of no bytes changes nothing, wherever it is put (pwrite(2) of 0 bytes): the file keeps
/// its length and the quota counts what is on disk, before and after a restart.
#[test]
fn an_empty_write_past_the_end_changes_nothing() {
    let root = fresh("empty-write");
    let fs = open(&root);
    for flag in ["r+", "w", "a"] {
        fs.write_file(&format!("{U}/f"), &bytes(b'a', 100)).unwrap();
        let fd = fs.open_fd(&format!("{U}/f"), flag).unwrap();
        assert_eq!(fs.write_fd(&fd, b"", Some(2775)).unwrap(), 0);
        assert_eq!(fs.write_fd(&fd, b"", None).unwrap(), 0);
        let len = if flag == "w" { 0 } else { 100 };
        assert_eq!(fs.fstat(&fd).unwrap().size, len, "{flag}");
        assert_eq!(fs.usage().user, len, "{flag}");
        exact(&fs, flag);
        fs.close_fd(&fd).unwrap();
    }
    drop(fs);
    let fs = open(&root);
    exact(&fs, "after a restart");
    assert_eq!(fs.usage().user, 100);
    drop(fs);
    std::fs::remove_dir_all(root).unwrap();
}
