/*
 * wxfs for QuickJS hosts: see wxfs_quickjs.h. Builds against Fabrice Bellard's QuickJS and
 * QuickJS-ng alike: it uses only the API both share, and one #if for the one call whose
 * signature differs (JS_NewArrayBuffer's free function, a realloc function in QuickJS-ng 0.16).
 *
 * Layout: the natives (invoke, invokeAsync, storageSet/Get, apiList, lastError, report, src) are
 * C functions whose data is the glue's id in a process-wide table, not a pointer: api objects
 * that outlive wxfs_qjs_free find no entry and throw, never touch freed memory. A JavaScript
 * prelude (PRELUDE below) loads bindings/js with a small CommonJS `require` and returns the
 * factory that builds an api object for one sandbox. Async calls: each is a `struct call` on the
 * glue's list, holding the JS `done` function until the queue hands its result back in
 * wxfs_qjs_drain; wxfs_qjs_free closes the queue and frees those left.
 */
#include "wxfs_quickjs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* QuickJS-ng 0.16 replaced JS_NewArrayBuffer's free function by a realloc function. A host on
 * another QuickJS-ng release can set WXFS_QJS_AB_REALLOC to 0 or 1 itself. */
#ifndef WXFS_QJS_AB_REALLOC
#if defined(QJS_VERSION_MAJOR) && (QJS_VERSION_MAJOR > 0 || QJS_VERSION_MINOR >= 16)
#define WXFS_QJS_AB_REALLOC 1
#else
#define WXFS_QJS_AB_REALLOC 0
#endif
#endif

/* QuickJS-ng's rejection tracker takes a bool where QuickJS takes a JS_BOOL (an int). */
#if defined(QJS_VERSION_MAJOR)
typedef bool tracker_bool;
#else
typedef JS_BOOL tracker_bool;
#endif

/* A promise rejected with no handler yet: reported at the end of a drain unless one is added. */
struct rejection {
    JSValue promise, reason;
    struct rejection *next;
};

struct call {
    struct wxfs_qjs *q;
    JSValue done;
    struct call *prev, *next;
};

struct wxfs_qjs {
    JSContext *ctx;
    int32_t id;          /* entry in the table below */
    uint64_t queue;
    int fd;
    size_t pending;
    struct call calls;   /* sentinel of the pending calls */
    JSValue make;        /* the prelude's factory: make(sandbox, optionsJson) -> api object */
    JSValue error;       /* the first uncaught exception since the last drain, or JS_UNDEFINED */
    int has_error;
    const wxfs_qjs_options *load; /* only while wxfs_qjs_new loads bindings/js */
    wxfs_qjs_rejection_fn rejection; /* the host's hook (wxfs_qjs_set_rejection_hook), or NULL */
    void *rejection_data;
    struct rejection *rejected, **rejected_tail; /* unhandled so far, oldest first */
};

/* ---- the table of live glues: natives carry an id, so a released glue is never dereferenced --- */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wxfs_qjs **table;
static int32_t table_len;

static int32_t table_add(struct wxfs_qjs *q) {
    int32_t id = -1;
    pthread_mutex_lock(&table_lock);
    for (int32_t i = 0; i < table_len; i++)
        if (!table[i]) { id = i; break; }
    if (id < 0) {
        struct wxfs_qjs **grown = realloc(table, sizeof *table * (size_t)(table_len + 8));
        if (grown) {
            table = grown;
            for (int32_t i = table_len; i < table_len + 8; i++) table[i] = NULL;
            id = table_len;
            table_len += 8;
        }
    }
    if (id >= 0) table[id] = q;
    pthread_mutex_unlock(&table_lock);
    return id;
}

static void table_remove(int32_t id) {
    pthread_mutex_lock(&table_lock);
    table[id] = NULL;
    int live = 0;
    for (int32_t i = 0; i < table_len; i++) live |= table[i] != NULL;
    if (!live) { free(table); table = NULL; table_len = 0; }
    pthread_mutex_unlock(&table_lock);
}

/* The glue a native belongs to, or NULL (with a TypeError thrown) once it was released. Only the
 * context's own thread uses a glue, so it cannot be freed between this lookup and its use. */
static struct wxfs_qjs *glue_of(JSContext *ctx, JSValueConst *data) {
    int32_t id = -1;
    struct wxfs_qjs *q = NULL;
    if (JS_ToInt32(ctx, &id, data[0]) == 0) {
        pthread_mutex_lock(&table_lock);
        if (id >= 0 && id < table_len) q = table[id];
        pthread_mutex_unlock(&table_lock);
    }
    if (!q || q->ctx != ctx) {
        JS_ThrowTypeError(ctx, "wxfs: this api object's glue was released (wxfs_qjs_free)");
        return NULL;
    }
    return q;
}

