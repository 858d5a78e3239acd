/*
 * abi_test.c: the bridge contract of wxfs.h (docs/design.md §8) seen from C, single-threaded.
 *
 * Usage: abi_test <fresh-empty-root-dir>
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 * Every wxfs_bytes the library returns is freed exactly once (run under valgrind to verify).
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

/* A value no registry ever issues: tag 1, generation 0 (generations start at 1), slot 5. */
#define NEVER_ISSUED UINT64_C(0x0100000000000005)
#define SENTINEL UINT64_C(0xDEADBEEFCAFEF00D)

static const char *g_root;

static uint64_t open_ok(const char *app, const char *user) {
    char cfg[4096];
    uint64_t h = 0;
    make_config(cfg, sizeof cfg, g_root, app, user, "");
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    CHECK(h != 0, "wxfs_open(%s) returned 0 but the handle is 0", cfg);
    CHECK(last_error()[0] == 0, "last error after a successful open is \"%s\", expected empty", last_error());
    return h;
}

static void close_ok(uint64_t h) {
    int32_t rc = wxfs_close(h);
    CHECK(rc == 0, "wxfs_close(0x%016llx) returned %ld: %s", (unsigned long long)h, (long)rc, last_error());
}

/* ------------------------------------------------------------------------------------------ */

static void test_versions(void) {
    g_test = "versions";
    _Static_assert(WXFS_VERSION_NUMBER == WXFS_VERSION_MAJOR * 1000000 + WXFS_VERSION_MINOR * 1000 + WXFS_VERSION_PATCH,
                   "WXFS_VERSION_NUMBER is not MAJOR*1000000 + MINOR*1000 + PATCH");
    CHECK(wxfs_abi_version() == WXFS_ABI_VERSION, "wxfs_abi_version() = %lu, header says %d",
          (unsigned long)wxfs_abi_version(), WXFS_ABI_VERSION);
    CHECK(wxfs_version_number() == WXFS_VERSION_NUMBER, "wxfs_version_number() = %lu, header says %d",
          (unsigned long)wxfs_version_number(), WXFS_VERSION_NUMBER);
    CHECK(wxfs_version() != NULL, "wxfs_version() is NULL");
    CHECK(strcmp(wxfs_version(), WXFS_VERSION_STRING) == 0, "wxfs_version() = \"%s\", header says \"%s\"",
          wxfs_version(), WXFS_VERSION_STRING);
    CHECK(wxfs_version() == wxfs_version(), "wxfs_version() is not a static string");
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", WXFS_VERSION_MAJOR, WXFS_VERSION_MINOR, WXFS_VERSION_PATCH);
    CHECK(strcmp(expect, WXFS_VERSION_STRING) == 0, "WXFS_VERSION_STRING \"%s\" is not MAJOR.MINOR.PATCH (%s)",
          WXFS_VERSION_STRING, expect);
    /* wxfs_status_str: a static text for every code, as sqlite3_errstr. */
    CHECK(strcmp(wxfs_status_str(WXFS_OK), "ok") == 0, "wxfs_status_str(0) = %s", wxfs_status_str(WXFS_OK));
    CHECK(strstr(wxfs_status_str(WXFS_E_BUSY), "held by another process") != NULL, "%s", wxfs_status_str(WXFS_E_BUSY));
    CHECK(strstr(wxfs_status_str(1300002), "errMsg") != NULL, "%s", wxfs_status_str(1300002));
    CHECK(strcmp(wxfs_status_str(-999), "unknown status code") == 0, "%s", wxfs_status_str(-999));
    CHECK(wxfs_status_str(WXFS_E_FORKED) == wxfs_status_str(WXFS_E_FORKED), "not a static string");
}

