//! The `wxfs` inspector as a host developer meets it: help and version on stdout with exit 0, a
//! wrong argument named with exit 2, a missing root, user or app named with exit 1 and nothing
//! created, `gc ROOT 0` meaning the default as `wxfs_gc(root, 0, ...)` does, and `ls` and
//! `storage` reading a sandbox that another process holds open.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::crash::tear_storage_log;
use serde_json::json;
use wxfs::{bridge, Config, Session};

const CLI: &str = env!("CARGO_BIN_EXE_wxfs");
const SUBCOMMANDS: &[&str] =
    &["demo", "ls", "storage", "serve", "invoke", "rm", "gc", "fsck", "import-mmkv", "completions", "man"];

fn wxfs(args: &[&str]) -> Output {
    Command::new(CLI).args(args).stdin(Stdio::null()).output().unwrap()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn expect(out: &Output, code: i32) -> (String, String) {
    let (o, e) = (lossy(&out.stdout), lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "--- stdout\n{o}\n--- stderr\n{e}");
    (o, e)
}

/// Every file and directory under `dir`, relative, sorted.
fn paths_under(dir: &Path) -> Vec<String> {
    fn visit(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            out.push(e.path().strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                visit(base, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out);
    out.sort();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn help_goes_to_stdout_with_exit_0_for_the_tool_and_every_subcommand() {
    for flag in ["--help", "-h", "help"] {
        let (out, err) = expect(&wxfs(&[flag]), 0);
        assert!(out.contains("Usage: wxfs <COMMAND>"), "{out}");
        for sub in SUBCOMMANDS {
            assert!(out.contains(&format!("\n  {sub} ")), "{flag}: {sub} missing from\n{out}");
        }
        assert_eq!(err, "");
    }
    for sub in SUBCOMMANDS {
        let (out, _) = expect(&wxfs(&[sub, "--help"]), 0);
        let usage = format!("Usage: wxfs {sub}");
        assert!(out.contains(&format!("{usage} ")) || out.contains(&format!("{usage}\n")), "{sub} --help:\n{out}");
        let (out2, _) = expect(&wxfs(&["help", sub]), 0);
        assert_eq!(out, out2);
    }
    let (out, _) = expect(&wxfs(&["fsck", "--help"]), 0);
    assert!(out.contains("Usage: wxfs fsck [OPTIONS] <ROOT>") && out.contains("--repair"), "{out}");
    let (out, _) = expect(&wxfs(&["gc", "--help"]), 0);
    assert!(out.contains("0 or none: the default (6 GiB)") && out.contains("512MiB, 6GiB, 1.5GB"), "{out}");
    // fsck's exit codes are documented where a user looks for them.
    let (out, _) = expect(&wxfs(&["fsck", "--help"]), 0);
    assert!(
        out.contains(
            "Exit status: 0 every sandbox checked and consistent (or repaired), 1 a problem left unrepaired, 3 no \
             problem found but some sandboxes skipped (open elsewhere: run it again when they are closed)."
        ),
        "{out}"
    );
}

#[test]
fn version_prints_the_crate_version() {
    for flag in ["--version", "-V"] {
        let (out, _) = expect(&wxfs(&[flag]), 0);
        assert_eq!(out, format!("wxfs {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn a_wrong_command_line_is_named_with_exit_2_and_runs_nothing() {
    let root = common::fresh_dir("cli-args");
    let r = s(&root);
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: wxfs <COMMAND>"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["fsck", r, "--bogus"], "unexpected argument '--bogus'"),
        (&["gc", r, "1", "2"], "unexpected argument '2'"),
        (&["gc", r, "lots"], "invalid value 'lots' for '[LIMIT]': expected bytes (4096) or a size with a unit, as 512MiB"),
        (&["gc", r, "1.5"], "invalid value '1.5' for '[LIMIT]'"),
        (&["gc", r, "-1"], "unexpected argument '-1'"),
        (&["gc", r, "2XB"], "invalid value '2XB' for '[LIMIT]'"),
        (&["gc", r, "1e3"], "invalid value '1e3' for '[LIMIT]'"),
        (&["gc", r, "17TiB000"], "invalid value '17TiB000' for '[LIMIT]'"),
        (&["gc", r, "99999999999TB"], "is more than 18446744073709551615 bytes"),
        (&["ls", r, "u1", "wx1", "--platform", "line"], "invalid value 'line' for '--platform <P>'"),
        (&["storage", r, "u1", "wx1", "--plugin", ""], "a value is required for '--plugin <ID>' but none was supplied"),
        (&["rm", r, "u1"], "<APP>"),
        (
            &["ls", r, "--plugin", "p1"],
            "error: --platform and --plugin name one sandbox: give USER and APP too\n\nUsage: wxfs ls ",
        ),
        (&["completions", "tcsh"], "invalid value 'tcsh' for '<SHELL>'"),
        (&["ls"], "required arguments were not provided:\n  <ROOT>"),
        (&["ls", r, "u1"], "required arguments were not provided:\n  <APP>"),
        (&["storage", r, "u1"], "<APP>"),
        (&["storage", r, "u1", "wx1", "get"], "<KEY>"),
        (&["storage", r, "u1", "wx1", "dump"], "unexpected argument 'dump'"),
        (&["invoke", r, "u1", "wx1"], "<API>"),
        (&["invoke", r, "", "wx1", "readdirSync"], "a value is required for '<USER>' but none was supplied"),
        (&["--help-me"], "unexpected argument '--help-me'"),
    ];
    for (args, why) in cases {
        let (out, err) = expect(&wxfs(args), 2);
        assert!(err.contains(why), "{args:?}: stderr lacks {why:?}:\n{err}");
        assert_eq!(out, "", "{args:?}");
    }
    assert!(paths_under(&root).is_empty(), "{:?}", paths_under(&root));
}

#[test]
fn inspection_names_a_missing_root_user_or_app_and_creates_nothing() {
    let base = common::fresh_dir("cli-missing");
    let missing = base.join("no-such-root");
    let m = s(&missing);
    for args in [
        vec!["ls", m],
        vec!["ls", m, "u1", "wx1"],
        vec!["storage", m, "u1", "wx1"],
        vec!["storage", m, "u1", "wx1", "get", "k"],
        vec!["invoke", m, "u1", "wx1", "getStorageInfoSync"],
        vec!["gc", m],
        vec!["fsck", m],
        vec!["rm", m, "u1", "wx1"],
        vec!["import-mmkv", m, "u1", "wx1", m],
    ] {
        let (out, err) = expect(&wxfs(&args), 1);
        assert_eq!(
            err,
            format!(
                "wxfs: no such root: {m} (nothing was created){}\n",
                if args[0] == "invoke" { "; pass --create to create it" } else { "" }
            ),
            "{args:?}"
        );
        assert_eq!(out, "");
        assert!(!missing.exists(), "{args:?} created the root");
    }

    // One sandbox (u1, wx1) exists; a mistyped user or app is named, with what is there.
    let root = base.join("root");
    let s1 = Session::open(Config::new(&root, "u1", "wx1")).unwrap();
    assert_eq!(bridge::invoke(&s1, "setStorageSync", r#"{"key":"k","data":"v"}"#).0, 0);
    drop(s1);
    let before = paths_under(&root);
    let r = s(&root);
    let no_user = format!("wxfs: no user \"u2\" under {r} (users there: \"u1\")");
    let no_app = format!("wxfs: user \"u1\" has no mini-program \"wx2\" under {r} (theirs: \"wx1\")");
    for (args, want) in [
        (vec!["ls", r, "u2", "wx1"], no_user.clone()),
        (vec!["storage", r, "u2", "wx1"], no_user.clone()),
        (vec!["storage", r, "u1", "wx2", "list"], no_app.clone()),
        (vec!["ls", r, "u1", "wx2"], no_app.clone()),
        (
            vec!["invoke", r, "u2", "wx1", "setStorageSync", r#"{"key":"a","data":1}"#],
            format!("{no_user}; pass --create to create it"),
        ),
        (vec!["invoke", r, "u1", "wx2", "getStorageInfoSync"], format!("{no_app}; pass --create to create it")),
    ] {
        let (out, err) = expect(&wxfs(&args), 1);
        assert_eq!(err, format!("{want}\n"), "{args:?}");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(paths_under(&root), before, "{args:?} changed the root");
    }
    // Reading an existing sandbox changes nothing either (not even its last-use time).
    let last_use = std::fs::metadata(root.join("u1/wx1/LAST_USE")).unwrap().modified().unwrap();
    expect(&wxfs(&["ls", r, "u1", "wx1"]), 0);
    let (out, _) = expect(&wxfs(&["storage", r, "u1", "wx1"]), 0);
    assert_eq!(
        out,
        "1 keys, 4 bytes of keys, data and dataTypes (default limit 10485760)\nk                                \"v\"\n"
    );
    let (_, err) = expect(&wxfs(&["storage", r, "u1", "wx1", "get", "nope"]), 1);
    assert_eq!(err, "wxfs: no key \"nope\" in the storage of u1/wx1\n");
    assert_eq!(paths_under(&root), before);
    assert_eq!(std::fs::metadata(root.join("u1/wx1/LAST_USE")).unwrap().modified().unwrap(), last_use);

    // Creating takes the flag.
    let (out, _) = expect(&wxfs(&["invoke", r, "u2", "wx1", "setStorageSync", r#"{"key":"a","data":1}"#, "--create"]), 0);
    assert_eq!(out, "{\n  \"errMsg\": \"setStorageSync:ok\"\n}\n");
    let (out, _) = expect(&wxfs(&["storage", r, "u2", "wx1", "get", "a"]), 0);
    assert_eq!(out, "{\n  \"key\": \"a\",\n  \"data\": 1\n}\n");
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn invoke_prints_the_result_and_exits_1_when_the_api_fails() {
    let root = common::fresh_dir("cli-invoke");
    drop(Session::open(Config::new(&root, "u1", "wx1")).unwrap());
    let (out, err) = expect(&wxfs(&["invoke", s(&root), "u1", "wx1", "readFileSync", r#"{"filePath":"wxfile://usr/nope"}"#]), 1);
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        result,
        json!({"errMsg": "readFileSync:fail no such file or directory, open wxfile://usr/nope", "errCode": 1300002})
    );
    assert_eq!(err, "wxfs: readFileSync returned 1300002\n");
    let _ = std::fs::remove_dir_all(root);
}

/// `wxfs gc ROOT 0` keeps temp files under the default limit, as `wxfs_gc(root, 0, ...)` does
/// (tests/c/typed_test.c `test_gc`); a real limit trims.
#[test]
fn gc_limit_0_means_the_default_as_in_c() {
    let root = common::fresh_dir("cli-gc");
    let s1 = Session::open(Config::new(&root, "u1", "wx1")).unwrap();
    let (code, t) = bridge::invoke(&s1, "host.createTempFile", &json!({"data": "x".repeat(3000)}).to_string());
    assert_eq!(code, 0, "{t}");
    drop(s1);
    let temp = root.join("u1/wx1/tmp").join(t["tempFilePath"].as_str().unwrap().strip_prefix("wxfile://tmp_").unwrap());
    assert!(temp.exists());
    for args in [vec!["gc", s(&root), "0"], vec!["gc", s(&root)], vec!["gc", s(&root), "6GiB"]] {
        let (out, _) = expect(&wxfs(&args), 0);
        assert_eq!(out, "temp files: 2.9 KiB before, 2.9 KiB after (limit 6 GiB)\n", "{args:?}");
        assert!(temp.exists(), "{args:?} removed a temp file under the default limit");
    }
    // The same figures in bytes, for a script; sizes with units are read exactly.
    for (limit, bytes) in
        [("3000", 3000u64), ("3kB", 3000), ("2.93KiB", 3000), ("512MiB", 512 << 20), ("1.5GB", 1_500_000_000), ("0", 6 << 30)]
    {
        let (out, _) = expect(&wxfs(&["gc", s(&root), limit, "--json"]), 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, json!({"limit": bytes, "before": 3000, "after": 3000, "trimmed": [], "skipped": []}), "{limit}");
    }
    let (out, _) = expect(&wxfs(&["gc", s(&root), "2999", "--json"]), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"limit": 2999, "before": 3000, "after": 0, "trimmed": ["u1/wx1"], "skipped": []}));
    assert!(!temp.exists());
    let _ = std::fs::remove_dir_all(root);
}

/// Child side: open the sandbox, write, say so, and wait to be killed.
#[test]
#[ignore]
fn hold_child() {
    let Ok(root) = std::env::var("WXFS_CLI_HOLD_ROOT") else { return };
    let s = Session::open(Config::new(PathBuf::from(root), "u1", "wx1")).unwrap();
    for (api, args) in [
        ("mkdirSync", json!({"dirPath": "wxfile://usr/a"})),
        ("writeFileSync", json!({"filePath": "wxfile://usr/a/b.txt", "data": "hello"})),
        ("setStorageSync", json!({"key": "k", "data": {"n": 1}, "dataType": "Object"})),
        ("setStorageSync", json!({"key": "k2", "data": "v2"})),
    ] {
        assert_eq!(bridge::invoke(&s, api, &args.to_string()).0, 0, "{api}");
    }
    println!("@@held");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hold_in_child(root: &Path) -> Holder {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("WXFS_CLI_HOLD_ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.map(|l| l.contains("@@held")).unwrap_or(false)), "the child did not open the sandbox");
    Holder(child)
}

#[test]
fn ls_and_storage_read_a_sandbox_another_process_holds_and_invoke_says_how() {
    let root = common::fresh_dir("cli-held");
    let r = s(&root);
    let _holder = hold_in_child(&root);
    let lock = root.join("u1/wx1/LOCK");

    let (out, _) = expect(&wxfs(&["ls", r]), 0);
    let row = out.lines().find(|l| l.starts_with("u1 ")).unwrap_or_else(|| panic!("{out}"));
    assert!(row.ends_with("  open"), "{out}");

    let (out, _) = expect(&wxfs(&["ls", r, "u1", "wx1"]), 0);
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(lines[0], "sandbox u1/wx1 (user \"u1\", app \"wx1\"): open");
    assert_eq!(lines[1], "quota journal: 5 bytes of user and saved files (default limit 209715200), 0 bytes of temp files");
    let listing: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        listing,
        vec![
            vec!["wxfile://usr/a/", "-"],
            vec!["wxfile://usr/a/b.txt", "5"],
            vec!["1", "files:", "5", "bytes", "of", "user", "and", "saved", "files,", "0", "bytes", "of", "temp", "files"],
        ]
    );

    let (out, _) = expect(&wxfs(&["storage", r, "u1", "wx1"]), 0);
    assert_eq!(
        out,
        "2 keys, 20 bytes of keys, data and dataTypes (default limit 10485760)\n\
         k                                {\"n\":1}\n\
         k2                               \"v2\"\n"
    );
    let (out, _) = expect(&wxfs(&["storage", r, "u1", "wx1", "get", "k"]), 0);
    assert_eq!(out, "{\n  \"key\": \"k\",\n  \"data\": {\n    \"n\": 1\n  },\n  \"dataType\": \"Object\"\n}\n");

    let (out, err) = expect(&wxfs(&["invoke", r, "u1", "wx1", "getStorageInfoSync"]), 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "wxfs: sandbox is busy: locked by another process ({})\n`wxfs invoke` runs the api in this process, so it \
             needs the sandbox to itself: close the mini-program first. To look while it runs: `wxfs ls {r} u1 wx1` \
             (files and quota) and `wxfs storage {r} u1 wx1` (storage).\n",
            lock.display()
        )
    );
    // fsck leaves it alone, says so, and does not exit as if it had checked everything.
    let (out, err) = expect(&wxfs(&["fsck", r]), 3);
    assert_eq!(
        out,
        "u1/wx1: open elsewhere, skipped (not checked)\n0 checked, 1 skipped (open elsewhere), 0 with unrepaired problems\n"
    );
    assert_eq!(err, "wxfs: 1 sandbox(es) open in another process were not checked; run fsck again when they are closed\n");
    let (out, _) = expect(&wxfs(&["fsck", r, "--json"]), 3);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        json!({"sandboxes": [{"sandbox": "u1/wx1", "status": "skipped"}], "checked": 0, "skipped": 1, "unrepaired": 0})
    );

    // rm refuses an open sandbox and changes nothing.
    let before = paths_under(&root);
    let (out, err) = expect(&wxfs(&["rm", r, "u1", "wx1"]), 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "wxfs: u1/wx1 is open, not removed (sandbox is busy: locked by another process ({})); close the mini-program first\n",
            lock.display()
        )
    );
    assert_eq!(paths_under(&root), before);
}

#[test]
fn invoke_reports_the_recovery_its_open_did() {
    let root = common::fresh_dir("cli-recovery");
    let s1 = Session::open(Config::new(&root, "u1", "wx1")).unwrap();
    assert_eq!(bridge::invoke(&s1, "setStorageSync", r#"{"key":"k","data":"v"}"#).0, 0);
    drop(s1);
    tear_storage_log(&root.join("u1/wx1/kv/data.log"), &[7; 5]);
    let (_, err) = expect(&wxfs(&["invoke", s(&root), "u1", "wx1", "getStorageInfoSync"]), 0);
    assert_eq!(err, "wxfs: warn: u1/wx1: u1/wx1/kv: storage log: 5 bytes after the last whole record cut (1 records kept)\n");
    let _ = std::fs::remove_dir_all(root);
}

/// Encrypted storage items are counted by the inspector, and neither their names nor values shown.
#[test]
fn storage_listing_counts_encrypted_items_without_showing_them() {
    let root = common::fresh_dir("cli-encrypted");
    let mut cfg = Config::new(&root, "u1", "wx1");
    cfg.encryption_key = Some(wxfs::storage::sealed::EncryptionKey([9; 16]));
    let session = Session::open(cfg).unwrap();
    for (api, args) in [
        ("setStorage", json!({"key": "secret-name", "data": "secret-value", "encrypt": true})),
        ("setStorageSync", json!({"key": "k", "data": "v"})),
    ] {
        assert_eq!(bridge::invoke(&session, api, &args.to_string()).0, 0);
    }
    drop(session);
    let (out, _) = expect(&wxfs(&["storage", s(&root), "u1", "wx1"]), 0);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("2 keys (1 encrypted, not shown), "), "{out}");
    assert_eq!(lines.map(str::trim_end).collect::<Vec<_>>(), ["k                                \"v\""]);
    assert!(!out.contains("secret"), "{out}");
}

/// (u1, wx1) with a 5-byte file, a 3000-byte temp file and one storage item, closed; returns its
/// temp file's name.
fn small_sandbox(root: &Path) -> String {
    let s1 = Session::open(Config::new(root, "u1", "wx1")).unwrap();
    for (api, args) in [
        ("writeFileSync", json!({"filePath": "wxfile://usr/a.txt", "data": "hello"})),
        ("setStorageSync", json!({"key": "k", "data": {"n": 1}})),
    ] {
        assert_eq!(bridge::invoke(&s1, api, &args.to_string()).0, 0, "{api}");
    }
    let (code, t) = bridge::invoke(&s1, "host.createTempFile", &json!({"data": "x".repeat(3000)}).to_string());
    assert_eq!(code, 0, "{t}");
    t["tempFilePath"].as_str().unwrap().to_string()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn json_of(args: &[&str], code: i32) -> serde_json::Value {
    let (out, _) = expect(&wxfs(args), code);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

/// `--json` prints one JSON document with the figures of the text output.
#[test]
fn json_output_carries_the_text_figures() {
    let root = common::fresh_dir("cli-json");
    let r = s(&root);
    let temp = small_sandbox(&root);

    let (text, _) = expect(&wxfs(&["ls", r]), 0);
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["u1", "wx1", "-", "0.0", "MiB", "/", "200", "MiB", "0.0", "MiB", "log", "0.0", "MiB", "closed"]);
    let storage_bytes =
        std::fs::read_dir(root.join("u1/wx1/kv")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum::<u64>();
    assert_eq!(
        json_of(&["ls", r, "--json"], 0),
        json!({"sandboxes": [{
            "user": "u1", "app": "wx1", "platform": "wechat", "plugin": null, "dir": "u1/wx1", "state": "closed",
            "userBytes": 5, "userLimit": 209715200, "tempBytes": 3000, "storageBytes": storage_bytes, "interruptedWrites": 0,
        }], "count": 1})
    );

    let (text, _) = expect(&wxfs(&["ls", r, "u1", "wx1"]), 0);
    assert_eq!(
        text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>(),
        [
            "sandbox u1/wx1 (user \"u1\", app \"wx1\"): closed".to_string(),
            "quota journal: 5 bytes of user and saved files (default limit 209715200), 3000 bytes of temp files".into(),
            "wxfile://usr/a.txt 5".into(),
            format!("{temp} 3000"),
            "2 files: 5 bytes of user and saved files, 3000 bytes of temp files".into(),
        ]
    );
    assert_eq!(
        json_of(&["ls", r, "u1", "wx1", "--json"], 0),
        json!({
            "sandbox": "u1/wx1", "user": "u1", "app": "wx1", "platform": "wechat", "plugin": null, "state": "closed",
            "journal": {"userBytes": 5, "userLimit": 209715200, "tempBytes": 3000, "interruptedWrites": 0},
            "entries": [{"path": "wxfile://usr/a.txt", "size": 5}, {"path": temp, "size": 3000}],
            "files": {"count": 2, "userBytes": 5, "tempBytes": 3000}, "stable": true,
        })
    );

    let (text, _) = expect(&wxfs(&["storage", r, "u1", "wx1"]), 0);
    assert_eq!(
        text,
        "1 keys, 8 bytes of keys, data and dataTypes (default limit 10485760)\nk                                {\"n\":1}\n"
    );
    let want =
        json!({"keys": 1, "encrypted": 0, "bytes": 8, "limit": 10485760, "items": [{"key": "k", "data": {"n": 1}}], "notes": []});
    assert_eq!(json_of(&["storage", r, "u1", "wx1", "--json"], 0), want);
    assert_eq!(json_of(&["storage", r, "u1", "wx1", "list", "--json"], 0), want);
    // `get` prints an item of that list.
    assert_eq!(json_of(&["storage", r, "u1", "wx1", "get", "k"], 0), want["items"][0]);
    assert_eq!(json_of(&["storage", r, "u1", "wx1", "--json", "get", "k"], 0), want["items"][0]);

    let (text, _) = expect(&wxfs(&["fsck", r]), 0);
    assert_eq!(
        text,
        "u1/wx1: ok (5 user bytes, 3000 temp bytes, 1 storage records)\n1 checked, 0 skipped (open elsewhere), 0 with unrepaired problems\n"
    );
    assert_eq!(
        json_of(&["fsck", r, "--json"], 0),
        json!({"sandboxes": [{
            "sandbox": "u1/wx1", "status": "ok", "userBytes": 5, "tempBytes": 3000, "storageRecords": 1, "problems": [], "repaired": [],
        }], "checked": 1, "skipped": 0, "unrepaired": 0})
    );
    // A problem left: exit 1, and the same in JSON.
    std::fs::write(root.join("u1/wx1/usr/a.txt"), "hello, world").unwrap();
    let (text, _) = expect(&wxfs(&["fsck", r]), 1);
    let problem = "quota journal says 5 user / 3000 temp bytes / 1 entries, files hold 12 / 3000 / 1";
    assert_eq!(
        text,
        format!("u1/wx1: 1 problem(s)\n  - {problem}\n1 checked, 0 skipped (open elsewhere), 1 with unrepaired problems\n")
    );
    let v = json_of(&["fsck", r, "--json"], 1);
    assert_eq!(
        (v["sandboxes"][0]["status"].clone(), v["sandboxes"][0]["problems"].clone()),
        (json!("problems"), json!([problem]))
    );
    assert_eq!((v["checked"].clone(), v["skipped"].clone(), v["unrepaired"].clone()), (json!(1), json!(0), json!(1)));
    let _ = std::fs::remove_dir_all(root);
}

/// `--platform` and `--plugin` name the sandbox `wxfs::Config` with that platform and plugin opens.
#[test]
fn platform_and_plugin_name_the_sandbox_config_opens() {
    use wxfs::platform::Platform;
    let root = common::fresh_dir("cli-target");
    let r = s(&root);
    let cfg = |platform: Platform, plugin: Option<&str>| {
        let mut c = Config::new(&root, "u1", "wx1").with_platform(platform);
        c.plugin_id = plugin.map(str::to_string);
        c
    };
    let targets = [
        (Platform::Wechat, None),
        (Platform::Alipay, None),
        (Platform::Douyin, None),
        (Platform::Baidu, Some("p1")),
        (Platform::Qq, None),
        (Platform::Wechat, Some("p1")),
    ];
    for (platform, plugin) in targets {
        let session = Session::open(cfg(platform, plugin)).unwrap();
        let args =
            json!({"key": "who", "data": format!("{}{}", platform.name(), plugin.map(|p| format!("+{p}")).unwrap_or_default())});
        let (code, res) = bridge::invoke(&session, "setStorageSync", &args.to_string());
        assert_eq!(code, 0, "{res}");
    }
    for (platform, plugin) in targets {
        let c = cfg(platform, plugin);
        let mut flags = vec!["--platform", platform.name()];
        if let Some(p) = plugin {
            flags.extend(["--plugin", p]);
        }
        let with = |args: &[&str]| -> Vec<String> { args.iter().chain(&flags).map(|a| a.to_string()).collect() };
        let who = format!("{}{}", platform.name(), plugin.map(|p| format!("+{p}")).unwrap_or_default());
        assert_eq!(
            json_of(&refs(&with(&["storage", r, "u1", "wx1", "get", "who"])), 0),
            json!({"key": "who", "data": who}),
            "{flags:?}"
        );
        let v = json_of(&refs(&with(&["ls", r, "u1", "wx1", "--json"])), 0);
        let rel = c.sandbox_dir().strip_prefix(&root).unwrap().display().to_string();
        assert_eq!(
            (v["sandbox"].clone(), v["platform"].clone(), v["plugin"].clone()),
            (json!(rel), json!(platform.name()), json!(plugin))
        );
        let (out, _) = expect(&wxfs(&refs(&with(&["invoke", r, "u1", "wx1", "getStorageSync", r#"{"key":"who"}"#]))), 0);
        let got: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(got["data"], json!(who), "{flags:?}: {out}");
    }
    // A plugin that is not there is named, with those that are.
    let (_, err) = expect(&wxfs(&["storage", r, "u1", "wx1", "--plugin", "p2"]), 1);
    assert_eq!(err, format!("wxfs: user \"u1\" has no plugin \"p2\" in mini-program \"wx1\" under {r} (its plugins: \"p1\")\n"));
    let (_, err) = expect(&wxfs(&["ls", r, "u1", "wx2", "--platform", "alipay"]), 1);
    assert_eq!(
        err,
        format!("wxfs: user \"u1\" has no mini-program \"wx2\" on alipay under {r} (theirs: \"wx1\", \"wx1\"@alipay, \"wx1\"@baidu, \"wx1\"@douyin, \"wx1\"@qq)\n")
    );

    // rm removes exactly that sandbox, through the library; a second time there is none.
    let (out, _) = expect(&wxfs(&["rm", r, "u1", "wx1", "--platform", "baidu", "--plugin", "p1"]), 0);
    assert_eq!(out, "removed u1/wx1@baidu/plugin/p1\n");
    assert!(!cfg(Platform::Baidu, Some("p1")).sandbox_dir().exists());
    assert!(cfg(Platform::Baidu, None).sandbox_dir().join("plugin").exists());
    let (_, err) = expect(&wxfs(&["rm", r, "u1", "wx1", "--platform", "baidu", "--plugin", "p1"]), 1);
    assert_eq!(err, format!("wxfs: no such sandbox: user \"u1\" has no plugin \"p1\" in mini-program \"wx1\" on baidu under {r} (its plugins: none)\n"));
    let (out, _) = expect(&wxfs(&["rm", r, "u1", "wx1", "--platform", "alipay"]), 0);
    assert_eq!(out, "removed u1/wx1@alipay\n");
    assert!(!cfg(Platform::Alipay, None).sandbox_dir().exists());
    for (platform, plugin) in [(Platform::Wechat, None), (Platform::Wechat, Some("p1")), (Platform::Qq, None)] {
        assert!(cfg(platform, plugin).sandbox_dir().join("LOCK").exists(), "{platform:?} {plugin:?}");
    }
    let (_, err) = expect(&wxfs(&["rm", r, "u1", "wx1", "--platform", "alipay"]), 1);
    assert!(err.starts_with("wxfs: no such sandbox: user \"u1\" has no mini-program \"wx1\" on alipay under "), "{err}");
    // The app's removal takes its plugins' with it.
    let (out, _) = expect(&wxfs(&["rm", r, "u1", "wx1"]), 0);
    assert_eq!(out, "removed u1/wx1\n");
    assert!(!root.join("u1/wx1").exists());
    let _ = std::fs::remove_dir_all(root);
}

/// An app that holds only plugin sandboxes is listed: a row per plugin sandbox, naming its app.
#[test]
fn ls_lists_apps_that_hold_only_plugin_sandboxes() {
    let root = common::fresh_dir("cli-plugins");
    let r = s(&root);
    for plugin in ["p1", "p2"] {
        let mut c = Config::new(&root, "u1", "wxp");
        c.plugin_id = Some(plugin.into());
        drop(Session::open(c).unwrap());
    }
    drop(Session::open(Config::new(&root, "u2", "wx1")).unwrap());
    let (out, _) = expect(&wxfs(&["ls", r]), 0);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    let first = |row: &Vec<&str>| row[..3.min(row.len())].join(" ");
    assert_eq!(
        rows.iter().map(first).collect::<Vec<_>>(),
        ["user app plugin", "u1 wxp p1", "u1 wxp p2", "u2 wx1 -", "3 sandboxes"]
    );
    let v = json_of(&["ls", r, "--json"], 0);
    let names: Vec<(String, String, serde_json::Value, String)> = v["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["user"].as_str().unwrap().into(),
                s["app"].as_str().unwrap().into(),
                s["plugin"].clone(),
                s["dir"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("u1".into(), "wxp".into(), json!("p1"), "u1/wxp/plugin/p1".into()),
            ("u1".into(), "wxp".into(), json!("p2"), "u1/wxp/plugin/p2".into()),
            ("u2".into(), "wx1".into(), json!(null), "u2/wx1".into()),
        ]
    );
    assert_eq!(v["count"], json!(3));
    let _ = std::fs::remove_dir_all(root);
}

/// Completions and the man page come from the clap definition: every subcommand is in both.
#[test]
fn completions_and_man_page_name_every_subcommand() {
    let (bash, _) = expect(&wxfs(&["completions", "bash"]), 0);
    assert!(bash.contains("complete -F _wxfs") || bash.contains("_wxfs()"), "{bash}");
    for sub in SUBCOMMANDS {
        assert!(bash.contains(&format!("wxfs,{sub})")), "bash completion lacks {sub}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (out, _) = expect(&wxfs(&["completions", shell]), 0);
        assert!(SUBCOMMANDS.iter().all(|sub| out.contains(sub)), "{shell}: {out}");
    }
    let (man, _) = expect(&wxfs(&["man"]), 0);
    assert!(man.starts_with(".ie \\n(.g .ds Aq \\(aq") && man.contains(".TH wxfs 1"), "{man}");
    for sub in SUBCOMMANDS {
        // roff escapes each hyphen of a name (import\-mmkv), not in the .TH title.
        let roff = sub.replace('-', "\\-");
        assert!(man.contains(&format!("wxfs\\-{roff}(1)")), "man page lacks {sub}");
        // The page it refers to, with that command's synopsis.
        let (page, _) = expect(&wxfs(&["man", sub]), 0);
        let version = env!("CARGO_PKG_VERSION");
        assert!(page.contains(&format!(".TH wxfs-{sub} 1  \"wxfs-{sub} {version}\"")), "{page}");
        assert!(page.contains(&format!("\\fBwxfs {roff}\\fR")), "{page}");
    }
    let (_, err) = expect(&wxfs(&["man", "nope"]), 2);
    assert!(err.starts_with("error: invalid value 'nope' for '[COMMAND]': one of demo, ls, storage, "), "{err}");
}
