/* The C module of the Swift binding: the repository's generated header, not a copy of it.
 * Path: bindings/swift/Sources/CWxfs/ -> repo root is four levels up. */
#ifndef CWXFS_SHIM_H
#define CWXFS_SHIM_H
#include "../../../../include/wxfs.h"
#endif
