//! RFC 9113 edge cases a server must accept: reserved bits and unused flags on request frames,
//! unknown frames on idle streams, the largest stream identifier, minimal message shapes, and
//! bulk-but-valid control frames.

use super::{Case, case};
use crate::hpack;
use crate::peer::*;

const X: &str = "rfc9113";
const D: &str = "dos";

pub fn cases() -> Vec<Case> {
    vec![
        // --- §4.1: "Reserved: A reserved 1-bit field. The semantics of this bit are undefined,
        // and the bit MUST remain unset (0x00) when sending and MUST be ignored when receiving."
        case(
            X,
            "4.1",
            1,
            "Sends HEADERS with the reserved stream identifier bit set",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.send_frame(HEADERS, END_STREAM | END_HEADERS, 0x8000_0001, &block);
                p.expect_ok_response(1)
            },
        ),
        // "Unused flags are those that have no defined semantics for a particular frame type.
        // Unused flags MUST be ignored on receipt."
        case(
            X,
            "4.1",
            2,
            "Sends HEADERS and DATA with every unused flag set",
            |p| {
                p.handshake()?;
                let block = p.request_block("POST", "/", &[]);
                p.send_frame(HEADERS, END_HEADERS | 0xd2, 1, &block);
                p.send_frame(DATA, END_STREAM | 0xf6, 1, b"test");
                p.expect_ok_response(1)
            },
        ),
        // --- §5.1: "Receipt of frames for which the semantics are unknown cannot be treated as
        // an error"; §5.5: "Implementations MUST discard frames that have unknown or unsupported
        // types." The unknown frame must not change the idle stream's state either.
        case(
            X,
            "5.5",
            1,
            "Sends an unknown frame on an idle stream, then opens it",
            |p| {
                p.handshake()?;
                p.send_frame(0xfa, 0xff, 1, b"extension");
                p.get(1);
                p.expect_ok_response(1)
            },
        ),
        // --- §5.1.1: stream identifiers are 31-bit; the largest odd one is a valid request.
        case(
            X,
            "5.1.1",
            1,
            "Opens the stream with the largest identifier 2^31-1",
            |p| {
                p.handshake()?;
                p.get(0x7fff_ffff);
                p.expect_ok_response(0x7fff_ffff)
            },
        ),
        // --- §8.1: message shapes. "zero or more DATA frames", "optionally, one HEADERS frame
        // ... containing the trailer section".
        case(
            X,
            "8.1",
            3,
            "Ends a request with an empty DATA frame",
            |p| {
                p.handshake()?;
                p.post(1);
                p.data(1, END_STREAM, b"");
                p.expect_ok_response(1)
            },
        ),
        case(
            X,
            "8.1",
            4,
            "Sends a request of a header section and trailers, no DATA",
            |p| {
                p.handshake()?;
                p.post(1);
                p.headers(
                    1,
                    END_STREAM | END_HEADERS,
                    &hpack::encode_plain(&[("x-t", "1")]),
                );
                p.expect_ok_response(1)
            },
        ),
        // --- §8.2.3: "the Cookie header field MAY be split into separate header fields".
        case(
            X,
            "8.2.3",
            1,
            "Sends the cookie header field split over several fields",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[("cookie", "a=b"), ("cookie", "c=d")]);
                p.headers(1, END_STREAM | END_HEADERS, &block);
                p.expect_ok_response(1)
            },
        ),
        // --- Valid bulk control frames: a server may defend itself (ENHANCE_YOUR_CALM) but
        // must not fail otherwise, and PRIORITY must not change stream state (§6.3).
        case(
            D,
            "priority-flood",
            1,
            "PRIORITY frames on thousands of idle streams",
            |p| {
                p.handshake()?;
                for i in 0..5_000u32 {
                    p.priority(3 + 2 * i, 0, false, 16);
                }
                p.get(1);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == HEADERS && f.stream == 1 => {
                            if f.status() == Some(200) {
                                return Ok(());
                            }
                            return Err(p.fail(format!("unexpected {}", f.describe())));
                        }
                        Event::Frame(f) if f.ty == GOAWAY || f.ty == RST_STREAM => {
                            if f.ty == GOAWAY && f.error_code() == Some(ENHANCE_YOUR_CALM) {
                                return p.expect_close();
                            }
                            return Err(p.fail(format!(
                                "PRIORITY frames must not affect stream 1 (§6.3), got {}",
                                f.describe()
                            )));
                        }
                        Event::Frame(_) => {}
                        Event::Closed => return Err(p.fail("connection closed")),
                        Event::Timeout => return Err(p.fail("no response on stream 1")),
                    }
                }
            },
        ),
        case(
            D,
            "settings-large",
            1,
            "A SETTINGS frame of 2,730 unknown parameters",
            |p| {
                // "An endpoint that receives a SETTINGS frame with any unknown or unsupported
                // identifier MUST ignore that setting"; 16,380 octets fit the 16,384 frame limit.
                p.handshake()?;
                let params: Vec<(u16, u32)> =
                    (0..2_730u32).map(|i| (0x100 + i as u16, i)).collect();
                p.settings(&params);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == SETTINGS && f.has(ACK) => return p.ping_check(),
                        Event::Frame(f) if f.ty == GOAWAY => {
                            if f.error_code() == Some(ENHANCE_YOUR_CALM) {
                                return p.expect_close();
                            }
                            return Err(p.fail(format!("unexpected {}", f.describe())));
                        }
                        Event::Frame(_) => {}
                        Event::Closed => return Err(p.fail("connection closed")),
                        Event::Timeout => return Err(p.fail("SETTINGS not acknowledged")),
                    }
                }
            },
        ),
    ]
}
