/*
 * fork_test.c: a handle belongs to the process that opened it (docs/design.md §7, wxfs.h "fork").
 *
 * The parent opens a sandbox, fills it, starts the library's worker threads and a thread of its
 * own that keeps calling the library (and opening and closing another sandbox), and forks:
 *   1. a child that only exits, its atexit handler closing the inherited handle, as a C++ host's
 *      static destructors do;
 *   2. children that call every function of wxfs.h that takes a sandbox handle on the inherited
 *      handle (each must answer WXFS_E_FORKED and leave its outputs alone, the writes and the
 *      close included), then do what the header says a child may: open, use (sync and async),
 *      close and remove sandboxes of their own, gc, and free buffers the parent was given;
 *      and every completion-queue function on the parent's queue, which has a completion waiting
 *      (WXFS_E_FORKED; the parent's fd stays readable and only the parent's drain runs it).
 * After each child, a third process (this program exec'd afresh, so it inherits nothing) must
 * find the parent's sandbox busy; at the end the parent reads every item and file back, exact,
 * before and after closing and reopening its sandbox.
 *
 * Usage: fork_test <fresh-empty-root-dir>   (and, as the third process: fork_test <root> third)
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ITEMS 200
#define CHILDREN 12

static const char *g_root;
static const char *g_self;
static uint64_t g_inherited;
static uint8_t g_sentinel_byte;
#define SENTINEL_BYTES ((wxfs_bytes){&g_sentinel_byte, 4242})

static int is_sentinel(wxfs_bytes b) {
    return b.data == &g_sentinel_byte && b.len == 4242;
}

static void config_of(char *cfg, size_t cap, const char *app) {
    make_config(cfg, cap, g_root, app, "u1", "");
}

static uint64_t open_app(const char *app) {
    char cfg[4096];
    uint64_t h = 0;
    config_of(cfg, sizeof cfg, app);
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    return h;
}

static void value_of(char *out, size_t cap, int i) {
    snprintf(out, cap, "\"value %d of the parent\"", i);
}

/* LeakSanitizer checks the children at exit too, where the parent's threads (the library's
 * workers, the hammer) do not exist: what only their stacks referenced, their thread records and
 * thread-local destructor lists, reads as leaked though no code of the child can reach or free
 * it. The children are not leak-checked for that reason; the parent, which has its threads, is. */
static volatile int g_in_child;
#if defined(__SANITIZE_ADDRESS__)
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) {
    return g_in_child;
}
#endif

/* ---- async completion, for the child's own calls ---------------------------------------- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_done;
static int32_t g_code;

static void on_result(void *ud, int32_t code, const uint8_t *result, size_t len) {
    (void)ud;
    (void)result;
    (void)len;
    pthread_mutex_lock(&g_mu);
    g_code = code;
    g_done++;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static void on_result_v2(void *ud, int32_t code, wxfs_result *result) {
    (void)result;
    on_result(ud, code, NULL, 0);
}

static void wait_done(int n) {
    pthread_mutex_lock(&g_mu);
    while (g_done < n) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

/* ---- the parent's other thread ------------------------------------------------------------ */

static volatile int g_stop;

static void *hammer(void *arg) {
    (void)arg;
    unsigned n = 0;
    while (!g_stop) {
        wxfs_bytes r;
        int32_t rc = call(g_inherited, "getStorageSync", "{\"key\":\"k1\"}", &r);
        CHECK(rc == 0, "hammer: getStorageSync returned %ld: %s", (long)rc, r.data ? (const char *)r.data : "");
        wxfs_bytes_free(r);
        if (n++ % 8 == 0) {
            uint64_t side = open_app("wxside");
            CHECK_CODE(wxfs_close(side), 0);
            /* The queue table changes too: a fork must not find it mid-change. */
            uint64_t q = 0;
            CHECK_CODE(wxfs_queue_create(&q), 0);
            CHECK_CODE(wxfs_queue_close(q), 0);
        }
    }
    return NULL;
}

/* ---- the third process -------------------------------------------------------------------- */

/* Exec this program afresh as a process that inherits nothing; it must find the sandbox busy. */
static void third_process_finds_it_busy(void) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork for the third process failed");
    if (pid == 0) {
        execl(g_self, g_self, g_root, "third", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid(third)");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the third process did not find the parent's sandbox busy (status %d; see its stderr)", status);
}

