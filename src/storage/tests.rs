//! Tests of the store: what it keeps, what it refuses, torn and damaged logs, compaction. The
//! helpers here are shared by the other test files of `storage`.

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};

use super::files::{COMPACT_NAME, LOG_NAME};
use super::*;

pub(super) const BIG: Limits = Limits { item: u64::MAX, total: u64::MAX };

pub(super) fn v(data: &str) -> Value {
    Value { data: data.to_owned(), data_type: None }
}

pub(super) fn vt(data: &str, t: &str) -> Value {
    Value { data: data.to_owned(), data_type: Some(t.to_owned()) }
}

pub(super) fn kv(k: &str, val: Value) -> (String, Value) {
    (k.to_owned(), val)
}

pub(super) fn snapshot(s: &Store) -> Vec<(String, Value)> {
    s.keys().into_iter().map(|k| (k.clone(), s.get(&k).unwrap())).collect()
}

pub(super) fn open(dir: &Path) -> (Store, LogReport) {
    Store::open(dir, Durability::Process).unwrap()
}

/// The log in `data.log`: its records, without the zero tail.
pub(super) fn log_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = fs::read(dir.join(LOG_NAME)).unwrap();
    let (end, _) = recovery::scan(&bytes, |r| record::parse(&bytes, r, |_| {}));
    assert_eq!(recovery::garbage_after(&bytes, end), 0, "bytes after the log");
    bytes.truncate(end);
    bytes
}

/// The names in a settled store's directory, less its spare (checked to be all zeros).
pub(super) fn no_leftover(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    if let Some(at) = names.iter().position(|n| n == promote::SPARE_NAME) {
        let bytes = fs::read(dir.join(promote::SPARE_NAME)).unwrap();
        assert!(bytes.iter().all(|&b| b == 0), "a spare that is not all zeros");
        names.remove(at);
    }
    names
}

pub(super) fn file_len(dir: &Path) -> u64 {
    log_bytes(dir).len() as u64
}

pub(super) fn set_bytes(key: &str, val: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    record::encode_set(&mut b, key.as_bytes(), val.data_type.as_ref().map(|t| t.as_bytes()), val.data.as_bytes());
    b
}

/// The exact bytes of a compacted log holding `items`.
pub(super) fn compacted(items: &[(String, Value)]) -> Vec<u8> {
    let mut b = record::header().to_vec();
    for (k, val) in items {
        b.extend_from_slice(&set_bytes(k, val));
    }
    b
}

/// Reference semantics, written independently of `Index`.
#[derive(Clone, Default, Debug, PartialEq)]
pub(super) struct Model(pub(super) Vec<(String, Value)>);

impl Model {
    pub(super) fn set(&mut self, k: &str, val: Value) {
        match self.0.iter_mut().find(|(key, _)| key == k) {
            Some(e) => e.1 = val,
            None => self.0.push(kv(k, val)),
        }
    }
    pub(super) fn remove(&mut self, k: &str) {
        self.0.retain(|(key, _)| key != k);
    }
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn every_field_round_trips_and_persists() {
    let t = TempDir::new("roundtrip");
    let items = vec![
        kv("a", v("{\"n\":1,\"s\":[true,null]}")),
        kv("b", vt("\"x\"", "")),
        kv("c", vt("1700000000000", "Date")),
        kv("键🔑", v("\"ü\"")),
        kv("e", v("")),
    ];
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes, r.compacted, r.corrupt_moved_to), (0, 0, false, None));
    for (k, val) in &items {
        s.set(k, val.clone(), BIG).unwrap();
    }
    assert_eq!(snapshot(&s), items);
    assert_eq!(s.get("b").unwrap().data_type, Some(String::new()));
    assert_eq!(s.get("a").unwrap().data_type, None);
    assert_eq!(s.get("missing"), None);
    assert_eq!(s.len(), 5);
    // Key, data and dataType bytes: "Date" counts too.
    assert_eq!(s.size(), (1 + 23) + (1 + 3) + (1 + 13 + 4) + (7 + 4) + 1);
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes, r.compacted), (5, 0, false));
    assert_eq!(snapshot(&s), items);
    assert_eq!(s.size(), 58);
    // The log is exactly the header and one set record per call.
    assert_eq!(log_bytes(t.path()), compacted(&items));
}

