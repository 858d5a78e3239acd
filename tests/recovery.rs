//! Recovery: a missing or corrupt quota journal is rebuilt from a scan and reported; fsck finds
//! damage and --repair fixes it; a sandbox held by another process is busy (naming the lock
//! file) until that process dies.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::crash::two_interrupted_appends;
use serde_json::json;
use wxfs::{bridge, Config, Session};

fn sandbox_config(root: &Path) -> Config {
    Config::new(root, "u1", "wx1")
}

fn fill_sandbox(root: &Path) -> std::path::PathBuf {
    let s = Session::open(sandbox_config(root)).unwrap();
    for (api, args) in [
        ("writeFileSync", json!({"filePath": "wxfile://usr/a.txt", "data": "x".repeat(1000)})),
        ("mkdirSync", json!({"dirPath": "wxfile://usr/d"})),
        ("writeFileSync", json!({"filePath": "wxfile://usr/d/b.txt", "data": "y".repeat(234)})),
        ("setStorageSync", json!({"key": "k", "data": "v"})),
        ("setStorageSync", json!({"key": "k2", "data": [1, 2]})),
    ] {
        assert_eq!(bridge::invoke(&s, api, &args.to_string()).0, 0, "{api}");
    }
    s.sandbox.dir().to_path_buf()
}

#[test]
fn missing_or_corrupt_journal_is_rebuilt_and_reported() {
    let root = common::fresh_dir("rebuild");
    let dir = fill_sandbox(&root);
    std::fs::remove_file(dir.join("quota.journal")).unwrap();
    let s = Session::open(sandbox_config(&root)).unwrap();
    assert_eq!(s.fs.open_report().rebuilt.as_deref(), Some("quota journal missing"));
    assert_eq!(s.fs.usage().user, 1234);
    drop(s);
    std::fs::write(dir.join("quota.journal"), b"definitely not a journal").unwrap();
    let s = Session::open(sandbox_config(&root)).unwrap();
    assert_eq!(s.fs.open_report().rebuilt.as_deref(), Some("quota journal corrupt: bad header"));
    assert_eq!(s.fs.usage().user, 1234);
    drop(s);
    // A clean reopen replays the checkpoint only: no rebuild, no walk.
    let s = Session::open(sandbox_config(&root)).unwrap();
    assert_eq!(s.fs.open_report(), &wxfs::fs::OpenReport { replayed: 1, ..Default::default() });
}

#[test]
fn fsck_finds_damage_and_repair_fixes_it() {
    let root = common::fresh_dir("fsck");
    let dir = fill_sandbox(&root);
    let clean = wxfs::fsck::fsck(&root, false, |_, _| {}).unwrap();
    assert_eq!(clean.len(), 1);
    assert!(clean[0].problems().is_empty(), "{:?}", clean[0].problems());
    assert_eq!(clean[0].journal, Some(wxfs::quota::Usage { user: 1234, temp: 0, entries: 3 }));
    // Damage: a file grows behind the journal's back, torn tails, an interrupted write.
    std::fs::OpenOptions::new().append(true).open(dir.join("usr/a.txt")).unwrap().write_all(b"zz").unwrap();
    std::fs::OpenOptions::new().append(true).open(dir.join("quota.journal")).unwrap().write_all(&[9, 0, 0]).unwrap();
    // The storage log is preallocated: its records end inside a zero tail, and a torn record
    // lies right after them.
    let log = std::fs::read(dir.join("kv/data.log")).unwrap();
    let end = log.iter().rposition(|&b| b != 0).unwrap() + 1;
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new().write(true).open(dir.join("kv/data.log")).unwrap(),
        &[1, 2, 3, 4, 5],
        end as u64,
    )
    .unwrap();
    std::fs::write(dir.join("staging/0123"), b"half").unwrap();
    let found = wxfs::fsck::fsck(&root, false, |_, _| {}).unwrap();
    let problems = found[0].problems();
    assert_eq!(
        problems,
        vec![
            "quota journal has a torn tail of 3 bytes".to_string(),
            "quota journal says 1234 user / 0 temp bytes / 3 entries, files hold 1236 / 0 / 3".to_string(),
            "storage log has 5 bytes after its last whole record".to_string(),
            "1 interrupted writes left in staging".to_string(),
        ]
    );
    // The CLI says the same and exits non-zero without --repair.
    let cli = env!("CARGO_BIN_EXE_wxfs");
    let out = Command::new(cli).args(["fsck", root.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("files hold 1236 / 0"));
    let out = Command::new(cli).args(["fsck", root.to_str().unwrap(), "--repair"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let after = wxfs::fsck::fsck(&root, false, |_, _| {}).unwrap();
    assert!(after[0].problems().is_empty(), "{:?}", after[0].problems());
    assert_eq!(after[0].storage.records, 2);
    let s = Session::open(sandbox_config(&root)).unwrap();
    assert_eq!(s.fs.usage().user, 1236);
    assert_eq!(bridge::invoke(&s, "getStorageSync", r#"{"key":"k2"}"#).1["data"], json!([1, 2]));
    let ls = Command::new(cli).args(["ls", root.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.contains("u1") && text.contains("wx1") && text.contains("open"), "{text}");
}

/// Child side of the lock test: open the sandbox, say so, and wait to be killed.
#[test]
#[ignore]
fn hold_child() {
    let Ok(root) = std::env::var("WXFS_HOLD_ROOT") else { return };
    let _s = Session::open(sandbox_config(Path::new(&root))).unwrap();
    println!("@@held");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn another_process_holds_the_sandbox_until_it_dies() {
    let root = common::fresh_dir("lock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("WXFS_HOLD_ROOT", &root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.map(|l| l.contains("@@held")).unwrap_or(false)));
    let lock = wxfs::sandbox::sandbox_dir(&root, b"u1", b"wx1").join("LOCK");
    match Session::open(sandbox_config(&root)) {
        Err(e @ wxfs::sandbox::OpenError::Busy(_)) => {
            assert_eq!(e.to_string(), format!("sandbox is busy: locked by another process ({})", lock.display()));
        }
        Err(e) => panic!("expected busy, got {e}"),
        Ok(_) => panic!("expected busy, got the sandbox"),
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let s = Session::open(sandbox_config(&root)).expect("a dead process's lock is released");
    assert_eq!(bridge::invoke(&s, "getStorageInfoSync", "{}").0, 0);
}

/// A crash in the middle of an append leaves a reservation without its commit and a file between
/// its old and new length: open rolls it back. A complete append whose commit was lost is kept.
#[test]
fn a_torn_append_is_rolled_back_and_a_complete_one_kept() {
    let root = common::fresh_dir("torn-append");
    // What the process did before it was killed: reservations written, bytes partly written.
    two_interrupted_appends(sandbox_config(&root));
    let dir = sandbox_config(&root).sandbox_dir();
    let s = Session::open(sandbox_config(&root)).unwrap();
    assert_eq!(s.fs.open_report().settled, 2);
    assert_eq!(s.fs.open_report().rolled_back, vec![("torn".to_string(), 37)]);
    assert_eq!(std::fs::read(dir.join("usr/torn")).unwrap(), vec![b'a'; 100]);
    assert_eq!(std::fs::read(dir.join("usr/whole")).unwrap().len(), 200);
    assert_eq!(s.fs.usage().user, 300);
    assert_eq!(wxfs::fs::scan(&s.sandbox).unwrap().user, 300);
}
