/*
 * A mini-program host runtime on QuickJS, in one file: opens the sandbox of user u1 and app
 * wx0123456789abcdef under ROOT, installs `wx` (or the platform's object) and console.log, runs a
 * script, then the event loop until no call is pending. Beside what bindings/js gives, it adds the
 * one api a real host brings itself for the seed scenario: `wx.downloadFile({url})`, here a "download"
 * of a local file (a path or a file:// URL) into a temp file, through the bridge's
 * host.createTempFile, as a host's network stack would hand its download over.
 *
 *   host ROOT SCRIPT.js [--platform P]
 *
 * Exit status: 0; 1 on an uncaught exception (printed to stderr); 2 on bad usage or when the
 * sandbox cannot be opened. A promise rejected with no handler is printed to stderr ("unhandled
 * promise rejection: ...") and the host goes on. Built by build.sh beside this file.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wxfs_quickjs.h"

#ifndef WXFS_JS_DIR
#error "build with -DWXFS_JS_DIR=\"<checkout>/bindings/js\" (build.sh does)"
#endif

/* A promise rejected with no handler: reported, as a browser's console does; the host goes on. */
static void on_rejection(void *userdata, JSContext *ctx, JSValueConst reason) {
    (void)userdata;
    const char *s = JS_ToCString(ctx, reason);
    fprintf(stderr, "unhandled promise rejection: %s\n", s ? s : "?");
    if (s) JS_FreeCString(ctx, s);
    else JS_FreeValue(ctx, JS_GetException(ctx));
}

static JSValue console_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val;
    for (int i = 0; i < argc; i++) {
        const char *s = JS_ToCString(ctx, argv[i]);
        if (!s) return JS_EXCEPTION;
        fputs(s, stdout);
        fputc(i + 1 < argc ? ' ' : '\n', stdout);
        JS_FreeCString(ctx, s);
    }
    if (argc == 0) fputc('\n', stdout);
    fflush(stdout);
    return JS_UNDEFINED;
}

static uint64_t sandbox;
static void json_str(char *out, size_t cap, const char *s);

/* __download(url) -> the result JSON of host.createTempFile {sourcePath, extension} */
static JSValue download(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    const char *url = JS_ToCString(ctx, argv[0]);
    if (!url) return JS_EXCEPTION;
    const char *path = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    char jpath[4200], jext[64] = "null", args[4400];
    json_str(jpath, sizeof jpath, path);
    if (dot && (!slash || dot > slash) && strlen(dot + 1) < 16) json_str(jext, sizeof jext, dot + 1);
    snprintf(args, sizeof args, "{\"sourcePath\":%s,\"extension\":%s}", jpath, jext);
    JS_FreeCString(ctx, url);
    wxfs_bytes out = {NULL, 0};
    wxfs_invoke(sandbox, "host.createTempFile", strlen("host.createTempFile"), args, strlen(args), &out);
    JSValue v = JS_NewStringLen(ctx, out.data ? (const char *)out.data : "{}", out.len);
    wxfs_bytes_free(out);
    return v;
}

/* wx.downloadFile in WeChat's shape over __download: success({tempFilePath, statusCode: 200}) or
 * fail({errMsg}), then complete, later on this thread. */
static const char DOWNLOAD_JS[] =
    "(function (wx, download) {\n"
    "  wx.downloadFile = function (o) {\n"
    "    var r = JSON.parse(download(String(o.url)));\n"
    "    var res = /:ok$/.test(r.errMsg) ? { tempFilePath: r.tempFilePath, statusCode: 200, errMsg: 'downloadFile:ok' }\n"
    "                                    : { errMsg: 'downloadFile:fail ' + r.errMsg.replace(/^[^:]*:fail ?/, '') };\n"
    "    Promise.resolve().then(function () {\n"
    "      if (res.tempFilePath) { if (o.success) o.success(res); } else if (o.fail) o.fail(res);\n"
    "      if (o.complete) o.complete(res);\n"
    "    });\n"
    "  };\n"
    "})";