/* Read the file behind a virtual path through host.realPath; returns malloc'd bytes. */
static char *read_on_disk(uint64_t h, const char *vpath, size_t *len) {
    char args[1024];
    wxfs_bytes r;
    snprintf(args, sizeof args, "{\"path\":\"%s\"}", vpath);
    int32_t rc = call(h, "host.realPath", args, &r);
    check_envelope(__FILE__, __LINE__, "host.realPath", r);
    CHECK(rc == 0, "host.realPath(%s) returned %ld: %s", args, (long)rc, (const char *)r.data);
    const char *key = "\"realPath\":\"";
    const char *p = strstr((const char *)r.data, key);
    CHECK(p != NULL, "host.realPath result has no realPath: %s", (const char *)r.data);
    p += strlen(key);
    char path[4096];
    size_t n = 0;
    for (; *p && *p != '"' && n + 1 < sizeof path; p++) {
        if (*p == '\\') p++; /* the root is plain ASCII; only \\ and \" can appear */
        path[n++] = *p;
    }
    path[n] = 0;
    wxfs_bytes_free(r);
    CHECK(starts_with(path, g_root), "realPath \"%s\" is not under the root \"%s\"", path, g_root);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "cannot open realPath \"%s\"", path);
    char *buf = malloc(65536);
    CHECK(buf != NULL, "malloc");
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

static void test_open_invoke_close(void) {
    g_test = "open/invoke/close";
    uint64_t h = open_ok("wx1", "u1");

    EXPECT_EXACT(h, "writeFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"data\":\"hi\"}", 0,
                 "{\"errMsg\":\"writeFileSync:ok\"}");

    /* The exact result bytes, and the NUL after them. */
    wxfs_bytes r;
    int32_t rc = call(h, "readFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"encoding\":\"utf8\"}", &r);
    CHECK_CODE(rc, 0);
    CHECK(r.data != NULL, "readFileSync result is NULL");
    const char *want = "{\"errMsg\":\"readFileSync:ok\",\"data\":\"hi\"}";
    CHECK(r.len == strlen(want), "result len %zu, expected %zu: %.*s", r.len, strlen(want), (int)r.len,
          (const char *)r.data);
    CHECK(memcmp(r.data, want, r.len) == 0, "result %.*s, expected %s", (int)r.len, (const char *)r.data, want);
    CHECK(r.data[r.len] == 0, "result.data[result.len] is %d, expected NUL", r.data[r.len]);
    wxfs_bytes_free(r);

    /* The exact bytes on disk. */
    size_t n = 0;
    char *disk = read_on_disk(h, "wxfile://usr/a.txt", &n);
    CHECK(n == 2 && memcmp(disk, "hi", 2) == 0, "on disk: %zu bytes \"%.*s\", expected \"hi\"", n, (int)n, disk);
    free(disk);

    /* Non-ASCII text and JSON escapes survive the round trip byte for byte. */
    EXPECT_EXACT(h, "writeFileSync",
                 "{\"filePath\":\"wxfile://usr/u.txt\",\"data\":\"h\xc3\xa9llo \xe2\x9c\x93 \\\"q\\\" \\\\ \\n\"}", 0,
                 "{\"errMsg\":\"writeFileSync:ok\"}");
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/u.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"h\xc3\xa9llo \xe2\x9c\x93 \\\"q\\\" \\\\ \\n\"}");
    disk = read_on_disk(h, "wxfile://usr/u.txt", &n);
    const char *u = "h\xc3\xa9llo \xe2\x9c\x93 \"q\" \\ \n";
    CHECK(n == strlen(u) && memcmp(disk, u, n) == 0, "on disk: %zu bytes \"%.*s\", expected \"%s\"", n, (int)n, disk, u);
    free(disk);

    /* ArrayBuffers travel in __nativeBuffers__, both ways. */
    EXPECT_EXACT(h, "writeFileSync",
                 "{\"filePath\":\"wxfile://usr/b.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"AP9oaQ==\"}]}",
                 0, "{\"errMsg\":\"writeFileSync:ok\"}");
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/b.bin\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"AP9oaQ==\"}]}");

    /* Async names answer through the same synchronous entry point. */
    EXPECT_EXACT(h, "readFile", "{\"filePath\":\"wxfile://usr/a.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFile:ok\",\"data\":\"hi\"}");

    /* Storage round trip. */
    EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"k1\",\"data\":{\"a\":[1,2]}}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"k1\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":{\"a\":[1,2]}}");

    close_ok(h);
}

