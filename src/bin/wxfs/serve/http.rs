//! The small HTTP/1.1 server under `wxfs serve`: one request per connection, answered, then closed.
//!
//! Request heads are parsed by `httparse`; this file bounds everything around it, so that no
//! client (a page in a browser, another local process) can make the inspector use unbounded
//! threads, memory or time:
//! - threads: [`WORKERS`] serve connections and [`QUEUE`] more wait; past that a connection is
//!   answered 503 by the accepting thread at once and closed;
//! - a request head: at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers (431 past either);
//! - a body: sized by `Content-Length` only (a chunked body is refused), at most [`MAX_BODY`] (413);
//! - time: a connection that sends nothing for [`IDLE`] is dropped, and so is one whose request is
//!   not whole within [`DEADLINE`]; a response that the client does not read for [`IDLE`] is cut.
//!   (`WXFS_SERVE_PATIENCE_SECS` sets both, for tests that must hold connections idle for as long
//!   as they like: which connections get a 503 must not depend on how fast the machine is.)
//!
//! Every response carries the headers that keep a browser from reading it in another site's
//! context or sniffing it into HTML (`nosniff`, a restrictive `Content-Security-Policy`,
//! `Cross-Origin-Resource-Policy: same-origin`, no referrer, no caching).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Threads that serve connections.
pub const WORKERS: usize = 8;
/// Accepted connections that wait for a worker.
pub const QUEUE: usize = 64;
/// Most bytes of a request line and its headers.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers of a request.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of a request body: a storage item (1 MiB by default) written as JSON text with
/// every character escaped fits several times over.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// Longest a connection may stay silent, reading or writing.
pub const IDLE: Duration = Duration::from_secs(10);
/// Longest the whole request may take to arrive.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// [`IDLE`] and [`DEADLINE`], or both `WXFS_SERVE_PATIENCE_SECS` when it is set (read once).
fn patience() -> (Duration, Duration) {
    static SET: std::sync::OnceLock<(Duration, Duration)> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        match std::env::var("WXFS_SERVE_PATIENCE_SECS").ok().and_then(|v| v.parse::<u64>().ok()).filter(|&s| s > 0) {
            Some(s) => (Duration::from_secs(s), Duration::from_secs(s)),
            None => (IDLE, DEADLINE),
        }
    })
}

/// The policy of every response but the page itself: nothing may run, load or frame it.
const CSP_NONE: &str = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox";

/// One request, whole.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target's path, exactly as sent (never decoded: routes match it literally).
    pub path: String,
    /// The query's parameters, decoded; a name given twice is refused when parsing.
    query: Vec<(String, String)>,
    /// Header names in lowercase, values as sent.
    headers: Vec<(String, Vec<u8>)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (lowercase), if present once and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.headers.iter().filter(|(n, _)| n == name);
        let (_, v) = found.next()?;
        if found.next().is_some() {
            return None;
        }
        std::str::from_utf8(v).ok().map(str::trim)
    }

    /// Whether header `name` (lowercase) is present at all.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }

    /// The query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What a response carries.
pub enum Body {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// The first `len` bytes of an open file, streamed.
    File(std::fs::File, u64),
}

/// One response.
pub struct Response {
    /// The status code.
    pub status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

impl Response {
    /// `body` with the given content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response { status, headers: vec![("Content-Type", content_type.to_string())], body: Body::Bytes(body) }
    }