static int third(void) {
    g_test = "third process";
    char cfg[4096];
    uint64_t h = 0;
    config_of(cfg, sizeof cfg, "wxfork");
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == WXFS_E_BUSY, "a third process opened the parent's sandbox: returned %ld (%s)", (long)rc, last_error());
    CHECK(strstr(last_error(), "locked by another process") != NULL, "busy, but: %s", last_error());
    return 0;
}

/* ---- the children ------------------------------------------------------------------------- */

static void close_inherited_at_exit(void) {
    /* What a C++ host's static destructor does; must answer WXFS_E_FORKED and do nothing. */
    int32_t rc = wxfs_close(g_inherited);
    if (rc != WXFS_E_FORKED) {
        fprintf(stderr, "atexit: wxfs_close(inherited) returned %ld\n", (long)rc);
        _exit(3);
    }
}

#define EXPECT_FORKED(expr)                                                                      \
    do {                                                                                         \
        int32_t rc_ = (expr);                                                                    \
        CHECK(rc_ == WXFS_E_FORKED, "%s returned %ld, expected WXFS_E_FORKED", #expr, (long)rc_); \
        CHECK(strstr(last_error(), "forked") != NULL, "%s: last error: %s", #expr, last_error()); \
    } while (0)

/* The parent's completion queue, with one completion waiting on it at every fork. */
static uint64_t g_queue;
static int g_queue_fd = -1;
static int g_queue_ran;

static void on_queued(void *userdata, int32_t code, struct wxfs_result *result) {
    (void)userdata;
    (void)result;
    CHECK(!g_in_child, "a parent's queued callback ran in a child");
    CHECK_CODE(code, 0);
    g_queue_ran++;
}

static int queue_readable(int timeout_ms) {
    struct pollfd p = {.fd = g_queue_fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void every_queue_function_refuses(uint64_t h) {
    g_test = "child: every completion-queue function on the inherited queue";
    int fd = 12345;
    size_t ran = 777;
    EXPECT_FORKED(wxfs_queue_fd(g_queue, &fd));
    CHECK(fd == 12345, "wxfs_queue_fd wrote its output");
    EXPECT_FORKED(wxfs_queue_drain(g_queue, 0, &ran));
    CHECK(ran == 777, "wxfs_queue_drain wrote its output");
    const char *api = "getStorage", *args = "{\"key\":\"k1\"}";
    EXPECT_FORKED(wxfs_invoke_async_queued(h, g_queue, api, strlen(api), args, strlen(args), NULL, 0, on_queued, NULL));
    EXPECT_FORKED(wxfs_queue_close(g_queue));
    /* The child's own queue works (and its fd is not the parent's). */
    uint64_t own = 0;
    CHECK_CODE(wxfs_queue_create(&own), 0);
    CHECK_CODE(wxfs_queue_fd(own, &fd), 0);
    CHECK(fd != g_queue_fd, "the child's queue has the parent's fd");
    CHECK_CODE(wxfs_queue_close(own), 0);
    /* The parent's fd still shows its waiting completion: the child drained nothing of it. */
    CHECK(queue_readable(0), "the child cleared the parent's queue fd");
}

static void every_handle_function_refuses(uint64_t h) {
    g_test = "child: every handle function on the inherited handle";
    wxfs_bytes r = SENTINEL_BYTES, r2 = SENTINEL_BYTES;
    uint64_t n1 = 77, n2 = 77, n3 = 77;

    /* wxfs_invoke: the result names the code too. */
    int32_t rc = call(h, "setStorageSync", "{\"key\":\"k0\",\"data\":\"the child\"}", &r);
    CHECK(rc == WXFS_E_FORKED, "wxfs_invoke(setStorageSync) returned %ld", (long)rc);
    check_envelope(__FILE__, __LINE__, "wxfs_invoke", r);
    CHECK(strstr((const char *)r.data, "\"errCode\":-13") && strstr((const char *)r.data, "forked"), "result: %s",
          (const char *)r.data);
    wxfs_bytes_free(r);

    const char *api = "setStorage", *args = "{\"key\":\"k0\",\"data\":\"async child\"}";
    EXPECT_FORKED(wxfs_invoke_async(h, api, strlen(api), args, strlen(args), on_result, NULL));
    wxfs_result res = {SENTINEL_BYTES, NULL, 0};
    rc = wxfs_invoke_v2(h, api, strlen(api), args, strlen(args), NULL, 0, &res);
    CHECK(rc == WXFS_E_FORKED, "wxfs_invoke_v2 returned %ld", (long)rc);
    CHECK(strstr((const char *)res.json.data, "\"errCode\":-13") != NULL, "v2 result: %s", (const char *)res.json.data);
    wxfs_result_free(res);
    EXPECT_FORKED(wxfs_invoke_async_v2(h, api, strlen(api), args, strlen(args), NULL, 0, on_result_v2, NULL));

    r = SENTINEL_BYTES;
    EXPECT_FORKED(wxfs_api_list(h, &r));
    CHECK(is_sentinel(r), "wxfs_api_list wrote its output");

    const char *file = "wxfile://usr/a.txt";
    EXPECT_FORKED(wxfs_read_file(h, file, strlen(file), &r));
    CHECK(is_sentinel(r), "wxfs_read_file wrote its output");
    EXPECT_FORKED(wxfs_write_file(h, file, strlen(file), (const uint8_t *)"child", 5));
    const char *tmp = "wxfile://tmp_none";
    EXPECT_FORKED(wxfs_save_file(h, tmp, strlen(tmp), NULL, 0, &r));
    CHECK(is_sentinel(r), "wxfs_save_file wrote its output");
    EXPECT_FORKED(wxfs_temp_create(h, (const uint8_t *)"x", 1, "txt", 3, &r));
    CHECK(is_sentinel(r), "wxfs_temp_create wrote its output");
    EXPECT_FORKED(wxfs_real_path(h, file, strlen(file), &r));
    CHECK(is_sentinel(r), "wxfs_real_path wrote its output");

    EXPECT_FORKED(wxfs_storage_set(h, "k0", 2, "\"the child\"", 11, NULL, 0));
    EXPECT_FORKED(wxfs_storage_get(h, "k0", 2, &r, &r2));
    CHECK(is_sentinel(r) && is_sentinel(r2), "wxfs_storage_get wrote its outputs");
    EXPECT_FORKED(wxfs_storage_remove(h, "k0", 2));
    EXPECT_FORKED(wxfs_storage_clear(h));
    EXPECT_FORKED(wxfs_storage_info(h, &n1, &n2, &n3));
    CHECK(n1 == 77 && n2 == 77 && n3 == 77, "wxfs_storage_info wrote its outputs");
    const char *url = "wxblob://x";
    EXPECT_FORKED(wxfs_buffer_url_resolve(h, url, strlen(url), &r));
    CHECK(is_sentinel(r), "wxfs_buffer_url_resolve wrote its output");

    /* Closing does nothing, however often. */
    EXPECT_FORKED(wxfs_close(h));
    EXPECT_FORKED(wxfs_close(h));
}

/* What the header says a child may still do. */
static void child_own_work(int round, wxfs_bytes parent_mapped, wxfs_bytes parent_result) {
    g_test = "child: its own sandboxes, gc, buffers";
    char cfg[4096], app[64];
    uint64_t own = 0;

    /* The parent's sandbox is busy to the child, as to any other process, by every route. */
    config_of(cfg, sizeof cfg, "wxfork");
    CHECK_CODE(open_cfg(cfg, &own), WXFS_E_BUSY);
    bool removed = true;
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, strlen(g_root), "u1", 2, "wxfork", 6, &removed), WXFS_E_BUSY);
    CHECK_CODE(wxfs_remove_sandbox(g_root, strlen(g_root), "u1", 2, "wxfork", 6), WXFS_E_BUSY);
    CHECK_CODE(wxfs_remove_sandbox_config(cfg, strlen(cfg), &removed), WXFS_E_BUSY);
    uint64_t freed = 0;
    CHECK_CODE(wxfs_gc(g_root, strlen(g_root), 1, &freed), 0); /* skips the parent's open sandbox */

    /* A sandbox of its own: sync and async calls, close, remove. */
    snprintf(app, sizeof app, "wxchild%d", round);
    own = open_app(app);
    EXPECT_EXACT(own, "setStorageSync", "{\"key\":\"mine\",\"data\":\"child\"}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    EXPECT_EXACT(own, "getStorageSync", "{\"key\":\"mine\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"child\"}");
    const char *api = "getStorage", *args = "{\"key\":\"mine\"}";
    CHECK_CODE(wxfs_invoke_async(own, api, strlen(api), args, strlen(args), on_result, NULL), 0);
    wait_done(1);
    CHECK_CODE(g_code, 0);
    CHECK_CODE(wxfs_invoke_async_v2(own, api, strlen(api), args, strlen(args), NULL, 0, on_result_v2, NULL), 0);
    wait_done(2);
    CHECK_CODE(g_code, 0);
    /* A completion queue of its own, drained on this thread. */
    uint64_t q = 0;
    int qfd = -1;
    CHECK_CODE(wxfs_queue_create(&q), 0);
    CHECK_CODE(wxfs_queue_fd(q, &qfd), 0);
    CHECK_CODE(wxfs_invoke_async_queued(own, q, api, strlen(api), args, strlen(args), NULL, 0, on_result_v2, NULL), 0);
    struct pollfd qp = {.fd = qfd, .events = POLLIN};
    CHECK(poll(&qp, 1, 60000) == 1, "the child's own queue never became readable");
    size_t qran = 0;
    CHECK_CODE(wxfs_queue_drain(q, 0, &qran), 0);
    CHECK(qran == 1 && g_done == 3, "the child's queue ran %zu callbacks (%d done)", qran, g_done);
    CHECK_CODE(g_code, 0);
    CHECK_CODE(wxfs_queue_close(q), 0);
    CHECK_CODE(wxfs_close(own), 0);
    removed = false;
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, strlen(g_root), "u1", 2, app, strlen(app), &removed), 0);
    CHECK(removed, "the child's own sandbox was not removed");

    /* Buffers the parent was given before the fork are the child's copies to free. */
    wxfs_bytes_free(parent_mapped);
    wxfs_bytes_free(parent_result);
    wxfs_bytes list = {NULL, 0};
    CHECK_CODE(wxfs_api_list(0, &list), 0);
    wxfs_bytes_free(list);
    CHECK(wxfs_abi_version() == WXFS_ABI_VERSION, "abi version");
    CHECK(wxfs_version_number() == WXFS_VERSION_NUMBER, "version number");
    CHECK(strcmp(wxfs_version(), WXFS_VERSION_STRING) == 0, "version");
    CHECK_CODE(wxfs_log_set(NULL, NULL, 0), 0);
}

static void run_child(int round, wxfs_bytes mapped, wxfs_bytes result, int only_exit) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        g_in_child = 1;
        g_done = 0; /* the parent's count was copied */
        atexit(close_inherited_at_exit);
        if (!only_exit) {
            every_queue_function_refuses(g_inherited);
            every_handle_function_refuses(g_inherited);
            child_own_work(round, mapped, result);
        }
        exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid(child)");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed (status %d; see its stderr)", round, status);
}

