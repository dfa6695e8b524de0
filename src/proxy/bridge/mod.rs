//! The per-stream bridge: each client stream is carried by one upstream stream on a connection of
//! the worker's pool, and everything that happens on one side is repeated on the other.
//!
//! - Headers are re-encoded (hop-by-hop fields dropped, `x-forwarded-*` and `x-request-id` added);
//!   DATA is forwarded as it arrives; trailers and END_STREAM pass both ways; a reset on either side
//!   resets the other (a client cancel reaches the upstream as RST_STREAM CANCEL at once).
//! - Flow control is coupled: bytes received on one leg are given back to that leg's windows only
//!   once the other leg's connection has taken them. What the other leg cannot take yet waits in the
//!   stream's `pending` buffer, which the receive window bounds.
//! - A stream the upstream side cannot carry (no connection with room, connect failure, reset or loss
//!   before the response started) gets a local answer: gRPC 14 UNAVAILABLE, or HTTP 503/502.
//!
//! While one connection processes its input it is out of the worker's table, so the other side of
//! each stream is reached through [`Shared`]; work that needs the busy connection itself (giving
//! back window, answering locally) is queued and done in `*_after_recv`.

mod abort;

pub(super) use abort::tend as tend_buffers;

use std::net::SocketAddr;
use std::time::Instant;

use super::gateway::{App, Conn, Kind, Shared, Token};
use super::headers;
use super::local::{LocalReplies, Reason};
use super::pending::Pending;
use super::pool::Chosen;
use super::stream_map::StreamMap;
use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::grpc;

/// Streams waiting for room on an upstream connection, per worker.
pub(super) const MAX_WAITING: usize = 4096;
/// Request body bytes kept per stream so that a stream the upstream did not process (REFUSED_STREAM,
/// or above the last stream id of its GOAWAY) can be sent again elsewhere; a longer request is not
/// replayed.
const REPLAY_LIMIT: usize = 16 * 1024;
/// Spare replay buffers a worker keeps.
const SPARES: usize = 1024;
/// Times one request is sent upstream at most.
const MAX_ATTEMPTS: u8 = 3;

/// What it takes to send a request again until its response starts: the forwarded head and every
/// body byte the client sent.
struct Replay {
    head: FieldList,
    body: Vec<u8>,
    /// The client ended the request.
    end: bool,
}

/// A client stream's link to its upstream stream.
struct Link {
    /// The upstream connection and stream; `None` while the stream waits for room.
    up: Option<(Token, u32)>,
    grpc: bool,
    /// Request body waiting for the upstream's windows (or for the stream to be placed).
    pending: Pending,
    /// The forwarded request head of a waiting stream.
    queued: Option<FieldList>,
    /// A `Set-Cookie` value to add to the response (cookie-hash balancing, cookie missing).
    set_cookie: Option<Vec<u8>>,
    /// Until the response starts, while the request fits [`REPLAY_LIMIT`] and has no trailers.
    replay: Option<Replay>,
    /// Upstream streams this request was sent on so far.
    attempts: u8,
    /// Bytes at the front of `pending.data` whose flow-control credit the client already got back
    /// (a replayed body).
    credited: usize,
    /// The route's timeout: the response must be complete by then.
    deadline: Option<Instant>,
    /// The rest of a response that arrived whole on an upstream connection that is gone since,
    /// waiting for the client's windows (`up` is `None` then).
    held: Option<Box<Back>>,
}

impl Link {
    /// Keeps `data` (arriving from the client) for a replay, or gives up replaying when the
    /// request gets too long.
    fn keep(&mut self, data: &[u8], end: bool) {
        if let Some(r) = &mut self.replay {
            if r.body.len() + data.len() > REPLAY_LIMIT {
                self.replay = None;
            } else {
                r.body.extend_from_slice(data);
                r.end |= end;
            }
        }
    }
}

/// The upstream stream's link back to its client stream.
pub(super) struct Back {
    client: Token,
    client_stream: u32,
    grpc: bool,
    /// The final response head was sent to the client (after that, failures become resets).
    responded: bool,
    /// Response body waiting for the client's windows.
    pending: Pending,
}

/// Proxy state of one client connection.
pub(super) struct ClientSide {
    peer: SocketAddr,
    peer_ip: Vec<u8>,
    tls: bool,
    /// The gateway listener the connection arrived on (renumbered when a reload changes them).
    pub(super) listener: usize,
    streams: StreamMap<Link>,
    local: LocalReplies,
    /// Client window to give back once the connection is free: (stream, bytes).
    released: Vec<(u32, usize)>,
    /// Streams whose response waits on this client connection's send window (0: all).
    pub(super) drain: Vec<u32>,
    /// Rotates which stream goes first when the whole connection's window opens.
    turn: usize,
    /// Scratch for the `x-forwarded-for` value.
    forwarded_for: Vec<u8>,
}

