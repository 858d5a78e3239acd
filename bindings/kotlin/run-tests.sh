#!/bin/sh
# Compile the Kotlin binding and its test with kotlinc, then run the test against libwxfs.
#
# usage: bindings/kotlin/run-tests.sh [--minify] [LIB_DIR]
#   LIB_DIR   directory holding libwxfs.so (default: target/debug of this repo)
#   --minify  run the test as an Android release build would ship it: shrunk and obfuscated by
#             ProGuard with packaging/android/consumer-rules.pro (the AAR's consumer rules), JNA
#             included, so a rule that R8 would need and the file lacks fails the run
# env: JNA_JAR (default /usr/share/java/jna.jar), KOTLINC (default kotlinc), JAVA (default java),
#      PROGUARD (default proguard)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
minify=0
if [ "${1:-}" = --minify ]; then
    minify=1
    shift
fi
lib_dir=${1:-"$here/../../target/debug"}
lib_dir=$(cd "$lib_dir" && pwd)
jna=${JNA_JAR:-/usr/share/java/jna.jar}
kotlinc=${KOTLINC:-kotlinc}
java=${JAVA:-java}
proguard=${PROGUARD:-proguard}

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

classpath="$jar:$jna"
if [ "$minify" = 1 ]; then
    java_home=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')
    [ -f "$java_home/jmods/java.base.jmod" ] || {
        echo "run-tests.sh: $java_home has no jmods (install the JDK: apt-get install default-jdk-headless)" >&2; exit 2; }
    command -v "$proguard" >/dev/null || {
        echo "run-tests.sh: $proguard not found (apt-get install proguard-cli, or set PROGUARD)" >&2; exit 2; }
    # ProGuard needs the JDK's classes for their hierarchy and signatures only. Debian's ProGuard
    # (6.2) reads class files up to Java 13, so java.base is extracted and its class files'
    # version lowered to 55: their contents are not run, only read.
    "$java_home/bin/jmod" extract --dir "$work/jdk" "$java_home/jmods/java.base.jmod"
    python3 - "$work/jdk/classes" "$work/java-base.jar" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as z:
    for d, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".class") or f == "module-info.class":
                continue
            b = bytearray(open(os.path.join(d, f), "rb").read())
            if b[:4] == b"\xca\xfe\xba\xbe" and (b[6] << 8 | b[7]) > 55:
                b[6], b[7] = 0, 55
            z.writestr(os.path.relpath(os.path.join(d, f), src), bytes(b))
PY
    cat >"$work/minify.pro" <<PRO
-injars $jar
-injars $jna(!META-INF/**)
-outjars $work/minified.jar
-libraryjars $work/java-base.jar
-include $here/../../packaging/android/consumer-rules.pro
# The test's own entry point (an app keeps its Activity the same way).
-keep class WxfsTestKt { public static void main(java.lang.String[]); }
# The Kotlin runtime ships its own consumer rules in an app; here it is part of the test jar.
-dontwarn kotlin.**
-dontwarn org.jetbrains.annotations.**
-dontnote **
PRO
    if ! "$proguard" @"$work/minify.pro" >"$work/proguard.log" 2>&1; then
        cat "$work/proguard.log" >&2
        echo "run-tests.sh: proguard failed" >&2
        exit 1
    fi
    # JNA is inside the minified jar, renamed as the rules allow.
    classpath="$work/minified.jar"
    echo "minified with packaging/android/consumer-rules.pro: $(wc -c <"$jar") + $(wc -c <"$jna") bytes -> $(wc -c <"$work/minified.jar")"
fi

"$java" -Djna.library.path="$lib_dir" -Dwxfs.header="$here/../../include/wxfs.h" -cp "$classpath" WxfsTestKt
