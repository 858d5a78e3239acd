/*
 * A minimal C host of an installed libwxfs: opens a sandbox under ROOT, writes a user file and
 * reads it back through wxfs_invoke, and prints the result. Built by tests/install.rs with
 * pkg-config (shared and --static) and with CMake (wxfs::wxfs and wxfs::wxfs_static).
 *
 * usage: host ROOT      exit status 0 when every step did what it should
 */
#include <stdio.h>
#include <string.h>

#include <wxfs.h>

static int fail(const char *what, int32_t rc) {
    char msg[512];
    size_t len = 0;
    if (wxfs_last_error_message(msg, sizeof msg, &len) != WXFS_OK) {
        strcpy(msg, "(message too long)");
    }
    fprintf(stderr, "host: %s failed with %d: %s\n", what, (int)rc, msg);
    return 1;
}

/* Run one api; on success print and keep its result in `out` (free it with wxfs_bytes_free). */
static int32_t call(uint64_t sb, const char *api, const char *args, wxfs_bytes *out) {
    return wxfs_invoke(sb, api, strlen(api), args, strlen(args), out);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ROOT\n", argv[0]);
        return 2;
    }
    /* The header this host was compiled with must match the library it runs with. */
    if (wxfs_abi_version() != WXFS_ABI_VERSION) {
        fprintf(stderr, "host: library ABI %u, header ABI %d\n", (unsigned)wxfs_abi_version(), WXFS_ABI_VERSION);
        return 1;
    }
    if (wxfs_version_number() != WXFS_VERSION_NUMBER || strcmp(wxfs_version(), WXFS_VERSION_STRING) != 0) {
        fprintf(stderr, "host: library %s, header %s\n", wxfs_version(), WXFS_VERSION_STRING);
        return 1;
    }

    /* The root goes into JSON: escape the two characters a path could carry that JSON forbids. */
    char config[4096];
    size_t n = (size_t)snprintf(config, sizeof config, "{\"root\":\"");
    for (const char *p = argv[1]; *p != '\0' && n + 8 < sizeof config; p++) {
        if (*p == '"' || *p == '\\') config[n++] = '\\';
        config[n++] = *p;
    }
    int tail = snprintf(config + n, sizeof config - n, "\",\"appId\":\"wxhost\",\"userId\":\"u1\"}");
    if (tail < 0 || (size_t)tail >= sizeof config - n) {
        fprintf(stderr, "host: root too long\n");
        return 2;
    }

    uint64_t sb = 0;
    int32_t rc = wxfs_open(config, strlen(config), &sb);
    if (rc != WXFS_OK) return fail("wxfs_open", rc);

    wxfs_bytes res = {NULL, 0};
    rc = call(sb, "writeFileSync", "{\"filePath\":\"wxfile://usr/hello.txt\",\"data\":\"hello from a C host\"}", &res);
    if (rc != WXFS_OK) {
        fprintf(stderr, "host: writeFileSync returned %d: %s\n", (int)rc, res.data ? (const char *)res.data : "");
        wxfs_bytes_free(res);
        return 1;
    }
    wxfs_bytes_free(res);

    res = (wxfs_bytes){NULL, 0};
    rc = call(sb, "readFileSync", "{\"filePath\":\"wxfile://usr/hello.txt\",\"encoding\":\"utf8\"}", &res);
    if (rc != WXFS_OK || res.data == NULL) {
        fprintf(stderr, "host: readFileSync returned %d: %s\n", (int)rc, res.data ? (const char *)res.data : "");
        wxfs_bytes_free(res);
        return 1;
    }
    printf("wxfs %s (ABI %u): %s\n", wxfs_version(), (unsigned)wxfs_abi_version(), (const char *)res.data);
    wxfs_bytes_free(res);

    rc = wxfs_close(sb);
    if (rc != WXFS_OK) return fail("wxfs_close", rc);
    return 0;
}
