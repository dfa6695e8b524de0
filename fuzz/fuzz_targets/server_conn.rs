//! `server_conn`: a server-role `Connection` driven by an arbitrary client byte stream.
//!
//! Input: `[flags][seed: 3 bytes]` then the client's bytes. `flags & 1` puts a valid client preface
//! and an empty SETTINGS frame in front of them (so the fuzzer need not rediscover it); `flags >> 1 & 3`
//! picks the chunk sizes the bytes arrive in (up to 16, 256 or 4096 bytes, or all at once), with
//! lengths drawn from a PRNG seeded by `seed`; `flags & 8` makes the writer slow (it writes a random
//! part of the pending output, or nothing, each turn); `flags & 16` makes the handler release
//! received capacity late. Each input runs twice: with `Config::default()` and with tiny limits and
//! windows.
//!
//! The handler acts like a gRPC server: it answers each request with HEADERS, a body (from empty to
//! larger than the windows, sent as the windows allow) and trailers, releases the received bytes,
//! sometimes resets a stream, pings, or goes away. A virtual clock moves forward between chunks and
//! `on_timeout` runs when `next_timeout` says so.
//!
//! Asserts:
//! - no panic, and `recv` never claims more bytes than it was given;
//! - the server's output, read as a client would, is a sequence of frames that `frame::decode` accepts,
//!   starting with a SETTINGS frame, with no frame longer than the client's SETTINGS_MAX_FRAME_SIZE,
//!   header blocks made of HEADERS + CONTINUATION of one stream with nothing in between, never a
//!   PUSH_PROMISE, and no partial frame at the end;
//! - every header block in the output decodes with an HPACK decoder configured as the client's
//!   SETTINGS_HEADER_TABLE_SIZE says, to one of the blocks the handler sent on that stream, in order
//!   (or to the connection's own `431` answer to an oversized request);
//! - fields handed to the handler are within the configured limits and look validated (pseudo-header
//!   fields first, lowercase names, no connection-specific fields; requests have `:method`);
//! - `send_data` takes exactly `min(send_capacity, len)`; a refused command leaves the output as it
//!   was; `open_stream` on a server is `WrongRole`; `active_streams` stays within
//!   MAX_CONCURRENT_STREAMS;
//! - after `on_timeout(now)`, `next_timeout` is not in the past (no busy loop);
//! - output is bounded: what the connection produces is within a fixed multiple of what it was fed
//!   plus what the handler asked it to send;
//! - at the end, a connection that is not closed has not left a complete frame unread (no stall).
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Handler, Limits, PREFACE, Role, SendError};
use h2edge::h2::fields::FieldList;
use h2edge::h2::frame::{self, Frame, HEAD_LEN, Head, MAX_MAX_FRAME_SIZE, Setting};
use h2edge::h2::hpack::Decoder;
use libfuzzer_sys::fuzz_target;

static BODY: [u8; 200_000] = [0x42; 200_000];

type Block = Vec<(Vec<u8>, Vec<u8>)>;

fn response_head() -> Block {
    vec![
        (b":status".to_vec(), b"200".to_vec()),
        (b"content-type".to_vec(), b"application/grpc".to_vec()),
    ]
}

fn trailers() -> Block {
    vec![
        (b"grpc-status".to_vec(), b"0".to_vec()),
        (b"grpc-message".to_vec(), b"".to_vec()),
    ]
}

fn trailers_only() -> Block {
    vec![
        (b":status".to_vec(), b"200".to_vec()),
        (b"content-type".to_vec(), b"application/grpc".to_vec()),
        (b"grpc-status".to_vec(), b"12".to_vec()),
    ]
}

fn pairs(b: &Block) -> impl Iterator<Item = (&[u8], &[u8])> {
    b.iter().map(|(n, v)| (&n[..], &v[..]))
}

