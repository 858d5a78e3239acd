// Writes an MMKV store with Tencent MMKV's own C++ core (MMKV/Core of the npm package
// react-native-mmkv-storage 12.0.1, BSD-3, built by tests/import_mmkv.rs the way benches/run.sh
// builds it; nothing of MMKV is committed), so that tests/import_mmkv.rs imports stores the real
// engine wrote. Only this file is ours.
//
// Usage: writer ROOT ID [CRYPT_KEY] < OPS
// OPS, one per line, fields separated by one space, text given as hex:
//   i KEYHEX INT32     set(int32_t)       l KEYHEX INT64   set(int64_t)
//   b KEYHEX 0|1       set(bool)          f KEYHEX HEX32   set(float), its bits
//   d KEYHEX HEX64     set(double), bits  s KEYHEX HEX     set(std::string) of those bytes
//   x KEYHEX           removeValueForKey
// Exits 0 after a sync and close, 1 on a line it cannot read or a set MMKV refuses.
#include "MMKV.h"
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

static bool unhex(const std::string &h, std::string &out) {
    if (h == "-") {
        out.clear();
        return true;
    }
    if (h.size() % 2) return false;
    out.clear();
    for (size_t i = 0; i < h.size(); i += 2) {
        unsigned v;
        if (sscanf(h.c_str() + i, "%2x", &v) != 1) return false;
        out.push_back(static_cast<char>(v));
    }
    return true;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: writer ROOT ID [CRYPT_KEY] < OPS\n");
        return 2;
    }
    std::string root(argv[1]);
    MMKV::initializeMMKV(root, MMKVLogNone);
    std::string key;
    std::string *crypt = nullptr;
    if (argc > 3) {
        key = argv[3];
        crypt = &key;
    }
    MMKV *kv = MMKV::mmkvWithID(argv[2], MMKV_SINGLE_PROCESS, crypt, &root);
    if (!kv) return 1;
    std::string line;
    size_t n = 0;
    while (std::getline(std::cin, line)) {
        n++;
        std::istringstream in(line);
        std::string op, khex, arg, k;
        in >> op >> khex >> arg;
        if (!unhex(khex, k)) {
            fprintf(stderr, "line %zu: bad key\n", n);
            return 1;
        }
        bool ok = true;
        if (op == "i") {
            ok = kv->set(static_cast<int32_t>(std::stol(arg)), k);
        } else if (op == "l") {
            ok = kv->set(static_cast<int64_t>(std::stoll(arg)), k);
        } else if (op == "b") {
            ok = kv->set(arg == "1", k);
        } else if (op == "f") {
            uint32_t bits = static_cast<uint32_t>(std::stoul(arg, nullptr, 16));
            float f;
            memcpy(&f, &bits, 4);
            ok = kv->set(f, k);
        } else if (op == "d") {
            uint64_t bits = std::stoull(arg, nullptr, 16);
            double d;
            memcpy(&d, &bits, 8);
            ok = kv->set(d, k);
        } else if (op == "s") {
            std::string v;
            if (!unhex(arg, v)) {
                fprintf(stderr, "line %zu: bad value\n", n);
                return 1;
            }
            ok = kv->set(v, k);
        } else if (op == "x") {
            kv->removeValueForKey(k);
        } else {
            fprintf(stderr, "line %zu: unknown op %s\n", n, op.c_str());
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "line %zu: MMKV refused the set\n", n);
            return 1;
        }
    }
    kv->sync(MMKV_SYNC);
    kv->close();
    return 0;
}
