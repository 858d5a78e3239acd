//! The `platform` config field through the C ABI: each platform's sandbox is its own
//! directory, WeChat's stays where it always was, and the host calls that remove or trim
//! sandboxes reach every platform's. The per-platform behaviour itself is in the conformance
//! cases (tests/conformance/platforms/, run by tests/conformance.rs).

mod common;

use std::path::Path;

use common::abi::Lib;
use common::bridge::b64;
use common::zip::zip_of;
use serde_json::{json, Value};

/// `wxfs_remove_sandbox_config`: the code, and whether a sandbox was removed.
fn remove_config(lib: &Lib, config: &Value) -> (i32, bool) {
    let text = config.to_string();
    let mut removed = false;
    let rc = unsafe { (lib.remove_sandbox_config)(text.as_ptr(), text.len(), &mut removed) };
    (rc, removed)
}

fn platform_config(root: &Path, platform: Option<&str>) -> Value {
    let mut c = json!({"root": root.to_str().unwrap(), "appId": "wxApp1", "userId": "user-1"});
    if let Some(p) = platform {
        c["platform"] = json!(p);
    }
    c
}

#[test]
fn each_platform_has_its_own_directory_and_wechat_keeps_its_old_one() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-dirs");
    let user_data = [
        (None, "wxfile://usr"),
        (Some("alipay"), "https://usr"),
        (Some("douyin"), "ttfile://user"),
        (Some("baidu"), "bdfile://usr"),
        (Some("qq"), "qqfile://usr"),
    ];
    for (platform, usr) in user_data {
        let h = lib.open(&platform_config(&root, platform)).unwrap();
        let (rc, _) =
            lib.invoke(h, "writeFileSync", &json!({"filePath": format!("{usr}/who.txt"), "data": platform.unwrap_or("wechat")}));
        assert_eq!(rc, 0, "{platform:?}");
        lib.close(h);
    }
    // WeChat where every earlier release put it (tests/upgrade.rs opens such fixtures), the others beside it.
    let user = root.join("user-1");
    for (dir, who) in [
        ("wx^app1", "wechat"),
        ("wx^app1@alipay", "alipay"),
        ("wx^app1@douyin", "douyin"),
        ("wx^app1@baidu", "baidu"),
        ("wx^app1@qq", "qq"),
    ] {
        assert_eq!(std::fs::read_to_string(user.join(dir).join("usr/who.txt")).unwrap(), who, "{dir}");
    }
    let mut names: Vec<_> = std::fs::read_dir(&user).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_unknown_platform_is_a_config_error_naming_the_field() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-bad");
    assert_eq!(lib.open(&platform_config(&root, Some("toutiao"))), Err(-6));
    let msg = lib.last_error_message();
    assert!(msg.starts_with("invalid config: platform \"toutiao\""), "{msg}");
    assert!(!root.join("user-1").exists(), "a refused config made a directory");
    let mut c = platform_config(&root, Some("qq"));
    c["protocol"] = json!("wxfile");
    assert_eq!(lib.open(&c), Err(-6));
    assert!(lib.last_error_message().contains("protocol \"wxfile\""));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn remove_sandbox_config_removes_one_platforms_sandbox_only() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-remove");
    for p in [None, Some("alipay")] {
        let h = lib.open(&platform_config(&root, p)).unwrap();
        let (rc, _) = lib.invoke(h, "setStorageSync", &json!({"key": "k", "data": p.unwrap_or("wechat")}));
        assert_eq!(rc, 0);
        lib.close(h);
    }
    let h = lib.open(&platform_config(&root, Some("alipay"))).unwrap();
    assert_eq!(remove_config(&lib, &platform_config(&root, Some("alipay"))), (-7, false), "removed while open");
    lib.close(h);
    assert_eq!(remove_config(&lib, &platform_config(&root, Some("alipay"))), (0, true));
    assert_eq!(remove_config(&lib, &platform_config(&root, Some("alipay"))), (0, false), "removed twice");
    assert!(!root.join("user-1/wx^app1@alipay").exists());
    // WeChat's sandbox of the same ids is untouched.
    let h = lib.open(&platform_config(&root, None)).unwrap();
    let (_, v) = lib.invoke(h, "getStorageSync", &json!({"key": "k"}));
    assert_eq!(v["data"], "wechat");
    lib.close(h);
    let h = lib.open(&platform_config(&root, Some("alipay"))).unwrap();
    let (_, v) = lib.invoke(h, "getStorageSync", &json!({"key": "k"}));
    assert_eq!(v, json!({"data": null}), "the alipay sandbox starts afresh");
    lib.close(h);
    assert_eq!(remove_config(&lib, &json!({"root": root.to_str().unwrap(), "userId": "u"})).0, -6);
    assert!(lib.last_error_message().contains("appId"));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn gc_trims_every_platforms_temp_files() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-gc");
    for p in [Some("douyin"), Some("qq")] {
        let h = lib.open(&platform_config(&root, p)).unwrap();
        let (rc, v) = lib.invoke(h, "host.createTempFile", &json!({"data": "x".repeat(1000), "encoding": "utf8"}));
        assert_eq!(rc, 0, "{v}");
        lib.close(h);
    }
    let r = root.to_str().unwrap();
    let mut freed = 0u64;
    assert_eq!(unsafe { (lib.gc)(r.as_ptr(), r.len(), 1, &mut freed) }, 0);
    assert_eq!(freed, 2000);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn alipay_refuses_a_file_over_10_mb_and_wechat_does_not() {
    // ALI-D FileSystemManager.writeFile.md / ALI-T L14947: 10028 单个文件超过 10M.
    let lib = Lib::load();
    let root = common::fresh_dir("platform-10m");
    let big = json!({"filePath": "https://usr/big.bin", "data": "x".repeat(10 * 1024 * 1024 + 1)});
    let h = lib.open(&platform_config(&root, Some("alipay"))).unwrap();
    let (rc, v) = lib.invoke(h, "writeFileSync", &big);
    assert_eq!((rc, v), (10028, json!({"errorMessage": "单个文件超过 10M", "error": 10028})));
    let (rc, v) = lib.invoke(h, "accessSync", &json!({"path": "https://usr/big.bin"}));
    assert_eq!((rc, &v["error"]), (10022, &json!(10022)), "{v}");
    let at_limit = json!({"filePath": "https://usr/big.bin", "data": "x".repeat(10 * 1024 * 1024)});
    assert_eq!(lib.invoke(h, "writeFileSync", &at_limit).0, 0);
    let (rc, v) = lib.invoke(h, "appendFileSync", &json!({"filePath": "https://usr/big.bin", "data": "y"}));
    assert_eq!((rc, &v["errorMessage"]), (10028, &json!("单个文件超过 10M")));
    lib.close(h);
    let h = lib.open(&platform_config(&root, None)).unwrap();
    let mut big = big;
    big["filePath"] = json!("wxfile://usr/big.bin");
    assert_eq!(lib.invoke(h, "writeFileSync", &big).0, 0, "WeChat has no per-file limit");
    lib.close(h);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn the_inspector_lists_a_platforms_sandbox_with_its_platform_and_quota() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-ls");
    for p in [None, Some("alipay")] {
        let h = lib.open(&platform_config(&root, p)).unwrap();
        lib.close(h);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wxfs")).args(["ls", root.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = |app: &str| text.lines().find(|l| l.split_whitespace().nth(1) == Some(app)).map(str::to_string);
    assert!(line("wxApp1").is_some_and(|l| l.contains("/ 200 MiB")), "{text}");
    assert!(line("wxApp1@alipay").is_some_and(|l| l.contains("/ 50 MiB")), "{text}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn host_apis_answer_in_wechats_envelope_on_every_platform() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-host");
    let h = lib.open(&platform_config(&root, Some("alipay"))).unwrap();
    let (rc, v) = lib.invoke(h, "host.createTempFile", &json!({"data": "x", "encoding": "utf8", "extension": "txt"}));
    assert_eq!(rc, 0);
    assert_eq!(v["errMsg"], "host.createTempFile:ok");
    assert!(v.get("success").is_none(), "{v}");
    let (rc, v) = lib.invoke(h, "host.realPath", &json!({"path": "https://usr/none"}));
    assert_ne!(rc, 0);
    assert!(v["errMsg"].as_str().unwrap().starts_with("host.realPath:fail"), "{v}");
    assert!(v.get("error").is_none(), "{v}");
    // The mini-program's own apis answer in Alipay's.
    let (rc, v) = lib.invoke(h, "accessSync", &json!({"path": "https://usr/none"}));
    assert_eq!((rc, v), (10022, json!({"errorMessage": "文件/目录不存在", "error": 10022})));
    lib.close(h);
    let _ = std::fs::remove_dir_all(root);
}

/// The `${name}` placeholders the embedded dialect templates use (docs/platforms/dialects.json).
fn template_names() -> Vec<String> {
    let text = std::fs::read_to_string(common::repo_dir().join("docs/platforms/dialects.json")).unwrap();
    let mut names: Vec<String> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A value from the caller is never expanded as a template, on any platform
/// or in any message. Every argument that reaches a message carries every placeholder name the
/// templates use; the message quotes it as given (never with a value, or itself, substituted
/// for a placeholder) and stays within 4x its inputs + 200 bytes.
#[test]
fn a_callers_value_is_never_expanded_as_a_template() {
    let lib = Lib::load();
    let root = common::fresh_dir("platform-templates");
    let names = template_names();
    assert!(names.len() >= 4 && names.iter().any(|n| n == "path") && names.iter().any(|n| n == "api"), "{names:?}");
    let platforms = [None, Some("alipay"), Some("douyin"), Some("baidu"), Some("qq")];
    for platform in platforms {
        let h = lib.open(&platform_config(&root, platform)).unwrap();
        let usr = match platform {
            None => "wxfile://usr",
            Some("alipay") => "https://usr",
            Some("douyin") => "ttfile://user",
            Some("baidu") => "bdfile://usr",
            _ => "qqfile://usr",
        };
        assert_eq!(lib.invoke(h, "writeFileSync", &json!({"filePath": format!("{usr}/f"), "data": "x"})).0, 0);
        let mut values: Vec<String> = Vec::new();
        for n in &names {
            let p = format!("${{{n}}}");
            values.push(format!("{usr}/missing/d{p}x"));
            values.push(format!("{usr}/f/{p}")); // a file in the middle: "not a directory"
            values.push(format!("{usr}/d{p}"));
            values.push(format!("d{p}x")); // a package path
            values.push(p.clone()); // not a path of any area
        }
        // 1.9 KB with 192 placeholders: 364 KiB of errMsg before the fix.
        values.push(format!("{usr}/missing/{}", "${dirPath}".repeat(96) + &"${path}".repeat(96)));
        for v in &values {
            let w = format!("{v}2");
            let calls: Vec<(&str, Value)> = vec![
                ("readFileSync", json!({"filePath": v})),
                ("readFile", json!({"filePath": v, "encoding": "utf8"})),
                ("accessSync", json!({"path": v})),
                ("statSync", json!({"path": v, "recursive": true})),
                ("readdirSync", json!({"dirPath": v})),
                ("mkdirSync", json!({"dirPath": format!("{v}/sub")})),
                ("mkdirSync", json!({"dirPath": v, "recursive": true})),
                ("rmdirSync", json!({"dirPath": v})),
                ("unlinkSync", json!({"filePath": v})),
                ("writeFileSync", json!({"filePath": v, "data": "x"})),
                ("appendFileSync", json!({"filePath": v, "data": "x"})),
                ("truncateSync", json!({"filePath": v})),
                ("copyFileSync", json!({"srcPath": v, "destPath": w})),
                ("copyFileSync", json!({"srcPath": format!("{usr}/f"), "destPath": v})),
                ("renameSync", json!({"oldPath": v, "newPath": w})),
                ("renameSync", json!({"oldPath": format!("{usr}/f"), "newPath": v})),
                ("openSync", json!({"filePath": v, "flag": "r"})),
                ("openSync", json!({"filePath": format!("{usr}/f"), "flag": v})),
                ("saveFileSync", json!({"tempFilePath": v, "filePath": w})),
                ("saveFileSync", json!({"tempFilePath": v, "apFilePath": w})),
                ("getFileInfoSync", json!({"filePath": v})),
                ("getFileInfoSync", json!({"filePath": format!("{usr}/f"), "digestAlgorithm": v})),
                ("getSavedFileInfoSync", json!({"filePath": v})),
                ("removeSavedFileSync", json!({"filePath": v})),
                ("readCompressedFileSync", json!({"filePath": v, "compressionAlgorithm": "br"})),
                ("readCompressedFileSync", json!({"filePath": format!("{usr}/f"), "compressionAlgorithm": v})),
                ("readZipEntry", json!({"filePath": v, "entries": "all"})),
                ("readZipEntry", json!({"filePath": format!("{usr}/f"), "entries": [{"path": v}]})),
                ("unzip", json!({"zipFilePath": v, "targetPath": w})),
                ("unzip", json!({"zipFilePath": format!("{usr}/f"), "targetPath": v})),
                ("readFileSync", json!({"filePath": format!("{usr}/f"), "encoding": v})),
                ("closeSync", json!({"fd": v})),
                ("getStorageSync", json!({"key": v})),
                ("getStorage", json!({"key": v})),
                ("host.realPath", json!({"path": v})),
                ("host.resolveBufferURL", json!({"url": v})),
                ("host.createTempFile", json!({"sourcePath": v})),
            ];
            for (api, args) in calls {
                let (rc, out) = lib.invoke(h, api, &args);
                if rc == 0 {
                    continue;
                }
                let msg = out.get("errMsg").or_else(|| out.get("errorMessage")).and_then(Value::as_str).unwrap_or_default();
                let inputs: usize =
                    api.len() + args.as_object().unwrap().values().filter_map(Value::as_str).map(str::len).sum::<usize>();
                let why = format!("{platform:?} {api} {args}: {rc} {}", &msg[..msg.len().min(600)]);
                assert!(msg.len() <= 4 * inputs + 200, "{} bytes of message for {inputs} bytes of input: {why}", msg.len());
                for arg in args.as_object().unwrap().values().filter_map(Value::as_str) {
                    for n in &names {
                        let p = format!("${{{n}}}");
                        // (A bare placeholder filled with the api name or the user dir would be
                        // found in any message: the length bound covers that case.)
                        if arg.contains(&p) && arg != p {
                            for filling in [arg, api, usr] {
                                let expanded = arg.replacen(&p, filling, 1);
                                assert!(!msg.contains(&expanded), "{p} expanded with {filling:?}: {why}");
                            }
                        }
                    }
                }
            }
        }
        lib.close(h);
    }
    let _ = std::fs::remove_dir_all(root);
}

/// The platforms whose dialect gives a per-file limit, with that limit and their code and text
/// for a file over it (docs/platforms/dialects.json: `limits.singleFile`, `errors.file-too-large`).
fn per_file_limits() -> Vec<(String, u64, i64, String)> {
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(common::repo_dir().join("docs/platforms/dialects.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for (name, d) in table["platforms"].as_object().unwrap() {
        if let Some(bytes) = d["limits"]["singleFile"]["bytes"].as_u64() {
            let e = &d["errors"]["file-too-large"];
            out.push((name.clone(), bytes, e["code"].as_i64().unwrap(), e["message"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// Every route that creates or grows a file enforces the platform's per-file
/// limit (writeFile, appendFile, fd write, ftruncate, truncate, copyFile, saveFile, rename,
/// unzip), with the platform's code and text, and changes nothing; a file at the limit is fine.
#[test]
fn every_route_that_makes_or_grows_a_file_keeps_the_platforms_per_file_limit() {
    let lib = Lib::load();
    let limits = per_file_limits();
    assert!(limits.iter().any(|(p, ..)| p == "alipay"), "{limits:?}");
    for (platform, limit, code, text) in limits {
        let root = common::fresh_dir(&format!("platform-per-file-{platform}"));
        let mut cfg = platform_config(&root, Some(&platform));
        cfg["limits"] = json!({"userFiles": 200u64 << 20});
        let h = lib.open(&cfg).unwrap();
        let base = match platform.as_str() {
            "alipay" => "https://usr",
            "douyin" => "ttfile://user",
            "baidu" => "bdfile://usr",
            "qq" => "qqfile://usr",
            _ => "wxfile://usr",
        };
        let p = |rel: &str| format!("{base}/{rel}");
        let over = (limit + 1) as usize;
        let wrong = std::cell::RefCell::new(Vec::new());
        let refused = |what: &str, (rc, v): (i32, Value)| {
            let msg = v.get("errMsg").or_else(|| v.get("errorMessage")).and_then(Value::as_str).unwrap_or_default().to_string();
            if rc as i64 != code || !msg.ends_with(&text) {
                wrong.borrow_mut().push(format!("{what}: {rc} {v}"));
            }
        };
        let size_of = |path: &str| -> Value {
            let (rc, v) = lib.invoke(h, "statSync", &json!({"path": path}));
            if rc == 0 {
                v["stats"]["size"].clone()
            } else {
                Value::Null
            }
        };
        // At the limit: fine, by every route below.
        let at_limit = "x".repeat(limit as usize);
        assert_eq!(lib.invoke(h, "writeFileSync", &json!({"filePath": p("full"), "data": at_limit})).0, 0);
        assert_eq!(size_of(&p("full")), json!(limit));
        // writeFile, appendFile, truncate: the whole file would pass the limit.
        refused("writeFile", lib.invoke(h, "writeFileSync", &json!({"filePath": p("w"), "data": "x".repeat(over)})));
        // The typed C function answers in WeChat's codes on every platform (the library's own
        // 1400103 here), and keeps the limit too.
        let w = p("w");
        let rc = unsafe { (lib.write_file)(h, w.as_ptr(), w.len(), vec![1u8; over].as_ptr(), over) };
        if rc != 1_400_103 || !lib.last_error_message().contains(&format!("file larger than {limit} bytes")) {
            wrong.borrow_mut().push(format!("wxfs_write_file: {rc} {}", lib.last_error_message()));
        }
        refused("appendFile", lib.invoke(h, "appendFileSync", &json!({"filePath": p("full"), "data": "y"})));
        refused("truncate", lib.invoke(h, "truncateSync", &json!({"filePath": p("full"), "length": over})));
        // Through an fd: a write past the limit (at once, or as the last byte) and ftruncate.
        let (rc, v) = lib.invoke(h, "openSync", &json!({"filePath": p("fd"), "flag": "w+"}));
        assert_eq!(rc, 0, "{v}");
        let fd = v["fd"].clone();
        let write = |data: &[u8], position: Value| {
            lib.invoke(
                h,
                "writeSync",
                &json!({"fd": fd, "position": position, "__nativeBuffers__": [{"key": "data", "base64": b64(data)}]}),
            )
        };
        refused("fd write", write(&vec![7u8; over], Value::Null));
        assert_eq!(write(&[7u8; 16], json!(limit - 16)).0, 0);
        refused("fd write at the end", write(&[7u8; 2], json!(limit - 1)));
        refused("ftruncate", lib.invoke(h, "ftruncateSync", &json!({"fd": fd, "length": over})));
        assert_eq!(lib.invoke(h, "closeSync", &json!({"fd": fd})).0, 0);
        // From temp files (12 MiB, as a download makes them): copyFile and saveFile.
        let temp = |len: usize| {
            let (rc, v) = lib.invoke(h, "host.createTempFile", &json!({"data": "t".repeat(len), "encoding": "utf8"}));
            assert_eq!(rc, 0, "{v}");
            v["tempFilePath"].as_str().unwrap().to_string()
        };
        let big = temp(12 << 20);
        refused("copyFile", lib.invoke(h, "copyFileSync", &json!({"srcPath": big, "destPath": p("copy")})));
        refused("saveFile", lib.invoke(h, "saveFileSync", &json!({"tempFilePath": big})));
        refused("saveFile to a user path", lib.invoke(h, "saveFileSync", &json!({"tempFilePath": big, "filePath": p("saved")})));
        // unzip: a 12 KB zip holding a 12 MiB entry.
        let zip = zip_of(&[("big.bin", &vec![0u8; 12 << 20])]);
        assert!(zip.len() < 64 << 10);
        let (rc, v) = lib.invoke(
            h,
            "writeFileSync",
            &json!({"filePath": p("z.zip"), "__nativeBuffers__": [{"key": "data", "base64": b64(&zip)}]}),
        );
        assert_eq!(rc, 0, "{v}");
        refused("unzip", lib.invoke(h, "unzip", &json!({"zipFilePath": p("z.zip"), "targetPath": p("out")})));
        // rename: a file over the limit that reached the user dir some other way (the host's own
        // copy, a sandbox made before the limit) is not given a new name.
        let real = lib.invoke(h, "host.realPath", &json!({"path": p("full")})).1["realPath"].as_str().unwrap().to_string();
        std::fs::write(Path::new(&real).with_file_name("placed"), vec![1u8; over]).unwrap();
        refused("rename", lib.invoke(h, "renameSync", &json!({"oldPath": p("placed"), "newPath": p("renamed")})));
        assert!(wrong.borrow().is_empty(), "{platform}: not refused with {code} {text}:\n{}", wrong.borrow().join("\n"));
        // Nothing was made or grown.
        for name in ["w", "copy", "saved", "out", "renamed"] {
            assert_eq!(size_of(&p(name)), Value::Null, "{platform}: {name} was made");
        }
        assert_eq!(size_of(&p("full")), json!(limit));
        assert_eq!(size_of(&p("fd")), json!(limit));
        assert_eq!(size_of(&p("placed")), json!(over));
        // At the limit by the other routes.
        let fits = temp(limit as usize);
        assert_eq!(lib.invoke(h, "copyFileSync", &json!({"srcPath": fits, "destPath": p("copy")})).0, 0);
        assert_eq!(lib.invoke(h, "renameSync", &json!({"oldPath": p("copy"), "newPath": p("copy2")})).0, 0);
        let (rc, v) = lib.invoke(h, "saveFileSync", &json!({"tempFilePath": fits}));
        assert_eq!(rc, 0, "{v}");
        let zip = zip_of(&[("ok.bin", &vec![0u8; limit as usize])]);
        let (rc, _) = lib.invoke(
            h,
            "writeFileSync",
            &json!({"filePath": p("ok.zip"), "__nativeBuffers__": [{"key": "data", "base64": b64(&zip)}]}),
        );
        assert_eq!(rc, 0);
        assert_eq!(lib.invoke(h, "unzip", &json!({"zipFilePath": p("ok.zip"), "targetPath": p("out")})).0, 0);
        assert_eq!(size_of(&p("out/ok.bin")), json!(limit));
        lib.close(h);
        let _ = std::fs::remove_dir_all(root);
    }
}
