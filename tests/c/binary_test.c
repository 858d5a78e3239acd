/*
 * binary_test.c: ArrayBuffers beside the JSON (wxfs_invoke_v2, wxfs_invoke_async_v2,
 * wxfs_result_free), `read` given the length of the caller's buffer, and wxfs_api_list, through
 * wxfs.h only.
 *
 * Usage: binary_test <fresh-empty-root-dir>
 * Exits 0 when every check passes; otherwise prints the first failed check to stderr and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>

#include "harness.h"

/* A stored zip: a.bin = 00 01 02 ff, b.txt = "hi" (made with Python's zipfile). */
static const uint8_t ZIP[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84, 0x59, 0x81, 0x5d, 0x24, 0x38, 0xb2, 0x3f, 0x04, 0x00,
    0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x61, 0x2e, 0x62, 0x69, 0x6e, 0x00, 0x01, 0x02, 0xff, 0x50,
    0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84, 0x59, 0x81, 0x5d, 0xac, 0x2a, 0x93, 0xd8, 0x02, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x62, 0x2e, 0x74, 0x78, 0x74, 0x68, 0x69, 0x50, 0x4b, 0x01, 0x02,
    0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84, 0x59, 0x81, 0x5d, 0x24, 0x38, 0xb2, 0x3f, 0x04, 0x00, 0x00, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x61, 0x2e, 0x62, 0x69, 0x6e, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x84,
    0x59, 0x81, 0x5d, 0xac, 0x2a, 0x93, 0xd8, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x27, 0x00, 0x00, 0x00, 0x62, 0x2e, 0x74, 0x78, 0x74, 0x50, 0x4b,
    0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x66, 0x00, 0x00, 0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static int32_t call2(uint64_t h, const char *api, const char *args, const wxfs_slice *bufs, size_t n, wxfs_result *out) {
    memset(out, 0, sizeof *out);
    return wxfs_invoke_v2(h, api, strlen(api), args, strlen(args), bufs, n, out);
}

/* Call, check the code and the whole result JSON, free the result. */
static void expect2(int line, uint64_t h, const char *api, const char *args, const wxfs_slice *bufs, size_t n,
                    int32_t want_code, const char *want_json, size_t want_buffers) {
    wxfs_result r;
    int32_t code = call2(h, api, args, bufs, n, &r);
    check_envelope(__FILE__, line, api, r.json);
    CHECK(code == want_code, "line %d: %s returned %ld, expected %ld: %s", line, api, (long)code, (long)want_code,
          (const char *)r.json.data);
    CHECK(strcmp((const char *)r.json.data, want_json) == 0, "line %d: %s\n  got:      %s\n  expected: %s", line, api,
          (const char *)r.json.data, want_json);
    CHECK(r.buffers_len == want_buffers, "line %d: %zu buffers, expected %zu", line, r.buffers_len, want_buffers);
    wxfs_result_free(r);
}

/* Every byte value, NULs included: what base64-in-JSON used to carry. */
static uint8_t g_all[256 * 64];

static void test_write_then_read_bytes(uint64_t h) {
    g_test = "v2 writeFileSync / readFileSync carry raw bytes both ways";
    for (size_t i = 0; i < sizeof g_all; i++) g_all[i] = (uint8_t)(i * 7 + i / 256);
    wxfs_slice in = {g_all, sizeof g_all};
    expect2(__LINE__, h, "writeFileSync",
            "{\"filePath\":\"wxfile://usr/all.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}", &in, 1, 0,
            "{\"errMsg\":\"writeFileSync:ok\"}", 0);

    wxfs_result r;
    CHECK_CODE(call2(h, "readFileSync", "{\"filePath\":\"wxfile://usr/all.bin\"}", NULL, 0, &r), 0);
    CHECK(strcmp((const char *)r.json.data,
                 "{\"errMsg\":\"readFileSync:ok\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}") == 0,
          "result %s", (const char *)r.json.data);
    CHECK(r.buffers_len == 1, "%zu buffers", r.buffers_len);
    CHECK(r.buffers[0].len == sizeof g_all && memcmp(r.buffers[0].data, g_all, sizeof g_all) == 0,
          "read back %zu bytes, different from the %zu written", r.buffers[0].len, sizeof g_all);
    /* Take the buffer out: the result frees the rest, the buffer is freed on its own later. */
    wxfs_bytes kept = r.buffers[0];
    r.buffers[0].data = NULL;
    r.buffers[0].len = 0;
    wxfs_result_free(r);
    CHECK(kept.data[sizeof g_all - 1] == g_all[sizeof g_all - 1], "a taken buffer outlives its result");
    wxfs_bytes_free(kept);

    g_test = "v2: the old base64 entry still works, and both kinds mix";
    uint8_t two[2] = {0xAB, 0x00};
    wxfs_slice one = {two, 2};
    expect2(__LINE__, h, "appendFileSync",
            "{\"filePath\":\"wxfile://usr/all.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"AAE=\"}]}", NULL,
            0, 0, "{\"errMsg\":\"appendFileSync:ok\"}", 0);
    expect2(__LINE__, h, "writeFileSync",
            "{\"filePath\":\"wxfile://usr/two.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}", &one, 1, 0,
            "{\"errMsg\":\"writeFileSync:ok\"}", 0);
    expect2(__LINE__, h, "readFileSync", "{\"filePath\":\"wxfile://usr/two.bin\",\"encoding\":\"hex\"}", NULL, 0, 0,
            "{\"errMsg\":\"readFileSync:ok\",\"data\":\"ab00\"}", 0);

    g_test = "v2: an empty file reads as an empty buffer";
    expect2(__LINE__, h, "writeFileSync", "{\"filePath\":\"wxfile://usr/empty\",\"data\":\"\"}", NULL, 0, 0,
            "{\"errMsg\":\"writeFileSync:ok\"}", 0);
    CHECK_CODE(call2(h, "readFileSync", "{\"filePath\":\"wxfile://usr/empty\"}", NULL, 0, &r), 0);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 0, "empty read: %zu buffers", r.buffers_len);
    wxfs_result_free(r);
}