impl ClientSide {
    pub(super) fn new(peer: SocketAddr, tls: bool, listener: usize) -> Self {
        ClientSide {
            peer,
            peer_ip: peer.ip().to_string().into_bytes(),
            tls,
            listener,
            streams: StreamMap::default(),
            local: LocalReplies::new(Reason::Unavailable),
            released: Vec::new(),
            drain: Vec::new(),
            turn: 0,
            forwarded_for: Vec::new(),
        }
    }
}

/// Proxy state of one upstream connection.
pub(super) struct UpstreamSide {
    pub(super) endpoint: usize,
    /// Its endpoint left the configuration, or it carried its life's streams: no new streams;
    /// closes once the last one ends.
    pub(super) retired: bool,
    /// Streams opened on it so far.
    pub(super) opened: u32,
    /// When it was opened, and since when it has had no stream (with `opened` then, so that a
    /// stream opened and ended between two looks still counts as use).
    pub(super) born: Instant,
    pub(super) idle: Option<(Instant, u32)>,
    /// When bytes last arrived, and when the PING now unanswered was sent (keepalive).
    pub(super) last_rx: Instant,
    pub(super) ping_sent: Option<Instant>,
    pub(super) streams: StreamMap<Back>,
    /// Upstream window to give back once the connection is free: (stream, bytes).
    released: Vec<(u32, usize)>,
    /// Streams whose request body waits on this upstream connection's send window (0: all).
    pub(super) drain: Vec<u32>,
    /// Rotates which stream goes first when the whole connection's window opens.
    turn: usize,
    /// Streams the gateway cancelled on it, counted since the instant (see `abort::cancel`).
    cancels: (u32, Instant),
}

impl UpstreamSide {
    pub(super) fn new(endpoint: usize, now: Instant) -> Self {
        UpstreamSide {
            endpoint,
            retired: false,
            opened: 0,
            born: now,
            idle: None,
            last_rx: now,
            ping_sent: None,
            streams: StreamMap::default(),
            released: Vec::new(),
            drain: Vec::new(),
            turn: 0,
            cancels: (0, now),
        }
    }
}

/// The client connection's parts, when it is in the table and runs the proxy.
fn client_parts(conn: &mut Conn) -> Option<(&mut Connection, &mut ClientSide)> {
    match conn {
        Conn {
            h2,
            kind:
                Kind::Client {
                    app: App::Proxy(side),
                    ..
                },
            ..
        } => Some((h2, side)),
        _ => None,
    }
}

fn upstream_parts(conn: &mut Conn) -> Option<(&mut Connection, &mut UpstreamSide)> {
    match conn {
        Conn {
            h2,
            kind: Kind::Upstream(side),
            ..
        } => Some((h2, side)),
        _ => None,
    }
}

/// The client connection `client`, if it is in the table and runs the proxy.
fn client_at(shared: &mut Shared, client: Token) -> Option<(&mut Connection, &mut ClientSide)> {
    shared
        .conns
        .get_mut(client)?
        .as_mut()
        .and_then(client_parts)
}

/// The upstream connection `up`, if it is in the table.
fn upstream_at(shared: &mut Shared, up: Token) -> Option<(&mut Connection, &mut UpstreamSide)> {
    shared.conns.get_mut(up)?.as_mut().and_then(upstream_parts)
}

/// Opens the upstream stream for client stream `stream_id` of connection `client`. Returns the
/// upstream stream id, or `None` when the connection refused it.
fn open_upstream<'f>(
    shared: &mut Shared,
    up: Token,
    client: Token,
    stream_id: u32,
    grpc: bool,
    head: impl Iterator<Item = (&'f [u8], &'f [u8], bool)>,
    end_stream: bool,
) -> Option<u32> {
    let pending = Pending::new(&shared.meter);
    let (up_h2, up_side) = upstream_at(shared, up)?;
    let up_stream = up_h2.open_stream(head, end_stream).ok()?;
    up_side.streams.insert(
        up_stream,
        Back {
            client,
            client_stream: stream_id,
            grpc,
            responded: false,
            pending,
        },
    );
    shared.dirty.push(up);
    shared.stream_opened(up);
    Some(up_stream)
}

