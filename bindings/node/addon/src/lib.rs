//! The Node-API addon behind `bindings/node`: it opens libwxfs at run time, as any host would, and
//! exposes its C ABI to JavaScript with ArrayBuffers crossing as bytes (`wxfs_invoke_v2`).
//!
//! Why an addon rather than an FFI package: an async result must reach the JS thread without the
//! library's worker waiting for that thread. FFI packages (koffi) run a foreign thread's callback
//! by queueing it on the JS thread and blocking the foreign thread until it has run; then a sync
//! call that waits for earlier async calls (docs/design.md §7), or four callbacks pending while the JS
//! thread is busy, stall the worker pool. Here the worker posts the result to a Node-API
//! thread-safe function in non-blocking mode and returns at once. The same function is referenced
//! while calls are pending, so Node does not exit with one in flight, and unreferenced otherwise.
//!
//! JavaScript surface (used by `bindings/node/index.js` only):
//! - `load(path) -> version`; `open(configJson) -> handle`; `close(handle) -> code`;
//! - `apiList(handle) -> json`; `lastError() -> string`;
//! - `invoke(handle, api, argsJson, buffers?) -> json | [json, ...ArrayBuffer]`;
//! - `storageSet(handle, key, json, dataType?) -> code`, `storageGet(handle, key) -> json | [json, dataType] | code`;
//! - `readFile(handle, path) -> ArrayBuffer | code`;
//! - `setDispatcher(fn(ids, jsons, buffers?))` (`ids` a Float64Array, `jsons` an array or one text shared by all), then `invokeAsync(handle, api, argsJson, buffers?, id) -> code`:
//!   the dispatcher gets every result waiting at once (see `Waiting`), in the order they came.

// `unsafe` is allowed by name in two modules only: `napi` (Node-API) and `wxfs` (libwxfs's C ABI),
// each block argued with a `// SAFETY:` comment from the invariants those modules state. The
// exports below are safe Rust.
#![deny(unsafe_code, unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[allow(unsafe_code)]
mod napi;
#[allow(unsafe_code)]
mod wxfs;

use napi::{Args, Buffer, Deliver, Env, Export, Js, Poster, Tsfn, Utf8, Value};
use wxfs::{Lib, Owned};

use std::sync::{Arc, Mutex};

fn loaded(env: &Env) -> Js<&'static Lib> {
    wxfs::lib().ok_or_else(|| env.throw("wxfs addon: load(path) was not called"))
}

fn handle<'s>(env: &Env<'s>, v: Value<'s>) -> Js<u64> {
    let d = env.number(v, "handle")?;
    Ok(if d >= 0.0 && d.fract() == 0.0 && d < 9_007_199_254_740_992.0 { d as u64 } else { 0 })
}

