// Kotlin/JVM (and Android) binding of libwxfs over JNA direct mapping.
//
// Layers:
//  - WxfsNative: one `external` function per C function of include/wxfs.h, registered with
//    Native.register (direct mapping). Handles are Long, size_t is SizeT, strings go in as UTF-8
//    byte arrays with explicit lengths, library-owned bytes come back as a WxfsBytes whose `data`
//    is a Pointer and are released with wxfs_bytes_free (never mapped to String: that would leak).
//  - Sandbox: an AutoCloseable owner of one handle with typed methods and the JSON bridge.
//
// Written for Kotlin 1.3 (Debian's kotlinc) and up: no newer stdlib APIs.
package wxfs

import com.sun.jna.Callback
import com.sun.jna.IntegerType
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

/** C `size_t`: 8 bytes on LP64 (arm64-v8a, x86_64), 4 on 32-bit ABIs (armeabi-v7a). */
class SizeT @JvmOverloads constructor(value: Long = 0) : IntegerType(Native.SIZE_T_SIZE, value, true) {
    override fun toByte(): Byte = toLong().toByte()
    override fun toChar(): Char = toLong().toChar()
    override fun toShort(): Short = toLong().toShort()

    companion object {
        private const val serialVersionUID = 1L
    }
}

/**
 * `struct wxfs_storage_stamp { uint64_t store, generation, at; }`: which stored value
 * `wxfs_storage_get_stamped` read; opaque, only given back.
 */
@Structure.FieldOrder("store", "generation", "at")
open class WxfsStorageStamp : Structure() {
    @JvmField var store: Long = 0
    @JvmField var generation: Long = 0
    @JvmField var at: Long = 0

    /** Passed as `struct wxfs_storage_stamp *`: read and written by the call. */
    class ByReference : WxfsStorageStamp(), Structure.ByReference
}

/** `struct wxfs_bytes { uint8_t *data; size_t len; }`: bytes owned by the library. */
@Structure.FieldOrder("data", "len")
open class WxfsBytes : Structure() {
    @JvmField var data: Pointer? = null
    @JvmField var len: SizeT = SizeT(0)

    /** Passed by value: the argument of wxfs_bytes_free. */
    class ByValue : WxfsBytes(), Structure.ByValue

    /** Passed as `struct wxfs_bytes *`: the out-parameters. */
    class ByReference : WxfsBytes(), Structure.ByReference

    /** Copy the bytes out (call after the function returned and before freeing). */
    fun bytes(): ByteArray {
        val n = len.toLong()
        val p = data
        if (p == null || n == 0L) return ByteArray(0)
        if (n > Int.MAX_VALUE) throw WxfsException(WxfsNative.WXFS_E_BUFFER_TOO_SMALL, "result of $n bytes does not fit a ByteArray")
        return p.getByteArray(0, n.toInt())
    }

    /** Release what the library put here with wxfs_bytes_free, once; safe to call again. */
    fun free() {
        val p = data ?: return
        val v = ByValue()
        v.data = p
        v.len = len
        data = null
        len = SizeT(0)
        WxfsNative.wxfs_bytes_free(v)
    }

    /** Copy the bytes out and free them. */
    fun take(): ByteArray = try {
        bytes()
    } finally {
        free()
    }

    /** Text results (JSON, paths): UTF-8. */
    fun takeString(): String = String(take(), Charsets.UTF_8)
}

/**
 * `struct wxfs_result { wxfs_bytes json; wxfs_bytes *buffers; size_t buffers_len; }`: a `_v2`
 * bridge result; release with wxfs_result_free.
 */
@Structure.FieldOrder("json", "buffers", "buffersLen")
open class WxfsResult : Structure() {
    @JvmField var json: WxfsBytes = WxfsBytes()
    @JvmField var buffers: Pointer? = null
    @JvmField var buffersLen: SizeT = SizeT(0)

    class ByValue : WxfsResult(), Structure.ByValue

    class ByReference : WxfsResult(), Structure.ByReference
}

/** `typedef void (*wxfs_callback_v2)(void *, int32_t, struct wxfs_result *)`. */
interface WxfsCallbackV2 : Callback {
    fun invoke(userdata: Pointer?, code: Int, result: Pointer?)
}

/** `typedef void (*wxfs_callback)(void *, int32_t, const uint8_t *, size_t)`. */
interface WxfsCallback : Callback {
    fun invoke(userdata: Pointer?, code: Int, result: Pointer?, resultLen: SizeT)
}

/** `typedef void (*wxfs_log_callback)(void *, int32_t, const char *, size_t, const char *, size_t)`. */
/** `wxfs_alloc_fn`: `len` (never 0) writable bytes the host owns, or null when it has none. */
interface WxfsAllocCallback : Callback {
    fun invoke(userdata: Pointer?, len: SizeT): Pointer?
}

interface WxfsLogCallback : Callback {
    fun invoke(userdata: Pointer?, level: Int, sandbox: Pointer?, sandboxLen: SizeT, message: Pointer?, messageLen: SizeT)
}