/// Places waiting streams, oldest first, on their endpoints' connections as room appears; a
/// stream whose endpoint is still full keeps its place. Called when every connection is in the
/// table (between events).
pub(super) fn dispatch_waiting(shared: &mut Shared) {
    let mut i = 0;
    while let Some(&(client, stream_id, ep, since)) = shared.waiting.get(i) {
        let queued = match client_at(shared, client) {
            Some((_, side)) => side
                .streams
                .get(&stream_id)
                .is_some_and(|l| l.queued.is_some()),
            None => false,
        };
        if !queued {
            // The client or the stream went away meanwhile.
            shared.waiting.remove(i);
            continue;
        }
        let Some(up) = shared.connection_for(ep) else {
            if shared.waited_too_long(ep, since) {
                shared.waiting.remove(i);
                fail_waiting(shared, client, stream_id, Reason::Unavailable);
            } else {
                i += 1;
            }
            continue;
        };
        shared.waiting.remove(i);
        place_waiting(shared, client, stream_id, up);
    }
}

/// Whether client stream `stream_id` of `client` is still proxied with the deadline `at`.
pub(super) fn has_deadline(
    conns: &[Option<Conn>],
    client: Token,
    stream_id: u32,
    at: Instant,
) -> bool {
    match conns.get(client) {
        Some(Some(Conn {
            kind:
                Kind::Client {
                    app: App::Proxy(side),
                    ..
                },
            ..
        })) => side
            .streams
            .get(&stream_id)
            .is_some_and(|l| l.deadline == Some(at)),
        _ => false,
    }
}

/// The route timeout of client stream `stream_id` (set for `at`) passed: the stream is aborted
/// (504 / gRPC 4 DEADLINE_EXCEEDED, or a reset if its response already started).
pub(super) fn expire(shared: &mut Shared, client: Token, stream_id: u32, at: Instant) {
    let Some((_, side)) = client_at(shared, client) else {
        return;
    };
    // A stream that finished is gone (and ids are not reused on a connection; the instant guards
    // against a new connection under the same token).
    if side
        .streams
        .get(&stream_id)
        .is_some_and(|l| l.deadline == Some(at))
    {
        abort::abort(shared, client, stream_id, abort::Abort::Timeout);
    }
}

/// A waiting stream balanced again after its endpoint failed: its new endpoint, or `None` when it
/// was answered locally instead (no healthy endpoint left) or is gone.
pub(super) fn rebalance_waiting(
    shared: &mut Shared,
    client: Token,
    stream_id: u32,
) -> Option<usize> {
    let (_, side) = client_at(shared, client)?;
    let (listener, peer) = (side.listener, side.peer);
    let head = side.streams.get_mut(&stream_id)?.queued.take()?;
    let chosen = shared.choose(&head, listener, peer);
    let (_, side) = client_at(shared, client)?;
    let link = side.streams.get_mut(&stream_id)?;
    link.queued = Some(head);
    match chosen {
        Ok(c) => Some(c.endpoint),
        Err(reason) => {
            fail_waiting(shared, client, stream_id, reason);
            None
        }
    }
}

/// A waiting stream that cannot be placed: answered locally for `reason`.
pub(super) fn fail_waiting(shared: &mut Shared, client: Token, stream_id: u32, reason: Reason) {
    let Some((h2, side)) = client_at(shared, client) else {
        return;
    };
    if let Some(link) = side.streams.remove(&stream_id) {
        abort::release_link(h2, stream_id, &link);
        side.local.answer(stream_id, link.grpc, reason);
        side.local.flush(h2);
        shared.dirty.push(client);
    }
}

/// Opens the upstream stream of waiting client stream `stream_id` on connection `up` and sends
/// what of its body waited with it.
fn place_waiting(shared: &mut Shared, client: Token, stream_id: u32, up: Token) {
    let Some((_, side)) = client_at(shared, client) else {
        return;
    };
    let Some(link) = side.streams.get_mut(&stream_id) else {
        return;
    };
    let Some(head) = link.queued.take() else {
        return;
    };
    let grpc = link.grpc;
    // The head carries END_STREAM only if nothing else of the request is left.
    let end = link.pending.end && link.pending.data.is_empty() && link.pending.trailers.is_none();
    if end {
        link.pending.end = false;
    }
    let opened = open_upstream(
        shared,
        up,
        client,
        stream_id,
        grpc,
        head.iter_flagged(),
        end,
    );
    let mut head = Some(head);
    let Some((client_h2, side)) = client_at(shared, client) else {
        return;
    };
    match opened {
        Some(up_stream) => {
            if let Some(link) = side.streams.get_mut(&stream_id) {
                link.up = Some((up, up_stream));
                if let Some(head) = head.take() {
                    // The body waiting in `pending` is all the request has sent so far.
                    link.replay = (link.pending.data.len() <= REPLAY_LIMIT
                        && link.pending.trailers.is_none())
                    .then(|| Replay {
                        head,
                        body: link.pending.data.as_slice().to_vec(),
                        end: link.pending.end || end,
                    });
                }
            }
            // The body that waited with it follows, as far as the upstream's windows allow now
            // (the rest when they grow).
            if let Some((client_conn, up_conn)) = shared.pair(client, up) {
                if let (Some((client_h2, side)), Some((up_h2, _))) =
                    (client_parts(client_conn), upstream_parts(up_conn))
                {
                    if let Some(link) = side.streams.get_mut(&stream_id) {
                        move_request(link, client_h2, stream_id, up_h2);
                    }
                }
            }
        }
        None => {
            if let Some(link) = side.streams.remove(&stream_id) {
                abort::release_link(client_h2, stream_id, &link);
            }
            side.local.answer(stream_id, grpc, Reason::Unavailable);
            side.local.flush(client_h2);
        }
    }
    shared.dirty.push(client);
    shared.dirty.push(up);
}

