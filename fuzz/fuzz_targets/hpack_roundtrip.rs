//! `hpack_roundtrip`: arbitrary header lists through our Encoder and back through our Decoder.
//!
//! Input: 2 bytes (big-endian): the low 13 bits for the table size both sides start with, and when
//! the top 3 bits are all set, every block is cross-checked with `loona-hpack`; then operations:
//! - `op % 8 == 7`: a table size change to the next 2 bytes (capped): the decoder advertises it
//!   (`Decoder::set_max_table_size`) and the encoder learns it (`Encoder::set_max_table_size`), as
//!   when our SETTINGS reach the peer;
//! - otherwise a header block of `op >> 3` fields, each `[k]` + name + value: `k & 1` never-index,
//!   `k & 2` literal name (`[len][bytes]`, else `[i]` picks from a pool of common names), `k & 4`
//!   literal value (same, with a pool of common values including one larger than the table).
//!
//! Asserts: every block decodes, to the same list (names, values and never-index flags, which the
//! encoder also sets on its own for sensitive fields: authorization, short cookies); the encoder
//! only appends to the buffer; the decoder's table never exceeds the size in force; and, when asked
//! for, the same bytes decode to the same list with `loona-hpack`, an independent decoder kept in step.
#![no_main]

use h2edge::h2::hpack::{Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

const MAX_TABLE: usize = 16_384;

const NAMES: &[&[u8]] = &[
    b":method",
    b":scheme",
    b":path",
    b":authority",
    b":status",
    b"content-type",
    b"te",
    b"grpc-timeout",
    b"grpc-encoding",
    b"grpc-accept-encoding",
    b"user-agent",
    b"grpc-status",
    b"grpc-message",
    b"cookie",
    b"authorization",
    b"x-request-id",
    b"accept-encoding",
    b"content-length",
    b"custom-key",
    b"",
];

const BIG: [u8; 4100] = [b'v'; 4100];

const VALUES: &[&[u8]] = &[
    b"POST",
    b"GET",
    b"/",
    b"/product.ProductService/GetProduct",
    b"https",
    b"product.example.com",
    b"200",
    b"application/grpc",
    b"trailers",
    b"1S",
    b"identity,deflate,gzip",
    b"grpc-go/1.60.0",
    b"0",
    b"",
    b"custom-value",
    b"\x00\xff\x7f\x80 \t\r\n",
    &BIG,
];

/// The fields our encoder always sends as never-indexed literals (its documented policy).
fn sensitive(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" => true,
        b"cookie" => value.len() < 20,
        _ => false,
    }
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn string(&mut self, literal: bool, pool: &[&'static [u8]]) -> Option<&'a [u8]> {
        let b = self.u8()?;
        Some(if literal {
            self.bytes(b as usize)
        } else {
            pool[b as usize % pool.len()]
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader { data };
    let Some(initial) = r.u16() else { return };
    let mut size = (initial & 0x1fff) as usize;
    // loona-hpack is slow (a Huffman table built per string): its cross-check runs on the inputs
    // whose top 3 bits are set.
    let cross_check = initial >> 13 == 7;
    let mut enc = Encoder::new(size);
    let mut dec = Decoder::new(size);
    let mut oracle = loona_hpack::Decoder::new();
    oracle.set_max_allowed_table_size(size);
    oracle.set_max_table_size(size);

    let mut budget: usize = 64 << 10;
    let mut fields: Vec<(&[u8], &[u8], bool)> = Vec::new();
    let mut out = Vec::new();
    let mut got: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
    while let Some(op) = r.u8() {
        if op % 8 == 7 {
            let Some(s) = r.u16() else { return };
            size = (s as usize).min(MAX_TABLE);
            enc.set_max_table_size(size);
            dec.set_max_table_size(size);
            oracle.set_max_allowed_table_size(size);
            continue;
        }
        fields.clear();
        for _ in 0..op >> 3 {
            let Some(k) = r.u8() else { break };
            let Some(name) = r.string(k & 2 != 0, NAMES) else {
                break;
            };
            let Some(value) = r.string(k & 4 != 0, VALUES) else {
                break;
            };
            fields.push((name, value, k & 1 != 0));
            budget = budget.saturating_sub(name.len() + value.len());
        }
        if budget == 0 {
            // Enough work for one input (the pooled 4 KiB value could make it megabytes).
            return;
        }

        const MARK: &[u8] = b"\xde\xad";
        out.clear();
        out.extend_from_slice(MARK);
        enc.encode(fields.iter().copied(), &mut out);
        assert_eq!(&out[..MARK.len()], MARK, "the encoder overwrote the buffer");
        let block = &out[MARK.len()..];

        got.clear();
        if let Err(e) = dec.decode(block, |f| {
            got.push((f.name.to_vec(), f.value.to_vec(), f.never_index))
        }) {
            panic!("our decoder rejects our encoder's block {block:02x?} for {fields:?}: {e:?}");
        }
        assert_eq!(got.len(), fields.len(), "{fields:?} -> {block:02x?}");
        for (g, f) in got.iter().zip(&fields) {
            assert_eq!(
                (&g.0[..], &g.1[..]),
                (f.0, f.1),
                "{fields:?} -> {block:02x?}"
            );
            // The encoder never indexes sensitive fields, whatever the caller says (RFC 7541 §7.1.3).
            assert_eq!(
                g.2,
                f.2 || sensitive(f.0, f.1),
                "never-index flag lost or invented: {fields:?} -> {block:02x?}"
            );
        }
        assert!(
            dec.table_size() <= size,
            "table {} > {size}",
            dec.table_size()
        );

        if !cross_check {
            continue;
        }
        let mut want = Vec::new();
        match oracle.decode_with_cb(block, |n, v| want.push((n.into_owned(), v.into_owned()))) {
            Ok(()) => {}
            // loona rejects a block that is only a size update (RFC 7541 allows it); it has applied
            // the update by then, so it stays in step.
            Err(loona_hpack::decoder::DecoderError::SizeUpdateAtEnd) if fields.is_empty() => {}
            Err(e) => panic!("loona-hpack rejects our block {block:02x?} for {fields:?}: {e:?}"),
        }
        let got2: Vec<_> = got.iter().map(|g| (g.0.clone(), g.1.clone())).collect();
        assert_eq!(
            got2, want,
            "loona-hpack decodes our block {block:02x?} differently"
        );
    }
});
