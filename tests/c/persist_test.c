/*
 * persist_test.c: what a sandbox holds survives the close of its last handle, and the process.
 *
 * Usage: persist_test <root> write   (fresh empty root: write, close, reopen in-process, check)
 *        persist_test <root> check   (same root, a new process: check again)
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

static uint64_t open_sandbox(const char *root) {
    char cfg[4096];
    uint64_t h = 0;
    make_config(cfg, sizeof cfg, root, "wx-persist", "u1", "");
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    return h;
}

static void check_contents(uint64_t h) {
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"p1\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"v1\"}");
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"p2\"}", 0,
                 "{\"errMsg\":\"getStorageSync:ok\",\"data\":{\"a\":[1,\"two\"]},\"dataType\":\"Object\"}");
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"gone\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    EXPECT_PREFIX(h, "getStorageInfoSync", "{}", 0, "getStorageInfoSync:ok");
    wxfs_bytes r;
    CHECK_CODE(call(h, "getStorageInfoSync", "{}", &r), 0);
    CHECK(strstr((const char *)r.data, "\"keys\":[\"p1\",\"p2\"]") != NULL ||
              strstr((const char *)r.data, "\"keys\":[\"p2\",\"p1\"]") != NULL,
          "getStorageInfoSync keys are not exactly p1, p2: %s", (const char *)r.data);
    wxfs_bytes_free(r);
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/p.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"persist\"}");
}

int main(int argc, char **argv) {
    if (argc != 3 || argv[1][0] == 0 || (strcmp(argv[2], "write") != 0 && strcmp(argv[2], "check") != 0)) {
        fprintf(stderr, "usage: %s <root> write|check\n", argv[0]);
        return 2;
    }
    const char *root = argv[1];
    if (strcmp(argv[2], "write") == 0) {
        g_test = "write";
        uint64_t h = open_sandbox(root);
        EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"p1\",\"data\":\"v1\"}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
        EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"p2\",\"data\":{\"a\":[1,\"two\"]},\"dataType\":\"Object\"}", 0,
                     "{\"errMsg\":\"setStorageSync:ok\"}");
        EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"gone\",\"data\":3}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
        EXPECT_EXACT(h, "removeStorageSync", "{\"key\":\"gone\"}", 0, "{\"errMsg\":\"removeStorageSync:ok\"}");
        EXPECT_EXACT(h, "writeFileSync", "{\"filePath\":\"wxfile://usr/p.txt\",\"data\":\"persist\"}", 0,
                     "{\"errMsg\":\"writeFileSync:ok\"}");
        check_contents(h);
        CHECK_CODE(wxfs_close(h), 0);

        g_test = "reopen in the same process after the last close";
        h = open_sandbox(root);
        check_contents(h);
        CHECK_CODE(wxfs_close(h), 0);
    } else {
        g_test = "reopen in a new process";
        uint64_t h = open_sandbox(root);
        check_contents(h);
        CHECK_CODE(wxfs_close(h), 0);
    }
    printf("persist_test %s: %lu checks passed\n", argv[2], g_checks);
    return 0;
}
