/*
 * wxfs for JavaScriptCore (see wxfs_jsc.h). JavaScriptCore's C API and the C standard library
 * only, so that the file compiles unchanged for iOS.
 *
 * Rules the code keeps:
 * - JavaScript never runs while the glue holds a pointer into an ArrayBuffer: every value that
 *   can run JavaScript to be read (strings, the buffer list's length and elements) is read first,
 *   then the pointers are taken, then the library is called. A buffer a getter detached meanwhile
 *   is passed as what it is then (empty), never as memory it no longer owns.
 * - Values the glue keeps beyond one native call (the dispatcher, the native object, queued
 *   tasks, a pending exception, buffer list elements while pointers are taken) are protected
 *   with JSValueProtect, since JavaScriptCore's collector scans the stack but not the C heap.
 * - The library calls back only inside wxfs_queue_drain, on the thread that drains: no lock.
 */
#include "wxfs_jsc.h"

#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wxfs.h"

/* Bounds on what JavaScript may ask of the glue (bounded resources). */
#define MAX_BUFFERS 65536u
#define MAX_SOURCE_BYTES (4u << 20)

/* One async call in flight: its id in the JavaScript dispatcher's table. */
struct call {
    wxfs_jsc *glue;
    double id;
    struct call *prev, *next;
};

/* The class of the native objects (one per glue), whose private data is their glue: made once. */
static JSClassRef native_class;
static pthread_once_t native_class_once = PTHREAD_ONCE_INIT;

static void native_class_make(void) {
    JSClassDefinition def = kJSClassDefinitionEmpty;
    def.className = "WxfsNative";
    native_class = JSClassCreate(&def);
}

/* Storage keys converted to UTF-8 before (key_of): sets of two slots each, and the longest key a
   slot holds. */
#define KEY_SETS 256
#define KEY_SLOT_BYTES 64

/* The longest value JSON (in UTF-8 bytes) whose string a slot keeps for the next get. */
#define KEPT_VALUE_BYTES 1024

struct key_slot {
    JSValueRef held; /* protected: a string whose UTF-8 is `text`, or NULL */
    size_t len;
    char text[KEY_SLOT_BYTES + 1];
    /* The last get of this key: the string made of its JSON (protected, or NULL), the sandbox
       and the value's stamp (wxfs_storage_get_stamped). */
    JSValueRef value;
    uint64_t sandbox;
    wxfs_storage_stamp stamp;
};

struct key_set {
    struct key_slot way[2];
    JSValueRef seen[2]; /* not protected, never read: the last two strings that missed here */
    unsigned older;     /* the way to replace next */
    unsigned next_seen; /* the entry of `seen` to replace next */
};

struct wxfs_jsc {
    JSGlobalContextRef ctx;
    JSObjectRef native;   /* protected */
    JSObjectRef dispatch; /* protected: dispatch(id, json, buffers) */
    JSObjectRef create;   /* protected: create(handle, platform, protocol) -> {name, api} */
    char *js_dir;
    uint64_t queue;
    int fd;
    size_t calls;        /* async calls whose callback has not run */
    struct call *inflight; /* their records, freed at wxfs_jsc_free if never called back */
    JSObjectRef *tasks;  /* protected, FIFO in [head, tail) */
    size_t head, tail, cap;
    JSValueRef drain_exception; /* protected while set */
    struct glue_ref *ref; /* what the sandboxes' own functions reach the glue through */
    wxfs_jsc_rejection_fn rejection; /* the host's hook for unhandled rejections, or NULL */
    void *rejection_data;
    struct key_set keys[KEY_SETS];
    JSValueRef zero;      /* protected: the number 0, what every set that succeeded answers */
    JSValueRef undefined; /* protected: undefined, compared with a dataType argument */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static JSValueRef make_string(JSContextRef ctx, const char *text) {
    JSStringRef s = JSStringCreateWithUTF8CString(text);
    JSValueRef v = JSValueMakeString(ctx, s);
    JSStringRelease(s);
    return v;
}

/* A string from library bytes, as JSStringCreateWithUTF8CString makes it: up to the first NUL. */
static JSValueRef bytes_string_slow(JSContextRef ctx, const wxfs_bytes *b) {
    if (b->data[b->len] == 0) return make_string(ctx, (const char *)b->data);
    char *copy = malloc(b->len + 1);
    if (copy == NULL) return NULL;
    memcpy(copy, b->data, b->len);
    copy[b->len] = 0;
    JSValueRef v = make_string(ctx, copy);
    free(copy);
    return v;
}

/* UTF-16 units decoded on the stack; longer texts take a malloc'd buffer. */
#define STACK_UNITS 512

/*
 * A string from library bytes (UTF-8; text results carry a NUL at data[len]). Decoded here to
 * UTF-16 for JSStringCreateWithCharacters: JSStringCreateWithUTF8CString decodes through a
 * function call per byte, which was a third of a getStorageSync's glue time (perf: 16% of the
 * samples of N.storageGet in WTF::Unicode::convert alone). Bytes it alone decides the meaning
 * of (not well-formed UTF-8, or a NUL, where it stops) go to it, so the string is the same
 * either way.
 */
static JSValueRef bytes_string(JSContextRef ctx, const wxfs_bytes *b) {
    if (b->data == NULL || b->len == 0) return make_string(ctx, "");
    JSChar stack[STACK_UNITS];
    JSChar *u = b->len <= STACK_UNITS ? stack : malloc(b->len * sizeof *u);
    if (u == NULL) return NULL;
    const uint8_t *p = b->data, *end = b->data + b->len;
    size_t k = 0;
    int ok = 1;
    while (p < end) {
        /* Eight ASCII bytes at a time, none of them NUL (the common case: JSON text). */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            /* Per byte, the top bit of ((low 7 bits) + 0x7f) & ~byte: set for 0x01..0x7f alone. */
            if ((((w & 0x7f7f7f7f7f7f7f7full) + 0x7f7f7f7f7f7f7f7full) & ~w & 0x8080808080808080ull) !=
                0x8080808080808080ull)
                break; /* a byte >= 0x80, or a NUL: decoded one by one below */
            /* From the word already loaded (little or big endian: memcpy kept the byte order). */
            uint8_t bytes[8];
            memcpy(bytes, &w, 8);
            JSChar *out = u + k;
            for (int i = 0; i < 8; i++) out[i] = bytes[i];
            k += 8;
            p += 8;
        }
        if (p == end) break;
        uint32_t c = *p;
        if (c - 1 < 0x7f) { /* ASCII but NUL */
            u[k++] = (JSChar)c;
            p++;
            continue;
        }
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (n == 0 || (size_t)(end - p) < n) {
            ok = 0;
            break;
        }
        c &= 0x3f >> (n - 1);
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                ok = 0;
                break;
            }
            c = (c << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if (!ok || (n == 3 && (c < 0x800 || (c >= 0xd800 && c < 0xe000))) || (n == 4 && (c < 0x10000 || c > 0x10ffff))) {
            ok = 0;
            break;
        }
        if (c >= 0x10000) { /* 4 bytes in, 2 units out: within the one unit a byte is given */
            u[k++] = (JSChar)(0xd800 + ((c - 0x10000) >> 10));
            u[k++] = (JSChar)(0xdc00 + ((c - 0x10000) & 0x3ff));
        } else {
            u[k++] = (JSChar)c;
        }
        p += n;
    }
    JSValueRef v;
    if (ok) {
        JSStringRef s = JSStringCreateWithCharacters(u, k);
        v = JSValueMakeString(ctx, s);
        JSStringRelease(s);
    } else {
        v = bytes_string_slow(ctx, b);
    }
    if (u != stack) free(u);
    return v;
}

