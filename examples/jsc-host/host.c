/*
 * A mini-program host runtime on JavaScriptCore, in one file: it opens the sandbox of user `u1`
 * and app `wx0123456789abcdef` under ROOT, makes a JavaScript context with `wx` (or the
 * platform's object) and `console.log`, runs SCRIPT, then runs the event loop until no call is
 * pending, and exits: 0, or 1 on an uncaught exception (printed to stderr). A promise rejected
 * with no handler is printed to stderr ("unhandled promise rejection: ...") and the host goes on.
 *
 *     host ROOT SCRIPT.js [--platform wechat|alipay|douyin|baidu|qq]
 *
 * Beside the library's apis the object has `downloadFile({url, success, fail, complete})`, the
 * host's own: it "downloads" a file of the host's file system (`url` a path, relative to the
 * working directory, or `file://` and an absolute path) into a temp file of the sandbox, the way a
 * real host's downloadFile lands its bytes (`host.createTempFile`).
 *
 * Built by build.sh beside it, against bindings/jsc and the library `cargo build --release` made.
 * bindings/js is read from WXFS_JS_DIR when set, else from the checkout the host was built in.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <JavaScriptCore/JavaScript.h>

#include "wxfs.h"
#include "wxfs_jsc.h"

#ifndef WXFS_JS_DIR
#define WXFS_JS_DIR "bindings/js"
#endif

static char *utf8(JSContextRef ctx, JSValueRef v) {
    JSStringRef s = JSValueToStringCopy(ctx, v, NULL);
    if (s == NULL) return NULL;
    size_t max = JSStringGetMaximumUTF8CStringSize(s);
    char *buf = malloc(max);
    if (buf != NULL) JSStringGetUTF8CString(s, buf, max);
    JSStringRelease(s);
    return buf;
}

/* console.log(...): the arguments on one line, separated by spaces; objects as JSON. */
static JSValueRef console_log(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,
                              const JSValueRef argv[], JSValueRef *exception) {
    (void)fn;
    (void)self;
    (void)exception;
    for (size_t i = 0; i < argc; i++) {
        char *text = NULL;
        if (JSValueIsObject(ctx, argv[i]) && !JSObjectIsFunction(ctx, (JSObjectRef)argv[i])) {
            JSStringRef json = JSValueCreateJSONString(ctx, argv[i], 0, NULL);
            if (json != NULL) {
                size_t max = JSStringGetMaximumUTF8CStringSize(json);
                text = malloc(max);
                if (text != NULL) JSStringGetUTF8CString(json, text, max);
                JSStringRelease(json);
            }
        }
        if (text == NULL) text = utf8(ctx, argv[i]);
        printf("%s%s", i ? " " : "", text ? text : "?");
        free(text);
    }
    printf("\n");
    fflush(stdout);
    return JSValueMakeUndefined(ctx);
}

/* The host's downloadFile, over the glue's native object (host code: it may reach host.*). */
static const char DOWNLOAD[] =
    "(function (bridge, handle, cwd, target) {\n"
    "  target.downloadFile = function (o) {\n"
    "    o = o || {};\n"
    "    var res;\n"
    "    try {\n"
    "      var url = String(o.url);\n"
    "      var path = url.indexOf('file://') === 0 ? url.slice(7) : url.charAt(0) === '/' ? url : cwd + '/' + url;\n"
    "      var ext = (/\\.([A-Za-z0-9]{1,8})$/.exec(path) || [])[1];\n"
    "      var args = { sourcePath: path };\n"
    "      if (ext) args.extension = ext;\n"
    "      var out = bridge.invoke(handle, 'host.createTempFile', JSON.stringify(args));\n"
    "      var r = JSON.parse(typeof out === 'string' ? out : out[0]);\n"
    "      res = r.tempFilePath ? { errMsg: 'downloadFile:ok', tempFilePath: r.tempFilePath, statusCode: 200 }\n"
    "                           : { errMsg: 'downloadFile:fail ' + r.errMsg.replace(/^[^:]*:fail /, '') };\n"
    "    } catch (e) {\n"
    "      res = { errMsg: 'downloadFile:fail ' + e.message };\n"
    "    }\n"
    "    bridge.defer(function () {\n"
    "      var ok = res.errMsg === 'downloadFile:ok';\n"
    "      if (ok && typeof o.success === 'function') o.success(res);\n"
    "      if (!ok && typeof o.fail === 'function') o.fail(res);\n"
    "      if (typeof o.complete === 'function') o.complete(res);\n"
    "    });\n"
    "  };\n"
    "})";

static void set(JSContextRef ctx, JSObjectRef o, const char *name, JSValueRef v) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSObjectSetProperty(ctx, o, s, v, 0, NULL);
    JSStringRelease(s);
}

static void report(JSContextRef ctx, JSValueRef exc) {
    char *text = utf8(ctx, exc);
    char *stack = NULL;
    if (JSValueIsObject(ctx, exc)) {
        JSStringRef s = JSStringCreateWithUTF8CString("stack");
        JSValueRef v = JSObjectGetProperty(ctx, (JSObjectRef)exc, s, NULL);
        JSStringRelease(s);
        if (v != NULL && JSValueIsString(ctx, v)) stack = utf8(ctx, v);
    }
    fprintf(stderr, "uncaught exception: %s\n%s%s", text ? text : "?", stack ? stack : "", stack ? "\n" : "");
    free(text);
    free(stack);
}

