/*
 * typed_test.c: the typed C functions beside the bridge (docs/design.md §8, wxfs.h), through wxfs.h only:
 * files (write, read copied or mapped, save, temp, real path), storage, gc and remove_sandbox,
 * and their NULL-output, bad-handle and errCode behaviour.
 *
 * Usage: typed_test <fresh-empty-root-dir>
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 * Every wxfs_bytes the library returns is freed exactly once (the valgrind run verifies it), and
 * every mapping wxfs_read_file hands out must be gone after wxfs_bytes_free (checked on Linux).
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include <sys/stat.h>

#include "harness.h"

#define SENTINEL_H UINT64_C(0xDEADBEEFCAFEF00D)
/* A value no registry ever issues: tag 1, generation 0 (generations start at 1), slot 5. */
#define NEVER_ISSUED UINT64_C(0x0100000000000005)

static const char *g_root;
static uint8_t g_sentinel_byte;
/* What an output holds before a call that must not write it. */
#define SENTINEL_BYTES ((wxfs_bytes){&g_sentinel_byte, 4242})

static int is_sentinel(wxfs_bytes b) {
    return b.data == &g_sentinel_byte && b.len == 4242;
}

static uint64_t open_with(const char *root, const char *app, const char *user, const char *extra) {
    char cfg[4096];
    uint64_t h = 0;
    make_config(cfg, sizeof cfg, root, app, user, extra);
    int32_t rc = open_cfg(cfg, &h);
    CHECK(rc == 0, "wxfs_open(%s) returned %ld: %s", cfg, (long)rc, last_error());
    CHECK(h != 0, "wxfs_open(%s) gave handle 0", cfg);
    return h;
}

static uint64_t open_app(const char *app) {
    return open_with(g_root, app, "u1", "");
}

static void close_ok(uint64_t h) {
    int32_t rc = wxfs_close(h);
    CHECK(rc == 0, "wxfs_close returned %ld: %s", (long)rc, last_error());
}

/* A text result: non-NULL, NUL at data[len], no embedded NUL, valid UTF-8. */
static void check_text(const char *what, wxfs_bytes b) {
    CHECK(b.data != NULL, "%s: data is NULL", what);
    CHECK(b.data[b.len] == 0, "%s: data[len] is not NUL", what);
    CHECK(strlen((const char *)b.data) == b.len, "%s: embedded NUL (strlen %zu, len %zu)", what,
          strlen((const char *)b.data), b.len);
    CHECK(valid_utf8(b.data, b.len), "%s: not valid UTF-8", what);
}

/* Deterministic, non-repeating-looking bytes. */
static uint8_t *pattern(size_t n, unsigned seed) {
    uint8_t *p = malloc(n ? n : 1);
    CHECK(p != NULL, "malloc %zu", n);
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* The whole content of an OS file (malloc'd), or NULL when it cannot be opened. */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    CHECK(buf != NULL, "malloc");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL, "realloc");
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* wxfs_real_path of `vpath`, as a malloc'd C string; checks it is text under the root. */
static char *real_path_of(uint64_t h, const char *vpath) {
    wxfs_bytes r = SENTINEL_BYTES;
    int32_t rc = wxfs_real_path(h, vpath, strlen(vpath), &r);
    CHECK(rc == 0, "wxfs_real_path(%s) returned %ld: %s", vpath, (long)rc, last_error());
    check_text("wxfs_real_path", r);
    char *p = malloc(r.len + 1);
    CHECK(p != NULL, "malloc");
    memcpy(p, r.data, r.len + 1);
    wxfs_bytes_free(r);
    CHECK(starts_with(p, g_root), "real path \"%s\" is not under the root \"%s\"", p, g_root);
    return p;
}

/* The bytes behind `vpath` on disk, read with fopen through wxfs_real_path, equal `want`. */
static void check_on_disk(uint64_t h, const char *vpath, const uint8_t *want, size_t want_len) {
    char *p = real_path_of(h, vpath);
    size_t n = 0;
    uint8_t *got = slurp(p, &n);
    CHECK(got != NULL, "fopen(\"%s\") (real path of %s) failed", p, vpath);
    CHECK(n == want_len, "%s on disk (%s): %zu bytes, expected %zu", vpath, p, n, want_len);
    CHECK(n == 0 || memcmp(got, want, n) == 0, "%s on disk (%s): bytes differ", vpath, p);
    free(got);
    free(p);
}

/* wxfs_read_file of `vpath` equals `want`; returns the result (caller frees) for mapping checks. */
static wxfs_bytes read_equal(uint64_t h, const char *vpath, const uint8_t *want, size_t want_len) {
    wxfs_bytes r = SENTINEL_BYTES;
    int32_t rc = wxfs_read_file(h, vpath, strlen(vpath), &r);
    CHECK(rc == 0, "wxfs_read_file(%s) returned %ld: %s", vpath, (long)rc, last_error());
    CHECK(!is_sentinel(r), "wxfs_read_file(%s) returned 0 without writing out_data", vpath);
    CHECK(r.len == want_len, "wxfs_read_file(%s): %zu bytes, expected %zu", vpath, r.len, want_len);
    CHECK(want_len == 0 || r.data != NULL, "wxfs_read_file(%s): data NULL", vpath);
    CHECK(want_len == 0 || memcmp(r.data, want, want_len) == 0, "wxfs_read_file(%s): bytes differ", vpath);
    CHECK(last_error()[0] == 0, "last error after a successful wxfs_read_file is \"%s\"", last_error());
    return r;
}

#ifdef __linux__
/* The file backing the mapping that contains `p` (from /proc/self/maps), or "" when `p` is in
 * an anonymous mapping (heap) or none. */
static void mapping_of(const void *p, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "cannot open /proc/self/maps");
    char line[4096 + 256];
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int off = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2) continue;
        if (a < lo || a >= hi) continue;
        char *name = line + off;
        name[strcspn(name, "\n")] = 0;
        if (name[0] == '/') snprintf(out, cap, "%s", name);
        break;
    }
    fclose(f);
}

