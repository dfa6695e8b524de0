//! The static table (RFC 7541 Appendix A) and the dynamic table (RFC 7541 §2.3.2, §4).
//!
//! The dynamic table keeps every entry's name and value bytes in one reusable byte buffer, appended at
//! `tail`; eviction only moves `head` forward. When an entry does not fit before the end of a buffer
//! of twice the table capacity, the live bytes (at most the capacity) are moved to the front. Each byte
//! is moved at most once per capacity's worth of insertions, so insertion is amortised O(length) and a
//! warm table never allocates. Entry descriptors live in a `VecDeque`, newest first.

use std::collections::VecDeque;

/// Per-entry overhead in RFC 7541 §4.1 size units.
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// RFC 7541 Appendix A: index `i + 1` is `STATIC_TABLE[i]`.
pub(super) const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Number of static table entries; dynamic indices start after it.
pub(super) const STATIC_LEN: usize = STATIC_TABLE.len();

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Offset of the name in `DynamicTable::bytes`; the value follows it.
    start: usize,
    name_len: usize,
    value_len: usize,
}

impl Entry {
    fn size(&self) -> usize {
        ENTRY_OVERHEAD + self.name_len + self.value_len
    }
}

/// A dynamic table.
#[derive(Debug, Default)]
pub(super) struct DynamicTable {
    bytes: Vec<u8>,
    /// Start of the oldest live entry's bytes in `bytes`.
    head: usize,
    /// End of the newest live entry's bytes in `bytes`.
    tail: usize,
    /// Newest entry first.
    entries: VecDeque<Entry>,
    /// Current size in RFC 7541 §4.1 units.
    size: usize,
    /// Current maximum size (the last size update).
    capacity: usize,
}

