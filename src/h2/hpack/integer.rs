//! Prefix-coded integers (RFC 7541 §5.1).

use super::DecodeError;

/// At most this many continuation bytes follow the prefix: 5 × 7 = 35 bits, enough for any `u32`.
pub(super) const MAX_CONTINUATION_BYTES: usize = 5;

/// Decodes an integer with an `prefix_bits`-bit prefix (1..=8) starting at `buf[*pos]`, whose high
/// bits (the representation's flags) are ignored. Advances `*pos` past the integer.
#[inline]
pub(super) fn decode(buf: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<u32, DecodeError> {
    debug_assert!((1..=8).contains(&prefix_bits));
    let mask = 0xFFu32 >> (8 - prefix_bits);
    let first = match buf.get(*pos) {
        Some(&b) => u32::from(b) & mask,
        None => return Err(DecodeError::Truncated),
    };
    *pos += 1;
    if first < mask {
        return Ok(first);
    }
    decode_continuation(buf, pos, mask)
}

#[cold]
fn decode_continuation(buf: &[u8], pos: &mut usize, mask: u32) -> Result<u32, DecodeError> {
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    for _ in 0..MAX_CONTINUATION_BYTES {
        let Some(&b) = buf.get(*pos) else {
            return Err(DecodeError::Truncated);
        };
        *pos += 1;
        value += u64::from(b & 0x7F) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return u32::try_from(value).map_err(|_| DecodeError::IntegerOverflow);
        }
    }
    // A sixth continuation byte would follow.
    Err(DecodeError::IntegerOverflow)
}

/// Appends `value` with a `prefix_bits`-bit prefix (1..=8); `flags` supplies the first byte's high
/// bits and must be zero in the prefix.
#[inline]
pub(super) fn encode(value: usize, prefix_bits: u32, flags: u8, out: &mut Vec<u8>) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let mask = 0xFFusize >> (8 - prefix_bits);
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7F) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(buf: &[u8], prefix: u32) -> Result<(u32, usize), DecodeError> {
        let mut pos = 0;
        decode(buf, &mut pos, prefix).map(|v| (v, pos))
    }

    #[test]
    fn rfc_examples() {
        // C.1.1: 10 with a 5-bit prefix.
        let mut out = Vec::new();
        encode(10, 5, 0, &mut out);
        assert_eq!(out, [0x0a]);
        assert_eq!(dec(&out, 5), Ok((10, 1)));
        // C.1.2: 1337 with a 5-bit prefix.
        out.clear();
        encode(1337, 5, 0, &mut out);
        assert_eq!(out, [0x1f, 0x9a, 0x0a]);
        assert_eq!(dec(&out, 5), Ok((1337, 3)));
        // C.1.3: 42 at an octet boundary.
        out.clear();
        encode(42, 8, 0, &mut out);
        assert_eq!(out, [0x2a]);
        assert_eq!(dec(&out, 8), Ok((42, 1)));
    }

    #[test]
    fn flags_are_kept_and_ignored() {
        let mut out = Vec::new();
        encode(3, 4, 0x10, &mut out);
        assert_eq!(out, [0x13]);
        assert_eq!(dec(&[0xF3], 4), Ok((3, 1)));
        assert_eq!(dec(&[0xFF, 0x00], 4), Ok((15, 2)));
    }

    #[test]
    fn round_trip_all_prefixes() {
        let values = [
            0u32,
            1,
            2,
            30,
            31,
            62,
            63,
            126,
            127,
            128,
            254,
            255,
            256,
            1337,
            16_383,
            16_384,
            65_535,
            2_097_151,
            2_097_152,
            268_435_455,
            268_435_456,
            u32::MAX - 1,
            u32::MAX,
        ];
        for prefix in 1..=8 {
            let mask = (1u32 << prefix) - 1;
            let extra = [mask - 1, mask, mask + 1, mask + 127, mask + 128];
            for &v in values.iter().chain(extra.iter()) {
                let mut out = Vec::new();
                encode(v as usize, prefix, 0, &mut out);
                assert!(out.len() <= 1 + MAX_CONTINUATION_BYTES, "{v} {prefix}");
                assert_eq!(dec(&out, prefix), Ok((v, out.len())), "{v} {prefix}");
                // Every strict prefix is truncated.
                for cut in 0..out.len() {
                    assert_eq!(dec(&out[..cut], prefix), Err(DecodeError::Truncated));
                }
            }
        }
    }

    #[test]
    fn max_u32_and_overflow() {
        // u32::MAX with an 8-bit prefix: 255 + (u32::MAX - 255).
        let mut out = Vec::new();
        encode(u32::MAX as usize, 8, 0, &mut out);
        assert_eq!(out, [0xFF, 0x80, 0xFE, 0xFF, 0xFF, 0x0F]);
        assert_eq!(dec(&out, 8), Ok((u32::MAX, 6)));
        // One more overflows u32 (still 5 continuation bytes).
        assert_eq!(
            dec(&[0xFF, 0x81, 0xFE, 0xFF, 0xFF, 0x0F], 8),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(
            dec(&[0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], 5),
            Err(DecodeError::IntegerOverflow)
        );
        // A sixth continuation byte, even if it only carries zeros.
        assert_eq!(
            dec(&[0x1F, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(
            dec(&[0x1F, 0x80, 0x80, 0x80, 0x80, 0x80], 5),
            Err(DecodeError::IntegerOverflow)
        );
        // Zero-padded continuation bytes within the cap are fine.
        assert_eq!(dec(&[0x1F, 0x80, 0x80, 0x80, 0x80, 0x00], 5), Ok((31, 6)));
        // Huge byte counts never overflow arithmetic.
        assert_eq!(dec(&[0xFF; 64], 8), Err(DecodeError::IntegerOverflow));
    }

    #[test]
    fn truncation() {
        assert_eq!(dec(&[], 5), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x1F], 5), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x1F, 0x9A], 5), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x01], 1), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x00], 1), Ok((0, 1)));
    }
}
