/*
 * wxfs for JavaScriptCore: `wx` (or `my`, `tt`, `swan`, `qq`) in a JSGlobalContext, over an open
 * wxfs sandbox, through JavaScriptCore's C API only. The same source compiles against iOS's
 * JavaScriptCore.framework and against WebKitGTK's libjavascriptcoregtk on Linux: it uses no
 * GLib/GTK API and no Objective-C.
 *
 * What it does:
 * - loads bindings/js from its source files (the directory holding index.js) into the context, in
 *   a closure: nothing but the api object becomes reachable from mini-program code;
 * - hands bindings/js a native invoke over `wxfs_invoke_v2` and an async twin over
 *   `wxfs_invoke_async_queued`. ArrayBuffers cross as bytes: argument buffers are borrowed for the
 *   call (async calls: copied by the library before it returns), result buffers become
 *   ArrayBuffers over the library's own memory (no copy), freed when JavaScriptCore collects them;
 * - delivers async results on the host's own thread: the host adds `wxfs_jsc_fd` to its loop for
 *   readability and calls `wxfs_jsc_drain` on the JavaScript thread when it fires. The drain runs
 *   the completed calls' callbacks (issue order for calls made on one sandbox) and then the
 *   glue's own tasks (bindings/js's `defer`: success/fail/complete never run inside the call that
 *   started them, nor inside the native callback).
 *
 * Threads: every function here is called on the thread that runs the context's JavaScript (the
 * glue never calls JavaScript from a wxfs worker). A minimal loop:
 *
 *     wxfs_jsc *g;
 *     JSValueRef exc = NULL;
 *     if (wxfs_jsc_install(ctx, sandbox, "wechat", "/path/to/bindings/js", &g, &exc) != 0) ...;
 *     ... JSEvaluateScript(ctx, script, ...) ...
 *     while (wxfs_jsc_pending(g) > 0) {
 *         if (!wxfs_jsc_has_tasks(g)) poll(&(struct pollfd){wxfs_jsc_fd(g), POLLIN, 0}, 1, -1);
 *         if (wxfs_jsc_drain(g, &exc) < 0) ...;   // an uncaught exception from a callback
 *     }
 *     wxfs_jsc_free(g);            // before JSGlobalContextRelease; then wxfs_close(sandbox)
 *
 * A host with its own run loop (CFRunLoop with a CFFileDescriptor, ALooper, libuv's uv_poll, epoll)
 * does the same: watch the fd, drain on the JavaScript thread, and when `wxfs_jsc_has_tasks` says
 * tasks wait, drain again without waiting on the fd (a task queued outside a drain, for example by a
 * call refused before queuing, does not make the fd readable).
 */
#ifndef WXFS_JSC_H
#define WXFS_JSC_H

#include <stddef.h>
#include <stdint.h>

#include <JavaScriptCore/JavaScript.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A JavaScript exception was thrown; it is in `*exception` (when that is non-NULL). */
#define WXFS_JSC_E_EXCEPTION (-100)

/** This JavaScriptCore lacks what the call needs (see wxfs_jsc_set_rejection_hook). */
#define WXFS_JSC_E_UNSUPPORTED (-101)

/** The glue of one JSGlobalContext: its completion queue, its tasks, bindings/js loaded once. */
typedef struct wxfs_jsc wxfs_jsc;

/**
 * Load bindings/js into `ctx` from `js_dir` (the directory holding bindings/js's index.js) and
 * create the completion queue. Writes the glue to `*out`. Returns 0; `WXFS_E_NULL` for a NULL
 * argument; `WXFS_E_IO` when the queue cannot be made (`wxfs_last_error_message` says why); or
 * `WXFS_JSC_E_EXCEPTION` when a source file is missing or does not load (the exception says
 * which). The glue retains `ctx` until `wxfs_jsc_free`.
 */
int32_t wxfs_jsc_new(JSGlobalContextRef ctx, const char *js_dir, wxfs_jsc **out, JSValueRef *exception);

