//! Test-side peers for [`Sim`](super::Sim): an HTTP/2 client, an HTTP/2 upstream that misbehaves
//! on request ([`Faults`]), and raw bytes (for what no HTTP/2 peer would send, and the fuzzer).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::Peer;
use crate::h2::ErrorCode;
use crate::h2::conn::{Config, Connection, Handler, Role};
use crate::h2::fields::FieldList;
use crate::h2::frame;

/// What one end heard, per stream.
#[derive(Default, Debug)]
pub struct Seen {
    /// `:status` of responses (client side).
    pub status: HashMap<u32, String>,
    /// `:path` of requests (server side), in arrival order.
    pub requests: Vec<(u32, String)>,
    /// Body bytes received.
    pub body: HashMap<u32, usize>,
    /// Streams the peer ended (END_STREAM or trailers).
    pub ended: Vec<u32>,
    /// RST_STREAM frames received.
    pub resets: Vec<(u32, ErrorCode)>,
    pub goaways: Vec<ErrorCode>,
    /// Body bytes not yet given back to the windows.
    received: Vec<(u32, usize)>,
}

impl Handler for Seen {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        if let Some(status) = fields.status() {
            let status = String::from_utf8_lossy(status).into_owned();
            self.status.insert(stream_id, status);
        } else if let Some(path) = fields.path() {
            let path = String::from_utf8_lossy(path).into_owned();
            self.requests.push((stream_id, path));
        }
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.ended.push(stream_id);
    }
    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        *self.body.entry(stream_id).or_default() += data.len();
        self.received.push((stream_id, data.len()));
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        if remote {
            self.resets.push((stream_id, code));
        }
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        self.goaways.push(code);
    }
}

/// Feeds `rx` to `conn` as far as it has whole frames (a `recv` handles a bounded number).
fn recv_all(conn: &mut Connection, rx: &mut Vec<u8>, now: Instant, seen: &mut Seen) {
    while !rx.is_empty() {
        let used = conn.recv(rx, now, seen);
        rx.drain(..used.min(rx.len()));
        if used == 0 {
            break;
        }
    }
    if conn.next_timeout().is_some_and(|at| at <= now) {
        conn.on_timeout(now, seen);
    }
}

/// An HTTP/2 client (h2c) on h2edge's own connection state machine.
pub struct H2Client {
    pub conn: Connection,
    pub seen: Seen,
    /// Gives received body bytes back to the windows (else they stay closed).
    pub reads: bool,
    /// Reads its socket (else the gateway's output stays with the gateway).
    pub reads_socket: bool,
    /// Closes its socket on the next turn.
    pub hang_up: bool,
    /// The gateway closed the connection.
    pub closed: bool,
    rx: Vec<u8>,
}

impl H2Client {
    pub fn new(config: &Config, now: Instant) -> Self {
        H2Client {
            conn: Connection::new(Role::Client, config, now),
            seen: Seen::default(),
            reads: true,
            reads_socket: true,
            hang_up: false,
            closed: false,
            rx: Vec::new(),
        }
    }

    /// Opens a stream to `path` with authority `sim.test`.
    pub fn request(&mut self, method: &str, path: &str, end_stream: bool) -> u32 {
        let fields: [(&[u8], &[u8]); 4] = [
            (b":method", method.as_bytes()),
            (b":scheme", b"http"),
            (b":authority", b"sim.test"),
            (b":path", path.as_bytes()),
        ];
        match self.conn.open_stream(fields, end_stream) {
            Ok(id) => id,
            Err(e) => panic!("open stream: {e:?}; GOAWAYs {:?}", self.seen.goaways),
        }
    }

    pub fn get(&mut self, path: &str) -> u32 {
        self.request("GET", path, true)
    }

    /// Whether stream `id` ended, with an answer or a reset.
    pub fn ended(&self, id: u32) -> bool {
        self.seen.ended.contains(&id) || self.reset(id).is_some()
    }

    pub fn reset(&self, id: u32) -> Option<ErrorCode> {
        self.seen.resets.iter().find(|r| r.0 == id).map(|r| r.1)
    }

    pub fn status(&self, id: u32) -> Option<&str> {
        self.seen.status.get(&id).map(String::as_str)
    }
}

impl Peer for H2Client {
    fn deliver(&mut self, _now: Instant, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
    }

    fn act(&mut self, now: Instant, out: &mut Vec<u8>) {
        recv_all(&mut self.conn, &mut self.rx, now, &mut self.seen);
        for (id, n) in self.seen.received.drain(..) {
            if self.reads {
                self.conn.release_capacity(id, n);
            }
        }
        let n = out.len();
        out.extend_from_slice(self.conn.pending_output());
        self.conn.advance_output(out.len() - n);
    }

