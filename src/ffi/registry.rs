//! The global handle registry (docs/design.md §7, after mozilla/ffi-support's handle map).
//!
//! A handle packs a type tag (bits 46..52), a generation (bits 22..45) and a slot index (bits
//! 0..21), 53 bits in all, so a handle is exact in a JavaScript number (below 2^53) and positive
//! in a Kotlin Long. The tag is never 0, so 0 is never a valid handle. A slot's generation changes
//! every time it is reused, and a slot whose generation would wrap is retired, never reused, so a
//! stale handle never reaches a newer object in any number of open/close cycles.

use std::sync::Arc;

use parking_lot::RwLock;

const INDEX_BITS: u32 = 22;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_BITS: u32 = 24;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const TAG_SHIFT: u32 = INDEX_BITS + GEN_BITS;

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
        ((self.tag as u64) << TAG_SHIFT) | ((generation as u64 & GEN_MASK) << INDEX_BITS) | index as u64
    }

    fn unpack(&self, handle: u64) -> Option<(usize, u32)> {
        if handle >> TAG_SHIFT != self.tag as u64 {
            return None;
        }
        Some(((handle & INDEX_MASK) as usize, ((handle >> INDEX_BITS) & GEN_MASK) as u32))
    }

    pub fn insert(&self, value: Arc<T>) -> u64 {
        let mut inner = self.inner.write();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                // 2^22 slots: far more sandboxes than a process has file descriptors to open.
                assert!((inner.slots.len() as u64) < INDEX_MASK, "handle registry full");
                inner.slots.push(Slot { generation: 0, value: None });
                (inner.slots.len() - 1) as u32
            }
        };
        let slot = &mut inner.slots[index as usize];
        slot.generation += 1;
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
        // A slot at its last generation is retired: reusing it would wrap to a handle given before.
        if (slot.generation as u64) < GEN_MASK {
            inner.free.push(index as u32);
        }
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
        assert!(h != 0 && h < 1 << 53, "{h} is not exact in a JavaScript number");
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

    #[test]
    fn every_handle_is_exact_in_a_double_and_a_wrapping_slot_retires() {
        let r: Registry<u32> = Registry::new(0x7f);
        {
            let mut inner = r.inner.write();
            inner.slots.push(Slot { generation: GEN_MASK as u32 - 1, value: None });
            inner.free.push(0);
        }
        let last = r.insert(Arc::new(1));
        assert!(last < 1 << 53 && (last as f64) as u64 == last, "{last} is not exact in a double");
        assert_eq!(last & INDEX_MASK, 0);
        assert!(r.remove(last).is_some());
        let next = r.insert(Arc::new(2));
        assert_eq!(next & INDEX_MASK, 1, "the slot at its last generation is not reused");
        assert_eq!(r.get(last), None);
        assert!(next < 1 << 53);
    }
}
