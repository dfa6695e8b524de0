//! The client leg: a client's HEADERS is routed, balanced and opened upstream (or waits for room
//! on a connection to its endpoint); its DATA, trailers and resets go to the bridge.

use super::pump::{forward, forward_trailers, pump};
use super::settle::{Busy, End, settle};
use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::grpc;
use crate::proxy::events::Events;
use crate::proxy::headers;
use crate::proxy::ids::ConnId;
use crate::proxy::local::Reason;
use crate::proxy::pool::{MAX_WAITING, Waiting};
use crate::proxy::sides::{Action, ClientSide};
use crate::proxy::streams::{Bridge, BridgeId, Dir, REPLAY_LIMIT, Replay};
use crate::proxy::worker::Worker;

/// A client connection is free again: what waited for it, local answers, and the response bytes
/// that wait for its send window.
pub(in crate::proxy) fn after_recv<E: Events>(
    side: &mut ClientSide,
    id: ConnId,
    h2: &mut Connection,
    w: &mut Worker<E>,
) {
    let ClientSide { leg, local, .. } = side;
    super::pump::after_recv(id, leg, h2, w, Dir::Response, |h2, a| match a {
        // Flushed once, below.
        Action::Answer(stream, grpc, reason) => local.answer(stream, grpc, reason),
        Action::Release(stream, n) => h2.release_capacity(stream, n),
        Action::Reset(stream, code) => h2.reset(stream, code),
        Action::Cancel(stream) => h2.reset(stream, ErrorCode::CANCEL),
    });
    local.flush(h2);
}

/// A client connection is gone: its streams end, and their upstream streams are cancelled.
pub(in crate::proxy) fn gone<E: Events>(mut side: ClientSide, id: ConnId, w: &mut Worker<E>) {
    let bridges: Vec<BridgeId> = side.leg.streams.values().copied().collect();
    let mut busy = Busy {
        id,
        leg: &mut side.leg,
    };
    for b in bridges {
        settle(w, Some(&mut busy), b, End::ClientGone);
    }
}

/// Handles a client connection's events (the connection itself is busy).
pub(in crate::proxy) struct ClientHandler<'a, E> {
    side: &'a mut ClientSide,
    id: ConnId,
    w: &'a mut Worker<E>,
}

impl<'a, E: Events> ClientHandler<'a, E> {
    pub(in crate::proxy) fn new(
        side: &'a mut ClientSide,
        id: ConnId,
        w: &'a mut Worker<E>,
    ) -> Self {
        ClientHandler { side, id, w }
    }
}

impl<E: Events> Handler for ClientHandler<'_, E> {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let grpc = fields.get(b"content-type").is_some_and(grpc::is_grpc);
        let side = &mut *self.side;
        let w = &mut *self.w;
        w.events.stream_started(side.listener);
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
            w.request_ids += 1;
            request_id = headers::request_id(w.pid, self.id.token() as u32, w.request_ids);
            extra[2].1 = &request_id;
            n_extra = 3;
        }
        let mut head = w.spare_heads.pop().unwrap_or_default();
        for (name, value, never_index) in
            headers::forward_request(fields.iter_flagged()).chain(extra[..n_extra].iter().copied())
        {
            head.push_field(name, value, never_index);
        }
        let chosen = match w.choose(fields, side.listener, side.peer) {
            Ok(c) => c,
            Err(reason) => {
                w.events.local_answer(side.listener, reason);
                side.local.answer(stream_id, grpc, reason);
                return;
            }
        };
        let ep = chosen.endpoint;
        let mut bridge = Bridge::new((self.id, stream_id), side.listener, grpc, &w.meter);
        bridge.set_cookie = chosen.set_cookie;
        let deadline = chosen.timeout.map(|t| w.now + t);
        let Some(up) = w.connection_for(ep) else {
            // Every connection is full: wait for room, in arrival order, up to a bound.
            if w.pool.waiting.len() >= MAX_WAITING {
                w.events.local_answer(side.listener, Reason::Unavailable);
                side.local.answer(stream_id, grpc, Reason::Unavailable);
                return;
            }
            bridge.queued = Some(head);
            bridge.request.end = end_stream;
            let id = w.add_bridge(bridge, deadline);
            side.leg.streams.insert(stream_id, id);
            let now = w.now;
            w.pool.waiting.push_back(Waiting {
                id,
                ep: Some(ep),
                since: now,
            });
            return;
        };
        let id = w.add_bridge(bridge, deadline);
        side.leg.streams.insert(stream_id, id);
        if open_upstream(w, up, id, ep, head.iter_flagged(), end_stream).is_none() {
            let mut busy = Busy {
                id: self.id,
                leg: &mut side.leg,
            };
            settle(w, Some(&mut busy), id, End::Unplaced(Reason::Unavailable));
            return;
        }
        let body = w.spare_bodies.pop().unwrap_or_default();
        if let Some(b) = w.bridges.get_mut(id) {
            b.replay = Some(Replay {
                head,
                body,
                end: end_stream,
            });
        }
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if let Some(b) = self.w.bridges.get_mut(id) {
            b.replay = None;
        }
        forward_trailers(self.w, id, Dir::Request, fields);
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            // A stream answered locally: its body is read and dropped.
            self.side.local.on_data(stream_id, data, end_stream);
            return;
        };
        let w = &mut *self.w;
        let mut busy = Busy {
            id: self.id,
            leg: &mut self.side.leg,
        };
        forward(w, &mut busy, id, Dir::Request, data, end_stream);
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        self.side.local.on_reset(stream_id, code, remote);
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        let mut busy = Busy {
            id: self.id,
            leg: &mut self.side.leg,
        };
        settle(self.w, Some(&mut busy), id, End::ClientGone);
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}

    fn on_window_update(&mut self, stream_id: u32) {
        self.side.leg.wake(stream_id);
    }
}

