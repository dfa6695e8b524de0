//! The server role driven with raw frames: stream id rules, stream states, header block sequencing,
//! message validation, padding and priority.

use std::time::Instant;

use super::*;
use crate::h2::frame::{Head, encode_headers, kind};

/// A server that has done its handshake with a raw client; the output is drained.
fn raw_server(cfg: &Config) -> (Connection, Rec, Instant) {
    let now = Instant::now();
    let mut s = Connection::new(Role::Server, cfg, now);
    let mut h = Rec::default();
    let mut raw = PREFACE.to_vec();
    frame::encode_settings(&mut raw, &[]);
    frame::encode_settings_ack(&mut raw);
    assert_eq!(s.recv(&raw, now, &mut h), raw.len());
    s.advance_output(usize::MAX);
    h.take();
    (s, h, now)
}

fn feed(s: &mut Connection, h: &mut Rec, now: Instant, raw: &[u8]) {
    let n = s.recv(raw, now, h);
    assert_eq!(n, raw.len());
}

fn request(s: &mut Connection, h: &mut Rec, now: Instant, id: u32, end_stream: bool) {
    let mut raw = Vec::new();
    encode_headers(&mut raw, id, &literal_block(&REQ), None, end_stream, true);
    feed(s, h, now, &raw);
}

#[test]
fn stream_id_rules() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 5, true);
    assert_eq!(h.take().len(), 1);
    // Lower id that was never used: PROTOCOL_ERROR.
    request(&mut s, &mut h, now, 3, true);
    assert!(s.is_closed());
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    let last = frames(s.pending_output())[0].1[..4].to_vec();
    assert_eq!(last, 5u32.to_be_bytes());

    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 2, true);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn frames_on_idle_and_closed_streams() {
    for f in [
        |o: &mut Vec<u8>| frame::encode_data(o, 1, b"x", false),
        |o: &mut Vec<u8>| frame::encode_rst_stream(o, 1, ErrorCode::CANCEL),
        |o: &mut Vec<u8>| frame::encode_window_update(o, 1, 1),
        |o: &mut Vec<u8>| frame::encode_continuation(o, 1, b"", true),
    ] {
        let (mut s, mut h, now) = raw_server(&Config::default());
        let mut raw = Vec::new();
        f(&mut raw);
        feed(&mut s, &mut h, now, &raw);
        assert_eq!(
            goaway_code(s.pending_output()),
            Some(ErrorCode::PROTOCOL_ERROR)
        );
    }
    // PRIORITY on an idle stream is fine and does not open it.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    let prio = frame::Priority {
        dependency: 0,
        exclusive: false,
        weight: 1,
    };
    frame::encode_priority(&mut raw, 7, prio);
    feed(&mut s, &mut h, now, &raw);
    request(&mut s, &mut h, now, 3, true);
    assert!(!s.is_closed());

    // Half-closed (remote): DATA and HEADERS are STREAM_CLOSED stream errors.
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, true);
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, b"x", false);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::STREAM_CLOSED)]
    );
    assert_eq!(
        h.take().last(),
        Some(&Ev::Reset(1, ErrorCode::STREAM_CLOSED, false))
    );
    // Now closed after our reset: late frames are ignored.
    s.advance_output(usize::MAX);
    feed(&mut s, &mut h, now, &raw);
    assert!(s.pending_output().is_empty());

    // Closed by END_STREAM both ways: HEADERS is a connection error STREAM_CLOSED.
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, true);
    s.send_headers(1, OK, true).unwrap();
    s.advance_output(usize::MAX);
    request(&mut s, &mut h, now, 1, true);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::STREAM_CLOSED)
    );
}

#[test]
fn continuation_sequencing() {
    let block = literal_block(&REQ);
    let (a, b) = block.split_at(10);
    // Well-formed split block.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, a, None, true, false);
    frame::encode_continuation(&mut raw, 1, b, true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(h.take(), vec![Ev::Headers(1, hdrs_req(), true)]);
    // Another frame inside the block.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, a, None, true, false);
    frame::encode_ping(&mut raw, false, [0; 8]);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    // CONTINUATION on another stream.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, a, None, true, false);
    frame::encode_continuation(&mut raw, 3, b, true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    // Unknown frame inside the block.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, a, None, true, false);
    Head {
        len: 0,
        kind: 0xee,
        flags: 0,
        stream_id: 1,
    }
    .encode(&mut raw);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

fn hdrs_req() -> Vec<(String, String)> {
    REQ.iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn malformed_requests_are_reset() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    let mut fields = REQ.to_vec();
    fields.push((b"Upper", b"x"));
    encode_headers(&mut raw, 1, &literal_block(&fields), None, true, true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert!(h.take().is_empty());
    assert!(!s.is_closed());
}

#[test]
fn trailers_rules_and_content_length() {
    // Trailers without END_STREAM.
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, false);
    let mut raw = Vec::new();
    encode_headers(
        &mut raw,
        1,
        &literal_block(&[(b"x", b"y")]),
        None,
        false,
        true,
    );
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    // Content-length mismatch.
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut fields = REQ.to_vec();
    fields.push((b"content-length", b"3"));
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, &literal_block(&fields), None, false, true);
    frame::encode_data(&mut raw, 1, b"ab", true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    let ev = h.take();
    assert_eq!(
        ev.last(),
        Some(&Ev::Reset(1, ErrorCode::PROTOCOL_ERROR, false))
    );
}

#[test]
fn padded_data_releases_padding() {
    let sc = Config {
        initial_window_size: 100,
        connection_window_size: 65_535,
        ..Config::default()
    };
    let (mut s, mut h, now) = raw_server(&sc);
    request(&mut s, &mut h, now, 1, false);
    let mut raw = Vec::new();
    frame::encode_data_padded(&mut raw, 1, b"abc", 96, false);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(h.take().last(), Some(&Ev::Data(1, b"abc".to_vec(), false)));
    // The 97 padding bytes came back at once as a stream WINDOW_UPDATE.
    let f = frames(s.pending_output());
    assert!(f.iter().any(|(hd, p)| hd.kind == kind::WINDOW_UPDATE
        && hd.stream_id == 1
        && p == &97u32.to_be_bytes()));
    // More than the window: FLOW_CONTROL_ERROR on the stream.
    s.advance_output(usize::MAX);
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, &[0; 98], false);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
}

#[test]
fn push_promise_and_server_enable_push_are_errors() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, false);
    let mut raw = Vec::new();
    frame::encode_push_promise(&mut raw, 1, 2, &literal_block(&REQ));
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );

    let now = Instant::now();
    let mut c = Connection::new(Role::Client, &Config::default(), now);
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[Setting::EnablePush(1)]);
    c.recv(&raw, now, &mut Rec::default());
    assert!(c.is_closed());
}

