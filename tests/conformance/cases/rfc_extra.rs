//! RFC 9113 and RFC 7541 requirements that h2spec does not check.

use std::time::Duration;

use super::http2_semantics::{malformed_fields, malformed_request};
use super::{Case, case};
use crate::hpack::{self, Lit};
use crate::peer::*;

const X: &str = "rfc9113";
const K: &str = "rfc7541";

/// Reads the rest of `stream`'s response; fails if a DATA frame carries content.
fn expect_no_content(p: &mut Peer, stream: u32) -> R {
    let head = p.expect_headers(stream)?;
    if head.has(END_STREAM) {
        return Ok(());
    }
    let n = p.expect_stream_end(stream)?;
    if n > 0 {
        return Err(p.fail(format!(
            "the response to HEAD carried {n} octets of content"
        )));
    }
    Ok(())
}

/// Request head for `path` where `:path` is the literal with incremental indexing (static
/// name 4), so the server's dynamic table gets `:path: <path>` at index 62.
fn indexed_path_request(p: &Peer, path: &str) -> Vec<u8> {
    let mut b = hpack::encode_plain(&[(":method", "GET"), (":scheme", p.scheme.as_str())]);
    hpack::literal_indexed_name(&mut b, Lit::Incremental, 4, path.as_bytes(), false);
    b.extend(hpack::encode_plain(&[(":authority", p.authority.as_str())]));
    b
}

/// Reads until nothing more arrives (or every stream in `streams` ended); returns the DATA
/// octets received per stream and whether each ended.
fn read_until_quiet(p: &mut Peer, streams: &[u32]) -> Result<Vec<(usize, bool)>, CaseError> {
    let mut got: Vec<(usize, bool)> = vec![(0, false); streams.len()];
    loop {
        if got.iter().all(|&(_, ended)| ended) {
            return Ok(got);
        }
        match p.next_event() {
            Event::Frame(f) if f.ty == RST_STREAM || f.ty == GOAWAY => {
                return Err(p.fail(format!("unexpected {}", f.describe())));
            }
            Event::Frame(f) => {
                if let Some(i) = streams.iter().position(|&s| s == f.stream) {
                    if f.ty == DATA {
                        got[i].0 += f.payload.len();
                    }
                    if f.ends(f.stream) {
                        got[i].1 = true;
                    }
                }
            }
            Event::Closed => return Err(p.fail("connection closed")),
            Event::Timeout => return Ok(got),
        }
    }
}

