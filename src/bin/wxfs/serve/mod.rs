//! `wxfs serve`: a web page on this machine that shows the sandboxes under a root, as the
//! devtools Storage panel shows a mini-program's storage: an overview of every sandbox (usage
//! against the limits its host configured, as the sandbox recorded them, else the platform's
//! defaults), its storage, its files, and the events as they happen: those host processes heard
//! about their sandboxes (each sandbox records its recent warnings and errors, `hostevents`) and
//! the library's in this process.
//!
//! What it promises (each is tested in tests/serve.rs and, in a browser, tests/serve_browser.rs):
//! - It reads as `wxfs ls` and `wxfs storage` do (docs/design.md §7): it never takes the lock of
//!   a sandbox, never blocks a running mini-program's writes, never creates anything under the
//!   root. A sandbox another process holds open is shown read-only.
//! - It listens on 127.0.0.1 unless `--listen` names another address, and every request must
//!   carry the random token printed in the URL: as `?token=` or the `X-Wxfs-Token` header, and
//!   for a write the header only, so that no other site's page can write (a cross-site form
//!   cannot set a header, and the server answers no CORS preflight). A write must also be JSON
//!   and, when the browser says where it comes from, come from this page.
//! - With `--write` it adds, edits, deletes and clears storage through the library's own calls
//!   (`setStorageSync`, ...), in a sandbox no other process has open.
//! - No value, key or name is ever turned into HTML: the API sends JSON, and the page builds its
//!   DOM with `textContent` only (tests/serve.rs checks its script for any other way).

mod api;
mod files;
mod hostevents;
mod http;
mod sandboxes;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use http::{Request, Response};

const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

/// The page's policy: its own script and style only, images from its own blobs, requests to
/// itself only.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                        connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Events kept for the page.
const EVENTS_KEPT: usize = 1000;
/// Requests held waiting for an event at once.
const EVENT_WAITERS: usize = 4;
/// Longest one of them is held.
const EVENT_WAIT: Duration = Duration::from_secs(15);

/// The Events view's events: the library's in this process (`wxfs::events`), those host
/// processes heard about the sandboxes under the root (`hostevents`), and the inspector's own
/// notes about what it did or refused.
#[derive(Default)]
pub struct EventLog {
    state: Mutex<(u64, VecDeque<Value>)>,
    came: Condvar,
    waiting: AtomicUsize,
}

impl EventLog {
    fn push(&self, source: &str, level: &str, sandbox: &str, message: &str) {
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.push_at(time, source, level, sandbox, message);
    }

    /// An event that happened at `time` (milliseconds since the Unix epoch).
    fn push_at(&self, time: u64, source: &str, level: &str, sandbox: &str, message: &str) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        let id = st.0;
        st.1.push_back(json!({"id": id, "time": time, "source": source, "level": level, "sandbox": sandbox, "message": message}));
        if st.1.len() > EVENTS_KEPT {
            st.1.pop_front();
        }
        drop(st);
        self.came.notify_all();
    }

    /// The inspector's own note (a write done or refused).
    pub fn note(&self, level: &str, sandbox: &str, message: &str) {
        self.push("inspector", level, sandbox, message);
    }

    fn library(&self, e: &wxfs::events::Event) {
        let level = format!("{:?}", e.level).to_lowercase();
        self.push("library", &level, e.sandbox, e.message);
    }

    /// The events after `after`; with `wait`, once one has come or the wait is over.
    fn since(&self, after: u64, wait: bool) -> Value {
        let mut st = self.state.lock().unwrap();
        let may_wait = wait && self.waiting.fetch_add(1, Ordering::AcqRel) < EVENT_WAITERS;
        if may_wait && st.0 <= after {
            st = self.came.wait_timeout_while(st, EVENT_WAIT, |st| st.0 <= after).unwrap().0;
        }
        if wait {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        let events: Vec<&Value> = st.1.iter().filter(|e| e["id"].as_u64().is_some_and(|id| id > after)).collect();
        json!({"events": events, "last": st.0})
    }
}

