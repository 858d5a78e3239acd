//! What the Android and Apple packaging can be checked for on this Linux machine (no NDK, no Xcode):
//! the 16 KB page alignment that `.cargo/config.toml` asks the linker for on every Android target,
//! applied to a shared object linked here; and the shell scripts' syntax.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Command, Stdio};

const ANDROID_TARGETS: &[&str] =
    &["aarch64-linux-android", "x86_64-linux-android", "armv7-linux-androideabi", "i686-linux-android"];

/// The `-C link-arg=` values `.cargo/config.toml` gives a target's rustc.
fn link_args(target: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::repo_dir().join(".cargo/config.toml")).unwrap();
    let config: toml::Table = text.parse().unwrap();
    let flags = config["target"][target]["rustflags"].as_array().unwrap_or_else(|| panic!("no rustflags for {target}"));
    let flags: Vec<&str> = flags.iter().map(|f| f.as_str().unwrap()).collect();
    flags.windows(2).filter(|w| w[0] == "-C").filter_map(|w| w[1].strip_prefix("link-arg=")).map(String::from).collect()
}

/// The alignments of a shared object's LOAD segments (`readelf -lW`).
fn load_alignments(so: &std::path::Path) -> Vec<String> {
    let out = Command::new("readelf").arg("-lW").arg(so).stdin(Stdio::null()).output().expect("readelf (binutils)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect()
}

/// Google Play's 16 KB requirement: every LOAD segment of libwxfs.so aligned to 0x4000. An Android
/// link needs the NDK; the flags are the same for the host's linker, so a shared object linked here
/// with each target's flags shows what they do (and one linked without them, that they matter).
#[test]
fn android_targets_link_with_16k_page_alignment() {
    let dir = common::fresh_dir("align16k");
    let src = dir.join("probe.c");
    std::fs::write(&src, "int wxfs_probe(void) { return 1; }\n").unwrap();
    let link = |name: &str, args: &[String]| {
        let so = dir.join(name);
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let st = Command::new(&cc).args(["-shared", "-fPIC"]).arg(&src).args(args).arg("-o").arg(&so).status().expect("cc");
        assert!(st.success(), "{cc} failed for {name}");
        load_alignments(&so)
    };
    let plain = link("plain.so", &[]);
    assert!(plain.iter().any(|a| a != "0x4000"), "the host links at 16 KB already: the test shows nothing ({plain:?})");
    for target in ANDROID_TARGETS {
        let args = link_args(target);
        assert!(args.iter().any(|a| a == "-Wl,-z,max-page-size=16384"), "{target}: {args:?}");
        assert!(args.iter().any(|a| a == "-Wl,-z,common-page-size=16384"), "{target}: {args:?}");
        let aligned = link(&format!("{target}.so"), &args);
        assert!(!aligned.is_empty() && aligned.iter().all(|a| a == "0x4000"), "{target}: LOAD alignments {aligned:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The build scripts this machine cannot run (they need the NDK and Gradle, or Xcode) at least parse.
#[test]
fn packaging_scripts_parse() {
    for script in ["packaging/android/build-aar.sh", "packaging/apple/build-xcframework.sh", "packaging/install.sh"] {
        let out = Command::new("sh").arg("-n").arg(common::repo_dir().join(script)).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