static void test_misuse(uint64_t h) {
    g_test = "v2 misuse: a bad index, a NULL list, a bad handle";
    uint8_t b[1] = {1};
    wxfs_slice in = {b, 1};
    expect2(__LINE__, h, "writeFileSync",
            "{\"filePath\":\"wxfile://usr/x\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":1}]}", &in, 1, WXFS_E_JSON,
            "{\"errMsg\":\"writeFileSync:fail __nativeBuffers__ entry \\\"data\\\": index 1 does not name an unused one of "
            "the 1 buffers passed\",\"errCode\":-4}",
            0);
    expect2(__LINE__, h, "writeFileSync",
            "{\"filePath\":\"wxfile://usr/x\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0},{\"key\":\"more\","
            "\"index\":0}]}",
            &in, 1, WXFS_E_JSON,
            "{\"errMsg\":\"writeFileSync:fail __nativeBuffers__ entry \\\"more\\\": index 0 does not name an unused one of "
            "the 1 buffers passed\",\"errCode\":-4}",
            0);
    expect2(__LINE__, h, "writeFileSync", "{\"filePath\":\"wxfile://usr/x\",\"__nativeBuffers__\":[{\"key\":\"data\"}]}",
            NULL, 0, WXFS_E_JSON,
            "{\"errMsg\":\"writeFileSync:fail __nativeBuffers__ entry \\\"data\\\" needs either \\\"base64\\\" or "
            "\\\"index\\\"\",\"errCode\":-4}",
            0);
    expect2(__LINE__, h, "writeFileSync", "{}", NULL, 3, WXFS_E_NULL,
            "{\"errMsg\":\"writeFileSync:fail buffers is NULL with a non-zero length\",\"errCode\":-1}", 0);
    wxfs_slice null_entry = {NULL, 4};
    expect2(__LINE__, h, "writeFileSync", "{}", &null_entry, 1, WXFS_E_NULL,
            "{\"errMsg\":\"writeFileSync:fail buffers is NULL with a non-zero length\",\"errCode\":-1}", 0);
    CHECK(strcmp(last_error(), "writeFileSync:fail buffers is NULL with a non-zero length") == 0, "last error: %s",
          last_error());
    expect2(__LINE__, h + 1, "readFileSync", "{}", NULL, 0, WXFS_E_HANDLE,
            "{\"errMsg\":\"readFileSync:fail invalid sandbox handle\",\"errCode\":-2}", 0);
    /* A NULL out_result still runs the call. */
    const char *mk = "{\"dirPath\":\"wxfile://usr/d\"}";
    CHECK_CODE(wxfs_invoke_v2(h, "mkdirSync", 9, mk, strlen(mk), NULL, 0, NULL), 0);
    expect2(__LINE__, h, "accessSync", "{\"path\":\"wxfile://usr/d\"}", NULL, 0, 0, "{\"errMsg\":\"accessSync:ok\"}", 0);
    wxfs_result zero;
    memset(&zero, 0, sizeof zero);
    wxfs_result_free(zero);
}

