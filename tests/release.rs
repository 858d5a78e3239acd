//! What a release stands on, checked from the tree: one version everywhere a host or a package
//! manager reads one, the shared library's name on Android, and the check build-aar.sh applies to
//! each Android library. The artifacts themselves are built by packaging/release.sh and installed
//! by packaging/test-artifacts.sh (run by .ci/run).
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "../packaging/soname.rs"]
mod soname;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo_text(rel: &str) -> String {
    std::fs::read_to_string(common::repo_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value of the first line `<prefix>"value"...` of a file.
fn quoted_after(rel: &str, prefix: &str) -> String {
    let t = repo_text(rel);
    let line = t.lines().find_map(|l| l.trim_start().strip_prefix(prefix)).unwrap_or_else(|| panic!("{rel}: no line `{prefix}`"));
    line.trim_start().trim_start_matches('"').split('"').next().unwrap().to_string()
}

fn json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&repo_text(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Cargo, the header's macros, wxfs_version(), pc and CMake (rendered from Cargo.toml's version by
/// packaging/install.sh; tests/install.rs checks the rendered files), the CLI, package.json and its
/// lock, bindings/js, Package.swift and the CHANGELOG's top entry: one version.
#[test]
fn one_version_everywhere() {
    let mut seen: Vec<(&str, String)> = vec![
        ("bindings/node/addon/Cargo.toml", quoted_after("bindings/node/addon/Cargo.toml", "version =")),
        ("include/wxfs.h WXFS_VERSION_STRING", quoted_after("include/wxfs.h", "#define WXFS_VERSION_STRING")),
        ("Package.swift wxfsVersion", quoted_after("Package.swift", "let wxfsVersion =")),
    ];
    let header = repo_text("include/wxfs.h");
    let define = |name: &str| {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("no {name}"))
            .trim()
            .to_string()
    };
    seen.push((
        "include/wxfs.h MAJOR.MINOR.PATCH",
        format!("{}.{}.{}", define("WXFS_VERSION_MAJOR"), define("WXFS_VERSION_MINOR"), define("WXFS_VERSION_PATCH")),
    ));
    let n = wxfs::ffi::wxfs_version_number();
    seen.push(("wxfs_version_number()", format!("{}.{}.{}", n / 1_000_000, n / 1_000 % 1_000, n % 1_000)));
    for rel in ["bindings/node/package.json", "bindings/js/package.json"] {
        seen.push((rel, json(rel)["version"].as_str().unwrap().to_string()));
    }
    let lock = json("bindings/node/package-lock.json");
    seen.push(("package-lock.json version", lock["version"].as_str().unwrap().to_string()));
    seen.push(("package-lock.json packages[\"\"]", lock["packages"][""]["version"].as_str().unwrap().to_string()));
    let changelog = repo_text("CHANGELOG.md");
    let top = changelog.lines().find_map(|l| l.strip_prefix("## ")).expect("CHANGELOG.md has no entry");
    seen.push(("CHANGELOG.md top entry", top.trim().to_string()));
    let cli = Command::new(env!("CARGO_BIN_EXE_wxfs")).arg("--version").stdin(Stdio::null()).output().unwrap();
    seen.push(("wxfs --version", String::from_utf8(cli.stdout).unwrap().trim().trim_start_matches("wxfs ").to_string()));
    let differ: Vec<String> = seen.iter().filter(|(_, v)| v != VERSION).map(|(w, v)| format!("{w}: {v}")).collect();
    assert!(differ.is_empty(), "Cargo.toml says {VERSION}; these differ:\n{}", differ.join("\n"));

    // pc and CMake take the version from Cargo.toml when installed, and the CMake requests in the
    // tree ask for this major.minor.
    for template in ["packaging/wxfs.pc.in", "packaging/wxfsConfigVersion.cmake.in"] {
        assert!(repo_text(template).contains("@VERSION@"), "{template} must take @VERSION@, not a literal");
    }
    let minor = VERSION.rsplit_once('.').unwrap().0;
    for rel in ["packaging/example/CMakeLists.txt", "packaging/wxfsConfig.cmake.in", "README.md"] {
        for l in repo_text(rel).lines().filter(|l| l.contains("find_package(wxfs ")) {
            assert!(
                l.contains(&format!("find_package(wxfs {minor} REQUIRED)")),
                "{rel}: `{l}` asks for another version than {minor}"
            );
        }
    }
}

/// The soname build.rs gives the shared library, per target: Android's is the file name an APK
/// ships (Bionic requires a DT_SONAME from API 23 and cannot follow a versioned one in an APK).
#[test]
fn shared_library_names_per_target() {
    assert_eq!(soname::link_arg("linux", 1).as_deref(), Some("-Wl,-soname,libwxfs.so.1"));
    assert_eq!(soname::link_arg("android", 1).as_deref(), Some("-Wl,-soname,libwxfs.so"));
    assert_eq!(soname::link_arg("android", 7).as_deref(), Some("-Wl,-soname,libwxfs.so"));
    assert_eq!(soname::link_arg("macos", 1).as_deref(), Some("-Wl,-install_name,@rpath/libwxfs.1.dylib"));
    assert_eq!(soname::link_arg("windows", 1), None);
}

/// Link a tiny shared object with the host's cc and the given link arguments.
fn link_so(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let src = dir.join("lib.c");
    std::fs::write(&src, "int wxfs_probe(void) { return 1; }\n").unwrap();
    let so = dir.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc).args(["-shared", "-fPIC", "-o"]).arg(&so).arg(&src).args(args).output().expect("cc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    so
}

/// `packaging/android/check-so.sh [--16k] SO`: (exit status, stderr).
fn check_so(so: &Path, align: bool) -> (bool, String) {
    let mut cmd = Command::new("sh");
    cmd.arg(common::repo_dir().join("packaging/android/check-so.sh"));
    if align {
        cmd.arg("--16k");
    }
    let out = cmd.arg(so).stdin(Stdio::null()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// build-aar.sh's check of each Android library (linked here with the host's linker, which takes
/// the same flags): the Android soname, and LOAD segments aligned to 16 KiB or more. A library
/// aligned to 64 KiB is valid on 16 KB-page devices and must pass; 4 KiB and no soname must not.
#[test]
fn android_library_check_accepts_16k_and_64k_alignment() {
    let dir = common::fresh_dir("check-so");
    let android = soname::link_arg("android", 1).unwrap();
    let pages = |n: u32| [format!("-Wl,-z,max-page-size={n}"), format!("-Wl,-z,common-page-size={n}")];
    let k16 = pages(16384);
    let k64 = pages(65536);
    let k4 = pages(4096);
    let so16 = link_so(&dir, "a16.so", &[&android, &k16[0], &k16[1]]);
    let so64 = link_so(&dir, "a64.so", &[&android, &k64[0], &k64[1]]);
    let so4 = link_so(&dir, "a4.so", &[&android, &k4[0], &k4[1]]);
    let unnamed = link_so(&dir, "unnamed.so", &[&k16[0], &k16[1]]);
    assert_eq!(check_so(&so16, true), (true, String::new()));
    assert_eq!(check_so(&so64, true), (true, String::new()), "a 64 KiB-aligned library is valid");
    let (ok, err) = check_so(&so4, true);
    assert!(!ok && err.contains("not to 16 KiB or a larger power of two"), "{err}");
    assert_eq!(check_so(&so4, false), (true, String::new()), "32-bit ABIs are not held to 16 KiB");
    let (ok, err) = check_so(&unnamed, false);
    assert!(!ok && err.contains("has soname 'none', expected 'libwxfs.so'"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The release script and the consumer tests at least parse; .ci/run runs both.
#[test]
fn release_scripts_parse() {
    for script in ["packaging/release.sh", "packaging/test-artifacts.sh", "packaging/android/check-so.sh"] {
        let out = Command::new("sh").arg("-n").arg(common::repo_dir().join(script)).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
