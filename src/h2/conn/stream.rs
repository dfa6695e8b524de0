//! Stream states (RFC 9113 §5.1) and the stream table.
//!
//! Only streams that are open or half-closed live in the table. Closed streams are not remembered one
//! by one: an id at or below the highest one a side has opened and absent from the table is closed,
//! an id above it is idle. A small ring of recently closed ids remembers *how* they closed, which
//! decides how late frames on them are treated (§5.1 "closed": frames in flight after our RST_STREAM
//! are ignored; anything else on a stream that ended normally is an error).
//!
//! The table is a `Vec` sorted by id. Each connection only ever opens streams of one parity (push is
//! disabled), so new ids are always the largest and insertion is a push; lookups are binary searches.
//! A removed stream is marked gone rather than shifted out (streams end roughly in the order they
//! opened, so a shift would move nearly the whole table: hundreds of streams on a busy upstream
//! connection); gone entries are swept once they are half the table, which keeps removal O(1)
//! amortised. The vector grows to the concurrency bound once and is reused.

use super::flow::{RecvFlow, SendWindow};

/// The states of §5.1 that a stream in the table can be in (reserved states are unused: no push).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
}

/// One open or half-closed stream.
#[derive(Clone, Debug)]
pub(super) struct Stream {
    pub id: u32,
    pub state: State,
    /// Opened by us (client role) rather than by the peer.
    pub local: bool,
    pub send: SendWindow,
    pub recv: RecvFlow,
    /// The peer's final head has arrived (always true for requests in the server role; for responses
    /// in the client role, once a non-1xx head arrived).
    pub recv_head_done: bool,
    /// We sent our final head (server role: non-1xx response; client role: the request).
    pub sent_head_done: bool,
    /// Client role: the request was HEAD, so the response's content-length describes no body.
    pub head_request: bool,
    /// The content-length of the message the peer is sending, checked against the DATA received.
    pub content_length: Option<u64>,
    /// Body bytes received so far (padding excluded).
    pub received: u64,
    /// Removed from the table, not yet swept out of it.
    gone: bool,
}

impl Stream {
    pub fn new(id: u32, local: bool, send_window: i64, recv_window: i64) -> Stream {
        Stream {
            id,
            state: State::Open,
            local,
            send: SendWindow::new(send_window),
            recv: RecvFlow::new(recv_window),
            recv_head_done: false,
            sent_head_done: false,
            head_request: false,
            content_length: None,
            received: 0,
            gone: false,
        }
    }

    /// Whether we may still send on it.
    pub fn can_send(&self) -> bool {
        self.state != State::HalfClosedLocal
    }

    /// Whether the peer may still send on it.
    pub fn can_recv(&self) -> bool {
        self.state != State::HalfClosedRemote
    }
}

/// How a stream left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CloseReason {
    /// Both sides sent END_STREAM.
    Ended,
    /// We sent RST_STREAM (or a final response plus RST_STREAM(NO_ERROR)): frames may still be in
    /// flight and must be ignored.
    ResetByUs,
    /// The peer sent RST_STREAM.
    ResetByPeer,
}

/// How many recently closed streams remember their close reason.
const RECENT: usize = 128;

/// The table of open and half-closed streams.
pub(super) struct Streams {
    /// Sorted by id; `dead` of them are gone.
    list: Vec<Stream>,
    dead: usize,
    /// Streams we opened, and streams the peer opened, that are in the table.
    local_count: usize,
    peer_count: usize,
    recent: [(u32, CloseReason); RECENT],
    recent_next: usize,
}

impl Streams {
    pub fn new() -> Streams {
        Streams {
            list: Vec::new(),
            dead: 0,
            local_count: 0,
            peer_count: 0,
            recent: [(0, CloseReason::Ended); RECENT],
            recent_next: 0,
        }
    }

    fn index(&self, id: u32) -> Option<usize> {
        let i = self.list.binary_search_by_key(&id, |s| s.id).ok()?;
        self.list.get(i).filter(|s| !s.gone).map(|_| i)
    }

    pub fn get(&self, id: u32) -> Option<&Stream> {
        self.index(id).and_then(|i| self.list.get(i))
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        let i = self.index(id)?;
        self.list.get_mut(i)
    }

    pub fn contains(&self, id: u32) -> bool {
        self.index(id).is_some()
    }

    pub fn insert(&mut self, stream: Stream) {
        if stream.local {
            self.local_count += 1;
        } else {
            self.peer_count += 1;
        }
        match self.list.last() {
            Some(last) if last.id >= stream.id => {
                let at = self.list.partition_point(|s| s.id < stream.id);
                self.list.insert(at, stream);
            }
            _ => self.list.push(stream),
        }
    }