/// Handles a client connection's events (the connection itself is busy).
pub(super) struct ClientHandler<'a> {
    side: &'a mut ClientSide,
    token: Token,
    shared: &'a mut Shared,
}

impl<'a> ClientHandler<'a> {
    pub(super) fn new(side: &'a mut ClientSide, token: Token, shared: &'a mut Shared) -> Self {
        ClientHandler {
            side,
            token,
            shared,
        }
    }
}

impl Handler for ClientHandler<'_> {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let grpc = fields.get(b"content-type").is_some_and(grpc::is_grpc);
        let side = &mut *self.side;
        headers::forwarded_for(
            fields.get(b"x-forwarded-for"),
            &side.peer_ip,
            &mut side.forwarded_for,
        );
        let proto: &[u8] = if side.tls { b"https" } else { b"http" };
        let mut extra: [(&[u8], &[u8], bool); 3] = [
            (b"x-forwarded-for", &side.forwarded_for, false),
            (b"x-forwarded-proto", proto, false),
            (b"x-request-id", b"", false),
        ];
        let mut n_extra = 2;
        let request_id;
        if fields.get(b"x-request-id").is_none() {
            self.shared.request_ids += 1;
            request_id =
                headers::request_id(self.shared.pid, self.token as u32, self.shared.request_ids);
            extra[2].1 = &request_id;
            n_extra = 3;
        }
        let mut head = self.shared.spare_heads.pop().unwrap_or_default();
        for (name, value, never_index) in
            headers::forward_request(fields.iter_flagged()).chain(extra[..n_extra].iter().copied())
        {
            head.push_field(name, value, never_index);
        }
        let (ep, set_cookie, timeout) = match self.shared.choose(fields, side.listener, side.peer) {
            Ok(c) => (c.endpoint, c.set_cookie, c.timeout),
            Err(reason) => {
                side.local.answer(stream_id, grpc, reason);
                return;
            }
        };
        let mut link = Link {
            up: None,
            grpc,
            pending: Pending::new(&self.shared.meter),
            queued: None,
            set_cookie,
            replay: None,
            attempts: 1,
            credited: 0,
            deadline: timeout.map(|t| self.shared.now + t),
            held: None,
        };
        if let Some(at) = link.deadline {
            self.shared
                .deadlines
                .push(std::cmp::Reverse((at, self.token, stream_id)));
        }
        match self.shared.connection_for(ep) {
            Some(up) => match open_upstream(
                self.shared,
                up,
                self.token,
                stream_id,
                grpc,
                head.iter_flagged(),
                end_stream,
            ) {
                Some(up_stream) => {
                    link.up = Some((up, up_stream));
                    link.replay = Some(Replay {
                        head,
                        body: self.shared.spare_bodies.pop().unwrap_or_default(),
                        end: end_stream,
                    });
                }
                None => {
                    side.local.answer(stream_id, grpc, Reason::Unavailable);
                    return;
                }
            },
            // Every connection is full: wait for room, in arrival order, up to a bound.
            None if self.shared.waiting.len() < MAX_WAITING => {
                link.queued = Some(head);
                link.pending.end = end_stream;
                let now = self.shared.now;
                self.shared
                    .waiting
                    .push_back((self.token, stream_id, ep, now));
            }
            None => {
                side.local.answer(stream_id, grpc, Reason::Unavailable);
                return;
            }
        }
        side.streams.insert(stream_id, link);
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        let Some(link) = self.side.streams.get_mut(&stream_id) else {
            return;
        };
        link.replay = None;
        let Some((up, up_stream)) = link.up.filter(|_| link.pending.is_empty()) else {
            link.pending.trailers = Some(fields.clone());
            return;
        };
        if let Some((up_h2, _)) = upstream_at(self.shared, up) {
            let _ = up_h2.send_trailers(up_stream, headers::forward_request(fields.iter_flagged()));
            self.shared.dirty.push(up);
        }
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let Some(link) = self.side.streams.get_mut(&stream_id) else {
            // A stream answered locally: its body is read and dropped.
            self.side.local.on_data(stream_id, data, end_stream);
            return;
        };
        if link.up.is_some() {
            link.keep(data, end_stream);
        }
        let Some((up, up_stream)) = link.up.filter(|_| link.pending.is_empty()) else {
            link.pending.data.push(data);
            link.pending.end |= end_stream;
            return;
        };
        let taken = match upstream_at(self.shared, up) {
            // A stream the upstream no longer has drops what arrives.
            Some((up_h2, _)) => up_h2
                .send_data(up_stream, data, end_stream)
                .unwrap_or(data.len()),
            None => data.len(),
        };
        self.side.released.push((stream_id, taken));
        if taken < data.len() {
            link.pending.data.push(&data[taken..]);
            link.pending.end = end_stream;
        }
        self.shared.dirty.push(up);
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        self.side.local.on_reset(stream_id, code, remote);
        let Some((up, up_stream)) = self.side.streams.remove(&stream_id).and_then(|l| l.up) else {
            // A waiting stream's place in the queue is skipped when it comes up.
            return;
        };
        let now = self.shared.now;
        if let Some((up_h2, up_side)) = upstream_at(self.shared, up) {
            drop_upstream(up_h2, up_side, up_stream, now);
            self.shared.dirty.push(up);
        }
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}

    fn on_window_update(&mut self, stream_id: u32) {
        self.side.drain.push(stream_id);
    }
}