/* Throw `new <ctor>(message)` (ctor "Error" or "TypeError") into *exception. */
static void throw_error(JSContextRef ctx, JSValueRef *exception, const char *ctor, const char *message) {
    if (exception == NULL) return;
    JSValueRef msg = make_string(ctx, message);
    JSStringRef name = JSStringCreateWithUTF8CString(ctor);
    JSValueRef c = JSObjectGetProperty(ctx, JSContextGetGlobalObject(ctx), name, NULL);
    JSStringRelease(name);
    JSValueRef e = NULL;
    JSObjectRef err = NULL;
    if (c != NULL && JSValueIsObject(ctx, c) && JSObjectIsConstructor(ctx, (JSObjectRef)c)) {
        err = JSObjectCallAsConstructor(ctx, (JSObjectRef)c, 1, &msg, &e);
    }
    if (err == NULL) err = JSObjectMakeError(ctx, 1, &msg, &e);
    *exception = err != NULL ? (JSValueRef)err : msg;
}

/* UTF-8 bytes converted on the stack by the hot calls (a storage key, a small value's JSON). */
#define STACK_TEXT 1024

/* Free what utf8_of returned with `stack` as its stack buffer. */
static void text_free(char *text, const char *stack) {
    if (text != stack) free(text);
}

/*
 * `v` as UTF-8, NUL-terminated, length in *len: in `stack` (`cap` bytes; NULL, 0 for none) when
 * it fits, else malloc'd (free it with text_free). NULL with *exception set on failure.
 * Converted here from the string's UTF-16, not with JSStringGetUTF8CString, which stops at a
 * lone surrogate ('a\ud800b' would have become the key "a") and costs more: a lone surrogate
 * becomes U+FFFD, as Node-API's UTF-8 (bindings/node) makes it, so a key means the same in
 * either engine.
 */
static char *utf8_of(JSContextRef ctx, JSValueRef v, size_t *len, JSValueRef *exception, char *stack, size_t cap) {
    JSStringRef s = JSValueToStringCopy(ctx, v, exception);
    if (s == NULL) return NULL;
    size_t n = JSStringGetLength(s);
    const JSChar *u = JSStringGetCharactersPtr(s);
    size_t max = n <= (SIZE_MAX - 1) / 3 ? n * 3 + 1 : 0;
    char *buf = max != 0 && max <= cap ? stack : max != 0 ? malloc(max) : NULL;
    if (buf == NULL) {
        JSStringRelease(s);
        throw_error(ctx, exception, "Error", "wxfs: out of memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* Four ASCII units at a time (keys and JSON text are mostly ASCII). */
        while (n - i >= 4) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if ((w & 0xff80ff80ff80ff80ull) != 0) break;
            buf[k] = (char)u[i];
            buf[k + 1] = (char)u[i + 1];
            buf[k + 2] = (char)u[i + 2];
            buf[k + 3] = (char)u[i + 3];
            k += 4;
            i += 4;
        }
        if (i == n) break;
        uint32_t c = u[i];
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (uint32_t)(u[++i] - 0xdc00);
        } else if (c >= 0xd800 && c < 0xe000) {
            c = 0xfffd;
        }
        if (c < 0x80) {
            buf[k++] = (char)c;
        } else if (c < 0x800) {
            buf[k++] = (char)(0xc0 | (c >> 6));
            buf[k++] = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            buf[k++] = (char)(0xe0 | (c >> 12));
            buf[k++] = (char)(0x80 | ((c >> 6) & 0x3f));
            buf[k++] = (char)(0x80 | (c & 0x3f));
        } else { /* a pair: 4 bytes for 2 UTF-16 units, within the 3 per unit allowed */
            buf[k++] = (char)(0xf0 | (c >> 18));
            buf[k++] = (char)(0x80 | ((c >> 12) & 0x3f));
            buf[k++] = (char)(0x80 | ((c >> 6) & 0x3f));
            buf[k++] = (char)(0x80 | (c & 0x3f));
        }
    }
    JSStringRelease(s);
    buf[k] = 0;
    *len = k;
    return buf;
}

/* Lets go of the value string a slot keeps, and of its stamp. */
static void value_forget(JSContextRef ctx, struct key_slot *slot) {
    if (slot->value != NULL) JSValueUnprotect(ctx, slot->value);
    slot->value = NULL;
    memset(&slot->stamp, 0, sizeof slot->stamp);
}

/*
 * A storage key as UTF-8, as utf8_of gives it (in `stack` or malloc'd; free with text_free), from
 * the glue's cache when `v` is a string it kept. A mini-program's keys are mostly the same few
 * strings (literals, or a keys array), each the same JavaScriptCore string every call, so a key
 * is kept (256 sets of 2 slots, by address) in a free slot, or over a kept one when it was among
 * the last two keys that missed in its set: the string protected (so that, while kept, no other
 * string can be at its address: strings never change) beside its UTF-8. A hit costs two pointer
 * comparisons and a copy where a conversion cost JSValueToStringCopy, a widening of a Latin-1
 * string and the encoding (about 1,600 instructions of a get, callgrind). Keys made anew each call
 * (`'item' + i`) fill the free slots once and then are never kept, so they cost what they did.
 * `seen` is only compared, never read through, so it need not be protected. `*kept` receives the
 * key's slot when it is kept (call_storage_get keeps the value's string there too).
 */
static char *key_of(JSContextRef ctx, wxfs_jsc *g, JSValueRef v, size_t *len, JSValueRef *exception, char *stack,
                    size_t cap, struct key_slot **kept) {
    *kept = NULL;
    /* The top byte of the address times 2^64 / phi: cells 16 bytes apart land far apart. */
    struct key_set *set = &g->keys[(uint64_t)(uintptr_t)v * 0x9e3779b97f4a7c15ull >> 56];
    for (unsigned w = 0; w < 2; w++) {
        struct key_slot *slot = &set->way[w];
        if (slot->held == v && slot->len < cap) {
            memcpy(stack, slot->text, slot->len + 1);
            *len = slot->len;
            set->older = 1 - w;
            *kept = slot;
            return stack;
        }
    }
    char *text = utf8_of(ctx, v, len, exception, stack, cap);
    if (text == NULL) return NULL;
    /* Kept into an empty slot at once; over a kept key only when seen before (two keys taking
       turns in one set are both seen). */
    unsigned w = set->way[0].held == NULL ? 0 : set->way[1].held == NULL ? 1 : 2;
    int again = set->seen[0] == v || set->seen[1] == v;
    if ((w == 2 && !again) || *len > KEY_SLOT_BYTES || !JSValueIsString(ctx, v)) {
        set->seen[set->next_seen] = v;
        set->next_seen = 1 - set->next_seen;
        return text;
    }
    if (w == 2) {
        w = set->older;
        JSValueUnprotect(ctx, set->way[w].held);
    }
    set->older = 1 - w;
    struct key_slot *slot = &set->way[w];
    value_forget(ctx, slot);
    *kept = slot;
    JSValueProtect(ctx, v);
    slot->held = v;
    if (set->seen[0] == v) set->seen[0] = NULL;
    if (set->seen[1] == v) set->seen[1] = NULL;
    memcpy(slot->text, text, *len + 1);
    slot->len = *len;
    return text;
}

/* Lets go of the kept keys (wxfs_jsc_free). */
static void keys_release(JSContextRef ctx, wxfs_jsc *g) {
    for (size_t i = 0; i < KEY_SETS; i++) {
        for (unsigned w = 0; w < 2; w++) {
            if (g->keys[i].way[w].held != NULL) JSValueUnprotect(ctx, g->keys[i].way[w].held);
            g->keys[i].way[w].held = NULL;
            value_forget(ctx, &g->keys[i].way[w]);
        }
    }
}