/**
 * The api object of `platform` ("wechat" when NULL; "alipay", "douyin", "baidu", "qq") over the
 * open `sandbox`, which must have been opened with the same config `platform`. `protocol` is the
 * sandbox's config protocol (NULL: "wxfile"). The object is installed nowhere; many may exist
 * over many sandboxes in one context. Returns NULL with `*exception` set when the platform is
 * unknown or the sandbox handle is not open. The sandbox must stay open while the object is
 * used (a closed handle makes each call fail with the library's message).
 */
JSObjectRef wxfs_jsc_api(wxfs_jsc *glue, uint64_t sandbox, const char *platform, const char *protocol,
                         JSValueRef *exception);

/**
 * The one call: `wxfs_jsc_new`, then `wxfs_jsc_api`, then the object as the global the platform's
 * code calls (`wx`, `my`, `tt`, `swan` or `qq`). Returns as `wxfs_jsc_new` does; `*out` is set
 * only on success.
 */
int32_t wxfs_jsc_install(JSGlobalContextRef ctx, uint64_t sandbox, const char *platform, const char *js_dir,
                         wxfs_jsc **out, JSValueRef *exception);

/** The file descriptor to watch for readability: readable exactly while completions wait. */
int wxfs_jsc_fd(const wxfs_jsc *glue);

/**
 * Run the callbacks of the completed calls, then the tasks queued before the drain began or by
 * those callbacks. Returns how many ran, or `WXFS_JSC_E_EXCEPTION` when one threw (it is in
 * `*exception`: an uncaught exception, for example from a mini-program's `success`); the
 * completions are all delivered even then, and tasks not yet run wait for the next drain.
 */
int32_t wxfs_jsc_drain(wxfs_jsc *glue, JSValueRef *exception);

/** Async calls whose callback has not yet run, plus tasks waiting: 0 when the glue is idle. */
size_t wxfs_jsc_pending(const wxfs_jsc *glue);

/** Whether tasks wait: drain again without waiting on the fd. */
int wxfs_jsc_has_tasks(const wxfs_jsc *glue);

/**
 * The native object bindings/js is wired to, for host code only (never hand it to mini-program
 * code: it reaches `host.*` apis): `invoke(handle, api, argsJson, buffers?) -> json |
 * [json, ...ArrayBuffer]`, `invokeAsync(handle, api, argsJson, buffers, id) -> code`,
 * `storageSet`, `storageGet`, `apiList(handle)`, `lastError()`. A sandbox handle crosses as a
 * number.
 */
JSObjectRef wxfs_jsc_bridge(wxfs_jsc *glue);

/**
 * Receives a promise rejection that nothing handled: `reason` is what the promise was rejected
 * with (an Error, usually). Called on the JavaScript thread, once the microtasks that could have
 * handled it ran; it may stringify `reason`, and must not throw into JavaScript.
 */
typedef void (*wxfs_jsc_rejection_fn)(void *userdata, JSContextRef ctx, JSValueRef reason);

/**
 * Report every promise of the context rejected with no handler to `fn` (NULL: report nothing),
 * as a browser's "Uncaught (in promise)": a mini-program's `async` function that threw, a
 * `Promise.reject` nobody awaits. bindings/js's own promises never count (they are handled from
 * birth: an unawaited failing `wx.getStorage({key})` is the caller's choice, as in WeChat).
 * Returns 0; `WXFS_JSC_E_UNSUPPORTED` when this JavaScriptCore has no
 * `JSGlobalContextSetUnhandledRejectionCallback` (WebKitGTK before 2.28, iOS before 13.4, or
 * built with `WXFS_JSC_NO_REJECTION_HOOK`: that function is exported but declared in a private
 * header, so the glue looks it up with dlsym); `WXFS_E_IO` when out of memory. The callback JavaScriptCore holds is the context's
 * only one: a host that set its own loses it.
 */
int32_t wxfs_jsc_set_rejection_hook(wxfs_jsc *glue, wxfs_jsc_rejection_fn fn, void *userdata);

/**
 * Release the glue: its completion queue is closed (results of calls still pending are freed and
 * their callbacks never run), its tasks dropped, and every api object it made throws from then
 * on. Call it on the JavaScript thread, outside `wxfs_jsc_drain`, before releasing the context.
 * NULL is a no-op.
 */
void wxfs_jsc_free(wxfs_jsc *glue);

#ifdef __cplusplus
}
#endif

#endif /* WXFS_JSC_H */