/// The client connection is free again: give back window, send local answers, and move response
/// bytes that waited for its send window.
pub(super) fn client_after_recv(side: &mut ClientSide, h2: &mut Connection, shared: &mut Shared) {
    for (stream_id, n) in side.released.drain(..) {
        h2.release_capacity(stream_id, n);
    }
    side.local.flush(h2);
    if side.drain.is_empty() {
        return;
    }
    let all = side.drain.contains(&0);
    let mut drain = std::mem::take(&mut side.drain);
    if all {
        drain.clear();
        drain.extend(side.streams.keys().copied());
        fair_start(&mut drain, &mut side.turn);
    }
    for &stream_id in &drain {
        let Some(link) = side.streams.get_mut(&stream_id) else {
            continue;
        };
        if let Some(back) = link.held.as_deref_mut() {
            if move_response(back, h2, |_| {}) {
                side.streams.remove(&stream_id);
            }
            continue;
        }
        let Some((up, up_stream)) = link.up else {
            continue;
        };
        let Some((up_h2, up_side)) = shared
            .conns
            .get_mut(up)
            .and_then(|c| c.as_mut())
            .and_then(upstream_parts)
        else {
            continue;
        };
        let done = match up_side.streams.get_mut(&up_stream) {
            Some(back) => move_response(back, h2, |n| up_h2.release_capacity(up_stream, n)),
            None => false,
        };
        if done {
            up_side.streams.remove(&up_stream);
            side.streams.remove(&stream_id);
        }
        shared.dirty.push(up);
    }
    drain.clear();
    side.drain = drain;
}

/// When a connection's window opens, every waiting stream may move; the first ones take what
/// there is. Start each time one place further, so that no stream is always last (with large
/// messages a fixed order starves the streams at its end for seconds).
fn fair_start(drain: &mut [u32], turn: &mut usize) {
    if !drain.is_empty() {
        drain.rotate_left(*turn % drain.len());
        *turn = turn.wrapping_add(1);
    }
}

/// Moves a stream's waiting response bytes to the client as its window allows; `taken` gives the
/// upstream its window back for what was taken. Returns true once the response is complete.
fn move_response(back: &mut Back, client: &mut Connection, mut taken: impl FnMut(usize)) -> bool {
    let p = &mut back.pending;
    let end_with_data = p.end && p.trailers.is_none();
    if !p.data.is_empty() || end_with_data {
        let n = client
            .send_data(back.client_stream, p.data.as_slice(), end_with_data)
            .unwrap_or(p.data.len());
        taken(n);
        let taken = n;
        p.sent(taken);
        if !p.data.is_empty() {
            return false;
        }
        if end_with_data {
            return true;
        }
    }
    if let Some(trailers) = p.trailers.take() {
        let _ = client.send_trailers(
            back.client_stream,
            headers::forward_response(trailers.iter_flagged()),
        );
        return true;
    }
    false
}

