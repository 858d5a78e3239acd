//! The sandbox's own record of what the library said about it: its recent events at WARN and
//! above (`events.log`, rotated to `events.log.1`) and the limits it was last opened with
//! (`limits.rec`), so that a tool reading the sandbox from another process (`wxfs serve`) can
//! show what the host heard and the quotas the host set (docs/design.md §2, §6).
//!
//! Both live in the sandbox directory beside `quota.journal`: outside every area, so no
//! FileSystemManager path reaches them and no quota counts them, and removed with the sandbox.
//! They are diagnostics, never data: written without a sync, read tolerantly (a missing or
//! foreign file reads as none, a damaged record costs only itself, a torn tail is left out), and never a
//! reason for an open or a call to fail.
//!
//! Bounded: a record is at most [`RECORD_MAX`] bytes (a longer message is cut), each of the two
//! event files at most [`FILE_MAX`] bytes (a record that would pass it starts a new file, the
//! current one becoming `events.log.1` in place of the older), so the pair never holds more than
//! [`EVENTS_MAX`] bytes whatever is recorded. Only the process holding the sandbox's lock writes
//! (a session records through its [`Recorder`], whose mutex orders its threads); readers never
//! lock and may see a record being written, which fails its CRC and is read at the next look.
//!
//! Format (little-endian), both files: an 8-byte header, the magic and a version, then frames
//! `[u32 length][u32 crc32 of the payload][payload]`. An events payload is `u64` milliseconds
//! since the Unix epoch, `u32` pid, `u64` serial (per process), `u8` level (1 error, 2 warn),
//! then the message as UTF-8. `limits.rec` holds one frame: `u16` count, then per limit a `u8`
//! name length, the name (the config's camelCase) and a `u64` value.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The current events file.
pub const EVENTS: &str = "events.log";
/// The events file before the current one.
pub const EVENTS_OLD: &str = "events.log.1";
/// The limits of the last open.
pub const LIMITS: &str = "limits.rec";
/// Most bytes of one events file.
pub const FILE_MAX: u64 = 32 * 1024;
/// Most bytes of the two events files together.
pub const EVENTS_MAX: u64 = 2 * FILE_MAX;
/// Most bytes of one record, frame included (a longer message is cut at a character boundary).
pub const RECORD_MAX: usize = 1024;
/// How often one kind of refusal is recorded at most, after its first.
pub const REPEAT_EVERY: Duration = Duration::from_secs(1);

const EVENTS_MAGIC: &[u8; 4] = b"WXEV";
const LIMITS_MAGIC: &[u8; 4] = b"WXLM";
const VERSION: u32 = 1;
const HEADER: usize = 8;
const FRAME: usize = 8;
/// time, pid, serial, level.
const FIXED: usize = 8 + 4 + 8 + 1;

/// Serials of this process's records: with the pid and time, a record's identity.
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The process that recorded it.
    pub pid: u32,
    /// Its number among that process's records.
    pub serial: u64,
    /// 1 error, 2 warn (`events::Level`).
    pub level: u8,
    /// What the host heard, paths relative to the root.
    pub message: String,
}

/// What [`read`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    /// Oldest first.
    pub records: Vec<Record>,
    /// A file was foreign, of a newer version, or damaged before its end: records after the
    /// damage, if any, are not in `records`.
    pub damaged: bool,
}

