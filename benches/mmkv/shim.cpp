// A C shim over Tencent MMKV's C++ core (MMKV/Core from the npm package react-native-mmkv-storage,
// BSD-3), so that benches/mmkv.rs can drive MMKV and libwxfs in one process. benches/run.sh fetches
// and builds the core at bench time; only this file is ours.
#include "MMKV.h"
#include <string>
#include <string_view>

extern "C" {

void mk_init(const char *root) { MMKV::initializeMMKV(root, MMKVLogNone); }

const char *mk_version() { return MMKV_VERSION; }

void *mk_open(const char *id, const char *root) {
    std::string r(root);
    return MMKV::mmkvWithID(id, MMKV_SINGLE_PROCESS, nullptr, &r);
}

int mk_set(void *kv, const char *k, size_t kl, const char *v, size_t vl) {
    return static_cast<MMKV *>(kv)->set(std::string_view(v, vl), std::string_view(k, kl)) ? 0 : 1;
}

// The value's length, after copying it out as a caller does (into its own string); -1 if missing.
long mk_get(void *kv, const char *k, size_t kl) {
    std::string s;
    if (!static_cast<MMKV *>(kv)->getString(std::string_view(k, kl), s)) return -1;
    return static_cast<long>(s.size());
}

// A string the caller keeps and hands to every get, as a host's binding reuses its buffer.
void *mk_string_new() { return new std::string(); }

void mk_string_free(void *s) { delete static_cast<std::string *>(s); }

// MMKV's own getString(key, std::string&) into the caller's reused string (MMKV reuses its
// capacity: inplaceModification, the default); the value's length, or -1 if missing.
long mk_get_into(void *kv, const char *k, size_t kl, void *s) {
    std::string &out = *static_cast<std::string *>(s);
    if (!static_cast<MMKV *>(kv)->getString(std::string_view(k, kl), out)) return -1;
    return static_cast<long>(out.size());
}

void mk_sync(void *kv) { static_cast<MMKV *>(kv)->sync(MMKV_SYNC); }

void mk_close(void *kv) { static_cast<MMKV *>(kv)->close(); }

size_t mk_file_size(void *kv) { return static_cast<MMKV *>(kv)->totalSize(); }

} // extern "C"
