//! The streams a worker proxies: one [`Bridge`] per stream, in a slab addressed by generational
//! [`BridgeId`]s. Both legs' stream maps, the waiting queue and the route-timeout heap hold the
//! id; an id whose stream ended never reaches a newer stream in the same slot. What happens to a
//! bridge is in `bridge/`.

use super::ids::ConnId;
use super::pending::{Meter, Pending};
use crate::h2::fields::FieldList;

/// Request body bytes kept per stream so that a stream the upstream did not process (REFUSED_STREAM,
/// or above the last stream id of its GOAWAY) can be sent again elsewhere; a longer request is not
/// replayed.
pub(super) const REPLAY_LIMIT: usize = 16 * 1024;

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
pub(super) struct Replay {
    pub(super) head: FieldList,
    pub(super) body: Vec<u8>,
    /// The client ended the request.
    pub(super) end: bool,
}

/// One proxied stream.
pub(super) struct Bridge {
    /// The client connection and stream.
    pub(super) client: (ConnId, u32),
    /// The upstream connection and stream; `None` while the stream waits for room, and once its
    /// upstream connection is gone with the whole response waiting here.
    pub(super) upstream: Option<(ConnId, u32)>,
    /// The pool endpoint of `upstream` (its in-flight count); `usize::MAX` until it is placed.
    pub(super) endpoint: usize,
    /// The listener the client came in on (as numbered when the stream started).
    pub(super) listener: u32,
    pub(super) grpc: bool,
    /// The final response head was sent to the client (after that, failures become resets).
    pub(super) responded: bool,
    /// Request body waiting for the upstream's windows (or for the stream to be placed).
    pub(super) request: Pending,
    /// Response body waiting for the client's windows.
    pub(super) response: Pending,
    /// The forwarded request head of a waiting stream.
    pub(super) queued: Option<FieldList>,
    /// A `Set-Cookie` value to add to the response (cookie-hash balancing, cookie missing).
    pub(super) set_cookie: Option<Vec<u8>>,
    /// Until the response starts, while the request fits [`REPLAY_LIMIT`] and has no trailers.
    pub(super) replay: Option<Replay>,
    /// Upstream streams this request was sent on so far.
    pub(super) attempts: u8,
    /// Bytes at the front of `request` whose flow-control credit the client already got back (a
    /// replayed body).
    pub(super) credited: usize,
}

impl Bridge {
    pub(super) fn new(client: (ConnId, u32), listener: usize, grpc: bool, meter: &Meter) -> Self {
        Bridge {
            client,
            upstream: None,
            endpoint: usize::MAX,
            listener: u32::try_from(listener).unwrap_or(u32::MAX),
            grpc,
            responded: false,
            request: Pending::new(meter),
            response: Pending::new(meter),
            queued: None,
            set_cookie: None,
            replay: None,
            attempts: 1,
            credited: 0,
        }
    }

    /// Bytes waiting to move in direction `dir`.
    pub(super) fn waiting(&mut self, dir: Dir) -> &mut Pending {
        match dir {
            Dir::Request => &mut self.request,
            Dir::Response => &mut self.response,
        }
    }

    /// The leg bytes moving in direction `dir` come from.
    pub(super) fn source(&self, dir: Dir) -> Option<(ConnId, u32)> {
        match dir {
            Dir::Request => Some(self.client),
            Dir::Response => self.upstream,
        }
    }

    /// The leg bytes moving in direction `dir` go to.
    pub(super) fn target(&self, dir: Dir) -> Option<(ConnId, u32)> {
        match dir {
            Dir::Request => self.upstream,
            Dir::Response => Some(self.client),
        }
    }

    /// Keeps `data` (arriving from the client) for a replay, or gives up replaying when the request
    /// gets too long.
    pub(super) fn keep(&mut self, data: &[u8], end: bool) {
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
    pub(super) fn insert(&mut self, bridge: Bridge) -> BridgeId {
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

    pub(super) fn get_mut(&mut self, id: BridgeId) -> Option<&mut Bridge> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.bridge.as_mut())
            .flatten()
    }

    pub(super) fn remove(&mut self, id: BridgeId) -> Option<Bridge> {
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

    /// Whether [`Bridges::trim`] has nothing to give back and no bridge lives.
    pub(super) fn is_trimmed(&self) -> bool {
        self.live == 0 && self.slots.len() <= 64
    }

    /// Every live bridge, with its id.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (BridgeId, &mut Bridge)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(token: usize) -> ConnId {
        ConnId::new(token, 0)
    }

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
        let a = bridges.insert(Bridge::new((conn(1), 1), 0, false, &meter));
        assert!(bridges.remove(a).is_some());
        let b = bridges.insert(Bridge::new((conn(1), 3), 0, false, &meter));
        assert_eq!(a.index, b.index, "the slot is reused");
        assert!(bridges.get(a).is_none() && bridges.remove(a).is_none());
        assert_eq!(bridges.get(b).map(|b| b.client), Some((conn(1), 3)));
    }

    /// A burst of streams does not keep its slab once it is over.
    #[test]
    fn the_slab_shrinks_after_a_burst() {
        let meter = Meter::default();
        let mut bridges = Bridges::default();
        let ids: Vec<BridgeId> = (0..10_000)
            .map(|i| bridges.insert(Bridge::new((conn(0), 2 * i + 1), 0, false, &meter)))
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
