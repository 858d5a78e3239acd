// swift-tools-version:5.5
// The Swift package of libwxfs, at the repository root so that SwiftPM can add it by URL:
//   .package(url: "https://<host>/<owner>/wxfs.git", from: "<version>")  ->  product "Wxfs"
//
// The Swift code (bindings/swift/Sources/Wxfs) calls the C library through the module `CWxfs`,
// which comes from one of two places:
//  - `wxfsBinary` below, when set: the XCFramework of a release (iOS devices and simulators, macOS),
//    built and zipped by packaging/apple/build-xcframework.sh, which prints the two values to
//    paste here for the release commit; or a local build, `.binaryTarget(name: "CWxfs", path:
//    "target/apple/Wxfs.xcframework")`.
//  - otherwise the system library: include/wxfs.h through bindings/swift/Sources/CWxfs, linked
//    with -lwxfs, for macOS and Linux developers who built the library with cargo:
//      cargo build --release
//      swift build -Xlinker -Ltarget/release
//      LD_LIBRARY_PATH=target/release swift test -Xlinker -Ltarget/release   (macOS: DYLD_LIBRARY_PATH)
//
// No Swift toolchain runs in this repository's CI: the Swift sources are parsed with tree-sitter
// and every C function they call is checked to exist in include/wxfs.h and to be exercised by the
// C harness (bindings/swift/check_syntax.py, run by `cargo test --test bindings`).
import PackageDescription

/// The release this manifest belongs to (tests/release.rs: equal to Cargo.toml's version); a
/// release commit sets `wxfsBinary` to that release's Wxfs-<version>.xcframework.zip.
let wxfsVersion = "0.2.0"

/// (url, checksum) of a release's Wxfs.xcframework.zip; nil in the source tree.
let wxfsBinary: (url: String, checksum: String)? = nil

let cModule: Target = wxfsBinary.map { .binaryTarget(name: "CWxfs", url: $0.url, checksum: $0.checksum) }
    ?? .systemLibrary(name: "CWxfs", path: "bindings/swift/Sources/CWxfs")

let package = Package(
    name: "Wxfs",
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "Wxfs", targets: ["Wxfs"]),
    ],
    targets: [
        cModule,
        // bindings/jsc, the JavaScriptCore glue (C over JavaScriptCore's C API), on Apple platforms;
        // bindings/swift/Sources/Wxfs/JSContext+Wxfs.swift hands it a JSContext.
        .target(name: "CWxfsJSC", dependencies: ["CWxfs"], path: "bindings/jsc", exclude: ["test", "README.md"],
                sources: ["wxfs_jsc.c"], publicHeadersPath: ".",
                cSettings: [.headerSearchPath("../../include")],
                linkerSettings: [.linkedFramework("JavaScriptCore")]),
        .target(name: "Wxfs", dependencies: ["CWxfs", .target(name: "CWxfsJSC", condition: .when(platforms: [.iOS, .macOS]))],
                path: "bindings/swift/Sources/Wxfs"),
        .testTarget(name: "WxfsTests", dependencies: ["Wxfs"], path: "bindings/swift/Tests/WxfsTests"),
    ]
)