impl DynamicTable {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Current size in RFC 7541 §4.1 units.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Applies a dynamic table size update, evicting as needed.
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.evict_to(capacity);
    }

    /// The entry at 0-based dynamic position `i` (0 is the newest): `(name, value)`.
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let e = self.entries.get(i)?;
        let name_end = e.start + e.name_len;
        let name = self.bytes.get(e.start..name_end)?;
        let value = self.bytes.get(name_end..name_end + e.value_len)?;
        Some((name, value))
    }

    /// Evicts the oldest entries until the size is at most `target`.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(old) = self.entries.pop_back() else {
                break;
            };
            self.size -= old.size();
        }
        match self.entries.back() {
            Some(oldest) => self.head = oldest.start,
            None => {
                self.head = 0;
                self.tail = 0;
            }
        }
    }

    /// Inserts a new entry (RFC 7541 §4.4). An entry larger than the capacity empties the table and
    /// is not inserted; returns whether it was inserted.
    pub(super) fn insert(&mut self, name: &[u8], value: &[u8]) -> bool {
        let len = name.len() + value.len();
        let size = match len.checked_add(ENTRY_OVERHEAD) {
            Some(size) if size <= self.capacity => size,
            _ => {
                self.evict_to(0);
                return false;
            }
        };
        self.evict_to(self.capacity - size);
        // Live bytes are now at most capacity - size, so after compaction the entry fits in
        // `2 * capacity`.
        let limit = self.capacity.saturating_mul(2);
        if self.tail + len > limit {
            self.compact();
        }
        let start = self.tail;
        let end = start + len;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..start + name.len()].copy_from_slice(name);
        self.bytes[start + name.len()..end].copy_from_slice(value);
        self.tail = end;
        if self.entries.is_empty() {
            self.head = start;
        }
        self.entries.push_front(Entry {
            start,
            name_len: name.len(),
            value_len: value.len(),
        });
        self.size += size;
        true
    }

    /// Moves the live bytes to the front of the buffer.
    #[cold]
    fn compact(&mut self) {
        let shift = self.head;
        if shift == 0 {
            return;
        }
        self.bytes.copy_within(self.head..self.tail, 0);
        for e in &mut self.entries {
            e.start -= shift;
        }
        self.tail -= shift;
        self.head = 0;
    }

    /// Bytes held by the byte buffer (for tests of reuse).
    #[cfg(test)]
    pub(super) fn buffer_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Looks `name` and `value` up in the static table: `(index of the first entry with this name,
/// index of the entry with this name and value)`.
#[inline]
pub(super) fn static_lookup(name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
    let (first, full) = match name {
        b":authority" => (1, value.is_empty().then_some(1)),
        b":method" => (
            2,
            match value {
                b"GET" => Some(2),
                b"POST" => Some(3),
                _ => None,
            },
        ),
        b":path" => (
            4,
            match value {
                b"/" => Some(4),
                b"/index.html" => Some(5),
                _ => None,
            },
        ),
        b":scheme" => (
            6,
            match value {
                b"http" => Some(6),
                b"https" => Some(7),
                _ => None,
            },
        ),
        b":status" => (
            8,
            match value {
                b"200" => Some(8),
                b"204" => Some(9),
                b"206" => Some(10),
                b"304" => Some(11),
                b"400" => Some(12),
                b"404" => Some(13),
                b"500" => Some(14),
                _ => None,
            },
        ),
        b"accept-charset" => (15, value.is_empty().then_some(15)),
        b"accept-encoding" => (16, (value == b"gzip, deflate").then_some(16)),
        b"accept-language" => (17, value.is_empty().then_some(17)),
        b"accept-ranges" => (18, value.is_empty().then_some(18)),
        b"accept" => (19, value.is_empty().then_some(19)),
        b"access-control-allow-origin" => (20, value.is_empty().then_some(20)),
        b"age" => (21, value.is_empty().then_some(21)),
        b"allow" => (22, value.is_empty().then_some(22)),
        b"authorization" => (23, value.is_empty().then_some(23)),
        b"cache-control" => (24, value.is_empty().then_some(24)),
        b"content-disposition" => (25, value.is_empty().then_some(25)),
        b"content-encoding" => (26, value.is_empty().then_some(26)),
        b"content-language" => (27, value.is_empty().then_some(27)),
        b"content-length" => (28, value.is_empty().then_some(28)),
        b"content-location" => (29, value.is_empty().then_some(29)),
        b"content-range" => (30, value.is_empty().then_some(30)),
        b"content-type" => (31, value.is_empty().then_some(31)),
        b"cookie" => (32, value.is_empty().then_some(32)),
        b"date" => (33, value.is_empty().then_some(33)),
        b"etag" => (34, value.is_empty().then_some(34)),
        b"expect" => (35, value.is_empty().then_some(35)),
        b"expires" => (36, value.is_empty().then_some(36)),
        b"from" => (37, value.is_empty().then_some(37)),
        b"host" => (38, value.is_empty().then_some(38)),
        b"if-match" => (39, value.is_empty().then_some(39)),
        b"if-modified-since" => (40, value.is_empty().then_some(40)),
        b"if-none-match" => (41, value.is_empty().then_some(41)),
        b"if-range" => (42, value.is_empty().then_some(42)),
        b"if-unmodified-since" => (43, value.is_empty().then_some(43)),
        b"last-modified" => (44, value.is_empty().then_some(44)),
        b"link" => (45, value.is_empty().then_some(45)),
        b"location" => (46, value.is_empty().then_some(46)),
        b"max-forwards" => (47, value.is_empty().then_some(47)),
        b"proxy-authenticate" => (48, value.is_empty().then_some(48)),
        b"proxy-authorization" => (49, value.is_empty().then_some(49)),
        b"range" => (50, value.is_empty().then_some(50)),
        b"referer" => (51, value.is_empty().then_some(51)),
        b"refresh" => (52, value.is_empty().then_some(52)),
        b"retry-after" => (53, value.is_empty().then_some(53)),
        b"server" => (54, value.is_empty().then_some(54)),
        b"set-cookie" => (55, value.is_empty().then_some(55)),
        b"strict-transport-security" => (56, value.is_empty().then_some(56)),
        b"transfer-encoding" => (57, value.is_empty().then_some(57)),
        b"user-agent" => (58, value.is_empty().then_some(58)),
        b"vary" => (59, value.is_empty().then_some(59)),
        b"via" => (60, value.is_empty().then_some(60)),
        b"www-authenticate" => (61, value.is_empty().then_some(61)),
        _ => return (None, None),
    };
    (Some(first), full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(t: &DynamicTable) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..t.len())
            .map(|i| {
                let (n, v) = t.get(i).unwrap();
                (n.to_vec(), v.to_vec())
            })
            .collect()
    }

    #[test]
    fn static_table_shape() {
        assert_eq!(STATIC_LEN, 61);
        assert_eq!(STATIC_TABLE[0], (&b":authority"[..], &b""[..]));
        assert_eq!(STATIC_TABLE[7], (&b":status"[..], &b"200"[..]));
        assert_eq!(STATIC_TABLE[14], (&b"accept-charset"[..], &b""[..]));
        assert_eq!(
            STATIC_TABLE[15],
            (&b"accept-encoding"[..], &b"gzip, deflate"[..])
        );
        assert_eq!(STATIC_TABLE[60], (&b"www-authenticate"[..], &b""[..]));
    }

    #[test]
    fn static_lookup_matches_table() {
        for (i, &(name, value)) in STATIC_TABLE.iter().enumerate() {
            let first = STATIC_TABLE.iter().position(|&(n, _)| n == name).unwrap() + 1;
            assert_eq!(
                static_lookup(name, value),
                (Some(first), Some(i + 1)),
                "{i}"
            );
            let (n, full) = static_lookup(name, b"\x00no such value");
            assert_eq!((n, full), (Some(first), None));
        }
        assert_eq!(static_lookup(b"x-custom", b""), (None, None));
        assert_eq!(static_lookup(b":Method", b"GET"), (None, None));
        assert_eq!(static_lookup(b":method", b"get"), (Some(2), None));
        assert_eq!(static_lookup(b"te", b"trailers"), (None, None));
    }

    #[test]
    fn insert_evict_and_size() {
        let mut t = DynamicTable::new(100);
        assert!(t.insert(b"a", b"b")); // 34
        assert!(t.insert(b"cc", b"dd")); // 36
        assert_eq!(t.size(), 70);
        assert!(t.insert(b"e", b"f")); // 34 -> evicts "a"
        assert_eq!(t.size(), 70);
        assert_eq!(
            dump(&t),
            vec![
                (b"e".to_vec(), b"f".to_vec()),
                (b"cc".to_vec(), b"dd".to_vec())
            ]
        );
        // Exactly the capacity fits.
        assert!(t.insert(&[b'x'; 68], b""));
        assert_eq!(t.size(), 100);
        assert_eq!(t.len(), 1);
        // Too large empties the table.
        assert!(!t.insert(&[b'y'; 60], b"zzzzzzzzz"));
        assert_eq!(t.size(), 0);
        assert_eq!(t.len(), 0);
        assert!(t.get(0).is_none());
        // Shrinking evicts.
        assert!(t.insert(b"a", b"b"));
        assert!(t.insert(b"c", b"d"));
        t.set_capacity(40);
        assert_eq!(dump(&t), vec![(b"c".to_vec(), b"d".to_vec())]);
        t.set_capacity(0);
        assert_eq!(t.len(), 0);
        assert!(!t.insert(b"", b""));
    }

    #[test]
    fn churn_keeps_contents_and_buffer_bounded() {
        // A simple model: a Vec of entries with the same eviction rule.
        let mut t = DynamicTable::new(300);
        let mut model: VecDeque<(Vec<u8>, Vec<u8>)> = VecDeque::new();
        let mut seed = 12345u32;
        for round in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let nl = (seed >> 16) as usize % 40;
            let vl = (seed >> 8) as usize % 250;
            let name: Vec<u8> = (0..nl).map(|i| (round + i) as u8).collect();
            let value: Vec<u8> = (0..vl).map(|i| (round * 7 + i) as u8).collect();
            if round % 500 == 499 {
                let cap = (seed as usize >> 4) % 400;
                t.set_capacity(cap);
                let mut size: usize = model.iter().map(|(n, v)| 32 + n.len() + v.len()).sum();
                while size > cap {
                    let (n, v) = model.pop_back().unwrap();
                    size -= 32 + n.len() + v.len();
                }
            }
            let inserted = t.insert(&name, &value);
            let esize = 32 + nl + vl;
            let mut size: usize = model.iter().map(|(n, v)| 32 + n.len() + v.len()).sum();
            if esize > t.capacity() {
                model.clear();
                assert!(!inserted);
            } else {
                while size + esize > t.capacity() {
                    let (n, v) = model.pop_back().unwrap();
                    size -= 32 + n.len() + v.len();
                }
                model.push_front((name, value));
                assert!(inserted);
            }
            assert_eq!(dump(&t), Vec::from(model.clone()));
            let size: usize = model.iter().map(|(n, v)| 32 + n.len() + v.len()).sum();
            assert_eq!(t.size(), size);
            assert!(t.buffer_len() <= 2 * 400);
        }
    }
}
