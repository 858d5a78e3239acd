// `wx` in a JavaScriptCore JSContext over a Sandbox, through bindings/jsc (its C glue, compiled
// by the CWxfsJSC target of Package.swift on Apple platforms). Untested beyond a syntax check:
// no Swift toolchain runs in this repository's CI; the glue's C calls run in tests/jsc_host.rs.
//
//     let sandbox = try Sandbox(root: root, userId: "u1", appId: "wx0123456789abcdef")
//     let context = JSContext()!
//     let wxfs = try WxfsJSContext(context: context, sandbox: sandbox,
//                                  bindingsJS: Bundle.main.path(forResource: "js", ofType: nil)!)
//     // On the JavaScript thread's queue: drain when the fd is readable.
//     let source = DispatchSource.makeReadSource(fileDescriptor: wxfs.fileDescriptor, queue: jsQueue)
//     source.setEventHandler { try? wxfs.drain() }
//     source.resume()
#if canImport(JavaScriptCore) && canImport(CWxfsJSC)
import CWxfsJSC
import JavaScriptCore

/// The glue of one JSContext: `wx` (or the platform's object) installed, async results waiting on
/// a completion queue whose fd the host watches, delivered by `drain()` on the JavaScript thread.
public final class WxfsJSContext {
    private let glue: OpaquePointer
    private let context: JSContext

    /// Install the platform's object (`wx`, `my`, `tt`, `swan` or `qq`) in `context` over the open
    /// `sandbox` (opened with the same platform). `bindingsJS`: the directory of bindings/js.
    public init(context: JSContext, sandbox: Sandbox, platform: WxfsPlatform = .wechat, bindingsJS: String) throws {
        let handle = try sandbox.current()
        var out: OpaquePointer?
        var exception: JSValueRef?
        let rc = wxfs_jsc_install(context.jsGlobalContextRef, handle, platform.rawValue, bindingsJS, &out, &exception)
        guard rc == 0, let glue = out else {
            let message = exception.flatMap { JSValue(jsValueRef: $0, in: context).toString() } ?? "wxfs_jsc_install failed"
            throw WxfsError(code: rc, message: message)
        }
        self.glue = glue
        self.context = context
    }

    /// Readable exactly while results wait: add it to the JavaScript thread's run loop.
    public var fileDescriptor: Int32 { return wxfs_jsc_fd(glue) }

    /// Async calls and tasks not yet delivered (0: idle).
    public var pending: Int { return Int(wxfs_jsc_pending(glue)) }

    /// Tasks wait: drain again without waiting for the fd.
    public var hasTasks: Bool { return wxfs_jsc_has_tasks(glue) != 0 }

    /// Run the waiting callbacks and tasks on this (the JavaScript) thread; returns how many ran,
    /// or throws the exception a callback left uncaught.
    @discardableResult
    public func drain() throws -> Int {
        var exception: JSValueRef?
        let ran = wxfs_jsc_drain(glue, &exception)
        if ran < 0 {
            let message = exception.flatMap { JSValue(jsValueRef: $0, in: context).toString() } ?? "wxfs_jsc_drain failed"
            throw WxfsError(code: ran, message: message)
        }
        return Int(ran)
    }

    deinit {
        wxfs_jsc_free(glue)
    }
}
#endif
