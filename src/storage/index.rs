//! The in-memory index: key -> where the item's latest key, type and data lie in the mapped log.
//!
//! An entry is 24 bytes of integers; the key bytes are those of the log itself. So a set
//! allocates nothing, open allocates nothing per key, and dropping the index at close is one
//! free, whatever the number of keys (the old index's frees were 93% of close). Insertion order,
//! for `keys()` and for compaction, is a sequence number sorted when asked for: no second
//! structure to keep up on every set.
//!
//! What an entry leaves out is found again in the log when it is needed:
//! - the hash: hashbrown needs it only to move entries when the table grows, and then it is
//!   computed again from the key's bytes in the log;
//! - where the type and the data begin: they follow the key, each after its length varint,
//!   which is skipped, not decoded (a non-minimal varint that replay accepted is skipped alike).
//!
//! 24 bytes instead of 48 halve the table, the open store's largest allocation (before items were counted, a
//! store of 2,097,152 one-byte values held 196 MiB of index). The per-item overhead the store
//! counts against its total (`storage::ITEM_OVERHEAD`) bounds how many entries there can be.

use hashbrown::hash_table::Entry as Slot;
use hashbrown::HashTable;
use std::hash::BuildHasher;

use super::record::{self, Item};

/// No dataType (as opposed to an empty one).
const NO_TYPE: u32 = u32::MAX;
/// In `Entry::key_len`: the item lies in a batch record, so a length varint precedes its data.
const IN_BATCH: u32 = 1 << 31;

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Offset of the key in the log.
    key_at: u64,
    /// Length of the key, with `IN_BATCH`. (A record's payload is at most 64 MiB, so every
    /// length fits in 31 bits.)
    key_len: u32,
    /// Length of the dataType, or `NO_TYPE`.
    ty_len: u32,
    data_len: u32,
    /// Position in insertion order.
    pub seq: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 24);

/// Bytes of the LEB128 varint at the start of `bytes` (replay checked that it ends).
fn varint_bytes(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| b < 0x80).map_or(bytes.len(), |i| i + 1)
}

impl Entry {
    fn new(seq: u32, item: &Item) -> Entry {
        let before_data = item.ty.as_ref().map_or(item.key.end, |t| t.end);
        let batch = if item.data.start != before_data { IN_BATCH } else { 0 };
        Entry {
            key_at: item.key.start as u64,
            key_len: item.key.len() as u32 | batch,
            ty_len: item.ty.as_ref().map_or(NO_TYPE, |t| t.len() as u32),
            data_len: item.data.len() as u32,
            seq,
        }
    }

    fn klen(&self) -> usize {
        (self.key_len & !IN_BATCH) as usize
    }

    fn tlen(&self) -> Option<usize> {
        (self.ty_len != NO_TYPE).then_some(self.ty_len as usize)
    }

    /// Where the item's parts lie in `log`.
    pub fn item(&self, log: &[u8]) -> Item {
        let key = self.key_at as usize..self.key_at as usize + self.klen();
        let mut at = key.end;
        let ty = self.tlen().map(|n| {
            at += varint_bytes(&log[at..]);
            at += n;
            at - n..at
        });
        if self.key_len & IN_BATCH != 0 {
            at += varint_bytes(&log[at..]);
        }
        Item { key, ty, data: at..at + self.data_len as usize }
    }

    pub fn key<'a>(&self, log: &'a [u8]) -> &'a [u8] {
        &log[self.key_at as usize..self.key_at as usize + self.klen()]
    }

    /// Bytes of key, data and dataType (what the storage limits count, less the per-item
    /// overhead).
    pub fn size(&self) -> u64 {
        (self.klen() + self.tlen().unwrap_or(0)) as u64 + self.data_len as u64
    }

    /// Bytes of this item's set record in a compacted log.
    fn log_len(&self) -> u64 {
        record::set_len(self.klen(), self.tlen(), self.data_len as usize)
    }
}

