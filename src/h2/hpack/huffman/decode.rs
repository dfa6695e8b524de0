//! Huffman decoding.

use super::table::{CANONICAL, DECODE_TABLE, EOS, LOOKUP_BITS, MAX_CODE_LEN};
use crate::h2::hpack::DecodeError;

/// Decodes the symbol at the top of `window` (a left-aligned bit string, padded with ones past the
/// input) by canonical-code search: `(symbol, code length)`.
#[inline]
fn decode_canonical(window: u64) -> (u16, u32) {
    let top = (window >> (64 - MAX_CODE_LEN)) as u32;
    // Only called when the main table found no code of at most LOOKUP_BITS bits.
    let mut len = LOOKUP_BITS + 1;
    while len <= MAX_CODE_LEN {
        let code = top >> (MAX_CODE_LEN - len);
        let first = CANONICAL.first[len as usize];
        let count = CANONICAL.count[len as usize];
        if code >= first && code - first < count {
            let i = CANONICAL.offset[len as usize] as usize + (code - first) as usize;
            return (CANONICAL.sorted[i], len);
        }
        len += 1;
    }
    // Unreachable for a complete code (every 30-bit string starts with some code), kept total.
    (EOS, MAX_CODE_LEN)
}

/// Appends the decoding of the Huffman-coded string `src` to `out`.
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let start = out.len();
    // Codes are at least 5 bits long; two spare bytes let every step store two symbols.
    let max = src.len() / 5 * 8 + src.len() % 5 * 8 / 5 + 2;
    out.resize(start + max, 0);
    let result = decode_into(src, &mut out[start..]);
    match result {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Decodes `src` into `buf`, which has room for two more symbols than `src` can encode; returns
/// the number of bytes decoded.
#[inline]
fn decode_into(src: &[u8], buf: &mut [u8]) -> Result<usize, DecodeError> {
    // Bits are left-aligned in `bits`; the top `nbits` are unconsumed input. Below them the buffer
    // may already hold (some of) the bits of `src[i]`, which are ORed in again at the same place.
    let mut bits: u64 = 0;
    let mut nbits: u32 = 0;
    let mut i = 0usize;
    // Output position.
    let mut o = 0usize;

    // Fast path: refill eight bytes at a time, then decode while a whole window is buffered.
    while let Some(chunk) = src.get(i..).and_then(|s| s.first_chunk::<8>()) {
        bits |= u64::from_be_bytes(*chunk) >> nbits;
        let take = (63 - nbits) >> 3;
        i += take as usize;
        nbits += take * 8;
        // 56 <= nbits <= 63.
        while nbits >= LOOKUP_BITS {
            let e = DECODE_TABLE[(bits >> (64 - LOOKUP_BITS)) as usize];
            let count = e >> 24;
            if count != 0 {
                // Store both symbols whatever the count (no data-dependent branch).
                let Some(pair) = buf.get_mut(o..o + 2) else {
                    return Err(DecodeError::InvalidHuffman);
                };
                pair[0] = e as u8;
                pair[1] = (e >> 8) as u8;
                o += count as usize;
                let used = (e >> 20) & 0xF;
                bits <<= used;
                nbits -= used;
            } else if nbits >= MAX_CODE_LEN {
                let (sym, len) = decode_canonical(bits);
                if sym == EOS {
                    return Err(DecodeError::InvalidHuffman);
                }
                let Some(slot) = buf.get_mut(o) else {
                    return Err(DecodeError::InvalidHuffman);
                };
                *slot = sym as u8;
                o += 1;
                bits <<= len;
                nbits -= len;
            } else {
                break;
            }
        }
    }

    // Tail: byte at a time, then the padding.
    loop {
        while nbits <= 55 {
            let Some(&b) = src.get(i) else { break };
            bits |= u64::from(b) << (56 - nbits);
            nbits += 8;
            i += 1;
        }
        if nbits == 0 {
            return Ok(o);
        }
        // All input is in `bits` now unless nbits > 55. Padding: a strict prefix of EOS, at most
        // 7 bits (RFC 7541 §5.2); no code is all ones except EOS.
        let window = bits | (u64::MAX >> nbits);
        if nbits <= 7 && window == u64::MAX {
            return Ok(o);
        }
        // Past the input, the window pretends the string continues with ones: a code that needs
        // those bits is cut short.
        let e = DECODE_TABLE[(window >> (64 - LOOKUP_BITS)) as usize];
        let count = e >> 24;
        let len1 = (e >> 16) & 0xF;
        let used = (e >> 20) & 0xF;
        let (sym, n, len) = if count == 2 && used <= nbits {
            (e as u16, 2, used)
        } else if count != 0 {
            (e as u16, 1, len1)
        } else {
            let (sym, len) = decode_canonical(window);
            (sym, 1, len)
        };
        if len > nbits || sym == EOS {
            return Err(DecodeError::InvalidHuffman);
        }
        let Some(pair) = buf.get_mut(o..o + 2) else {
            return Err(DecodeError::InvalidHuffman);
        };
        pair[0] = sym as u8;
        pair[1] = (e >> 8) as u8;
        o += n;
        bits <<= len;
        nbits -= len;
    }
}
