//! One test per abuse limit of `h2::conn::Limits` (and the header list limits of `Config`): a raw
//! client trips it, and the server reacts as designed (GOAWAY ENHANCE_YOUR_CALM, or a 431 response).

use std::time::{Duration, Instant};

use h2edge::h2::conn::{Config, Connection, Handler, Limit, PREFACE, Role};
use h2edge::h2::error::ErrorCode;
use h2edge::h2::fields::FieldList;
use h2edge::h2::frame::{self, Frame, Setting, kind};
use h2edge::h2::hpack::Decoder;

#[derive(Default)]
struct Count {
    headers: usize,
    data: usize,
    resets: usize,
}

impl Handler for Count {
    fn on_headers(&mut self, _: u32, _: &FieldList, _: bool) {
        self.headers += 1;
    }
    fn on_trailers(&mut self, _: u32, _: &FieldList) {}
    fn on_data(&mut self, _: u32, _: &[u8], _: bool) {
        self.data += 1;
    }
    fn on_reset(&mut self, _: u32, _: ErrorCode, _: bool) {
        self.resets += 1;
    }
    fn on_goaway(&mut self, _: u32, _: ErrorCode, _: &[u8]) {}
}

const REQ: [(&[u8], &[u8]); 4] = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/"),
];

/// Literal fields without indexing, no Huffman (RFC 7541 §6.2.2): independent of our encoder.
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0);
    int7(out, name.len());
    out.extend_from_slice(name);
    int7(out, value.len());
    out.extend_from_slice(value);
}

fn int7(out: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    out.push(n as u8);
}

fn request_block() -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in REQ {
        literal(&mut b, n, v);
    }
    b
}

struct Server {
    conn: Connection,
    h: Count,
    now: Instant,
}

impl Server {
    fn new(cfg: &Config) -> Server {
        let now = Instant::now();
        let mut s = Server {
            conn: Connection::new(Role::Server, cfg, now),
            h: Count::default(),
            now,
        };
        let mut raw = PREFACE.to_vec();
        frame::encode_settings(&mut raw, &[]);
        frame::encode_settings_ack(&mut raw);
        s.feed(&raw);
        s.conn.advance_output(usize::MAX);
        s
    }

    /// Feeds everything, calling `recv` as often as it takes.
    fn feed(&mut self, mut raw: &[u8]) {
        while !raw.is_empty() {
            let n = self.conn.recv(raw, self.now, &mut self.h);
            assert!(n > 0, "recv made no progress");
            raw = &raw[n..];
        }
    }

    fn request(&mut self, id: u32, end_stream: bool) {
        let mut raw = Vec::new();
        frame::encode_headers(&mut raw, id, &request_block(), None, end_stream, true);
        self.feed(&raw);
    }

    fn frames(&self) -> Vec<(u8, u32, Vec<u8>)> {
        let mut out = self.conn.pending_output();
        let mut v = Vec::new();
        while let Some((f, n)) = frame::decode(out, 1 << 20).unwrap() {
            let (k, id, payload) = match f {
                Frame::GoAway(g) => {
                    let mut p = g.code.0.to_be_bytes().to_vec();
                    p.extend_from_slice(g.debug);
                    (kind::GOAWAY, 0, p)
                }
                Frame::RstStream(r) => (
                    kind::RST_STREAM,
                    r.stream_id,
                    r.code.0.to_be_bytes().to_vec(),
                ),
                Frame::Headers(h) => {
                    assert!(h.end_headers);
                    let mut p = vec![h.end_stream as u8];
                    p.extend_from_slice(h.fragment);
                    (kind::HEADERS, h.stream_id, p)
                }
                Frame::Ping(p) => (kind::PING, 0, p.payload.to_vec()),
                other => (other_kind(&other), 0, Vec::new()),
            };
            v.push((k, id, payload));
            out = &out[n..];
        }
        v
    }

    fn goaway(&self) -> Option<ErrorCode> {
        self.frames()
            .into_iter()
            .find(|(k, _, _)| *k == kind::GOAWAY)
            .map(|(_, _, p)| ErrorCode(u32::from_be_bytes([p[0], p[1], p[2], p[3]])))
    }

    /// The connection ended with GOAWAY ENHANCE_YOUR_CALM, and reports `limit` as the one tripped.
    fn assert_calm(&mut self, limit: Limit) {
        assert!(self.conn.is_closed());
        assert_eq!(self.goaway(), Some(ErrorCode::ENHANCE_YOUR_CALM));
        assert_eq!(self.conn.take_tripped_limit(), Some(limit));
    }