/* The pending exception, with its stack when it has one, on stderr. */
static void print_exception(JSContext *ctx) {
    JSValue e = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, e);
    fprintf(stderr, "Uncaught %s\n", s ? s : "(exception)");
    JS_FreeCString(ctx, s);
    if (JS_IsObject(e)) {
        JSValue stack = JS_GetPropertyStr(ctx, e, "stack");
        if (JS_IsString(stack)) {
            const char *st = JS_ToCString(ctx, stack);
            if (st) fputs(st, stderr);
            JS_FreeCString(ctx, st);
        }
        JS_FreeValue(ctx, stack);
    }
    JS_FreeValue(ctx, e);
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown) { free(buf); buf = NULL; break; }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) { buf[n] = 0; *len = n; }
    return buf;
}

/* A JSON string literal of `s` (paths, platform names). */
static void json_str(char *out, size_t cap, const char *s) {
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = 0;
}

int main(int argc, char **argv) {
    const char *root = NULL, *script = NULL, *platform = "wechat";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) platform = argv[++i];
        else if (!root) root = argv[i];
        else if (!script) script = argv[i];
        else { root = NULL; break; }
    }
    if (!root || !script) {
        fprintf(stderr, "usage: host ROOT SCRIPT.js [--platform P]\n");
        return 2;
    }
    size_t src_len = 0;
    char *src = read_all(script, &src_len);
    if (!src) {
        fprintf(stderr, "host: cannot read %s: %s\n", script, strerror(errno));
        return 2;
    }
    char jroot[4200], jplat[200], config[4600];
    json_str(jroot, sizeof jroot, root);
    json_str(jplat, sizeof jplat, platform);
    snprintf(config, sizeof config, "{\"root\":%s,\"appId\":\"wx0123456789abcdef\",\"userId\":\"u1\",\"platform\":%s}", jroot, jplat);
    if (wxfs_open(config, strlen(config), &sandbox) != 0) {
        char msg[1024] = "";
        wxfs_last_error_message(msg, sizeof msg, NULL);
        fprintf(stderr, "host: cannot open the sandbox: %s\n", msg);
        free(src);
        return 2;
    }

    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue console = JS_NewObject(ctx);
    JS_SetPropertyStr(ctx, console, "log", JS_NewCFunction(ctx, console_log, "log", 1));
    JS_SetPropertyStr(ctx, global, "console", console);
    JS_FreeValue(ctx, global);

    int status = 0;
    wxfs_qjs_options opts = {WXFS_JS_DIR, NULL, 0};
    wxfs_qjs *q = wxfs_qjs_install(ctx, sandbox, config, &opts);
    if (q) wxfs_qjs_set_rejection_hook(q, on_rejection, NULL);
    if (q && strcmp(platform, "wechat") == 0) {
        /* wx.downloadFile beside bindings/js's wx (the other platforms' download apis are left out) */
        JSValue add = JS_Eval(ctx, DOWNLOAD_JS, sizeof DOWNLOAD_JS - 1, "<host>", JS_EVAL_TYPE_GLOBAL);
        JSValue g = JS_GetGlobalObject(ctx);
        JSValue args[2] = {JS_GetPropertyStr(ctx, g, "wx"), JS_NewCFunction(ctx, download, "download", 1)};
        JSValue r = JS_IsException(add) ? JS_EXCEPTION : JS_Call(ctx, add, JS_UNDEFINED, 2, args);
        if (JS_IsException(r)) {
            print_exception(ctx);
            status = 1;
        }
        JS_FreeValue(ctx, r);
        JS_FreeValue(ctx, args[0]);
        JS_FreeValue(ctx, args[1]);
        JS_FreeValue(ctx, g);
        JS_FreeValue(ctx, add);
    }
    if (!q) {
        print_exception(ctx);
        status = 1;
    } else {
        JSValue r = status ? JS_UNDEFINED : JS_Eval(ctx, src, src_len, script, JS_EVAL_TYPE_GLOBAL);
        if (JS_IsException(r)) {
            print_exception(ctx);
            status = 1;
        }
        JS_FreeValue(ctx, r);
        /* The event loop: wait on the queue's fd while calls are out, run what is ready. */
        while (status == 0 && wxfs_qjs_busy(q)) {
            if (!JS_IsJobPending(rt) && wxfs_qjs_pending(q) > 0) {
                struct pollfd p = {wxfs_qjs_fd(q), POLLIN, 0};
                if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                    perror("host: poll");
                    status = 1;
                    break;
                }
            }
            if (wxfs_qjs_drain(q) < 0) {
                print_exception(ctx);
                status = 1;
            }
        }
        wxfs_qjs_free(q);
    }
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    wxfs_close(sandbox);
    free(src);
    return status;
}
