/*
 * async_test.c: wxfs_invoke_async from several threads (docs/design.md §7, wxfs.h), through wxfs.h only.
 *
 * Usage: async_test <fresh-empty-root-dir>
 *        async_test <fresh-empty-root-dir> typed-order   (only the typed-after-async ordering check)
 * Environment: WXFS_TEST_SCALE=<n> divides every repetition count by n (valgrind runs use it);
 * unset or 1 is the full run: 10,000 async calls.
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 *
 * Every async call gets a slot; its userdata is the slot's address. The callback only records
 * (count, code, result, thread); the main thread checks the records once the calls are done,
 * so a failure is reported from the main thread with the call that caused it.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "harness.h"

#define THREADS 4
/* Full-run counts: 4 x 500 x 2 (ordering) + 1000 (close in flight) + 4 x 1250 (mixed) = 10,000. */
#define FULL_ORDER_PER_THREAD 500
#define FULL_CLOSE_BATCH 1000
#define FULL_MIXED_PER_THREAD 1250
#define FULL_TOTAL 10000
/* Calls that must fail before queuing: their slots must never be called back. */
#define MAX_REFUSED 64
/* Give the library this long to deliver every queued callback (generous for valgrind). */
#define WAIT_SECONDS 240

/* Set on every thread of this program that issues calls; the library's workers never see it. */
static _Thread_local int t_host_thread;

struct slot {
    /* Set by the issuing thread before the call. */
    char call[160];     /* "api(args)", for messages */
    char expect[160];   /* the exact result, or its prefix */
    int expect_prefix;  /* 0: result must equal `expect`; 1: must start with it */
    int32_t expect_code;
    pthread_t caller;
    /* Set by the callback. */
    atomic_int count;
    int32_t code;
    int on_caller_thread;
    int result_null;
    size_t result_len;
    char result[256]; /* the first 255 bytes, NUL-terminated */
    int result_utf8;
};

static struct slot *g_slots;
static size_t g_slot_cap;
static atomic_size_t g_next_slot;
static struct slot g_refused[MAX_REFUSED]; /* userdata of calls that must not be queued */
static size_t g_refused_n;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static size_t g_done;          /* callbacks received (under g_mu) */
static atomic_size_t g_issued; /* calls queued (wxfs_invoke_async returned 0) */

static long g_scale = 1;
static const char *g_root;

static int scaled(int full) {
    long n = full / g_scale;
    return n < 1 ? 1 : (int)n;
}

static void on_result(void *userdata, int32_t code, const uint8_t *result, size_t result_len) {
    struct slot *s = userdata;
    int previous = atomic_fetch_add(&s->count, 1);
    if (previous == 0) {
        s->code = code;
        /* Not pthread_equal with the caller: a thread id is reused once its thread is joined. */
        s->on_caller_thread = t_host_thread;
        s->result_null = result == NULL;
        s->result_len = result_len;
        if (result != NULL) {
            size_t n = result_len < sizeof s->result - 1 ? result_len : sizeof s->result - 1;
            memcpy(s->result, result, n);
            s->result[n] = 0;
            s->result_utf8 = valid_utf8(result, result_len);
        }
    }
    pthread_mutex_lock(&g_mu);
    g_done++;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Queue one call; returns wxfs_invoke_async's code. The slot is filled in before the call. */
static int32_t issue(uint64_t h, const char *api, const char *args, int32_t expect_code, int expect_prefix,
                     const char *expect) {
    size_t i = atomic_fetch_add(&g_next_slot, 1);
    if (i >= g_slot_cap) {
        fprintf(stderr, "async_test: more calls than slots (%zu)\n", g_slot_cap);
        exit(2);
    }
    struct slot *s = &g_slots[i];
    snprintf(s->call, sizeof s->call, "%s(%s)", api, args);
    snprintf(s->expect, sizeof s->expect, "%s", expect);
    s->expect_prefix = expect_prefix;
    s->expect_code = expect_code;
    s->caller = pthread_self();
    t_host_thread = 1;
    int32_t rc = wxfs_invoke_async(h, api, strlen(api), args, strlen(args), on_result, s);
    if (rc == 0) atomic_fetch_add(&g_issued, 1);
    return rc;
}

/* Wait until `target` callbacks have arrived in total; fails after WAIT_SECONDS. */
static void wait_for_callbacks(size_t target) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_SECONDS;
    pthread_mutex_lock(&g_mu);
    while (g_done < target) {
        int rc = pthread_cond_timedwait(&g_cv, &g_mu, &deadline);
        if (rc == ETIMEDOUT && g_done < target) {
            size_t done = g_done;
            pthread_mutex_unlock(&g_mu);
            CHECK(0, "only %zu of %zu callbacks arrived within %d s", done, target, WAIT_SECONDS);
        }
    }
    pthread_mutex_unlock(&g_mu);
}

