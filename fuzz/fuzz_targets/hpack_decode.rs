//! `hpack_decode`: our HPACK decoder on arbitrary header blocks, differentially against two
//! independent decoders (`loona-hpack`, `hpack-patched`).
//!
//! Input: 2 bytes (big-endian): the low 15 bits for the SETTINGS_HEADER_TABLE_SIZE we advertise
//! (capped at 16,384), the top bit to consult `hpack-patched` as well as `loona-hpack`; then blocks, each `[ctl: u8][len: u16 BE][len bytes]` (a short last block takes what is left). When
//! `ctl & 0x80` is set, we advertise a new table size of `(ctl & 0x7f) * 128` before that block. All
//! blocks go through the same decoders, so the dynamic table carries over from block to block.
//!
//! Asserts (see docs/fuzzing.md for the reasoning):
//! - no panic; after a successful block the dynamic table is no larger than the advertised size
//!   (unless a lower size is still waiting for the peer's acknowledgement);
//! - when ours and an in-step oracle both accept a block, the field lists are equal;
//! - when an in-step oracle accepts a block and ours rejects it, our error must be one where our
//!   decoder is deliberately stricter than RFC 7541 requires of every decoder:
//!   `SizeUpdateNotAtStart` (§4.2: a size update must come first in the block; the oracles accept it
//!   anywhere) and `MissingSizeUpdate` while a lowered size is not yet acknowledged by a non-empty
//!   block (§4.2: the encoder must signal the lowest size; the oracles never check). Any other error there (`Truncated`,
//!   `InvalidIndex`, `InvalidHuffman`, `IntegerOverflow`, and `SizeUpdateTooLarge` against loona, which
//!   enforces the same limit) rejects a valid block: a bug.
//! - when loona rejects a block for a reason RFC 7541 makes mandatory (index out of range, truncated
//!   integer or string, bad Huffman code or padding, size update above the advertised size), ours
//!   must reject it as well. loona's other rejections are its own strictness and are tolerated: a
//!   block ending in a size update (`SizeUpdateAtEnd`; RFC 7541 does not forbid it) and integers of
//!   more than 4 continuation bytes (`TooManyOctets`; ours allows up to 5, both are legal caps).
//!
//! An oracle that disagrees in a tolerated way is out of step from then on and is not consulted again
//! for this input; after our decoder fails, the input ends (its context is gone, as on a connection).
#![no_main]

use h2edge::h2::hpack::{DecodeError, Decoder};
use libfuzzer_sys::fuzz_target;
use loona_hpack::decoder::{DecoderError as LoonaError, IntegerDecodingError, StringDecodingError};

const MAX_TABLE: usize = 16_384;

