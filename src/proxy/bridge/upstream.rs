//! The upstream leg: the response head, DATA and trailers go to the client; a stream the upstream
//! did not process is sent again elsewhere; answers feed outlier detection.

use super::pump::{forward, forward_trailers};
use super::settle::{Busy, End, settle};
use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::proxy::events::Events;
use crate::proxy::headers;
use crate::proxy::ids::ConnId;
use crate::proxy::pool::MAX_WAITING;
use crate::proxy::sides::{Action, UpstreamSide};
use crate::proxy::streams::{BridgeId, Dir};
use crate::proxy::worker::Worker;

/// Times one request is sent upstream at most.
const MAX_ATTEMPTS: u8 = 3;

/// An upstream connection is free again: what waited for it, and the request bytes that wait for
/// its send window.
pub(in crate::proxy) fn after_recv<E: Events>(
    side: &mut UpstreamSide,
    id: ConnId,
    h2: &mut Connection,
    w: &mut Worker<E>,
) {
    let now = w.now;
    let mut deferred = std::mem::take(&mut side.leg.deferred);
    for a in deferred.drain(..) {
        side.apply(h2, a, now);
    }
    side.leg.deferred = deferred;
    super::pump::after_recv(id, &mut side.leg, h2, w, Dir::Request, |_, _| {});
}

/// Handles an upstream connection's events (the connection itself is busy).
pub(in crate::proxy) struct UpstreamHandler<'a, E> {
    side: &'a mut UpstreamSide,
    id: ConnId,
    w: &'a mut Worker<E>,
}

impl<'a, E: Events> UpstreamHandler<'a, E> {
    pub(in crate::proxy) fn new(
        side: &'a mut UpstreamSide,
        id: ConnId,
        w: &'a mut Worker<E>,
    ) -> Self {
        UpstreamHandler { side, id, w }
    }

    fn settle(&mut self, id: BridgeId, end: End) {
        let mut busy = Busy {
            id: self.id,
            leg: &mut self.side.leg,
        };
        settle(self.w, Some(&mut busy), id, end);
    }
}

impl<E: Events> Handler for UpstreamHandler<'_, E> {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let interim = fields.status().is_some_and(|s| s.first() == Some(&b'1'));
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        let w = &mut *self.w;
        let Some(b) = w.bridges.get_mut(id) else {
            return;
        };
        let (client, client_stream) = b.client;
        let Some(c) = w.conns.get_mut(client) else {
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
            (false, true, Some(b"200")) => {
                grpc_answered(w, self.side.endpoint, fields);
                Some(grpc_as_http(fields.get(b"grpc-status")))
            }
            (false, _, status) => Some(http_status(status)),
        };
        if let Some(r) = done {
            w.recycle(r);
        }
        if let Some(status) = answer {
            w.record_answer(self.side.endpoint, status);
        }
        if end_stream {
            self.settle(id, End::Complete);
        }
    }

    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if self.w.bridges.get(id).is_some_and(|b| b.grpc) {
            grpc_answered(self.w, self.side.endpoint, fields);
            let status = grpc_as_http(fields.get(b"grpc-status"));
            self.w.record_answer(self.side.endpoint, status);
        }
        if forward_trailers(self.w, id, Dir::Response, fields) {
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
            id: self.id,
            leg: &mut self.side.leg,
        };
        if forward(self.w, &mut busy, id, Dir::Response, data, end_stream) {
            settle(self.w, Some(&mut busy), id, End::Complete);
        }
    }

    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        let Some(&id) = self.side.leg.streams.get(&stream_id) else {
            return;
        };
        if code == ErrorCode::REFUSED_STREAM && self.replay(stream_id, id) {
            return;
        }
        let responded = self.w.bridges.get(id).is_some_and(|b| b.responded);
        if !responded && code != ErrorCode::CANCEL {
            // Reset before answering: a gateway error, as Envoy counts it.
            self.w.record_answer(self.side.endpoint, 502);
        }
        self.settle(id, End::UpstreamFailed(code));
    }

    fn on_goaway(&mut self, last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        if E::ENABLED {
            if let Some(e) = self.w.pool.endpoint_ref(self.side.endpoint) {
                self.w.events.upstream_goaway(e, code);
            }
        }
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

impl<E: Events> UpstreamHandler<'_, E> {
    /// The upstream did not process bridge `id`'s request on `stream_id` (RFC 9113 §8.7): send it
    /// again, balanced anew, as a waiting stream. False when it cannot be (the response started,
    /// the request was too long or had trailers, it was tried [`MAX_ATTEMPTS`] times, the waiting
    /// queue is full, the client is gone).
    fn replay(&mut self, stream_id: u32, id: BridgeId) -> bool {
        let w = &mut *self.w;
        if w.pool.waiting.len() >= MAX_WAITING {
            return false;
        }
        let Some(b) = w.bridges.get_mut(id) else {
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
        w.pool.stream_closed(ep);
        if let Some(e) = w.pool.endpoint_ref(ep) {
            w.events.replayed(e);
        }
        super::client::requeue(w, id, r.head)
    }
}

/// An upstream connection is gone: every stream on it is settled with its client, except those
/// whose whole response arrived: their client streams keep the rest and take it as their windows
/// allow.
pub(in crate::proxy) fn gone<E: Events>(mut side: UpstreamSide, id: ConnId, w: &mut Worker<E>) {
    let bridges: Vec<BridgeId> = side.leg.streams.values().copied().collect();
    if bridges
        .iter()
        .any(|&b| w.bridges.get(b).is_some_and(|b| !b.responded))
    {
        w.record_answer(side.endpoint, 502);
    }
    let mut busy = Busy {
        id,
        leg: &mut side.leg,
    };
    for bid in bridges {
        let Some(b) = w.bridges.get_mut(bid) else {
            continue;
        };
        if !(b.response.end || b.response.trailers.is_some()) {
            settle(
                w,
                Some(&mut busy),
                bid,
                End::UpstreamFailed(ErrorCode::INTERNAL_ERROR),
            );
            continue;
        }
        b.upstream = None;
        let (ep, (client, client_stream)) = (b.endpoint, b.client);
        w.pool.stream_closed(ep);
        if let Some((_, side)) = w.conns.client(client) {
            side.leg.wake(client_stream);
        }
    }
}

/// Reports a gRPC answer's `grpc-status` to the event sink.
fn grpc_answered<E: Events>(w: &mut Worker<E>, ep: usize, fields: &FieldList) {
    if !E::ENABLED {
        return;
    }
    if let Some(e) = w.pool.endpoint_ref(ep) {
        let code = match fields.get(b"grpc-status") {
            // The codes are 0 to 16: one or two digits, read without a string parse per answer.
            Some(&[a]) if a.is_ascii_digit() => Some(u32::from(a - b'0')),
            Some(&[a, b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
                Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            }
            _ => None,
        };
        w.events.grpc_answered(e, code);
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
