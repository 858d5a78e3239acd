// swift-tools-version:5.5
// Swift binding of libwxfs. Build the library first (`cargo build` at the repo root), then:
//   swift build -Xlinker -L../../target/debug
//   LD_LIBRARY_PATH=../../target/debug swift test -Xlinker -L../../target/debug
// (macOS: DYLD_LIBRARY_PATH). For iOS, link the XCFramework described in the README instead.
import PackageDescription

let package = Package(
    name: "Wxfs",
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "Wxfs", targets: ["Wxfs"]),
    ],
    targets: [
        // module.modulemap + shim.h including ../../../../include/wxfs.h; links -lwxfs.
        .systemLibrary(name: "CWxfs", path: "Sources/CWxfs"),
        .target(name: "Wxfs", dependencies: ["CWxfs"], path: "Sources/Wxfs"),
        .testTarget(name: "WxfsTests", dependencies: ["Wxfs"], path: "Tests/WxfsTests"),
    ]
)
