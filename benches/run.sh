#!/usr/bin/env bash
# The benchmark command on a fresh machine: builds the mmkv crate's library as a baseline (its
# build needs protoc, which is why it is not a dev-dependency), then runs every bench and prints
# the tables. See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then
    if command -v apt-get >/dev/null; then
        apt-get update && apt-get install -y --no-install-recommends protobuf-compiler
    fi
fi
work="${TMPDIR:-/tmp}/wxfs-mmkv-baseline"
lib="$work/mmkv-0.9.3/target/release/libmmkv.so"
if [ ! -f "$lib" ] && command -v protoc >/dev/null; then
    cargo info mmkv@0.9.3 >/dev/null   # fetches the crate into the registry cache
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/mmkv-0.9.3.crate | head -n 1)
    mkdir -p "$work" && tar xzf "$crate" -C "$work"
    (cd "$work/mmkv-0.9.3" && cargo build --release --locked --lib)
fi
if [ -f "$lib" ]; then
    export WXFS_BENCH_MMKV="$lib"
else
    echo "mmkv baseline unavailable (no protoc): the mmkv rows use the in-bench mmap-kv stand-in" >&2
fi
cargo bench
