//! The client role driven by a raw server: response validation, informational heads, body length
//! rules, and what a server may not do.

use std::time::Instant;

use super::*;
use crate::h2::frame::encode_headers;

/// A client that has received the server's SETTINGS and opened stream 1 (`end_stream` as given).
fn raw_client(method: &[u8], end_stream: bool) -> (Connection, Rec, Instant) {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, &Config::default(), now);
    let mut h = Rec::default();
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[Setting::MaxConcurrentStreams(10)]);
    frame::encode_settings_ack(&mut raw);
    assert_eq!(c.recv(&raw, now, &mut h), raw.len());
    let fields: [(&[u8], &[u8]); 4] = [
        (b":method", method),
        (b":scheme", b"https"),
        (b":authority", b"a"),
        (b":path", b"/"),
    ];
    assert_eq!(c.open_stream(fields, end_stream), Ok(1));
    c.advance_output(usize::MAX);
    h.take();
    (c, h, now)
}

fn respond(c: &mut Connection, h: &mut Rec, now: Instant, fields: &[(&[u8], &[u8])], end: bool) {
    let mut raw = Vec::new();
    encode_headers(&mut raw, 1, &literal_block(fields), None, end, true);
    assert_eq!(c.recv(&raw, now, h), raw.len());
}

#[test]
fn response_with_content_length_and_body() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    respond(
        &mut c,
        &mut h,
        now,
        &[(b":status", b"200"), (b"content-length", b"3")],
        false,
    );
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, b"abc", true);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        h.take_main(),
        vec![
            Ev::Headers(
                1,
                vec![
                    (":status".into(), "200".into()),
                    ("content-length".into(), "3".into())
                ],
                false
            ),
            Ev::Data(1, b"abc".to_vec(), true)
        ]
    );
    assert_eq!(c.active_streams(), 0);
}

#[test]
fn head_response_content_length_is_not_a_body_length() {
    let (mut c, mut h, now) = raw_client(b"HEAD", true);
    respond(
        &mut c,
        &mut h,
        now,
        &[(b":status", b"200"), (b"content-length", b"300")],
        true,
    );
    assert!(c.pending_output().is_empty());
    assert_eq!(h.take_main().len(), 1);
}

#[test]
fn body_longer_than_content_length_resets() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    respond(
        &mut c,
        &mut h,
        now,
        &[(b":status", b"200"), (b"content-length", b"2")],
        false,
    );
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, b"abc", false);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        rst_codes(c.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert_eq!(
        h.take_main().last(),
        Some(&Ev::Reset(1, ErrorCode::PROTOCOL_ERROR, false))
    );
}

#[test]
fn data_before_final_head_resets() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    respond(&mut c, &mut h, now, &[(b":status", b"100")], false);
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, b"abc", false);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        rst_codes(c.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
}

