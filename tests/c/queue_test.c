/*
 * queue_test.c: completion queues (wxfs_queue_*, wxfs_invoke_async_queued), through wxfs.h only,
 * driven the way a host's event loop drives them: poll(2) on the queue's fd, then drain on the
 * loop thread.
 *
 * Usage: queue_test <fresh-empty-root-dir>          order, sync-in-callback, fd, close
 *        queue_test <fresh-empty-root-dir> budget   the byte budget with nobody draining (sets
 *                                                   WXFS_ASYNC_QUEUE_BYTES before the first call)
 * Environment: WXFS_TEST_SCALE=<n> divides the call counts by n (valgrind runs use it); unset or 1
 * is the full run: 100,000 async calls from 4 threads.
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define THREADS 4
#define FULL_PER_THREAD 25000

static _Thread_local int t_loop_thread;
static long g_scale = 1;
static uint64_t g_sb, g_q;
static int g_fd = -1;

static int scaled(int full) {
    long n = full / g_scale;
    return n < 1 ? 1 : (int)n;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The queue's fd is readable now (poll with the given timeout in ms). */
static int readable(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    CHECK(n >= 0, "poll failed");
    return n == 1 && (p.revents & POLLIN);
}

/* ---- 1. 100,000 calls from 4 threads, drained on this thread: once each, in order ---------- */

static atomic_long g_next[THREADS];   /* the next sequence number each thread's callbacks expect */
static atomic_long g_ran;             /* callbacks run */
static atomic_long g_off_loop;        /* callbacks run on another thread than the loop's */
static atomic_long g_bad_code;
static atomic_long g_out_of_order;
static atomic_long g_issued;
static int g_per_thread;

static void on_ordered(void *userdata, int32_t code, struct wxfs_result *result) {
    uintptr_t u = (uintptr_t)userdata;
    int thread = (int)(u >> 32);
    long seq = (long)(u & 0xffffffffu);
    if (!t_loop_thread) atomic_fetch_add(&g_off_loop, 1);
    if (code != 0 || result == NULL || result->json.data == NULL) atomic_fetch_add(&g_bad_code, 1);
    long want = atomic_load(&g_next[thread]);
    if (seq != want) atomic_fetch_add(&g_out_of_order, 1);
    atomic_store(&g_next[thread], seq + 1);
    atomic_fetch_add(&g_ran, 1);
}

static void *issue_ordered(void *arg) {
    int thread = (int)(intptr_t)arg;
    char args[128];
    for (long seq = 0; seq < g_per_thread; seq++) {
        /* Each thread writes its own key: the value is its sequence number. */
        snprintf(args, sizeof args, "{\"key\":\"t%d\",\"data\":%ld}", thread, seq);
        void *ud = (void *)(((uintptr_t)thread << 32) | (uintptr_t)seq);
        for (;;) {
            int32_t rc = wxfs_invoke_async_queued(g_sb, g_q, "setStorage", 10, args, strlen(args), NULL, 0, on_ordered, ud);
            if (rc == 0) break;
            /* A host whose loop lags gets QUEUE_FULL and retries later; nothing else may fail. */
            CHECK_CODE(rc, WXFS_E_QUEUE_FULL);
            sleep_ms(1);
        }
        atomic_fetch_add(&g_issued, 1);
    }
    return NULL;
}