#[test]
fn insertion_order_overwrite_remove_readd_and_reopen() {
    let t = TempDir::new("order");
    let (s, _) = open(t.path());
    for k in ["a", "b", "c"] {
        s.set(k, v(k), BIG).unwrap();
    }
    s.set("b", v("B"), BIG).unwrap();
    assert_eq!(s.keys(), ["a", "b", "c"]);
    assert!(s.remove("a").unwrap());
    s.set("a", v("A"), BIG).unwrap();
    assert_eq!(s.keys(), ["b", "c", "a"]);
    let len = file_len(t.path());
    assert!(!s.remove("zz").unwrap());
    assert!(!s.remove("").unwrap());
    assert_eq!(file_len(t.path()), len, "removing a missing key writes nothing");
    let before = snapshot(&s);
    assert_eq!(before, vec![kv("b", v("B")), kv("c", v("c")), kv("a", v("A"))]);
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!(r.records, 6);
    assert_eq!(snapshot(&s), before);
}

#[test]
fn clear_empties_and_persists() {
    let t = TempDir::new("clear");
    let (s, _) = open(t.path());
    s.set("a", v("1"), BIG).unwrap();
    s.set("b", v("2"), BIG).unwrap();
    s.clear().unwrap();
    assert_eq!((s.len(), s.size(), s.keys()), (0, 0, Vec::<String>::new()));
    let len = file_len(t.path());
    s.clear().unwrap();
    assert_eq!(file_len(t.path()), len, "clearing an empty store writes nothing");
    s.set("b", v("3"), BIG).unwrap();
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!(r.records, 4);
    assert_eq!(snapshot(&s), vec![kv("b", v("3"))]);
}

#[test]
fn limits_reject_without_writing() {
    let t = TempDir::new("limits");
    let (s, _) = open(t.path());
    let lim = Limits { item: 11, total: 30 };
    let loose_item = Limits { item: 100, total: 30 };

    s.set("k", v("0123456789"), lim).unwrap(); // 11: exactly the item limit
    let len = file_len(t.path());
    assert!(matches!(s.set("k", v("0123456789A"), lim), Err(StoreError::ItemTooLarge)));
    assert!(matches!(s.set("", v("1"), lim), Err(StoreError::EmptyKey)));
    assert_eq!(s.get("k").unwrap(), v("0123456789"));
    assert_eq!(file_len(t.path()), len);

    s.set("a", v("0123456789"), lim).unwrap(); // 22
    let len = file_len(t.path());
    assert!(matches!(s.set("b", v("0123456789"), lim), Err(StoreError::TotalExceeded))); // 33
    assert_eq!(s.get("b"), None);
    assert_eq!(file_len(t.path()), len);

    s.set("b", v("1234567"), lim).unwrap(); // 30: exactly the total limit
    assert_eq!(s.size(), 30);
    let len = file_len(t.path());
    assert!(matches!(s.set("c", v(""), lim), Err(StoreError::TotalExceeded))); // 31
                                                                               // An overwrite counts the new size against the total without the old one.
    assert!(matches!(s.set("a", v("0123456789A"), loose_item), Err(StoreError::TotalExceeded))); // 31
    assert_eq!(s.get("a").unwrap(), v("0123456789"));
    assert_eq!(file_len(t.path()), len);
    s.set("a", v("abcdefghij"), lim).unwrap(); // 30 again
    s.set("a", v("x"), lim).unwrap(); // 21
    assert_eq!(s.size(), 21);
    s.set("c", v("12345678"), lim).unwrap(); // 30
    assert_eq!((s.size(), s.len()), (30, 4));

    let before = snapshot(&s);
    drop(s);
    let (s, _) = open(t.path());
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.size(), 30);
}

#[test]
fn concurrent_checks_admit_only_what_fits() {
    let t = TempDir::new("admit");
    let (s, _) = open(t.path());
    let lim = Limits { item: 100, total: 35 };
    for round in 0..20 {
        s.clear().unwrap();
        let ok = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let s = &s;
                    sc.spawn(move || s.set(&format!("k{i}"), v(&format!("{round:08}")), lim).is_ok())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).filter(|&ok| ok).count()
        });
        // Each item is 2 + 8 = 10 bytes: exactly three fit in 35.
        assert_eq!((ok, s.len(), s.size()), (3, 3, 30), "round {round}");
    }
}