static size_t callbacks_so_far(void) {
    pthread_mutex_lock(&g_mu);
    size_t n = g_done;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Every slot in [from, to) was called back exactly once, off its caller's thread, with the
 * expected code and result. Call after wait_for_callbacks (which orders the records before us). */
static void check_slots(size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        struct slot *s = &g_slots[i];
        int n = atomic_load(&s->count);
        CHECK(n == 1, "%s: callback called %d times, expected exactly once", s->call, n);
        CHECK(!s->on_caller_thread, "%s: callback ran on a thread that issues calls", s->call);
        CHECK(!s->result_null, "%s: callback got result NULL", s->call);
        CHECK(s->result_len > 0 && s->result_len < sizeof s->result, "%s: result_len %zu", s->call, s->result_len);
        CHECK(s->result_utf8, "%s: result is not valid UTF-8: %s", s->call, s->result);
        CHECK(strlen(s->result) == s->result_len, "%s: result has an embedded NUL: %s", s->call, s->result);
        CHECK(starts_with(s->result, "{\"errMsg\":\"") && s->result[s->result_len - 1] == '}',
              "%s: result is not an object with errMsg first: %s", s->call, s->result);
        CHECK(s->code == s->expect_code, "%s: callback code %ld, expected %ld; result %s", s->call, (long)s->code,
              (long)s->expect_code, s->result);
        if (s->expect_prefix)
            CHECK(starts_with(s->result, s->expect), "%s: result\n  got:      %s\n  expected: %s...", s->call,
                  s->result, s->expect);
        else
            CHECK(strcmp(s->result, s->expect) == 0, "%s: result\n  got:      %s\n  expected: %s", s->call, s->result,
                  s->expect);
    }
}

/* ------------------------------------------------------------------------------------------ */

struct worker {
    int id;
    uint64_t h;
    int n;
    char error[1024]; /* first failure, "" when none */
};

#define WFAIL(w, ...)                                                                 \
    do {                                                                              \
        if ((w)->error[0] == 0) snprintf((w)->error, sizeof (w)->error, __VA_ARGS__); \
        return NULL;                                                                  \
    } while (0)

/* A sync call from a worker thread; the result must be exactly `want`. */
static int sync_exact(struct worker *w, const char *api, const char *args, const char *want) {
    wxfs_bytes r = {NULL, 0};
    int32_t rc = call(w->h, api, args, &r);
    int ok = rc == 0 && r.data != NULL && strcmp((const char *)r.data, want) == 0;
    if (!ok && w->error[0] == 0)
        snprintf(w->error, sizeof w->error, "thread %d: sync %s(%s) returned %ld: %s, expected %s", w->id, api, args,
                 (long)rc, r.data ? (const char *)r.data : "(NULL)", want);
    wxfs_bytes_free(r);
    return ok;
}

/* The file content 0,1,...,n-1, (malloc'd). */
static char *sequence_text(int n) {
    char *s = malloc((size_t)n * 8 + 1);
    CHECK(s != NULL, "malloc");
    size_t o = 0;
    for (int k = 0; k < n; k++) o += (size_t)sprintf(s + o, "%d,", k);
    s[o] = 0;
    return s;
}

/* Thread i: set key t<i> to 0..n-1 and append "<k>," to usr/t<i>.log, all async, in order; then
 * sync calls must already see the last values. */
