//! No path a mini-program passes, and no userId/appId a host passes, reads or writes outside
//! its sandbox: `..` in every position, planted symlinks, absolute host paths, NUL bytes,
//! percent-encoded and backslash variants.

mod common;

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use common::bridge::call;
use common::files::snapshot;
use serde_json::json;
use wxfs::{Config, Session};

struct Fixture {
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    session: std::sync::Arc<Session>,
}

const SECRET: &str = "outside-secret";

fn escape_fixture() -> Fixture {
    let base = common::fresh_dir("escape");
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    let pkg = base.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("app.json"), "{}").unwrap();
    let mut cfg = Config::new(&root, "user-1", "wx1");
    cfg.package_dir = Some(pkg);
    let session = Session::open(cfg).unwrap();
    Fixture { base, root, outside, session }
}

/// Paths that must never reach outside usr (or anywhere at all).
fn hostile_paths(f: &Fixture) -> Vec<String> {
    let abs = f.outside.join("secret.txt").to_string_lossy().into_owned();
    let mut v = vec![
        "wxfile://usr/..".to_string(),
        "wxfile://usr/../secret.txt".into(),
        "wxfile://usr/../../outside/secret.txt".into(),
        "wxfile://usr/a/../../x".into(),
        "wxfile://usr/./../x".into(),
        "wxfile://usr/a/b/../../../x".into(),
        "wxfile://usr\\..\\..\\x".into(),
        "wxfile://usr/..\\x".into(),
        "wxfile://usr/x\0.txt".into(),
        "wxfile://tmp_../x".into(),
        "wxfile://tmp_..".into(),
        "wxfile://store_../usr/x".into(),
        "http://usr/../x".into(),
        "http://tmp/../usr/x".into(),
        "http://store/../../x".into(),
        "../x".into(),
        "/../x".into(),
        "/../../../../etc/hostname".into(),
        "a/../../x".into(),
        "./x".into(),
        format!("file://{abs}"),
        abs.clone(),
        format!("wxfile://usr/link_out/secret.txt"),
        "wxfile://usr/link_out".into(),
        "wxfile://usr/link_file".into(),
        "wxfile://usr/link_abs".into(),
        "wxfile://usr/link_up".into(),
        "wxfile://usr/link_up/outside/secret.txt".into(),
        "wxfile://".into(),
        "wxfile:///etc/passwd".into(),
    ];
    for n in 1..=4 {
        v.push(format!("wxfile://usr/{}x", "../".repeat(n)));
        v.push(format!("wxfile://usr/d/{}x", "../".repeat(n + 1)));
    }
    v
}

fn plant_symlinks(f: &Fixture) {
    let usr = wxfs::sandbox::sandbox_dir(&f.root, b"user-1", b"wx1").join("usr");
    symlink(&f.outside, usr.join("link_out")).unwrap();
    symlink(f.outside.join("secret.txt"), usr.join("link_file")).unwrap();
    symlink("/etc/hostname", usr.join("link_abs")).unwrap();
    symlink("../../..", usr.join("link_up")).unwrap();
    std::fs::create_dir_all(usr.join("d")).unwrap();
}

#[test]
fn no_path_reads_outside_the_sandbox() {
    let f = escape_fixture();
    plant_symlinks(&f);
    for p in hostile_paths(&f) {
        for (api, args) in [
            ("readFileSync", json!({"filePath": p, "encoding": "utf8"})),
            ("readFile", json!({"filePath": p})),
            ("readdirSync", json!({"dirPath": p})),
            ("statSync", json!({"path": p, "recursive": true})),
            ("getFileInfo", json!({"filePath": p})),
            ("readCompressedFileSync", json!({"filePath": p, "compressionAlgorithm": "br"})),
            ("openSync", json!({"filePath": p, "flag": "r"})),
            ("readZipEntry", json!({"filePath": p, "entries": "all"})),
            ("host.realPath", json!({"path": p})),
        ] {
            let (code, res) = call(&f.session, api, args);
            assert_ne!(code, 0, "{api} {p:?} succeeded: {res}");
            let text = res.to_string();
            assert!(!text.contains(SECRET), "{api} {p:?} leaked: {text}");
            assert!(res["errMsg"].as_str().unwrap().starts_with(&format!("{api}:fail")), "{api} {p:?}: {text}");
        }
    }
}