static void test_api_failures(void) {
    g_test = "api failures";
    uint64_t h = open_ok("wx1", "u1");
    EXPECT_PREFIX(h, "readFileSync", "{\"filePath\":\"wxfile://usr/missing.txt\",\"encoding\":\"utf8\"}", 1300002,
                  "readFileSync:fail no such file or directory");
    /* The errCode is in the result too. */
    wxfs_bytes r;
    int32_t rc = call(h, "readFileSync", "{\"filePath\":\"wxfile://usr/missing.txt\"}", &r);
    check_envelope(__FILE__, __LINE__, "readFileSync", r);
    CHECK_CODE(rc, 1300002);
    CHECK(strstr((const char *)r.data, "\"errCode\":1300002") != NULL, "no \"errCode\":1300002 in %s",
          (const char *)r.data);
    wxfs_bytes_free(r);
    /* An API failure leaves the session usable. */
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"hi\"}");
    close_ok(h);
}

static void test_bytes_free(void) {
    g_test = "wxfs_bytes_free";
    wxfs_bytes_free((wxfs_bytes){NULL, 0}); /* no-op */
    wxfs_bytes empty = {NULL, 0};
    wxfs_bytes_free(empty);
}

static void expect_bad_handle(uint64_t bad, int close_code) {
    char what[64];
    snprintf(what, sizeof what, "handle 0x%016llx", (unsigned long long)bad);
    wxfs_bytes r;
    int32_t rc = call(bad, "getStorageInfoSync", "{}", &r);
    check_envelope(__FILE__, __LINE__, what, r);
    CHECK(rc == WXFS_E_HANDLE, "%s: invoke returned %ld, expected WXFS_E_HANDLE; %s", what, (long)rc,
          (const char *)r.data);
    CHECK(starts_with((const char *)r.data, "{\"errMsg\":\"getStorageInfoSync:fail "),
          "%s: errMsg does not start with getStorageInfoSync:fail: %s", what, (const char *)r.data);
    CHECK(strstr((const char *)r.data, "invalid sandbox handle") != NULL,
          "%s: errMsg does not say \"invalid sandbox handle\": %s", what, (const char *)r.data);
    wxfs_bytes_free(r);
    CHECK(strstr(last_error(), "invalid sandbox handle") != NULL,
          "%s: last error after a bad-handle invoke is \"%s\"", what, last_error());
    /* Without out_result the code is the same. */
    rc = wxfs_invoke(bad, "getStorageInfoSync", 18, "{}", 2, NULL);
    CHECK(rc == WXFS_E_HANDLE, "%s: invoke(out_result NULL) returned %ld", what, (long)rc);
    rc = wxfs_close(bad);
    CHECK(rc == close_code, "%s: wxfs_close returned %ld, expected %d", what, (long)rc, close_code);
}

