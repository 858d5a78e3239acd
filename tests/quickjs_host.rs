//! The QuickJS glue (bindings/quickjs) in both engines it supports, Fabrice Bellard's QuickJS
//! 2024-02-14 and QuickJS-ng 0.16.2, each built from the C sources a crates.io package carries
//! (bindings/quickjs/engine.sh: rquickjs-sys 0.6.2 and 0.14.0; fetched by cargo once, then cached
//! under `target/<profile>/quickjs-engines/`), against the library this test run built:
//!
//! - the seed scenario (image cache) through the example host (examples/quickjs-host), with the
//!   host's contract: `host ROOT SCRIPT.js [--platform P]`, one stdout line per console.log, exit 0,
//!   or 1 with the uncaught exception on stderr, unhandled promise rejections printed to stderr
//!   (wxfs_qjs_set_rejection_hook);
//! - bindings/js's own test suite (bindings/node/test) inside QuickJS through the glue
//!   (bindings/quickjs/test/runner.c): no test fails, and at least the 48 that need no Node pass;
//! - that suite with the glue and the runner built with AddressSanitizer + UBSan, and under
//!   valgrind's memcheck: no invalid access, no leak. The valgrind run leaves out the one test that
//!   moves 20 MiB through JavaScript byte loops (hours under valgrind); the ASan run has it.
//!
//! Needs a C compiler (`cc`), valgrind for the valgrind runs, and crates.io (or cargo's cache) for
//! the engine's sources; a missing tool is a visible skip (tests/common/skip.rs), a failure in CI.

mod common;

use common::command::{described, output_of, stdout_lines};
use common::skip::{self, Test, Tool};
use common::{build_dir, fresh_dir, lib_dir, repo_dir};
use md5::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The tests of bindings/node/test that need nothing of Node, all of which pass in both engines.
const SUITE_PASSING: usize = 61;

/// `target/<profile>/quickjs-engines/<engine>`, built once (engine.sh) and reused.
fn engine(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = build_dir().join("quickjs-engines").join(name);
    if !dir.join("libquickjs.a").exists() {
        let out = output_of(Command::new(repo_dir().join("bindings/quickjs/engine.sh")).arg(name).arg(&dir));
        assert!(out.status.success(), "engine.sh {name} failed:\n{}", described("run", &out));
    }
    dir
}

/// The example host for `engine`, built by its build.sh against this run's library.
fn build_host(engine_name: &str) -> PathBuf {
    let out_dir = build_dir().join("quickjs-host").join(engine_name);
    let out = output_of(
        Command::new(repo_dir().join("examples/quickjs-host/build.sh"))
            .arg(&out_dir)
            .env("WXFS_QUICKJS_ENGINE_DIR", engine(engine_name))
            .env("WXFS_LIB_DIR", lib_dir()),
    );
    assert!(out.status.success(), "examples/quickjs-host/build.sh failed:\n{}", described("run", &out));
    out_dir.join("host")
}

/// Run the host on `script` (written to a file) under `root`.
fn host_run(host: &Path, root: &Path, script: &str, extra: &[&str]) -> Output {
    let file = root.with_extension("js");
    std::fs::write(&file, script).unwrap();
    output_of(Command::new(host).arg(root).arg(&file).args(extra))
}

/// The image the seed scenario "downloads": bytes a user would notice if one moved.
fn image() -> Vec<u8> {
    (0..777_777u32).map(|i| ((i * 131 + (i >> 9)) & 255) as u8).collect()
}

const SEED_SAVE: &str = r#"
wx.downloadFile({ url: 'file://IMAGE', success: function (res) {
  wx.getFileSystemManager().saveFile({ tempFilePath: res.tempFilePath, success: function (saved) {
    wx.setStorageSync('image_cache', saved.savedFilePath);
    console.log('saved ' + saved.savedFilePath);
  }, fail: function (e) { console.log('saveFile failed: ' + e.errMsg); } });
}, fail: function (e) { console.log('download failed: ' + e.errMsg); } });
"#;

