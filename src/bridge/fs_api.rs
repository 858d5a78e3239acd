//! FileSystemManager methods and the host file APIs, argument object -> Reply.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::args::Args;
use super::budget::{self, Budget, JsonOut, HELD};
use super::reply::Reply;
use super::Ctx;
use crate::error::{code, Error, Result};
use crate::fs::archive::{EntryRequest, ZipCharge};
use crate::fs::codec::Encoding;
use crate::fs::texts::Text;
use crate::fs::{Listing, SavedFile, StatResult, Stats, TempSource};
use crate::platform::{SavedArea, Shapes};
use crate::session::Session;

/// How this sandbox's platform shapes its results (docs/platforms/dialects.json `shapes`).
fn shapes(s: &Session) -> &'static Shapes {
    &s.config.platform.dialect().shapes
}

fn stats_json(s: &Stats) -> Value {
    json!({
        "mode": s.mode,
        "size": s.size,
        "lastAccessedTime": s.last_accessed_time,
        "lastModifiedTime": s.last_modified_time,
    })
}

/// Content read from a file: a string in `encoding`, or an ArrayBuffer when there is none.
/// `budget`: what this call's result may still add (see `FileSystem::text_limit`); a string
/// result beyond it is refused before it is built.
fn content(reply: Reply, key: &str, bytes: Vec<u8>, encoding: Option<Encoding>, budget: &mut Budget) -> Result<Reply> {
    match encoding {
        Some(e) => {
            budget.charge(e.text_len(&bytes))?;
            Ok(reply.set(key, e.decode(&bytes)))
        }
        None => Ok(reply.bytes(key, bytes)),
    }
}

/// The result budget of one call (docs/design.md §4): twice the readFile limit.
fn budget_of(s: &Session) -> Budget {
    Budget::new(s.fs.text_limit())
}

/// Bytes of a Stats object as [`put_stats`] writes it.
fn stats_len(st: &Stats) -> u64 {
    let fixed = r#"{"mode":,"size":,"lastAccessedTime":,"lastModifiedTime":}"#.len() as u64;
    fixed
        + budget::num_len(st.mode)
        + budget::num_len(st.size)
        + budget::num_len(st.last_accessed_time)
        + budget::num_len(st.last_modified_time)
}

