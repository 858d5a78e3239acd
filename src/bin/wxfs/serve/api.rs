//! The page's JSON API: what each route reads, and the three writes `--write` allows.
//!
//! Reads never take a sandbox's lock and never write under the root (`sandboxes`, `files`).
//! Writes open the sandbox as a host would (`Session::open`, so limits, the journal and
//! durability apply), make one bridge call, and close it; a sandbox another process holds open
//! is refused before anything is tried.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wxfs::sandbox::{OpenError, VPath};
use wxfs::storage::sealed;
use wxfs::{bridge, Config, Session};

use super::files::{self, Refused};
use super::http::{Request, Response};
use super::sandboxes::{self, SandboxRef};
use super::App;
use crate::inspect::{journal_figures, Holder, Locks};

fn refused((status, why): Refused) -> Response {
    Response::error(status, why)
}

fn sandbox(app: &App, req: &Request) -> Result<SandboxRef, Response> {
    let id = req.param("sandbox").ok_or_else(|| Response::error(400, "which sandbox? (parameter sandbox)"))?;
    sandboxes::find(&app.root, id).map_err(|why| Response::error(404, why))
}

fn number(req: &Request, name: &str, default: usize, max: usize) -> Result<usize, Response> {
    match req.param(name) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<usize>().map(|n| n.min(max)).map_err(|_| Response::error(400, format!("{name}: not a number"))),
    }
}

/// Why writes into `sb` are refused now, if they are.
fn read_only_why(app: &App, sb: &SandboxRef, holder: Holder) -> Option<String> {
    if !app.write {
        return Some("read-only: the inspector was started without --write".into());
    }
    if let Holder::Process(pid) = holder {
        if pid != std::process::id() {
            return Some(format!(
                "read-only: open in process {pid}; the inspector never writes into a sandbox another process has open"
            ));
        }
    }
    if sb.user.as_ref().and_then(|u| std::str::from_utf8(u).ok()).is_none()
        || sb.app.as_ref().and_then(|a| std::str::from_utf8(a).ok()).is_none()
        || (sb.parts.len() == 4 && sb.plugin.as_ref().and_then(|p| std::str::from_utf8(p).ok()).is_none())
    {
        return Some("read-only: its ids are not text the library can be given".into());
    }
    None
}

fn state(holder: Holder) -> Value {
    match holder {
        Holder::Idle => json!({"open": false}),
        Holder::Process(pid) if pid == std::process::id() => json!({"open": true, "pid": pid, "inspector": true}),
        Holder::Process(pid) => json!({"open": true, "pid": pid}),
        Holder::Unknown => json!({"open": null}),
    }
}

/// What the next open of a closed sandbox would repair, found by reading.
fn pending_repairs(sb: &SandboxRef, holder: Holder, pending: usize, report: Option<&wxfs::storage::LogReport>) -> Vec<String> {
    let mut notes = Vec::new();
    if holder == Holder::Idle && pending > 0 {
        notes.push(format!("{pending} write(s) interrupted by a crash (settled at the next open)"));
    }
    if let Some(r) = report {
        if r.truncated_bytes > 0 {
            notes.push(format!("the storage log ends in {} bytes of a torn record (the next open cuts them)", r.truncated_bytes));
        }
        if r.corrupt_moved_to.is_some() {
            notes.push("the storage log's header is not recognised (the next open sets it aside and starts empty)".into());
        }
    }
    if holder == Holder::Idle {
        let staged = std::fs::read_dir(sb.dir.join(wxfs::sandbox::STAGING)).map_or(0, |d| d.take(10_000).count());
        if staged > 0 {
            notes.push(format!("{staged} file(s) of interrupted writes in staging (removed at the next open)"));
        }
    }
    notes
}

