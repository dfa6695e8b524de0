//! The upstream leg: the response head, DATA and trailers go to the client; a stream the upstream
//! did not process is sent again elsewhere; answers feed outlier detection.

use std::time::Instant;

use super::{
    Action, BridgeId, Busy, Dir, End, Leg, MAX_ATTEMPTS, MAX_WAITING, abort, forward,
    forward_trailers, settle,
};
use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::proxy::conns::Token;
use crate::proxy::gateway::Shared;
use crate::proxy::headers;

/// Proxy state of one upstream connection.
pub(in crate::proxy) struct UpstreamSide {
    pub(in crate::proxy) endpoint: usize,
    /// Its endpoint left the configuration, or it carried its life's streams: no new streams;
    /// closes once the last one ends.
    pub(in crate::proxy) retired: bool,
    /// Streams opened on it so far.
    pub(in crate::proxy) opened: u32,
    /// When it was opened, and since when it has had no stream (with `opened` then, so that a
    /// stream opened and ended between two looks still counts as use).
    pub(in crate::proxy) born: Instant,
    pub(in crate::proxy) idle: Option<(Instant, u32)>,
    /// When bytes last arrived, and when the PING now unanswered was sent (keepalive).
    pub(in crate::proxy) last_rx: Instant,
    pub(in crate::proxy) ping_sent: Option<Instant>,
    pub(in crate::proxy) leg: Leg,
    /// Streams the gateway cancelled on it lately.
    cancels: abort::Cancels,
}

impl UpstreamSide {
    pub(in crate::proxy) fn new(endpoint: usize, now: Instant) -> Self {
        UpstreamSide {
            endpoint,
            retired: false,
            opened: 0,
            born: now,
            idle: None,
            last_rx: now,
            ping_sent: None,
            leg: Leg::default(),
            cancels: abort::Cancels::new(now),
        }
    }

    /// Carries out `action` on this connection (`h2`).
    pub(super) fn apply(&mut self, h2: &mut Connection, action: Action, now: Instant) {
        apply(h2, action, &mut self.cancels, &mut self.retired, now);
    }

    /// The connection is free again: what waited for it, and the request bytes that wait for its
    /// send window.
    pub(in crate::proxy) fn after_recv(
        &mut self,
        token: Token,
        h2: &mut Connection,
        shared: &mut Shared,
    ) {
        let now = shared.now;
        let UpstreamSide {
            leg,
            cancels,
            retired,
            ..
        } = self;
        super::after_recv(token, leg, h2, shared, Dir::Request, |h2, a| {
            apply(h2, a, cancels, retired, now)
        });
    }
}

fn apply(
    h2: &mut Connection,
    action: Action,
    cancels: &mut abort::Cancels,
    retired: &mut bool,
    now: Instant,
) {
    match action {
        Action::Release(stream, n) => h2.release_capacity(stream, n),
        Action::Reset(stream, code) => h2.reset(stream, code),
        Action::Cancel(stream) => cancels.cancel(h2, stream, retired, now),
        // Local answers are for clients.
        Action::Answer(..) => {}
    }
}

/// Handles an upstream connection's events (the connection itself is busy).
pub(in crate::proxy) struct UpstreamHandler<'a> {
    side: &'a mut UpstreamSide,
    token: Token,
    shared: &'a mut Shared,
}

impl<'a> UpstreamHandler<'a> {
    pub(in crate::proxy) fn new(
        side: &'a mut UpstreamSide,
        token: Token,
        shared: &'a mut Shared,
    ) -> Self {
        UpstreamHandler {
            side,
            token,
            shared,
        }
    }

    fn settle(&mut self, id: BridgeId, end: End) {
        let mut busy = Busy {
            token: self.token,
            leg: &mut self.side.leg,
        };
        settle(self.shared, Some(&mut busy), id, end);
    }
}