/* ---- values across the boundary ------------------------------------------------------------- */

static int to_handle(JSContext *ctx, JSValueConst v, uint64_t *out) {
    double d;
    if (JS_ToFloat64(ctx, &d, v) < 0) return -1;
    /* Handles are exact in a double (the library promises it); anything else names no sandbox. */
    *out = (d >= 0 && d < 9007199254740992.0 && d == (double)(uint64_t)d) ? (uint64_t)d : 0;
    return 0;
}

/* Strings the natives take; freed by free_strings. */
struct strs {
    const char *p[4];
    size_t len[4];
    int n;
};

static int get_str(JSContext *ctx, struct strs *s, JSValueConst v) {
    size_t len = 0;
    const char *p = JS_ToCStringLen(ctx, &len, v);
    if (!p) return -1;
    s->p[s->n] = p;
    s->len[s->n] = len;
    s->n++;
    return 0;
}

static void free_strs(JSContext *ctx, struct strs *s) {
    for (int i = 0; i < s->n; i++) JS_FreeCString(ctx, s->p[i]);
    s->n = 0;
}

/* The argument buffers: `flat` is undefined or the prelude's [ab0, off0, len0, ab1, ...] (plain
 * data it built, so no JavaScript runs while this reads it). The slices borrow the ArrayBuffers'
 * memory, valid until JavaScript runs again. Returns the count, or -1 with an exception. */
static int64_t get_slices(JSContext *ctx, JSValueConst flat, wxfs_slice **out) {
    *out = NULL;
    if (JS_IsUndefined(flat) || JS_IsNull(flat)) return 0;
    JSValue lenv = JS_GetPropertyStr(ctx, flat, "length");
    uint32_t n3 = 0;
    int bad = JS_ToUint32(ctx, &n3, lenv);
    JS_FreeValue(ctx, lenv);
    if (bad) return -1;
    if (n3 % 3 != 0 || n3 / 3 > 4096) {
        JS_ThrowTypeError(ctx, "wxfs: bad buffer list");
        return -1;
    }
    uint32_t n = n3 / 3;
    if (n == 0) return 0;
    wxfs_slice *s = calloc(n, sizeof *s);
    if (!s) {
        JS_ThrowOutOfMemory(ctx);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        JSValue ab = JS_GetPropertyUint32(ctx, flat, 3 * i);
        JSValue offv = JS_GetPropertyUint32(ctx, flat, 3 * i + 1);
        JSValue lenv2 = JS_GetPropertyUint32(ctx, flat, 3 * i + 2);
        size_t size = 0;
        uint8_t *p = JS_GetArrayBuffer(ctx, &size, ab);
        int64_t off = -1, len = -1;
        int err = !p; /* not an ArrayBuffer, or a detached one: an exception is pending */
        if (!err) err = JS_ToInt64(ctx, &off, offv) || JS_ToInt64(ctx, &len, lenv2);
        JS_FreeValue(ctx, ab);
        JS_FreeValue(ctx, offv);
        JS_FreeValue(ctx, lenv2);
        if (!err && (off < 0 || len < 0 || (uint64_t)off > size || (uint64_t)len > size - (uint64_t)off)) {
            JS_ThrowRangeError(ctx, "wxfs: a buffer's view lies outside its ArrayBuffer");
            err = 1;
        }
        if (err) {
            free(s);
            return -1;
        }
        s[i].data = p ? p + off : NULL;
        s[i].len = (size_t)len;
    }
    *out = s;
    return n;
}

#if WXFS_QJS_AB_REALLOC
static void *release_buffer(JSRuntime *rt, void *opaque, void *ptr, size_t size) {
    (void)rt;
    if (size != 0) return NULL; /* the library's memory cannot grow or shrink in place */
    wxfs_bytes b = {(uint8_t *)ptr, (size_t)(uintptr_t)opaque};
    wxfs_bytes_free(b);
    return NULL;
}
#else
static void release_buffer(JSRuntime *rt, void *opaque, void *ptr) {
    (void)rt;
    wxfs_bytes b = {(uint8_t *)ptr, (size_t)(uintptr_t)opaque};
    wxfs_bytes_free(b);
}
#endif

/* An ArrayBuffer over a result buffer taken out of `r` (no copy): the library's memory is
 * released by the engine when the ArrayBuffer is collected. */
static JSValue take_buffer(JSContext *ctx, wxfs_result *r, size_t i) {
    wxfs_bytes b = r->buffers[i];
    static const uint8_t empty[1] = {0};
    if (b.len == 0 || !b.data) return JS_NewArrayBufferCopy(ctx, empty, 0);
    r->buffers[i].data = NULL;
    r->buffers[i].len = 0;
#if WXFS_QJS_AB_REALLOC
    JSValue ab = JS_NewArrayBuffer(ctx, b.data, b.len, 0, release_buffer, (void *)(uintptr_t)b.len, 0);
#else
    JSValue ab = JS_NewArrayBuffer(ctx, b.data, b.len, release_buffer, (void *)(uintptr_t)b.len, 0);
#endif
    /* On failure the engine did not take the memory. */
    if (JS_IsException(ab)) wxfs_bytes_free(b);
    return ab;
}