static void test_bad_handles(void) {
    g_test = "bad handles";
    uint64_t live = open_ok("wx1", "u1");

    expect_bad_handle(0, WXFS_OK); /* wxfs_close(0) is a no-op returning 0 */
    CHECK_CODE(wxfs_close(0), 0);
    expect_bad_handle(NEVER_ISSUED, WXFS_E_HANDLE);
    expect_bad_handle(UINT64_MAX, WXFS_E_HANDLE);
    expect_bad_handle(UINT64_C(0x7f00000100000000), WXFS_E_HANDLE);
    /* A live handle with its generation or type tag altered is forged, and closing it must not
     * close the live one. */
    expect_bad_handle(live + (UINT64_C(1) << 32), WXFS_E_HANDLE);
    expect_bad_handle(live ^ (UINT64_C(0x03) << 56), WXFS_E_HANDLE);
    expect_bad_handle(live + 1000, WXFS_E_HANDLE);
    EXPECT_PREFIX(live, "getStorageInfoSync", "{}", 0, "getStorageInfoSync:ok");

    /* Closed, then closed again. */
    uint64_t c = open_ok("wx-closed", "u1");
    EXPECT_EXACT(c, "setStorageSync", "{\"key\":\"x\",\"data\":1}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    close_ok(c);
    expect_bad_handle(c, WXFS_E_HANDLE); /* invoke on a closed handle; its close is the second close */
    CHECK(last_error()[0] != 0, "no last error after closing a handle twice");
    CHECK_CODE(wxfs_close(c), WXFS_E_HANDLE);

    /* The freed slot is reused with a new generation: the stale handle stays dead. */
    uint64_t reused = open_ok("wx-reuse", "u1");
    CHECK(reused != c, "a new open returned the closed handle 0x%016llx again", (unsigned long long)c);
    expect_bad_handle(c, WXFS_E_HANDLE);
    EXPECT_EXACT(reused, "getStorageSync", "{\"key\":\"x\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    close_ok(reused);
    expect_bad_handle(reused, WXFS_E_HANDLE);

    close_ok(live);
    expect_bad_handle(live, WXFS_E_HANDLE);
}

static void test_null_pointers(void) {
    g_test = "NULL pointers";
    char cfg[4096];
    make_config(cfg, sizeof cfg, g_root, "wx1", "u1", "");

    uint64_t h = SENTINEL;
    CHECK_CODE(wxfs_open(NULL, 5, &h), WXFS_E_NULL);
    CHECK(h == SENTINEL, "wxfs_open(NULL, 5, &h) wrote 0x%016llx to h", (unsigned long long)h);
    CHECK(last_error()[0] != 0, "no last error after wxfs_open(NULL, 5, &h)");
    CHECK_CODE(wxfs_open(cfg, strlen(cfg), NULL), WXFS_E_NULL);
    CHECK(last_error()[0] != 0, "no last error after wxfs_open(cfg, len, NULL)");

    h = open_ok("wx1", "u1");
    wxfs_bytes r;

    /* api NULL, with and without a length. */
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, NULL, 12, "{}", 2, &r), WXFS_E_NULL);
    check_envelope(__FILE__, __LINE__, "invoke(api NULL, 12)", r);
    wxfs_bytes_free(r);
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, NULL, 0, "{}", 2, &r), WXFS_E_NULL);
    check_envelope(__FILE__, __LINE__, "invoke(api NULL, 0)", r);
    wxfs_bytes_free(r);

    /* args NULL with length 0 means {}. */
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, "getStorageInfoSync", 18, NULL, 0, &r), 0);
    check_envelope(__FILE__, __LINE__, "getStorageInfoSync(NULL, 0)", r);
    CHECK(starts_with((const char *)r.data, "{\"errMsg\":\"getStorageInfoSync:ok\""), "got %s", (const char *)r.data);
    wxfs_bytes_free(r);
    CHECK(last_error()[0] == 0, "last error after a successful invoke is \"%s\"", last_error());
    /* A non-NULL pointer with length 0 is {} as well. */
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, "getStorageInfoSync", 18, "garbage", 0, &r), 0);
    check_envelope(__FILE__, __LINE__, "getStorageInfoSync(\"garbage\", 0)", r);
    wxfs_bytes_free(r);

    /* args NULL with a length. */
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, "getStorageInfoSync", 18, NULL, 5, &r), WXFS_E_NULL);
    check_envelope(__FILE__, __LINE__, "getStorageInfoSync(NULL, 5)", r);
    CHECK(starts_with((const char *)r.data, "{\"errMsg\":\"getStorageInfoSync:fail "), "got %s", (const char *)r.data);
    wxfs_bytes_free(r);
    CHECK(last_error()[0] != 0, "no last error after invoke(args NULL, 5)");

    /* out_result NULL: the call still runs and returns its code. */
    const char *set = "{\"key\":\"nullout\",\"data\":\"v\"}";
    CHECK_CODE(wxfs_invoke(h, "setStorageSync", 14, set, strlen(set), NULL), 0);
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"nullout\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v\"}");
    const char *miss = "{\"filePath\":\"wxfile://usr/missing.txt\"}";
    CHECK_CODE(wxfs_invoke(h, "readFileSync", 12, miss, strlen(miss), NULL), 1300002);
    CHECK_CODE(wxfs_invoke(h, "noSuchApi", 9, "{}", 2, NULL), WXFS_E_UNKNOWN_API);

    /* api_len is honoured: the name is not NUL-terminated at its length. */
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, "getStorageSyncXXXX", 14, "{\"key\":\"nullout\"}", 17, &r), 0);
    check_envelope(__FILE__, __LINE__, "getStorageSync (api_len 14)", r);
    CHECK(strcmp((const char *)r.data, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v\"}") == 0, "got %s",
          (const char *)r.data);
    wxfs_bytes_free(r);

    close_ok(h);
}