#[test]
fn malformed_responses_reset_the_stream() {
    let bad: &[&[(&[u8], &[u8])]] = &[
        &[(b":status", b"101")],
        &[(b"x", b"y")],
        &[(b":status", b"200"), (b":method", b"GET")],
        &[(b":status", b"200"), (b"connection", b"close")],
    ];
    for fields in bad {
        let (mut c, mut h, now) = raw_client(b"GET", true);
        respond(&mut c, &mut h, now, fields, false);
        assert_eq!(
            rst_codes(c.pending_output()),
            vec![(1, ErrorCode::PROTOCOL_ERROR)],
            "{fields:?}"
        );
        assert_eq!(
            h.take_main(),
            vec![Ev::Reset(1, ErrorCode::PROTOCOL_ERROR, false)]
        );
    }
    // An informational head may not end the stream.
    let (mut c, mut h, now) = raw_client(b"GET", true);
    respond(&mut c, &mut h, now, &[(b":status", b"100")], true);
    assert_eq!(
        rst_codes(c.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
}

#[test]
fn response_over_header_limits_resets_the_stream() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    let mut fields: Vec<(&[u8], &[u8])> = vec![(b":status", b"200")];
    fields.extend(std::iter::repeat_n((&b"x"[..], &b"y"[..]), 200));
    respond(&mut c, &mut h, now, &fields, false);
    assert_eq!(
        rst_codes(c.pending_output()),
        vec![(1, ErrorCode::PROTOCOL_ERROR)]
    );
    assert_eq!(
        h.take_main(),
        vec![Ev::Reset(1, ErrorCode::PROTOCOL_ERROR, false)]
    );
    assert!(!c.is_closed());
}

#[test]
fn server_may_not_open_streams() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    let mut raw = Vec::new();
    encode_headers(&mut raw, 2, &literal_block(&REQ), None, true, true);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        goaway_code(c.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
    // Nor answer a stream we have not opened yet.
    let (mut c, mut h, now) = raw_client(b"GET", true);
    let mut raw = Vec::new();
    encode_headers(&mut raw, 3, &literal_block(&OK), None, true, true);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        goaway_code(c.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn goaway_below_open_streams_refuses_them() {
    let (mut c, mut h, now) = raw_client(b"GET", true);
    c.open_stream(REQ, true).unwrap();
    let mut raw = Vec::new();
    frame::encode_goaway(&mut raw, 1, ErrorCode::NO_ERROR, b"");
    c.recv(&raw, now, &mut h);
    assert_eq!(
        h.take_main(),
        vec![
            Ev::GoAway(1, ErrorCode::NO_ERROR),
            Ev::Reset(3, ErrorCode::REFUSED_STREAM, true)
        ]
    );
    assert_eq!(c.active_streams(), 1);
    assert!(!c.is_closed());
    respond(&mut c, &mut h, now, &OK, true);
    assert!(c.is_closed());
}

#[test]
fn our_smaller_initial_window_applies_after_ack() {
    let now = Instant::now();
    let cfg = Config {
        initial_window_size: 1000,
        ..Config::default()
    };
    let mut c = Connection::new(Role::Client, &cfg, now);
    let mut h = Rec::default();
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[]);
    c.recv(&raw, now, &mut h);
    c.open_stream(REQ, true).unwrap();
    c.advance_output(usize::MAX);
    respond(&mut c, &mut h, now, &OK, false);
    // Before the ACK the server may still assume 65,535.
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, &[0; 2000], false);
    c.recv(&raw, now, &mut h);
    assert!(rst_codes(c.pending_output()).is_empty());
    // After it, the window is 1000 - 2000 < 0: any more DATA overflows it.
    let mut raw = Vec::new();
    frame::encode_settings_ack(&mut raw);
    frame::encode_data(&mut raw, 1, &[0; 1], false);
    c.recv(&raw, now, &mut h);
    assert_eq!(
        rst_codes(c.pending_output()),
        vec![(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
}

/// A client that has received the server's SETTINGS (no stream limit) and its ACK.
fn settled_client(cfg: &Config) -> (Connection, Rec, Instant) {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, cfg, now);
    let mut h = Rec::default();
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[]);
    frame::encode_settings_ack(&mut raw);
    c.recv(&raw, now, &mut h);
    c.advance_output(usize::MAX);
    (c, h, now)
}

/// A backend that answers long after we reset its streams (a stall, then a route timeout): its
/// late HEADERS on a stream reset more than the remembered 128 streams ago are ignored, and the
/// connection goes on serving the stream still open (RFC 9113 §5.1).
#[test]
fn late_headers_on_long_reset_stream_are_ignored() {
    let (mut c, mut h, now) = settled_client(&Config::default());
    let first = c.open_stream(REQ, true).unwrap();
    for _ in 0..300 {
        let id = c.open_stream(REQ, true).unwrap();
        c.reset(id, ErrorCode::CANCEL);
    }
    c.reset(first, ErrorCode::CANCEL);
    let live = c.open_stream(REQ, true).unwrap();
    c.advance_output(usize::MAX);
    h.take();
    let mut raw = Vec::new();
    for id in [3, first, live] {
        encode_headers(&mut raw, id, &literal_block(&OK), None, true, true);
    }
    c.recv(&raw, now, &mut h);
    assert_eq!(goaway_code(c.pending_output()), None);
    assert_eq!(
        h.take_main(),
        vec![Ev::Headers(
            live,
            vec![(":status".into(), "200".into())],
            true
        )]
    );
}

/// `forget` drops a stream without a frame; what arrives on it later is ignored.
#[test]
fn forgotten_stream_sends_nothing_and_ignores_late_frames() {
    let (mut c, mut h, now) = settled_client(&Config::default());
    let id = c.open_stream(REQ, true).unwrap();
    c.advance_output(usize::MAX);
    c.forget(id);
    assert!(c.pending_output().is_empty());
    assert_eq!(c.active_streams(), 0);
    let mut raw = Vec::new();
    encode_headers(&mut raw, id, &literal_block(&OK), None, false, true);
    frame::encode_data(&mut raw, id, &[0; 100], true);
    c.recv(&raw, now, &mut h);
    assert_eq!(goaway_code(c.pending_output()), None);
    assert!(h.take_main().is_empty());
}

/// With `connection_window_on_receipt`, DATA the application still holds counts against its
/// stream window only: the connection window goes back as the bytes arrive, so a stream whose
/// bytes are stuck does not close the connection to the others.
#[test]
fn connection_window_on_receipt_keeps_the_connection_open_for_other_streams() {
    for on_receipt in [false, true] {
        let cfg = Config {
            connection_window_size: 65_535,
            initial_window_size: 65_535,
            connection_window_on_receipt: on_receipt,
            ..Config::default()
        };
        let (mut c, mut h, now) = settled_client(&cfg);
        let stuck = c.open_stream(REQ, true).unwrap();
        let other = c.open_stream(REQ, true).unwrap();
        c.advance_output(usize::MAX);
        let mut raw = Vec::new();
        encode_headers(&mut raw, stuck, &literal_block(&OK), None, false, true);
        encode_headers(&mut raw, other, &literal_block(&OK), None, false, true);
        // The whole connection window on the stream whose bytes the application keeps.
        for _ in 0..4 {
            frame::encode_data(&mut raw, stuck, &[0; 16_383], false);
        }
        frame::encode_data(&mut raw, stuck, &[0; 3], false);
        c.recv(&raw, now, &mut h);
        let mut more = Vec::new();
        frame::encode_data(&mut more, other, &[0; 100], true);
        c.recv(&more, now, &mut h);
        // Without it, the other stream's DATA overflows the connection window.
        let code = goaway_code(c.pending_output());
        if on_receipt {
            assert_eq!(code, None);
            // Releasing the stuck bytes later gives nothing back twice.
            c.release_capacity(stuck, 65_535);
        } else {
            assert_eq!(code, Some(ErrorCode::FLOW_CONTROL_ERROR));
        }
    }
}

/// Once its last stream has ended and its bytes are released, a connection announces all the
/// credit it held back in batches: an idle connection offers its whole window again.
#[test]
fn idle_connection_offers_its_whole_window() {
    for on_receipt in [false, true] {
        let cfg = Config {
            connection_window_on_receipt: on_receipt,
            ..Config::default()
        };
        let (mut c, mut h, now) = settled_client(&cfg);
        let id = c.open_stream(REQ, true).unwrap();
        c.advance_output(usize::MAX);
        let mut raw = Vec::new();
        encode_headers(&mut raw, id, &literal_block(&OK), None, false, true);
        frame::encode_data(&mut raw, id, &[0; 1000], true);
        c.recv(&raw, now, &mut h);
        c.release_capacity(id, 1000);
        let updates: Vec<u32> = frames(c.pending_output())
            .into_iter()
            .filter(|(head, _)| head.kind == frame::kind::WINDOW_UPDATE && head.stream_id == 0)
            .map(|(_, payload)| {
                u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
            })
            .collect();
        assert_eq!(updates, vec![1000], "on_receipt {on_receipt}");
    }
}
