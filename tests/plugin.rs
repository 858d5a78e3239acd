//! `pluginId` gives a plugin its own sandbox inside its app's: storage and files
//! isolated from the app and from other plugins, and without the apis WeChat's typings mark
//! "not in plugins". Through the C ABI, as a host opens them.

mod common;

use common::abi::{Bytes, Lib};
use serde_json::json;

/// `wxfs_api_list`: the apis the sandbox offers.
fn api_list(lib: &Lib, h: u64) -> Vec<String> {
    let mut out = Bytes::empty();
    // SAFETY: a valid out-slot; the result is freed once.
    unsafe {
        assert_eq!((lib.api_list)(h, &mut out), 0);
        serde_json::from_slice(&lib.take(out)).unwrap()
    }
}

#[test]
fn each_plugin_has_its_own_storage_and_files() {
    let lib = Lib::load();
    let root = common::fresh_dir("plugin");
    let cfg = |app: &str, plugin: Option<&str>| {
        let mut c = json!({"root": root, "userId": "u", "appId": app});
        if let Some(p) = plugin {
            c["pluginId"] = json!(p);
        }
        c
    };
    let app = lib.open(&cfg("wx1", None)).unwrap();
    let pa = lib.open(&cfg("wx1", Some("wxPluginA"))).unwrap();
    let pb = lib.open(&cfg("wx1", Some("wxPluginB"))).unwrap();
    let pa_other_app = lib.open(&cfg("wx2", Some("wxPluginA"))).unwrap();
    let all = [(app, "app"), (pa, "plugin A"), (pb, "plugin B"), (pa_other_app, "plugin A in wx2")];

    for (h, who) in all {
        lib.ok(h, "setStorageSync", json!({"key": "k", "data": who}));
        lib.ok(h, "writeFileSync", json!({"filePath": "wxfile://usr/who.txt", "data": who}));
    }
    lib.ok(pa, "writeFileSync", json!({"filePath": "wxfile://usr/only-a.txt", "data": "a"}));
    for (h, who) in all {
        assert_eq!(lib.ok(h, "getStorageSync", json!({"key": "k"}))["data"], who);
        assert_eq!(lib.ok(h, "readFileSync", json!({"filePath": "wxfile://usr/who.txt", "encoding": "utf8"}))["data"], who);
    }
    for h in [app, pb, pa_other_app] {
        let (rc, r) = lib.invoke(h, "accessSync", &json!({"path": "wxfile://usr/only-a.txt"}));
        assert_eq!(rc, 1300002, "{r}");
    }
    // The app's own view of its storage knows nothing of its plugins'.
    assert_eq!(lib.ok(app, "getStorageInfoSync", json!({}))["keys"], json!(["k"]));
    lib.ok(app, "clearStorageSync", json!({}));
    assert_eq!(lib.ok(pa, "getStorageSync", json!({"key": "k"}))["data"], "plugin A");

    // On disk: inside the app's sandbox, per plugin.
    let a_dir = wxfs::sandbox::sandbox_dir(&root, b"u", b"wx1").join("plugin").join("wx^plugin^a");
    assert_eq!(std::fs::read(a_dir.join("usr/only-a.txt")).unwrap(), b"a");
    assert!(a_dir.join("kv/data.log").is_file());

    // A second open of the same plugin shares its sandbox.
    let pa2 = lib.open(&cfg("wx1", Some("wxPluginA"))).unwrap();
    assert_eq!(lib.ok(pa2, "getStorageSync", json!({"key": "k"}))["data"], "plugin A");
    for h in [app, pa, pa2, pb, pa_other_app] {
        assert_eq!(lib.close(h), 0);
    }
    // And its data outlives a close.
    let pa = lib.open(&cfg("wx1", Some("wxPluginA"))).unwrap();
    assert_eq!(lib.ok(pa, "getStorageSync", json!({"key": "k"}))["data"], "plugin A");
    assert_eq!(lib.close(pa), 0);

    assert!(lib.open(&cfg("wx1", Some(""))).is_err(), "an empty pluginId is a config error");
}