/// Opens the upstream stream of bridge `id` on connection `up` (to pool endpoint `ep`). Returns the
/// upstream stream id, or `None` when the connection refused it.
fn open_upstream<'f, E: Events>(
    w: &mut Worker<E>,
    up: ConnId,
    id: BridgeId,
    ep: usize,
    head: impl Iterator<Item = (&'f [u8], &'f [u8], bool)>,
    end_stream: bool,
) -> Option<u32> {
    let (up_h2, up_side) = w.conns.upstream(up)?;
    let up_stream = up_h2.open_stream(head, end_stream).ok()?;
    up_side.leg.streams.insert(up_stream, id);
    if let Some(b) = w.bridges.get_mut(id) {
        b.upstream = Some((up, up_stream));
        b.endpoint = ep;
    }
    w.pool.stream_opened(ep);
    let Worker {
        pool,
        conns,
        config,
        ..
    } = w;
    pool.connection_used(conns, config, up);
    Some(up_stream)
}

/// Places waiting streams, oldest first, on their endpoints' connections as room appears; a
/// stream whose endpoint is still full keeps its place. Called when every connection is in the
/// table (between events).
pub(in crate::proxy) fn dispatch_waiting<E: Events>(w: &mut Worker<E>) {
    let mut i = 0;
    while let Some(&Waiting { id, ep, since }) = w.pool.waiting.get(i) {
        if w.bridges.get(id).is_none_or(|b| b.queued.is_none()) {
            // The client or the stream went away meanwhile.
            w.pool.waiting.remove(i);
            continue;
        }
        let Some(ep) = ep else {
            // Its endpoint failed: balanced again, over the others.
            match rechoose(w, id) {
                Some(Ok(ep)) => w.pool.waiting[i].ep = Some(ep),
                Some(Err(reason)) => {
                    w.pool.waiting.remove(i);
                    settle(w, None, id, End::Unplaced(reason));
                }
                None => {
                    w.pool.waiting.remove(i);
                }
            }
            continue;
        };
        let Some(up) = w.connection_for(ep) else {
            if w.pool.waiting[i].ep.is_none() {
                // The endpoint failed just now.
                continue;
            }
            if w.waited_too_long(ep, since) {
                w.pool.waiting.remove(i);
                settle(w, None, id, End::Unplaced(Reason::Unavailable));
            } else {
                i += 1;
            }
            continue;
        };
        w.pool.waiting.remove(i);
        place_waiting(w, id, up, ep);
    }
}

/// Balances waiting bridge `id` (its head in `queued`) anew: its endpoint, or the reason none can
/// take it; `None` when it or its client is gone.
fn rechoose<E: Events>(w: &mut Worker<E>, id: BridgeId) -> Option<Result<usize, Reason>> {
    let (client, _) = w.bridges.get(id)?.client;
    let side = w.conns.get(client)?.client_side()?;
    let (listener, peer) = (side.listener, side.peer);
    let head = w.bridges.get_mut(id)?.queued.take()?;
    let chosen = w.choose(&head, listener, peer);
    if let Some(b) = w.bridges.get_mut(id) {
        b.queued = Some(head);
    }
    Some(chosen.map(|c| c.endpoint))
}

/// Bridge `id`, whose upstream leg was detached, waits again with `head` for an endpoint chosen
/// anew (or is answered locally when none can take it). False when its client is gone.
pub(super) fn requeue<E: Events>(w: &mut Worker<E>, id: BridgeId, head: FieldList) -> bool {
    if let Some(b) = w.bridges.get_mut(id) {
        b.queued = Some(head);
    }
    match rechoose(w, id) {
        None => false,
        Some(Ok(ep)) => {
            let now = w.now;
            w.pool.waiting.push_back(Waiting {
                id,
                ep: Some(ep),
                since: now,
            });
            true
        }
        Some(Err(reason)) => {
            settle(w, None, id, End::Unplaced(reason));
            true
        }
    }
}

/// Opens the upstream stream of waiting bridge `id` on connection `up` and sends what of its body
/// waited with it.
fn place_waiting<E: Events>(w: &mut Worker<E>, id: BridgeId, up: ConnId, ep: usize) {
    let Some(b) = w.bridges.get_mut(id) else {
        return;
    };
    let Some(head) = b.queued.take() else {
        return;
    };
    // The head carries END_STREAM only if nothing else of the request is left.
    let end = b.request.end && b.request.data.is_empty() && b.request.trailers.is_none();
    if end {
        b.request.end = false;
    }
    if open_upstream(w, up, id, ep, head.iter_flagged(), end).is_none() {
        settle(w, None, id, End::Unplaced(Reason::Unavailable));
        return;
    }
    let Some(b) = w.bridges.get_mut(id) else {
        return;
    };
    // The body waiting in `request` is all the request has sent so far.
    b.replay =
        (b.request.data.len() <= REPLAY_LIMIT && b.request.trailers.is_none()).then(|| Replay {
            head,
            body: b.request.data.as_slice().to_vec(),
            end: b.request.end || end,
        });
    // The body that waited with it follows, as far as the upstream's windows allow now (the rest
    // when they grow).
    let (client, client_stream) = b.client;
    if let Some((client_conn, up_conn)) = w.conns.pair(client, up) {
        pump(b, Dir::Request, &mut up_conn.h2, |n| {
            client_conn.h2.release_capacity(client_stream, n)
        });
    }
}
