//! `wxfs serve` over HTTP, as a browser or another local process can reach it: every request
//! needs the token, a cross-site form cannot write, no path outside the root is served, data is
//! sent as JSON and never as markup, it listens on loopback unless told, it takes no lock and
//! creates nothing under the root, its writes go through the library, and its threads, request
//! heads and bodies are bounded. What a host process heard about its sandbox (recovery, calls
//! refused by a limit) and the limits it configured are recorded in the sandbox, bounded and
//! read tolerantly, and shown, live. The same page in a real browser: tests/serve_browser.rs.

mod common;
mod serve_support;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use serve_support::{hold, q, tree, Holder, Server};
use wxfs::{bridge, Config, Session};

/// A closed sandbox u1/wx1 with a value, a file and a key that looks like markup.
fn sample_root(tag: &str) -> std::path::PathBuf {
    let root = common::fresh_dir(tag);
    let s = Session::open(Config::new(&root, "u1", "wx1")).unwrap();
    for (api, args) in [
        ("setStorageSync", json!({"key": "greeting", "data": {"hello": "world"}, "dataType": "Object"})),
        ("setStorageSync", json!({"key": "<img src=x onerror=alert(1)>", "data": "<script>alert(2)</script>"})),
        ("mkdirSync", json!({"dirPath": "wxfile://usr/a"})),
        ("writeFileSync", json!({"filePath": "wxfile://usr/a/b.txt", "data": "hello"})),
    ] {
        let (code, result) = bridge::invoke(&s, api, &args.to_string());
        assert_eq!(code, 0, "{api}: {result}");
    }
    drop(s);
    root
}

fn get_value(root: &Path, user: &str, app: &str, key: &str) -> serde_json::Value {
    let s = Session::open(Config::new(root, user, app)).unwrap();
    let (_, result) = bridge::invoke(&s, "getStorageSync", &json!({ "key": key }).to_string());
    result
}

const SB: &str = "u1%2Fwx1";

#[test]
fn every_request_needs_the_token() {
    let root = sample_root("serve-token");
    let server = Server::start(&root, &[]);
    let targets = [
        "/".to_string(),
        "/app.js".to_string(),
        "/app.css".to_string(),
        "/api/overview".to_string(),
        format!("/api/storage?sandbox={SB}"),
        format!("/api/storage/item?sandbox={SB}&key=greeting"),
        format!("/api/areas?sandbox={SB}"),
        format!("/api/files?sandbox={SB}&area=usr&path=a"),
        format!("/api/file?sandbox={SB}&area=usr&path=a%2Fb.txt&as=download"),
        "/api/events".to_string(),
    ];
    let wrong = "0".repeat(server.token.len());
    for t in &targets {
        let r = server.get(t, &[]);
        assert_eq!((r.status, r.error()), (403, "missing token: open the address `wxfs serve` printed".to_string()), "{t}");
        let sep = if t.contains('?') { '&' } else { '?' };
        let r = server.get(&format!("{t}{sep}token={wrong}"), &[]);
        assert_eq!((r.status, r.error()), (403, "wrong token".to_string()), "{t}");
        let r = server.get(t, &[("X-Wxfs-Token", &server.token[1..])]);
        assert_eq!((r.status, r.error()), (403, "wrong token".to_string()), "{t}");
        // A refusal carries nothing of the sandbox.
        assert!(!r.text().contains("hello") && !r.text().contains("greeting"), "{t}: {}", r.text());
        let r = server.get(&format!("{t}{sep}token={}", server.token), &[]);
        assert_eq!(r.status, 200, "{t}: {}", r.text());
        let r = server.get_ok(t);
        assert_eq!(r.status, 200, "{t}: {}", r.text());
    }
    // The download really is the file.
    assert_eq!(server.get_ok(&targets[8]).body, b"hello");
    // A Host that is not this server's (a DNS-rebound name) is refused even with the token.
    let mut raw = format!("GET /api/overview?token={} HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", server.token).into_bytes();
    let r = server.raw(&raw);
    assert_eq!((r.status, r.error()), (403, "unexpected Host: open the address `wxfs serve` printed".to_string()));
    raw = format!("GET /api/overview?token={} HTTP/1.1\r\n\r\n", server.token).into_bytes();
    assert_eq!(server.raw(&raw).status, 403, "no Host at all");
}