/* Whether some mapping of this process is backed by the file `path`. */
static int file_is_mapped(const char *path) {
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "cannot open /proc/self/maps");
    char line[4096 + 256];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        const char *slash = strchr(line, '/');
        found = slash != NULL && strcmp(slash, path) == 0;
    }
    fclose(f);
    return found;
}
#endif

/* `r` (a wxfs_read_file result for `vpath`) is a mapping of the file itself, or (want_mapped 0)
 * a copy; then free it and, unless another result of the file is still held (`others`), check
 * that no mapping of the file is left. */
static void check_mapped_and_free_(uint64_t h, const char *vpath, wxfs_bytes r, int want_mapped, int others) {
#ifdef __linux__
    char *rp = real_path_of(h, vpath);
    char canon[4096];
    CHECK(realpath(rp, canon) != NULL, "realpath(%s) failed", rp);
    char backing[4096];
    mapping_of(r.data, backing, sizeof backing);
    if (want_mapped) {
        CHECK(strcmp(backing, canon) == 0,
              "wxfs_read_file(%s) of %zu bytes is not a mapping of %s (its memory is backed by \"%s\")", vpath, r.len,
              canon, backing);
    } else {
        CHECK(backing[0] == 0 || strcmp(backing, canon) != 0,
              "wxfs_read_file(%s) of %zu bytes is a mapping of the file; user files must be copied", vpath, r.len);
    }
    wxfs_bytes_free(r);
    if (!others)
        CHECK(!file_is_mapped(canon), "%s is still mapped after wxfs_bytes_free of its wxfs_read_file result", canon);
    else if (want_mapped)
        CHECK(file_is_mapped(canon), "freeing one result of %s unmapped the other one too", canon);
    free(rp);
#else
    (void)h;
    (void)vpath;
    (void)want_mapped;
    (void)others;
    wxfs_bytes_free(r);
#endif
}

static void check_mapped_and_free(uint64_t h, const char *vpath, wxfs_bytes r, int want_mapped) {
    check_mapped_and_free_(h, vpath, r, want_mapped, 0);
}

/* Copy a library text result into a malloc'd C string and free the result. */
static char *take_text(const char *what, wxfs_bytes b) {
    check_text(what, b);
    char *s = malloc(b.len + 1);
    CHECK(s != NULL, "malloc");
    memcpy(s, b.data, b.len + 1);
    wxfs_bytes_free(b);
    return s;
}

static char *temp_create(uint64_t h, const uint8_t *data, size_t len, const char *ext) {
    wxfs_bytes r = SENTINEL_BYTES;
    int32_t rc = wxfs_temp_create(h, data, len, ext, ext ? strlen(ext) : 0, &r);
    CHECK(rc == 0, "wxfs_temp_create(%zu bytes, ext %s) returned %ld: %s", len, ext ? ext : "NULL", (long)rc,
          last_error());
    return take_text("wxfs_temp_create", r);
}

static char *save_file(uint64_t h, const char *temp, const char *file_path) {
    wxfs_bytes r = SENTINEL_BYTES;
    int32_t rc = wxfs_save_file(h, temp, strlen(temp), file_path, file_path ? strlen(file_path) : 0, &r);
    CHECK(rc == 0, "wxfs_save_file(%s, %s) returned %ld: %s", temp, file_path ? file_path : "NULL", (long)rc,
          last_error());
    return take_text("wxfs_save_file", r);
}

/* A typed call failed with `code`; its last error must equal the reason the bridge gives for the
 * same operation (`api`(`args`) -> "<api>:fail <reason>"), and the bridge's code must match. */
static void check_same_as_bridge(uint64_t h, int32_t code, const char *api, const char *args) {
    char typed_msg[1024];
    snprintf(typed_msg, sizeof typed_msg, "%s", last_error());
    wxfs_bytes r;
    int32_t rc = call(h, api, args, &r);
    check_envelope(__FILE__, __LINE__, api, r);
    CHECK(rc == code, "typed call returned %ld, bridge %s(%s) returned %ld: %s", (long)code, api, args, (long)rc,
          (const char *)r.data);
    char want[1200];
    snprintf(want, sizeof want, "{\"errMsg\":\"%s:fail ", api);
    CHECK(starts_with((const char *)r.data, want), "bridge result %s", (const char *)r.data);
    const char *reason = (const char *)r.data + strlen(want);
    size_t n = strlen(typed_msg);
    CHECK(n > 0 && strncmp(reason, typed_msg, n) == 0 && reason[n] == '"',
          "typed last error \"%s\" differs from the bridge's reason in %s", typed_msg, (const char *)r.data);
    wxfs_bytes_free(r);
}

/* ------------------------------------------------------------------------------------------ */

