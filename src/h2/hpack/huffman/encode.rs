//! Huffman encoding.

use super::table::{ENCODE_CODES, ENCODE_LENS};

/// The length in bytes of the Huffman coding of `src`.
#[inline]
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(ENCODE_LENS[usize::from(b)]))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman coding of `src` to `out`, padded with the most significant bits of EOS.
pub(crate) fn encode(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(src));
    // The low `n` bits of `acc` are pending output (n < 32 between symbols).
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    for &b in src {
        let len = u32::from(ENCODE_LENS[usize::from(b)]);
        acc = (acc << len) | u64::from(ENCODE_CODES[usize::from(b)]);
        n += len;
        if n >= 32 {
            n -= 32;
            out.extend_from_slice(&((acc >> n) as u32).to_be_bytes());
        }
    }
    if n > 0 {
        let pad = (8 - n % 8) % 8;
        acc = (acc << pad) | ((1u64 << pad) - 1);
        n += pad;
        while n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
}