static void test_order(int fd) {
    g_test = "100,000 calls from 4 threads drained on one loop thread";
    g_per_thread = scaled(FULL_PER_THREAD);
    long total = (long)g_per_thread * THREADS;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, issue_ordered, (void *)(intptr_t)i) == 0, "pthread_create");
    long idle_rounds = 0;
    while (atomic_load(&g_ran) < total) {
        if (!readable(fd, 1000)) {
            CHECK(++idle_rounds < 240, "no completion for 240 s: %ld of %ld ran", atomic_load(&g_ran), total);
            continue;
        }
        idle_rounds = 0;
        size_t ran = 99;
        CHECK_CODE(wxfs_queue_drain(g_q, 0, &ran), 0);
        CHECK(ran > 0, "the fd was readable and the drain ran nothing");
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK(atomic_load(&g_ran) == total, "%ld callbacks for %ld calls", atomic_load(&g_ran), total);
    CHECK(atomic_load(&g_out_of_order) == 0, "%ld callbacks out of issue order", atomic_load(&g_out_of_order));
    CHECK(atomic_load(&g_off_loop) == 0, "%ld callbacks ran off the loop thread", atomic_load(&g_off_loop));
    CHECK(atomic_load(&g_bad_code) == 0, "%ld callbacks failed", atomic_load(&g_bad_code));
    for (int i = 0; i < THREADS; i++)
        CHECK(atomic_load(&g_next[i]) == g_per_thread, "thread %d: %ld of %d callbacks", i, atomic_load(&g_next[i]), g_per_thread);
    CHECK(!readable(fd, 0), "the fd is readable with nothing waiting");
    /* The last value each thread set is what storage holds. */
    for (int i = 0; i < THREADS; i++) {
        char args[64], want[96];
        snprintf(args, sizeof args, "{\"key\":\"t%d\"}", i);
        snprintf(want, sizeof want, "{\"errMsg\":\"getStorageSync:ok\",\"data\":%d}", g_per_thread - 1);
        EXPECT_EXACT(g_sb, "getStorageSync", args, 0, want);
    }
}

/* ---- 2. a sync call from inside a drained callback ------------------------------------------ */

static int g_sync_checked;

static void on_then_sync(void *userdata, int32_t code, struct wxfs_result *result) {
    (void)userdata;
    (void)result;
    CHECK_CODE(code, 0);
    /* The set this callback belongs to has taken effect; a sync get sees it and does not wait on
     * the callbacks still queued behind this one. */
    EXPECT_EXACT(g_sb, "getStorageSync", "{\"key\":\"inside\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v1\"}");
    EXPECT_EXACT(g_sb, "setStorageSync", "{\"key\":\"inside2\",\"data\":2}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    g_sync_checked++;
}

static void on_nothing(void *userdata, int32_t code, struct wxfs_result *result) {
    (void)result;
    CHECK_CODE(code, 0);
    (*(int *)userdata)++;
}

static void test_sync_inside(int fd) {
    g_test = "a sync call from inside a drained callback";
    const char *a = "{\"key\":\"inside\",\"data\":\"v1\"}";
    CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_q, "setStorage", 10, a, strlen(a), NULL, 0, on_then_sync, NULL), 0);
    int later = 0;
    for (int i = 0; i < 10; i++)
        CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_q, "getStorageInfo", 14, "{}", 2, NULL, 0, on_nothing, &later), 0);
    int rounds = 0;
    while (g_sync_checked + later < 11) {
        CHECK(++rounds < 240, "callbacks missing: %d of 11", g_sync_checked + later);
        if (readable(fd, 1000)) CHECK_CODE(wxfs_queue_drain(g_q, 0, NULL), 0);
    }
    CHECK(g_sync_checked == 1 && later == 10, "%d, %d", g_sync_checked, later);
    EXPECT_EXACT(g_sb, "getStorageSync", "{\"key\":\"inside2\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":2}");
}

/* ---- 3. the fd is readable exactly while completions wait; max bounds a drain ---------------- */

static void test_fd(int fd) {
    g_test = "the fd is readable exactly while completions wait";
    CHECK(!readable(fd, 0), "readable before any call");
    int done = 0;
    for (int i = 0; i < 3; i++)
        CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_q, "getStorageInfo", 14, "{}", 2, NULL, 0, on_nothing, &done), 0);
    int rounds = 0;
    while (!readable(fd, 100)) CHECK(++rounds < 2400, "never readable");
    CHECK(done == 0, "a callback ran before any drain");
    size_t ran = 0;
    CHECK_CODE(wxfs_queue_drain(g_q, 1, &ran), 0);
    CHECK(ran == 1 && done == 1, "drain(max 1) ran %zu", ran);
    /* The other two: each makes the fd readable until it is drained. */
    rounds = 0;
    while (done < 3) {
        CHECK(readable(fd, 1000), "two completions should be waiting or coming");
        CHECK_CODE(wxfs_queue_drain(g_q, 1, &ran), 0);
        CHECK(ran == 1, "the fd was readable and drain(max 1) ran %zu", ran);
        CHECK(++rounds < 240, "stuck");
    }
    CHECK(!readable(fd, 0), "readable after the last completion was drained");
    CHECK_CODE(wxfs_queue_drain(g_q, 0, &ran), 0);
    CHECK(ran == 0, "an empty drain ran %zu", ran);
}