/* A result as bindings/js's invokeBinary returns it: the JSON text, or [json, ...ArrayBuffer]. */
static JSValue result_value(JSContext *ctx, wxfs_result *r) {
    JSValue json = JS_NewStringLen(ctx, r->json.data ? (const char *)r->json.data : "", r->json.len);
    if (JS_IsException(json) || r->buffers_len == 0) return json;
    JSValue arr = JS_NewArray(ctx);
    if (JS_IsException(arr)) {
        JS_FreeValue(ctx, json);
        return arr;
    }
    if (JS_SetPropertyUint32(ctx, arr, 0, json) < 0) goto fail;
    for (size_t i = 0; i < r->buffers_len; i++) {
        JSValue ab = take_buffer(ctx, r, i);
        if (JS_IsException(ab) || JS_SetPropertyUint32(ctx, arr, (uint32_t)(i + 1), ab) < 0) goto fail;
    }
    return arr;
fail:
    JS_FreeValue(ctx, arr);
    return JS_EXCEPTION;
}

/* ---- the natives the prelude hands bindings/js ---------------------------------------------- */

/* invoke(sandbox, api, json, flat?) -> json | [json, ...ArrayBuffer] */
static JSValue js_invoke(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    if (argc < 3) return JS_ThrowTypeError(ctx, "wxfs: invoke(sandbox, api, json, buffers)");
    uint64_t sb;
    struct strs s = {{0}, {0}, 0};
    if (to_handle(ctx, argv[0], &sb) < 0 || get_str(ctx, &s, argv[1]) < 0 || get_str(ctx, &s, argv[2]) < 0) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    wxfs_slice *slices = NULL;
    int64_t n = get_slices(ctx, argc > 3 ? argv[3] : JS_UNDEFINED, &slices);
    if (n < 0) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    wxfs_result r = {{NULL, 0}, NULL, 0};
    wxfs_invoke_v2(sb, s.p[0], s.len[0], s.p[1], s.len[1], slices, (size_t)n, &r);
    free(slices);
    free_strs(ctx, &s);
    JSValue v = result_value(ctx, &r);
    wxfs_result_free(r);
    return v;
}

static void keep_error(struct wxfs_qjs *q, JSValue e) {
    if (q->has_error) {
        JS_FreeValue(q->ctx, e);
    } else {
        q->error = e;
        q->has_error = 1;
    }
}

/* Runs on the thread draining the queue: the host's JS thread. */
static void on_done(void *userdata, int32_t code, wxfs_result *r) {
    (void)code; /* the result's JSON says it all (errMsg, errCode) */
    struct call *c = userdata;
    struct wxfs_qjs *q = c->q;
    JSContext *ctx = q->ctx;
    c->prev->next = c->next;
    c->next->prev = c->prev;
    q->pending--;
    JSValue res = result_value(ctx, r);
    if (JS_IsException(res)) {
        keep_error(q, JS_GetException(ctx));
    } else {
        JSValue json, bufs = JS_UNDEFINED;
        if (JS_IsString(res)) {
            json = res;
        } else {
            /* [json, ...buffers] -> done(json, buffers) */
            json = JS_GetPropertyUint32(ctx, res, 0);
            JSValue slice = JS_GetPropertyStr(ctx, res, "slice");
            JSValue one = JS_NewInt32(ctx, 1);
            bufs = JS_Call(ctx, slice, res, 1, &one);
            JS_FreeValue(ctx, slice);
            JS_FreeValue(ctx, res);
        }
        if (JS_IsException(json) || JS_IsException(bufs)) {
            keep_error(q, JS_GetException(ctx));
        } else {
            JSValue args[2] = {json, bufs};
            JSValue ret = JS_Call(ctx, c->done, JS_UNDEFINED, 2, args);
            if (JS_IsException(ret)) keep_error(q, JS_GetException(ctx));
            JS_FreeValue(ctx, ret);
        }
        JS_FreeValue(ctx, json);
        JS_FreeValue(ctx, bufs);
    }
    JS_FreeValue(ctx, c->done);
    free(c);
}

