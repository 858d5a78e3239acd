#!/bin/sh
# Build a release's artifacts into target/release-artifacts/, from a clean checkout:
#
#   wxfs-X.Y.Z-linux-x86_64.tar.gz        C SDK: include/wxfs.h, lib/libwxfs.so.X.Y.Z (stripped) with
#                                         its soname links, lib/libwxfs.a (debug info stripped),
#                                         lib/pkgconfig/wxfs.pc (relocatable, ${pcfiledir}),
#                                         lib/cmake/wxfs/, share/doc/wxfs/LICENSE-*
#   wxfs-X.Y.Z-linux-x86_64-debug.tar.gz  the shared library's debug symbols, split off:
#                                         <same top directory>/lib/.debug/libwxfs.so.X.Y.Z.debug
#                                         (the .so names it in .gnu_debuglink; extracted beside the
#                                         SDK, gdb finds it)
#   wxfs-node-X.Y.Z.tgz                   npm package: bindings/node with bindings/js inside it
#                                         (js/), index.d.ts, LICENSE-*; the prebuild for each
#                                         platform is an optional dependency, as napi-rs lays it out
#   wxfs-node-linux-x64-gnu-X.Y.Z.tgz     that prebuild for linux-x64-gnu: the addon
#                                         (wxfs_node.linux-x64-gnu.node) and libwxfs.so, stripped
#   wxfs-X.Y.Z.crate                      `cargo package`, which must print no warning
#   SHA256SUMS
#
# The Android AAR (packaging/android/build-aar.sh: the NDK, cargo-ndk and Gradle) and the iOS
# XCFramework (packaging/apple/build-xcframework.sh: macOS and Xcode) are built too when their
# tools are there (--android, --apple); on this project's Linux CI they are not, and the script
# says `skipped:` for each. docs/release.md says how to cut a release with all of them.
#
# usage: packaging/release.sh [--no-build] [--allow-dirty] [--android] [--apple]
#   --no-build     use what `cargo build --release` already built
#   --allow-dirty  package uncommitted changes (a developer's trial run, never a release)
# The consumer tests (packaging/test-artifacts.sh) install these files and nothing else.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
build=1
allow_dirty=
android=0
apple=0
for a in "$@"; do
    case $a in
        --no-build) build=0 ;;
        --allow-dirty) allow_dirty=--allow-dirty ;;
        --android) android=1 ;;
        --apple) apple=1 ;;
        *) echo "usage: $0 [--no-build] [--allow-dirty] [--android] [--apple]" >&2; exit 2 ;;
    esac
done
die() {
    echo "release.sh: $*" >&2
    exit 1
}
for tool in cargo node npm tar gzip objcopy strip readelf sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "the C SDK and the npm prebuild are built for linux-x86_64; this is $(uname -s)-$(uname -m)"

cd "$repo"
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -1)
abi=$(sed -n 's/^[[:space:]]*pub const WXFS_ABI_VERSION: u32 = \([0-9][0-9]*\);.*/\1/p' src/ffi/mod.rs)
[ -n "$version" ] && [ -n "$abi" ] || die "no version in Cargo.toml or no ABI version in src/ffi/mod.rs"
target=${CARGO_TARGET_DIR:-$repo/target}
out=$target/release-artifacts
work=$target/release-work
rm -rf "$out" "$work"
mkdir -p "$out" "$work"
# Reproducible archives: every file owned by root, dated by the last commit.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
tarball() { # tarball OUT.tar.gz DIR NAME: DIR/NAME into OUT
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$2" -cf - "$3" | gzip -9n > "$1"
}

# 1. Build: the library, and the Node addon (a workspace member), in release mode.
if [ "$build" = 1 ]; then
    cargo build --release --locked --lib -p wxfs -p wxfs-node
fi
rel=$target/release
for f in libwxfs.so libwxfs.a libwxfs_node.so; do [ -f "$rel/$f" ] || die "$rel/$f not built"; done

# 2. C SDK: packaging/install.sh lays out the tree; then strip, split the debug symbols, and
#    make the pc file relocatable (CMake's config already is).
sdk=wxfs-$version-linux-x86_64
packaging/install.sh "$work/$sdk" --no-build --profile-dir "$rel" >/dev/null
so=$work/$sdk/lib/libwxfs.so.$version
debug=$work/debug/$sdk/lib/.debug/libwxfs.so.$version.debug
mkdir -p "$(dirname "$debug")"
objcopy --only-keep-debug --compress-debug-sections=zlib "$so" "$debug"
strip --strip-unneeded "$so"
objcopy --add-gnu-debuglink="$debug" "$so"
strip --strip-debug "$work/$sdk/lib/libwxfs.a"
sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$work/$sdk/lib/pkgconfig/wxfs.pc"
readelf -d "$so" | grep -q "(SONAME).*\[libwxfs.so.$abi\]" || die "$so lacks the soname libwxfs.so.$abi"
if readelf -S "$so" | grep -q '\.debug_info'; then die "$so still has debug info"; fi
tarball "$out/$sdk.tar.gz" "$work" "$sdk"
tarball "$out/$sdk-debug.tar.gz" "$work/debug" "$sdk"

