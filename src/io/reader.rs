//! The one byte reader of the record decoders (the storage log's, in both its formats, and the
//! quota journal's): a cursor over a range of bytes whose every read is checked, `None` once the
//! bytes run out. Numbers are little-endian, as the frame's.

use std::ops::Range;

/// A cursor over `buf[at..end]`. Positions and ranges it reports are of the whole `buf`, so a
/// decoder can keep ranges into a file rather than copies.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// Reads all of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0, end: buf.len() }
    }

    /// Reads `buf[range]`. Panics unless the range lies inside `buf`.
    pub fn within(buf: &'a [u8], range: Range<usize>) -> Reader<'a> {
        assert!(range.start <= range.end && range.end <= buf.len(), "range {range:?} outside {} bytes", buf.len());
        Reader { buf, at: range.start, end: range.end }
    }

    /// Where the next read starts.
    pub fn pos(&self) -> usize {
        self.at
    }

    /// Goes back (or forward) to `at`, a position this reader reported. Panics past the end.
    pub fn seek(&mut self, at: usize) {
        assert!(at <= self.end, "seek to {at} past the end {}", self.end);
        self.at = at;
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.end - self.at
    }

    /// Nothing is left to read.
    pub fn is_empty(&self) -> bool {
        self.at == self.end
    }

    /// The range of the next `n` bytes, read past.
    #[inline]
    pub fn take_range(&mut self, n: usize) -> Option<Range<usize>> {
        if n > self.remaining() {
            return None;
        }
        self.at += n;
        Some(self.at - n..self.at)
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let buf = self.buf;
        self.take_range(n).map(|r| &buf[r])
    }

    /// The next `N` bytes, as an array.
    #[inline]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).map(|b| b.try_into().expect("take returns N bytes"))
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    /// An unsigned LEB128 number of at most 5 bytes (7 bits each, low first); `None` if a sixth
    /// byte would follow.
    pub fn varint(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            n |= ((b & 0x7f) as usize) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Reader;

    #[test]
    fn reads_are_checked_and_ranges_are_of_the_whole_buffer() {
        let buf = [9, 1, 2, 0, 0, 0, 0xff, 0x01, 7];
        let mut r = Reader::within(&buf, 1..8);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u32(), Some(2));
        assert_eq!(r.pos(), 6);
        assert_eq!(r.varint(), Some(0xff));
        assert!(r.is_empty());
        assert_eq!(r.u8(), None, "the byte after the range is not read");
        r.seek(1);
        assert_eq!(r.take_range(2), Some(1..3));
        assert_eq!(r.u64(), None, "5 bytes left: a u64 does not fit");
        assert_eq!(r.remaining(), 5, "a failed read reads nothing");
        assert_eq!(Reader::new(&[0x80; 5]).varint(), None, "more than 5 bytes");
        assert_eq!(Reader::new(&(-2i64).to_le_bytes()).i64(), Some(-2));
    }
}
