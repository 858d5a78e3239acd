#!/usr/bin/env bash
# Build the JavaScriptCore example host into OUTDIR/host:
#
#     examples/jsc-host/build.sh OUTDIR
#     OUTDIR/host ROOT SCRIPT.js [--platform P]
#
# From a checkout whose `cargo build --release` has run (the host links target/release/libwxfs.a;
# WXFS_LIB_DIR names another directory holding libwxfs.a). Needs a C compiler and JavaScriptCore's
# C API: on Debian `apt-get install libjavascriptcoregtk-4.1-dev pkg-config`. CC and CFLAGS are
# honoured (the tests build it with -fsanitize=address this way). bindings/js is read at run time
# from this checkout (or from WXFS_JS_DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: examples/jsc-host/build.sh OUTDIR}
lib_dir=${WXFS_LIB_DIR:-$repo/target/release}
if [ ! -f "$lib_dir/libwxfs.a" ]; then
    echo "build.sh: no $lib_dir/libwxfs.a: run \`cargo build --release\` in $repo first" >&2
    exit 1
fi
if ! pkg-config --exists javascriptcoregtk-4.1; then
    echo "build.sh: JavaScriptCore's C API not found (pkg-config javascriptcoregtk-4.1): apt-get install libjavascriptcoregtk-4.1-dev pkg-config" >&2
    exit 1
fi
mkdir -p "$out"
# shellcheck disable=SC2046,SC2086  # pkg-config's words and CFLAGS are lists of flags
${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -g -O2 ${CFLAGS:-} \
    -I"$repo/include" -I"$repo/bindings/jsc" $(pkg-config --cflags javascriptcoregtk-4.1) \
    -DWXFS_JS_DIR="\"$repo/bindings/js\"" \
    "$here/host.c" "$repo/bindings/jsc/wxfs_jsc.c" \
    -o "$out/host" \
    "$lib_dir/libwxfs.a" $(pkg-config --libs javascriptcoregtk-4.1) -lpthread -ldl -lm
echo "built $out/host"
