//! The in-memory index: key -> where the item's latest key, type and data lie in the mapped log.
//!
//! An entry is a few integers; the key bytes are those of the log itself. So a set allocates
//! nothing, open allocates nothing per key, and dropping the index at close is one free,
//! whatever the number of keys (the old index's frees were 93% of close). Insertion order, for
//! `keys()` and for compaction, is a sequence number sorted when asked for: no second structure
//! to keep up on every set.

use hashbrown::HashTable;
use std::hash::BuildHasher;

use super::record::{self, Item};

/// No dataType (as opposed to an empty one).
const NO_TYPE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub hash: u64,
    /// Position in insertion order.
    pub seq: u64,
    /// Offset of the key in the log.
    key_at: u64,
    key_len: u32,
    /// Offsets of type and data from the key.
    ty_off: u32,
    ty_len: u32,
    data_off: u32,
    data_len: u32,
}

impl Entry {
    fn new(hash: u64, seq: u64, item: &Item) -> Entry {
        let k = item.key.start;
        let (ty_off, ty_len) = item.ty.as_ref().map_or((0, NO_TYPE), |t| ((t.start - k) as u32, t.len() as u32));
        Entry {
            hash,
            seq,
            key_at: k as u64,
            key_len: item.key.len() as u32,
            ty_off,
            ty_len,
            data_off: (item.data.start - k) as u32,
            data_len: item.data.len() as u32,
        }
    }

    pub fn item(&self) -> Item {
        let k = self.key_at as usize;
        let ty = (self.ty_len != NO_TYPE).then(|| k + self.ty_off as usize..k + self.ty_off as usize + self.ty_len as usize);
        let d = k + self.data_off as usize;
        Item { key: k..k + self.key_len as usize, ty, data: d..d + self.data_len as usize }
    }

    pub fn key<'a>(&self, log: &'a [u8]) -> &'a [u8] {
        &log[self.key_at as usize..self.key_at as usize + self.key_len as usize]
    }

    /// Bytes the item counts against the storage limits: key, data and dataType.
    pub fn size(&self) -> u64 {
        self.key_len as u64 + self.data_len as u64 + if self.ty_len == NO_TYPE { 0 } else { self.ty_len as u64 }
    }

    /// Bytes of this item's set record in a compacted log.
    fn log_len(&self) -> u64 {
        record::set_len(self.key_len as usize, (self.ty_len != NO_TYPE).then_some(self.ty_len as usize), self.data_len as usize)
    }
}

pub struct Index {
    table: HashTable<Entry>,
    /// Seeded per store, so keys a mini-program crafts cannot be made to collide.
    state: foldhash::fast::RandomState,
    next_seq: u64,
    /// Sum of `Entry::size` over live items.
    pub size: u64,
    /// Sum of the items' set records: the length of a compacted log less its header.
    pub live_len: u64,
}

impl Default for Index {
    fn default() -> Index {
        Index { table: HashTable::new(), state: foldhash::fast::RandomState::default(), next_seq: 0, size: 0, live_len: 0 }
    }
}

impl Index {
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.state.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn find(&self, log: &[u8], hash: u64, key: &[u8]) -> Option<&Entry> {
        self.table.find(hash, |e| e.key(log) == key)
    }

    pub fn get(&self, log: &[u8], key: &[u8]) -> Option<&Entry> {
        self.find(log, self.hash(key), key)
    }

    /// Records that `item` (ranges of the log) is now the value of its key. `old` is what
    /// `find` returned for that key.
    pub fn put_found(&mut self, hash: u64, old: Option<Entry>, item: &Item) {
        match old {
            Some(old) => {
                let e = Entry::new(hash, old.seq, item);
                self.size = self.size - old.size() + e.size();
                self.live_len = self.live_len - old.log_len() + e.log_len();
                if let Some(slot) = self.table.find_mut(hash, |x| x.seq == old.seq) {
                    *slot = e;
                }
            }
            None => {
                let e = Entry::new(hash, self.next_seq, item);
                self.next_seq += 1;
                self.size += e.size();
                self.live_len += e.log_len();
                self.table.insert_unique(hash, e, |x| x.hash);
            }
        }
    }

    /// `put_found` with the lookup done here (replay, batches).
    pub fn put(&mut self, log: &[u8], item: &Item) {
        let key = &log[item.key.clone()];
        let hash = self.hash(key);
        let old = self.find(log, hash, key).copied();
        self.put_found(hash, old, item);
    }

    pub fn remove(&mut self, log: &[u8], key: &[u8]) -> bool {
        let hash = self.hash(key);
        match self.table.find_entry(hash, |e| e.key(log) == key) {
            Ok(found) => {
                let (e, _) = found.remove();
                self.size -= e.size();
                self.live_len -= e.log_len();
                true
            }
            Err(_) => false,
        }
    }

    pub fn clear(&mut self) {
        self.table.clear();
        self.size = 0;
        self.live_len = 0;
    }

    /// The entries in insertion order.
    pub fn ordered(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.table.iter().copied().collect();
        v.sort_unstable_by_key(|e| e.seq);
        v
    }

    /// The entries whose key begins with `prefix`, in insertion order; nothing is allocated for
    /// the others.
    pub fn with_prefix(&self, log: &[u8], prefix: &[u8]) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.table.iter().filter(|e| e.key(log).starts_with(prefix)).copied().collect();
        v.sort_unstable_by_key(|e| e.seq);
        v
    }

    /// After a compaction: `items[i]` is where `entries[i]` (in order) now lies.
    pub fn relocate(&mut self, entries: &[Entry], items: &[Item]) {
        self.table.clear();
        for (seq, (e, item)) in entries.iter().zip(items).enumerate() {
            self.table.insert_unique(e.hash, Entry::new(e.hash, seq as u64, item), |x| x.hash);
        }
        self.next_seq = entries.len() as u64;
    }
}
