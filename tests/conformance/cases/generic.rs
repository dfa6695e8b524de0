//! h2spec "generic": basic acceptance of every frame type, message exchanges and HPACK
//! representations (RFC 9113 §3.4, §5.1, §6; §8.1; RFC 7541 §6).

use super::{Case, case};
use crate::hpack::{self, Lit};
use crate::peer::*;

const G: &str = "generic";

/// A GET / with `rep` appended to its field block; the server must answer it.
fn with_representation(p: &mut Peer, rep: &[u8]) -> R {
    p.handshake()?;
    let mut block = p.request_block("GET", "/", &[]);
    block.extend_from_slice(rep);
    p.headers(1, END_STREAM | END_HEADERS, &block);
    p.expect_ok_response(1)
}

/// A GET / whose field block starts with `prefix` (dynamic table size updates).
fn with_prefix(p: &mut Peer, prefix: &[u8]) -> R {
    p.handshake()?;
    let mut block = prefix.to_vec();
    block.extend_from_slice(&p.request_block("GET", "/", &[]));
    p.headers(1, END_STREAM | END_HEADERS, &block);
    p.expect_ok_response(1)
}

fn lit_name(kind: Lit, huff: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // user-agent is static table entry 58.
    hpack::literal_indexed_name(&mut out, kind, 58, b"h2spec", huff);
    out
}

fn lit_new(kind: Lit, huff: bool) -> Vec<u8> {
    let mut out = Vec::new();
    hpack::literal_new_name(&mut out, kind, b"x-test", b"h2spec", huff);
    out
}