#[test]
fn a_cross_site_form_post_cannot_write() {
    let root = sample_root("serve-csrf");
    let server = Server::start(&root, &["--write"]);
    let target = format!("/api/storage/set?sandbox={SB}");
    let with_token = format!("{target}&token={}", server.token);
    let json_body = r#"{"key":"greeting","data":"pwned"}"#;
    let evil = "http://evil.example";
    let token = server.token.clone();
    // What a page of another site can send: a form (urlencoded, multipart or text/plain; a
    // text/plain body may well be JSON), even with the token in the URL if it learnt it, but never
    // a custom header (that needs a CORS preflight, which this server never grants).
    // (target, headers, body, status, error)
    type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, u16, &'a str);
    let attempts: Vec<Attempt> = vec![
        (
            &target,
            vec![("Content-Type", "application/x-www-form-urlencoded"), ("Origin", evil)],
            "key=greeting&data=pwned",
            403,
            "a write needs the token in the X-Wxfs-Token header",
        ),
        (
            &with_token,
            vec![("Content-Type", "application/x-www-form-urlencoded"), ("Origin", evil)],
            "key=greeting&data=pwned",
            403,
            "a write needs the token in the X-Wxfs-Token header",
        ),
        (
            &with_token,
            vec![("Content-Type", "text/plain"), ("Origin", evil), ("Sec-Fetch-Site", "cross-site")],
            json_body,
            403,
            "a write needs the token in the X-Wxfs-Token header",
        ),
        (
            &with_token,
            vec![("Content-Type", "multipart/form-data; boundary=x"), ("Origin", evil)],
            "--x--",
            403,
            "a write needs the token in the X-Wxfs-Token header",
        ),
        // Had it the token and a header, from elsewhere it is still refused.
        (
            &target,
            vec![("X-Wxfs-Token", &token), ("Content-Type", "application/json"), ("Origin", evil)],
            json_body,
            403,
            "a write must come from the inspector's own page",
        ),
        (
            &target,
            vec![("X-Wxfs-Token", &token), ("Content-Type", "application/json"), ("Sec-Fetch-Site", "cross-site")],
            json_body,
            403,
            "a write must come from the inspector's own page",
        ),
        (
            &target,
            vec![("X-Wxfs-Token", &token), ("Content-Type", "text/plain")],
            json_body,
            415,
            "a write is sent as application/json",
        ),
    ];
    for (t, headers, body, status, why) in &attempts {
        let r = server.request("POST", t, headers, body.as_bytes());
        assert_eq!((r.status, r.error().as_str()), (*status, *why), "{t} {headers:?}");
    }
    // The preflight a cross-site fetch with the header would need is not granted.
    let r = server.request(
        "OPTIONS",
        &target,
        &[("Origin", evil), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "x-wxfs-token")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert!(r.headers.iter().all(|(k, _)| !k.starts_with("access-control-")), "{:?}", r.headers);
    assert_eq!(get_value(&root, "u1", "wx1", "greeting")["data"], json!({"hello": "world"}), "nothing was written");
    // The page's own write goes through.
    let r = server.post(&target, json_body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get_value(&root, "u1", "wx1", "greeting")["data"], "pwned");
}

#[test]
fn no_path_outside_the_root_is_served() {
    let root = sample_root("serve-traversal");
    let outside = root.with_extension("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "TOPSECRET").unwrap();
    let sandbox = root.join("u1/wx1");
    std::os::unix::fs::symlink(outside.join("secret.txt"), sandbox.join("usr/link")).unwrap();
    std::os::unix::fs::symlink(&outside, sandbox.join("usr/dirlink")).unwrap();
    std::os::unix::fs::symlink("../kv/data.log", sandbox.join("usr/rel")).unwrap();
    // A user directory that is a link to a sandbox outside the root is not a sandbox of this root.
    let elsewhere = common::fresh_dir("serve-traversal-elsewhere");
    drop(Session::open(Config::new(&elsewhere, "u9", "wx9")).unwrap());
    std::os::unix::fs::symlink(elsewhere.join("u9"), root.join("u9")).unwrap();
    let server = Server::start(&root, &[]);

    let file =
        |sb: &str, area: &str, path: &str| server.get_ok(&format!("/api/file?sandbox={sb}&area={area}&path={path}&as=download"));
    let refused = [
        (SB, "usr", "..%2Fkv%2Fdata.log"),
        (SB, "usr", "a%2F..%2F..%2Fkv%2Fdata.log"),
        (SB, "usr", "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fserve-traversal.outside%2Fsecret.txt"),
        (SB, "usr", "%2Fetc%2Fpasswd"),
        (SB, "usr", "a%2F%2Fb.txt"),
        (SB, "usr", "a%2F.%2Fb.txt"),
        (SB, "usr", "a%2Fb.txt%00"),
        (SB, "usr", "link"),
        (SB, "usr", "dirlink%2Fsecret.txt"),
        (SB, "usr", "rel"),
        (SB, "..%2Fkv", "data.log"),
        (SB, "usr%2F..%2Fkv", "data.log"),
        (SB, "kv", "data.log"),
        ("u1%2Fwx1%2F..", "usr", "a%2Fb.txt"),
        ("..%2F..", "usr", "etc%2Fpasswd"),
        ("u1%2Fwx1%2Fusr", "a", "b.txt"),
        ("u9%2Fwx9", "usr", ""),
    ];
    for (sb, area, path) in refused {
        let r = file(sb, area, path);
        assert!((400..500).contains(&r.status), "{sb} {area} {path}: {} {}", r.status, r.text());
        assert!(!r.text().contains("TOPSECRET") && !r.text().contains("WXKV"), "{sb} {area} {path}: {}", r.text());
    }
    assert_eq!(file(SB, "usr", "link").error(), "\"link\" is a symbolic link: not followed");
    assert_eq!(
        file(SB, "usr", "..%2Fkv%2Fdata.log").error(),
        "invalid path \"../kv/data.log\": a component is empty, \".\", \"..\" or holds a NUL"
    );
    let r = server.get_ok(&format!("/api/files?sandbox={SB}&area=usr&path=dirlink"));
    assert_eq!((r.status, r.error()), (403, "\"dirlink\" is a symbolic link: not followed".to_string()));
    // Paths in the request line itself are never decoded or resolved: they name a route or nothing.
    for target in ["/api/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/file/../../../etc/passwd", "//etc/passwd"] {
        let r = server.get_ok(target);
        assert_eq!(r.status, 404, "{target}");
    }
    // The listing shows links as links, not what they point to.
    let listing = server.get_ok(&format!("/api/files?sandbox={SB}&area=usr")).json();
    let kinds: Vec<(String, String)> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["kind"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        kinds,
        [("a", "dir"), ("dirlink", "link"), ("link", "link"), ("rel", "link")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let overview = server.get_ok("/api/overview").json();
    let ids: Vec<&str> = overview["sandboxes"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u1/wx1"], "the linked user directory is not listed");
    // What is inside is served.
    assert_eq!(file(SB, "usr", "a%2Fb.txt").body, b"hello");
}

#[test]
fn data_is_sent_as_json_and_the_page_never_builds_markup_from_it() {
    let root = sample_root("serve-markup");
    std::fs::write(root.join("u1/wx1/usr/<img src=x onerror=alert(3)>.html"), "<script>alert(4)</script>").unwrap();
    let server = Server::start(&root, &[]);
    let r = server.get_ok(&format!("/api/storage?sandbox={SB}"));
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let items = r.json()["items"].clone();
    assert_eq!(items[1]["key"], "<img src=x onerror=alert(1)>");
    assert_eq!(items[1]["preview"], "\"<script>alert(2)</script>\"");
    // A stored HTML file is previewed as text, never as HTML, and cannot run where it is opened.
    let r = server.get_ok(&format!("/api/file?sandbox={SB}&area=usr&path={}&as=preview", q("<img src=x onerror=alert(3)>.html")));
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/plain; charset=utf-8")));
    assert_eq!(r.text(), "<script>alert(4)</script>");
    assert!(r.header("content-security-policy").unwrap().contains("sandbox"), "{:?}", r.headers);
    let r =
        server.get_ok(&format!("/api/file?sandbox={SB}&area=usr&path={}&as=download", q("<img src=x onerror=alert(3)>.html")));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"<img_src=x_onerror=alert(3)>.html\"; filename*=UTF-8''%3Cimg%20src%3Dx%20onerror%3Dalert%283%29%3E.html")
    );
    // The page runs its own script only, and its script puts data in the page as text only.
    let page = server.get_ok("/");
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"), "{csp}");
    assert!(!page.text().contains("<script>") && !page.text().contains(" on"), "no inline script or handler:\n{}", page.text());
    let js = server.get_ok("/app.js").text();
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "srcdoc",
        "createContextualFragment",
    ] {
        assert!(!js.contains(banned), "app.js uses {banned}");
    }
}

#[test]
fn it_listens_on_loopback_unless_told_otherwise() {
    let root = sample_root("serve-listen");
    let listening = |port: &str| -> Vec<String> {
        let port = format!("{:04X}", port.parse::<u16>().unwrap());
        let table =
            std::fs::read_to_string("/proc/net/tcp").unwrap() + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
        // "sl local_address rem_address st ...": state 0A is LISTEN.
        table
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() > 3 && w[3] == "0A" && w[1].ends_with(&format!(":{port}"))).then(|| w[1].to_string())
            })
            .collect()
    };
    let server = Server::start(&root, &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let port = server.host.rsplit_once(':').unwrap().1.to_string();
    assert_eq!(listening(&port), [format!("0100007F:{:04X}", port.parse::<u16>().unwrap())]);
    drop(server);

    let server = Server::start(&root, &["--listen", "0.0.0.0"]);
    assert!(
        server.banner.iter().any(|l| l.starts_with("warning: 0.0.0.0 is reachable from other machines")),
        "{:?}",
        server.banner
    );
    let port = server.host.rsplit_once(':').unwrap().1.to_string();
    assert_eq!(listening(&port), [format!("00000000:{:04X}", port.parse::<u16>().unwrap())]);
}