/// An argument object: a string's bytes (read into `out`), or `{}` for anything else.
fn args_json<'s, 'b>(env: &Env<'s>, v: Value<'s>, out: &'b mut Utf8) -> Js<&'b [u8]> {
    if env.is_string(v) {
        env.string_in(v, out)
    } else {
        Ok(b"{}")
    }
}

/// The bytes of each argument buffer, read by `Env::buffers`.
fn views<'e, 's>(env: &'e Env<'s>, buffers: &[Buffer<'s>]) -> Js<Vec<&'e [u8]>> {
    buffers.iter().map(|&b| env.bytes(b)).collect()
}

/// The JS value of a result: the JSON text alone, or `[json, ...ArrayBuffers]`. Each buffer is
/// copied into memory V8 owns and released at once (see `Env::array_buffer_copy`).
fn result_value<'s>(env: &mut Env<'s>, json: Owned, buffers: Vec<Owned>) -> Js<Value<'s>> {
    let s = env.make_string(json.as_bytes());
    drop(json);
    let s = s?;
    if buffers.is_empty() {
        return Ok(s);
    }
    let arr = env.array(buffers.len() + 1)?;
    env.set_element(arr, 0, s);
    for (i, b) in (1u32..).zip(buffers) {
        let ab = env.array_buffer_copy(b.as_bytes());
        drop(b);
        env.set_element(arr, i, ab?);
    }
    Ok(arr)
}

// ---- exports -------------------------------------------------------------------------------------

fn js_load<'s>(env: &mut Env<'s>, [p, ..]: Args<'s>) -> Js<Value<'s>> {
    let path = String::from_utf8_lossy(&env.string(p)?).into_owned();
    let l = wxfs::load(&path).map_err(|e| env.throw(&e))?;
    env.make_string(l.version().as_bytes())
}

fn js_open<'s>(env: &mut Env<'s>, [c, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let config = env.string(c)?;
    match l.open(&config) {
        Ok(h) => env.make_number(h as f64),
        Err(rc) => Err(env.throw_coded(&rc.to_string(), &format!("wxfs.open failed ({rc}): {}", l.last_error()))),
    }
}

fn js_close<'s>(env: &mut Env<'s>, [h, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let rc = l.close(handle(env, h)?);
    env.make_number(rc as f64)
}

fn js_api_list<'s>(env: &mut Env<'s>, [h, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let h = if env.is_number(h) { handle(env, h)? } else { 0 };
    match l.api_list(h) {
        Ok(out) => result_value(env, out, Vec::new()),
        Err(rc) => Err(env.throw(&format!("wxfs_api_list failed ({rc}): {}", l.last_error()))),
    }
}

fn js_last_error<'s>(env: &mut Env<'s>, _: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    env.make_string(l.last_error().as_bytes())
}

fn js_invoke<'s>(env: &mut Env<'s>, [h, api, a, b, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let h = handle(env, h)?;
    let (mut api_text, mut args_text) = (Utf8::new(), Utf8::new());
    let api = env.string_in(api, &mut api_text)?;
    let a = args_json(env, a, &mut args_text)?;
    let listed = env.buffers(b)?;
    // No JavaScript runs while the views are borrowed (see `Env::bytes`).
    let bufs = views(env, &listed)?;
    let (json, buffers) = l.invoke(h, api, a, &bufs);
    result_value(env, json, buffers)
}

/// `storageSet(handle, key, json, dataType?)`: the typed `wxfs_storage_set`, for the hottest call a
/// mini-program makes (no argument object to build or parse, no result text). Returns its code;
/// the caller asks the bridge for the errMsg of a failure.
fn js_storage_set<'s>(env: &mut Env<'s>, [h, key, json, data_type, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let h = handle(env, h)?;
    let (mut k, mut j, mut t) = (Utf8::new(), Utf8::new(), Utf8::new());
    let key = env.string_in(key, &mut k)?;
    let json = env.string_in(json, &mut j)?;
    let data_type = if env.is_string(data_type) { Some(env.string_in(data_type, &mut t)?) } else { None };
    let rc = l.storage_set(h, key, json, data_type);
    env.make_number(rc as f64)
}

/// `storageGet(handle, key)`: the typed `wxfs_storage_get`. Returns the value's JSON text, or
/// `[json, dataType]` when it has a dataType, or the code of a failure (the caller asks the bridge
/// for what a failure means in its platform's words).
fn js_storage_get<'s>(env: &mut Env<'s>, [h, key, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let h = handle(env, h)?;
    let mut k = Utf8::new();
    let key = env.string_in(key, &mut k)?;
    let (json, data_type) = match l.storage_get(h, key) {
        Ok(got) => got,
        Err(rc) => return env.make_number(rc as f64),
    };
    let text = env.make_string(json.as_bytes())?;
    let Some(data_type) = data_type else { return Ok(text) };
    let t = env.make_string(data_type.as_bytes())?;
    let arr = env.array(2)?;
    env.set_element(arr, 0, text);
    env.set_element(arr, 1, t);
    Ok(arr)
}

