#!/bin/sh
# Build Wxfs.xcframework: the static libwxfs for iOS devices, the iOS simulators (arm64 + x86_64)
# and macOS (arm64 + x86_64), each with include/wxfs.h as the module CWxfs that the Swift package
# (Package.swift at the repository root) imports; then zip it for a release and print what
# Package.swift's `wxfsBinary` needs. Every step and whether it was tested: docs/ios.md.
#
# usage: packaging/apple/build-xcframework.sh [OUT_DIR]     (default: target/apple)
# needs: macOS with Xcode (xcodebuild, lipo, swift), rustup.
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$repo/target/apple"}
ios="aarch64-apple-ios"
sim="aarch64-apple-ios-sim x86_64-apple-ios"
mac="aarch64-apple-darwin x86_64-apple-darwin"

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh: needs macOS with Xcode" >&2; exit 2; }
command -v xcodebuild >/dev/null || { echo "build-xcframework.sh: xcodebuild not found (install Xcode)" >&2; exit 2; }

# 1. The static library for every slice. The deployment targets match Package.swift's platforms.
# shellcheck disable=SC2086 # word lists
rustup target add $ios $sim $mac
export IPHONEOS_DEPLOYMENT_TARGET=13.0 MACOSX_DEPLOYMENT_TARGET=10.15
for t in $ios $sim $mac; do
    (cd "$repo" && cargo build --release --lib --no-default-features --target "$t")
done

# 2. One fat archive per platform variant (the simulator and macOS each have two architectures).
rm -rf "$out" && mkdir -p "$out/ios" "$out/ios-simulator" "$out/macos" "$out/headers"
lib() { echo "$repo/target/$1/release/libwxfs.a"; }
cp "$(lib aarch64-apple-ios)" "$out/ios/libwxfs.a"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$out/ios-simulator/libwxfs.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$out/macos/libwxfs.a"

# 3. The headers: wxfs.h as the Clang module CWxfs (the name the Swift sources import).
cp "$repo/include/wxfs.h" "$out/headers/"
printf 'module CWxfs {\n    header "wxfs.h"\n    export *\n}\n' >"$out/headers/module.modulemap"

# 4. The XCFramework.
xcodebuild -create-xcframework \
    -library "$out/ios/libwxfs.a" -headers "$out/headers" \
    -library "$out/ios-simulator/libwxfs.a" -headers "$out/headers" \
    -library "$out/macos/libwxfs.a" -headers "$out/headers" \
    -output "$out/Wxfs.xcframework"

# 5. The release zip and its checksum, for Package.swift.
(cd "$out" && rm -f Wxfs.xcframework.zip && ditto -c -k --sequesterRsrc --keepParent Wxfs.xcframework Wxfs.xcframework.zip)
checksum=$(swift package compute-checksum "$out/Wxfs.xcframework.zip")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
cat <<MSG
built $out/Wxfs.xcframework and $out/Wxfs.xcframework.zip
For the release commit, attach the zip to release v$version and set in Package.swift:
    let wxfsBinary: (url: String, checksum: String)? = (
        url: "https://<host>/<owner>/wxfs/releases/download/v$version/Wxfs.xcframework.zip",
        checksum: "$checksum"
    )
For a local build instead: .binaryTarget(name: "CWxfs", path: "target/apple/Wxfs.xcframework")
MSG
