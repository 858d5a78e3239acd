//! What a crash or a power cut leaves on disk, made by hand for the recovery tests.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use wxfs::quota::journal::{Area, Entry, Journal};
use wxfs::{Config, Session};

/// What a power cut can leave in the storage log: `garbage` where the next record would start (the
/// log is followed by a preallocated zero tail, so the end of the log is after its last non-zero
/// byte, never inside the 8-byte header).
pub fn tear_storage_log(log: &Path, garbage: &[u8]) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(log).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1).max(8);
    std::fs::OpenOptions::new().write(true).open(log).unwrap().write_all_at(garbage, end as u64).unwrap();
}

/// What a process killed in the middle of two appends leaves in `config`'s sandbox: `usr/torn`
/// and `usr/whole` of 100 bytes each, both appends' reservations (to 200 bytes) written to the
/// quota journal, `torn` grown part of the way (37 bytes), `whole` all the way (its commit lost).
pub fn two_interrupted_appends(config: Config) {
    let s = Session::open(config).unwrap();
    for f in ["torn", "whole"] {
        let args = json!({"filePath": format!("wxfile://usr/{f}"), "data": "a".repeat(100)});
        assert_eq!(wxfs::bridge::invoke(&s, "writeFileSync", &args.to_string()).0, 0);
    }
    let dir = s.sandbox.dir().to_path_buf();
    drop(s);
    let io: std::sync::Arc<dyn wxfs::io::LogIo> = std::sync::Arc::new(wxfs::io::StdIo);
    let (mut j, _) = Journal::open(io, &dir.join(Journal::FILE), false).unwrap().unwrap();
    for f in ["torn", "whole"] {
        j.reserve(vec![Entry { after: Some(200), ..Entry::new(Area::Usr, f.into(), 100, 1) }]).unwrap();
    }
    drop(j);
    std::fs::OpenOptions::new().append(true).open(dir.join("usr/torn")).unwrap().write_all(&[b'b'; 37]).unwrap();
    std::fs::OpenOptions::new().append(true).open(dir.join("usr/whole")).unwrap().write_all(&[b'b'; 100]).unwrap();
}

/// Runs the ignored test `test` of this test binary in a child process with `env` set, SIGKILLs
/// it after `after`, and returns the report lines (from `@@` on) it printed whole before it died
/// (a line the kill cut short is not a report; libtest may print its own text before the `@@`).
pub fn run_killed(exe: &Path, test: &str, env: &[(&str, String)], after: Duration) -> Vec<String> {
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    });
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') {
            break; // cut short by the kill: not a report
        }
        let line = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
        if let Some(i) = line.find("@@") {
            lines.push(line[i..].to_string());
        }
    }
    killer.join().unwrap();
    lines
}