/// `readFile(handle, path)`: the whole file as an ArrayBuffer, read by the library straight into
/// memory V8 owns (`wxfs_read_file_alloc`), or the code of a failure (the caller asks the bridge
/// what it means in its platform's words). A 20 MiB read went through two copies and two fresh
/// allocations before (1.3-1.4 times `fs.readFileSync`).
fn js_read_file<'s>(env: &mut Env<'s>, [h, p, ..]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let h = handle(env, h)?;
    let mut path_text = Utf8::new();
    let path = env.string_in(p, &mut path_text)?;
    let mut made: Option<(Value<'s>, usize)> = None;
    let mut thrown = false;
    let got = l.read_file_alloc(h, path, &mut |len| match env.array_buffer_uninit(len) {
        Ok((v, data)) => {
            made = Some((v, len));
            data
        }
        Err(_) => {
            thrown = true;
            std::ptr::null_mut()
        }
    });
    if thrown {
        return Err(napi::Thrown);
    }
    match (got, made) {
        (Err(rc), _) => env.make_number(rc as f64),
        (Ok(0), None) => env.array_buffer_copy(&[]),
        (Ok(n), Some((v, len))) if n == len => Ok(v),
        // The file shrank between its size and its read: the bytes read, in a buffer their size.
        (Ok(n), Some((v, _))) => env.array_buffer_head(v, n),
        (Ok(_), None) => Err(env.throw("wxfs addon: wxfs_read_file_alloc read without allocating")),
    }
}

/// Per Node environment (main thread or worker_threads): the dispatcher, the results waiting
/// for it and the pending count. The same thread-safe function is referenced while calls are
/// pending, so Node does not exit with one in flight, and unreferenced otherwise.
struct Instance {
    tsfn: Tsfn,
    poster: Poster<Wake>,
    waiting: Arc<Waiting>,
    pending: usize,
}

/// A result on its way to the JS thread.
struct Done {
    id: f64,
    json: Owned,
    buffers: Vec<Owned>,
}

/// Results the library's workers have handed over and the JS thread has not yet taken, in the
/// order they came. A worker wakes the JS thread (posts a [`Wake`] to the thread-safe function)
/// only when it finds the list empty, and the JS thread takes the whole list in one call into
/// JavaScript: a burst of completions costs one wake and one call, not one of each per
/// completion (10,000 async setStorage calls took 9-11 times the Sync calls).
#[derive(Default)]
struct Waiting {
    done: Mutex<Vec<Done>>,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Done>> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// On a worker: queue `done` behind the results waiting, and wake the JS thread if none were.
    fn push(&self, done: Done, poster: &Poster<Wake>) {
        let first = {
            let mut list = self.lock();
            list.push(done);
            list.len() == 1
        };
        if first {
            poster.post(Wake);
        }
    }
}

/// "Results are waiting": posted by the worker that found [`Waiting`] empty.
struct Wake;

impl Deliver for Wake {
    /// Runs on the JS thread, outside any call into the library: hands every waiting result to
    /// the dispatcher at once, as `(ids, jsons, buffers)`: `ids` a Float64Array; `jsons` the
    /// texts, or one text when all are the same; `buffers` undefined when no result has any, else
    /// `buffers[i]` the ArrayBuffers of result i (a hole when it has none).
    fn deliver<'s>(self, env: &mut Env<'s>, callback: Value<'s>) {
        let Some(inst) = env.instance::<Instance>() else { return };
        let batch = std::mem::take(&mut *inst.waiting.lock());
        if batch.is_empty() {
            return;
        }
        inst.pending = inst.pending.saturating_sub(batch.len());
        let idle = (inst.pending == 0).then_some(inst.tsfn);
        if let Some(tsfn) = idle {
            env.unref_tsfn(tsfn);
        }
        let _ = deliver_batch(env, callback, batch);
    }
}