pub struct Index {
    table: HashTable<Entry>,
    /// Seeded per store, so keys a mini-program crafts cannot be made to collide.
    state: foldhash::fast::RandomState,
    next_seq: u32,
    /// Sum of `Entry::size` over live items.
    pub size: u64,
    /// Sum of the items' set records: the length of a compacted log less its header.
    pub live_len: u64,
    /// Changes (each item of a batch, each remove and clear) since the log was last compacted:
    /// what an open replays, one probe of the table each.
    pub changes: u64,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            table: HashTable::new(),
            state: foldhash::fast::RandomState::default(),
            next_seq: 0,
            size: 0,
            live_len: 0,
            changes: 0,
        }
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

    /// Makes room for a new sequence number. Compaction numbers the live items from 0 again,
    /// so running out takes 2^32 new keys between two compactions; then the live ones are
    /// renumbered in order.
    fn ensure_seq(&mut self) {
        if self.next_seq == u32::MAX {
            let mut order: Vec<u32> = self.table.iter().map(|e| e.seq).collect();
            order.sort_unstable();
            for e in self.table.iter_mut() {
                e.seq = order.binary_search(&e.seq).unwrap_or(0) as u32;
            }
            self.next_seq = order.len() as u32;
        }
    }

    /// Records that `item` (ranges of `log`) is now the value of its key. `old` is what `find`
    /// returned for that key.
    pub fn put_found(&mut self, log: &[u8], hash: u64, old: Option<Entry>, item: &Item) {
        self.changes += 1;
        match old {
            Some(old) => {
                let e = Entry::new(old.seq, item);
                self.size = self.size - old.size() + e.size();
                self.live_len = self.live_len - old.log_len() + e.log_len();
                if let Some(slot) = self.table.find_mut(hash, |x| x.seq == old.seq) {
                    *slot = e;
                }
            }
            None => {
                self.ensure_seq();
                let e = Entry::new(self.next_seq, item);
                self.next_seq += 1;
                self.size += e.size();
                self.live_len += e.log_len();
                let state = &self.state;
                self.table.insert_unique(hash, e, |x| state.hash_one(x.key(log)));
            }
        }
    }

    /// `put_found` with the lookup done here, in one probe (replay, batches).
    pub fn put(&mut self, log: &[u8], item: &Item) {
        let key = &log[item.key.clone()];
        let hash = self.hash(key);
        self.changes += 1;
        self.ensure_seq();
        let state = &self.state;
        match self.table.entry(hash, |e| e.key(log) == key, |x| state.hash_one(x.key(log))) {
            Slot::Occupied(mut found) => {
                let old = *found.get();
                let e = Entry::new(old.seq, item);
                self.size = self.size - old.size() + e.size();
                self.live_len = self.live_len - old.log_len() + e.log_len();
                *found.get_mut() = e;
            }
            Slot::Vacant(slot) => {
                let e = Entry::new(self.next_seq, item);
                self.next_seq += 1;
                self.size += e.size();
                self.live_len += e.log_len();
                slot.insert(e);
            }
        }
    }

    pub fn remove(&mut self, log: &[u8], key: &[u8]) -> bool {
        self.changes += 1;
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
        self.changes += 1;
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

    /// The entries in insertion order, for a compaction to write (and `relocate` to find each
    /// again). While the sequence numbers are dense, as they are between compactions, which
    /// number the items from 0 again, a counting sort by `seq`: measured, the comparison sort and
    /// the table rebuilt by hashing every key again were a third of the compaction of 100,000
    /// items.
    pub fn order(&self) -> Order {
        let span = self.next_seq as usize;
        if span > 4 * self.table.len() + 65_536 {
            let entries = self.ordered();
            let seqs = entries.iter().map(|e| e.seq).collect();
            return Order { entries, rank: Rank::Sorted(seqs) };
        }
        const NONE: u32 = u32::MAX;
        let mut rank = vec![NONE; span];
        for e in self.table.iter() {
            rank[e.seq as usize] = 0;
        }
        for (n, r) in rank.iter_mut().filter(|r| **r != NONE).enumerate() {
            *r = n as u32;
        }
        let mut entries = vec![Entry { key_at: 0, key_len: 0, ty_len: 0, data_len: 0, seq: 0 }; self.table.len()];
        for e in self.table.iter() {
            entries[rank[e.seq as usize] as usize] = *e;
        }
        Order { entries, rank: Rank::Dense(rank) }
    }

    /// After a compaction wrote `order`'s items into a new log, one set record each in order,
    /// from its header on: each entry now points there, numbered by its place. The table keeps
    /// its shape (the keys and their hashes are the same), so nothing is hashed again.
    pub fn relocate(&mut self, order: Order) {
        let Order { mut entries, rank } = order;
        let mut at = record::HEADER_LEN as u64;
        for (seq, e) in entries.iter_mut().enumerate() {
            let klen = e.klen();
            *e = Entry { key_at: at + record::set_key_offset(klen) as u64, key_len: klen as u32, seq: seq as u32, ..*e };
            at += e.log_len();
        }
        for e in self.table.iter_mut() {
            let place = match &rank {
                Rank::Dense(rank) => rank[e.seq as usize] as usize,
                Rank::Sorted(seqs) => seqs.binary_search(&e.seq).unwrap_or_else(|_| unreachable!("an entry not in the order")),
            };
            *e = entries[place];
        }
        self.next_seq = entries.len() as u32;
        self.changes = entries.len() as u64;
    }
}

