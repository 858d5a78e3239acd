//! the promises a hostile mini-program (and a host that dies) must not break. One test
//! per class of attack, each written from the class rather than the one input that showed it:
//! journal entries follow the file an fd refers to (1), usage counts what open fds hold (2), a
//! mapping stays readable (3), deep trees (4), unzip counts each target once and is all or
//! nothing (5), fd exhaustion (8), a full disk (9), entries (10).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::bridge::{b64, call, ok, write_bytes_args};
use common::zip::zip_of;
use serde_json::{json, Value};
use wxfs::{Config, Session};

/// The stated limits of docs/design.md §4 (docs/design.md): tree depth and a path's length in its area.
const MAX_DEPTH: usize = 64;

fn usr(rel: &str) -> String {
    format!("wxfile://usr/{rel}")
}

fn sized_config(root: &Path, user_files: u64) -> Config {
    let mut c = Config::new(root, "u", "wx1");
    c.limits.user_files = user_files;
    c
}

/// The files of usr, by relative path, as bytes on disk.
fn usr_files(s: &Session) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let base = s.sandbox.dir().join("usr");
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(&base).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Exactly `limit - usage` more bytes fit in usr, and not one more: the quota figure is exact.
fn assert_room_is_exact(s: &Session, limit: u64) {
    let used = wxfs::fs::scan(&s.sandbox).unwrap().user;
    assert_eq!(s.fs.usage().user, used, "journal usage != bytes on disk");
    let room = (limit - used) as usize;
    let (c, r) = call(s, "writeFileSync", json!({"filePath": usr("room"), "data": "r".repeat(room + 1)}));
    assert_eq!(c, 1300202, "one byte past the quota was accepted: {r}");
    ok(s, "writeFileSync", json!({"filePath": usr("room"), "data": "r".repeat(room)}));
    ok(s, "unlinkSync", json!({"filePath": usr("room")}));
}

// ---- class 1: journal entries follow the file an fd refers to ------------------------------

/// What happens to `usr/log.txt` (or its directory) while an append fd on it is open.
const FD_VARIANTS: &[&str] =
    &["writeFile", "copyFile", "renameOver", "saveFileOver", "unlink", "rename", "renameDir", "rmdirParent"];

/// The child: opens an append fd, changes the path under it, appends through the fd, and dies
/// with the sandbox open (the last mutation's commit is still held, so recovery settles it).
#[test]
#[ignore]
fn fd_path_child() {
    let Ok(root) = std::env::var("WXFS_HARDEN_ROOT") else { return };
    let variant = std::env::var("WXFS_HARDEN_VARIANT").unwrap();
    let s = Session::open(sized_config(Path::new(&root), 10_000)).unwrap();
    ok(&s, "mkdirSync", json!({"dirPath": usr("d")}));
    ok(&s, "writeFileSync", json!({"filePath": usr("d/log.txt"), "data": "a".repeat(100)}));
    let fd = ok(&s, "openSync", json!({"filePath": usr("d/log.txt"), "flag": "a"}))["fd"].clone();
    let temp = ok(&s, "host.createTempFile", json!({"data": "b".repeat(150)}))["tempFilePath"].clone();
    match variant.as_str() {
        "writeFile" => drop(ok(&s, "writeFileSync", json!({"filePath": usr("d/log.txt"), "data": "b".repeat(150)}))),
        "copyFile" => {
            ok(&s, "writeFileSync", json!({"filePath": usr("src"), "data": "b".repeat(150)}));
            ok(&s, "copyFileSync", json!({"srcPath": usr("src"), "destPath": usr("d/log.txt")}));
        }
        "renameOver" => {
            ok(&s, "writeFileSync", json!({"filePath": usr("other"), "data": "b".repeat(150)}));
            ok(&s, "renameSync", json!({"oldPath": usr("other"), "newPath": usr("d/log.txt")}));
        }
        "saveFileOver" => drop(ok(&s, "saveFileSync", json!({"tempFilePath": temp, "filePath": usr("d/log.txt")}))),
        "unlink" => drop(ok(&s, "unlinkSync", json!({"filePath": usr("d/log.txt")}))),
        "rename" => drop(ok(&s, "renameSync", json!({"oldPath": usr("d/log.txt"), "newPath": usr("moved.txt")}))),
        "renameDir" => drop(ok(&s, "renameSync", json!({"oldPath": usr("d"), "newPath": usr("e")}))),
        "rmdirParent" => drop(ok(&s, "rmdirSync", json!({"dirPath": usr("d"), "recursive": true}))),
        v => panic!("unknown variant {v}"),
    }
    ok(&s, "writeSync", json!({"fd": fd, "data": "c".repeat(100)}));
    println!("@@acknowledged");
    std::process::exit(0); // dies with the sandbox open, as a kill leaves it
}

