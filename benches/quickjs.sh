#!/usr/bin/env bash
# From JavaScript in QuickJS, through bindings/quickjs (run by hand; not part of `cargo test`):
#
#   benches/quickjs.sh [quickjs|quickjs-ng]      (default: both; after `cargo build --release`)
#
# - getStorageSync / setStorageSync of a small object against a Map of JSON text in the same
#   engine (set: JSON.stringify + Map.set; get: Map.get + JSON.parse), 20,000 calls over 100 keys;
# - readFileSync of a 20 MiB file as an ArrayBuffer against a plain read(2) into a fresh
#   malloc'd buffer (open, fstat, malloc, read, close, free), measured in C in the same process.
# Each figure is the median of 9 rounds; each ratio is against its baseline measured in the same
# process just before. Targets: get <= 2x, set <= 3x, 20 MiB read <= 1.5x. Each is given in wall
# time and in the JS thread's CPU time (every call measured runs on that thread; on a loaded
# machine the wall time is mostly waiting for a core, and a long round is preempted more often
# than a short one, so read the CPU figures there).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
engines=("${@:-quickjs}")
[ $# -eq 0 ] && engines=(quickjs quickjs-ng)
work="$repo/target/quickjs-bench"
mkdir -p "$work"
[ -f target/release/libwxfs.a ] || { echo "run cargo build --release first" >&2; exit 1; }

cat > "$work/bench.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "wxfs_quickjs.h"

static uint64_t sandbox;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static JSValue js_now(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc; (void)argv;
    return JS_NewFloat64(ctx, now_ms());
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static JSValue js_cpu(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc; (void)argv;
    return JS_NewFloat64(ctx, cpu_ms());
}

/* [wall ms, thread CPU ms] since (t0, c0) */
static JSValue both_since(JSContext *ctx, double t0, double c0) {
    double c = cpu_ms() - c0, w = now_ms() - t0;
    JSValue a = JS_NewArray(ctx);
    JS_SetPropertyUint32(ctx, a, 0, JS_NewFloat64(ctx, w));
    JS_SetPropertyUint32(ctx, a, 1, JS_NewFloat64(ctx, c));
    return a;
}

static JSValue js_print(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    const char *s = JS_ToCString(ctx, argv[0]);
    if (s) puts(s);
    JS_FreeCString(ctx, s);
    return JS_UNDEFINED;
}

/* readBaseline(virtualPath) -> [wall ms, CPU ms] of one plain read(2) of the file behind it into a fresh buffer */
static JSValue js_read_baseline(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    size_t len;
    const char *vpath = JS_ToCStringLen(ctx, &len, argv[0]);
    wxfs_bytes real = {NULL, 0};
    int rc = wxfs_real_path(sandbox, vpath, len, &real);
    JS_FreeCString(ctx, vpath);
    if (rc != 0) return JS_ThrowTypeError(ctx, "realPath failed: %d", rc);
    double t0 = now_ms(), c0 = cpu_ms();
    int fd = open((const char *)real.data, O_RDONLY | O_CLOEXEC);
    struct stat st;
    fstat(fd, &st);
    char *buf = malloc((size_t)st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    volatile char sink = buf[got / 2];
    (void)sink;
    free(buf);
    JSValue ms = both_since(ctx, t0, c0);
    wxfs_bytes_free(real);
    return ms;
}

/* invokeOnly(virtualPath) -> [wall ms, CPU ms] of wxfs_invoke_v2 readFileSync alone, from C (the library's share) */
static JSValue js_invoke_only(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    const char *vpath = JS_ToCString(ctx, argv[0]);
    char args[4200];
    snprintf(args, sizeof args, "{\"filePath\":\"%s\"}", vpath);
    JS_FreeCString(ctx, vpath);
    double t0 = now_ms(), c0 = cpu_ms();
    wxfs_result r = {{NULL, 0}, NULL, 0};
    wxfs_invoke_v2(sandbox, "readFileSync", 12, args, strlen(args), NULL, 0, &r);
    volatile uint8_t sink = r.buffers_len ? r.buffers[0].data[r.buffers[0].len / 2] : 0;
    (void)sink;
    wxfs_result_free(r);
    return both_since(ctx, t0, c0);
}

static const char SCRIPT[] =
    "var ROUNDS = 9, N = 20000;\n"
    "function clocks() { return [now(), cpu()]; }\n"
    "function since(t) { return [now() - t[0], cpu() - t[1]]; }\n"
    "function median(f) { var w = [], c = []; for (var r = 0; r < ROUNDS; r++) { var x = f(); w.push(x[0]); c.push(x[1]); }\n"
    "  var by = function (a, b) { return a - b; }; w.sort(by); c.sort(by); return [w[ROUNDS >> 1], c[ROUNDS >> 1]]; }\n"
    "function per(ms, n) { return (ms * 1e6 / n).toFixed(0) + ' ns'; }\n"
    "function line(name, a, b, n, base, target) {\n"
    "  var f = n ? function (ms) { return per(ms, n); } : function (ms) { return ms.toFixed(2) + ' ms'; };\n"
    "  return name + ' ' + f(a[0]) + ' vs ' + base + ' ' + f(b[0]) + ': ' + (a[0] / b[0]).toFixed(2) + 'x (target <= ' + target + 'x); thread CPU '\n"
    "    + f(a[1]) + ' vs ' + f(b[1]) + ': ' + (a[1] / b[1]).toFixed(2) + 'x';\n"
    "}\n"
    "var value = { id: 42, name: 'user', tags: ['a', 'b'], ok: true };\n"
    "var keys = []; for (var i = 0; i < 100; i++) keys.push('key' + i);\n"
    "var map = new Map();\n"
    "var mapSet = median(function () { var t = clocks(); for (var i = 0; i < N; i++) map.set(keys[i % 100], JSON.stringify(value)); return since(t); });\n"
    "var wxSet = median(function () { var t = clocks(); for (var i = 0; i < N; i++) wx.setStorageSync(keys[i % 100], value); return since(t); });\n"
    "var sink = 0;\n"
    "var mapGet = median(function () { var t = clocks(); for (var i = 0; i < N; i++) sink += JSON.parse(map.get(keys[i % 100])).id; return since(t); });\n"
    "var wxGet = median(function () { var t = clocks(); for (var i = 0; i < N; i++) sink += wx.getStorageSync(keys[i % 100]).id; return since(t); });\n"
    "print(line('setStorageSync', wxSet, mapSet, N, 'Map+JSON', 3));\n"
    "print(line('getStorageSync', wxGet, mapGet, N, 'Map+JSON', 2));\n"
    "var fs = wx.getFileSystemManager(), big = wx.env.USER_DATA_PATH + '/big.bin';\n"
    "var bytes = new Uint8Array(20 << 20); for (var j = 0; j < bytes.length; j += 4096) bytes[j] = j & 255;\n"
    "fs.writeFileSync(big, bytes.buffer); bytes = null;\n"
    "var base = median(function () { return readBaseline(big); });\n"
    "var rd = median(function () { var t = clocks(); var ab = fs.readFileSync(big); var ms = since(t); if (ab.byteLength !== 20 << 20) throw new Error('short read'); return ms; });\n"
    "var lib = median(function () { return invokeOnly(big); });\n"
    "print(line('readFileSync 20 MiB', rd, base, 0, 'read(2)', 1.5) + '; wxfs_invoke_v2 alone from C ' + lib[0].toFixed(2) + ' ms: ' + (lib[0] / base[0]).toFixed(2) + 'x, thread CPU ' + (lib[1] / base[1]).toFixed(2) + 'x');\n";

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: bench ROOT BINDINGS_JS_DIR\n"); return 2; }
    char config[4200];
    snprintf(config, sizeof config, "{\"root\":\"%s\",\"appId\":\"wx0123456789abcdef\",\"userId\":\"u1\"}", argv[1]);
    if (wxfs_open(config, strlen(config), &sandbox) != 0) { fprintf(stderr, "open failed\n"); return 1; }
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue g = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, g, "now", JS_NewCFunction(ctx, js_now, "now", 0));
    JS_SetPropertyStr(ctx, g, "cpu", JS_NewCFunction(ctx, js_cpu, "cpu", 0));
    JS_SetPropertyStr(ctx, g, "print", JS_NewCFunction(ctx, js_print, "print", 1));
    JS_SetPropertyStr(ctx, g, "invokeOnly", JS_NewCFunction(ctx, js_invoke_only, "invokeOnly", 1));
    JS_SetPropertyStr(ctx, g, "readBaseline", JS_NewCFunction(ctx, js_read_baseline, "readBaseline", 1));
    JS_FreeValue(ctx, g);
    wxfs_qjs_options opts = {argv[2], NULL, 0};
    wxfs_qjs *q = wxfs_qjs_install(ctx, sandbox, NULL, &opts);
    int status = 0;
    JSValue r = q ? JS_Eval(ctx, SCRIPT, sizeof SCRIPT - 1, "<bench>", JS_EVAL_TYPE_GLOBAL) : JS_EXCEPTION;
    if (JS_IsException(r)) {
        JSValue e = JS_GetException(ctx);
        const char *s = JS_ToCString(ctx, e);
        fprintf(stderr, "bench failed: %s\n", s ? s : "?");
        JS_FreeCString(ctx, s);
        JS_FreeValue(ctx, e);
        status = 1;
    }
    JS_FreeValue(ctx, r);
    wxfs_qjs_free(q);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    wxfs_close(sandbox);
    return status;
}
EOF

for engine in "${engines[@]}"; do
    edir="$work/engine-$engine"
    [ -f "$edir/libquickjs.a" ] || bindings/quickjs/engine.sh "$engine" "$edir"
    cc -std=gnu11 -O2 -Wall -Wextra -Werror -I include -I bindings/quickjs -isystem "$edir/include" \
        "$work/bench.c" bindings/quickjs/wxfs_quickjs.c "$edir/libquickjs.a" target/release/libwxfs.a \
        -lpthread -ldl -lm -o "$work/bench-$engine"
    root="$work/root-$engine"
    rm -rf "$root"
    echo "== $engine"
    "$work/bench-$engine" "$root" "$repo/bindings/js"
    rm -rf "$root"
done
