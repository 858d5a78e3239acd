/*
 * header_only.c: wxfs.h must compile alone, warning-free, as C11 and as C++11
 * (-Wall -Wextra -Wpedantic -Werror). Linked and run, it also checks the library matches the header.
 */
#include "wxfs.h"

static void on_result(void *userdata, int32_t code, const uint8_t *result, size_t result_len) {
    (void)userdata; (void)code; (void)result; (void)result_len;
}

int main(void) {
    wxfs_callback cb = on_result;
    struct wxfs_bytes none = {NULL, 0};
    wxfs_bytes_free(none);
    (void)cb;
    return wxfs_abi_version() == WXFS_ABI_VERSION && wxfs_version_number() == WXFS_VERSION_NUMBER &&
                   wxfs_close(0) == WXFS_OK
               ? 0
               : 1;
}
