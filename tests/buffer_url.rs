//! `createBufferURL` / `revokeBufferURL`, resolved by the host through
//! `host.resolveBufferURL` (bridge) and `wxfs_buffer_url_resolve` (typed C), through the C ABI.

mod common;

use common::abi::{Bytes, Lib};
use common::bridge::{b64, buffer};
use serde_json::{json, Value};

/// `wxfs_buffer_url_resolve`: the bytes, or the code.
fn resolve_typed(lib: &Lib, h: u64, url: &str) -> Result<Vec<u8>, i32> {
    let mut out = Bytes::empty();
    // SAFETY: valid buffers for the call; the result is freed once.
    unsafe {
        let rc = (lib.buffer_url_resolve)(h, url.as_ptr(), url.len(), &mut out);
        if rc != 0 {
            return Err(rc);
        }
        Ok(lib.take(out))
    }
}

fn create(lib: &Lib, h: u64, bytes: &[u8]) -> (i32, Value) {
    lib.invoke(h, "createBufferURL", &json!({"__nativeBuffers__": [{"key": "data", "base64": b64(bytes)}]}))
}

fn resolve_bridge(lib: &Lib, h: u64, url: &str) -> (i32, Value) {
    lib.invoke(h, "host.resolveBufferURL", &json!({"url": url}))
}

#[test]
fn buffer_urls_are_bounded_per_sandbox_freed_on_revoke_and_close() {
    let lib = Lib::load();
    let root = common::fresh_dir("buffer-url");
    let cfg = |app: &str| json!({"root": root, "userId": "u", "appId": app, "limits": {"bufferUrls": 100}});
    let h = lib.open(&cfg("wx1")).unwrap();
    let other = lib.open(&cfg("wx2")).unwrap();

    let (rc, r) = create(&lib, h, &[7u8; 60]);
    assert_eq!(rc, 0, "{r}");
    let url = r["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("wxblob://") && url.len() == "wxblob://".len() + 32, "{url}");
    assert_eq!(r["errMsg"], "createBufferURL:ok");
    // The host gets the bytes both ways; another sandbox does not know the URL.
    let (rc, r) = resolve_bridge(&lib, h, &url);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(buffer(&r, "data"), [7u8; 60]);
    assert_eq!(resolve_typed(&lib, h, &url).unwrap(), [7u8; 60]);
    assert_eq!(resolve_typed(&lib, other, &url), Err(1300002));
    let (rc, r) = resolve_bridge(&lib, other, &url);
    assert_eq!(
        (rc, r["errMsg"].as_str().unwrap()),
        (1300002, format!("host.resolveBufferURL:fail no such buffer url {url}").as_str())
    );

    // 60 + 41 > 100: refused, nothing held; 60 + 40 fits exactly.
    let (rc, r) = create(&lib, h, &[1u8; 41]);
    assert_eq!(
        (rc, r["errMsg"].as_str().unwrap()),
        (
            1400102,
            "createBufferURL:fail the buffer URLs of this sandbox would hold 101 bytes, over their limit of 100 (limits.bufferUrls)"
        )
    );
    let (rc, r) = create(&lib, h, &[2u8; 40]);
    assert_eq!(rc, 0, "{r}");
    let second = r["url"].as_str().unwrap().to_string();
    // The bound is per sandbox: the other one has its own 100 bytes.
    assert_eq!(create(&lib, other, &[3u8; 100]).0, 0);

    // Revoke frees the bytes (and the bound); revoking again, or a URL never made, is a no-op.
    assert_eq!(lib.invoke(h, "revokeBufferURL", &json!({"url": url})).0, 0);
    assert_eq!(resolve_typed(&lib, h, &url), Err(1300002));
    assert_eq!(lib.invoke(h, "revokeBufferURL", &json!({"url": url})).0, 0);
    assert_eq!(lib.invoke(h, "revokeBufferURL", &json!({"url": "wxblob://nothing"})).0, 0);
    let (rc, r) = create(&lib, h, &[4u8; 60]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(resolve_typed(&lib, h, &second).unwrap(), [2u8; 40]);

    // Arguments: no buffer is a parameter error; there is no Sync twin.
    let (rc, r) = lib.invoke(h, "createBufferURL", &json!({}));
    assert_eq!(
        (rc, r["errMsg"].as_str().unwrap()),
        (1300022, "createBufferURL:fail parameter error: parameter.data should be ArrayBuffer instead of Undefined;")
    );
    assert!(lib.invoke(h, "createBufferURLSync", &json!({})).0 < 0);

    // Close frees them: a reopened sandbox resolves none, and has its whole bound again.
    assert_eq!(lib.close(h), 0);
    let h = lib.open(&cfg("wx1")).unwrap();
    assert_eq!(resolve_typed(&lib, h, &second), Err(1300002));
    assert_eq!(create(&lib, h, &[5u8; 100]).0, 0);
    assert_eq!(lib.close(h), 0);
    assert_eq!(lib.close(other), 0);
}

/// What the session holds is what the bound counts, and dropping the last handle frees it.
#[test]
fn the_session_holds_exactly_the_live_buffers() {
    let root = common::fresh_dir("buffer-url-session");
    let s = wxfs::Session::open(wxfs::Config::new(&root, "u", "wx1")).unwrap();
    assert_eq!(s.buffer_urls.limit(), 64 << 20, "default limits.bufferUrls");
    let url = s.buffer_urls.create(&[0u8; 1000]).unwrap();
    let held = s.buffer_urls.resolve(&url).unwrap();
    assert_eq!(s.buffer_urls.usage(), (1000, 1));
    let weak = std::sync::Arc::downgrade(&held);
    drop(held);
    drop(s);
    assert!(weak.upgrade().is_none(), "closing the sandbox freed the buffer");
}
