//! Connection tests: a client and a server connection talking to each other in memory, and a server
//! driven with raw frames.

use std::time::{Duration, Instant};

use super::*;
use crate::h2::frame::{Frame, Head, decode, encode_headers, flag, kind};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ev {
    Headers(u32, Vec<(String, String)>, bool),
    Trailers(u32, Vec<(String, String)>),
    Data(u32, Vec<u8>, bool),
    Reset(u32, ErrorCode, bool),
    GoAway(u32, ErrorCode),
    Window(u32),
    Settings,
    PingAck([u8; 8]),
}

#[derive(Default)]
pub(super) struct Rec(pub Vec<Ev>);

fn strings(fields: &FieldList) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

impl Handler for Rec {
    fn on_headers(&mut self, id: u32, fields: &FieldList, end_stream: bool) {
        self.0.push(Ev::Headers(id, strings(fields), end_stream));
    }
    fn on_trailers(&mut self, id: u32, fields: &FieldList) {
        self.0.push(Ev::Trailers(id, strings(fields)));
    }
    fn on_data(&mut self, id: u32, data: &[u8], end_stream: bool) {
        self.0.push(Ev::Data(id, data.to_vec(), end_stream));
    }
    fn on_reset(&mut self, id: u32, code: ErrorCode, remote: bool) {
        self.0.push(Ev::Reset(id, code, remote));
    }
    fn on_goaway(&mut self, last: u32, code: ErrorCode, _debug: &[u8]) {
        self.0.push(Ev::GoAway(last, code));
    }
    fn on_window_update(&mut self, id: u32) {
        self.0.push(Ev::Window(id));
    }
    fn on_settings(&mut self) {
        self.0.push(Ev::Settings);
    }
    fn on_ping_ack(&mut self, payload: [u8; 8]) {
        self.0.push(Ev::PingAck(payload));
    }
}

impl Rec {
    fn take(&mut self) -> Vec<Ev> {
        std::mem::take(&mut self.0)
    }
    /// Events other than settings and window updates.
    fn take_main(&mut self) -> Vec<Ev> {
        self.take()
            .into_iter()
            .filter(|e| !matches!(e, Ev::Settings | Ev::Window(_)))
            .collect()
    }
}

pub(super) struct Pair {
    c: Connection,
    s: Connection,
    ch: Rec,
    sh: Rec,
    now: Instant,
}

pub(super) const REQ: [(&[u8], &[u8]); 4] = [
    (b":method", b"POST"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/echo"),
];

pub(super) const OK: [(&[u8], &[u8]); 1] = [(b":status", b"200")];

fn hdrs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn req_strings() -> Vec<(String, String)> {
    hdrs(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/echo"),
    ])
}

impl Pair {
    fn new(cc: &Config, sc: &Config) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            c: Connection::new(Role::Client, cc, now),
            s: Connection::new(Role::Server, sc, now),
            ch: Rec::default(),
            sh: Rec::default(),
            now,
        };
        p.pump();
        p.ch.take();
        p.sh.take();
        p
    }

    fn default() -> Pair {
        Pair::new(&Config::default(), &Config::default())
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn pump(&mut self) {
        for _ in 0..100 {
            let a = self.c.pending_output().to_vec();
            self.c.advance_output(a.len());
            let n = self.s.recv(&a, self.now, &mut self.sh);
            assert_eq!(n, a.len(), "server left bytes");
            let b = self.s.pending_output().to_vec();
            self.s.advance_output(b.len());
            let n = self.c.recv(&b, self.now, &mut self.ch);
            assert_eq!(n, b.len(), "client left bytes");
            if a.is_empty() && b.is_empty() {
                return;
            }
        }
        panic!("no quiescence");
    }
}

#[test]
fn handshake_exchanges_settings_and_acks() {
    let p = Pair::default();
    assert!(p.c.settings_acked() && p.s.settings_acked());
    assert!(p.c.peer_settings().received);
    assert_eq!(p.c.peer_settings().max_concurrent_streams, 256);
    assert_eq!(p.s.peer_settings().initial_window_size, 1 << 20);
    assert_eq!(p.c.next_timeout(), None);
    assert!(!p.c.is_closed() && !p.s.is_closed());
    assert_eq!(p.c.role(), Role::Client);
}