static void test_write_read(void) {
    g_test = "write_file / read_file (copied)";
    uint64_t h = open_app("wx-typed");
    const uint8_t small[] = {0x00, 'h', 'i', 0xff, 0x00, '\n', 0xc3, 0xa9};
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/a.bin", 18, small, sizeof small), 0);
    CHECK(last_error()[0] == 0, "last error after a successful write is \"%s\"", last_error());
    wxfs_bytes r = read_equal(h, "wxfile://usr/a.bin", small, sizeof small);
    check_mapped_and_free(h, "wxfile://usr/a.bin", r, 0);
    check_on_disk(h, "wxfile://usr/a.bin", small, sizeof small);
    /* The bridge sees the same bytes. */
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/a.bin\",\"encoding\":\"hex\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"006869ff000ac3a9\"}");

    /* Replaced, shorter: nothing of the old content is left. */
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/a.bin", 18, (const uint8_t *)"xy", 2), 0);
    r = read_equal(h, "wxfile://usr/a.bin", (const uint8_t *)"xy", 2);
    wxfs_bytes_free(r);
    check_on_disk(h, "wxfile://usr/a.bin", (const uint8_t *)"xy", 2);

    /* Empty: data NULL with length 0 is accepted. */
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/empty.bin", 22, NULL, 0), 0);
    r = read_equal(h, "wxfile://usr/empty.bin", NULL, 0);
    wxfs_bytes_free(r);
    check_on_disk(h, "wxfile://usr/empty.bin", NULL, 0);

    /* path_len is honoured: the rest of the buffer is not part of the path. */
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/b.txtGARBAGE", 18, (const uint8_t *)"b", 1), 0);
    r = read_equal(h, "wxfile://usr/b.txt", (const uint8_t *)"b", 1);
    wxfs_bytes_free(r);

    /* A large user file is still copied (it can change in place). */
    size_t big_n = 100 * 1024;
    uint8_t *big = pattern(big_n, 1);
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/big.bin", 20, big, big_n), 0);
    r = read_equal(h, "wxfile://usr/big.bin", big, big_n);
    check_mapped_and_free(h, "wxfile://usr/big.bin", r, 0);
    check_on_disk(h, "wxfile://usr/big.bin", big, big_n);
    free(big);

    /* In a subdirectory made by the bridge. */
    EXPECT_EXACT(h, "mkdirSync", "{\"dirPath\":\"wxfile://usr/d\"}", 0, "{\"errMsg\":\"mkdirSync:ok\"}");
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/d/c.txt", 20, (const uint8_t *)"in d", 4), 0);
    EXPECT_EXACT(h, "readFileSync", "{\"filePath\":\"wxfile://usr/d/c.txt\",\"encoding\":\"utf8\"}", 0,
                 "{\"errMsg\":\"readFileSync:ok\",\"data\":\"in d\"}");
    close_ok(h);
}

static void test_errcodes(void) {
    g_test = "errCodes of typed calls";
    uint64_t h = open_app("wx-typed");
    wxfs_bytes r = SENTINEL_BYTES;

    /* readFile of a missing file. */
    int32_t rc = wxfs_read_file(h, "wxfile://usr/missing.txt", 24, &r);
    CHECK_CODE(rc, 1300002);
    CHECK(starts_with(last_error(), "no such file or directory"), "last error \"%s\"", last_error());
    CHECK(is_sentinel(r), "a failed wxfs_read_file wrote out_data");
    check_same_as_bridge(h, rc, "readFileSync", "{\"filePath\":\"wxfile://usr/missing.txt\"}");

    /* A successful call clears the message. */
    r = read_equal(h, "wxfile://usr/b.txt", (const uint8_t *)"b", 1);
    wxfs_bytes_free(r);

    /* writeFile into a missing directory, and outside the user area. */
    rc = wxfs_write_file(h, "wxfile://usr/nodir/x.txt", 24, (const uint8_t *)"x", 1);
    CHECK_CODE(rc, 1300002);
    check_same_as_bridge(h, rc, "writeFileSync", "{\"filePath\":\"wxfile://usr/nodir/x.txt\",\"data\":\"x\"}");
    rc = wxfs_write_file(h, "wxfile://store_forged.bin", 25, (const uint8_t *)"x", 1);
    CHECK(rc > 0, "writing into the saved area returned %ld, expected an errCode", (long)rc);
    check_same_as_bridge(h, rc, "writeFileSync", "{\"filePath\":\"wxfile://store_forged.bin\",\"data\":\"x\"}");
    rc = wxfs_write_file(h, "wxfile://usr/../../escape.txt", 29, (const uint8_t *)"x", 1);
    CHECK(rc > 0, "writing wxfile://usr/../../escape.txt returned %ld, expected an errCode", (long)rc);
    check_same_as_bridge(h, rc, "writeFileSync", "{\"filePath\":\"wxfile://usr/../../escape.txt\",\"data\":\"x\"}");

    /* real path of a missing file. */
    r = SENTINEL_BYTES;
    rc = wxfs_real_path(h, "wxfile://usr/missing.txt", 24, &r);
    CHECK_CODE(rc, 1300002);
    CHECK(is_sentinel(r), "a failed wxfs_real_path wrote its output");
    check_same_as_bridge(h, rc, "host.realPath", "{\"path\":\"wxfile://usr/missing.txt\"}");

    /* saveFile of something that is not a temp file. */
    r = SENTINEL_BYTES;
    rc = wxfs_save_file(h, "wxfile://usr/b.txt", 18, NULL, 0, &r);
    CHECK_CODE(rc, 1301112);
    CHECK(strcmp(last_error(), "tempFilePath file not exist") == 0, "last error \"%s\"", last_error());
    CHECK(is_sentinel(r), "a failed wxfs_save_file wrote its output");
    check_same_as_bridge(h, rc, "saveFileSync", "{\"tempFilePath\":\"wxfile://usr/b.txt\"}");
    r = read_equal(h, "wxfile://usr/b.txt", (const uint8_t *)"b", 1); /* untouched */
    wxfs_bytes_free(r);

    /* Invalid UTF-8 in a path. */
    r = SENTINEL_BYTES;
    CHECK_CODE(wxfs_read_file(h, "wxfile://usr/\xff", 14, &r), WXFS_E_UTF8);
    CHECK(is_sentinel(r), "wxfs_read_file(invalid UTF-8) wrote out_data");
    CHECK(last_error()[0] != 0, "no last error after an invalid UTF-8 path");
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/\xc0\xaf", 15, (const uint8_t *)"x", 1), WXFS_E_UTF8);
    CHECK_CODE(wxfs_storage_set(h, "k\xff", 2, "1", 1, NULL, 0), WXFS_E_UTF8);
    close_ok(h);
}

