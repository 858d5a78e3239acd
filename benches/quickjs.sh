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
# process just before. Targets: get <= 2x, set <= 3x, 20 MiB read <= 1.5x.
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

static JSValue js_print(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    const char *s = JS_ToCString(ctx, argv[0]);
    if (s) puts(s);
    JS_FreeCString(ctx, s);
    return JS_UNDEFINED;
}

/* readBaseline(virtualPath) -> ms of one plain read(2) of the file behind it into a fresh buffer */
static JSValue js_read_baseline(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    size_t len;
    const char *vpath = JS_ToCStringLen(ctx, &len, argv[0]);
    wxfs_bytes real = {NULL, 0};
    int rc = wxfs_real_path(sandbox, vpath, len, &real);
    JS_FreeCString(ctx, vpath);
    if (rc != 0) return JS_ThrowTypeError(ctx, "realPath failed: %d", rc);
    double t0 = now_ms();
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
    double ms = now_ms() - t0;
    wxfs_bytes_free(real);
    return JS_NewFloat64(ctx, ms);
}

/* invokeOnly(virtualPath) -> ms of wxfs_invoke_v2 readFileSync alone, from C (the library's share) */
static JSValue js_invoke_only(JSContext *ctx, JSValueConst t, int argc, JSValueConst *argv) {
    (void)t; (void)argc;
    const char *vpath = JS_ToCString(ctx, argv[0]);
    char args[4200];
    snprintf(args, sizeof args, "{\"filePath\":\"%s\"}", vpath);
    JS_FreeCString(ctx, vpath);
    double t0 = now_ms();
    wxfs_result r = {{NULL, 0}, NULL, 0};
    wxfs_invoke_v2(sandbox, "readFileSync", 12, args, strlen(args), NULL, 0, &r);
    volatile uint8_t sink = r.buffers_len ? r.buffers[0].data[r.buffers[0].len / 2] : 0;
    (void)sink;
    wxfs_result_free(r);
    return JS_NewFloat64(ctx, now_ms() - t0);
}

static const char SCRIPT[] =
    "var ROUNDS = 9, N = 20000;\n"
    "function median(f) { var t = []; for (var r = 0; r < ROUNDS; r++) t.push(f()); t.sort(function (a, b) { return a - b; }); return t[ROUNDS >> 1]; }\n"
    "function per(ms, n) { return (ms * 1e6 / n).toFixed(0) + ' ns'; }\n"
    "var value = { id: 42, name: 'user', tags: ['a', 'b'], ok: true };\n"
    "var keys = []; for (var i = 0; i < 100; i++) keys.push('key' + i);\n"
    "var map = new Map();\n"
    "var mapSet = median(function () { var t0 = now(); for (var i = 0; i < N; i++) map.set(keys[i % 100], JSON.stringify(value)); return now() - t0; });\n"
    "var wxSet = median(function () { var t0 = now(); for (var i = 0; i < N; i++) wx.setStorageSync(keys[i % 100], value); return now() - t0; });\n"
    "var sink = 0;\n"
    "var mapGet = median(function () { var t0 = now(); for (var i = 0; i < N; i++) sink += JSON.parse(map.get(keys[i % 100])).id; return now() - t0; });\n"
    "var wxGet = median(function () { var t0 = now(); for (var i = 0; i < N; i++) sink += wx.getStorageSync(keys[i % 100]).id; return now() - t0; });\n"
    "print('setStorageSync ' + per(wxSet, N) + ' vs Map+JSON ' + per(mapSet, N) + ': ' + (wxSet / mapSet).toFixed(2) + 'x (target <= 3x)');\n"
    "print('getStorageSync ' + per(wxGet, N) + ' vs Map+JSON ' + per(mapGet, N) + ': ' + (wxGet / mapGet).toFixed(2) + 'x (target <= 2x)');\n"
    "var fs = wx.getFileSystemManager(), big = wx.env.USER_DATA_PATH + '/big.bin';\n"
    "var bytes = new Uint8Array(20 << 20); for (var j = 0; j < bytes.length; j += 4096) bytes[j] = j & 255;\n"
    "fs.writeFileSync(big, bytes.buffer); bytes = null;\n"
    "var base = median(function () { return readBaseline(big); });\n"
    "var rd = median(function () { var t0 = now(); var ab = fs.readFileSync(big); var ms = now() - t0; if (ab.byteLength !== 20 << 20) throw new Error('short read'); return ms; });\n"
    "var lib = median(function () { return invokeOnly(big); });\n"
    "print('readFileSync 20 MiB ' + rd.toFixed(2) + ' ms vs read(2) ' + base.toFixed(2) + ' ms: ' + (rd / base).toFixed(2) + 'x (target <= 1.5x); wxfs_invoke_v2 alone from C ' + lib.toFixed(2) + ' ms: ' + (lib / base).toFixed(2) + 'x');\n";

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: bench ROOT BINDINGS_JS_DIR\n"); return 2; }
    char config[4200];
    snprintf(config, sizeof config, "{\"root\":\"%s\",\"appId\":\"wx0123456789abcdef\",\"userId\":\"u1\"}", argv[1]);
    if (wxfs_open(config, strlen(config), &sandbox) != 0) { fprintf(stderr, "open failed\n"); return 1; }
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue g = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, g, "now", JS_NewCFunction(ctx, js_now, "now", 0));
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
