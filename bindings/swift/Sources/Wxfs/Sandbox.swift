// Swift binding of libwxfs: a class owning one sandbox handle, closed in `deinit`,
// whose non-zero return codes become thrown `WxfsError`s carrying the errMsg.
//
// Every `wxfs_bytes` the library returns is released with `wxfs_bytes_free` (in a `defer` set up
// before the call: outputs are written only on success, and freeing `{NULL, 0}` is a no-op).
// Strings cross as UTF-8 with explicit lengths, so they may contain any character.

import CWxfs
import Foundation

/// A failed call. `api` is an API failure: WeChat's errCode (1300002 "no such file or
/// directory", ...) or one of the library's storage codes (1400001 data not found, ...), with the
/// errMsg. Every other case is a negative `WXFS_E_*`: the call could not run; its `message` is the
/// result's errMsg (bridge) or the library's last error message (typed calls).
public enum WxfsError: Error, Equatable, CustomStringConvertible, Sendable {
    case api(code: Int32, message: String)
    /// WXFS_E_NULL: a required pointer was NULL.
    case null(String)
    /// WXFS_E_HANDLE: the sandbox is closed (or the handle is stale).
    case handle(String)
    /// WXFS_E_UTF8: a string was not valid UTF-8.
    case utf8(String)
    /// WXFS_E_JSON: the arguments are not a JSON object.
    case json(String)
    /// WXFS_E_UNKNOWN_API: no such api.
    case unknownApi(String)
    /// WXFS_E_CONFIG: the configuration (or a log level) is invalid; the message names the field.
    case config(String)
    /// WXFS_E_BUSY: another process holds the sandbox; the message names its lock file.
    case busy(String)
    /// WXFS_E_IO: the operating system refused to open the sandbox.
    case io(String)
    /// WXFS_E_PANIC: an internal error was caught at the boundary; the process is unharmed.
    case panic(String)
    /// WXFS_E_BUFFER_TOO_SMALL.
    case bufferTooSmall(String)
    /// WXFS_E_QUEUE_FULL: too many async calls are waiting; nothing was queued.
    case queueFull(String)
    /// WXFS_E_REENTRANT: called from inside a library callback where it would wait on itself.
    case reentrant(String)
    /// A negative code this binding does not know (a newer library).
    case other(code: Int32, message: String)

    /// The error for a non-zero return code.
    public init(code: Int32, message: String) {
        switch code {
        case -1: self = .null(message)
        case -2: self = .handle(message)
        case -3: self = .utf8(message)
        case -4: self = .json(message)
        case -5: self = .unknownApi(message)
        case -6: self = .config(message)
        case -7: self = .busy(message)
        case -8: self = .io(message)
        case -9: self = .panic(message)
        case -10: self = .bufferTooSmall(message)
        case -11: self = .queueFull(message)
        case -12: self = .reentrant(message)
        case let c where c > 0: self = .api(code: c, message: message)
        default: self = .other(code: code, message: message)
        }
    }

    /// The return code: the errCode of an API failure, or the negative `WXFS_E_*`.
    public var code: Int32 {
        switch self {
        case let .api(code, _), let .other(code, _): return code
        case .null: return -1
        case .handle: return -2
        case .utf8: return -3
        case .json: return -4
        case .unknownApi: return -5
        case .config: return -6
        case .busy: return -7
        case .io: return -8
        case .panic: return -9
        case .bufferTooSmall: return -10
        case .queueFull: return -11
        case .reentrant: return -12
        }
    }

    /// The errMsg or the last error message.
    public var message: String {
        switch self {
        case let .api(_, m), let .other(_, m): return m
        case let .null(m), let .handle(m), let .utf8(m), let .json(m), let .unknownApi(m), let .config(m),
             let .busy(m), let .io(m), let .panic(m), let .bufferTooSmall(m), let .queueFull(m), let .reentrant(m):
            return m
        }
    }

    public var description: String { return "[\(code)] \(message)" }

    /// getStorage's "data not found".
    public static let storageNotFound: Int32 = 1_400_001
}

/// `protocol` of the config: the scheme of virtual paths.
public enum WxfsProtocol: String, Sendable {
    case wxfile
    case http
}

/// `platform` of the config: whose mini-programs the sandbox serves (paths, results, limits; docs/platforms/).
public enum WxfsPlatform: String, Sendable {
    case wechat
    case alipay
    case douyin
    case baidu
    case qq
}

/// `durability` of the config: what an acknowledged write survives.
public enum WxfsDurability: String, Sendable {
    case process
    case power
}