#[test]
fn journal_and_rollback_follow_the_file_an_fd_refers_to() {
    for variant in FD_VARIANTS {
        let root = common::fresh_dir("fd-path");
        let (status, out) = common::run_child(
            "fd_path_child",
            &[("WXFS_HARDEN_ROOT", root.display().to_string()), ("WXFS_HARDEN_VARIANT", variant.to_string())],
        );
        assert!(status.success() && out.contains("@@acknowledged"), "{variant}: child failed: {out}");
        let s = Session::open(sized_config(&root, 10_000)).unwrap();
        let b150 = "b".repeat(150).into_bytes();
        let appended = ["a".repeat(100), "c".repeat(100)].concat().into_bytes();
        let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        match *variant {
            "writeFile" | "renameOver" | "saveFileOver" => drop(want.insert("d/log.txt".into(), b150)),
            "copyFile" => {
                want.insert("d/log.txt".into(), b150.clone());
                want.insert("src".into(), b150);
            }
            "unlink" | "rmdirParent" => {}
            "rename" => drop(want.insert("moved.txt".into(), appended)),
            "renameDir" => drop(want.insert("e/log.txt".into(), appended)),
            _ => unreachable!(),
        }
        assert_eq!(usr_files(&s), want, "{variant}: files after the restart");
        assert_room_is_exact(&s, 10_000);
        drop(s);
        let _ = std::fs::remove_dir_all(root);
    }
}

// ---- class 2: usage counts what open fds still hold ------------------------------------------

/// Bytes of files under `dir` that this process holds open after they were unlinked.
fn orphan_bytes(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        let t = target.to_string_lossy();
        if t.starts_with(&*dir.to_string_lossy()) && t.ends_with(" (deleted)") {
            if let Ok(m) = std::fs::metadata(e.path()) {
                use std::os::unix::fs::MetadataExt;
                if m.is_file() && seen.insert(m.ino()) {
                    total += m.len();
                }
            }
        }
    }
    total
}