#[test]
fn batch_is_one_record_and_all_or_nothing() {
    let t = TempDir::new("batch");
    let (s, _) = open(t.path());
    s.set("a", v("0"), BIG).unwrap();
    let len = file_len(t.path());
    s.set_batch(vec![kv("a", v("1")), kv("b", vt("2", "Number")), kv("a", v("333"))], BIG).unwrap();
    assert_eq!(snapshot(&s), vec![kv("a", v("333")), kv("b", vt("2", "Number"))]);
    // Exactly one record, holding each key once.
    let mut want = Vec::new();
    record::encode_batch(&mut want, &[kv("a", v("333")), kv("b", vt("2", "Number"))]);
    assert_eq!(log_bytes(t.path())[len as usize..], want[..]);
    assert_eq!(s.size(), 4 + 2 + 6);

    let before = snapshot(&s);
    let len = file_len(t.path());
    let fails = [
        (vec![kv("c", v("1")), kv("", v("2"))], BIG, "empty"),
        (vec![kv("c", v("1")), kv("d", v(&"x".repeat(60)))], Limits { item: 50, total: u64::MAX }, "item"),
        // 12 - 4 (old a) + 4 (new a) + 3 (c) = 15 > 8
        (vec![kv("c", v("12")), kv("a", v("123"))], Limits { item: 100, total: 8 }, "total"),
    ];
    for (items, lim, what) in fails {
        let r = s.set_batch(items, lim);
        match what {
            "empty" => assert!(matches!(r, Err(StoreError::EmptyKey))),
            "item" => assert!(matches!(r, Err(StoreError::ItemTooLarge))),
            _ => assert!(matches!(r, Err(StoreError::TotalExceeded))),
        }
        assert_eq!(snapshot(&s), before, "{what}");
        assert_eq!(file_len(t.path()), len, "{what}");
    }
    s.set_batch(vec![], BIG).unwrap();
    assert_eq!(file_len(t.path()), len);
    // At exactly the total (3 + 4 + 8, "Number" included) it fits; a too-large value overwritten later in the batch is never stored.
    s.set_batch(vec![kv("c", v("12")), kv("a", v(&"y".repeat(99))), kv("a", v("123"))], Limits { item: 10, total: 15 }).unwrap();
    let after = vec![kv("a", v("123")), kv("b", vt("2", "Number")), kv("c", v("12"))];
    assert_eq!(snapshot(&s), after);
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!(r.records, 3);
    assert_eq!(snapshot(&s), after);
}