const SEED_CHECK: &str = r#"
var fs = wx.getFileSystemManager();
function same(ab) {
  var b = new Uint8Array(ab);
  if (b.length !== 777777) return false;
  for (var i = 0; i < b.length; i++) if (b[i] !== ((i * 131 + (i >> 9)) & 255)) return false;
  return true;
}
var cached = wx.getStorageSync('image_cache');
console.log('cached ' + cached);
var back = fs.readFileSync(cached);
console.log('sync ' + (back instanceof ArrayBuffer) + ' ' + back.byteLength + ' identical ' + same(back));
fs.readFile({ filePath: cached, success: function (r) {
  console.log('async ' + (r.data instanceof ArrayBuffer) + ' ' + r.data.byteLength + ' identical ' + same(r.data));
  fs.getFileInfo({ filePath: cached, digestAlgorithm: 'md5', success: function (info) { console.log('md5 ' + info.digest); } });
} });
"#;

/// Seed scenario 000, the image cache: download (a host temp file) -> saveFile -> setStorageSync
/// -> restart (the process ends: sandbox closed; a new process reopens it with a new context)
/// -> getStorageSync -> the bytes read back, Sync and async, identical.
fn seed_scenario(engine_name: &str) {
    let host = build_host(engine_name);
    let work = fresh_dir(&format!("qjs-seed-{engine_name}"));
    let img = work.join("image.jpg");
    std::fs::write(&img, image()).unwrap();
    let root = work.join("root");

    let first = host_run(&host, &root, &SEED_SAVE.replace("IMAGE", img.to_str().unwrap()), &[]);
    assert!(first.status.success(), "{}", described("run", &first));
    let saved = stdout_lines(&first);
    assert_eq!(saved.len(), 1, "{}", described("run", &first));
    let path = saved[0].strip_prefix("saved ").unwrap_or_else(|| panic!("{}", described("run", &first))).to_string();
    let name = path.strip_prefix("wxfile://store_").and_then(|n| n.strip_suffix(".jpg"));
    assert!(name.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit())), "saved path {path}");

    let second = host_run(&host, &root.with_file_name("root"), SEED_CHECK, &[]);
    assert!(second.status.success(), "{}", described("run", &second));
    assert_eq!(
        stdout_lines(&second),
        [
            format!("cached {path}"),
            "sync true 777777 identical true".to_string(),
            "async true 777777 identical true".to_string(),
            format!("md5 {}", hex::encode(md5::Md5::digest(image()))),
        ],
        "{}",
        described("run", &second)
    );
    std::fs::remove_dir_all(&work).unwrap();
}