    fn closed(&mut self, now: Instant) {
        // What arrived before the close is read first (a GOAWAY, say).
        recv_all(&mut self.conn, &mut self.rx, now, &mut self.seen);
        self.closed = true;
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.conn.next_timeout()
    }

    fn room(&self) -> usize {
        if self.reads_socket { usize::MAX } else { 0 }
    }

    fn hung_up(&self) -> bool {
        self.hang_up
    }
}

/// How an upstream misbehaves; shared by every connection to one endpoint.
#[derive(Default, Debug)]
pub struct Faults {
    /// Writes nothing while set (answers queue up; it still reads): a frozen process, or one whose
    /// answers come late.
    pub frozen: Cell<bool>,
    /// Refuses every other request of the endpoint (RST_STREAM REFUSED_STREAM), starting with
    /// the first.
    pub refuse_every_other: Cell<bool>,
    /// Once a request body on a connection reaches this many bytes: GOAWAY with last-stream-id 0
    /// (nothing processed).
    pub goaway_after_body: Cell<Option<usize>>,
    /// Once this many requests arrived on a connection: GOAWAY with the first one's id as the
    /// last processed; only that one is answered.
    pub goaway_after_requests: Cell<Option<usize>>,
    /// Requests the endpoint received, refused ones included.
    pub requests: Cell<usize>,
    pub refused: Cell<usize>,
}

/// One response in progress: `/bytes/N` gets N zero bytes, any other path `ok`.
struct Resp {
    id: u32,
    left: usize,
    head_sent: bool,
}

const ZEROS: [u8; 16 << 10] = [0; 16 << 10];

/// An HTTP/2 upstream (h2c) answering every request `200` once the request is whole.
pub struct H2Server {
    pub conn: Connection,
    pub faults: Rc<Faults>,
    pub seen: Seen,
    /// Requests answered in full.
    pub answered: usize,
    /// Closes its socket on the next turn.
    pub hang_up: bool,
    pub closed: bool,
    /// The last stream it processes, once it sent GOAWAY; it hangs up once those are answered.
    last_id: Option<u32>,
    /// Requests (`seen.requests`) and ends (`seen.ended`) already looked at.
    heads_seen: usize,
    ends_seen: usize,
    responses: Vec<Resp>,
    rx: Vec<u8>,
}

impl H2Server {
    pub fn new(faults: Rc<Faults>, now: Instant) -> Self {
        // No output limit of its own: each turn serves every stream (see `respond`).
        let mut config = Config::default();
        config.limits.max_buffered_output = 1 << 30;
        H2Server {
            conn: Connection::new(Role::Server, &config, now),
            faults,
            seen: Seen::default(),
            answered: 0,
            hang_up: false,
            closed: false,
            last_id: None,
            heads_seen: 0,
            ends_seen: 0,
            responses: Vec::new(),
            rx: Vec::new(),
        }
    }

    /// Responses not yet sent in full.
    pub fn in_flight(&self) -> usize {
        self.responses.len()
    }

    fn go_away(&mut self, last_id: u32, out: &mut Vec<u8>) {
        if self.last_id.is_none() {
            self.last_id = Some(last_id);
            frame::encode_goaway(out, last_id, ErrorCode::NO_ERROR, b"");
        }
    }

    /// New requests: refused, or counted; whole ones get a response.
    fn take_requests(&mut self, out: &mut Vec<u8>) {
        let f = self.faults.clone();
        for (id, _) in &self.seen.requests[self.heads_seen..] {
            f.requests.set(f.requests.get() + 1);
            if f.refuse_every_other.get() && f.requests.get() % 2 == 1 {
                f.refused.set(f.refused.get() + 1);
                self.conn.reset(*id, ErrorCode::REFUSED_STREAM);
            }
        }
        self.heads_seen = self.seen.requests.len();
        if let Some(n) = f.goaway_after_requests.get() {
            if let Some(&(first, _)) = self.seen.requests.first().filter(|_| self.heads_seen >= n) {
                self.go_away(first, out);
            }
        }
        if let Some(n) = f.goaway_after_body.get() {
            if self.seen.body.values().any(|&b| b >= n) {
                self.go_away(0, out);
            }
        }
        for &id in &self.seen.ended[self.ends_seen..] {
            if self.last_id.is_some_and(|last| id > last) {
                continue;
            }
            let Some((_, path)) = self.seen.requests.iter().find(|r| r.0 == id) else {
                continue;
            };
            let left = path
                .split("/bytes/")
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            self.responses.push(Resp {
                id,
                left,
                head_sent: false,
            });
        }
        self.ends_seen = self.seen.ended.len();
    }

