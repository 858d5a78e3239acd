/*
 * harness.h: the few helpers the C test programs share (checks, JSON config building, result
 * inspection). Header-only, C11; each program includes it once. Only the public wxfs.h API is used.
 *
 * A failed check prints `file:line: [test] check failed: <expr>: <why>` to stderr and exits 1.
 */
#ifndef WXFS_TEST_HARNESS_H
#define WXFS_TEST_HARNESS_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wxfs.h"

/* The scenario being run, for failure messages. */
static const char *g_test = "(setup)";
static unsigned long g_checks = 0;

static inline void harness_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static inline void harness_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: [%s] check failed: %s: ", file, line, g_test, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

/* CHECK(cond, "format", args...): the format is mandatory (ISO C needs one variadic argument). */
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        g_checks++;                                                       \
        if (!(cond)) harness_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

#define CHECK_CODE(got, want)                                                                    \
    do {                                                                                         \
        int32_t got_ = (got), want_ = (want);                                                    \
        CHECK(got_ == want_, "returned %ld, expected %ld", (long)got_, (long)want_);             \
    } while (0)

static inline int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Strict UTF-8 validation (no overlongs, no surrogates, nothing above U+10FFFF). */
static inline int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= extra) return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += extra + 1;
    }
    return 1;
}

/* Append `s` to `out` as the body of a JSON string (no surrounding quotes). */
static inline void json_escape_into(char *out, size_t cap, const char *s) {
    size_t o = strlen(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        if (c == '"' || c == '\\') { tmp[0] = '\\'; tmp[1] = (char)c; tmp[2] = 0; }
        else if (c < 0x20) snprintf(tmp, sizeof tmp, "\\u%04x", c);
        else { tmp[0] = (char)c; tmp[1] = 0; }
        size_t t = strlen(tmp);
        if (o + t + 1 > cap) { fprintf(stderr, "json_escape_into: buffer too small\n"); exit(2); }
        memcpy(out + o, tmp, t + 1);
        o += t;
    }
}

/* {"root":"<root>","appId":"<app>","userId":"<user>"<extra>} ; `extra` is raw JSON text
 * (e.g. `,"protocol":"http"`) or "". */
static inline void make_config(char *out, size_t cap, const char *root, const char *app, const char *user,
                               const char *extra) {
    out[0] = 0;
    strcat(out, "{\"root\":\"");
    json_escape_into(out, cap, root);
    if (strlen(out) + strlen(app) + strlen(user) + strlen(extra) + 40 > cap) {
        fprintf(stderr, "make_config: buffer too small\n");
        exit(2);
    }
    strcat(out, "\",\"appId\":\"");
    strcat(out, app);
    strcat(out, "\",\"userId\":\"");
    strcat(out, user);
    strcat(out, "\"");
    strcat(out, extra);
    strcat(out, "}");
}

static inline int32_t open_cfg(const char *cfg, uint64_t *h) {
    return wxfs_open(cfg, strlen(cfg), h);
}

/* wxfs_invoke with NUL-terminated api and args; `out` is reset to {NULL, 0} first. */
static inline int32_t call(uint64_t h, const char *api, const char *args, wxfs_bytes *out) {
    if (out) { out->data = NULL; out->len = 0; }
    return wxfs_invoke(h, api, strlen(api), args, strlen(args), out);
}

/* What every result must be, whatever the code: a NUL-terminated, valid UTF-8 JSON object
 * whose first member is errMsg. */
static inline void check_envelope(const char *file, int line, const char *what, wxfs_bytes r) {
    g_checks++;
    if (r.data == NULL) harness_fail(file, line, what, "out_result.data is NULL");
    if (r.data[r.len] != 0) harness_fail(file, line, what, "result.data[result.len] is not NUL");
    if (strlen((const char *)r.data) != r.len)
        harness_fail(file, line, what, "result has an embedded NUL (strlen %zu, len %zu): %s",
                     strlen((const char *)r.data), r.len, (const char *)r.data);
    if (!valid_utf8(r.data, r.len)) harness_fail(file, line, what, "result is not valid UTF-8: %s", (const char *)r.data);
    if (!starts_with((const char *)r.data, "{\"errMsg\":\"") || r.data[r.len - 1] != '}')
        harness_fail(file, line, what, "result is not an object with errMsg first: %s", (const char *)r.data);
}

enum match { M_EXACT, M_PREFIX, M_CONTAINS };

/* Invoke and check code + result; the result is freed here. `mode`/`text` apply to the whole
 * result bytes for M_EXACT, and to the errMsg value for M_PREFIX / M_CONTAINS. */
static inline void expect_call(const char *file, int line, uint64_t h, const char *api, const char *args,
                               int32_t want_code, enum match mode, const char *text) {
    char what[512];
    wxfs_bytes r;
    int32_t code = call(h, api, args, &r);
    snprintf(what, sizeof what, "%s(%.300s)", api, args);
    check_envelope(file, line, what, r);
    const char *s = (const char *)r.data;
    const char *msg = s + strlen("{\"errMsg\":\"");
    g_checks++;
    if (code != want_code)
        harness_fail(file, line, what, "returned %ld, expected %ld; result: %s", (long)code, (long)want_code, s);
    g_checks++;
    switch (mode) {
    case M_EXACT:
        if (strcmp(s, text) != 0) harness_fail(file, line, what, "result\n  got:      %s\n  expected: %s", s, text);
        break;
    case M_PREFIX:
        if (!starts_with(msg, text)) harness_fail(file, line, what, "errMsg does not start with \"%s\": %s", text, s);
        break;
    case M_CONTAINS: {
        const char *end = strstr(msg, "\"");
        size_t n = end ? (size_t)(end - msg) : strlen(msg);
        const char *hit = strstr(msg, text);
        if (!hit || (size_t)(hit - msg) + strlen(text) > n)
            harness_fail(file, line, what, "errMsg does not contain \"%s\": %s", text, s);
        break;
    }
    }
    wxfs_bytes_free(r);
}

#define EXPECT_EXACT(h, api, args, code, text) expect_call(__FILE__, __LINE__, h, api, args, code, M_EXACT, text)
#define EXPECT_PREFIX(h, api, args, code, text) expect_call(__FILE__, __LINE__, h, api, args, code, M_PREFIX, text)
#define EXPECT_CONTAINS(h, api, args, code, text) expect_call(__FILE__, __LINE__, h, api, args, code, M_CONTAINS, text)

/* This thread's last error message (static buffer; "" when none). */
static inline const char *last_error(void) {
    static char buf[4096];
    size_t n = 0;
    int32_t rc = wxfs_last_error_message(buf, sizeof buf, &n);
    if (rc != 0) {
        fprintf(stderr, "wxfs_last_error_message failed: %ld (needed %zu)\n", (long)rc, n);
        exit(2);
    }
    return buf;
}

#endif /* WXFS_TEST_HARNESS_H */
