//! `wxfs serve` in a real browser: headless Chromium (Debian's `/usr/bin/chromium`) driven by
//! playwright-core (`tests/inspector/`, `npm ci` there). This test is the host: it fills a root
//! through the library (two platforms, a plugin, an encrypted item, 10,000 keys, 100,000 files),
//! keeps another sandbox open and writing in a child process (with a user-file quota of its own,
//! and a write over it once the page's Events tab is open), starts `wxfs serve --write`, and
//! has `tests/inspector/browser.mjs` walk every view. Then it checks what the page showed against
//! the library's own figures (the limits each host configured, or the defaults, saying which),
//! that the host's refusal reached the open Events tab, reads the browser's edit back through
//! the C ABI, and checks that the held sandbox's writes all landed. Screenshots of each view: `target/inspector-screenshots/`.
//!
//! Without node, chromium or `tests/inspector/node_modules` it is reported as skipped (ignored,
//! with a `skipped:` line; tests/common/skip.rs), and fails when `CI` is set. It prints how long the overview took to draw after navigation, three loads
//! (a figure, never asserted); `WXFS_SERVE_CLI=target/release/wxfs` times a release build.

mod common;
mod serve_support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::bridge::ok;
use common::skip::{self, Test, Tool};
use serde_json::{json, Value};
use serve_support::{hold, Holder, Server};
use wxfs::platform::Platform;
use wxfs::storage::sealed::{EncryptionKey, PREFIX};
use wxfs::{Config, Session};

fn chromium() -> String {
    std::env::var("WXFS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// What the browser test needs.
fn tools() -> Vec<Tool> {
    let chromium = chromium();
    vec![
        Tool::file(chromium.clone(), Path::new(&chromium), "apt-get install chromium"),
        Tool::runs("node", &["--version"], "apt-get install nodejs npm"),
        Tool::file(
            "tests/inspector/node_modules/playwright-core".into(),
            &common::repo_dir().join("tests/inspector/node_modules/playwright-core"),
            "npm ci in tests/inspector",
        ),
    ]
}

fn main() -> std::process::ExitCode {
    skip::run_with_ignored(
        vec![Test { name: "the_inspector_in_a_browser", needs: tools(), body: the_inspector_in_a_browser }],
        vec![("holder_child", holder_child)],
    )
}

/// A 96x64 24-bit BMP.
fn picture() -> Vec<u8> {
    let (w, h) = (96u32, 64u32);
    let size = 54 + w * h * 3;
    let mut b = b"BM".to_vec();
    for v in [size, 0, 54, 40, w, h] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&(w * h * 3).to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    for y in 0..h {
        for x in 0..w {
            b.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 0xc1]);
        }
    }
    b
}

const KEYS: usize = 10_000;
/// The user-file quota the held sandbox's host configures.
const HELD_QUOTA: u64 = 1 << 20;
const DIRS: usize = 100;
const FILES_PER_DIR: usize = 1_000;
const MARKUP_KEY: &str = "<img src=x onerror=window.__pwned=1>";
const MARKUP_FILE: &str = "<img src=x onerror=window.__pwned=2>.txt";

fn big_config(root: &Path) -> Config {
    let mut c = Config::new(root, "u1", "wxbig");
    c.encryption_key = Some(EncryptionKey([7; 16]));
    c
}

