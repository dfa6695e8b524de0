//! h2spec "http2": HTTP semantics (RFC 7540 §8.1-§8.2, now RFC 9113 §8.1-§8.4): message framing,
//! field validity, pseudo-header fields, connection-specific fields, malformed messages and
//! server push.
//!
//! Malformed requests "MUST be treated as a stream error of type PROTOCOL_ERROR" (RFC 9113
//! §8.1.1); "a server MAY send an HTTP response prior to closing or resetting the stream", so a
//! 4xx response is accepted too, but serving the request (2xx) fails: see
//! `Peer::expect_malformed`.

use super::{Case, case};
use crate::hpack;
use crate::peer::*;

const H: &str = "http2";

/// Sends `fields` (in this order, plain literals) as a complete GET-like request on stream 1
/// and expects it to be treated as malformed.
fn malformed(p: &mut Peer, fields: &[(&str, &str)]) -> R {
    p.handshake()?;
    p.headers(1, END_STREAM | END_HEADERS, &hpack::encode_plain(fields));
    p.expect_malformed(1)
}

/// GET / plus `extra` fields, expected to be malformed.
fn malformed_extra(p: &mut Peer, extra: &[(&str, &str)]) -> R {
    p.handshake()?;
    let block = p.request_block("GET", "/", extra);
    p.headers(1, END_STREAM | END_HEADERS, &block);
    p.expect_malformed(1)
}

/// The request pseudo-header fields with `edit` applied (by name: replace, remove or add).
fn pseudo(p: &Peer, edit: impl FnOnce(&mut Vec<(String, String)>)) -> Vec<(String, String)> {
    let mut f = p.request_fields("GET", "/");
    edit(&mut f);
    f
}