/* The glue a native function was called on: `this` must be the glue's native object. */
static wxfs_jsc *glue_of(JSContextRef ctx, JSObjectRef self, JSValueRef *exception) {
    wxfs_jsc *g = NULL;
    /* Another class's object has private data of its own: check the class first. */
    if (self != NULL && JSValueIsObjectOfClass(ctx, self, native_class)) g = JSObjectGetPrivate(self);
    if (g == NULL || g->native != self) {
        throw_error(ctx, exception, "TypeError",
                    g == NULL ? "wxfs: this context's wxfs glue was released" : "wxfs: called on another object");
        return NULL;
    }
    return g;
}

static JSValueRef arg(size_t argc, const JSValueRef argv[], size_t i, JSContextRef ctx) {
    return i < argc ? argv[i] : JSValueMakeUndefined(ctx);
}

/* A sandbox handle from a JavaScript number (an integer below 2^53), else 0, which is no handle. */
static uint64_t handle_of(JSContextRef ctx, JSValueRef v, JSValueRef *exception) {
    double d = JSValueToNumber(ctx, v, exception);
    if (!(d >= 0 && d < 9007199254740992.0) || d != floor(d)) return 0;
    return (uint64_t)d;
}

/* The args JSON: a string's bytes, or "{}" for anything else (as bindings/node's addon). */
static char *args_of(JSContextRef ctx, JSValueRef v, size_t *len, JSValueRef *exception, char *stack, size_t cap) {
    if (JSValueIsString(ctx, v)) return utf8_of(ctx, v, len, exception, stack, cap);
    memcpy(stack, "{}", 3);
    *len = 2;
    return stack;
}

/* ---- argument buffers ---------------------------------------------------------------------- */

struct buffers {
    JSValueRef *values; /* protected while held */
    wxfs_slice *slices;
    size_t n;
};

static void buffers_release(JSContextRef ctx, struct buffers *b) {
    for (size_t i = 0; i < b->n; i++)
        if (b->values[i] != NULL) JSValueUnprotect(ctx, b->values[i]);
    free(b->values);
    free(b->slices);
    memset(b, 0, sizeof *b);
}

/*
 * Read the buffer list `list` (undefined or null: none). Phase one reads the elements, which may
 * run JavaScript (getters); phase two takes the pointers and runs none. Returns 0, or -1 with
 * *exception set.
 */
static int buffers_gather(JSContextRef ctx, JSValueRef list, struct buffers *b, JSValueRef *exception) {
    memset(b, 0, sizeof *b);
    if (JSValueIsUndefined(ctx, list) || JSValueIsNull(ctx, list)) return 0;
    if (!JSValueIsObject(ctx, list)) {
        throw_error(ctx, exception, "TypeError", "wxfs: the buffer list must be an array");
        return -1;
    }
    JSObjectRef arr = (JSObjectRef)list;
    JSStringRef length = JSStringCreateWithUTF8CString("length");
    JSValueRef lv = JSObjectGetProperty(ctx, arr, length, exception);
    JSStringRelease(length);
    if (lv == NULL || (exception != NULL && *exception != NULL)) return -1;
    double d = JSValueToNumber(ctx, lv, exception);
    if (exception != NULL && *exception != NULL) return -1;
    if (!(d >= 0 && d <= MAX_BUFFERS) || d != floor(d)) {
        throw_error(ctx, exception, "TypeError", "wxfs: a buffer list holds at most 65536 buffers");
        return -1;
    }
    size_t n = (size_t)d;
    if (n == 0) return 0;
    b->values = calloc(n, sizeof *b->values);
    b->slices = calloc(n, sizeof *b->slices);
    if (b->values == NULL || b->slices == NULL) {
        free(b->values);
        free(b->slices);
        memset(b, 0, sizeof *b);
        throw_error(ctx, exception, "Error", "wxfs: out of memory");
        return -1;
    }
    b->n = n;
    /* Phase one: JavaScript may run. */
    for (size_t i = 0; i < n; i++) {
        JSValueRef v = JSObjectGetPropertyAtIndex(ctx, arr, (unsigned)i, exception);
        if (v == NULL || (exception != NULL && *exception != NULL)) {
            buffers_release(ctx, b);
            return -1;
        }
        JSValueProtect(ctx, v);
        b->values[i] = v;
    }
    /* Phase two: no JavaScript runs from here until the library has the bytes. */
    for (size_t i = 0; i < n; i++) {
        JSValueRef v = b->values[i];
        const uint8_t *ptr = NULL;
        size_t len = 0;
        int ok = 0;
        if (JSValueIsObject(ctx, v)) {
            JSObjectRef o = (JSObjectRef)v;
            if (JSValueGetTypedArrayType(ctx, v, NULL) == kJSTypedArrayTypeArrayBuffer) {
                ptr = JSObjectGetArrayBufferBytesPtr(ctx, o, NULL);
                len = JSObjectGetArrayBufferByteLength(ctx, o, NULL);
                ok = 1;
            } else {
                /* A typed array or a DataView: its ArrayBuffer, at its offset. The view's bytes
                 * pointer is the buffer's start, not the view's, in JavaScriptCore. */
                JSObjectRef buf = JSObjectGetTypedArrayBuffer(ctx, o, NULL);
                if (buf != NULL) {
                    size_t off = JSObjectGetTypedArrayByteOffset(ctx, o, NULL);
                    size_t n_ = JSObjectGetTypedArrayByteLength(ctx, o, NULL);
                    const uint8_t *base = JSObjectGetArrayBufferBytesPtr(ctx, buf, NULL);
                    size_t total = JSObjectGetArrayBufferByteLength(ctx, buf, NULL);
                    if (base != NULL && off <= total && n_ <= total - off) {
                        ptr = base + off;
                        len = n_;
                    }
                    ok = 1;
                }
            }
        }
        if (!ok) {
            buffers_release(ctx, b);
            throw_error(ctx, exception, "TypeError", "wxfs: a buffer must be an ArrayBuffer, a typed array or a DataView");
            return -1;
        }
        if (ptr == NULL) len = 0; /* detached, or empty */
        b->slices[i].data = ptr;
        b->slices[i].len = len;
    }
    return 0;
}

/* ---- results ------------------------------------------------------------------------------- */

static void free_library_bytes(void *bytes, void *len) {
    wxfs_bytes b = {(uint8_t *)bytes, (size_t)(uintptr_t)len};
    wxfs_bytes_free(b);
}

/* An ArrayBuffer over the library's bytes (taken out of *b, which becomes {NULL, 0}): no copy. */
static JSObjectRef take_buffer(JSContextRef ctx, wxfs_bytes *b, JSValueRef *exception) {
    if (b->data == NULL || b->len == 0) {
        JSObjectRef view = JSObjectMakeTypedArray(ctx, kJSTypedArrayTypeUint8Array, 0, exception);
        return view != NULL ? JSObjectGetTypedArrayBuffer(ctx, view, exception) : NULL;
    }
    JSObjectRef ab = JSObjectMakeArrayBufferWithBytesNoCopy(ctx, b->data, b->len, free_library_bytes,
                                                           (void *)(uintptr_t)b->len, exception);
    if (ab != NULL) {
        b->data = NULL;
        b->len = 0;
    }
    return ab;
}

/*
 * The result as bindings/js takes it: the JSON text alone, or [json, ...ArrayBuffer] (with_json)
 * / [...ArrayBuffer] (!with_json). Buffers are taken out of `r`; the caller frees the rest.
 */
static JSValueRef result_value(JSContextRef ctx, wxfs_result *r, int with_json, JSValueRef *exception) {
    JSValueRef json = bytes_string(ctx, &r->json);
    if (json == NULL) {
        throw_error(ctx, exception, "Error", "wxfs: out of memory");
        return NULL;
    }
    if (r->buffers_len == 0 && with_json) return json;
    size_t n = r->buffers_len + (with_json ? 1 : 0);
    JSValueRef *items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL) {
        throw_error(ctx, exception, "Error", "wxfs: out of memory");
        return NULL;
    }
    size_t k = 0;
    if (with_json) {
        items[k++] = json;
        JSValueProtect(ctx, json);
    }
    JSValueRef out = NULL;
    for (size_t i = 0; i < r->buffers_len; i++) {
        JSObjectRef ab = take_buffer(ctx, &r->buffers[i], exception);
        if (ab == NULL) goto done;
        JSValueProtect(ctx, ab);
        items[k++] = ab;
    }
    out = JSObjectMakeArray(ctx, k, items, exception);