#[test]
fn self_dependent_headers_is_a_stream_error_and_block_is_decoded() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    let mut raw = Vec::new();
    let prio = frame::Priority {
        dependency: 1,
        exclusive: false,
        weight: 16,
    };
    encode_headers(&mut raw, 1, &literal_block(&REQ), Some(prio), true, true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert!(!s.is_closed());
    request(&mut s, &mut h, now, 3, true);
    assert_eq!(h.take().len(), 1);
}

#[test]
fn decoded_frames_round_trip_through_codec() {
    // Sanity: what the client queues is a valid frame sequence after the preface.
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, &Config::default(), now);
    c.open_stream(REQ, true).unwrap();
    let out = c.pending_output();
    assert!(out.starts_with(PREFACE));
    let mut rest = &out[24..];
    let mut kinds = Vec::new();
    while !rest.is_empty() {
        let (f, n) = decode(rest, 16_384).unwrap().unwrap();
        kinds.push(match f {
            Frame::Settings(_) => kind::SETTINGS,
            Frame::WindowUpdate(_) => kind::WINDOW_UPDATE,
            Frame::Headers(h) => {
                assert!(h.end_headers && h.end_stream);
                kind::HEADERS
            }
            _ => 0xff,
        });
        rest = &rest[n..];
    }
    assert_eq!(
        kinds,
        vec![kind::SETTINGS, kind::WINDOW_UPDATE, kind::HEADERS]
    );
    let _ = flag::ACK;
}

#[test]
fn streams_opened_after_our_goaway_are_ignored() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, false);
    s.go_away(ErrorCode::NO_ERROR, b"");
    assert_eq!(frames(s.pending_output())[0].1[..4], 1u32.to_be_bytes());
    s.advance_output(usize::MAX);
    h.take();
    request(&mut s, &mut h, now, 3, false);
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 3, b"ignored", true);
    frame::encode_data(&mut raw, 1, b"served", true);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(h.take(), vec![Ev::Data(1, b"served".to_vec(), true)]);
    assert!(s.pending_output().is_empty());
    assert!(!s.is_closed());
    s.send_headers(1, OK, true).unwrap();
    assert!(s.is_closed());
    // A later connection error does not raise the last stream id.
    let (mut s, mut h, now) = raw_server(&Config::default());
    s.go_away(ErrorCode::NO_ERROR, b"");
    request(&mut s, &mut h, now, 1, false);
    s.go_away(ErrorCode::PROTOCOL_ERROR, b"");
    let f = frames(s.pending_output());
    assert!(
        f.iter()
            .all(|(hd, p)| hd.kind != kind::GOAWAY || p[..4] == [0; 4])
    );
}

#[test]
fn data_before_final_head_and_trailers_are_refused_locally() {
    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, true);
    assert_eq!(s.send_data(1, b"x", true), Err(SendError::StreamClosed));
    assert_eq!(
        s.send_trailers(1, [(&b"a"[..], &b"b"[..])]),
        Err(SendError::StreamClosed)
    );
    s.send_headers(1, [(&b":status"[..], &b"100"[..])], false)
        .unwrap();
    assert_eq!(s.send_data(1, b"x", true), Err(SendError::StreamClosed));
    s.send_headers(1, OK, false).unwrap();
    assert_eq!(s.send_headers(1, OK, false), Err(SendError::StreamClosed));
    assert_eq!(s.send_data(1, b"", true), Ok(0));
    assert_eq!(s.active_streams(), 0);
}

#[test]
fn connection_flow_control_error_and_window_update_overflow() {
    let cfg = Config {
        connection_window_size: 65_535,
        ..Config::default()
    };
    let (mut s, mut h, now) = raw_server(&cfg);
    request(&mut s, &mut h, now, 1, false);
    let mut raw = Vec::new();
    for _ in 0..4 {
        frame::encode_data(&mut raw, 1, &[0; 16_384], false);
    }
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::FLOW_CONTROL_ERROR)
    );

    let (mut s, mut h, now) = raw_server(&Config::default());
    request(&mut s, &mut h, now, 1, false);
    let mut raw = Vec::new();
    frame::encode_window_update(&mut raw, 1, MAX_WINDOW);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        rst_codes(s.pending_output()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
    let mut raw = Vec::new();
    frame::encode_window_update(&mut raw, 0, MAX_WINDOW);
    feed(&mut s, &mut h, now, &raw);
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::FLOW_CONTROL_ERROR)
    );
}