static void *order_worker(void *arg) {
    struct worker *w = arg;
    char args[160], want[160];
    snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/t%d.log\",\"data\":\"\"}", w->id);
    if (!sync_exact(w, "writeFileSync", args, "{\"errMsg\":\"writeFileSync:ok\"}")) return NULL;
    for (int k = 0; k < w->n; k++) {
        snprintf(args, sizeof args, "{\"key\":\"t%d\",\"data\":%d}", w->id, k);
        int32_t rc = issue(w->h, "setStorageSync", args, 0, 0, "{\"errMsg\":\"setStorageSync:ok\"}");
        if (rc != 0) WFAIL(w, "thread %d: wxfs_invoke_async(setStorageSync %s) returned %ld", w->id, args, (long)rc);
        snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/t%d.log\",\"data\":\"%d,\"}", w->id, k);
        rc = issue(w->h, "appendFileSync", args, 0, 0, "{\"errMsg\":\"appendFileSync:ok\"}");
        if (rc != 0) WFAIL(w, "thread %d: wxfs_invoke_async(appendFileSync %s) returned %ld", w->id, args, (long)rc);
    }
    /* Sync calls from this thread take effect after its async ones. */
    snprintf(args, sizeof args, "{\"key\":\"t%d\"}", w->id);
    snprintf(want, sizeof want, "{\"errMsg\":\"getStorageSync:ok\",\"data\":%d}", w->n - 1);
    if (!sync_exact(w, "getStorageSync", args, want)) return NULL;
    char *seq = sequence_text(w->n);
    char *full = malloc(strlen(seq) + 64);
    if (full == NULL) WFAIL(w, "malloc");
    sprintf(full, "{\"errMsg\":\"readFileSync:ok\",\"data\":\"%s\"}", seq);
    snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/t%d.log\",\"encoding\":\"utf8\"}", w->id);
    sync_exact(w, "readFileSync", args, full);
    free(full);
    free(seq);
    return NULL;
}

/* Thread i: a mix of storage and file calls whose results depend on the previous call of the
 * same thread, plus API failures, bridge failures and unknown apis (all delivered by callback). */
static void *mixed_worker(void *arg) {
    struct worker *w = arg;
    char args[160], want[160];
    for (int j = 0; j < w->n; j++) {
        int32_t rc;
        const char *api;
        switch (j % 5) {
        case 0:
            api = "setStorageSync";
            snprintf(args, sizeof args, "{\"key\":\"m%d-%d\",\"data\":\"v%d\"}", w->id, j, j);
            rc = issue(w->h, api, args, 0, 0, "{\"errMsg\":\"setStorageSync:ok\"}");
            break;
        case 1:
            api = "getStorageSync";
            snprintf(args, sizeof args, "{\"key\":\"m%d-%d\"}", w->id, j - 1);
            snprintf(want, sizeof want, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v%d\"}", j - 1);
            rc = issue(w->h, api, args, 0, 0, want);
            break;
        case 2:
            api = "writeFileSync";
            snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/m%d.txt\",\"data\":\"w%d\"}", w->id, j);
            rc = issue(w->h, api, args, 0, 0, "{\"errMsg\":\"writeFileSync:ok\"}");
            break;
        case 3:
            api = "readFile";
            snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/m%d.txt\",\"encoding\":\"utf8\"}", w->id);
            snprintf(want, sizeof want, "{\"errMsg\":\"readFile:ok\",\"data\":\"w%d\"}", j - 1);
            rc = issue(w->h, api, args, 0, 0, want);
            break;
        default:
            switch ((j / 5) % 3) {
            case 0:
                api = "readFileSync";
                snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/missing%d.txt\"}", w->id);
                rc = issue(w->h, api, args, 1300002, 1, "{\"errMsg\":\"readFileSync:fail no such file or directory");
                break;
            case 1:
                api = "getStorageSync";
                snprintf(args, sizeof args, "{not json %d", j);
                rc = issue(w->h, api, args, WXFS_E_JSON, 1, "{\"errMsg\":\"getStorageSync:fail ");
                break;
            default:
                api = "noSuchApiSync";
                snprintf(args, sizeof args, "{}");
                rc = issue(w->h, api, args, WXFS_E_UNKNOWN_API, 1, "{\"errMsg\":\"noSuchApiSync:fail ");
                break;
            }
        }
        if (rc != 0) WFAIL(w, "thread %d: wxfs_invoke_async(%s %s) returned %ld", w->id, api, args, (long)rc);
    }
    return NULL;
}

static void run_threads(void *(*fn)(void *), uint64_t h, int n, struct worker *w) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i;
        w[i].h = h;
        w[i].n = n;
        w[i].error[0] = 0;
        CHECK(pthread_create(&t[i], NULL, fn, &w[i]) == 0, "pthread_create %d", i);
    }
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join %d", i);
    for (int i = 0; i < THREADS; i++) CHECK(w[i].error[0] == 0, "%s", w[i].error);
}

static uint64_t open_app(const char *app) {
    char cfg[4096];
    uint64_t h = 0;
    make_config(cfg, sizeof cfg, g_root, app, "u1", "");
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    return h;
}

