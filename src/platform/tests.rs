//! The table parses, embeds without its notes, and renders each platform's words; the
//! shapes and directory tags come from it.

use super::dialect::render;
use super::*;
use crate::error::{code, Error};
use crate::fs::texts::Text;
use serde_json::Value;

#[test]
fn the_embedded_dialects_parse_and_name_every_platform() {
    for p in Platform::ALL {
        assert_eq!(Platform::from_name(p.name()), Some(p));
        let d = p.dialect();
        assert!(d.user_data_path.ends_with("://usr") || d.user_data_path == "ttfile://user", "{}", d.user_data_path);
        assert_eq!(crate::sandbox::path::parse_in(&d.user_data_path, p.protocol()).unwrap().area, crate::sandbox::Area::Usr);
    }
    assert_eq!(Platform::from_name("weixin"), None);
}

#[test]
fn the_library_embeds_the_dialect_data_without_the_research_notes() {
    let docs = include_str!("../../docs/platforms/dialects.json");
    assert!(docs.contains("\"source\""), "the docs keep their sources");
    for note in ["\"about\"", "\"sources\"", "\"source\"", "\"note\"", "\"status\"", "\"decision\""] {
        assert!(!DIALECTS_JSON.contains(note), "{note} is embedded");
    }
    // What the parser reads is unchanged: the same protocols, errors, envelopes, limits and shapes.
    let full: File = serde_json::from_str(docs).unwrap();
    let embedded: File = serde_json::from_str(DIALECTS_JSON).unwrap();
    assert_eq!(format!("{:?}", sorted(&full)), format!("{:?}", sorted(&embedded)));
    assert!(DIALECTS_JSON.len() * 2 < docs.len(), "{} of {} bytes embedded", DIALECTS_JSON.len(), docs.len());
}

fn sorted(f: &File) -> Vec<(String, String)> {
    let mut v: Vec<_> = f
        .platforms
        .iter()
        .map(|(k, d)| {
            let shown = format!(
                "{} {:?} {:?} {:?} {:?}",
                d.protocol.scheme,
                d.envelope,
                sorted_map(&d.errors),
                sorted_map(&d.limits),
                d.shapes
            );
            (k.clone(), shown)
        })
        .collect();
    v.sort();
    v
}

fn sorted_map<V: std::fmt::Debug>(m: &HashMap<String, V>) -> Vec<String> {
    let mut v: Vec<_> = m.iter().map(|(k, x)| format!("{k}={x:?}")).collect();
    v.sort();
    v
}

#[test]
fn limits_come_from_the_table() {
    assert_eq!(Platform::Wechat.default_limits(), Limits::default());
    let a = Platform::Alipay.default_limits();
    assert_eq!((a.storage_item, a.storage_total, a.user_files), (204_800, 10_485_760, 52_428_800));
    assert_eq!(a.single_file, 10_485_760);
    for p in [Platform::Wechat, Platform::Douyin, Platform::Baidu, Platform::Qq] {
        assert_eq!(p.default_limits().single_file, u64::MAX, "{p:?}");
    }
    let b = Platform::Baidu.default_limits();
    assert_eq!((b.storage_item, b.user_files), (b.storage_total, 10_485_760));
    assert_eq!(Platform::Douyin.default_limits().storage_item, 1_048_576);
}