done:
    for (size_t i = 0; i < k; i++) JSValueUnprotect(ctx, items[i]);
    free(items);
    return out;
}

/*
 * The calls, over a glue and a sandbox handle: the bridge's functions (handle as their first
 * argument) and the sandbox's own (handle bound, see `struct bound`) both run these.
 */

/* invoke: json | [json, ...ArrayBuffer] (wxfs_invoke_v2). */
static JSValueRef call_invoke(JSContextRef ctx, uint64_t h, JSValueRef api_v, JSValueRef json_v, JSValueRef list,
                              JSValueRef *exception) {
    char api_stack[256], json_stack[STACK_TEXT];
    size_t api_len = 0, json_len = 0;
    char *api = utf8_of(ctx, api_v, &api_len, exception, api_stack, sizeof api_stack);
    char *json = api != NULL ? args_of(ctx, json_v, &json_len, exception, json_stack, sizeof json_stack) : NULL;
    struct buffers b;
    JSValueRef out = NULL;
    if (json != NULL && *exception == NULL && buffers_gather(ctx, list, &b, exception) == 0) {
        wxfs_result r;
        memset(&r, 0, sizeof r);
        wxfs_invoke_v2(h, api, api_len, json, json_len, b.slices, b.n, &r);
        buffers_release(ctx, &b);
        out = result_value(ctx, &r, 1, exception);
        wxfs_result_free(r);
    }
    if (api != NULL) text_free(api, api_stack);
    if (json != NULL) text_free(json, json_stack);
    return out;
}

static void on_done(void *userdata, int32_t code, wxfs_result *r);

/* invokeAsync: code (wxfs_invoke_async_queued); the result goes to dispatch(id, ...). */
static JSValueRef call_invoke_async(JSContextRef ctx, wxfs_jsc *g, uint64_t h, JSValueRef api_v, JSValueRef json_v,
                                    JSValueRef list, JSValueRef id_v, JSValueRef *exception) {
    double id = JSValueToNumber(ctx, id_v, exception);
    char api_stack[256], json_stack[STACK_TEXT];
    size_t api_len = 0, json_len = 0;
    char *api = *exception == NULL ? utf8_of(ctx, api_v, &api_len, exception, api_stack, sizeof api_stack) : NULL;
    char *json = api != NULL ? args_of(ctx, json_v, &json_len, exception, json_stack, sizeof json_stack) : NULL;
    struct buffers b;
    JSValueRef out = NULL;
    if (json != NULL && *exception == NULL && buffers_gather(ctx, list, &b, exception) == 0) {
        struct call *c = calloc(1, sizeof *c);
        int32_t rc = WXFS_E_NULL;
        if (c != NULL) {
            c->glue = g;
            c->id = id;
            /* The buffers are copied by the library before it returns. */
            rc = wxfs_invoke_async_queued(h, g->queue, api, api_len, json, json_len, b.slices, b.n, on_done, c);
            if (rc == 0) {
                c->next = g->inflight;
                if (g->inflight != NULL) g->inflight->prev = c;
                g->inflight = c;
                g->calls++;
            } else {
                free(c);
            }
        }
        buffers_release(ctx, &b);
        out = c != NULL ? JSValueMakeNumber(ctx, rc) : NULL;
        if (c == NULL) throw_error(ctx, exception, "Error", "wxfs: out of memory");
    }
    if (api != NULL) text_free(api, api_stack);
    if (json != NULL) text_free(json, json_stack);
    return out;
}

/* storageSet: code (wxfs_storage_set). `dt_v` NULL or not a string: no dataType. */
static JSValueRef call_storage_set(JSContextRef ctx, wxfs_jsc *g, uint64_t h, JSValueRef key_v, JSValueRef json_v,
                                   JSValueRef dt_v, JSValueRef *exception) {
    char key_stack[STACK_TEXT], json_stack[STACK_TEXT], dt_stack[64];
    size_t key_len = 0, json_len = 0, dt_len = 0;
    struct key_slot *kept;
    char *key = key_of(ctx, g, key_v, &key_len, exception, key_stack, sizeof key_stack, &kept);
    char *json = key != NULL ? utf8_of(ctx, json_v, &json_len, exception, json_stack, sizeof json_stack) : NULL;
    char *dt = NULL;
    JSValueRef out = NULL;
    /* No dataType (undefined, the common case) is told without a call where undefined is one
       value (64-bit JavaScriptCore); elsewhere JSValueIsString answers. */
    if (json != NULL && dt_v != NULL && dt_v != g->undefined && JSValueIsString(ctx, dt_v))
        dt = utf8_of(ctx, dt_v, &dt_len, exception, dt_stack, sizeof dt_stack);
    if (json != NULL && *exception == NULL) {
        int32_t rc = wxfs_storage_set(h, key, key_len, json, json_len, dt, dt_len);
        out = rc == 0 ? g->zero : JSValueMakeNumber(ctx, rc);
    }
    if (key != NULL) text_free(key, key_stack);
    if (json != NULL) text_free(json, json_stack);
    if (dt != NULL) text_free(dt, dt_stack);
    return out;
}

/*
 * storageGet: json | [json, dataType] | code (wxfs_storage_get). For a kept key the string made
 * for its last get is kept too, with the value's stamp: while the library says the key still
 * holds that value (wxfs_storage_get_stamped), the same string is the answer, and nothing is
 * copied or made (a string is immutable, so it is the string a new one would equal).
 */
static JSValueRef call_storage_get(JSContextRef ctx, wxfs_jsc *g, uint64_t h, JSValueRef key_v,
                                   JSValueRef *exception) {
    char key_stack[STACK_TEXT];
    size_t key_len = 0;
    struct key_slot *kept;
    char *key = key_of(ctx, g, key_v, &key_len, exception, key_stack, sizeof key_stack, &kept);
    if (key == NULL) return NULL;
    wxfs_bytes json = {NULL, 0}, dt = {NULL, 0};
    int32_t rc;
    if (kept != NULL) {
        wxfs_storage_stamp stamp = kept->stamp;
        if (kept->sandbox != h || kept->value == NULL) memset(&stamp, 0, sizeof stamp);
        rc = wxfs_storage_get_stamped(h, key, key_len, &stamp, &json, &dt);
        if (rc == 0 && json.data == NULL) {
            text_free(key, key_stack);
            return kept->value;
        }
        value_forget(ctx, kept);
        if (rc == 0 && dt.data == NULL && json.len <= KEPT_VALUE_BYTES) {
            kept->sandbox = h;
            kept->stamp = stamp;
        } else {
            kept = NULL;
        }
    } else {
        rc = wxfs_storage_get(h, key, key_len, &json, &dt);
    }
    text_free(key, key_stack);
    if (rc != 0) return JSValueMakeNumber(ctx, rc);
    JSValueRef text = bytes_string(ctx, &json);
    JSValueRef out = text;
    if (text != NULL && dt.data != NULL) {
        JSValueRef pair[2];
        pair[0] = text;
        pair[1] = bytes_string(ctx, &dt);
        out = pair[1] != NULL ? (JSValueRef)JSObjectMakeArray(ctx, 2, pair, exception) : NULL;
    }
    if (kept != NULL && text != NULL) {
        JSValueProtect(ctx, text);
        kept->value = text;
    } else if (kept != NULL) {
        memset(&kept->stamp, 0, sizeof kept->stamp);
    }
    wxfs_bytes_free(json);
    if (dt.data != NULL) wxfs_bytes_free(dt);
    if (out == NULL && *exception == NULL) throw_error(ctx, exception, "Error", "wxfs: out of memory");
    return out;
}