/** Direct mapping of every function of include/wxfs.h (same names, same order). */
object WxfsNative {
    const val WXFS_OK = 0
    const val WXFS_E_NULL = -1
    const val WXFS_E_HANDLE = -2
    const val WXFS_E_UTF8 = -3
    const val WXFS_E_JSON = -4
    const val WXFS_E_UNKNOWN_API = -5
    const val WXFS_E_CONFIG = -6
    const val WXFS_E_BUSY = -7
    const val WXFS_E_IO = -8
    const val WXFS_E_PANIC = -9
    const val WXFS_E_BUFFER_TOO_SMALL = -10
    const val WXFS_E_QUEUE_FULL = -11
    const val WXFS_E_REENTRANT = -12
    const val WXFS_E_FORKED = -13
    const val WXFS_E_IMPORT_REFUSED = -14

    const val WXFS_LOG_ERROR = 1
    const val WXFS_LOG_WARN = 2
    const val WXFS_LOG_INFO = 3
    const val WXFS_LOG_DEBUG = 4

    /** The WXFS_ABI_VERSION this binding was written against. */
    const val WXFS_ABI_VERSION = 1

    init {
        // Finds libwxfs.so via -Djna.library.path / jna.library.path, the app's native lib dir
        // (Android: jniLibs/<abi>/libwxfs.so), or the system library path.
        Native.register(WxfsNative::class.java, "wxfs")
    }

    @JvmStatic external fun wxfs_open(configJson: ByteArray?, configLen: SizeT, outSandbox: LongArray?): Int

