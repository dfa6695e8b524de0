//! HPACK header compression (RFC 7541), our own implementation.
//!
//! Why our own: the published crates panic on malformed input, accept unbounded dynamic tables by
//! default, or decode Huffman strings at about 1 MB/s with over a thousand allocations per block.
//!
//! - [`Decoder`] hands each decoded field to a callback as borrowed bytes: from the block itself
//!   (plain literals), from the static or dynamic table (indexed fields), or from a reused scratch
//!   buffer (Huffman literals). No allocation per field once the connection is warm.
//! - [`Encoder`] writes straight into the caller's send buffer.
//!
//! Layout: the dynamic table (`table.rs`) stores entry bytes back to back in one reusable buffer of
//! at most twice the table size, with a `VecDeque` of entry descriptors (newest first); eviction
//! only moves the start, and the live bytes are moved to the front when the end is reached.
//! Huffman decoding (`huffman/`) looks up 12 bits at a time in a compile-time table that yields up
//! to two symbols per lookup. The encoder finds static entries with a `match` on the name and
//! dynamic ones through a small lossy hash index verified against the table.

mod decoder;
mod encoder;
mod huffman;
mod integer;
mod table;

pub use decoder::{DecodeError, Decoder};
pub use encoder::Encoder;

/// The default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// One header field handed out by the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// Sent as "never indexed" (RFC 7541 §6.2.3): a proxy must re-encode it the same way.
    pub never_index: bool,
}