fn tiny_config() -> Config {
    Config {
        header_table_size: 64,
        max_concurrent_streams: 2,
        initial_window_size: 100,
        connection_window_size: 65_535,
        max_frame_size: 16_384,
        max_header_list_size: 256,
        connection_window_on_receipt: false,
        settings_ack_timeout: Duration::from_secs(1),
        limits: Limits {
            max_header_fields: 8,
            max_continuation_frames: 2,
            max_resets_per_window: 5,
            reset_window: Duration::from_secs(1),
            max_rejected_headers_per_window: 2,
            max_pending_control_frames: 4,
            max_empty_frames: 3,
            max_window_updates_per_data_frame: 2,
            max_frames_per_recv: 4,
            max_buffered_output: 4096,
        },
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

enum Event {
    Headers {
        id: u32,
        end_stream: bool,
    },
    Trailers {
        id: u32,
    },
    Data {
        id: u32,
        len: usize,
        end_stream: bool,
    },
    Reset {
        id: u32,
    },
    GoAway,
    WindowUpdate,
}

/// Records what the connection reports and checks the fields it hands out.
struct Recorder {
    events: Vec<Event>,
    max_fields: usize,
    max_list_size: usize,
}

fn check_fields(fields: &FieldList, request: bool, max_fields: usize, max_list_size: usize) {
    assert!(
        fields.len() <= max_fields,
        "{} fields > limit {max_fields}",
        fields.len()
    );
    assert!(
        fields.hpack_size() <= max_list_size,
        "header list of {} bytes > limit {max_list_size}",
        fields.hpack_size()
    );
    let mut regular_seen = false;
    for (name, value) in fields.iter() {
        assert!(!name.is_empty(), "empty field name");
        assert!(
            !name.iter().any(u8::is_ascii_uppercase),
            "uppercase field name {name:?}"
        );
        if name[0] == b':' {
            assert!(request, "pseudo-header field {name:?} in trailers");
            assert!(
                !regular_seen,
                "pseudo-header field {name:?} after a regular one"
            );
        } else {
            regular_seen = true;
        }
        for banned in [
            &b"connection"[..],
            b"keep-alive",
            b"proxy-connection",
            b"transfer-encoding",
            b"upgrade",
        ] {
            assert_ne!(name, banned, "connection-specific field passed on");
        }
        if name == b"te" {
            assert_eq!(value, b"trailers", "te other than trailers passed on");
        }
    }
    if request {
        assert!(fields.method().is_some(), "request without :method");
    }
}

impl Handler for Recorder {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        assert!(stream_id % 2 == 1, "client stream id {stream_id} is even");
        check_fields(fields, true, self.max_fields, self.max_list_size);
        self.events.push(Event::Headers {
            id: stream_id,
            end_stream,
        });
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        check_fields(fields, false, self.max_fields, self.max_list_size);
        self.events.push(Event::Trailers { id: stream_id });
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        self.events.push(Event::Data {
            id: stream_id,
            len: data.len(),
            end_stream,
        });
    }

    fn on_reset(&mut self, stream_id: u32, _code: ErrorCode, _remote: bool) {
        self.events.push(Event::Reset { id: stream_id });
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {
        self.events.push(Event::GoAway);
    }

    fn on_window_update(&mut self, _stream_id: u32) {
        self.events.push(Event::WindowUpdate);
    }
}

#[derive(Default)]
struct Stream {
    request_ended: bool,
    responded: bool,
    /// Response body bytes still to send, then trailers.
    body_left: usize,
    trailers_due: bool,
    unreleased: usize,
}

/// Reads the server's output as a client would.
struct Wire {
    buf: Vec<u8>,
    frames: usize,
    /// Upper bound of the client's SETTINGS_MAX_FRAME_SIZE so far.
    max_frame: u32,
    /// The header block being collected: (stream id, fragments so far).
    block: Option<(u32, Vec<u8>)>,
    hpack: Decoder,
    /// Table sizes the client advertised, with the output offset from which the server knew them.
    table_sizes: VecDeque<(usize, u32)>,
    /// Bytes of output read so far (the wire offset of `buf[0]`).
    offset: usize,
    /// Header blocks the handler sent, per stream, in order.
    sent: HashMap<u32, VecDeque<Block>>,
    /// False once the client's settings can no longer be followed: header blocks are then only
    /// framed, not decoded.
    hpack_in_step: bool,
}

impl Wire {
    fn new() -> Self {
        Wire {
            buf: Vec::new(),
            frames: 0,
            max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            block: None,
            hpack: Decoder::new(4096),
            table_sizes: VecDeque::new(),
            offset: 0,
            sent: HashMap::new(),
            hpack_in_step: true,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            let (f, len) = match frame::decode(rest, MAX_MAX_FRAME_SIZE) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => panic!(
                    "server output frame #{} does not decode: {e:?}: {:02x?}",
                    self.frames,
                    &rest[..rest.len().min(64)]
                ),
            };
            let frame_offset = self.offset + at;
            let payload = len - HEAD_LEN;
            assert!(
                payload <= self.max_frame as usize,
                "server frame #{} of {payload} bytes > client's max frame size {}: {f:?}",
                self.frames,
                self.max_frame
            );
            if self.frames == 0 {
                assert!(
                    matches!(f, Frame::Settings(s) if !s.ack),
                    "server output does not start with SETTINGS: {f:?}"
                );
            }
            self.frame(f, frame_offset);
            self.frames += 1;
            at += len;
        }
        buf.drain(..at);
        self.buf = buf;
        self.offset += at;
    }

    fn frame(&mut self, f: Frame<'_>, offset: usize) {
        if let Some((id, mut frags)) = self.block.take() {
            let Frame::Continuation(c) = f else {
                panic!("{f:?} inside the header block of stream {id}");
            };
            assert_eq!(c.stream_id, id, "CONTINUATION of another stream");
            frags.extend_from_slice(c.fragment);
            if c.end_headers {
                self.header_block(id, &frags, offset);
            } else {
                self.block = Some((id, frags));
            }
            return;
        }
        match f {
            Frame::Headers(h) => {
                assert!(
                    h.stream_id % 2 == 1,
                    "server HEADERS on even stream {}",
                    h.stream_id
                );
                if h.end_headers {
                    self.header_block(h.stream_id, h.fragment, offset);
                } else {
                    self.block = Some((h.stream_id, h.fragment.to_vec()));
                }
            }
            Frame::Continuation(c) => panic!("CONTINUATION outside a header block: {c:?}"),
            Frame::PushPromise(p) => panic!("server sent PUSH_PROMISE: {p:?}"),
            Frame::Data(d) => {
                assert!(
                    d.stream_id % 2 == 1,
                    "server DATA on even stream {}",
                    d.stream_id
                )
            }
            _ => {}
        }
    }

    fn header_block(&mut self, id: u32, block: &[u8], offset: usize) {
        if !self.hpack_in_step {
            return;
        }
        while let Some(&(at, size)) = self.table_sizes.front() {
            if at > offset {
                break;
            }
            self.table_sizes.pop_front();
            self.hpack.set_max_table_size((size as usize).min(1 << 20));
        }
        let mut got: Block = Vec::new();
        if let Err(e) = self
            .hpack
            .decode(block, |f| got.push((f.name.to_vec(), f.value.to_vec())))
        {
            panic!("server header block on stream {id} does not decode: {e:?}: {block:02x?}");
        }
        // The connection answers a request over the header list limits with `431` on its own.
        if got == [(b":status".to_vec(), b"431".to_vec())] {
            return;
        }
        let sent = self.sent.entry(id).or_default();
        loop {
            match sent.pop_front() {
                Some(b) if b == got => break,
                Some(_) => continue,
                None => panic!(
                    "server sent header block {got:?} on stream {id}, not one the handler sent"
                ),
            }
        }
    }

    fn finish(&self) {
        assert!(
            self.buf.is_empty(),
            "server output ends in a partial frame: {:02x?}",
            self.buf
        );
        assert!(
            self.block.is_none(),
            "server output ends inside a header block"
        );
    }
}

struct Run<'a> {
    conn: Connection,
    rec: Recorder,
    rng: Rng,
    now: Instant,
    streams: HashMap<u32, Stream>,
    wire: Wire,
    config: &'a Config,
    lazy_release: bool,
    slow_writer: bool,
    /// Bytes fed to `recv` so far, and the handler's data accepted by `send_data`.
    fed: usize,
    data_sent: usize,
    produced: usize,
}

