/*
 * threads_test.c: one sandbox used from many threads (docs/design.md §7), through wxfs.h only.
 *
 * Usage: threads_test <fresh-empty-root-dir>
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>

#include "harness.h"

#define THREADS 4
#define PER_THREAD 200
#define CHURN 50

static const char *g_root;
static char g_cfg[4096];

struct worker {
    int id;
    uint64_t h;
    char error[1024]; /* first failure, "" when none */
};

#define WFAIL(w, ...)                                                  \
    do {                                                               \
        if ((w)->error[0] == 0) snprintf((w)->error, sizeof (w)->error, __VA_ARGS__); \
        return NULL;                                                   \
    } while (0)

/* Each thread: its last error starts empty, then 200 set/get pairs on its own keys. */
static void *set_get_worker(void *arg) {
    struct worker *w = arg;
    size_t n = 99;
    char buf[8];
    if (wxfs_last_error_message(buf, sizeof buf, &n) != 0 || n != 0)
        WFAIL(w, "thread %d: a fresh thread's last error is not empty (len %zu); the main thread's leaked", w->id, n);
    for (int j = 0; j < PER_THREAD; j++) {
        char args[128], want[160];
        wxfs_bytes r = {NULL, 0};
        snprintf(args, sizeof args, "{\"key\":\"t%d-%03d\",\"data\":\"v%d-%d\"}", w->id, j, w->id, j);
        int32_t rc = call(w->h, "setStorageSync", args, &r);
        if (rc != 0 || r.data == NULL || strcmp((char *)r.data, "{\"errMsg\":\"setStorageSync:ok\"}") != 0)
            WFAIL(w, "thread %d: setStorageSync(%s) returned %ld: %s", w->id, args, (long)rc,
                  r.data ? (char *)r.data : "(NULL)");
        wxfs_bytes_free(r);
        snprintf(args, sizeof args, "{\"key\":\"t%d-%03d\"}", w->id, j);
        snprintf(want, sizeof want, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v%d-%d\"}", w->id, j);
        rc = call(w->h, "getStorageSync", args, &r);
        if (rc != 0 || r.data == NULL || strcmp((char *)r.data, want) != 0)
            WFAIL(w, "thread %d: getStorageSync(%s) returned %ld: %s, expected %s", w->id, args, (long)rc,
                  r.data ? (char *)r.data : "(NULL)", want);
        wxfs_bytes_free(r);
    }
    return NULL;
}

/* Each thread opens its own handle to the shared sandbox, reads, and closes it, repeatedly. */
static void *churn_worker(void *arg) {
    struct worker *w = arg;
    for (int j = 0; j < CHURN; j++) {
        uint64_t h = 0;
        int32_t rc = wxfs_open(g_cfg, strlen(g_cfg), &h);
        if (rc != 0) WFAIL(w, "thread %d: wxfs_open returned %ld", w->id, (long)rc);
        wxfs_bytes r = {NULL, 0};
        rc = call(h, "getStorageSync", "{\"key\":\"t0-000\"}", &r);
        if (rc != 0 || r.data == NULL || strcmp((char *)r.data, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v0-0\"}") != 0)
            WFAIL(w, "thread %d: getStorageSync through a fresh handle returned %ld: %s", w->id, (long)rc,
                  r.data ? (char *)r.data : "(NULL)");
        wxfs_bytes_free(r);
        rc = wxfs_close(h);
        if (rc != 0) WFAIL(w, "thread %d: wxfs_close returned %ld", w->id, (long)rc);
        rc = call(h, "getStorageSync", "{\"key\":\"t0-000\"}", &r);
        if (rc != WXFS_E_HANDLE) WFAIL(w, "thread %d: invoke on its closed handle returned %ld", w->id, (long)rc);
        wxfs_bytes_free(r);
    }
    return NULL;
}

static void run_threads(void *(*fn)(void *), uint64_t h) {
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i;
        w[i].h = h;
        w[i].error[0] = 0;
        CHECK(pthread_create(&t[i], NULL, fn, &w[i]) == 0, "pthread_create %d", i);
    }
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join %d", i);
    for (int i = 0; i < THREADS; i++) CHECK(w[i].error[0] == 0, "%s", w[i].error);
}

/* The keys array of a getStorageInfoSync result: count its entries and check each expected key. */
static void check_keys(uint64_t h) {
    wxfs_bytes r;
    int32_t rc = call(h, "getStorageInfoSync", "{}", &r);
    check_envelope(__FILE__, __LINE__, "getStorageInfoSync", r);
    CHECK_CODE(rc, 0);
    const char *s = (const char *)r.data;
    const char *keys = strstr(s, "\"keys\":[");
    CHECK(keys != NULL, "no keys array in %.200s", s);
    keys += strlen("\"keys\":[");
    const char *end = strchr(keys, ']');
    CHECK(end != NULL, "unterminated keys array");
    size_t quotes = 0;
    for (const char *p = keys; p < end; p++) quotes += (*p == '"');
    CHECK(quotes == 2 * THREADS * PER_THREAD, "getStorageInfoSync lists %zu keys, expected %d", quotes / 2,
          THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            char k[32];
            snprintf(k, sizeof k, "\"t%d-%03d\"", i, j);
            const char *hit = strstr(keys, k);
            CHECK(hit != NULL && hit < end, "key %s missing from getStorageInfoSync", k);
        }
    }
    wxfs_bytes_free(r);
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == 0) {
        fprintf(stderr, "usage: %s <empty root dir>\n", argv[0]);
        return 2;
    }
    g_root = argv[1];

    /* Leave an error on the main thread: worker threads must not see it, and must not clear it. */
    g_test = "per-thread last error";
    char bad[4096];
    make_config(bad, sizeof bad, g_root, "wx-threads", "u1", ",\"protocol\":\"ftp\"");
    uint64_t ignored = 0;
    CHECK_CODE(wxfs_open(bad, strlen(bad), &ignored), WXFS_E_CONFIG);
    char before[1024];
    snprintf(before, sizeof before, "%s", last_error());
    CHECK(before[0] != 0, "no last error after a failed open");

    g_test = "4 threads x 200 set/get on one handle";
    make_config(g_cfg, sizeof g_cfg, g_root, "wx-threads", "u1", "");
    uint64_t h = 0;
    CHECK_CODE(open_cfg(g_cfg, &h), 0); /* clears this thread's message: set it again */
    CHECK_CODE(wxfs_open(bad, strlen(bad), &ignored), WXFS_E_CONFIG);
    run_threads(set_get_worker, h);
    CHECK(strcmp(last_error(), before) == 0, "main thread's last error changed while workers ran: \"%s\" -> \"%s\"",
          before, last_error());
    check_keys(h);

    g_test = "open/close churn while a handle stays open";
    run_threads(churn_worker, h);
    check_keys(h);

    CHECK_CODE(wxfs_close(h), 0);
    printf("threads_test: %lu checks passed\n", g_checks);
    return 0;
}