#[test]
fn request_response_with_body_and_trailers() {
    let mut p = Pair::default();
    let id = p.c.open_stream(REQ, false).unwrap();
    assert_eq!(id, 1);
    assert_eq!(p.c.send_data(id, b"hello", true), Ok(5));
    p.pump();
    assert_eq!(
        p.sh.take_main(),
        vec![
            Ev::Headers(1, req_strings(), false),
            Ev::Data(1, b"hello".to_vec(), true)
        ]
    );
    p.s.send_headers(1, OK, false).unwrap();
    assert_eq!(p.s.send_data(1, b"world", false), Ok(5));
    p.s.send_trailers(1, [(&b"grpc-status"[..], &b"0"[..])])
        .unwrap();
    p.pump();
    assert_eq!(
        p.ch.take_main(),
        vec![
            Ev::Headers(1, hdrs(&[(":status", "200")]), false),
            Ev::Data(1, b"world".to_vec(), false),
            Ev::Trailers(1, hdrs(&[("grpc-status", "0")])),
        ]
    );
    assert_eq!(p.c.active_streams(), 0);
    assert_eq!(p.s.active_streams(), 0);
    assert_eq!(p.s.send_data(1, b"x", false), Err(SendError::StreamClosed));
    // A second stream gets the next odd id.
    assert_eq!(p.c.open_stream(REQ, true), Ok(3));
}

#[test]
fn informational_then_final_response() {
    let mut p = Pair::default();
    let id = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    p.s.send_headers(id, [(&b":status"[..], &b"103"[..])], false)
        .unwrap();
    p.s.send_headers(id, OK, true).unwrap();
    p.pump();
    assert_eq!(
        p.ch.take_main(),
        vec![
            Ev::Headers(1, hdrs(&[(":status", "103")]), false),
            Ev::Headers(1, hdrs(&[(":status", "200")]), true),
        ]
    );
    assert!(!p.c.is_closed() && p.c.active_streams() == 0);
}

#[test]
fn roles_and_closed_streams_refuse_commands() {
    let mut p = Pair::default();
    assert_eq!(p.s.open_stream(REQ, true), Err(SendError::WrongRole));
    assert_eq!(p.c.send_headers(1, OK, true), Err(SendError::WrongRole));
    assert_eq!(p.s.send_headers(1, OK, true), Err(SendError::StreamClosed));
    assert_eq!(p.s.send_capacity(1), 0);
    p.s.reset(9, ErrorCode::CANCEL);
    assert!(p.s.pending_output().is_empty());
    assert!(!p.s.can_open_stream());
    assert!(p.c.can_open_stream());
}

#[test]
fn flow_control_blocks_and_unblocks() {
    let sc = Config {
        initial_window_size: 10,
        connection_window_size: 65_535,
        ..Config::default()
    };
    let mut p = Pair::new(&Config::default(), &sc);
    let id = p.c.open_stream(REQ, false).unwrap();
    assert_eq!(p.c.send_capacity(id), 10);
    assert_eq!(p.c.send_data(id, &[7; 25], true), Ok(10));
    assert_eq!(p.c.send_data(id, &[7; 15], true), Ok(0));
    p.pump();
    assert_eq!(
        p.sh.take_main(),
        vec![
            Ev::Headers(1, req_strings(), false),
            Ev::Data(1, vec![7; 10], false)
        ]
    );
    // Releasing half the window or more sends a stream WINDOW_UPDATE.
    p.s.release_capacity(id, 4);
    assert!(p.s.pending_output().is_empty());
    p.s.release_capacity(id, 6);
    p.pump();
    assert_eq!(p.ch.take(), vec![Ev::Window(1)]);
    assert_eq!(p.c.send_capacity(id), 10);
    assert_eq!(p.c.send_data(id, &[8; 15], true), Ok(10));
    p.pump();
    p.s.release_capacity(id, 10);
    p.pump();
    assert_eq!(p.c.send_data(id, &[9; 5], true), Ok(5));
    p.pump();
    let ev = p.sh.take_main();
    assert_eq!(ev.last(), Some(&Ev::Data(1, vec![9; 5], true)), "{ev:?}");
}

