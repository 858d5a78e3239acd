#!/bin/sh
# Check an Android libwxfs.so before it goes into the AAR (build-aar.sh runs it on each ABI's):
#  - DT_SONAME is `libwxfs.so`: Bionic refuses a library without one from API 23, and an APK ships
#    the file under that name (build.rs sets it; packaging/soname.rs);
#  - with --16k, every LOAD segment is aligned to 16 KiB or a larger power of two (Google Play's
#    16 KB page requirement; 64 KiB, as some toolchains align, satisfies it too).
#
# usage: packaging/android/check-so.sh [--16k] LIB.so
set -eu
align16=0
if [ "${1:-}" = --16k ]; then align16=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--16k] LIB.so" >&2; exit 2; }
so=$1
[ -f "$so" ] || { echo "check-so.sh: $so does not exist" >&2; exit 1; }
soname=$(readelf -dW "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != libwxfs.so ]; then
    echo "check-so.sh: $so has soname '${soname:-none}', expected 'libwxfs.so'" >&2
    exit 1
fi
if [ "$align16" = 1 ]; then
    bad=$(readelf -lW "$so" | awk '$1 == "LOAD" {
            a = $NF; sub(/^0x/, "", a); v = 0
            for (i = 1; i <= length(a); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(a, i, 1))) - 1
            p = v; while (p > 1 && p % 2 == 0) p /= 2
            if (v < 16384 || p != 1) print $NF
        }')
    if [ -n "$bad" ]; then
        echo "check-so.sh: $so has LOAD segments aligned to $(echo $bad | tr ' ' ,), not to 16 KiB or a larger power of two" >&2
        exit 1
    fi
fi