/// The entries in insertion order (`Index::order`).
pub struct Order {
    pub entries: Vec<Entry>,
    /// From an entry's `seq` to its place in `entries`.
    rank: Rank,
}

enum Rank {
    /// Indexed by `seq`.
    Dense(Vec<u32>),
    /// The entries' `seq`s, sorted: found by binary search.
    Sorted(Vec<u32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of one set record per key (`key-<i>` = `<i>`), and the index of it.
    fn indexed(n: usize) -> (Vec<u8>, Index) {
        let mut log = record::header().to_vec();
        let mut index = Index::default();
        for i in 0..n {
            let at = log.len();
            let item = record::encode_set(&mut log, format!("key-{i}").as_bytes(), None, i.to_string().as_bytes());
            let s = |r: std::ops::Range<usize>| r.start + at..r.end + at;
            index.put(&log, &Item { key: s(item.key), ty: None, data: s(item.data) });
        }
        (log, index)
    }

    /// What a compaction writes for `order`, checked against `index` once relocated: every
    /// kept key is found in the new log with its value, in the order kept.
    fn compact_and_check(log: &[u8], mut index: Index, kept: &[usize]) {
        let order = index.order();
        let mut new = record::header().to_vec();
        for e in &order.entries {
            let i = e.item(log);
            record::encode_set(&mut new, &log[i.key], None, &log[i.data]);
        }
        index.relocate(order);
        let keys: Vec<String> = index.ordered().iter().map(|e| String::from_utf8(e.key(&new).to_vec()).unwrap()).collect();
        assert_eq!(keys, kept.iter().map(|i| format!("key-{i}")).collect::<Vec<_>>());
        for &i in kept {
            let e = index.get(&new, format!("key-{i}").as_bytes()).unwrap();
            assert_eq!(&new[e.item(&new).data], i.to_string().as_bytes());
        }
        assert_eq!(index.next_seq as usize, kept.len());
    }

    #[test]
    fn the_compaction_order_is_insertion_order_dense_or_sparse() {
        // Dense numbers (a counting sort): a few removed.
        let (log, mut index) = indexed(1000);
        for i in (0..1000).filter(|i| i % 7 == 3) {
            assert!(index.remove(&log, format!("key-{i}").as_bytes()));
        }
        assert!(matches!(index.order().rank, Rank::Dense(_)));
        compact_and_check(&log, index, &(0..1000).filter(|i| i % 7 != 3).collect::<Vec<_>>());

        // Sparse numbers (a sort, found again by binary search): 70,000 numbered, 3 left.
        let (log, mut index) = indexed(70_000);
        let kept = [5, 100, 69_990];
        for i in (0..70_000).filter(|i| !kept.contains(i)) {
            assert!(index.remove(&log, format!("key-{i}").as_bytes()));
        }
        assert!(matches!(index.order().rank, Rank::Sorted(_)));
        compact_and_check(&log, index, &kept);
    }
}
