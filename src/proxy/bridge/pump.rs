//! How a proxied stream's bytes move: DATA and trailers passed on as they arrive, and what waits
//! for the other leg's windows moved as they open, with the sending leg's credit given back for
//! what moved (flow control coupled across the legs).

use super::settle::{Busy, End, settle};
use crate::h2::conn::Connection;
use crate::h2::fields::FieldList;
use crate::proxy::events::Events;
use crate::proxy::headers;
use crate::proxy::ids::ConnId;
use crate::proxy::sides::{Action, Leg};
use crate::proxy::streams::{Bridge, BridgeId, Dir};
use crate::proxy::worker::Worker;

/// Moves what waits in `b` in direction `dir` to `to`, the receiving leg's connection, as its
/// windows allow; `give_back` returns the sending leg's credit for what moved. Returns true once
/// the end of the message went out (the request's end, or the response complete).
pub(super) fn pump(
    b: &mut Bridge,
    dir: Dir,
    to: &mut Connection,
    mut give_back: impl FnMut(usize),
) -> bool {
    let Some((_, to_stream)) = b.target(dir) else {
        return false;
    };
    let credited = match dir {
        Dir::Request => &mut b.credited,
        Dir::Response => &mut 0,
    };
    let p = match dir {
        Dir::Request => &mut b.request,
        Dir::Response => &mut b.response,
    };
    let end_with_data = p.end && p.trailers.is_none();
    if !p.data.is_empty() || end_with_data {
        let n = to
            .send_data(to_stream, p.data.as_slice(), end_with_data)
            .unwrap_or(p.data.len());
        let already = n.min(*credited);
        *credited -= already;
        give_back(n - already);
        p.sent(n);
        if !p.data.is_empty() {
            return false;
        }
        if end_with_data {
            p.end = false;
            return true;
        }
    }
    if let Some(trailers) = p.trailers.take() {
        send_trailers(to, to_stream, dir, &trailers);
        return true;
    }
    false
}

fn send_trailers(to: &mut Connection, to_stream: u32, dir: Dir, trailers: &FieldList) {
    let fields = trailers.iter_flagged();
    let _ = match dir {
        Dir::Request => to.send_trailers(to_stream, headers::forward_request(fields)),
        Dir::Response => to.send_trailers(to_stream, headers::forward_response(fields)),
    };
}

/// DATA arrived for bridge `id` on the leg bytes in direction `dir` come from (`from`, busy): it
/// goes on to the other leg at once as far as its windows allow, and the rest waits. Returns true
/// when the message ended with it.
pub(super) fn forward<E: Events>(
    w: &mut Worker<E>,
    from: &mut Busy<'_>,
    id: BridgeId,
    dir: Dir,
    data: &[u8],
    end: bool,
) -> bool {
    let Some(b) = w.bridges.get_mut(id) else {
        return false;
    };
    if dir == Dir::Request && b.upstream.is_some() {
        b.keep(data, end);
    }
    let (Some((_, from_stream)), target) = (b.source(dir), b.target(dir)) else {
        return false;
    };
    let p = b.waiting(dir);
    let Some((to, to_stream)) = target.filter(|_| p.is_empty()) else {
        p.data.push(data);
        p.end |= end;
        return false;
    };
    let taken = match w.conns.get_mut(to) {
        Some(c) => c.h2.send_data(to_stream, data, end).unwrap_or(data.len()),
        // A stream whose other leg is gone drops what arrives.
        None => data.len(),
    };
    from.leg.deferred.push(Action::Release(from_stream, taken));
    if taken < data.len() {
        p.data.push(&data[taken..]);
        p.end = end;
        return false;
    }
    end
}

/// Trailers arrived for bridge `id` in direction `dir`: sent on at once if nothing waits before
/// them, else kept. Returns true when they went out.
pub(super) fn forward_trailers<E: Events>(
    w: &mut Worker<E>,
    id: BridgeId,
    dir: Dir,
    fields: &FieldList,
) -> bool {
    let Some(b) = w.bridges.get_mut(id) else {
        return false;
    };
    let target = b.target(dir);
    let p = b.waiting(dir);
    let Some((to, to_stream)) = target.filter(|_| p.is_empty()) else {
        p.trailers = Some(Box::new(fields.clone()));
        return false;
    };
    if let Some(c) = w.conns.get_mut(to) {
        send_trailers(&mut c.h2, to_stream, dir, fields);
    }
    true
}

/// A connection is free again: does what waited for it, then moves the bytes that wait for its
/// send window (`dir`: the direction it sends in) on the streams it was told of.
pub(super) fn after_recv<E: Events>(
    id: ConnId,
    leg: &mut Leg,
    h2: &mut Connection,
    w: &mut Worker<E>,
    dir: Dir,
    mut apply: impl FnMut(&mut Connection, Action),
) {
    for a in leg.deferred.drain(..) {
        apply(h2, a);
    }
    if leg.drain.is_empty() {
        return;
    }
    let mut drain = std::mem::take(&mut leg.drain);
    if drain.contains(&0) {
        drain.clear();
        drain.extend(leg.streams.keys().copied());
        // When a connection's window opens, every waiting stream may move and the first ones take
        // what there is: start one place further each time, so that no stream is always last
        // (with large messages a fixed order starves the streams at its end for seconds).
        if !drain.is_empty() {
            let first = leg.turn % drain.len();
            drain.rotate_left(first);
            leg.turn = leg.turn.wrapping_add(1);
        }
    }
    for &stream in &drain {
        let Some(&bid) = leg.streams.get(&stream) else {
            continue;
        };
        let Some(b) = w.bridges.get_mut(bid) else {
            continue;
        };
        let done = match b.source(dir) {
            Some((from, from_stream)) => match w.conns.get_mut(from) {
                Some(c) => pump(b, dir, h2, |n| c.h2.release_capacity(from_stream, n)),
                None => false,
            },
            // A response held after its upstream connection went.
            None => pump(b, dir, h2, |_| {}),
        };
        if done && dir == Dir::Response {
            let mut busy = Busy { id, leg };
            settle(w, Some(&mut busy), bid, End::Complete);
        }
    }
    drain.clear();
    leg.drain = drain;
}
