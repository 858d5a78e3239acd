#!/usr/bin/env bash
# Build a QuickJS engine from the C sources a crates.io package carries, for the glue's tests and
# examples (the repository never holds an engine's sources):
#
#   bindings/quickjs/engine.sh quickjs|quickjs-ng OUTDIR [CFLAG...]
#
# leaves OUTDIR/include/quickjs.h (and the headers it includes) and OUTDIR/libquickjs.a.
#   quickjs     Fabrice Bellard's QuickJS 2024-02-14, as rquickjs-sys 0.6.2 carries it (unpatched);
#   quickjs-ng  QuickJS-ng 0.16.2, as rquickjs-sys 0.14.0 carries it.
# The crate is fetched by cargo (a throwaway manifest under OUTDIR/fetch; cargo's cache makes a
# second run offline). Extra CFLAGs (-fsanitize=address, -O0 -g) apply to the engine's objects.
# A host that has its own QuickJS compiles bindings/quickjs/wxfs_quickjs.c against that instead.
set -euo pipefail
engine="${1:?usage: engine.sh quickjs|quickjs-ng OUTDIR [CFLAG...]}"
out="${2:?usage: engine.sh quickjs|quickjs-ng OUTDIR [CFLAG...]}"
shift 2
case "$engine" in
    quickjs) crate_version=0.6.2; files="quickjs.c libregexp.c libunicode.c cutils.c libbf.c"
             defines="-D_GNU_SOURCE -DCONFIG_VERSION=\"2024-02-14\" -DCONFIG_BIGNUM" ;;
    quickjs-ng) crate_version=0.14.0; files="quickjs.c libregexp.c libunicode.c dtoa.c"
             defines="-D_GNU_SOURCE" ;;
    *) echo "engine.sh: unknown engine '$engine' (quickjs or quickjs-ng)" >&2; exit 2 ;;
esac
mkdir -p "$out/fetch/src" "$out/include" "$out/obj"
out="$(cd "$out" && pwd)"
cat > "$out/fetch/Cargo.toml" <<TOML
[package]
name = "wxfs-quickjs-engine-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rquickjs-sys = "=$crate_version"

[workspace]
TOML
: > "$out/fetch/src/lib.rs"
# cargo metadata downloads the package (and resolves its lock) and says where its sources are.
manifest=$(cd "$out/fetch" && cargo metadata --format-version 1 --quiet \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="rquickjs-sys"))')
src="$(dirname "$manifest")/quickjs"
[ -f "$src/quickjs.h" ] || { echo "engine.sh: no quickjs.h in $src" >&2; exit 1; }
cp "$src"/*.h "$out/include/"
cc="${CC:-cc}"
objs=()
for f in $files; do
    o="$out/obj/${f%.c}.o"
    # shellcheck disable=SC2086 # $defines holds several words on purpose
    "$cc" -std=gnu11 -O2 -g -fPIC -w $defines "$@" -I"$src" -c "$src/$f" -o "$o"
    objs+=("$o")
done
rm -f "$out/libquickjs.a"
ar rcs "$out/libquickjs.a" "${objs[@]}"
echo "$engine ($src) -> $out/libquickjs.a"