/* invokeAsync(sandbox, api, json, flat?, done(json, buffers?)) -> 0, or the code refusing it */
static JSValue js_invoke_async(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    struct wxfs_qjs *q = glue_of(ctx, data);
    if (!q) return JS_EXCEPTION;
    if (argc < 5 || !JS_IsFunction(ctx, argv[4])) return JS_ThrowTypeError(ctx, "wxfs: invokeAsync(sandbox, api, json, buffers, done)");
    uint64_t sb;
    struct strs s = {{0}, {0}, 0};
    if (to_handle(ctx, argv[0], &sb) < 0 || get_str(ctx, &s, argv[1]) < 0 || get_str(ctx, &s, argv[2]) < 0) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    wxfs_slice *slices = NULL;
    int64_t n = get_slices(ctx, argv[3], &slices);
    struct call *c = n < 0 ? NULL : malloc(sizeof *c);
    if (n >= 0 && !c) JS_ThrowOutOfMemory(ctx);
    if (!c) {
        free(slices);
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    c->q = q;
    c->done = JS_DupValue(ctx, argv[4]);
    /* Linked before the call: a drain on this thread is the only thing that unlinks it. */
    c->next = q->calls.next;
    c->prev = &q->calls;
    q->calls.next->prev = c;
    q->calls.next = c;
    q->pending++;
    int32_t rc = wxfs_invoke_async_queued(sb, q->queue, s.p[0], s.len[0], s.p[1], s.len[1], slices, (size_t)n, on_done, c);
    free(slices);
    free_strs(ctx, &s);
    if (rc != 0) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        q->pending--;
        JS_FreeValue(ctx, c->done);
        free(c);
    }
    return JS_NewInt32(ctx, rc);
}

/* storageSet(sandbox, key, json, dataType?) -> code */
static JSValue js_storage_set(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    if (argc < 3) return JS_ThrowTypeError(ctx, "wxfs: storageSet(sandbox, key, json, dataType)");
    uint64_t sb;
    struct strs s = {{0}, {0}, 0};
    int typed = argc > 3 && !JS_IsUndefined(argv[3]) && !JS_IsNull(argv[3]);
    if (to_handle(ctx, argv[0], &sb) < 0 || get_str(ctx, &s, argv[1]) < 0 || get_str(ctx, &s, argv[2]) < 0 ||
        (typed && get_str(ctx, &s, argv[3]) < 0)) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    int32_t rc = wxfs_storage_set(sb, s.p[0], s.len[0], s.p[1], s.len[1], typed ? s.p[2] : NULL, typed ? s.len[2] : 0);
    free_strs(ctx, &s);
    return JS_NewInt32(ctx, rc);
}

/* storageGet(sandbox, key) -> json | [json, dataType] | code */
static JSValue js_storage_get(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    if (argc < 2) return JS_ThrowTypeError(ctx, "wxfs: storageGet(sandbox, key)");
    uint64_t sb;
    struct strs s = {{0}, {0}, 0};
    if (to_handle(ctx, argv[0], &sb) < 0 || get_str(ctx, &s, argv[1]) < 0) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    wxfs_bytes json = {NULL, 0}, type = {NULL, 0};
    int32_t rc = wxfs_storage_get(sb, s.p[0], s.len[0], &json, &type);
    free_strs(ctx, &s);
    JSValue v;
    if (rc != 0) {
        v = JS_NewInt32(ctx, rc);
    } else {
        v = JS_NewStringLen(ctx, (const char *)json.data, json.len);
        if (type.data && !JS_IsException(v)) {
            JSValue arr = JS_NewArray(ctx);
            JSValue t = JS_NewStringLen(ctx, (const char *)type.data, type.len);
            if (JS_IsException(arr) || JS_IsException(t)) {
                JS_FreeValue(ctx, arr);
                JS_FreeValue(ctx, t);
                JS_FreeValue(ctx, v);
                v = JS_EXCEPTION;
            } else {
                JS_SetPropertyUint32(ctx, arr, 0, v);
                JS_SetPropertyUint32(ctx, arr, 1, t);
                v = arr;
            }
        }
    }
    wxfs_bytes_free(json);
    wxfs_bytes_free(type);
    return v;
}

/* The host's memory for wxfs_read_file_alloc: malloc'd, then owned by the ArrayBuffer over it. */
static uint8_t *read_alloc(void *userdata, size_t len) {
    uint8_t **mem = userdata;
    *mem = malloc(len);
    return *mem;
}

#if WXFS_QJS_AB_REALLOC
static void *free_read(JSRuntime *rt, void *opaque, void *ptr, size_t size) {
    (void)rt; (void)opaque;
    if (size != 0) return NULL; /* never resized in place */
    free(ptr);
    return NULL;
}
#else
static void free_read(JSRuntime *rt, void *opaque, void *ptr) {
    (void)rt; (void)opaque;
    free(ptr);
}
#endif

/* readFile(sandbox, path) -> ArrayBuffer | code: the whole file read straight into the memory
 * of the ArrayBuffer returned (wxfs_read_file_alloc), with no copy after the read. */
