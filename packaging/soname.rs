//! The link argument that names libwxfs's shared library, per target OS. Included by build.rs and
//! by tests/release.rs (`#[path]`), so the choice is tested without cross-linking.

/// The `cargo:rustc-cdylib-link-arg` value for `target_os` (CARGO_CFG_TARGET_OS) and the ABI
/// version, or None where the platform sets no name (Windows DLLs have none).
///
/// - Linux: `libwxfs.so.<ABI>`; packaging/install.sh and the C SDK add `libwxfs.so` ->
///   `libwxfs.so.<ABI>` -> `libwxfs.so.X.Y.Z`, so hosts bind to the ABI, not the release.
/// - Android: `libwxfs.so`, the file name an APK ships (no symlinks in `jniLibs`). Bionic records
///   the soname of every library it loads and, from API 23, refuses one without `DT_SONAME`
///   ("has no DT_SONAME") for apps that target it; a versioned name would not be found in an APK.
/// - macOS: the install name `@rpath/libwxfs.<ABI>.dylib`. iOS hosts link the XCFramework's
///   static library, which has none.
pub fn link_arg(target_os: &str, abi: u32) -> Option<String> {
    match target_os {
        "linux" => Some(format!("-Wl,-soname,libwxfs.so.{abi}")),
        "android" => Some("-Wl,-soname,libwxfs.so".to_string()),
        "macos" => Some(format!("-Wl,-install_name,@rpath/libwxfs.{abi}.dylib")),
        _ => None,
    }
}