/// Flow-control cases need bodies larger than the window: `/size/N` in process.
fn body_too_small(p: &Peer, got: &[(usize, bool)]) -> Result<(), CaseError> {
    if got.iter().all(|&(_, ended)| ended) {
        if p.in_process {
            return Err(p.fail("the /size/N responses ended inside the flow-control window"));
        }
        return Err(CaseError::Skip(
            "the target does not serve /size/N bodies".into(),
        ));
    }
    Ok(())
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- RFC 9113 §8.2.1 Field Validity: "A request or response that contains a field that
        // violates any of these conditions MUST be treated as malformed."
        case(
            X,
            "8.2.1",
            1,
            "Sends a field name containing a space",
            |p| malformed_request(p, &[("x test", "ok")]),
        ),
        case(
            X,
            "8.2.1",
            2,
            "Sends a regular field name containing a colon",
            |p| {
                // "With the exception of pseudo-header fields ... field names MUST NOT include a
                // colon."
                malformed_request(p, &[("x:test", "ok")])
            },
        ),
        case(X, "8.2.1", 3, "Sends a field value containing NUL", |p| {
            malformed_request(p, &[("x-test", "a\0b")])
        }),
        case(X, "8.2.1", 4, "Sends a field value containing CR LF", |p| {
            malformed_request(p, &[("x-test", "a\r\nx-injected: 1")])
        }),
        case(
            X,
            "8.2.1",
            5,
            "Sends a field value with a leading space",
            |p| {
                // "A field value MUST NOT start or end with an ASCII whitespace character"
                malformed_request(p, &[("x-test", " ok")])
            },
        ),
        case(
            X,
            "8.2.1",
            6,
            "Sends a field value with a trailing tab",
            |p| malformed_request(p, &[("x-test", "ok\t")]),
        ),
        case(
            X,
            "8.2.1",
            7,
            "Sends a field name containing a non-visible character",
            |p| malformed_request(p, &[("x-\x7ftest", "ok")]),
        ),
        // --- RFC 9113 §8.2.2: "This includes the Connection header field and those listed as
        // having connection-specific semantics in Section 7.6.1 of [HTTP] (that is,
        // Proxy-Connection, Keep-Alive, Transfer-Encoding, and Upgrade)."
        case(
            X,
            "8.2.2",
            1,
            "Sends a proxy-connection header field",
            |p| malformed_request(p, &[("proxy-connection", "keep-alive")]),
        ),
        case(X, "8.2.2", 2, "Sends a keep-alive header field", |p| {
            malformed_request(p, &[("keep-alive", "timeout=5")])
        }),
        case(
            X,
            "8.2.2",
            3,
            "Sends a transfer-encoding header field",
            |p| malformed_request(p, &[("transfer-encoding", "chunked")]),
        ),
        case(X, "8.2.2", 4, "Sends an upgrade header field", |p| {
            malformed_request(p, &[("upgrade", "h2c")])
        }),
        case(
            X,
            "8.2.2",
            5,
            "Sends a TE header field with the value \"trailers\"",
            |p| {
                // "the TE header field ... MAY be present in an HTTP/2 request" with "trailers".
                p.handshake()?;
                let block = p.request_block("GET", "/", &[("te", "trailers")]);
                p.headers(1, END_STREAM | END_HEADERS, &block);
                p.expect_ok_response(1)
            },
        ),
        // --- RFC 9113 §8.3: pseudo-header fields.
        case(
            X,
            "8.3",
            1,
            "Sends a request whose only pseudo-header field is :method",
            |p| malformed_fields(p, &[(":method", "GET"), ("x-test", "ok")]),
        ),
        // --- RFC 9113 §8.1.1: content-length must match the DATA payload.
        case(
            X,
            "8.1.1",
            1,
            "Sends content-length with no DATA (END_STREAM on HEADERS)",
            |p| {
                p.handshake()?;
                let block = p.request_block("POST", "/", &[("content-length", "4")]);
                p.headers(1, END_STREAM | END_HEADERS, &block);
                p.expect_malformed(1)
            },
        ),
        case(X, "8.1.1", 2, "Sends less DATA than content-length", |p| {
            p.handshake()?;
            let block = p.request_block("POST", "/", &[("content-length", "10")]);
            p.headers(1, END_HEADERS, &block);
            p.data(1, END_STREAM, b"test");
            p.expect_malformed(1)
        }),
        case(
            X,
            "8.1.1",
            3,
            "Sends DATA matching content-length over two frames",
            |p| {
                p.handshake()?;
                let block = p.request_block("POST", "/", &[("content-length", "8")]);
                p.headers(1, END_HEADERS, &block);
                p.data(1, 0, b"test");
                p.data(1, END_STREAM, b"test");
                p.expect_ok_response(1)
            },
        ),
        // --- RFC 9113 §8.1 / RFC 9110 §9.3.2: the response to HEAD has no content.
        case(
            X,
            "8.1",
            1,
            "Sends a HEAD request: the response carries no content",
            |p| {
                p.handshake()?;
                p.request(1, "HEAD", "/", END_STREAM | END_HEADERS);
                expect_no_content(p, 1)
            },
        ),
        case(
            X,
            "8.1",
            2,
            "Sends trailers split over HEADERS and CONTINUATION",
            |p| {
                // "Trailer fields are carried in a field block that also terminates the stream":
                // HEADERS with END_STREAM followed by CONTINUATION frames.
                p.handshake()?;
                p.post(1);
                p.data(1, 0, b"test");
                let trailers = hpack::encode_plain(&[("x-test", "ok"), ("x-more", "yes")]);
                p.headers(1, END_STREAM, &trailers[..4]);
                p.continuation(1, END_HEADERS, &trailers[4..]);
                p.expect_ok_response(1)
            },
        ),
        // --- RFC 9113 §5.1 closed / §6.9: frames the peer may legitimately still send.
        case(
            X,
            "5.1",
            1,
            "Sends RST_STREAM on a stream the server has closed",
            |p| {
                // "An endpoint that sends a frame with the END_STREAM flag set or a RST_STREAM frame
                // might receive a WINDOW_UPDATE or RST_STREAM frame from its peer" - no error.
                p.handshake()?;
                p.get(1);
                p.expect_stream_end(1)?;
                p.rst_stream(1, CANCEL);
                p.ping_check()?;
                p.get(3);
                p.expect_ok_response(3)
            },
        ),
        case(X, "6.9", 1, "Sends WINDOW_UPDATE on a closed stream", |p| {
            // "a receiver could receive a WINDOW_UPDATE frame on a stream in a "half-closed
            // (remote)" or "closed" state. A receiver MUST NOT treat this as an error."
            p.handshake()?;
            p.get(1);
            p.expect_stream_end(1)?;
            p.window_update(1, 100);
            p.ping_check()
        }),
        // --- RFC 9113 §6.9.1: "The sender MUST NOT send a flow-controlled frame with a length
        // that exceeds the space available in either of the flow-control windows advertised by
        // the receiver." (every DATA frame is also checked by the monitor)
        case(
            X,
            "6.9.1",
            1,
            "Respects the connection flow-control window",
            |p| {
                p.handshake()?;
                // A large stream window, so only the connection window (65,535) limits.
                p.settings(&[(INITIAL_WINDOW_SIZE, 1 << 20)]);
                p.expect_settings_ack()?;
                p.request(1, "GET", "/size/100000", END_STREAM | END_HEADERS);
                let got = read_until_quiet(p, &[1])?;
                body_too_small(p, &got)?;
                if p.in_process && got[0].0 != 65_535 {
                    return Err(p.fail(format!(
                        "expected the server to fill the 65535-octet connection window, got {}",
                        got[0].0
                    )));
                }
                p.window_update(0, 100_000);
                let rest = read_until_quiet(p, &[1])?;
                if !rest[0].1 {
                    return Err(p.fail("the body did not finish after WINDOW_UPDATE(0)"));
                }
                if p.in_process && got[0].0 + rest[0].0 != 100_000 {
                    return Err(p.fail(format!(
                        "expected 100000 octets in all, got {}",
                        got[0].0 + rest[0].0
                    )));
                }
                Ok(())
            },
        ),
        case(
            X,
            "6.9.1",
            2,
            "Shares the connection window between streams",
            |p| {
                p.handshake()?;
                p.settings(&[(INITIAL_WINDOW_SIZE, 1 << 20)]);
                p.expect_settings_ack()?;
                p.request(1, "GET", "/size/50000", END_STREAM | END_HEADERS);
                p.request(3, "GET", "/size/50000", END_STREAM | END_HEADERS);
                let got = read_until_quiet(p, &[1, 3])?;
                body_too_small(p, &got)?;
                let first = got[0].0 + got[1].0;
                if p.in_process && first != 65_535 {
                    return Err(p.fail(format!(
                        "expected 65535 octets before WINDOW_UPDATE, got {first}"
                    )));
                }
                p.window_update(0, 100_000);
                let rest = read_until_quiet(p, &[1, 3])?;
                if !((got[0].1 || rest[0].1) && (got[1].1 || rest[1].1)) {
                    return Err(p.fail("the bodies did not finish after WINDOW_UPDATE(0)"));
                }
                Ok(())
            },
        ),
        case(
            X,
            "6.9.1",
            3,
            "Respects the stream window and resumes on WINDOW_UPDATE",
            |p| {
                p.handshake()?;
                p.settings(&[(INITIAL_WINDOW_SIZE, 10)]);
                p.expect_settings_ack()?;
                p.window_update(0, 1 << 20);
                p.request(1, "GET", "/size/100000", END_STREAM | END_HEADERS);
                let got = read_until_quiet(p, &[1])?;
                body_too_small(p, &got)?;
                if p.in_process && got[0].0 != 10 {
                    return Err(p.fail(format!(
                        "expected 10 octets (the stream window), got {}",
                        got[0].0
                    )));
                }
                p.window_update(1, 200_000);
                let rest = read_until_quiet(p, &[1])?;
                if !rest[0].1 {
                    return Err(p.fail("the body did not finish after WINDOW_UPDATE(1)"));
                }
                Ok(())
            },
        ),
        // --- RFC 9113 §6.9.2: "An endpoint MUST treat a change to SETTINGS_INITIAL_WINDOW_SIZE
        // that causes any flow-control window to exceed the maximum size as a connection error
        // of type FLOW_CONTROL_ERROR."
        case(
            X,
            "6.9.2",
            1,
            "Raises SETTINGS_INITIAL_WINDOW_SIZE so an open stream's window exceeds 2^31-1",
            |p| {
                p.handshake()?;
                // Stream 1 stays open (no END_STREAM): its send window is our 65,535.
                p.post(1);
                p.window_update(1, 0x7fff_ffff - 65_535);
                p.ping_check()?;
                p.settings(&[(INITIAL_WINDOW_SIZE, 65_536)]);
                p.expect_connection_error(&[FLOW_CONTROL_ERROR])
            },
        ),
        // --- RFC 9113 §6.1/§6.2 padding edge cases.
        case(
            X,
            "6.1",
            1,
            "Sends a DATA frame whose padding fills the whole payload",
            |p| {
                // Pad Length 4 in a 5-octet payload: no data, valid ("the length of the padding is
                // the length of the frame payload or greater" is the error).
                p.handshake()?;
                p.post(1);
                p.data_padded(1, 0, b"", 4);
                p.data(1, END_STREAM, b"test");
                p.expect_ok_response(1)
            },
        ),
        case(
            X,
            "6.2",
            1,
            "Sends a HEADERS frame with padding and priority",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                let mut payload = vec![3u8, 0, 0, 0, 0, 16];
                payload.extend_from_slice(&block);
                payload.extend_from_slice(&[0, 0, 0]);
                p.send_frame(
                    HEADERS,
                    END_STREAM | END_HEADERS | PADDED | PRIORITY_FLAG,
                    1,
                    &payload,
                );
                p.expect_ok_response(1)
            },
        ),
        // --- RFC 9113 §6.5.2: "A server MUST NOT explicitly set this value to 1."
        case(
            X,
            "6.5.2",
            1,
            "The server does not advertise SETTINGS_ENABLE_PUSH = 1",
            |p| {
                p.handshake()?;
                match p.server_setting(ENABLE_PUSH) {
                    None | Some(0) => Ok(()),
                    Some(v) => Err(p.fail(format!("server advertised SETTINGS_ENABLE_PUSH = {v}"))),
                }
            },
        ),
        // --- RFC 9113 §6.5.3: "If the sender of a SETTINGS frame does not receive an
        // acknowledgment within a reasonable amount of time, it MAY issue a connection error of
        // type SETTINGS_TIMEOUT." h2edge does (Config::settings_ack_timeout).
        case(
            X,
            "6.5.3",
            1,
            "Never acknowledges the server's SETTINGS",
            |p| {
                p.preface();
                p.settings(&[]);
                p.expect_settings_ack()?;
                let timeout = h2edge::h2::conn::Config::default().settings_ack_timeout;
                if !p.advance_clock(timeout + Duration::from_secs(1)) {
                    return Err(CaseError::Skip("needs the in-process clock".into()));
                }
                p.expect_goaway(&[SETTINGS_TIMEOUT])
            },
        )
        .in_process_only(),
        // --- RFC 9113 §6.8: the client's GOAWAY does not stop its own requests.
        case(
            X,
            "6.8",
            1,
            "Sends GOAWAY while a request is in flight: it is still served",
            |p| {
                // The last-stream id of a client's GOAWAY covers server-initiated streams; stream 1
                // (client-initiated, already open) continues.
                p.handshake()?;
                p.post(1);
                p.goaway(0, NO_ERROR, b"");
                p.data(1, END_STREAM, b"test");
                p.expect_ok_response(1)?;
                p.expect_stream_end(1).map(|_| ())
            },
        ),
        case(
            X,
            "6.8",
            2,
            "Answers the client's GOAWAY with its own GOAWAY before closing",
            |p| {
                // "a receiver of a GOAWAY that has no more use for the connection SHOULD still send
                // a GOAWAY frame before terminating the connection" (SHOULD).
                p.handshake()?;
                p.goaway(0, NO_ERROR, b"");
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == GOAWAY => return p.expect_close(),
                        Event::Frame(_) => {}
                        Event::Closed => {
                            return Err(p.fail(
                            "closed without a GOAWAY of its own (RFC 9113 §6.8: a receiver of a \
                             GOAWAY that has no more use for the connection SHOULD still send a \
                             GOAWAY frame before terminating the connection)",
                        ));
                        }
                        Event::Timeout => return Err(p.fail("neither GOAWAY nor close")),
                    }
                }
            },
        )
        .strict(),
        // --- RFC 9113 §5.4.1: GOAWAY names the last stream processed.
        case(
            X,
            "5.4.1",
            1,
            "A connection error's GOAWAY carries the last processed stream",
            |p| {
                p.handshake()?;
                p.get(1);
                p.expect_stream_end(1)?;
                p.get(3);
                p.expect_stream_end(3)?;
                p.send_frame(PING, 0, 5, &[0; 8]);
                loop {
                    match p.next_event() {
                        Event::Frame(f) if f.ty == GOAWAY => {
                            if f.error_code() == Some(PROTOCOL_ERROR)
                                && f.goaway_last_stream() == Some(3)
                            {
                                return p.expect_close();
                            }
                            return Err(p.fail(format!(
                                "expected GOAWAY(last_stream=3, PROTOCOL_ERROR), got {}",
                                f.describe()
                            )));
                        }
                        Event::Frame(_) => {}
                        Event::Closed => return Err(p.fail("closed without GOAWAY")),
                        Event::Timeout => return Err(p.fail("no GOAWAY")),
                    }
                }
            },
        ),
        // --- RFC 9113 §5.1.2: only open / half-closed streams count toward the limit.
        case(
            X,
            "5.1.2",
            1,
            "Opens more streams than the limit, one after another",
            |p| {
                p.handshake()?;
                let max = p
                    .server_setting(MAX_CONCURRENT_STREAMS)
                    .unwrap_or(100)
                    .min(1000);
                for i in 0..=max + 10 {
                    let s = 1 + 2 * i;
                    p.get(s);
                    p.expect_stream_end(s)?;
                }
                Ok(())
            },
        ),
        // --- RFC 7541 extras: decoder state the server must keep right.
        case(
            K,
            "5.1",
            1,
            "Sends an integer beyond any implementation limit",
            |p| {
                // "Integer encodings that exceed implementation limits -- in value or octet length
                // -- MUST be treated as decoding errors."
                let mut rep = vec![0xff];
                rep.extend([0xff; 10]);
                rep.push(0x7f);
                super::hpack_cases::bad_suffix(p, &rep)
            },
        ),
        case(
            K,
            "5.2",
            1,
            "Sends a string literal longer than the field block",
            |p| {
                let mut rep = Vec::new();
                hpack::int(&mut rep, 0x00, 4, 0);
                hpack::string(&mut rep, b"x-test", false);
                hpack::int(&mut rep, 0x00, 7, 100);
                rep.extend_from_slice(b"abc");
                super::hpack_cases::bad_suffix(p, &rep)
            },
        ),
        case(
            K,
            "2.3.2",
            1,
            "Refers to a dynamic table entry from a later field block",
            |p| {
                // Stream 1 inserts ":path: /size/7"; stream 3 names it by index 62 alone. In process
                // the 7-octet body proves the server resolved it.
                p.handshake()?;
                let b1 = indexed_path_request(p, "/size/7");
                p.headers(1, END_STREAM | END_HEADERS, &b1);
                p.expect_ok_response(1)?;
                p.expect_stream_end(1)?;
                let mut b3 =
                    hpack::encode_plain(&[(":method", "GET"), (":scheme", p.scheme.as_str())]);
                hpack::indexed(&mut b3, 62);
                b3.extend(hpack::encode_plain(&[(":authority", p.authority.as_str())]));
                p.headers(3, END_STREAM | END_HEADERS, &b3);
                p.expect_ok_response(3)?;
                let n = p.expect_stream_end(3)?;
                if p.in_process && n != 7 {
                    return Err(p.fail(format!("expected the /size/7 body (7 octets), got {n}")));
                }
                Ok(())
            },
        ),
        case(
            K,
            "4.3",
            1,
            "Refers to an entry evicted by a dynamic table size update",
            |p| {
                // "a change in the maximum size ... can cause entries to be evicted": after updates
                // to 0 and back, index 62 no longer exists.
                p.handshake()?;
                let b1 = indexed_path_request(p, "/");
                p.headers(1, END_STREAM | END_HEADERS, &b1);
                p.expect_ok_response(1)?;
                let mut b3 = Vec::new();
                hpack::size_update(&mut b3, 0);
                hpack::size_update(&mut b3, 4096);
                b3.extend(p.request_block("GET", "/", &[]));
                hpack::indexed(&mut b3, 62);
                p.headers(3, END_STREAM | END_HEADERS, &b3);
                p.expect_connection_error(&[COMPRESSION_ERROR])
            },
        ),
        case(
            K,
            "4.4",
            1,
            "Refers to an entry evicted to make room for new ones",
            |p| {
                // Three ~1.5 KB entries in a 4,096-octet table: the first is evicted (§4.4), so
                // only indices 62 and 63 remain.
                p.handshake()?;
                let mut b1 = p.request_block("GET", "/", &[]);
                for name in ["x-a", "x-b", "x-c"] {
                    let v = "v".repeat(1500);
                    hpack::literal_new_name(
                        &mut b1,
                        Lit::Incremental,
                        name.as_bytes(),
                        v.as_bytes(),
                        false,
                    );
                }
                p.headers(1, END_STREAM | END_HEADERS, &b1);
                p.expect_ok_response(1)?;
                let mut b3 = p.request_block("GET", "/", &[]);
                hpack::indexed(&mut b3, 63);
                p.headers(3, END_STREAM | END_HEADERS, &b3);
                p.expect_ok_response(3)?;
                let mut b5 = p.request_block("GET", "/", &[]);
                hpack::indexed(&mut b5, 64);
                p.headers(5, END_STREAM | END_HEADERS, &b5);
                p.expect_connection_error(&[COMPRESSION_ERROR])
            },
        ),
        // RFC 7541 §4.2: "A change in the maximum size of the dynamic table is signaled via a
        // dynamic table size update. This dynamic table size update MUST occur at the
        // beginning of the first header block following the change to the dynamic table size.
        // In HTTP/2, this follows a settings acknowledgment." (the server as encoder)
        case(
            K,
            "4.2",
            1,
            "Lowers SETTINGS_HEADER_TABLE_SIZE to 0 between responses",
            |p| {
                p.handshake()?;
                p.get(1);
                p.expect_stream_end(1)?;
                p.settings(&[(HEADER_TABLE_SIZE, 0)]);
                p.expect_settings_ack()?;
                p.get(3);
                p.expect_ok_response(3)?;
                p.expect_stream_end(3)?;
                p.get(5);
                p.expect_ok_response(5)
            },
        ),
        case(
            K,
            "4.2",
            2,
            "Lowers SETTINGS_HEADER_TABLE_SIZE to 64 before any response",
            |p| {
                p.handshake()?;
                p.settings(&[(HEADER_TABLE_SIZE, 64)]);
                p.expect_settings_ack()?;
                for s in [1, 3, 5] {
                    p.get(s);
                    p.expect_ok_response(s)?;
                    p.expect_stream_end(s)?;
                }
                Ok(())
            },
        ),
        case(
            K,
            "6.2",
            1,
            "Literals without indexing and never indexed add no entry",
            |p| {
                // §6.2.2/§6.2.3: "without altering the dynamic table".
                p.handshake()?;
                let mut b1 = p.request_block("GET", "/", &[]);
                hpack::literal_new_name(&mut b1, Lit::WithoutIndexing, b"x-a", b"1", false);
                hpack::literal_new_name(&mut b1, Lit::NeverIndexed, b"x-b", b"2", true);
                p.headers(1, END_STREAM | END_HEADERS, &b1);
                p.expect_ok_response(1)?;
                let mut b3 = p.request_block("GET", "/", &[]);
                hpack::indexed(&mut b3, 62);
                p.headers(3, END_STREAM | END_HEADERS, &b3);
                p.expect_connection_error(&[COMPRESSION_ERROR])
            },
        ),
    ]
}
