#!/usr/bin/env python3
"""Syntax check of the Swift binding where no Swift toolchain exists.

Parses every .swift file under bindings/swift, and the package manifest at the repository root,
with the tree-sitter Swift grammar and reports the file:line of every ERROR or MISSING node; then
checks that every C function the Swift code calls (`wxfs_[a-z0-9_]+(`) is declared in
include/wxfs.h (a struct initializer such as `wxfs_bytes()` counts when the header declares that
struct) and is called by a program of the C harness (tests/c/*.c), which runs it under -Werror,
AddressSanitizer and valgrind; and that shim.h really reaches the header.

Needs: pip install tree-sitter tree-sitter-swift
Exit status 0 when everything passed, 1 on any failure, 2 when the parser is not installed.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
HEADER = os.path.join(REPO, "include", "wxfs.h")
# bindings/jsc's header: JSContext+Wxfs.swift calls the glue, which tests/jsc_host.rs runs through
# its suite host (plain, ASan, valgrind) and the example host.
JSC_HEADER = os.path.join(REPO, "bindings", "jsc", "wxfs_jsc.h")
JSC_HARNESSES = (os.path.join(REPO, "bindings", "jsc", "test"), os.path.join(REPO, "examples", "jsc-host"))
SHIM = os.path.join(HERE, "Sources", "CWxfs", "shim.h")
MANIFEST = os.path.join(REPO, "Package.swift")
HARNESS = os.path.join(REPO, "tests", "c")

try:
    import tree_sitter_swift as tss
    from tree_sitter import Language, Parser
except ImportError as e:  # the Rust test turns this into "skipped" (or a failure under CI)
    print(f"check_syntax.py: tree-sitter Swift grammar not installed ({e}); "
          "pip install tree-sitter tree-sitter-swift", file=sys.stderr)
    sys.exit(2)


def swift_files():
    out = []
    for d, dirs, files in os.walk(HERE):
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and x != ".build")
        out.extend(os.path.join(d, f) for f in sorted(files) if f.endswith(".swift"))
    return [MANIFEST] + out


def syntax_problems(parser, path):
    with open(path, "rb") as f:
        src = f.read()
    tree = parser.parse(src)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            problems.append((node.start_point[0] + 1, node.start_point[1] + 1, f"MISSING {node.type}"))
        elif node.is_error:
            text = src[node.start_byte:node.end_byte].decode("utf-8", "replace").splitlines()
            snippet = text[0].strip()[:60] if text else ""
            problems.append((node.start_point[0] + 1, node.start_point[1] + 1, f"ERROR near `{snippet}`"))
        if node.has_error:
            stack.extend(node.children)
    return sorted(problems)


def header_names():
    text = ""
    for header in (HEADER, JSC_HEADER):
        with open(header, encoding="utf-8") as f:
            text += f.read() + "\n"
    # Drop comments, then collect declared functions and struct types.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    functions = set(re.findall(r"\b(wxfs_[a-z0-9_]+)\s*\(", text))
    structs = set(re.findall(r"\bstruct\s+(wxfs_[a-z0-9_]+)\s*\{", text))
    return functions, structs


def main():
    parser = Parser(Language(tss.language()))
    passed = failed = 0

    files = swift_files()
    if not files:
        print("FAIL no .swift files under " + HERE)
        failed += 1
    for path in files:
        rel = os.path.relpath(path, REPO)
        problems = syntax_problems(parser, path)
        if problems:
            failed += 1
            for line, col, what in problems:
                print(f"{rel}:{line}:{col}: {what}")
            print(f"FAIL {rel}: {len(problems)} syntax problem(s)")
        else:
            passed += 1
            print(f"ok   {rel}")

    functions, structs = header_names()
    called = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                for name in re.findall(r"\b(wxfs_[a-z0-9_]+)\(", line):
                    called.setdefault(name, []).append(f"{os.path.relpath(path, REPO)}:{n}")
    unknown = {k: v for k, v in called.items() if k not in functions and k not in structs}
    if not functions:
        failed += 1
        print(f"FAIL no wxfs_* functions found in {os.path.relpath(HEADER, REPO)}")
    elif unknown:
        failed += 1
        for name, where in sorted(unknown.items()):
            print(f"{where[0]}: {name} is not declared in include/wxfs.h")
        print(f"FAIL Swift calls {len(unknown)} function(s) the header does not declare")
    else:
        passed += 1
        unused = sorted(functions - set(called))
        note = f" (not wrapped: {', '.join(unused)})" if unused else ""
        print(f"ok   {len(set(called))} C names the Swift code uses are declared in include/wxfs.h{note}")

    # The C harness calls every function the Swift code calls: Swift cannot be compiled here, so
    # the harness is what runs each of those C calls (under -Werror, ASan and valgrind).
    harness_calls = set()
    for d in (HARNESS,) + JSC_HARNESSES:
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    harness_calls |= set(re.findall(r"\b(wxfs_[a-z0-9_]+)\s*\(", f.read()))
    uncovered = sorted(n for n in called if n in functions and n not in harness_calls)
    if uncovered:
        failed += 1
        for name in uncovered:
            print(f"{called[name][0]}: {name} is called by the Swift code but by no program of tests/c")
        print(f"FAIL {len(uncovered)} C function(s) the Swift code calls are not covered by the C harness")
    else:
        passed += 1
        print(f"ok   the C harness calls all {len(set(called) & functions)} C functions the Swift code calls")

    # shim.h must reach the real header through its relative #include.
    with open(SHIM, encoding="utf-8") as f:
        includes = re.findall(r'#\s*include\s+"([^"]+)"', f.read())
    targets = [os.path.normpath(os.path.join(os.path.dirname(SHIM), i)) for i in includes]
    if os.path.normpath(HEADER) in targets:
        passed += 1
        print(f"ok   shim.h includes {os.path.relpath(HEADER, REPO)}")
    else:
        failed += 1
        print(f"FAIL shim.h includes {includes}, none of which is {HEADER}")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
