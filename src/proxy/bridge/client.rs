//! The client leg: a client's HEADERS is routed, balanced and opened upstream (or waits for room
//! on a connection to its endpoint); its DATA, trailers and resets go to the bridge.

use std::net::SocketAddr;

use super::{
    Action, Bridge, BridgeId, Busy, Dir, End, Leg, MAX_WAITING, REPLAY_LIMIT, Replay, forward,
    forward_trailers, pump, settle,
};
use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::grpc;
use crate::proxy::conns::Token;
use crate::proxy::gateway::Shared;
use crate::proxy::headers;
use crate::proxy::local::{LocalReplies, Reason};

/// Proxy state of one client connection.
pub(in crate::proxy) struct ClientSide {
    pub(in crate::proxy) peer: SocketAddr,
    peer_ip: Vec<u8>,
    tls: bool,
    /// The gateway listener the connection arrived on (renumbered when a reload changes them).
    pub(in crate::proxy) listener: usize,
    pub(in crate::proxy) leg: Leg,
    local: LocalReplies,
    /// Scratch for the `x-forwarded-for` value.
    forwarded_for: Vec<u8>,
}

impl ClientSide {
    pub(in crate::proxy) fn new(peer: SocketAddr, tls: bool, listener: usize) -> Self {
        ClientSide {
            peer,
            peer_ip: peer.ip().to_string().into_bytes(),
            tls,
            listener,
            leg: Leg::default(),
            local: LocalReplies::new(Reason::Unavailable),
            forwarded_for: Vec::new(),
        }
    }

    /// Carries out `action` on this connection (`h2`).
    pub(super) fn apply(&mut self, h2: &mut Connection, action: Action) {
        match action {
            Action::Release(stream, n) => h2.release_capacity(stream, n),
            Action::Reset(stream, code) => h2.reset(stream, code),
            Action::Answer(stream, grpc, reason) => {
                self.local.answer(stream, grpc, reason);
                self.local.flush(h2);
            }
            Action::Cancel(stream) => h2.reset(stream, ErrorCode::CANCEL),
        }
    }

    /// The connection is free again: what waited for it, local answers, and the response bytes
    /// that wait for its send window.
    pub(in crate::proxy) fn after_recv(
        &mut self,
        token: Token,
        h2: &mut Connection,
        shared: &mut Shared,
    ) {
        let ClientSide { leg, local, .. } = self;
        super::after_recv(token, leg, h2, shared, Dir::Response, |h2, a| match a {
            Action::Answer(stream, grpc, reason) => local.answer(stream, grpc, reason),
            Action::Release(stream, n) => h2.release_capacity(stream, n),
            Action::Reset(stream, code) => h2.reset(stream, code),
            Action::Cancel(stream) => h2.reset(stream, ErrorCode::CANCEL),
        });
        local.flush(h2);
    }

    /// The connection is gone: its streams end, and their upstream streams are cancelled.
    pub(in crate::proxy) fn gone(mut self, token: Token, shared: &mut Shared) {
        let ids: Vec<BridgeId> = self.leg.streams.values().copied().collect();
        let mut busy = Busy {
            token,
            leg: &mut self.leg,
        };
        for id in ids {
            settle(shared, Some(&mut busy), id, End::ClientGone);
        }
    }
}

/// Handles a client connection's events (the connection itself is busy).
pub(in crate::proxy) struct ClientHandler<'a> {
    side: &'a mut ClientSide,
    token: Token,
    shared: &'a mut Shared,
}

impl<'a> ClientHandler<'a> {
    pub(in crate::proxy) fn new(
        side: &'a mut ClientSide,
        token: Token,
        shared: &'a mut Shared,
    ) -> Self {
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
        let shared = &mut *self.shared;
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
            shared.request_ids += 1;
            request_id = headers::request_id(shared.pid, self.token as u32, shared.request_ids);
            extra[2].1 = &request_id;
            n_extra = 3;
        }
        let mut head = shared.spare_heads.pop().unwrap_or_default();
        for (name, value, never_index) in
            headers::forward_request(fields.iter_flagged()).chain(extra[..n_extra].iter().copied())
        {
            head.push_field(name, value, never_index);
        }
        let chosen = match shared.choose(fields, side.listener, side.peer) {
            Ok(c) => c,
            Err(reason) => {
                side.local.answer(stream_id, grpc, reason);
                return;
            }
        };
        let ep = chosen.endpoint;
        let mut bridge = Bridge::new((self.token, stream_id), grpc, &shared.meter);
        bridge.set_cookie = chosen.set_cookie;
        bridge.deadline = chosen.timeout.map(|t| shared.now + t);
        let Some(up) = shared.connection_for(ep) else {
            // Every connection is full: wait for room, in arrival order, up to a bound.
            if shared.upstream.waiting.len() >= MAX_WAITING {
                side.local.answer(stream_id, grpc, Reason::Unavailable);
                return;
            }
            bridge.queued = Some(head);
            bridge.request.end = end_stream;
            let id = shared.add_bridge(bridge);
            side.leg.streams.insert(stream_id, id);
            let now = shared.now;
            shared.upstream.waiting.push_back((id, ep, now));
            return;
        };
        let id = shared.add_bridge(bridge);
        if open_upstream(shared, up, id, ep, head.iter_flagged(), end_stream).is_none() {
            shared.bridges.remove(id);
            side.local.answer(stream_id, grpc, Reason::Unavailable);
            return;
        }
        let body = shared.spare_bodies.pop().unwrap_or_default();
        if let Some(b) = shared.bridges.get_mut(id) {
            b.replay = Some(Replay {
                head,
                body,
                end: end_stream,
            });
        }
        side.leg.streams.insert(stream_id, id);
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if let Some(b) = self.shared.bridges.get_mut(id) {
            b.replay = None;
        }
        forward_trailers(self.shared, id, Dir::Request, fields);
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            // A stream answered locally: its body is read and dropped.
            self.side.local.on_data(stream_id, data, end_stream);
            return;
        };
        let shared = &mut *self.shared;
        let mut busy = Busy {
            token: self.token,
            leg: &mut self.side.leg,
        };
        forward(shared, &mut busy, id, Dir::Request, data, end_stream);
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        self.side.local.on_reset(stream_id, code, remote);
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        let mut busy = Busy {
            token: self.token,
            leg: &mut self.side.leg,
        };
        settle(self.shared, Some(&mut busy), id, End::ClientGone);
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}

    fn on_window_update(&mut self, stream_id: u32) {
        self.side.leg.wake(stream_id);
    }
}

