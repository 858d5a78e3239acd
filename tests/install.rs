//! The installed library as a C/C++ host consumes it: `packaging/install.sh` run against the
//! libraries cargo built for this test run (`--profile-dir target/<profile>`), then
//!
//! - the install tree: header, `libwxfs.so.X.Y.Z` with its `.so.<ABI>` and `.so` links, the static
//!   archive, `wxfs.pc`, the CMake package files, and the soname `libwxfs.so.<ABI>` (readelf);
//! - `packaging/example/host.c` built with `pkg-config` (shared, and `--static` against
//!   `libwxfs.a`) and with CMake (`wxfs::wxfs`, `wxfs::wxfs_static`) from a prefix that was moved
//!   after installing, and run without `LD_LIBRARY_PATH`;
//! - the CMake version file's SameMajorVersion answers.
//!
//! Needs `cc`, `readelf`, `pkg-config` and `cmake`. A missing tool skips the test that needs it,
//! reported as ignored with a `skipped:` line (tests/common/skip.rs), except when `CI` is set: then
//! it fails. Work goes under `target/<profile>/install-test/`; a passing
//! test removes its own directory. Linux only (soname, rpath and readelf are ELF things): elsewhere
//! both tests report as skipped.

mod common;

use common::command::{run_bounded, work_dir};
use common::skip::{self, Test, Tool};
use common::{lib_dir, repo_dir};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const ABI: u32 = wxfs::ffi::WXFS_ABI_VERSION;
/// What `host.c` prints after writing and reading back its file.
const HOST_RESULT: &str = r#"{"errMsg":"readFileSync:ok","data":"hello from a C host"}"#;
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn cc() -> String {
    std::env::var("CC").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "cc".into())
}

