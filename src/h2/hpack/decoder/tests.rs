//! Decoder tests: RFC 7541 Appendix C, size updates, errors, and robustness.

use super::*;
use crate::h2::hpack::DEFAULT_TABLE_SIZE;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

type Owned = (Vec<u8>, Vec<u8>, bool);

fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Vec<Owned>, DecodeError> {
    let mut out = Vec::new();
    d.decode(block, |f| {
        out.push((f.name.to_vec(), f.value.to_vec(), f.never_index))
    })?;
    Ok(out)
}

fn fields(list: &[(&str, &str)]) -> Vec<Owned> {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec(), false))
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    (0..d.table_len())
        .map(|i| {
            let (n, v) = d.dynamic_entry(62 + i).unwrap();
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn strs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn c2_literal_representations() {
    // C.2.1: literal with indexing, new name.
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let got = decode_all(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    );
    assert_eq!(got.unwrap(), fields(&[("custom-key", "custom-header")]));
    assert_eq!(table(&d), strs(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);
    // C.2.2: literal without indexing, indexed name.
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let got = decode_all(&mut d, &hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert_eq!(got.unwrap(), fields(&[(":path", "/sample/path")]));
    assert_eq!(d.table_size(), 0);
    // C.2.3: never indexed, new name.
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let got = decode_all(&mut d, &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
    assert_eq!(
        got.unwrap(),
        vec![(b"password".to_vec(), b"secret".to_vec(), true)]
    );
    assert_eq!(d.table_size(), 0);
    // C.2.4: indexed.
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    assert_eq!(
        decode_all(&mut d, &hex("82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(d.table_size(), 0);
}

/// The three request blocks of C.3 (plain) or C.4 (Huffman): same fields and tables.
fn check_requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let got = decode_all(&mut d, &hex(blocks[0])).unwrap();
    assert_eq!(
        got,
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(table(&d), strs(&[(":authority", "www.example.com")]));
    assert_eq!(d.table_size(), 57);

    let got = decode_all(&mut d, &hex(blocks[1])).unwrap();
    assert_eq!(
        got,
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ])
    );
    assert_eq!(
        table(&d),
        strs(&[
            ("cache-control", "no-cache"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(d.table_size(), 110);

    let got = decode_all(&mut d, &hex(blocks[2])).unwrap();
    assert_eq!(
        got,
        fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!(
        table(&d),
        strs(&[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ])
    );
    assert_eq!(d.table_size(), 164);
}

pub(crate) const C3: [&str; 3] = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];

pub(crate) const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

pub(crate) const C5: [&str; 3] = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a \
     3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 \
     677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 \
     553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
];

pub(crate) const C6: [&str; 3] = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e \
     919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 \
     821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed \
     4ee5 b106 3d50 07",
];

pub(crate) const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn check_responses(blocks: [&str; 3]) {
    let mut d = Decoder::new(256);
    let got = decode_all(&mut d, &hex(blocks[0])).unwrap();
    let r1 = [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    assert_eq!(got, fields(&r1));
    let mut t1 = r1;
    t1.reverse();
    assert_eq!(table(&d), strs(&t1));
    assert_eq!(d.table_size(), 222);

    let got = decode_all(&mut d, &hex(blocks[1])).unwrap();
    let mut r2 = r1;
    r2[0] = (":status", "307");
    assert_eq!(got, fields(&r2));
    assert_eq!(
        table(&d),
        strs(&[
            (":status", "307"),
            ("location", "https://www.example.com"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("cache-control", "private"),
        ])
    );
    assert_eq!(d.table_size(), 222);

    let got = decode_all(&mut d, &hex(blocks[2])).unwrap();
    assert_eq!(
        got,
        fields(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ])
    );
    assert_eq!(
        table(&d),
        strs(&[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ])
    );
    assert_eq!(d.table_size(), 215);
}

#[test]
fn c3_requests_without_huffman() {
    check_requests(C3);
}

#[test]
fn c4_requests_with_huffman() {
    check_requests(C4);
}

#[test]
fn c5_responses_without_huffman() {
    check_responses(C5);
}

#[test]
fn c6_responses_with_huffman() {
    check_responses(C6);
}

#[test]
fn every_prefix_of_a_block_is_ok_or_truncated() {
    for blocks in [C3, C4, C5, C6] {
        let size = if blocks == C5 || blocks == C6 {
            256
        } else {
            4096
        };
        for k in 0..3 {
            let block = hex(blocks[k]);
            for cut in 0..block.len() {
                let mut d = Decoder::new(size);
                for prev in &blocks[..k] {
                    decode_all(&mut d, &hex(prev)).unwrap();
                }
                match decode_all(&mut d, &block[..cut]) {
                    Ok(_) | Err(DecodeError::Truncated) => {}
                    Err(e) => panic!("cut {cut} of {k}: {e:?}"),
                }
            }
        }
    }
    // Truncation inside each kind of representation.
    for block in [
        "ff", "3f", "7f", "0f", "1f", "40", "4001", "400161", "4081", "00", "0001ff",
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(
            decode_all(&mut d, &hex(block)),
            Err(DecodeError::Truncated),
            "{block}"
        );
    }
}

#[test]
fn invalid_indices() {
    for block in ["80", "be", "ff00", "7e00", "0f2f00", "1f2f00", "4000"] {
        let mut d = Decoder::new(4096);
        let r = decode_all(&mut d, &hex(block));
        if block == "4000" {
            // Literal name of length 0 then truncated value.
            assert_eq!(r, Err(DecodeError::Truncated));
        } else {
            assert_eq!(r, Err(DecodeError::InvalidIndex), "{block}");
        }
    }
    // Index 62 becomes valid once the table has an entry; 63 does not.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    assert_eq!(
        decode_all(&mut d, &hex("be")).unwrap(),
        fields(&[("a", "b")])
    );
    assert_eq!(
        decode_all(&mut d, &hex("bf")),
        Err(DecodeError::InvalidIndex)
    );
    // Largest representable index.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("ff80feffff0f")),
        Err(DecodeError::InvalidIndex)
    );
    assert_eq!(
        decode_all(&mut d, &hex("ff81ffffff0f")),
        Err(DecodeError::IntegerOverflow)
    );
}

#[test]
fn literal_forms_and_never_index() {
    let mut d = Decoder::new(4096);
    // Without indexing, static name (32, cookie); never indexed, static name; literal names.
    let block = hex("0f11 0362 6172 1f11 0362 617a 0001 6101 62 1001 6301 64");
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        vec![
            (b"cookie".to_vec(), b"bar".to_vec(), false),
            (b"cookie".to_vec(), b"baz".to_vec(), true),
            (b"a".to_vec(), b"b".to_vec(), false),
            (b"c".to_vec(), b"d".to_vec(), true),
        ]
    );
    assert_eq!(d.table_len(), 0);
    // Dynamic names in all literal forms.
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    let got = decode_all(&mut d, &hex("0f2f 0178 1f2f 0179 7e01 7a")).unwrap();
    assert_eq!(
        got,
        vec![
            (b"a".to_vec(), b"x".to_vec(), false),
            (b"a".to_vec(), b"y".to_vec(), true),
            (b"a".to_vec(), b"z".to_vec(), false),
        ]
    );
    assert_eq!(table(&d), strs(&[("a", "z"), ("a", "b")]));
}

#[test]
fn indexed_name_evicted_by_its_own_insertion() {
    // Table of 40: one entry "aaaa: b" (37). A literal with indexing naming it, value "c", evicts it
    // while being inserted; the name must survive.
    let mut d = Decoder::new(40);
    decode_all(&mut d, &hex("4004 6161 6161 0162")).unwrap();
    assert_eq!(d.table_size(), 37);
    assert_eq!(
        decode_all(&mut d, &hex("7e01 63")).unwrap(),
        fields(&[("aaaa", "c")])
    );
    assert_eq!(table(&d), strs(&[("aaaa", "c")]));
    // Same with a Huffman value and a name that gets evicted and compacted over.
    for _ in 0..50 {
        assert_eq!(
            decode_all(&mut d, &hex("7e81 1f")).unwrap(),
            fields(&[("aaaa", "a")])
        );
    }
    assert_eq!(table(&d), strs(&[("aaaa", "a")]));
}

#[test]
fn entry_larger_than_table_empties_it() {
    let mut d = Decoder::new(100);
    decode_all(&mut d, &hex("4001 6101 62 4001 6301 64")).unwrap();
    assert_eq!(d.table_len(), 2);
    let mut block = hex("4001 78 40");
    block.extend_from_slice(&[b'v'; 64]); // 32 + 1 + 64 = 97 <= 100: fits, evicts both
    decode_all(&mut d, &block).unwrap();
    assert_eq!(d.table_len(), 1);
    assert_eq!(d.table_size(), 97);
    let mut block = hex("4001 78 44");
    block.extend_from_slice(&[b'v'; 68]); // 101 > 100
    let got = decode_all(&mut d, &block).unwrap();
    assert_eq!(got[0].1.len(), 68);
    assert_eq!(d.table_len(), 0);
    assert_eq!(d.table_size(), 0);
}

#[test]
fn size_update_rules() {
    // Not at the start.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("8220")),
        Err(DecodeError::SizeUpdateNotAtStart)
    );
    // Above our limit.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("3fe21f")),
        Err(DecodeError::SizeUpdateTooLarge)
    );
    assert_eq!(
        decode_all(&mut Decoder::new(4096), &hex("3fe11f 82"))
            .unwrap()
            .len(),
        1
    );
    // Several at the start; the last one wins.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    assert_eq!(
        decode_all(&mut d, &hex("20 3fe11f 82")).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(d.table_len(), 0);
    assert_eq!(d.table_capacity(), 4096);
    // Shrinking evicts.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("4001 6101 62 4001 6301 64")).unwrap();
    decode_all(&mut d, &hex("3f03")).unwrap(); // 34
    assert_eq!(table(&d), strs(&[("c", "d")]));
    assert_eq!(d.table_capacity(), 34);
    // Raising our limit needs no update, and allows a larger one.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(8192);
    decode_all(&mut d, &hex("82")).unwrap();
    decode_all(&mut d, &hex("3fe13f 82")).unwrap();
    assert_eq!(d.table_capacity(), 8192);
}

#[test]
fn lowered_limit_requires_update() {
    // Missing entirely.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(
        decode_all(&mut d, &hex("82")),
        Err(DecodeError::MissingSizeUpdate)
    );
    // An update, but not low enough.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(
        decode_all(&mut d, &hex("3fe10f 82")),
        Err(DecodeError::SizeUpdateTooLarge)
    );
    // Just enough.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    d.set_max_table_size(1024);
    assert_eq!(
        decode_all(&mut d, &hex("3fe107 be")).unwrap(),
        fields(&[("a", "b")])
    );
    assert_eq!(decode_all(&mut d, &hex("82")).unwrap().len(), 1);
    // Only updates, none low enough, within the new limit: lowered 4096 -> 100 -> 4096.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    d.set_max_table_size(4096);
    assert_eq!(
        decode_all(&mut d, &hex("3fe11f")),
        Err(DecodeError::MissingSizeUpdate)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    d.set_max_table_size(4096);
    assert_eq!(
        decode_all(&mut d, &hex("3fe11f 82")),
        Err(DecodeError::MissingSizeUpdate)
    );
    // The smallest first, then back up (RFC 7541 §4.2).
    let mut d = Decoder::new(4096);
    d.set_max_table_size(100);
    d.set_max_table_size(4096);
    decode_all(&mut d, &hex("3f45 3fe11f 82")).unwrap();
    assert_eq!(d.table_capacity(), 4096);
    // An empty block leaves the requirement in place.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    decode_all(&mut d, &[]).unwrap();
    assert_eq!(
        decode_all(&mut d, &hex("82")),
        Err(DecodeError::MissingSizeUpdate)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(0);
    decode_all(&mut d, &hex("20")).unwrap();
    decode_all(&mut d, &hex("82")).unwrap();
    // Lowering to a value still above the table's current size limit needs no update.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("3f41")).unwrap(); // 96
    d.set_max_table_size(2048);
    decode_all(&mut d, &hex("82")).unwrap();
}

#[test]
fn huffman_errors_in_blocks() {
    let mut d = Decoder::new(4096);
    // Value "a" with zero padding.
    assert_eq!(
        decode_all(&mut d, &hex("0001 6181 18")),
        Err(DecodeError::InvalidHuffman)
    );
    // EOS.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("0084 ffffffff 0161")),
        Err(DecodeError::InvalidHuffman)
    );
    // Padding of 8 bits.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("0082 1fff 0161")),
        Err(DecodeError::InvalidHuffman)
    );
    // Empty Huffman string is fine.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("0080 0161")).unwrap(),
        fields(&[("", "a")])
    );
}

#[test]
fn scratch_and_table_buffers_are_reused() {
    let mut d = Decoder::new(4096);
    let blocks: Vec<Vec<u8>> = C4.iter().map(|b| hex(b)).collect();
    for b in &blocks {
        decode_all(&mut d, b).unwrap();
    }
    // A block of Huffman literals with indexing: warm everything up.
    let mut block = Vec::new();
    block.extend_from_slice(&hex("4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
    block.extend_from_slice(&hex("0088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
    for _ in 0..500 {
        d.decode(&block, |_| {}).unwrap();
    }
    let ptrs = (
        d.name_buf.as_ptr(),
        d.value_buf.as_ptr(),
        d.name_buf.capacity(),
        d.value_buf.capacity(),
    );
    let buffer = d.table.buffer_len();
    for _ in 0..1000 {
        d.decode(&block, |_| {}).unwrap();
        for b in &blocks {
            d.decode(b, |_| {}).unwrap();
        }
    }
    assert_eq!(
        ptrs,
        (
            d.name_buf.as_ptr(),
            d.value_buf.as_ptr(),
            d.name_buf.capacity(),
            d.value_buf.capacity()
        )
    );
    // The table's byte buffer stays within twice the capacity.
    assert!(buffer <= d.table.buffer_len() && d.table.buffer_len() <= 2 * 4096);
}

/// A small deterministic generator for robustness tests.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = C3
        .iter()
        .chain(&C4)
        .chain(&C5)
        .chain(&C6)
        .map(|b| hex(b))
        .collect();
    let mut errors = 0;
    for round in 0..20_000 {
        let mut block = if round % 2 == 0 {
            seeds[rng.below(seeds.len())].clone()
        } else {
            (0..rng.below(40)).map(|_| rng.next() as u8).collect()
        };
        for _ in 0..rng.below(4) {
            if block.is_empty() {
                break;
            }
            let i = rng.below(block.len());
            match rng.below(3) {
                0 => block[i] = rng.next() as u8,
                1 => block[i] ^= 1 << rng.below(8),
                _ => block.truncate(i),
            }
        }
        let mut d = Decoder::new(rng.below(300));
        if rng.below(4) == 0 {
            d.set_max_table_size(rng.below(300));
        }
        let mut total = 0usize;
        for _ in 0..2 {
            match d.decode(&block, |f| total += f.name.len() + f.value.len()) {
                Ok(()) => assert!(d.table_size() <= d.table_capacity()),
                Err(_) => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    assert!(errors > 0);
}