fn header(magic: &[u8; 4]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(magic);
    h[4..].copy_from_slice(&VERSION.to_le_bytes());
    h
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of a whole frame at `at` in `bytes`, if one is there.
fn frame_at(bytes: &[u8], at: usize, min: usize) -> Option<&[u8]> {
    let head = bytes.get(at..at + FRAME)?;
    let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
    if len < min || len + FRAME > RECORD_MAX {
        return None;
    }
    let crc = u32::from_le_bytes(head[4..].try_into().unwrap());
    let payload = bytes.get(at + FRAME..at + FRAME + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

/// The payloads of `bytes` (a whole file), each at least `min` bytes, and whether any bytes were
/// not whole frames. Past damage, reading goes on at the next whole frame: a damaged record costs
/// only itself.
fn frames<'a>(bytes: &'a [u8], magic: &[u8; 4], min: usize) -> (Vec<&'a [u8]>, bool) {
    if bytes.len() < HEADER || &bytes[..4] != magic || bytes[4..8] != VERSION.to_le_bytes() {
        return (Vec::new(), !bytes.is_empty());
    }
    let (mut out, mut damaged) = (Vec::new(), false);
    let mut at = HEADER;
    while at < bytes.len() {
        match frame_at(bytes, at, min) {
            Some(payload) => {
                out.push(payload);
                at += FRAME + payload.len();
            }
            None => {
                damaged = true;
                at += 1;
            }
        }
    }
    (out, damaged)
}

/// The first `max` bytes of the file at `path` (none if it is missing or not a regular file).
fn read_head(path: &Path, max: u64) -> Option<Vec<u8>> {
    // Never through a symbolic link: what is read is the sandbox's own file or nothing.
    let file = no_follow().read(true).open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Options that never open through a symbolic link.
fn no_follow() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

fn encode(r: &Record) -> Vec<u8> {
    let mut message = r.message.as_str();
    let room = RECORD_MAX - FRAME - FIXED;
    if message.len() > room {
        let mut cut = room;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message = &message[..cut];
    }
    let mut p = Vec::with_capacity(FIXED + message.len());
    p.extend_from_slice(&r.time_ms.to_le_bytes());
    p.extend_from_slice(&r.pid.to_le_bytes());
    p.extend_from_slice(&r.serial.to_le_bytes());
    p.push(r.level);
    p.extend_from_slice(message.as_bytes());
    p
}

fn decode(p: &[u8]) -> Option<Record> {
    if p.len() < FIXED {
        return None;
    }
    Some(Record {
        time_ms: u64::from_le_bytes(p[..8].try_into().ok()?),
        pid: u32::from_le_bytes(p[8..12].try_into().ok()?),
        serial: u64::from_le_bytes(p[12..20].try_into().ok()?),
        level: p[20],
        message: String::from_utf8_lossy(&p[FIXED..]).into_owned(),
    })
}

/// Appends one record to the events of the sandbox at `dir`, rotating first if it would not
/// fit. The caller holds the sandbox's lock and orders its own threads ([`Recorder`]).
pub fn append(dir: &Path, level: u8, message: &str) -> io::Result<()> {
    let time_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
    let record = Record { time_ms, pid: std::process::id(), serial, level, message: message.to_string() };
    let bytes = frame(&encode(&record));
    let path = dir.join(EVENTS);
    let file = no_follow().read(true).write(true).create(true).truncate(false).open(&path)?;
    let len = file.metadata()?.len();
    let mut head = [0u8; HEADER];
    let ours = len >= HEADER as u64 && file.read_exact_at(&mut head, 0).is_ok() && head == header(EVENTS_MAGIC);
    if len >= HEADER as u64 && &head[..4] == EVENTS_MAGIC && u32::from_le_bytes(head[4..].try_into().unwrap()) > VERSION {
        // A later release's: left as it is (docs/compatibility.md).
        return Ok(());
    }
    if ours && len + bytes.len() as u64 <= FILE_MAX {
        return file.write_all_at(&bytes, len);
    }
    drop(file);
    let mut fresh = header(EVENTS_MAGIC).to_vec();
    fresh.extend_from_slice(&bytes);
    if ours {
        // Full: it becomes the older file, and a new one starts (a rename replaces the older
        // one whole, so a reader sees the old pair or the new one).
        std::fs::rename(&path, dir.join(EVENTS_OLD))?;
        let file = no_follow().write(true).create(true).truncate(true).open(&path)?;
        return file.write_all_at(&fresh, 0);
    }
    // Empty, foreign or damaged at its start: begun again.
    let file = no_follow().write(true).truncate(true).open(&path)?;
    file.write_all_at(&fresh, 0)
}

/// The recorded events of the sandbox at `dir`, oldest first. Never fails: what cannot be read
/// is left out (and `damaged` says so where a file was there but not whole).
pub fn read(dir: &Path) -> Recent {
    let mut out = Recent::default();
    for name in [EVENTS_OLD, EVENTS] {
        let Some(bytes) = read_head(&dir.join(name), FILE_MAX) else { continue };
        let (payloads, damaged) = frames(&bytes, EVENTS_MAGIC, FIXED);
        out.damaged |= damaged;
        for p in payloads {
            match decode(p) {
                Some(r) => out.records.push(r),
                None => out.damaged = true,
            }
        }
    }
    out
}

/// Records `limits` (name, value) as the ones the sandbox at `dir` is open with, unless that is
/// what the file already says.
pub fn write_limits(dir: &Path, limits: &[(&str, u64)]) -> io::Result<()> {
    let mut p = Vec::new();
    p.extend_from_slice(&(limits.len() as u16).to_le_bytes());
    for (name, value) in limits {
        p.push(name.len() as u8);
        p.extend_from_slice(name.as_bytes());
        p.extend_from_slice(&value.to_le_bytes());
    }
    let mut bytes = header(LIMITS_MAGIC).to_vec();
    bytes.extend_from_slice(&frame(&p));
    let path = dir.join(LIMITS);
    if read_head(&path, RECORD_MAX as u64 + 1).as_deref() == Some(&bytes[..]) {
        return Ok(());
    }
    if read_head(&path, HEADER as u64)
        .is_some_and(|h| h.len() == HEADER && &h[..4] == LIMITS_MAGIC && u32::from_le_bytes(h[4..].try_into().unwrap()) > VERSION)
    {
        return Ok(());
    }
    // One small write in place: a torn one fails its CRC and reads as no record.
    let file = no_follow().write(true).create(true).truncate(false).open(&path)?;
    file.write_all_at(&bytes, 0)?;
    file.set_len(bytes.len() as u64)
}

/// The limits recorded for the sandbox at `dir` (name, value), if a whole record is there.
pub fn read_limits(dir: &Path) -> Option<Vec<(String, u64)>> {
    let bytes = read_head(&dir.join(LIMITS), RECORD_MAX as u64)?;
    let (payloads, damaged) = frames(&bytes, LIMITS_MAGIC, 2);
    let p = match (payloads.as_slice(), damaged) {
        ([one], false) => *one,
        _ => return None,
    };
    let count = u16::from_le_bytes(p.get(..2)?.try_into().ok()?) as usize;
    let mut at = 2;
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = *p.get(at)? as usize;
        let name = std::str::from_utf8(p.get(at + 1..at + 1 + n)?).ok()?.to_string();
        let value = u64::from_le_bytes(p.get(at + 1 + n..at + 9 + n)?.try_into().ok()?);
        out.push((name, value));
        at += 9 + n;
    }
    (at == p.len()).then_some(out)
}

/// A session's writer of its sandbox's events: orders its threads' appends, and lets repeats of
/// one kind of refusal through at most once per [`REPEAT_EVERY`] (the first always), counting
/// the ones it held back so the next that passes can say how many there were.
#[derive(Debug)]
pub struct Recorder {
    dir: std::path::PathBuf,
    /// Per kind (an errCode): when one last passed, and how many were held back since.
    gate: Mutex<HashMap<u32, (Instant, u64)>>,
}

impl Recorder {
    /// The recorder of the sandbox at `dir`.
    pub fn new(dir: &Path) -> Recorder {
        Recorder { dir: dir.to_path_buf(), gate: Mutex::new(HashMap::new()) }
    }

    /// Records an event at `level` (1 error, 2 warn; others are not kept). A failure to write
    /// is ignored: the record is a diagnostic, never a reason for a call to fail.
    pub fn record(&self, level: u8, message: &str) {
        if level > 2 {
            return;
        }
        let _order = self.gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = append(&self.dir, level, message);
    }

    /// Whether a refusal of `kind` should be reported now: `Some(held back since the last
    /// report)` for the first, and then once per [`REPEAT_EVERY`]; `None` otherwise.
    pub fn pass(&self, kind: u32) -> Option<u64> {
        let now = Instant::now();
        let mut gate = self.gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match gate.get_mut(&kind) {
            None => {
                // Kinds are errCodes, a handful: the table stays small.
                gate.insert(kind, (now, 0));
                Some(0)
            }
            Some((last, held)) if now.duration_since(*last) >= REPEAT_EVERY => {
                let n = *held;
                *last = now;
                *held = 0;
                Some(n)
            }
            Some((_, held)) => {
                *held += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("wxfs-eventlog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn messages(d: &Path) -> Vec<String> {
        read(d).records.into_iter().map(|r| r.message).collect()
    }

    #[test]
    fn records_read_back_in_order_with_level_and_pid() {
        let d = dir("order");
        append(&d, 2, "first").unwrap();
        append(&d, 1, "second ✓").unwrap();
        let got = read(&d);
        assert!(!got.damaged);
        let r: Vec<(u8, u32, &str)> = got.records.iter().map(|r| (r.level, r.pid, r.message.as_str())).collect();
        assert_eq!(r, [(2, std::process::id(), "first"), (1, std::process::id(), "second ✓")]);
        assert!(got.records[0].serial < got.records[1].serial);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_files_never_pass_their_cap_and_keep_the_latest() {
        let d = dir("cap");
        let long = "x".repeat(5000);
        for i in 0..100_000u32 {
            let m = if i % 1000 == 7 { format!("event {i} {long}") } else { format!("event {i}") };
            append(&d, 2, &m).unwrap();
            if i % 9973 == 0 {
                let total: u64 = [EVENTS, EVENTS_OLD].iter().map(|n| std::fs::metadata(d.join(n)).map_or(0, |m| m.len())).sum();
                assert!(total <= EVENTS_MAX, "{total} bytes after {i} records");
            }
        }
        for n in [EVENTS, EVENTS_OLD] {
            let len = std::fs::metadata(d.join(n)).unwrap().len();
            assert!(len <= FILE_MAX, "{n}: {len} bytes");
        }
        let got = read(&d);
        assert!(!got.damaged);
        assert_eq!(got.records.last().unwrap().message, "event 99999");
        assert!(got.records.iter().any(|r| r.message.len() == RECORD_MAX - FRAME - FIXED), "a long message kept, cut");
        // Oldest first, no gap: the two files hold the most recent records, consecutive.
        let numbers: Vec<u32> = got.records.iter().map(|r| r.message.split(' ').nth(1).unwrap().parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
        assert!(numbers.len() > 1000, "only {} records kept", numbers.len());
        // A cut message is whole characters, within one record.
        append(&d, 2, &"é".repeat(3000)).unwrap();
        let last = read(&d).records.pop().unwrap().message;
        assert!(last.len() <= RECORD_MAX - FRAME - FIXED && last.chars().all(|c| c == 'é'), "{}", last.len());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_record_costs_only_itself_and_writing_goes_on() {
        let d = dir("damage");
        assert_eq!(read(&d), Recent::default(), "missing files are no records");
        for m in ["one", "two", "three"] {
            append(&d, 2, m).unwrap();
        }
        let path = d.join(EVENTS);
        let mut bytes = std::fs::read(&path).unwrap();
        // The second record's last byte flipped.
        let second_end = HEADER + 2 * (FRAME + FIXED) + "one".len() + "two".len();
        bytes[second_end - 1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!((messages(&d), read(&d).damaged), (vec!["one".to_string(), "three".to_string()], true));
        // Records appended after damage are read too.
        append(&d, 2, "four").unwrap();
        assert_eq!(messages(&d), ["one", "three", "four"]);
        let bytes = std::fs::read(&path).unwrap();
        // A torn tail: half a record.
        std::fs::write(&path, &bytes[..HEADER + FRAME + FIXED + 3 + 5]).unwrap();
        assert_eq!((messages(&d), read(&d).damaged), (vec!["one".to_string()], true));
        // A foreign file: no records, and the next append starts it again.
        std::fs::write(&path, b"not an event log at all").unwrap();
        assert_eq!((messages(&d), read(&d).damaged), (Vec::<String>::new(), true));
        append(&d, 1, "after").unwrap();
        assert_eq!((messages(&d), read(&d).damaged), (vec!["after".to_string()], false));
        // A symbolic link in its place, even to a good log: neither read nor written through.
        let elsewhere = dir("damage-elsewhere");
        append(&elsewhere, 2, "elsewhere").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(elsewhere.join(EVENTS), &path).unwrap();
        assert_eq!(messages(&d), Vec::<String>::new());
        assert!(append(&d, 2, "through the link").is_err());
        assert_eq!(messages(&elsewhere), ["elsewhere"]);
        std::fs::remove_dir_all(&elsewhere).unwrap();
        // A directory in its place: appends fail (and are ignored by a recorder), reads find none.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(append(&d, 2, "x").is_err());
        Recorder::new(&d).record(2, "ignored");
        assert_eq!(read(&d), Recent::default());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_later_release_s_events_file_is_left_as_it_is() {
        let d = dir("later");
        let mut later = EVENTS_MAGIC.to_vec();
        later.extend_from_slice(&2u32.to_le_bytes());
        later.extend_from_slice(b"future records");
        std::fs::write(d.join(EVENTS), &later).unwrap();
        append(&d, 2, "x").unwrap();
        assert_eq!(std::fs::read(d.join(EVENTS)).unwrap(), later);
        assert!(read(&d).damaged);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn limits_round_trip_and_damage_reads_as_none() {
        let d = dir("limits");
        assert_eq!(read_limits(&d), None);
        write_limits(&d, &[("userFiles", 1 << 20), ("entries", 5000)]).unwrap();
        let want = vec![("userFiles".to_string(), 1u64 << 20), ("entries".to_string(), 5000)];
        assert_eq!(read_limits(&d), Some(want.clone()));
        // The same limits again: not written (the file keeps the time set here).
        std::fs::File::options().write(true).open(d.join(LIMITS)).unwrap().set_modified(UNIX_EPOCH).unwrap();
        write_limits(&d, &[("userFiles", 1 << 20), ("entries", 5000)]).unwrap();
        assert_eq!(std::fs::metadata(d.join(LIMITS)).unwrap().modified().unwrap(), UNIX_EPOCH, "the same limits rewritten");
        write_limits(&d, &[("userFiles", 7)]).unwrap();
        assert_eq!(read_limits(&d), Some(vec![("userFiles".to_string(), 7)]));
        let mut bytes = std::fs::read(d.join(LIMITS)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(d.join(LIMITS), &bytes).unwrap();
        assert_eq!(read_limits(&d), None);
        std::fs::write(d.join(LIMITS), b"WXLM").unwrap();
        assert_eq!(read_limits(&d), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_refusal_passes_first_and_then_once_a_second_with_the_count_held_back() {
        let d = dir("gate");
        let r = Recorder::new(&d);
        assert_eq!(r.pass(1_300_202), Some(0));
        assert_eq!(r.pass(1_400_003), Some(0), "another kind passes on its own");
        // Back-date the last report instead of sleeping: the gate opens on the time since it.
        let held = (0..10).filter(|_| r.pass(1_300_202).is_some()).count();
        assert_eq!(held, 0);
        let mut gate = r.gate.lock().unwrap();
        let last = &mut gate.get_mut(&1_300_202).unwrap().0;
        *last = last.checked_sub(REPEAT_EVERY).unwrap();
        drop(gate);
        assert_eq!(r.pass(1_300_202), Some(10));
        assert_eq!(r.pass(1_300_202), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
