/*
 * Runs bindings/js's own test suite (the .test.js files of bindings/node/test) inside QuickJS, over the real
 * library, through the glue: every sandbox a test opens gets its object from wxfs_qjs_api, and
 * every async result comes back through the glue's completion queue and wxfs_qjs_drain.
 *
 *   runner REPO [--skip TEXT]... [FILE.test.js ...]   (default: every .test.js file of bindings/node/test)
 *
 * `--embedded` hands the glue bindings/js as a table of sources (wxfs_qjs_options.sources), as a
 * host that embeds the files does, instead of its directory.
 * `--skip TEXT` leaves out the tests whose name contains TEXT (printed as "left out", counted
 * nowhere): the valgrind run leaves out the 20 MiB one.
 *
 * Prints one line per test (ok / not ok / needs Node) and "N passed, N failed, N skipped (need
 * Node)"; exits 0 when none failed. At exit it frees the glue, the context and the runtime (a
 * QuickJS build with assertions aborts if a JS value leaked), closes every sandbox and removes
 * every temp root, so ASan and valgrind see a clean process.
 *
 * It includes the glue's source to reach its raw `invoke` native (sb.invoke in the tests).
 */
#define _GNU_SOURCE
#include "wxfs_quickjs.c"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct wxfs_qjs *glue;
static uint64_t open_handles[4096];
static size_t open_count;
static char *roots[4096];
static size_t root_count;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); buf = NULL; }
    }
    fclose(f);
    if (buf) { buf[size] = 0; *len = (size_t)size; }
    return buf;
}

static JSValue throw_errno(JSContext *ctx, const char *what, const char *path) {
    return JS_ThrowTypeError(ctx, "%s %s: %s", what, path, strerror(errno));
}

static JSValue h_print(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    const char *s = JS_ToCString(ctx, argv[0]);
    if (!s) return JS_EXCEPTION;
    puts(s);
    fflush(stdout);
    JS_FreeCString(ctx, s);
    return JS_UNDEFINED;
}

static JSValue h_now(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc; (void)argv;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return JS_NewFloat64(ctx, (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6);
}

static JSValue h_tmpdir(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc; (void)argv;
    const char *t = getenv("TMPDIR");
    return JS_NewString(ctx, t && *t ? t : "/tmp");
}

static JSValue h_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    const char *p = JS_ToCString(ctx, argv[0]);
    if (!p) return JS_EXCEPTION;
    size_t len = 0;
    char *text = slurp(p, &len);
    JSValue v = text ? JS_NewStringLen(ctx, text, len) : throw_errno(ctx, "cannot read", p);
    free(text);
    JS_FreeCString(ctx, p);
    return v;
}

/* compile(source, filename) -> the CommonJS wrapper function of a file, named for stack traces */
static JSValue h_compile(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    size_t len = 0;
    const char *src = JS_ToCStringLen(ctx, &len, argv[0]);
    const char *name = JS_ToCString(ctx, argv[1]);
    JSValue v = JS_EXCEPTION;
    static const char head[] = "(function (exports, require, module, __filename, __dirname) {";
    static const char tail[] = "\n})";
    char *wrapped = src && name ? malloc(sizeof head + len + sizeof tail) : NULL;
    if (wrapped) {
        memcpy(wrapped, head, sizeof head - 1);
        memcpy(wrapped + sizeof head - 1, src, len);
        memcpy(wrapped + sizeof head - 1 + len, tail, sizeof tail);
        v = JS_Eval(ctx, wrapped, sizeof head - 1 + len + sizeof tail - 1, name, JS_EVAL_TYPE_GLOBAL);
        free(wrapped);
    }
    JS_FreeCString(ctx, src);
    JS_FreeCString(ctx, name);
    return v;
}

static JSValue h_mkdtemp(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    const char *prefix = JS_ToCString(ctx, argv[0]);
    if (!prefix) return JS_EXCEPTION;
    size_t n = strlen(prefix);
    char *path = malloc(n + 7);
    JSValue v;
    if (!path || root_count == sizeof roots / sizeof roots[0]) {
        v = JS_ThrowTypeError(ctx, "too many temp roots");
        free(path);
    } else {
        memcpy(path, prefix, n);
        memcpy(path + n, "XXXXXX", 7);
        if (mkdtemp(path)) {
            roots[root_count++] = path;
            v = JS_NewString(ctx, path);
        } else {
            v = throw_errno(ctx, "mkdtemp", prefix);
            free(path);
        }
    }
    JS_FreeCString(ctx, prefix);
    return v;
}