    /// The `:status` of every response head the server queued, with its END_STREAM flag.
    fn statuses(&self) -> Vec<(u32, String, bool)> {
        let mut d = Decoder::new(4096);
        let mut v = Vec::new();
        for (k, id, p) in self.frames() {
            if k != kind::HEADERS {
                continue;
            }
            let mut status = String::new();
            d.decode(&p[1..], |f| {
                if f.name == b":status" {
                    status = String::from_utf8_lossy(f.value).into_owned();
                }
            })
            .unwrap();
            v.push((id, status, p[0] == 1));
        }
        v
    }
}

fn other_kind(f: &Frame<'_>) -> u8 {
    match f {
        Frame::Data(_) => kind::DATA,
        Frame::Settings(_) => kind::SETTINGS,
        Frame::WindowUpdate(_) => kind::WINDOW_UPDATE,
        _ => 0xff,
    }
}

#[test]
fn header_list_size_counts_decoded_bytes_hpack_bomb() {
    let mut s = Server::new(&Config::default());
    // One 4000-byte value inserted into the dynamic table, then referenced 40 times: a ~4.2 KB block
    // that decodes to ~160 KB, over the 64 KiB SETTINGS_MAX_HEADER_LIST_SIZE.
    let mut block = request_block();
    block.push(0x40); // literal with incremental indexing, new name
    int7(&mut block, 5);
    block.extend_from_slice(b"x-big");
    int7(&mut block, 4000);
    block.extend(std::iter::repeat_n(b'a', 4000));
    block.extend(std::iter::repeat_n(0x80 | 62, 40));
    assert!(block.len() < 4200);
    let mut raw = Vec::new();
    frame::encode_headers(&mut raw, 1, &block, None, false, true);
    s.feed(&raw);
    assert_eq!(s.h.headers, 0);
    assert!(!s.conn.is_closed());
    assert_eq!(s.statuses(), vec![(1, "431".to_string(), true)]);
    // The client was still sending: it is asked to stop.
    let rst: Vec<_> = s
        .frames()
        .into_iter()
        .filter(|f| f.0 == kind::RST_STREAM)
        .collect();
    assert_eq!(rst, vec![(kind::RST_STREAM, 1, vec![0, 0, 0, 0])]);
    // The HPACK context stayed in step: the next request on the same connection works.
    s.request(3, true);
    assert_eq!(s.h.headers, 1);
}

/// A request whose 4,000-byte field, kept in the dynamic table by the first (`insert`), is
/// referenced 40 times: about 160 KB decoded from a block of a few bytes once the entry exists.
fn hpack_bomb(insert: bool) -> Vec<u8> {
    let mut block = request_block();
    if insert {
        block.push(0x40); // literal with incremental indexing, new name
        int7(&mut block, 5);
        block.extend_from_slice(b"x-big");
        int7(&mut block, 4000);
        block.extend(std::iter::repeat_n(b'a', 4000));
    }
    block.extend(std::iter::repeat_n(0x80 | 62, 40));
    block
}

/// Whole requests (END_STREAM, so no reset is counted) that each get a 431.
fn send_bombs(s: &mut Server, ids: std::ops::Range<u32>) {
    for i in ids {
        let mut raw = Vec::new();
        frame::encode_headers(&mut raw, 2 * i + 1, &hpack_bomb(i == 0), None, true, true);
        s.feed(&raw);
    }
}

#[test]
fn repeated_431s_hpack_bombs() {
    let mut s = Server::new(&Config::default());
    let max = Config::default().limits.max_rejected_headers_per_window;
    send_bombs(&mut s, 0..max);
    assert!(!s.conn.is_closed(), "{max} are tolerated");
    assert_eq!(s.statuses().len(), max as usize);
    send_bombs(&mut s, max..max + 1);
    s.assert_calm(Limit::RejectedHeaders);
    assert_eq!(s.h.headers, 0);
}

#[test]
fn rejected_headers_spread_over_windows_are_fine() {
    let mut s = Server::new(&Config::default());
    let l = Config::default().limits;
    let max = l.max_rejected_headers_per_window;
    send_bombs(&mut s, 0..max);
    s.now += l.reset_window;
    send_bombs(&mut s, max..2 * max);
    assert!(!s.conn.is_closed());
    assert_eq!(s.statuses().len(), 2 * max as usize);
}

