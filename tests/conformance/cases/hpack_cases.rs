//! h2spec "hpack": decoding errors the server must detect (RFC 7541 §2.3.3, §4.2, §5.2, §6.1,
//! §6.3). Every decoding error is a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3).

use super::{Case, case};
use crate::hpack;
use crate::peer::*;

const K: &str = "hpack";

/// GET / with `rep` appended to the field block; the server must fail the connection.
pub fn bad_suffix(p: &mut Peer, rep: &[u8]) -> R {
    p.handshake()?;
    let mut block = p.request_block("GET", "/", &[]);
    block.extend_from_slice(rep);
    p.headers(1, END_STREAM | END_HEADERS, &block);
    p.expect_connection_error(&[COMPRESSION_ERROR])
}

/// A literal without indexing, new name `x-test`, whose value is the raw Huffman string `huff`
/// (with H bit and length prefix added here).
fn huffman_value(huff: &[u8]) -> Vec<u8> {
    let mut rep = Vec::new();
    hpack::int(&mut rep, 0x00, 4, 0);
    hpack::string(&mut rep, b"x-test", true);
    hpack::int(&mut rep, 0x80, 7, huff.len() as u64);
    rep.extend_from_slice(huff);
    rep
}

fn symbols(s: &[u8]) -> Vec<u16> {
    s.iter().map(|&b| u16::from(b)).collect()
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- 2.3.3: Index Address Space. "Indices strictly greater than the sum of the lengths
        // of both tables MUST be treated as a decoding error."
        case(
            K,
            "2.3.3",
            1,
            "Sends a indexed header field representation with invalid index",
            |p| {
                // Our encoder never inserts into the dynamic table: it is empty, index 126 is out.
                let mut rep = Vec::new();
                hpack::indexed(&mut rep, 126);
                bad_suffix(p, &rep)
            },
        ),
        case(
            K,
            "2.3.3",
            2,
            "Sends a literal header field representation with invalid index",
            |p| {
                // Name index 62 with an empty dynamic table.
                let mut rep = Vec::new();
                hpack::literal_indexed_name(
                    &mut rep,
                    hpack::Lit::WithoutIndexing,
                    62,
                    b"test",
                    false,
                );
                bad_suffix(p, &rep)
            },
        ),
        // --- 4.2: Maximum Table Size. "This dynamic table size update MUST occur at the
        // beginning of the first header block following the change to the dynamic table size."
        case(
            K,
            "4.2",
            1,
            "Sends a dynamic table size update at the end of header block",
            |p| {
                let mut rep = Vec::new();
                hpack::size_update(&mut rep, 1);
                bad_suffix(p, &rep)
            },
        ),
        // --- 5.2: String Literal Representation. "A padding strictly longer than 7 bits MUST be
        // treated as a decoding error. A padding not corresponding to the most significant bits
        // of the code for the EOS symbol MUST be treated as a decoding error. A Huffman-encoded
        // string literal containing the EOS symbol MUST be treated as a decoding error."
        case(
            K,
            "5.2",
            1,
            "Sends a Huffman-encoded string literal representation with padding longer than 7 bits",
            |p| {
                // "test" is 20 bits: 4 bits of padding plus a whole extra octet of 1s.
                let huff = hpack::huffman_symbols(&symbols(b"test"), true, 8);
                bad_suffix(p, &huffman_value(&huff))
            },
        ),
        case(
            K,
            "5.2",
            2,
            "Sends a Huffman-encoded string literal representation padded by zero",
            |p| {
                let huff = hpack::huffman_symbols(&symbols(b"test"), false, 0);
                bad_suffix(p, &huffman_value(&huff))
            },
        ),
        case(
            K,
            "5.2",
            3,
            "Sends a Huffman-encoded string literal representation containing the EOS symbol",
            |p| {
                let mut syms = vec![256u16];
                syms.extend(symbols(b"test"));
                let huff = hpack::huffman_symbols(&syms, true, 0);
                bad_suffix(p, &huffman_value(&huff))
            },
        ),
        // --- 6.1: Indexed Header Field Representation. "The index value of 0 is not used. It
        // MUST be treated as a decoding error if found in an indexed header field
        // representation."
        case(
            K,
            "6.1",
            1,
            "Sends a indexed header field representation with index 0",
            |p| bad_suffix(p, &[0x80]),
        ),
        // --- 6.3: Dynamic Table Size Update. "The new maximum size MUST be lower than or equal
        // to the limit determined by the protocol using HPACK. A value that exceeds this limit
        // MUST be treated as a decoding error." (the server's SETTINGS_HEADER_TABLE_SIZE)
        case(
            K,
            "6.3",
            1,
            "Sends a dynamic table size update larger than the value of SETTINGS_HEADER_TABLE_SIZE",
            |p| {
                p.handshake()?;
                let limit = p.server_setting(HEADER_TABLE_SIZE).unwrap_or(4096);
                let mut block = Vec::new();
                hpack::size_update(&mut block, u64::from(limit) + 1);
                block.extend(p.request_block("GET", "/", &[]));
                p.headers(1, END_STREAM | END_HEADERS, &block);
                p.expect_connection_error(&[COMPRESSION_ERROR])
            },
        ),
    ]
}