/// The rest of the host's contract: another platform's object, and an exception a callback
/// throws that nothing catches (complete still runs, then exit 1 with it on stderr).
fn host_contract(engine_name: &str) {
    let host = build_host(engine_name);
    let work = fresh_dir(&format!("qjs-contract-{engine_name}"));
    let my = host_run(
        &host,
        &work.join("alipay"),
        "my.setStorageSync({ key: 'k', data: { n: 1 } });\n\
         console.log(typeof my.getFileSystemManager, typeof wx, JSON.stringify(my.getStorageSync({ key: 'k' }).data));",
        &["--platform", "alipay"],
    );
    assert!(my.status.success(), "{}", described("run", &my));
    assert_eq!(stdout_lines(&my), ["function undefined {\"n\":1}"], "{}", described("run", &my));

    let uncaught = host_run(
        &host,
        &work.join("throws"),
        "wx.setStorage({ key: 'a', data: 1, success: function () { throw new Error('boom'); },\n\
           complete: function () { console.log('complete ran'); } });\n\
         console.log('script done');",
        &[],
    );
    assert_eq!(uncaught.status.code(), Some(1), "{}", described("run", &uncaught));
    assert_eq!(stdout_lines(&uncaught), ["script done", "complete ran"], "{}", described("run", &uncaught));
    let stderr = String::from_utf8_lossy(&uncaught.stderr);
    assert!(stderr.starts_with("Uncaught Error: boom\n"), "{}", described("run", &uncaught));

    // A promise rejected with no handler reaches the host (wxfs_qjs_set_rejection_hook) once the
    // job queue ran empty, and the host prints it and goes on; one handled in the same turn, and
    // bindings/js's own promises (handled from birth), do not.
    let rejection = host_run(
        &host,
        &work.join("rejection"),
        "Promise.reject(new Error('nobody awaits this'));\n\
         Promise.reject(new Error('handled')).catch(function () { console.log('caught'); });\n\
         (async function () { throw new TypeError('async threw'); })();\n\
         wx.getStorage({ key: 'missing' });\n\
         wx.setStorage({ key: 'k', data: 1, success: function () { Promise.reject('from a callback'); console.log('set'); } });\n",
        &[],
    );
    assert_eq!(rejection.status.code(), Some(0), "{}", described("run", &rejection));
    assert_eq!(stdout_lines(&rejection), ["caught", "set"], "{}", described("run", &rejection));
    assert_eq!(
        String::from_utf8_lossy(&rejection.stderr),
        "unhandled promise rejection: Error: nobody awaits this\n\
         unhandled promise rejection: TypeError: async threw\n\
         unhandled promise rejection: from a callback\n"
    );

    let syntax = host_run(&host, &work.join("syntax"), "console.log('never';", &[]);
    assert_eq!(syntax.status.code(), Some(1), "{}", described("run", &syntax));
    assert!(
        syntax.stdout.is_empty() && String::from_utf8_lossy(&syntax.stderr).starts_with("Uncaught SyntaxError"),
        "{}",
        described("run", &syntax)
    );
    std::fs::remove_dir_all(&work).unwrap();
}

/// The README's "Your first JS host: QuickJS" block, run as written (with this run's library and
/// the cached engine named by the environment, which build.sh reads), prints what the README says.
fn readme_quickjs() {
    let repo = repo_dir();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let at = readme.find("\n## Your first JS host: QuickJS\n").expect("README has no \"Your first JS host: QuickJS\" section");
    let block = |from: usize, lang: &str| -> (String, usize) {
        let open = format!("\n```{lang}\n");
        let start = readme[from..].find(&open).map(|i| from + i + open.len()).expect("a fenced block");
        let end = start + readme[start..].find("\n```").expect("a closing fence");
        (readme[start..end].to_string(), end + 4)
    };
    let (commands, next) = block(at, "sh");
    let (printed, _) = block(next, "text");
    let out = output_of(
        Command::new("bash")
            .args(["-e", "-c", &commands])
            .current_dir(&repo)
            .env("WXFS_QUICKJS_ENGINE_DIR", engine("quickjs-ng"))
            .env("WXFS_LIB_DIR", lib_dir()),
    );
    assert!(out.status.success(), "{}", described("run", &out));
    let got = stdout_lines(&out);
    let want: Vec<&str> = printed.lines().collect();
    assert!(
        got.len() >= want.len() && got[got.len() - want.len()..] == want[..],
        "README block printed:\n{}",
        described("run", &out)
    );
}

#[derive(Clone, Copy, PartialEq)]
enum How {
    Plain,
    Asan,
    Valgrind,
}

const SANITIZER_REPORTS: &[&str] = &["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: "];