/* ---- the native object ----------------------------------------------------------------------- */

#define NATIVE(name)                                                                                      \
    static JSValueRef name(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,                \
                           const JSValueRef argv[], JSValueRef *exception)

/* invoke(handle, api, argsJson, buffers?) -> json | [json, ...ArrayBuffer] (wxfs_invoke_v2). */
NATIVE(n_invoke) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = handle_of(ctx, arg(argc, argv, 0, ctx), exception);
    return call_invoke(ctx, h, arg(argc, argv, 1, ctx), arg(argc, argv, 2, ctx), arg(argc, argv, 3, ctx), exception);
}

static void call_unlink(wxfs_jsc *g, struct call *c) {
    if (c->prev != NULL) c->prev->next = c->next;
    else g->inflight = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
}

/* A completion, run by wxfs_queue_drain on the draining (JavaScript) thread. */
static void on_done(void *userdata, int32_t code, wxfs_result *r) {
    (void)code; /* the result's JSON says what happened */
    struct call *c = userdata;
    wxfs_jsc *g = c->glue;
    JSContextRef ctx = g->ctx;
    double id = c->id;
    call_unlink(g, c);
    free(c);
    g->calls--;
    JSValueRef e = NULL;
    JSValueRef args[3];
    args[0] = JSValueMakeNumber(ctx, id);
    args[1] = bytes_string(ctx, &r->json);
    if (args[1] == NULL) args[1] = make_string(ctx, "{\"errMsg\":\"wxfs: out of memory\"}");
    JSValueProtect(ctx, args[1]);
    args[2] = r->buffers_len > 0 ? result_value(ctx, r, 0, &e) : JSValueMakeUndefined(ctx);
    if (args[2] != NULL) {
        JSObjectCallAsFunction(ctx, g->dispatch, NULL, 3, args, &e);
    }
    JSValueUnprotect(ctx, args[1]);
    /* The library frees what is left of *r (buffers not taken) when this returns. */
    if (e != NULL && g->drain_exception == NULL) {
        g->drain_exception = e;
        JSValueProtect(ctx, e);
    }
}

/* invokeAsync(handle, api, argsJson, buffers, id) -> code (wxfs_invoke_async_queued). */
NATIVE(n_invoke_async) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = handle_of(ctx, arg(argc, argv, 0, ctx), exception);
    return call_invoke_async(ctx, g, h, arg(argc, argv, 1, ctx), arg(argc, argv, 2, ctx), arg(argc, argv, 3, ctx),
                             arg(argc, argv, 4, ctx), exception);
}

/* storageSet(handle, key, json, dataType?) -> code (wxfs_storage_set). */
NATIVE(n_storage_set) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = handle_of(ctx, arg(argc, argv, 0, ctx), exception);
    if (*exception != NULL) return NULL;
    return call_storage_set(ctx, g, h, arg(argc, argv, 1, ctx), arg(argc, argv, 2, ctx), arg(argc, argv, 3, ctx),
                            exception);
}

/* storageGet(handle, key) -> json | [json, dataType] | code (wxfs_storage_get). */
NATIVE(n_storage_get) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = handle_of(ctx, arg(argc, argv, 0, ctx), exception);
    if (*exception != NULL) return NULL;
    return call_storage_get(ctx, g, h, arg(argc, argv, 1, ctx), exception);
}

/* ---- a sandbox's own functions ---------------------------------------------------------------- */

/*
 * The functions bindings/js calls on every storage call and invoke: each a callable object of
 * its own class whose private data holds the glue and the sandbox handle, so a call reads both
 * with one JSObjectGetPrivate of the callee. The bridge's functions take the handle as a number
 * (JSValueToNumber) and check `this` (JSValueIsObjectOfClass): each of those takes the context's
 * lock, about 60 ns apiece per call.
 *
 * The glue is reached through `struct glue_ref`, never directly: wxfs_jsc_free empties it, and
 * a function still reachable then throws. A finalizer (which JavaScriptCore may run on any
 * thread) only drops its reference, atomically; the last one frees it.
 */
struct glue_ref {
    atomic_size_t refs;
    wxfs_jsc *glue; /* NULL once wxfs_jsc_free ran; read and written on the JavaScript thread */
};

enum op { OP_INVOKE, OP_INVOKE_ASYNC, OP_STORAGE_SET, OP_STORAGE_GET, OP_REJECTION };

struct bound {
    struct glue_ref *ref;
    uint64_t handle;
    enum op op;
};

static JSClassRef bound_class;
static pthread_once_t bound_class_once = PTHREAD_ONCE_INIT;

static void ref_drop(struct glue_ref *r) {
    if (atomic_fetch_sub(&r->refs, 1) == 1) free(r);
}

static void bound_finalize(JSObjectRef o) {
    struct bound *b = JSObjectGetPrivate(o);
    if (b == NULL) return;
    ref_drop(b->ref);
    free(b);
}

static JSValueRef bound_call(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc, const JSValueRef argv[],
                             JSValueRef *exception) {
    (void)self;
    const struct bound *b = JSObjectGetPrivate(fn); /* fn is of bound_class: the class's callback */
    wxfs_jsc *g = b != NULL ? b->ref->glue : NULL;
    if (b != NULL && b->op == OP_REJECTION) {
        /* (promise, reason), from JavaScriptCore once the microtasks ran and none handled it. */
        if (g != NULL && g->rejection != NULL) g->rejection(g->rejection_data, ctx, arg(argc, argv, 1, ctx));
        return JSValueMakeUndefined(ctx);
    }
    if (g == NULL) {
        throw_error(ctx, exception, "TypeError", "wxfs: this context's wxfs glue was released");
        return NULL;
    }
    switch (b->op) {
    case OP_STORAGE_GET:
        return call_storage_get(ctx, g, b->handle, arg(argc, argv, 0, ctx), exception);
    case OP_STORAGE_SET:
        return call_storage_set(ctx, g, b->handle, arg(argc, argv, 0, ctx), arg(argc, argv, 1, ctx),
                                arg(argc, argv, 2, ctx), exception);
    case OP_INVOKE:
        return call_invoke(ctx, b->handle, arg(argc, argv, 0, ctx), arg(argc, argv, 1, ctx), arg(argc, argv, 2, ctx),
                           exception);
    case OP_INVOKE_ASYNC:
        return call_invoke_async(ctx, g, b->handle, arg(argc, argv, 0, ctx), arg(argc, argv, 1, ctx),
                                 arg(argc, argv, 2, ctx), arg(argc, argv, 3, ctx), exception);
    case OP_REJECTION:
        break;
    }
    return NULL;
}

static void bound_class_make(void) {
    JSClassDefinition def = kJSClassDefinitionEmpty;
    def.className = "WxfsSandboxFunction";
    def.callAsFunction = bound_call;
    def.finalize = bound_finalize;
    bound_class = JSClassCreate(&def);
}

/* A callable object of bound_class for `op` over `h`, or NULL when out of memory. */
static JSObjectRef bound_make(JSContextRef ctx, wxfs_jsc *g, uint64_t h, enum op op) {
    pthread_once(&bound_class_once, bound_class_make);
    struct bound *b = malloc(sizeof *b);
    if (b == NULL) return NULL;
    b->ref = g->ref;
    b->handle = h;
    b->op = op;
    atomic_fetch_add(&g->ref->refs, 1);
    return JSObjectMake(ctx, bound_class, b);
}