    /// Sends what each response has due, as the windows allow, one frame per stream per round (as
    /// real servers share the connection window: otherwise the oldest streams would take all of
    /// it).
    fn respond(&mut self) {
        let conn = &mut self.conn;
        let resets = &self.seen.resets;
        let answered = &mut self.answered;
        self.responses
            .retain(|r| !resets.iter().any(|x| x.0 == r.id));
        loop {
            let mut moved = false;
            self.responses.retain_mut(|r| {
                if !r.head_sent {
                    if conn
                        .send_headers(r.id, [(&b":status"[..], &b"200"[..])], false)
                        .is_err()
                    {
                        return false;
                    }
                    r.head_sent = true;
                    moved = true;
                }
                let body: &[u8] = if r.left > 0 {
                    &ZEROS[..r.left.min(ZEROS.len())]
                } else {
                    b"ok"
                };
                match conn.send_data(r.id, body, r.left <= body.len()) {
                    Ok(0) => true,
                    Ok(n) => {
                        moved = true;
                        r.left = r.left.saturating_sub(n);
                        let more = n < body.len() || r.left > 0;
                        if !more {
                            *answered += 1;
                        }
                        more
                    }
                    Err(_) => false,
                }
            });
            if !moved {
                return;
            }
        }
    }
}

impl Peer for H2Server {
    fn deliver(&mut self, _now: Instant, bytes: &[u8]) {
        self.rx.extend_from_slice(bytes);
    }

    fn act(&mut self, now: Instant, out: &mut Vec<u8>) {
        recv_all(&mut self.conn, &mut self.rx, now, &mut self.seen);
        for (id, n) in self.seen.received.drain(..) {
            self.conn.release_capacity(id, n);
        }
        if self.faults.frozen.get() {
            return;
        }
        let n = out.len();
        out.extend_from_slice(self.conn.pending_output());
        self.conn.advance_output(out.len() - n);
        self.take_requests(out);
        self.respond();
        let n = out.len();
        out.extend_from_slice(self.conn.pending_output());
        self.conn.advance_output(out.len() - n);
        if self.last_id.is_some() && self.responses.is_empty() {
            self.hang_up = true;
        }
    }

    fn closed(&mut self, now: Instant) {
        // What arrived before the close is read first (a GOAWAY, say).
        recv_all(&mut self.conn, &mut self.rx, now, &mut self.seen);
        self.closed = true;
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.conn.next_timeout()
    }

    fn hung_up(&self) -> bool {
        self.hang_up
    }
}

/// Raw bytes both ways: what a test (or the fuzzer) writes, and what the gateway wrote.
#[derive(Default, Debug)]
pub struct RawPeer {
    /// Written to the gateway on the next turn.
    pub send: Vec<u8>,
    /// Everything the gateway wrote.
    pub heard: Vec<u8>,
    /// Bytes its socket takes before it is full (`usize::MAX`: it reads everything).
    pub room: usize,
    pub hang_up: bool,
    pub closed_at: Option<Instant>,
}

impl RawPeer {
    pub fn new() -> Self {
        RawPeer {
            room: usize::MAX,
            ..RawPeer::default()
        }
    }

    /// The frames heard, as far as they decode: (type, the code of a GOAWAY).
    pub fn frames(&self) -> Vec<(u8, Option<ErrorCode>)> {
        let mut out = Vec::new();
        let mut buf = &self.heard[..];
        while let Ok(Some((f, n))) = frame::decode(buf, 1 << 24) {
            out.push(match f {
                frame::Frame::GoAway(g) => (frame::kind::GOAWAY, Some(g.code)),
                frame::Frame::Settings(_) => (frame::kind::SETTINGS, None),
                frame::Frame::WindowUpdate(_) => (frame::kind::WINDOW_UPDATE, None),
                _ => (0xff, None),
            });
            buf = &buf[n..];
        }
        out
    }

    /// The code of the first GOAWAY heard.
    pub fn goaway(&self) -> Option<ErrorCode> {
        self.frames().into_iter().find_map(|(_, code)| code)
    }
}

impl Peer for RawPeer {
    fn deliver(&mut self, _now: Instant, bytes: &[u8]) {
        self.heard.extend_from_slice(bytes);
        if self.room != usize::MAX {
            self.room -= bytes.len();
        }
    }

    fn act(&mut self, _now: Instant, out: &mut Vec<u8>) {
        out.append(&mut self.send);
    }

    fn closed(&mut self, now: Instant) {
        self.closed_at = Some(now);
    }

    fn room(&self) -> usize {
        self.room
    }

    fn hung_up(&self) -> bool {
        self.hang_up
    }
}