/// A request kept half-closed (remote) on the server: our INITIAL_WINDOW_SIZE is 0, so the
/// server cannot finish its response.
fn half_closed_remote(p: &mut Peer) -> R {
    p.handshake()?;
    p.settings(&[(INITIAL_WINDOW_SIZE, 0)]);
    p.expect_settings_ack()?;
    p.get(1);
    p.expect_ok_response(1)
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- 1: Starting HTTP/2 (RFC 9113 §3.4)
        case(G, "1", 1, "Sends a client connection preface", |p| {
            // "the server connection preface ... MUST be the first frame the server sends"
            p.preface();
            p.settings(&[(INITIAL_WINDOW_SIZE, 65535)]);
            match p.next_event() {
                Event::Frame(f) if f.ty == SETTINGS && !f.has(ACK) => Ok(()),
                Event::Frame(f) => Err(p.fail(format!(
                    "expected SETTINGS (server preface) as the first frame, got {}",
                    f.describe()
                ))),
                Event::Closed => Err(p.fail("expected SETTINGS, got connection close")),
                Event::Timeout => Err(p.fail("expected SETTINGS, got nothing (timeout)")),
            }
        }),
        // --- 2: Streams and Multiplexing (RFC 9113 §5.1)
        case(G, "2", 1, "Sends a PRIORITY frame on idle stream", |p| {
            p.handshake()?;
            p.priority(1, 0, false, 255);
            p.ping_check()
        }),
        case(
            G,
            "2",
            2,
            "Sends a WINDOW_UPDATE frame on half-closed (remote) stream",
            |p| {
                half_closed_remote(p)?;
                p.window_update(1, 1);
                p.expect_data(1).map(|_| ())
            },
        ),
        case(
            G,
            "2",
            3,
            "Sends a PRIORITY frame on half-closed (remote) stream",
            |p| {
                half_closed_remote(p)?;
                p.priority(1, 0, false, 255);
                p.window_update(1, 1);
                p.expect_data(1).map(|_| ())
            },
        ),
        case(
            G,
            "2",
            4,
            "Sends a RST_STREAM frame on half-closed (remote) stream",
            |p| {
                // §5.1: RST_STREAM is allowed on a half-closed (remote) stream: no error, the
                // connection stays up (stricter than h2spec, which also accepts a close).
                half_closed_remote(p)?;
                p.rst_stream(1, CANCEL);
                p.ping_check()
            },
        ),
        case(G, "2", 5, "Sends a PRIORITY frame on closed stream", |p| {
            p.handshake()?;
            p.get(1);
            p.expect_stream_end(1)?;
            p.priority(1, 0, false, 255);
            p.ping_check()
        }),
        // --- 3.1: DATA
        case(G, "3.1", 1, "Sends a DATA frame", |p| {
            p.handshake()?;
            p.post(1);
            p.data(1, END_STREAM, b"test");
            p.expect_ok_response(1)
        }),
        case(G, "3.1", 2, "Sends multiple DATA frames", |p| {
            p.handshake()?;
            p.post(1);
            p.data(1, 0, b"test");
            p.data(1, END_STREAM, b"test");
            p.expect_ok_response(1)
        }),
        case(G, "3.1", 3, "Sends a DATA frame with padding", |p| {
            p.handshake()?;
            p.post(1);
            p.data_padded(1, END_STREAM, b"test", 6);
            p.expect_ok_response(1)
        }),
        // --- 3.2: HEADERS
        case(G, "3.2", 1, "Sends a HEADERS frame", |p| {
            p.handshake()?;
            p.get(1);
            p.expect_ok_response(1)
        }),
        case(G, "3.2", 2, "Sends a HEADERS frame with padding", |p| {
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.headers_padded(1, END_STREAM | END_HEADERS, &block, 8);
            p.expect_ok_response(1)
        }),
        case(G, "3.2", 3, "Sends a HEADERS frame with priority", |p| {
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.headers_priority(1, END_STREAM | END_HEADERS, (0, false, 255), &block);
            p.expect_ok_response(1)
        }),
        // --- 3.3: PRIORITY (deprecated by RFC 9113 §5.3.2 but still parsed)
        case(G, "3.3", 1, "Sends a PRIORITY frame with priority 1", |p| {
            p.handshake()?;
            p.priority(1, 0, false, 0);
            p.get(1);
            p.expect_ok_response(1)
        }),
        case(
            G,
            "3.3",
            2,
            "Sends a PRIORITY frame with priority 256",
            |p| {
                p.handshake()?;
                p.priority(1, 0, false, 255);
                p.get(1);
                p.expect_ok_response(1)
            },
        ),
        case(
            G,
            "3.3",
            3,
            "Sends a PRIORITY frame with stream dependency",
            |p| {
                p.handshake()?;
                p.priority(3, 1, false, 0);
                p.get(1);
                p.expect_ok_response(1)
            },
        ),
        case(G, "3.3", 4, "Sends a PRIORITY frame with exclusive", |p| {
            p.handshake()?;
            p.priority(1, 0, true, 0);
            p.get(1);
            p.expect_ok_response(1)
        }),
        case(
            G,
            "3.3",
            5,
            "Sends a PRIORITY frame for an idle stream, then send a HEADER frame for a lower stream ID",
            |p| {
                // §6.3: "Sending or receiving a PRIORITY frame does not affect the state of any
                // stream": stream 3 stays idle, so stream 1 can still be opened.
                p.handshake()?;
                p.priority(3, 0, false, 255);
                p.get(1);
                p.expect_ok_response(1)
            },
        ),
        // --- 3.4: RST_STREAM
        case(G, "3.4", 1, "Sends a RST_STREAM frame", |p| {
            p.handshake()?;
            p.request(1, "GET", "/", END_HEADERS);
            p.rst_stream(1, CANCEL);
            p.ping_check()
        }),
        // --- 3.5: SETTINGS
        case(G, "3.5", 1, "Sends a SETTINGS frame", |p| {
            p.handshake()?;
            p.settings(&[
                (HEADER_TABLE_SIZE, 4096),
                (ENABLE_PUSH, 1),
                (MAX_CONCURRENT_STREAMS, 100),
                (INITIAL_WINDOW_SIZE, 65535),
                (MAX_FRAME_SIZE, 16384),
                (MAX_HEADER_LIST_SIZE, 100),
            ]);
            p.expect_settings_ack()
        }),
        // --- 3.7: PING
        case(G, "3.7", 1, "Sends a PING frame", |p| {
            p.handshake()?;
            let data = *b"h2spec\0\0";
            p.ping(data);
            p.expect_ping_ack(data)
        }),
        // --- 3.8: GOAWAY
        case(G, "3.8", 1, "Sends a GOAWAY frame", |p| {
            // With no stream open, the connection is over once the client said GOAWAY.
            p.handshake()?;
            p.goaway(0, NO_ERROR, b"h2spec");
            p.expect_close()
        }),
        // --- 3.9: WINDOW_UPDATE
        case(
            G,
            "3.9",
            1,
            "Sends a WINDOW_UPDATE frame with stream ID 0",
            |p| {
                p.handshake()?;
                p.window_update(0, 1);
                p.ping_check()
            },
        ),
        case(
            G,
            "3.9",
            2,
            "Sends a WINDOW_UPDATE frame with stream ID 1",
            |p| {
                p.handshake()?;
                p.get(1);
                p.window_update(1, 1);
                p.expect_ok_response(1)
            },
        ),
        // --- 3.10: CONTINUATION
        case(G, "3.10", 1, "Sends a CONTINUATION frame", |p| {
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.headers(1, END_STREAM, &block[..5]);
            p.continuation(1, END_HEADERS, &block[5..]);
            p.expect_ok_response(1)
        }),
        case(G, "3.10", 2, "Sends multiple CONTINUATION frames", |p| {
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.headers(1, END_STREAM, &block[..5]);
            p.continuation(1, 0, &block[5..10]);
            p.continuation(1, END_HEADERS, &block[10..]);
            p.expect_ok_response(1)
        }),
        // --- 4: HTTP Message Exchanges (RFC 9113 §8.1)
        case(G, "4", 1, "Sends a GET request", |p| {
            p.handshake()?;
            p.get(1);
            p.expect_ok_response(1)
        }),
        case(G, "4", 2, "Sends a HEAD request", |p| {
            p.handshake()?;
            p.request(1, "HEAD", "/", END_STREAM | END_HEADERS);
            p.expect_ok_response(1)
        }),
        case(G, "4", 3, "Sends a POST request", |p| {
            p.handshake()?;
            p.post(1);
            p.data(1, END_STREAM, b"test");
            p.expect_ok_response(1)
        }),
        case(G, "4", 4, "Sends a POST request with trailers", |p| {
            p.handshake()?;
            let block = p.request_block("POST", "/", &[("trailer", "x-test")]);
            p.headers(1, END_HEADERS, &block);
            p.data(1, 0, b"test");
            p.headers(
                1,
                END_STREAM | END_HEADERS,
                &hpack::encode_plain(&[("x-test", "ok")]),
            );
            p.expect_ok_response(1)
        }),
        // --- 5: HPACK (RFC 7541 §6)
        case(
            G,
            "5",
            1,
            "Sends a indexed header field representation",
            |p| {
                // Static index 58: user-agent (empty value).
                with_representation(p, &[0xba])
            },
        ),
        case(
            G,
            "5",
            2,
            "Sends a literal header field with incremental indexing - indexed name",
            |p| with_representation(p, &lit_name(Lit::Incremental, false)),
        ),
        case(
            G,
            "5",
            3,
            "Sends a literal header field with incremental indexing - indexed name (with Huffman coding)",
            |p| with_representation(p, &lit_name(Lit::Incremental, true)),
        ),
        case(
            G,
            "5",
            4,
            "Sends a literal header field with incremental indexing - new name",
            |p| with_representation(p, &lit_new(Lit::Incremental, false)),
        ),
        case(
            G,
            "5",
            5,
            "Sends a literal header field with incremental indexing - new name (with Huffman coding)",
            |p| with_representation(p, &lit_new(Lit::Incremental, true)),
        ),
        case(
            G,
            "5",
            6,
            "Sends a literal header field without indexing - indexed name",
            |p| with_representation(p, &lit_name(Lit::WithoutIndexing, false)),
        ),
        case(
            G,
            "5",
            7,
            "Sends a literal header field without indexing - indexed name (with Huffman coding)",
            |p| with_representation(p, &lit_name(Lit::WithoutIndexing, true)),
        ),
        case(
            G,
            "5",
            8,
            "Sends a literal header field without indexing - new name",
            |p| with_representation(p, &lit_new(Lit::WithoutIndexing, false)),
        ),
        case(
            G,
            "5",
            9,
            "Sends a literal header field without indexing - new name (huffman encoded)",
            |p| with_representation(p, &lit_new(Lit::WithoutIndexing, true)),
        ),
        case(
            G,
            "5",
            10,
            "Sends a literal header field never indexed - indexed name",
            |p| with_representation(p, &lit_name(Lit::NeverIndexed, false)),
        ),
        case(
            G,
            "5",
            11,
            "Sends a literal header field never indexed - indexed name (huffman encoded)",
            |p| with_representation(p, &lit_name(Lit::NeverIndexed, true)),
        ),
        case(
            G,
            "5",
            12,
            "Sends a literal header field never indexed - new name",
            |p| with_representation(p, &lit_new(Lit::NeverIndexed, false)),
        ),
        case(
            G,
            "5",
            13,
            "Sends a literal header field never indexed - new name (huffman encoded)",
            |p| with_representation(p, &lit_new(Lit::NeverIndexed, true)),
        ),
        case(G, "5", 14, "Sends a dynamic table size update", |p| {
            let mut prefix = Vec::new();
            hpack::size_update(&mut prefix, 0);
            with_prefix(p, &prefix)
        }),
        case(
            G,
            "5",
            15,
            "Sends multiple dynamic table size update",
            |p| {
                // RFC 7541 §4.2: at most two updates, smallest then final, at the block's start.
                let mut prefix = Vec::new();
                hpack::size_update(&mut prefix, 0);
                hpack::size_update(&mut prefix, 4096);
                with_prefix(p, &prefix)
            },
        ),
    ]
}
