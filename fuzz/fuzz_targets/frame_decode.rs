//! `frame_decode`: the frame codec on arbitrary bytes.
//!
//! Input: 3 bytes that pick SETTINGS_MAX_FRAME_SIZE (clamped to the legal 16,384..=2^24-1), then a
//! byte stream that is decoded frame after frame.
//!
//! Asserts:
//! - `decode` never panics, and a decoded frame used exactly `9 + head.len` bytes;
//! - a frame one byte short is "incomplete" (`Ok(None)`), never an error or another frame, unless
//!   its head alone already says FRAME_SIZE_ERROR;
//! - re-encoding a decoded frame with the crate's own `encode_*` function and decoding that gives the
//!   same frame (padding is not kept by `Frame`, so padded frames are re-encoded unpadded, except
//!   DATA, which keeps its flow-control length and is re-encoded with the same pad length);
//! - a HEADERS fragment framed by `encode_header_block` at a small max frame size comes back as one
//!   HEADERS and CONTINUATION frames of at most that size whose fragments concatenate to the input.
//!
//! After a stream error the frame is skipped, as a connection would; after a connection error the
//! frame is skipped too when it is complete (the codec is stateless, so this only buys coverage).
#![no_main]

use h2edge::h2::frame::{
    self, DEFAULT_MAX_FRAME_SIZE, Frame, HEAD_LEN, Head, MAX_MAX_FRAME_SIZE, Setting,
};
use h2edge::h2::{ErrorCode, H2Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let raw = u32::from_be_bytes([0, data[0], data[1], data[2]]);
    let max = raw.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    // A second, smaller split size for the header-block framing check.
    let split = raw % 64 + 1;
    let mut rest = &data[3..];
    let mut scratch = Vec::new();
    while !rest.is_empty() {
        match frame::decode(rest, max) {
            Ok(None) => {
                // Incomplete: only possible if the buffer is shorter than what the head announces.
                if let Some(head) = Head::parse(rest) {
                    assert!(rest.len() < HEAD_LEN + head.len as usize);
                } else {
                    assert!(rest.len() < HEAD_LEN);
                }
                break;
            }
            Ok(Some((f, len))) => {
                let head = Head::parse(rest).expect("a decoded frame has a head");
                assert_eq!(len, HEAD_LEN + head.len as usize, "{f:?}");
                assert!(head.len <= max);
                // One byte short is incomplete.
                assert_eq!(frame::decode(&rest[..len - 1], max), Ok(None));
                check_roundtrip(&f, head, max, &mut scratch);
                if let Frame::Headers(h) = f {
                    check_header_block_split(h.stream_id, h.end_stream, h.fragment, split);
                }
                rest = &rest[len..];
            }
            Err(e) => {
                assert_eq!(e.head, Head::parse(rest).expect("an error has a head"));
                assert_eq!(e.frame_len, HEAD_LEN + e.head.len as usize);
                match e.error {
                    H2Error::Stream { id, .. } => assert_eq!(id, e.head.stream_id),
                    H2Error::Connection(code) => {
                        if e.head.len > max {
                            assert_eq!(code, ErrorCode::FRAME_SIZE_ERROR);
                        }
                    }
                }
                if e.frame_len > rest.len() {
                    break;
                }
                rest = &rest[e.frame_len..];
            }
        }
    }
});

/// Re-encodes `f` with the crate's encoder for its type and checks that it decodes to the same frame.
fn check_roundtrip(f: &Frame<'_>, head: Head, max: u32, out: &mut Vec<u8>) {
    out.clear();
    match *f {
        Frame::Data(d) => {
            if head.has(frame::flag::PADDED) {
                let pad = d.flow_len as usize - 1 - d.data.len();
                let pad = u8::try_from(pad).expect("pad length is one byte");
                frame::encode_data_padded(out, d.stream_id, d.data, pad, d.end_stream);
            } else {
                assert_eq!(d.flow_len as usize, d.data.len());
                frame::encode_data(out, d.stream_id, d.data, d.end_stream);
            }
        }
        Frame::Headers(h) => frame::encode_headers(
            out,
            h.stream_id,
            h.fragment,
            h.priority,
            h.end_stream,
            h.end_headers,
        ),
        Frame::Priority(p) => frame::encode_priority(out, p.stream_id, p.priority),
        Frame::RstStream(r) => frame::encode_rst_stream(out, r.stream_id, r.code),
        Frame::Settings(s) => {
            if s.ack {
                frame::encode_settings_ack(out);
            } else {
                let list: Vec<Setting> = s.iter().collect();
                assert_eq!(list.len() * 6, head.len as usize);
                for s in &list {
                    let (id, value) = s.to_pair();
                    assert_eq!(Setting::from_pair(id, value), *s);
                }
                frame::encode_settings(out, &list);
            }
        }
        Frame::PushPromise(p) => {
            // The encoder always sets END_HEADERS and never pads.
            if !p.end_headers {
                return;
            }
            frame::encode_push_promise(out, p.stream_id, p.promised_id, p.fragment);
        }
        Frame::Ping(p) => frame::encode_ping(out, p.ack, p.payload),
        Frame::GoAway(g) => frame::encode_goaway(out, g.last_stream_id, g.code, g.debug),
        Frame::WindowUpdate(w) => frame::encode_window_update(out, w.stream_id, w.increment),
        Frame::Continuation(c) => {
            frame::encode_continuation(out, c.stream_id, c.fragment, c.end_headers)
        }
        Frame::Unknown(h) => {
            // No encoder for unknown types: the head must round-trip, with a zero payload.
            h.encode(out);
            out.resize(out.len() + h.len as usize, 0);
        }
    }
    let again = frame::decode(out, max);
    assert_eq!(
        again,
        Ok(Some((*f, out.len()))),
        "re-encoded frame differs: {:02x?}",
        &out[..out.len().min(64)]
    );
}

/// `encode_header_block` splits a block into HEADERS + CONTINUATION frames of at most `split` bytes.
fn check_header_block_split(stream_id: u32, end_stream: bool, fragment: &[u8], split: u32) {
    let mut out = vec![0xAA; 3]; // something already in the send buffer
    let start = out.len();
    out.extend_from_slice(fragment);
    frame::encode_header_block(&mut out, start, stream_id, end_stream, split);
    assert_eq!(&out[..start], &[0xAA; 3]);
    let mut rest = &out[start..];
    let mut joined = Vec::with_capacity(fragment.len());
    let mut first = true;
    loop {
        let (f, len) = frame::decode(rest, MAX_MAX_FRAME_SIZE)
            .expect("encoder output decodes")
            .expect("encoder output is complete");
        let end = match f {
            Frame::Headers(h) if first => {
                assert_eq!(h.stream_id, stream_id);
                assert_eq!(h.end_stream, end_stream);
                assert_eq!(h.priority, None);
                joined.extend_from_slice(h.fragment);
                h.end_headers
            }
            Frame::Continuation(c) if !first => {
                assert_eq!(c.stream_id, stream_id);
                joined.extend_from_slice(c.fragment);
                c.end_headers
            }
            other => panic!("unexpected frame in a header block: {other:?}"),
        };
        assert!(len - HEAD_LEN <= split as usize);
        first = false;
        rest = &rest[len..];
        if end {
            break;
        }
        assert!(!rest.is_empty(), "header block ends without END_HEADERS");
    }
    assert!(rest.is_empty(), "bytes after END_HEADERS");
    assert_eq!(joined, fragment);
}