static JSValue h_mkdirp(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    const char *p = JS_ToCString(ctx, argv[0]);
    if (!p) return JS_EXCEPTION;
    char *path = strdup(p);
    JSValue v = JS_UNDEFINED;
    for (char *s = path + 1; path && *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) v = throw_errno(ctx, "mkdir", path);
        *s = '/';
    }
    if (path && JS_IsUndefined(v) && mkdir(path, 0755) < 0 && errno != EEXIST) v = throw_errno(ctx, "mkdir", path);
    free(path);
    JS_FreeCString(ctx, p);
    return v;
}

static JSValue h_write_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    size_t len = 0;
    const char *p = JS_ToCString(ctx, argv[0]);
    const char *text = JS_ToCStringLen(ctx, &len, argv[1]);
    JSValue v = JS_EXCEPTION;
    if (p && text) {
        FILE *f = fopen(p, "wb");
        v = f && fwrite(text, 1, len, f) == len ? JS_UNDEFINED : throw_errno(ctx, "cannot write", p);
        if (f) fclose(f);
    }
    JS_FreeCString(ctx, p);
    JS_FreeCString(ctx, text);
    return v;
}

/* open(configJson) -> handle, or throws as bindings/node does: "wxfs.open failed (code): why" */
static JSValue h_open(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    size_t len = 0;
    const char *config = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!config) return JS_EXCEPTION;
    uint64_t h = 0;
    int32_t rc = wxfs_open(config, len, &h);
    JS_FreeCString(ctx, config);
    if (rc != 0) {
        char msg[1024] = "";
        wxfs_last_error_message(msg, sizeof msg, NULL);
        JSValue e = JS_NewError(ctx);
        char full[1200];
        snprintf(full, sizeof full, "wxfs.open failed (%d): %s", rc, msg);
        JS_SetPropertyStr(ctx, e, "message", JS_NewString(ctx, full));
        JS_SetPropertyStr(ctx, e, "code", JS_NewInt32(ctx, rc));
        return JS_Throw(ctx, e);
    }
    if (open_count < sizeof open_handles / sizeof open_handles[0]) open_handles[open_count++] = h;
    return JS_NewFloat64(ctx, (double)h);
}

static JSValue h_close(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    uint64_t h = 0;
    if (to_handle(ctx, argv[0], &h) < 0) return JS_EXCEPTION;
    for (size_t i = 0; i < open_count; i++)
        if (open_handles[i] == h) { open_handles[i] = open_handles[--open_count]; break; }
    return JS_NewInt32(ctx, wxfs_close(h));
}

static JSValue h_api(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc;
    uint64_t h = 0;
    if (to_handle(ctx, argv[0], &h) < 0) return JS_EXCEPTION;
    const char *json = JS_ToCString(ctx, argv[1]);
    if (!json) return JS_EXCEPTION;
    JSValue api = wxfs_qjs_api(glue, h, json);
    JS_FreeCString(ctx, json);
    return api;
}