fn send_fields(p: &mut Peer, fields: &[(String, String)]) -> R {
    p.headers(1, END_STREAM | END_HEADERS, &hpack::encode_plain(fields));
    p.expect_malformed(1)
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- 8.1: HTTP Request/Response Exchange
        case(
            H,
            "8.1",
            1,
            "Sends a second HEADERS frame without the END_STREAM flag",
            |p| {
                // RFC 9113 §8.1: "An endpoint that receives a HEADERS frame without the END_STREAM
                // flag set after receiving the HEADERS frame that opens a request ... MUST treat the
                // corresponding request or response as malformed."
                p.handshake()?;
                p.post(1);
                p.data(1, 0, b"test");
                p.headers(1, END_HEADERS, &hpack::encode_plain(&[("x-test", "ok")]));
                p.expect_malformed(1)
            },
        ),
        // --- 8.1.2: HTTP Header Fields (RFC 9113 §8.2)
        case(
            H,
            "8.1.2",
            1,
            "Sends a HEADERS frame that contains the header field name in uppercase letters",
            |p| {
                // "A field name MUST NOT contain characters in the ranges ... 0x41-0x5a".
                malformed_extra(p, &[("X-TEST", "ok")])
            },
        ),
        // --- 8.1.2.1: Pseudo-Header Fields (RFC 9113 §8.3)
        case(
            H,
            "8.1.2.1",
            1,
            "Sends a HEADERS frame that contains a unknown pseudo-header field",
            |p| {
                // "Endpoints MUST treat a request or response that contains undefined or invalid
                // pseudo-header fields as malformed."
                malformed_extra(p, &[(":test", "ok")])
            },
        ),
        case(
            H,
            "8.1.2.1",
            2,
            "Sends a HEADERS frame that contains the pseudo-header field defined for response",
            |p| {
                // "pseudo-header fields defined for responses MUST NOT appear in requests"
                malformed_extra(p, &[(":status", "200")])
            },
        ),
        case(
            H,
            "8.1.2.1",
            3,
            "Sends a HEADERS frame that contains a pseudo-header field as trailers",
            |p| {
                // "Pseudo-header fields MUST NOT appear in a trailer section."
                p.handshake()?;
                p.post(1);
                p.data(1, 0, b"test");
                p.headers(
                    1,
                    END_STREAM | END_HEADERS,
                    &hpack::encode_plain(&[(":method", "POST")]),
                );
                p.expect_malformed(1)
            },
        ),
        case(
            H,
            "8.1.2.1",
            4,
            "Sends a HEADERS frame that contains a pseudo-header field that appears in a header block after a regular header field",
            |p| {
                // "All pseudo-header fields MUST appear in a field block before all regular
                // field lines."
                p.handshake()?;
                let mut fields = vec![("x-test".to_string(), "ok".to_string())];
                fields.extend(p.request_fields("GET", "/"));
                send_fields(p, &fields)
            },
        ),
        // --- 8.1.2.2: Connection-Specific Header Fields (RFC 9113 §8.2.2)
        case(
            H,
            "8.1.2.2",
            1,
            "Sends a HEADERS frame that contains the connection-specific header field",
            |p| {
                // "any message containing connection-specific header fields MUST be treated as
                // malformed"
                malformed_extra(p, &[("connection", "keep-alive")])
            },
        ),
        case(
            H,
            "8.1.2.2",
            2,
            "Sends a HEADERS frame that contains the TE header field with any value other than \"trailers\"",
            |p| {
                // "The only exception to this is the TE header field, which MAY be present in an
                // HTTP/2 request; when it is, it MUST NOT contain any value other than
                // "trailers"."
                malformed_extra(p, &[("trailers", "test"), ("te", "trailers, deflate")])
            },
        ),
        // --- 8.1.2.3: Request Pseudo-Header Fields (RFC 9113 §8.3.1)
        case(
            H,
            "8.1.2.3",
            1,
            "Sends a HEADERS frame with empty \":path\" pseudo-header field",
            |p| {
                // "This pseudo-header field MUST NOT be empty for "http" or "https" URIs"
                p.handshake()?;
                let f = pseudo(p, |f| f[2].1.clear());
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            2,
            "Sends a HEADERS frame that omits \":method\" pseudo-header field",
            |p| {
                // "All HTTP/2 requests MUST include exactly one valid value for the ":method",
                // ":scheme", and ":path" pseudo-header fields, unless they are CONNECT requests.
                // An HTTP request that omits mandatory pseudo-header fields is malformed."
                p.handshake()?;
                let f = pseudo(p, |f| {
                    f.remove(0);
                });
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            3,
            "Sends a HEADERS frame that omits \":scheme\" pseudo-header field",
            |p| {
                p.handshake()?;
                let f = pseudo(p, |f| {
                    f.remove(1);
                });
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            4,
            "Sends a HEADERS frame that omits \":path\" pseudo-header field",
            |p| {
                p.handshake()?;
                let f = pseudo(p, |f| {
                    f.remove(2);
                });
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            5,
            "Sends a HEADERS frame with duplicated \":method\" pseudo-header field",
            |p| {
                // "The same pseudo-header field name MUST NOT appear more than once in a field
                // block."
                p.handshake()?;
                let f = pseudo(p, |f| f.insert(1, (":method".into(), "GET".into())));
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            6,
            "Sends a HEADERS frame with duplicated \":scheme\" pseudo-header field",
            |p| {
                p.handshake()?;
                let f = pseudo(p, |f| {
                    let s = f[1].clone();
                    f.insert(2, s);
                });
                send_fields(p, &f)
            },
        ),
        case(
            H,
            "8.1.2.3",
            7,
            "Sends a HEADERS frame with duplicated \":path\" pseudo-header field",
            |p| {
                p.handshake()?;
                let f = pseudo(p, |f| {
                    let s = f[2].clone();
                    f.insert(3, s);
                });
                send_fields(p, &f)
            },
        ),
        // --- 8.1.2.6: Malformed Requests and Responses (RFC 9113 §8.1.1)
        case(
            H,
            "8.1.2.6",
            1,
            "Sends a HEADERS frame with the \"content-length\" header field which does not equal the DATA frame payload length",
            |p| {
                // "A request or response is also malformed if the value of a content-length
                // header field does not equal the sum of the DATA frame payload lengths that
                // form the content."
                p.handshake()?;
                let block = p.request_block("POST", "/", &[("content-length", "1")]);
                p.headers(1, END_HEADERS, &block);
                p.data(1, END_STREAM, b"test");
                p.expect_malformed(1)
            },
        ),
        case(
            H,
            "8.1.2.6",
            2,
            "Sends a HEADERS frame with the \"content-length\" header field which does not equal the sum of the multiple DATA frames payload length",
            |p| {
                p.handshake()?;
                let block = p.request_block("POST", "/", &[("content-length", "1")]);
                p.headers(1, END_HEADERS, &block);
                p.data(1, 0, b"test");
                p.data(1, END_STREAM, b"test");
                p.expect_malformed(1)
            },
        ),
        // --- 8.2: Server Push (RFC 9113 §8.4)
        case(H, "8.2", 1, "Sends a PUSH_PROMISE frame", |p| {
            // "A client cannot push. Thus, servers MUST treat the receipt of a PUSH_PROMISE
            // frame as a connection error of type PROTOCOL_ERROR."
            p.handshake()?;
            let block = p.request_block("GET", "/", &[]);
            p.push_promise(1, END_HEADERS, 3, &block);
            p.expect_connection_error(&[PROTOCOL_ERROR])
        }),
    ]
}

/// Helpers shared with the extra RFC 9113 cases.
pub fn malformed_request(p: &mut Peer, extra: &[(&str, &str)]) -> R {
    malformed_extra(p, extra)
}

pub fn malformed_fields(p: &mut Peer, fields: &[(&str, &str)]) -> R {
    malformed(p, fields)
}
