//! The bridge: any api name with argument objects built from the input (known argument names,
//! paths, numbers, strings, arrays and __nativeBuffers__), plus raw argument bytes. No panic
//! escapes, every result is an envelope naming the api, nothing is written outside the sandbox,
//! and the quota journal stays exact.
#![no_main]

#[path = "common.rs"]
mod common;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use once_cell::sync::Lazy;
use serde_json::{json, Map, Value};

static WORLD: Lazy<common::World> = Lazy::new(common::world);
static APIS: Lazy<Vec<String>> = Lazy::new(wxfs::bridge::api_names);

const KEYS: &[&str] = &[
    "filePath",
    "data",
    "encoding",
    "position",
    "length",
    "offset",
    "fd",
    "flag",
    "key",
    "dirPath",
    "recursive",
    "path",
    "srcPath",
    "destPath",
    "oldPath",
    "newPath",
    "tempFilePath",
    "zipFilePath",
    "targetPath",
    "entries",
    "kvList",
    "keyList",
    "dataType",
    "compressionAlgorithm",
    "digestAlgorithm",
    "extension",
    "encrypt",
];
const STRINGS: &[&str] = &[
    "wxfile://usr/a",
    "wxfile://usr/d/b",
    "wxfile://usr",
    "wxfile://usr/out/secret",
    "wxfile://usr/up/x",
    "/data/app.json",
    "wxfile://tmp_x",
    "wxfile://store_y",
    "http://usr/a",
    "utf8",
    "base64",
    "hex",
    "ucs2",
    "latin1",
    "all",
    "br",
    "md5",
    "sha256",
    "r",
    "w+",
    "a",
    "wx",
    "1",
    "",
    "..",
    "Date",
];

struct Input<'a>(&'a [u8]);
impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn value(&mut self, depth: u8) -> Value {
        match self.byte() % 9 {
            0 => json!(STRINGS[self.byte() as usize % STRINGS.len()]),
            1 => json!(self.byte() as i64 - 8),
            2 => json!((self.byte() as u64) << (self.byte() % 64)),
            3 => json!(self.byte() % 2 == 0),
            4 => Value::Null,
            5 if depth < 3 => Value::Array((0..self.byte() % 4).map(|_| self.value(depth + 1)).collect()),
            6 if depth < 3 => self.object(depth + 1),
            7 => json!(-1.5),
            _ => {
                let n = self.byte() as usize % 16;
                json!(String::from_utf8_lossy(&(0..n).map(|_| self.byte()).collect::<Vec<_>>()))
            }
        }
    }
    fn object(&mut self, depth: u8) -> Value {
        let mut m = Map::new();
        for _ in 0..self.byte() % 6 {
            let k = KEYS[self.byte() as usize % KEYS.len()];
            m.insert(k.to_string(), self.value(depth));
        }
        if self.byte() % 4 == 0 {
            let bytes: Vec<u8> = (0..self.byte() % 32).map(|_| self.byte()).collect();
            let key = ["data", "arrayBuffer"][self.byte() as usize % 2];
            m.insert(
                "__nativeBuffers__".into(),
                json!([{"key": key, "base64": base64::engine::general_purpose::STANDARD.encode(bytes)}]),
            );
        }
        Value::Object(m)
    }
}

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    let mut input = Input(data);
    let api = APIS[input.byte() as usize % APIS.len()].clone();
    if input.byte() % 8 == 0 {
        let raw = String::from_utf8_lossy(input.0).into_owned();
        w.call(&api, &raw);
    } else {
        let args = input.object(0);
        w.call(&api, &args.to_string());
    }
    w.check();
});
