/*
 * log_test.c: the host log callback (wxfs_log_set). Every recovery at open reaches the callback
 * with its level, its sandbox (relative to the root) and a message with counts and root-relative
 * paths; bytes removed by policy (temp trimmed at close, wxfs_gc) are reported at INFO; the level
 * filter, removal, replacement, userdata, re-entry and calls from several threads behave as
 * wxfs.h says. The damage is made with plain POSIX file calls on a closed sandbox, as a crash or
 * a kill would leave it.
 *
 * Usage: log_test <root>   (a fresh empty directory)
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MAX_EVENTS 64

struct event {
    int32_t level;
    char sandbox[256];
    char message[1024];
};

/* What the callback saw; guarded by `lock` (the callback may run on several threads). */
struct recorder {
    pthread_mutex_t lock;
    struct event events[MAX_EVENTS];
    int count;
    /* Set by the callback when it re-entered the library (see on_event). */
    int32_t reentry_code;
    int reenter;
    const char *root;
};

static struct recorder g_rec = {PTHREAD_MUTEX_INITIALIZER, {{0, {0}, {0}}}, 0, 0, 0, NULL};

static void on_event(void *userdata, int32_t level, const char *sandbox, size_t sandbox_len, const char *message,
                     size_t message_len) {
    struct recorder *rec = userdata;
    /* The strings are NUL-terminated at their lengths, and valid UTF-8. */
    if (strlen(sandbox) != sandbox_len || strlen(message) != message_len || !valid_utf8((const uint8_t *)message, message_len)) {
        fprintf(stderr, "bad strings from the library: %zu/%zu %zu/%zu\n", strlen(sandbox), sandbox_len, strlen(message),
                message_len);
        abort();
    }
    if (rec->reenter) {
        /* Replacing the callback from inside it would wait on itself: refused. Any other call is allowed. */
        rec->reentry_code = wxfs_log_set(NULL, NULL, 0);
        char cfg[4096];
        uint64_t h = 0;
        make_config(cfg, sizeof cfg, rec->root, "wxlog", "u1", "");
        if (open_cfg(cfg, &h) != 0 || wxfs_close(h) != 0) {
            fprintf(stderr, "wxfs_open from inside the log callback failed: %s\n", last_error());
            abort();
        }
    }
    pthread_mutex_lock(&rec->lock);
    if (rec->count < MAX_EVENTS) {
        struct event *e = &rec->events[rec->count++];
        e->level = level;
        snprintf(e->sandbox, sizeof e->sandbox, "%s", sandbox);
        snprintf(e->message, sizeof e->message, "%s", message);
    }
    pthread_mutex_unlock(&rec->lock);
}

/* A callback that must never run. */
static void never(void *userdata, int32_t level, const char *sandbox, size_t sandbox_len, const char *message,
                  size_t message_len) {
    (void)userdata, (void)level, (void)sandbox_len, (void)message_len;
    fprintf(stderr, "a removed or replaced callback was called: %s: %s\n", sandbox, message);
    abort();
}

static void reset(void) {
    pthread_mutex_lock(&g_rec.lock);
    g_rec.count = 0;
    pthread_mutex_unlock(&g_rec.lock);
}

static void dump(void) {
    for (int i = 0; i < g_rec.count; i++)
        fprintf(stderr, "  event %d: level %d, sandbox \"%s\": %s\n", i, g_rec.events[i].level, g_rec.events[i].sandbox,
                g_rec.events[i].message);
}

#define EXPECT_COUNT(n)                                                        \
    do {                                                                       \
        if (g_rec.count != (n)) dump();                                        \
        CHECK(g_rec.count == (n), "%d events, expected %d", g_rec.count, (n)); \
    } while (0)

#define EXPECT_EVENT(i, lvl, sb, msg)                                                                              \
    do {                                                                                                           \
        const struct event *e_ = &g_rec.events[(i)];                                                               \
        if (e_->level != (lvl) || strcmp(e_->sandbox, (sb)) != 0 || strcmp(e_->message, (msg)) != 0) dump();      \
        CHECK(e_->level == (lvl), "event %d level %d, expected %d", (i), e_->level, (lvl));                        \
        CHECK(strcmp(e_->sandbox, (sb)) == 0, "event %d sandbox \"%s\", expected \"%s\"", (i), e_->sandbox, (sb)); \
        CHECK(strcmp(e_->message, (msg)) == 0, "event %d message\n  got:      %s\n  expected: %s", (i), e_->message, \
              (msg));                                                                                              \
    } while (0)