pub(super) enum Op {
    Set(&'static str, Value),
    Batch(Vec<(String, Value)>),
    Remove(&'static str),
    Clear,
}

/// Writes `ops` through a store and returns the log's bytes, the end offset of each record
/// (`ends[0]` is the header) and the model state after each record.
pub(super) fn write_ops(dir: &Path, ops: Vec<Op>) -> (Vec<u8>, Vec<u64>, Vec<Model>) {
    let (s, _) = open(dir);
    let mut ends = vec![file_len(dir)];
    let mut models = vec![Model::default()];
    for op in ops {
        let mut m = models.last().unwrap().clone();
        match op {
            Op::Set(k, val) => {
                m.set(k, val.clone());
                s.set(k, val, BIG).unwrap();
            }
            Op::Batch(items) => {
                for (k, val) in &items {
                    m.set(k, val.clone());
                }
                s.set_batch(items, BIG).unwrap();
            }
            Op::Remove(k) => {
                m.remove(k);
                assert!(s.remove(k).unwrap());
            }
            Op::Clear => {
                m.0.clear();
                s.clear().unwrap();
            }
        }
        assert_eq!(snapshot(&s), m.0);
        ends.push(file_len(dir));
        models.push(m);
    }
    drop(s);
    (log_bytes(dir), ends, models)
}

pub(super) fn sample_ops() -> Vec<Op> {
    vec![
        Op::Set("a", v("1")),
        Op::Set("b", vt("\"two\"", "Date")),
        Op::Batch(vec![kv("c", v("[3]")), kv("a", vt("", ""))]),
        Op::Remove("b"),
        Op::Set("d", v("\"ü日本\"")),
        Op::Clear,
        Op::Set("e", vt("{}", "Object")),
    ]
}

#[test]
fn torn_tail_at_every_offset_keeps_exactly_the_whole_records() {
    let t = TempDir::new("torn");
    let (bytes, ends, models) = write_ops(t.path(), sample_ops());
    assert_eq!(ends.len(), 8);
    assert_eq!(*ends.last().unwrap(), bytes.len() as u64);
    let path = t.path().join(LOG_NAME);
    for cut in 0..=bytes.len() {
        // What a kill leaves: a prefix of the log in a preallocated file, zeros after it.
        let mut file = bytes[..cut].to_vec();
        if cut >= 8 {
            file.resize(bytes.len() + 4096, 0);
        }
        fs::write(&path, &file).unwrap();
        let (s, r) = open(t.path());
        if cut < 8 {
            // A torn header: the log was being created; nothing to keep, nothing to set aside.
            assert_eq!((r.records, r.truncated_bytes, s.len()), (0, cut as u64, 0), "cut {cut}");
            assert_eq!(log_bytes(t.path()), record::header());
        } else {
            // The records whose bytes are all there. A record whose missing bytes are all
            // zeros is whole: the zero tail holds exactly what was cut.
            let k = (0..ends.len()).rev().find(|&k| file[..ends[k] as usize] == bytes[..ends[k] as usize]).unwrap();
            let end = ends[k] as usize;
            assert_eq!(snapshot(&s), models[k].0, "cut {cut}");
            assert_eq!(r.records, k as u64, "cut {cut}");
            // The torn record's bytes up to its last non-zero one are reported and zeroed.
            let torn = file[end..].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            assert_eq!(r.truncated_bytes, torn as u64, "cut {cut}");
            assert_eq!(file_len(t.path()), ends[k], "cut {cut}");
        }
        assert_eq!(r.corrupt_moved_to, None);
        // The store stays writable after the cut, and the write lands on a clean tail.
        s.set("z", v("9"), BIG).unwrap();
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!(r.truncated_bytes, 0);
        assert_eq!(s.keys().last().map(String::as_str), Some("z"));
    }
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "no stray files");
}

/// A damaged record costs only itself, wherever in it the damage is (its length, its CRC,
/// its payload): the records after it are recovered, its bytes kept aside, the log rewritten
/// without them.
#[test]
fn flipped_byte_costs_only_that_record() {
    let t = TempDir::new("flip");
    let ops = (0..5).map(|i| Op::Set(["k0", "k1", "k2", "k3", "k4"][i], v(&format!("value-{i}")))).collect();
    let (bytes, ends, models) = write_ops(t.path(), ops);
    let (start, end) = (ends[2] as usize, ends[3] as usize); // the middle record
    let path = t.path().join(LOG_NAME);
    let mut want = models[2].0.clone();
    want.extend(models[5].0[3..].iter().cloned());
    for i in [start, start + 1, start + 3, start + 4, start + 7, start + 8, (start + end) / 2, end - 1] {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        for e in fs::read_dir(t.path()).unwrap().flatten() {
            fs::remove_file(e.path()).unwrap();
        }
        fs::write(&path, &b).unwrap();
        let (s, r) = open(t.path());
        assert_eq!(snapshot(&s), want, "byte {i}");
        let d = r.damaged.clone().unwrap_or_else(|| panic!("byte {i}: no damage reported"));
        assert_eq!((r.records, r.truncated_bytes, d.records_after, d.bytes), (4, 0, 2, (end - start) as u64), "byte {i}");
        if i >= start + 8 {
            assert_eq!(d.records_lost, 1, "byte {i}");
        }
        let kept = d.kept.unwrap();
        assert_eq!(fs::read(&kept).unwrap(), b[start..end], "byte {i}");
        assert!(r.compacted, "byte {i}");
        drop(s);
        let (s, r) = open(t.path());
        assert_eq!((snapshot(&s), r.damaged, r.truncated_bytes), (want.clone(), None, 0), "byte {i}");
    }
}

/// Bytes inside a payload that form a whole frame are not where recovery resumes: a value
/// holding a valid "set a" record (CRC and all) whose own record's header is damaged costs
/// that record only; the forged set is never applied.
#[test]
fn a_frame_inside_a_damaged_record_is_not_taken_for_a_record() {
    let t = TempDir::new("forged");
    // A frame whose bytes are all ASCII, so that it can sit inside a value.
    let forged = (0..)
        .map(|n| {
            let mut f = Vec::new();
            record::encode_set(&mut f, b"a", None, format!("\"forged {n}\"").as_bytes());
            f
        })
        .find(|f| f.is_ascii())
        .unwrap();
    let inner = format!("\"{}tail\"", std::str::from_utf8(&forged).unwrap());
    let ops = vec![Op::Set("a", v("1")), Op::Set("x", v(&inner)), Op::Set("b", v("2")), Op::Set("c", v("3"))];
    let (bytes, ends, _) = write_ops(t.path(), ops);
    let (start, end) = (ends[1] as usize, ends[2] as usize);
    let mut b = bytes.clone();
    b[start + 4] ^= 0xff; // the CRC of x's record
    fs::write(t.path().join(LOG_NAME), &b).unwrap();
    let (s, r) = open(t.path());
    assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2")), kv("c", v("3"))]);
    let d = r.damaged.unwrap();
    assert_eq!((d.records_lost, d.records_after, d.bytes), (1, 2, (end - start) as u64));
}

#[test]
fn bad_header_is_set_aside_never_deleted() {
    let t = TempDir::new("corrupt");
    let path = t.path().join(LOG_NAME);
    fs::create_dir_all(t.path()).unwrap();
    let garbage = b"{\"this\":\"is not a WXKV log\"}".to_vec();
    for n in 1..=2 {
        fs::write(&path, &garbage).unwrap();
        let (s, r) = open(t.path());
        let aside = t.path().join(format!("data.log.corrupt-{n}"));
        assert_eq!(r.corrupt_moved_to.as_deref(), Some(aside.as_path()));
        assert_eq!((r.records, s.len()), (0, 0));
        assert_eq!(fs::read(&aside).unwrap(), garbage);
        assert_eq!(log_bytes(t.path()), record::header());
        s.set("a", v("1"), BIG).unwrap();
    }
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.corrupt_moved_to), (1, None));
    assert_eq!(snapshot(&s), vec![kv("a", v("1"))]);
}

