//! Hosts upgrade the library under their users' data: sandboxes written by an earlier release
//! open, keep every byte and record, and keep opening after this release has written them.
//!
//! `tests/fixtures/v0.1.0/root` was written by release 0.1.0 (commit 9c0d161) with its own
//! `wxfs invoke` CLI: `user-1` closed cleanly; `user-2` is a copy whose storage log ends in a
//! torn record, as a kill in the middle of a set leaves it.

mod common;

use std::path::PathBuf;

use common::files::copy_tree;
use serde_json::json;

fn release_fixture(release: &str) -> PathBuf {
    let root = common::fresh_dir(&format!("upgrade-{release}"));
    copy_tree(&common::repo_dir().join("tests/fixtures").join(release).join("root"), &root);
    root
}

/// Everything the 0.1.0 sandbox held, as a mini-program reads it.
fn check_v010(lib: &common::abi::Lib, h: u64) {
    let text = |path: &str| lib.ok(h, "readFileSync", json!({"filePath": path, "encoding": "utf8"}))["data"].clone();
    assert_eq!(text("wxfile://usr/a/b/hello.txt"), "hello, v0.1.0 appended");
    assert_eq!(text("wxfile://usr/big.bin"), "x".repeat(3000));
    assert_eq!(text("wxfile://store_df57bb170eba311c3d74fa834fb86eb8.png"), "temp bytes");
    assert_eq!(text("wxfile://tmp_30a1a363f3778e23420d8227f5ecfd73.jpg"), "kept temp");
    let list = lib.ok(h, "getSavedFileList", json!({}));
    assert_eq!(list["fileList"].as_array().unwrap().len(), 1);
    assert_eq!(list["fileList"][0]["filePath"], "wxfile://store_df57bb170eba311c3d74fa834fb86eb8.png");
    assert_eq!(list["fileList"][0]["size"], 10);

    let info = lib.ok(h, "getStorageInfoSync", json!({}));
    assert_eq!(info["keys"], json!(["image_cache", "when", "obj", "b1", "b2"]));
    let get = |k: &str| lib.ok(h, "getStorageSync", json!({"key": k}));
    assert_eq!(get("image_cache")["data"], "wxfile://store_x.png");
    assert_eq!(get("when")["data"], "2026-01-02T03:04:05.000Z");
    assert_eq!(get("when")["dataType"], "Date");
    assert_eq!(get("obj")["data"], json!({"a": 2}));
    assert_eq!(get("b1")["data"], true);
    assert_eq!(get("b2")["data"], "x");
    assert_eq!(get("gone")["data"], "");

    // The quota carried over exactly: 3,032 bytes of user + saved files are in use, so a file
    // of (limit - 3,032) bytes fits and one byte more does not.
    let limit = 4096u64;
    let room = limit - 3032;
    let (rc, v) =
        lib.invoke(h, "writeFileSync", &json!({"filePath": "wxfile://usr/fill", "data": "z".repeat(room as usize + 1)}));
    assert_eq!(rc, 1300202, "{v}");
    lib.ok(h, "writeFileSync", json!({"filePath": "wxfile://usr/fill", "data": "z".repeat(room as usize)}));
    lib.ok(h, "unlinkSync", json!({"filePath": "wxfile://usr/fill"}));
}

#[test]
fn a_sandbox_written_by_0_1_0_opens_and_keeps_everything() {
    let root = release_fixture("v0.1.0");
    let lib = common::abi::Lib::load();
    for user in ["user-1", "user-2"] {
        let cfg = json!({"root": root, "userId": user, "appId": "wx0000000000000001", "limits": {"userFiles": 4096}});
        // First open: the earlier format, upgraded if this release upgrades it.
        let h = lib.open(&cfg).unwrap_or_else(|rc| panic!("{user}: open failed {rc}"));
        check_v010(&lib, h);
        assert_eq!(lib.close(h), 0);
        // Second open: whatever this release wrote at the first.
        let h = lib.open(&cfg).unwrap();
        check_v010(&lib, h);
        lib.ok(h, "setStorageSync", json!({"key": "after", "data": 1}));
        assert_eq!(lib.close(h), 0);
        let h = lib.open(&cfg).unwrap();
        assert_eq!(lib.ok(h, "getStorageSync", json!({"key": "after"}))["data"], 1);
        assert_eq!(lib.close(h), 0);
    }
    let _ = std::fs::remove_dir_all(root);
}

/// Every sandbox declares its format (docs/compatibility.md): 0.1.0 wrote none and is format 1;
/// the first open by this release writes the marker, and a sandbox of a newer format is refused
/// before anything in it is read or changed.
#[test]
fn the_sandbox_format_marker_is_written_and_a_newer_format_refused() {
    let root = release_fixture("v0.1.0");
    let dir = root.join("user-1/wx0000000000000001");
    assert!(!dir.join("FORMAT").exists(), "0.1.0 wrote no marker");
    assert_eq!(wxfs::sandbox::format_version(&dir).unwrap(), 1);
    let lib = common::abi::Lib::load();
    let cfg = json!({"root": root, "userId": "user-1", "appId": "wx0000000000000001"});
    let h = lib.open(&cfg).unwrap();
    assert_eq!(lib.close(h), 0);
    assert_eq!(std::fs::read_to_string(dir.join("FORMAT")).unwrap(), "wxfs sandbox format 1\n");

    let newer = format!("wxfs sandbox format {}\n", wxfs::sandbox::FORMAT_VERSION + 1);
    std::fs::write(dir.join("FORMAT"), &newer).unwrap();
    std::fs::remove_dir(dir.join("staging")).unwrap(); // as 0.1.0 left it: no empty staging directory
    let snapshot = || -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v.into_iter().map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap_or_default())).collect()
    };
    let before = (snapshot(), std::fs::read(dir.join("kv/data.log")).unwrap());
    assert_eq!(lib.open(&cfg), Err(wxfs::ffi::WXFS_E_CONFIG));
    assert_eq!((snapshot(), std::fs::read(dir.join("kv/data.log")).unwrap()), before, "a refused open changed the sandbox");
    let err = match wxfs::Session::open(wxfs::Config::new(&root, "user-1", "wx0000000000000001")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a newer format opened"),
    };
    assert_eq!(
        err,
        format!(
            "sandbox format 2 ({}) is newer than this release reads (1); open it with the release that wrote it or a later one",
            dir.join("FORMAT").display()
        )
    );
    let _ = std::fs::remove_dir_all(root);
}