static char g_root[2048];

static uint64_t open_app(const char *app, const char *extra) {
    char cfg[4096];
    uint64_t h = 0;
    make_config(cfg, sizeof cfg, g_root, app, "u1", extra);
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    return h;
}

static void path_of(char *out, size_t cap, const char *app, const char *rel) {
    snprintf(out, cap, "%s/u1/%s/%s", g_root, app, rel);
}

static void append_bytes(const char *app, const char *rel, const char *bytes, size_t n) {
    char p[4096];
    path_of(p, sizeof p, app, rel);
    FILE *f = fopen(p, "ab");
    CHECK(f != NULL, "cannot open %s", p);
    CHECK(fwrite(bytes, 1, n, f) == n, "cannot write %s", p);
    CHECK(fclose(f) == 0, "cannot close %s", p);
}

/* What a power cut can leave in the storage log: `n` bytes of garbage where the next record would
 * start. The log is followed by a preallocated zero tail, so its end is after its last non-zero
 * byte (never inside the 8-byte header). */
static void tear_storage_log(const char *app, const char *garbage, size_t n) {
    char p[4096];
    path_of(p, sizeof p, app, "kv/data.log");
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL, "cannot open %s", p);
    long end = 8, pos = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        pos++;
        if (c != 0 && pos > end) end = pos;
    }
    fclose(f);
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, garbage, n, end) == (ssize_t)n && close(fd) == 0, "tear %s", p);
}

static long file_size(const char *app, const char *rel) {
    char p[4096];
    struct stat st;
    path_of(p, sizeof p, app, rel);
    CHECK(stat(p, &st) == 0, "cannot stat %s", p);
    return (long)st.st_size;
}

/* A sandbox with one stored key and one user file, closed. */
static void fill(const char *app) {
    uint64_t h = open_app(app, "");
    EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"k\",\"data\":\"v\"}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    EXPECT_EXACT(h, "writeFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"data\":\"hello\"}", 0,
                 "{\"errMsg\":\"writeFileSync:ok\"}");
    CHECK_CODE(wxfs_close(h), 0);
}

static void test_arguments(void) {
    g_test = "arguments";
    /* A level outside WXFS_LOG_ERROR..WXFS_LOG_DEBUG is refused, and nothing is installed. */
    CHECK_CODE(wxfs_log_set(never, NULL, 0), WXFS_E_CONFIG);
    CHECK(strstr(last_error(), "max_level 0") != NULL, "last error: %s", last_error());
    CHECK_CODE(wxfs_log_set(never, NULL, 5), WXFS_E_CONFIG);
    CHECK_CODE(wxfs_log_set(never, NULL, -1), WXFS_E_CONFIG);
    /* Removing ignores the level; removing when none is installed is fine. */
    CHECK_CODE(wxfs_log_set(NULL, NULL, 12345), 0);
    CHECK(last_error()[0] == 0, "last error after success: %s", last_error());
    uint64_t h = open_app("wxnever", ""); /* created: a DEBUG event, delivered to no one */
    CHECK_CODE(wxfs_close(h), 0);
}