/* sandbox(handle) -> {invoke, invokeAsync, storageSet, storageGet} over that sandbox. */
NATIVE(n_sandbox) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = handle_of(ctx, arg(argc, argv, 0, ctx), exception);
    if (*exception != NULL) return NULL;
    static const struct {
        const char *name;
        enum op op;
    } fns[] = {{"invoke", OP_INVOKE},
               {"invokeAsync", OP_INVOKE_ASYNC},
               {"storageSet", OP_STORAGE_SET},
               {"storageGet", OP_STORAGE_GET}};
    JSObjectRef out = JSObjectMake(ctx, NULL, NULL);
    /* Function.prototype under each, so that call, apply and bind work on them as on functions. */
    JSStringRef fp_name = JSStringCreateWithUTF8CString("Function");
    JSValueRef function_ctor = JSObjectGetProperty(ctx, JSContextGetGlobalObject(ctx), fp_name, NULL);
    JSStringRelease(fp_name);
    JSValueRef proto = NULL;
    if (function_ctor != NULL && JSValueIsObject(ctx, function_ctor)) {
        JSStringRef p = JSStringCreateWithUTF8CString("prototype");
        proto = JSObjectGetProperty(ctx, (JSObjectRef)function_ctor, p, NULL);
        JSStringRelease(p);
    }
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        JSObjectRef f = bound_make(ctx, g, h, fns[i].op);
        if (f == NULL) {
            throw_error(ctx, exception, "Error", "wxfs: out of memory");
            return NULL;
        }
        if (proto != NULL && JSValueIsObject(ctx, proto)) JSObjectSetPrototype(ctx, f, proto);
        JSStringRef name = JSStringCreateWithUTF8CString(fns[i].name);
        JSObjectSetProperty(ctx, out, name, f, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontDelete, NULL);
        JSStringRelease(name);
    }
    return out;
}

/* apiList(handle) -> json (wxfs_api_list); throws for a handle that is not open. */
NATIVE(n_api_list) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    uint64_t h = JSValueIsNumber(ctx, arg(argc, argv, 0, ctx)) ? handle_of(ctx, argv[0], exception) : 0;
    wxfs_bytes out = {NULL, 0};
    int32_t rc = wxfs_api_list(h, &out);
    if (rc != 0 || (h == 0 && JSValueIsNumber(ctx, arg(argc, argv, 0, ctx)))) {
        char msg[160];
        snprintf(msg, sizeof msg, "wxfs: no open sandbox has handle %llu (%s)", (unsigned long long)h,
                 wxfs_status_str(rc != 0 ? rc : WXFS_E_HANDLE));
        wxfs_bytes_free(out);
        throw_error(ctx, exception, "Error", msg);
        return NULL;
    }
    JSValueRef v = bytes_string(ctx, &out);
    wxfs_bytes_free(out);
    return v;
}

/* lastError() -> this thread's wxfs_last_error_message. */
NATIVE(n_last_error) {
    (void)fn;
    (void)argc;
    (void)argv;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    char buf[1024];
    size_t len = 0;
    if (wxfs_last_error_message(buf, sizeof buf, &len) != 0) return make_string(ctx, "(message too long)");
    return make_string(ctx, buf);
}

/* defer(fn): run fn in the next drain, as a task of its own. */
NATIVE(n_defer) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    JSValueRef f = arg(argc, argv, 0, ctx);
    if (!JSValueIsObject(ctx, f) || !JSObjectIsFunction(ctx, (JSObjectRef)f)) {
        throw_error(ctx, exception, "TypeError", "wxfs: defer takes a function");
        return NULL;
    }
    if (g->tail == g->cap) {
        if (g->head > 0) {
            memmove(g->tasks, g->tasks + g->head, (g->tail - g->head) * sizeof *g->tasks);
            g->tail -= g->head;
            g->head = 0;
        } else {
            size_t cap = g->cap ? g->cap * 2 : 64;
            JSObjectRef *t = realloc(g->tasks, cap * sizeof *t);
            if (t == NULL) {
                throw_error(ctx, exception, "Error", "wxfs: out of memory");
                return NULL;
            }
            g->tasks = t;
            g->cap = cap;
        }
    }
    JSValueProtect(ctx, f);
    g->tasks[g->tail++] = (JSObjectRef)f;
    return JSValueMakeUndefined(ctx);
}

/* module(path) -> function(module, exports, require) compiled from js_dir/path. */
NATIVE(n_module) {
    (void)fn;
    wxfs_jsc *g = glue_of(ctx, self, exception);
    if (g == NULL) return NULL;
    size_t len = 0;
    char *rel = utf8_of(ctx, arg(argc, argv, 0, ctx), &len, exception, NULL, 0);
    if (rel == NULL) return NULL;
    char msg[512];
    if (strstr(rel, "..") != NULL || rel[0] == '/') {
        snprintf(msg, sizeof msg, "wxfs: %.300s is not a file of bindings/js", rel);
        free(rel);
        throw_error(ctx, exception, "Error", msg);
        return NULL;
    }
    size_t plen = strlen(g->js_dir) + 1 + len + 1;
    char *path = malloc(plen);
    FILE *f = NULL;
    if (path != NULL) {
        snprintf(path, plen, "%s/%s", g->js_dir, rel);
        f = fopen(path, "rb");
    }
    char *src = NULL;
    size_t n = 0;
    if (f != NULL) {
        src = malloc(MAX_SOURCE_BYTES + 1);
        if (src != NULL) n = fread(src, 1, MAX_SOURCE_BYTES + 1, f);
        fclose(f);
    }
    JSValueRef out = NULL;
    if (src == NULL || n > MAX_SOURCE_BYTES) {
        snprintf(msg, sizeof msg, "wxfs: cannot load bindings/js/%.200s from %.250s", rel, path ? path : g->js_dir);
        throw_error(ctx, exception, "Error", msg);
    } else {
        src[n] = 0;
        JSStringRef body = JSStringCreateWithUTF8CString(src);
        snprintf(msg, sizeof msg, "bindings/js/%.400s", rel);
        JSStringRef url = JSStringCreateWithUTF8CString(msg);
        JSStringRef params[3] = {JSStringCreateWithUTF8CString("module"), JSStringCreateWithUTF8CString("exports"),
                                 JSStringCreateWithUTF8CString("require")};
        out = JSObjectMakeFunction(ctx, NULL, 3, params, body, url, 1, exception);
        for (int i = 0; i < 3; i++) JSStringRelease(params[i]);
        JSStringRelease(body);
        JSStringRelease(url);
    }
    free(src);
    free(path);
    free(rel);
    return out;
}

/*
 * The JavaScript half, evaluated once per context: a CommonJS loader for bindings/js's files, the
 * host object bindings/js is built over (docs: bindings/js/README.md "Wiring it into a host"), and
 * the dispatcher of async results. It is a closure: mini-program code reaches only api objects.
 */