#[test]
fn one_internal_error_rendered_per_platform() {
    let render = |p: Platform, api, c: i64, r: &str, path| match p.dialect().render_failure(api, &Error::new(c as u32, r), path) {
        Rendered::Fail(v, rc) => (v, rc),
        Rendered::Success(_) => panic!("success"),
    };
    let nf = code::NO_SUCH_FILE as i64;
    let (v, rc) = render(Platform::Alipay, "mkdirSync", nf, "no such file or directory x", Some("https://usr/a/b"));
    assert_eq!((v.to_string(), rc), (r#"{"errorMessage":"上级目录不存在","error":10022}"#.to_string(), 10022));
    let (v, rc) = render(Platform::Douyin, "writeFile", nf, "no such file", Some("ttfile://user/a/b"));
    assert_eq!(
        v,
        serde_json::json!({"errMsg": "writeFile:fail no such file or directory, writeFile ttfile://user/a/b", "errNo": 21102})
    );
    assert_eq!(rc, 21102);
    // Not a directory: the decision recorded in dialects.json ("as").
    let (v, _) = render(Platform::Alipay, "readFile", code::NOT_A_DIRECTORY as i64, "not a directory", None);
    assert_eq!(v["error"], 10022);
    // WeChat, QQ and Baidu's file system keep WeChat's words and code.
    for p in [Platform::Wechat, Platform::Qq, Platform::Baidu] {
        let (v, rc) = render(p, "access", nf, "no such file or directory qqfile://usr/x", None);
        assert_eq!(v["errMsg"], "access:fail no such file or directory qqfile://usr/x");
        assert_eq!((v["errCode"].as_i64(), rc), (Some(nf), nf as i32));
    }
    // Baidu's storage codes apply to storage apis only.
    let (v, rc) = render(Platform::Baidu, "setStorageSync", code::STORAGE_FULL as i64, "exceed storage max size 10Mb", None);
    assert_eq!((v["errCode"].as_i64(), rc), (Some(1003), 1003));
    assert!(matches!(
        Platform::Douyin.dialect().render_failure("getStorage", &Error::new(code::STORAGE_NOT_FOUND, "data not found"), None),
        Rendered::Success(_)
    ));
    assert_eq!(Platform::Alipay.dialect().missing_key(), Some(Value::Null));
    // Douyin documents no code for this: errMsg alone, the internal code still returned.
    let (v, rc) = render(Platform::Douyin, "rmdir", code::DIR_NOT_EMPTY as i64, "directory not empty", None);
    assert_eq!((v, rc), (serde_json::json!({"errMsg": "rmdir:fail directory not empty"}), code::DIR_NOT_EMPTY as i32));
    let (v, rc) =
        render(Platform::Baidu, "setStorage", code::STORAGE_INVALID as i64, "parameter error: key should not be empty", None);
    assert_eq!((v["errMsg"].as_str(), rc), (Some("setStorage:fail 执行失败"), 1001));
    assert_eq!(Platform::Wechat.dialect().missing_key(), None);
}

#[test]
fn a_rust_host_opens_a_platforms_sandbox_with_config_with_platform() {
    let root = std::env::temp_dir().join(format!("wxfs-platform-rust-{}", std::process::id()));
    let config = crate::Config::new(&root, "u", "wxa").with_platform(Platform::Alipay);
    assert_eq!((config.protocol, config.limits.storage_item), (Protocol::Https, 204_800));
    let s = crate::Session::open(config).unwrap();
    let (rc, v) = crate::bridge::invoke(&s, "writeFileSync", r#"{"filePath":"https://usr/a","data":"x"}"#);
    assert_eq!((rc, v), (0, serde_json::json!({"success": true})));
    assert!(root.join("u/wxa@alipay/usr/a").is_file());
    drop(s);
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_template_is_rendered_in_one_pass_over_its_own_text() {
    let v = |name: &str| match name {
        "path" => Some("a/${path}/${api}"),
        "api" => Some("readFile${dirPath}"),
        _ => None,
    };
    assert_eq!(render("open ${api} ${path}", v), "open readFile${dirPath} a/${path}/${api}");
    assert_eq!(render("${other} ${ ${path", v), "${other} ${ ${path");
    assert_eq!(render("${path}${path}}", v), "a/${path}/${api}a/${path}/${api}}");
    assert_eq!(render("", v), "");
}

#[test]
fn directory_suffixes_round_trip() {
    for p in Platform::ALL {
        let name = format!("wx123{}", p.dir_suffix());
        assert_eq!(Platform::of_dir_name(&name), (p, "wx123"));
    }
}

#[test]
fn the_shapes_rows_are_whole_and_one_platform_is_untagged() {
    let tags: Vec<_> = Platform::ALL.iter().filter_map(|p| p.dialect().shapes.dir_tag.clone()).collect();
    assert_eq!(tags.len(), Platform::ALL.len() - 1, "one untagged platform: {tags:?}");
    assert_eq!(Platform::untagged(), Platform::Wechat);
    for p in Platform::ALL {
        let s = &p.dialect().shapes;
        assert!(!s.stat.keys.is_empty(), "{p:?}: stat names no field");
        assert_eq!(tags.iter().filter(|t| s.dir_tag.as_ref() == Some(t)).count(), usize::from(s.dir_tag.is_some()), "{p:?}");
        assert_eq!(s.native, p == Platform::Wechat, "{p:?}");
    }
    // A tag no row has is no platform's: the name stays whole, as WeChat's.
    assert_eq!(Platform::of_dir_name("wx1@wechat"), (Platform::Wechat, "wx1@wechat"));
    assert_eq!(Platform::of_dir_name("wx1@other"), (Platform::Wechat, "wx1@other"));
    assert_eq!(Platform::of_dir_name("a@b@douyin"), (Platform::Douyin, "a@b"));
}

#[test]
fn a_failure_is_rendered_by_its_kind_never_by_its_words() {
    let alipay = Platform::Alipay.dialect();
    let shown = |e: &Error, api| match alipay.render_failure(api, e, None) {
        Rendered::Fail(v, rc) => (v, rc),
        Rendered::Success(_) => panic!("success"),
    };
    // The saved-file apis' "file not exist" is its own kind: Alipay's code 12.
    let (v, rc) = shown(&Text::FileNotExist.error(), "getFileInfo");
    assert_eq!((v, rc), (serde_json::json!({"errorMessage": "文件不存在", "error": 12}), 12));
    // The same code and words without the row's kind are a plain missing file.
    let (v, rc) = shown(&Error::new(code::NO_SUCH_FILE, "file not exist"), "getFileInfo");
    assert_eq!((v["error"].as_i64(), rc), (Some(10022), 10022));
}

#[test]
fn every_row_of_wechats_words_names_the_kind_its_code_stands_for() {
    // Where a row names a kind, it is the code's, but for the one failure the code cannot tell
    // apart (the saved-file apis' "file not exist"); where it names none, the api decides.
    for t in Text::ALL {
        let e = t.error();
        match t {
            Text::FileNotExist => assert_eq!(e.kind, Some("saved-not-exist")),
            Text::NotPermittedUnlink => assert_eq!(e.kind, None),
            _ => assert_eq!(e.kind, super::dialect::kind_of_code(e.code, "any"), "{t:?}"),
        }
        if let Some(kind) = e.kind {
            let file: serde_json::Value = serde_json::from_str(DIALECTS_JSON).unwrap();
            assert!(file["failureKinds"].get(kind).is_some(), "{t:?}: {kind} is no failure kind of the table");
        }
    }
}

#[test]
fn the_config_protocols_come_from_the_rows_in_the_same_words() {
    let parse = |extra: &str| crate::bridge::config::parse(&format!(r#"{{"root":"/r","appId":"a","userId":"u"{extra}}}"#));
    let protocol = |extra: &str| parse(extra).map(|c| c.protocol);
    assert_eq!(protocol(""), Ok(Protocol::Wxfile));
    assert_eq!(protocol(r#","protocol":"wxfile""#), Ok(Protocol::Wxfile));
    assert_eq!(protocol(r#","protocol":"http""#), Ok(Protocol::Http));
    assert_eq!(protocol(r#","platform":"baidu""#), Ok(Protocol::Bdfile));
    assert_eq!(protocol(r#","protocol":"ftp""#), Err(r#"invalid config: protocol "ftp" is not "wxfile" or "http""#.to_string()));
    assert_eq!(
        protocol(r#","platform":"douyin","protocol":"http""#),
        Err(r#"invalid config: protocol "http" is for platform "wechat"; platform "douyin" has its own"#.to_string())
    );
    assert_eq!(
        protocol(r#","platform":"alipay","protocol":"https""#),
        Err(r#"invalid config: protocol "https" is for platform "wechat"; platform "alipay" has its own"#.to_string())
    );
    assert_eq!(
        protocol(r#","platform":"weixin""#),
        Err(r#"invalid config: platform "weixin" is not "wechat", "alipay", "douyin", "baidu" or "qq""#.to_string())
    );
}
