#!/bin/sh
# Compile the Kotlin binding and its test with kotlinc, then run the test against libwxfs.
#
# usage: bindings/kotlin/run-tests.sh [LIB_DIR]
#   LIB_DIR  directory holding libwxfs.so (default: target/debug of this repo)
# env: JNA_JAR (default /usr/share/java/jna.jar), KOTLINC (default kotlinc), JAVA (default java)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
lib_dir=${1:-"$here/../../target/debug"}
lib_dir=$(cd "$lib_dir" && pwd)
jna=${JNA_JAR:-/usr/share/java/jna.jar}
kotlinc=${KOTLINC:-kotlinc}
java=${JAVA:-java}

[ -f "$lib_dir/libwxfs.so" ] || [ -f "$lib_dir/libwxfs.dylib" ] || {
    echo "run-tests.sh: no libwxfs in $lib_dir (run cargo build first)" >&2; exit 2; }
[ -f "$jna" ] || { echo "run-tests.sh: JNA not found at $jna (apt-get install libjna-java, or set JNA_JAR)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/wxfs-kotlin.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

jar="$work/wxfs-kotlin-test.jar"
# kotlinc 1.3 (Debian) warns about -Xverify:none on JDK 13+; keep its output only on failure.
if ! "$kotlinc" -cp "$jna" -include-runtime -d "$jar" \
        "$here/src/main/kotlin/wxfs/Wxfs.kt" "$here/src/test/kotlin/WxfsTest.kt" >"$work/kotlinc.log" 2>&1; then
    cat "$work/kotlinc.log" >&2
    echo "run-tests.sh: kotlinc failed" >&2
    exit 1
fi
grep -v -e 'Xverify:none' -e '^$' "$work/kotlinc.log" >&2 || true

"$java" -Djna.library.path="$lib_dir" -Dwxfs.header="$here/../../include/wxfs.h" -cp "$jar:$jna" WxfsTestKt