/// The child side of the held-sandbox test.
#[test]
#[ignore]
fn holder_child() {
    hold();
}

#[test]
fn a_sandbox_open_elsewhere_is_read_only_and_its_writes_keep_landing() {
    let root = sample_root("serve-held");
    let before = tree(&root.join("u1/wx1"));
    let holder = Holder::start("holder_child", &root, "u2", "wx2");
    let server = Server::start(&root, &["--write"]);
    let held = "u2%2Fwx2";
    let mut seen = Vec::new();
    for _ in 0..20 {
        let o = server.get_ok("/api/overview").json();
        let s = o["sandboxes"].as_array().unwrap().iter().find(|s| s["id"] == "u2/wx2").unwrap().clone();
        assert_eq!(s["state"], json!({"open": true, "pid": holder.pid}));
        let why = format!(
            "read-only: open in process {}; the inspector never writes into a sandbox another process has open",
            holder.pid
        );
        assert_eq!(s["readOnly"], why.as_str());
        let st = server.get_ok(&format!("/api/storage?sandbox={held}")).json();
        assert_eq!(st["readOnly"], why.as_str());
        let counter = st["items"].as_array().unwrap().iter().find(|i| i["key"] == "counter").unwrap()["preview"].clone();
        seen.push(counter.as_str().unwrap().parse::<u64>().unwrap());
        let r = server.post(&format!("/api/storage/set?sandbox={held}"), r#"{"key":"counter","data":-1}"#);
        assert_eq!((r.status, r.error()), (409, why));
        assert_eq!(server.get_ok(&format!("/api/files?sandbox={held}&area=usr")).status, 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = holder.stop();
    assert_eq!(done.failed, Vec::<String>::new(), "the holder's writes failed while it was inspected");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen[0] < *seen.last().unwrap(), "the counter moved on: {seen:?}");
    assert!(*seen.last().unwrap() <= done.writes);
    // Closed now: the inspector held no lock, and writes are allowed.
    let r = server.post(&format!("/api/storage/set?sandbox={held}"), r#"{"key":"counter","data":-1}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get_value(&root, "u2", "wx2", "counter")["data"], -1);
    assert_eq!(tree(&root.join("u1/wx1")), before, "reading another sandbox changed nothing in this one");
}

#[test]
fn reading_creates_and_changes_nothing_under_the_root() {
    let root = sample_root("serve-nothing");
    // A torn storage log and an interrupted write: what a reader must report, not repair.
    std::fs::write(root.join("u1/wx1/staging/.interrupted"), "x").unwrap();
    let before = tree(&root);
    for args in [&[][..], &["--write"][..]] {
        let server = Server::start(&root, args);
        for t in [
            "/".to_string(),
            "/api/overview".to_string(),
            format!("/api/storage?sandbox={SB}"),
            format!("/api/storage/item?sandbox={SB}&key=greeting"),
            format!("/api/areas?sandbox={SB}"),
            format!("/api/files?sandbox={SB}&area=usr"),
            format!("/api/files?sandbox={SB}&area=tmp"),
            format!("/api/file?sandbox={SB}&area=usr&path=a%2Fb.txt&as=preview"),
            format!("/api/file?sandbox={SB}&area=usr&path=a%2Fb.txt&as=download"),
            "/api/events".to_string(),
        ] {
            assert_eq!(server.get_ok(&t).status, 200, "{t}");
        }
        let o = server.get_ok("/api/overview").json();
        assert_eq!(o["sandboxes"][0]["notes"], json!(["1 file(s) of interrupted writes in staging (removed at the next open)"]));
        assert_eq!(tree(&root), before, "serve {args:?} changed the root");
    }
}

#[test]
fn writes_go_through_the_library_and_its_events_are_shown() {
    let root = sample_root("serve-writes");
    // An interrupted write left in staging: the first write's open repairs it, and says so.
    std::fs::write(root.join("u1/wx1/staging/.interrupted"), "x").unwrap();
    let mut cfg = Config::new(&root, "u1", "wx1");
    cfg.plugin_id = Some("plug".into());
    drop(Session::open(cfg).unwrap());
    let server = Server::start(&root, &["--write"]);
    let set = format!("/api/storage/set?sandbox={SB}");

    let r = server.post(&set, r#"{"key":"n","data":12345678901234567890,"dataType":"BigInt"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = get_value(&root, "u1", "wx1", "n");
    assert_eq!((got["data"].to_string(), got["dataType"].clone()), ("12345678901234567890".to_string(), json!("BigInt")));
    // The library's own checks and words.
    let big = format!(r#"{{"key":"greeting","data":"{}"}}"#, "x".repeat(1 << 20));
    let r = server.post(&set, &big);
    assert_eq!((r.status, r.error()), (422, "setStorageSync:fail exceed storage item max length".to_string()));
    assert_eq!(get_value(&root, "u1", "wx1", "greeting")["data"], json!({"hello": "world"}), "the old value is kept");
    let r = server.post(&set, r#"{"key":"","data":1}"#);
    assert_eq!((r.status, r.error()), (422, "setStorageSync:fail parameter error: key should not be empty".to_string()));
    let r = server.post(&set, r#"{"key":"k","data":1,"extra":2}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = server.post(&format!("/api/storage/remove?sandbox={SB}"), r#"{"key":"n"}"#);
    assert_eq!(r.status, 200);
    assert!(Session::open(Config::new(&root, "u1", "wx1")).unwrap().store.get("n").is_none());
    let r = server.post(&format!("/api/storage/clear?sandbox={SB}"), r#"{"confirm":false}"#);
    assert_eq!((r.status, r.error()), (400, "clearing needs {\"confirm\": true}".to_string()));
    let r = server.post("/api/storage/clear?sandbox=u1%2Fwx1%2Fplugin%2Fplug", r#"{"confirm":true}"#);
    assert_eq!(
        (r.status, r.error()),
        (422, "clearStorageSync:fail api \"clearStorageSync\" is not available to plugins".to_string())
    );
    let r = server.post(&format!("/api/storage/clear?sandbox={SB}"), r#"{"confirm":true}"#);
    assert_eq!(r.status, 200);
    let s = Session::open(Config::new(&root, "u1", "wx1")).unwrap();
    assert!(s.store.is_empty());
    drop(s);

    let (lines, _) = event_lines(&server, 0, false);
    assert_eq!(
        lines,
        [
            "library warn u1/wx1: u1/wx1/staging: 1 file(s) of interrupted writes removed (1 bytes)",
            "inspector info u1/wx1: set \"n\": done (setStorageSync)",
            "library warn u1/wx1: u1/wx1/kv: setStorageSync refused (1400002 exceed storage item max length); storage 113 of 10485760 bytes",
            "inspector warn u1/wx1: set \"greeting\": refused by the library: setStorageSync:fail exceed storage item max length",
            "inspector warn u1/wx1: set \"\": refused by the library: setStorageSync:fail parameter error: key should not be empty",
            "inspector info u1/wx1: remove \"n\": done (removeStorageSync)",
            "inspector warn u1/wx1/plugin/plug: clear storage: refused by the library: clearStorageSync:fail api \"clearStorageSync\" is not available to plugins",
            "inspector info u1/wx1: clear storage: done (clearStorageSync)",
        ]
    );
    // Read-only unless asked.
    drop(server);
    let server = Server::start(&root, &[]);
    let r = server.post(&set, r#"{"key":"k","data":1}"#);
    assert_eq!((r.status, r.error()), (403, "read-only: the inspector was started without --write".to_string()));
}

#[test]
fn requests_are_bounded_in_size_and_threads() {
    let root = sample_root("serve-bounds");
    // Connections are held idle as long as the test likes (the default drops one after 10 s):
    // which ones are refused must not depend on how fast this machine is today.
    let server = Server::start_with_env(&root, &["--write"], &[("WXFS_SERVE_PATIENCE_SECS", "3600")]);
    // A head past 16 KiB, and too many headers.
    let long = format!("GET /api/overview HTTP/1.1\r\nHost: {}\r\nX-Long: {}\r\n\r\n", server.host, "a".repeat(20_000));
    assert_eq!(server.raw(long.as_bytes()).status, 431);
    let mut many = format!("GET /api/overview HTTP/1.1\r\nHost: {}\r\n", server.host);
    for i in 0..100 {
        many.push_str(&format!("X-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(server.raw(many.as_bytes()).status, 431);
    // A body declared larger than 8 MiB is refused before it is read; a chunked one is not taken.
    let token = server.token.clone();
    let r = server.raw(format!("POST /api/storage/set?sandbox={SB} HTTP/1.1\r\nHost: {}\r\nX-Wxfs-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n", server.host).as_bytes());
    assert_eq!(r.status, 413);
    let r = server.raw(format!("POST /api/storage/set?sandbox={SB} HTTP/1.1\r\nHost: {}\r\nX-Wxfs-Token: {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", server.host).as_bytes());
    assert_eq!(r.status, 501);
    // Many idle connections at once: the 8 workers take 8, the queue holds 64, and each one past
    // that is answered 503 by the accepting thread at once, with no thread added for it.
    let threads = server.threads();
    let mut idle: Vec<TcpStream> = (0..120).map(|_| TcpStream::connect(&server.host).unwrap()).collect();
    // The accepting thread takes connections in order: once one more has its 503, each of the 120
    // was either queued or answered.
    let mut one_more = TcpStream::connect(&server.host).unwrap();
    // (Read timeouts here only turn a hang into a failure; nothing depends on them.)
    one_more.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut buf = Vec::new();
    one_more.read_to_end(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"), "{}", String::from_utf8_lossy(&buf));
    assert_eq!(server.threads(), threads, "no thread was added for them");
    // Each idle one now says it has nothing more to send: the server closes the queued ones
    // unanswered, and the refused ones hold their 503.
    for s in &idle {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut busy = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        let mut buf = Vec::new();
        // A reset after the 503 (the server's side long gone) may end the read: what came counts.
        let _ = s.read_to_end(&mut buf);
        match buf.is_empty() {
            true => {}
            false if buf.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n") => busy += 1,
            false => panic!("an idle connection was answered {}", String::from_utf8_lossy(&buf)),
        }
    }
    // 120 - 8 - 64 = 48 refused, up to 56 when the workers had not yet taken theirs from the queue.
    assert!((48..=56).contains(&busy), "{busy} of 120 idle connections were answered 503");
    drop(idle);
    // Still serving once they are gone.
    assert_eq!(server.get_ok("/api/overview").status, 200);
}

#[test]
fn a_storage_write_trims_no_temp_file() {
    // A host that keeps more temp files after close than the 2 GiB default (its own tempKeep):
    // the inspector's storage edit opens and closes the sandbox with no config of the host's,
    // and must not trim them as the default would. A sparse 3 GiB temp file stands for them,
    // counted by the quota journal that the next open rebuilds from the files.
    let root = sample_root("serve-temp-kept");
    let dir = root.join("u1/wx1");
    let big = dir.join("tmp/kept-by-the-host.bin");
    std::fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
    std::fs::remove_file(dir.join("quota.journal")).unwrap();
    let server = Server::start(&root, &["--write"]);
    let r = server.post(&format!("/api/storage/set?sandbox={SB}"), r#"{"key":"edited","data":1}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(std::fs::metadata(&big).map(|m| m.len()).ok(), Some(3 << 30), "the host's temp file was trimmed");
    let trims: Vec<String> = server.get_ok("/api/events").json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .filter(|m| m.contains("trimmed") || m.contains("removed"))
        .collect();
    assert_eq!(trims, Vec::<String>::new());
    // (Read back last: this default open trims at its own close, as any default host would.)
    assert_eq!(get_value(&root, "u1", "wx1", "edited")["data"], 1);
}

/// The child side of the host-process tests: opens `WXFS_REFUSE`'s sandbox through the C ABI with
/// a 4 KiB user-file quota, has a write and a storage item refused, closes, and prints its pid.
#[test]
#[ignore]
fn refusing_host_child() {
    let Ok(spec) = std::env::var("WXFS_REFUSE") else { return };
    let (root, app) = spec.split_once('\n').unwrap();
    let lib = common::abi::Lib::load();
    let h =
        lib.open(&json!({"root": root, "userId": "u1", "appId": app, "limits": {"userFiles": 4096, "entries": 2000}})).unwrap();
    let big = "x".repeat(5000);
    assert_eq!(lib.invoke(h, "writeFileSync", &json!({"filePath": "wxfile://usr/big.txt", "data": big})).0, 1_300_202);
    let item = "y".repeat(1 << 20);
    assert_eq!(lib.invoke(h, "setStorageSync", &json!({"key": "big", "data": item})).0, 1_400_002);
    assert_eq!(lib.close(h), 0);
    println!("@@pid {}", std::process::id());
}

/// Runs [`refusing_host_child`] on `app` under `root`; its pid.
fn refusing_host(root: &Path, app: &str) -> u32 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "refusing_host_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("WXFS_REFUSE", format!("{}\n{app}", root.display()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let at = said.find("@@pid ").unwrap_or_else(|| panic!("no pid: {said}")) + "@@pid ".len();
    said[at..].split_whitespace().next().unwrap().parse().unwrap()
}

/// The events a host process heard, as its sandbox recorded them: (level, pid, message).
fn recorded(dir: &Path) -> Vec<(u8, u32, String)> {
    wxfs::sandbox::eventlog::read(dir).records.into_iter().map(|r| (r.level, r.pid, r.message)).collect()
}

/// "source level sandbox: message" of each event the page has.
fn event_lines(server: &Server, after: u64, wait: bool) -> (Vec<String>, u64) {
    let got = server.get_ok(&format!("/api/events?after={after}{}", if wait { "&wait=1" } else { "" })).json();
    let lines = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}: {}",
                e["source"].as_str().unwrap(),
                e["level"].as_str().unwrap(),
                e["sandbox"].as_str().unwrap(),
                e["message"].as_str().unwrap()
            )
        })
        .collect();
    (lines, got["last"].as_u64().unwrap())
}

/// The events after `after`, waiting (up to four 15-second waits with none) until `n` came.
fn wait_for_events(server: &Server, mut after: u64, n: usize) -> Vec<String> {
    let mut heard = Vec::new();
    for _ in 0..4 {
        if heard.len() >= n {
            break;
        }
        let (lines, last) = event_lines(server, after, true);
        heard.extend(lines);
        after = last;
    }
    assert!(heard.len() >= n, "{} of {n} events came in four waits: {heard:?}", heard.len());
    heard
}

const REFUSED_WRITE: &str = "u1/wx1/usr: writeFileSync refused (1300202 the maximum size of the file storage limit is exceeded); user files 5 of 4096 bytes, 2 of 1024 entries";

#[test]
fn a_host_process_s_events_and_limits_are_recorded_in_its_sandbox_and_shown() {
    let root = sample_root("serve-host-events");
    let dir = root.join("u1/wx1");
    let storage_bytes = Session::open(Config::new(&root, "u1", "wx1")).unwrap().store.size();
    // An interrupted write, which the host's open repairs and reports.
    std::fs::write(dir.join("staging/.interrupted"), "x").unwrap();
    let pid = refusing_host(&root, "wx1");
    let item = format!(
        "u1/wx1/kv: setStorageSync refused (1400002 exceed storage item max length); storage {storage_bytes} of 10485760 bytes"
    );
    let want = vec![
        (2, pid, "u1/wx1/staging: 1 file(s) of interrupted writes removed (1 bytes)".to_string()),
        (2, pid, REFUSED_WRITE.to_string()),
        (2, pid, item.clone()),
    ];
    assert_eq!(recorded(&dir), want);
    let limits = wxfs::sandbox::eventlog::read_limits(&dir).unwrap();
    let get = |n: &str| limits.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    assert_eq!(
        (get("userFiles"), get("entries"), get("storageTotal"), get("tempKeep")),
        (Some(4096), Some(2000), Some(10 << 20), Some(2 << 30))
    );
    assert_eq!(limits.len(), 11);

    let before = tree(&root);
    let server = Server::start(&root, &[]);
    let o = server.get_ok("/api/overview").json();
    let card = o["sandboxes"].as_array().unwrap().iter().find(|s| s["id"] == "u1/wx1").unwrap().clone();
    assert_eq!(
        (&card["limits"]["userFiles"], &card["limits"]["entries"], &card["limitsFrom"]),
        (&json!(4096), &json!(1024), &json!("recorded"))
    );
    assert_eq!(card["usage"], json!({"userFiles": 5, "temp": 0, "entries": 2}));
    let areas = server.get_ok(&format!("/api/areas?sandbox={SB}")).json();
    assert_eq!(
        (&areas["userFilesLimit"], &areas["entriesLimit"], &areas["limitsFrom"]),
        (&json!(4096), &json!(1024), &json!("recorded"))
    );
    // What the host heard is the page's history, as it was recorded.
    let (lines, _) = event_lines(&server, 0, false);
    let source = format!("process {pid} warn u1/wx1: ");
    assert_eq!(lines, want.iter().map(|(_, _, m)| format!("{source}{m}")).collect::<Vec<_>>());
    assert_eq!(tree(&root), before, "the inspector wrote under the root");

    // A sandbox with no record (as an older release leaves it): the defaults, and it says so.
    for f in ["limits.rec", "events.log"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let o = server.get_ok("/api/overview").json();
    let card = o["sandboxes"].as_array().unwrap().iter().find(|s| s["id"] == "u1/wx1").unwrap().clone();
    assert_eq!((&card["limits"]["userFiles"], &card["limitsFrom"]), (&json!(200 << 20), &json!("defaults")));
}

#[test]
fn a_host_s_event_reaches_the_open_page_live() {
    let root = sample_root("serve-live");
    let server = Server::start(&root, &[]);
    let (history, last) = event_lines(&server, 0, false);
    assert_eq!(history, Vec::<String>::new());
    // The page is listening (it asked); a host process now has a write refused.
    let pid = refusing_host(&root, "wx1");
    // Each wait returns once an event came (or after 15 s with none): no sleep decides anything.
    let heard = wait_for_events(&server, last, 2);
    assert_eq!(heard[0], format!("process {pid} warn u1/wx1: {REFUSED_WRITE}"));
    assert!(
        heard[1].starts_with(&format!("process {pid} warn u1/wx1: u1/wx1/kv: setStorageSync refused (1400002 ")),
        "{heard:?}"
    );
}

#[test]
fn damaged_records_are_tolerated_by_the_host_and_the_page() {
    let root = sample_root("serve-damaged-records");
    let dir = root.join("u1/wx1");
    let pid = refusing_host(&root, "wx1");
    // The first record's last byte flipped, and the limits record cut short.
    let path = dir.join("events.log");
    let mut bytes = std::fs::read(&path).unwrap();
    let first_end = 8 + 8 + 21 + REFUSED_WRITE.len();
    bytes[first_end - 1] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let limits = std::fs::read(dir.join("limits.rec")).unwrap();
    std::fs::write(dir.join("limits.rec"), &limits[..limits.len() / 2]).unwrap();
    let rest = recorded(&dir);
    assert_eq!(rest.len(), 1, "the damaged record costs only itself: {rest:?}");
    assert!(rest[0].2.starts_with("u1/wx1/kv: setStorageSync refused"));

    let server = Server::start(&root, &[]);
    let o = server.get_ok("/api/overview").json();
    assert_eq!(
        (o["sandboxes"][0]["limitsFrom"].as_str(), o["sandboxes"][0]["limits"]["userFiles"].as_u64()),
        (Some("defaults"), Some(200 << 20))
    );
    let (lines, _) = event_lines(&server, 0, false);
    assert_eq!(lines, [format!("process {pid} warn u1/wx1: {}", rest[0].2)]);
    // The host opens again and records again, the damage notwithstanding; the open page takes
    // the new records only.
    let (_, last) = event_lines(&server, 0, false);
    let pid2 = refusing_host(&root, "wx1");
    let now = recorded(&dir);
    assert_eq!(now.len(), 3);
    assert_eq!(now[1], (2, pid2, REFUSED_WRITE.to_string()));
    let heard = wait_for_events(&server, last, 2);
    assert_eq!(heard, now[1..].iter().map(|(_, p, m)| format!("process {p} warn u1/wx1: {m}")).collect::<Vec<_>>());
    assert_eq!(wxfs::sandbox::eventlog::read_limits(&dir).map(|l| l[0].clone()), Some(("userFiles".to_string(), 4096)));
}

#[test]
fn a_loop_of_100000_refusals_keeps_the_record_within_its_cap() {
    use wxfs::sandbox::eventlog::{EVENTS, EVENTS_MAX, EVENTS_OLD, FILE_MAX};
    let root = common::fresh_dir("serve-refusal-loop");
    let mut config = Config::new(&root, "u1", "wx1");
    config.limits.user_files = 4;
    let s = Session::open(config).unwrap();
    let dir = root.join("u1/wx1");
    let args = json!({"filePath": "wxfile://usr/f.txt", "data": "12345"}).to_string();
    let mut largest = 0;
    const N: u64 = 100_000;
    let started = std::time::Instant::now();
    for i in 0..N {
        assert_eq!(bridge::invoke(&s, "writeFileSync", &args).0, 1_300_202);
        if i % 1000 == 0 {
            let size = |n: &str| std::fs::metadata(dir.join(n)).map_or(0, |m| m.len());
            largest = largest.max(size(EVENTS) + size(EVENTS_OLD));
            assert!(size(EVENTS) <= FILE_MAX && size(EVENTS_OLD) <= FILE_MAX);
        }
    }
    drop(s);
    assert!(largest <= EVENTS_MAX, "{largest} bytes");
    let records = recorded(&dir);
    let first = "u1/wx1/usr: writeFileSync refused (1300202 the maximum size of the file storage limit is exceeded); user files 0 of 4 bytes, 0 of 1024 entries";
    assert_eq!(records[0], (2, std::process::id(), first.to_string()));
    // Every later record stands for itself and the refusals held back before it: never more
    // than were made.
    let mut accounted = 1u64;
    for (_, _, m) in &records[1..] {
        let held = m
            .strip_prefix(first)
            .and_then(|t| t.strip_prefix("; "))
            .and_then(|t| t.strip_suffix(" more refused since the last report"));
        accounted += 1 + held.unwrap_or_else(|| panic!("{m}")).parse::<u64>().unwrap();
    }
    assert!(accounted <= N, "{accounted} refusals accounted for, {N} made");
    // A figure, never asserted.
    println!(
        "{N} refusals in {:.2} s: {} records, {accounted} refusals accounted for, at most {largest} bytes",
        started.elapsed().as_secs_f64(),
        records.len()
    );
}
