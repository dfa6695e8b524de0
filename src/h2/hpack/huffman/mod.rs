//! Huffman coding (RFC 7541 §5.2, Appendix B).
//!
//! Decoding is table-driven: a 12-bit lookup into [`table::DECODE_TABLE`] yields up to two symbols at
//! once, fed from a 64-bit bit buffer refilled eight bytes at a time; codes longer than 12 bits (rare
//! bytes) and the end of the string go through a canonical-code search. Encoding packs codes into a
//! 64-bit accumulator and writes 32 bits at a time. All tables are built at compile time from the
//! code table in Appendix B.

mod decode;
mod encode;
mod table;

pub(super) use decode::decode;
pub(super) use encode::{encode, encoded_len};

#[cfg(test)]
mod tests;