/* ---- the parent's data -------------------------------------------------------------------- */

static void fill(uint64_t h) {
    char key[32], value[64];
    for (int i = 0; i < ITEMS; i++) {
        snprintf(key, sizeof key, "k%d", i);
        value_of(value, sizeof value, i);
        CHECK_CODE(wxfs_storage_set(h, key, strlen(key), value, strlen(value), NULL, 0), 0);
    }
    const char *file = "wxfile://usr/a.txt";
    CHECK_CODE(wxfs_write_file(h, file, strlen(file), (const uint8_t *)"the parent's file", 17), 0);
}

static void check_data(uint64_t h, const char *when) {
    g_test = when;
    char key[32], value[64];
    for (int i = 0; i < ITEMS; i++) {
        wxfs_bytes v = {NULL, 0};
        snprintf(key, sizeof key, "k%d", i);
        value_of(value, sizeof value, i);
        CHECK_CODE(wxfs_storage_get(h, key, strlen(key), &v, NULL), 0);
        CHECK(v.len == strlen(value) && memcmp(v.data, value, v.len) == 0, "%s: %s = %.*s", when, key, (int)v.len,
              (const char *)v.data);
        wxfs_bytes_free(v);
    }
    uint64_t keys = 0;
    CHECK_CODE(wxfs_storage_info(h, NULL, NULL, &keys), 0);
    CHECK(keys == ITEMS, "%s: %llu keys", when, (unsigned long long)keys);
    wxfs_bytes f = {NULL, 0};
    const char *file = "wxfile://usr/a.txt";
    CHECK_CODE(wxfs_read_file(h, file, strlen(file), &f), 0);
    CHECK(f.len == 17 && memcmp(f.data, "the parent's file", 17) == 0, "%s: file changed", when);
    wxfs_bytes_free(f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fork_test <fresh-empty-root-dir>\n");
        return 2;
    }
    g_root = argv[1];
    g_self = argv[0];
    if (argc >= 3 && strcmp(argv[2], "third") == 0) return third();

    g_test = "parent: setup";
    g_inherited = open_app("wxfork");
    fill(g_inherited);
    /* The library's worker threads exist in the parent, not in the children. */
    const char *api = "getStorage", *args = "{\"key\":\"k1\"}";
    CHECK_CODE(wxfs_invoke_async(g_inherited, api, strlen(api), args, strlen(args), on_result, NULL), 0);
    wait_done(1);
    /* A completion waits on the parent's queue across every fork below. */
    CHECK_CODE(wxfs_queue_create(&g_queue), 0);
    CHECK_CODE(wxfs_queue_fd(g_queue, &g_queue_fd), 0);
    CHECK_CODE(wxfs_invoke_async_queued(g_inherited, g_queue, api, strlen(api), args, strlen(args), NULL, 0, on_queued, NULL), 0);
    for (int i = 0; i < 2400 && !queue_readable(100); i++) {
    }
    CHECK(queue_readable(0), "the parent's queued completion never arrived");

    g_test = "parent: a child that only exits (static destructors close the handle)";
    run_child(0, (wxfs_bytes){NULL, 0}, (wxfs_bytes){NULL, 0}, 1);
    third_process_finds_it_busy();
    check_data(g_inherited, "parent: after a child closed the inherited handle at exit");

    /* Children forked while another thread of the parent is inside the library. */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, hammer, NULL) == 0, "pthread_create");
    for (int round = 1; round <= CHILDREN; round++) {
        g_test = "parent: children that call every function";
        /* A mapped read (a temp file of 64 KiB and more) and a result, given before the fork. */
        static uint8_t big[100 * 1024];
        memset(big, 'b', sizeof big);
        wxfs_bytes tmp = {NULL, 0}, mapped = {NULL, 0}, result = {NULL, 0};
        CHECK_CODE(wxfs_temp_create(g_inherited, big, sizeof big, "bin", 3, &tmp), 0);
        CHECK_CODE(wxfs_read_file(g_inherited, (const char *)tmp.data, tmp.len, &mapped), 0);
        CHECK_CODE(call(g_inherited, "getStorageSync", "{\"key\":\"k2\"}", &result), 0);
        run_child(round, mapped, result, 0);
        CHECK(mapped.len == sizeof big && memcmp(mapped.data, big, sizeof big) == 0, "the parent's mapping changed");
        wxfs_bytes_free(mapped);
        wxfs_bytes_free(result);
        wxfs_bytes_free(tmp);
        third_process_finds_it_busy();
    }
    g_stop = 1;
    pthread_join(t, NULL);

    check_data(g_inherited, "parent: after every child");
    g_test = "parent: its queue after every child";
    CHECK(queue_readable(0), "the parent's queue fd is no longer readable");
    size_t ran = 0;
    CHECK_CODE(wxfs_queue_drain(g_queue, 0, &ran), 0);
    CHECK(ran == 1 && g_queue_ran == 1, "the parent drained %zu (callbacks run: %d)", ran, g_queue_ran);
    CHECK(!queue_readable(0), "the fd is readable with nothing waiting");
    CHECK_CODE(wxfs_queue_close(g_queue), 0);
    CHECK_CODE(wxfs_close(g_inherited), 0);
    uint64_t again = open_app("wxfork");
    check_data(again, "parent: reopened");
    CHECK_CODE(wxfs_close(again), 0);
    printf("fork_test: %d children, %lu checks passed\n", CHILDREN + 1, g_checks);
    return 0;
}