static void test_temp_and_save(void) {
    g_test = "temp_create / save_file / mapped read_file";
    uint64_t h = open_app("wx-typed");

    /* With an extension: wxfile://tmp_<name>.jpg; without: no extension. Names are unique. */
    char *t1 = temp_create(h, (const uint8_t *)"jpeg bytes", 10, "jpg");
    CHECK(starts_with(t1, "wxfile://tmp_"), "temp path \"%s\"", t1);
    CHECK(strlen(t1) > strlen("wxfile://tmp_.jpg") && strcmp(t1 + strlen(t1) - 4, ".jpg") == 0,
          "temp path \"%s\" does not keep the extension .jpg", t1);
    char *t2 = temp_create(h, (const uint8_t *)"raw", 3, NULL);
    CHECK(starts_with(t2, "wxfile://tmp_") && strlen(t2) > strlen("wxfile://tmp_"), "temp path \"%s\"", t2);
    CHECK(strchr(t2 + strlen("wxfile://tmp_"), '.') == NULL, "temp path \"%s\" has an extension; none was given", t2);
    char *t3 = temp_create(h, (const uint8_t *)"jpeg bytes", 10, "jpg");
    CHECK(strcmp(t1, t3) != 0, "two temp files got the same path %s", t1);
    char *t4 = temp_create(h, NULL, 0, "txt");
    wxfs_bytes r = read_equal(h, t1, (const uint8_t *)"jpeg bytes", 10);
    wxfs_bytes_free(r);
    r = read_equal(h, t2, (const uint8_t *)"raw", 3);
    wxfs_bytes_free(r);
    r = read_equal(h, t4, NULL, 0);
    wxfs_bytes_free(r);
    check_on_disk(h, t1, (const uint8_t *)"jpeg bytes", 10);
    /* Temp files are readable, not writable, by the mini-program. */
    char args[512];
    snprintf(args, sizeof args, "{\"filePath\":\"%s\",\"encoding\":\"utf8\"}", t2);
    EXPECT_EXACT(h, "readFileSync", args, 0, "{\"errMsg\":\"readFileSync:ok\",\"data\":\"raw\"}");
    int32_t rc = wxfs_write_file(h, t2, strlen(t2), (const uint8_t *)"x", 1);
    CHECK(rc > 0, "wxfs_write_file over a temp file returned %ld", (long)rc);

    /* saveFile without file_path: into the saved area, extension kept; the temp file is gone. */
    char *s1 = save_file(h, t1, NULL);
    CHECK(starts_with(s1, "wxfile://store_"), "saved path \"%s\"", s1);
    CHECK(strcmp(s1 + strlen(s1) - 4, ".jpg") == 0, "saved path \"%s\" does not keep .jpg", s1);
    r = read_equal(h, s1, (const uint8_t *)"jpeg bytes", 10);
    wxfs_bytes_free(r);
    check_on_disk(h, s1, (const uint8_t *)"jpeg bytes", 10);
    r = SENTINEL_BYTES;
    CHECK_CODE(wxfs_read_file(h, t1, strlen(t1), &r), 1300002);
    CHECK(is_sentinel(r), "failed read wrote out_data");
    /* The bridge lists it. */
    wxfs_bytes list;
    CHECK_CODE(call(h, "getSavedFileList", "{}", &list), 0);
    CHECK(strstr((const char *)list.data, s1) != NULL, "getSavedFileList does not list %s: %s", s1,
          (const char *)list.data);
    wxfs_bytes_free(list);
    /* Saving the same temp file again fails: it was moved. */
    r = SENTINEL_BYTES;
    rc = wxfs_save_file(h, t1, strlen(t1), NULL, 0, &r);
    CHECK(rc > 0, "saving a moved temp file again returned %ld", (long)rc);
    CHECK(is_sentinel(r), "a failed wxfs_save_file wrote its output");
    snprintf(args, sizeof args, "{\"tempFilePath\":\"%s\"}", t1);
    check_same_as_bridge(h, rc, "saveFileSync", args);

    /* saveFile with file_path: to exactly that user path. */
    char *s2 = save_file(h, t2, "wxfile://usr/saved.txt");
    CHECK(strcmp(s2, "wxfile://usr/saved.txt") == 0, "saved path \"%s\", expected wxfile://usr/saved.txt", s2);
    r = read_equal(h, "wxfile://usr/saved.txt", (const uint8_t *)"raw", 3);
    wxfs_bytes_free(r);
    r = SENTINEL_BYTES;
    CHECK_CODE(wxfs_read_file(h, t2, strlen(t2), &r), 1300002);

    /* A file of 64 KiB and more in the saved or temp area comes back mapped; below, copied. */
    g_test = "read_file of large saved and temp files (mapped)";
    size_t sizes[] = {64 * 1024 - 1, 64 * 1024, 300 * 1024 + 7};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int want_mapped = n >= 64 * 1024;
        uint8_t *data = pattern(n, (unsigned)i + 10);
        char *tmp = temp_create(h, data, n, "bin");
        r = read_equal(h, tmp, data, n);
        check_mapped_and_free(h, tmp, r, want_mapped);
        char *saved = save_file(h, tmp, NULL);
        r = read_equal(h, saved, data, n);
        /* Two reads of one file are independent results, each freed once. */
        wxfs_bytes again = read_equal(h, saved, data, n);
        check_mapped_and_free_(h, saved, r, want_mapped, 1);
        CHECK(memcmp(again.data, data, n) == 0, "second read of %s changed after the first was freed", saved);
        check_mapped_and_free(h, saved, again, want_mapped);
        check_on_disk(h, saved, data, n);
        free(saved);
        free(tmp);
        free(data);
    }

    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(s1);
    free(s2);
    close_ok(h);
}