/// Moves a stream's waiting request bytes upstream as its window allows. Returns true when nothing
/// is left waiting.
fn move_request(
    link: &mut Link,
    client: &mut Connection,
    client_stream: u32,
    upstream: &mut Connection,
) -> bool {
    let Some((_, up_stream)) = link.up else {
        return false;
    };
    let p = &mut link.pending;
    let end_with_data = p.end && p.trailers.is_none();
    if !p.data.is_empty() || end_with_data {
        let taken = upstream
            .send_data(up_stream, p.data.as_slice(), end_with_data)
            .unwrap_or(p.data.len());
        let credited = taken.min(link.credited);
        link.credited -= credited;
        client.release_capacity(client_stream, taken - credited);
        p.sent(taken);
        if !p.data.is_empty() {
            return false;
        }
        p.end = false;
    }
    if let Some(trailers) = p.trailers.take() {
        let _ =
            upstream.send_trailers(up_stream, headers::forward_request(trailers.iter_flagged()));
    }
    true
}

/// Handles an upstream connection's events (the connection itself is busy).
pub(super) struct UpstreamHandler<'a> {
    side: &'a mut UpstreamSide,
    shared: &'a mut Shared,
}

impl<'a> UpstreamHandler<'a> {
    pub(super) fn new(side: &'a mut UpstreamSide, shared: &'a mut Shared) -> Self {
        UpstreamHandler { side, shared }
    }

    /// The client stream behind `up_stream`, with its connection.
    fn client(&mut self, up_stream: u32) -> Option<(&mut Back, &mut Connection, &mut ClientSide)> {
        let back = self.side.streams.get_mut(&up_stream)?;
        let conn = self.shared.conns.get_mut(back.client)?.as_mut()?;
        let (h2, side) = client_parts(conn)?;
        Some((back, h2, side))
    }

    /// Ends the bridge for `up_stream`: both maps forget it.
    fn finish(&mut self, up_stream: u32) {
        if let Some(back) = self.side.streams.remove(&up_stream) {
            if let Some((_, side)) = client_at(self.shared, back.client) {
                side.streams.remove(&back.client_stream);
            }
            self.shared.dirty.push(back.client);
        }
    }
}

impl Handler for UpstreamHandler<'_> {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let interim = fields.status().is_some_and(|s| s.first() == Some(&b'1'));
        let Some((back, h2, side)) = self.client(stream_id) else {
            return;
        };
        let (cookie, done) = match side.streams.get_mut(&back.client_stream) {
            // The upstream processes the request: no replay any more.
            Some(link) if !interim => (link.set_cookie.take(), link.replay.take()),
            _ => (None, None),
        };
        let set_cookie = cookie.as_deref().map(|v| (&b"set-cookie"[..], v, false));
        let _ = h2.send_headers(
            back.client_stream,
            headers::forward_response(fields.iter_flagged()).chain(set_cookie),
            end_stream,
        );
        back.responded |= !interim;
        let client = back.client;
        // The answer, for outlier detection: a gRPC response's status comes with its trailers
        // (or here, for Trailers-Only).
        let answer = match (interim, back.grpc, fields.status()) {
            (true, _, _) => None,
            (false, true, Some(b"200")) if !end_stream => None,
            (false, true, Some(b"200")) => Some(grpc_as_http(fields.get(b"grpc-status"))),
            (false, _, status) => Some(http_status(status)),
        };
        self.shared.dirty.push(client);
        if let Some(r) = done {
            self.shared.recycle(r);
        }
        if let Some(status) = answer {
            self.shared.record_answer(self.side.endpoint, status);
        }
        if end_stream {
            self.finish(stream_id);
        }
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        if self.side.streams.get(&stream_id).is_some_and(|b| b.grpc) {
            let status = grpc_as_http(fields.get(b"grpc-status"));
            self.shared.record_answer(self.side.endpoint, status);
        }
        let Some((back, h2, _)) = self.client(stream_id) else {
            return;
        };
        if !back.pending.is_empty() {
            back.pending.trailers = Some(fields.clone());
            return;
        }
        let _ = h2.send_trailers(
            back.client_stream,
            headers::forward_response(fields.iter_flagged()),
        );
        self.finish(stream_id);
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let Some((back, h2, _)) = self.client(stream_id) else {
            // A stream the client no longer has: give the bytes back at once.
            self.side.released.push((stream_id, data.len()));
            return;
        };
        if !back.pending.is_empty() {
            back.pending.data.push(data);
            back.pending.end |= end_stream;
            return;
        }
        let taken = h2
            .send_data(back.client_stream, data, end_stream)
            .unwrap_or(data.len());
        let client = back.client;
        if taken < data.len() {
            back.pending.data.push(&data[taken..]);
            back.pending.end = end_stream;
        }
        let complete = end_stream && taken == data.len();
        self.side.released.push((stream_id, taken));
        self.shared.dirty.push(client);
        if complete {
            self.finish(stream_id);
        }
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        let Some(back) = self.side.streams.remove(&stream_id) else {
            return;
        };
        if code == ErrorCode::REFUSED_STREAM && replay(&back, self.shared) {
            return;
        }
        if !back.responded && code != ErrorCode::CANCEL {
            // Reset before answering: a gateway error, as Envoy counts it.
            self.shared.record_answer(self.side.endpoint, 502);
        }
        settle_client(&back, code, self.shared);
    }

    fn on_goaway(&mut self, last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {
        // Streams above `last_stream_id` were not processed (RFC 9113 §6.8): answer them here.
        let unprocessed: Vec<u32> = self
            .side
            .streams
            .keys()
            .copied()
            .filter(|&id| id > last_stream_id)
            .collect();
        for id in unprocessed {
            if let Some(back) = self.side.streams.remove(&id) {
                if !replay(&back, self.shared) {
                    settle_client(&back, ErrorCode::REFUSED_STREAM, self.shared);
                }
            }
        }
    }

    fn on_window_update(&mut self, stream_id: u32) {
        self.side.drain.push(stream_id);
    }

    fn on_ping_ack(&mut self, _payload: [u8; 8]) {
        self.side.ping_sent = None;
    }
}