#[test]
fn other_format_version_is_refused_and_untouched() {
    let t = TempDir::new("version");
    fs::create_dir_all(t.path()).unwrap();
    let path = t.path().join(LOG_NAME);
    let mut newer = b"WXKV\x03\x00\x00\x00".to_vec();
    newer.extend_from_slice(&set_bytes("a", &v("1")));
    fs::write(&path, &newer).unwrap();
    let err = Store::open(t.path(), Durability::Process).err().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(fs::read(&path).unwrap(), newer);
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
}

#[test]
fn leftover_compact_file_is_ignored_and_removed() {
    let t = TempDir::new("leftover");
    let (s, _) = open(t.path());
    s.set("a", v("1"), BIG).unwrap();
    s.set("b", v("2"), BIG).unwrap();
    drop(s);
    let leftover = t.path().join(COMPACT_NAME);
    fs::write(&leftover, compacted(&[kv("x", v("never live"))])).unwrap();
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes, r.compacted), (2, 0, false));
    assert_eq!(snapshot(&s), vec![kv("a", v("1")), kv("b", v("2"))]);
    assert!(!leftover.exists());
}

/// Records long enough to go through the file (`LogMap::write_through`) and short ones that
/// go through the mapping, interleaved on the real file system: each reads back at once, the
/// file holds them back to back with nothing after, and a reopen finds them all.
#[test]
fn records_written_through_the_file_and_through_the_mapping_interleave() {
    let t = TempDir::new("write-through");
    let (s, _) = open(t.path());
    let mut m = Model::default();
    let sizes = [10, 8 << 10, (8 << 10) - 20, 100 << 10, 3, 70_000, (8 << 10) + 1, 17];
    for (i, n) in sizes.iter().enumerate() {
        let data = format!("\"{}\"", char::from(b'a' + i as u8).to_string().repeat(*n));
        let key = format!("k{}", i % 5);
        s.set(&key, v(&data), BIG).unwrap();
        m.set(&key, v(&data));
        assert_eq!(s.get(&key).unwrap().data, data, "read back at once");
    }
    let want = snapshot(&s);
    assert_eq!(want, m.0);
    let records = log_bytes(t.path());
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes), (sizes.len() as u64, 0));
    assert_eq!(snapshot(&s), want);
    assert_eq!(log_bytes(t.path()), records);
}