# 3. npm: the platform package (napi-rs layout: <name>-<triple>, os/cpu/libc fields, the addon
#    as <name>.<triple>.node), then the main package with bindings/js inside it as js/.
triple=linux-x64-gnu
npm_main=$work/npm/wxfs-node
npm_plat=$work/npm/wxfs-node-$triple
mkdir -p "$npm_main" "$npm_plat"
cp "$rel/libwxfs.so" "$npm_plat/libwxfs.so"
cp "$rel/libwxfs_node.so" "$npm_plat/wxfs_node.$triple.node"
strip --strip-unneeded "$npm_plat/libwxfs.so" "$npm_plat/wxfs_node.$triple.node"
cp LICENSE-MIT LICENSE-APACHE "$npm_plat/"
cat > "$npm_plat/index.js" <<'EOF'
'use strict';
// The prebuild of wxfs-node for this platform: where its addon and libwxfs are.
const path = require('path');
module.exports = {
  addon: path.join(__dirname, 'wxfs_node.linux-x64-gnu.node'),
  lib: path.join(__dirname, 'libwxfs.so'),
};
EOF
cat > "$npm_plat/README.md" <<EOF
# wxfs-node-$triple

The prebuilt Node-API addon and libwxfs of [wxfs-node](https://www.npmjs.com/package/wxfs-node)
for $triple (glibc 2.17+, Node 18+). Install \`wxfs-node\`, which depends on this package
optionally; npm picks the one for the platform it runs on.
EOF
node - "$npm_plat/package.json" "$version" "$triple" <<'EOF'
const [file, version, triple] = process.argv.slice(2);
const [os, cpu, libc] = triple.split('-');
const pkg = {
  name: `wxfs-node-${triple}`,
  version,
  description: `Prebuilt Node-API addon and libwxfs of wxfs-node for ${triple}`,
  main: 'index.js',
  files: ['index.js', `wxfs_node.${triple}.node`, 'libwxfs.so', 'README.md', 'LICENSE-MIT', 'LICENSE-APACHE'],
  os: [os],
  cpu: [cpu],
  libc: [libc === 'gnu' ? 'glibc' : 'musl'],
  license: 'MIT OR Apache-2.0',
  engines: { node: '>=18' },
};
require('fs').writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
EOF
cp bindings/node/index.js bindings/node/index.d.ts bindings/node/README.md LICENSE-MIT LICENSE-APACHE "$npm_main/"
mkdir -p "$npm_main/js/dialects"
cp bindings/js/*.js bindings/js/README.md "$npm_main/js/"
cp bindings/js/dialects/*.js "$npm_main/js/dialects/"
node - bindings/node/package.json "$npm_main/package.json" "$triple" <<'EOF'
const fs = require('fs');
const [from, to, triple] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(from, 'utf8'));
delete pkg.devDependencies;
delete pkg.scripts;   // the tests and the checkout guard stay in the repository
pkg.optionalDependencies = { [`${pkg.name}-${triple}`]: pkg.version };
fs.writeFileSync(to, JSON.stringify(pkg, null, 2) + '\n');
EOF
# Nothing in the package may reach outside it (`../js` would find any package named js).
if grep -rn "require('\.\./" "$npm_main" --include=*.js; then die "the npm package requires a path outside itself"; fi
(cd "$npm_plat" && npm pack --silent --pack-destination "$out" >/dev/null)
(cd "$npm_main" && npm pack --silent --pack-destination "$out" >/dev/null)

# 4. The crate. `cargo package` refuses uncommitted changes unless --allow-dirty; its own
#    verification build is the consumer test's (packaging/test-artifacts.sh builds the crate as a
#    path dependency), so it is not run twice here.
cargo package -p wxfs --locked --no-verify $allow_dirty 2> "$work/cargo-package.log" || { cat "$work/cargo-package.log" >&2; die "cargo package failed"; }
if grep -i 'warning' "$work/cargo-package.log" >&2; then die "cargo package printed warnings"; fi
cp "$target/package/wxfs-$version.crate" "$out/"

# 5. Mobile recipes: run where their tools are, asked for.
if [ "$android" = 1 ]; then
    packaging/android/build-aar.sh
    cp packaging/android/wxfs/build/outputs/aar/wxfs-release.aar "$out/wxfs-$version.aar"
else
    echo "skipped: Android AAR (packaging/android/build-aar.sh needs the NDK, cargo-ndk and Gradle; pass --android where they are)"
fi
if [ "$apple" = 1 ]; then
    packaging/apple/build-xcframework.sh "$work/apple"
    cp "$work/apple/Wxfs.xcframework.zip" "$out/Wxfs-$version.xcframework.zip"
else
    echo "skipped: iOS XCFramework (packaging/apple/build-xcframework.sh needs macOS and Xcode; pass --apple there)"
fi

(cd "$out" && sha256sum -- * > SHA256SUMS)
rm -rf "$work"
echo "wxfs $version (ABI $abi): $out"
(cd "$out" && ls -l | awk 'NR > 1 { printf "  %-44s %10d bytes\n", $NF, $5 }')