static JSValue h_api_list(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)this_val; (void)argc; (void)argv;
    wxfs_bytes json = {NULL, 0};
    if (wxfs_api_list(0, &json) != 0) return JS_ThrowTypeError(ctx, "wxfs_api_list failed");
    JSValue v = JS_NewStringLen(ctx, (const char *)json.data, json.len);
    wxfs_bytes_free(json);
    return v;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void print_exception(JSContext *ctx, const char *what) {
    JSValue e = JS_GetException(ctx);
    const char *s = JS_ToCString(ctx, e);
    printf("not ok - %s: %s\n", what, s ? s : "(exception)");
    JS_FreeCString(ctx, s);
    if (JS_IsObject(e)) {
        JSValue st = JS_GetPropertyStr(ctx, e, "stack");
        const char *t = JS_IsString(st) ? JS_ToCString(ctx, st) : NULL;
        if (t) printf("%s\n", t);
        JS_FreeCString(ctx, t);
        JS_FreeValue(ctx, st);
    }
    JS_FreeValue(ctx, e);
    fflush(stdout);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: runner REPO [FILE.test.js ...]\n");
        return 2;
    }
    const char *repo = argv[1];
    char *files[256];
    int nfiles = 0;
    const char *skips[16];
    int nskips = 0, embedded = 0;
    for (int i = 2; i < argc && nfiles < 256; i++) {
        if (strcmp(argv[i], "--embedded") == 0) embedded = 1;
        else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc && nskips < 16) skips[nskips++] = argv[++i];
        else files[nfiles++] = strdup(argv[i]);
    }
    if (nfiles == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/bindings/node/test", repo);
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)) && nfiles < 256) {
            size_t n = strlen(e->d_name);
            if (n > 8 && strcmp(e->d_name + n - 8, ".test.js") == 0) files[nfiles++] = strdup(e->d_name);
        }
        if (d) closedir(d);
        qsort(files, (size_t)nfiles, sizeof files[0], by_name);
    }
    char js_dir[4096], suite_path[4096];
    snprintf(js_dir, sizeof js_dir, "%s/bindings/js", repo);
    snprintf(suite_path, sizeof suite_path, "%s/bindings/quickjs/test/suite.js", repo);

    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    wxfs_qjs_options opts = {js_dir, NULL, 0};
    static const char *const NAMES[] = {"index", "codec", "core", "dialects/derive", "dialects/wechat",
                                        "dialects/alipay", "dialects/douyin", "dialects/baidu", "dialects/qq"};
    wxfs_qjs_source sources[9];
    char *texts[9] = {0};
    if (embedded) {
        for (int i = 0; i < 9; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s.js", js_dir, NAMES[i]);
            size_t len = 0;
            texts[i] = slurp(p, &len);
            if (!texts[i]) { fprintf(stderr, "cannot read %s\n", p); return 2; }
            sources[i] = (wxfs_qjs_source){NAMES[i], texts[i], len};
        }
        opts = (wxfs_qjs_options){NULL, sources, 9};
    }
    glue = wxfs_qjs_new(ctx, &opts);
    for (int i = 0; i < 9; i++) free(texts[i]); /* the glue keeps nothing of them */
    int failures = 0;
    if (!glue) {
        print_exception(ctx, "wxfs_qjs_new");
        return 1;
    }
    JSValue host = JS_NewObject(ctx);
    JS_SetPropertyStr(ctx, host, "repo", JS_NewString(ctx, repo));
    JS_SetPropertyStr(ctx, host, "pid", JS_NewInt32(ctx, (int32_t)getpid()));
    struct { const char *name; JSCFunction *fn; int n; } fns[] = {
        {"print", h_print, 1},      {"now", h_now, 0},       {"tmpdir", h_tmpdir, 0},     {"readFile", h_read_file, 1},
        {"compile", h_compile, 2},  {"mkdtemp", h_mkdtemp, 1}, {"mkdirp", h_mkdirp, 1},   {"writeFile", h_write_file, 2},
        {"open", h_open, 1},        {"close", h_close, 1},   {"api", h_api, 2},           {"apiList", h_api_list, 0},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        JS_SetPropertyStr(ctx, host, fns[i].name, JS_NewCFunction(ctx, fns[i].fn, fns[i].name, fns[i].n));
    JSValue id = JS_NewInt32(ctx, glue->id);
    JS_SetPropertyStr(ctx, host, "invoke", JS_NewCFunctionData(ctx, js_invoke, 4, 0, 1, &id));

    size_t suite_len = 0;
    char *suite_src = slurp(suite_path, &suite_len);
    JSValue factory = suite_src ? JS_Eval(ctx, suite_src, suite_len, suite_path, JS_EVAL_TYPE_GLOBAL) : JS_ThrowTypeError(ctx, "cannot read %s", suite_path);
    free(suite_src);
    JSValue suite = JS_IsException(factory) ? JS_EXCEPTION : JS_Call(ctx, factory, JS_UNDEFINED, 1, &host);
    JS_FreeValue(ctx, factory);
    JS_FreeValue(ctx, host);
    JSValue finished = JS_UNDEFINED;
    if (JS_IsException(suite)) {
        print_exception(ctx, "suite.js");
        failures++;
    } else {
        JSValue list = JS_NewArray(ctx);
        for (int i = 0; i < nfiles; i++) JS_SetPropertyUint32(ctx, list, (uint32_t)i, JS_NewString(ctx, files[i]));
        JSValue skip_list = JS_NewArray(ctx);
        for (int i = 0; i < nskips; i++) JS_SetPropertyUint32(ctx, skip_list, (uint32_t)i, JS_NewString(ctx, skips[i]));
        JSValue run_all = JS_GetPropertyStr(ctx, suite, "runAll");
        JSValue run_args[2] = {list, skip_list};
        JSValue promise = JS_Call(ctx, run_all, suite, 2, run_args);
        JS_FreeValue(ctx, run_all);
        JS_FreeValue(ctx, list);
        JS_FreeValue(ctx, skip_list);
        /* Record the outcome on the suite object once the promise settles. */
        static const char RECORD[] =
            "(function (s, p) { p.then(function (r) { s.finished = r; }, function (e) { s.finished = { failed: 1, error: String(e) }; }); })";
        JSValue record = JS_Eval(ctx, RECORD, sizeof RECORD - 1, "<runner>", JS_EVAL_TYPE_GLOBAL);
        JSValue args[2] = {suite, promise};
        JSValue ignored = JS_IsException(promise) || JS_IsException(record) ? JS_EXCEPTION : JS_Call(ctx, record, JS_UNDEFINED, 2, args);
        if (JS_IsException(ignored)) {
            print_exception(ctx, "runAll");
            failures++;
        }
        JS_FreeValue(ctx, ignored);
        JS_FreeValue(ctx, record);
        JS_FreeValue(ctx, promise);
        JSValue run_timers = JS_GetPropertyStr(ctx, suite, "runTimers");
        JSValue hung = JS_GetPropertyStr(ctx, suite, "hung");
        for (;;) {
            if (wxfs_qjs_drain(glue) < 0) {
                /* A user callback threw and nothing caught it: a failure of the suite. */
                print_exception(ctx, "uncaught exception");
                failures++;
                continue;
            }
            JS_FreeValue(ctx, finished);
            finished = JS_GetPropertyStr(ctx, suite, "finished");
            if (!JS_IsUndefined(finished)) break;
            JSValue next = JS_Call(ctx, run_timers, suite, 0, NULL);
            double ms = -1;
            if (JS_IsException(next)) {
                print_exception(ctx, "a timer");
                failures++;
            } else {
                JS_ToFloat64(ctx, &ms, next);
            }
            JS_FreeValue(ctx, next);
            if (JS_IsJobPending(rt)) continue;
            if (wxfs_qjs_pending(glue) > 0 || ms >= 0) {
                struct pollfd p = {wxfs_qjs_fd(glue), POLLIN, 0};
                int timeout = ms < 0 ? -1 : (int)(ms + 1);
                poll(&p, wxfs_qjs_pending(glue) > 0 ? 1 : 0, timeout);
            } else {
                JSValue r = JS_Call(ctx, hung, suite, 0, NULL);
                JS_FreeValue(ctx, r);
            }
        }
        JS_FreeValue(ctx, run_timers);
        JS_FreeValue(ctx, hung);
    }
    if (!JS_IsUndefined(finished) && !JS_IsException(finished)) {
        JSValue f = JS_GetPropertyStr(ctx, finished, "failed");
        int32_t n = 0;
        JS_ToInt32(ctx, &n, f);
        JS_FreeValue(ctx, f);
        failures += n;
    }
    JS_FreeValue(ctx, finished);
    JS_FreeValue(ctx, suite);
    wxfs_qjs_free(glue);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    for (size_t i = 0; i < open_count; i++) wxfs_close(open_handles[i]);
    for (size_t i = 0; i < root_count; i++) {
        nftw(roots[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(roots[i]);
    }
    for (int i = 0; i < nfiles; i++) free(files[i]);
    return failures == 0 ? 0 : 1;
}