#[test]
fn compaction_triggers_and_keeps_content_and_order() {
    let t = TempDir::new("compact");
    let (s, _) = open(t.path());
    let mut m = Model::default();
    for i in 0..10 {
        let k = format!("k{i}");
        s.set(&k, vt(&i.to_string(), "Number"), BIG).unwrap();
        m.set(&k, vt(&i.to_string(), "Number"));
    }
    assert!(s.remove("k1").unwrap());
    m.remove("k1");
    s.set("k1", v("again"), BIG).unwrap();
    m.set("k1", v("again"));

    let slack = compact_slack(set_bytes("k5", &v(&format!("{:01024}", 0))).len());
    let mut sets = 0;
    while s.stats().compactions == 0 {
        let val = v(&format!("{sets:01024}"));
        let before = s.stats();
        s.set("k5", val.clone(), BIG).unwrap();
        m.set("k5", val);
        sets += 1;
        if s.stats().compactions == 0 {
            // No compaction while the log is within bounds.
            assert!(before.file_len <= before.live_len + before.live_len / 2 + slack);
        }
        assert!(sets < 1000, "compaction never ran");
    }
    // 1 KiB records: it takes half the live data (~1 KiB) plus the slack (64 KiB, or 64
    // records of 1 KiB) of garbage.
    assert!((60..=66).contains(&sets), "{sets}");
    assert_eq!(snapshot(&s), m.0);
    let st = s.stats();
    assert_eq!((st.compactions, st.file_len), (1, st.live_len));
    s.settle().unwrap();
    assert_eq!(log_bytes(t.path()), compacted(&m.0));
    assert_eq!(no_leftover(t.path()), vec![LOG_NAME.to_string()]);

    // Appends after the switch go to the new file.
    s.set("new", v("1"), BIG).unwrap();
    m.set("new", v("1"));
    drop(s);
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes, r.compacted), (11, 0, false));
    assert_eq!(snapshot(&s), m.0);
    assert_eq!(s.keys()[..3], ["k0", "k2", "k3"]);
    assert_eq!(s.keys()[9..], ["k1", "new"]);
}

/// Sets `n` keys round-robin with values of `len` bytes until a compaction runs; returns
/// the number of sets and the longest log seen before it. Asserts that the log stayed within
/// 1.5 x live + `slack` before the compaction and went past it to trigger it.
pub(super) fn churn_until_compaction(s: &Store, n: usize, len: usize, slack: u64) -> (usize, u64) {
    let c = s.stats().compactions;
    let (mut sets, mut longest) = (0, 0);
    loop {
        let before = s.stats();
        s.set(&format!("c{}", sets % n), v(&format!("{sets:0len$}")), BIG).unwrap();
        sets += 1;
        let after = s.stats();
        if after.compactions > c {
            assert!(after.file_len == after.live_len, "compacted whole");
            let grown = before.file_len + set_bytes("c0", &v(&format!("{:0len$}", 0))).len() as u64;
            assert!(grown > before.live_len + before.live_len / 2 + slack, "compacted early: {grown} {before:?}");
            return (sets, longest);
        }
        assert!(after.file_len <= after.live_len + after.live_len / 2 + slack, "{after:?}");
        longest = longest.max(after.file_len);
        assert!(sets < 10_000, "compaction never ran");
    }
}