static void test_bad_input(void) {
    g_test = "bad UTF-8 / JSON / api / config";
    uint64_t h = open_ok("wx1", "u1");
    wxfs_bytes r;

    /* Invalid UTF-8 in the api name. */
    const char *bad_api = "readFileSync\xff";
    r.data = NULL; r.len = 0;
    CHECK_CODE(wxfs_invoke(h, bad_api, strlen(bad_api), "{}", 2, &r), WXFS_E_UTF8);
    check_envelope(__FILE__, __LINE__, "invoke(api \"readFileSync\\xff\")", r);
    wxfs_bytes_free(r);
    CHECK(last_error()[0] != 0, "no last error after an invalid UTF-8 api name");

    /* Invalid UTF-8 in the args: a stray byte, an overlong '/', a surrogate, a truncated sequence. */
    const char *bad_args[] = {"{\"key\":\"\xff\"}", "{\"key\":\"\xc0\xaf\"}", "{\"key\":\"\xed\xa0\x80\"}",
                              "{\"key\":\"\xe2\x9c\"}"};
    for (size_t i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        g_test = "bad UTF-8 args";
        EXPECT_PREFIX(h, "getStorageSync", bad_args[i], WXFS_E_UTF8, "getStorageSync:fail ");
    }

    /* Malformed JSON, and JSON that is not an object. */
    g_test = "bad JSON args";
    EXPECT_PREFIX(h, "readFileSync", "{not json", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "[1]", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "null", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "42", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "\"s\"", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "{} {}", WXFS_E_JSON, "readFileSync:fail");
    EXPECT_PREFIX(h, "writeFileSync", "{\"filePath\":\"wxfile://usr/n.bin\",\"__nativeBuffers__\":\"nope\"}",
                  WXFS_E_JSON, "writeFileSync:fail");
    EXPECT_PREFIX(h, "writeFileSync",
                  "{\"filePath\":\"wxfile://usr/n.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"!!\"}]}",
                  WXFS_E_JSON, "writeFileSync:fail");
    EXPECT_PREFIX(h, "readFileSync", "{\"filePath\":\"wxfile://usr/n.bin\"}", 1300002,
                  "readFileSync:fail no such file or directory");

    /* Unknown apis, including the Sync twin of an async-only api and a wrong case. */
    g_test = "unknown api";
    EXPECT_CONTAINS(h, "fooBarSync", "{}", WXFS_E_UNKNOWN_API, "fooBarSync");
    EXPECT_CONTAINS(h, "ReadFileSync", "{}", WXFS_E_UNKNOWN_API, "ReadFileSync");
    EXPECT_CONTAINS(h, "readZipEntrySync", "{}", WXFS_E_UNKNOWN_API, "readZipEntrySync");
    EXPECT_CONTAINS(h, "host.realPathSync", "{}", WXFS_E_UNKNOWN_API, "host.realPathSync");
    CHECK(strstr(last_error(), "host.realPathSync") != NULL, "last error \"%s\" does not name the api", last_error());

    /* Configs. */
    g_test = "bad config";
    char cfg[4096];
    struct { const char *json; int32_t code; const char *mentions; } cases[] = {
        {"{}", WXFS_E_CONFIG, NULL},
        {"{", WXFS_E_CONFIG, NULL},
        {"[]", WXFS_E_CONFIG, NULL},
        {"", WXFS_E_CONFIG, NULL},
        {NULL, WXFS_E_CONFIG, "ftp"},     /* protocol "ftp" */
        {NULL, WXFS_E_CONFIG, "disk"},    /* durability "disk" */
        {NULL, WXFS_E_CONFIG, "root"},    /* root "" */
        {NULL, WXFS_E_CONFIG, "appId"},   /* appId "" */
        {NULL, WXFS_E_UTF8, NULL},        /* invalid UTF-8 in userId */
        {NULL, WXFS_E_CONFIG, NULL},      /* root is a number */
    };
    char built[6][4096];
    make_config(built[0], sizeof built[0], g_root, "wx1", "u1", ",\"protocol\":\"ftp\"");
    make_config(built[1], sizeof built[1], g_root, "wx1", "u1", ",\"durability\":\"disk\"");
    make_config(built[2], sizeof built[2], "", "wx1", "u1", "");
    make_config(built[3], sizeof built[3], g_root, "", "u1", "");
    make_config(built[4], sizeof built[4], g_root, "wx1", "u\xff", "");
    snprintf(built[5], sizeof built[5], "{\"root\":5,\"appId\":\"wx1\",\"userId\":\"u1\"}");
    for (size_t i = 0; i < 6; i++) cases[4 + i].json = built[i];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t out = SENTINEL;
        int32_t rc = wxfs_open(cases[i].json, strlen(cases[i].json), &out);
        CHECK(rc == cases[i].code, "wxfs_open(%s) returned %ld, expected %ld (%s)", cases[i].json, (long)rc,
              (long)cases[i].code, last_error());
        CHECK(out == SENTINEL, "failed wxfs_open(%s) wrote 0x%016llx to the handle", cases[i].json,
              (unsigned long long)out);
        CHECK(last_error()[0] != 0, "no last error after wxfs_open(%s)", cases[i].json);
        if (cases[i].mentions)
            CHECK(strstr(last_error(), cases[i].mentions) != NULL, "last error \"%s\" does not mention \"%s\"",
                  last_error(), cases[i].mentions);
    }
    /* config_len is honoured (a config followed by junk that is not part of it). */
    make_config(cfg, sizeof cfg, g_root, "wx1", "u1", "");
    size_t cfg_len = strlen(cfg);
    strcat(cfg, "garbage");
    uint64_t h2 = 0;
    CHECK_CODE(wxfs_open(cfg, cfg_len, &h2), 0);
    close_ok(h2);

    close_ok(h);
}