/// Quota overrides of the config in bytes (`openFiles`, `entries`: counts); nil keeps the default.
public struct WxfsLimits: Sendable {
    public var userFiles: UInt64?
    public var tempRuntime: UInt64?
    public var tempKeep: UInt64?
    public var tempAllSandboxes: UInt64?
    public var storageItem: UInt64?
    public var storageTotal: UInt64?
    public var readFile: UInt64?
    public var openFiles: UInt64?
    public var entries: UInt64?

    public init(userFiles: UInt64? = nil, tempRuntime: UInt64? = nil, tempKeep: UInt64? = nil,
                tempAllSandboxes: UInt64? = nil, storageItem: UInt64? = nil, storageTotal: UInt64? = nil,
                readFile: UInt64? = nil, openFiles: UInt64? = nil, entries: UInt64? = nil) {
        self.userFiles = userFiles
        self.tempRuntime = tempRuntime
        self.tempKeep = tempKeep
        self.tempAllSandboxes = tempAllSandboxes
        self.storageItem = storageItem
        self.storageTotal = storageTotal
        self.readFile = readFile
        self.openFiles = openFiles
        self.entries = entries
    }

    var json: [String: Any] {
        var out: [String: Any] = [:]
        let fields: [(String, UInt64?)] = [
            ("userFiles", userFiles), ("tempRuntime", tempRuntime), ("tempKeep", tempKeep),
            ("tempAllSandboxes", tempAllSandboxes), ("storageItem", storageItem),
            ("storageTotal", storageTotal), ("readFile", readFile), ("openFiles", openFiles),
            ("entries", entries),
        ]
        for (name, value) in fields {
            if let value = value {
                out[name] = NSNumber(value: value)
            }
        }
        return out
    }
}

/// getStorageInfo in bytes.
public struct WxfsStorageInfo: Equatable, Sendable {
    public let currentBytes: UInt64
    public let limitBytes: UInt64
    public let keyCount: UInt64
}

/// Pass `s` to C as UTF-8 bytes and their length (no NUL counted).
@inline(__always)
func withUTF8<R>(_ s: String, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    let bytes = s.utf8CString
    return try bytes.withUnsafeBufferPointer { buf in
        try body(buf.baseAddress, buf.count - 1)
    }
}

/// The same for an optional string: nil crosses as NULL.
@inline(__always)
func withOptionalUTF8<R>(_ s: String?, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    guard let s = s else {
        return try body(nil, 0)
    }
    return try withUTF8(s, body)
}

/// The bytes of a library result (copied); does not free them.
func copyBytes(_ b: wxfs_bytes) -> Data {
    guard let data = b.data, b.len > 0 else {
        return Data()
    }
    return Data(bytes: data, count: Int(b.len))
}

/// A text result (JSON, path) as a String; does not free it.
func copyString(_ b: wxfs_bytes) -> String {
    guard let data = b.data, b.len > 0 else {
        return ""
    }
    return String(decoding: UnsafeMutableBufferPointer(start: data, count: Int(b.len)), as: UTF8.self)
}