/// Opens the upstream stream of bridge `id` on connection `up` (to pool endpoint `ep`). Returns the
/// upstream stream id, or `None` when the connection refused it.
fn open_upstream<'f>(
    shared: &mut Shared,
    up: Token,
    id: BridgeId,
    ep: usize,
    head: impl Iterator<Item = (&'f [u8], &'f [u8], bool)>,
    end_stream: bool,
) -> Option<u32> {
    let (up_h2, up_side) = shared.conns.upstream(up)?;
    let up_stream = up_h2.open_stream(head, end_stream).ok()?;
    up_side.leg.streams.insert(up_stream, id);
    if let Some(b) = shared.bridges.get_mut(id) {
        b.upstream = Some((up, up_stream));
        b.endpoint = ep;
    }
    shared.upstream.stream_opened(ep);
    shared.stream_opened(up);
    Some(up_stream)
}

/// Places waiting streams, oldest first, on their endpoints' connections as room appears; a
/// stream whose endpoint is still full keeps its place. Called when every connection is in the
/// table (between events).
pub(in crate::proxy) fn dispatch_waiting(shared: &mut Shared) {
    let mut i = 0;
    while let Some(&(id, ep, since)) = shared.upstream.waiting.get(i) {
        if shared.bridges.get(id).is_none_or(|b| b.queued.is_none()) {
            // The client or the stream went away meanwhile.
            shared.upstream.waiting.remove(i);
            continue;
        }
        let Some(up) = shared.connection_for(ep) else {
            if shared.waited_too_long(ep, since) {
                shared.upstream.waiting.remove(i);
                settle(shared, None, id, End::Unplaced(Reason::Unavailable));
            } else {
                i += 1;
            }
            continue;
        };
        shared.upstream.waiting.remove(i);
        place_waiting(shared, id, up, ep);
    }
}

/// Balances waiting bridge `id` (its head in `queued`) anew: its endpoint, or the reason none can
/// take it; `None` when it or its client is gone.
fn rechoose(shared: &mut Shared, id: BridgeId) -> Option<Result<usize, Reason>> {
    let (client, _) = shared.bridges.get(id)?.client;
    let side = shared.conns.get(client)?.client_side()?;
    let (listener, peer) = (side.listener, side.peer);
    let head = shared.bridges.get_mut(id)?.queued.take()?;
    let chosen = shared.choose(&head, listener, peer);
    if let Some(b) = shared.bridges.get_mut(id) {
        b.queued = Some(head);
    }
    Some(chosen.map(|c| c.endpoint))
}

/// A waiting stream balanced again after its endpoint failed: its new endpoint, or `None` when it
/// was answered locally instead (no healthy endpoint left) or is gone.
pub(in crate::proxy) fn rebalance_waiting(shared: &mut Shared, id: BridgeId) -> Option<usize> {
    match rechoose(shared, id)? {
        Ok(ep) => Some(ep),
        Err(reason) => {
            settle(shared, None, id, End::Unplaced(reason));
            None
        }
    }
}

/// Bridge `id`, whose upstream leg was detached, waits again with `head` for an endpoint chosen
/// anew (or is answered locally when none can take it). False when its client is gone.
pub(super) fn requeue(shared: &mut Shared, id: BridgeId, head: FieldList) -> bool {
    if let Some(b) = shared.bridges.get_mut(id) {
        b.queued = Some(head);
    }
    match rechoose(shared, id) {
        None => false,
        Some(Ok(ep)) => {
            let now = shared.now;
            shared.upstream.waiting.push_back((id, ep, now));
            true
        }
        Some(Err(reason)) => {
            settle(shared, None, id, End::Unplaced(reason));
            true
        }
    }
}

/// Opens the upstream stream of waiting bridge `id` on connection `up` and sends what of its body
/// waited with it.
fn place_waiting(shared: &mut Shared, id: BridgeId, up: Token, ep: usize) {
    let Some(b) = shared.bridges.get_mut(id) else {
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
    if open_upstream(shared, up, id, ep, head.iter_flagged(), end).is_none() {
        settle(shared, None, id, End::Unplaced(Reason::Unavailable));
        return;
    }
    let Some(b) = shared.bridges.get_mut(id) else {
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
    if let Some((client_conn, up_conn)) = shared.conns.pair(client, up) {
        pump(b, Dir::Request, &mut up_conn.h2, |n| {
            client_conn.h2.release_capacity(client_stream, n)
        });
    }
}