fn fill_big_sandbox(root: &Path) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let s = Session::open(big_config(root)).unwrap();
    for i in 0..KEYS {
        let data = match i % 3 {
            0 => json!({"id": i, "name": format!("item {i}"), "tags": ["a", "b"]}),
            1 => json!(format!("value {i}")),
            _ => json!(i * 7),
        };
        ok(&s, "setStorageSync", json!({"key": format!("key-{i:05}"), "data": data}));
    }
    ok(&s, "setStorageSync", json!({"key": MARKUP_KEY, "data": "<b onmouseover=window.__pwned=3>bold</b>"}));
    ok(&s, "setStorage", json!({"key": "session-token", "data": "secret-value", "encrypt": true}));
    for d in 0..DIRS {
        ok(&s, "mkdirSync", json!({"dirPath": format!("wxfile://usr/d{d:03}")}));
        for f in 0..FILES_PER_DIR {
            ok(
                &s,
                "writeFileSync",
                json!({"filePath": format!("wxfile://usr/d{d:03}/f{f:04}.txt"), "data": format!("file {d}/{f}\n")}),
            );
        }
    }
    ok(&s, "writeFileSync", json!({"filePath": "wxfile://usr/readme.txt", "data": "Hello from the test host.\nSecond line.\n"}));
    let pic = b64.encode(picture());
    ok(
        &s,
        "writeFileSync",
        json!({"filePath": "wxfile://usr/picture.bmp", "__nativeBuffers__": [{"key": "data", "base64": pic}]}),
    );
    ok(
        &s,
        "writeFileSync",
        json!({"filePath": format!("wxfile://usr/{MARKUP_FILE}"), "data": "<script>window.__pwned=4</script>"}),
    );
    let t = ok(&s, "host.createTempFile", json!({"data": "a saved download", "extension": "txt"}));
    ok(&s, "saveFile", json!({"tempFilePath": t["tempFilePath"]}));
    ok(&s, "host.createTempFile", json!({"data": "a temp file the host made", "extension": "txt"}));
    drop(s);

    let mut plugin = Config::new(root, "u1", "wxbig");
    plugin.plugin_id = Some("plug-1".into());
    let s = Session::open(plugin).unwrap();
    ok(&s, "setStorageSync", json!({"key": "plugin-setting", "data": {"on": true}}));
    ok(&s, "writeFileSync", json!({"filePath": "wxfile://usr/plugin.txt", "data": "plugin data"}));
    drop(s);

    let s = Session::open(Config::new(root, "u1", "wxali").with_platform(Platform::Alipay)).unwrap();
    ok(&s, "setStorageSync", json!({"key": "ali-key", "data": "支付宝"}));
    ok(&s, "writeFileSync", json!({"filePath": "https://usr/ali.txt", "data": "alipay file"}));
    drop(s);

    let s = Session::open(Config::new(root, "u1", "wxedit")).unwrap();
    ok(&s, "setStorageSync", json!({"key": "greeting", "data": {"hello": "world"}}));
    ok(&s, "setStorageSync", json!({"key": "to-delete", "data": 1}));
    drop(s);
    // An interrupted write, repaired (and reported) by the first open, the browser's edit.
    std::fs::write(root.join("u1/wxedit/staging/.interrupted"), "x").unwrap();
}

/// The library's own figures of a closed sandbox.
fn figures(config: Config) -> Value {
    let s = Session::open(config).unwrap();
    let u = s.fs.usage();
    let l = s.fs.limits();
    json!({
        "userFiles": [u.user, l.user_files], "temp": [u.temp, l.temp_runtime], "entries": [u.entries, l.entries_allowed()],
        "storage": [s.store.size(), l.storage_total], "keys": s.store.len(),
        "encrypted": s.store.keys_with_prefix(PREFIX).len(),
    })
}

/// The child side of the held sandbox.
fn holder_child() {
    hold();
}