impl Shared {
    /// Keeps a finished replay's buffers for the next streams (up to a bound), so that a warm
    /// worker allocates nothing per stream for them.
    fn recycle(&mut self, r: Replay) {
        let Replay {
            mut head, mut body, ..
        } = r;
        if self.spare_heads.len() < SPARES {
            head.clear();
            self.spare_heads.push(head);
        }
        if self.spare_bodies.len() < SPARES && body.capacity() <= 2 * REPLAY_LIMIT {
            body.clear();
            self.spare_bodies.push(body);
        }
    }
}

/// The upstream did not process `back`'s request (RFC 9113 §8.7): send it again, balanced anew, as a
/// waiting stream. False when it cannot be (the response started, the request was too long or had
/// trailers, it was tried [`MAX_ATTEMPTS`] times, the waiting queue is full).
fn replay(back: &Back, shared: &mut Shared) -> bool {
    if back.responded || shared.waiting.len() >= MAX_WAITING {
        return false;
    }
    let Some((_, side)) = client_at(shared, back.client) else {
        return false;
    };
    let (listener, peer) = (side.listener, side.peer);
    let Some(link) = side.streams.get_mut(&back.client_stream) else {
        return false;
    };
    if link.attempts >= MAX_ATTEMPTS {
        return false;
    }
    let Some(r) = link.replay.take() else {
        return false;
    };
    // Everything the client sent goes again; of it, what already left `pending` was credited back.
    link.credited = (r.body.len() + link.credited).saturating_sub(link.pending.data.len());
    link.pending.data.replace(r.body);
    link.pending.end = r.end;
    link.up = None;
    link.attempts += 1;
    let chosen = shared.choose(&r.head, listener, peer);
    let Some((_, side)) = client_at(shared, back.client) else {
        return false;
    };
    let Some(link) = side.streams.get_mut(&back.client_stream) else {
        return false;
    };
    link.queued = Some(r.head);
    match chosen {
        Ok(Chosen { endpoint: ep, .. }) => {
            let now = shared.now;
            shared
                .waiting
                .push_back((back.client, back.client_stream, ep, now));
        }
        Err(reason) => fail_waiting(shared, back.client, back.client_stream, reason),
    }
    true
}

/// `:status` as a number (a missing or odd one counts as 502: the upstream misbehaved).
fn http_status(status: Option<&[u8]>) -> u16 {
    status
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(502)
}

/// A `grpc-status` as the HTTP status Envoy maps it to for outlier detection (a missing one: 500).
fn grpc_as_http(status: Option<&[u8]>) -> u16 {
    match status {
        Some(b"0") => 200,
        Some(b"1") => 499,
        Some(b"3" | b"9" | b"11") => 400,
        Some(b"4") => 504,
        Some(b"5") => 404,
        Some(b"6" | b"10") => 409,
        Some(b"7") => 403,
        Some(b"8") => 429,
        Some(b"12") => 501,
        Some(b"14") => 503,
        Some(b"16") => 401,
        _ => 500,
    }
}