/// What every request handler shares.
pub struct App {
    /// The root, canonical.
    pub root: PathBuf,
    token: String,
    /// Whether `--write` was given.
    pub write: bool,
    /// The `Host` values a request may carry (`None`: any, when listening beyond loopback).
    hosts: Option<Vec<String>>,
    /// Storage snapshots kept between requests.
    pub snapshots: sandboxes::Snapshots,
    /// The Events view's events.
    pub events: Arc<EventLog>,
    /// What host processes recorded in their sandboxes, watched while the page listens.
    pub host_events: Arc<hostevents::HostEvents>,
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Whether the request may be served: the token, and for a write the header, JSON and origin.
    fn check(&self, req: &Request) -> Result<(), Response> {
        if let Some(hosts) = &self.hosts {
            // A page of another site that rebinds its name to 127.0.0.1 still says its own name.
            if !req.header("host").is_some_and(|h| hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h))) {
                return Err(Response::error(403, "unexpected Host: open the address `wxfs serve` printed"));
            }
        }
        let header = req.header("x-wxfs-token");
        if req.method == "POST" {
            let Some(token) = header else {
                return Err(Response::error(403, "a write needs the token in the X-Wxfs-Token header"));
            };
            if !same(token.as_bytes(), self.token.as_bytes()) {
                return Err(Response::error(403, "wrong token"));
            }
            if !req.header("content-type").is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json")) {
                return Err(Response::error(415, "a write is sent as application/json"));
            }
            if let Some(origin) = req.header("origin") {
                let host = req.header("host").unwrap_or("");
                if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                    return Err(Response::error(403, "a write must come from the inspector's own page"));
                }
            }
            if req.header("sec-fetch-site").is_some_and(|s| s != "same-origin") {
                return Err(Response::error(403, "a write must come from the inspector's own page"));
            }
            return Ok(());
        }
        match header.or_else(|| req.param("token")) {
            None => Err(Response::error(403, "missing token: open the address `wxfs serve` printed")),
            Some(t) if same(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            Some(_) => Err(Response::error(403, "wrong token")),
        }
    }

    fn handle(&self, req: &Request) -> Response {
        if let Err(refused) = self.check(req) {
            return refused;
        }
        let get = req.method == "GET";
        let post = req.method == "POST";
        match req.path.as_str() {
            "/" if get => {
                let page = INDEX_HTML.replace("{{TOKEN}}", &self.token);
                Response::bytes(200, "text/html; charset=utf-8", page.into_bytes()).with("Content-Security-Policy", PAGE_CSP)
            }
            "/app.js" if get => Response::bytes(200, "text/javascript; charset=utf-8", APP_JS.as_bytes().to_vec()),
            "/app.css" if get => Response::bytes(200, "text/css; charset=utf-8", APP_CSS.as_bytes().to_vec()),
            "/api/overview" if get => api::overview(self),
            "/api/storage" if get => api::storage(self, req),
            "/api/storage/item" if get => api::storage_item(self, req),
            "/api/storage/set" if post => api::storage_write(self, req, "set"),
            "/api/storage/remove" if post => api::storage_write(self, req, "remove"),
            "/api/storage/clear" if post => api::storage_write(self, req, "clear"),
            "/api/areas" if get => api::areas(self, req),
            "/api/files" if get => api::list(self, req),
            "/api/file" if get => api::file(self, req),
            "/api/events" if get => api::events(self, req),
            "/"
            | "/app.js"
            | "/app.css"
            | "/api/overview"
            | "/api/storage"
            | "/api/storage/item"
            | "/api/storage/set"
            | "/api/storage/remove"
            | "/api/storage/clear"
            | "/api/areas"
            | "/api/files"
            | "/api/file"
            | "/api/events" => Response::error(405, format!("{} is not allowed here", req.method)),
            _ => Response::error(404, "no such page"),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// `wxfs serve ROOT [--port N] [--write] [--listen ADDR]`: serves until killed.
pub fn serve(root: &Path, port: u16, write: bool, listen: Option<IpAddr>) -> Result<(), String> {
    crate::inspect::existing_root(root)?;
    let root = std::fs::canonicalize(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let ip = listen.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).map_err(|e| format!("cannot listen on {ip} port {port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut token = [0u8; 32];
    getrandom::getrandom(&mut token).map_err(|e| format!("no random token: {e}"))?;
    let token = hex::encode(token);
    let shown = match addr.ip() {
        IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
        v4 => format!("{v4}:{}", addr.port()),
    };
    let hosts = is_loopback(addr.ip()).then(|| vec![shown.clone(), format!("localhost:{}", addr.port())]);
    let events = Arc::new(EventLog::default());
    let sink = events.clone();
    wxfs::events::set_sink(Some(Box::new(move |e: &wxfs::events::Event| sink.library(e))))
        .map_err(|_| "cannot install the event sink".to_string())?;
    let host_events = Arc::new(hostevents::HostEvents::new());
    host_events.clone().watch(root.clone(), events.clone());
    let app = Arc::new(App {
        root: root.clone(),
        token: token.clone(),
        write,
        hosts,
        snapshots: Default::default(),
        events,
        host_events,
    });
    println!(
        "wxfs serve: {} ({}), listening on {shown}",
        root.display(),
        if write { "writes allowed in sandboxes no other process has open" } else { "read-only" }
    );
    if !is_loopback(addr.ip()) {
        println!(
            "warning: {ip} is reachable from other machines; anyone with this address and its token can read these sandboxes"
        );
    }
    println!("http://{shown}/?token={token}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let handler: Arc<http::Handler> = Arc::new(move |req: &Request| app.handle(req));
    http::run(listener, handler).map_err(|e| e.to_string())
}
