// The Kotlin binding's scenario, for `swift test` on a machine with a Swift toolchain, from the
// repository root (Package.swift):
//   cargo build && LD_LIBRARY_PATH=target/debug swift test -Xlinker -Ltarget/debug

import Foundation
import XCTest
@testable import Wxfs

/// A value shared with a handler that runs on library threads.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var inner: T

    init(_ value: T) {
        inner = value
    }

    var value: T {
        lock.lock()
        defer { lock.unlock() }
        return inner
    }

    func mutate(_ body: (inout T) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&inner)
    }
}

final class SandboxTests: XCTestCase {
    private var root: URL!
    private let appId = "wx0123456789abcdef"
    private let userId = "user-1"

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("wxfs-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    private func openSandbox() throws -> Sandbox {
        return try Sandbox(root: root.path, userId: userId, appId: appId)
    }

    func testImageCacheSurvivesReopen() throws {
        let image = Data((0..<(1536 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 11)) })
        let saved: String
        do {
            let sandbox = try Sandbox(root: root.path, userId: userId, appId: appId, durability: .power)
            let temp = try sandbox.createTemp(image, ext: "png")
            XCTAssertTrue(temp.hasSuffix(".png"))
            saved = try sandbox.saveFile(temp)
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [saved], options: []), as: UTF8.self)
            try sandbox.storageSet("image_cache", json: String(quoted.dropFirst().dropLast()))
            sandbox.close()
            sandbox.close()
            XCTAssertTrue(sandbox.isClosed)
        }
        let sandbox = try openSandbox()
        let got = try XCTUnwrap(try sandbox.storageGet("image_cache"))
        XCTAssertNil(got.dataType)
        let array = try JSONSerialization.jsonObject(with: Data("[\(got.json)]".utf8), options: []) as? [String]
        XCTAssertEqual(array?.first, saved)
        XCTAssertEqual(try sandbox.readFile(saved), image)
        let real = try sandbox.realPath(saved)
        XCTAssertTrue(FileManager.default.fileExists(atPath: real))
    }

    func testPlatformAlipaySpeaksHttpsPaths() throws {
        let sandbox = try Sandbox(root: root.path, userId: userId, appId: appId, platform: .alipay)
        let temp = try sandbox.createTemp(Data([1, 2, 3]), ext: "png")
        XCTAssertTrue(temp.hasPrefix("https://resource/apml"))
        sandbox.close()
        XCTAssertFalse(try Sandbox.removeSandbox(root: root.path, userId: userId, appId: appId))
        XCTAssertTrue(try Sandbox.removeSandbox(root: root.path, userId: userId, appId: appId, platform: .alipay))
    }

    func testStorage() throws {
        let sandbox = try openSandbox()
        try sandbox.storageSet("when", json: "\"2024-01-01T00:00:00.000Z\"", dataType: "Date")
        let got = try sandbox.storageGet("when")
        XCTAssertEqual(got?.json, "\"2024-01-01T00:00:00.000Z\"")
        XCTAssertEqual(got?.dataType, "Date")
        XCTAssertEqual(try sandbox.storageInfo().keyCount, 1)
        try sandbox.storageRemove("when")
        XCTAssertNil(try sandbox.storageGet("when"))
        XCTAssertThrowsError(try sandbox.storageSet("", json: "1")) { error in
            XCTAssertEqual((error as? WxfsError)?.code, 1_400_004)
        }
        try sandbox.storageClear()
        XCTAssertEqual(try sandbox.storageInfo().keyCount, 0)
    }

    func testErrors() throws {
        let sandbox = try openSandbox()
        XCTAssertThrowsError(try sandbox.invoke("readFile", "{\"filePath\":\"wxfile://usr/missing.txt\"}")) { error in
            let e = error as? WxfsError
            XCTAssertEqual(e?.code, 1_300_002)
            XCTAssertTrue(e?.message.hasPrefix("readFile:fail no such file or directory") ?? false)
        }
        XCTAssertThrowsError(try sandbox.readFile("wxfile://usr/missing.txt")) { error in
            XCTAssertEqual((error as? WxfsError)?.code, 1_300_002)
        }
        sandbox.close()
        XCTAssertThrowsError(try sandbox.readFile("wxfile://usr/a.txt")) { error in
            guard case .handle = error as? WxfsError else {
                return XCTFail("expected .handle, got \(error)")
            }
        }
    }

    func testUserFileRoundTrip() throws {
        let sandbox = try openSandbox()
        let data = Data("héllo 世界".utf8)
        try sandbox.writeFile("wxfile://usr/文件.txt", data)
        XCTAssertEqual(try sandbox.readFile("wxfile://usr/文件.txt"), data)
    }

    func testInvokeAsyncCallsBack() throws {
        let sandbox = try openSandbox()
        let done = expectation(description: "callback")
        try sandbox.invokeAsync("setStorage", "{\"key\":\"k\",\"data\":1}") { code, json in
            XCTAssertEqual(code, 0)
            XCTAssertTrue(json.contains("setStorage:ok"))
            done.fulfill()
        }
        wait(for: [done], timeout: 30)
    }

    @available(macOS 10.15, iOS 13.0, *)
    func testInvokeAwait() async throws {
        let sandbox = try openSandbox()
        let json = try await sandbox.invokeAsync("getStorageInfo", "{}")
        XCTAssertTrue(json.contains("getStorageInfo:ok"))
    }

    func testLifecycle() throws {
        let sandbox = try openSandbox()
        XCTAssertThrowsError(try Sandbox.removeSandbox(root: root.path, userId: userId, appId: appId)) { error in
            guard case .busy = error as? WxfsError else {
                return XCTFail("expected .busy, got \(error)")
            }
        }
        sandbox.close()
        try Sandbox.gc(root: root.path)
        XCTAssertFalse(try Sandbox.removeSandbox(root: root.path, userId: appId, appId: userId))
        XCTAssertTrue(try Sandbox.removeSandbox(root: root.path, userId: userId, appId: appId))
        XCTAssertFalse(try Sandbox.removeSandbox(root: root.path, userId: userId, appId: appId))
        XCTAssertFalse(Sandbox.version.isEmpty)
    }

    func testLogHandlerHearsRecovery() throws {
        try openSandbox().storageSet("logged", json: "1")
        // Garbage where the next record would start: after the log's last non-zero byte (a zero
        // tail follows the log), never inside its 8-byte header.
        let log = root.appendingPathComponent("\(userId)/\(appId)/kv/data.log")
        let bytes = try Data(contentsOf: log)
        let end = max((bytes.lastIndex(where: { $0 != 0 }) ?? 0) + 1, 8)
        let handle = try FileHandle(forWritingTo: log)
        handle.seek(toFileOffset: UInt64(end))
        handle.write(Data(repeating: 7, count: 6))
        handle.closeFile()
        let seen = Locked<[String]>([])
        try WxfsLog.setHandler(maxLevel: .warn) { level, sandbox, message in
            seen.mutate { $0.append("\(level) \(sandbox): \(message)") }
        }
        defer { try? WxfsLog.setHandler(nil) }
        _ = try openSandbox()
        XCTAssertEqual(seen.value, ["warn \(userId)/\(appId): \(userId)/\(appId)/kv: storage log: 6 bytes after the last whole record cut (1 records kept)"])
    }

    func testErrorCases() {
        XCTAssertEqual(WxfsError(code: 1_300_002, message: "m"), .api(code: 1_300_002, message: "m"))
        XCTAssertEqual(WxfsError(code: -7, message: "m"), .busy("m"))
        XCTAssertEqual(WxfsError(code: -12, message: "m").code, -12)
        XCTAssertEqual(WxfsError(code: -99, message: "m"), .other(code: -99, message: "m"))
    }
}
