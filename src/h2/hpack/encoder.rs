//! The HPACK encoder (RFC 7541 §6).
//!
//! Policy, per field:
//! - a name and value found in the static or dynamic table: an indexed field (§6.1);
//! - sensitive fields (`never_index`, `authorization`, `proxy-authorization`, short `cookie`s, RFC
//!   7541 §7.1.3): a never-indexed literal (§6.2.3);
//! - fields whose entry would take more than 3/4 of the table: a literal without indexing (§6.2.2);
//! - fields whose value is new on every request (`x-request-id`, trace ids): a literal without
//!   indexing once their name is in a table (§6.2.2); an entry could never be used again and would
//!   only evict ones that are;
//! - anything else: a literal with incremental indexing (§6.2.1).
//!
//! Names are indexed whenever the static or dynamic table has them. Strings are Huffman-coded when
//! that is shorter. Static lookups are a `match` on the name; dynamic lookups go through a small
//! lossy hash index over the entries.

use super::table::{DynamicTable, STATIC_LEN, static_lookup};
use super::{huffman, integer};

/// The largest dynamic table we use, whatever the peer allows.
pub const MAX_ENCODER_TABLE_SIZE: usize = 16 * 1024;

/// Cookies shorter than this are never indexed (RFC 7541 §7.1.3).
const SHORT_COOKIE: usize = 20;

/// The encoding side of one connection's HPACK context.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// Finds dynamic entries by name and value.
    by_field: HashIndex,
    /// Finds dynamic entries by name.
    by_name: HashIndex,
    /// Entries inserted so far (wrapping): the newest entry's id is `inserted - 1`.
    inserted: u32,
    /// Size updates owed at the start of the next block: the smallest size since the last block,
    /// and the size to end with.
    pending: Option<(usize, usize)>,
}

impl Encoder {
    /// An encoder for a peer that allows a dynamic table of `max_table_size` (its
    /// SETTINGS_HEADER_TABLE_SIZE; 4096 until its SETTINGS arrive).
    pub fn new(max_table_size: usize) -> Self {
        let mut encoder = Self {
            table: DynamicTable::new(max_table_size),
            by_field: HashIndex::default(),
            by_name: HashIndex::default(),
            inserted: 0,
            pending: None,
        };
        encoder.size_index();
        if max_table_size > MAX_ENCODER_TABLE_SIZE {
            encoder.set_max_table_size(max_table_size);
        }
        encoder
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed; the next block starts with a size update.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        let size = max_table_size.min(MAX_ENCODER_TABLE_SIZE);
        let min = self.pending.map_or(size, |(min, _)| min.min(size));
        self.pending = Some((min, size));
    }

    /// Appends one header block for `fields` (name, value, never_index) to `out`.
    pub fn encode<'f>(
        &mut self,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8], bool)>,
        out: &mut Vec<u8>,
    ) {
        self.flush_size_update(out);
        for (name, value, never_index) in fields {
            self.encode_field(name, value, never_index, out);
        }
    }

    /// Appends one field to the header block being written to `out`, for callers that build a
    /// block field by field: call it for each field of the block in order. Any pending dynamic
    /// table size update is written first, which is correct because `set_max_table_size` is only
    /// called between blocks. `encode` is this in a loop.
    pub fn encode_field(
        &mut self,
        name: &[u8],
        value: &[u8],
        never_index: bool,
        out: &mut Vec<u8>,
    ) {
        self.flush_size_update(out);
        let sensitive = never_index || is_sensitive(name, value);
        let (static_name, static_full) = static_lookup(name, value);
        if let (Some(index), false) = (static_full, sensitive) {
            integer::encode(index, 7, 0x80, out);
            return;
        }
        let name_hash = hash_bytes(0, name);
        let field_hash = hash_bytes(name_hash, value);
        let (dynamic_name, dynamic_full) = self.dynamic_lookup(name, value, name_hash, field_hash);
        if let (Some(index), false) = (dynamic_full, sensitive) {
            integer::encode(index, 7, 0x80, out);
            return;
        }
        let name_index = static_name.or(dynamic_name);
        let entry_size = 32 + name.len() + value.len();
        let (flags, prefix, index) = if sensitive {
            (0x10, 4, false)
        } else if entry_size.saturating_mul(4) > self.table.capacity().saturating_mul(3)
            || (name_index.is_some() && is_unique_per_request(name))
        {
            (0x00, 4, false)
        } else {
            (0x40, 6, true)
        };
        match name_index {
            Some(i) => integer::encode(i, prefix, flags, out),
            None => {
                out.push(flags);
                write_string(name, out);
            }
        }
        write_string(value, out);
        if index && self.table.insert(name, value) {
            let id = self.inserted;
            self.inserted = id.wrapping_add(1);
            self.by_name.insert(name_hash, id);
            self.by_field.insert(field_hash, id);
        }
    }

    /// The dynamic table's current size in RFC 7541 §4.1 units.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    #[inline]
    fn flush_size_update(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_some() {
            self.emit_size_update(out);
        }
    }

    #[cold]
    fn emit_size_update(&mut self, out: &mut Vec<u8>) {
        if let Some((min, size)) = self.pending.take() {
            if min < size && min < self.table.capacity() {
                integer::encode(min, 5, 0x20, out);
                self.table.set_capacity(min);
            }
            if size != self.table.capacity() {
                integer::encode(size, 5, 0x20, out);
                self.table.set_capacity(size);
            }
            self.size_index();
        }
    }

    /// `(index of an entry with this name, index of an entry with this name and value)`.
    fn dynamic_lookup(
        &self,
        name: &[u8],
        value: &[u8],
        name_hash: u32,
        field_hash: u32,
    ) -> (Option<usize>, Option<usize>) {
        if self.table.len() == 0 {
            return (None, None);
        }
        let position = |id: u32| {
            let pos = self.inserted.wrapping_sub(1).wrapping_sub(id) as usize;
            (pos < self.table.len()).then_some(pos)
        };
        for id in self.by_field.candidates(field_hash) {
            if let Some(pos) = position(id) {
                if self.table.get(pos) == Some((name, value)) {
                    let index = STATIC_LEN + 1 + pos;
                    return (Some(index), Some(index));
                }
            }
        }
        let mut best: Option<usize> = None;
        for id in self.by_name.candidates(name_hash) {
            if let Some(pos) = position(id) {
                if self.table.get(pos).is_some_and(|(n, _)| n == name)
                    && best.is_none_or(|b| pos < b)
                {
                    best = Some(pos);
                }
            }
        }
        (best.map(|pos| STATIC_LEN + 1 + pos), None)
    }

    /// Sizes the hash indexes for the current table capacity.
    fn size_index(&mut self) {
        let entries = self.table.capacity() / 32;
        let slots = (entries * 2).next_power_of_two().max(PROBE);
        self.by_field.resize(slots);
        self.by_name.resize(slots);
    }
}

