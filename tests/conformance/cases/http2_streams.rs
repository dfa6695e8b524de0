//! h2spec "http2": stream states (RFC 9113 §5.1), identifiers (§5.1.1), concurrency (§5.1.2),
//! dependencies (RFC 7540 §5.3.1, deprecated by RFC 9113 §5.3.2) and connection error
//! handling (§5.4.1).

use super::{Case, case};
use crate::peer::*;

const H: &str = "http2";

/// A stream that stays open on the server: request head without END_STREAM.
fn open_stream(p: &mut Peer, stream: u32) {
    p.post(stream);
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- 5.1: Stream States. idle: "Receiving any frame other than HEADERS or PRIORITY on a
        // stream in this state MUST be treated as a connection error of type PROTOCOL_ERROR."
        case(H, "5.1", 1, "idle: Sends a DATA frame", |p| {
            // §6.1 also says DATA on a stream that is not open is a stream error of type
            // STREAM_CLOSED, so STREAM_CLOSED (either scope) is accepted besides §5.1's
            // connection error PROTOCOL_ERROR.
            p.handshake()?;
            p.data(1, END_STREAM, b"test");
            p.expect_error(
                Some((1, &[STREAM_CLOSED])),
                &[PROTOCOL_ERROR, STREAM_CLOSED],
            )
        }),
        case(H, "5.1", 2, "idle: Sends a RST_STREAM frame", |p| {
            p.handshake()?;
            p.rst_stream(1, CANCEL);
            p.expect_connection_error(&[PROTOCOL_ERROR])
        }),
        case(H, "5.1", 3, "idle: Sends a WINDOW_UPDATE frame", |p| {
            p.handshake()?;
            p.window_update(1, 100);
            p.expect_connection_error(&[PROTOCOL_ERROR])
        }),
        case(H, "5.1", 4, "idle: Sends a CONTINUATION frame", |p| {
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.continuation(1, END_HEADERS, &block);
            p.expect_connection_error(&[PROTOCOL_ERROR])
        }),
        // half-closed (remote): "If an endpoint receives additional frames, other than
        // WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in this state, it MUST
        // respond with a stream error of type STREAM_CLOSED."
        case(
            H,
            "5.1",
            5,
            "half closed (remote): Sends a DATA frame",
            |p| {
                p.handshake()?;
                p.get(1);
                p.data(1, END_STREAM, b"test");
                p.expect_stream_error(1, &[STREAM_CLOSED])
            },
        ),
        case(
            H,
            "5.1",
            6,
            "half closed (remote): Sends a HEADERS frame",
            |p| {
                p.handshake()?;
                p.get(1);
                p.get(1);
                p.expect_stream_error(1, &[STREAM_CLOSED])
            },
        ),
        case(
            H,
            "5.1",
            7,
            "half closed (remote): Sends a CONTINUATION frame",
            |p| {
                // A CONTINUATION with no open field block is also a §6.10 connection error
                // PROTOCOL_ERROR.
                p.handshake()?;
                p.get(1);
                let block = p.request_block("GET", "/", &[]);
                p.continuation(1, END_HEADERS, &block);
                p.expect_stream_error(1, &[STREAM_CLOSED, PROTOCOL_ERROR])
            },
        ),
        // closed, after RST_STREAM: RFC 9113 §5.1/§6.1: DATA on a stream that is not open is a
        // stream error STREAM_CLOSED; receipt of other frames on a closed stream MAY be a
        // connection error STREAM_CLOSED.
        case(
            H,
            "5.1",
            8,
            "closed: Sends a DATA frame after sending RST_STREAM frame",
            |p| {
                p.handshake()?;
                open_stream(p, 1);
                p.rst_stream(1, CANCEL);
                p.data(1, END_STREAM, b"test");
                p.expect_stream_error(1, &[STREAM_CLOSED])
            },
        ),
        case(
            H,
            "5.1",
            9,
            "closed: Sends a HEADERS frame after sending RST_STREAM frame",
            |p| {
                // RFC 9113 §5.1 ends with "implementations SHOULD treat the receipt of a frame that
                // is not expressly permitted ... as a connection error of type PROTOCOL_ERROR", so
                // PROTOCOL_ERROR is accepted at connection level besides STREAM_CLOSED.
                p.handshake()?;
                open_stream(p, 1);
                p.rst_stream(1, CANCEL);
                p.get(1);
                p.expect_error(
                    Some((1, &[STREAM_CLOSED])),
                    &[STREAM_CLOSED, PROTOCOL_ERROR],
                )
            },
        ),
        case(
            H,
            "5.1",
            10,
            "closed: Sends a CONTINUATION frame after sending RST_STREAM frame",
            |p| {
                p.handshake()?;
                open_stream(p, 1);
                p.rst_stream(1, CANCEL);
                p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
                p.expect_stream_error(1, &[STREAM_CLOSED, PROTOCOL_ERROR])
            },
        ),
        // closed, after END_STREAM both ways.
        case(H, "5.1", 11, "closed: Sends a DATA frame", |p| {
            // h2spec wants a connection error STREAM_CLOSED (RFC 7540); RFC 9113 §6.1 makes it
            // a stream error STREAM_CLOSED and §5.1 allows (MAY) a connection error.
            p.handshake()?;
            p.get(1);
            p.expect_stream_end(1)?;
            p.data(1, END_STREAM, b"test");
            p.expect_stream_error(1, &[STREAM_CLOSED])
        }),
        case(H, "5.1", 12, "closed: Sends a HEADERS frame", |p| {
            // A connection error is required: a HEADERS frame on a closed stream is not
            // permitted (§5.1: MAY treat as connection error STREAM_CLOSED; otherwise SHOULD
            // treat as connection error PROTOCOL_ERROR).
            p.handshake()?;
            p.get(1);
            p.expect_stream_end(1)?;
            p.get(1);
            p.expect_connection_error(&[STREAM_CLOSED, PROTOCOL_ERROR])
        }),
        case(H, "5.1", 13, "closed: Sends a CONTINUATION frame", |p| {
            p.handshake()?;
            p.get(1);
            p.expect_stream_end(1)?;
            p.continuation(1, END_HEADERS, &Peer::dummy_block(1));
            p.expect_connection_error(&[STREAM_CLOSED, PROTOCOL_ERROR])
        }),
        // --- 5.1.1: Stream Identifiers. "An endpoint that receives an unexpected stream
        // identifier MUST respond with a connection error of type PROTOCOL_ERROR."
        case(
            H,
            "5.1.1",
            1,
            "Sends even-numbered stream identifier",
            |p| {
                p.handshake()?;
                p.get(2);
                p.expect_connection_error(&[PROTOCOL_ERROR])
            },
        ),
        case(
            H,
            "5.1.1",
            2,
            "Sends stream identifier that is numerically smaller than previous",
            |p| {
                p.handshake()?;
                // Once stream 5 is open, idle stream 3 is implicitly closed (§5.1.1), so
                // STREAM_CLOSED (§5.1 closed state) is accepted besides PROTOCOL_ERROR.
                p.get(5);
                p.get(3);
                p.expect_connection_error(&[PROTOCOL_ERROR, STREAM_CLOSED])
            },
        ),
        case(
            H,
            "5.1.1",
            3,
            "Sends HEADERS frame with the stream which is in half-closed (remote) state",
            |p| {
                // From h2spec's repository (not in every release): the second HEADERS on a
                // half-closed (remote) stream is a stream error STREAM_CLOSED (§5.1).
                p.handshake()?;
                p.get(5);
                p.get(5);
                p.expect_stream_error(5, &[STREAM_CLOSED])
            },
        ),
        // --- 5.1.2: Stream Concurrency
        case(
            H,
            "5.1.2",
            1,
            "Sends HEADERS frames that causes their advertised concurrent stream limit to be exceeded",
            |p| {
                // "An endpoint that receives a HEADERS frame that causes its advertised
                // concurrent stream limit to be exceeded MUST treat this as a stream error of
                // type PROTOCOL_ERROR or REFUSED_STREAM."
                p.handshake()?;
                let Some(max) = p.server_setting(MAX_CONCURRENT_STREAMS) else {
                    return Err(CaseError::Skip(
                        "server does not advertise SETTINGS_MAX_CONCURRENT_STREAMS".into(),
                    ));
                };
                if max > 10_000 {
                    return Err(CaseError::Skip(format!(
                        "MAX_CONCURRENT_STREAMS {max} too large"
                    )));
                }
                // Window 0: the server cannot finish (and so close) any response.
                p.settings(&[(INITIAL_WINDOW_SIZE, 0)]);
                let block = p.request_block("GET", "/", &[]);
                for i in 0..=max {
                    p.headers(1 + 2 * i, END_STREAM | END_HEADERS, &block);
                }
                p.expect_stream_error(1 + 2 * max, &[PROTOCOL_ERROR, REFUSED_STREAM])
            },
        ),
        // --- 5.3.1: Stream Dependencies. RFC 7540: "A stream cannot depend on itself. An
        // endpoint MUST treat this as a stream error of type PROTOCOL_ERROR." RFC 9113
        // deprecates the priority scheme (§5.3.2) and no longer states this rule, so either the
        // RFC 7540 stream error or ignoring the signal is accepted; anything else fails.
        case(
            H,
            "5.3.1",
            1,
            "Sends HEADERS frame that depends on itself",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers_priority(1, END_STREAM | END_HEADERS, (1, false, 255), &block);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == RST_STREAM && f.stream == 1 => {
                            if f.error_code() == Some(PROTOCOL_ERROR) {
                                return Ok(());
                            }
                            return Err(p.fail(format!(
                                "expected RST_STREAM(1, PROTOCOL_ERROR) (RFC 7540) or a response \
                             (RFC 9113), got {}",
                                f.describe()
                            )));
                        }
                        Event::Frame(f) if f.ty == HEADERS && f.stream == 1 => {
                            if f.status() == Some(200) {
                                return p.ping_check();
                            }
                            return Err(p.fail(format!("unexpected response {}", f.describe())));
                        }
                        // "An endpoint MAY choose to treat a stream error as a connection error."
                        Event::Frame(f) if f.ty == GOAWAY => {
                            if f.error_code() == Some(PROTOCOL_ERROR) {
                                return p.expect_close();
                            }
                            return Err(p.fail(format!(
                                "expected PROTOCOL_ERROR or no error, got {}",
                                f.describe()
                            )));
                        }
                        Event::Frame(_) => {}
                        Event::Closed => return Err(p.fail("connection closed")),
                        Event::Timeout => return Err(p.fail("no RST_STREAM and no response")),
                    }
                }
            },
        ),
        case(
            H,
            "5.3.1",
            2,
            "Sends PRIORITY frame that depend on itself",
            |p| {
                p.handshake()?;
                p.priority(1, 1, false, 255);
                let data = *b"selfdep\0";
                p.ping(data);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == RST_STREAM && f.stream == 1 => {
                            if f.error_code() != Some(PROTOCOL_ERROR) {
                                return Err(p.fail(format!(
                                    "expected RST_STREAM(1, PROTOCOL_ERROR) or nothing, got {}",
                                    f.describe()
                                )));
                            }
                        }
                        Event::Frame(f) if f.ty == PING && f.has(ACK) && f.payload == data => {
                            return Ok(());
                        }
                        // "An endpoint MAY choose to treat a stream error as a connection error."
                        Event::Frame(f) if f.ty == GOAWAY => {
                            if f.error_code() == Some(PROTOCOL_ERROR) {
                                return p.expect_close();
                            }
                            return Err(p.fail(format!(
                                "expected PROTOCOL_ERROR or no error, got {}",
                                f.describe()
                            )));
                        }
                        Event::Frame(_) => {}
                        Event::Closed => return Err(p.fail("connection closed")),
                        Event::Timeout => return Err(p.fail("PING not answered")),
                    }
                }
            },
        ),
        // --- 5.4.1: Connection Error Handling
        case(
            H,
            "5.4.1",
            1,
            "Sends an invalid PING frame for connection close",
            |p| {
                // "After sending the GOAWAY frame for an error condition, the endpoint MUST close
                // the TCP connection."
                p.handshake()?;
                p.send_frame(PING, 0, 3, &[0; 8]);
                p.expect_close()
            },
        ),
        case(
            H,
            "5.4.1",
            2,
            "Sends an invalid PING frame to receive GOAWAY frame",
            |p| {
                // h2spec strict case: "An endpoint that encounters a connection error SHOULD first
                // send a GOAWAY frame with the stream identifier of the last stream that it
                // successfully received from its peer" (none here: 0).
                p.handshake()?;
                p.send_frame(PING, 0, 3, &[0; 8]);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == GOAWAY => {
                            if f.error_code() != Some(PROTOCOL_ERROR) {
                                return Err(p.fail(format!(
                                    "expected GOAWAY(PROTOCOL_ERROR), got {}",
                                    f.describe()
                                )));
                            }
                            if f.goaway_last_stream() != Some(0) {
                                return Err(p.fail(format!(
                                "GOAWAY last stream id should be 0 (no stream was opened), got {}",
                                f.describe()
                            )));
                            }
                            return p.expect_close();
                        }
                        Event::Frame(_) => {}
                        Event::Closed => {
                            return Err(p.fail("expected GOAWAY(PROTOCOL_ERROR), got close only"));
                        }
                        Event::Timeout => return Err(p.fail("expected GOAWAY(PROTOCOL_ERROR)")),
                    }
                }
            },
        ),
    ]
}