static void test_read_by_length(uint64_t h) {
    g_test = "readSync given arrayBufferLength returns just the bytes read";
    expect2(__LINE__, h, "writeFileSync", "{\"filePath\":\"wxfile://usr/r.txt\",\"data\":\"0123456789\"}", NULL, 0, 0,
            "{\"errMsg\":\"writeFileSync:ok\"}", 0);
    wxfs_result r;
    CHECK_CODE(call2(h, "openSync", "{\"filePath\":\"wxfile://usr/r.txt\",\"flag\":\"r\"}", NULL, 0, &r), 0);
    char fd[64] = {0};
    const char *p = strstr((const char *)r.json.data, "\"fd\":\"");
    CHECK(p != NULL, "no fd in %s", (const char *)r.json.data);
    p += 6;
    size_t k = 0;
    while (p[k] && p[k] != '"' && k < sizeof fd - 1) { fd[k] = p[k]; k++; }
    wxfs_result_free(r);

    char args[256];
    snprintf(args, sizeof args, "{\"fd\":\"%s\",\"arrayBufferLength\":10,\"offset\":2,\"length\":5,\"position\":3}", fd);
    CHECK_CODE(call2(h, "readSync", args, NULL, 0, &r), 0);
    CHECK(strcmp((const char *)r.json.data,
                 "{\"errMsg\":\"readSync:ok\",\"bytesRead\":5,\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}") == 0,
          "result %s", (const char *)r.json.data);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 5 && memcmp(r.buffers[0].data, "34567", 5) == 0, "bytes read");
    wxfs_result_free(r);

    g_test = "readSync by length: a short read at the end of the file";
    snprintf(args, sizeof args, "{\"fd\":\"%s\",\"arrayBufferLength\":100,\"length\":100,\"position\":8}", fd);
    CHECK_CODE(call2(h, "readSync", args, NULL, 0, &r), 0);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 2 && memcmp(r.buffers[0].data, "89", 2) == 0, "%s",
          (const char *)r.json.data);
    CHECK(strstr((const char *)r.json.data, "\"bytesRead\":2") != NULL, "%s", (const char *)r.json.data);
    wxfs_result_free(r);

    g_test = "readSync by length: the same range errors as with the buffer itself";
    snprintf(args, sizeof args, "{\"fd\":\"%s\",\"arrayBufferLength\":10,\"offset\":11,\"length\":0}", fd);
    expect2(__LINE__, h, "readSync", args, NULL, 0, 1301007,
            "{\"errMsg\":\"readSync:fail the value of \\\"offset\\\" is out of range\",\"errCode\":1301007}", 0);
    snprintf(args, sizeof args, "{\"fd\":\"%s\",\"arrayBufferLength\":10,\"offset\":5,\"length\":6}", fd);
    expect2(__LINE__, h, "readSync", args, NULL, 0, 1301006,
            "{\"errMsg\":\"readSync:fail the value of \\\"length\\\" is out of range\",\"errCode\":1301006}", 0);
    /* A bad fd is reported before a bad range, as with the buffer itself. */
    expect2(__LINE__, h, "readSync", "{\"fd\":\"999\",\"arrayBufferLength\":10,\"offset\":11,\"length\":0}", NULL, 0,
            1300009, "{\"errMsg\":\"readSync:fail bad file descriptor\",\"errCode\":1300009}", 0);
    expect2(__LINE__, h, "readSync", "{\"fd\":\"999\",\"offset\":0,\"length\":1}", NULL, 0, 1302005,
            "{\"errMsg\":\"readSync:fail array buffer does not exist\",\"errCode\":1302005}", 0);
    /* A declared length far beyond the file allocates nothing like it. */
    snprintf(args, sizeof args, "{\"fd\":\"%s\",\"arrayBufferLength\":1e15,\"length\":1e15,\"position\":0}", fd);
    CHECK_CODE(call2(h, "readSync", args, NULL, 0, &r), 0);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 10, "%s", (const char *)r.json.data);
    wxfs_result_free(r);

    g_test = "readSync with the caller's buffer itself, by index";
    uint8_t mine[6] = {'a', 'b', 'c', 'd', 'e', 'f'};
    wxfs_slice in = {mine, sizeof mine};
    snprintf(args, sizeof args,
             "{\"fd\":\"%s\",\"offset\":1,\"length\":3,\"position\":0,\"__nativeBuffers__\":[{\"key\":\"arrayBuffer\","
             "\"index\":0}]}",
             fd);
    CHECK_CODE(call2(h, "readSync", args, &in, 1, &r), 0);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 6 && memcmp(r.buffers[0].data, "a012ef", 6) == 0, "%s",
          (const char *)r.json.data);
    CHECK(memcmp(mine, "abcdef", 6) == 0, "the lent buffer is not written");
    wxfs_result_free(r);
    snprintf(args, sizeof args, "{\"fd\":\"%s\"}", fd);
    expect2(__LINE__, h, "closeSync", args, NULL, 0, 0, "{\"errMsg\":\"closeSync:ok\"}", 0);
}

