//! TEMPORARY in-memory stand-in with the engine's API; replaced by the log engine.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use parking_lot::Mutex;
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub enum Durability { Process, Power }
#[derive(Clone, Copy, Debug)] pub struct Limits { pub item: u64, pub total: u64 }
#[derive(Clone, Debug, PartialEq, Eq)] pub struct Value { pub data: String, pub data_type: Option<String> }
#[derive(Debug)] pub enum StoreError { ItemTooLarge, TotalExceeded, EmptyKey, Io(std::io::Error) }
#[derive(Debug, Default, Clone)] pub struct OpenReport { pub records: u64, pub truncated_bytes: u64, pub compacted: bool }
pub struct Store { m: Mutex<(Vec<String>, HashMap<String, Arc<Value>>)> }
impl Store {
    pub fn open(_dir: &Path, _d: Durability) -> std::io::Result<(Store, OpenReport)> { Ok((Store { m: Mutex::new((vec![], HashMap::new())) }, OpenReport::default())) }
    pub fn set(&self, key: &str, value: Value, limits: Limits) -> Result<(), StoreError> { self.set_batch(vec![(key.to_string(), value)], limits) }
    pub fn set_batch(&self, items: Vec<(String, Value)>, limits: Limits) -> Result<(), StoreError> {
        let mut g = self.m.lock();
        let mut size = g.1.iter().map(|(k, v)| (k.len() + v.data.len()) as u64).sum::<u64>();
        for (k, v) in &items { if k.is_empty() { return Err(StoreError::EmptyKey) } let s = (k.len() + v.data.len()) as u64; if s > limits.item { return Err(StoreError::ItemTooLarge) } size = size + s - g.1.get(k).map(|o| (k.len() + o.data.len()) as u64).unwrap_or(0); }
        if size > limits.total { return Err(StoreError::TotalExceeded) }
        for (k, v) in items { if !g.1.contains_key(&k) { g.0.push(k.clone()) } g.1.insert(k, Arc::new(v)); }
        Ok(())
    }
    pub fn get(&self, key: &str) -> Option<Arc<Value>> { self.m.lock().1.get(key).cloned() }
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> { let mut g = self.m.lock(); let r = g.1.remove(key).is_some(); g.0.retain(|k| k != key); Ok(r) }
    pub fn clear(&self) -> Result<(), StoreError> { let mut g = self.m.lock(); g.0.clear(); g.1.clear(); Ok(()) }
    pub fn keys(&self) -> Vec<String> { self.m.lock().0.clone() }
    pub fn size(&self) -> u64 { self.m.lock().1.iter().map(|(k, v)| (k.len() + v.data.len()) as u64).sum() }
    pub fn len(&self) -> usize { self.m.lock().0.len() }
    pub fn sync(&self) -> std::io::Result<()> { Ok(()) }
}