#[test]
fn header_field_count_many_cookies() {
    let mut s = Server::new(&Config::default());
    let mut block = request_block();
    for i in 0..200 {
        literal(&mut block, b"cookie", format!("c{i}=1").as_bytes());
    }
    let mut raw = Vec::new();
    frame::encode_headers(&mut raw, 1, &block, None, true, true);
    s.feed(&raw);
    assert_eq!(s.h.headers, 0);
    assert_eq!(s.statuses(), vec![(1, "431".to_string(), true)]);
    assert!(!s.conn.is_closed());
}

#[test]
fn continuation_frame_count() {
    let mut s = Server::new(&Config::default());
    let limit = Config::default().limits.max_continuation_frames;
    let block = request_block();
    let mut raw = Vec::new();
    frame::encode_headers(&mut raw, 1, &block[..1], None, true, false);
    for _ in 0..=limit {
        frame::encode_continuation(&mut raw, 1, b"", false);
    }
    // Give the frames in two parts: the limit trips on the (limit + 1)th CONTINUATION.
    s.feed(&raw);
    s.assert_calm(Limit::Continuations);
    assert_eq!(s.h.headers, 0);
}

#[test]
fn continuation_block_size() {
    let cfg = Config {
        max_header_list_size: 8 << 10,
        ..Config::default()
    };
    let mut s = Server::new(&cfg);
    let mut raw = Vec::new();
    frame::encode_headers(&mut raw, 1, &request_block(), None, true, false);
    // Three 6 KB fragments: the encoded block passes 8 KiB + slack before it ends.
    for _ in 0..3 {
        frame::encode_continuation(&mut raw, 1, &[0x41; 6000], false);
    }
    s.feed(&raw);
    s.assert_calm(Limit::HeaderBlock);
}

#[test]
fn rapid_reset() {
    let mut s = Server::new(&Config::default());
    let max = Config::default().limits.max_resets_per_window;
    let mut raw = Vec::new();
    for i in 0..=max {
        let id = 1 + 2 * i;
        frame::encode_headers(&mut raw, id, &request_block(), None, false, true);
        frame::encode_rst_stream(&mut raw, id, ErrorCode::CANCEL);
    }
    s.feed(&raw);
    assert_eq!(s.h.resets as u32, max + 1);
    s.assert_calm(Limit::Resets);
}

#[test]
fn resets_spread_over_windows_are_fine() {
    let mut cfg = Config::default();
    cfg.limits.max_resets_per_window = 10;
    cfg.limits.reset_window = Duration::from_secs(1);
    let mut s = Server::new(&cfg);
    for i in 0..50u32 {
        s.now += Duration::from_millis(200);
        let id = 1 + 2 * i;
        let mut raw = Vec::new();
        frame::encode_headers(&mut raw, id, &request_block(), None, false, true);
        frame::encode_rst_stream(&mut raw, id, ErrorCode::CANCEL);
        s.feed(&raw);
    }
    assert!(!s.conn.is_closed());
}

#[test]
fn made_you_reset_window_update_zero() {
    let mut s = Server::new(&Config::default());
    let max = Config::default().limits.max_resets_per_window;
    let mut raw = Vec::new();
    for i in 0..=max {
        let id = 1 + 2 * i;
        frame::encode_headers(&mut raw, id, &request_block(), None, false, true);
        // A WINDOW_UPDATE of 0 on a stream is a stream error: we must reset it.
        frame::Head {
            len: 4,
            kind: kind::WINDOW_UPDATE,
            flags: 0,
            stream_id: id,
        }
        .encode(&mut raw);
        raw.extend_from_slice(&[0; 4]);
    }
    s.feed(&raw);
    s.assert_calm(Limit::Resets);
    assert_eq!(s.h.resets as u32, max + 1);
}

#[test]
fn made_you_reset_data_on_half_closed_streams() {
    let mut cfg = Config::default();
    cfg.limits.max_resets_per_window = 50;
    let mut s = Server::new(&cfg);
    let mut raw = Vec::new();
    for i in 0..=50 {
        let id = 1 + 2 * i;
        frame::encode_headers(&mut raw, id, &request_block(), None, true, true);
        frame::encode_data(&mut raw, id, b"x", false);
    }
    s.feed(&raw);
    s.assert_calm(Limit::Resets);
}