static void test_storage(void) {
    g_test = "storage";
    uint64_t h = open_app("wx-typed-kv");
    uint64_t cur = 99, lim = 99, keys = 99;
    CHECK_CODE(wxfs_storage_info(h, &cur, &lim, &keys), 0);
    CHECK(cur == 0 && keys == 0, "fresh storage: %llu bytes, %llu keys", (unsigned long long)cur,
          (unsigned long long)keys);
    CHECK(lim == 10 * 1024 * 1024, "default limit %llu, expected 10 MiB", (unsigned long long)lim);

    const char *obj = "{\"a\":[1,2,\"x\"],\"b\":null}";
    CHECK_CODE(wxfs_storage_set(h, "obj", 3, obj, strlen(obj), "Object", 6), 0);
    CHECK(last_error()[0] == 0, "last error after a successful set is \"%s\"", last_error());
    wxfs_bytes j = SENTINEL_BYTES, t = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "obj", 3, &j, &t), 0);
    char *js = take_text("storage_get json", j);
    char *ts = take_text("storage_get dataType", t);
    CHECK(strcmp(js, obj) == 0, "value %s, expected %s", js, obj);
    CHECK(strcmp(ts, "Object") == 0, "dataType \"%s\", expected Object", ts);
    free(js);
    free(ts);
    /* The bridge sees the same item. */
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"obj\"}", 0,
                 "{\"errMsg\":\"getStorageSync:ok\",\"data\":{\"a\":[1,2,\"x\"],\"b\":null},\"dataType\":\"Object\"}");

    /* No dataType: out_data_type becomes {NULL, 0}; out_data_type NULL is allowed. */
    CHECK_CODE(wxfs_storage_set(h, "n", 1, "42", 2, NULL, 0), 0);
    j = SENTINEL_BYTES;
    t = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "n", 1, &j, &t), 0);
    CHECK(t.data == NULL && t.len == 0, "dataType of an item without one: {%p, %zu}", (void *)t.data, t.len);
    js = take_text("storage_get json", j);
    CHECK(strcmp(js, "42") == 0, "value %s, expected 42", js);
    free(js);
    j = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "obj", 3, &j, NULL), 0);
    js = take_text("storage_get json", j);
    CHECK(strcmp(js, obj) == 0, "value %s", js);
    free(js);
    /* Items set through the bridge read back typed. */
    EXPECT_EXACT(h, "setStorageSync", "{\"key\":\"s\",\"data\":\"h\xc3\xa9\\\"\"}", 0, "{\"errMsg\":\"setStorageSync:ok\"}");
    j = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "s", 1, &j, NULL), 0);
    js = take_text("storage_get json", j);
    CHECK(strcmp(js, "\"h\xc3\xa9\\\"\"") == 0, "value %s, expected \"h\xc3\xa9\\\"\"", js);
    free(js);

    /* Sizes: UTF-8 bytes of key + JSON of data + dataType ("Object" counts too). */
    uint64_t want_bytes = 3 + strlen(obj) + strlen("Object") + 1 + 2 + 1 + strlen("\"h\xc3\xa9\\\"\"");
    CHECK_CODE(wxfs_storage_info(h, &cur, &lim, &keys), 0);
    CHECK(cur == want_bytes && keys == 3, "info: %llu bytes, %llu keys; expected %llu bytes, 3 keys",
          (unsigned long long)cur, (unsigned long long)keys, (unsigned long long)want_bytes);
    CHECK_CODE(wxfs_storage_info(h, NULL, NULL, NULL), 0);
    keys = 99;
    CHECK_CODE(wxfs_storage_info(h, NULL, NULL, &keys), 0);
    CHECK(keys == 3, "key count %llu", (unsigned long long)keys);

    /* Missing key. */
    j = SENTINEL_BYTES;
    t = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "nope", 4, &j, &t), 1400001);
    CHECK(strcmp(last_error(), "data not found") == 0, "last error \"%s\", expected \"data not found\"", last_error());
    CHECK(is_sentinel(j) && is_sentinel(t), "a failed get wrote its outputs");

    /* Invalid JSON: WXFS_E_JSON, the old value stays. */
    CHECK_CODE(wxfs_storage_set(h, "n", 1, "{oops", 5, NULL, 0), WXFS_E_JSON);
    CHECK(last_error()[0] != 0, "no last error after invalid JSON");
    CHECK_CODE(wxfs_storage_set(h, "n", 1, "1 2", 3, NULL, 0), WXFS_E_JSON);
    CHECK_CODE(wxfs_storage_set(h, "n", 1, "", 0, NULL, 0), WXFS_E_JSON);
    j = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "n", 1, &j, NULL), 0);
    js = take_text("storage_get json", j);
    CHECK(strcmp(js, "42") == 0, "value after a rejected set is %s, expected 42", js);
    free(js);

    /* Empty key. */
    CHECK_CODE(wxfs_storage_set(h, "", 0, "1", 1, NULL, 0), 1400004);
    CHECK(last_error()[0] != 0, "no last error after an empty key");

    /* Remove, remove again, clear. */
    CHECK_CODE(wxfs_storage_remove(h, "n", 1), 0);
    CHECK_CODE(wxfs_storage_get(h, "n", 1, &j, NULL), 1400001);
    CHECK_CODE(wxfs_storage_remove(h, "n", 1), 0);
    CHECK_CODE(wxfs_storage_info(h, &cur, NULL, &keys), 0);
    CHECK(keys == 2 && cur == want_bytes - 3, "after remove: %llu bytes, %llu keys", (unsigned long long)cur,
          (unsigned long long)keys);
    CHECK_CODE(wxfs_storage_clear(h), 0);
    CHECK_CODE(wxfs_storage_info(h, &cur, NULL, &keys), 0);
    CHECK(keys == 0 && cur == 0, "after clear: %llu bytes, %llu keys", (unsigned long long)cur, (unsigned long long)keys);
    CHECK_CODE(wxfs_storage_get(h, "obj", 3, &j, NULL), 1400001);
    EXPECT_EXACT(h, "getStorageSync", "{\"key\":\"obj\"}", 0, "{\"errMsg\":\"getStorageSync:ok\",\"data\":\"\"}");
    CHECK_CODE(wxfs_storage_clear(h), 0);

    /* Persisted across close and reopen. */
    CHECK_CODE(wxfs_storage_set(h, "kept", 4, "[true]", 6, "Array", 5), 0);
    close_ok(h);
    h = open_app("wx-typed-kv");
    j = SENTINEL_BYTES;
    t = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "kept", 4, &j, &t), 0);
    js = take_text("storage_get json", j);
    ts = take_text("storage_get dataType", t);
    CHECK(strcmp(js, "[true]") == 0 && strcmp(ts, "Array") == 0, "after reopen: %s / %s", js, ts);
    free(js);
    free(ts);
    close_ok(h);

    /* Item limit from the config: key + value over 100 bytes fails 1400002, the old value stays. */
    g_test = "storage item limit";
    h = open_with(g_root, "wx-typed-limit", "u1", ",\"limits\":{\"storageItem\":100}");
    char value[256];
    /* key "big" (3) + a JSON string of 97 bytes = exactly 100: allowed. */
    value[0] = '"';
    memset(value + 1, 'x', 95);
    value[96] = '"';
    value[97] = 0;
    CHECK_CODE(wxfs_storage_set(h, "big", 3, value, strlen(value), NULL, 0), 0);
    /* 101 bytes: refused. */
    value[96] = 'y';
    value[97] = '"';
    value[98] = 0;
    CHECK_CODE(wxfs_storage_set(h, "big", 3, value, strlen(value), NULL, 0), 1400002);
    CHECK(strcmp(last_error(), "exceed storage item max length") == 0, "last error \"%s\"", last_error());
    j = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "big", 3, &j, NULL), 0);
    js = take_text("storage_get json", j);
    CHECK(strlen(js) == 97 && js[95] == 'x', "value after a refused set: %s", js);
    free(js);
    CHECK_CODE(wxfs_storage_info(h, &cur, NULL, &keys), 0);
    CHECK(cur == 100 && keys == 1, "info after a refused set: %llu bytes, %llu keys", (unsigned long long)cur,
          (unsigned long long)keys);
    /* The bridge refuses the same item with the same reason. */
    EXPECT_EXACT(h, "setStorageSync",
                 "{\"key\":\"big\",\"data\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                 1400002, "{\"errMsg\":\"setStorageSync:fail exceed storage item max length\",\"errCode\":1400002}");
    close_ok(h);
}

