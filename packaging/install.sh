#!/bin/sh
# Install libwxfs for C/C++ hosts under PREFIX:
#
#   include/wxfs.h
#   lib/libwxfs.so.X.Y.Z, lib/libwxfs.so.<ABI> -> libwxfs.so.X.Y.Z, lib/libwxfs.so -> libwxfs.so.<ABI>
#   lib/libwxfs.a
#   lib/pkgconfig/wxfs.pc
#   lib/cmake/wxfs/wxfsConfig.cmake, lib/cmake/wxfs/wxfsConfigVersion.cmake
#   share/doc/wxfs/LICENSE-MIT, share/doc/wxfs/LICENSE-APACHE (both licences ask to ship their text)
#
# (on macOS: libwxfs.X.Y.Z.dylib, libwxfs.<ABI>.dylib, libwxfs.dylib).
#
# usage: packaging/install.sh PREFIX [--no-build] [--profile-dir DIR]
#   --no-build         install what `cargo build --release` already built
#   --profile-dir DIR  install the libraries found in DIR (e.g. target/debug); implies --no-build
#
# The version comes from Cargo.toml, the ABI version from src/ffi/mod.rs. Running it again
# replaces the files in place; it is safe to rerun.
set -eu

usage() {
    echo "usage: $0 PREFIX [--no-build] [--profile-dir DIR]" >&2
    exit 2
}
die() {
    echo "install.sh: $*" >&2
    exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=
build=1
profile_dir=
while [ $# -gt 0 ]; do
    case $1 in
        --no-build) build=0 ;;
        --profile-dir)
            [ $# -ge 2 ] || usage
            profile_dir=$2
            build=0
            shift ;;
        --profile-dir=*) profile_dir=${1#--profile-dir=}; build=0 ;;
        -h|--help) usage ;;
        -*) echo "install.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$prefix" ] || usage; prefix=$1 ;;
    esac
    shift
done
[ -n "$prefix" ] || usage

# --- versions: one source of truth each -------------------------------------------------------
# `key = "value"` of Cargo.toml's [package] table.
package_field() {
    awk -v key="$1" '
        /^[[:space:]]*\[/ { in_pkg = ($0 ~ /^[[:space:]]*\[package\][[:space:]]*$/); next }
        in_pkg && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
            sub(/^[^=]*=[[:space:]]*"/, ""); sub(/"[[:space:]]*(#.*)?$/, ""); print; exit
        }' "$repo/Cargo.toml"
}
version=$(package_field version)
description=$(package_field description)
abi=$(sed -n 's/^[[:space:]]*pub const WXFS_ABI_VERSION: u32 = \([0-9][0-9]*\);.*/\1/p' "$repo/src/ffi/mod.rs")
echo "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' || die "no MAJOR.MINOR.PATCH version in Cargo.toml [package] (got '$version')"
[ -n "$abi" ] || die "no 'pub const WXFS_ABI_VERSION: u32 = N;' in src/ffi/mod.rs"
major=${version%%.*}

case $(uname -s) in
    Darwin)
        shared_real=libwxfs.$version.dylib
        shared_soname=libwxfs.$abi.dylib
        shared_dev=libwxfs.dylib
        built_shared=libwxfs.dylib ;;
    *)
        shared_real=libwxfs.so.$version
        shared_soname=libwxfs.so.$abi
        shared_dev=libwxfs.so
        built_shared=libwxfs.so ;;
esac

# --- build ------------------------------------------------------------------------------------
if [ -z "$profile_dir" ]; then
    profile_dir=${CARGO_TARGET_DIR:-$repo/target}/release
fi
if [ "$build" = 1 ]; then
    (cd "$repo" && cargo build --release --lib)
fi
[ -f "$profile_dir/$built_shared" ] || die "$profile_dir/$built_shared not found (build with: cargo build --release)"
[ -f "$profile_dir/libwxfs.a" ] || die "$profile_dir/libwxfs.a not found (build with: cargo build --release)"

# A library built before build.rs set the soname would install under a name hosts cannot find.
if [ "$built_shared" = libwxfs.so ] && command -v readelf >/dev/null 2>&1; then
    soname=$(readelf -d "$profile_dir/$built_shared" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
    [ "$soname" = "$shared_soname" ] ||
        die "$profile_dir/$built_shared has soname '$soname', expected '$shared_soname': rebuild it"
fi

# Pointer size of the built library, for wxfsConfigVersion.cmake (ELF: EI_CLASS 1 = 32-bit).
sizeof_void_p=8
if [ "$built_shared" = libwxfs.so ] && [ "$(od -An -tu1 -j4 -N1 "$profile_dir/$built_shared" | tr -d ' ')" = 1 ]; then
    sizeof_void_p=4
fi

# --- install ----------------------------------------------------------------------------------
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
libdir=$prefix/lib
mkdir -p "$prefix/include" "$libdir/pkgconfig" "$libdir/cmake/wxfs" "$prefix/share/doc/wxfs"

# Copy next to the target, then rename over it: a process that has the old library mapped keeps
# running, and an interrupted install never leaves a half-written file under the final name.
put() { # put SRC DEST MODE
    cp "$1" "$2.tmp.$$"
    chmod "$3" "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
}
link() { # link TARGET NAME (relative symlink, replacing whatever is there)
    rm -f "$2"
    ln -s "$1" "$2"
}
# Template values are plain text: escape what sed would read in a replacement.
sed_escape() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }
render() { # render TEMPLATE DEST
    sed -e "s|@PREFIX@|$(sed_escape "$prefix")|g" \
        -e "s|@VERSION@|$version|g" \
        -e "s|@VERSION_MAJOR@|$major|g" \
        -e "s|@ABI@|$abi|g" \
        -e "s|@DESCRIPTION@|$(sed_escape "$description")|g" \
        -e "s|@SHARED_REAL@|$shared_real|g" \
        -e "s|@SHARED_SONAME@|$shared_soname|g" \
        -e "s|@SIZEOF_VOID_P@|$sizeof_void_p|g" \
        "$1" > "$2.tmp.$$"
    mv -f "$2.tmp.$$" "$2"
}

put "$repo/include/wxfs.h" "$prefix/include/wxfs.h" 644
put "$profile_dir/$built_shared" "$libdir/$shared_real" 755
link "$shared_real" "$libdir/$shared_soname"
link "$shared_soname" "$libdir/$shared_dev"
put "$profile_dir/libwxfs.a" "$libdir/libwxfs.a" 644
render "$repo/packaging/wxfs.pc.in" "$libdir/pkgconfig/wxfs.pc"
render "$repo/packaging/wxfsConfig.cmake.in" "$libdir/cmake/wxfs/wxfsConfig.cmake"
render "$repo/packaging/wxfsConfigVersion.cmake.in" "$libdir/cmake/wxfs/wxfsConfigVersion.cmake"
put "$repo/LICENSE-MIT" "$prefix/share/doc/wxfs/LICENSE-MIT" 644
put "$repo/LICENSE-APACHE" "$prefix/share/doc/wxfs/LICENSE-APACHE" 644

echo "installed wxfs $version (ABI $abi) from $profile_dir into $prefix"
