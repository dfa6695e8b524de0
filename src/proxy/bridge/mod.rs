//! The bridges: one object per proxied stream, carrying a client stream over one upstream stream on
//! a connection of the worker's pool, so that everything that happens on one leg is repeated on the
//! other.
//!
//! - Each stream is one [`Bridge`] in the worker's slab ([`Bridges`]), addressed by a generational
//!   [`BridgeId`]: both legs' stream maps, the waiting queue and the route-timeout heap hold that id,
//!   and an id whose stream ended never reaches a newer stream in the same slot.
//! - Headers are re-encoded (hop-by-hop fields dropped, `x-forwarded-*` and `x-request-id` added);
//!   DATA is passed on as it arrives; trailers and END_STREAM pass both ways; a reset on either leg
//!   ends the other (a client cancel reaches the upstream as RST_STREAM CANCEL at once).
//! - Flow control is coupled: bytes received on one leg are given back to that leg's windows only
//!   once the other leg's connection has taken them. What it cannot take yet waits in the bridge
//!   (`request` or `response`), bounded by the receiving leg's window, and moves through one
//!   [`pump`] per direction as windows open.
//! - Every stream ends through [`settle`], which frees both legs and answers the client as the way
//!   it ended requires (a local answer, gRPC 14 / 503 / 502 / 504, or a reset once answered).
//!
//! While one connection processes its input it is out of the worker's table, so what must happen on
//! it (giving back window, a local answer) waits in its [`Leg`] and is done once it is free.

mod abort;
mod client;
mod upstream;

pub(super) use abort::{MIN_DEADLINE_PRUNE, expire, tend as tend_buffers};
pub(super) use client::{ClientHandler, ClientSide, dispatch_waiting, rebalance_waiting};
pub(super) use upstream::{UpstreamHandler, UpstreamSide, upstream_gone};

use std::time::Instant;

use self::abort::Abort;
use super::conns::Token;
use super::gateway::Shared;
use super::headers;
use super::local::Reason;
use super::pending::{Meter, Pending};
use super::stream_map::StreamMap;
use crate::h2::conn::Connection;
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;

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

/// Which way bytes move through a bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dir {
    /// Client to upstream.
    Request,
    /// Upstream to client.
    Response,
}

/// What it takes to send a request again until its response starts: the forwarded head and every
/// body byte the client sent.
struct Replay {
    head: FieldList,
    body: Vec<u8>,
    /// The client ended the request.
    end: bool,
}

/// One proxied stream.
pub(super) struct Bridge {
    /// The client connection and stream.
    client: (Token, u32),
    /// The upstream connection and stream; `None` while the stream waits for room, and once its
    /// upstream connection is gone with the whole response waiting here.
    upstream: Option<(Token, u32)>,
    /// The pool endpoint of `upstream` (its in-flight count).
    endpoint: usize,
    grpc: bool,
    /// The final response head was sent to the client (after that, failures become resets).
    responded: bool,
    /// Request body waiting for the upstream's windows (or for the stream to be placed).
    request: Pending,
    /// Response body waiting for the client's windows.
    response: Pending,
    /// The forwarded request head of a waiting stream.
    queued: Option<FieldList>,
    /// A `Set-Cookie` value to add to the response (cookie-hash balancing, cookie missing).
    set_cookie: Option<Vec<u8>>,
    /// Until the response starts, while the request fits [`REPLAY_LIMIT`] and has no trailers.
    replay: Option<Replay>,
    /// Upstream streams this request was sent on so far.
    attempts: u8,
    /// Bytes at the front of `request` whose flow-control credit the client already got back (a
    /// replayed body).
    credited: usize,
    /// The route's timeout: the response must be complete by then.
    deadline: Option<Instant>,
}

impl Bridge {
    fn new(client: (Token, u32), grpc: bool, meter: &Meter) -> Self {
        Bridge {
            client,
            upstream: None,
            endpoint: 0,
            grpc,
            responded: false,
            request: Pending::new(meter),
            response: Pending::new(meter),
            queued: None,
            set_cookie: None,
            replay: None,
            attempts: 1,
            credited: 0,
            deadline: None,
        }
    }

    /// Bytes waiting to move in direction `dir`.
    fn waiting(&mut self, dir: Dir) -> &mut Pending {
        match dir {
            Dir::Request => &mut self.request,
            Dir::Response => &mut self.response,
        }
    }