/* ------------------------------------------------------------------------------------------ */

static void test_order_per_thread(uint64_t h) {
    g_test = "order per thread";
    int n = scaled(FULL_ORDER_PER_THREAD);
    size_t first = atomic_load(&g_next_slot);
    struct worker w[THREADS];
    run_threads(order_worker, h, n, w);
    size_t last = atomic_load(&g_next_slot);
    CHECK(last - first == (size_t)THREADS * n * 2, "%zu calls issued, expected %d", last - first, THREADS * n * 2);
    wait_for_callbacks(atomic_load(&g_issued));
    check_slots(first, last);

    /* After every callback: exact file contents and final values. */
    char *seq = sequence_text(n);
    char *want = malloc(strlen(seq) + 64);
    CHECK(want != NULL, "malloc");
    sprintf(want, "{\"errMsg\":\"readFileSync:ok\",\"data\":\"%s\"}", seq);
    for (int i = 0; i < THREADS; i++) {
        char args[128], exp[128];
        snprintf(args, sizeof args, "{\"filePath\":\"wxfile://usr/t%d.log\",\"encoding\":\"utf8\"}", i);
        EXPECT_EXACT(h, "readFileSync", args, 0, want);
        snprintf(args, sizeof args, "{\"key\":\"t%d\"}", i);
        snprintf(exp, sizeof exp, "{\"errMsg\":\"getStorageSync:ok\",\"data\":%d}", n - 1);
        EXPECT_EXACT(h, "getStorageSync", args, 0, exp);
    }
    free(want);
    free(seq);
}

static void test_mixed(uint64_t h) {
    g_test = "mixed calls and failures from 4 threads";
    int n = scaled(FULL_MIXED_PER_THREAD);
    size_t first = atomic_load(&g_next_slot);
    struct worker w[THREADS];
    run_threads(mixed_worker, h, n, w);
    size_t last = atomic_load(&g_next_slot);
    CHECK(last - first == (size_t)THREADS * n, "%zu calls issued, expected %d", last - first, THREADS * n);
    wait_for_callbacks(atomic_load(&g_issued));
    check_slots(first, last);
}

/* A call that must be refused before queuing: its code, a last error, and (checked at the end)
 * no callback on its userdata. */
static void expect_refused(uint64_t h, const char *api, size_t api_len, const char *args, size_t args_len,
                           wxfs_callback cb, int32_t want, const char *what) {
    CHECK(g_refused_n < MAX_REFUSED, "too many refused calls");
    struct slot *s = &g_refused[g_refused_n++];
    snprintf(s->call, sizeof s->call, "%s", what);
    s->caller = pthread_self();
    t_host_thread = 1;
    int32_t rc = wxfs_invoke_async(h, api, api_len, args, args_len, cb, s);
    CHECK(rc == want, "%s: wxfs_invoke_async returned %ld, expected %ld", what, (long)rc, (long)want);
    CHECK(last_error()[0] != 0, "%s: no last error after a refused call", what);
}

