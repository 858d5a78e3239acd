//! Tests of the log file itself (`log.rs`), on the shared I/O double `crate::io::mem::MemIo`.

use std::io;
use std::ops::Range;
use std::path::Path;

use super::files::LOG_NAME;
use super::log::*;
use super::record;
use super::tests::TempDir;
use crate::io::mem::MemIo;

// --- tests of the log itself ---

/// Opens the log and lists the sets it replays as (key, data).
fn open(io: &MemIo, dir: &Path) -> (Opened, Vec<(String, String)>) {
    let mut sets = Vec::new();
    let o = Log::open(io.arc(), dir, |file, r| {
        record::parse(file, r, |op| {
            if let record::Op::Set(i) = op {
                let s = |r: Range<usize>| String::from_utf8(file[r].to_vec()).unwrap();
                sets.push((s(i.key), s(i.data)));
            }
        })
    })
    .unwrap();
    (o, sets)
}

fn set_rec(key: &str, data: &str) -> Vec<u8> {
    let mut b = Vec::new();
    record::encode_set(&mut b, key.as_bytes(), None, data.as_bytes());
    b
}

#[test]
fn fresh_log_is_a_durable_header_and_a_zero_tail() {
    let io = MemIo::new();
    let dir = Path::new("/m/kv");
    let (o, sets) = open(&io, dir);
    assert!(sets.is_empty());
    assert_eq!((o.records, o.truncated_bytes, o.log.len(), o.log.capacity()), (0, 0, 8, 4096));
    io.power_cut();
    assert_eq!(io.names(), vec![dir.join(LOG_NAME)]);
    let mut want = record::header().to_vec();
    want.resize(4096, 0);
    assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), want);
}

#[test]
fn appends_grow_the_file_and_a_failed_growth_changes_nothing() {
    let io = MemIo::new();
    let dir = Path::new("/m/kv");
    let path = dir.join(LOG_NAME);
    let (mut o, _) = open(&io, dir);
    let a = set_rec("a", &"1".repeat(3000));
    assert_eq!(o.log.append(&a).unwrap(), (8, 8 + a.len() as u64));
    let before = io.bytes(&path).unwrap();
    assert_eq!(before.len(), 4096);
    // The second record does not fit: the file must grow, and the disk is full.
    io.faults().fail_allocate = 1;
    assert!(o.log.append(&a).is_err());
    assert_eq!(io.bytes(&path).unwrap(), before);
    assert_eq!(o.log.len(), 8 + a.len());
    let (at, _) = o.log.append(&a).unwrap();
    assert_eq!(at, 8 + a.len());
    assert_eq!(o.log.capacity(), 4096 + (64 << 10), "grows by at least 64 KiB");
    drop(o);
    let (o, sets) = open(&io, dir);
    assert_eq!((o.records, o.truncated_bytes, sets.len()), (2, 0, 2));
}

#[test]
fn a_failed_copy_is_zeroed_before_the_next_record() {
    let io = MemIo::new();
    let dir = Path::new("/m/kv");
    let (mut o, _) = open(&io, dir);
    let a = set_rec("a", "1");
    // The payload copy succeeds, the header copy fails (a kill between the two).
    io.faults().crash_at = Some(io.ops() + 2);
    assert!(o.log.append(&set_rec("zzzzzzzzzz", "garbage-garbage")).is_err());
    io.faults().crash_at = None;
    o.log.append(&a).unwrap();
    drop(o);
    let (o, sets) = open(&io, dir);
    assert_eq!((o.records, o.truncated_bytes), (1, 0), "the stale payload was zeroed");
    assert_eq!(sets, vec![("a".to_string(), "1".to_string())]);
}

#[test]
fn damaged_tail_is_zeroed_durably() {
    let io = MemIo::new();
    let dir = Path::new("/m/kv");
    let mut good = record::header().to_vec();
    good.extend_from_slice(&set_rec("a", "1"));
    let mut file = good.clone();
    file.extend_from_slice(&[7, 0, 0, 0, 1, 2, 0, 0, 9]);
    file.resize(8192, 0);
    io.put(&dir.join(LOG_NAME), &file);
    let (o, sets) = open(&io, dir);
    assert_eq!(sets, vec![("a".to_string(), "1".to_string())]);
    assert_eq!((o.records, o.truncated_bytes, o.log.len()), (1, 9, good.len()));
    io.power_cut();
    let mut want = good.clone();
    want.resize(8192, 0);
    assert_eq!(io.bytes(&dir.join(LOG_NAME)).unwrap(), want);
}

#[test]
fn std_io_appends_reads_renames_allocates_and_maps() {
    let t = TempDir::new("stdio");
    let io = StdIo;
    io.create_dir_all(t.path()).unwrap();
    let p = t.path().join("f");
    assert_eq!(io.read(&p).unwrap(), None);
    let f = io.open_append(&p).unwrap();
    f.append(b"abc").unwrap();
    f.append(b"def").unwrap();
    f.set_len(4).unwrap();
    f.append(b"X").unwrap();
    f.sync().unwrap();
    io.sync_dir(t.path()).unwrap();
    assert_eq!(io.read(&p).unwrap().unwrap(), b"abcdX");
    let q = t.path().join("g");
    io.rename(&p, &q).unwrap();
    assert!(!io.exists(&p).unwrap());
    assert!(io.exists(&q).unwrap());
    // The handle follows the file, not the name.
    f.append(b"Y").unwrap();
    assert_eq!(io.read(&q).unwrap().unwrap(), b"abcdXY");

    let rw = io.open_rw(&q).unwrap();
    rw.allocate(10000).unwrap();
    assert_eq!(rw.size().unwrap(), 10000);
    let mut m = rw.map(10000).unwrap();
    assert_eq!(&m.bytes()[..7], b"abcdXY\0");
    m.write(9998, b"ZZ").unwrap();
    m.flusher().flush(0, 10000).unwrap();
    let back = io.read(&q).unwrap().unwrap();
    assert_eq!((&back[..6], &back[9998..]), (&b"abcdXY"[..], &b"ZZ"[..]));
    assert!(back[6..9998].iter().all(|&b| b == 0));
    io.remove(&q).unwrap();
    assert_eq!(io.remove(&q).unwrap_err().kind(), io::ErrorKind::NotFound);
}