static void test_last_error_message(void) {
    g_test = "wxfs_last_error_message";
    char cfg[4096];
    make_config(cfg, sizeof cfg, g_root, "wx1", "u1", ",\"protocol\":\"ftp\"");
    uint64_t h = SENTINEL;
    CHECK_CODE(wxfs_open(cfg, strlen(cfg), &h), WXFS_E_CONFIG);

    char small[4];
    memset(small, 'X', sizeof small);
    size_t need = 0;
    CHECK_CODE(wxfs_last_error_message(small, sizeof small, &need), WXFS_E_BUFFER_TOO_SMALL);
    CHECK(need >= sizeof small, "out_len is %zu for a message that does not fit in %zu bytes", need, sizeof small);
    CHECK(memcmp(small, "XXXX", 4) == 0, "a too-small buffer was written to");

    /* Exactly the length, without room for the NUL, is still too small. */
    char *exact = malloc(need + 1);
    CHECK(exact != NULL, "malloc");
    size_t again = 0;
    CHECK_CODE(wxfs_last_error_message(exact, need, &again), WXFS_E_BUFFER_TOO_SMALL);
    CHECK(again == need, "out_len %zu then %zu for the same message", need, again);

    /* out_len NULL is allowed. */
    CHECK_CODE(wxfs_last_error_message(small, sizeof small, NULL), WXFS_E_BUFFER_TOO_SMALL);

    memset(exact, 'X', need + 1);
    again = 0;
    CHECK_CODE(wxfs_last_error_message(exact, need + 1, &again), 0);
    CHECK(again == need, "out_len %zu, expected %zu", again, need);
    CHECK(exact[need] == 0, "message is not NUL-terminated");
    CHECK(strlen(exact) == need, "strlen(message) %zu, out_len %zu", strlen(exact), need);
    CHECK(strstr(exact, "ftp") != NULL, "message \"%s\" does not mention the bad protocol", exact);
    /* Reading the message does not clear it. */
    CHECK(strcmp(last_error(), exact) == 0, "message changed on a second read: \"%s\" then \"%s\"", exact, last_error());
    free(exact);

    /* A successful call clears it. */
    uint64_t ok = open_ok("wx1", "u1"); /* open_ok checks the message is empty after wxfs_open */
    CHECK_CODE(wxfs_close(UINT64_C(0x0100000000000777)), WXFS_E_HANDLE);
    CHECK(last_error()[0] != 0, "no last error after closing a bad handle");
    wxfs_bytes r;
    CHECK_CODE(call(ok, "getStorageInfoSync", "{}", &r), 0);
    wxfs_bytes_free(r);
    char buf[16];
    memset(buf, 'X', sizeof buf);
    size_t n = 99;
    CHECK_CODE(wxfs_last_error_message(buf, sizeof buf, &n), 0);
    CHECK(n == 0, "out_len is %zu after a successful call, expected 0", n);
    CHECK(buf[0] == 0, "buffer is \"%.15s\" after a successful call, expected empty", buf);
    n = 99;
    CHECK_CODE(wxfs_last_error_message(buf, 1, &n), 0); /* "" fits in one byte */
    CHECK(n == 0, "out_len %zu", n);
    close_ok(ok);
    CHECK(last_error()[0] == 0, "last error after a successful close is \"%s\"", last_error());
}