impl Handler for UpstreamHandler<'_> {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let interim = fields.status().is_some_and(|s| s.first() == Some(&b'1'));
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        let shared = &mut *self.shared;
        let Some(b) = shared.bridges.get_mut(id) else {
            return;
        };
        let (client, client_stream) = b.client;
        let Some(c) = shared.conns.get_mut(client) else {
            return;
        };
        // The upstream processes the request: no replay any more.
        let (cookie, done) = if interim {
            (None, None)
        } else {
            (b.set_cookie.take(), b.replay.take())
        };
        let set_cookie = cookie.as_deref().map(|v| (&b"set-cookie"[..], v, false));
        let _ = c.h2.send_headers(
            client_stream,
            headers::forward_response(fields.iter_flagged()).chain(set_cookie),
            end_stream,
        );
        b.responded |= !interim;
        // The answer, for outlier detection: a gRPC response's status comes with its trailers
        // (or here, for Trailers-Only).
        let answer = match (interim, b.grpc, fields.status()) {
            (true, _, _) => None,
            (false, true, Some(b"200")) if !end_stream => None,
            (false, true, Some(b"200")) => Some(grpc_as_http(fields.get(b"grpc-status"))),
            (false, _, status) => Some(http_status(status)),
        };
        if let Some(r) = done {
            shared.recycle(r);
        }
        if let Some(status) = answer {
            shared.record_answer(self.side.endpoint, status);
        }
        if end_stream {
            self.settle(id, End::Complete);
        }
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if self.shared.bridges.get(id).is_some_and(|b| b.grpc) {
            let status = grpc_as_http(fields.get(b"grpc-status"));
            self.shared.record_answer(self.side.endpoint, status);
        }
        if forward_trailers(self.shared, id, Dir::Response, fields) {
            self.settle(id, End::Complete);
        }
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            // A stream the client no longer has: give the bytes back at once.
            self.side
                .leg
                .deferred
                .push(Action::Release(stream_id, data.len()));
            return;
        };
        let mut busy = Busy {
            token: self.token,
            leg: &mut self.side.leg,
        };
        if forward(self.shared, &mut busy, id, Dir::Response, data, end_stream) {
            settle(self.shared, Some(&mut busy), id, End::Complete);
        }
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if code == ErrorCode::REFUSED_STREAM && self.replay(stream_id, id) {
            return;
        }
        let responded = self.shared.bridges.get(id).is_some_and(|b| b.responded);
        if !responded && code != ErrorCode::CANCEL {
            // Reset before answering: a gateway error, as Envoy counts it.
            self.shared.record_answer(self.side.endpoint, 502);
        }
        self.settle(id, End::UpstreamFailed(code));
    }

    fn on_goaway(&mut self, last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {
        // Streams above `last_stream_id` were not processed (RFC 9113 §6.8): answer them here.
        let unprocessed: Vec<(u32, BridgeId)> = self
            .side
            .leg
            .streams
            .iter()
            .filter(|&(&s, _)| s > last_stream_id)
            .map(|(&s, &id)| (s, id))
            .collect();
        for (stream_id, id) in unprocessed {
            if !self.replay(stream_id, id) {
                self.settle(id, End::UpstreamFailed(ErrorCode::REFUSED_STREAM));
            }
        }
    }

    fn on_window_update(&mut self, stream_id: u32) {
        self.side.leg.wake(stream_id);
    }

    fn on_ping_ack(&mut self, _payload: [u8; 8]) {
        self.side.ping_sent = None;
    }
}

impl UpstreamHandler<'_> {
    /// The upstream did not process bridge `id`'s request on `stream_id` (RFC 9113 §8.7): send it
    /// again, balanced anew, as a waiting stream. False when it cannot be (the response started,
    /// the request was too long or had trailers, it was tried [`MAX_ATTEMPTS`] times, the waiting
    /// queue is full, the client is gone).
    fn replay(&mut self, stream_id: u32, id: BridgeId) -> bool {
        let shared = &mut *self.shared;
        if shared.upstream.waiting.len() >= MAX_WAITING {
            return false;
        }
        let Some(b) = shared.bridges.get_mut(id) else {
            return false;
        };
        if b.responded || b.attempts >= MAX_ATTEMPTS {
            return false;
        }
        let Some(r) = b.replay.take() else {
            return false;
        };
        // Everything the client sent goes again; of it, what already left `request` was credited
        // back.
        b.credited = (r.body.len() + b.credited).saturating_sub(b.request.data.len());
        b.request.data.replace(r.body);
        b.request.end = r.end;
        b.upstream = None;
        b.attempts += 1;
        let ep = b.endpoint;
        self.side.leg.streams.remove(&stream_id);
        shared.upstream.stream_closed(ep);
        super::client::requeue(shared, id, r.head)
    }
}

/// An upstream connection is gone: every stream on it is settled with its client, except those
/// whose whole response arrived: their client streams keep the rest and take it as their windows
/// allow.
pub(in crate::proxy) fn upstream_gone(mut side: UpstreamSide, token: Token, shared: &mut Shared) {
    let ids: Vec<BridgeId> = side.leg.streams.values().copied().collect();
    if ids
        .iter()
        .any(|&id| shared.bridges.get(id).is_some_and(|b| !b.responded))
    {
        shared.record_answer(side.endpoint, 502);
    }
    let mut busy = Busy {
        token,
        leg: &mut side.leg,
    };
    for id in ids {
        let Some(b) = shared.bridges.get_mut(id) else {
            continue;
        };
        if !(b.response.end || b.response.trailers.is_some()) {
            settle(
                shared,
                Some(&mut busy),
                id,
                End::UpstreamFailed(ErrorCode::INTERNAL_ERROR),
            );
            continue;
        }
        b.upstream = None;
        let (ep, (client, client_stream)) = (b.endpoint, b.client);
        shared.upstream.stream_closed(ep);
        if let Some((_, side)) = shared.conns.client(client) {
            side.leg.wake(client_stream);
        }
    }
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