/* Bad handles: 0, never issued, forged from a live one, closed. Outputs untouched. */
static void test_bad_handles(void) {
    g_test = "bad handles";
    uint64_t live = open_app("wx-typed");
    uint64_t closed = open_app("wx-typed-closed");
    close_ok(closed);
    uint64_t bad[] = {0, NEVER_ISSUED, live + (UINT64_C(1) << 32), live ^ (UINT64_C(0x03) << 56), closed, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = bad[i];
        char what[64];
        snprintf(what, sizeof what, "handle 0x%016llx", (unsigned long long)b);
        wxfs_bytes o = SENTINEL_BYTES, o2 = SENTINEL_BYTES;
        uint64_t u1 = 7, u2 = 7, u3 = 7;
        CHECK(wxfs_read_file(b, "wxfile://usr/a.bin", 18, &o) == WXFS_E_HANDLE && is_sentinel(o), "%s: read_file", what);
        CHECK(strcmp(last_error(), "invalid sandbox handle") == 0, "%s: last error \"%s\"", what, last_error());
        CHECK(wxfs_write_file(b, "wxfile://usr/a.bin", 18, (const uint8_t *)"x", 1) == WXFS_E_HANDLE, "%s: write_file", what);
        CHECK(wxfs_save_file(b, "wxfile://tmp_x", 14, NULL, 0, &o) == WXFS_E_HANDLE && is_sentinel(o), "%s: save_file", what);
        CHECK(wxfs_temp_create(b, (const uint8_t *)"x", 1, NULL, 0, &o) == WXFS_E_HANDLE && is_sentinel(o),
              "%s: temp_create", what);
        CHECK(wxfs_real_path(b, "wxfile://usr/a.bin", 18, &o) == WXFS_E_HANDLE && is_sentinel(o), "%s: real_path", what);
        CHECK(wxfs_storage_set(b, "k", 1, "1", 1, NULL, 0) == WXFS_E_HANDLE, "%s: storage_set", what);
        CHECK(wxfs_storage_get(b, "k", 1, &o, &o2) == WXFS_E_HANDLE && is_sentinel(o) && is_sentinel(o2),
              "%s: storage_get", what);
        CHECK(wxfs_storage_remove(b, "k", 1) == WXFS_E_HANDLE, "%s: storage_remove", what);
        CHECK(wxfs_storage_clear(b) == WXFS_E_HANDLE, "%s: storage_clear", what);
        CHECK(wxfs_storage_info(b, &u1, &u2, &u3) == WXFS_E_HANDLE && u1 == 7 && u2 == 7 && u3 == 7, "%s: storage_info",
              what);
        CHECK(strcmp(last_error(), "invalid sandbox handle") == 0, "%s: last error \"%s\"", what, last_error());
    }
    /* None of it touched the live sandbox. */
    wxfs_bytes r = read_equal(live, "wxfile://usr/a.bin", (const uint8_t *)"xy", 2);
    wxfs_bytes_free(r);
    close_ok(live);
}