/// Run a command to completion (killed after RUN_TIMEOUT); a failure panics with its output.
fn run_ok(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = run_bounded(cmd, RUN_TIMEOUT);
    if !out.status.success() {
        panic!(
            "{shown} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `packaging/install.sh PREFIX --no-build --profile-dir target/<profile>/deps`.
fn install(prefix: &Path) -> Output {
    let libs = lib_dir();
    run_ok(Command::new("sh").arg(repo_dir().join("packaging/install.sh")).arg(prefix).args([
        "--no-build".as_ref(),
        "--profile-dir".as_ref(),
        libs.as_os_str(),
    ]))
}

/// `readelf -d` of an ELF file.
fn dynamic_section(file: &Path) -> String {
    stdout(&run_ok(Command::new("readelf").arg("-d").arg(file)))
}

/// The `[name]`s of the dynamic entries of one kind (`SONAME`, `NEEDED`).
fn dynamic_entries(dynamic: &str, kind: &str) -> Vec<String> {
    let tag = format!("({kind})");
    dynamic.lines().filter(|l| l.contains(&tag)).filter_map(|l| Some(l[l.find('[')? + 1..l.rfind(']')?].to_string())).collect()
}

/// Run the example host on a fresh sandbox root, with no `LD_LIBRARY_PATH` to help it.
fn run_host(host: &Path, dir: &Path) {
    let root = dir.join(format!("root-{}", host.file_name().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&root).unwrap();
    let out = run_ok(Command::new(host).arg(&root).env_remove("LD_LIBRARY_PATH"));
    let want = format!("wxfs {VERSION} (ABI {ABI}): {HOST_RESULT}\n");
    assert_eq!(stdout(&out), want, "{} printed something else", host.display());
    let on_disk = root.read_dir().unwrap().count();
    assert!(on_disk > 0, "{} left nothing under its root {}", host.display(), root.display());
}

/// A host linked against the shared library must depend on the ABI soname, the static one not at all.
fn assert_links(host: &Path, shared: bool) {
    let dynamic = dynamic_section(host);
    let needed = dynamic_entries(&dynamic, "NEEDED");
    let wxfs: Vec<&String> = needed.iter().filter(|n| n.contains("wxfs")).collect();
    if shared {
        assert_eq!(wxfs, [&format!("libwxfs.so.{ABI}")], "{} NEEDED: {needed:?}", host.display());
    } else {
        assert!(wxfs.is_empty(), "{} was linked statically but NEEDs {wxfs:?}", host.display());
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{} was not installed: {e}", path.display()))
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap()
}

fn assert_symlink(link: &Path, target: &str) {
    let got = std::fs::read_link(link).unwrap_or_else(|e| panic!("{} is not a symlink: {e}", link.display()));
    assert_eq!(got, Path::new(target), "{} points elsewhere", link.display());
}

/// The install tree, checked file by file against what cargo built and the source says.
fn check_tree(prefix: &Path) {
    let lib = prefix.join("lib");
    assert_eq!(read(&prefix.join("include/wxfs.h")), read(&repo_dir().join("include/wxfs.h")), "installed header");

    let real = format!("libwxfs.so.{VERSION}");
    let meta = std::fs::symlink_metadata(lib.join(&real)).unwrap_or_else(|e| panic!("lib/{real}: {e}"));
    assert!(meta.is_file(), "lib/{real} must be the real file, not a link");
    assert!(read(&lib.join(&real)) == read(&lib_dir().join("libwxfs.so")), "lib/{real} differs from the built library");
    assert_symlink(&lib.join(format!("libwxfs.so.{ABI}")), &real);
    assert_symlink(&lib.join("libwxfs.so"), &format!("libwxfs.so.{ABI}"));
    assert!(read(&lib.join("libwxfs.a")) == read(&lib_dir().join("libwxfs.a")), "lib/libwxfs.a differs from the built archive");

    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert_eq!(read(&prefix.join("share/doc/wxfs").join(licence)), read(&repo_dir().join(licence)), "installed {licence}");
    }

    let pc = read_text(&lib.join("pkgconfig/wxfs.pc"));
    for line in [
        &format!("prefix={}", prefix.display()),
        "libdir=${exec_prefix}/lib",
        "includedir=${prefix}/include",
        "Name: wxfs",
        &format!("Description: {}", env!("CARGO_PKG_DESCRIPTION")),
        &format!("Version: {VERSION}"),
        "Cflags: -I${includedir}",
        "Libs: -L${libdir} -lwxfs",
        "Libs.private: -lpthread -ldl -lm",
    ] {
        assert!(pc.lines().any(|l| l == line), "wxfs.pc lacks the line `{line}`:\n{pc}");
    }

    let config = read_text(&lib.join("cmake/wxfs/wxfsConfig.cmake"));
    let config_version = read_text(&lib.join("cmake/wxfs/wxfsConfigVersion.cmake"));
    for (name, text) in [("wxfsConfig.cmake", &config), ("wxfsConfigVersion.cmake", &config_version)] {
        assert!(!text.contains('@'), "{name} has an unreplaced @VAR@:\n{text}");
        assert!(!text.contains(&prefix.display().to_string()), "{name} names the prefix, so it cannot be moved:\n{text}");
    }
    for needle in [
        "add_library(wxfs::wxfs SHARED IMPORTED)",
        "add_library(wxfs::wxfs_static STATIC IMPORTED)",
        &format!("IMPORTED_LOCATION \"${{_wxfs_prefix}}/lib/{real}\""),
        &format!("IMPORTED_SONAME \"libwxfs.so.{ABI}\""),
        "INTERFACE_LINK_LIBRARIES \"pthread;dl;m\"",
    ] {
        assert!(config.contains(needle), "wxfsConfig.cmake lacks `{needle}`:\n{config}");
    }
    assert!(config_version.contains(&format!("set(PACKAGE_VERSION \"{VERSION}\")")), "{config_version}");

    let dynamic = dynamic_section(&lib.join(&real));
    let soname = dynamic_entries(&dynamic, "SONAME");
    assert_eq!(soname, [format!("libwxfs.so.{ABI}")], "soname of lib/{real}:\n{dynamic}");
    println!("{}", dynamic.lines().find(|l| l.contains("(SONAME)")).unwrap().trim());
}

fn install_tree_and_pkg_config_hosts() {
    let dir = work_dir("install-test", "pkg-config");
    let prefix = dir.join("prefix");
    install(&prefix);
    // A second run over the first must succeed and leave the same tree.
    install(&prefix);
    check_tree(&prefix);

    // Nothing to install from: a clear refusal, not a half-made tree.
    let empty = dir.join("empty-profile");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = Command::new("sh")
        .arg(repo_dir().join("packaging/install.sh"))
        .arg(dir.join("refused"))
        .arg("--profile-dir")
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "install.sh installed from a directory with no library");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("libwxfs.so not found"), "{refused:?}");
    assert!(!dir.join("refused/lib").exists(), "a refused install still created files");

    let pkg_config = |args: &[&str]| -> String {
        let out = run_ok(Command::new("pkg-config").args(args).arg("wxfs").env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
        stdout(&out).trim().to_string()
    };
    assert_eq!(pkg_config(&["--modversion"]), VERSION);
    assert_eq!(pkg_config(&["--variable=prefix"]), prefix.display().to_string(), "pkg-config found another wxfs");
    let words = |s: String| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let host_c = repo_dir().join("packaging/example/host.c");
    let compile = |out: &Path, flags: Vec<String>| {
        run_ok(
            Command::new(cc())
                .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
                .arg(&host_c)
                .arg("-o")
                .arg(out)
                .args(flags),
        );
    };

    // cc host.c $(pkg-config --cflags --libs wxfs), found at run time through the rpath.
    let shared = dir.join("host-pkg-config");
    let mut flags = words(pkg_config(&["--cflags", "--libs"]));
    flags.push(format!("-Wl,-rpath,{}", prefix.join("lib").display()));
    compile(&shared, flags);
    assert_links(&shared, true);
    run_host(&shared, &dir);

    // cc host.c $(pkg-config --static --cflags --libs wxfs) with -lwxfs naming the archive: with
    // libwxfs.so beside libwxfs.a, -lwxfs alone would pick the shared library.
    let archive = format!("{}/libwxfs.a", pkg_config(&["--variable=libdir"]));
    let flags = words(pkg_config(&["--static", "--cflags", "--libs"]));
    assert!(flags.iter().any(|f| f == "-lwxfs"), "pkg-config --static --libs: {flags:?}");
    let flags = flags.into_iter().map(|f| if f == "-lwxfs" { archive.clone() } else { f }).collect();
    let fixed = dir.join("host-pkg-config-static");
    compile(&fixed, flags);
    assert_links(&fixed, false);
    run_host(&fixed, &dir);

    let _ = std::fs::remove_dir_all(&dir);
}

/// Ask a wxfsConfigVersion.cmake, as `find_package(wxfs <request>)` would, whether it accepts each
/// request; `cases` pairs a request with the expected answer.
fn ask_version_file(version_file: &Path, dir: &Path, cases: &[(String, bool)]) {
    let mut script = String::from(
        "function(ask req)\n  set(PACKAGE_FIND_VERSION ${req})\n  string(REGEX MATCH \"^[0-9]+\" PACKAGE_FIND_VERSION_MAJOR ${req})\n  \
         include(\"${VERSION_FILE}\")\n  message(\"${req}=${PACKAGE_VERSION_COMPATIBLE}\")\nendfunction()\n",
    );
    for (req, _) in cases {
        script.push_str(&format!("ask({req})\n"));
    }
    let script_path = dir.join("ask-version.cmake");
    std::fs::write(&script_path, script).unwrap();
    let out = run_ok(Command::new("cmake").arg(format!("-DVERSION_FILE={}", version_file.display())).arg("-P").arg(&script_path));
    let answers = String::from_utf8_lossy(&out.stderr);
    for (req, compatible) in cases {
        let want = format!("{req}={}", if *compatible { "TRUE" } else { "FALSE" });
        assert!(answers.lines().any(|l| l == want), "{}: asked for {req}, want {want}, got\n{answers}", version_file.display());
    }
}

/// SameMajorVersion: the installed file answers for this version; the template, rendered for a
/// 2.3.4 release, shows the major-version rule that a 0.x release cannot exercise.
fn check_version_files(installed: &Path, dir: &Path) {
    let v: Vec<u32> = VERSION.split('.').map(|p| p.parse().unwrap()).collect();
    let (major, minor, patch) = (v[0], v[1], v[2]);
    let ours = [
        (format!("{major}"), true),
        (format!("{major}.{minor}"), true),
        (VERSION.to_string(), true),
        (format!("{major}.{}", minor + 1), false),
        (format!("{major}.{minor}.{}", patch + 1), false),
        (format!("{}.0", major + 1), false),
    ];
    ask_version_file(installed, dir, &ours);

    let template = read_text(&repo_dir().join("packaging/wxfsConfigVersion.cmake.in"));
    let rendered = template.replace("@VERSION_MAJOR@", "2").replace("@VERSION@", "2.3.4").replace("@SIZEOF_VOID_P@", "8");
    let later = dir.join("later").join("wxfsConfigVersion.cmake");
    std::fs::create_dir_all(later.parent().unwrap()).unwrap();
    std::fs::write(&later, rendered).unwrap();
    let cases: Vec<(String, bool)> = [
        ("1.0", false),
        ("1.9.9", false),
        ("2", true),
        ("2.0", true),
        ("2.3.4", true),
        ("2.3.5", false),
        ("2.4", false),
        ("3.0", false),
    ]
    .iter()
    .map(|(r, c)| (r.to_string(), *c))
    .collect();
    ask_version_file(&later, dir, &cases);
}

fn cmake_hosts_from_a_moved_prefix() {
    let dir = work_dir("install-test", "cmake");
    // Install, then move the prefix: the package must find itself relative to its own files.
    let staged = dir.join("staged");
    install(&staged);
    let prefix = dir.join("moved");
    std::fs::rename(&staged, &prefix).unwrap();

    check_version_files(&prefix.join("lib/cmake/wxfs/wxfsConfigVersion.cmake"), &dir);

    let build = dir.join("build");
    let configured = run_ok(
        Command::new("cmake")
            .arg("-S")
            .arg(repo_dir().join("packaging/example"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .env("CC", cc()),
    );
    let log = stdout(&configured);
    let found = format!("wxfs {VERSION} (ABI {ABI}) from {}", prefix.join("lib/cmake/wxfs").display());
    assert!(log.contains(&found), "CMake did not find the moved prefix ({found}):\n{log}");
    run_ok(Command::new("cmake").arg("--build").arg(&build));

    let shared = build.join("host");
    assert_links(&shared, true);
    run_host(&shared, &dir);
    let fixed = build.join("host_static");
    assert_links(&fixed, false);
    run_host(&fixed, &dir);

    let _ = std::fs::remove_dir_all(&dir);
}

const INSTALL: &str = "apt-get install -y pkg-config cmake binutils gcc";

fn main() -> std::process::ExitCode {
    let linux = Tool::probed("Linux (ELF sonames)", cfg!(target_os = "linux"), "run on Linux");
    let tool = |name: &str| Tool::runs(name, &["--version"], INSTALL);
    let cc = cc();
    skip::run(vec![
        Test {
            name: "install_tree_and_pkg_config_hosts",
            needs: vec![linux, tool(&cc), tool("readelf"), tool("pkg-config")],
            body: install_tree_and_pkg_config_hosts,
        },
        Test {
            name: "cmake_hosts_from_a_moved_prefix",
            needs: vec![
                Tool::probed("Linux (ELF sonames)", cfg!(target_os = "linux"), "run on Linux"),
                tool(&cc),
                tool("readelf"),
                tool("cmake"),
            ],
            body: cmake_hosts_from_a_moved_prefix,
        },
    ])
}