type List = Vec<(Vec<u8>, Vec<u8>)>;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let head = u16::from_be_bytes([data[0], data[1]]);
    let mut advertised = ((head & 0x7fff) as usize).min(MAX_TABLE);
    let mut ours = Decoder::new(advertised);
    let mut loona = loona_hpack::Decoder::new();
    loona.set_max_allowed_table_size(advertised);
    // Both oracles start with a 4,096-byte table; ours starts with the advertised size (the peer's
    // encoder uses that size from its first block, RFC 7541 §4.2), so start them in step.
    loona.set_max_table_size(advertised);
    // hpack-patched has no notion of an advertised size: it follows every size update it sees.
    let mut patched = hpack_patched::Decoder::new();
    patched.set_max_table_size(advertised);
    // hpack-patched is slow (it builds a Huffman table per string): consulted only when asked for.
    let (mut loona_in_step, mut patched_in_step) = (true, head & 0x8000 != 0);

    // We lowered the advertised size and no block has acknowledged it yet.
    let mut lowered = false;
    let mut rest = &data[2..];
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = u16::from_be_bytes([rest[1], rest[2]]) as usize;
        rest = &rest[3..];
        let block = &rest[..len.min(rest.len())];
        rest = &rest[block.len()..];

        if ctl & 0x80 != 0 {
            let size = (ctl & 0x7f) as usize * 128;
            // A lower size must be acknowledged by the next non-empty block, even if raised again.
            lowered |= size < advertised;
            advertised = size;
            ours.set_max_table_size(size);
            loona.set_max_allowed_table_size(size);
        }

        let mut got: List = Vec::new();
        let our_result = ours.decode(block, |f| got.push((f.name.to_vec(), f.value.to_vec())));
        if our_result.is_ok() && !block.is_empty() {
            lowered = false;
        }
        if our_result.is_ok() && !lowered {
            assert!(
                ours.table_size() <= advertised,
                "table size {} above the advertised {advertised}",
                ours.table_size()
            );
        }

        if loona_in_step {
            let mut want: List = Vec::new();
            let loona_result =
                loona.decode_with_cb(block, |n, v| want.push((n.into_owned(), v.into_owned())));
            match (&our_result, loona_result) {
                (Ok(()), Ok(())) => {
                    assert_eq!(got, want, "loona-hpack decodes {block:02x?} differently")
                }
                (Err(e), Ok(())) => check_tolerated(*e, lowered, true, block),
                (Ok(()), Err(le)) => {
                    assert!(
                        !rfc_mandates_failure(le),
                        "ours accepted {block:02x?}, which loona-hpack rejects with {le:?} as RFC 7541 requires (decoded {got:?})"
                    );
                    loona_in_step = false;
                }
                (Err(_), Err(_)) => {}
            }
        }
        if patched_in_step {
            let patched_result = patched.decode(block);
            match (&our_result, patched_result) {
                (Ok(()), Ok(want)) => assert_eq!(
                    accept_charset(got.clone()),
                    accept_charset(want),
                    "hpack-patched decodes {block:02x?} differently"
                ),
                (Err(e), Ok(_)) => check_tolerated(*e, lowered, false, block),
                (Ok(()), Err(_)) => patched_in_step = false,
                (Err(_), Err(_)) => {}
            }
        }
        if our_result.is_err() {
            return;
        }
    }
});

/// hpack-patched (like the `hpack` crate it comes from) has `accept-` for static entry 15, which
/// RFC 7541 Appendix A names `accept-charset`: compare with that name spelled one way on both sides
/// (loona-hpack has it right and checks the entry exactly).
fn accept_charset(mut list: List) -> List {
    for (name, _) in &mut list {
        if name == b"accept-" {
            *name = b"accept-charset".to_vec();
        }
    }
    list
}

/// Ours rejected a block that an in-step oracle accepted: fine only where ours is deliberately stricter.
fn check_tolerated(e: DecodeError, lowered: bool, oracle_checks_max: bool, block: &[u8]) {
    let tolerated = match e {
        DecodeError::SizeUpdateNotAtStart => true,
        DecodeError::MissingSizeUpdate => lowered,
        // hpack-patched accepts any size; loona enforces the same maximum as ours.
        DecodeError::SizeUpdateTooLarge => !oracle_checks_max,
        DecodeError::Truncated
        | DecodeError::IntegerOverflow
        | DecodeError::InvalidIndex
        | DecodeError::InvalidHuffman => false,
    };
    assert!(
        tolerated,
        "ours rejected {block:02x?} with {e:?} (lowered before it: {lowered}), an oracle decoded it"
    );
}

/// Whether loona's error is one RFC 7541 requires of every decoder.
fn rfc_mandates_failure(e: LoonaError) -> bool {
    match e {
        LoonaError::HeaderIndexOutOfBounds | LoonaError::InvalidMaxDynamicSize => true,
        LoonaError::StringDecodingError(StringDecodingError::NotEnoughOctets) => true,
        LoonaError::StringDecodingError(StringDecodingError::HuffmanDecoderError(_)) => true,
        LoonaError::IntegerDecodingError(IntegerDecodingError::NotEnoughOctets) => true,
        // Its own limits: 4 continuation bytes, no size update as the last representation.
        LoonaError::IntegerDecodingError(_) | LoonaError::SizeUpdateAtEnd => false,
        _ => false,
    }
}
