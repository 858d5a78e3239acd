//! Generates the C header from `src/ffi` with cbindgen.
//!
//! The header is always written to `$OUT_DIR/wxfs.h`; a unit test fails when the committed
//! `include/wxfs.h` differs from it. `WXFS_WRITE_HEADER=1 cargo build` updates the committed copy.

use std::env;
use std::path::PathBuf;

#[path = "packaging/soname.rs"]
mod soname;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=src/bridge/status.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=WXFS_WRITE_HEADER");
    println!("cargo:rerun-if-changed=docs/platforms/dialects.json");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    embed_dialects(&crate_dir);
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wxfs.h");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let (major, minor, patch) = (
        env::var("CARGO_PKG_VERSION_MAJOR").unwrap(),
        env::var("CARGO_PKG_VERSION_MINOR").unwrap(),
        env::var("CARGO_PKG_VERSION_PATCH").unwrap(),
    );
    let packed: u64 =
        major.parse::<u64>().unwrap() * 1_000_000 + minor.parse::<u64>().unwrap() * 1_000 + patch.parse::<u64>().unwrap();
    config.after_includes = Some(format!(
        "\n#define WXFS_VERSION_MAJOR {major}\n#define WXFS_VERSION_MINOR {minor}\n#define WXFS_VERSION_PATCH {patch}\n\
         #define WXFS_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /* MAJOR * 1000000 + MINOR * 1000 + PATCH */\n#define WXFS_VERSION_NUMBER {packed}\n"
    ));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // The status codes first: they are defined below the C ABI, where the bridge uses them too.
        .with_src(crate_dir.join("src/bridge/status.rs"))
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(&out);
    if env::var("WXFS_WRITE_HEADER").map(|v| v == "1").unwrap_or(false) {
        bindings.write_to_file(crate_dir.join("include/wxfs.h"));
    }

    // The shared library's soname carries the ABI version (packaging/install.sh installs
    // libwxfs.so.MAJOR.MINOR.PATCH -> libwxfs.so.<ABI>), so hosts bind to the ABI, not the release.
    // Android's is the plain file name (Bionic requires a DT_SONAME from API 23): packaging/soname.rs.
    let abi = abi_version(&crate_dir.join("src/ffi/mod.rs"));
    println!("cargo:rerun-if-changed=packaging/soname.rs");
    if let Some(arg) = soname::link_arg(&env::var("CARGO_CFG_TARGET_OS").unwrap_or_default(), abi) {
        println!("cargo:rustc-cdylib-link-arg={arg}");
    }
}

/// `pub const WXFS_ABI_VERSION: u32 = N;` of src/ffi/mod.rs: the one place the ABI version is set.
fn abi_version(ffi: &std::path::Path) -> u32 {
    let src = std::fs::read_to_string(ffi).expect("src/ffi/mod.rs");
    src.lines()
        .find_map(|l| l.trim().strip_prefix("pub const WXFS_ABI_VERSION: u32 =")?.trim().strip_suffix(';')?.trim().parse().ok())
        .expect("src/ffi/mod.rs has no `pub const WXFS_ABI_VERSION: u32 = N;`")
}

/// Writes `$OUT_DIR/dialects.json`: `docs/platforms/dialects.json` without its research notes
/// (sources, statuses, notes and decisions, which no code reads), so the library embeds only the
/// data `src/platform/` parses.
fn embed_dialects(crate_dir: &std::path::Path) {
    const NOTES: [&str; 6] = ["about", "sources", "source", "status", "note", "decision"];
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !NOTES.contains(&k.as_str()));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(crate_dir.join("docs/platforms/dialects.json")).expect("docs/platforms/dialects.json");
    let mut data: serde_json::Value = serde_json::from_str(&text).expect("docs/platforms/dialects.json is JSON");
    strip(&mut data);
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("dialects.json");
    std::fs::write(out, serde_json::to_string(&data).unwrap()).expect("write $OUT_DIR/dialects.json");
}
