#!/usr/bin/env bash
# The benchmark command on a fresh machine. Builds the baseline, Tencent MMKV's C++ core, from the
# npm package react-native-mmkv-storage 12.0.1 (its MMKV/Core, BSD-3, with its own CMakeLists),
# and our shim over it (benches/mmkv/shim.cpp); nothing of MMKV is committed. Then runs
# benches/mmkv.rs (wxfs against MMKV, each ratio with its target) and benches/compare.rs
# (large values, files, power mode, open), and benches/store_bounds.rs (the RSS and open time of
# the costliest stores at the default limits). See BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v npm >/dev/null || need+=(npm)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update && apt-get install -y --no-install-recommends "${need[@]}"
fi
work="${TMPDIR:-/tmp}/wxfs-mmkv-baseline"
shim="$work/libmmkvshim.so"
if [ ! -f "$work/build/libcore.a" ]; then
    rm -rf "$work" && mkdir -p "$work"
    (cd "$work" && npm pack --silent react-native-mmkv-storage@12.0.1 >/dev/null && tar xzf react-native-mmkv-storage-12.0.1.tgz)
    mkdir -p "$work/build"
    (cd "$work/build" && cmake -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON ../package/MMKV/Core >/dev/null && make -j2 >/dev/null)
fi
g++ -O2 -std=c++17 -shared -fPIC -o "$shim" "$repo/benches/mmkv/shim.cpp" -I "$work/package/MMKV/Core" \
    -Wl,--whole-archive "$work/build/libcore.a" -Wl,--no-whole-archive -lpthread -lz
export WXFS_BENCH_MMKV_SHIM="$shim"
cargo bench --bench mmkv
cargo bench --bench compare
cargo bench --bench store_bounds
