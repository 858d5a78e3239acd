//! The README's first C host, exactly as written: its C code is `examples/c/host.c`, its shell
//! lines build, install, compile, link and run it from the repository root, and it prints what the
//! README says. (`packaging/install.sh` runs `cargo build --release`: after the README's first
//! command, as in CI, that build is already done.)

mod common;
use common::files::fenced_block;

use std::process::{Command, Stdio};

#[test]
fn the_readme_c_example_builds_links_and_runs_as_written() {
    let repo = common::repo_dir();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let section = readme.find("\n## Your first C host\n").expect("README has no \"Your first C host\" section");
    let (code, next) = fenced_block(&readme, section, "c");
    assert_eq!(
        code,
        std::fs::read_to_string(repo.join("examples/c/host.c")).unwrap(),
        "README's C block differs from examples/c/host.c"
    );
    let (commands, next) = fenced_block(&readme, next, "sh");
    let (printed, _) = fenced_block(&readme, next, "text");

    for stale in ["target/dist", "target/host-root"] {
        let _ = std::fs::remove_dir_all(repo.join(stale));
    }
    let _ = std::fs::remove_file(repo.join("target/host"));
    let out = Command::new("sh")
        .args(["-eu", "-c", commands])
        .current_dir(&repo)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the README's commands failed ({})\n{commands}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // The last command is the host: its output ends stdout (install.sh reports before it).
    assert!(stdout.ends_with(printed), "the host printed\n{stdout}\nwhere the README shows\n{printed}");
    // The program it built asks the loader for the soname the install provides.
    let host = repo.join("target/host");
    let dynamic = Command::new("readelf").arg("-d").arg(&host).output().unwrap();
    let dynamic = String::from_utf8_lossy(&dynamic.stdout);
    assert!(dynamic.contains(&format!("[libwxfs.so.{}]", wxfs::ffi::WXFS_ABI_VERSION)), "{dynamic}");
    assert!(repo.join(format!("target/dist/lib/libwxfs.so.{}", wxfs::ffi::WXFS_ABI_VERSION)).exists());
}
