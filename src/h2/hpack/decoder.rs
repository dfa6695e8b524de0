//! The HPACK decoder (RFC 7541 §6).

use super::Field;

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
pub struct Decoder {}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size`, the SETTINGS_HEADER_TABLE_SIZE we
    /// advertise.
    pub fn new(max_table_size: usize) -> Self {
        let _ = max_table_size;
        todo!()
    }

    /// We advertise a new SETTINGS_HEADER_TABLE_SIZE. If it is lower than before, the peer's next block
    /// must start with a size update no larger than it.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        let _ = max_table_size;
        todo!()
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
        let _ = (block, &mut on_field);
        todo!()
    }

    /// The dynamic table's current size in RFC 7541 §4.1 units.
    pub fn table_size(&self) -> usize {
        todo!()
    }
}