/// A Stats object, as `stats_json` gives it.
fn put_stats(out: &mut JsonOut, st: &Stats) {
    out.put(br#"{"mode":"#);
    out.put_num(st.mode);
    out.put(br#","size":"#);
    out.put_num(st.size);
    out.put(br#","lastAccessedTime":"#);
    out.put_num(st.last_accessed_time);
    out.put(br#","lastModifiedTime":"#);
    out.put_num(st.last_modified_time);
    out.put(b"}");
}

/// A recursive stat, written into its JSON text as the walk finds each entry: an array of
/// `{"path", <key>: Stats}` (`key` is `stats`, Douyin's `stat`), or Alipay's object keyed by path.
struct StatTree {
    out: JsonOut,
    /// The item's Stats key, or `None` for Alipay's object.
    key: Option<&'static str>,
    /// How many copies of the text the result carries (Douyin's `stat` and `stats`).
    copies: u64,
    first: bool,
}

impl StatTree {
    fn new(budget: Budget, key: Option<&'static str>, copies: u64) -> Result<StatTree> {
        let mut out = JsonOut::new(budget);
        out.charge(2 * copies)?;
        out.put(if key.is_some() { b"[" } else { b"{" });
        Ok(StatTree { out, key, copies, first: true })
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.put(if self.key.is_some() { b"]" } else { b"}" });
        self.out.into_bytes()
    }
}

impl Listing for StatTree {
    fn charge(&mut self, parent: &str, name: &str, st: &Stats) -> Result<()> {
        // The shown path "{parent}/{name}" as a JSON string.
        let path = budget::str_len(parent) + budget::str_len(name) - 1;
        let item = match self.key {
            Some(key) => r#"{"path":,"":}"#.len() as u64 + key.len() as u64 + path + stats_len(st),
            None => path + 1 + stats_len(st),
        };
        self.out.charge((item + 1) * self.copies + HELD)
    }

    fn entry(&mut self, shown: &str, st: &Stats) {
        if !std::mem::take(&mut self.first) {
            self.out.put(b",");
        }
        match self.key {
            Some(key) => {
                self.out.put(br#"{"path":"#);
                self.out.put_str(shown);
                self.out.put(b",");
                self.out.put_str(key);
                self.out.put(b":");
                put_stats(&mut self.out, st);
                self.out.put(b"}");
            }
            None => {
                self.out.put_str(shown);
                self.out.put(b":");
                put_stats(&mut self.out, st);
            }
        }
    }
}

pub fn access(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.access(a.str("path")?)?;
    Ok(Reply::new())
}

pub fn append_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    let data = a.data("data")?;
    s.fs.append_file(path, &data)?;
    Ok(Reply::new())
}

pub fn write_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    let data = a.data("data")?;
    s.fs.write_file(path, &data)?;
    Ok(Reply::new())
}

pub fn read_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    let encoding = a.encoding("encoding")?;
    let bytes = s.fs.read_file(path, a.opt_num("position")?, a.opt_num("length")?)?;
    let reply = content(Reply::new(), "data", bytes, encoding, &mut budget_of(s))?;
    // A platform may say what it returned (Alipay, docs/platforms/alipay.md, readFile).
    Ok(match &shapes(s).read_file_data_type {
        Some(t) => reply.set("dataType", if encoding.is_some() { t.encoded.as_str() } else { t.raw.as_str() }),
        None => reply,
    })
}

pub fn copy_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.copy_file(a.str("srcPath")?, a.str("destPath")?)?;
    Ok(Reply::new())
}

pub fn rename(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.rename(a.str("oldPath")?, a.str("newPath")?)?;
    Ok(Reply::new())
}

pub fn unlink(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.unlink(a.str("filePath")?)?;
    Ok(Reply::new())
}

pub fn mkdir(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.mkdir(a.str("dirPath")?, a.bool_or("recursive", false)?)?;
    Ok(Reply::new())
}

pub fn rmdir(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.rmdir(a.str("dirPath")?, a.bool_or("recursive", false)?)?;
    Ok(Reply::new())
}

pub fn readdir(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let mut out = JsonOut::new(budget_of(s));
    out.charge(2)?;
    let names = s.fs.readdir(a.str("dirPath")?, &mut |name| out.charge(budget::str_len(name) + 1 + HELD))?;
    out.put(b"[");
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        out.put_str(name);
    }
    drop(names);
    out.put(b"]");
    Ok(Reply::new().raw("files", out.into_bytes()))
}

pub fn stat(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("path")?;
    // The platform's shape: the fields the result is carried under, each a copy (Douyin's
    // `stat` and `stats`), and a tree's items (`{path, <itemKey>}`, or Alipay's object keyed by
    // the relative path, WeChat's pre-2021 shape).
    let shape = &shapes(s).stat;
    let (last, others) = shape.keys.split_last().expect("a stat shape names its fields (unit-tested)");
    let mut tree = match a.bool_or("recursive", false)? {
        true => Some(StatTree::new(budget_of(s), shape.item_key.as_deref(), shape.keys.len() as u64)?),
        false => None,
    };
    Ok(match s.fs.stat(path, tree.as_mut().map(|t| t as &mut dyn Listing))? {
        StatResult::One(st) => others.iter().fold(Reply::new(), |r, k| r.set(k, stats_json(&st))).set(last, stats_json(&st)),
        StatResult::Tree => {
            let text = tree.expect("a tree was asked for").finish();
            others.iter().fold(Reply::new(), |r, k| r.raw(k, text.clone())).raw(last, text)
        }
    })
}

fn length_arg(a: &Args, default: u64) -> Result<u64> {
    Ok(a.opt_index("length", || Text::LengthRange.error())?.unwrap_or(default))
}

pub fn truncate(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    s.fs.truncate(path, length_arg(a, 0)?)?;
    Ok(Reply::new())
}

/// A path argument, or the platform's legacy name for it (Alipay's `apFilePath`, my.saveFile
/// family); the legacy name when it was used, so the answer uses it too.
fn path_arg<'a>(s: &Session, a: &'a Args, name: &str) -> Result<(&'a str, Option<&'static str>)> {
    if let Some(legacy) = shapes(s).saved_files.legacy_path.as_deref() {
        if !a.has(name) && a.has(legacy) {
            return Ok((a.str(legacy)?, Some(legacy)));
        }
    }
    Ok((a.str(name)?, None))
}