#[test]
fn no_path_writes_outside_the_sandbox() {
    let f = escape_fixture();
    plant_symlinks(&f);
    let before_outside = snapshot(&f.outside, &[]);
    let before_root = snapshot(&f.root, &[]);
    let (_, t) = call(&f.session, "host.createTempFile", json!({"data": "T"}));
    let temp = t["tempFilePath"].as_str().unwrap().to_string();
    call(&f.session, "writeFileSync", json!({"filePath": "wxfile://usr/ok.txt", "data": "ok"}));
    let after_setup = snapshot(&f.root, &[]);
    let link_names = ["wxfile://usr/link_out", "wxfile://usr/link_file", "wxfile://usr/link_abs", "wxfile://usr/link_up"];
    for p in hostile_paths(&f) {
        for (api, args) in [
            ("writeFileSync", json!({"filePath": p, "data": "pwned"})),
            ("appendFileSync", json!({"filePath": p, "data": "pwned"})),
            ("mkdirSync", json!({"dirPath": p, "recursive": true})),
            ("rmdirSync", json!({"dirPath": p, "recursive": true})),
            ("unlinkSync", json!({"filePath": p})),
            ("truncateSync", json!({"filePath": p, "length": 0})),
            ("copyFileSync", json!({"srcPath": "wxfile://usr/ok.txt", "destPath": p})),
            ("copyFileSync", json!({"srcPath": p, "destPath": "wxfile://usr/copied.txt"})),
            ("renameSync", json!({"oldPath": "wxfile://usr/ok.txt", "newPath": p})),
            ("renameSync", json!({"oldPath": p, "newPath": "wxfile://usr/moved"})),
            ("openSync", json!({"filePath": p, "flag": "w"})),
            ("openSync", json!({"filePath": p, "flag": "a+"})),
            ("saveFileSync", json!({"tempFilePath": temp, "filePath": p})),
            ("saveFileSync", json!({"tempFilePath": p})),
            ("unzip", json!({"zipFilePath": "wxfile://usr/ok.txt", "targetPath": p})),
            ("removeSavedFile", json!({"filePath": p})),
        ] {
            // unlink/rename/rmdir of a link name act on the link itself (inside usr), like rm and
            // mv; they are checked for not touching the outside below, not for failing.
            let on_link = link_names.contains(&p.as_str()) && (api == "unlinkSync" || api == "rmdirSync" || api == "renameSync");
            if on_link {
                continue;
            }
            let (code, res) = call(&f.session, api, args);
            assert_ne!(code, 0, "{api} {p:?} succeeded: {res}");
        }
        assert_eq!(snapshot(&f.outside, &[]), before_outside, "outside changed after {p:?}");
    }
    assert_eq!(before_outside, snapshot(&f.outside, &[]));
    // Nothing in the sandbox changed either: every hostile call failed before touching disk.
    let now = snapshot(&f.root, &[]);
    let changed: Vec<_> = now.iter().filter(|e| !after_setup.contains(e)).map(|e| e.0.display().to_string()).collect();
    assert_eq!(after_setup, now, "changed: {changed:?}");
    assert!(before_root.len() < after_setup.len());
    let _ = std::fs::remove_dir_all(&f.base);
}

#[test]
fn a_symlink_swapped_in_for_a_directory_does_not_lead_out() {
    let f = escape_fixture();
    let usr = wxfs::sandbox::sandbox_dir(&f.root, b"user-1", b"wx1").join("usr");
    let (c, _) = call(&f.session, "mkdirSync", json!({"dirPath": "wxfile://usr/dir"}));
    assert_eq!(c, 0);
    // The directory is replaced by a link to the outside between two calls.
    std::fs::remove_dir(usr.join("dir")).unwrap();
    symlink(&f.outside, usr.join("dir")).unwrap();
    let (c, res) = call(&f.session, "writeFileSync", json!({"filePath": "wxfile://usr/dir/new.txt", "data": "x"}));
    assert_ne!(c, 0, "{res}");
    assert!(!f.outside.join("new.txt").exists());
    let (c, res) = call(&f.session, "readFileSync", json!({"filePath": "wxfile://usr/dir/secret.txt", "encoding": "utf8"}));
    assert_ne!(c, 0, "{res}");
}