/* NULL outputs and NULL inputs with a length: WXFS_E_NULL, nothing done. */
static void test_null_pointers(void) {
    g_test = "NULL pointers";
    uint64_t h = open_app("wx-typed");
    wxfs_bytes o = SENTINEL_BYTES;
    CHECK_CODE(wxfs_read_file(h, "wxfile://usr/a.bin", 18, NULL), WXFS_E_NULL);
    CHECK(strstr(last_error(), "out_data") != NULL, "last error \"%s\" does not name out_data", last_error());
    char *tp = temp_create(h, (const uint8_t *)"t", 1, NULL);
    CHECK_CODE(wxfs_save_file(h, tp, strlen(tp), NULL, 0, NULL), WXFS_E_NULL);
    wxfs_bytes r = read_equal(h, tp, (const uint8_t *)"t", 1); /* not moved */
    wxfs_bytes_free(r);
    CHECK_CODE(wxfs_save_file(h, tp, strlen(tp), "wxfile://usr/n.txt", 18, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_read_file(h, "wxfile://usr/n.txt", 18, &o), 1300002);
    free(tp);
    CHECK_CODE(wxfs_temp_create(h, (const uint8_t *)"t", 1, NULL, 0, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_real_path(h, "wxfile://usr/a.bin", 18, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_set(h, "k", 1, "1", 1, NULL, 0), 0);
    CHECK_CODE(wxfs_storage_get(h, "k", 1, NULL, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_get(h, "k", 1, NULL, &o), WXFS_E_NULL);
    CHECK(is_sentinel(o), "storage_get(out_json NULL) wrote out_data_type");
    CHECK(last_error()[0] != 0, "no last error after a NULL output");

    /* Inputs: NULL with a length. */
    CHECK_CODE(wxfs_read_file(h, NULL, 5, &o), WXFS_E_NULL);
    CHECK_CODE(wxfs_write_file(h, NULL, 5, (const uint8_t *)"x", 1), WXFS_E_NULL);
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/a.bin", 18, NULL, 1), WXFS_E_NULL);
    CHECK_CODE(wxfs_save_file(h, NULL, 3, NULL, 0, &o), WXFS_E_NULL);
    CHECK_CODE(wxfs_temp_create(h, NULL, 3, NULL, 0, &o), WXFS_E_NULL);
    CHECK_CODE(wxfs_real_path(h, NULL, 3, &o), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_set(h, NULL, 1, "1", 1, NULL, 0), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_set(h, "k", 1, NULL, 1, NULL, 0), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_get(h, NULL, 1, &o, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_storage_remove(h, NULL, 1), WXFS_E_NULL);
    CHECK_CODE(wxfs_gc(NULL, 4, 0, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_remove_sandbox(NULL, 4, "u1", 2, "wx", 2), WXFS_E_NULL);
    CHECK_CODE(wxfs_remove_sandbox(g_root, strlen(g_root), NULL, 2, "wx", 2), WXFS_E_NULL);
    CHECK_CODE(wxfs_remove_sandbox(g_root, strlen(g_root), "u1", 2, NULL, 2), WXFS_E_NULL);
    CHECK(is_sentinel(o), "a NULL-input call wrote its output");
    /* The failed writes left a.bin alone. */
    r = read_equal(h, "wxfile://usr/a.bin", (const uint8_t *)"xy", 2);
    wxfs_bytes_free(r);
    /* wxfs_bytes_free of {NULL, 0} is a no-op. */
    wxfs_bytes_free((wxfs_bytes){NULL, 0});
    close_ok(h);
}

/* wxfs_gc under its own root: closed sandboxes' temp files are trimmed to the limit, least
 * recently used first; open sandboxes are skipped. */
static void test_gc(void) {
    g_test = "gc";
    char root[4096];
    snprintf(root, sizeof root, "%s/gc-root", g_root);
    CHECK(mkdir(root, 0700) == 0, "mkdir %s", root);
    uint64_t freed = 12345;
    CHECK_CODE(wxfs_gc(root, strlen(root), 0, &freed), 0);
    CHECK(freed == 0, "gc of an empty root freed %llu", (unsigned long long)freed);

    uint64_t a = open_with(root, "wx-gc-a", "u1", "");
    uint8_t *data = pattern(3000, 3);
    char *ta = temp_create(a, data, 3000, "bin");
    close_ok(a);
    uint64_t b = open_with(root, "wx-gc-b", "u1", "");
    char *tb = temp_create(b, data, 1000, "bin"); /* b stays open */

    /* Under the default limit: nothing to do, and out_freed is written (0). */
    freed = 12345;
    CHECK_CODE(wxfs_gc(root, strlen(root), 0, &freed), 0);
    CHECK(freed == 0, "gc under the limit freed %llu", (unsigned long long)freed);
    CHECK_CODE(wxfs_gc(root, strlen(root), 0, NULL), 0);

    /* Limit 1 byte: the closed sandbox loses its temp file; the open one keeps it. */
    freed = 12345;
    CHECK_CODE(wxfs_gc(root, strlen(root), 1, &freed), 0);
    CHECK(freed == 3000, "gc to 1 byte freed %llu, expected the 3000 bytes of the closed sandbox",
          (unsigned long long)freed);
    wxfs_bytes r = read_equal(b, tb, data, 1000);
    wxfs_bytes_free(r);
    close_ok(b);
    a = open_with(root, "wx-gc-a", "u1", "");
    wxfs_bytes o = SENTINEL_BYTES;
    CHECK_CODE(wxfs_read_file(a, ta, strlen(ta), &o), 1300002);
    close_ok(a);
    free(ta);
    free(tb);
    free(data);
}

static void test_remove_sandbox(void) {
    g_test = "remove_sandbox";
    const char *app = "wx-typed-rm";
    size_t rl = strlen(g_root);
    uint64_t h = open_app(app);
    uint64_t other = open_with(g_root, app, "u2", "");
    CHECK_CODE(wxfs_storage_set(h, "k", 1, "\"v\"", 3, NULL, 0), 0);
    CHECK_CODE(wxfs_write_file(h, "wxfile://usr/f.txt", 18, (const uint8_t *)"data", 4), 0);
    CHECK_CODE(wxfs_storage_set(other, "k", 1, "\"other\"", 7, NULL, 0), 0);
    char *rp = real_path_of(h, "wxfile://usr/f.txt");
    close_ok(other);

    /* Open: busy, nothing deleted. */
    CHECK_CODE(wxfs_remove_sandbox(g_root, rl, "u1", 2, app, strlen(app)), WXFS_E_BUSY);
    CHECK(last_error()[0] != 0, "no last error after a busy remove");
    wxfs_bytes r = read_equal(h, "wxfile://usr/f.txt", (const uint8_t *)"data", 4);
    wxfs_bytes_free(r);
    /* A second handle keeps it busy after the first is closed. */
    uint64_t h2 = open_app(app);
    close_ok(h);
    CHECK_CODE(wxfs_remove_sandbox(g_root, rl, "u1", 2, app, strlen(app)), WXFS_E_BUSY);
    close_ok(h2);

    /* Closed: removed, on disk too; the other user's sandbox of the same app is untouched. */
    CHECK_CODE(wxfs_remove_sandbox(g_root, rl, "u1", 2, app, strlen(app)), 0);
    CHECK(last_error()[0] == 0, "last error after a successful remove is \"%s\"", last_error());
    FILE *f = fopen(rp, "rb");
    CHECK(f == NULL, "%s still exists after wxfs_remove_sandbox", rp);
    free(rp);
    /* Nothing there: still 0. */
    CHECK_CODE(wxfs_remove_sandbox(g_root, rl, "u1", 2, app, strlen(app)), 0);
    CHECK_CODE(wxfs_remove_sandbox(g_root, rl, "nobody", 6, "wx-never", 8), 0);

    h = open_app(app);
    wxfs_bytes j = SENTINEL_BYTES;
    CHECK_CODE(wxfs_storage_get(h, "k", 1, &j, NULL), 1400001);
    CHECK_CODE(wxfs_read_file(h, "wxfile://usr/f.txt", 18, &j), 1300002);
    uint64_t keys = 9;
    CHECK_CODE(wxfs_storage_info(h, NULL, NULL, &keys), 0);
    CHECK(keys == 0, "%llu keys after remove_sandbox", (unsigned long long)keys);
    close_ok(h);
    other = open_with(g_root, app, "u2", "");
    CHECK_CODE(wxfs_storage_get(other, "k", 1, &j, NULL), 0);
    char *js = take_text("storage_get json", j);
    CHECK(strcmp(js, "\"other\"") == 0, "the other user's value is %s", js);
    free(js);
    close_ok(other);

    /* _v2 says whether there was a sandbox: true once, then false; a swapped (app, user) pair or
     * a mistyped root names none. Busy and NULL as the first version; outputs only on success. */
    g_test = "remove_sandbox_v2";
    const char *app2 = "wx-typed-rm2";
    h = open_app(app2);
    bool removed = true;
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, "u1", 2, app2, strlen(app2), &removed), WXFS_E_BUSY);
    CHECK(removed, "out_removed written on failure");
    close_ok(h);
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, "u1", 2, app2, strlen(app2), NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, app2, strlen(app2), "u1", 2, &removed), 0);
    CHECK(!removed, "a swapped (app, user) pair removed something");
    CHECK_CODE(wxfs_remove_sandbox_v2("/nonexistent-root", 17, "u1", 2, app2, strlen(app2), &removed), 0);
    CHECK(!removed, "a missing root removed something");
    removed = false;
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, "u1", 2, app2, strlen(app2), &removed), 0);
    CHECK(removed, "the existing sandbox was not reported removed");
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, "u1", 2, app2, strlen(app2), &removed), 0);
    CHECK(!removed, "a second remove reported a sandbox");

    /* wxfs_remove_sandbox_config: the sandbox a config names, another platform's included. */
    char cfg[4096];
    make_config(cfg, sizeof cfg, g_root, app2, "u1", ",\"platform\":\"douyin\"");
    h = open_with(g_root, app2, "u1", ",\"platform\":\"douyin\"");
    uint64_t wx = open_app(app2);
    close_ok(wx);
    CHECK_CODE(wxfs_remove_sandbox_config(cfg, strlen(cfg), &removed), WXFS_E_BUSY);
    close_ok(h);
    CHECK_CODE(wxfs_remove_sandbox_config(cfg, strlen(cfg), &removed), 0);
    CHECK(removed, "the douyin sandbox was not reported removed");
    CHECK_CODE(wxfs_remove_sandbox_config(cfg, strlen(cfg), NULL), 0);
    CHECK_CODE(wxfs_remove_sandbox_config(NULL, 4, &removed), WXFS_E_NULL);
    CHECK_CODE(wxfs_remove_sandbox_config("{}", 2, &removed), WXFS_E_CONFIG);
    /* WeChat's sandbox of the same ids is still there. */
    CHECK_CODE(wxfs_remove_sandbox_v2(g_root, rl, "u1", 2, app2, strlen(app2), &removed), 0);
    CHECK(removed, "the wechat sandbox went with the douyin one");
}