static void test_shared_state(void) {
    g_test = "shared state";
    uint64_t a = open_ok("wx-shared", "u1");
    uint64_t b = open_ok("wx-shared", "u1");
    CHECK(a != b, "two opens returned the same handle 0x%016llx", (unsigned long long)a);

    EXPECT_EXACT(a, "setStorageSync", "{\"key\":\"s\",\"data\":\"from a\"}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    EXPECT_EXACT(b, "getStorageSync", "{\"key\":\"s\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"from a\"}");
    EXPECT_EXACT(b, "writeFileSync", "{\"filePath\":\"wxfile://usr/s.txt\",\"data\":\"from b\"}", 0,
                 "{\"errMsg\":\"writeFileSync:ok\"}");
    EXPECT_EXACT(a, "readFileSync", "{\"filePath\":\"wxfile://usr/s.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"from b\"}");

    /* Another user of the same app sees none of it. */
    uint64_t other = open_ok("wx-shared", "u2");
    EXPECT_EXACT(other, "getStorageSync", "{\"key\":\"s\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    EXPECT_PREFIX(other, "readFileSync", "{\"filePath\":\"wxfile://usr/s.txt\"}", 1300002,
                  "readFileSync:fail no such file or directory");
    close_ok(other);

    /* Closing one handle leaves the other working. */
    close_ok(a);
    EXPECT_CONTAINS(a, "getStorageSync", "{\"key\":\"s\"}", WXFS_E_HANDLE, "invalid sandbox handle");
    EXPECT_EXACT(b, "getStorageSync", "{\"key\":\"s\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"from a\"}");
    EXPECT_EXACT(b, "setStorageSync", "{\"key\":\"s2\",\"data\":2}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    EXPECT_EXACT(b, "readFileSync", "{\"filePath\":\"wxfile://usr/s.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"from b\"}");
    close_ok(b);
    /* Persistence after the last close is persist_test.c's subject. */
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == 0) {
        fprintf(stderr, "usage: %s <empty root dir>\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    test_versions();
    test_bytes_free();
    test_open_invoke_close();
    test_api_failures();
    test_bad_handles();
    test_null_pointers();
    test_bad_input();
    test_last_error_message();
    test_shared_state();
    printf("abi_test: %lu checks passed\n", g_checks);
    return 0;
}