    /// A JSON document.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::bytes(status, "application/json; charset=utf-8", value.to_string().into_bytes())
    }

    /// A failure as JSON: `{"error": why}`.
    pub fn error(status: u16, why: impl Into<String>) -> Response {
        Response::json(status, &serde_json::json!({ "error": why.into() }))
    }

    /// The first `len` bytes of `file`.
    pub fn file(content_type: &str, file: std::fs::File, len: u64) -> Response {
        Response { status: 200, headers: vec![("Content-Type", content_type.to_string())], body: Body::File(file, len) }
    }

    /// This response with one more header (or one replaced: `Content-Security-Policy`).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    fn head(&self, len: u64) -> String {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let mut has_csp = false;
        for (name, value) in &self.headers {
            has_csp |= *name == "Content-Security-Policy";
            // Values are ours; a CR or LF in one (a file name) must not start another header.
            let value: String = value.chars().filter(|c| !c.is_control()).collect();
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !has_csp {
            head.push_str(&format!("Content-Security-Policy: {CSP_NONE}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {len}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\
             Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\nX-Frame-Options: DENY\r\n\
             Cross-Origin-Resource-Policy: same-origin\r\nCross-Origin-Opener-Policy: same-origin\r\n\r\n"
        ));
        head
    }

    fn send(self, stream: &mut TcpStream) -> std::io::Result<()> {
        match self.body {
            Body::Bytes(ref b) => {
                let mut out = self.head(b.len() as u64).into_bytes();
                out.extend_from_slice(b);
                stream.write_all(&out)
            }
            Body::File(ref file, len) => {
                stream.write_all(self.head(len).as_bytes())?;
                let copied = std::io::copy(&mut file.take(len), stream)?;
                if copied < len {
                    // Shortened since it was measured: the client sees a cut response, not a wrong one.
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank while sent"));
                }
                Ok(())
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Reads one request; `Err(Some(response))` is the answer to a bad one, `Err(None)` a connection
/// to drop without one (closed, silent too long).
fn read_request(stream: &mut TcpStream) -> Result<Request, Option<Response>> {
    let start = Instant::now();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut read_some = |stream: &mut TcpStream, buf: &mut Vec<u8>, room: usize| -> Result<usize, Option<Response>> {
        let (idle, deadline) = patience();
        let left = deadline.checked_sub(start.elapsed()).filter(|d| !d.is_zero()).ok_or(None)?;
        stream.set_read_timeout(Some(left.min(idle))).map_err(|_| None)?;
        match stream.read(&mut chunk[..room.min(4096)]) {
            Ok(0) | Err(_) => Err(None),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
        }
    };
    let (head_len, method, path, query, headers) = loop {
        let room = MAX_HEAD + 1 - buf.len();
        read_some(stream, &mut buf, room)?;
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => {
                let target = parsed.path.unwrap_or("");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let headers = parsed.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
                break (n, parsed.method.unwrap_or("").to_string(), path.to_string(), query.to_string(), headers);
            }
            Ok(httparse::Status::Complete(_)) => return Err(Some(Response::error(431, "request head too large"))),
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(Some(Response::error(431, "request head too large")))
            }
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => return Err(Some(Response::error(431, "too many headers"))),
            Err(e) => return Err(Some(Response::error(400, format!("malformed request: {e}")))),
        }
    };
    if !path.starts_with('/') {
        return Err(Some(Response::error(400, "the request target must be a path")));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if pairs.iter().any(|(n, _)| *n == k) {
            return Err(Some(Response::error(400, format!("query parameter {k:?} given twice"))));
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    let mut req = Request { method, path, query: pairs, headers, body: Vec::new() };
    if req.has_header("transfer-encoding") {
        return Err(Some(Response::error(501, "request bodies are taken with Content-Length only")));
    }
    let len = match (req.has_header("content-length"), req.header("content-length")) {
        (false, _) => 0,
        (true, Some(v)) => v.parse::<usize>().map_err(|_| Some(Response::error(400, "bad Content-Length")))?,
        (true, None) => return Err(Some(Response::error(400, "bad Content-Length"))),
    };
    if len > MAX_BODY {
        return Err(Some(Response::error(413, format!("request body over {MAX_BODY} bytes"))));
    }
    let mut body = buf.split_off(head_len);
    body.truncate(len);
    while body.len() < len {
        let room = len - body.len();
        read_some(stream, &mut body, room)?;
    }
    req.body = body;
    Ok(req)
}

/// Sends `response` and closes: the write side first, then whatever the client still sends is
/// read and dropped for a moment, so that unread request bytes do not turn the close into a
/// reset that loses the response.
fn finish(mut stream: TcpStream, response: Response) {
    let _ = stream.set_write_timeout(Some(patience().0));
    if response.send(&mut stream).is_err() {
        return;
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 1 << 20 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The application: a request in, a response out. Runs on any worker thread.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

fn work(queue: Arc<Mutex<Receiver<TcpStream>>>, handler: Arc<Handler>) {
    loop {
        let next = queue.lock().map_err(|_| ()).and_then(|q| q.recv().map_err(|_| ()));
        let Ok(mut stream) = next else { return };
        let response = match read_request(&mut stream) {
            Ok(req) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&req)))
                .unwrap_or_else(|_| Response::error(500, "internal error (see the inspector's stderr)")),
            Err(Some(bad)) => bad,
            Err(None) => continue,
        };
        finish(stream, response);
    }
}

/// Serves `listener` with `handler` until the process ends.
pub fn run(listener: TcpListener, handler: Arc<Handler>) -> std::io::Result<()> {
    let (tx, rx) = sync_channel::<TcpStream>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..WORKERS {
        let (rx, handler) = (rx.clone(), handler.clone());
        std::thread::Builder::new().name(format!("wxfs-serve-{i}")).spawn(move || work(rx, handler))?;
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if let Err(TrySendError::Full(mut stream)) = tx.try_send(stream) {
            let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
            let _ = Response::error(503, "busy: too many connections at once").send(&mut stream);
        }
    }
    Ok(())
}
