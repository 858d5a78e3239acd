/*
 * Runs bindings/js's own test suite (the .test.js files of bindings/node/test) inside JavaScriptCore, over
 * the real library through bindings/jsc (tests/jsc_host.rs builds and runs it, plainly, under
 * AddressSanitizer and under valgrind):
 *
 *     suite_host JS_DIR TEST_DIR TMP RUNNER.js FILE.test.js...
 *
 * It gives runner.js `__host` (see there), `console.log`, and an event loop that polls the glue's
 * completion-queue fd with the next timer's deadline as timeout. Exits 0 when every test passed or
 * needs Node, 1 when one failed or an exception went uncaught. Every sandbox it opened is closed
 * and the glue and context released before it exits, so a leak checker sees only real leaks.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <JavaScriptCore/JavaScript.h>

#include "wxfs.h"
#include "wxfs_jsc.h"

#ifdef WXFS_JSC_BALANCE
void balance_print(void); /* balance.c */
#endif

static wxfs_jsc *glue;
static uint64_t opened[4096];
static size_t n_opened;
static int uncaught;

static char *utf8(JSContextRef ctx, JSValueRef v) {
    JSStringRef s = JSValueToStringCopy(ctx, v, NULL);
    if (s == NULL) return NULL;
    size_t max = JSStringGetMaximumUTF8CStringSize(s);
    char *buf = malloc(max);
    if (buf != NULL) JSStringGetUTF8CString(s, buf, max);
    JSStringRelease(s);
    return buf;
}

static JSValueRef str(JSContextRef ctx, const char *s) {
    JSStringRef j = JSStringCreateWithUTF8CString(s);
    JSValueRef v = JSValueMakeString(ctx, j);
    JSStringRelease(j);
    return v;
}

static void set(JSContextRef ctx, JSObjectRef o, const char *name, JSValueRef v) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSObjectSetProperty(ctx, o, s, v, 0, NULL);
    JSStringRelease(s);
}

static JSValueRef get(JSContextRef ctx, JSObjectRef o, const char *name) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSValueRef v = JSObjectGetProperty(ctx, o, s, NULL);
    JSStringRelease(s);
    return v;
}

static void throw_msg(JSContextRef ctx, JSValueRef *exception, const char *msg) {
    JSValueRef m = str(ctx, msg);
    *exception = JSObjectMakeError(ctx, 1, &m, NULL);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *more = realloc(buf, cap * 2 + 1);
            if (more == NULL) free(buf);
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) buf[n] = 0;
    *len = n;
    return buf;
}

#define FN(name)                                                                                          \
    static JSValueRef name(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,                \
                           const JSValueRef argv[], JSValueRef *exception)
#define UNUSED (void)fn, (void)self

FN(h_log) {
    UNUSED;
    (void)exception;
    for (size_t i = 0; i < argc; i++) {
        char *t = utf8(ctx, argv[i]);
        printf("%s%s", i ? " " : "", t ? t : "?");
        free(t);
    }
    printf("\n");
    fflush(stdout);
    return JSValueMakeUndefined(ctx);
}