fn the_inspector_in_a_browser() {
    let (chromium, dir) = (chromium(), common::repo_dir().join("tests/inspector"));
    let root = common::fresh_dir("serve-browser");
    let started = Instant::now();
    fill_big_sandbox(&root);
    println!("filled the root in {:.1} s", started.elapsed().as_secs_f64());
    let mut expected = serde_json::Map::new();
    expected.insert("u1/wxbig".into(), figures(big_config(&root)));
    let mut plugin = Config::new(&root, "u1", "wxbig");
    plugin.plugin_id = Some("plug-1".into());
    expected.insert("u1/wxbig/plugin/plug-1".into(), figures(plugin));
    expected.insert("u1/wxali@alipay".into(), figures(Config::new(&root, "u1", "wxali").with_platform(Platform::Alipay)));
    // Opening wxedit here would repair its staging before the browser's edit can: its figures
    // are read through the C ABI after the edit instead.
    // The Alipay sandbox as a release before the record leaves it: its defaults, said so.
    std::fs::remove_file(root.join("u1/wxali@alipay").join(wxfs::sandbox::eventlog::LIMITS)).unwrap();

    // The held sandbox's host configured a 1 MiB quota, and has a write refused once the
    // browser's Events tab is open (it creates the trigger file, beside the root).
    let trigger = root.with_extension("refuse");
    let _ = std::fs::remove_file(&trigger);
    let holder = Holder::start_with("holder_child", &root, "u2", "wxheld", Some((HELD_QUOTA, &trigger)));
    let holder_pid = holder.pid;
    let server = Server::start(&root, &["--write"]);
    let shots = common::repo_dir().join("target/inspector-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let report_path = root.with_extension("report.json");
    let out = Command::new("node")
        .arg(dir.join("browser.mjs"))
        .current_dir(&dir)
        .env("WXFS_URL", &server.url)
        .env("WXFS_SCREENSHOTS", &shots)
        .env("WXFS_REPORT", &report_path)
        .env("WXFS_CHROMIUM", &chromium)
        .env("WXFS_TRIGGER", &trigger)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{said}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}): {said}"));
    assert_eq!(report["errors"], json!([]), "{said}");
    assert!(out.status.success(), "{said}");
    let done = holder.stop();
    drop(server);

    // The overview against the library's figures.
    let overview = &report["overview"];
    let ids: Vec<&String> = overview.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["u1/wxali@alipay", "u1/wxbig", "u1/wxbig/plugin/plug-1", "u1/wxedit", "u2/wxheld"]);
    for (id, want) in &expected {
        let card = &overview[id];
        for metric in ["userFiles", "temp", "entries", "storage"] {
            let bar = &card["bars"][metric];
            assert_eq!(json!([bar["value"], bar["limit"]]), want[metric], "{id} {metric}: {card}");
        }
        assert_eq!((&card["keys"], &card["encrypted"]), (&want["keys"], &want["encrypted"]), "{id}");
        assert_eq!(card["state"], "idle", "{id}");
        assert_eq!(card["notes"], json!([]), "{id}");
    }
    let big = &overview["u1/wxbig"];
    assert_eq!(big["title"], "wechatu1 / wxbig");
    assert_eq!(big["keysText"], "10,002 keys (1 encrypted)");
    assert_eq!(
        big["bars"]["entries"]["text"],
        format!("{} of 200,000", fmt(expected["u1/wxbig"]["entries"][0].as_u64().unwrap()))
    );
    assert_eq!(overview["u1/wxbig/plugin/plug-1"]["plugin"], "plugin plug-1");
    assert_eq!(overview["u1/wxali@alipay"]["platform"], "alipay");
    assert_eq!(overview["u1/wxedit"]["notes"], json!(["1 file(s) of interrupted writes in staging (removed at the next open)"]));
    assert_eq!(overview["u2/wxheld"]["state"], format!("open in process {holder_pid}"));
    // Limits: the held sandbox's host's own, the others' as recorded (their hosts' were the
    // defaults) or, where none is recorded, the platform's defaults, each saying which.
    let held_bars = &overview["u2/wxheld"]["bars"];
    assert_eq!((&held_bars["userFiles"]["limit"], &held_bars["entries"]["limit"]), (&json!(HELD_QUOTA), &json!(1024)));
    assert_eq!(held_bars["userFiles"]["text"].as_str().unwrap().split(" of ").nth(1), Some("1.00 MiB"));
    let configured = "Limits: as its host configured them at its last open.";
    let defaults = "Limits: the platform\u{2019}s defaults (no configured limits recorded in this sandbox).";
    for (id, want) in [("u2/wxheld", configured), ("u1/wxbig", configured), ("u1/wxali@alipay", defaults)] {
        assert_eq!(overview[id]["limits"], want, "{id}");
    }
    assert_eq!(report["held"]["overview"], format!("open in process {holder_pid}"));

    // Storage: a page of 100, the encrypted item without its name, the markup key as text.
    let st = &report["storage"];
    let want = &expected["u1/wxbig"];
    assert_eq!((&st["keys"], &st["encrypted"], &st["bytes"]), (&want["keys"], &want["encrypted"], &want["storage"][0]));
    assert_eq!((&st["rows"], &st["range"], &st["firstKey"]), (&json!(100), &json!("1–100 of 10,002"), &json!("key-00000")));
    assert_eq!(
        (&report["storagePage2"]["range"], &report["storagePage2"]["firstKey"]),
        (&json!("101–200 of 10,002"), &json!("key-00100"))
    );
    assert_eq!(report["value"], "{\n  \"id\": 150,\n  \"name\": \"item 150\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}");
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("session-token") && !text.contains("secret-value"), "an encrypted item's name or value was shown");
    let m = &report["markupKey"];
    assert_eq!((&m["key"], &m["detailKey"]), (&json!(MARKUP_KEY), &json!(MARKUP_KEY)));
    assert_eq!(m["value"], "\"<b onmouseover=window.__pwned=3>bold</b>\"");
    assert_eq!((&m["images"], &m["pwned"], &m["blocked"]), (&json!(0), &Value::Null, &json!([])), "markup was made of the key");

    // Files: a directory of 1,000 shown 200 at a time; previews; the download is the file.
    let f = &report["files"];
    let want_user = expected["u1/wxbig"]["userFiles"][0].as_u64().unwrap();
    let (usr, store) = (f["areas"]["usr"]["value"].as_u64().unwrap(), f["areas"]["store"]["value"].as_u64().unwrap());
    assert_eq!((usr + store, store), (want_user, "a saved download".len() as u64));
    assert_eq!(f["areas"]["tmp"]["value"], expected["u1/wxbig"]["temp"][0]);
    // usr's first page (100 directories and 3 files) and d000's first 200, and the "more" row.
    assert_eq!(f["rowsAfterOnePage"], 103 + 200 + 1);
    assert_eq!(f["more"], "Show 200 more (800 not shown)");
    assert_eq!((&f["rowsAfterTwoPages"], &f["lastShown"]), (&json!(103 + 400 + 1), &json!("d000/f0399.txt")));
    assert_eq!(f["text"], "Hello from the test host.\nSecond line.\n");
    assert_eq!(f["image"], json!({"width": 96, "height": 64}));
    assert_eq!(f["downloadBytes"], picture().len());
    assert_eq!(f["markupFile"], MARKUP_FILE);
    assert_eq!(f["markupFileShown"], json!({"title": MARKUP_FILE, "images": 0, "pwned": null, "blocked": []}));

    // The edit, read back through the C ABI.
    let lib = common::abi::Lib::load();
    let h = lib.open(&json!({"root": root, "userId": "u1", "appId": "wxedit"})).unwrap();
    let (_, got) = lib.invoke(h, "getStorageSync", &json!({"key": "greeting"}));
    assert_eq!(
        (got["data"].to_string(), &got["dataType"]),
        (r#"{"hello":"browser","n":12345678901234567890}"#.to_string(), &json!("Object"))
    );
    assert_eq!(report["edit"]["shown"], "{\n  \"hello\": \"browser\",\n  \"n\": 12345678901234567890\n}");
    assert_eq!(report["edit"]["refused"], "setStorageSync:fail exceed storage item max length");
    assert_eq!(lib.invoke(h, "getStorageSync", &json!({"key": "added"})).1["data"], "typed in the browser");
    let (_, info) = lib.invoke(h, "getStorageInfoSync", &json!({}));
    assert_eq!(info["keys"], json!(["greeting", "added"]));
    assert_eq!(report["edit"]["keys"], json!(["greeting", "added"]));
    lib.close(h);

    // Events heard live in another tab: the repair the edit's open made, and the edits.
    let events: Vec<&str> = report["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(
        events.contains(&"library | warn | u1/wxedit | u1/wxedit/staging: 1 file(s) of interrupted writes removed (1 bytes)"),
        "{events:#?}"
    );
    assert!(events.contains(&"inspector | info | u1/wxedit | set \"greeting\": done (setStorageSync)"), "{events:#?}");
    assert_eq!(report["eventsTabKept"], true, "the events tab was reloaded");
    // And what the held sandbox's host heard, in that process, while the tab was open.
    let host =
        events.iter().find(|e| e.starts_with(&format!("process {holder_pid} | "))).unwrap_or_else(|| panic!("{events:#?}"));
    let (head, tail) = (
        format!("process {holder_pid} | warn | u2/wxheld | u2/wxheld/usr: writeFileSync refused (1300202 the maximum size of the file storage limit is exceeded); user files "),
        format!(" of {HELD_QUOTA} bytes, 1 of 1024 entries"),
    );
    assert!(host.starts_with(&head) && host.ends_with(&tail), "{host}");

    // The held sandbox: read-only, refused with its pid, and its writes kept landing.
    let held = &report["held"];
    let why =
        format!("read-only: open in process {holder_pid}; the inspector never writes into a sandbox another process has open");
    assert_eq!((&held["view"]["readOnly"], &held["view"]["buttons"], &held["editButtons"]), (&json!(why), &json!(0), &json!(0)));
    assert_eq!(held["write"], json!({"status": 409, "error": why}));
    assert_eq!(done.failed, Vec::<String>::new(), "the held sandbox's writes failed while the page was open");
    let (first, second) = (held["first"].as_u64().unwrap(), held["second"].as_u64().unwrap());
    assert!(
        first < second && second <= done.writes,
        "the counter moved on while inspected: {first} then {second}, {} written",
        done.writes
    );
    // And the last of them landed: the holder's final counter and file, read back once it closed.
    let s = Session::open(Config::new(&root, "u2", "wxheld")).unwrap();
    assert_eq!(ok(&s, "getStorageSync", json!({"key": "counter"}))["data"], done.writes);
    assert_eq!(
        ok(&s, "readFileSync", json!({"filePath": "wxfile://usr/counter.txt", "encoding": "utf8"}))["data"],
        done.writes.to_string()
    );
    drop(s);

    let ms: Vec<f64> = report["overviewReadyMs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let api: Vec<f64> = report["overviewApiMs"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    let build = if std::env::var_os("WXFS_SERVE_CLI").is_some() { "WXFS_SERVE_CLI" } else { "this build" };
    println!(
        "overview of {KEYS} keys and {} files drawn {ms:.0?} ms after navigation, /api/overview answered in {api:.0?} ms (served by {build})",
        DIRS * FILES_PER_DIR
    );
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_file(&report_path);
    let _ = std::fs::remove_file(&trigger);
}

fn fmt(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
