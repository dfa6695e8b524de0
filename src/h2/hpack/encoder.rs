//! The HPACK encoder (RFC 7541 §6).

/// The encoding side of one connection's HPACK context.
pub struct Encoder {}

impl Encoder {
    /// An encoder for a peer that allows a dynamic table of `max_table_size` (its
    /// SETTINGS_HEADER_TABLE_SIZE; 4096 until its SETTINGS arrive).
    pub fn new(max_table_size: usize) -> Self {
        let _ = max_table_size;
        todo!()
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed; the next block starts with a size update.
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        let _ = max_table_size;
        todo!()
    }

    /// Appends one header block for `fields` (name, value, never_index) to `out`.
    pub fn encode<'f>(
        &mut self,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8], bool)>,
        out: &mut Vec<u8>,
    ) {
        let _ = (fields.into_iter(), out);
        todo!()
    }
}