static JSValue js_read_file(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    if (argc < 2) return JS_ThrowTypeError(ctx, "wxfs: readFile(sandbox, path)");
    uint64_t sb;
    struct strs s = {{0}, {0}, 0};
    if (to_handle(ctx, argv[0], &sb) < 0 || get_str(ctx, &s, argv[1]) < 0) {
        free_strs(ctx, &s);
        return JS_EXCEPTION;
    }
    uint8_t *mem = NULL;
    size_t n = 0;
    int32_t rc = wxfs_read_file_alloc(sb, s.p[0], s.len[0], read_alloc, &mem, &n);
    free_strs(ctx, &s);
    if (rc != 0) {
        free(mem); /* still the host's after a failure */
        return JS_NewInt32(ctx, rc);
    }
    static const uint8_t empty[1] = {0};
    if (mem == NULL) return JS_NewArrayBufferCopy(ctx, empty, 0); /* an empty file: nothing allocated */
#if WXFS_QJS_AB_REALLOC
    JSValue ab = JS_NewArrayBuffer(ctx, mem, n, 0, free_read, NULL, 0);
#else
    JSValue ab = JS_NewArrayBuffer(ctx, mem, n, free_read, NULL, 0);
#endif
    if (JS_IsException(ab)) free(mem); /* the engine did not take it */
    return ab;
}

/* apiList(sandbox) -> json */
static JSValue js_api_list(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    uint64_t sb = 0;
    if (argc > 0 && to_handle(ctx, argv[0], &sb) < 0) return JS_EXCEPTION;
    wxfs_bytes json = {NULL, 0};
    int32_t rc = wxfs_api_list(sb, &json);
    if (rc != 0) return JS_ThrowTypeError(ctx, "wxfs: api list: %s", wxfs_status_str(rc));
    JSValue v = JS_NewStringLen(ctx, (const char *)json.data, json.len);
    wxfs_bytes_free(json);
    return v;
}

/* lastError() -> this thread's last error message */
static JSValue js_last_error(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)argc; (void)argv; (void)magic;
    if (!glue_of(ctx, data)) return JS_EXCEPTION;
    char buf[1024];
    size_t len = 0;
    if (wxfs_last_error_message(buf, sizeof buf, &len) != 0) {
        len = sizeof buf - 1;
        buf[len] = 0;
    }
    return JS_NewStringLen(ctx, buf, strlen(buf));
}

/* report(e): an exception a user callback threw; wxfs_qjs_drain returns it as uncaught. */
static JSValue js_report(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    struct wxfs_qjs *q = glue_of(ctx, data);
    if (!q) return JS_EXCEPTION;
    keep_error(q, JS_DupValue(ctx, argc > 0 ? argv[0] : JS_UNDEFINED));
    return JS_UNDEFINED;
}

static int valid_name(const char *n, size_t len) {
    /* bindings/js file names: lower-case words and one directory level ("dialects/wechat") */
    if (len == 0 || len > 64 || n[0] == '/') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-')) return 0;
    }
    return 1;
}

/* The CommonJS wrapper of one file, compiled under its name (stack traces name the file). */
static JSValue compile_module(JSContext *ctx, const char *name, const char *text, size_t len) {
    static const char head[] = "(function (exports, require, module) {";
    static const char tail[] = "\n})";
    char file[96];
    snprintf(file, sizeof file, "bindings/js/%s.js", name);
    char *wrapped = malloc(sizeof head + len + sizeof tail);
    if (!wrapped) return JS_ThrowOutOfMemory(ctx);
    memcpy(wrapped, head, sizeof head - 1);
    memcpy(wrapped + sizeof head - 1, text, len);
    memcpy(wrapped + sizeof head - 1 + len, tail, sizeof tail);
    JSValue f = JS_Eval(ctx, wrapped, sizeof head - 1 + len + sizeof tail - 1, file, JS_EVAL_TYPE_GLOBAL);
    free(wrapped);
    return f;
}

/* src(name) -> bindings/js/<name>.js as a function (exports, require, module), only while
 * wxfs_qjs_new loads it */
