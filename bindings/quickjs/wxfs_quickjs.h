/*
 * wxfs for QuickJS hosts: `wx` (or `my`, `tt`, `swan`, `qq`) in a JSContext, over libwxfs.
 *
 * Compile wxfs_quickjs.c with the host's own QuickJS (Fabrice Bellard's QuickJS or QuickJS-ng;
 * the include path must reach its quickjs.h) and link libwxfs. The glue loads bindings/js (the
 * engine-neutral JavaScript layer: every FileSystemManager method and storage api, Sync and
 * async) from its source files, hands it the native invoke over `wxfs_invoke_v2` (ArrayBuffers
 * cross as bytes, never as base64; result buffers become ArrayBuffers without a copy) and its
 * async twin over `wxfs_invoke_async_queued`: async results wait on a completion queue until the
 * host drains it on its JS thread, so no JavaScript ever runs on a wxfs worker.
 *
 * The host's loop, in full:
 *
 *     wxfs_qjs *q = wxfs_qjs_install(ctx, sandbox, NULL, &opts);   // globalThis.wx
 *     ... JS_Eval the mini-program's code ...
 *     while (wxfs_qjs_busy(q)) {
 *         if (!JS_IsJobPending(rt)) poll({wxfs_qjs_fd(q), POLLIN}, -1);  // or ALooper, epoll, uv_poll
 *         if (wxfs_qjs_drain(q) < 0) report(JS_GetException(ctx));
 *     }
 *     wxfs_qjs_free(q);            // before JS_FreeContext
 *
 * Threads: one wxfs_qjs belongs to one JSContext and is used on that context's thread only.
 * Several contexts (on several threads) each have their own. Everything here is engine-neutral
 * C99 plus the QuickJS API both engines share.
 */
#ifndef WXFS_QUICKJS_H
#define WXFS_QUICKJS_H

#include <stddef.h>
#include <stdint.h>

#include "quickjs.h"
#include "wxfs.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One file of bindings/js, for a host that embeds them: `name` is its path under bindings/js
 * without `.js` ("index", "core", "codec", "dialects/wechat", ...); `text` is its UTF-8 source
 * (`len` bytes, no NUL needed). */
typedef struct wxfs_qjs_source {
    const char *name;
    const char *text;
    size_t len;
} wxfs_qjs_source;

/** Where bindings/js comes from: its directory (read once, at wxfs_qjs_new), or the host's
 * table of its files (`sources`, `sources_len`), which wins when given. */
typedef struct wxfs_qjs_options {
    const char *js_dir;
    const wxfs_qjs_source *sources;
    size_t sources_len;
} wxfs_qjs_options;

typedef struct wxfs_qjs wxfs_qjs;

/** Load bindings/js into `ctx` and create the completion queue. NULL on failure: then a JS
 * exception is pending in `ctx` saying why (a file missing, the queue not created). */
wxfs_qjs *wxfs_qjs_new(JSContext *ctx, const wxfs_qjs_options *opts);

/** The api object for `sandbox` (open, and kept open while the object is used).
 * `options_json` (may be NULL): `{"platform", "protocol"}` as in the sandbox's wxfs_open config
 * (the config itself may be passed; other fields are ignored). JS_EXCEPTION on failure. */
JSValue wxfs_qjs_api(wxfs_qjs *q, uint64_t sandbox, const char *options_json);

/** Set the api object for `sandbox` on the global object, under the platform's name (`wx`,
 * `my`, `tt`, `swan` or `qq`). Returns 0, or -1 with a JS exception pending. */
int wxfs_qjs_install_global(wxfs_qjs *q, uint64_t sandbox, const char *options_json);

/** The one call: wxfs_qjs_new, then wxfs_qjs_install_global. NULL with a JS exception pending
 * on failure (nothing is left allocated). */
wxfs_qjs *wxfs_qjs_install(JSContext *ctx, uint64_t sandbox, const char *options_json, const wxfs_qjs_options *opts);

/** The completion queue's fd: readable while async results wait. Add it to the host's loop;
 * never read, write or close it. */
int wxfs_qjs_fd(const wxfs_qjs *q);

/** Run the JS callbacks of the async results waiting, then QuickJS's job queue (Promise
 * reactions, where bindings/js settles success/fail/complete) until it is empty. Returns 0, or
 * -1 when JavaScript threw and nothing caught it (a user callback, a job): the exception is
 * then pending in the context (JS_GetException) and the rest stays queued for the next call. */
int wxfs_qjs_drain(wxfs_qjs *q);

/** How many async calls issued through the glue have not yet been handed to JavaScript. */
size_t wxfs_qjs_pending(const wxfs_qjs *q);

/** Whether the loop has work: an async call pending, or a QuickJS job waiting. */
int wxfs_qjs_busy(const wxfs_qjs *q);

/** Receives a promise rejection nothing handled: `reason` is what the promise was rejected with.
 * Called on the context's thread from wxfs_qjs_drain; it may read `reason` (JS_ToCString), and
 * must not free it. */
typedef void (*wxfs_qjs_rejection_fn)(void *userdata, JSContext *ctx, JSValueConst reason);

/** Report every promise of the context rejected with no handler to `fn` (NULL: stop), as a
 * browser's "Uncaught (in promise)": a mini-program's `async` function that threw, a
 * `Promise.reject` nobody awaits. A rejection counts as unhandled when the job queue ran empty
 * without a handler added to it: wxfs_qjs_drain reports it then (and wxfs_qjs_busy stays true
 * until it has). bindings/js's own promises never count (handled from birth, as in WeChat).
 * It installs the runtime's promise rejection tracker (JS_SetHostPromiseRejectionTracker): one
 * glue per runtime may use it, and a tracker the host set is replaced; wxfs_qjs_free removes it. */
void wxfs_qjs_set_rejection_hook(wxfs_qjs *q, wxfs_qjs_rejection_fn fn, void *userdata);

/** Close the queue (results still pending are freed, their callbacks never run) and release
 * everything the glue holds in the context. Call it before JS_FreeContext; api objects still
 * reachable then throw a TypeError when called. NULL is a no-op. */
void wxfs_qjs_free(wxfs_qjs *q);

#ifdef __cplusplus
}
#endif

#endif /* WXFS_QUICKJS_H */
