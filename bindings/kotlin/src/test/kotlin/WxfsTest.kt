// End-to-end check of the Kotlin binding against the built libwxfs (run by run-tests.sh).
// A plain `main` (no test framework is available to Debian's kotlinc): prints one line per
// check, "N passed, M failed" at the end, and exits non-zero on any failure.

import com.sun.jna.Pointer
import com.sun.jna.Memory
import com.sun.jna.NativeLong
import wxfs.CompletionQueue
import wxfs.Durability
import wxfs.Json
import wxfs.Limits
import wxfs.LogLevel
import wxfs.Platform
import wxfs.Sandbox
import wxfs.SizeT
import wxfs.WxfsBytes
import wxfs.WxfsException
import wxfs.WxfsLog
import wxfs.WxfsLogCallback
import wxfs.WxfsNative
import wxfs.WxfsResult
import wxfs.WxfsStorageStamp
import wxfs.STORAGE_UNCHANGED
import java.io.File
import java.nio.file.Files
import java.util.Arrays
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference

private var passed = 0
private var failed = 0

private fun check(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    }
}

private fun expect(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

private inline fun expectThrows(body: () -> Unit): WxfsException {
    try {
        body()
    } catch (e: WxfsException) {
        return e
    }
    throw AssertionError("expected a WxfsException")
}

private fun deleteTree(f: File) {
    f.listFiles()?.forEach { deleteTree(it) }
    f.delete()
}

fun main() {
    val root = Files.createTempDirectory("wxfs-kotlin-").toFile()
    val rootPath = root.absolutePath
    val appId = "wx0123456789abcdef"
    val userId = "user-1"
    try {
        run(rootPath, appId, userId)
    } finally {
        deleteTree(root)
    }
    println("$passed passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}

private fun run(root: String, appId: String, userId: String) {
    check("library version and ABI") {
        expect(Sandbox.version().matches(Regex("\\d+\\.\\d+\\.\\d+"))) { "version ${Sandbox.version()}" }
        expect(WxfsNative.wxfs_abi_version() == WxfsNative.WXFS_ABI_VERSION) { "abi" }
        val parts = Sandbox.version().split('.').map { it.toInt() }
        expect(WxfsNative.wxfs_version_number() == parts[0] * 1000000 + parts[1] * 1000 + parts[2]) { "version number" }
    }

    check("every function of wxfs.h is mapped, and nothing else") {
        val header = System.getProperty("wxfs.header") ?: throw AssertionError("-Dwxfs.header not set")
        val text = File(header).readText()
            .replace(Regex("/\\*.*?\\*/", RegexOption.DOT_MATCHES_ALL), "")
            .replace(Regex("//[^\n]*"), "")
        val declared = Regex("\\b(wxfs_[a-z0-9_]+)\\s*\\(").findAll(text).map { it.groupValues[1] }.toSortedSet()
        val mapped = WxfsNative::class.java.declaredMethods
            .filter { java.lang.reflect.Modifier.isNative(it.modifiers) }.map { it.name }.toSortedSet()
        expect(declared.isNotEmpty() && declared == mapped) { "header $declared, mapped $mapped" }
    }

    check("wxfs_api_list and wxfs_invoke_v2 through the mapping") {
        val list = WxfsBytes.ByReference()
        expect(WxfsNative.wxfs_api_list(0L, list) == 0) { "wxfs_api_list" }
        val names = list.takeString()
        expect(names.startsWith("[") && names.contains("\"readFileSync\"")) { names }
        val r = WxfsResult.ByReference()
        val api = "getStorageInfoSync".toByteArray()
        expect(WxfsNative.wxfs_invoke_v2(1L shl 40, api, SizeT(api.size.toLong()), null, SizeT(0), null, SizeT(0), r) == WxfsNative.WXFS_E_HANDLE) { "bad handle" }
        val text = r.json.bytes()
        val v = WxfsResult.ByValue()
        v.json.data = r.json.data
        v.json.len = r.json.len
        v.buffers = r.buffers
        v.buffersLen = r.buffersLen
        WxfsNative.wxfs_result_free(v)
        expect(String(text, Charsets.UTF_8) == "{\"errMsg\":\"getStorageInfoSync:fail invalid sandbox handle\",\"errCode\":-2}") { String(text) }
    }

    check("config JSON escaping") {
        val q = Json.quote("a\"b\\c\n\u0001é")
        expect(q == "\"a\\\"b\\\\c\\n\\u0001é\"") { q }
        expect(Json.stringField("{\"x\":[1,{\"errMsg\":\"no\"}],\"errMsg\":\"a\\\"b\\u00e9\"}", "errMsg") == "a\"bé") { "stringField" }
        expect(Limits(storageTotal = 5L, openFiles = 3L).let { true }) { "limits" }
        // Every limit's JSON name is one the library knows: an unknown field would be refused.
        Sandbox.open(root, userId, "wxlimits", limits = Limits(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L)).close()
        expect(Sandbox.removeSandbox(root, userId, "wxlimits")) { "removed" }
    }

    check("platform: an Alipay sandbox speaks https:// paths, apart from WeChat's") {
        Sandbox.open(root, userId = userId, appId = "wxplatform", platform = Platform.ALIPAY).use { sb ->
            val temp = sb.createTemp(ByteArray(3), "png")
            expect(temp.startsWith("https://resource/apml") && temp.endsWith(".png")) { "temp path $temp" }
        }
        expect(!Sandbox.removeSandbox(root, userId, "wxplatform")) { "no WeChat sandbox of that appId was made" }
        expect(Sandbox.removeSandbox(root, userId, "wxplatform", Platform.ALIPAY)) { "the Alipay one removed" }
        expect(!Sandbox.removeSandbox(root, userId, "wxplatform", Platform.ALIPAY)) { "and gone" }
    }

    // The image-cache scenario: a download lands in temp, is saved, and its path cached in storage.
    val image = ByteArray(1536 * 1024) { i -> (i * 31 + (i shr 11)).toByte() }
    val savedPath = AtomicReference<String>()
    check("image cache: createTemp -> saveFile -> storageSet -> close") {
        val sb = Sandbox.open(root, userId = userId, appId = appId, durability = Durability.POWER, limits = Limits(storageTotal = 10L * 1024 * 1024))
        try {
            val temp = sb.createTemp(image, "png")
            expect(temp.endsWith(".png")) { "temp path $temp" }
            val saved = sb.saveFile(temp)
            expect(saved != temp && saved.endsWith(".png")) { "saved path $saved" }
            sb.storageSet("image_cache", Json.quote(saved))
            savedPath.set(saved)
            // the temp file is gone (moved)
            val e = expectThrows { sb.readFile(temp) }
            expect(e.code == 1300002) { "temp after save: $e" }
        } finally {
            sb.close()
        }
        sb.close() // idempotent
        expect(sb.isClosed) { "closed" }
    }

    check("image cache: reopen -> storageGet -> readFile equal") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val got = sb.storageGet("image_cache") ?: throw AssertionError("image_cache missing after reopen")
            expect(got.first == Json.quote(savedPath.get())) { "stored ${got.first}" }
            expect(got.second == null) { "dataType ${got.second}" }
            val path = Json.stringField("{\"p\":${got.first}}", "p")!!
            val bytes = sb.readFile(path)
            expect(Arrays.equals(bytes, image)) { "read ${bytes.size} bytes, differ" }
            val real = File(sb.realPath(path))
            expect(real.isFile && real.length() == image.size.toLong()) { "realPath $real" }
        }
    }

    check("storage: dataType, info, remove, clear, missing -> null") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            sb.storageSet("when", "\"2024-01-01T00:00:00.000Z\"", "Date")
            val got = sb.storageGet("when")
            expect(got == Pair("\"2024-01-01T00:00:00.000Z\"", "Date")) { "got $got" }
            val info = sb.storageInfo()
            expect(info.keyCount == 2L && info.currentBytes > 0 && info.limitBytes >= info.currentBytes) { "$info" }
            sb.storageRemove("when")
            sb.storageRemove("when")
            expect(sb.storageGet("when") == null) { "removed" }
            expect(sb.storageGet("never-set") == null) { "missing" }
            val e = expectThrows { sb.storageSet("", "1") }
            expect(e.code == 1400004) { "$e" }
            val j = expectThrows { sb.storageSet("k", "{not json") }
            expect(j.code == WxfsNative.WXFS_E_JSON && j.errMsg.isNotEmpty()) { "$j" }
            sb.storageClear()
            expect(sb.storageInfo().keyCount == 0L) { "cleared" }
        }
    }

    check("writeFile / readFile of a user file, unicode path") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val data = "héllo \u4e16\u754c".toByteArray(Charsets.UTF_8)
            sb.writeFile("wxfile://usr/文件.txt", data)
            expect(Arrays.equals(sb.readFile("wxfile://usr/文件.txt"), data)) { "roundtrip" }
            sb.writeFile("wxfile://usr/empty.bin", ByteArray(0))
            expect(sb.readFile("wxfile://usr/empty.bin").isEmpty()) { "empty" }
        }
    }

    check("readFileAlloc and storageGetInto: the bytes, the size needed, missing") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val data = ByteArray(70_000) { (it * 31 % 251).toByte() }
            sb.writeFile("wxfile://usr/alloc.bin", data)
            expect(Arrays.equals(sb.readFileAlloc("wxfile://usr/alloc.bin"), data)) { "readFileAlloc bytes" }
            sb.writeFile("wxfile://usr/alloc-empty.bin", ByteArray(0))
            expect(sb.readFileAlloc("wxfile://usr/alloc-empty.bin").isEmpty()) { "readFileAlloc of an empty file" }
            sb.storageSet("into", "\"h\u00e9llo\"")
            val want = "\"h\u00e9llo\"".toByteArray(Charsets.UTF_8)
            val small = ByteArray(3) { 7 }
            expect(sb.storageGetInto("into", small) == -want.size.toLong()) { "the size needed" }
            expect(small.all { it == 7.toByte() }) { "nothing written to a small buffer" }
            val buf = ByteArray(64) { 7 }
            val n = sb.storageGetInto("into", buf)
            expect(n == want.size.toLong() && Arrays.equals(buf.copyOf(want.size), want)) { "get_into bytes: $n" }
            expect(buf[want.size] == 7.toByte()) { "nothing written past the value" }
            expect(sb.storageGetInto("never-set", buf) == null) { "missing -> null" }
            val stamp = WxfsStorageStamp.ByReference()
            expect(sb.storageGetStamped("into", stamp) == Pair("\"h\u00e9llo\"", null)) { "stamped: the value" }
            expect(sb.storageGetStamped("into", stamp) === STORAGE_UNCHANGED) { "stamped: unchanged" }
            sb.storageSet("into", "2", "Number")
            expect(sb.storageGetStamped("into", stamp) == Pair("2", "Number")) { "stamped: the new value" }
            expect(sb.storageGetStamped("never-set", stamp) == null) { "stamped: missing -> null" }
            sb.storageRemove("into")
        }
    }

    check("bridge: readFile missing -> 1300002 with the WeChat errMsg") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val e = expectThrows { sb.invoke("readFile", "{\"filePath\":\"wxfile://usr/missing.txt\"}") }
            expect(e.code == 1300002) { "code ${e.code}" }
            expect(e.errMsg.startsWith("readFile:fail no such file or directory")) { "errMsg ${e.errMsg}" }
            val ok = sb.invoke("writeFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"data\":\"abc\",\"encoding\":\"utf8\"}")
            expect(Json.stringField(ok, "errMsg") == "writeFileSync:ok") { ok }
            val r = sb.invoke("readFileSync", "{\"filePath\":\"wxfile://usr/a.txt\",\"encoding\":\"utf8\"}")
            expect(Json.stringField(r, "data") == "abc") { r }
            val u = expectThrows { sb.invoke("noSuchApi", "{}") }
            expect(u.code == WxfsNative.WXFS_E_UNKNOWN_API && u.errMsg.isNotEmpty()) { "$u" }
        }
    }

    check("buffer URL: createBufferURL through the bridge, resolveBufferUrl gives its bytes") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val r = sb.invoke("createBufferURL", "{\"__nativeBuffers__\":[{\"key\":\"data\",\"base64\":\"AQID\"}]}")
            val url = Json.stringField(r, "url") ?: ""
            expect(url.startsWith("wxblob://")) { r }
            expect(sb.resolveBufferUrl(url).contentEquals(byteArrayOf(1, 2, 3))) { "bytes" }
            sb.invoke("revokeBufferURL", "{\"url\":\"$url\"}")
            val e = expectThrows { sb.resolveBufferUrl(url) }
            expect(e.code == 1300002) { "code ${e.code}" }
        }
    }

    check("typed readFile of a missing file -> 1300002 with the last error message") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val e = expectThrows { sb.readFile("wxfile://usr/missing.txt") }
            expect(e.code == 1300002) { "code ${e.code}" }
            expect(e.errMsg.isNotEmpty()) { "empty message" }
        }
    }

    check("closed handle -> negative code; use after close throws") {
        val sb = Sandbox.open(root, userId = userId, appId = appId)
        val raw = sb.rawHandle
        sb.close()
        expect(WxfsNative.wxfs_close(raw) == WxfsNative.WXFS_E_HANDLE) { "second raw close" }
        val out = WxfsBytes.ByReference()
        val api = "readFile".toByteArray()
        val code = WxfsNative.wxfs_invoke(raw, api, wxfs.SizeT(api.size.toLong()), null, wxfs.SizeT(0), out)
        out.read()
        val text = out.takeString()
        expect(code < 0 && code == WxfsNative.WXFS_E_HANDLE) { "invoke on closed handle: $code" }
        expect(Json.stringField(text, "errMsg") != null) { "result $text" }
        val e1 = expectThrows { sb.readFile("wxfile://usr/a.txt") }
        expect(e1.code == WxfsNative.WXFS_E_HANDLE) { "$e1" }
        val e2 = expectThrows { sb.invoke("getStorageInfoSync", "{}") }
        expect(e2.code < 0) { "$e2" }
        val e3 = expectThrows { sb.invokeAsync("getStorageInfo", "{}") { _, _ -> } }
        expect(e3.code < 0) { "$e3" }
    }

    check("invokeAsync: callbacks arrive once each, in order") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val n = 20
            val latch = CountDownLatch(n + 1)
            val order = java.util.Collections.synchronizedList(ArrayList<Int>())
            val failures = AtomicInteger()
            for (i in 0 until n) {
                sb.invokeAsync("setStorage", "{\"key\":\"k$i\",\"data\":$i}") { code, json ->
                    if (code != 0 || Json.stringField(json, "errMsg") != "setStorage:ok") failures.incrementAndGet()
                    order.add(i)
                    latch.countDown()
                }
            }
            val last = AtomicReference<String>()
            val lastCode = AtomicInteger(-100)
            sb.invokeAsync("readFile", "{\"filePath\":\"wxfile://usr/missing.txt\"}") { code, json ->
                lastCode.set(code)
                last.set(json)
                latch.countDown()
            }
            expect(latch.await(30, TimeUnit.SECONDS)) { "callbacks did not all arrive: ${latch.count} missing" }
            expect(failures.get() == 0) { "${failures.get()} setStorage failures" }
            expect(order == (0 until n).toList()) { "order $order" }
            expect(lastCode.get() == 1300002) { "async readFile code ${lastCode.get()}" }
            expect(Json.stringField(last.get(), "errMsg")!!.startsWith("readFile:fail no such file or directory")) { last.get() }
            expect(sb.storageInfo().keyCount == n.toLong()) { "keys" }
        }
    }

    check("wxfs_status_str names every status code") {
        fun str(code: Int) = WxfsNative.wxfs_status_str(code)!!.getString(0, "UTF-8")
        expect(str(WxfsNative.WXFS_OK) == "ok") { str(0) }
        expect(str(WxfsNative.WXFS_E_QUEUE_FULL) == "too many async calls are pending, by count or by bytes held; nothing was queued") { str(-11) }
        expect(str(WxfsNative.WXFS_E_FORKED) == "the handle belongs to the process that opened it (this is a forked child); nothing was done") { str(-13) }
        expect(str(1300002) == "the api failed: the result's errMsg says why (the code is the platform's errCode)") { str(1300002) }
        expect(str(WxfsNative.WXFS_E_IMPORT_REFUSED) == "the store to import was refused (damaged, encrypted without its key, missing); nothing changed") { str(-14) }
        expect(str(-15) == "unknown status code") { str(-15) }
    }

    check("completion queue: callbacks on the draining thread, once each, in order; fd readable exactly while they wait") {
        // poll(2) through JNA's dynamic Function (no registered native: survives minification).
        val pollFn = com.sun.jna.Function.getFunction("c", "poll")
        fun readable(fd: Int, timeoutMs: Int): Boolean {
            val pfd = Memory(8)
            pfd.setInt(0, fd)
            pfd.setShort(4, 1) // POLLIN
            pfd.setShort(6, 0)
            val r = pollFn.invokeInt(arrayOf(pfd, NativeLong(1), timeoutMs))
            expect(r >= 0) { "poll failed" }
            return r == 1 && (pfd.getShort(6).toInt() and 1) != 0
        }
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            CompletionQueue().use { q ->
                expect(!readable(q.fd, 0)) { "fd readable with nothing queued" }
                val n = 200
                val order = ArrayList<Int>()
                val threads = HashSet<Thread>()
                var bad = 0
                var inner: String? = null
                for (i in 0 until n) {
                    sb.invokeAsync("setStorage", "{\"key\":\"q$i\",\"data\":$i}", q) { code, json ->
                        if (code != 0 || Json.stringField(json, "errMsg") != "setStorage:ok") bad++
                        order.add(i)
                        threads.add(Thread.currentThread())
                        // A sync call from inside a drained callback.
                        if (i == 0) inner = sb.storageGet("q0")?.first
                    }
                }
                var ran = 0L
                while (ran < n) {
                    expect(readable(q.fd, 30000)) { "fd not readable with ${n - ran} completions outstanding" }
                    ran += q.drain()
                }
                expect(ran == n.toLong()) { "ran $ran" }
                expect(!readable(q.fd, 0)) { "fd readable after every completion was drained" }
                expect(bad == 0) { "$bad failed setStorage" }
                expect(inner == "0") { "getStorage from inside the first callback: $inner" }
                expect(order == (0 until n).toList()) { "order $order" }
                expect(threads == setOf(Thread.currentThread())) { "callbacks ran on $threads" }
                expect(q.drain() == 0L) { "a second drain ran callbacks again" }
            }
        }
    }

    check("completion queue: closed with completions pending, their callbacks never run; a closed queue refuses calls") {
        Sandbox.open(root, userId = userId, appId = appId).use { sb ->
            val q = CompletionQueue()
            var called = 0
            for (i in 0 until 50) sb.invokeAsync("getStorageInfo", "{}", q) { _, _ -> called++ }
            q.close()
            // A sync call on the same sandbox queues behind the async ones: they have all run.
            sb.invoke("getStorageInfoSync")
            expect(called == 0) { "$called callbacks ran after close" }
            val e = expectThrows { q.drain() }
            expect(e.code == WxfsNative.WXFS_E_HANDLE) { "$e" }
            val e2 = expectThrows { sb.invokeAsync("getStorageInfo", "{}", q) { _, _ -> called++ } }
            expect(e2.code == WxfsNative.WXFS_E_HANDLE) { "$e2" }
            q.close()
        }
    }

    check("log handler: a torn storage tail cut at open is reported with its sandbox") {
        val app = "wxlogtest"
        Sandbox.open(root, userId, app).use { it.storageSet("logged", "1") }
        val kv = File(root, "$userId/$app/kv")
        // Garbage where the next record would start: after the log's last non-zero byte (a zero
        // tail follows the log), never inside its 8-byte header.
        val log = File(kv, "data.log")
        val bytes = log.readBytes()
        val end = maxOf(bytes.indexOfLast { it != 0.toByte() } + 1, 8)
        java.io.RandomAccessFile(log, "rw").use { it.seek(end.toLong()); it.write(ByteArray(6) { 7 }) }
        val events = java.util.Collections.synchronizedList(ArrayList<Triple<LogLevel, String, String>>())
        WxfsLog.setHandler(LogLevel.WARN) { level, sandbox, message -> events.add(Triple(level, sandbox, message)) }
        try {
            Sandbox.open(root, userId, app).use { expect(it.storageGet("logged") != null) { "value lost" } }
        } finally {
            WxfsLog.setHandler(LogLevel.WARN, null)
        }
        val want = Triple(LogLevel.WARN, "$userId/$app", "$userId/$app/kv: storage log: 6 bytes after the last whole record cut (1 records kept)")
        expect(events.toList() == listOf(want)) { "events $events" }
        val noop = object : WxfsLogCallback {
            override fun invoke(userdata: Pointer?, level: Int, sandbox: Pointer?, sandboxLen: SizeT, message: Pointer?, messageLen: SizeT) {}
        }
        expect(WxfsNative.wxfs_log_set(noop, null, 9) == WxfsNative.WXFS_E_CONFIG) { "level 9 accepted" }
        Sandbox.removeSandbox(root, userId, app)
    }

    check("lifecycle: one argument order; removeSandbox busy while open, then gone, then says none; gc") {
        val sb = Sandbox.open(root, userId, appId)
        val busy = expectThrows { Sandbox.removeSandbox(root, userId, appId) }
        expect(busy.code == WxfsNative.WXFS_E_BUSY) { "$busy" }
        sb.close()
        Sandbox.gc(root)
        // Swapped ids name no sandbox: nothing is removed, and the call says so.
        expect(!Sandbox.removeSandbox(root, appId, userId)) { "a swapped removeSandbox claimed to remove something" }
        expect(Sandbox.removeSandbox(root, userId, appId)) { "removeSandbox of an existing sandbox returned false" }
        expect(!Sandbox.removeSandbox(root, userId, appId)) { "a second removeSandbox returned true" }
        Sandbox.open(root, userId, appId).use { again ->
            expect(again.storageGet("image_cache") == null) { "storage survived removeSandbox" }
        }
    }

    check("bad config -> WXFS_E_CONFIG with a message") {
        val e = expectThrows { Sandbox.openJson("{\"root\":1}") }
        expect(e.code == WxfsNative.WXFS_E_CONFIG && e.errMsg.isNotEmpty()) { "$e" }
    }
}
