//! Frame codec tests: every type round-trips, and every rule of RFC 9113 §4 and §6 gives its error.

use super::*;
use crate::h2::error::{ErrorCode, H2Error};

const MAX: u32 = DEFAULT_MAX_FRAME_SIZE;

fn raw(len: u32, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Head {
        len,
        kind,
        flags,
        stream_id,
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

fn frame(buf: &[u8]) -> Frame<'_> {
    match decode(buf, MAX) {
        Ok(Some((f, n))) => {
            assert_eq!(n, buf.len());
            f
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn error(buf: &[u8]) -> H2Error {
    match decode(buf, MAX) {
        Err(e) => {
            assert_eq!(e.frame_len, buf.len().max(HEAD_LEN + e.head.len as usize));
            e.error
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

const fn conn(code: ErrorCode) -> H2Error {
    H2Error::Connection(code)
}

const fn stream(id: u32, code: ErrorCode) -> H2Error {
    H2Error::Stream { id, code }
}

#[test]
fn head_round_trip_clears_reserved_bit() {
    let mut out = Vec::new();
    let h = Head {
        len: 0xabcdef,
        kind: 7,
        flags: 0x5a,
        stream_id: 0x7fff_fffe,
    };
    h.encode(&mut out);
    assert_eq!(Head::parse(&out), Some(h));
    out[5] |= 0x80;
    assert_eq!(Head::parse(&out).map(|h| h.stream_id), Some(0x7fff_fffe));
    assert_eq!(Head::parse(&out[..8]), None);
}

#[test]
fn incomplete_input_waits() {
    let mut out = Vec::new();
    encode_ping(&mut out, false, [1; 8]);
    for n in 0..out.len() {
        assert_eq!(decode(&out[..n], MAX), Ok(None), "prefix {n}");
    }
}

#[test]
fn oversized_frame_is_rejected_from_its_head() {
    let buf = raw(MAX + 1, kind::DATA, 0, 1, &[]);
    assert_eq!(error(&buf), conn(ErrorCode::FRAME_SIZE_ERROR));
    // A larger advertised maximum admits it.
    let mut big = raw(MAX + 1, kind::DATA, 0, 1, &[]);
    big.resize(HEAD_LEN + MAX as usize + 1, 0);
    assert!(matches!(
        decode(&big, MAX + 1),
        Ok(Some((Frame::Data(_), _)))
    ));
}

#[test]
fn data_round_trip_and_padding() {
    let mut out = Vec::new();
    encode_data(&mut out, 3, b"hello", true);
    assert_eq!(
        frame(&out),
        Frame::Data(Data {
            stream_id: 3,
            end_stream: true,
            data: b"hello",
            flow_len: 5
        })
    );
    out.clear();
    encode_data_padded(&mut out, 3, b"hi", 4, false);
    assert_eq!(
        frame(&out),
        Frame::Data(Data {
            stream_id: 3,
            end_stream: false,
            data: b"hi",
            flow_len: 7
        })
    );
}

#[test]
fn data_rules() {
    assert_eq!(
        error(&raw(1, kind::DATA, 0, 0, b"x")),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    // Pad length equal to the remaining payload leaves no data: legal.
    let ok = raw(3, kind::DATA, flag::PADDED, 1, &[2, 0, 0]);
    assert!(matches!(frame(&ok), Frame::Data(d) if d.data.is_empty() && d.flow_len == 3));
    // Pad length past the payload.
    let bad = raw(3, kind::DATA, flag::PADDED, 1, &[3, 0, 0]);
    assert_eq!(error(&bad), conn(ErrorCode::PROTOCOL_ERROR));
    // PADDED with no room for the pad length byte.
    let empty = raw(0, kind::DATA, flag::PADDED, 1, &[]);
    assert_eq!(error(&empty), conn(ErrorCode::FRAME_SIZE_ERROR));
}

#[test]
fn headers_round_trip_with_priority() {
    let p = Priority {
        dependency: 1,
        exclusive: true,
        weight: 200,
    };
    let mut out = Vec::new();
    encode_headers(&mut out, 5, b"\x82\x86", Some(p), true, true);
    assert_eq!(
        frame(&out),
        Frame::Headers(Headers {
            stream_id: 5,
            end_stream: true,
            end_headers: true,
            priority: Some(p),
            fragment: b"\x82\x86"
        })
    );
}

#[test]
fn headers_rules() {
    assert_eq!(
        error(&raw(1, kind::HEADERS, flag::END_HEADERS, 0, b"\x82")),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    let padded = raw(4, kind::HEADERS, flag::PADDED, 1, &[4, 0x82, 0, 0]);
    assert_eq!(error(&padded), conn(ErrorCode::PROTOCOL_ERROR));
    let padded_ok = raw(4, kind::HEADERS, flag::PADDED, 1, &[2, 0x82, 0, 0]);
    assert!(matches!(frame(&padded_ok), Frame::Headers(h) if h.fragment == b"\x82"));
    // Depends on itself.
    let selfdep = raw(5, kind::HEADERS, flag::PRIORITY, 3, &[0, 0, 0, 3, 16]);
    assert_eq!(error(&selfdep), stream(3, ErrorCode::PROTOCOL_ERROR));
    // PRIORITY flag but too short for the fields.
    let short = raw(2, kind::HEADERS, flag::PRIORITY, 3, &[0, 0]);
    assert_eq!(error(&short), conn(ErrorCode::FRAME_SIZE_ERROR));
    // Padding that eats into the priority fields.
    let eats = raw(
        7,
        kind::HEADERS,
        flag::PRIORITY | flag::PADDED,
        3,
        &[2, 0, 0, 0, 0, 16, 0],
    );
    assert_eq!(error(&eats), conn(ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn priority_rules() {
    let mut out = Vec::new();
    let p = Priority {
        dependency: 0,
        exclusive: false,
        weight: 15,
    };
    encode_priority(&mut out, 7, p);
    assert_eq!(
        frame(&out),
        Frame::Priority(PriorityFrame {
            stream_id: 7,
            priority: p
        })
    );
    assert_eq!(
        error(&raw(5, kind::PRIORITY, 0, 0, &[0; 5])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(4, kind::PRIORITY, 0, 3, &[0; 4])),
        stream(3, ErrorCode::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        error(&raw(5, kind::PRIORITY, 0, 3, &[0, 0, 0, 3, 0])),
        stream(3, ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn rst_stream_rules() {
    let mut out = Vec::new();
    encode_rst_stream(&mut out, 9, ErrorCode::CANCEL);
    assert_eq!(
        frame(&out),
        Frame::RstStream(RstStream {
            stream_id: 9,
            code: ErrorCode::CANCEL
        })
    );
    assert_eq!(
        error(&raw(4, kind::RST_STREAM, 0, 0, &[0; 4])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(3, kind::RST_STREAM, 0, 1, &[0; 3])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn settings_round_trip_and_rules() {
    let mut out = Vec::new();
    let sent = [
        Setting::HeaderTableSize(0),
        Setting::EnablePush(0),
        Setting::MaxConcurrentStreams(100),
        Setting::InitialWindowSize(MAX_WINDOW),
        Setting::MaxFrameSize(MAX_MAX_FRAME_SIZE),
        Setting::MaxHeaderListSize(1 << 20),
        Setting::EnableConnectProtocol(1),
        Setting::Unknown(0xff, 7),
    ];
    encode_settings(&mut out, &sent);
    let Frame::Settings(s) = frame(&out) else {
        panic!("not SETTINGS")
    };
    assert!(!s.ack);
    assert_eq!(s.iter().collect::<Vec<_>>(), sent);

    out.clear();
    encode_settings_ack(&mut out);
    assert!(matches!(frame(&out), Frame::Settings(s) if s.ack && s.iter().next().is_none()));

    let bad = |id: u16, v: u32| {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&v.to_be_bytes());
        error(&raw(6, kind::SETTINGS, 0, 0, &p))
    };
    assert_eq!(bad(2, 2), conn(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(bad(4, MAX_WINDOW + 1), conn(ErrorCode::FLOW_CONTROL_ERROR));
    assert_eq!(bad(5, 16_383), conn(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(
        bad(5, MAX_MAX_FRAME_SIZE + 1),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(bad(8, 2), conn(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(
        error(&raw(0, kind::SETTINGS, 0, 1, &[])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(6, kind::SETTINGS, flag::ACK, 0, &[0; 6])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
    assert_eq!(
        error(&raw(5, kind::SETTINGS, 0, 0, &[0; 5])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn push_promise_round_trip_and_rules() {
    let mut out = Vec::new();
    encode_push_promise(&mut out, 1, 2, b"\x82");
    assert_eq!(
        frame(&out),
        Frame::PushPromise(PushPromise {
            stream_id: 1,
            end_headers: true,
            promised_id: 2,
            fragment: b"\x82"
        })
    );
    assert_eq!(
        error(&raw(4, kind::PUSH_PROMISE, 0, 0, &[0; 4])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(3, kind::PUSH_PROMISE, 0, 1, &[0; 3])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn ping_rules() {
    let mut out = Vec::new();
    encode_ping(&mut out, true, *b"h2edge!!");
    assert_eq!(
        frame(&out),
        Frame::Ping(Ping {
            ack: true,
            payload: *b"h2edge!!"
        })
    );
    assert_eq!(
        error(&raw(8, kind::PING, 0, 1, &[0; 8])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(6, kind::PING, 0, 0, &[0; 6])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn goaway_rules() {
    let mut out = Vec::new();
    encode_goaway(&mut out, 41, ErrorCode::ENHANCE_YOUR_CALM, b"calm");
    assert_eq!(
        frame(&out),
        Frame::GoAway(GoAway {
            last_stream_id: 41,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug: b"calm"
        })
    );
    assert_eq!(
        error(&raw(8, kind::GOAWAY, 0, 1, &[0; 8])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(7, kind::GOAWAY, 0, 0, &[0; 7])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn window_update_rules() {
    let mut out = Vec::new();
    encode_window_update(&mut out, 0, MAX_WINDOW);
    assert_eq!(
        frame(&out),
        Frame::WindowUpdate(WindowUpdate {
            stream_id: 0,
            increment: MAX_WINDOW
        })
    );
    assert_eq!(
        error(&raw(4, kind::WINDOW_UPDATE, 0, 0, &[0; 4])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(4, kind::WINDOW_UPDATE, 0, 5, &[0x80, 0, 0, 0])),
        stream(5, ErrorCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        error(&raw(3, kind::WINDOW_UPDATE, 0, 5, &[0; 3])),
        conn(ErrorCode::FRAME_SIZE_ERROR)
    );
}

#[test]
fn continuation_and_unknown() {
    let mut out = Vec::new();
    encode_continuation(&mut out, 3, b"abc", true);
    assert_eq!(
        frame(&out),
        Frame::Continuation(Continuation {
            stream_id: 3,
            end_headers: true,
            fragment: b"abc"
        })
    );
    assert_eq!(
        error(&raw(0, kind::CONTINUATION, 0, 0, &[])),
        conn(ErrorCode::PROTOCOL_ERROR)
    );
    let unknown = raw(3, 0xfa, 0xff, 0, b"xyz");
    assert!(matches!(frame(&unknown), Frame::Unknown(h) if h.kind == 0xfa && h.len == 3));
}

#[test]
fn header_block_split_into_continuations() {
    for (block_len, max) in [
        (0usize, 16_384u32),
        (10, 16_384),
        (16_384, 16_384),
        (40_000, 16_384),
        (7, 3),
    ] {
        let block: Vec<u8> = (0..block_len).map(|i| i as u8).collect();
        let mut out = b"prefix".to_vec();
        let start = out.len();
        out.extend_from_slice(&block);
        encode_header_block(&mut out, start, 11, true, max);
        let mut rest = &out[start..];
        let mut got = Vec::new();
        let mut first = true;
        loop {
            let (f, n) = decode(rest, max).unwrap().unwrap();
            rest = &rest[n..];
            let end = match f {
                Frame::Headers(h) => {
                    assert!(first && h.end_stream && h.stream_id == 11);
                    got.extend_from_slice(h.fragment);
                    h.end_headers
                }
                Frame::Continuation(c) => {
                    assert!(!first && c.stream_id == 11);
                    got.extend_from_slice(c.fragment);
                    c.end_headers
                }
                other => panic!("unexpected {other:?}"),
            };
            first = false;
            if end {
                break;
            }
        }
        assert!(rest.is_empty(), "{block_len}/{max}");
        assert_eq!(got, block, "{block_len}/{max}");
    }
}