pub fn get_file_info(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let algo = a.opt_str("digestAlgorithm")?.unwrap_or("md5");
    let (size, digest) = s.fs.get_file_info(path_arg(s, a, "filePath")?.0, algo)?;
    Ok(Reply::new().set("size", size).set("digest", digest))
}

pub fn read_compressed_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    let algo = a.str("compressionAlgorithm")?;
    let bytes = s.fs.read_compressed_file(path, algo)?;
    Ok(Reply::new().bytes("data", bytes))
}

pub fn read_zip_entry(s: &Session, a: &mut Args, ctx: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?.to_string();
    let mut encodings = Vec::new();
    let mut budget = budget_of(s);
    let results = match a.value("entries") {
        Some(Value::String(all)) if all == "all" => {
            let enc = a.encoding("encoding")?;
            // Each entry: its name, its errMsg and the object around them (its data is charged
            // as it is decoded, below), and what the reply holds of it until it is written.
            let per = (ctx.api.len() + r#":{"errMsg":":ok"},"#.len()) as u64 + 4 * HELD;
            let res = s.fs.read_zip_entries(&path, None, &mut |c| match c {
                ZipCharge::Index(bytes) => budget.charge(bytes),
                ZipCharge::Entry(name) => budget.charge(budget::str_len(name) + per),
            })?;
            encodings.resize(res.len(), enc);
            res
        }
        Some(Value::Array(list)) => {
            let mut reqs = Vec::new();
            for item in list {
                let Value::Object(o) = item else {
                    return Err(Error::param(a.param_code, "entries", "Array of Object", "Array"));
                };
                let entry_args = Args::from_object(o.clone(), a.param_code);
                reqs.push(EntryRequest {
                    path: entry_args.str("path")?.to_string(),
                    position: entry_args.opt_num("position")?,
                    length: entry_args.opt_num("length")?,
                });
                encodings.push(entry_args.encoding("encoding")?);
            }
            s.fs.read_zip_entries(&path, Some(&reqs), &mut |c| match c {
                ZipCharge::Index(bytes) => budget.charge(bytes),
                ZipCharge::Entry(_) => Ok(()),
            })?
        }
        _ => return Err(Error::param(a.param_code, "entries", "Array or 'all'", "Undefined")),
    };
    let mut entries = Vec::with_capacity(results.len());
    for ((name, res), enc) in results.into_iter().zip(encodings) {
        let one = match res {
            Ok(bytes) => content(Reply::new(), "data", bytes, enc, &mut budget)?.set("errMsg", format!("{}:ok", ctx.api)),
            Err(e) => Reply::new().set("errMsg", format!("{}:fail {}", ctx.api, e.reason)).set("errCode", e.code),
        };
        entries.push((name, one));
    }
    Ok(Reply::new().replies("entries", entries))
}

pub fn unzip(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.unzip(a.str("zipFilePath")?, a.str("targetPath")?)?;
    Ok(Reply::new())
}

pub fn save_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let (temp, legacy) = path_arg(s, a, "tempFilePath")?;
    let mut file_path = a.opt_str("filePath")?.map(str::to_string);
    if file_path.is_none() && shapes(s).saved_files.area == SavedArea::Usr {
        // A platform without a cache area (Douyin): a file saved without filePath goes into the
        // user dir under a fresh name (docs/platforms/douyin.md, the decision for the name).
        let name = crate::sandbox::random_name(temp.rsplit(['/', '_']).next().and_then(crate::sandbox::plain_extension));
        file_path = Some(format!("{}/{name}", s.config.platform.dialect().user_data_path));
    }
    let saved = s.fs.save_file(temp, file_path.as_deref())?;
    Ok(Reply::new().set(legacy.unwrap_or("savedFilePath"), saved))
}

/// Bytes of one getSavedFileList item as [`put_saved`] writes it, with its comma.
fn saved_len(path_len: u64, size: u64, create_time: i64, legacy: Option<&str>) -> u64 {
    let fixed = r#"{"filePath":,"size":,"createTime":},"#.len() as u64;
    let again = legacy.map_or(0, |key| budget::str_len(key) + 2 + path_len);
    fixed + path_len + budget::num_len(size) + budget::num_len(create_time) + again
}

