//! The path grammar and resolution: any string a mini-program passes as a path. Parsed paths
//! are normalised and round-trip; no call through any path reads or writes outside the sandbox.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use once_cell::sync::Lazy;
use serde_json::json;
use wxfs::sandbox::{path, Protocol};

static WORLD: Lazy<common::World> = Lazy::new(common::world);

fuzz_target!(|data: &[u8]| {
    let Ok(p) = std::str::from_utf8(data) else { return };
    if let Ok(vp) = path::parse(p) {
        for c in &vp.parts {
            assert!(
                !c.is_empty() && c != "." && c != ".." && !c.contains('/') && !c.contains('\0') && !c.contains('\\'),
                "{p:?} -> {c:?}"
            );
        }
        for proto in [Protocol::Wxfile, Protocol::Http] {
            let shown = vp.display(proto);
            assert_eq!(path::parse(&shown).as_ref(), Ok(&vp), "{p:?} shown as {shown:?}");
        }
    }
    // Every platform's spelling: what parses is normalised and round-trips in that spelling.
    for proto in [Protocol::Https, Protocol::Ttfile, Protocol::Bdfile, Protocol::Qqfile] {
        if let Ok(vp) = path::parse_in(p, proto) {
            assert!(vp.parts.iter().all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('/')), "{p:?}");
            let shown = vp.display(proto);
            assert_eq!(path::parse_in(&shown, proto).as_ref(), Ok(&vp), "{p:?} shown as {shown:?} ({proto:?})");
        }
    }
    let w = &*WORLD;
    for candidate in [p.to_string(), format!("wxfile://usr/{p}"), format!("wxfile://usr/out/{p}"), format!("wxfile://usr/up/{p}")]
    {
        w.call("writeFileSync", &json!({"filePath": candidate, "data": "x"}).to_string());
        w.call("mkdirSync", &json!({"dirPath": candidate, "recursive": true}).to_string());
        let (c, r) = w.call("readFileSync", &json!({"filePath": candidate, "encoding": "utf8"}).to_string());
        if c == 0 {
            assert_ne!(r["data"], "secret", "read the outside secret through {candidate:?}");
        }
        w.call("renameSync", &json!({"oldPath": candidate, "newPath": "wxfile://usr/renamed"}).to_string());
        w.call("unlinkSync", &json!({"filePath": "wxfile://usr/renamed"}).to_string());
    }
    w.check();
});