static void test_immediate_failures(uint64_t live) {
    g_test = "immediate failures";
    const char *api = "getStorageSync";
    const char *args = "{\"key\":\"k\"}";
    size_t al = strlen(api), gl = strlen(args);

    expect_refused(live, api, al, args, gl, NULL, WXFS_E_NULL, "cb NULL");
    expect_refused(live, NULL, al, args, gl, on_result, WXFS_E_NULL, "api NULL");
    expect_refused(live, NULL, 0, args, gl, on_result, WXFS_E_NULL, "api NULL, length 0");
    expect_refused(live, api, al, NULL, 5, on_result, WXFS_E_NULL, "args NULL with a length");
    expect_refused(live, "getStorageSync\xff", al + 1, args, gl, on_result, WXFS_E_UTF8, "api not UTF-8");
    expect_refused(live, api, al, "{\"key\":\"\xc0\xaf\"}", 12, on_result, WXFS_E_UTF8, "args not UTF-8 (overlong)");
    expect_refused(live, api, al, "{\"key\":\"\xed\xa0\x80\"}", 13, on_result, WXFS_E_UTF8, "args not UTF-8 (surrogate)");
    expect_refused(0, api, al, args, gl, on_result, WXFS_E_HANDLE, "handle 0");
    expect_refused(UINT64_C(0x0100000000000005), api, al, args, gl, on_result, WXFS_E_HANDLE, "handle never issued");
    expect_refused(live + (UINT64_C(1) << 32), api, al, args, gl, on_result, WXFS_E_HANDLE, "live handle, other generation");
    expect_refused(UINT64_MAX, api, al, args, gl, on_result, WXFS_E_HANDLE, "handle UINT64_MAX");
    uint64_t closed = open_app("wx-async-closed");
    CHECK_CODE(wxfs_close(closed), 0);
    expect_refused(closed, api, al, args, gl, on_result, WXFS_E_HANDLE, "closed handle");
    CHECK(strstr(last_error(), "invalid sandbox handle") != NULL, "last error after a closed handle: \"%s\"",
          last_error());

    /* args NULL with length 0 means {}: queued. */
    size_t first = atomic_load(&g_next_slot);
    g_test = "args NULL, length 0";
    struct slot *s = &g_slots[atomic_fetch_add(&g_next_slot, 1)];
    snprintf(s->call, sizeof s->call, "getStorageInfoSync(NULL, 0)");
    snprintf(s->expect, sizeof s->expect, "{\"errMsg\":\"getStorageInfoSync:ok\",\"keys\":[]");
    s->expect_prefix = 1;
    s->expect_code = 0;
    s->caller = pthread_self();
    t_host_thread = 1;
    uint64_t empty = open_app("wx-async-empty");
    CHECK_CODE(wxfs_invoke_async(empty, "getStorageInfoSync", 18, NULL, 0, on_result, s), 0);
    atomic_fetch_add(&g_issued, 1);
    CHECK(last_error()[0] == 0, "last error after a queued call is \"%s\"", last_error());
    wait_for_callbacks(atomic_load(&g_issued));
    check_slots(first, first + 1);
    CHECK_CODE(wxfs_close(empty), 0);
}

/* Queue a batch on a handle, close it at once: every call still completes exactly once, and a
 * reopened sandbox holds what they wrote. */
static void test_close_in_flight(void) {
    g_test = "close while calls are in flight";
    int n = scaled(FULL_CLOSE_BATCH);
    uint64_t h = open_app("wx-async-close");
    size_t first = atomic_load(&g_next_slot);
    size_t done_before = callbacks_so_far();
    for (int k = 0; k < n; k++) {
        char args[96];
        snprintf(args, sizeof args, "{\"key\":\"c%d\",\"data\":{\"n\":%d}}", k, k);
        int32_t rc = issue(h, "setStorageSync", args, 0, 0, "{\"errMsg\":\"setStorageSync:ok\"}");
        CHECK(rc == 0, "wxfs_invoke_async(setStorageSync %s) returned %ld: %s", args, (long)rc, last_error());
    }
    CHECK_CODE(wxfs_close(h), 0);
    size_t done_at_close = callbacks_so_far() - done_before;
    /* Refused now, and the queued ones are unaffected. */
    expect_refused(h, "setStorageSync", 14, "{\"key\":\"late\",\"data\":1}", 24, on_result, WXFS_E_HANDLE,
                   "handle closed with calls in flight");
    wait_for_callbacks(atomic_load(&g_issued));
    check_slots(first, first + (size_t)n);
    printf("async_test: %zu of %d calls had completed when wxfs_close returned\n", done_at_close, n);

    g_test = "reopen after close in flight";
    h = open_app("wx-async-close");
    for (int k = 0; k < n; k++) {
        char args[64], want[96];
        snprintf(args, sizeof args, "{\"key\":\"c%d\"}", k);
        snprintf(want, sizeof want, "{\"errMsg\":\"getStorageSync:ok\",\"data\":{\"n\":%d}}", k);
        EXPECT_EXACT(h, "getStorageSync", args, 0, want);
    }
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"late\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    CHECK_CODE(wxfs_close(h), 0);
}

/* Typed calls are sync calls too: from a thread with async calls queued on a sandbox, a typed
 * call must take effect after them (docs/design.md §7; wxfs_invoke_async: "sync calls included"). */
