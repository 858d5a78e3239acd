//! A sandbox under a fresh root, with a sentinel directory beside the root: any file that
//! appears in the sentinel, or anywhere under the root outside the sandbox, is an escape.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use wxfs::{Config, Session};

pub struct World {
    pub session: Arc<Session>,
    pub outside: PathBuf,
    pub root: PathBuf,
}

pub fn world() -> World {
    let base = std::env::temp_dir().join(format!("wxfs-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let outside = base.join("outside");
    let pkg = base.join("pkg");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(pkg.join("data")).unwrap();
    std::fs::write(pkg.join("data/app.json"), b"{}").unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    let mut cfg = Config::new(&root, "fuzz-user", "wxfuzz");
    cfg.package_dir = Some(pkg);
    cfg.limits.user_files = 4 << 20;
    cfg.limits.read_file = 4 << 20;
    let session = Session::open(cfg).unwrap();
    // Links a path could try to ride out of the area.
    let usr = session.sandbox.dir().join("usr");
    let _ = std::os::unix::fs::symlink(&outside, usr.join("out"));
    let _ = std::os::unix::fs::symlink("../../..", usr.join("up"));
    World { session, outside, root }
}

impl World {
    /// The invariants after every input: nothing new outside, and the journal is exact.
    pub fn check(&self) {
        let n = std::fs::read_dir(&self.outside).unwrap().count();
        assert_eq!(n, 1, "a file appeared outside the sandbox");
        assert_eq!(std::fs::read(self.outside.join("secret")).unwrap(), b"secret");
        let users = std::fs::read_dir(&self.root).unwrap().count();
        assert_eq!(users, 1, "a directory appeared beside the sandbox's user directory");
        let real = wxfs::fs::scan(&self.session.sandbox).unwrap();
        assert_eq!(self.session.fs.usage(), real, "quota journal differs from the bytes on disk");
    }

    /// Call an api; the result is always an object whose errMsg names the api.
    pub fn call(&self, api: &str, args: &str) -> (i32, serde_json::Value) {
        let (code, v) = wxfs::bridge::invoke(&self.session, api, args);
        let msg = v["errMsg"].as_str().expect("errMsg is a string");
        if code == 0 {
            assert_eq!(msg, format!("{api}:ok"));
        } else {
            assert!(msg.starts_with(&format!("{api}:fail ")), "{msg} with code {code}");
            assert!(v["errCode"].as_i64() == Some(code as i64), "errCode differs from the return code: {v}");
        }
        (code, v)
    }
}
