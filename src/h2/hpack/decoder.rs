//! The HPACK decoder (RFC 7541 §6).

use super::table::{DynamicTable, STATIC_LEN, STATIC_TABLE};
use super::{Field, huffman, integer};

/// Why a header block could not be decoded. Every variant is a connection COMPRESSION_ERROR
/// (RFC 9113 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer longer than the continuation-byte cap or larger than `u32`.
    IntegerOverflow,
    /// Index 0, or past the end of the static plus dynamic table.
    InvalidIndex,
    /// Bad Huffman code: EOS inside the string, padding longer than 7 bits or not all ones.
    InvalidHuffman,
    /// A dynamic table size update after the first field of the block (RFC 7541 §4.2).
    SizeUpdateNotAtStart,
    /// A size update above the SETTINGS_HEADER_TABLE_SIZE we advertised (RFC 7541 §6.3).
    SizeUpdateTooLarge,
    /// We lowered our SETTINGS_HEADER_TABLE_SIZE and the peer's next block did not start with the
    /// size update that acknowledges it (RFC 7541 §4.2).
    MissingSizeUpdate,
}

/// The decoding side of one connection's HPACK context.
///
/// Decoded fields borrow from the block, the static or dynamic table, or one of two scratch buffers
/// (Huffman-coded names and values) that are reused from block to block.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE we advertise: the largest size update we accept.
    max_table_size: usize,
    /// Set after we lowered `max_table_size` below the table's size limit: the lowest limit since,
    /// which a size update at the start of the next block must reach.
    required_update: Option<usize>,
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size`, the SETTINGS_HEADER_TABLE_SIZE we
    /// advertise.
    pub fn new(max_table_size: usize) -> Self {
        Self {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            required_update: None,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// We advertise a new SETTINGS_HEADER_TABLE_SIZE. If it is lower than before, the peer's next block
    /// must start with a size update no larger than it.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        self.max_table_size = max_table_size;
        if max_table_size < self.table.capacity() {
            self.required_update = Some(
                self.required_update
                    .map_or(max_table_size, |min| min.min(max_table_size)),
            );
        }
    }

    /// Decodes one complete header block, calling `on_field` for each field in order. On error the
    /// context is no longer in step with the peer's encoder and the connection must end.
    ///
    /// Every field is decoded even when the caller discards it, so that the dynamic table stays in
    /// step; the work is bounded by the length of `block`.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut on_field: impl FnMut(Field<'_>),
    ) -> Result<(), DecodeError> {
        let Self {
            table,
            max_table_size,
            required_update,
            name_buf,
            value_buf,
        } = self;
        let mut pos = 0;

        // Dynamic table size updates may only come first (RFC 7541 §4.2), possibly several.
        while let Some(&b) = block.get(pos) {
            if b & 0xE0 != 0x20 {
                break;
            }
            let size = integer::decode(block, &mut pos, 5)? as usize;
            if size > *max_table_size {
                return Err(DecodeError::SizeUpdateTooLarge);
            }
            if required_update.is_some_and(|min| size <= min) {
                *required_update = None;
            }
            table.set_capacity(size);
        }
        if required_update.is_some() && !block.is_empty() {
            return Err(DecodeError::MissingSizeUpdate);
        }

        while let Some(&b) = block.get(pos) {
            if b & 0x80 != 0 {
                // Indexed header field (§6.1).
                let index = integer::decode(block, &mut pos, 7)?;
                let (name, value) = lookup(table, index)?;
                on_field(Field {
                    name,
                    value,
                    never_index: false,
                });
            } else if b & 0x40 != 0 {
                // Literal with incremental indexing (§6.2.1).
                let index = integer::decode(block, &mut pos, 6)?;
                let name: &[u8] = if index == 0 {
                    read_string(block, &mut pos, name_buf)?
                } else if let Some(&(name, _)) = static_entry(index) {
                    name
                } else {
                    // Copied out: inserting may evict the entry it names.
                    let (name, _) = dynamic_entry(table, index)?;
                    name_buf.clear();
                    name_buf.extend_from_slice(name);
                    name_buf
                };
                let value = read_string(block, &mut pos, value_buf)?;
                on_field(Field {
                    name,
                    value,
                    never_index: false,
                });
                table.insert(name, value);
            } else if b & 0x20 != 0 {
                return Err(DecodeError::SizeUpdateNotAtStart);
            } else {
                // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
                let never_index = b & 0x10 != 0;
                let index = integer::decode(block, &mut pos, 4)?;
                let name = if index == 0 {
                    read_string(block, &mut pos, name_buf)?
                } else {
                    lookup(table, index)?.0
                };
                let value = read_string(block, &mut pos, value_buf)?;
                on_field(Field {
                    name,
                    value,
                    never_index,
                });
            }
        }
        Ok(())
    }

    /// The dynamic table's current size in RFC 7541 §4.1 units.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's current maximum size (the peer's last size update, or the initial one).
    pub fn table_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The number of entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The dynamic table entry at HPACK index `index` (62 is the newest), for tests and debugging.
    pub fn dynamic_entry(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.table.get(index.checked_sub(STATIC_LEN + 1)?)
    }
}

#[inline]
fn static_entry(index: u32) -> Option<&'static (&'static [u8], &'static [u8])> {
    STATIC_TABLE.get((index as usize).checked_sub(1)?)
}

#[inline]
fn dynamic_entry(table: &DynamicTable, index: u32) -> Result<(&[u8], &[u8]), DecodeError> {
    (index as usize)
        .checked_sub(STATIC_LEN + 1)
        .and_then(|i| table.get(i))
        .ok_or(DecodeError::InvalidIndex)
}

/// The field at HPACK index `index` (1-based; static then dynamic).
#[inline]
fn lookup(table: &DynamicTable, index: u32) -> Result<(&[u8], &[u8]), DecodeError> {
    match static_entry(index) {
        Some(&(name, value)) => Ok((name, value)),
        None if index == 0 => Err(DecodeError::InvalidIndex),
        None => dynamic_entry(table, index),
    }
}

/// Reads a string literal (§5.2) at `block[*pos]`: borrowed from the block, or Huffman-decoded into
/// `scratch`.
#[inline]
fn read_string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let huffman = block.get(*pos).ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer::decode(block, pos, 7)? as usize;
    let start = *pos;
    let end = start.checked_add(len).ok_or(DecodeError::Truncated)?;
    let raw = block.get(start..end).ok_or(DecodeError::Truncated)?;
    *pos = end;
    if huffman {
        scratch.clear();
        huffman::decode(raw, scratch)?;
        Ok(scratch)
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
pub(super) mod tests;