static JSValue js_src(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int magic, JSValue *data) {
    (void)this_val; (void)magic;
    struct wxfs_qjs *q = glue_of(ctx, data);
    if (!q) return JS_EXCEPTION;
    if (!q->load || argc < 1) return JS_ThrowTypeError(ctx, "wxfs: bindings/js is loaded already");
    size_t len = 0;
    const char *name = JS_ToCStringLen(ctx, &len, argv[0]);
    if (!name) return JS_EXCEPTION;
    JSValue v = JS_UNDEFINED;
    const wxfs_qjs_options *o = q->load;
    if (!valid_name(name, len)) {
        v = JS_ThrowTypeError(ctx, "wxfs: no bindings/js file named '%s'", name);
    } else if (o->sources) {
        v = JS_ThrowTypeError(ctx, "wxfs: bindings/js file '%s' is not among the sources given", name);
        for (size_t i = 0; i < o->sources_len; i++) {
            if (o->sources[i].name && strcmp(o->sources[i].name, name) == 0) {
                JS_FreeValue(ctx, v);
                v = compile_module(ctx, name, o->sources[i].text, o->sources[i].len);
                break;
            }
        }
    } else {
        const char *dir = o->js_dir ? o->js_dir : ".";
        size_t plen = strlen(dir) + len + 8;
        char *path = malloc(plen);
        FILE *f = NULL;
        if (path) {
            snprintf(path, plen, "%s/%s.js", dir, name);
            f = fopen(path, "rb");
        }
        char *text = NULL;
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && size < (1 << 24) && fseek(f, 0, SEEK_SET) == 0) {
            text = malloc((size_t)size + 1);
            if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
                free(text);
                text = NULL;
            }
        }
        if (f) fclose(f);
        if (text) {
            v = compile_module(ctx, name, text, (size_t)size);
            free(text);
        } else {
            v = JS_ThrowTypeError(ctx, "wxfs: cannot read bindings/js file %s", path ? path : name);
        }
        free(path);
    }
    JS_FreeCString(ctx, name);
    return v;
}

/* ---- the prelude ---------------------------------------------------------------------------- */

/* Loads bindings/js with a CommonJS `require` over native.src, and returns the factory. Each file
 * runs as `(function (exports, require, module) { ... })` (no eval needed in the context); names
 * resolve relative to the file asking ("./derive" from "dialects/alipay" is "dialects/derive"). */
static const char PRELUDE[] =
    "(function (native) {\n"
    "  'use strict';\n"
    "  var cache = {};\n"
    "  function resolve(from, name) {\n"
    "    var parts = from.split('/'); parts.pop();\n"
    "    name.split('/').forEach(function (p) {\n"
    "      if (p === '..') parts.pop(); else if (p !== '.' && p !== '') parts.push(p);\n"
    "    });\n"
    "    return parts.join('/').replace(/\\.js$/, '');\n"
    "  }\n"
    "  function load(id) {\n"
    "    if (cache[id]) return cache[id].exports;\n"
    "    var module = { exports: {} };\n"
    "    cache[id] = module;\n"
    "    var f = native.src(id);\n"
    "    f.call(module.exports, module.exports, function (n) { return load(resolve(id, n)); }, module);\n"
    "    return module.exports;\n"
    "  }\n"
    "  var js = load('index');\n"
    "  function flat(buffers) {\n"
    "    if (!buffers || buffers.length === 0) return undefined;\n"
    "    var out = [];\n"
    "    for (var i = 0; i < buffers.length; i++) {\n"
    "      var b = buffers[i];\n"
    "      if (ArrayBuffer.isView(b)) out.push(b.buffer, b.byteOffset, b.byteLength);\n"
    "      else out.push(b, 0, b.byteLength);\n"
    "    }\n"
    "    return out;\n"
    "  }\n"
    "  var defer = function (f) { Promise.resolve().then(f); };\n"
    "  return function make(sandbox, optionsJson) {\n"
    "    var o = optionsJson ? JSON.parse(optionsJson) : {};\n"
    "    var platform = o.platform || 'wechat';\n"
    "    var dialect = js.dialects[platform];\n"
    "    if (!dialect) throw new TypeError('wxfs: unknown platform ' + JSON.stringify(platform));\n"
    "    var host = {\n"
    "      invokeBinary: function (api, json, buffers) { return native.invoke(sandbox, api, json, flat(buffers)); },\n"
    "      invokeBinaryAsync: function (api, json, buffers, done) {\n"
    "        var rc = native.invokeAsync(sandbox, api, json, flat(buffers), done);\n"
    "        if (rc !== 0) {\n"
    "          var m = native.lastError();\n"
    "          done(JSON.stringify(dialect.failure ? dialect.failure(api, m, rc) : { errMsg: api + ':fail ' + m, errCode: rc }));\n"
    "        }\n"
    "      },\n"
    "      storageSet: function (key, json, dataType) { return native.storageSet(sandbox, key, json, dataType); },\n"
    "      storageGet: function (key) { return native.storageGet(sandbox, key); },\n"
    "      readFile: function (path) { return native.readFile(sandbox, path); },\n"
    "      apis: native.apiList(sandbox),\n"
    "      protocol: o.protocol,\n"
    "      defer: defer,\n"
    "      reportError: native.report,\n"
    "    };\n"
    "    var api = js.createApi(host, dialect);\n"
    "    Object.defineProperty(api, '__wxfsName', { value: dialect.name });\n"
    "    return api;\n"
    "  };\n"
    "})";