static void *typed_order_worker(void *arg) {
    struct worker *w = arg;
    char key[16], args[128], want[32];
    snprintf(key, sizeof key, "o%d", w->id);
    for (int round = 0; round < w->n; round++) {
        int last = round * 100 + 19;
        for (int k = round * 100; k <= last; k++) {
            snprintf(args, sizeof args, "{\"key\":\"%s\",\"data\":%d}", key, k);
            int32_t rc = issue(w->h, "setStorageSync", args, 0, 0, "{\"errMsg\":\"setStorageSync:ok\"}");
            if (rc != 0) WFAIL(w, "thread %d: wxfs_invoke_async(setStorageSync %s) returned %ld", w->id, args, (long)rc);
        }
        wxfs_bytes j = {NULL, 0};
        int32_t rc = wxfs_storage_get(w->h, key, strlen(key), &j, NULL);
        snprintf(want, sizeof want, "%d", last);
        int ok = rc == 0 && j.data != NULL && strcmp((const char *)j.data, want) == 0;
        if (!ok) {
            if (rc == 0) snprintf(args, sizeof args, "%s", (const char *)j.data);
            wxfs_bytes_free(j);
            WFAIL(w,
                  "thread %d, round %d: wxfs_storage_get(%s) right after this thread's async setStorageSync calls "
                  "returned %ld (value %s), expected 0 with value %s",
                  w->id, round, key, (long)rc, rc == 0 ? args : "-", want);
        }
        wxfs_bytes_free(j);
    }
    return NULL;
}

static void test_typed_order(void) {
    g_test = "typed calls after async calls of the same thread";
    uint64_t h = open_app("wx-async-typed");
    struct worker w[THREADS];
    int rounds = scaled(50);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i;
        w[i].h = h;
        w[i].n = rounds;
        w[i].error[0] = 0;
        CHECK(pthread_create(&t[i], NULL, typed_order_worker, &w[i]) == 0, "pthread_create %d", i);
    }
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join %d", i);
    /* Let every queued call finish before reporting, so nothing runs during exit. */
    wait_for_callbacks(atomic_load(&g_issued));
    for (int i = 0; i < THREADS; i++) CHECK(w[i].error[0] == 0, "%s", w[i].error);
    check_slots(0, atomic_load(&g_next_slot));
    CHECK_CODE(wxfs_close(h), 0);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3 || argv[1][0] == 0 || (argc == 3 && strcmp(argv[2], "typed-order") != 0)) {
        fprintf(stderr, "usage: %s <empty root dir> [typed-order]\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    const char *scale = getenv("WXFS_TEST_SCALE");
    if (scale != NULL && scale[0] != 0) {
        char *end = NULL;
        g_scale = strtol(scale, &end, 10);
        if (*end != 0 || g_scale < 1) {
            fprintf(stderr, "WXFS_TEST_SCALE must be a positive integer, got \"%s\"\n", scale);
            return 2;
        }
    }
    g_slot_cap = (size_t)FULL_TOTAL + 16;
    g_slots = calloc(g_slot_cap, sizeof *g_slots);
    CHECK(g_slots != NULL, "calloc");

    if (argc == 3) {
        test_typed_order();
        free(g_slots);
        printf("async_test typed-order: %lu checks passed\n", g_checks);
        return 0;
    }
    uint64_t h = open_app("wx-async");
    test_order_per_thread(h);
    test_mixed(h);
    test_immediate_failures(h);
    test_close_in_flight();
    CHECK_CODE(wxfs_close(h), 0);

    g_test = "totals";
    size_t expected = (size_t)THREADS * scaled(FULL_ORDER_PER_THREAD) * 2 + (size_t)THREADS * scaled(FULL_MIXED_PER_THREAD) +
                      (size_t)scaled(FULL_CLOSE_BATCH) + 1;
    if (g_scale == 1) CHECK(expected == FULL_TOTAL + 1, "the full run issues %zu calls, expected %d + 1", expected, FULL_TOTAL);
    size_t issued = atomic_load(&g_issued);
    CHECK(issued == expected, "%zu async calls queued, expected %zu", issued, expected);
    CHECK(atomic_load(&g_next_slot) == issued, "%zu slots used for %zu queued calls", atomic_load(&g_next_slot), issued);
    /* Late or duplicate callbacks: give them a moment to show up, then count again. */
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    size_t done = callbacks_so_far();
    CHECK(done == issued, "%zu callbacks for %zu queued calls", done, issued);
    check_slots(0, issued);
    for (size_t i = 0; i < g_refused_n; i++)
        CHECK(atomic_load(&g_refused[i].count) == 0, "%s: refused call was called back %d times", g_refused[i].call,
              atomic_load(&g_refused[i].count));

    free(g_slots);
    printf("async_test: %zu async calls, each called back exactly once; %lu checks passed\n", issued, g_checks);
    return 0;
}