#[test]
fn control_frame_queue_ping_flood_without_reading() {
    let mut s = Server::new(&Config::default());
    let max = Config::default().limits.max_pending_control_frames;
    let mut raw = Vec::new();
    for i in 0..=u64::from(max) {
        frame::encode_ping(&mut raw, false, i.to_be_bytes());
    }
    s.feed(&raw);
    s.assert_calm(Limit::ControlFrames);
}

#[test]
fn control_frame_queue_drained_by_writer_is_fine() {
    let mut s = Server::new(&Config::default());
    for _ in 0..5 {
        let mut raw = Vec::new();
        for i in 0..800u64 {
            frame::encode_ping(&mut raw, false, i.to_be_bytes());
        }
        s.feed(&raw);
        // The writer takes the output in pieces; written ACKs no longer count.
        let half = s.conn.pending_output().len() / 2;
        s.conn.advance_output(half);
        s.conn.advance_output(usize::MAX);
    }
    assert!(!s.conn.is_closed());
}

#[test]
fn control_frame_queue_settings_flood() {
    let mut s = Server::new(&Config::default());
    let mut raw = Vec::new();
    for _ in 0..=Config::default().limits.max_pending_control_frames {
        frame::encode_settings(&mut raw, &[Setting::MaxConcurrentStreams(10)]);
    }
    s.feed(&raw);
    s.assert_calm(Limit::ControlFrames);
}

#[test]
fn empty_data_frames() {
    let mut s = Server::new(&Config::default());
    s.request(1, false);
    let max = Config::default().limits.max_empty_frames;
    let mut raw = Vec::new();
    for _ in 0..max {
        frame::encode_data(&mut raw, 1, b"", false);
    }
    s.feed(&raw);
    assert!(!s.conn.is_closed());
    // A frame with data resets the count; then max + 1 empty ones trip it.
    let mut raw = Vec::new();
    frame::encode_data(&mut raw, 1, b"x", false);
    for _ in 0..=max {
        frame::encode_data(&mut raw, 1, b"", false);
    }
    s.feed(&raw);
    s.assert_calm(Limit::EmptyFrames);
}

#[test]
fn max_frames_per_recv() {
    let mut cfg = Config::default();
    cfg.limits.max_frames_per_recv = 100;
    let mut s = Server::new(&cfg);
    let mut raw = Vec::new();
    for i in 0..250u64 {
        frame::encode_ping(&mut raw, false, i.to_be_bytes());
    }
    let n = s.conn.recv(&raw, s.now, &mut s.h);
    assert_eq!(n, 100 * 17);
    let acks = s.frames().len();
    assert_eq!(acks, 100);
    let m = s.conn.recv(&raw[n..], s.now, &mut s.h);
    assert_eq!(m, 100 * 17);
    let rest = s.conn.recv(&raw[n + m..], s.now, &mut s.h);
    assert_eq!(rest, 50 * 17);
    assert_eq!(s.frames().len(), 250);
    assert!(!s.conn.is_closed());
}

/// A WINDOW_UPDATE flood (increments of 1, CPU only): past the slack and 10 per DATA frame sent,
/// GOAWAY ENHANCE_YOUR_CALM.
#[test]
fn window_update_flood() {
    let mut s = Server::new(&Config::default());
    let mut raw = Vec::new();
    for _ in 0..1001 {
        frame::encode_window_update(&mut raw, 0, 1);
    }
    s.feed(&raw);
    s.assert_calm(Limit::WindowUpdates);
}

/// A reader's WINDOW_UPDATEs, one per DATA frame on the stream and one on the connection, never
/// trip it, however long the download.
#[test]
fn window_updates_of_a_reader_are_fine() {
    let mut s = Server::new(&Config::default());
    s.request(1, true);
    s.conn
        .send_headers(1, [(&b":status"[..], &b"200"[..])], false)
        .unwrap();
    for _ in 0..5000 {
        let n = s.conn.send_data(1, &[0; 16_384], false).unwrap();
        assert_eq!(n, 16_384);
        s.conn.advance_output(usize::MAX);
        let mut raw = Vec::new();
        frame::encode_window_update(&mut raw, 1, 16_384);
        frame::encode_window_update(&mut raw, 0, 16_384);
        s.feed(&raw);
    }
    assert!(!s.conn.is_closed());
}
