#!/usr/bin/env bash
# Build the QuickJS host runtime example into OUTDIR/host, from a checkout whose
# `cargo build --release` has run:
#
#   examples/quickjs-host/build.sh OUTDIR
#   OUTDIR/host ROOT SCRIPT.js [--platform P]
#
# The engine comes from a crates.io package (bindings/quickjs/engine.sh), built once into
# OUTDIR/engine-<name>: WXFS_QUICKJS_ENGINE=quickjs (Bellard's) or quickjs-ng (the default);
# WXFS_QUICKJS_ENGINE_DIR names an engine engine.sh built already; WXFS_LIB_DIR, the directory of
# libwxfs.a (default target/release). CFLAGS are added to the
# host's and the glue's compile (-fsanitize=address, ...). The host links libwxfs statically and
# reads bindings/js from this checkout.
set -euo pipefail
out="${1:?usage: examples/quickjs-host/build.sh OUTDIR}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
engine="${WXFS_QUICKJS_ENGINE:-quickjs-ng}"
engine_dir="${WXFS_QUICKJS_ENGINE_DIR:-$out/engine-$engine}"
lib="${WXFS_LIB_DIR:-$repo/target/release}/libwxfs.a"
[ -f "$lib" ] || { echo "build.sh: $lib not found: run \`cargo build --release\` in $repo first" >&2; exit 1; }
if [ ! -f "$engine_dir/libquickjs.a" ]; then
    "$repo/bindings/quickjs/engine.sh" "$engine" "$engine_dir"
fi
# shellcheck disable=SC2086 # CFLAGS holds several flags on purpose
"${CC:-cc}" -std=gnu11 -O2 -g -Wall -Wextra -Werror ${CFLAGS:-} \
    -I"$repo/include" -I"$repo/bindings/quickjs" -isystem "$engine_dir/include" \
    -DWXFS_JS_DIR="\"$repo/bindings/js\"" \
    "$repo/examples/quickjs-host/host.c" "$repo/bindings/quickjs/wxfs_quickjs.c" \
    "$engine_dir/libquickjs.a" "$lib" -lpthread -ldl -lm -o "$out/host"
echo "$out/host (engine: $engine_dir)"
