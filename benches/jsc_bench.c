/*
 * bindings/jsc from JavaScript in JavaScriptCore, against baselines in the same engine and
 * process, as ratios (run by hand, not by the tests):
 *
 * - getStorageSync / setStorageSync of a small object against a `Map` of its JSON text
 *   (`JSON.parse(map.get(k))`, `map.set(k, JSON.stringify(v))`);
 * - a 20 MiB readFileSync as an ArrayBuffer against a plain read(2) of the same file into a fresh
 *   ArrayBuffer (made by JavaScriptCore, zeroed, then filled by read(2) from C).
 *
 * The sides run interleaved, round by round; each figure is the median round, so a neighbour's
 * build slowing the machine for a moment hits both sides alike. Each is given in wall time and
 * in the JavaScript thread's CPU time (every call measured runs on that thread; on a loaded
 * machine the wall time is mostly waiting for a core). Build and run, from a checkout
 * whose `cargo build --release` has run (needs libjavascriptcoregtk-4.1-dev):
 *
 *     cc -std=c11 -O2 -Iinclude -Ibindings/jsc $(pkg-config --cflags javascriptcoregtk-4.1) \
 *        -DWXFS_JS_DIR="\"$PWD/bindings/js\"" benches/jsc_bench.c bindings/jsc/wxfs_jsc.c \
 *        target/release/libwxfs.a $(pkg-config --libs javascriptcoregtk-4.1) -lpthread -ldl -lm \
 *        -o target/release/jsc_bench
 *     target/release/jsc_bench "$(mktemp -d)"
 *
 * Measured on the shared 2-core machine at load 2.0-2.3 (two builds running), three runs at this
 * round's final glue, thread CPU (BENCHMARKS.md has the history and the profile):
 *   getStorageSync  1.73x / 2.00x / 1.81x (target <= 2x): a kept key's value, unchanged since the
 *     last get, is answered with the string made then (wxfs_storage_get_stamped)
 *   setStorageSync  4.16x / 3.93x / 3.78x (target <= 3x): still over. About 0.8 us against
 *     0.21 us for JSON.stringify + Map.set with the JIT: the JSON string's copy and widening by
 *     the C API (~1,700 instructions), the library's set (the JSON check, the record and its
 *     CRC), and the kernel readying fresh pages of the log (a compaction writes a new file).
 *   readFileSync 20 MiB  0.30x / 0.28x / 0.27x of read(2) into a fresh ArrayBuffer (target <= 1.5x)
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <JavaScriptCore/JavaScript.h>

#include "wxfs.h"
#include "wxfs_jsc.h"

#ifndef WXFS_JS_DIR
#define WXFS_JS_DIR "bindings/js"
#endif

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static JSValueRef b_now(JSContextRef ctx, JSObjectRef f, JSObjectRef t, size_t argc, const JSValueRef argv[],
                        JSValueRef *exc) {
    (void)f, (void)t, (void)argc, (void)argv, (void)exc;
    return JSValueMakeNumber(ctx, now_ms());
}

/* This thread's CPU time (user + system), in ms: what a loaded machine's waiting does not inflate. */
static JSValueRef b_cpu(JSContextRef ctx, JSObjectRef f, JSObjectRef t, size_t argc, const JSValueRef argv[],
                        JSValueRef *exc) {
    (void)f, (void)t, (void)argc, (void)argv, (void)exc;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return JSValueMakeNumber(ctx, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

static JSValueRef b_log(JSContextRef ctx, JSObjectRef f, JSObjectRef t, size_t argc, const JSValueRef argv[],
                        JSValueRef *exc) {
    (void)f, (void)t, (void)exc;
    if (argc > 0) {
        JSStringRef s = JSValueToStringCopy(ctx, argv[0], NULL);
        char buf[4096];
        JSStringGetUTF8CString(s, buf, sizeof buf);
        JSStringRelease(s);
        printf("%s\n", buf);
        fflush(stdout);
    }
    return JSValueMakeUndefined(ctx);
}

/* readPlain(path, size) -> a fresh ArrayBuffer of `size` bytes filled by read(2). */
static JSValueRef b_read_plain(JSContextRef ctx, JSObjectRef f, JSObjectRef t, size_t argc,
                               const JSValueRef argv[], JSValueRef *exc) {
    (void)f, (void)t;
    if (argc < 2) return JSValueMakeUndefined(ctx);
    JSStringRef s = JSValueToStringCopy(ctx, argv[0], exc);
    char path[4096];
    JSStringGetUTF8CString(s, path, sizeof path);
    JSStringRelease(s);
    size_t size = (size_t)JSValueToNumber(ctx, argv[1], exc);
    JSObjectRef view = JSObjectMakeTypedArray(ctx, kJSTypedArrayTypeUint8Array, size, exc);
    JSObjectRef ab = JSObjectGetTypedArrayBuffer(ctx, view, exc);
    unsigned char *p = JSObjectGetArrayBufferBytesPtr(ctx, ab, exc);
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    for (ssize_t got; fd >= 0 && n < size && (got = read(fd, p + n, size - n)) > 0;) n += (size_t)got;
    if (fd >= 0) close(fd);
    if (n != size) {
        JSStringRef m = JSStringCreateWithUTF8CString("readPlain: short read");
        JSValueRef mv = JSValueMakeString(ctx, m);
        JSStringRelease(m);
        *exc = JSObjectMakeError(ctx, 1, &mv, NULL);
        return NULL;
    }
    return ab;
}

static const char SCRIPT[] =
    "(function () {\n"
    "  var fs = wx.getFileSystemManager();\n"
    "  function median(a) { a = a.slice().sort(function (x, y) { return x - y; }); return a[a.length >> 1]; }\n"
    "  function compare(name, rounds, a, b) {\n"
    "    var ta = [], tb = [], ca = [], cb = [];\n"
    "    a(); b();\n"
    "    for (var r = 0; r < rounds; r++) {\n"
    "      var c0 = bench.cpu(), t0 = bench.now(); a(); var t1 = bench.now(), c1 = bench.cpu(); b(); var t2 = bench.now(), c2 = bench.cpu();\n"
    "      ta.push(t1 - t0); tb.push(t2 - t1); ca.push(c1 - c0); cb.push(c2 - c1);\n"
    "    }\n"
    "    var ma = median(ta), mb = median(tb);\n"
    "    return { name: name, wxfs: ma, base: mb, ratio: ma / mb, cpuWxfs: median(ca), cpuBase: median(cb) };\n"
    "  }\n"
    "  var obj = { id: 42, name: 'user-42', tags: ['a', 'b', 'c'], ok: true, score: 3.5 };\n"
    "  var N = 2000, K = 100, map = new Map(), keys = [];\n"
    "  for (var i = 0; i < K; i++) { keys.push('key' + i); wx.setStorageSync(keys[i], obj); map.set(keys[i], JSON.stringify(obj)); }\n"
    "  var sink = 0;\n"
    "  var rows = [];\n"
    "  rows.push(compare('getStorageSync, small object (per call, us)', 31,\n"
    "    function () { for (var i = 0; i < N; i++) sink += wx.getStorageSync(keys[i % K]).id; },\n"
    "    function () { for (var i = 0; i < N; i++) sink += JSON.parse(map.get(keys[i % K])).id; }));\n"
    "  rows.push(compare('setStorageSync, small object (per call, us)', 31,\n"
    "    function () { for (var i = 0; i < N; i++) { obj.id = i; wx.setStorageSync(keys[i % K], obj); } },\n"
    "    function () { for (var i = 0; i < N; i++) { obj.id = i; map.set(keys[i % K], JSON.stringify(obj)); } }));\n"
    "  var size = 20 << 20, big = new Uint8Array(size);\n"
    "  for (var j = 0; j < size; j += 4096) big[j] = j >> 12;\n"
    "  var vpath = wx.env.USER_DATA_PATH + '/big.bin';\n"
    "  fs.writeFileSync(vpath, big.buffer);\n"
    "  var real = JSON.parse(bench.bridge.invoke(bench.handle, 'host.realPath', JSON.stringify({ path: vpath }))).realPath;\n"
    "  var r = compare('readFileSync 20 MiB as an ArrayBuffer (per call, ms)', 21,\n"
    "    function () { sink += fs.readFileSync(vpath).byteLength; },\n"
    "    function () { sink += bench.readPlain(real, size).byteLength; });\n"
    "  r.perCallMs = true;\n"
    "  rows.push(r);\n"
    "  rows.forEach(function (row) {\n"
    "    var scale = row.perCallMs ? 1 : 1000 / N;\n"
    "    bench.log(row.name + ': wall wxfs ' + (row.wxfs * scale).toFixed(2) + ', baseline ' + (row.base * scale).toFixed(2) + ', ratio ' + row.ratio.toFixed(2)\n"
    "      + '; thread CPU wxfs ' + (row.cpuWxfs * scale).toFixed(2) + ', baseline ' + (row.cpuBase * scale).toFixed(2) + ', ratio ' + (row.cpuWxfs / row.cpuBase).toFixed(2));\n"
    "  });\n"
    "  if (sink === 0.5) bench.log('');\n"
    "})();\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROOT\n", argv[0]);
        return 2;
    }
    char config[4200];
    snprintf(config, sizeof config,
             "{\"root\":\"%s\",\"appId\":\"wx0123456789abcdef\",\"userId\":\"u1\",\"limits\":{\"readFile\":33554432}}",
             argv[1]);
    uint64_t sb = 0;
    if (wxfs_open(config, strlen(config), &sb) != 0) {
        char m[512];
        wxfs_last_error_message(m, sizeof m, NULL);
        fprintf(stderr, "wxfs_open: %s\n", m);
        return 2;
    }
    JSGlobalContextRef ctx = JSGlobalContextCreate(NULL);
    wxfs_jsc *g = NULL;
    JSValueRef exc = NULL;
    if (wxfs_jsc_install(ctx, sb, "wechat", getenv("WXFS_JS_DIR") ? getenv("WXFS_JS_DIR") : WXFS_JS_DIR, &g, &exc) != 0) {
        fprintf(stderr, "wxfs_jsc_install failed\n");
        return 2;
    }
    JSObjectRef bench = JSObjectMake(ctx, NULL, NULL);
    struct {
        const char *name;
        JSObjectCallAsFunctionCallback cb;
    } fns[] = {{"now", b_now}, {"cpu", b_cpu}, {"log", b_log}, {"readPlain", b_read_plain}};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        JSStringRef n = JSStringCreateWithUTF8CString(fns[i].name);
        JSObjectSetProperty(ctx, bench, n, JSObjectMakeFunctionWithCallback(ctx, n, fns[i].cb), 0, NULL);
        JSStringRelease(n);
    }
    JSStringRef n = JSStringCreateWithUTF8CString("bridge");
    JSObjectSetProperty(ctx, bench, n, wxfs_jsc_bridge(g), 0, NULL);
    JSStringRelease(n);
    n = JSStringCreateWithUTF8CString("handle");
    JSObjectSetProperty(ctx, bench, n, JSValueMakeNumber(ctx, (double)sb), 0, NULL);
    JSStringRelease(n);
    n = JSStringCreateWithUTF8CString("bench");
    JSObjectSetProperty(ctx, JSContextGetGlobalObject(ctx), n, bench, 0, NULL);
    JSStringRelease(n);
    JSStringRef src = JSStringCreateWithUTF8CString(SCRIPT);
    JSEvaluateScript(ctx, src, NULL, NULL, 1, &exc);
    JSStringRelease(src);
    int status = 0;
    if (exc != NULL) {
        JSStringRef s = JSValueToStringCopy(ctx, exc, NULL);
        char buf[1024];
        JSStringGetUTF8CString(s, buf, sizeof buf);
        JSStringRelease(s);
        fprintf(stderr, "bench threw: %s\n", buf);
        status = 1;
    }
    while (wxfs_jsc_pending(g) > 0) {
        if (!wxfs_jsc_has_tasks(g)) poll(&(struct pollfd){wxfs_jsc_fd(g), POLLIN, 0}, 1, -1);
        wxfs_jsc_drain(g, &exc);
    }
    wxfs_jsc_free(g);
    JSGlobalContextRelease(ctx);
    wxfs_close(sb);
    return status;
}
