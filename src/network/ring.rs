//! A direction's one buffer: a ring of bytes read and not yet passed on, each chunk with the
//! moment it is due. Reading goes on while earlier chunks wait out their latency, so a chunk
//! is held `latency` from when it *arrived*, not from when the one before it left (a reply in
//! three segments takes one latency, not three). Its memory is allocated once.

use std::collections::VecDeque;
use std::time::Instant;

/// Chunks waiting at most; reading pauses beyond.
const MAX_CHUNKS: usize = 256;

pub(crate) struct Ring {
    buf: Vec<u8>,
    /// Index of the first byte not passed on, and how many bytes wait.
    start: usize,
    len: usize,
    /// Each waiting chunk's length and when it is due.
    chunks: VecDeque<(usize, Instant)>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            buf: vec![0; capacity],
            start: 0,
            len: 0,
            chunks: VecDeque::with_capacity(MAX_CHUNKS),
        }
    }

    /// Room to read into, at most `limit` bytes (empty when full).
    pub(crate) fn room(&mut self, limit: usize) -> &mut [u8] {
        let cap = self.buf.len();
        if self.len == 0 {
            self.start = 0;
        }
        if self.chunks.len() >= MAX_CHUNKS || self.len == cap {
            return &mut [];
        }
        let end = (self.start + self.len) % cap;
        let until = if end >= self.start { cap } else { self.start };
        let n = (until - end).min(limit);
        &mut self.buf[end..end + n]
    }

    pub(crate) fn has_room(&self) -> bool {
        self.chunks.len() < MAX_CHUNKS && self.len < self.buf.len()
    }

    /// The last `n` bytes read into [`Self::room`] wait until `due`.
    pub(crate) fn commit(&mut self, n: usize, due: Instant) {
        if n == 0 {
            return;
        }
        self.len += n;
        self.chunks.push_back((n, due));
    }

    /// When the first chunk is due.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.chunks.front().map(|c| c.1)
    }

    /// The first chunk (a chunk is one read into one contiguous room, so it never wraps).
    pub(crate) fn front(&self) -> &[u8] {
        match self.chunks.front() {
            Some(&(n, _)) => &self.buf[self.start..self.start + n],
            None => &[],
        }
    }

    /// The first chunk was passed on.
    pub(crate) fn pop(&mut self) {
        if let Some((n, _)) = self.chunks.pop_front() {
            self.start = (self.start + n) % self.buf.len();
            self.len -= n;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_out_in_order_across_the_wrap() {
        let mut r = Ring::new(8);
        let now = Instant::now();
        let room = r.room(usize::MAX);
        assert_eq!(room.len(), 8);
        room[..6].copy_from_slice(b"abcdef");
        r.commit(6, now);
        assert_eq!(r.front(), b"abcdef");
        r.pop();
        // Empty: reading starts at the beginning again.
        let room = r.room(3);
        room.copy_from_slice(b"ghi");
        r.commit(3, now);
        let room = r.room(usize::MAX);
        assert_eq!(room.len(), 5);
        room[..5].copy_from_slice(b"jklmn");
        r.commit(5, now);
        assert!(r.room(usize::MAX).is_empty(), "full");
        assert!(!r.has_room());
        r.pop();
        let room = r.room(usize::MAX);
        assert_eq!(room.len(), 3, "the freed start");
        room.copy_from_slice(b"opq");
        r.commit(3, now);
        r.pop();
        assert_eq!(r.front(), b"opq");
        r.pop();
        assert!(r.is_empty());
        assert_eq!(r.due(), None);
    }
}