#[test]
fn a_plugin_lacks_what_the_typings_say_plugins_lack() {
    let lib = Lib::load();
    let root = common::fresh_dir("plugin-apis");
    let app = lib.open(&json!({"root": root, "userId": "u", "appId": "wx1"})).unwrap();
    let p = lib.open(&json!({"root": root, "userId": "u", "appId": "wx1", "pluginId": "wxP"})).unwrap();
    let missing = [
        "saveFile",
        "saveFileSync",
        "getSavedFileList",
        "getSavedFileInfo",
        "removeSavedFile",
        "getFileInfo",
        "readCompressedFile",
        "readCompressedFileSync",
        "getStorageInfo",
        "getStorageInfoSync",
        "clearStorage",
        "clearStorageSync",
        "batchSetStorage",
        "batchSetStorageSync",
        "batchGetStorage",
        "batchGetStorageSync",
        "createBufferURL",
        "revokeBufferURL",
    ];
    let (app_apis, plugin_apis) = (api_list(&lib, app), api_list(&lib, p));
    for api in missing {
        assert!(app_apis.iter().any(|a| a == api), "{api} is the app's");
        assert!(!plugin_apis.iter().any(|a| a == api), "{api} is listed for a plugin");
        let (rc, r) = lib.invoke(p, api, &json!({}));
        assert_eq!(
            (rc, r["errMsg"].as_str().unwrap()),
            (-5, format!("{api}:fail api \"{api}\" is not available to plugins").as_str())
        );
    }
    // Nothing else is left out (the Sync twins of the bridge's own go with them).
    for api in app_apis.iter().filter(|a| !plugin_apis.contains(a)) {
        assert!(missing.contains(&api.strip_suffix("Sync").unwrap_or(api)), "{api} is left out");
    }
    // What plugins have: the file system manager's other methods and set/get/removeStorage.
    for api in
        ["setStorage", "getStorageSync", "removeStorage", "readFile", "writeFileSync", "unzip", "open", "host.createTempFile"]
    {
        assert!(plugin_apis.iter().any(|a| a == api), "{api}");
    }
    // Temp files the host makes for the plugin are the plugin's to read.
    let t = lib.ok(p, "host.createTempFile", json!({"data": "from the host"}))["tempFilePath"].as_str().unwrap().to_string();
    assert_eq!(lib.ok(p, "readFileSync", json!({"filePath": t, "encoding": "utf8"}))["data"], "from the host");
    assert_eq!(lib.invoke(app, "accessSync", &json!({"path": t})).0, 1300002, "not the app's");
    assert_eq!(lib.close(p), 0);
    assert_eq!(lib.close(app), 0);
}

/// Removing the app (the user deleted the mini-program) removes its plugins' data too, and is
/// refused while one of them is open.
#[test]
fn removing_the_app_removes_its_plugins() {
    let root = common::fresh_dir("plugin-remove");
    let plugin = |p: &str| {
        let mut c = wxfs::Config::new(&root, "u", "wx1");
        c.plugin_id = Some(p.into());
        c
    };
    let s = wxfs::Session::open(plugin("wxP")).unwrap();
    assert_eq!(wxfs::bridge::invoke(&s, "setStorageSync", &json!({"key": "k", "data": 1}).to_string()).0, 0);
    // Only the plugin was ever opened: there is still something to remove, but not while it is open.
    assert!(matches!(wxfs::session::remove_sandbox(&root, "u", "wx1"), Err(wxfs::sandbox::OpenError::InUse(_))));
    drop(s);
    assert!(wxfs::session::remove_sandbox(&root, "u", "wx1").unwrap());
    assert!(!wxfs::sandbox::sandbox_dir(&root, b"u", b"wx1").exists());
    assert!(!wxfs::session::remove_sandbox(&root, "u", "wx1").unwrap(), "nothing left");
    let s = wxfs::Session::open(plugin("wxP")).unwrap();
    assert_eq!(wxfs::bridge::invoke(&s, "getStorageSync", &json!({"key": "k"}).to_string()).1["data"], "");
}

/// gc trims plugins' temp areas with the apps', least recently used first; fsck checks them.
#[test]
fn gc_and_fsck_visit_plugin_sandboxes() {
    let root = common::fresh_dir("plugin-gc");
    let mut cfg = wxfs::Config::new(&root, "u", "wx1");
    cfg.plugin_id = Some("wxP".into());
    let s = wxfs::Session::open(cfg).unwrap();
    let (rc, r) = wxfs::bridge::invoke(&s, "host.createTempFile", &json!({"data": "x".repeat(1000)}).to_string());
    assert_eq!(rc, 0, "{r}");
    let dir = s.sandbox.dir().to_path_buf();
    drop(s);
    assert!(dir.starts_with(wxfs::sandbox::sandbox_dir(&root, b"u", b"wx1")));
    let report = wxfs::session::gc(&root, 0, |_, _| {}).unwrap();
    assert_eq!((report.before, report.after, report.trimmed.clone()), (1000, 0, vec![dir.clone()]));
    assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    let checked = wxfs::fsck::fsck(&root, false, |_, _| {}).unwrap();
    assert_eq!(checked.iter().map(|r| r.dir.clone()).collect::<Vec<_>>(), vec![dir]);
}