    @JvmStatic external fun wxfs_invoke(
        sandbox: Long, api: ByteArray?, apiLen: SizeT, argsJson: ByteArray?, argsLen: SizeT, outResult: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_invoke_async(
        sandbox: Long, api: ByteArray?, apiLen: SizeT, argsJson: ByteArray?, argsLen: SizeT, cb: WxfsCallback?, userdata: Pointer?
    ): Int

    /** `buffers`: an array of `struct wxfs_slice { const uint8_t *data; size_t len; }`. */
    @JvmStatic external fun wxfs_invoke_v2(
        sandbox: Long, api: ByteArray?, apiLen: SizeT, argsJson: ByteArray?, argsLen: SizeT,
        buffers: Pointer?, buffersLen: SizeT, outResult: WxfsResult.ByReference?
    ): Int

    @JvmStatic external fun wxfs_invoke_async_v2(
        sandbox: Long, api: ByteArray?, apiLen: SizeT, argsJson: ByteArray?, argsLen: SizeT,
        buffers: Pointer?, buffersLen: SizeT, cb: WxfsCallbackV2?, userdata: Pointer?
    ): Int

    /** As wxfs_invoke_async_v2, with the callback run by whichever thread drains `queue`. */
    @JvmStatic external fun wxfs_invoke_async_queued(
        sandbox: Long, queue: Long, api: ByteArray?, apiLen: SizeT, argsJson: ByteArray?, argsLen: SizeT,
        buffers: Pointer?, buffersLen: SizeT, cb: WxfsCallbackV2?, userdata: Pointer?
    ): Int

    @JvmStatic external fun wxfs_result_free(result: WxfsResult.ByValue)

    @JvmStatic external fun wxfs_api_list(sandbox: Long, outJson: WxfsBytes.ByReference?): Int

    @JvmStatic external fun wxfs_close(sandbox: Long): Int

    @JvmStatic external fun wxfs_bytes_free(bytes: WxfsBytes.ByValue)

    @JvmStatic external fun wxfs_last_error_message(buf: ByteArray?, len: SizeT, outLen: Pointer?): Int

    /** Static NUL-terminated string, never freed. */
    @JvmStatic external fun wxfs_version(): Pointer?

    @JvmStatic external fun wxfs_version_number(): Int

    @JvmStatic external fun wxfs_abi_version(): Int

    /** Static NUL-terminated English description of a status code, never freed. */
    @JvmStatic external fun wxfs_status_str(code: Int): Pointer?

    /** A Dimina MMKV store into the sandbox's storage (docs/import-mmkv.md); the report is JSON. */
    @JvmStatic external fun wxfs_import_mmkv(
        sandbox: Long, mmkvDir: ByteArray?, mmkvDirLen: SizeT, mmkvId: ByteArray?, mmkvIdLen: SizeT,
        optionsJson: ByteArray?, optionsLen: SizeT, outReport: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_log_set(cb: WxfsLogCallback?, userdata: Pointer?, maxLevel: Int): Int

    @JvmStatic external fun wxfs_read_file(sandbox: Long, path: ByteArray?, pathLen: SizeT, outData: WxfsBytes.ByReference?): Int

    @JvmStatic external fun wxfs_read_file_alloc(
        sandbox: Long, path: ByteArray?, pathLen: SizeT, alloc: WxfsAllocCallback?, userdata: Pointer?, outLen: Pointer?
    ): Int

    @JvmStatic external fun wxfs_write_file(sandbox: Long, path: ByteArray?, pathLen: SizeT, data: ByteArray?, dataLen: SizeT): Int

    @JvmStatic external fun wxfs_save_file(
        sandbox: Long, tempPath: ByteArray?, tempLen: SizeT, filePath: ByteArray?, fileLen: SizeT, outSavedPath: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_temp_create(
        sandbox: Long, data: ByteArray?, dataLen: SizeT, extension: ByteArray?, extensionLen: SizeT, outTempPath: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_real_path(sandbox: Long, path: ByteArray?, pathLen: SizeT, outRealPath: WxfsBytes.ByReference?): Int

    @JvmStatic external fun wxfs_buffer_url_resolve(sandbox: Long, url: ByteArray?, urlLen: SizeT, outData: WxfsBytes.ByReference?): Int

    @JvmStatic external fun wxfs_storage_set(
        sandbox: Long, key: ByteArray?, keyLen: SizeT, json: ByteArray?, jsonLen: SizeT, dataType: ByteArray?, dataTypeLen: SizeT
    ): Int

    @JvmStatic external fun wxfs_storage_get(
        sandbox: Long, key: ByteArray?, keyLen: SizeT, outJson: WxfsBytes.ByReference?, outDataType: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_storage_get_stamped(
        sandbox: Long, key: ByteArray?, keyLen: SizeT, inoutStamp: WxfsStorageStamp.ByReference?,
        outJson: WxfsBytes.ByReference?, outDataType: WxfsBytes.ByReference?
    ): Int

    @JvmStatic external fun wxfs_storage_get_into(
        sandbox: Long, key: ByteArray?, keyLen: SizeT, buf: ByteArray?, cap: SizeT, outLen: Pointer?
    ): Int

    @JvmStatic external fun wxfs_storage_remove(sandbox: Long, key: ByteArray?, keyLen: SizeT): Int

    @JvmStatic external fun wxfs_storage_clear(sandbox: Long): Int

    @JvmStatic external fun wxfs_storage_info(
        sandbox: Long, outCurrentBytes: LongArray?, outLimitBytes: LongArray?, outKeyCount: LongArray?
    ): Int

    @JvmStatic external fun wxfs_gc(root: ByteArray?, rootLen: SizeT, tempLimit: Long, outFreed: LongArray?): Int

    @JvmStatic external fun wxfs_remove_sandbox(
        root: ByteArray?, rootLen: SizeT, userId: ByteArray?, userIdLen: SizeT, appId: ByteArray?, appIdLen: SizeT
    ): Int

    /** `bool *out_removed`: a one-byte array (C `bool` is one byte on every target ABI). */
    @JvmStatic external fun wxfs_remove_sandbox_v2(
        root: ByteArray?, rootLen: SizeT, userId: ByteArray?, userIdLen: SizeT, appId: ByteArray?, appIdLen: SizeT,
        outRemoved: ByteArray?
    ): Int

    /** The sandbox a wxfs_open config names (its platform included); `bool *out_removed` as above. */
    @JvmStatic external fun wxfs_remove_sandbox_config(configJson: ByteArray?, configLen: SizeT, outRemoved: ByteArray?): Int

    @JvmStatic external fun wxfs_queue_create(outQueue: LongArray?): Int

    @JvmStatic external fun wxfs_queue_fd(queue: Long, outFd: IntArray?): Int

    /** `size_t *out_ran`: NULL, or SIZE_T_SIZE bytes of memory. */
    @JvmStatic external fun wxfs_queue_drain(queue: Long, max: SizeT, outRan: Pointer?): Int

    @JvmStatic external fun wxfs_queue_close(queue: Long): Int

    /** This thread's last error message (the reason of the last failed typed call). */
    @JvmStatic fun lastErrorMessage(): String {
        val lenOut = Memory(Native.SIZE_T_SIZE.toLong())
        // Loop: another call on this thread cannot intervene, but stay correct regardless.
        for (attempt in 0 until 3) {
            lenOut.clear()
            wxfs_last_error_message(null, SizeT(0), lenOut)
            val n = if (Native.SIZE_T_SIZE == 8) lenOut.getLong(0) else lenOut.getInt(0).toLong() and 0xffffffffL
            if (n == 0L) return ""
            val buf = ByteArray((n + 1).toInt())
            if (wxfs_last_error_message(buf, SizeT(buf.size.toLong()), lenOut) == WXFS_OK) {
                return String(buf, 0, n.toInt(), Charsets.UTF_8)
            }
        }
        return ""
    }
}

/** A failed call: `code` is the errCode (API failure) or a negative WXFS_E_* (the call could not run). */
class WxfsException(val code: Int, val errMsg: String) : RuntimeException("[$code] $errMsg") {
    companion object {
        private const val serialVersionUID = 1L
    }
}

/** `protocol` of the config: the scheme of virtual paths. */
enum class Protocol(val json: String) { WXFILE("wxfile"), HTTP("http") }

/** `platform` of the config: whose mini-programs the sandbox serves (paths, results, limits; docs/platforms/). */
enum class Platform(val json: String) { WECHAT("wechat"), ALIPAY("alipay"), DOUYIN("douyin"), BAIDU("baidu"), QQ("qq") }

/** `durability` of the config: what an acknowledged write survives. */
enum class Durability(val json: String) { PROCESS("process"), POWER("power") }

/** Quota overrides of the config, in bytes (openFiles, entries: counts); null keeps the default. */
class Limits(
    val userFiles: Long? = null,
    val tempRuntime: Long? = null,
    val tempKeep: Long? = null,
    val tempAllSandboxes: Long? = null,
    val storageItem: Long? = null,
    val storageTotal: Long? = null,
    val readFile: Long? = null,
    val openFiles: Long? = null,
    val entries: Long? = null
) {
    internal fun toJson(): String {
        val fields = listOf(
            "userFiles" to userFiles, "tempRuntime" to tempRuntime, "tempKeep" to tempKeep,
            "tempAllSandboxes" to tempAllSandboxes, "storageItem" to storageItem, "storageTotal" to storageTotal,
            "readFile" to readFile, "openFiles" to openFiles, "entries" to entries
        )
        return fields.filter { it.second != null }.joinToString(",", "{", "}") { Json.quote(it.first) + ":" + it.second }
    }
}

/** How much a log event matters (`WXFS_LOG_*`). */
enum class LogLevel(val code: Int) {
    /** Acknowledged data is gone or set aside (a damaged storage log moved aside, storage empty). */
    ERROR(1),
    /** A recovery at open: a torn tail cut, a journal rebuilt, an interrupted write undone. */
    WARN(2),
    /** Bytes removed by policy: temp files trimmed at close or by gc. */
    INFO(3),
    /** Routine facts: a sandbox created, a storage log compacted. */
    DEBUG(4);

    companion object {
        @JvmStatic fun of(code: Int): LogLevel = values().firstOrNull { it.code == code } ?: ERROR
    }
}

/**
 * The library's log: every recovery a sandbox goes through when it opens, and every byte the
 * library removes on its own, with counts and paths relative to the root. One handler per process.
 */
object WxfsLog {
    /** The installed trampoline, strongly referenced: native code holds only its address. */
    @Volatile private var installed: WxfsLogCallback? = null

    /**
     * Deliver events up to `maxLevel` to `handler(level, sandbox, message)`, where `sandbox` is the
     * sandbox directory relative to the root (`<user-dir>/<app-dir>`); null stops delivery.
     * The handler runs on the thread that opens, closes or collects a sandbox, possibly on several
     * at once, and must not call `setHandler`. When this returns, the previous handler is not
     * running and will not be called again. On Android, forward to `android.util.Log`.
     */
    @JvmStatic @Synchronized
    fun setHandler(maxLevel: LogLevel = LogLevel.INFO, handler: ((LogLevel, String, String) -> Unit)?) {
        val cb: WxfsLogCallback? = if (handler == null) null else object : WxfsLogCallback {
            override fun invoke(userdata: Pointer?, level: Int, sandbox: Pointer?, sandboxLen: SizeT, message: Pointer?, messageLen: SizeT) {
                try {
                    handler(LogLevel.of(level), utf8At(sandbox, sandboxLen), utf8At(message, messageLen))
                } catch (t: Throwable) {
                    // Never unwind into the library.
                    val th = Thread.currentThread()
                    th.uncaughtExceptionHandler?.uncaughtException(th, t)
                }
            }
        }
        val code = WxfsNative.wxfs_log_set(cb, null, maxLevel.code)
        if (code != WxfsNative.WXFS_OK) throw WxfsException(code, WxfsNative.lastErrorMessage())
        // Only now may the old trampoline be collected: the library no longer calls it.
        installed = cb
    }

    private fun utf8At(p: Pointer?, len: SizeT): String {
        val n = len.toLong()
        return if (p == null || n == 0L) "" else String(p.getByteArray(0, n.toInt()), Charsets.UTF_8)
    }
}

/** getStorageInfo in bytes. */
data class StorageInfo(val currentBytes: Long, val limitBytes: Long, val keyCount: Long)

/** Just enough JSON for the config and for reading fields of bridge results. */
object Json {
    /** A JSON string literal for `s`. */
    @JvmStatic fun quote(s: String): String {
        val sb = StringBuilder(s.length + 2)
        sb.append('"')
        for (c in s) {
            when (c) {
                '"' -> sb.append("\\\"")
                '\\' -> sb.append("\\\\")
                '\n' -> sb.append("\\n")
                '\r' -> sb.append("\\r")
                '\t' -> sb.append("\\t")
                '\b' -> sb.append("\\b")
                '\u000C' -> sb.append("\\f")
                else -> if (c < ' ' || c == '\u2028' || c == '\u2029') {
                    sb.append("\\u").append(String.format("%04x", c.toInt()))
                } else {
                    sb.append(c)
                }
            }
        }
        return sb.append('"').toString()
    }

    /** The value of top-level string field `key` of a JSON object, or null when absent or not a string. */
    @JvmStatic fun stringField(json: String, key: String): String? {
        val r = Reader(json)
        r.ws()
        if (!r.eat('{')) return null
        r.ws()
        if (r.eat('}')) return null
        while (true) {
            r.ws()
            val k = r.string() ?: return null
            r.ws()
            if (!r.eat(':')) return null
            r.ws()
            if (k == key) return if (r.peek() == '"') r.string() else null
            if (!r.skipValue()) return null
            r.ws()
            if (r.eat(',')) continue
            return null
        }
    }

    private class Reader(val s: String) {
        var i = 0
        fun peek(): Char = if (i < s.length) s[i] else '\u0000'
        fun ws() { while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++ }
        fun eat(c: Char): Boolean = if (peek() == c) { i++; true } else false

        fun string(): String? {
            if (!eat('"')) return null
            val sb = StringBuilder()
            while (i < s.length) {
                val c = s[i++]
                when (c) {
                    '"' -> return sb.toString()
                    '\\' -> {
                        if (i >= s.length) return null
                        when (val e = s[i++]) {
                            '"', '\\', '/' -> sb.append(e)
                            'b' -> sb.append('\b')
                            'f' -> sb.append('\u000C')
                            'n' -> sb.append('\n')
                            'r' -> sb.append('\r')
                            't' -> sb.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) return null
                                val v = s.substring(i, i + 4).toIntOrNull(16) ?: return null
                                sb.append(v.toChar())
                                i += 4
                            }
                            else -> return null
                        }
                    }
                    else -> sb.append(c)
                }
            }
            return null
        }

        fun skipValue(): Boolean {
            ws()
            return when (peek()) {
                '"' -> string() != null
                '{', '[' -> {
                    var depth = 0
                    scan@ while (i < s.length) {
                        when (s[i]) {
                            '"' -> { if (string() == null) return false; continue@scan }
                            '{', '[' -> depth++
                            '}', ']' -> { depth--; if (depth == 0) { i++; return true } }
                        }
                        i++
                    }
                    false
                }
                else -> {
                    val start = i
                    while (i < s.length && s[i] != ',' && s[i] != '}' && s[i] != ']' && !s[i].isWhitespace()) i++
                    i > start
                }
            }
        }
    }
}

/**
 * A completion queue (`wxfs_queue_create`): the callbacks of async calls made with it run on the
 * thread that calls [drain], typically the app's main thread, instead of on a library worker.
 *
 * Add [fd] to the thread's loop for readability and call [drain] when it fires. On Android:
 * `Looper.myQueue().addOnFileDescriptorEventListener(fd, EVENT_INPUT) { _, _ -> queue.drain(); EVENT_INPUT }`
 * with a `java.io.FileDescriptor` for [fd] (`ParcelFileDescriptor.fromFd` dups it; remove the
 * listener before [close]). Never read, write or close [fd]: it belongs to the queue.
 *
 * Closing drops the completions still waiting: their callbacks are never called. Thread-safe;
 * drain one queue from one thread to get the callbacks of one thread's calls in issue order.
 */
class CompletionQueue : java.io.Closeable {
    private val handle = AtomicLong(0)

    /** Tickets of calls made on this queue whose callback has not run yet (dropped at close). */
    internal val tickets: MutableSet<Long> = ConcurrentHashMap.newKeySet()

    /** The file descriptor that is readable exactly while completions wait. */
    val fd: Int

    init {
        val out = LongArray(1)
        Sandbox.check(WxfsNative.wxfs_queue_create(out))
        handle.set(out[0])
        val fdOut = IntArray(1)
        Sandbox.check(WxfsNative.wxfs_queue_fd(out[0], fdOut))
        fd = fdOut[0]
    }

    internal fun h(): Long {
        val v = handle.get()
        if (v == 0L) throw WxfsException(WxfsNative.WXFS_E_HANDLE, "completion queue is closed")
        return v
    }

    /**
     * Run the waiting callbacks on this thread: at most `max` of them, or with 0 those waiting
     * when the call began. Returns how many ran.
     */
    @JvmOverloads
    fun drain(max: Long = 0): Long {
        val ran = Memory(Native.SIZE_T_SIZE.toLong())
        ran.clear()
        Sandbox.check(WxfsNative.wxfs_queue_drain(h(), SizeT(max), ran))
        return if (Native.SIZE_T_SIZE == 8) ran.getLong(0) else ran.getInt(0).toLong() and 0xffffffffL
    }

    /** Release the queue (wxfs_queue_close once); the callbacks still waiting never run. */
    override fun close() {
        val v = handle.getAndSet(0L)
        if (v == 0L) return
        WxfsNative.wxfs_queue_close(v)
        for (t in tickets) Sandbox.forget(t)
        tickets.clear()
    }
}

/**
 * One open sandbox (a user's view of one mini-program's files and storage).
 *
 * Thread-safe: the library serializes per sandbox. Close it when done (use `use {}`); closing is
 * idempotent and any later call throws WxfsException(WXFS_E_HANDLE).
 */
class Sandbox private constructor(handle: Long) : java.io.Closeable {
    private val handle = AtomicLong(handle)

    /** The raw handle (0 once closed), for calling WxfsNative directly. */
    val rawHandle: Long get() = handle.get()

    val isClosed: Boolean get() = handle.get() == 0L

    companion object {
        /** Pending invokeAsync callbacks by ticket; the one native callback below dispatches them. */
        private val pending = ConcurrentHashMap<Long, (Int, String) -> Unit>()
        private val tickets = AtomicLong(0)

        /** A single JNA callback, strongly referenced for the life of the class: the native
         *  trampoline must outlive every queued call, and one trampoline serves them all. */
        private val dispatcher: WxfsCallback = object : WxfsCallback {
            override fun invoke(userdata: Pointer?, code: Int, result: Pointer?, resultLen: SizeT) {
                val ticket = Pointer.nativeValue(userdata)
                val body = pending.remove(ticket) ?: return
                // `result` is valid only during this call: copy it now.
                val n = resultLen.toLong()
                val text = if (result == null || n == 0L) "" else String(result.getByteArray(0, n.toInt()), Charsets.UTF_8)
                try {
                    body(code, text)
                } catch (t: Throwable) {
                    // Never unwind into the library's worker thread.
                    val th = Thread.currentThread()
                    th.uncaughtExceptionHandler?.uncaughtException(th, t)
                }
            }
        }

        /** Callbacks of calls made on a CompletionQueue, by ticket, and the queue that holds each. */
        private val queued = ConcurrentHashMap<Long, Pair<CompletionQueue, (Int, String) -> Unit>>()

        /** The one v2 trampoline of queued calls: it runs on the thread that drains the queue. */
        private val queuedDispatcher: WxfsCallbackV2 = object : WxfsCallbackV2 {
            override fun invoke(userdata: Pointer?, code: Int, result: Pointer?) {
                val ticket = Pointer.nativeValue(userdata)
                val entry = queued.remove(ticket) ?: return
                entry.first.tickets.remove(ticket)
                // `*result` is the library's (freed after this returns): copy its json now.
                var text = ""
                if (result != null) {
                    val data = result.getPointer(0)
                    val n = if (Native.SIZE_T_SIZE == 8) result.getLong(Native.POINTER_SIZE.toLong())
                    else result.getInt(Native.POINTER_SIZE.toLong()).toLong() and 0xffffffffL
                    if (data != null && n > 0L) text = String(data.getByteArray(0, n.toInt()), Charsets.UTF_8)
                }
                try {
                    entry.second(code, text)
                } catch (t: Throwable) {
                    // Never unwind into the library (the draining thread's wxfs_queue_drain).
                    val th = Thread.currentThread()
                    th.uncaughtExceptionHandler?.uncaughtException(th, t)
                }
            }
        }

        internal fun forget(ticket: Long) {
            queued.remove(ticket)
        }

        init {
            val abi = WxfsNative.wxfs_abi_version()
            if (abi != WxfsNative.WXFS_ABI_VERSION) {
                throw UnsatisfiedLinkError("libwxfs ABI $abi, this binding needs ${WxfsNative.WXFS_ABI_VERSION}")
            }
        }

        /**
         * Open (or share, if open in this process) the sandbox of (userId, appId) under `root`.
         * The order is the C API's and the disk's: root, user, app (as in removeSandbox); name
         * the arguments (`userId = ..., appId = ...`) where both are plain strings.
         */
        @JvmStatic @JvmOverloads
        fun open(
            root: String,
            userId: String,
            appId: String,
            packageDir: String? = null,
            protocol: Protocol? = null,
            durability: Durability? = null,
            limits: Limits? = null,
            platform: Platform? = null
        ): Sandbox {
            val sb = StringBuilder("{")
            sb.append("\"root\":").append(Json.quote(root))
            sb.append(",\"appId\":").append(Json.quote(appId))
            sb.append(",\"userId\":").append(Json.quote(userId))
            if (packageDir != null) sb.append(",\"packageDir\":").append(Json.quote(packageDir))
            if (protocol != null) sb.append(",\"protocol\":").append(Json.quote(protocol.json))
            if (durability != null) sb.append(",\"durability\":").append(Json.quote(durability.json))
            if (limits != null) sb.append(",\"limits\":").append(limits.toJson())
            if (platform != null) sb.append(",\"platform\":").append(Json.quote(platform.json))
            sb.append('}')
            return openJson(sb.toString())
        }

        /** Open with a ready config JSON (docs/design.md §8). */
        @JvmStatic
        fun openJson(configJson: String): Sandbox {
            val cfg = utf8(configJson)
            val out = LongArray(1)
            check(WxfsNative.wxfs_open(cfg, len(cfg), out))
            return Sandbox(out[0])
        }

        /** Trim the temp areas of all sandboxes under `root` to `tempLimit` bytes (0: default); returns bytes freed. */
        @JvmStatic
        fun gc(root: String, tempLimit: Long = 0): Long {
            val r = utf8(root)
            val freed = LongArray(1)
            check(WxfsNative.wxfs_gc(r, len(r), tempLimit, freed))
            return freed[0]
        }

        /**
         * Delete all files and storage of (userId, appId): true when the sandbox existed and is
         * gone, false when there was none under `root` (mistyped ids, or removed before). Throws
         * WXFS_E_BUSY while it is open.
         */
        @JvmStatic
        fun removeSandbox(root: String, userId: String, appId: String): Boolean {
            val r = utf8(root)
            val u = utf8(userId)
            val a = utf8(appId)
            val removed = ByteArray(1)
            check(WxfsNative.wxfs_remove_sandbox_v2(r, len(r), u, len(u), a, len(a), removed))
            return removed[0].toInt() != 0
        }

        /** `removeSandbox` for another platform's sandbox of (userId, appId) (wxfs_remove_sandbox_config). */
        @JvmStatic
        fun removeSandbox(root: String, userId: String, appId: String, platform: Platform): Boolean {
            val json = "{\"root\":" + Json.quote(root) + ",\"userId\":" + Json.quote(userId) +
                ",\"appId\":" + Json.quote(appId) + ",\"platform\":" + Json.quote(platform.json) + "}"
            val cfg = utf8(json)
            val removed = ByteArray(1)
            check(WxfsNative.wxfs_remove_sandbox_config(cfg, len(cfg), removed))
            return removed[0].toInt() != 0
        }

        /** "MAJOR.MINOR.PATCH" of the loaded library. */
        @JvmStatic
        fun version(): String = WxfsNative.wxfs_version()?.getString(0, "UTF-8") ?: ""

        internal fun utf8(s: String): ByteArray = s.toByteArray(Charsets.UTF_8)
        internal fun len(b: ByteArray?): SizeT = SizeT(b?.size?.toLong() ?: 0L)

        /** Typed calls: a non-zero code throws with this thread's last error message. */
        internal fun check(code: Int) {
            if (code != WxfsNative.WXFS_OK) throw WxfsException(code, WxfsNative.lastErrorMessage())
        }
    }

    private fun h(): Long {
        val v = handle.get()
        if (v == 0L) throw WxfsException(WxfsNative.WXFS_E_HANDLE, "sandbox is closed")
        return v
    }

    /** Release the handle (wxfs_close once); later calls are no-ops. */
    override fun close() {
        val v = handle.getAndSet(0L)
        if (v != 0L) WxfsNative.wxfs_close(v)
    }

    /**
     * The bridge: call mini-program api `api` (e.g. "readFile", "setStorageSync", "host.createTempFile")
     * with its JSON argument object; returns the result JSON (`{"errMsg":"<api>:ok",...}`).
     * Throws WxfsException(code, errMsg of the result) when the code is not 0.
     */
    fun invoke(api: String, argsJson: String = "{}"): String {
        val a = utf8(api)
        val j = utf8(argsJson)
        val out = WxfsBytes.ByReference()
        val code: Int
        val text: String
        try {
            code = WxfsNative.wxfs_invoke(h(), a, len(a), j, len(j), out)
            out.read()
        } finally {
            text = out.takeString()
        }
        if (code != WxfsNative.WXFS_OK) throw WxfsException(code, Json.stringField(text, "errMsg") ?: text)
        return text
    }

    /**
     * The bridge off the caller's thread: `callback(code, resultJson)` is called exactly once, from
     * a library worker thread, once the call is done. Throws (and never calls back) when the call
     * could not be queued.
     */
    fun invokeAsync(api: String, argsJson: String, callback: (code: Int, resultJson: String) -> Unit) {
        val a = utf8(api)
        val j = utf8(argsJson)
        val ticket = tickets.incrementAndGet()
        pending[ticket] = callback
        val code = try {
            WxfsNative.wxfs_invoke_async(h(), a, len(a), j, len(j), dispatcher, Pointer(ticket))
        } catch (t: Throwable) {
            pending.remove(ticket)
            throw t
        }
        if (code != WxfsNative.WXFS_OK) {
            pending.remove(ticket)
            check(code)
        }
    }

    /**
     * The bridge with its result delivered through `queue`: `callback(code, resultJson)` runs
     * exactly once, on the thread that calls `queue.drain()`, unless the queue is closed first.
     * Callbacks of the calls one thread makes run in the order it made them. Throws (and never
     * calls back) when the call could not be queued (WXFS_E_QUEUE_FULL while nobody drains).
     */
    fun invokeAsync(api: String, argsJson: String, queue: CompletionQueue, callback: (code: Int, resultJson: String) -> Unit) {
        val a = utf8(api)
        val j = utf8(argsJson)
        val ticket = tickets.incrementAndGet()
        queued[ticket] = Pair(queue, callback)
        queue.tickets.add(ticket)
        val code = try {
            WxfsNative.wxfs_invoke_async_queued(h(), queue.h(), a, len(a), j, len(j), null, SizeT(0), queuedDispatcher, Pointer(ticket))
        } catch (t: Throwable) {
            queued.remove(ticket)
            queue.tickets.remove(ticket)
            throw t
        }
        if (code != WxfsNative.WXFS_OK) {
            queued.remove(ticket)
            queue.tickets.remove(ticket)
            check(code)
        }
    }

    /** Read a whole file at a readable virtual path. */
    fun readFile(path: String): ByteArray {
        val p = utf8(path)
        val out = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_read_file(h(), p, len(p), out)
        out.read()
        val bytes = out.take()
        check(code)
        return bytes
    }

    /**
     * readFile into memory this call allocates once the size is known (`wxfs_read_file_alloc`):
     * one copy, from the file into the returned array's native buffer.
     */
    fun readFileAlloc(path: String): ByteArray {
        val p = utf8(path)
        var block: Memory? = null
        val alloc = object : WxfsAllocCallback {
            override fun invoke(userdata: Pointer?, len: SizeT): Pointer? {
                val m = Memory(len.toLong())
                block = m
                return m
            }
        }
        val outLen = Memory(Native.SIZE_T_SIZE.toLong())
        outLen.clear()
        check(WxfsNative.wxfs_read_file_alloc(h(), p, len(p), alloc, null, outLen))
        val n = sizeAt(outLen)
        return block?.getByteArray(0, n.toInt()) ?: ByteArray(0)
    }

    /**
     * getStorage into `buf` (`wxfs_storage_get_into`), nothing allocated: the value's JSON length
     * when it fit (its bytes are `buf[0 until n]`), `-(size needed)` when `buf` is too small
     * (nothing written), or null when the key is missing or encrypted (1400001).
     */
    fun storageGetInto(key: String, buf: ByteArray): Long? {
        val k = utf8(key)
        val outLen = Memory(Native.SIZE_T_SIZE.toLong())
        outLen.clear()
        val code = WxfsNative.wxfs_storage_get_into(h(), k, len(k), buf, len(buf), outLen)
        return when (code) {
            WxfsNative.WXFS_OK -> sizeAt(outLen)
            WxfsNative.WXFS_E_BUFFER_TOO_SMALL -> -sizeAt(outLen)
            STORAGE_NOT_FOUND -> null
            else -> { check(code); null }
        }
    }

    private fun sizeAt(m: Memory): Long = if (Native.SIZE_T_SIZE == 8) m.getLong(0) else m.getInt(0).toLong() and 0xffffffffL

    /** Write raw bytes to a user file (`wxfile://usr/...`), atomically replacing it. */
    fun writeFile(path: String, data: ByteArray) {
        val p = utf8(path)
        check(WxfsNative.wxfs_write_file(h(), p, len(p), data, len(data)))
    }

    /** saveFile: move a temp file to the saved area (filePath null) or to a user path; returns the new path. */
    fun saveFile(tempPath: String, filePath: String? = null): String {
        val t = utf8(tempPath)
        val f = filePath?.let { utf8(it) }
        val out = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_save_file(h(), t, len(t), f, len(f), out)
        out.read()
        val saved = out.takeString()
        check(code)
        return saved
    }

    /** Create a temp file from bytes, as a download would; `ext` without the dot ("png"). Returns its path. */
    fun createTemp(data: ByteArray, ext: String? = null): String {
        val e = ext?.let { utf8(it) }
        val out = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_temp_create(h(), data, len(data), e, len(e), out)
        out.read()
        val path = out.takeString()
        check(code)
        return path
    }

    /** The OS path behind a readable virtual path (for an image view or a player). */
    fun realPath(path: String): String {
        val p = utf8(path)
        val out = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_real_path(h(), p, len(p), out)
        out.read()
        val real = out.takeString()
        check(code)
        return real
    }

    /** The bytes behind a `wxblob://` URL that createBufferURL made in this sandbox (a media component's source). */
    fun resolveBufferUrl(url: String): ByteArray {
        val u = utf8(url)
        val out = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_buffer_url_resolve(h(), u, len(u), out)
        out.read()
        val bytes = out.take()
        check(code)
        return bytes
    }

    /** setStorage of a value given as JSON text, with an optional dataType kept beside it. */
    fun storageSet(key: String, json: String, dataType: String? = null) {
        val k = utf8(key)
        val j = utf8(json)
        val d = dataType?.let { utf8(it) }
        check(WxfsNative.wxfs_storage_set(h(), k, len(k), j, len(j), d, len(d)))
    }

    /** getStorage: (value JSON, dataType or null), or null when the key is missing (1400001). */
    fun storageGet(key: String): Pair<String, String?>? {
        val k = utf8(key)
        val json = WxfsBytes.ByReference()
        val type = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_storage_get(h(), k, len(k), json, type)
        json.read()
        type.read()
        val hasType = type.data != null
        val j = json.takeString()
        val t = type.takeString()
        if (code == STORAGE_NOT_FOUND) return null
        check(code)
        return Pair(j, if (hasType) t else null)
    }

    /**
     * getStorage for a caller that keeps what it read (`wxfs_storage_get_stamped`): `stamp` names
     * the value held (a fresh [WxfsStorageStamp] for none) and is updated to the value read.
     * Returns the JSON and dataType as [storageGet] does; [STORAGE_UNCHANGED] (compare with
     * `===`) when the key still holds the value `stamp` names; null when the key is missing.
     */
    fun storageGetStamped(key: String, stamp: WxfsStorageStamp.ByReference): Pair<String, String?>? {
        val k = utf8(key)
        val json = WxfsBytes.ByReference()
        val type = WxfsBytes.ByReference()
        val code = WxfsNative.wxfs_storage_get_stamped(h(), k, len(k), stamp, json, type)
        stamp.read()
        json.read()
        type.read()
        val unchanged = code == WxfsNative.WXFS_OK && json.data == null
        val hasType = type.data != null
        val j = json.takeString()
        val t = type.takeString()
        if (code == STORAGE_NOT_FOUND) return null
        check(code)
        return if (unchanged) STORAGE_UNCHANGED else Pair(j, if (hasType) t else null)
    }

    /** removeStorage; a missing key is not an error. */
    fun storageRemove(key: String) {
        val k = utf8(key)
        check(WxfsNative.wxfs_storage_remove(h(), k, len(k)))
    }

    /** clearStorage. */
    fun storageClear() {
        check(WxfsNative.wxfs_storage_clear(h()))
    }

    /** getStorageInfo in bytes. */
    fun storageInfo(): StorageInfo {
        val cur = LongArray(1)
        val lim = LongArray(1)
        val keys = LongArray(1)
        check(WxfsNative.wxfs_storage_info(h(), cur, lim, keys))
        return StorageInfo(cur[0], lim[0], keys[0])
    }
}

/** getStorage's "data not found". */
private const val STORAGE_NOT_FOUND = 1400001

/** [Sandbox.storageGetStamped]'s answer when the key still holds the value its stamp names. */
val STORAGE_UNCHANGED: Pair<String, String?> = Pair("", null)