/// Slots probed per lookup in a [`HashIndex`].
const PROBE: usize = 4;

/// A lossy hash index from a field (or name) hash to the id of a dynamic table entry. Each hash
/// probes `PROBE` consecutive slots; inserting overwrites an equal hash, a dead entry or the oldest
/// one. Ids of evicted entries are recognised as dead from their age, and every candidate is
/// verified against the table, so a stale or colliding slot only costs compression, never
/// correctness.
#[derive(Debug, Default)]
struct HashIndex {
    /// `(hash, id)`; `hash == 0` marks an empty slot.
    slots: Vec<(u32, u32)>,
}

impl HashIndex {
    fn resize(&mut self, slots: usize) {
        if slots > self.slots.len() {
            self.slots = vec![(0, 0); slots];
        }
    }

    fn window(&self, hash: u32) -> impl Iterator<Item = usize> + '_ {
        let mask = self.slots.len().wrapping_sub(1);
        (0..PROBE.min(self.slots.len())).map(move |k| (hash as usize).wrapping_add(k) & mask)
    }

    fn candidates(&self, hash: u32) -> impl Iterator<Item = u32> + '_ {
        self.window(hash)
            .filter_map(move |i| self.slots.get(i).filter(|s| s.0 == hash).map(|s| s.1))
    }

    /// Records that the newest entry, `id`, has `hash`.
    fn insert(&mut self, hash: u32, id: u32) {
        let mut victim = None;
        let mut victim_age = 0u32;
        for i in self.window(hash) {
            let Some(&(h, old)) = self.slots.get(i) else {
                continue;
            };
            if h == hash || h == 0 {
                victim = Some(i);
                break;
            }
            let age = id.wrapping_sub(old);
            if victim.is_none() || age > victim_age {
                victim = Some(i);
                victim_age = age;
            }
        }
        if let Some(slot) = victim.and_then(|i| self.slots.get_mut(i)) {
            *slot = (hash, id);
        }
    }
}

/// A fast non-cryptographic hash (FxHash-style, a word at a time), never 0.
#[inline]
fn hash_bytes(seed: u32, s: &[u8]) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = u64::from(seed) ^ (s.len() as u64).wrapping_mul(K);
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut last = 0u64;
    for (k, &b) in chunks.remainder().iter().enumerate() {
        last |= u64::from(b) << (8 * k);
    }
    h = (h.rotate_left(5) ^ last).wrapping_mul(K);
    ((h >> 32) as u32).max(1)
}

/// Fields never worth indexing, or unsafe to (RFC 7541 §7.1.3).
#[inline]
fn is_sensitive(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" => true,
        b"cookie" => value.len() < SHORT_COOKIE,
        _ => false,
    }
}

/// Fields whose value differs on every request. The first one is still indexed when its name is in
/// no table, so that the later ones can refer to the name.
#[inline]
fn is_unique_per_request(name: &[u8]) -> bool {
    matches!(
        name,
        b"x-request-id" | b"traceparent" | b"x-b3-traceid" | b"x-b3-spanid" | b"b3"
    )
}

/// Writes a string literal (§5.2), Huffman-coded when that is shorter.
#[inline]
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    let huffman_len = huffman::encoded_len(s);
    if huffman_len < s.len() {
        integer::encode(huffman_len, 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        integer::encode(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests;