#[test]
fn usage_counts_the_files_open_fds_still_hold() {
    const QUOTA: u64 = 1 << 20;
    const CHUNK: usize = 200 * 1024;
    let root = common::fresh_dir("orphans");
    let s = Session::open(sized_config(&root, QUOTA)).unwrap();
    let dir = s.sandbox.dir().to_path_buf();
    let mut rng = common::Rng(0x5eed_0002);
    let mut fds: Vec<Value> = Vec::new();
    let names = ["a", "b", "c"];
    for step in 0..400 {
        let name = names[rng.below(3) as usize];
        let data = || "x".repeat(CHUNK);
        let (api, args) = match rng.below(9) {
            0 | 1 => ("writeFileSync", json!({"filePath": usr(name), "data": data()})),
            2 => ("copyFileSync", json!({"srcPath": usr(names[rng.below(3) as usize]), "destPath": usr(name)})),
            3 => ("renameSync", json!({"oldPath": usr(names[rng.below(3) as usize]), "newPath": usr(name)})),
            4 => ("unlinkSync", json!({"filePath": usr(name)})),
            5 => {
                let (c, r) = call(&s, "openSync", json!({"filePath": usr(name), "flag": "r+"}));
                if c == 0 {
                    fds.push(r["fd"].clone());
                }
                continue;
            }
            6 if !fds.is_empty() => {
                let fd = fds[rng.below(fds.len() as u64) as usize].clone();
                ("ftruncateSync", json!({"fd": fd, "length": rng.below(2 * CHUNK as u64)}))
            }
            7 if !fds.is_empty() => {
                let fd = fds[rng.below(fds.len() as u64) as usize].clone();
                ("writeSync", json!({"fd": fd, "data": data(), "position": rng.below(CHUNK as u64)}))
            }
            8 if !fds.is_empty() => {
                let fd = fds.swap_remove(rng.below(fds.len() as u64) as usize);
                ("closeSync", json!({"fd": fd}))
            }
            _ => continue,
        };
        let _ = call(&s, api, args);
        let reachable = wxfs::fs::scan(&s.sandbox).unwrap().user;
        let held = orphan_bytes(&dir);
        assert!(
            reachable + held <= QUOTA,
            "step {step} ({api}): {reachable} reachable + {held} held by fds = {} bytes on disk under a {QUOTA}-byte quota",
            reachable + held
        );
    }
    for fd in fds.drain(..) {
        ok(&s, "closeSync", json!({"fd": fd}));
    }
    assert_room_is_exact(&s, QUOTA);
    drop(s);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
#[ignore]
fn orphan_write_child() {
    let Ok(root) = std::env::var("WXFS_HARDEN_ROOT") else { return };
    let s = Session::open(sized_config(Path::new(&root), 1 << 20)).unwrap();
    ok(&s, "writeFileSync", json!({"filePath": usr("keep"), "data": "k".repeat(1000)}));
    ok(&s, "writeFileSync", json!({"filePath": usr("doomed"), "data": ""}));
    let fd = ok(&s, "openSync", json!({"filePath": usr("doomed"), "flag": "r+"}))["fd"].clone();
    ok(&s, "unlinkSync", json!({"filePath": usr("doomed")}));
    for _ in 0..4 {
        ok(&s, "writeSync", json!({"fd": fd, "data": "z".repeat(100_000)}));
    }
    // A later mutation: the writes above are no longer the last thing recovery settles.
    ok(&s, "writeFileSync", json!({"filePath": usr("after"), "data": "a"}));
    println!("@@acknowledged");
    std::process::exit(0);
}

#[test]
fn bytes_written_to_an_unlinked_file_do_not_survive_a_restart() {
    let root = common::fresh_dir("orphan-write");
    let (status, out) = common::run_child("orphan_write_child", &[("WXFS_HARDEN_ROOT", root.display().to_string())]);
    assert!(status.success() && out.contains("@@acknowledged"), "child failed: {out}");
    let s = Session::open(sized_config(&root, 1 << 20)).unwrap();
    assert_eq!(s.fs.usage().user, 1001, "usage after the restart must be what is on disk");
    assert_room_is_exact(&s, 1 << 20);
    let _ = std::fs::remove_dir_all(root);
}

// ---- class 3: a mapping handed to the host stays readable ------------------------------------

/// The child plays a host holding a mapped read while the mini-program moves the file into usr
/// and cuts it in every way the API allows; a SIGBUS kills the child, so the parent sees it.
#[test]
#[ignore]
fn mapping_child() {
    let Ok(root) = std::env::var("WXFS_HARDEN_ROOT") else { return };
    let how = std::env::var("WXFS_HARDEN_VARIANT").unwrap();
    let config = json!({"root": root, "userId": "u", "appId": "wx1"}).to_string();
    let mut h = 0u64;
    assert_eq!(unsafe { wxfs::ffi::wxfs_open(config.as_ptr().cast(), config.len(), &mut h) }, 0);
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = Session::open(Config::new(&root, "u", "wx1")).unwrap(); // the same open sandbox, shared
    let temp = ok(&s, "host.createTempFile", json!({"__nativeBuffers__": [{"key": "data", "base64": b64(&data)}]}))
        ["tempFilePath"]
        .as_str()
        .unwrap()
        .to_string();
    let mut out = wxfs::ffi::wxfs_bytes { data: std::ptr::null_mut(), len: 0 };
    assert_eq!(unsafe { wxfs::ffi::wxfs_read_file(h, temp.as_ptr().cast(), temp.len(), &mut out) }, 0);
    ok(&s, "saveFileSync", json!({"tempFilePath": temp, "filePath": usr("moved.bin")}));
    match how.as_str() {
        "truncate" => drop(ok(&s, "truncateSync", json!({"filePath": usr("moved.bin"), "length": 0}))),
        "ftruncate" => {
            let fd = ok(&s, "openSync", json!({"filePath": usr("moved.bin"), "flag": "r+"}))["fd"].clone();
            ok(&s, "ftruncateSync", json!({"fd": fd, "length": 0}));
        }
        "openTruncate" => drop(ok(&s, "openSync", json!({"filePath": usr("moved.bin"), "flag": "w"}))),
        v => panic!("unknown variant {v}"),
    }
    let mapped = unsafe { std::slice::from_raw_parts(out.data, out.len) };
    assert!(mapped == &data[..], "the mapped bytes changed under the host");
    unsafe { wxfs::ffi::wxfs_bytes_free(out) };
    println!("@@readable");
    std::process::exit(0);
}

#[test]
fn a_mapped_read_stays_readable_whatever_the_mini_program_does() {
    for how in ["truncate", "ftruncate", "openTruncate"] {
        let root = common::fresh_dir("mapping");
        let (status, out) = common::run_child(
            "mapping_child",
            &[("WXFS_HARDEN_ROOT", root.display().to_string()), ("WXFS_HARDEN_VARIANT", how.to_string())],
        );
        assert!(status.success() && out.contains("@@readable"), "{how}: the host died or read changed bytes ({status}): {out}");
        let _ = std::fs::remove_dir_all(root);
    }
}

// ---- class 4: deep trees ---------------------------------------------------------------------

fn chain(prefix: &str, depth: usize) -> String {
    let mut p = prefix.to_string();
    for i in 0..depth {
        p.push_str(&format!("/{}", i % 10));
    }
    p
}

#[test]
fn every_call_that_deepens_a_tree_enforces_the_depth_limit() {
    let root = common::fresh_dir("depth");
    let s = Session::open(sized_config(&root, 1 << 20)).unwrap();
    // mkdir -p beyond the limit fails and creates nothing.
    let (c, r) = call(&s, "mkdirSync", json!({"dirPath": usr(&chain("a", 2000)), "recursive": true}));
    assert_eq!(c, 1300036, "{r}");
    assert!(usr_files(&s).is_empty() && std::fs::read_dir(s.sandbox.dir().join("usr")).unwrap().next().is_none());
    // The deepest allowed chains can be built ...
    ok(&s, "mkdirSync", json!({"dirPath": usr(&chain("a", MAX_DEPTH - 1)), "recursive": true}));
    ok(&s, "mkdirSync", json!({"dirPath": usr(&chain("b", MAX_DEPTH - 1)), "recursive": true}));
    let (c, _) = call(&s, "mkdirSync", json!({"dirPath": usr(&chain("a", MAX_DEPTH)), "recursive": true}));
    assert_eq!(c, 1300036);
    let (c, _) = call(&s, "writeFileSync", json!({"filePath": usr(&chain("a", MAX_DEPTH)), "data": "x"}));
    assert_eq!(c, 1300036);
    // ... but no rename may hang one under the other, however shallow its own path looks.
    let before = wxfs::fs::scan(&s.sandbox).unwrap();
    let (c, r) = call(&s, "renameSync", json!({"oldPath": usr("b"), "newPath": usr(&format!("{}/b", chain("a", 3)))}));
    assert_eq!(c, 1300036, "{r}");
    assert!(s.sandbox.dir().join("usr/b").is_dir());
    // unzip: an entry deeper than the limit fails the whole call.
    let deep_entry = format!("{}/f", chain("z", MAX_DEPTH));
    ok(&s, "writeFileSync", write_bytes_args("wxfile://usr/deep.zip", &zip_of(&[("ok.txt", b"1"), (&deep_entry, b"2")])));
    let (c, _) = call(&s, "unzip", json!({"zipFilePath": usr("deep.zip"), "targetPath": usr("out")}));
    assert_ne!(c, 0);
    assert!(!s.sandbox.dir().join("usr/out").exists());
    assert_eq!(
        wxfs::fs::scan(&s.sandbox).unwrap().user,
        before.user + std::fs::metadata(s.sandbox.dir().join("usr/deep.zip")).unwrap().len()
    );
    let _ = std::fs::remove_dir_all(root);
}

/// The child lowers its fd limit, builds the deepest trees the API allows, then stats and
/// removes them, sync and on a worker; also a far deeper tree planted behind the library's back
/// (an earlier release or the host made it). A stack overflow or fd exhaustion kills it.
#[test]
#[ignore]
fn deep_tree_child() {
    let Ok(root) = std::env::var("WXFS_HARDEN_ROOT") else { return };
    let s = Session::open(sized_config(Path::new(&root), 1 << 20)).unwrap();
    let limit = rustix::process::Rlimit {
        current: Some(48),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    for i in 0..4 {
        let p = chain(&format!("t/{i}"), MAX_DEPTH - 3);
        ok(&s, "mkdirSync", json!({"dirPath": usr(&p), "recursive": true}));
        ok(&s, "writeFileSync", json!({"filePath": usr(&format!("{p}/leaf")), "data": "leaf"}));
    }
    let r = ok(&s, "statSync", json!({"path": usr("t"), "recursive": true}));
    assert_eq!(r["stats"].as_array().unwrap().len(), 1 + 4 * (MAX_DEPTH - 1));
    ok(&s, "rmdirSync", json!({"dirPath": usr("t"), "recursive": true}));
    // Planted: 3,000 levels, far past any path the OS can name in one string.
    let usr_dir = s.sandbox.dir().join("usr");
    std::env::set_current_dir(&usr_dir).unwrap();
    std::fs::create_dir("deep").unwrap();
    std::env::set_current_dir("deep").unwrap();
    for _ in 0..3000 {
        std::fs::create_dir("d").unwrap();
        std::env::set_current_dir("d").unwrap();
    }
    std::env::set_current_dir(&usr_dir).unwrap();
    for (api, args) in [
        ("stat", json!({"path": usr("deep"), "recursive": true})),
        ("rename", json!({"oldPath": usr("deep"), "newPath": usr("deeper")})),
        ("rmdir", json!({"dirPath": usr("deeper"), "recursive": true})),
        ("rmdir", json!({"dirPath": usr("deep"), "recursive": true})),
    ] {
        // On a worker thread (smaller stack than main), as wxfs_invoke_async runs it.
        let s2 = s.clone();
        let (c, r) = std::thread::spawn(move || call(&s2, api, args)).join().unwrap();
        println!("{api}: {c} {r}");
    }
    println!("@@alive");
    std::process::exit(0);
}

#[test]
fn deep_trees_are_walked_without_recursion_within_the_fd_limit() {
    let root = common::fresh_dir("deep-tree");
    let (status, out) = common::run_child("deep_tree_child", &[("WXFS_HARDEN_ROOT", root.display().to_string())]);
    assert!(status.success() && out.contains("@@alive"), "the host died ({status}): {out}");
    let _ = std::fs::remove_dir_all(root);
}

// ---- class 5: unzip counts each target once, and is all or nothing -------------------------

#[test]
fn unzip_counts_each_final_target_once() {
    const QUOTA: u64 = 2 << 20;
    let root = common::fresh_dir("unzip-alias");
    let s = Session::open(sized_config(&root, QUOTA)).unwrap();
    ok(&s, "mkdirSync", json!({"dirPath": usr("t")}));
    ok(&s, "writeFileSync", json!({"filePath": usr("t/a"), "data": "o".repeat(1 << 20)}));
    // Every spelling of t/a that unzip resolves to the same file, plus fresh files that only
    // fit if each spelling "frees" the old a again.
    let aliases = ["a", "./a", "././a", ".//a", "./././a", ".//./a"];
    // Replacing a frees its 1 MiB once: 2.5 MiB of fresh files can never fit under 2 MiB.
    let big = vec![b'n'; 256 * 1024];
    let mut entries: Vec<(String, Vec<u8>)> = aliases.iter().map(|a| (a.to_string(), b"tiny".to_vec())).collect();
    for i in 0..10 {
        entries.push((format!("big{i}"), big.clone()));
    }
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    ok(&s, "writeFileSync", write_bytes_args("wxfile://usr/alias.zip", &zip_of(&refs)));
    let before = usr_files(&s);
    let (c, r) = call(&s, "unzip", json!({"zipFilePath": usr("alias.zip"), "targetPath": usr("t")}));
    assert_eq!(c, 1300202, "2.5 MiB of new files were admitted under a 2 MiB quota: {r}");
    assert_eq!(usr_files(&s), before, "a refused unzip changed the target");
    assert_room_is_exact(&s, QUOTA);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_failing_unzip_leaves_the_target_as_it_was() {
    let root = common::fresh_dir("unzip-conflict");
    let s = Session::open(sized_config(&root, 8 << 20)).unwrap();
    ok(&s, "mkdirSync", json!({"dirPath": usr("t/keep"), "recursive": true}));
    ok(&s, "writeFileSync", json!({"filePath": usr("t/old.txt"), "data": "old"}));
    ok(&s, "writeFileSync", json!({"filePath": usr("t/plain"), "data": "a file"}));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("file then dir", zip_of(&[("one.txt", b"1"), ("old.txt", b"new"), ("d", b"file"), ("d/", b"")])),
        ("dir then file", zip_of(&[("one.txt", b"1"), ("d/", b""), ("d", b"file")])),
        ("file then child", zip_of(&[("one.txt", b"1"), ("old.txt", b"new"), ("e", b"x"), ("e/f", b"y")])),
        ("child then file", zip_of(&[("one.txt", b"1"), ("g/h", b"y"), ("g", b"x")])),
        ("over an existing file", zip_of(&[("one.txt", b"1"), ("old.txt", b"new"), ("plain/x", b"y")])),
        ("over an existing dir", zip_of(&[("one.txt", b"1"), ("old.txt", b"new"), ("keep", b"y")])),
    ];
    for (name, bytes) in cases {
        ok(&s, "writeFileSync", write_bytes_args("wxfile://usr/bad.zip", &bytes));
        let before = usr_files(&s);
        let dirs_before = std::fs::read_dir(s.sandbox.dir().join("usr/t")).unwrap().count();
        let (c, r) = call(&s, "unzip", json!({"zipFilePath": usr("bad.zip"), "targetPath": usr("t")}));
        assert_ne!(c, 0, "{name}: {r}");
        assert_eq!(usr_files(&s), before, "{name}: a failed unzip changed files");
        assert_eq!(std::fs::read_dir(s.sandbox.dir().join("usr/t")).unwrap().count(), dirs_before, "{name}: left entries");
        assert_room_is_exact(&s, 8 << 20);
    }
    let _ = std::fs::remove_dir_all(root);
}

// ---- class 8: fds ----------------------------------------------------------------------------

/// The child runs under a 64-fd process limit, as a host on a tight limit (iOS gives 256).
#[test]
#[ignore]
fn fd_limit_child() {
    let Ok(root) = std::env::var("WXFS_HARDEN_ROOT") else { return };
    let max = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    rustix::process::setrlimit(rustix::process::Resource::Nofile, rustix::process::Rlimit { current: Some(64), maximum: max })
        .unwrap();
    let open_until_refused = |s: &Session| -> (usize, Value) {
        ok(s, "writeFileSync", json!({"filePath": usr("f"), "data": "x"}));
        let mut n = 0;
        loop {
            let (c, r) = call(s, "openSync", json!({"filePath": usr("f"), "flag": "r"}));
            if c != 0 {
                return (n, r);
            }
            n += 1;
            assert!(n < 10_000);
        }
    };
    // The default leaves most of the process's fds to the host.
    let a = Session::open(Config::new(&root, "u", "a")).unwrap();
    let (n, r) = open_until_refused(&a);
    assert_eq!(r["errCode"], 1302002, "{r}");
    assert_eq!(r["errMsg"], "openSync:fail excced max concurrent fd limit");
    assert!(n <= 16, "one sandbox took {n} of 64 fds");
    // A limit configured above what the process has still ends in 1302002, and leaves room.
    let mut c = Config::new(&root, "u", "b");
    c.limits.open_files = 100_000;
    let b = Session::open(c).unwrap();
    let (_, r) = open_until_refused(&b);
    assert_eq!(r["errCode"], 1302002, "{r}");
    // The host keeps the rest: another sandbox still opens, writes and reads.
    let third = Session::open(Config::new(&root, "u", "c")).expect("another sandbox still opens");
    ok(&third, "writeFileSync", json!({"filePath": usr("g"), "data": "y"}));
    assert_eq!(ok(&third, "readFileSync", json!({"filePath": usr("g"), "encoding": "utf8"}))["data"], "y");
    println!("@@ok");
    std::process::exit(0);
}

#[test]
fn fd_exhaustion_is_1302002_and_leaves_room_for_the_host() {
    let root = common::fresh_dir("fd-limit");
    let (status, out) = common::run_child("fd_limit_child", &[("WXFS_HARDEN_ROOT", root.display().to_string())]);
    assert!(status.success() && out.contains("@@ok"), "{status}: {out}");
    let _ = std::fs::remove_dir_all(root);
}

// ---- class 9: a full disk --------------------------------------------------------------------

/// Fill usr until the device refuses even one byte; returns the last refusal.
fn fill_disk(s: &Session) -> Value {
    let mut size = 256 * 1024;
    let mut i = 0;
    let mut last = Value::Null;
    while size >= 1 {
        let (c, r) = call(s, "writeFileSync", json!({"filePath": usr(&format!("fill{i}")), "data": "f".repeat(size)}));
        i += 1;
        if c != 0 {
            last = r;
            size /= 2;
        }
    }
    last
}

#[test]
fn a_full_disk_still_opens_reads_and_deletes() {
    let Some(fs) = common::Tmpfs::mount("full-disk", "3m", None) else { return };
    let root: PathBuf = fs.dir.join("root");
    let config = |root: &Path| sized_config(root, 1 << 30);
    let s = Session::open(config(&root)).unwrap();
    ok(&s, "writeFileSync", json!({"filePath": usr("keep.txt"), "data": "kept"}));
    ok(&s, "setStorageSync", json!({"key": "k", "data": "v"}));
    ok(&s, "setStorageSync", json!({"key": "k2", "data": "v2"}));
    let refused = fill_disk(&s);
    assert_eq!(refused["errCode"], 1300202, "{refused}");
    assert!(refused["errMsg"].as_str().unwrap().contains("no space left on device"), "{refused}");
    drop(s);
    // The user opens the mini-program again on the full disk and cleans up.
    let s = Session::open(config(&root)).expect("a sandbox opens on a full disk");
    assert_eq!(ok(&s, "readFileSync", json!({"filePath": usr("keep.txt"), "encoding": "utf8"}))["data"], "kept");
    assert_eq!(ok(&s, "getStorageSync", json!({"key": "k"}))["data"], "v");
    ok(&s, "unlinkSync", json!({"filePath": usr("fill0")}));
    ok(&s, "writeFileSync", json!({"filePath": usr("again.txt"), "data": "works"}));
    assert_eq!(s.fs.usage(), wxfs::fs::scan(&s.sandbox).unwrap());
    drop(s);
    let s = Session::open(config(&root)).unwrap();
    assert_eq!(s.fs.usage(), wxfs::fs::scan(&s.sandbox).unwrap());
}

// ---- class 10: entries -----------------------------------------------------------------------

fn entries_on_disk(s: &Session) -> usize {
    let mut n = 0;
    for area in ["usr", "store"] {
        let mut stack = vec![s.sandbox.dir().join(area)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                n += 1;
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
        }
    }
    n
}

#[test]
fn directories_and_empty_files_count_against_the_entries_limit() {
    let root = common::fresh_dir("entries");
    let mut c = sized_config(&root, 1024);
    c.limits.entries = 40;
    let s = Session::open(c.clone()).unwrap();
    let temp = ok(&s, "host.createTempFile", json!({"data": ""}))["tempFilePath"].clone();
    ok(&s, "saveFileSync", json!({"tempFilePath": temp}));
    for i in 0..20 {
        ok(&s, "mkdirSync", json!({"dirPath": usr(&format!("d{i}"))}));
    }
    for i in 0..10 {
        ok(&s, "writeFileSync", json!({"filePath": usr(&format!("d0/e{i}")), "data": ""}));
    }
    ok(&s, "mkdirSync", json!({"dirPath": usr("p/q/r"), "recursive": true}));
    assert_eq!(entries_on_disk(&s), 34);
    // Six left: a chain of seven creates nothing; every kind of creation is refused at the edge.
    let (c7, r) = call(&s, "mkdirSync", json!({"dirPath": usr("x/1/2/3/4/5/6"), "recursive": true}));
    assert_eq!(
        (c7, r["errMsg"].as_str().unwrap()),
        (1300202, "mkdirSync:fail the maximum size of the file storage limit is exceeded")
    );
    assert!(!s.sandbox.dir().join("usr/x").exists());
    for i in 0..6 {
        ok(&s, "writeFileSync", json!({"filePath": usr(&format!("f{i}")), "data": ""}));
    }
    let refusals = [
        ("mkdirSync", json!({"dirPath": usr("m")})),
        ("writeFileSync", json!({"filePath": usr("n"), "data": ""})),
        ("copyFileSync", json!({"srcPath": usr("f0"), "destPath": usr("o")})),
        ("openSync", json!({"filePath": usr("p2"), "flag": "w"})),
        ("saveFileSync", json!({"tempFilePath": ok(&s, "host.createTempFile", json!({"data": "t"}))["tempFilePath"]})),
    ];
    for (api, args) in refusals {
        let (code, r) = call(&s, api, args);
        assert_eq!(code, 1300202, "{api}: {r}");
    }
    assert_eq!(entries_on_disk(&s), 40);
    // Replacing an existing file creates no entry; removing frees one.
    ok(&s, "writeFileSync", json!({"filePath": usr("f0"), "data": "replaced"}));
    ok(&s, "unlinkSync", json!({"filePath": usr("f1")}));
    ok(&s, "mkdirSync", json!({"dirPath": usr("m")}));
    // The count survives a restart.
    drop(s);
    let s = Session::open(c.clone()).unwrap();
    let (code, _) = call(&s, "mkdirSync", json!({"dirPath": usr("m2")}));
    assert_eq!(code, 1300202);
    ok(&s, "rmdirSync", json!({"dirPath": usr("p"), "recursive": true}));
    for i in 0..3 {
        ok(&s, "mkdirSync", json!({"dirPath": usr(&format!("n{i}"))}));
    }
    assert_eq!(call(&s, "mkdirSync", json!({"dirPath": usr("n3")})).0, 1300202);
    assert_eq!(entries_on_disk(&s), 40);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn one_mini_program_cannot_take_every_inode_of_the_root() {
    let Some(fs) = common::Tmpfs::mount("inodes", "64m", Some(3000)) else { return };
    let root = fs.dir.join("root");
    let mut c = sized_config(&root, 1024);
    c.limits.entries = 1000;
    let a = Session::open(c).unwrap();
    let mut made = 0;
    for i in 0..5000 {
        if call(&a, "mkdirSync", json!({"dirPath": usr(&format!("d{i}"))})).0 != 0 {
            break;
        }
        made += 1;
    }
    assert_eq!(made, 1000);
    let b = Session::open(Config::new(&root, "u", "other")).expect("another mini-program opens");
    ok(&b, "writeFileSync", json!({"filePath": usr("x"), "data": "fine"}));
    drop((a, b));
}

#[test]
fn storage_on_a_full_disk_reads_removes_and_clears() {
    let Some(fs) = common::Tmpfs::mount("full-disk-kv", "3m", None) else { return };
    let root: PathBuf = fs.dir.join("root");
    let config = |root: &Path| sized_config(root, 1 << 30);
    let s = Session::open(config(&root)).unwrap();
    for i in 0..20 {
        ok(&s, "setStorageSync", json!({"key": format!("k{i}"), "data": "v".repeat(1000)}));
    }
    fill_disk(&s);
    // A set the device cannot take fails with a storage code, in words that say why.
    let mut refused = None;
    for i in 0..200 {
        let (c, r) = call(&s, "setStorageSync", json!({"key": format!("big{i}"), "data": "s".repeat(60_000)}));
        if c != 0 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the full device took every set");
    assert_eq!(refused["errCode"], 1400003, "{refused}");
    assert!(refused["errMsg"].as_str().unwrap().contains("no space left on device"), "{refused}");
    drop(s);
    let s = Session::open(config(&root)).expect("a sandbox opens on a full disk");
    assert_eq!(ok(&s, "getStorageSync", json!({"key": "k3"}))["data"], "v".repeat(1000));
    for i in 0..10 {
        ok(&s, "removeStorageSync", json!({"key": format!("k{i}")}));
    }
    ok(&s, "clearStorageSync", json!({}));
    assert_eq!(ok(&s, "getStorageInfoSync", json!({}))["keys"], json!([]));
    drop(s);
    let s = Session::open(config(&root)).unwrap();
    assert_eq!(ok(&s, "getStorageInfoSync", json!({}))["keys"], json!([]), "the clear survived the restart");
    ok(&s, "unlinkSync", json!({"filePath": usr("fill0")}));
    ok(&s, "setStorageSync", json!({"key": "again", "data": 1}));
}