/* ---- 4. closing a queue with completions pending ------------------------------------------- */

static atomic_int g_called_after_close;

static void on_must_not_run(void *userdata, int32_t code, struct wxfs_result *result) {
    (void)userdata;
    (void)code;
    (void)result;
    atomic_fetch_add(&g_called_after_close, 1);
}

static void test_close(void) {
    g_test = "a queue closed with completions pending";
    uint64_t q = 0;
    int fd = -1;
    CHECK_CODE(wxfs_queue_create(&q), 0);
    CHECK_CODE(wxfs_queue_fd(q, &fd), 0);
    /* Results that hold buffers: a leak of any shows under valgrind and ASan. */
    const char *w = "{\"filePath\":\"wxfile://usr/close.txt\",\"data\":\"0123456789\",\"encoding\":\"utf8\"}";
    CHECK_CODE(call(g_sb, "writeFileSync", w, NULL), 0);
    const char *r = "{\"filePath\":\"wxfile://usr/close.txt\"}";
    int n = scaled(2000);
    for (int i = 0; i < n; i++) {
        int32_t rc = wxfs_invoke_async_queued(g_sb, q, "readFile", 8, r, strlen(r), NULL, 0, on_must_not_run, NULL);
        if (rc == WXFS_E_QUEUE_FULL) break;
        CHECK_CODE(rc, 0);
    }
    /* Some are waiting on the queue, some still running: close frees both. */
    while (!readable(fd, 100)) {
    }
    CHECK_CODE(wxfs_queue_close(q), 0);
    CHECK_CODE(wxfs_queue_drain(q, 0, NULL), WXFS_E_HANDLE);
    CHECK_CODE(wxfs_queue_fd(q, &fd), WXFS_E_HANDLE);
    CHECK_CODE(wxfs_queue_close(q), WXFS_E_HANDLE);
    CHECK_CODE(wxfs_invoke_async_queued(g_sb, q, "readFile", 8, r, strlen(r), NULL, 0, on_must_not_run, NULL), WXFS_E_HANDLE);
    /* A sync call waits for this thread's queued operations, so every completion has arrived
     * (and been freed) by the time it returns, or arrives right after its operation ends. */
    EXPECT_EXACT(g_sb, "getStorageSync", "{\"key\":\"inside2\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":2}");
    sleep_ms(200);
    CHECK(atomic_load(&g_called_after_close) == 0, "%d callbacks of a closed queue ran", atomic_load(&g_called_after_close));
}

/* ---- 5. the byte budget with nobody draining ------------------------------------------------ */

static int g_budget_ok, g_budget_bad;

static void on_budget(void *userdata, int32_t code, struct wxfs_result *result) {
    (void)userdata;
    (void)result;
    if (code == 0) g_budget_ok++;
    else g_budget_bad++;
}

