//! The global handle registry (DESIGN.md §6, after mozilla/ffi-support's handle map).
//!
//! A handle packs a type tag (bits 56..62), a generation (bits 32..55) and a slot index (bits
//! 0..31). The tag is never 0, so 0 is never a valid handle, and bit 63 is always clear, so
//! Kotlin sees a positive Long. A slot's generation changes every time it is reused, so a stale
//! handle never reaches a newer object.

use std::sync::Arc;

use parking_lot::RwLock;

const INDEX_BITS: u32 = 32;
const GEN_BITS: u32 = 24;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

pub struct Registry<T> {
    tag: u8,
    inner: RwLock<Inner<T>>,
}

struct Inner<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Registry<T> {
    pub const fn new(tag: u8) -> Registry<T> {
        assert!(tag > 0 && tag < 0x80);
        Registry { tag, inner: RwLock::new(Inner { slots: Vec::new(), free: Vec::new() }) }
    }

    fn pack(&self, index: u32, generation: u32) -> u64 {
        ((self.tag as u64) << 56) | ((generation as u64 & GEN_MASK) << INDEX_BITS) | index as u64
    }

    fn unpack(&self, handle: u64) -> Option<(usize, u32)> {
        if (handle >> 56) as u8 != self.tag {
            return None;
        }
        Some(((handle & 0xffff_ffff) as usize, ((handle >> INDEX_BITS) & GEN_MASK) as u32))
    }

    pub fn insert(&self, value: Arc<T>) -> u64 {
        let mut inner = self.inner.write();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                inner.slots.push(Slot { generation: 0, value: None });
                (inner.slots.len() - 1) as u32
            }
        };
        let slot = &mut inner.slots[index as usize];
        slot.generation = (slot.generation + 1) & GEN_MASK as u32;
        if slot.generation == 0 {
            slot.generation = 1;
        }
        slot.value = Some(value);
        let generation = slot.generation;
        self.pack(index, generation)
    }

    /// The object behind a handle; the lock is released before the caller does any work.
    pub fn get(&self, handle: u64) -> Option<Arc<T>> {
        let (index, generation) = self.unpack(handle)?;
        let inner = self.inner.read();
        let slot = inner.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.clone()
    }

    /// Remove a handle; the object is dropped by the caller, after the lock is released.
    pub fn remove(&self, handle: u64) -> Option<Arc<T>> {
        let (index, generation) = self.unpack(handle)?;
        let mut inner = self.inner.write();
        let slot = inner.slots.get_mut(index)?;
        if slot.generation != generation || slot.value.is_none() {
            return None;
        }
        let value = slot.value.take();
        inner.free.push(index as u32);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_foreign_handles_miss() {
        let r: Registry<u32> = Registry::new(3);
        let h = r.insert(Arc::new(7));
        assert!(h != 0 && h >> 63 == 0);
        assert_eq!(*r.get(h).unwrap(), 7);
        assert_eq!(r.get(h ^ 1), None);
        assert_eq!(r.get(0), None);
        let other: Registry<u32> = Registry::new(4);
        assert_eq!(other.get(h), None);
        assert!(r.remove(h).is_some());
        assert!(r.remove(h).is_none());
        let h2 = r.insert(Arc::new(8));
        assert_ne!(h, h2, "a reused slot gets a new generation");
        assert_eq!(r.get(h), None);
        assert_eq!(*r.get(h2).unwrap(), 8);
    }
}