static void test_zip_entries(uint64_t h) {
    g_test = "v2 readZipEntry: a nested buffer is named at the top with its path";
    wxfs_slice in = {ZIP, sizeof ZIP};
    expect2(__LINE__, h, "writeFileSync",
            "{\"filePath\":\"wxfile://usr/t.zip\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}", &in, 1, 0,
            "{\"errMsg\":\"writeFileSync:ok\"}", 0);
    wxfs_result r;
    CHECK_CODE(call2(h, "readZipEntry",
                     "{\"filePath\":\"wxfile://usr/t.zip\",\"entries\":[{\"path\":\"a.bin\"},{\"path\":\"b.txt\","
                     "\"encoding\":\"utf8\"}]}",
                     NULL, 0, &r),
               0);
    CHECK(strcmp((const char *)r.json.data,
                 "{\"errMsg\":\"readZipEntry:ok\",\"entries\":{\"a.bin\":{\"errMsg\":\"readZipEntry:ok\"},\"b.txt\":{"
                 "\"data\":\"hi\",\"errMsg\":\"readZipEntry:ok\"}},\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0,"
                 "\"at\":[\"entries\",\"a.bin\"]}]}") == 0,
          "result %s", (const char *)r.json.data);
    CHECK(r.buffers_len == 1 && r.buffers[0].len == 4 && memcmp(r.buffers[0].data, "\x00\x01\x02\xff", 4) == 0,
          "entry bytes");
    wxfs_result_free(r);
}

/* Async: one slot per call; the callback keeps the result (taking it out) for the main thread. */
struct slot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    int32_t code;
    wxfs_bytes json;
    wxfs_bytes buffer;
    size_t buffers_len;
};