    /// The leg bytes moving in direction `dir` come from.
    fn source(&self, dir: Dir) -> Option<(Token, u32)> {
        match dir {
            Dir::Request => Some(self.client),
            Dir::Response => self.upstream,
        }
    }

    /// The leg bytes moving in direction `dir` go to.
    fn target(&self, dir: Dir) -> Option<(Token, u32)> {
        match dir {
            Dir::Request => self.upstream,
            Dir::Response => Some(self.client),
        }
    }

    /// Keeps `data` (arriving from the client) for a replay, or gives up replaying when the request
    /// gets too long.
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

/// A bridge's handle: its slot and the slot's generation when it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct BridgeId {
    index: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    bridge: Option<Bridge>,
}

/// One worker's bridges. A slot freed by an ended stream is reused, under a new generation, so an
/// old id never reaches a newer stream.
#[derive(Default)]
pub(super) struct Bridges {
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_generation: u32,
    live: usize,
}

impl Bridges {
    fn insert(&mut self, bridge: Bridge) -> BridgeId {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.live += 1;
        while let Some(index) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.generation = generation;
                slot.bridge = Some(bridge);
                return BridgeId { index, generation };
            }
        }
        let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        self.slots.push(Slot {
            generation,
            bridge: Some(bridge),
        });
        BridgeId { index, generation }
    }

    pub(super) fn get(&self, id: BridgeId) -> Option<&Bridge> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.bridge.as_ref())
            .flatten()
    }

    fn get_mut(&mut self, id: BridgeId) -> Option<&mut Bridge> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.bridge.as_mut())
            .flatten()
    }

    fn remove(&mut self, id: BridgeId) -> Option<Bridge> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let bridge = slot.bridge.take()?;
        self.live -= 1;
        self.free.push(id.index);
        Some(bridge)
    }

    /// Gives back the memory of a burst once it is over: when at most a quarter of the slots are
    /// used, the unused ones at the end go (freed slots below stay for reuse). Called now and then
    /// (it costs a pass over the free list), not per stream.
    pub(super) fn trim(&mut self) {
        if self.live * 4 >= self.slots.len() || self.slots.len() <= 64 {
            return;
        }
        while self.slots.last().is_some_and(|s| s.bridge.is_none()) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|&i| (i as usize) < len);
        self.slots.shrink_to(len * 2);
        self.free.shrink_to(len);
    }

    /// Every live bridge, with its id.
    fn iter_mut(&mut self) -> impl Iterator<Item = (BridgeId, &mut Bridge)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let id = BridgeId {
                index: i as u32,
                generation: s.generation,
            };
            Some((id, s.bridge.as_mut()?))
        })
    }

    /// A reload renumbered the pool's endpoints: `moved[old]` is each one's new index, `None` for
    /// those that left (which become `gone`).
    pub(super) fn renumber_endpoints(&mut self, moved: &[Option<usize>], gone: usize) {
        for (_, b) in self.iter_mut() {
            b.endpoint = moved.get(b.endpoint).copied().flatten().unwrap_or(gone);
        }
    }
}

/// What a connection does for one of its streams, at once or, while it is busy processing its
/// input, once it is free.
#[derive(Clone, Copy, Debug)]
pub(super) enum Action {
    /// Give `n` received bytes back to flow control.
    Release(u32, usize),
    /// Reset the stream.
    Reset(u32, ErrorCode),
    /// Answer the client stream locally (gRPC when the flag is set).
    Answer(u32, bool, Reason),
    /// Cancel the upstream stream (see `abort::cancel`).
    Cancel(u32),
}

/// The streams of one connection, either side, and what waits to be done on it.
#[derive(Default)]
pub(super) struct Leg {
    /// The connection's stream ids and their bridges.
    streams: StreamMap<BridgeId>,
    /// Actions that wait for the connection to be free.
    deferred: Vec<Action>,
    /// Streams whose waiting bytes may move on this connection's send window (0: all).
    pub(super) drain: Vec<u32>,
    /// Rotates which stream goes first when the whole connection's window opens.
    turn: usize,
}

impl Leg {
    pub(super) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.streams.len()
    }

    /// The connection's window opened (`stream` 0: the whole connection's).
    pub(super) fn wake(&mut self, stream: u32) {
        self.drain.push(stream);
    }
}

