#!/bin/sh
# Consumer tests: install what packaging/release.sh built, and nothing else from the checkout,
# the way a host team would, each into a fresh directory outside the repository:
#
#  1. C SDK: untar into a prefix; build examples/c/host.c (the consumer's program, copied out)
#     through pkg-config (shared, and static from libwxfs.a) and through CMake (find_package,
#     wxfs::wxfs and wxfs::wxfs_static), and run each: it must print what the README shows.
#     The debug tarball must hold the file the stripped library names in .gnu_debuglink.
#  2. npm: `npm install` the two tarballs into a new project; run the seed image-cache scenario
#     through require('wxfs-node'); type-check a TypeScript host under `tsc --strict`.
#  3. crate: a new crate depending on the unpacked .crate by path, built and run.
#
# usage: packaging/test-artifacts.sh [ARTIFACTS_DIR]   (default: target/release-artifacts)
# needs: cc, pkg-config, cmake, node and npm (the registry, for typescript and
# miniprogram-api-typings), cargo. The crate build uses target/ (or CARGO_TARGET_DIR) as a compile
# cache only, so the dependencies `cargo test` built are reused; its sources are the unpacked crate.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
art=$(cd "${1:-$repo/target/release-artifacts}" && pwd)
version=$(ls "$art" | sed -n 's/^wxfs-\([0-9][0-9.]*[0-9]\)\.crate$/\1/p')
[ -n "$version" ] || { echo "test-artifacts.sh: no wxfs-X.Y.Z.crate in $art" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wxfs-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "test-artifacts.sh: FAIL: $*" >&2
    exit 1
}
step() { echo "== consumer: $*"; }

(cd "$art" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not match the artifacts"

# What examples/c/host.c prints (README, "Your first C host").
expected='writeFileSync -> 0 {"errMsg":"writeFileSync:ok"}
readFileSync -> 0 {"errMsg":"readFileSync:ok","data":"hello from C"}
setStorageSync -> 0 {"errMsg":"setStorageSync:ok"}
readFileSync -> 1300002 {"errMsg":"readFileSync:fail no such file or directory, open wxfile://usr/missing.txt","errCode":1300002}'
run_host() { # run_host EXE NAME: runs it on a fresh root with no LD_LIBRARY_PATH, checks its output
    got=$(env -u LD_LIBRARY_PATH "$1" "$tmp/root-$2") || fail "$2 exited with $?"
    [ "$got" = "$expected" ] || fail "$2 printed:
$got
expected:
$expected"
    echo "   $2: ok (4 lines as the README shows)"
}

# ---- 1. C SDK ------------------------------------------------------------------------------
step "C SDK wxfs-$version-linux-x86_64.tar.gz"
sdk=wxfs-$version-linux-x86_64
mkdir -p "$tmp/opt" "$tmp/app"
tar -xzf "$art/$sdk.tar.gz" -C "$tmp/opt"
prefix=$tmp/opt/$sdk
cp "$repo/examples/c/host.c" "$tmp/app/host.c"
so=$prefix/lib/libwxfs.so.$version
readelf -S "$so" | grep -q '\.debug_info' && fail "$so is not stripped"
link=$(readelf -p .gnu_debuglink "$so" 2>/dev/null | sed -n 's/.*\] *\(.*\.debug\)$/\1/p')
[ "$link" = "libwxfs.so.$version.debug" ] || fail "$so names debug file '$link'"
tar -xzf "$art/$sdk-debug.tar.gz" -C "$tmp/opt"
[ -f "$prefix/lib/.debug/$link" ] || fail "the debug tarball lacks lib/.debug/$link"
readelf -S "$prefix/lib/.debug/$link" | grep -q '\.debug_info' || fail "lib/.debug/$link holds no debug info"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion wxfs)" = "$version" ] || fail "pkg-config --modversion wxfs: $(pkg-config --modversion wxfs)"
cc -std=c11 -Wall -Werror "$tmp/app/host.c" $(pkg-config --cflags --libs wxfs) -Wl,-rpath,"$(pkg-config --variable=libdir wxfs)" -o "$tmp/app/host-pc"
run_host "$tmp/app/host-pc" pkg-config-shared
cc -std=c11 -Wall -Werror "$tmp/app/host.c" $(pkg-config --cflags wxfs) "$(pkg-config --variable=libdir wxfs)/libwxfs.a" $(pkg-config --static --libs-only-l wxfs | sed 's/-lwxfs//') -o "$tmp/app/host-pc-static"
readelf -d "$tmp/app/host-pc-static" | grep -q 'libwxfs' && fail "the static host depends on libwxfs"
run_host "$tmp/app/host-pc-static" pkg-config-static

cat > "$tmp/app/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer LANGUAGES C)
find_package(wxfs ${version%.*} REQUIRED)
add_executable(host host.c)
target_link_libraries(host PRIVATE wxfs::wxfs)
add_executable(host_static host.c)
target_link_libraries(host_static PRIVATE wxfs::wxfs_static)
EOF
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/app/build" >/dev/null
run_host "$tmp/app/build/host" cmake-shared
run_host "$tmp/app/build/host_static" cmake-static

# ---- 2. npm --------------------------------------------------------------------------------
step "npm wxfs-node-$version.tgz + wxfs-node-linux-x64-gnu-$version.tgz"
proj=$tmp/node-host
mkdir -p "$proj"
cd "$proj"
printf '{ "name": "node-host", "version": "1.0.0", "private": true }\n' > package.json
npm install --no-audit --no-fund --loglevel=error \
    "$art/wxfs-node-linux-x64-gnu-$version.tgz" "$art/wxfs-node-$version.tgz" typescript@5 >/dev/null