impl Run<'_> {
    /// Drains events into actions, as a server application would.
    fn act(&mut self) {
        for ev in std::mem::take(&mut self.rec.events) {
            match ev {
                Event::Headers { id, end_stream } => {
                    if self.rng.one_in(16) {
                        self.conn.reset(id, ErrorCode::CANCEL);
                        continue;
                    }
                    let s = self.streams.entry(id).or_default();
                    s.request_ended |= end_stream;
                }
                Event::Trailers { id } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.request_ended = true;
                    }
                }
                Event::Data {
                    id,
                    len,
                    end_stream,
                } => {
                    if let Some(s) = self.streams.get_mut(&id) {
                        s.request_ended |= end_stream;
                        s.unreleased += len;
                    } else {
                        // Not tracked (reset by us): give the bytes back all the same.
                        self.conn.release_capacity(id, len);
                    }
                }
                Event::Reset { id } => {
                    if let Some(s) = self.streams.remove(&id) {
                        self.conn.release_capacity(id, s.unreleased);
                    }
                }
                Event::GoAway | Event::WindowUpdate => {}
            }
        }
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.step_stream(id);
        }
        if self.rng.one_in(64) {
            self.conn.send_ping(self.rng.next().to_be_bytes());
        }
    }

    fn step_stream(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.unreleased > 0 && (!self.lazy_release || self.rng.one_in(4)) {
            self.conn.release_capacity(id, s.unreleased);
            s.unreleased = 0;
        }
        if self.rng.one_in(64) {
            self.conn.reset(id, ErrorCode::CANCEL);
            self.streams.remove(&id);
            return;
        }
        if !s.responded && (s.request_ended || self.rng.one_in(8)) {
            s.responded = true;
            let only = self.rng.one_in(8);
            let head = if only {
                trailers_only()
            } else {
                response_head()
            };
            s.body_left = if only {
                0
            } else {
                [0, 69, 69, 20_000, 200_000][self.rng.below(5) as usize]
            };
            s.trailers_due = !only;
            let before = self.conn.pending_output().len();
            match self.conn.send_headers(id, pairs(&head), only) {
                Ok(()) => self.wire.sent.entry(id).or_default().push_back(head),
                Err(e) => return self.refused(id, e, before),
            }
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.responded && s.body_left > 0 {
            let cap = self.conn.send_capacity(id);
            let want = s.body_left;
            let before = self.conn.pending_output().len();
            match self.conn.send_data(id, &BODY[..want], false) {
                Ok(n) => {
                    assert_eq!(
                        n,
                        cap.min(want),
                        "send_data took {n}, send_capacity said {cap}"
                    );
                    s.body_left -= n;
                    self.data_sent += n;
                }
                Err(e) => return self.refused(id, e, before),
            }
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.responded && s.body_left == 0 && s.trailers_due {
            s.trailers_due = false;
            let before = self.conn.pending_output().len();
            let t = trailers();
            match self.conn.send_trailers(id, pairs(&t)) {
                Ok(()) => self.wire.sent.entry(id).or_default().push_back(t),
                Err(e) => return self.refused(id, e, before),
            }
        }
        if let Some(s) = self.streams.get(&id)
            && s.responded
            && s.body_left == 0
            && !s.trailers_due
            && s.unreleased == 0
        {
            self.streams.remove(&id);
        }
    }

    fn refused(&mut self, id: u32, e: SendError, before: usize) {
        assert!(
            matches!(e, SendError::StreamClosed | SendError::GoingAway),
            "server command refused with {e:?}"
        );
        assert_eq!(
            self.conn.pending_output().len(),
            before,
            "a refused command changed the output"
        );
        if let Some(s) = self.streams.remove(&id) {
            self.conn.release_capacity(id, s.unreleased);
        }
    }

    /// Writes (some of) the pending output to the wire.
    fn write(&mut self, all: bool) {
        let pending = self.conn.pending_output();
        let n = if all || !self.slow_writer {
            pending.len()
        } else {
            match self.rng.below(3) {
                0 => 0,
                1 => self.rng.below(pending.len() as u64 + 1) as usize,
                _ => pending.len(),
            }
        };
        self.wire.push(&pending[..n]);
        self.conn.advance_output(n);
        self.produced += n;
        self.check_bounds();
    }

    fn check_bounds(&self) {
        let total = self.produced + self.conn.pending_output().len();
        let bound = (64 << 10) + 64 * self.fed + 2 * self.data_sent;
        assert!(
            total <= bound,
            "server produced {total} bytes for {} bytes in and {} bytes of response data",
            self.fed,
            self.data_sent
        );
        assert!(
            self.conn.active_streams() <= self.config.max_concurrent_streams as usize,
            "{} active streams > MAX_CONCURRENT_STREAMS {}",
            self.conn.active_streams(),
            self.config.max_concurrent_streams
        );
    }

    fn timers(&mut self) {
        if let Some(t) = self.conn.next_timeout()
            && t <= self.now
        {
            self.conn.on_timeout(self.now, &mut self.rec);
            if let Some(t2) = self.conn.next_timeout() {
                assert!(t2 > self.now, "timer still expired after on_timeout");
            }
            self.act();
        }
    }
}

/// Learns the client's SETTINGS from the bytes the connection consumed.
struct InputSettings {
    parsed: usize,
    in_step: bool,
}

impl InputSettings {
    fn learn(&mut self, input: &[u8], consumed: usize, wire: &mut Wire, produced_now: usize) {
        if !self.in_step {
            return;
        }
        if self.parsed < PREFACE.len() {
            if consumed < PREFACE.len() {
                return;
            }
            self.parsed = PREFACE.len();
        }
        while self.parsed < consumed {
            let avail = &input[self.parsed..consumed];
            match frame::decode(avail, MAX_MAX_FRAME_SIZE) {
                Ok(Some((f, len))) => {
                    if let Frame::Settings(s) = f {
                        for setting in s.iter() {
                            match setting {
                                Setting::MaxFrameSize(v) => wire.max_frame = wire.max_frame.max(v),
                                Setting::HeaderTableSize(v) => {
                                    wire.table_sizes.push_back((produced_now, v))
                                }
                                _ => {}
                            }
                        }
                    }
                    self.parsed += len;
                }
                Err(e) if e.frame_len <= avail.len() => self.parsed += e.frame_len,
                _ => {
                    // The connection consumed part of a frame: stop interpreting (and stop checking
                    // what depends on the client's settings).
                    self.in_step = false;
                    wire.max_frame = MAX_MAX_FRAME_SIZE;
                    wire.hpack_in_step = false;
                    return;
                }
            }
        }
    }

    /// Where the next `recv` call's input should end: right after the first SETTINGS frame in
    /// `input[consumed..pos]`, so that a SETTINGS frame is always the last one a `recv` call handles.
    /// Header blocks that call produces were then all encoded before the new settings applied, and
    /// the ones produced later after: the client's HPACK decoder can follow exactly.
    fn offer_end(&self, input: &[u8], consumed: usize, pos: usize) -> usize {
        if !self.in_step {
            return pos;
        }
        let mut at = consumed.max(PREFACE.len());
        while let Some(head) = input.get(at..pos).and_then(Head::parse) {
            let end = at + HEAD_LEN + head.len as usize;
            if end > pos {
                break;
            }
            if head.kind == frame::kind::SETTINGS && head.flags & frame::flag::ACK == 0 {
                return end;
            }
            at = end;
        }
        pos
    }
}

fn run(config: &Config, flags: u8, seed: u64, body: &[u8]) {
    let mut input = Vec::with_capacity(body.len() + 33);
    if flags & 1 != 0 {
        input.extend_from_slice(PREFACE);
        frame::encode_settings(&mut input, &[]);
    }
    input.extend_from_slice(body);
    let chunk_max: u64 = [16, 256, 4096, u64::MAX][(flags >> 1 & 3) as usize];

    let start = Instant::now();
    let mut r = Run {
        conn: Connection::new(Role::Server, config, start),
        rec: Recorder {
            events: Vec::new(),
            max_fields: config.limits.max_header_fields as usize,
            max_list_size: config.max_header_list_size as usize,
        },
        rng: Rng(seed | 1),
        now: start,
        streams: HashMap::new(),
        wire: Wire::new(),
        config,
        lazy_release: flags & 16 != 0,
        slow_writer: flags & 8 != 0,
        fed: 0,
        data_sent: 0,
        produced: 0,
    };
    let mut settings = InputSettings {
        parsed: 0,
        in_step: true,
    };

    // Commands that must be refused without touching the output.
    let before = r.conn.pending_output().len();
    assert_eq!(
        r.conn.open_stream(pairs(&response_head()), true),
        Err(SendError::WrongRole)
    );
    assert!(
        r.conn
            .send_headers(1, pairs(&response_head()), true)
            .is_err()
    );
    assert!(r.conn.send_data(3, b"x", true).is_err());
    assert_eq!(r.conn.pending_output().len(), before);
    assert!(!r.conn.can_open_stream());

    let mut pos = 0; // input offered so far
    let mut consumed = 0; // input consumed so far
    while pos < input.len() && !r.conn.is_closed() {
        let n = (r.rng.below(chunk_max.min(input.len() as u64)) + 1) as usize;
        pos = (pos + n).min(input.len());
        // Offer what is unread until the connection takes no more (each turn takes at least a byte).
        while consumed < pos && !r.conn.is_closed() {
            let offered = &input[consumed..settings.offer_end(&input, consumed, pos)];
            let used = r.conn.recv(offered, r.now, &mut r.rec);
            assert!(
                used <= offered.len(),
                "recv used {used} of {} bytes",
                offered.len()
            );
            consumed += used;
            r.fed += used;
            let produced_now = r.produced + r.conn.pending_output().len();
            settings.learn(&input, consumed, &mut r.wire, produced_now);
            r.act();
            r.write(false);
            if used == 0 {
                break;
            }
        }
        if r.rng.one_in(4) {
            r.now += Duration::from_millis(r.rng.below(3000));
        }
        r.timers();
        r.write(false);
    }

    // The end: maybe go away gracefully, let every timer fire, flush everything.
    if r.rng.one_in(2) {
        r.conn.go_away(ErrorCode::NO_ERROR, b"bye");
    }
    loop {
        r.act();
        r.write(true);
        if consumed == pos || r.conn.is_closed() {
            break;
        }
        let end = settings.offer_end(&input, consumed, pos);
        let used = r.conn.recv(&input[consumed..end], r.now, &mut r.rec);
        consumed += used;
        r.fed += used;
        let produced_now = r.produced + r.conn.pending_output().len();
        settings.learn(&input, consumed, &mut r.wire, produced_now);
        if used == 0 {
            r.act();
            r.write(true);
            break;
        }
    }
    r.now += Duration::from_secs(3600);
    r.timers();
    r.act();
    r.write(true);
    r.wire.finish();

    // No stall: an open connection with nothing left to write has read every complete frame.
    if !r.conn.is_closed()
        && consumed >= PREFACE.len()
        && r.conn.pending_output().is_empty()
        && let Some(head) = Head::parse(&input[consumed..pos])
    {
        let complete = pos - consumed >= HEAD_LEN + head.len as usize;
        let fits = head.len <= config.max_frame_size;
        assert!(
            !(complete && fits),
            "connection stalled with a complete {head:?} unread"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let flags = data[0];
    let seed = u64::from_be_bytes([0, 0, 0, 0, 0, data[1], data[2], data[3]]) * 0x9e37_79b9 + 1;
    let body = &data[4..];
    run(&Config::default(), flags, seed, body);
    run(&tiny_config(), flags, seed, body);
    // The connection window given back on receipt, as upstream connections run.
    let on_receipt = Config {
        connection_window_on_receipt: true,
        ..tiny_config()
    };
    run(&on_receipt, flags, seed, body);
});
