//! Huffman tests: the code table, every symbol, padding and EOS rules.

use super::table::{CANONICAL, CODES, DECODE_TABLE, LOOKUP_BITS, MAX_CODE_LEN};
use super::{decode, encode, encoded_len};
use crate::h2::hpack::DecodeError;

fn dec(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    decode(src, &mut out).map(|()| out)
}

fn enc(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(src, &mut out);
    assert_eq!(out.len(), encoded_len(src));
    out
}

fn reference_map() -> &'static std::collections::HashMap<(u8, u32), usize> {
    static MAP: std::sync::OnceLock<std::collections::HashMap<(u8, u32), usize>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        CODES
            .iter()
            .enumerate()
            .map(|(s, &(c, l))| ((l, c), s))
            .collect()
    })
}

/// A straightforward bit-by-bit reference decoder.
fn reference_decode(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let (mut code, mut len) = (0u32, 0u8);
    for &byte in src {
        for bit in (0..8).rev() {
            code = code << 1 | u32::from(byte >> bit & 1);
            len += 1;
            if let Some(&sym) = reference_map().get(&(len, code)) {
                if sym == 256 {
                    return Err(DecodeError::InvalidHuffman);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    if len > 7 || code != (1 << len) - 1 {
        return Err(DecodeError::InvalidHuffman);
    }
    Ok(out)
}

#[test]
fn code_table_is_canonical_and_complete() {
    // Rebuild the code from the lengths alone (canonical: by length, then symbol) and compare.
    let mut code = 0u32;
    let mut prev_len = 0u8;
    let mut order: Vec<usize> = (0..257).collect();
    order.sort_by_key(|&s| (CODES[s].1, s));
    let mut kraft = 0u64;
    for (k, &s) in order.iter().enumerate() {
        let len = CODES[s].1;
        if k > 0 {
            code = (code + 1) << (len - prev_len);
        }
        prev_len = len;
        assert_eq!(CODES[s].0, code, "symbol {s}");
        assert!((5..=30).contains(&len));
        kraft += 1u64 << (30 - len);
    }
    assert_eq!(kraft, 1 << 30, "the code is complete");
    assert_eq!(CODES[256], ((1 << 30) - 1, 30), "EOS is all ones");
    // Spot checks against RFC 7541 Appendix B.
    assert_eq!(CODES[b'a' as usize], (0x3, 5));
    assert_eq!(CODES[b' ' as usize], (0x14, 6));
    assert_eq!(CODES[b'|' as usize], (0x7fc, 11));
    assert_eq!(CODES[0], (0x1ff8, 13));
    assert_eq!(CODES[255], (0x3ffffee, 26));
}

#[test]
fn generated_tables_match_the_code() {
    // Re-derive the main decode table naively.
    assert_eq!(DECODE_TABLE.len(), 1 << LOOKUP_BITS);
    for (idx, &e) in DECODE_TABLE.iter().enumerate() {
        let find = |bits: usize, avail: u32| {
            (0..257).find(|&s| {
                let (c, l) = CODES[s];
                u32::from(l) <= avail && (bits >> (avail - u32::from(l))) as u32 == c
            })
        };
        match find(idx, LOOKUP_BITS) {
            None => assert_eq!(e, 0, "{idx:#x}"),
            Some(s1) => {
                let l1 = u32::from(CODES[s1].1);
                let rest = idx & ((1 << (LOOKUP_BITS - l1)) - 1);
                let second = find(rest, LOOKUP_BITS - l1);
                assert_eq!(e & 0xFF, s1 as u32);
                assert_eq!(e >> 16 & 0xF, l1);
                match second {
                    Some(s2) => {
                        assert_eq!(e >> 24, 2);
                        assert_eq!(e >> 8 & 0xFF, s2 as u32);
                        assert_eq!(e >> 20 & 0xF, l1 + u32::from(CODES[s2].1));
                    }
                    None => {
                        assert_eq!(e >> 24, 1);
                        assert_eq!(e >> 20 & 0xF, l1);
                    }
                }
            }
        }
    }
    let total: u32 = CANONICAL.count.iter().sum();
    assert_eq!(total, 257);
    assert_eq!(CANONICAL.count[MAX_CODE_LEN as usize], 4);
}

#[test]
fn every_symbol_round_trips() {
    for b in 0..=255u8 {
        for n in [1, 2, 3, 7, 8, 9, 17] {
            let s = vec![b; n];
            let e = enc(&s);
            assert_eq!(dec(&e).unwrap(), s, "byte {b} x{n}");
            assert_eq!(reference_decode(&e).unwrap(), s);
        }
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(dec(&enc(&all)).unwrap(), all);
    let rev: Vec<u8> = (0..=255).rev().collect();
    assert_eq!(dec(&enc(&rev)).unwrap(), rev);
}

#[test]
fn pseudo_random_strings_round_trip_and_match_reference() {
    let mut seed = 0x1234_5678u64;
    for _ in 0..2000 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let len = (seed >> 33) as usize % 70;
        let skew = (seed >> 20) & 1 == 0;
        let s: Vec<u8> = (0..len)
            .map(|i| {
                let x = (seed >> (i % 50)) as u8 ^ (i as u8).wrapping_mul(31);
                if skew { b'a' + x % 26 } else { x }
            })
            .collect();
        let e = enc(&s);
        assert_eq!(dec(&e).unwrap(), s);
        // Random bytes as Huffman input: must agree with the reference decoder, never panic.
        let raw: Vec<u8> = s.iter().map(|b| b.wrapping_mul(0x9d) ^ 0xA5).collect();
        assert_eq!(dec(&raw), reference_decode(&raw), "{raw:02x?}");
    }
}

#[test]
fn rfc_examples() {
    let cases: [(&[u8], &str); 6] = [
        (b"www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
        (b"no-cache", "a8eb10649cbf"),
        (b"custom-key", "25a849e95ba97d7f"),
        (b"custom-value", "25a849e95bb8e8b4bf"),
        (
            b"Mon, 21 Oct 2013 20:13:21 GMT",
            "d07abe941054d444a8200595040b8166e082a62d1bff",
        ),
        (
            b"https://www.example.com",
            "9d29ad171863c78f0b97c8e9ae82ae43d3",
        ),
    ];
    for (plain, hex) in cases {
        let coded: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(enc(plain), coded);
        assert_eq!(dec(&coded).unwrap(), plain);
    }
}

#[test]
fn empty_string() {
    assert_eq!(dec(&[]).unwrap(), b"");
    assert_eq!(enc(b""), b"");
}

#[test]
fn padding_rules() {
    // 'a' is 00011 (5 bits): padded with 3 ones.
    assert_eq!(dec(&[0b0001_1111]).unwrap(), b"a");
    // Padding not all ones.
    assert_eq!(dec(&[0b0001_1110]), Err(DecodeError::InvalidHuffman));
    assert_eq!(dec(&[0b0001_1011]), Err(DecodeError::InvalidHuffman));
    // A whole byte of ones is 8 bits of padding (longer than 7).
    assert_eq!(dec(&[0xFF]), Err(DecodeError::InvalidHuffman));
    assert_eq!(dec(&[0b0001_1111, 0xFF]), Err(DecodeError::InvalidHuffman));
    // Padding of exactly 7 ones after a 9-bit code ('!' = 11111110 00).
    assert_eq!(CODES[b'!' as usize], (0x3f8, 10));
    assert_eq!(dec(&[0xFE, 0x3F]).unwrap(), b"!");
    // Zero padding after "aa" (10 bits + 6 zero bits).
    assert_eq!(
        dec(&[0b0001_1000, 0b1100_0000]),
        Err(DecodeError::InvalidHuffman)
    );
    // In the fast path too: 8+ bytes of valid data, then bad padding.
    let mut e = enc(b"abcdefghijklmnopqrstuvwxyz");
    assert_eq!(dec(&e).unwrap(), b"abcdefghijklmnopqrstuvwxyz");
    let last = e.len() - 1;
    let pad_bits = e.len() * 8 - encoded_bits(b"abcdefghijklmnopqrstuvwxyz");
    assert!(pad_bits > 0);
    e[last] &= !1; // break the padding
    assert_eq!(dec(&e), Err(DecodeError::InvalidHuffman));
    // A truncated code mid-string (a prefix of a long code, more than 7 bits).
    assert_eq!(dec(&[0xFF, 0xFF, 0x00]), Err(DecodeError::InvalidHuffman));
}

fn encoded_bits(s: &[u8]) -> usize {
    s.iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum()
}

#[test]
fn eos_is_rejected() {
    // EOS (30 ones) followed by 2 bits of padding.
    assert_eq!(
        dec(&[0xFF, 0xFF, 0xFF, 0xFF]),
        Err(DecodeError::InvalidHuffman)
    );
    // EOS after a symbol, and in the middle of a long string (fast path).
    let mut bits: Vec<bool> = Vec::new();
    let push = |bits: &mut Vec<bool>, code: u32, len: u8| {
        for k in (0..len).rev() {
            bits.push(code >> k & 1 == 1);
        }
    };
    for &b in b"0123456789" {
        let (c, l) = CODES[usize::from(b)];
        push(&mut bits, c, l);
    }
    push(&mut bits, (1 << 30) - 1, 30);
    for &b in b"abcdefgh" {
        let (c, l) = CODES[usize::from(b)];
        push(&mut bits, c, l);
    }
    while bits.len() % 8 != 0 {
        bits.push(true);
    }
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |a, &b| a << 1 | u8::from(b)))
        .collect();
    assert_eq!(dec(&bytes), Err(DecodeError::InvalidHuffman));
    assert_eq!(reference_decode(&bytes), Err(DecodeError::InvalidHuffman));
}

#[test]
fn exhaustive_short_inputs_match_reference() {
    for a in 0..=255u8 {
        assert_eq!(dec(&[a]), reference_decode(&[a]), "{a:#x}");
        for b in 0..=255u8 {
            assert_eq!(dec(&[a, b]), reference_decode(&[a, b]), "{a:#x} {b:#x}");
        }
    }
}