FN(h_now) {
    UNUSED;
    (void)argc, (void)argv, (void)exception;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return JSValueMakeNumber(ctx, (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

FN(h_read_text) {
    UNUSED;
    (void)exception;
    if (argc < 1) return JSValueMakeUndefined(ctx);
    char *path = utf8(ctx, argv[0]);
    size_t len = 0;
    char *text = path ? read_file(path, &len) : NULL;
    free(path);
    if (text == NULL) return JSValueMakeUndefined(ctx);
    JSValueRef v = str(ctx, text);
    free(text);
    return v;
}

/* compile(source, url) -> function(module, exports, require, __filename, __dirname) */
FN(h_compile) {
    UNUSED;
    if (argc < 2) return JSValueMakeUndefined(ctx);
    JSStringRef body = JSValueToStringCopy(ctx, argv[0], exception);
    JSStringRef url = JSValueToStringCopy(ctx, argv[1], exception);
    const char *names[5] = {"module", "exports", "require", "__filename", "__dirname"};
    JSStringRef params[5];
    for (int i = 0; i < 5; i++) params[i] = JSStringCreateWithUTF8CString(names[i]);
    JSObjectRef f = body && url ? JSObjectMakeFunction(ctx, NULL, 5, params, body, url, 1, exception) : NULL;
    for (int i = 0; i < 5; i++) JSStringRelease(params[i]);
    if (body) JSStringRelease(body);
    if (url) JSStringRelease(url);
    return f;
}

/* open(configJson, platform, protocol) -> {handle, name, api} */
FN(h_open) {
    UNUSED;
    if (argc < 3) return JSValueMakeUndefined(ctx);
    char *config = utf8(ctx, argv[0]);
    char *platform = utf8(ctx, argv[1]);
    char *protocol = utf8(ctx, argv[2]);
    uint64_t h = 0;
    int32_t rc = config ? wxfs_open(config, strlen(config), &h) : WXFS_E_NULL;
    JSValueRef out = NULL;
    if (rc != 0) {
        char msg[1200], why[1024];
        wxfs_last_error_message(why, sizeof why, NULL);
        snprintf(msg, sizeof msg, "wxfs.open failed (%d): %s", rc, why);
        throw_msg(ctx, exception, msg);
    } else {
        if (n_opened < sizeof opened / sizeof *opened) opened[n_opened++] = h;
        JSObjectRef api = wxfs_jsc_api(glue, h, platform, protocol, exception);
        if (api != NULL) {
            JSObjectRef o = JSObjectMake(ctx, NULL, NULL);
            set(ctx, o, "handle", JSValueMakeNumber(ctx, (double)h));
            set(ctx, o, "api", api);
            static const char *const names[][2] = {{"wechat", "wx"}, {"alipay", "my"}, {"douyin", "tt"},
                                                   {"baidu", "swan"}, {"qq", "qq"}};
            for (size_t i = 0; i < 5; i++)
                if (strcmp(platform, names[i][0]) == 0) set(ctx, o, "name", str(ctx, names[i][1]));
            out = o;
        }
    }
    free(config);
    free(platform);
    free(protocol);
    return out;
}

FN(h_close) {
    UNUSED;
    (void)exception;
    double d = argc > 0 ? JSValueToNumber(ctx, argv[0], NULL) : 0;
    return JSValueMakeNumber(ctx, wxfs_close((uint64_t)d));
}

FN(h_mkdirs) {
    UNUSED;
    if (argc < 1) return JSValueMakeUndefined(ctx);
    char *path = utf8(ctx, argv[0]);
    for (char *p = path + 1; path && *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0777);
        *p = '/';
    }
    if (path && mkdir(path, 0777) != 0 && errno != EEXIST) throw_msg(ctx, exception, "mkdirs failed");
    free(path);
    return JSValueMakeUndefined(ctx);
}

FN(h_write_text) {
    UNUSED;
    if (argc < 2) return JSValueMakeUndefined(ctx);
    char *path = utf8(ctx, argv[0]);
    char *text = utf8(ctx, argv[1]);
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (f == NULL) throw_msg(ctx, exception, "writeText failed");
    else {
        fputs(text ? text : "", f);
        fclose(f);
    }
    free(path);
    free(text);
    return JSValueMakeUndefined(ctx);
}

/* The bytes of a typed array (its view), or NULL. */
static const unsigned char *view_bytes(JSContextRef ctx, JSValueRef v, size_t *len) {
    if (!JSValueIsObject(ctx, v)) return NULL;
    JSObjectRef o = (JSObjectRef)v;
    JSObjectRef buf = JSObjectGetTypedArrayBuffer(ctx, o, NULL);
    if (buf == NULL) return NULL;
    const unsigned char *base = JSObjectGetArrayBufferBytesPtr(ctx, buf, NULL);
    *len = JSObjectGetTypedArrayByteLength(ctx, o, NULL);
    return base != NULL ? base + JSObjectGetTypedArrayByteOffset(ctx, o, NULL) : NULL;
}

/* bytesEqual(a, b): two typed arrays hold the same bytes (memcmp: Buffer.equals of 20 MiB in
 * the interpreter under valgrind would take minutes). */
FN(h_bytes_equal) {
    UNUSED;
    (void)exception;
    size_t la = 0, lb = 0;
    const unsigned char *a = argc > 1 ? view_bytes(ctx, argv[0], &la) : NULL;
    const unsigned char *b = argc > 1 ? view_bytes(ctx, argv[1], &lb) : NULL;
    int same = la == lb && (la == 0 || (a != NULL && b != NULL && memcmp(a, b, la) == 0));
    return JSValueMakeBoolean(ctx, same);
}

static void report(JSContextRef ctx, const char *what, JSValueRef exc) {
    char *text = utf8(ctx, exc);
    char *stack = NULL;
    if (JSValueIsObject(ctx, exc)) {
        JSValueRef v = get(ctx, (JSObjectRef)exc, "stack");
        if (v != NULL && JSValueIsString(ctx, v)) stack = utf8(ctx, v);
    }
    printf("%s: %s\n%s\n", what, text ? text : "?", stack ? stack : "");
    fflush(stdout);
    free(text);
    free(stack);
}

static void fn_(JSContextRef ctx, JSObjectRef o, const char *name, JSObjectCallAsFunctionCallback cb) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSObjectSetProperty(ctx, o, s, JSObjectMakeFunctionWithCallback(ctx, s, cb), 0, NULL);
    JSStringRelease(s);
}

/* Call __timers.<name>() and return its result (NULL on an exception, reported as uncaught). */
static JSValueRef timers(JSContextRef ctx, const char *name) {
    JSValueRef t = get(ctx, JSContextGetGlobalObject(ctx), "__timers");
    if (t == NULL || !JSValueIsObject(ctx, t)) return NULL;
    JSValueRef f = get(ctx, (JSObjectRef)t, name);
    JSValueRef exc = NULL;
    JSValueRef r = JSObjectCallAsFunction(ctx, (JSObjectRef)f, (JSObjectRef)t, 0, NULL, &exc);
    if (exc != NULL) {
        report(ctx, "uncaught exception (timer)", exc);
        uncaught++;
    }
    return r;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s JS_DIR TEST_DIR TMP RUNNER.js FILE.test.js...\n", argv[0]);
        return 2;
    }
    JSGlobalContextRef ctx = JSGlobalContextCreate(NULL);
    JSObjectRef global = JSContextGetGlobalObject(ctx);
    JSValueRef exc = NULL;
    if (wxfs_jsc_new(ctx, argv[1], &glue, &exc) != 0) {
        if (exc) report(ctx, "wxfs_jsc_new", exc);
        return 2;
    }
    JSObjectRef console = JSObjectMake(ctx, NULL, NULL);
    fn_(ctx, console, "log", h_log);
    fn_(ctx, console, "error", h_log);
    set(ctx, global, "console", console);
    JSObjectRef host = JSObjectMake(ctx, NULL, NULL);
    fn_(ctx, host, "now", h_now);
    fn_(ctx, host, "readText", h_read_text);
    fn_(ctx, host, "compile", h_compile);
    fn_(ctx, host, "open", h_open);
    fn_(ctx, host, "close", h_close);
    fn_(ctx, host, "mkdirs", h_mkdirs);
    fn_(ctx, host, "writeText", h_write_text);
    fn_(ctx, host, "bytesEqual", h_bytes_equal);
    set(ctx, host, "bridge", wxfs_jsc_bridge(glue));
    set(ctx, host, "jsDir", str(ctx, argv[1]));
    set(ctx, host, "testDir", str(ctx, argv[2]));
    set(ctx, host, "tmp", str(ctx, argv[3]));
    JSValueRef *files = calloc((size_t)argc, sizeof *files);
    for (int i = 5; i < argc; i++) files[i - 5] = str(ctx, argv[i]);
    set(ctx, host, "files", JSObjectMakeArray(ctx, (size_t)(argc - 5), files, NULL));
    free(files);
    set(ctx, global, "__host", host);

    size_t len = 0;
    char *src = read_file(argv[4], &len);
    if (src == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[4]);
        return 2;
    }
    JSStringRef body = JSStringCreateWithUTF8CString(src);
    JSStringRef url = JSStringCreateWithUTF8CString(argv[4]);
    JSEvaluateScript(ctx, body, NULL, url, 1, &exc);
    JSStringRelease(body);
    JSStringRelease(url);
    free(src);
    if (exc != NULL) {
        report(ctx, "runner.js threw", exc);
        uncaught++;
    }

    /* The loop: glue tasks first, then the queue's fd with the next timer as timeout. */
    for (;;) {
        JSValueRef done = get(ctx, global, "__suiteDone");
        if (done != NULL && JSValueToBoolean(ctx, done)) break;
        if (uncaught > 0 && exc != NULL) break;
        JSValueRef nv = timers(ctx, "next");
        double next = nv != NULL ? JSValueToNumber(ctx, nv, NULL) : -1;
        if (!wxfs_jsc_has_tasks(glue) && next != 0) {
            if (wxfs_jsc_pending(glue) == 0 && next < 0) {
                printf("the suite stopped with nothing pending and it unfinished\n");
                uncaught++;
                break;
            }
            struct pollfd p = {wxfs_jsc_fd(glue), POLLIN, 0};
            poll(&p, 1, next < 0 ? -1 : (int)(next > 60000 ? 60000 : next));
        }
        exc = NULL;
        if (wxfs_jsc_drain(glue, &exc) < 0 && exc != NULL) {
            report(ctx, "uncaught exception", exc);
            uncaught++;
            exc = NULL;
        }
        timers(ctx, "run");
    }
    JSValueRef failed = get(ctx, global, "__suiteFailed");
    int status = (uncaught > 0 || failed == NULL || JSValueToNumber(ctx, failed, NULL) != 0) ? 1 : 0;
    wxfs_jsc_free(glue);
    JSGlobalContextRelease(ctx);
    for (size_t i = 0; i < n_opened; i++) wxfs_close(opened[i]);
#ifdef WXFS_JSC_BALANCE
    balance_print();
#endif
    return status;
}