static void test_recovery_at_open(void) {
    g_test = "created";
    CHECK_CODE(wxfs_log_set(on_event, &g_rec, WXFS_LOG_DEBUG), 0);
    fill("wxlog");
    EXPECT_COUNT(1);
    EXPECT_EVENT(0, WXFS_LOG_DEBUG, "u1/wxlog", "sandbox created");

    g_test = "torn tails and staging leftovers";
    reset();
    append_bytes("wxlog", "quota.journal", "\x09\x00\x00\x00\x01", 5);
    tear_storage_log("wxlog", "\x01\x02\x03\x04\x05\x06\x07", 7);
    append_bytes("wxlog", "staging/leftover-2", "half", 4);
    append_bytes("wxlog", "staging/leftover-1", "half a file", 11);
    uint64_t h = open_app("wxlog", "");
    EXPECT_COUNT(3);
    EXPECT_EVENT(0, WXFS_LOG_WARN, "u1/wxlog", "u1/wxlog/staging: 2 file(s) of interrupted writes removed (15 bytes)");
    EXPECT_EVENT(1, WXFS_LOG_WARN, "u1/wxlog", "u1/wxlog/quota.journal: torn tail of 5 bytes cut");
    EXPECT_EVENT(2, WXFS_LOG_WARN, "u1/wxlog",
                 "u1/wxlog/kv: storage log: 7 bytes after the last whole record cut (1 records kept)");
    /* What was acknowledged is all there. */
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"k\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v\"}");
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"hello\"}");
    /* A second open in this process shares the sandbox: nothing to recover, nothing said. */
    reset();
    uint64_t h2 = open_app("wxlog", "");
    EXPECT_COUNT(0);
    CHECK_CODE(wxfs_close(h2), 0);
    CHECK_CODE(wxfs_close(h), 0);
    /* A clean close leaves nothing to recover. */
    h = open_app("wxlog", "");
    CHECK_CODE(wxfs_close(h), 0);
    EXPECT_COUNT(0);

    g_test = "journal missing, then corrupt";
    char p[4096];
    path_of(p, sizeof p, "wxlog", "quota.journal");
    CHECK(unlink(p) == 0, "unlink %s", p);
    h = open_app("wxlog", "");
    CHECK_CODE(wxfs_close(h), 0);
    EXPECT_COUNT(1);
    EXPECT_EVENT(0, WXFS_LOG_WARN, "u1/wxlog", "u1/wxlog/quota.journal: quota journal missing; usage rebuilt from the files");
    reset();
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL && fputs("not a journal", f) >= 0 && fclose(f) == 0, "rewrite %s", p);
    h = open_app("wxlog", "");
    /* The rebuilt figure is exact: 5 bytes of a.txt, so a 6-byte limit leaves room for one more. */
    CHECK_CODE(wxfs_close(h), 0);
    h = open_app("wxlog", ",\"limits\":{\"userFiles\":6}");
    EXPECT_EXACT(h, "appendFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"data\":\"!!\"}", 1300202,
                 "{\"errMsg\":\"appendFileSync:fail the maximum size of the file storage limit is exceeded\",\"errCode\":1300202}");
    CHECK_CODE(wxfs_close(h), 0);
    /* The refusal is an event too, after the repair the open reported. */
    EXPECT_COUNT(2);
    EXPECT_EVENT(0, WXFS_LOG_WARN, "u1/wxlog",
                 "u1/wxlog/quota.journal: quota journal corrupt: bad header; usage rebuilt from the files");
    EXPECT_EVENT(1, WXFS_LOG_WARN, "u1/wxlog",
                 "u1/wxlog/usr: appendFileSync refused (1300202 the maximum size of the file storage limit is exceeded); "
                 "user files 5 of 6 bytes, 1 of 1024 entries");

    g_test = "storage log with a foreign header";
    reset();
    long size = file_size("wxlog", "kv/data.log");
    path_of(p, sizeof p, "wxlog", "kv/data.log");
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "JUNK", 4, 0) == 4 && close(fd) == 0, "overwrite the header of %s", p);
    h = open_app("wxlog", "");
    EXPECT_COUNT(1);
    char want[512];
    snprintf(want, sizeof want,
             "u1/wxlog/kv: storage log header not recognised; storage starts empty, the old log (%ld bytes) is kept as "
             "u1/wxlog/kv/data.log.corrupt-",
             size);
    CHECK(g_rec.events[0].level == WXFS_LOG_ERROR, "level %d", g_rec.events[0].level);
    CHECK(strcmp(g_rec.events[0].sandbox, "u1/wxlog") == 0, "sandbox %s", g_rec.events[0].sandbox);
    CHECK(starts_with(g_rec.events[0].message, want), "message\n  got:      %s\n  expected: %s...", g_rec.events[0].message, want);
    /* The file it names holds the old log, whole. */
    char kept[4096];
    snprintf(kept, sizeof kept, "%s/%s", g_root, g_rec.events[0].message + strlen(want) - strlen("u1/wxlog/kv/data.log.corrupt-"));
    struct stat st;
    CHECK(stat(kept, &st) == 0 && (long)st.st_size == size, "%s: not the %ld-byte old log", kept, size);
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"k\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    CHECK_CODE(wxfs_close(h), 0);
}

