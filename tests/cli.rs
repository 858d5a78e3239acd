//! The `wxfs` inspector as a host developer meets it: help and version on stdout with exit 0, a
//! wrong argument named with exit 2, a missing root, user or app named with exit 1 and nothing
//! created, `gc ROOT 0` meaning the default as `wxfs_gc(root, 0, ...)` does, and `ls` and
//! `storage` reading a sandbox that another process holds open.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;
use wxfs::{bridge, Config, Session};

const CLI: &str = env!("CARGO_BIN_EXE_wxfs");
const SUBCOMMANDS: &[&str] = &["demo", "ls", "storage", "serve", "invoke", "gc", "fsck", "import-mmkv"];

fn wxfs(args: &[&str]) -> Output {
    Command::new(CLI).args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn expect(out: &Output, code: i32) -> (String, String) {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "--- stdout\n{o}\n--- stderr\n{e}");
    (o, e)
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            out.push(e.path().strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
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
        assert!(out.contains(&format!("Usage: wxfs {sub} ")), "{sub} --help:\n{out}");
        let (out2, _) = expect(&wxfs(&["help", sub]), 0);
        assert_eq!(out, out2);
    }
    let (out, _) = expect(&wxfs(&["fsck", "--help"]), 0);
    assert!(out.contains("Usage: wxfs fsck [OPTIONS] <ROOT>") && out.contains("--repair"), "{out}");
    let (out, _) = expect(&wxfs(&["gc", "--help"]), 0);
    assert!(out.contains("0 or none: the default (6 GiB)"), "{out}");
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
        (&["gc", r, "lots"], "invalid value 'lots' for '[LIMIT_BYTES]'"),
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
    assert!(tree(&root).is_empty(), "{:?}", tree(&root));
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
    let before = tree(&root);
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
        assert_eq!(tree(&root), before, "{args:?} changed the root");
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
    assert_eq!(tree(&root), before);
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
    for args in [vec!["gc", s(&root), "0"], vec!["gc", s(&root)]] {
        let (out, _) = expect(&wxfs(&args), 0);
        assert_eq!(out, "temp files: 3000 bytes before, 3000 after (limit 6442450944)\n", "{args:?}");
        assert!(temp.exists(), "{args:?} removed a temp file under the default limit");
    }
    let (out, _) = expect(&wxfs(&["gc", s(&root), "1"]), 0);
    assert_eq!(out, "temp files: 3000 bytes before, 0 after (limit 1)\n  trimmed u1/wx1\n");
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

fn hold(root: &Path) -> Holder {
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
    let _holder = hold(&root);
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
    // fsck leaves it alone, and says so.
    let (out, _) = expect(&wxfs(&["fsck", r]), 0);
    assert_eq!(out, "u1/wx1: open elsewhere, not checked\n1 sandboxes checked, 0 with unrepaired problems\n");
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

/// What a power cut can leave in the storage log: `garbage` where the next record would start (the
/// log is followed by a preallocated zero tail, so the end of the log is after its last non-zero
/// byte, never inside the 8-byte header).
fn tear_storage_log(log: &std::path::Path, garbage: &[u8]) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(log).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1).max(8);
    std::fs::OpenOptions::new().write(true).open(log).unwrap().write_all_at(garbage, end as u64).unwrap();
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