/* A promise rejected with no handler: reported, as a browser's console does; the host goes on. */
static void on_rejection(void *userdata, JSContextRef ctx, JSValueRef reason) {
    (void)userdata;
    char *text = utf8(ctx, reason);
    fprintf(stderr, "unhandled promise rejection: %s\n", text ? text : "?");
    free(text);
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

/* A JSON string literal of `s` (paths from the command line). */
static void json_string(char *out, size_t cap, const char *s) {
    size_t k = 0;
    out[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') k += (size_t)snprintf(out + k, cap - k, "\\%c", c);
        else if (c < 0x20) k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
        else out[k++] = (char)c;
    }
    out[k++] = '"';
    out[k] = 0;
}

int main(int argc, char **argv) {
    const char *platform = "wechat";
    const char *root = NULL, *script = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) platform = argv[++i];
        else if (root == NULL) root = argv[i];
        else if (script == NULL) script = argv[i];
        else root = NULL, i = argc;
    }
    if (root == NULL || script == NULL) {
        fprintf(stderr, "usage: %s ROOT SCRIPT.js [--platform wechat|alipay|douyin|baidu|qq]\n", argv[0]);
        return 2;
    }
    size_t src_len = 0;
    char *src = read_file(script, &src_len);
    if (src == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", script, strerror(errno));
        return 2;
    }
    char root_json[8192], platform_json[256], config[9000];
    json_string(root_json, sizeof root_json, root);
    json_string(platform_json, sizeof platform_json, platform);
    snprintf(config, sizeof config, "{\"root\":%s,\"appId\":\"wx0123456789abcdef\",\"userId\":\"u1\",\"platform\":%s}",
             root_json, platform_json);
    uint64_t sandbox = 0;
    if (wxfs_open(config, strlen(config), &sandbox) != 0) {
        char msg[1024];
        wxfs_last_error_message(msg, sizeof msg, NULL);
        fprintf(stderr, "wxfs_open: %s\n", msg);
        free(src);
        return 2;
    }

    JSGlobalContextRef ctx = JSGlobalContextCreate(NULL);
    JSObjectRef global = JSContextGetGlobalObject(ctx);
    JSObjectRef console = JSObjectMake(ctx, NULL, NULL);
    JSStringRef log = JSStringCreateWithUTF8CString("log");
    set(ctx, console, "log", JSObjectMakeFunctionWithCallback(ctx, log, console_log));
    JSStringRelease(log);
    set(ctx, global, "console", console);

    const char *js_dir = getenv("WXFS_JS_DIR") ? getenv("WXFS_JS_DIR") : WXFS_JS_DIR;
    wxfs_jsc *glue = NULL;
    JSValueRef exc = NULL;
    int status = 0;
    if (wxfs_jsc_install(ctx, sandbox, platform, js_dir, &glue, &exc) != 0) {
        if (exc != NULL) report(ctx, exc);
        else fprintf(stderr, "wxfs_jsc_install failed\n");
        status = 2;
        goto out;
    }
    /* WXFS_JSC_E_UNSUPPORTED on a JavaScriptCore without the hook: then nothing is reported. */
    wxfs_jsc_set_rejection_hook(glue, on_rejection, NULL);
    {
        /* The platform's object is the global bindings/js's dialect names: find it by elimination. */
        static const char *const names[] = {"wx", "my", "tt", "swan", "qq"};
        JSObjectRef object = NULL;
        for (size_t i = 0; i < sizeof names / sizeof *names && object == NULL; i++) {
            JSStringRef n = JSStringCreateWithUTF8CString(names[i]);
            JSValueRef v = JSObjectGetProperty(ctx, global, n, NULL);
            JSStringRelease(n);
            if (v != NULL && JSValueIsObject(ctx, v)) object = (JSObjectRef)v;
        }
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, ".");
        JSStringRef d = JSStringCreateWithUTF8CString(DOWNLOAD);
        JSValueRef setup = JSEvaluateScript(ctx, d, NULL, NULL, 1, &exc);
        JSStringRelease(d);
        JSStringRef c = JSStringCreateWithUTF8CString(cwd);
        JSValueRef args[4] = {wxfs_jsc_bridge(glue), JSValueMakeNumber(ctx, (double)sandbox), JSValueMakeString(ctx, c),
                              object};
        JSStringRelease(c);
        if (setup != NULL && object != NULL) JSObjectCallAsFunction(ctx, (JSObjectRef)setup, NULL, 4, args, &exc);
    }

    JSStringRef body = JSStringCreateWithUTF8CString(src);
    JSStringRef url = JSStringCreateWithUTF8CString(script);
    if (exc == NULL) JSEvaluateScript(ctx, body, NULL, url, 1, &exc);
    JSStringRelease(body);
    JSStringRelease(url);
    /* The event loop: wait on the completion queue's fd unless tasks are ready, then drain. */
    while (exc == NULL && wxfs_jsc_pending(glue) > 0) {
        if (!wxfs_jsc_has_tasks(glue)) {
            struct pollfd p = {wxfs_jsc_fd(glue), POLLIN, 0};
            if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                perror("poll");
                status = 2;
                break;
            }
        }
        if (wxfs_jsc_drain(glue, &exc) < 0 && exc == NULL) {
            fprintf(stderr, "wxfs_jsc_drain failed\n");
            status = 2;
            break;
        }
    }
    if (exc != NULL) {
        report(ctx, exc);
        status = 1;
    }
    wxfs_jsc_free(glue);
out:
    JSGlobalContextRelease(ctx);
    wxfs_close(sandbox);
    free(src);
    return status;
}