#[test]
fn the_slack_grows_with_the_longest_record_up_to_its_cap() {
    let t = TempDir::new("slack");
    let (s, _) = open(t.path());
    // 4 KiB records: 64 of them (256 KiB) of slack, not 64 KiB; and 64 sets or more
    // between compactions, not 16.
    let rec4 = set_bytes("c0", &v(&format!("{:04096}", 0))).len();
    let slack4 = compact_slack(rec4);
    assert_eq!(slack4, 64 * rec4 as u64);
    assert!(slack4 > 3 * COMPACT_SLACK);
    let (sets, longest) = churn_until_compaction(&s, 4, 4096, slack4);
    assert!((64..=72).contains(&sets), "{sets}");
    assert!(longest > 3 * COMPACT_SLACK, "the fixed slack would have compacted at {longest}");
    // The same again, but the store is reopened halfway: the slack is the file's, so open
    // does not compact it.
    for i in 0..40 {
        s.set(&format!("c{}", i % 4), v(&format!("{i:04096}")), BIG).unwrap();
    }
    let before = s.stats();
    assert!(before.file_len > before.live_len + before.live_len / 2 + COMPACT_SLACK);
    drop(s);
    let (s, r) = open(t.path());
    assert!(!r.compacted);
    assert_eq!(s.stats().file_len, before.file_len);
    let (sets, _) = churn_until_compaction(&s, 4, 4096, slack4);
    assert!((20..=30).contains(&sets), "{sets}");

    // 16 KiB records: 64 of them would be 1 MiB; the slack stops at its cap.
    let (sets, _) = churn_until_compaction(&s, 4, 16 << 10, COMPACT_SLACK_MAX);
    assert!((30..=40).contains(&sets), "{sets}");

    // Once compaction has left only small records, the slack is back to its floor.
    s.clear().unwrap();
    churn_until_compaction(&s, 4, 1000, COMPACT_SLACK_MAX);
    let (sets, _) = churn_until_compaction(&s, 4, 1000, COMPACT_SLACK);
    assert!((60..=70).contains(&sets), "{sets}");
}

#[test]
fn oversized_log_is_compacted_at_open() {
    let t = TempDir::new("compact-open");
    fs::create_dir_all(t.path()).unwrap();
    let mut b = record::header().to_vec();
    for i in 0..100 {
        b.extend_from_slice(&set_bytes("k", &v(&format!("{i:01000}"))));
    }
    b.extend_from_slice(&set_bytes("z", &v("1")));
    fs::write(t.path().join(LOG_NAME), &b).unwrap();
    let (s, r) = open(t.path());
    assert_eq!((r.records, r.truncated_bytes, r.compacted), (101, 0, true));
    let want = vec![kv("k", v(&format!("{:01000}", 99))), kv("z", v("1"))];
    assert_eq!(snapshot(&s), want);
    s.settle().unwrap();
    assert_eq!(log_bytes(t.path()), compacted(&want));
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("wxfs-storage-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn compaction_copies_whole_records_and_encodes_batch_items_again() {
    let t = TempDir::new("compact-copy");
    let (s, _) = open(t.path());
    let mut m = Model::default();
    let set = |s: &Store, m: &mut Model, k: &str, val: Value| {
        s.set(k, val.clone(), BIG).unwrap();
        m.set(k, val);
    };
    // Items of a batch (never copied whole: each carries its data's length), typed and plain
    // sets (copied whole), a key removed and set again (its number is no longer in order).
    let batch = vec![kv("b1", v("1")), kv("b2", vt("2", "Number"))];
    s.set_batch(batch.clone(), BIG).unwrap();
    batch.into_iter().for_each(|(k, val)| m.set(&k, val));
    set(&s, &mut m, "typed", vt("3", "Number"));
    set(&s, &mut m, "plain", v(r#""four""#));
    assert!(s.remove("b1").unwrap());
    m.remove("b1");
    set(&s, &mut m, "b1", v("5"));
    for round in 1..=2 {
        let mut i = 0;
        while s.stats().compactions < round {
            set(&s, &mut m, "hot", v(&format!("{i:01024}")));
            i += 1;
            assert!(i < 1000, "compaction never ran");
        }
        // The second compaction copies every record the first wrote.
        s.settle().unwrap();
        assert_eq!(log_bytes(t.path()), compacted(&m.0), "round {round}");
        assert_eq!(snapshot(&s), m.0);
    }
    drop(s);
    let (s, _) = open(t.path());
    assert_eq!(snapshot(&s), m.0);
    assert_eq!(s.keys(), ["b2", "typed", "plain", "b1", "hot"]);
}