struct native_def {
    const char *name;
    JSCFunctionData *fn;
    int length;
};

static const struct native_def NATIVES[] = {
    {"invoke", js_invoke, 4},          {"invokeAsync", js_invoke_async, 5}, {"storageSet", js_storage_set, 4},
    {"storageGet", js_storage_get, 2}, {"apiList", js_api_list, 1},         {"lastError", js_last_error, 0},
    {"report", js_report, 1},          {"src", js_src, 1},                  {"readFile", js_read_file, 2},
};

wxfs_qjs *wxfs_qjs_new(JSContext *ctx, const wxfs_qjs_options *opts) {
    static const wxfs_qjs_options none = {NULL, NULL, 0};
    struct wxfs_qjs *q = calloc(1, sizeof *q);
    if (!q) {
        JS_ThrowOutOfMemory(ctx);
        return NULL;
    }
    q->ctx = ctx;
    q->calls.next = q->calls.prev = &q->calls;
    q->rejected_tail = &q->rejected;
    q->make = JS_UNDEFINED;
    q->error = JS_UNDEFINED;
    q->id = table_add(q);
    if (q->id < 0) {
        free(q);
        JS_ThrowOutOfMemory(ctx);
        return NULL;
    }
    int32_t fd = -1;
    if (wxfs_queue_create(&q->queue) != 0 || wxfs_queue_fd(q->queue, &fd) != 0) {
        JS_ThrowInternalError(ctx, "wxfs: no completion queue: %s", wxfs_status_str(WXFS_E_IO));
        if (q->queue) wxfs_queue_close(q->queue);
        table_remove(q->id);
        free(q);
        return NULL;
    }
    q->fd = fd;
    q->load = opts ? opts : &none;
    JSValue native = JS_NewObject(ctx);
    JSValue id = JS_NewInt32(ctx, q->id);
    int failed = JS_IsException(native);
    for (size_t i = 0; !failed && i < sizeof NATIVES / sizeof NATIVES[0]; i++) {
        JSValue f = JS_NewCFunctionData(ctx, NATIVES[i].fn, NATIVES[i].length, 0, 1, &id);
        failed = JS_IsException(f) || JS_SetPropertyStr(ctx, native, NATIVES[i].name, f) < 0;
    }
    JSValue prelude = failed ? JS_EXCEPTION : JS_Eval(ctx, PRELUDE, sizeof PRELUDE - 1, "<wxfs-quickjs>", JS_EVAL_TYPE_GLOBAL);
    if (!JS_IsException(prelude)) {
        q->make = JS_Call(ctx, prelude, JS_UNDEFINED, 1, &native);
        JS_FreeValue(ctx, prelude);
    }
    JS_FreeValue(ctx, native);
    q->load = NULL;
    if (failed || JS_IsException(q->make)) {
        q->make = JS_UNDEFINED;
        wxfs_qjs_free(q);
        return NULL;
    }
    return q;
}

JSValue wxfs_qjs_api(wxfs_qjs *q, uint64_t sandbox, const char *options_json) {
    JSContext *ctx = q->ctx;
    if (sandbox >= ((uint64_t)1 << 53)) return JS_ThrowRangeError(ctx, "wxfs: sandbox handle not exact in a double");
    JSValue args[2] = {JS_NewFloat64(ctx, (double)sandbox), options_json ? JS_NewString(ctx, options_json) : JS_UNDEFINED};
    if (JS_IsException(args[1])) return JS_EXCEPTION;
    JSValue api = JS_Call(ctx, q->make, JS_UNDEFINED, 2, args);
    JS_FreeValue(ctx, args[1]);
    return api;
}

int wxfs_qjs_install_global(wxfs_qjs *q, uint64_t sandbox, const char *options_json) {
    JSContext *ctx = q->ctx;
    JSValue api = wxfs_qjs_api(q, sandbox, options_json);
    if (JS_IsException(api)) return -1;
    JSValue name = JS_GetPropertyStr(ctx, api, "__wxfsName");
    const char *n = JS_IsException(name) ? NULL : JS_ToCString(ctx, name);
    JS_FreeValue(ctx, name);
    if (!n) {
        JS_FreeValue(ctx, api);
        return -1;
    }
    JSValue global = JS_GetGlobalObject(ctx);
    int rc = JS_SetPropertyStr(ctx, global, n, api) < 0 ? -1 : 0;
    JS_FreeValue(ctx, global);
    JS_FreeCString(ctx, n);
    return rc;
}

wxfs_qjs *wxfs_qjs_install(JSContext *ctx, uint64_t sandbox, const char *options_json, const wxfs_qjs_options *opts) {
    wxfs_qjs *q = wxfs_qjs_new(ctx, opts);
    if (q && wxfs_qjs_install_global(q, sandbox, options_json) < 0) {
        /* keep the exception pending across the release */
        JSValue e = JS_GetException(ctx);
        wxfs_qjs_free(q);
        JS_Throw(ctx, e);
        return NULL;
    }
    return q;
}