static void test_budget(void) {
    g_test = "the byte budget reached with nobody draining";
    /* 64 KiB of file per result; the budget is 1 MiB, so about 16 results fill it. */
    static char data[65536 + 128];
    memset(data, 0, sizeof data);
    strcpy(data, "{\"filePath\":\"wxfile://usr/big.bin\",\"data\":\"");
    size_t o = strlen(data);
    memset(data + o, 'x', 65536);
    strcpy(data + o + 65536, "\",\"encoding\":\"utf8\"}");
    CHECK_CODE(call(g_sb, "writeFileSync", data, NULL), 0);
    const char *r = "{\"filePath\":\"wxfile://usr/big.bin\"}";
    int accepted = 0, refused = 0;
    for (int i = 0; i < 1000 && refused == 0; i++) {
        int32_t rc = wxfs_invoke_async_queued(g_sb, g_q, "readFile", 8, r, strlen(r), NULL, 0, on_budget, NULL);
        if (rc == WXFS_E_QUEUE_FULL) {
            refused++;
            CHECK(strstr(last_error(), "WXFS_ASYNC_QUEUE_BYTES") != NULL, "message: %s", last_error());
            /* Results pile up only while the loop is slow: wait for the running ones to land. */
        } else {
            CHECK_CODE(rc, 0);
            accepted++;
            /* Let the operation run, so its result (not only its arguments) holds the budget. */
            CHECK_CODE(call(g_sb, "getStorageInfoSync", "{}", NULL), 0);
        }
    }
    CHECK(refused == 1, "never refused after %d calls", accepted);
    CHECK(accepted >= 8 && accepted <= 17, "%d calls of 64 KiB results fit a 1 MiB budget", accepted);
    /* Nothing was lost: every accepted call's callback runs on drain, with its result. (A
     * completion reaches the queue just after its operation settles: drain as the fd says.) */
    int rounds = 0;
    while (g_budget_ok + g_budget_bad < accepted) {
        CHECK(++rounds < 240, "%d of %d completions arrived", g_budget_ok + g_budget_bad, accepted);
        if (readable(g_fd, 1000)) CHECK_CODE(wxfs_queue_drain(g_q, 0, NULL), 0);
    }
    CHECK(g_budget_ok == accepted && g_budget_bad == 0, "%d ok, %d failed of %d accepted", g_budget_ok, g_budget_bad, accepted);
    /* Drained, the budget is free again. */
    CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_q, "readFile", 8, r, strlen(r), NULL, 0, on_budget, NULL), 0);
    CHECK(readable(g_fd, 240000), "the last completion never arrived");
    CHECK_CODE(wxfs_queue_drain(g_q, 0, NULL), 0);
    CHECK(g_budget_ok == accepted + 1, "%d of %d", g_budget_ok, accepted + 1);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: queue_test ROOT [budget]\n");
        return 2;
    }
    int budget = argc > 2 && strcmp(argv[2], "budget") == 0;
    if (budget) setenv("WXFS_ASYNC_QUEUE_BYTES", "1048576", 1);
    const char *scale = getenv("WXFS_TEST_SCALE");
    if (scale && atol(scale) > 1) g_scale = atol(scale);
    t_loop_thread = 1;

    char cfg[4096];
    make_config(cfg, sizeof cfg, argv[1], "wx0123456789abcdef", "u1", "");
    CHECK_CODE(open_cfg(cfg, &g_sb), 0);
    g_test = "setup";
    CHECK_CODE(wxfs_queue_create(NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_queue_create(&g_q), 0);
    int fd = -1;
    CHECK_CODE(wxfs_queue_fd(g_q, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_queue_fd(g_q, &fd), 0);
    CHECK(fd >= 0, "fd %d", fd);
    g_fd = fd;
    CHECK_CODE(wxfs_queue_drain(0, 0, NULL), WXFS_E_HANDLE);
    CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_q, "setStorage", 10, "{}", 2, NULL, 0, NULL, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_invoke_async_queued(g_sb, g_sb, "setStorage", 10, "{}", 2, NULL, 0, on_nothing, NULL), WXFS_E_HANDLE);

    if (budget) {
        test_budget();
    } else {
        test_fd(fd);
        test_order(fd);
        test_sync_inside(fd);
        test_close();
    }
    CHECK_CODE(wxfs_queue_close(g_q), 0);
    CHECK_CODE(wxfs_close(g_sb), 0);
    printf("queue_test%s: %lu checks passed\n", budget ? " budget" : "", g_checks);
    return 0;
}
