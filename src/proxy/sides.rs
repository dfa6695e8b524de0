//! The proxy state of each connection: a client's ([`ClientSide`]) or an upstream's
//! ([`UpstreamSide`]), each with the [`Leg`] that maps its stream ids to the worker's bridges and
//! holds what must be done on it once it is free.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::local::{LocalReplies, Reason};
use super::stream_map::StreamMap;
use super::streams::BridgeId;
use crate::h2::conn::Connection;
use crate::h2::error::ErrorCode;

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
    /// Cancel the upstream stream (see [`Cancels::cancel`]).
    Cancel(u32),
}

/// The streams of one connection, either side, and what waits to be done on it.
#[derive(Default)]
pub(super) struct Leg {
    /// The connection's stream ids and their bridges.
    pub(super) streams: StreamMap<BridgeId>,
    /// Actions that wait for the connection to be free.
    pub(super) deferred: Vec<Action>,
    /// Streams whose waiting bytes may move on this connection's send window (0: all).
    pub(super) drain: Vec<u32>,
    /// Rotates which stream goes first when the whole connection's window opens.
    pub(super) turn: usize,
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

/// Proxy state of one client connection.
pub(super) struct ClientSide {
    pub(super) peer: SocketAddr,
    pub(super) peer_ip: Vec<u8>,
    pub(super) tls: bool,
    /// The gateway listener the connection arrived on (renumbered when a reload changes them).
    pub(super) listener: usize,
    pub(super) leg: Leg,
    pub(super) local: LocalReplies,
    /// Scratch for the `x-forwarded-for` value.
    pub(super) forwarded_for: Vec<u8>,
}

impl ClientSide {
    pub(super) fn new(peer: SocketAddr, tls: bool, listener: usize) -> Self {
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
}

/// Proxy state of one upstream connection.
pub(super) struct UpstreamSide {
    pub(super) endpoint: usize,
    /// Its endpoint left the configuration, or it carried its life's streams: no new streams;
    /// closes once the last one ends.
    pub(super) retired: bool,
    /// Streams opened on it so far.
    pub(super) opened: u32,
    /// Its upstream acknowledged our SETTINGS (streams may be opened on it).
    pub(super) answered: bool,
    /// When it was opened, and since when it has had no stream.
    pub(super) born: Instant,
    pub(super) idle: Option<Instant>,
    /// When bytes last arrived, and when the PING now unanswered was sent (keepalive).
    pub(super) last_rx: Instant,
    pub(super) ping_sent: Option<Instant>,
    /// When its `Upkeep` timer is armed for (the earliest entry; later ones are stale).
    upkeep: Option<Instant>,
    pub(super) leg: Leg,
    /// Streams the gateway cancelled on it lately.
    pub(super) cancels: Cancels,
}

impl UpstreamSide {
    pub(super) fn new(endpoint: usize, now: Instant) -> Self {
        UpstreamSide {
            endpoint,
            retired: false,
            opened: 0,
            answered: false,
            born: now,
            idle: None,
            last_rx: now,
            ping_sent: None,
            upkeep: None,
            leg: Leg::default(),
            cancels: Cancels::new(now),
        }
    }

    /// Whether an `Upkeep` timer must be armed for `at`: not when one is armed earlier (it looks
    /// again then).
    pub(super) fn upkeep_at(&mut self, at: Instant) -> bool {
        if self.upkeep.is_some_and(|t| t <= at) {
            return false;
        }
        self.upkeep = Some(at);
        true
    }

    /// An `Upkeep` entry fired at `now`: whether it is the armed one (entries left behind by an
    /// earlier deadline are not).
    pub(super) fn upkeep_due(&mut self, now: Instant) -> bool {
        if self.upkeep.is_some_and(|t| t <= now) {
            self.upkeep = None;
            return true;
        }
        false
    }

    /// Carries out `action` on this connection (`h2`).
    pub(super) fn apply(&mut self, h2: &mut Connection, action: Action, now: Instant) {
        match action {
            Action::Release(stream, n) => h2.release_capacity(stream, n),
            Action::Reset(stream, code) => h2.reset(stream, code),
            Action::Cancel(stream) => self.cancels.cancel(h2, stream, &mut self.retired, now),
            // Local answers are for clients.
            Action::Answer(..) => {}
        }
    }
}

/// Cancellations on one upstream connection per [`CANCEL_WINDOW`] before it is replaced instead
/// (a quarter of the reset budget h2edge itself grants a peer: an upstream that counts resets
/// against Rapid Reset must never see the gateway as an attacker).
const MAX_CANCELS: u32 = 100;
const CANCEL_WINDOW: Duration = Duration::from_secs(10);

/// Streams the gateway cancelled on one upstream connection lately.
pub(super) struct Cancels {
    count: u32,
    since: Instant,
}

impl Cancels {
    fn new(now: Instant) -> Self {
        Cancels {
            count: 0,
            since: now,
        }
    }

    /// Cancels upstream stream `stream`, which the gateway no longer needs. Many cancellations on
    /// one connection in a short time (a stalled backend whose streams all time out) would look
    /// like Rapid Reset to an upstream that counts resets, so past [`MAX_CANCELS`] per
    /// [`CANCEL_WINDOW`] the connection is replaced instead (`retired`): GOAWAY, no new streams,
    /// and the stream is dropped without a frame (its late frames are ignored). The connection
    /// closes once its last stream ends, which ends the dropped ones upstream; its other streams
    /// finish undisturbed.
    fn cancel(&mut self, h2: &mut Connection, stream: u32, retired: &mut bool, now: Instant) {
        if now.saturating_duration_since(self.since) >= CANCEL_WINDOW {
            self.count = 0;
            self.since = now;
        }
        self.count += 1;
        if self.count <= MAX_CANCELS {
            h2.reset(stream, ErrorCode::CANCEL);
            return;
        }
        if !*retired {
            *retired = true;
            h2.go_away(ErrorCode::NO_ERROR, b"replaced: many streams cancelled");
        }
        h2.forget(stream);
    }
}