/// One getSavedFileList item; `legacy`: the platform's legacy path field, carrying the path again.
fn put_saved(out: &mut JsonOut, first: bool, f: &SavedFile, legacy: Option<&str>) {
    if !first {
        out.put(b",");
    }
    out.put(br#"{"filePath":"#);
    out.put_str(&f.file_path);
    out.put(br#","size":"#);
    out.put_num(f.size);
    out.put(br#","createTime":"#);
    out.put_num(f.create_time);
    if let Some(key) = legacy {
        // my.getSavedFileList (legacy) names it apFilePath; the FileSystemManager filePath.
        out.put(b",");
        out.put_str(key);
        out.put(b":");
        out.put_str(&f.file_path);
    }
    out.put(b"}");
}

pub fn get_saved_file_list(s: &Session, _: &mut Args, _: &Ctx) -> Result<Reply> {
    let saved = &shapes(s).saved_files;
    if saved.area == SavedArea::Usr {
        return usr_saved_file_list(s, saved.legacy_path.as_deref());
    }
    let legacy = saved.legacy_path.as_deref();
    let mut out = JsonOut::new(budget_of(s));
    out.charge(2)?;
    let files = s.fs.get_saved_file_list(&mut |f| {
        out.charge(saved_len(budget::str_len(&f.file_path), f.size, f.create_time, legacy) + HELD)
    })?;
    out.put(b"[");
    for (i, f) in files.iter().enumerate() {
        put_saved(&mut out, i == 0, f, legacy);
    }
    drop(files);
    out.put(b"]");
    Ok(Reply::new().raw("fileList", out.into_bytes()))
}

/// A platform without a cache area (Douyin): the saved files are the files of the user dir
/// (TT-T getSavedFileList "用户目录文件列表").
fn usr_saved_file_list(s: &Session, legacy: Option<&str>) -> Result<Reply> {
    let root = &s.config.platform.dialect().user_data_path;
    let mut out = JsonOut::new(budget_of(s));
    out.charge(2)?;
    // Charged as a file of the largest size and time, before its stat is known.
    let root_len = budget::str_len(root);
    let names = s.fs.readdir(root, &mut |name| {
        out.charge(saved_len(root_len + budget::str_len(name) - 1, u64::MAX, i64::MIN, legacy) + HELD)
    })?;
    out.put(b"[");
    let mut first = true;
    for name in names {
        let path = format!("{root}/{name}");
        if let StatResult::One(st) = s.fs.stat(&path, None)? {
            if st.mode & 0o170000 == 0o100000 {
                let f = SavedFile { file_path: path, size: st.size, create_time: st.last_modified_time };
                put_saved(&mut out, std::mem::take(&mut first), &f, legacy);
            }
        }
    }
    out.put(b"]");
    Ok(Reply::new().raw("fileList", out.into_bytes()))
}

pub fn get_saved_file_info(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let (size, create_time) = s.fs.get_saved_file_info(path_arg(s, a, "filePath")?.0)?;
    Ok(Reply::new().set("size", size).set("createTime", create_time))
}

pub fn remove_saved_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = path_arg(s, a, "filePath")?.0;
    match shapes(s).saved_files.area {
        SavedArea::Usr => s.fs.unlink(path)?,
        SavedArea::Store => s.fs.remove_saved_file(path)?,
    }
    Ok(Reply::new())
}

// ---- fds --------------------------------------------------------------------------------------

pub fn open(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let path = a.str("filePath")?;
    let flag = a.opt_str("flag")?.unwrap_or("r");
    Ok(Reply::new().set("fd", s.fs.open_fd(path, flag)?))
}

pub fn close(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.fs.close_fd(&a.fd()?)?;
    Ok(Reply::new())
}

pub fn fstat(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let st = s.fs.fstat(&a.fd()?)?;
    Ok(Reply::new().set("stats", stats_json(&st)))
}

pub fn ftruncate(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let fd = a.fd()?;
    s.fs.ftruncate(&fd, length_arg(a, 0)?)?;
    Ok(Reply::new())
}

fn position_arg(a: &Args) -> Result<Option<u64>> {
    a.opt_index("position", || Text::PositionRange.error())
}

fn offset_arg(a: &Args) -> Result<u64> {
    Ok(a.opt_index("offset", || Text::OffsetRange.error())?.unwrap_or(0))
}

/// read: into the caller's `arrayBuffer` (sent in, returned whole with the bytes at `offset`), or,
/// given only `arrayBufferLength`, the caller keeps its buffer and gets back `data`, just the
/// `bytesRead` bytes to place at `offset`. Both check `offset` and `length` against the buffer the
/// same way and in the same order (after the fd).
pub fn read(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let fd = a.fd()?;
    let offset = offset_arg(a)?;
    let length = length_arg(a, 0)?;
    let position = position_arg(a)?;
    if let Some(buf) = a.take_buffer("arrayBuffer") {
        let (n, buf) = s.fs.read_fd(&fd, buf, offset, length, position)?;
        return Ok(Reply::new().set("bytesRead", n).bytes("arrayBuffer", buf));
    }
    let no_buffer = || Text::NoArrayBuffer.error();
    let capacity = a.opt_index("arrayBufferLength", no_buffer)?.ok_or_else(no_buffer)?;
    // An empty stand-in buffer makes read_fd report the range error (after its fd checks) that
    // the caller's buffer of `capacity` bytes would have.
    if offset > capacity {
        s.fs.read_fd(&fd, Vec::new(), 1, 0, position)?;
    } else if length > capacity - offset {
        s.fs.read_fd(&fd, Vec::new(), 0, 1, position)?;
    }
    // Allocate what the file can give, not what the caller declares.
    let size = s.fs.fstat(&fd)?.size;
    let want = length.min(size);
    let (n, mut data) = s.fs.read_fd(&fd, vec![0; want as usize], 0, want, position)?;
    data.truncate(n as usize);
    Ok(Reply::new().set("bytesRead", n).bytes("data", data))
}

pub fn write(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let fd = a.fd()?;
    // The typings: "position: a non-number writes at the current file pointer".
    let position = if a.value("position").is_some_and(Value::is_number) { position_arg(a)? } else { None };
    let data = match a.buffer("data") {
        Some(buf) => {
            let offset = offset_arg(a)?;
            if offset > buf.len() as u64 {
                return Err(Text::OffsetRange.error());
            }
            let length = length_arg(a, buf.len() as u64 - offset)?;
            if length > buf.len() as u64 - offset {
                return Err(Text::LengthRange.error());
            }
            Cow::Borrowed(&buf[offset as usize..(offset + length) as usize])
        }
        None => a.data("data")?,
    };
    if data.is_empty() {
        s.fs.fstat(&fd)?; // a bad fd says so first
        return Err(Text::DataEmpty.error());
    }
    let n = s.fs.write_fd(&fd, &data, position)?;
    Ok(Reply::new().set("bytesWritten", n))
}

// ---- host APIs ----------------------------------------------------------------------------------

pub fn host_create_temp_file(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let ext = a.opt_str("extension")?.map(str::to_string);
    let path = if let Some(src) = a.opt_str("sourcePath")? {
        let take = a.bool_or("move", false)?;
        s.fs.create_temp(TempSource::File { path: src.into(), take }, ext.as_deref())?
    } else {
        let data = if a.has("data") { a.data("data")? } else { Cow::Borrowed(&[][..]) };
        s.fs.create_temp(TempSource::Bytes(&data), ext.as_deref())?
    };
    Ok(Reply::new().set("tempFilePath", path))
}

pub fn host_real_path(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let p = s.fs.real_path(a.str("path")?)?;
    Ok(Reply::new().set("realPath", p.to_string_lossy().into_owned()))
}

// ---- buffer URLs ---------------------------------------------------------------------------------

/// createBufferURL: `data` (an ArrayBuffer, the field every binary argument crosses the bridge
/// in) -> `{url}`. WeChat's `wx.createBufferURL(buffer)` returns the string itself; the JS layer
/// unwraps it.
pub fn create_buffer_url(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let Some(bytes) = a.buffer("data") else {
        return Err(Error::param(a.param_code, "data", "ArrayBuffer", if a.has("data") { "String" } else { "Undefined" }));
    };
    Ok(Reply::new().set("url", s.buffer_urls.create(bytes)?))
}

/// revokeBufferURL: `{url}`; a URL this sandbox does not hold (revoked already, another
/// sandbox's, made up) is a no-op, as URL.revokeObjectURL is on the web.
pub fn revoke_buffer_url(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    s.buffer_urls.revoke(a.str("url")?);
    Ok(Reply::new())
}

/// host.resolveBufferURL: `{url}` -> `{data}`, the bytes (an ArrayBuffer).
pub fn host_resolve_buffer_url(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let url = a.str("url")?;
    let bytes = s.buffer_urls.resolve(url).ok_or_else(|| Error::new(code::NO_SUCH_FILE, format!("no such buffer url {url}")))?;
    Ok(Reply::new().bytes("data", bytes.to_vec()))
}