[ -f node_modules/wxfs-node/js/core.js ] || fail "bindings/js is not inside the package"
[ ! -e node_modules/js ] || fail "something installed a package named js"
cat > seed.js <<'EOF'
// The seed scenario: a download becomes a temp file, saveFile keeps it, its path goes to storage;
// after a reopen, storage gives the path back and the bytes are identical.
const os = require('os');
const path = require('path');
const fs = require('fs');
const wxfs = require('wxfs-node');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wxfs-seed-'));
const config = { root, appId: 'wx0123456789abcdef', userId: 'u1' };
const image = new Uint8Array(300000).map((_, i) => (i * 131 + (i >> 9)) & 255);
let sb = wxfs.open(config);
const temp = sb.invoke('host.createTempFile', { data: image.buffer, extension: 'jpg' });
sb.wx.getFileSystemManager().saveFile({
  tempFilePath: temp.tempFilePath,
  success(saved) {
    sb.wx.setStorageSync('image_cache', saved.savedFilePath);
    sb.close();
    sb = wxfs.open(config);
    const p = sb.wx.getStorageSync('image_cache');
    const back = new Uint8Array(sb.wx.getFileSystemManager().readFileSync(p));
    if (back.length !== image.length || !back.every((b, i) => b === image[i])) throw new Error('bytes differ');
    console.log(`seed scenario: ok (${back.length} bytes at ${p}, wxfs ${wxfs.version()} from ${path.relative(process.cwd(), wxfs.locate().lib)})`);
    sb.close();
    fs.rmSync(root, { recursive: true, force: true });
  },
  fail(res) {
    throw new Error(res.errMsg);
  },
});
EOF
node seed.js
cat > host.ts <<'EOF'
import * as wxfs from 'wxfs-node';

const sb: wxfs.Sandbox = wxfs.open({ root: '/tmp/wxfs-ts', appId: 'wx0123456789abcdef', userId: 'u1' });
const fs: WechatMiniprogram.FileSystemManager = sb.wx.getFileSystemManager();
fs.writeFileSync(`${sb.wx.env.USER_DATA_PATH}/a.txt`, 'hi', 'utf8');
const text: string | ArrayBuffer = fs.readFileSync(`${sb.wx.env.USER_DATA_PATH}/a.txt`, 'utf8');
sb.wx.setStorageSync('k', { n: 1 });
sb.wx.getStorage<{ n: number }>({ key: 'k', success: (r) => console.log(r.data.n) });
const raw: wxfs.InvokeResult = sb.invoke('getStorageInfoSync');
const code: number | undefined = raw.errCode;
const ok: boolean = sb.wx.canIUse('FileSystemManager.readFile');
console.log(text, code, ok, sb.close());
EOF
cat > tsconfig.json <<'EOF'
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "es2017", "lib": ["es2017"], "module": "commonjs", "types": [] }, "files": ["host.ts"] }
EOF
npx --no-install tsc -p tsconfig.json || fail "tsc --strict"
echo "   tsc --strict: ok"
# The TypeScript check bites: a wrong argument is an error.
printf 'import * as wxfs from "wxfs-node";\nwxfs.open({ root: 1 });\n' > bad.ts
sed 's/host.ts/bad.ts/' tsconfig.json > tsconfig.bad.json
if bad=$(npx --no-install tsc -p tsconfig.bad.json); then fail "tsc accepted open({root: 1})"; fi
echo "$bad" | grep -q "^bad.ts(2,.*error TS2322" || fail "tsc refused bad.ts for another reason than its wrong argument: $bad"
cd "$repo"

# ---- 3. crate ------------------------------------------------------------------------------
step "crate wxfs-$version.crate as a path dependency"
mkdir -p "$tmp/crate" "$tmp/rust-host/src"
tar -xzf "$art/wxfs-$version.crate" -C "$tmp/crate"
cat > "$tmp/rust-host/Cargo.toml" <<EOF
[package]
name = "rust-host"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
wxfs = { path = "$tmp/crate/wxfs-$version", default-features = false }

[workspace]
EOF
# The crate's own lock file pins the versions it was tested with.
cp "$tmp/crate/wxfs-$version/Cargo.lock" "$tmp/rust-host/Cargo.lock"
cat > "$tmp/rust-host/src/main.rs" <<'EOF'
use wxfs::{bridge, Config, Session};

fn main() {
    let root = std::env::args().nth(1).expect("ROOT");
    let session = Session::open(Config::new(std::path::Path::new(&root), "u1", "wx0123456789abcdef")).expect("open");
    for (api, args) in [
        ("writeFileSync", r#"{"filePath":"wxfile://usr/a.txt","data":"from rust"}"#),
        ("readFileSync", r#"{"filePath":"wxfile://usr/a.txt","encoding":"utf8"}"#),
    ] {
        let (code, result) = bridge::invoke(&session, api, args);
        println!("{api} -> {code} {result}");
    }
}
EOF
got=$(cd "$tmp/rust-host" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" cargo run -q -- "$tmp/rust-root")
want='writeFileSync -> 0 {"errMsg":"writeFileSync:ok"}
readFileSync -> 0 {"errMsg":"readFileSync:ok","data":"from rust"}'
[ "$got" = "$want" ] || fail "the Rust host printed:
$got"
echo "   rust host: ok"
echo "consumer tests passed: C SDK (pkg-config and CMake, shared and static), npm (require, tsc --strict), crate"
