/* A C host's first contact with libwxfs: open a sandbox, call three mini-program apis through
 * the JSON bridge, hear what the library repairs, close. Usage: host [ROOT] */
#include <stdio.h>
#include <string.h>

#include "wxfs.h"

/* Recovery at open (torn tails cut, journals rebuilt, ...) is reported here, on any thread. */
static void on_log(void *userdata, int32_t level, const char *sandbox, size_t sandbox_len,
                   const char *message, size_t message_len) {
    (void)userdata, (void)sandbox_len, (void)message_len;
    fprintf(stderr, "wxfs log %d: %s: %s\n", (int)level, sandbox, message);
}

/* Call one api; print its status and its JSON result, then release the result. */
static int32_t call(uint64_t sb, const char *api, const char *args) {
    wxfs_bytes result;
    int32_t rc = wxfs_invoke(sb, api, strlen(api), args, strlen(args), &result);
    printf("%s -> %d %s\n", api, (int)rc, (const char *)result.data);
    wxfs_bytes_free(result);
    return rc;
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "wxfs-root"; /* the host's private data directory */
    char config[1024];
    snprintf(config, sizeof config, "{\"root\":\"%s\",\"userId\":\"u1\",\"appId\":\"wx0123456789abcdef\"}", root);

    wxfs_log_set(on_log, NULL, WXFS_LOG_WARN);
    uint64_t sb;
    if (wxfs_open(config, strlen(config), &sb) != WXFS_OK) {
        char why[512];
        wxfs_last_error_message(why, sizeof why, NULL);
        fprintf(stderr, "wxfs_open: %s\n", why);
        return 1;
    }
    call(sb, "writeFileSync", "{\"filePath\":\"wxfile://usr/hello.txt\",\"data\":\"hello from C\"}");
    call(sb, "readFileSync", "{\"filePath\":\"wxfile://usr/hello.txt\",\"encoding\":\"utf8\"}");
    call(sb, "setStorageSync", "{\"key\":\"visits\",\"data\":1}");
    /* A failure is a result too: WeChat's errMsg and errCode, and the code as the return value. */
    int32_t rc = call(sb, "readFileSync", "{\"filePath\":\"wxfile://usr/missing.txt\"}");
    wxfs_close(sb);
    return rc == 1300002 ? 0 : 1;
}