/// The connection a handler runs for: out of the table, its leg reached through here.
pub(super) struct Busy<'a> {
    pub(super) token: Token,
    pub(super) leg: &'a mut Leg,
}

/// Moves what waits in `b` in direction `dir` to `to`, the receiving leg's connection, as its
/// windows allow; `give_back` returns the sending leg's credit for what moved. Returns true once
/// the end of the message went out (the request's end, or the response complete).
fn pump(b: &mut Bridge, dir: Dir, to: &mut Connection, mut give_back: impl FnMut(usize)) -> bool {
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
fn forward(
    shared: &mut Shared,
    from: &mut Busy<'_>,
    id: BridgeId,
    dir: Dir,
    data: &[u8],
    end: bool,
) -> bool {
    let Some(b) = shared.bridges.get_mut(id) else {
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
    let taken = match shared.conns.get_mut(to) {
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
fn forward_trailers(shared: &mut Shared, id: BridgeId, dir: Dir, fields: &FieldList) -> bool {
    let Some(b) = shared.bridges.get_mut(id) else {
        return false;
    };
    let target = b.target(dir);
    let p = b.waiting(dir);
    let Some((to, to_stream)) = target.filter(|_| p.is_empty()) else {
        p.trailers = Some(Box::new(fields.clone()));
        return false;
    };
    if let Some(c) = shared.conns.get_mut(to) {
        send_trailers(&mut c.h2, to_stream, dir, fields);
    }
    true
}

/// A connection is free again: does what waited for it, then moves the bytes that wait for its
/// send window (`dir`: the direction it sends in) on the streams it was told of.
pub(super) fn after_recv(
    token: Token,
    leg: &mut Leg,
    h2: &mut Connection,
    shared: &mut Shared,
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
        let Some(&id) = leg.streams.get(&stream) else {
            continue;
        };
        let Some(b) = shared.bridges.get_mut(id) else {
            continue;
        };
        let done = match b.source(dir) {
            Some((from, from_stream)) => match shared.conns.get_mut(from) {
                Some(c) => pump(b, dir, h2, |n| c.h2.release_capacity(from_stream, n)),
                None => false,
            },
            // A response held after its upstream connection went.
            None => pump(b, dir, h2, |_| {}),
        };
        if done && dir == Dir::Response {
            let mut busy = Busy { token, leg };
            settle(shared, Some(&mut busy), id, End::Complete);
        }
    }
    drain.clear();
    leg.drain = drain;
}

/// How a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The response went out whole.
    Complete,
    /// The client reset its stream, or its connection is gone: the upstream stream is cancelled.
    ClientGone,
    /// The upstream reset its stream with this code, or its connection is gone: the client gets a
    /// local answer if its response has not started, a reset otherwise.
    UpstreamFailed(ErrorCode),
    /// The gateway ended it (see `abort.rs`).
    Aborted(Abort),
    /// No upstream stream could take it: the client gets a local answer.
    Unplaced(Reason),
}

/// Ends bridge `id` on both legs: each leg forgets it, the bytes it held go back to flow control,
/// the upstream stream is cancelled when the client side ended it, and the client gets what the
/// way it ended requires. `busy` is the connection whose handler runs now (out of the table).
pub(super) fn settle(shared: &mut Shared, mut busy: Option<&mut Busy<'_>>, id: BridgeId, end: End) {
    let Some(b) = shared.bridges.remove(id) else {
        return;
    };
    let responded = b.responded;
    if let Some((up, up_stream)) = b.upstream {
        shared.upstream.stream_closed(b.endpoint);
        // A stream the upstream has ended needs nothing more on its leg.
        let cancel = matches!(end, End::ClientGone | End::Aborted(_));
        let release = Action::Release(up_stream, b.response.data.len());
        let actions = [
            Some(release).filter(|_| cancel),
            Some(Action::Cancel(up_stream)).filter(|_| cancel),
        ];
        leave(shared, busy.as_deref_mut(), up, up_stream, actions);
    }
    let (client, client_stream) = b.client;
    let held = b.request.data.len().saturating_sub(b.credited);
    // A stream the client reset gave its held bytes back with the reset.
    let release = (end != End::ClientGone).then_some(Action::Release(client_stream, held));
    let answer = match end {
        End::Complete | End::ClientGone => None,
        End::UpstreamFailed(code) if responded => Some(Action::Reset(
            client_stream,
            if code == ErrorCode::CANCEL {
                code
            } else {
                ErrorCode::INTERNAL_ERROR
            },
        )),
        // Not processed upstream (and not replayed here): the client may retry it (RFC 9113 §8.7).
        End::UpstreamFailed(ErrorCode::REFUSED_STREAM) => {
            Some(Action::Reset(client_stream, ErrorCode::REFUSED_STREAM))
        }
        End::UpstreamFailed(_) => Some(Action::Answer(
            client_stream,
            b.grpc,
            Reason::UpstreamFailed,
        )),
        End::Aborted(why) if responded => Some(Action::Reset(client_stream, why.reset_code())),
        End::Aborted(why) => Some(Action::Answer(client_stream, b.grpc, why.reason())),
        End::Unplaced(reason) => Some(Action::Answer(client_stream, b.grpc, reason)),
    };
    leave(shared, busy, client, client_stream, [release, answer]);
}

/// Stream `stream` of connection `token` leaves its leg, which then carries out `actions`: at once
/// when the connection is in the table, once it is free when it is `busy`.
fn leave(
    shared: &mut Shared,
    busy: Option<&mut Busy<'_>>,
    token: Token,
    stream: u32,
    actions: [Option<Action>; 2],
) {
    if let Some(busy) = busy.filter(|b| b.token == token) {
        busy.leg.streams.remove(&stream);
        busy.leg.deferred.extend(actions.into_iter().flatten());
        return;
    }
    let now = shared.now;
    let Some(c) = shared.conns.get_mut(token) else {
        return;
    };
    if let Some((h2, side)) = c.client_parts() {
        side.leg.streams.remove(&stream);
        for a in actions.into_iter().flatten() {
            side.apply(h2, a);
        }
    } else if let Some((h2, side)) = c.upstream_parts() {
        side.leg.streams.remove(&stream);
        for a in actions.into_iter().flatten() {
            side.apply(h2, a, now);
        }
    }
}

impl Shared {
    /// A new bridge, with its route timeout armed.
    fn add_bridge(&mut self, b: Bridge) -> BridgeId {
        let deadline = b.deadline;
        let id = self.bridges.insert(b);
        if let Some(at) = deadline {
            self.deadlines.push(std::cmp::Reverse((at, id)));
        }
        id
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed state of one proxied stream (the variable parts, body bytes waiting and a head kept
    /// for replay, are bounded by the stream windows and `REPLAY_LIMIT`); docs/benchmarks.md
    /// reports it.
    #[test]
    fn per_stream_state_stays_small() {
        assert!(
            std::mem::size_of::<Bridge>() <= 408,
            "{}",
            std::mem::size_of::<Bridge>()
        );
    }

    /// An id of an ended stream never reaches the stream that takes its slot next.
    #[test]
    fn ids_of_ended_streams_stay_dead() {
        let meter = Meter::default();
        let mut bridges = Bridges::default();
        let a = bridges.insert(Bridge::new((1, 1), false, &meter));
        assert!(bridges.remove(a).is_some());
        let b = bridges.insert(Bridge::new((1, 3), false, &meter));
        assert_eq!(a.index, b.index, "the slot is reused");
        assert!(bridges.get(a).is_none() && bridges.remove(a).is_none());
        assert_eq!(bridges.get(b).map(|b| b.client), Some((1, 3)));
    }

    /// A burst of streams does not keep its slab once it is over.
    #[test]
    fn the_slab_shrinks_after_a_burst() {
        let meter = Meter::default();
        let mut bridges = Bridges::default();
        let ids: Vec<BridgeId> = (0..10_000)
            .map(|i| bridges.insert(Bridge::new((0, 2 * i + 1), false, &meter)))
            .collect();
        for id in &ids[..9_990] {
            bridges.remove(*id);
        }
        bridges.trim();
        assert!(
            bridges.slots.len() == 10_000,
            "live streams at the end hold the slab"
        );
        for id in &ids[9_990..] {
            bridges.remove(*id);
        }
        bridges.trim();
        assert!(
            bridges.slots.len() <= 64,
            "{} slots left",
            bridges.slots.len()
        );
        assert!(bridges.slots.capacity() <= 128);
    }
}