/// This thread's last error message: the reason of the last failed typed call.
func lastErrorMessage() -> String {
    for _ in 0..<3 {
        var needed: Int = 0
        _ = wxfs_last_error_message(nil, 0, &needed)
        if needed == 0 {
            return ""
        }
        var buf = [CChar](repeating: 0, count: needed + 1)
        let rc = buf.withUnsafeMutableBufferPointer { p in
            wxfs_last_error_message(p.baseAddress, p.count, &needed)
        }
        if rc == 0 {
            return String(decoding: buf[0..<needed].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
    return ""
}

/// Throw for a typed call's non-zero code, with the last error message.
@inline(__always)
func check(_ code: Int32) throws {
    if code != 0 {
        throw WxfsError(code: code, message: lastErrorMessage())
    }
}

/// The errMsg field of a bridge result, or the whole text when it has none.
func errMsg(of json: String) -> String {
    if let data = json.data(using: .utf8),
       let object = try? JSONSerialization.jsonObject(with: data, options: []) as? [String: Any],
       let msg = object["errMsg"] as? String {
        return msg
    }
    return json
}

/// Holds an invokeAsync completion until the library calls back (exactly once).
private final class CallbackBox {
    let body: @Sendable (Int32, String) -> Void

    init(_ body: @escaping @Sendable (Int32, String) -> Void) {
        self.body = body
    }
}

/// How much a log event matters (`WXFS_LOG_*`).
public enum WxfsLogLevel: Int32, Sendable {
    /// Acknowledged data is gone or set aside (a damaged storage log moved aside, storage empty).
    case error = 1
    /// A recovery at open: a torn tail cut, a journal rebuilt, an interrupted write undone.
    case warn = 2
    /// Bytes removed by policy: temp files trimmed at close or by gc.
    case info = 3
    /// Routine facts: a sandbox created, a storage log compacted.
    case debug = 4
}

/// The handler `WxfsLog` calls: level, sandbox (`<user-dir>/<app-dir>` relative to the root), message.
public typealias WxfsLogHandler = @Sendable (WxfsLogLevel, String, String) -> Void

/// Holds the installed log handler; its address is the C callback's userdata.
private final class LogBox {
    let handler: WxfsLogHandler

    init(_ handler: @escaping WxfsLogHandler) {
        self.handler = handler
    }
}

/// The library's log: every recovery a sandbox goes through when it opens, and every byte the
/// library removes on its own, with counts and paths relative to the root. One handler per process.
public enum WxfsLog {
    private static let lock = NSLock()
    /// Retained while installed: the library holds only its address. Guarded by `lock`.
    private static var installed: Unmanaged<LogBox>?

    /// Deliver events up to `maxLevel` to `handler` (nil: stop). The handler runs on the thread
    /// that opens, closes or collects a sandbox, possibly on several at once, and must not call
    /// `setHandler`. When this returns, the previous handler is not running and never runs again.
    public static func setHandler(maxLevel: WxfsLogLevel = .info, _ handler: WxfsLogHandler?) throws {
        lock.lock()
        defer { lock.unlock() }
        let box = handler.map { Unmanaged.passRetained(LogBox($0)) }
        let rc: Int32
        if let box = box {
            // A C function pointer: the closure captures nothing; the handler travels in userdata.
            rc = wxfs_log_set({ userdata, level, sandbox, sandboxLen, message, messageLen in
                guard let userdata = userdata else {
                    return
                }
                let target = Unmanaged<LogBox>.fromOpaque(userdata).takeUnretainedValue()
                // Both strings are valid only during this call: copy them now.
                let text = { (p: UnsafePointer<CChar>?, n: Int) -> String in
                    guard let p = p, n > 0 else {
                        return ""
                    }
                    return p.withMemoryRebound(to: UInt8.self, capacity: n) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
                    }
                }
                target.handler(WxfsLogLevel(rawValue: level) ?? .error, text(sandbox, sandboxLen), text(message, messageLen))
            }, box.toOpaque(), maxLevel.rawValue)
        } else {
            rc = wxfs_log_set(nil, nil, 0)
        }
        if rc != 0 {
            box?.release()
            throw WxfsError(code: rc, message: lastErrorMessage())
        }
        // The library no longer calls the previous handler: release it.
        installed?.release()
        installed = box
    }
}

/// One open sandbox: one user's view of one mini-program's files and storage.
///
/// `Sendable`: every method may be called from any thread (the library serializes per sandbox),
/// and the one mutable field, the handle, is guarded by a lock. The handle is closed by `close()`
/// or, at the latest, in `deinit`; after `close()` every call throws `WxfsError.handle`.
public final class Sandbox: @unchecked Sendable {
    private var handle: UInt64
    private let lock = NSLock()

    /// The ABI version this binding was written against.
    public static let abiVersion: UInt32 = 1

    /// Open (or share, if open in this process) the sandbox of (userId, appId) under `root`.
    /// The order is the C API's and the disk's everywhere: root, user, app.
    public convenience init(root: String, userId: String, appId: String, packageDir: String? = nil,
                            protocol proto: WxfsProtocol? = nil, durability: WxfsDurability? = nil,
                            limits: WxfsLimits? = nil, platform: WxfsPlatform? = nil) throws {
        var config: [String: Any] = ["root": root, "appId": appId, "userId": userId]
        if let packageDir = packageDir {
            config["packageDir"] = packageDir
        }
        if let proto = proto {
            config["protocol"] = proto.rawValue
        }
        if let durability = durability {
            config["durability"] = durability.rawValue
        }
        if let limits = limits {
            config["limits"] = limits.json
        }
        if let platform = platform {
            config["platform"] = platform.rawValue
        }
        let data = try JSONSerialization.data(withJSONObject: config, options: [])
        try self.init(configJSON: String(decoding: data, as: UTF8.self))
    }

    /// Open with a ready config JSON (docs/design.md §8).
    public init(configJSON: String) throws {
        let abi = wxfs_abi_version()
        if abi != Sandbox.abiVersion {
            throw WxfsError.config("libwxfs ABI \(abi), this binding needs \(Sandbox.abiVersion)")
        }
        var h: UInt64 = 0
        let rc = withUTF8(configJSON) { cfg, cfgLen in
            wxfs_open(cfg, cfgLen, &h)
        }
        try check(rc)
        handle = h
    }

    deinit {
        if handle != 0 {
            _ = wxfs_close(handle)
        }
    }

    /// Release the handle now; later calls throw, a second close is a no-op.
    public func close() {
        lock.lock()
        let h = handle
        handle = 0
        lock.unlock()
        if h != 0 {
            _ = wxfs_close(h)
        }
    }

    public var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return handle == 0
    }

    /// The open handle (internal: JSContext+Wxfs.swift hands it to bindings/jsc).
    func current() throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if handle == 0 {
            throw WxfsError.handle("sandbox is closed")
        }
        return handle
    }

    /// "MAJOR.MINOR.PATCH" of the loaded library.
    public static var version: String {
        guard let v = wxfs_version() else {
            return ""
        }
        return String(cString: v)
    }

    // MARK: the bridge

    /// Call mini-program api `api` ("readFile", "setStorageSync", "host.createTempFile", ...) with
    /// its JSON argument object; returns the result JSON. Throws the result's errMsg on a non-zero code.
    @discardableResult
    public func invoke(_ api: String, _ argsJSON: String = "{}") throws -> String {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withUTF8(api) { a, aLen in
            withUTF8(argsJSON) { j, jLen in
                wxfs_invoke(h, a, aLen, j, jLen, &out)
            }
        }
        let text = copyString(out)
        if rc != 0 {
            throw WxfsError(code: rc, message: errMsg(of: text))
        }
        return text
    }

    /// The bridge off the caller's thread: `completion(code, resultJSON)` is called exactly once,
    /// from a library worker thread. Throws (and never calls back) when the call was not queued.
    public func invokeAsync(_ api: String, _ argsJSON: String = "{}",
                            completion: @escaping @Sendable (Int32, String) -> Void) throws {
        let h = try current()
        let context = Unmanaged.passRetained(CallbackBox(completion)).toOpaque()
        let rc = withUTF8(api) { a, aLen in
            withUTF8(argsJSON) { j, jLen in
                wxfs_invoke_async(h, a, aLen, j, jLen, { userdata, code, result, resultLen in
                    guard let userdata = userdata else {
                        return
                    }
                    let box = Unmanaged<CallbackBox>.fromOpaque(userdata).takeRetainedValue()
                    // `result` is valid only during this call: copy it now.
                    let text = String(decoding: UnsafeBufferPointer(start: result, count: Int(resultLen)), as: UTF8.self)
                    box.body(code, text)
                }, context)
            }
        }
        if rc != 0 {
            Unmanaged<CallbackBox>.fromOpaque(context).release()
            throw WxfsError(code: rc, message: lastErrorMessage())
        }
    }

    /// `invokeAsync` for Swift concurrency: returns the result JSON or throws its errMsg.
    @available(macOS 10.15, iOS 13.0, *)
    public func invokeAsync(_ api: String, _ argsJSON: String = "{}") async throws -> String {
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, Error>) in
            do {
                try self.invokeAsync(api, argsJSON) { code, json in
                    if code == 0 {
                        continuation.resume(returning: json)
                    } else {
                        continuation.resume(throwing: WxfsError(code: code, message: errMsg(of: json)))
                    }
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    // MARK: typed calls

    /// Read a whole file at a readable virtual path.
    public func readFile(_ path: String) throws -> Data {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withUTF8(path) { p, pLen in
            wxfs_read_file(h, p, pLen, &out)
        }
        try check(rc)
        return copyBytes(out)
    }

    /// Write raw bytes to a user file (`wxfile://usr/...`), atomically replacing it.
    public func writeFile(_ path: String, _ data: Data) throws {
        let h = try current()
        let rc = withUTF8(path) { p, pLen in
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
                wxfs_write_file(h, p, pLen, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count)
            }
        }
        try check(rc)
    }

    /// saveFile: move a temp file to the saved area (`filePath` nil) or to a user path; returns the new path.
    @discardableResult
    public func saveFile(_ tempPath: String, filePath: String? = nil) throws -> String {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withUTF8(tempPath) { t, tLen in
            withOptionalUTF8(filePath) { f, fLen in
                wxfs_save_file(h, t, tLen, f, fLen, &out)
            }
        }
        try check(rc)
        return copyString(out)
    }

    /// Create a temp file from bytes, as a download would; `ext` without the dot ("png").
    public func createTemp(_ data: Data, ext: String? = nil) throws -> String {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withOptionalUTF8(ext) { e, eLen in
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
                wxfs_temp_create(h, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, e, eLen, &out)
            }
        }
        try check(rc)
        return copyString(out)
    }

    /// The OS path behind a readable virtual path, for an image view or a player.
    public func realPath(_ path: String) throws -> String {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withUTF8(path) { p, pLen in
            wxfs_real_path(h, p, pLen, &out)
        }
        try check(rc)
        return copyString(out)
    }

    /// The bytes behind a `wxblob://` URL that createBufferURL made in this sandbox (a media component's source).
    public func resolveBufferURL(_ url: String) throws -> Data {
        let h = try current()
        var out = wxfs_bytes()
        defer { wxfs_bytes_free(out) }
        let rc = withUTF8(url) { u, uLen in
            wxfs_buffer_url_resolve(h, u, uLen, &out)
        }
        try check(rc)
        return copyBytes(out)
    }

    /// setStorage of a value given as JSON text, with an optional dataType kept beside it.
    public func storageSet(_ key: String, json: String, dataType: String? = nil) throws {
        let h = try current()
        let rc = withUTF8(key) { k, kLen in
            withUTF8(json) { j, jLen in
                withOptionalUTF8(dataType) { d, dLen in
                    wxfs_storage_set(h, k, kLen, j, jLen, d, dLen)
                }
            }
        }
        try check(rc)
    }

    /// getStorage: the value's JSON and its dataType, or nil when the key is missing (1400001).
    public func storageGet(_ key: String) throws -> (json: String, dataType: String?)? {
        let h = try current()
        var json = wxfs_bytes()
        var type = wxfs_bytes()
        defer {
            wxfs_bytes_free(json)
            wxfs_bytes_free(type)
        }
        let rc = withUTF8(key) { k, kLen in
            wxfs_storage_get(h, k, kLen, &json, &type)
        }
        if rc == WxfsError.storageNotFound {
            return nil
        }
        try check(rc)
        let dataType: String? = type.data == nil ? nil : copyString(type)
        return (json: copyString(json), dataType: dataType)
    }

    /// removeStorage; a missing key is not an error.
    public func storageRemove(_ key: String) throws {
        let h = try current()
        let rc = withUTF8(key) { k, kLen in
            wxfs_storage_remove(h, k, kLen)
        }
        try check(rc)
    }

    /// clearStorage.
    public func storageClear() throws {
        let h = try current()
        try check(wxfs_storage_clear(h))
    }

    /// getStorageInfo in bytes.
    public func storageInfo() throws -> WxfsStorageInfo {
        let h = try current()
        var used: UInt64 = 0
        var limit: UInt64 = 0
        var keys: UInt64 = 0
        try check(wxfs_storage_info(h, &used, &limit, &keys))
        return WxfsStorageInfo(currentBytes: used, limitBytes: limit, keyCount: keys)
    }

    // MARK: lifecycle

    /// Trim the temp areas of all sandboxes under `root` to `tempLimit` bytes (0: the default);
    /// returns the bytes freed.
    @discardableResult
    public static func gc(root: String, tempLimit: UInt64 = 0) throws -> UInt64 {
        var freed: UInt64 = 0
        let rc = withUTF8(root) { r, rLen in
            wxfs_gc(r, rLen, tempLimit, &freed)
        }
        try check(rc)
        return freed
    }

    /// Delete all files and storage of (userId, appId): true when the sandbox existed and is
    /// gone, false when there was none under `root` (mistyped ids, or removed before). Throws
    /// `WxfsError.busy` while it is open.
    @discardableResult
    public static func removeSandbox(root: String, userId: String, appId: String) throws -> Bool {
        var removed = false
        let rc = withUTF8(root) { r, rLen in
            withUTF8(userId) { u, uLen in
                withUTF8(appId) { a, aLen in
                    wxfs_remove_sandbox_v2(r, rLen, u, uLen, a, aLen, &removed)
                }
            }
        }
        try check(rc)
        return removed
    }

    /// `removeSandbox` for another platform's sandbox of (userId, appId) (`wxfs_remove_sandbox_config`).
    public static func removeSandbox(root: String, userId: String, appId: String, platform: WxfsPlatform) throws -> Bool {
        let config: [String: Any] = ["root": root, "userId": userId, "appId": appId, "platform": platform.rawValue]
        let data = try JSONSerialization.data(withJSONObject: config, options: [])
        let json = String(decoding: data, as: UTF8.self)
        var removed = false
        let rc = withUTF8(json) { c, cLen in
            wxfs_remove_sandbox_config(c, cLen, &removed)
        }
        try check(rc)
        return removed
    }
}