static const char PRELUDE[] =
    "(function (N) {\n"
    "  'use strict';\n"
    "  var cache = {};\n"
    "  function resolve(from, name) {\n"
    "    if (name.charAt(0) !== '.') throw new Error('wxfs: bindings/js asked for ' + name + ', which is not one of its files');\n"
    "    var parts = from.split('/');\n"
    "    parts.pop();\n"
    "    var segs = name.split('/');\n"
    "    for (var i = 0; i < segs.length; i++) {\n"
    "      if (segs[i] === '.' || segs[i] === '') continue;\n"
    "      if (segs[i] === '..') {\n"
    "        if (parts.length === 0) throw new Error('wxfs: ' + name + ' is outside bindings/js');\n"
    "        parts.pop();\n"
    "      } else parts.push(segs[i]);\n"
    "    }\n"
    "    var p = parts.join('/');\n"
    "    return /\\.js$/.test(p) ? p : p + '.js';\n"
    "  }\n"
    "  function load(path) {\n"
    "    var m = cache[path];\n"
    "    if (m) return m.exports;\n"
    "    m = cache[path] = { exports: {} };\n"
    "    N.module(path).call(m.exports, m, m.exports, function (name) { return load(resolve(path, name)); });\n"
    "    return m.exports;\n"
    "  }\n"
    "  var js = load('index.js');\n"
    "  var pending = new Map();\n"
    "  var nextId = 1;\n"
    "  function defer(f) { N.defer(f); }\n"
    "  function reportError(e) { N.defer(function () { throw e; }); }\n"
    "  function create(handle, platform, protocol) {\n"
    "    var dialect = Object.prototype.hasOwnProperty.call(js.dialects, platform) ? js.dialects[platform] : null;\n"
    "    if (!dialect) throw new TypeError('wxfs: unknown platform ' + JSON.stringify(platform));\n"
    "    var S = N.sandbox(handle);\n"
    "    var invokeAsync = S.invokeAsync;\n"
    "    var host = {\n"
    "      invokeBinary: S.invoke,\n"
    "      invokeBinaryAsync: function (api, json, buffers, done) {\n"
    "        var id = nextId++;\n"
    "        pending.set(id, done);\n"
    "        var rc = invokeAsync(api, json, buffers, id);\n"
    "        if (rc !== 0) {\n"
    "          pending.delete(id);\n"
    "          var message = N.lastError();\n"
    "          done(JSON.stringify(dialect.failure ? dialect.failure(api, message, rc) : { errMsg: api + ':fail ' + message, errCode: rc }));\n"
    "        }\n"
    "      },\n"
    "      storageSet: S.storageSet,\n"
    "      storageGet: S.storageGet,\n"
    "      apis: N.apiList(handle),\n"
    "      protocol: protocol,\n"
    "      defer: defer,\n"
    "      reportError: reportError,\n"
    "    };\n"
    "    return { name: dialect.name, api: js.createApi(host, dialect) };\n"
    "  }\n"
    "  function dispatch(id, json, buffers) {\n"
    "    var done = pending.get(id);\n"
    "    pending.delete(id);\n"
    "    if (done) done(json, buffers);\n"
    "  }\n"
    "  return { create: create, dispatch: dispatch };\n"
    "})";

static JSObjectRef get_function(JSContextRef ctx, JSObjectRef o, const char *name, JSValueRef *exception) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSValueRef v = JSObjectGetProperty(ctx, o, s, exception);
    JSStringRelease(s);
    if (v == NULL || !JSValueIsObject(ctx, v) || !JSObjectIsFunction(ctx, (JSObjectRef)v)) return NULL;
    return (JSObjectRef)v;
}

static void set_function(JSContextRef ctx, JSObjectRef o, const char *name, JSObjectCallAsFunctionCallback cb) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSObjectSetProperty(ctx, o, s, JSObjectMakeFunctionWithCallback(ctx, s, cb),
                        kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontDelete, NULL);
    JSStringRelease(s);
}

/* ---- the public functions -------------------------------------------------------------------- */

int32_t wxfs_jsc_new(JSGlobalContextRef ctx, const char *js_dir, wxfs_jsc **out, JSValueRef *exception) {
    if (ctx == NULL || js_dir == NULL || out == NULL) return WXFS_E_NULL;
    JSValueRef local = NULL;
    if (exception == NULL) exception = &local;
    *exception = NULL;
    wxfs_jsc *g = calloc(1, sizeof *g);
    if (g == NULL) return WXFS_E_IO;
    g->js_dir = malloc(strlen(js_dir) + 1);
    if (g->js_dir == NULL) {
        free(g);
        return WXFS_E_IO;
    }
    strcpy(g->js_dir, js_dir);
    g->ref = malloc(sizeof *g->ref);
    if (g->ref == NULL) {
        free(g->js_dir);
        free(g);
        return WXFS_E_IO;
    }
    atomic_init(&g->ref->refs, 1);
    g->ref->glue = g;
    int32_t rc = wxfs_queue_create(&g->queue);
    if (rc == 0) rc = wxfs_queue_fd(g->queue, &g->fd);
    if (rc != 0) {
        if (g->queue != 0) wxfs_queue_close(g->queue);
        free(g->ref);
        free(g->js_dir);
        free(g);
        return rc;
    }
    g->ctx = JSGlobalContextRetain(ctx);
    pthread_once(&native_class_once, native_class_make);
    g->native = JSObjectMake(ctx, native_class, g);
    JSValueProtect(ctx, g->native);
    /* Made once: each C API call that makes a value takes the context's lock. */
    g->zero = JSValueMakeNumber(ctx, 0);
    JSValueProtect(ctx, g->zero);
    g->undefined = JSValueMakeUndefined(ctx);
    JSValueProtect(ctx, g->undefined);
    set_function(ctx, g->native, "invoke", n_invoke);
    set_function(ctx, g->native, "invokeAsync", n_invoke_async);
    set_function(ctx, g->native, "storageSet", n_storage_set);
    set_function(ctx, g->native, "storageGet", n_storage_get);
    set_function(ctx, g->native, "apiList", n_api_list);
    set_function(ctx, g->native, "lastError", n_last_error);
    set_function(ctx, g->native, "defer", n_defer);
    set_function(ctx, g->native, "module", n_module);
    set_function(ctx, g->native, "sandbox", n_sandbox);

    JSStringRef src = JSStringCreateWithUTF8CString(PRELUDE);
    JSStringRef url = JSStringCreateWithUTF8CString("bindings/jsc/wxfs_jsc.c");
    JSValueRef setup = JSEvaluateScript(ctx, src, NULL, url, 1, exception);
    JSStringRelease(src);
    JSStringRelease(url);
    JSValueRef made = NULL;
    if (setup != NULL && JSValueIsObject(ctx, setup)) {
        JSValueRef n = g->native;
        made = JSObjectCallAsFunction(ctx, (JSObjectRef)setup, NULL, 1, &n, exception);
    }
    if (made != NULL && JSValueIsObject(ctx, made)) {
        g->dispatch = get_function(ctx, (JSObjectRef)made, "dispatch", exception);
        g->create = get_function(ctx, (JSObjectRef)made, "create", exception);
    }
    if (g->dispatch == NULL || g->create == NULL) {
        g->dispatch = g->create = NULL;
        if (*exception == NULL) throw_error(ctx, exception, "Error", "wxfs: bindings/js did not load");
        wxfs_jsc_free(g);
        return WXFS_JSC_E_EXCEPTION;
    }
    JSValueProtect(ctx, g->dispatch);
    JSValueProtect(ctx, g->create);
    *out = g;
    return 0;
}

/* create(...) -> {name, api}, or NULL with *exception set. */
static JSObjectRef create_api(wxfs_jsc *g, uint64_t sandbox, const char *platform, const char *protocol,
                              JSValueRef *exception) {
    JSContextRef ctx = g->ctx;
    JSValueRef args[3];
    args[0] = JSValueMakeNumber(ctx, (double)sandbox);
    args[1] = make_string(ctx, platform != NULL ? platform : "wechat");
    args[2] = make_string(ctx, protocol != NULL ? protocol : "wxfile");
    JSValueRef made = JSObjectCallAsFunction(ctx, g->create, NULL, 3, args, exception);
    if (made == NULL || !JSValueIsObject(ctx, made)) return NULL;
    return (JSObjectRef)made;
}

static JSValueRef get(JSContextRef ctx, JSObjectRef o, const char *name) {
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSValueRef v = JSObjectGetProperty(ctx, o, s, NULL);
    JSStringRelease(s);
    return v;
}

JSObjectRef wxfs_jsc_api(wxfs_jsc *glue, uint64_t sandbox, const char *platform, const char *protocol,
                         JSValueRef *exception) {
    if (glue == NULL) return NULL;
    JSValueRef local = NULL;
    if (exception == NULL) exception = &local;
    *exception = NULL;
    JSObjectRef made = create_api(glue, sandbox, platform, protocol, exception);
    if (made == NULL) return NULL;
    JSValueRef api = get(glue->ctx, made, "api");
    return api != NULL && JSValueIsObject(glue->ctx, api) ? (JSObjectRef)api : NULL;
}

