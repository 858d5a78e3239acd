//! Shared by tests/serve.rs and tests/serve_browser.rs: a spawned `wxfs serve`, raw HTTP/1.1
//! requests to it (raw, so a test sends exactly the bytes it means: a `..` or `%2F` that a client
//! library would normalise), and a host process that keeps a sandbox open and writing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub const CLI: &str = env!("CARGO_BIN_EXE_wxfs");

/// The `wxfs` binary to serve with: this build's, or `WXFS_SERVE_CLI` (a release build, to time
/// the page as users see it).
fn cli() -> String {
    std::env::var("WXFS_SERVE_CLI").unwrap_or_else(|_| CLI.to_string())
}

/// A running `wxfs serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// What it printed before the URL.
    pub banner: Vec<String>,
    /// The URL it printed, token included.
    pub url: String,
    /// `127.0.0.1:port`.
    pub host: String,
    pub token: String,
    /// Where its stderr goes (beside the root, never in it).
    pub stderr: PathBuf,
}

impl Server {
    /// `wxfs serve ROOT --port 0 ARGS...`, once it has printed its URL.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        Server::start_with_env(root, args, &[])
    }

    /// The same, with these environment variables.
    pub fn start_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let stderr = root.with_extension(format!("serve-{}.stderr", std::process::id()));
        let mut child = Command::new(cli())
            .arg("serve")
            .arg(root)
            .args(["--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let url = loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("http://") => break l,
                Some(Ok(l)) => banner.push(l),
                _ => panic!("wxfs serve printed no URL: {banner:?}\n{}", std::fs::read_to_string(&stderr).unwrap_or_default()),
            }
        };
        let rest = url.strip_prefix("http://").unwrap();
        let (host, query) = rest.split_once('/').unwrap();
        let token = query.strip_prefix("?token=").unwrap().to_string();
        Server { child, banner, host: host.to_string(), token, url, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `raw` as it is and reads the whole response (the server closes after one).
    pub fn raw(&self, raw: &[u8]) -> Reply {
        let mut s = TcpStream::connect(&self.host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(raw).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        Reply::parse(&buf)
    }

    /// A GET of `target` with the given extra headers (the Host header is the right one).
    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", target, headers, b"")
    }

    /// A GET with the token in the header.
    pub fn get_ok(&self, target: &str) -> Reply {
        let token = self.token.clone();
        self.get(target, &[("X-Wxfs-Token", &token)])
    }

    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// A write as the page sends it: JSON, the token in the header, from the page's origin.
    pub fn post(&self, target: &str, body: &str) -> Reply {
        let (token, origin) = (self.token.clone(), format!("http://{}", self.host));
        self.request(
            "POST",
            target,
            &[
                ("X-Wxfs-Token", &token),
                ("Content-Type", "application/json"),
                ("Origin", &origin),
                ("Sec-Fetch-Site", "same-origin"),
            ],
            body.as_bytes(),
        )
    }

    /// The threads of the server process now.
    pub fn threads(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn parse(buf: &[u8]) -> Reply {
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
        let head = std::str::from_utf8(&buf[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines.map(|l| l.split_once(": ").unwrap()).map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
        Reply { status, headers, body: buf[end + 4..].to_vec() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `error` of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

/// `value` as a query component.
pub fn q(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A host process that holds a sandbox open and keeps writing `counter` (and a file) until its
/// stdin closes; then it says how many writes it made and how many failed.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    pub pid: u32,
}

/// What the holder did.
#[derive(Debug)]
pub struct Held {
    pub writes: u64,
    pub failed: Vec<String>,
}

impl Holder {
    /// Runs the test binary's ignored test `child_test` (which calls [`hold`]) for (user, app) under root.
    pub fn start(child_test: &str, root: &Path, user: &str, app: &str) -> Holder {
        Holder::start_with(child_test, root, user, app, None)
    }

    /// [`Holder::start`] opening with a user-file quota of `quota.0` bytes, and once the file
    /// `quota.1` exists, making one write that quota refuses (a host's event, heard live).
    pub fn start_with(child_test: &str, root: &Path, user: &str, app: &str, quota: Option<(u64, &Path)>) -> Holder {
        let refuse = quota.map_or(String::new(), |(bytes, trigger)| format!("\n{bytes}\n{}", trigger.display()));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", child_test, "--ignored", "--nocapture", "--test-threads=1"])
            .env("WXFS_HOLD", format!("{}\n{user}\n{app}{refuse}", root.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.is_ok_and(|l| l.contains("@@held"))), "the holder did not open its sandbox");
        Holder { child, stdin, lines, pid }
    }

    /// Stops it and returns what it did.
    pub fn stop(mut self) -> Held {
        drop(self.stdin.take());
        let line = self.lines.find_map(|l| l.ok().filter(|l| l.starts_with("@@wrote ")));
        let _ = self.child.wait();
        let line = line.expect("the holder did not report");
        let mut words = line.split(' ').skip(1);
        let writes = words.next().unwrap().parse().unwrap();
        let failed = line.split(" failed: ").nth(1).filter(|s| !s.is_empty()).map(|s| s.split(" | ").map(String::from).collect());
        Held { writes, failed: failed.unwrap_or_default() }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child side of [`Holder`]: call from an `#[ignore]` test named as given to `Holder::start`.
pub fn hold() {
    use wxfs::{bridge, Config, Session};
    let Ok(spec) = std::env::var("WXFS_HOLD") else { return };
    let mut spec = spec.lines();
    let (root, user, app) = (spec.next().unwrap(), spec.next().unwrap(), spec.next().unwrap());
    let mut config = Config::new(root, user, app);
    let mut refuse = None;
    if let (Some(bytes), Some(trigger)) = (spec.next(), spec.next()) {
        config.limits.user_files = bytes.parse().unwrap();
        refuse = Some((config.limits.user_files, std::path::PathBuf::from(trigger)));
    }
    let s = Session::open(config).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let mut failed = Vec::new();
    let mut n = 0u64;
    let mut write = |n: u64| {
        for (api, args) in [
            ("setStorageSync", serde_json::json!({"key": "counter", "data": n})),
            ("writeFileSync", serde_json::json!({"filePath": "wxfile://usr/counter.txt", "data": n.to_string()})),
        ] {
            let (code, result) = bridge::invoke(&s, api, &args.to_string());
            if code != 0 {
                failed.push(format!("{api} {n}: {result}"));
            }
        }
    };
    write(n);
    let mut refused_wrong = Vec::new();
    println!("@@held {}", std::process::id());
    std::io::stdout().flush().unwrap();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        write(n);
        if let Some((bytes, _)) = refuse.take_if(|(_, trigger)| trigger.exists()) {
            let big = serde_json::json!({"filePath": "wxfile://usr/too-big.bin", "data": "x".repeat(bytes as usize + 1)});
            let (code, _) = bridge::invoke(&s, "writeFileSync", &big.to_string());
            if code != 1_300_202 {
                refused_wrong.push(format!("the write over the quota returned {code}"));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    failed.extend(refused_wrong);
    println!("@@wrote {n} failed: {}", failed.join(" | "));
    std::io::stdout().flush().unwrap();
}

/// Every path under `dir` with its kind, size and mtime: what "nothing changed under the root" compares.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(d).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let m = e.path().symlink_metadata().unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            out.push(format!("{rel} {:?} {} {:?}", m.file_type(), if m.is_dir() { 0 } else { m.len() }, m.modified().unwrap()));
            if m.is_dir() {
                walk(base, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}