fn overview_of(app: &App, sb: &SandboxRef, locks: &Locks) -> Value {
    let holder = locks.holder(&sb.dir);
    let (limits, recorded) = sandboxes::limits(sb);
    let name = |i: usize| sb.parts.get(i).map(String::as_str).unwrap_or("");
    let (_, app_dir) = wxfs::platform::Platform::of_dir_name(name(1));
    let mut notes = Vec::new();
    let usage = match journal_figures(&sb.dir) {
        Ok((usage, pending)) => Some((usage, pending)),
        Err(why) => {
            notes.push(format!("quota journal: {why} (the next open rebuilds it from the files)"));
            None
        }
    };
    let storage = app.snapshots.get(&sb.dir);
    let (storage_json, report) = match &storage {
        Ok(s) => (
            json!({
                "bytes": s.store.size(),
                "keys": s.store.len(),
                "encrypted": s.store.keys_with_prefix(sealed::PREFIX).len(),
            }),
            Some(&s.report),
        ),
        Err(why) => {
            notes.push(format!("storage: {why}"));
            (Value::Null, None)
        }
    };
    notes.extend(pending_repairs(sb, holder, usage.map_or(0, |u| u.1), report));
    let last_use = wxfs::sandbox::Sandbox::last_use(&sb.dir).duration_since(std::time::UNIX_EPOCH).ok();
    json!({
        "id": sb.id,
        "platform": sb.platform.name(),
        "user": SandboxRef::shown(&sb.user, name(0)),
        "app": SandboxRef::shown(&sb.app, app_dir),
        "plugin": if sb.parts.len() == 4 { json!(SandboxRef::shown(&sb.plugin, name(3))) } else { Value::Null },
        "state": state(holder),
        "readOnly": read_only_why(app, sb, holder),
        "usage": usage.map(|(u, _)| json!({"userFiles": u.user, "temp": u.temp, "entries": u.entries})),
        "storage": storage_json,
        "limits": {
            "userFiles": limits.user_files,
            "tempRuntime": limits.temp_runtime,
            "tempKeep": limits.temp_keep,
            "storageTotal": limits.storage_total,
            "storageItem": limits.storage_item,
            // What binds: `limits.entries`, lowered by a small quota (docs/design.md §4).
            "entries": limits.entries_allowed(),
        },
        "limitsFrom": if recorded { "recorded" } else { "defaults" },
        "lastUse": last_use.map(|d| d.as_millis() as u64),
        "notes": notes,
    })
}

/// `GET /api/overview`: every sandbox with its usage against each limit and its open state.
pub fn overview(app: &App) -> Response {
    let list = match sandboxes::list(&app.root) {
        Ok(l) => l,
        Err(why) => return Response::error(500, why),
    };
    let locks = Locks::read();
    let items: Vec<Value> = list.iter().map(|sb| overview_of(app, sb, &locks)).collect();
    Response::json(
        200,
        &json!({
            "root": app.root.display().to_string(),
            "write": app.write,
            "pid": std::process::id(),
            "sandboxes": items,
        }),
    )
}

/// The JSON kind of stored data, from its first byte (stored data is compact, valid JSON).
fn kind(data: &[u8]) -> &'static str {
    match data.first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// The first `n` characters of `data`, and whether there was more.
fn preview(data: &[u8], n: usize) -> (String, bool) {
    let head = &data[..data.len().min(n * 4)];
    let text = String::from_utf8_lossy(head);
    let shown: String = text.chars().take(n).collect();
    let more = shown.len() < data.len();
    (shown, more)
}