int32_t wxfs_jsc_install(JSGlobalContextRef ctx, uint64_t sandbox, const char *platform, const char *js_dir,
                         wxfs_jsc **out, JSValueRef *exception) {
    JSValueRef local = NULL;
    if (exception == NULL) exception = &local;
    wxfs_jsc *g = NULL;
    int32_t rc = wxfs_jsc_new(ctx, js_dir, &g, exception);
    if (rc != 0) return rc;
    JSObjectRef made = create_api(g, sandbox, platform, NULL, exception);
    if (made == NULL) {
        wxfs_jsc_free(g);
        return WXFS_JSC_E_EXCEPTION;
    }
    JSValueRef name = get(ctx, made, "name");
    JSValueRef api = get(ctx, made, "api");
    JSStringRef key = JSValueToStringCopy(ctx, name, exception);
    if (key == NULL) {
        wxfs_jsc_free(g);
        return WXFS_JSC_E_EXCEPTION;
    }
    /* Beside what the host already put on the object (wx.request, ...), as bindings/js's README. */
    JSObjectRef global = JSContextGetGlobalObject(ctx);
    JSValueRef existing = JSObjectGetProperty(ctx, global, key, NULL);
    if (existing != NULL && JSValueIsObject(ctx, existing)) {
        JSPropertyNameArrayRef names = JSObjectCopyPropertyNames(ctx, (JSObjectRef)api);
        size_t n = JSPropertyNameArrayGetCount(names);
        for (size_t i = 0; i < n; i++) {
            JSStringRef p = JSPropertyNameArrayGetNameAtIndex(names, i);
            JSObjectSetProperty(ctx, (JSObjectRef)existing, p, JSObjectGetProperty(ctx, (JSObjectRef)api, p, NULL), 0,
                                exception);
        }
        JSPropertyNameArrayRelease(names);
    } else {
        JSObjectSetProperty(ctx, global, key, api, 0, exception);
    }
    JSStringRelease(key);
    if (*exception != NULL) {
        wxfs_jsc_free(g);
        return WXFS_JSC_E_EXCEPTION;
    }
    *out = g;
    return 0;
}

int wxfs_jsc_fd(const wxfs_jsc *glue) {
    return glue != NULL ? glue->fd : -1;
}

size_t wxfs_jsc_pending(const wxfs_jsc *glue) {
    return glue != NULL ? glue->calls + (glue->tail - glue->head) : 0;
}

int wxfs_jsc_has_tasks(const wxfs_jsc *glue) {
    return glue != NULL && glue->tail > glue->head;
}

JSObjectRef wxfs_jsc_bridge(wxfs_jsc *glue) {
    return glue != NULL ? glue->native : NULL;
}

int32_t wxfs_jsc_drain(wxfs_jsc *glue, JSValueRef *exception) {
    if (glue == NULL) return WXFS_E_NULL;
    JSValueRef local = NULL;
    if (exception == NULL) exception = &local;
    *exception = NULL;
    JSContextRef ctx = glue->ctx;
    size_t ran = 0;
    int32_t rc = wxfs_queue_drain(glue->queue, 0, &ran);
    if (rc != 0) return rc;
    /* The tasks queued so far (by those callbacks too); tasks they queue wait for the next drain. */
    size_t todo = glue->tail - glue->head;
    while (todo > 0 && glue->drain_exception == NULL) {
        todo--;
        JSObjectRef task = glue->tasks[glue->head++];
        JSValueRef e = NULL;
        JSObjectCallAsFunction(ctx, task, NULL, 0, NULL, &e);
        JSValueUnprotect(ctx, task);
        ran++;
        if (e != NULL) {
            glue->drain_exception = e;
            JSValueProtect(ctx, e);
        }
        /* A task may queue more (n_defer may move the queue down to index 0: `todo` counts). */
        if (glue->head == glue->tail) glue->head = glue->tail = 0;
    }
    if (glue->drain_exception != NULL) {
        *exception = glue->drain_exception;
        JSValueUnprotect(ctx, glue->drain_exception);
        glue->drain_exception = NULL;
        return WXFS_JSC_E_EXCEPTION;
    }
    return (int32_t)(ran > INT32_MAX ? INT32_MAX : ran);
}

void wxfs_jsc_free(wxfs_jsc *glue) {
    if (glue == NULL) return;
    JSContextRef ctx = glue->ctx;
    /* Completions waiting or still running are freed by the library; their callbacks never run. */
    wxfs_queue_close(glue->queue);
    while (glue->inflight != NULL) {
        struct call *c = glue->inflight;
        glue->inflight = c->next;
        free(c);
    }
    for (size_t i = glue->head; i < glue->tail; i++) JSValueUnprotect(ctx, glue->tasks[i]);
    free(glue->tasks);
    if (glue->drain_exception != NULL) JSValueUnprotect(ctx, glue->drain_exception);
    if (glue->dispatch != NULL) JSValueUnprotect(ctx, glue->dispatch);
    if (glue->create != NULL) JSValueUnprotect(ctx, glue->create);
    keys_release(ctx, glue);
    JSValueUnprotect(ctx, glue->zero);
    JSValueUnprotect(ctx, glue->undefined);
    JSObjectSetPrivate(glue->native, NULL);
    glue->ref->glue = NULL; /* the sandboxes' functions still reachable throw from now on */
    ref_drop(glue->ref);
    JSValueUnprotect(ctx, glue->native);
    JSGlobalContextRelease(glue->ctx);
    free(glue->js_dir);
    free(glue);
}

/*
 * JavaScriptCore's hook for unhandled rejections, JSGlobalContextSetUnhandledRejectionCallback: exported
 * by JavaScriptCore (WebKitGTK 2.28 and later; iOS 13.4 and macOS 10.15.4) but declared in
 * JSContextRefPrivate.h, which neither installs, and absent from an SDK's list of the framework's
 * symbols. Looked up when the host asks for it (dlsym), so that the glue links everywhere and the
 * hook reports WXFS_JSC_E_UNSUPPORTED where the engine lacks it. A host that must not reach a
 * private symbol defines WXFS_JSC_NO_REJECTION_HOOK.
 */
typedef void (*set_rejection_callback_fn)(JSGlobalContextRef ctx, JSObjectRef function, JSValueRef *exception);

static set_rejection_callback_fn find_set_rejection_callback(void) {
    set_rejection_callback_fn f = NULL;
#ifndef WXFS_JSC_NO_REJECTION_HOOK
    void *self = dlopen(NULL, RTLD_LAZY); /* the program and the libraries it was linked with */
    if (self != NULL) {
        void *sym = dlsym(self, "JSGlobalContextSetUnhandledRejectionCallback");
        memcpy(&f, &sym, sizeof f); /* POSIX: a function's address, as a data pointer */
        dlclose(self);
    }
#endif
    return f;
}

int32_t wxfs_jsc_set_rejection_hook(wxfs_jsc *glue, wxfs_jsc_rejection_fn fn, void *userdata) {
    if (glue == NULL) return WXFS_E_NULL;
    set_rejection_callback_fn set = find_set_rejection_callback();
    if (set == NULL) return WXFS_JSC_E_UNSUPPORTED;
    int first = glue->rejection == NULL && fn != NULL;
    glue->rejection = fn;
    glue->rejection_data = userdata;
    if (!first) return 0; /* the callback is in place already, or fn NULL: it reports nothing */
    JSObjectRef f = bound_make(glue->ctx, glue, 0, OP_REJECTION);
    if (f == NULL) {
        glue->rejection = NULL;
        return WXFS_E_IO;
    }
    JSValueRef e = NULL;
    set(glue->ctx, f, &e);
    if (e != NULL) {
        glue->rejection = NULL;
        return WXFS_JSC_E_EXCEPTION;
    }
    return 0;
}
