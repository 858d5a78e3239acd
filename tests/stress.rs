//! Thread stress: 16 threads on 4 sandboxes run a random mix of the APIs for a fixed
//! count. Each thread owns a namespace and keeps a model (an operation changes the model iff it
//! returned ok: refused writes change nothing); all share a small quota and a contended key. At
//! the end the files, the storage and the quota journal match the models exactly, also after a
//! reopen.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use common::bridge::{buffer, call};
use common::Rng;
use serde_json::{json, Value};
use wxfs::{Config, Session};

const THREADS: usize = 16;
const SANDBOXES: usize = 4;
const OPS: usize = 400;

#[derive(Default, Debug, PartialEq)]
struct Model {
    files: BTreeMap<String, Vec<u8>>,
    kv: BTreeMap<String, Value>,
    saved: BTreeMap<String, Vec<u8>>,
}

fn worker(s: Arc<Session>, t: usize, seed: u64) -> Model {
    let mut r = Rng(seed);
    let mut m = Model::default();
    let dir = format!("wxfile://usr/t{t}");
    assert_eq!(call(&s, "mkdirSync", json!({"dirPath": dir})).0, 0);
    let name = |r: &mut Rng| format!("f{}", r.below(5));
    let data = |r: &mut Rng| -> Vec<u8> {
        let n = r.below(3000) as usize;
        (0..n).map(|i| (i as u8).wrapping_mul(t as u8 + 1)).collect()
    };
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    for _ in 0..OPS {
        match r.below(16) {
            0 | 1 => {
                let (n, d) = (name(&mut r), data(&mut r));
                let (c, _) = call(
                    &s,
                    "writeFileSync",
                    json!({"filePath": format!("{dir}/{n}"), "__nativeBuffers__": [{"key": "data", "base64": b64(&d)}]}),
                );
                assert!(c == 0 || c == 1300202, "writeFile {c}");
                if c == 0 {
                    m.files.insert(n, d);
                }
            }
            2 => {
                let (n, d) = (name(&mut r), data(&mut r));
                let (c, _) = call(
                    &s,
                    "appendFileSync",
                    json!({"filePath": format!("{dir}/{n}"), "__nativeBuffers__": [{"key": "data", "base64": b64(&d)}]}),
                );
                match (c, m.files.get_mut(&n)) {
                    (0, Some(f)) => f.extend_from_slice(&d),
                    (1300002, None) | (1300202, Some(_)) => {}
                    (c, f) => panic!("appendFile {c} exists={}", f.is_some()),
                }
            }
            3 => {
                let n = name(&mut r);
                let (c, res) = call(&s, "readFileSync", json!({"filePath": format!("{dir}/{n}")}));
                match m.files.get(&n) {
                    Some(f) => assert_eq!((c, buffer(&res, "data")), (0, f.clone()), "readFile {n}"),
                    None => assert_eq!(c, 1300002),
                }
            }
            4 => {
                let (a, b) = (name(&mut r), name(&mut r));
                let (c, _) = call(&s, "copyFileSync", json!({"srcPath": format!("{dir}/{a}"), "destPath": format!("{dir}/{b}")}));
                match m.files.get(&a).cloned() {
                    Some(f) if c == 0 => {
                        m.files.insert(b, f);
                    }
                    Some(_) => assert_eq!(c, 1300202),
                    None => assert_eq!(c, 1300002),
                }
            }
            5 => {
                let (a, b) = (name(&mut r), name(&mut r));
                let (c, _) = call(&s, "renameSync", json!({"oldPath": format!("{dir}/{a}"), "newPath": format!("{dir}/{b}")}));
                match m.files.remove(&a) {
                    Some(f) => {
                        assert_eq!(c, 0);
                        m.files.insert(b, f);
                    }
                    None => assert_eq!(c, 1300002),
                }
            }
            6 => {
                let n = name(&mut r);
                let (c, _) = call(&s, "unlinkSync", json!({"filePath": format!("{dir}/{n}")}));
                assert_eq!(c, if m.files.remove(&n).is_some() { 0 } else { 1300002 });
            }
            7 => {
                let n = name(&mut r);
                let len = r.below(4000);
                let (c, _) = call(&s, "truncateSync", json!({"filePath": format!("{dir}/{n}"), "length": len}));
                match m.files.get_mut(&n) {
                    Some(f) if c == 0 => f.resize(len as usize, 0),
                    Some(_) => assert_eq!(c, 1300202),
                    None => assert_eq!(c, 1300002),
                }
            }
            8 => {
                // fd round trip on a file of our own
                let n = name(&mut r);
                let (c, res) = call(&s, "openSync", json!({"filePath": format!("{dir}/{n}"), "flag": "a+"}));
                assert_eq!(c, 0);
                let fd = res["fd"].as_str().unwrap().to_string();
                let d = data(&mut r);
                let (c, _) = call(&s, "writeSync", json!({"fd": fd, "__nativeBuffers__": [{"key": "data", "base64": b64(&d)}]}));
                let f = m.files.entry(n).or_default();
                if c == 0 {
                    f.extend_from_slice(&d);
                } else {
                    assert_eq!(c, 1300202);
                }
                let (c, st) = call(&s, "fstatSync", json!({"fd": fd}));
                assert_eq!((c, st["stats"]["size"].as_u64()), (0, Some(f.len() as u64)));
                assert_eq!(call(&s, "closeSync", json!({"fd": fd})).0, 0);
            }
            9 => {
                let k = format!("t{t}_k{}", r.below(6));
                let v = json!({"t": t, "n": r.below(1000), "pad": "x".repeat(r.below(500) as usize)});
                let (c, _) = call(&s, "setStorageSync", json!({"key": k, "data": v}));
                assert!(c == 0 || c == 1400003, "setStorage {c}");
                if c == 0 {
                    m.kv.insert(k, v);
                }
            }
            10 => {
                let k = format!("t{t}_k{}", r.below(6));
                let (c, res) = call(&s, "getStorage", json!({"key": k}));
                match m.kv.get(&k) {
                    Some(v) => assert_eq!((c, &res["data"]), (0, v)),
                    None => assert_eq!(c, 1400001),
                }
            }
            11 => {
                let k = format!("t{t}_k{}", r.below(6));
                assert_eq!(call(&s, "removeStorageSync", json!({"key": k})).0, 0);
                m.kv.remove(&k);
            }
            12 => {
                let items: Vec<(String, Value)> =
                    (0..3).map(|_| (format!("t{t}_k{}", r.below(6)), json!(r.below(100)))).collect();
                let list: Vec<Value> = items.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
                let (c, _) = call(&s, "batchSetStorageSync", json!({"kvList": list}));
                assert!(c == 0 || c == 1400003);
                if c == 0 {
                    m.kv.extend(items);
                }
                let keys: Vec<&String> = m.kv.keys().collect();
                let (c, res) = call(&s, "batchGetStorageSync", json!({"keyList": keys}));
                assert_eq!(c, 0);
                let want: Vec<&Value> = m.kv.values().collect();
                assert_eq!(res["dataList"].as_array().unwrap().iter().collect::<Vec<_>>(), want);
            }
            13 => {
                let d = data(&mut r);
                let (c, res) = call(
                    &s,
                    "host.createTempFile",
                    json!({"extension": "bin", "__nativeBuffers__": [{"key": "data", "base64": b64(&d)}]}),
                );
                assert_eq!(c, 0);
                let (c, res) = call(&s, "saveFileSync", json!({"tempFilePath": res["tempFilePath"]}));
                if c == 0 {
                    m.saved.insert(res["savedFilePath"].as_str().unwrap().to_string(), d);
                } else {
                    assert_eq!(c, 1300202);
                }
            }
            14 => {
                if let Some(p) = m.saved.keys().next().cloned() {
                    let (c, info) = call(&s, "getFileInfo", json!({"filePath": p, "digestAlgorithm": "sha1"}));
                    assert_eq!((c, info["size"].as_u64()), (0, Some(m.saved[&p].len() as u64)));
                    assert_eq!(call(&s, "removeSavedFile", json!({"filePath": p})).0, 0);
                    m.saved.remove(&p);
                }
            }
            _ => {
                // contended: every thread of the sandbox writes the same key and a shared file
                assert_eq!(call(&s, "setStorageSync", json!({"key": "shared", "data": t})).0, 0);
                let (c, _) = call(&s, "writeFileSync", json!({"filePath": "wxfile://usr/shared.txt", "data": format!("t{t}")}));
                assert!(c == 0 || c == 1300202);
                let (c, res) = call(&s, "readdirSync", json!({"dirPath": dir}));
                assert_eq!(c, 0);
                let listed: Vec<&str> = res["files"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                assert_eq!(listed, m.files.keys().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }
    m
}

fn check_models(s: &Session, models: &[(usize, &Model)]) {
    let usr = s.sandbox.dir().join("usr");
    let mut user_bytes = 0u64;
    for (t, m) in models {
        let mut on_disk = BTreeMap::new();
        for e in std::fs::read_dir(usr.join(format!("t{t}"))).unwrap().flatten() {
            on_disk.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
        }
        assert_eq!(on_disk, m.files, "thread {t} files");
        user_bytes +=
            m.files.values().map(|f| f.len() as u64).sum::<u64>() + m.saved.values().map(|f| f.len() as u64).sum::<u64>();
        for (k, v) in &m.kv {
            assert_eq!(&call(s, "getStorageSync", json!({"key": k})).1["data"], v, "thread {t} key {k}");
        }
        for (p, d) in &m.saved {
            let (c, r) = call(s, "readFileSync", json!({"filePath": p}));
            assert_eq!((c, buffer(&r, "data")), (0, d.clone()));
        }
    }
    // The contended key holds one thread's value; the shared file is whole.
    let shared = call(s, "getStorageSync", json!({"key": "shared"})).1["data"].clone();
    assert!(models.iter().any(|(t, _)| shared == json!(t)) || shared == json!(""), "shared = {shared}");
    let shared_file = std::fs::read_to_string(usr.join("shared.txt")).unwrap_or_default();
    assert!(shared_file.is_empty() || models.iter().any(|(t, _)| shared_file == format!("t{t}")), "{shared_file}");
    user_bytes += shared_file.len() as u64;
    let keys = call(s, "getStorageInfoSync", json!({})).1["keys"].as_array().unwrap().len();
    assert_eq!(keys, models.iter().map(|(_, m)| m.kv.len()).sum::<usize>() + 1);
    let saved = call(s, "getSavedFileList", json!({})).1["fileList"].as_array().unwrap().len();
    assert_eq!(saved, models.iter().map(|(_, m)| m.saved.len()).sum::<usize>());
    assert_eq!(s.fs.usage().user, user_bytes, "journal usage == bytes on disk");
    assert_eq!(wxfs::fs::scan(&s.sandbox).unwrap().user, user_bytes);
}

#[test]
fn sixteen_threads_four_sandboxes_match_their_models() {
    let root = common::fresh_dir("stress");
    let cfg = |i: usize| {
        let mut c = Config::new(&root, "u", &format!("wx{i}"));
        c.limits.user_files = 96 * 1024; // small: refusals happen under contention
        c.limits.storage_total = 24 * 1024;
        c
    };
    let sessions: Vec<Arc<Session>> = (0..SANDBOXES).map(|i| Session::open(cfg(i)).unwrap()).collect();
    let models: Vec<Model> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let s = sessions[t % SANDBOXES].clone();
                sc.spawn(move || worker(s, t, 0x2545_f491_4f6c_dd1d ^ ((t as u64 + 1) * 0x9e37_79b9)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, s) in sessions.iter().enumerate() {
        let mine: Vec<(usize, &Model)> = models.iter().enumerate().filter(|(t, _)| t % SANDBOXES == i).collect();
        check_models(s, &mine);
    }
    drop(sessions);
    for i in 0..SANDBOXES {
        let s = Session::open(cfg(i)).unwrap();
        let mine: Vec<(usize, &Model)> = models.iter().enumerate().filter(|(t, _)| t % SANDBOXES == i).collect();
        check_models(&s, &mine);
    }
    let _ = std::fs::remove_dir_all(root);
}