/* wxfs_buffer_url_resolve: the bytes of a URL createBufferURL made; 1300002 (as the bridge's
 * host.resolveBufferURL says) once it is revoked. */
static void test_buffer_url(void) {
    g_test = "wxfs_buffer_url_resolve";
    uint64_t h = open_app("wx-buffer-url");
    wxfs_bytes r;
    int32_t rc = call(h, "createBufferURL", "{\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"AAEC/w==\"}]}", &r);
    CHECK(rc == 0, "createBufferURL returned %ld: %s", (long)rc, (const char *)r.data);
    const char *at = strstr((const char *)r.data, "\"url\":\"wxblob://");
    CHECK(at != NULL, "no url in %s", (const char *)r.data);
    char url[64] = {0};
    memcpy(url, at + 7, 9 + 32);
    wxfs_bytes_free(r);
    wxfs_bytes out = SENTINEL_BYTES;
    CHECK_CODE(wxfs_buffer_url_resolve(h, url, strlen(url), &out), 0);
    CHECK(out.len == 4 && memcmp(out.data, "\x00\x01\x02\xff", 4) == 0, "resolved %zu bytes", out.len);
    wxfs_bytes_free(out);
    char args[128];
    snprintf(args, sizeof args, "{\"url\":\"%s\"}", url);
    rc = call(h, "revokeBufferURL", args, &r);
    CHECK(rc == 0, "revokeBufferURL returned %ld", (long)rc);
    wxfs_bytes_free(r);
    out = SENTINEL_BYTES;
    rc = wxfs_buffer_url_resolve(h, url, strlen(url), &out);
    CHECK_CODE(rc, 1300002);
    CHECK(is_sentinel(out), "a failed wxfs_buffer_url_resolve wrote its output");
    check_same_as_bridge(h, rc, "host.resolveBufferURL", args);
    CHECK_CODE(wxfs_buffer_url_resolve(h, url, strlen(url), NULL), WXFS_E_NULL);
    close_ok(h);
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == 0) {
        fprintf(stderr, "usage: %s <empty root dir>\n", argv[0]);
        return 2;
    }
    g_root = argv[1];
    test_write_read();
    test_errcodes();
    test_temp_and_save();
    test_storage();
    test_bad_handles();
    test_null_pointers();
    test_gc();
    test_remove_sandbox();
    test_buffer_url();
    printf("typed_test: %lu checks passed\n", g_checks);
    return 0;
}
