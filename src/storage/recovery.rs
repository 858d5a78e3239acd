//! Reading a log back from its bytes alone: where its records end, and which damaged stretches
//! in the middle are skipped (`Log::open` keeps them aside, `verify` counts them).

use std::ops::Range;
use std::path::PathBuf;

use super::record;
use crate::io::{unframe, FRAME_HEADER};

/// A resynchronisation after damage checks the CRC of candidate frames; over a log whose damage
/// was made to look like frames, it stops after CRC-ing this many times the file's length (the
/// rest then counts as a damaged tail). Real damage costs a few candidates at most.
const RESYNC_BUDGET: usize = 8;

/// Damage met in the middle of the log at open (not a torn tail): stretches of bytes that are no
/// whole record, each followed by a whole record. Recovery skips them; the records after them
/// are read as usual.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Records the damaged stretches held, as far as their length fields tell (at least one a
    /// stretch).
    pub records_lost: u64,
    /// Whole records read after the first damaged stretch.
    pub records_after: u64,
    /// Bytes in the damaged stretches.
    pub bytes: u64,
    /// Where they were kept, or why they could not be (then the log still holds them: the store
    /// does not rewrite it, and the next open tries again).
    pub kept: Result<PathBuf, String>,
}

/// What `recover` found in a whole file.
#[derive(Debug, Default)]
pub struct Recovery {
    /// End of the last whole record: where the next one goes.
    pub end: usize,
    /// Whole records read.
    pub records: u64,
    /// Damaged stretches skipped, in order.
    pub spans: Vec<Range<usize>>,
    pub records_lost: u64,
    pub records_after: u64,
    /// Bytes from `end` to the last non-zero byte: a torn tail (or damage no whole record follows).
    pub torn: usize,
}

/// Where the log ends in `bytes` (a whole file): calls `apply` with each record's payload range
/// until a frame is empty, fails its CRC, or `apply` refuses the payload. Returns the end and
/// the number of records.
pub fn scan(bytes: &[u8], mut apply: impl FnMut(Range<usize>) -> bool) -> (usize, u64) {
    let mut off = record::HEADER_LEN;
    let mut records = 0;
    while let Some((payload, n)) = unframe(&bytes[off..], record::MAX_PAYLOAD) {
        if !apply(off + FRAME_HEADER..off + FRAME_HEADER + payload.len()) {
            break;
        }
        off += n;
        records += 1;
    }
    (off, records)
}

/// Bytes from `end` to the last non-zero byte: what a kill or a damage left after the log.
pub fn garbage_after(bytes: &[u8], end: usize) -> usize {
    let tail = &bytes[end..];
    // Word at a time from the back: a clean tail is all zeros and may be megabytes long.
    let mut n = tail.len();
    while n >= 8 && tail[n - 8..n] == [0; 8] {
        n -= 8;
    }
    while n > 0 && tail[n - 1] == 0 {
        n -= 1;
    }
    n
}

/// Reads a whole file as the log: calls `apply` with each whole record's payload range, in
/// order, as `scan` does; but where a frame is damaged (its length insane, its CRC wrong, or its
/// payload not a record: `apply` refused it) and a whole record follows further on, the damaged
/// bytes are skipped and reading goes on from that record (LevelDB's reader resynchronises the
/// same way). Only damage that no whole record follows is a tail.
///
/// A whole record to resume at is a frame of sane length whose CRC matches and whose payload
/// decodes, followed by another such frame or by the zero tail: bytes inside a payload that
/// happen to look like a frame header are not enough. A frame whose CRC matches but whose payload
/// does not decode is whole, so the search resumes right after it.
pub fn recover(bytes: &[u8], mut apply: impl FnMut(Range<usize>) -> bool) -> Recovery {
    let mut rec = Recovery::default();
    let mut off = record::HEADER_LEN;
    // Everything from here on is zero: the preallocated tail.
    let content_end = off + garbage_after(bytes, off);
    let mut budget = bytes.len().saturating_mul(RESYNC_BUDGET);
    loop {
        let from = match unframe(&bytes[off..], record::MAX_PAYLOAD) {
            Some((payload, n)) => {
                if apply(off + FRAME_HEADER..off + FRAME_HEADER + payload.len()) {
                    off += n;
                    rec.records += 1;
                    rec.records_after += !rec.spans.is_empty() as u64;
                    continue;
                }
                off + n
            }
            None if off >= content_end => break,
            None => off + 1,
        };
        let Some(next) = resync(bytes, from, content_end, &mut budget) else { break };
        rec.records_lost += records_in(&bytes[off..next]);
        rec.spans.push(off..next);
        off = next;
    }
    rec.end = off;
    rec.torn = content_end.saturating_sub(off);
    rec
}

/// The first offset at or after `from` where a whole record begins that is followed by another
/// or by the zero tail (which starts at `content_end`).
fn resync(bytes: &[u8], from: usize, content_end: usize, budget: &mut usize) -> Option<usize> {
    let whole = |at: usize, budget: &mut usize| -> Option<usize> {
        let b = bytes.get(at..at + FRAME_HEADER)?;
        let len = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        if len == 0 || len > record::MAX_PAYLOAD || len > bytes.len() - at - FRAME_HEADER {
            return None;
        }
        if *budget < len {
            // Searched enough: give up (the caller treats the rest as a damaged tail).
            *budget = 0;
            return None;
        }
        *budget -= len;
        let (_, n) = unframe(&bytes[at..], record::MAX_PAYLOAD)?;
        record::parse(bytes, at + FRAME_HEADER..at + n, |_| {}).then_some(at + n)
    };
    for at in from..content_end {
        if *budget == 0 {
            return None;
        }
        let Some(after) = whole(at, budget) else { continue };
        if after >= content_end || whole(after, budget).is_some() {
            return Some(at);
        }
    }
    None
}

/// How many records a damaged stretch held, as far as its length fields can be followed (at least
/// one).
fn records_in(span: &[u8]) -> u64 {
    let (mut n, mut at) = (0u64, 0usize);
    while at < span.len() {
        n += 1;
        let Some(b) = span.get(at..at + 4) else { break };
        let len = u32::from_le_bytes(b.try_into().unwrap()) as usize;
        match (FRAME_HEADER + len).checked_add(at) {
            Some(next) if len > 0 && next <= span.len() => at = next,
            _ => break,
        }
    }
    n.max(1)
}
