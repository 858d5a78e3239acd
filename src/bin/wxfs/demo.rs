//! `wxfs demo`: the image-cache scenario a mini-program developer writes, played through the
//! bridge on a fresh sandbox, with every byte checked at the end.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use wxfs::{bridge, Config, Session};

fn open(root: &std::path::Path, user: &str, app: &str) -> Result<Arc<Session>, String> {
    Session::open(Config::new(root, user, app)).map_err(|e| e.to_string())
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

pub fn demo(root: Option<PathBuf>) -> Result<(), String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let root = root.unwrap_or_else(|| std::env::temp_dir().join("wxfs-demo"));
    let (user, app) = ("demo-user", "wxdemo0000000001");
    let sandbox = wxfs::sandbox::sandbox_dir(&root, user.as_bytes(), app.as_bytes());
    let _ = std::fs::remove_dir_all(&sandbox); // every run starts from a fresh install
    println!("wxfs {} demo: image cache, root {}", env!("CARGO_PKG_VERSION"), root.display());

    let image = demo_image();
    let s = open(&root, user, app)?;
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
    let s = open(&root, user, app)?;
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