/// bindings/js's test suite in QuickJS through the glue: the runner's own count line, no
/// failure, and every test that needs no Node passing.
fn quickjs_suite(engine_name: &str, how: How) {
    let dir = build_dir().join("quickjs-suite");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = match how {
        How::Plain => "plain",
        How::Asan => "asan",
        How::Valgrind => "valgrind",
    };
    let bin = dir.join(format!("runner-{engine_name}-{tag}"));
    let mut build = Command::new(repo_dir().join("bindings/quickjs/test/build.sh"));
    build.arg(engine(engine_name)).arg(&bin).env("WXFS_LIB_DIR", lib_dir());
    if how == How::Asan {
        build.args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]);
    }
    let out = output_of(&mut build);
    assert!(out.status.success(), "runner build failed:\n{}", described("run", &out));

    let repo = repo_dir();
    let mut cmd = match how {
        How::Valgrind => {
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect",
            ])
            .arg(&bin);
            c
        }
        _ => Command::new(&bin),
    };
    cmd.arg(&repo);
    if engine_name == "quickjs-ng" {
        // This engine's runs hand the glue bindings/js as embedded sources; the other's, its directory.
        cmd.arg("--embedded");
    }
    if how == How::Valgrind {
        cmd.args(["--skip", "large files: 20 MiB"]);
    }
    cmd.env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=98")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .env("LSAN_OPTIONS", "exitcode=97");
    let out = output_of(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the suite failed in {engine_name} ({tag}):\n{}", described("run", &out));
    if how == How::Asan {
        assert!(!SANITIZER_REPORTS.iter().any(|m| stderr.contains(m)), "a sanitizer report:\n{}", described("run", &out));
    }
    let last = stdout.lines().last().unwrap_or_default();
    let counts: Vec<usize> =
        last.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    assert!(last.ends_with("skipped (need Node)") && counts.len() == 3, "no count line:\n{}", described("run", &out));
    let (passed, failed, node) = (counts[0], counts[1], counts[2]);
    assert_eq!(failed, 0, "{}", described("run", &out));
    let floor = if how == How::Valgrind { SUITE_PASSING - 1 } else { SUITE_PASSING };
    assert!(
        passed >= floor,
        "only {passed} tests passed in {engine_name} ({tag}), {floor} expected:\n{}",
        described("run", &out)
    );
    eprintln!("{engine_name} ({tag}): {passed} passed, {failed} failed, {node} need Node");
}

macro_rules! per_engine {
    ($($name:ident => $body:expr;)*) => {
        $(fn $name() { $body })*
    };
}

per_engine! {
    readme_quickjs_host => readme_quickjs();
    seed_scenario_quickjs => seed_scenario("quickjs");
    seed_scenario_quickjs_ng => seed_scenario("quickjs-ng");
    host_contract_quickjs => host_contract("quickjs");
    host_contract_quickjs_ng => host_contract("quickjs-ng");
    suite_quickjs => quickjs_suite("quickjs", How::Plain);
    suite_quickjs_ng => quickjs_suite("quickjs-ng", How::Plain);
    asan_suite_quickjs => quickjs_suite("quickjs", How::Asan);
    asan_suite_quickjs_ng => quickjs_suite("quickjs-ng", How::Asan);
    valgrind_suite_quickjs => quickjs_suite("quickjs", How::Valgrind);
    valgrind_suite_quickjs_ng => quickjs_suite("quickjs-ng", How::Valgrind);
}

fn main() -> std::process::ExitCode {
    let cc = || vec![Tool::runs("cc", &["--version"], "apt-get install gcc")];
    let valgrind = || {
        let mut t = cc();
        t.push(Tool::runs("valgrind", &["--version"], "apt-get install valgrind"));
        t
    };
    skip::run(vec![
        Test { name: "readme_quickjs_host", needs: cc(), body: readme_quickjs_host },
        Test { name: "seed_scenario_quickjs", needs: cc(), body: seed_scenario_quickjs },
        Test { name: "seed_scenario_quickjs_ng", needs: cc(), body: seed_scenario_quickjs_ng },
        Test { name: "host_contract_quickjs", needs: cc(), body: host_contract_quickjs },
        Test { name: "host_contract_quickjs_ng", needs: cc(), body: host_contract_quickjs_ng },
        Test { name: "suite_quickjs", needs: cc(), body: suite_quickjs },
        Test { name: "suite_quickjs_ng", needs: cc(), body: suite_quickjs_ng },
        Test { name: "asan_suite_quickjs", needs: cc(), body: asan_suite_quickjs },
        Test { name: "asan_suite_quickjs_ng", needs: cc(), body: asan_suite_quickjs_ng },
        Test { name: "valgrind_suite_quickjs", needs: valgrind(), body: valgrind_suite_quickjs },
        Test { name: "valgrind_suite_quickjs_ng", needs: valgrind(), body: valgrind_suite_quickjs_ng },
    ])
}
