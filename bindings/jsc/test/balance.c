/*
 * Leak accounting that no leak checker can do for JavaScriptCore's own objects: JavaScriptCore
 * allocates strings and cells from its own heap (libpas, mmap'd pages), which neither
 * LeakSanitizer nor valgrind sees, and the library keeps the result buffers it hands out in a
 * table until wxfs_bytes_free (so a buffer never freed is "still reachable", not a leak). Linked
 * into suite_host with `-Wl,--wrap=<fn>` for each function below, it counts, in the glue and the
 * host alike:
 * - JSStringRefs made (JSStringCreateWithUTF8CString, JSStringCreateWithCharacters,
 *   JSValueToStringCopy, JSValueCreateJSONString) against JSStringRelease;
 * - JSValueProtect against JSValueUnprotect;
 * - ArrayBuffers made over library bytes (JSObjectMakeArrayBufferWithBytesNoCopy) against
 *   wxfs_bytes_free of those same bytes (which the deallocator must call when the collector
 *   finalizes the ArrayBuffer, at the latest when the context is released).
 * suite_host prints the balance after the context is released; tests/jsc_host.rs asserts each is
 * even. Single-threaded: JavaScriptCore runs these on the JavaScript thread (the deallocator too,
 * when the collector sweeps or the context is destroyed), and counters are atomic regardless.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <JavaScriptCore/JavaScript.h>

#include "wxfs.h"

static atomic_long strings_made, strings_released, protects, unprotects, buffers_made, buffers_freed;

JSStringRef __real_JSStringCreateWithUTF8CString(const char *s);
JSStringRef __wrap_JSStringCreateWithUTF8CString(const char *s) {
    JSStringRef r = __real_JSStringCreateWithUTF8CString(s);
    if (r != NULL) atomic_fetch_add(&strings_made, 1);
    return r;
}

JSStringRef __real_JSStringCreateWithCharacters(const JSChar *u, size_t n);
JSStringRef __wrap_JSStringCreateWithCharacters(const JSChar *u, size_t n) {
    JSStringRef r = __real_JSStringCreateWithCharacters(u, n);
    if (r != NULL) atomic_fetch_add(&strings_made, 1);
    return r;
}

JSStringRef __real_JSValueToStringCopy(JSContextRef ctx, JSValueRef v, JSValueRef *e);
JSStringRef __wrap_JSValueToStringCopy(JSContextRef ctx, JSValueRef v, JSValueRef *e) {
    JSStringRef r = __real_JSValueToStringCopy(ctx, v, e);
    if (r != NULL) atomic_fetch_add(&strings_made, 1);
    return r;
}

JSStringRef __real_JSValueCreateJSONString(JSContextRef ctx, JSValueRef v, unsigned indent, JSValueRef *e);
JSStringRef __wrap_JSValueCreateJSONString(JSContextRef ctx, JSValueRef v, unsigned indent, JSValueRef *e) {
    JSStringRef r = __real_JSValueCreateJSONString(ctx, v, indent, e);
    if (r != NULL) atomic_fetch_add(&strings_made, 1);
    return r;
}

void __real_JSStringRelease(JSStringRef s);
void __wrap_JSStringRelease(JSStringRef s) {
    atomic_fetch_add(&strings_released, 1);
    __real_JSStringRelease(s);
}

void __real_JSValueProtect(JSContextRef ctx, JSValueRef v);
void __wrap_JSValueProtect(JSContextRef ctx, JSValueRef v) {
    atomic_fetch_add(&protects, 1);
    __real_JSValueProtect(ctx, v);
}

void __real_JSValueUnprotect(JSContextRef ctx, JSValueRef v);
void __wrap_JSValueUnprotect(JSContextRef ctx, JSValueRef v) {
    atomic_fetch_add(&unprotects, 1);
    __real_JSValueUnprotect(ctx, v);
}

/* The library bytes each ArrayBuffer was made over, until wxfs_bytes_free releases them. */
static void **lent;
static size_t n_lent, cap_lent;

JSObjectRef __real_JSObjectMakeArrayBufferWithBytesNoCopy(JSContextRef ctx, void *bytes, size_t len,
                                                          JSTypedArrayBytesDeallocator f, void *fctx, JSValueRef *e);
JSObjectRef __wrap_JSObjectMakeArrayBufferWithBytesNoCopy(JSContextRef ctx, void *bytes, size_t len,
                                                          JSTypedArrayBytesDeallocator f, void *fctx, JSValueRef *e) {
    JSObjectRef r = __real_JSObjectMakeArrayBufferWithBytesNoCopy(ctx, bytes, len, f, fctx, e);
    if (r != NULL) {
        atomic_fetch_add(&buffers_made, 1);
        if (n_lent == cap_lent) {
            cap_lent = cap_lent ? cap_lent * 2 : 64;
            lent = realloc(lent, cap_lent * sizeof *lent);
            if (lent == NULL) abort();
        }
        lent[n_lent++] = bytes;
    }
    return r;
}

void __real_wxfs_bytes_free(wxfs_bytes b);
void __wrap_wxfs_bytes_free(wxfs_bytes b) {
    for (size_t i = 0; i < n_lent; i++) {
        if (lent[i] == b.data) {
            lent[i] = lent[--n_lent];
            atomic_fetch_add(&buffers_freed, 1);
            break;
        }
    }
    __real_wxfs_bytes_free(b);
}

/* One line for tests/jsc_host.rs. */
void balance_print(void) {
    free(lent);
    printf("balance: strings %ld/%ld protects %ld/%ld buffers %ld/%ld\n", (long)strings_made,
           (long)strings_released, (long)protects, (long)unprotects, (long)buffers_made, (long)buffers_freed);
    fflush(stdout);
}