int wxfs_qjs_fd(const wxfs_qjs *q) { return q->fd; }

size_t wxfs_qjs_pending(const wxfs_qjs *q) { return q->pending; }

int wxfs_qjs_busy(const wxfs_qjs *q) {
    return q->pending > 0 || JS_IsJobPending(JS_GetRuntime(q->ctx)) || q->has_error || q->rejected != NULL;
}

/* QuickJS's tracker: called when a promise is rejected with no handler (is_handled false) and when
 * one is added to such a promise later (true). Only this glue's context is tracked. */
static void track_rejection(JSContext *ctx, JSValueConst promise, JSValueConst reason, tracker_bool is_handled,
                            void *opaque) {
    struct wxfs_qjs *q = opaque;
    if (ctx != q->ctx) return;
    if (!is_handled) {
        struct rejection *r = malloc(sizeof *r);
        if (!r) return; /* out of memory: this one goes unreported */
        r->promise = JS_DupValue(ctx, promise);
        r->reason = JS_DupValue(ctx, reason);
        r->next = NULL;
        *q->rejected_tail = r;
        q->rejected_tail = &r->next;
        return;
    }
    for (struct rejection **at = &q->rejected; *at; at = &(*at)->next) {
        struct rejection *r = *at;
        if (JS_VALUE_GET_PTR(r->promise) != JS_VALUE_GET_PTR(promise)) continue;
        *at = r->next;
        if (q->rejected_tail == &r->next) q->rejected_tail = at;
        JS_FreeValue(ctx, r->promise);
        JS_FreeValue(ctx, r->reason);
        free(r);
        return;
    }
}

/* Hand the rejections still unhandled to the host's hook (the job queue is empty: nothing can
 * handle them in this turn any more), and forget them. Those the hook's own calls cause (a
 * reason whose toString rejects) wait for the next drain. */
static void report_rejections(struct wxfs_qjs *q) {
    struct rejection *list = q->rejected;
    q->rejected = NULL;
    q->rejected_tail = &q->rejected;
    while (list) {
        struct rejection *r = list;
        list = r->next;
        if (q->rejection) q->rejection(q->rejection_data, q->ctx, r->reason);
        JS_FreeValue(q->ctx, r->promise);
        JS_FreeValue(q->ctx, r->reason);
        free(r);
    }
}

void wxfs_qjs_set_rejection_hook(wxfs_qjs *q, wxfs_qjs_rejection_fn fn, void *userdata) {
    if (!q) return;
    q->rejection = fn;
    q->rejection_data = userdata;
    JS_SetHostPromiseRejectionTracker(JS_GetRuntime(q->ctx), fn ? track_rejection : NULL, fn ? q : NULL);
    if (!fn) report_rejections(q); /* frees what was tracked; nothing is reported */
}

/* Hand the kept exception to the host: pending in the context, -1. */
static int raise_kept(struct wxfs_qjs *q) {
    JS_Throw(q->ctx, q->error);
    q->error = JS_UNDEFINED;
    q->has_error = 0;
    return -1;
}

int wxfs_qjs_drain(wxfs_qjs *q) {
    JSContext *ctx = q->ctx;
    JSRuntime *rt = JS_GetRuntime(ctx);
    if (q->has_error) return raise_kept(q);
    wxfs_queue_drain(q->queue, 0, NULL);
    if (q->has_error) return raise_kept(q);
    for (;;) {
        JSContext *job_ctx = NULL;
        int r = JS_ExecutePendingJob(rt, &job_ctx);
        if (r < 0) {
            /* A job of another context of this runtime threw: move its exception here. */
            if (job_ctx && job_ctx != ctx) JS_Throw(ctx, JS_GetException(job_ctx));
            return -1;
        }
        if (q->has_error) return raise_kept(q);
        if (r == 0) {
            report_rejections(q);
            return 0;
        }
    }
}

void wxfs_qjs_free(wxfs_qjs *q) {
    if (!q) return;
    JSContext *ctx = q->ctx;
    /* Closing frees the results waiting and those of calls still running; their callbacks never
     * run, so the calls' JS functions are released here. */
    if (q->queue) wxfs_queue_close(q->queue);
    for (struct call *c = q->calls.next, *next; c != &q->calls; c = next) {
        next = c->next;
        JS_FreeValue(ctx, c->done);
        free(c);
    }
    JS_FreeValue(ctx, q->make);
    if (q->has_error) JS_FreeValue(ctx, q->error);
    if (q->rejection) wxfs_qjs_set_rejection_hook(q, NULL, NULL);
    table_remove(q->id);
    free(q);
}