    /// Removes a stream, remembering how it closed. Returns it if it was there.
    pub fn remove(&mut self, id: u32, reason: CloseReason) -> Option<Stream> {
        let i = self.index(id)?;
        let s = if i + 1 == self.list.len() {
            self.list.pop()?
        } else {
            let entry = self.list.get_mut(i)?;
            entry.gone = true;
            self.dead += 1;
            let s = entry.clone();
            if self.dead * 2 >= self.list.len() {
                self.list.retain(|s| !s.gone);
                self.dead = 0;
            }
            s
        };
        if s.local {
            self.local_count -= 1;
        } else {
            self.peer_count -= 1;
        }
        self.remember(id, reason);
        Some(s)
    }

    /// Records how a stream that never entered the table (refused or malformed) closed.
    pub fn remember(&mut self, id: u32, reason: CloseReason) {
        if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = (id, reason);
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    /// How a recently closed stream closed, if it is still remembered.
    pub fn closed_reason(&self, id: u32) -> Option<CloseReason> {
        if id == 0 {
            return None;
        }
        self.recent
            .iter()
            .find(|(rid, _)| *rid == id)
            .map(|&(_, reason)| reason)
    }

    pub fn len(&self) -> usize {
        self.list.len() - self.dead
    }

    pub fn local_count(&self) -> usize {
        self.local_count
    }

    pub fn peer_count(&self) -> usize {
        self.peer_count
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.list.iter_mut().filter(|s| !s.gone)
    }

    /// The lowest id in the table above `after` (`None`: from the start); for loops that call back
    /// into the connection between steps.
    pub fn next_id(&self, after: Option<u32>) -> Option<u32> {
        let from = after.map_or(0, |a| self.list.partition_point(|s| s.id <= a));
        self.list
            .get(from..)?
            .iter()
            .find(|s| !s.gone)
            .map(|s| s.id)
    }

    /// The highest id in the table.
    pub fn last_id(&self) -> Option<u32> {
        self.list.iter().rev().find(|s| !s.gone).map(|s| s.id)
    }
}

/// Which side opens streams with this id: odd ids are opened by clients (§5.1.1).
pub(super) fn client_initiated(id: u32) -> bool {
    id % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stream's fixed state (docs/benchmarks.md reports it).
    #[test]
    fn stream_state_stays_small() {
        assert!(std::mem::size_of::<Stream>() <= 72);
    }

    #[test]
    fn table_keeps_order_counts_and_close_reasons() {
        let mut t = Streams::new();
        for id in [1, 3, 7, 5] {
            t.insert(Stream::new(id, false, 10, 10));
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.next_id(Some(3)), Some(5));
        assert!(t.get(7).is_some());
        assert!(t.get(9).is_none());
        assert_eq!(t.remove(3, CloseReason::ResetByUs).map(|s| s.id), Some(3));
        assert_eq!(t.peer_count(), 3);
        assert_eq!(t.closed_reason(3), Some(CloseReason::ResetByUs));
        assert_eq!(t.closed_reason(1), None);
        for id in 0..RECENT as u32 {
            t.remember(1001 + 2 * id, CloseReason::Ended);
        }
        assert_eq!(t.closed_reason(3), None);
    }

    #[test]
    fn removal_marks_then_sweeps() {
        let mut t = Streams::new();
        for id in (1..=201).step_by(2) {
            t.insert(Stream::new(id, true, 10, 10));
        }
        // Oldest first, as streams usually end.
        for id in (1..=101).step_by(2) {
            assert!(t.remove(id, CloseReason::Ended).is_some());
            assert!(t.get(id).is_none() && !t.contains(id));
            assert!(t.remove(id, CloseReason::Ended).is_none(), "removed once");
        }
        assert_eq!(t.len(), 50);
        assert_eq!(t.local_count(), 50);
        assert_eq!(t.list.len(), 50, "gone entries were swept");
        assert_eq!(t.next_id(None), Some(103));
        assert_eq!(t.next_id(Some(103)), Some(105));
        assert_eq!(t.last_id(), Some(201));
        assert!(t.remove(201, CloseReason::Ended).is_some());
        assert_eq!(t.last_id(), Some(199));
        t.remove(105, CloseReason::Ended);
        assert_eq!(t.next_id(Some(103)), Some(107));
        assert_eq!(t.next_id(Some(104)), Some(107));
        assert_eq!(t.iter_mut().count(), 48);
        assert_eq!(t.iter_mut().map(|s| s.id).min(), Some(103));
        t.insert(Stream::new(203, true, 10, 10));
        assert_eq!(t.last_id(), Some(203));
        assert_eq!(t.get(203).map(|s| s.id), Some(203));
    }
}