static void test_policy_and_filter(void) {
    g_test = "temp trimmed at close, filtered at WARN";
    CHECK_CODE(wxfs_log_set(on_event, &g_rec, WXFS_LOG_WARN), 0);
    reset();
    uint64_t h = open_app("wxtemp", ",\"limits\":{\"tempKeep\":1000}");
    char data[4200];
    snprintf(data, sizeof data, "{\"data\":\"%03000d\",\"extension\":\"bin\"}", 7);
    wxfs_bytes r;
    CHECK_CODE(call(h, "host.createTempFile", data, &r), 0);
    wxfs_bytes_free(r);
    CHECK_CODE(wxfs_close(h), 0);
    EXPECT_COUNT(0); /* the DEBUG "created" and the INFO trim are above WARN */

    g_test = "temp trimmed at close, at INFO";
    CHECK_CODE(wxfs_log_set(on_event, &g_rec, WXFS_LOG_INFO), 0);
    h = open_app("wxtemp", ",\"limits\":{\"tempKeep\":1000}");
    CHECK_CODE(call(h, "host.createTempFile", data, &r), 0);
    wxfs_bytes_free(r);
    CHECK_CODE(wxfs_close(h), 0);
    EXPECT_COUNT(1);
    EXPECT_EVENT(0, WXFS_LOG_INFO, "u1/wxtemp", "u1/wxtemp/tmp: 3000 bytes of temp files removed at close, least recently used first");

    g_test = "wxfs_gc";
    reset();
    h = open_app("wxtemp", "");
    CHECK_CODE(call(h, "host.createTempFile", data, &r), 0);
    wxfs_bytes_free(r);
    CHECK_CODE(wxfs_close(h), 0);
    uint64_t freed = 0;
    CHECK_CODE(wxfs_gc(g_root, strlen(g_root), 1, &freed), 0);
    CHECK(freed == 3000, "gc freed %llu", (unsigned long long)freed);
    EXPECT_COUNT(1);
    EXPECT_EVENT(0, WXFS_LOG_INFO, "u1/wxtemp", "u1/wxtemp/tmp: 3000 bytes of temp files removed by gc, least recently used sandbox first");
}

static void test_reentry_and_removal(void) {
    g_test = "re-entry";
    CHECK_CODE(wxfs_log_set(on_event, &g_rec, WXFS_LOG_WARN), 0);
    reset();
    g_rec.reenter = 1;
    g_rec.reentry_code = 0;
    tear_storage_log("wxlog", "\x01\x02\x03", 3);
    uint64_t h = open_app("wxlog", "");
    g_rec.reenter = 0;
    EXPECT_COUNT(1);
    CHECK_CODE(g_rec.reentry_code, WXFS_E_REENTRANT);
    CHECK_CODE(wxfs_close(h), 0);

    g_test = "replaced, then removed";
    /* Once wxfs_log_set returns, the previous callback is never called again. */
    CHECK_CODE(wxfs_log_set(never, NULL, WXFS_LOG_DEBUG), 0);
    CHECK_CODE(wxfs_log_set(NULL, NULL, 0), 0);
    tear_storage_log("wxlog", "\x01\x02\x03", 3);
    h = open_app("wxlog", ""); /* recovers, tells no one */
    CHECK_CODE(wxfs_close(h), 0);
}

/* Several threads open damaged sandboxes at once; each event arrives once, whole. */
#define THREADS 4

static void *open_one(void *arg) {
    const char *app = arg;
    uint64_t h = open_app(app, "");
    CHECK_CODE(wxfs_close(h), 0);
    return NULL;
}

static void test_threads(void) {
    g_test = "threads";
    static char apps[THREADS][32];
    for (int i = 0; i < THREADS; i++) {
        snprintf(apps[i], sizeof apps[i], "wxthread%d", i);
        fill(apps[i]);
        tear_storage_log(apps[i], "\x01\x02", 2);
    }
    CHECK_CODE(wxfs_log_set(on_event, &g_rec, WXFS_LOG_WARN), 0);
    reset();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, open_one, apps[i]) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    CHECK_CODE(wxfs_log_set(NULL, NULL, 0), 0);
    EXPECT_COUNT(THREADS);
    for (int i = 0; i < THREADS; i++) {
        int seen = 0;
        char want[256];
        snprintf(want, sizeof want, "u1/%s/kv: storage log: 2 bytes after the last whole record cut (1 records kept)", apps[i]);
        for (int j = 0; j < g_rec.count; j++) seen += strcmp(g_rec.events[j].message, want) == 0;
        CHECK(seen == 1, "\"%s\" seen %d times", want, seen);
    }
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == 0) {
        fprintf(stderr, "usage: %s <root>\n", argv[0]);
        return 2;
    }
    snprintf(g_root, sizeof g_root, "%s", argv[1]);
    g_rec.root = g_root;
    test_arguments();
    test_recovery_at_open();
    test_policy_and_filter();
    test_reentry_and_removal();
    test_threads();
    printf("log_test: %lu checks passed\n", g_checks);
    return 0;
}
