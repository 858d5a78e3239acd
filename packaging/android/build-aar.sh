#!/bin/sh
# Build wxfs.aar: libwxfs.so for the Android ABIs, the Kotlin binding and the consumer R8 rules in
# one Android library. Every step and whether it was tested: docs/android.md.
#
# usage: packaging/android/build-aar.sh
# needs: the Android SDK (ANDROID_HOME) with NDK r28+ (or r26/r27: .cargo/config.toml supplies the
#        16 KB alignment), cargo-ndk, the Rust Android targets, and Gradle 8 on PATH.
# output: packaging/android/wxfs/build/outputs/aar/wxfs-release.aar
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
module="$here/wxfs"
abis="arm64-v8a armeabi-v7a x86_64"

command -v cargo-ndk >/dev/null || { echo "build-aar.sh: cargo install cargo-ndk" >&2; exit 2; }
command -v gradle >/dev/null || { echo "build-aar.sh: Gradle 8 is not on PATH" >&2; exit 2; }
[ -n "${ANDROID_HOME:-}" ] || { echo "build-aar.sh: set ANDROID_HOME to the Android SDK" >&2; exit 2; }

# 1. The native library for each ABI, into the module's jniLibs (the CLI is not built).
rm -rf "$module/src/main/jniLibs"
targets=
for abi in $abis; do targets="$targets -t $abi"; done
# shellcheck disable=SC2086 # one -t per ABI
(cd "$repo" && cargo ndk $targets -o "$module/src/main/jniLibs" build --release --lib --no-default-features)

# 2. Every library must be named libwxfs.so (DT_SONAME) and the 64-bit ones aligned for 16 KB
#    pages (Google Play; Android 15+ devices): check-so.sh.
for abi in $abis; do
    so="$module/src/main/jniLibs/$abi/libwxfs.so"
    [ -f "$so" ] || { echo "build-aar.sh: $so was not built" >&2; exit 1; }
    case $abi in
        arm64-v8a|x86_64) "$here/check-so.sh" --16k "$so" ;;
        *) "$here/check-so.sh" "$so" ;;
    esac
done

# 3. The AAR (the module takes the Kotlin sources from bindings/kotlin and ships consumer-rules.pro).
(cd "$module" && gradle --no-daemon assembleRelease)
echo "built $module/build/outputs/aar/wxfs-release.aar"
