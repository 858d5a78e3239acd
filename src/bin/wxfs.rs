//! `wxfs`: the host developer's tool. `wxfs demo` plays the image-cache scenario a mini-program
//! developer writes; `wxfs invoke` and `wxfs storage` look into a sandbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{json, Value};
use wxfs::{bridge, Config, Session};

const USAGE: &str = "usage:
  wxfs demo [ROOT]                           play the image-cache scenario (default ROOT: <tmp>/wxfs-demo)
  wxfs ls ROOT                               users, mini-programs, usage against quotas
  wxfs storage ROOT USER APP [list | get KEY] a sandbox's storage, as the devtools Storage panel shows it
  wxfs invoke ROOT USER APP API [JSON]       call one api, print its result
  wxfs gc ROOT [LIMIT_BYTES]                 trim temp files of all sandboxes to LIMIT (default 6 GiB)
  wxfs fsck ROOT [--repair]                  check journals and logs against the files; fix with --repair";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("demo") => demo(args.get(1).map(PathBuf::from)),
        Some("invoke") if args.len() >= 5 => invoke(&args[1], &args[2], &args[3], &args[4], args.get(5).map(String::as_str)),
        Some("storage") if args.len() >= 4 => storage(&args[1], &args[2], &args[3], &args[4..]),
        Some("ls") if args.len() == 2 => ls(&args[1]),
        Some("gc") if args.len() >= 2 => gc(&args[1], args.get(2).map(String::as_str)),
        Some("fsck") if args.len() >= 2 => fsck(&args[1], args.get(2).map(String::as_str) == Some("--repair")),
        _ => Err(USAGE.to_string()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on stderr when it is a terminal and the run is long enough to need one.
fn progress(what: &'static str) -> impl FnMut(usize, usize) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    move |done, total| {
        if !tty || total < 20 {
            return;
        }
        let width = 30;
        let filled = done * width / total.max(1);
        eprint!("\r{what} [{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled));
        if done == total {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn ls(root: &str) -> Result<(), String> {
    use wxfs::quota::journal;
    let dirs = wxfs::sandbox::list(std::path::Path::new(root)).map_err(|e| format!("{root}: {e}"))?;
    let limits = wxfs::quota::Limits::default();
    let mut p = progress("ls");
    println!("{:<24} {:<20} {:>22} {:>12} {:>12}  state", "user", "app", "user+saved files", "temp", "storage");
    for (i, dir) in dirs.iter().enumerate() {
        p(i + 1, dirs.len());
        let (user, app) = wxfs::sandbox::ids_of(dir)
            .map(|(u, a)| (String::from_utf8_lossy(&u).into_owned(), String::from_utf8_lossy(&a).into_owned()))
            .unwrap_or_else(|| ("?".into(), dir.display().to_string()));
        let figures = std::fs::read(dir.join(journal::Journal::FILE)).ok().and_then(|b| journal::replay_bytes(&b).ok());
        let busy = wxfs::sandbox::Sandbox::open_dir(dir).is_err();
        let storage = std::fs::metadata(dir.join("kv/data.log")).map(|m| m.len()).unwrap_or(0);
        match figures {
            Some(r) => println!(
                "{user:<24} {app:<20} {:>10} / {:<9} {:>12} {:>12}  {}{}",
                mib(r.usage.user),
                mib(limits.user_files).trim_end_matches(".0 MiB").to_string() + " MiB",
                mib(r.usage.temp),
                format!("log {}", mib(storage)),
                if busy { "open" } else { "closed" },
                if r.pending.is_empty() { String::new() } else { format!(", {} writes to settle", r.pending.len()) }
            ),
            None => println!("{user:<24} {app:<20} {:>22} {:>12} {:>12}  no journal (run fsck)", "?", "?", mib(storage)),
        }
    }
    println!("{} sandboxes", dirs.len());
    Ok(())
}

fn gc(root: &str, limit: Option<&str>) -> Result<(), String> {
    let limit = match limit {
        Some(l) => l.parse().map_err(|_| format!("LIMIT_BYTES must be a number, not {l}"))?,
        None => wxfs::quota::Limits::default().temp_all_sandboxes,
    };
    let r = wxfs::session::gc(std::path::Path::new(root), limit, progress("gc")).map_err(|e| e.to_string())?;
    println!("temp files: {} before, {} after (limit {})", r.before, r.after, limit);
    for d in &r.trimmed {
        println!("  trimmed {}", d.display());
    }
    for d in &r.busy {
        println!("  skipped (open) {}", d.display());
    }
    Ok(())
}

fn fsck(root: &str, repair: bool) -> Result<(), String> {
    let reports = wxfs::fsck::fsck(std::path::Path::new(root), repair, progress("fsck")).map_err(|e| e.to_string())?;
    let mut bad = 0;
    for r in &reports {
        let problems = r.problems();
        let state = if r.busy {
            "open elsewhere, not checked".to_string()
        } else if problems.is_empty() {
            format!("ok ({} user bytes, {} temp bytes, {} storage records)", r.real.user, r.real.temp, r.storage.records)
        } else {
            format!("{} problem(s)", problems.len())
        };
        println!("{}: {state}", r.dir.display());
        for p in &problems {
            println!("  - {p}");
        }
        for f in &r.repaired {
            println!("  + {f}");
        }
        if !problems.is_empty() && r.repaired.is_empty() {
            bad += 1;
        }
    }
    println!("{} sandboxes checked, {} with unrepaired problems", reports.len(), bad);
    if bad > 0 {
        Err("fsck found problems; run with --repair to fix them".into())
    } else {
        Ok(())
    }
}

fn open(root: &str, user: &str, app: &str) -> Result<Arc<Session>, String> {
    Session::open(Config::new(root, user, app)).map_err(|e| e.to_string())
}

fn invoke(root: &str, user: &str, app: &str, api: &str, args: Option<&str>) -> Result<(), String> {
    let s = open(root, user, app)?;
    let (code, result) = bridge::invoke(&s, api, args.unwrap_or("{}"));
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    if code == 0 {
        Ok(())
    } else {
        Err(format!("{api} returned {code}"))
    }
}

fn storage(root: &str, user: &str, app: &str, rest: &[String]) -> Result<(), String> {
    let s = open(root, user, app)?;
    match rest.first().map(String::as_str) {
        None | Some("list") => {
            let (_, info) = bridge::invoke(&s, "getStorageInfoSync", "{}");
            println!("{} KB of {} KB", info["currentSize"], info["limitSize"]);
            for key in info["keys"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                let (_, v) = bridge::invoke(&s, "getStorageSync", &json!({"key": key}).to_string());
                let data = v["data"].to_string();
                let shown: String = data.chars().take(80).collect();
                println!("{key:<32} {shown}{}", if shown.len() < data.len() { "..." } else { "" });
            }
            Ok(())
        }
        Some("get") if rest.len() == 2 => {
            let (_, v) = bridge::invoke(&s, "getStorage", &json!({"key": rest[1]}).to_string());
            println!("{}", serde_json::to_string_pretty(&v).unwrap());
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

/// A 1024x512 24-bit BMP: an image a download could have produced, 1.5 MB.
fn demo_image() -> Vec<u8> {
    let (w, h) = (1024u32, 512u32);
    let row = w * 3;
    let size = 54 + row * h;
    let mut b = Vec::with_capacity(size as usize);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&(row * h).to_le_bytes());
    b.extend_from_slice(&[0; 16]);
    for y in 0..h {
        for x in 0..w {
            b.extend_from_slice(&[(x & 0xff) as u8, (y & 0xff) as u8, ((x ^ y) & 0xff) as u8]);
        }
    }
    b
}

fn step(n: usize, what: &str, s: &Session, api: &str, args: Value) -> Result<Value, String> {
    let (code, result) = bridge::invoke(s, api, &args.to_string());
    let mut shown = result.clone();
    if let Some(o) = shown.as_object_mut() {
        if let Some(Value::Array(bufs)) = o.get_mut("__nativeBuffers__") {
            for b in bufs {
                let len = b["base64"].as_str().map(|s| s.len() * 3 / 4).unwrap_or(0);
                b["base64"] = json!(format!("<{len} bytes>"));
            }
        }
    }
    println!("{n}. {what}\n   {api} -> {shown}");
    if code != 0 {
        return Err(format!("step {n} failed with code {code}"));
    }
    Ok(result)
}

fn demo(root: Option<PathBuf>) -> Result<(), String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let root = root.unwrap_or_else(|| std::env::temp_dir().join("wxfs-demo"));
    let (user, app) = ("demo-user", "wxdemo0000000001");
    let sandbox = wxfs::sandbox::sandbox_dir(&root, user.as_bytes(), app.as_bytes());
    let _ = std::fs::remove_dir_all(&sandbox); // every run starts from a fresh install
    println!("wxfs {} demo: image cache, root {}", env!("CARGO_PKG_VERSION"), root.display());

    let image = demo_image();
    let s = open(root.to_str().ok_or("root is not UTF-8")?, user, app)?;
    let t = step(
        1,
        &format!("the host downloads a {} byte image into a temp file", image.len()),
        &s,
        "host.createTempFile",
        json!({"extension": "bmp", "__nativeBuffers__": [{"key": "data", "base64": b64.encode(&image)}]}),
    )?;
    let temp = t["tempFilePath"].as_str().unwrap_or_default().to_string();
    let saved = step(2, "the mini-program keeps it: saveFile", &s, "saveFile", json!({"tempFilePath": temp}))?;
    let saved = saved["savedFilePath"].as_str().unwrap_or_default().to_string();
    step(3, "and remembers where", &s, "setStorageSync", json!({"key": "image_cache", "data": saved}))?;
    step(4, "the temp path is gone (saveFile moves)", &s, "access", json!({"path": temp})).err();
    drop(s);
    println!("5. the app is closed and started again");
    let s = open(root.to_str().unwrap(), user, app)?;
    let got = step(6, "the cached path is found", &s, "getStorageSync", json!({"key": "image_cache"}))?;
    if got["data"].as_str() != Some(saved.as_str()) {
        return Err(format!("expected {saved}, got {}", got["data"]));
    }
    let read = step(7, "the image is read back", &s, "readFile", json!({"filePath": saved}))?;
    let bytes = read["__nativeBuffers__"][0]["base64"].as_str().and_then(|x| b64.decode(x).ok()).unwrap_or_default();
    let info = step(8, "its digest", &s, "getFileInfo", json!({"filePath": saved, "digestAlgorithm": "sha256"}))?;
    let (_, list) = bridge::invoke(&s, "getSavedFileList", "{}");
    println!("9. saved files: {}", list["fileList"]);
    if bytes != image {
        return Err(format!("read back {} bytes that differ from the {} written", bytes.len(), image.len()));
    }
    println!(
        "verified: {} bytes identical, sha256 {}; usage {} of {} bytes",
        bytes.len(),
        info["digest"].as_str().unwrap_or_default(),
        s.fs.usage().user,
        s.fs.limits().user_files
    );
    Ok(())
}
