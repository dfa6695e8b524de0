//! h2spec "http2": connection preface (§3.4 of RFC 9113, §3.5 of RFC 7540), frame format and
//! size (§4.1, §4.2), field blocks (§4.3), extensions (§5.5) and the per-frame rules of DATA,
//! HEADERS, PRIORITY, RST_STREAM, PING, GOAWAY and CONTINUATION (§6.1-§6.4, §6.7, §6.8, §6.10).

use super::{Case, case};
use crate::peer::*;

const H: &str = "http2";

pub fn cases() -> Vec<Case> {
    vec![
        // --- 3.5: HTTP/2 Connection Preface
        case(H, "3.5", 1, "Sends client connection preface", |p| {
            // "the server connection preface ... MUST be the first frame the server sends".
            p.preface();
            p.settings(&[(INITIAL_WINDOW_SIZE, 65535)]);
            loop {
                match p.next_event() {
                    Event::Frame(f) if f.ty == SETTINGS && !f.has(ACK) => return Ok(()),
                    Event::Frame(f) if f.ty == SETTINGS => {}
                    Event::Frame(f) => {
                        return Err(p.fail(format!(
                            "expected SETTINGS (server preface), got {}",
                            f.describe()
                        )));
                    }
                    Event::Closed => return Err(p.fail("expected SETTINGS, got close")),
                    Event::Timeout => return Err(p.fail("expected SETTINGS, got nothing")),
                }
            }
        }),
        case(H, "3.5", 2, "Sends invalid connection preface", |p| {
            // RFC 9113 §3.4: an invalid preface is a connection error of type PROTOCOL_ERROR;
            // "A GOAWAY frame MAY be omitted in this case". What does come must be HTTP/2
            // (h2spec reads a broken frame otherwise), through TLS on a TLS connection.
            p.send_raw(b"INVALID CONNECTION PREFACE\r\n\r\n", "invalid preface");
            p.expect_connection_error(&[PROTOCOL_ERROR])?;
            match p.broken_output() {
                None => Ok(()),
                Some(what) => Err(p.fail(format!("before the close the server sent {what}"))),
            }
        }),
        // --- 4.1: Frame Format
        case(H, "4.1", 1, "Sends a frame with unknown type", |p| {
            // "Implementations MUST ignore and discard frames of unknown types."
            p.handshake()?;
            p.send_frame(0x16, 0, 0, &[0; 8]);
            p.ping_check()
        }),
        case(H, "4.1", 2, "Sends a frame with undefined flag", |p| {
            // Unused flags "MUST be ignored on receipt": PING with every flag but ACK set.
            p.handshake()?;
            let data = *b"undefflg";
            p.send_frame(PING, 0xfe, 0, &data);
            p.expect_ping_ack(data)
        }),
        case(H, "4.1", 3, "Sends a frame with reserved field bit", |p| {
            // "The semantics of this bit are undefined ... MUST be ignored when receiving."
            p.handshake()?;
            let data = *b"reserved";
            p.send_frame(PING, 0, 0x8000_0000, &data);
            p.expect_ping_ack(data)
        }),
        // --- 4.2: Frame Size
        case(
            H,
            "4.2",
            1,
            "Sends a DATA frame with 2^14 octets in length",
            |p| {
                p.handshake()?;
                let n = p.server_max_frame_size();
                p.post(1);
                p.data(1, END_STREAM, &vec![b'x'; n]);
                p.expect_ok_response(1)
            },
        ),
        case(
            H,
            "4.2",
            2,
            "Sends a large size DATA frame that exceeds the SETTINGS_MAX_FRAME_SIZE",
            |p| {
                // "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a frame exceeds
                // the size defined in SETTINGS_MAX_FRAME_SIZE."
                p.handshake()?;
                let n = p.server_max_frame_size() + 1;
                p.post(1);
                p.data(1, END_STREAM, &vec![b'x'; n]);
                p.expect_stream_error(1, &[FRAME_SIZE_ERROR])
            },
        ),
        case(
            H,
            "4.2",
            3,
            "Sends a large size HEADERS frame that exceeds the SETTINGS_MAX_FRAME_SIZE",
            |p| {
                // "A frame size error in a frame that could alter the state of the entire
                // connection MUST be treated as a connection error; this includes any frame
                // carrying a field block."
                p.handshake()?;
                let max = p.server_max_frame_size();
                let mut block = p.request_block("GET", "/", &[]);
                block.extend(Peer::dummy_block(max / 4000 + 1));
                p.headers(1, END_STREAM | END_HEADERS, &block);
                p.expect_connection_error(&[FRAME_SIZE_ERROR])
            },
        ),
        // --- 4.3: Header Compression and Decompression
        case(H, "4.3", 1, "Sends invalid header block fragment", |p| {
            // "A decoding error in a field block MUST be treated as a connection error of type
            // COMPRESSION_ERROR": 0x40 is a literal with incremental indexing, cut off.
            p.handshake()?;
            p.headers(1, END_STREAM | END_HEADERS, &[0x40]);
            p.expect_connection_error(&[COMPRESSION_ERROR])
        }),
        case(
            H,
            "4.3",
            2,
            "Sends a PRIORITY frame while sending the header blocks",
            |p| {
                // "Field blocks MUST be transmitted as a contiguous sequence of frames, with no
                // interleaved frames of any other type or from any other stream."
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, 0, &block);
                p.priority(1, 0, false, 255);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "4.3",
            3,
            "Sends a HEADERS frame to another stream while sending the header blocks",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, 0, &block);
                p.headers(3, END_STREAM | END_HEADERS, &block);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        // --- 5.5: Extending HTTP/2
        case(H, "5.5", 1, "Sends an unknown extension frame", |p| {
            // "Implementations MUST discard frames that have unknown or unsupported types."
            p.handshake()?;
            p.send_frame(0xff, 0, 0, &[0; 8]);
            p.ping_check()
        }),
        case(
            H,
            "5.5",
            2,
            "Sends an unknown extension frame in the middle of a header block",
            |p| {
                // "extension frames that appear in the middle of a field block are not
                // permitted; these MUST be treated as a connection error of type PROTOCOL_ERROR"
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                p.send_frame(0xff, 0, 0, &[0; 8]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        // --- 6.1: DATA
        case(
            H,
            "6.1",
            1,
            "Sends a DATA frame with 0x0 stream identifier",
            |p| {
                p.handshake()?;
                p.data(0, END_STREAM, b"test");
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.1",
            2,
            "Sends a DATA frame on the stream that is not in \"open\" or \"half-closed (local)\" state",
            |p| {
                // "If a DATA frame is received whose stream is not in the "open" or "half-closed
                // (local)" state, the recipient MUST respond with a stream error of type
                // STREAM_CLOSED."
                p.handshake()?;
                p.request(1, "POST", "/", END_STREAM | END_HEADERS);
                p.data(1, END_STREAM, b"test");
                p.expect_stream_error(1, &[STREAM_CLOSED])
            },
        ),
        case(
            H,
            "6.1",
            3,
            "Sends a DATA frame with invalid pad length",
            |p| {
                // "If the length of the padding is the length of the frame payload or greater, the
                // recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
                p.handshake()?;
                let block = p.request_block("POST", "/", &[("content-length", "4")]);
                p.headers(1, END_HEADERS, &block);
                // Length 5: pad length 6, then "Test".
                p.send_frame(DATA, PADDED | END_STREAM, 1, &[6, b'T', b'e', b's', b't']);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        // --- 6.2: HEADERS
        case(
            H,
            "6.2",
            1,
            "Sends a HEADERS frame without the END_HEADERS flag, and a PRIORITY frame",
            |p| {
                // "A HEADERS frame without the END_HEADERS flag set MUST be followed by a
                // CONTINUATION frame for the same stream. A receiver MUST treat the receipt of
                // any other type of frame ... as a connection error of type PROTOCOL_ERROR."
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, 0, &block);
                p.priority(1, 0, false, 255);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.2",
            2,
            "Sends a HEADERS frame to another stream while sending a HEADERS frame",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, 0, &block);
                p.headers(3, END_STREAM | END_HEADERS, &block);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.2",
            3,
            "Sends a HEADERS frame with 0x0 stream identifier",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(0, END_STREAM | END_HEADERS, &block);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.2",
            4,
            "Sends a HEADERS frame with invalid pad length",
            |p| {
                // RFC 9113 §6.2: padding as long as the payload or longer is a connection error of
                // type PROTOCOL_ERROR (h2spec, after RFC 7540, also accepts a stream error; the
                // field block cannot be decoded, so only a connection error keeps HPACK in sync).
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                let mut payload = vec![(block.len() + 2) as u8];
                payload.extend_from_slice(&block);
                p.send_frame(HEADERS, PADDED | END_HEADERS | END_STREAM, 1, &payload);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        // --- 6.3: PRIORITY
        case(
            H,
            "6.3",
            1,
            "Sends a PRIORITY frame with 0x0 stream identifier",
            |p| {
                p.handshake()?;
                p.priority(0, 0, false, 255);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.3",
            2,
            "Sends a PRIORITY frame with a length other than 5 octets",
            |p| {
                // "A PRIORITY frame with a length other than 5 octets MUST be treated as a stream
                // error of type FRAME_SIZE_ERROR."
                p.handshake()?;
                p.get(1);
                p.send_frame(PRIORITY, 0, 1, &[0x80, 0, 0, 1]);
                p.expect_stream_error(1, &[FRAME_SIZE_ERROR])
            },
        ),
        case(
            H,
            "6.3",
            3,
            "Sends a PRIORITY frame for an idle stream, then send a HEADER frame for a lower stream ID",
            |p| {
                // h2spec strict case. RFC 9113 §6.3: PRIORITY "does not affect the state of any
                // stream", so stream 3 stays idle and stream 1 may still be opened.
                p.handshake()?;
                p.priority(3, 0, false, 255);
                p.get(1);
                p.expect_ok_response(1)
            },
        ),
        // --- 6.4: RST_STREAM
        case(
            H,
            "6.4",
            1,
            "Sends a RST_STREAM frame with 0x0 stream identifier",
            |p| {
                p.handshake()?;
                p.rst_stream(0, CANCEL);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.4",
            2,
            "Sends a RST_STREAM frame on a idle stream",
            |p| {
                // "If a RST_STREAM frame identifying an idle stream is received, the recipient MUST
                // treat this as a connection error of type PROTOCOL_ERROR."
                p.handshake()?;
                p.rst_stream(1, CANCEL);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.4",
            3,
            "Sends a RST_STREAM frame with a length other than 4 octets",
            |p| {
                // "A RST_STREAM frame with a length other than 4 octets MUST be treated as a
                // connection error of type FRAME_SIZE_ERROR" (h2spec also accepts RST_STREAM).
                p.handshake()?;
                p.get(1);
                p.send_frame(RST_STREAM, 0, 1, &[0, 0, 0]);
                p.expect_connection_error(&[FRAME_SIZE_ERROR])
            },
        ),
        // --- 6.7: PING
        case(H, "6.7", 1, "Sends a PING frame", |p| {
            // "Receivers of a PING frame that does not include an ACK flag MUST send a PING
            // frame with the ACK flag set in response, with an identical frame payload."
            p.handshake()?;
            let data = *b"h2spec\0\0";
            p.ping(data);
            p.expect_ping_ack(data)
        }),
        case(H, "6.7", 2, "Sends a PING frame with ACK", |p| {
            // "An endpoint MUST NOT respond to PING frames containing this flag."
            p.handshake()?;
            p.send_frame(PING, ACK, 0, b"invalid\0");
            let data = *b"h2spec\0\0";
            p.ping(data);
            p.expect_ping_ack(data)
        }),
        case(
            H,
            "6.7",
            3,
            "Sends a PING frame with a stream identifier field value other than 0x0",
            |p| {
                p.handshake()?;
                p.send_frame(PING, 0, 1, &[0; 8]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.7",
            4,
            "Sends a PING frame with a length field value other than 8",
            |p| {
                // "Receipt of a PING frame with a length field value other than 8 MUST be treated
                // as a connection error of type FRAME_SIZE_ERROR."
                p.handshake()?;
                p.send_frame(PING, 0, 0, &[0; 6]);
                p.expect_connection_error(&[FRAME_SIZE_ERROR])
            },
        ),
        // --- 6.8: GOAWAY
        case(
            H,
            "6.8",
            1,
            "Sends a GOAWAY frame with a stream identifier other than 0x0",
            |p| {
                p.handshake()?;
                p.send_frame(GOAWAY, 0, 1, &[0; 8]);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        // --- 6.10: CONTINUATION
        case(
            H,
            "6.10",
            1,
            "Sends multiple CONTINUATION frames preceded by a HEADERS frame",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                p.continuation(1, 0, &Peer::dummy_block(1));
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_ok_response(1)
            },
        ),
        case(
            H,
            "6.10",
            2,
            "Sends a CONTINUATION frame followed by any frame other than CONTINUATION",
            |p| {
                p.handshake()?;
                let block = p.request_block("POST", "/", &[]);
                p.headers(1, 0, &block);
                p.continuation(1, 0, &Peer::dummy_block(1));
                p.data(1, END_STREAM, b"test");
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.10",
            3,
            "Sends a CONTINUATION frame with 0x0 stream identifier",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                p.continuation(0, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.10",
            4,
            "Sends a CONTINUATION frame preceded by a HEADERS frame with END_HEADERS flag",
            |p| {
                // "A CONTINUATION frame MUST be preceded by a HEADERS, PUSH_PROMISE or
                // CONTINUATION frame without the END_HEADERS flag set."
                p.handshake()?;
                p.get(1);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.10",
            5,
            "Sends a CONTINUATION frame preceded by a CONTINUATION frame with END_HEADERS flag",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "6.10",
            6,
            "Sends a CONTINUATION frame preceded by a DATA frame",
            |p| {
                p.handshake()?;
                p.post(1);
                p.data(1, 0, b"test");
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
    ]
}