static void on_v2(void *userdata, int32_t code, wxfs_result *result) {
    struct slot *s = userdata;
    pthread_mutex_lock(&s->mu);
    s->calls++;
    s->code = code;
    s->json = result->json;
    result->json.data = NULL;
    result->json.len = 0;
    s->buffers_len = result->buffers_len;
    if (result->buffers_len > 0) {
        s->buffer = result->buffers[0];
        result->buffers[0].data = NULL;
        result->buffers[0].len = 0;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void wait_slot(struct slot *s) {
    pthread_mutex_lock(&s->mu);
    while (s->calls == 0) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void init_slot(struct slot *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void free_slot(struct slot *s) {
    wxfs_bytes_free(s->json);
    wxfs_bytes_free(s->buffer);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static void test_async(uint64_t h) {
    g_test = "wxfs_invoke_async_v2: buffers copied at the call, results handed over";
    struct slot w, rd, bad;
    init_slot(&w);
    init_slot(&rd);
    init_slot(&bad);
    uint8_t *bytes = malloc(100000);
    CHECK(bytes != NULL, "malloc");
    for (size_t i = 0; i < 100000; i++) bytes[i] = (uint8_t)(i % 251);
    wxfs_slice in = {bytes, 100000};
    const char *wargs = "{\"filePath\":\"wxfile://usr/async.bin\",\"__nativeBuffers__\":[{\"key\":\"data\",\"index\":0}]}";
    CHECK_CODE(wxfs_invoke_async_v2(h, "writeFile", 9, wargs, strlen(wargs), &in, 1, on_v2, &w), 0);
    /* The caller's buffer is the caller's again as soon as the call returns. */
    memset(bytes, 0xEE, 100000);
    const char *rargs = "{\"filePath\":\"wxfile://usr/async.bin\"}";
    CHECK_CODE(wxfs_invoke_async_v2(h, "readFile", 8, rargs, strlen(rargs), NULL, 0, on_v2, &rd), 0);
    const char *bargs = "{\"filePath\":\"wxfile://usr/missing\"}";
    CHECK_CODE(wxfs_invoke_async_v2(h, "readFile", 8, bargs, strlen(bargs), NULL, 0, on_v2, &bad), 0);
    wait_slot(&w);
    wait_slot(&rd);
    wait_slot(&bad);
    CHECK(w.calls == 1 && w.code == 0 && strcmp((const char *)w.json.data, "{\"errMsg\":\"writeFile:ok\"}") == 0, "%s",
          (const char *)w.json.data);
    CHECK(rd.calls == 1 && rd.code == 0 && rd.buffers_len == 1 && rd.buffer.len == 100000, "read: %s",
          (const char *)rd.json.data);
    for (size_t i = 0; i < 100000; i++) CHECK(rd.buffer.data[i] == (uint8_t)(i % 251), "byte %zu", i);
    CHECK(bad.code == 1300002 &&
              strcmp((const char *)bad.json.data,
                     "{\"errMsg\":\"readFile:fail no such file or directory, open wxfile://usr/missing\",\"errCode\":"
                     "1300002}") == 0,
          "%s", (const char *)bad.json.data);
    free(bytes);
    free_slot(&w);
    free_slot(&rd);
    free_slot(&bad);

    g_test = "wxfs_invoke_async_v2 refuses without queuing";
    CHECK_CODE(wxfs_invoke_async_v2(h, "readFile", 8, rargs, strlen(rargs), NULL, 0, NULL, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_invoke_async_v2(h, "readFile", 8, rargs, strlen(rargs), NULL, 2, on_v2, NULL), WXFS_E_NULL);
    CHECK_CODE(wxfs_invoke_async_v2(h + 1, "readFile", 8, rargs, strlen(rargs), NULL, 0, on_v2, NULL), WXFS_E_HANDLE);
}

static void test_api_list(uint64_t h) {
    g_test = "wxfs_api_list";
    wxfs_bytes list = {NULL, 0};
    CHECK_CODE(wxfs_api_list(0, &list), 0);
    const char *s = (const char *)list.data;
    CHECK(s[list.len] == 0 && s[0] == '[' && s[list.len - 1] == ']', "%s", s);
    const char *want[] = {"\"access\"", "\"accessSync\"", "\"readFileSync\"", "\"readZipEntry\"", "\"batchGetStorageSync\"",
                          "\"host.createTempFile\""};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECK(strstr(s, want[i]) != NULL, "%s not in %s", want[i], s);
    CHECK(strstr(s, "\"readZipEntrySync\"") == NULL, "readZipEntry has no Sync twin: %s", s);
    wxfs_bytes per_sandbox = {NULL, 0};
    CHECK_CODE(wxfs_api_list(h, &per_sandbox), 0);
    CHECK(per_sandbox.len == list.len && memcmp(per_sandbox.data, list.data, list.len) == 0, "same list");
    wxfs_bytes_free(per_sandbox);
    wxfs_bytes_free(list);
    CHECK_CODE(wxfs_api_list(h + 1, &list), WXFS_E_HANDLE);
    CHECK_CODE(wxfs_api_list(0, NULL), WXFS_E_NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: binary_test <root>\n");
        return 2;
    }
    char cfg[4096];
    make_config(cfg, sizeof cfg, argv[1], "wxbinary", "u1", "");
    uint64_t h = 0;
    CHECK_CODE(open_cfg(cfg, &h), 0);
    test_write_then_read_bytes(h);
    test_misuse(h);
    test_read_by_length(h);
    test_zip_entries(h);
    test_async(h);
    test_api_list(h);
    CHECK_CODE(wxfs_close(h), 0);
    printf("binary_test: %lu checks passed\n", g_checks);
    return 0;
}