/// A pair whose client may buffer at most 1,000 bytes of output.
fn output_limited_pair() -> Pair {
    let cc = Config {
        limits: Limits {
            max_buffered_output: 1000,
            ..Config::default().limits
        },
        ..Config::default()
    };
    Pair::new(&cc, &Config::default())
}

/// DATA bytes the server has received.
fn data_received(p: &mut Pair) -> usize {
    p.sh.take_main()
        .iter()
        .map(|e| match e {
            Ev::Data(_, d, _) => d.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn buffered_output_limit_holds_data_back_until_written() {
    let mut p = output_limited_pair();
    let id = p.c.open_stream(REQ, false).unwrap();
    let queued = p.c.pending_output().len();
    // The peer's window is 1 MiB, but only the room left under the limit is taken.
    let n = p.c.send_data(id, &[1; 5000], false).unwrap();
    assert_eq!(n, 1000 - queued);
    assert_eq!(p.c.send_data(id, &[1; 10], false), Ok(0));
    assert!(!p.c.take_output_room(), "nothing was written yet");
    let out = p.c.pending_output().to_vec();
    p.c.advance_output(out.len());
    assert_eq!(p.s.recv(&out, p.now, &mut p.sh), out.len());
    assert!(p.c.take_output_room(), "written: room again");
    assert!(!p.c.take_output_room(), "reported once");
    assert_eq!(p.c.send_data(id, &[2; 600], true), Ok(600));
    assert!(!p.c.take_output_room(), "not held back this time");
    p.pump();
    assert_eq!(data_received(&mut p), n + 600);
}

#[test]
fn swapped_output_counts_as_written() {
    let mut p = output_limited_pair();
    let id = p.c.open_stream(REQ, false).unwrap();
    let n = p.c.send_data(id, &[1; 5000], false).unwrap();
    assert_eq!(p.c.send_data(id, &[1; 10], false), Ok(0));
    // Half is written the usual way, the rest handed over in a buffer swap.
    let half = p.c.pending_output().len() / 2;
    let mut out = p.c.pending_output()[..half].to_vec();
    p.c.advance_output(half);
    let mut spare = vec![7; 3];
    let range = p.c.swap_output(&mut spare);
    out.extend_from_slice(&spare[range]);
    assert!(p.c.pending_output().is_empty());
    assert!(p.c.take_output_room(), "the swap made room");
    assert_eq!(p.s.recv(&out, p.now, &mut p.sh), out.len());
    // The connection writes into the spare it was given, from its start.
    assert_eq!(p.c.send_data(id, &[2; 600], true), Ok(600));
    p.pump();
    assert_eq!(data_received(&mut p), n + 600);
}

#[test]
fn connection_window_is_shared_and_replenished() {
    let cc = Config {
        connection_window_size: 65_535,
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut p = Pair::new(&cc, &Config::default());
    let id = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    p.s.send_headers(id, OK, false).unwrap();
    let big = vec![1u8; 100_000];
    assert_eq!(p.s.send_data(id, &big, false), Ok(65_535));
    assert_eq!(p.s.send_capacity(id), 0);
    p.pump();
    let got: usize =
        p.ch.take_main()
            .iter()
            .map(|e| match e {
                Ev::Data(_, d, _) => d.len(),
                _ => 0,
            })
            .sum();
    assert_eq!(got, 65_535);
    p.c.release_capacity(id, 65_535);
    p.pump();
    assert!(p.sh.take().contains(&Ev::Window(0)));
    assert_eq!(p.s.send_capacity(id), 65_535);
}

#[test]
fn initial_window_change_applies_to_open_streams() {
    // An output limit above the window, so that the window is what send_capacity shows.
    let sc = Config {
        limits: Limits {
            max_buffered_output: 4 << 20,
            ..Config::default().limits
        },
        ..Config::default()
    };
    let mut p = Pair::new(&Config::default(), &sc);
    let id = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    p.s.send_headers(id, OK, false).unwrap();
    assert_eq!(p.s.send_capacity(id), 1 << 20);
    // The client lowers its window below what is in flight: the server's window goes negative.
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[Setting::InitialWindowSize(100)]);
    p.s.recv(&raw, p.now, &mut p.sh);
    assert_eq!(p.s.send_capacity(id), 100);
    assert_eq!(p.s.send_data(id, &[0; 150], false), Ok(100));
    frame::encode_settings(&mut raw, &[Setting::InitialWindowSize(50)]);
    let n = raw.len();
    p.s.recv(&raw[n - 15..], p.now, &mut p.sh);
    assert_eq!(p.s.send_capacity(id), 0);
    raw.clear();
    frame::encode_settings(&mut raw, &[Setting::InitialWindowSize(1000)]);
    p.s.recv(&raw, p.now, &mut p.sh);
    assert_eq!(p.s.send_capacity(id), 900);
    assert!(p.sh.take().contains(&Ev::Window(id)));
}

#[test]
fn initial_window_overflow_is_a_connection_error() {
    let mut p = Pair::default();
    let id = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    let mut raw = Vec::new();
    frame::encode_window_update(&mut raw, id, MAX_WINDOW - (1 << 20));
    frame::encode_settings(&mut raw, &[Setting::InitialWindowSize((1 << 20) + 1)]);
    p.s.recv(&raw, p.now, &mut p.sh);
    assert!(p.s.is_closed());
    assert_eq!(
        goaway_code(p.s.pending_output()),
        Some(ErrorCode::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn reset_both_ways() {
    let mut p = Pair::default();
    let a = p.c.open_stream(REQ, false).unwrap();
    let b = p.c.open_stream(REQ, false).unwrap();
    p.pump();
    p.sh.take();
    p.c.reset(a, ErrorCode::CANCEL);
    p.pump();
    assert_eq!(p.sh.take(), vec![Ev::Reset(a, ErrorCode::CANCEL, true)]);
    assert_eq!(p.c.send_data(a, b"x", false), Err(SendError::StreamClosed));
    p.s.reset(b, ErrorCode::INTERNAL_ERROR);
    p.pump();
    assert_eq!(
        p.ch.take(),
        vec![Ev::Reset(b, ErrorCode::INTERNAL_ERROR, true)]
    );
    assert_eq!(p.c.active_streams(), 0);
    assert_eq!(p.s.active_streams(), 0);
}

#[test]
fn data_in_flight_after_our_reset_is_ignored() {
    let mut p = Pair::default();
    let a = p.c.open_stream(REQ, false).unwrap();
    p.pump();
    p.sh.take();
    // The server resets while the client's DATA is in flight.
    p.s.reset(a, ErrorCode::CANCEL);
    p.s.advance_output(p.s.pending_output().len());
    p.c.send_data(a, b"late", true).unwrap();
    p.pump();
    assert!(p.sh.take().is_empty());
    assert!(p.s.pending_output().is_empty());
}

#[test]
fn goaway_from_server_refuses_later_streams() {
    let mut p = Pair::default();
    let a = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    p.s.go_away(ErrorCode::NO_ERROR, b"bye");
    // Opened before the GOAWAY arrived: the server ignores it.
    let b = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    assert_eq!(
        p.ch.take(),
        vec![
            Ev::GoAway(a, ErrorCode::NO_ERROR),
            Ev::Reset(b, ErrorCode::REFUSED_STREAM, true)
        ]
    );
    assert_eq!(p.sh.take_main().len(), 1);
    assert_eq!(p.c.open_stream(REQ, true), Err(SendError::GoingAway));
    assert!(!p.c.can_open_stream());
    assert!(!p.s.is_closed() && !p.c.is_closed());
    p.s.send_headers(a, OK, true).unwrap();
    p.pump();
    assert!(p.s.is_closed() && p.c.is_closed());
}

#[test]
fn graceful_shutdown_goaway_in_two_steps() {
    let mut p = Pair::default();
    let a = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    p.sh.take();
    p.s.go_away_soon(p.now);
    assert!(p.s.is_going_away() && !p.s.is_closed());
    // In flight when the first GOAWAY went out: still processed.
    let b = p.c.open_stream(REQ, true).unwrap();
    p.pump();
    assert_eq!(
        p.ch.take_main(),
        vec![
            Ev::GoAway(MAX_WINDOW, ErrorCode::NO_ERROR),
            Ev::GoAway(b, ErrorCode::NO_ERROR)
        ]
    );
    assert_eq!(p.sh.take_main(), vec![Ev::Headers(b, req_strings(), true)]);
    // The PING answer sent the final GOAWAY: no timer is left.
    assert_eq!(p.s.next_timeout(), None);
    p.s.send_headers(b, OK, true).unwrap();
    p.s.send_headers(a, OK, true).unwrap();
    p.pump();
    assert!(p.s.is_closed() && p.c.is_closed());
}

#[test]
fn graceful_shutdown_final_goaway_after_a_second_without_ping_answer() {
    let p = Pair::default();
    let (mut s, now, mut h) = (p.s, p.now, Rec::default());
    assert_eq!(s.next_timeout(), None);
    s.go_away_soon(now);
    let first = s.pending_output().to_vec();
    s.advance_output(first.len());
    assert_eq!(goaway_code(&first), Some(ErrorCode::NO_ERROR));
    assert!(frames(&first).iter().any(|(h, _)| h.kind == kind::PING));
    // The PING is never answered.
    assert_eq!(s.next_timeout(), Some(now + SHUTDOWN_PING_WAIT));
    s.on_timeout(now + SHUTDOWN_PING_WAIT / 2, &mut h);
    assert!(s.pending_output().is_empty());
    s.on_timeout(now + SHUTDOWN_PING_WAIT, &mut h);
    assert_eq!(goaway_code(s.pending_output()), Some(ErrorCode::NO_ERROR));
    assert!(s.is_closed(), "no streams: over after the final GOAWAY");
    assert_eq!(s.next_timeout(), None);
}

#[test]
fn goaway_with_error_closes_at_once() {
    let mut p = Pair::default();
    p.c.open_stream(REQ, false).unwrap();
    p.pump();
    p.c.go_away(ErrorCode::INTERNAL_ERROR, b"");
    assert!(p.c.is_closed());
    p.pump();
    assert_eq!(
        p.sh.take_main().last(),
        Some(&Ev::GoAway(0, ErrorCode::INTERNAL_ERROR))
    );
    assert!(!p.s.is_closed());
    p.s.reset(1, ErrorCode::CANCEL);
    assert!(p.s.is_closed());
}

#[test]
fn max_concurrent_streams_both_ways() {
    let sc = Config {
        max_concurrent_streams: 2,
        ..Config::default()
    };
    let mut p = Pair::new(&Config::default(), &sc);
    assert_eq!(p.c.peer_settings().max_concurrent_streams, 2);
    p.c.open_stream(REQ, false).unwrap();
    p.c.open_stream(REQ, false).unwrap();
    assert_eq!(p.c.open_stream(REQ, false), Err(SendError::TooManyStreams));
    assert!(!p.c.can_open_stream());
    p.pump();
    // A client that ignores the limit gets REFUSED_STREAM.
    let mut raw = Vec::new();
    let block = literal_block(&REQ);
    encode_headers(&mut raw, 5, &block, None, true, true);
    p.s.recv(&raw, p.now, &mut p.sh);
    assert_eq!(
        rst_codes(p.s.pending_output()),
        vec![(5, ErrorCode::REFUSED_STREAM)]
    );
    assert_eq!(p.s.active_streams(), 2);
}

#[test]
fn client_assumes_100_streams_before_server_settings() {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, &Config::default(), now);
    for _ in 0..100 {
        c.open_stream(REQ, true).unwrap();
    }
    assert_eq!(c.open_stream(REQ, true), Err(SendError::TooManyStreams));
}

#[test]
fn settings_ack_timeout_sends_goaway() {
    let now = Instant::now();
    let cfg = Config {
        settings_ack_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let mut s = Connection::new(Role::Server, &cfg, now);
    let mut h = Rec::default();
    assert_eq!(s.next_timeout(), Some(now + Duration::from_secs(5)));
    s.on_timeout(now + Duration::from_secs(4), &mut h);
    assert!(!s.is_closed());
    s.on_timeout(now + Duration::from_secs(5), &mut h);
    assert!(s.is_closed());
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::SETTINGS_TIMEOUT)
    );
    assert_eq!(s.next_timeout(), None);
}

#[test]
fn ping_is_answered_and_acks_reported() {
    let mut p = Pair::default();
    p.c.send_ping(*b"12345678");
    p.pump();
    assert_eq!(p.ch.take(), vec![Ev::PingAck(*b"12345678")]);
}

#[test]
fn preface_split_and_mismatch() {
    let now = Instant::now();
    let mut s = Connection::new(Role::Server, &Config::default(), now);
    let mut h = Rec::default();
    assert_eq!(s.recv(&PREFACE[..5], now, &mut h), 5);
    assert_eq!(s.recv(&PREFACE[5..], now, &mut h), 19);
    let mut raw = Vec::new();
    frame::encode_settings(&mut raw, &[]);
    assert_eq!(s.recv(&raw[..4], now, &mut h), 0);
    assert_eq!(s.recv(&raw, now, &mut h), 9);
    assert_eq!(h.take(), vec![Ev::Settings]);

    let mut s = Connection::new(Role::Server, &Config::default(), now);
    s.recv(b"PRI * HTTP/1.1\r\n", now, &mut h);
    assert!(s.is_closed());
    assert_eq!(
        goaway_code(s.pending_output()),
        Some(ErrorCode::PROTOCOL_ERROR)
    );
}

#[test]
fn first_frame_must_be_settings() {
    let now = Instant::now();
    let mut s = Connection::new(Role::Server, &Config::default(), now);
    let mut raw = PREFACE.to_vec();
    frame::encode_ping(&mut raw, false, [0; 8]);
    s.recv(&raw, now, &mut Rec::default());
    assert!(s.is_closed());
}

#[test]
fn output_is_drained_partially() {
    let mut p = Pair::default();
    for i in 0..1000u32 {
        p.c.send_ping(i.to_be_bytes().repeat(2).try_into().unwrap());
    }
    let total = p.c.pending_output().len();
    let first = p.c.pending_output()[..17].to_vec();
    p.c.advance_output(10_000);
    assert_eq!(p.c.pending_output().len(), total - 10_000);
    p.c.advance_output(usize::MAX);
    assert!(p.c.pending_output().is_empty());
    assert_eq!(first.len(), 17);
}

// ---- raw-frame helpers ----

/// An HPACK block of literal fields without indexing and without Huffman (RFC 7541 §6.2.2); does not
/// depend on our encoder.
pub(super) fn literal_block(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        b.push(0);
        push_len(&mut b, n.len());
        b.extend_from_slice(n);
        push_len(&mut b, v.len());
        b.extend_from_slice(v);
    }
    b
}

fn push_len(b: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        b.push(n as u8);
        return;
    }
    b.push(127);
    n -= 127;
    while n >= 128 {
        b.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    b.push(n as u8);
}

/// Every frame in `out`.
pub(super) fn frames(out: &[u8]) -> Vec<(Head, Vec<u8>)> {
    let mut v = Vec::new();
    let mut pos = 0;
    while let Some(h) = Head::parse(&out[pos..]) {
        let end = pos + 9 + h.len as usize;
        v.push((h, out[pos + 9..end].to_vec()));
        pos = end;
    }
    v
}

pub(super) fn goaway_code(out: &[u8]) -> Option<ErrorCode> {
    frames(out)
        .into_iter()
        .find(|(h, _)| h.kind == kind::GOAWAY)
        .map(|(_, p)| ErrorCode(u32::from_be_bytes([p[4], p[5], p[6], p[7]])))
}

pub(super) fn rst_codes(out: &[u8]) -> Vec<(u32, ErrorCode)> {
    frames(out)
        .into_iter()
        .filter(|(h, _)| h.kind == kind::RST_STREAM)
        .map(|(h, p)| {
            (
                h.stream_id,
                ErrorCode(u32::from_be_bytes([p[0], p[1], p[2], p[3]])),
            )
        })
        .collect()
}

mod client;
mod random;
mod raw;