/// The upstream side of a stream failed: the client gets a local answer if its response has not
/// started, a reset otherwise.
fn settle_client(back: &Back, code: ErrorCode, shared: &mut Shared) {
    let Some((h2, side)) = client_at(shared, back.client) else {
        return;
    };
    if let Some(link) = side.streams.remove(&back.client_stream) {
        abort::release_link(h2, back.client_stream, &link);
    }
    if back.responded {
        let code = if code == ErrorCode::CANCEL {
            code
        } else {
            ErrorCode::INTERNAL_ERROR
        };
        h2.reset(back.client_stream, code);
    } else if code == ErrorCode::REFUSED_STREAM {
        // Not processed upstream (and not replayed here): the client may retry it (RFC 9113 §8.7).
        h2.reset(back.client_stream, code);
    } else {
        side.local
            .answer(back.client_stream, back.grpc, Reason::UpstreamFailed);
        side.local.flush(h2);
    }
    shared.dirty.push(back.client);
}

/// The upstream connection is free again: give back window, and move request bytes that waited for
/// its send window.
pub(super) fn upstream_after_recv(
    side: &mut UpstreamSide,
    h2: &mut Connection,
    shared: &mut Shared,
) {
    for (stream_id, n) in side.released.drain(..) {
        h2.release_capacity(stream_id, n);
    }
    if side.drain.is_empty() {
        return;
    }
    let all = side.drain.contains(&0);
    let mut drain = std::mem::take(&mut side.drain);
    if all {
        drain.clear();
        drain.extend(side.streams.keys().copied());
        fair_start(&mut drain, &mut side.turn);
    }
    for &up_stream in &drain {
        let Some(back) = side.streams.get(&up_stream) else {
            continue;
        };
        let (client, client_stream) = (back.client, back.client_stream);
        let Some((client_h2, client_side)) = client_at(shared, client) else {
            continue;
        };
        if let Some(link) = client_side.streams.get_mut(&client_stream) {
            move_request(link, client_h2, client_stream, h2);
        }
        shared.dirty.push(client);
    }
    drain.clear();
    side.drain = drain;
}

/// A client connection is gone: cancel its upstream streams.
pub(super) fn client_gone(side: ClientSide, shared: &mut Shared) {
    let now = shared.now;
    for (up, up_stream) in side.streams.into_values().filter_map(|l| l.up) {
        if let Some((up_h2, up_side)) = upstream_at(shared, up) {
            drop_upstream(up_h2, up_side, up_stream, now);
            shared.dirty.push(up);
        }
    }
}

/// The client no longer wants upstream stream `up_stream`: cancel it, and give back the response
/// bytes that waited for the client.
fn drop_upstream(up_h2: &mut Connection, up_side: &mut UpstreamSide, up_stream: u32, now: Instant) {
    if let Some(back) = up_side.streams.remove(&up_stream) {
        abort::release_back(up_h2, up_stream, &back);
    }
    abort::cancel(up_h2, up_side, up_stream, now);
}

/// An upstream connection is gone: every stream on it is settled with its client.
pub(super) fn upstream_gone(side: UpstreamSide, shared: &mut Shared) {
    if side.streams.values().any(|b| !b.responded) {
        shared.record_answer(side.endpoint, 502);
    }
    for back in side.streams.into_values() {
        if back.pending.end || back.pending.trailers.is_some() {
            hold(back, shared);
        } else {
            settle_client(&back, ErrorCode::INTERNAL_ERROR, shared);
        }
    }
}

/// The whole response of `back` arrived before its upstream connection went away: its client stream
/// keeps what is left of it and takes it as its windows allow.
fn hold(back: Back, shared: &mut Shared) {
    let (client, client_stream) = (back.client, back.client_stream);
    let Some((_, side)) = client_at(shared, client) else {
        return;
    };
    if let Some(link) = side.streams.get_mut(&client_stream) {
        link.up = None;
        link.held = Some(Box::new(back));
        side.drain.push(client_stream);
    }
    shared.dirty.push(client);
}

#[cfg(test)]
mod tests {
    /// The fixed state of one proxied stream on each side (the variable parts, body bytes waiting
    /// and a head kept for replay, are bounded by the stream windows and `REPLAY_LIMIT`);
    /// docs/benchmarks.md reports these sizes.
    #[test]
    fn per_stream_state_stays_small() {
        assert!(std::mem::size_of::<super::Link>() <= 344);
        assert!(std::mem::size_of::<super::Back>() <= 144);
    }
}