/// `GET /api/storage?sandbox=&offset=&limit=&q=`: a page of keys in the library's order (the
/// order a mini-program set them), each with its type, size and the start of its value.
pub fn storage(app: &App, req: &Request) -> Response {
    let sb = match sandbox(app, req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (offset, limit) = match (number(req, "offset", 0, usize::MAX), number(req, "limit", 100, 500)) {
        (Ok(o), Ok(l)) => (o, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let q = req.param("q").unwrap_or("");
    let snap = match app.snapshots.get(&sb.dir) {
        Ok(s) => s,
        Err(why) => return Response::error(500, why),
    };
    let store = &snap.store;
    let keys = store.keys();
    let encrypted = keys.iter().filter(|k| k.starts_with(sealed::PREFIX)).count();
    // An encrypted item is listed by no name at all (its slot is a keyed hash of the name, but
    // even that is not shown): a filter by name never matches one.
    let matched: Vec<&String> =
        keys.iter().filter(|k| q.is_empty() || (!k.starts_with(sealed::PREFIX) && k.contains(q))).collect();
    let items: Vec<Value> = matched
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .filter_map(|(i, key)| {
            store.with(key, |v| {
                let size = key.len() + v.data.len() + v.data_type.map_or(0, <[u8]>::len);
                if key.starts_with(sealed::PREFIX) {
                    return json!({"index": i, "encrypted": true, "size": size});
                }
                let (shown, more) = preview(v.data, 120);
                json!({
                    "index": i,
                    "key": key,
                    "type": v.data_type.map_or_else(|| kind(v.data).to_string(), |t| String::from_utf8_lossy(t).into_owned()),
                    "typeSet": v.data_type.is_some(),
                    "size": size,
                    "preview": shown,
                    "more": more,
                })
            })
        })
        .collect();
    let holder = Locks::read().holder(&sb.dir);
    let (limits, recorded) = sandboxes::limits(&sb);
    Response::json(
        200,
        &json!({
            "sandbox": sb.id,
            "write": app.write,
            "keys": keys.len(),
            "encrypted": encrypted,
            "bytes": store.size(),
            "limit": limits.storage_total,
            "itemLimit": limits.storage_item,
            "limitsFrom": if recorded { "recorded" } else { "defaults" },
            "matched": matched.len(),
            "offset": offset,
            "items": items,
            "state": state(holder),
            "readOnly": read_only_why(app, &sb, holder),
            "plugin": sb.parts.len() == 4,
            "notes": pending_repairs(&sb, holder, 0, Some(&snap.report)),
        }),
    )
}

/// `GET /api/storage/item?sandbox=&key=`: one value whole, as the JSON text stored (the page
/// indents it without parsing, so no number loses digits).
pub fn storage_item(app: &App, req: &Request) -> Response {
    let sb = match sandbox(app, req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(key) = req.param("key") else { return Response::error(400, "which key? (parameter key)") };
    if key.starts_with(sealed::PREFIX) {
        return Response::error(403, "an encrypted item is never shown");
    }
    let snap = match app.snapshots.get(&sb.dir) {
        Ok(s) => s,
        Err(why) => return Response::error(500, why),
    };
    match snap.store.get(key) {
        Some(v) => Response::json(
            200,
            &json!({
                "key": key,
                "text": v.data,
                "dataType": v.data_type,
                "size": key.len() + v.data.len() + v.data_type.as_ref().map_or(0, String::len),
            }),
        ),
        None => Response::error(404, format!("no key {key:?}")),
    }
}

/// The message of a bridge result in any platform's envelope.
fn message(result: &Value) -> String {
    ["errMsg", "errorMessage", "errMessage"]
        .iter()
        .find_map(|k| result.get(k).and_then(Value::as_str))
        .map_or_else(|| result.to_string(), str::to_string)
}

/// Opens `sb` as its host would, with the limits its host recorded (else the platform's
/// defaults), makes one bridge call, closes it. The record of the host's limits is left as it is.
fn write_call(app: &App, sb: &SandboxRef, api: &str, args: &str, what: &str) -> Response {
    let holder = Locks::read().holder(&sb.dir);
    if let Some(why) = read_only_why(app, sb, holder) {
        app.events.note("warn", &sb.id, &format!("{what}: refused, {why}"));
        return Response::error(if app.write { 409 } else { 403 }, why);
    }
    let text = |b: &Option<Vec<u8>>| b.as_ref().and_then(|b| String::from_utf8(b.clone()).ok()).unwrap_or_default();
    let mut config = Config::new(&app.root, &text(&sb.user), &text(&sb.app)).with_platform(sb.platform);
    config.limits = sandboxes::limits(sb).0;
    config.plugin_id = sb.plugin.as_ref().map(|_| text(&sb.plugin));
    // A storage edit changes storage only: the close after it trims no temp file (a close trims
    // to tempKeep, and the host's own may be larger than the default where none was recorded).
    config.limits.temp_keep = u64::MAX;
    if config.sandbox_dir() != sb.dir {
        return Response::error(400, "read-only: its ids do not name its directory back");
    }
    let session = match Session::open_as_tool(config) {
        Ok(s) => s,
        Err(OpenError::Busy(_)) => {
            let why = "read-only: open in another process; the inspector never writes into a sandbox another process has open";
            app.events.note("warn", &sb.id, &format!("{what}: refused, {why}"));
            return Response::error(409, why);
        }
        Err(e) => return Response::error(500, format!("open: {e}")),
    };
    let (code, result) = bridge::invoke(&session, api, args);
    drop(session);
    if code == 0 {
        app.events.note("info", &sb.id, &format!("{what}: done ({api})"));
        Response::json(200, &json!({"ok": true, "result": result}))
    } else {
        let msg = message(&result);
        app.events.note("warn", &sb.id, &format!("{what}: refused by the library: {msg}"));
        Response::json(422, &json!({"error": msg, "result": result}))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody<'a> {
    key: String,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(rename = "dataType")]
    data_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearBody {
    confirm: bool,
}

fn body<'a, T: Deserialize<'a>>(req: &'a Request) -> Result<T, Response> {
    serde_json::from_slice(&req.body).map_err(|e| Response::error(400, format!("request body: {e}")))
}

/// `POST /api/storage/{set,remove,clear}?sandbox=`: `setStorageSync`, `removeStorageSync`,
/// `clearStorageSync` in the sandbox, with the library's own validation and limits.
pub fn storage_write(app: &App, req: &Request, op: &str) -> Response {
    let sb = match sandbox(app, req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let call = match op {
        "set" => body::<SetBody>(req).map(|b| {
            let mut args = format!("{{\"key\":{},\"data\":{}", json!(b.key), b.data.get());
            if let Some(t) = &b.data_type {
                args.push_str(&format!(",\"dataType\":{}", json!(t)));
            }
            args.push('}');
            ("setStorageSync", args, format!("set {:?}", b.key))
        }),
        "remove" => {
            body::<KeyBody>(req).map(|b| ("removeStorageSync", json!({"key": b.key}).to_string(), format!("remove {:?}", b.key)))
        }
        "clear" => match body::<ClearBody>(req) {
            Ok(ClearBody { confirm: true }) => Ok(("clearStorageSync", "{}".to_string(), "clear storage".to_string())),
            Ok(_) => Err(Response::error(400, "clearing needs {\"confirm\": true}")),
            Err(r) => Err(r),
        },
        _ => Err(Response::error(404, "no such write")),
    };
    match call {
        Ok((api, args, what)) => write_call(app, &sb, api, &args, &what),
        Err(r) => r,
    }
}

/// `GET /api/areas?sandbox=`: bytes of each file area against its quota.
pub fn areas(app: &App, req: &Request) -> Response {
    let sb = match sandbox(app, req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (limits, recorded) = sandboxes::limits(&sb);
    let store = wxfs::quota::measure_flat(&sb.dir.join(wxfs::sandbox::STORE));
    let (usage, why) = match journal_figures(&sb.dir) {
        Ok((u, _)) => (Some(u), None),
        Err(why) => (None, Some(why)),
    };
    Response::json(
        200,
        &json!({
            "sandbox": sb.id,
            "write": app.write,
            "plugin": sb.parts.len() == 4,
            "protocol": format!("{:?}", sb.platform.protocol()),
            // usr and store share one quota, which the journal counts together.
            "usr": usage.map(|u| u.user.saturating_sub(store)),
            "store": store,
            "tmp": usage.map(|u| u.temp),
            "entries": usage.map(|u| u.entries),
            "userFilesLimit": limits.user_files,
            "tempLimit": limits.temp_runtime,
            "entriesLimit": limits.entries_allowed(),
            "limitsFrom": if recorded { "recorded" } else { "defaults" },
            "journal": why,
            "state": state(Locks::read().holder(&sb.dir)),
        }),
    )
}

/// `GET /api/files?sandbox=&area=&path=&offset=&limit=`: one page of a directory.
pub fn list(app: &App, req: &Request) -> Response {
    let go = || -> Result<Value, Response> {
        let sb = sandbox(app, req)?;
        let area = files::area_of(req.param("area").unwrap_or("")).map_err(refused)?;
        let parts = files::components(req.param("path").unwrap_or("")).map_err(refused)?;
        let offset = number(req, "offset", 0, usize::MAX)?;
        let limit = number(req, "limit", 200, 1000)?;
        let dir = files::open_dir(files::area_dir(&app.root, &sb, area).map_err(refused)?, &parts).map_err(refused)?;
        let mut page = files::page(&dir, offset, limit).map_err(refused)?;
        let vpath = VPath { area, parts: parts.iter().map(|s| s.to_string()).collect() };
        page["path"] = json!(parts.join("/"));
        page["vpath"] = json!(vpath.display(sb.platform.protocol()));
        Ok(page)
    };
    go().map_or_else(|r| r, |v| Response::json(200, &v))
}

/// `GET /api/file?sandbox=&area=&path=&as=preview|download`: a file's bytes. A preview is an
/// image (by its first bytes, at most 8 MiB) or the start of a text as `text/plain`; anything
/// else is refused. A download is the whole file, as an attachment.
pub fn file(app: &App, req: &Request) -> Response {
    let go = || -> Result<Response, Response> {
        let sb = sandbox(app, req)?;
        let area = files::area_of(req.param("area").unwrap_or("")).map_err(refused)?;
        let parts = files::components(req.param("path").unwrap_or("")).map_err(refused)?;
        let Some((name, dirs)) = parts.split_last() else { return Err(Response::error(400, "which file? (parameter path)")) };
        let dir = files::open_dir(files::area_dir(&app.root, &sb, area).map_err(refused)?, dirs).map_err(refused)?;
        let (mut file, len) = files::open_file(&dir, name).map_err(refused)?;
        match req.param("as") {
            Some("download") => {
                Ok(Response::file("application/octet-stream", file, len).with("Content-Disposition", files::attachment(name)))
            }
            Some("preview") => {
                use std::io::Read;
                let mut head = Vec::new();
                (&mut file)
                    .take(files::TEXT_PREVIEW as u64)
                    .read_to_end(&mut head)
                    .map_err(|e| Response::error(500, e.to_string()))?;
                if let Some(ty) = files::image_type(&head) {
                    if len > files::IMAGE_PREVIEW {
                        return Err(Response::error(413, format!("image of {len} bytes: too large to preview, download it")));
                    }
                    let mut rest = Vec::new();
                    file.take(len - head.len() as u64).read_to_end(&mut rest).map_err(|e| Response::error(500, e.to_string()))?;
                    head.extend_from_slice(&rest);
                    return Ok(Response::bytes(200, ty, head).with("X-Wxfs-Size", len.to_string()));
                }
                let cut = len > head.len() as u64;
                match files::as_text(head, cut) {
                    Some(text) => Ok(Response::bytes(200, "text/plain; charset=utf-8", text.into_bytes())
                        .with("X-Wxfs-Size", len.to_string())
                        .with("X-Wxfs-Cut", if cut { "1" } else { "0" })),
                    None => Err(Response::error(415, format!("binary file of {len} bytes: no preview, download it"))),
                }
            }
            _ => Err(Response::error(400, "as: preview or download")),
        }
    };
    go().unwrap_or_else(|r| r)
}

/// `GET /api/events?after=N&wait=1`: the events after N; with `wait`, held up to 15 s until one
/// comes (a few such requests at once; more answer at once).
pub fn events(app: &App, req: &Request) -> Response {
    let after = match req.param("after").unwrap_or("0").parse::<u64>() {
        Ok(n) => n,
        Err(_) => return Response::error(400, "after: not a number"),
    };
    let wait = req.param("wait") == Some("1");
    app.host_events.asked();
    Response::json(200, &app.events.since(after, wait))
}