#[test]
fn hostile_user_and_app_ids_stay_under_the_root() {
    let base = common::fresh_dir("ids");
    let root = base.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let ids = ["../x", "a/b", "..", ".", "/abs", "a\\b", "x\0y", "%2e%2e", "A", "a", "用户", &"L".repeat(1000)];
    let mut dirs = std::collections::HashSet::new();
    for (i, user) in ids.iter().enumerate() {
        let app = ids[(i + 3) % ids.len()];
        let s = Session::open(Config::new(&root, user, app)).unwrap();
        let (c, _) = call(&s, "writeFileSync", json!({"filePath": "wxfile://usr/mine.txt", "data": format!("{i}")}));
        assert_eq!(c, 0);
        let dir = s.sandbox.dir().canonicalize().unwrap();
        assert!(dir.starts_with(root.canonicalize().unwrap()), "{user:?} -> {}", dir.display());
        assert_eq!(dir.parent().unwrap().parent().unwrap(), root.canonicalize().unwrap());
        assert!(dirs.insert(dir), "{user:?}/{app:?} shares a directory");
    }
    // Nothing was created beside the root.
    let siblings: Vec<_> = std::fs::read_dir(&base).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("root")]);
    // "A" and "a" are different users even on a case-insensitive file system.
    let a = wxfs::sandbox::sandbox_dir(&root, b"A", b"x");
    let b = wxfs::sandbox::sandbox_dir(&root, b"a", b"x");
    assert_ne!(a.to_string_lossy().to_lowercase(), b.to_string_lossy().to_lowercase());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn percent_encoding_is_never_decoded() {
    let f = escape_fixture();
    let usr = wxfs::sandbox::sandbox_dir(&f.root, b"user-1", b"wx1").join("usr");
    let before = snapshot(&f.base.join("root"), &[]);
    // A literal name inside usr: allowed, and it is exactly that name.
    let (c, res) = call(&f.session, "writeFileSync", json!({"filePath": "wxfile://usr/..%2f..%2fx", "data": "p"}));
    assert_eq!(c, 0, "{res}");
    assert_eq!(std::fs::read(usr.join("..%2f..%2fx")).unwrap(), b"p");
    // `%2e%2e` is a directory name like any other; it does not exist, so this fails.
    let (c, res) = call(&f.session, "writeFileSync", json!({"filePath": "wxfile://usr/%2e%2e/%2e%2e/x", "data": "p"}));
    assert_eq!(c, 1300002, "{res}");
    // An absolute host path after usr/ is just a nested path inside usr.
    let abs = f.outside.join("secret.txt").to_string_lossy().into_owned();
    let (c, res) = call(&f.session, "mkdirSync", json!({"dirPath": format!("wxfile://usr/{abs}"), "recursive": true}));
    assert_eq!(c, 0, "{res}");
    assert!(usr.join(abs.trim_start_matches('/')).is_dir());
    assert_eq!(std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(), SECRET);
    let after = snapshot(&f.base.join("root"), &[]);
    assert!(after.len() > before.len() + 1);
    assert_eq!(snapshot(&f.outside, &[]).len(), 1);
}

#[test]
fn unlinking_a_planted_link_removes_the_link_not_its_target() {
    let f = escape_fixture();
    plant_symlinks(&f);
    let usr = wxfs::sandbox::sandbox_dir(&f.root, b"user-1", b"wx1").join("usr");
    let (c, res) = call(&f.session, "unlinkSync", json!({"filePath": "wxfile://usr/link_file"}));
    assert_eq!(c, 0, "{res}");
    assert!(std::fs::symlink_metadata(usr.join("link_file")).is_err());
    assert_eq!(std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(), SECRET);
    let (c, res) = call(&f.session, "renameSync", json!({"oldPath": "wxfile://usr/link_out", "newPath": "wxfile://usr/moved"}));
    assert_eq!(c, 0, "{res}");
    let (c, _) = call(&f.session, "readFileSync", json!({"filePath": "wxfile://usr/moved/secret.txt"}));
    assert_ne!(c, 0);
    assert_eq!(snapshot(&f.outside, &[]).len(), 1);
}
