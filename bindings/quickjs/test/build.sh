#!/usr/bin/env bash
# Build the suite runner (runner.c: bindings/js's test suite in QuickJS through the glue):
#   bindings/quickjs/test/build.sh ENGINE_DIR OUT [CFLAG...]
# ENGINE_DIR is what bindings/quickjs/engine.sh built; links target/release/libwxfs.a (or
# $WXFS_LIB_DIR/libwxfs.a). Extra CFLAGs (-fsanitize=address) apply to the runner and the glue.
set -euo pipefail
engine_dir="${1:?usage: build.sh ENGINE_DIR OUT [CFLAG...]}"
out="${2:?usage: build.sh ENGINE_DIR OUT [CFLAG...]}"
shift 2
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
lib="${WXFS_LIB_DIR:-$repo/target/release}/libwxfs.a"
"${CC:-cc}" -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror "$@" \
    -I"$repo/include" -I"$repo/bindings/quickjs" -isystem "$engine_dir/include" \
    "$repo/bindings/quickjs/test/runner.c" "$engine_dir/libquickjs.a" "$lib" -lpthread -ldl -lm -o "$out"