fn deliver_batch<'s>(env: &mut Env<'s>, callback: Value<'s>, batch: Vec<Done>) -> Js<()> {
    let n = batch.len();
    let ids: Vec<f64> = batch.iter().map(|d| d.id).collect();
    let ids = env.float64_array(&ids)?;
    // Results of a burst are mostly the same text ({"errMsg":"setStorage:ok"}): then one string.
    let same = batch.windows(2).all(|w| w[0].json.as_bytes() == w[1].json.as_bytes());
    let jsons = if same { env.make_string(batch[0].json.as_bytes())? } else { env.array(n)? };
    let bufs = if batch.iter().any(|d| !d.buffers.is_empty()) { env.array(n)? } else { env.undefined() };
    for (i, Done { json, buffers, .. }) in (0u32..).zip(batch) {
        if !same {
            let text = env.make_string(json.as_bytes())?;
            env.set_element(jsons, i, text);
        }
        drop(json);
        if !buffers.is_empty() {
            let list = env.array(buffers.len())?;
            for (j, b) in (0u32..).zip(buffers) {
                let ab = env.array_buffer_copy(b.as_bytes());
                drop(b);
                env.set_element(list, j, ab?);
            }
            env.set_element(bufs, i, list);
        }
    }
    // An exception thrown by the dispatcher propagates as Node's uncaught exception.
    env.call_function(callback, &[ids, jsons, bufs]);
    Ok(())
}

fn js_set_dispatcher<'s>(env: &mut Env<'s>, [f, ..]: Args<'s>) -> Js<Value<'s>> {
    if !env.is_function(f) {
        return Err(env.throw("wxfs addon: setDispatcher takes a function"));
    }
    if env.instance::<Instance>().is_some() {
        return Err(env.throw("wxfs addon: the dispatcher is set already"));
    }
    let (tsfn, poster) = env.threadsafe_function::<Wake>(f, b"wxfs")?;
    env.set_instance(Instance { tsfn, poster, waiting: Arc::default(), pending: 0 })?;
    Ok(env.undefined())
}

fn js_invoke_async<'s>(env: &mut Env<'s>, [h, api, a, b, id]: Args<'s>) -> Js<Value<'s>> {
    let l = loaded(env)?;
    let Some((poster, waiting)) = env.instance::<Instance>().map(|inst| (inst.poster.clone(), inst.waiting.clone())) else {
        return Err(env.throw("wxfs addon: setDispatcher(fn) was not called"));
    };
    let h = handle(env, h)?;
    let (mut api_text, mut args_text) = (Utf8::new(), Utf8::new());
    let api = env.string_in(api, &mut api_text)?;
    let a = args_json(env, a, &mut args_text)?;
    let listed = env.buffers(b)?;
    // No JavaScript runs while the views are borrowed (see `Env::bytes`).
    let bufs = views(env, &listed)?;
    let id = env.number(id, "id")?;
    // The library's worker posts the result and returns without waiting for the JS thread.
    let rc = l.invoke_async(h, api, a, &bufs, move |(json, buffers)| waiting.push(Done { id, json, buffers }, &poster));
    if rc == 0 {
        let first = env.instance::<Instance>().and_then(|inst| {
            inst.pending += 1;
            (inst.pending == 1).then_some(inst.tsfn)
        });
        if let Some(tsfn) = first {
            env.ref_tsfn(tsfn);
        }
    }
    env.make_number(rc as f64)
}

macro_rules! export {
    ($js:literal => $imp:ident) => {
        Export { name: $js, rust_name: stringify!($imp), f: $imp }
    };
}

/// The exports object, as `napi::napi_register_module_v1` builds it.
static EXPORTS: [Export; 11] = [
    export!(c"load" => js_load),
    export!(c"open" => js_open),
    export!(c"close" => js_close),
    export!(c"apiList" => js_api_list),
    export!(c"lastError" => js_last_error),
    export!(c"invoke" => js_invoke),
    export!(c"setDispatcher" => js_set_dispatcher),
    export!(c"invokeAsync" => js_invoke_async),
    export!(c"storageSet" => js_storage_set),
    export!(c"storageGet" => js_storage_get),
    export!(c"readFile" => js_read_file),
];
