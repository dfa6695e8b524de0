//! Bounds on client connections, per listener and worker: how long one may take to finish its TLS
//! handshake and its HTTP/2 preface, to complete a header block it began, and to stay without a
//! stream; how long one that is over may take to let its last output go; and how many a worker
//! keeps, the longest idle giving way to a new one at the bound.
//!
//! A connection has one deadline at a time, the earliest that applies, on the gateway's timer heap.
//! A deadline that moves later keeps its old heap entry, which finds nothing due and arms the real
//! one: a busy connection costs no heap push per stream.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::ids::ConnId;
use crate::h2::ErrorCode;
use crate::h2::conn::Connection;

/// A connection that is over (GOAWAY sent, or closing) but whose peer takes none of its last output
/// for this long is dropped.
const LINGER: Duration = Duration::from_secs(10);

/// The bounds of one listener's client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// From accept to the end of the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// From the end of the handshake (h2c: accept) to the client preface and its SETTINGS.
    pub preface_timeout: Duration,
    /// From the first bytes of a header block to its end.
    pub request_headers_timeout: Duration,
    /// Without a stream for this long: GOAWAY NO_ERROR and close (`ZERO`: never).
    pub idle_timeout: Duration,
    /// Client connections of the listener one worker keeps.
    pub max_connections: usize,
}

impl ClientLimits {
    /// 10 s to start (what nginx and HAProxy allow a TLS handshake); 300 s idle, between
    /// nghttpx's 180 s and Envoy's 1 h: a gRPC client reconnects after a GOAWAY NO_ERROR without
    /// failing a call, so a shorter idle costs little and frees the memory of abandoned
    /// connections sooner; 20,000 per worker: about 175 MiB of idle TLS connections (8.8 KiB
    /// each, docs/benchmarks.md), far above what one core serves, below the default 65,536 file
    /// descriptors shared with the upstream side.
    pub const DEFAULT: ClientLimits = ClientLimits {
        tls_handshake_timeout: Duration::from_secs(10),
        preface_timeout: Duration::from_secs(10),
        request_headers_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(300),
        max_connections: 20_000,
    };
}

/// What a due deadline does to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Close the socket at once: nothing of HTTP/2 can reach the peer (TLS handshake unfinished),
    /// or the peer takes nothing more.
    Drop,
    /// Send GOAWAY, then close once it is written.
    GoAway(ErrorCode, &'static [u8]),
}

/// What a client connection looks like to its limits, at one moment.
pub(super) struct Status<'a> {
    pub h2: &'a Connection,
    /// TLS handshake not finished yet.
    pub handshaking: bool,
    /// Closing, or its HTTP/2 side is over: only output remains.
    pub over: bool,
    /// Part of a HEADERS or CONTINUATION frame waits for its rest: a header block has begun,
    /// though HTTP/2 has not seen it yet.
    pub partial_headers: bool,
}

/// The times of one client connection.
pub(super) struct ClientClock {
    pub(super) listener: usize,
    accepted: Instant,
    /// When its TLS handshake ended (h2c: accept): the preface timeout counts from here.
    ready: Option<Instant>,
    /// Since when it has had no stream (`None`: it has one).
    idle_since: Option<Instant>,
    /// The peer's last stream id at the previous look: a new one means a stream was used.
    last_stream: u32,
    /// Since when part of a header frame has waited for its rest.
    partial_since: Option<Instant>,
    /// Its earliest entry on the timer heap, if one is pending.
    armed: Option<Instant>,
    /// Once over: when it is dropped unless its output moves.
    linger_until: Option<Instant>,
    /// Counted in its listener's open connections (until it is over).
    counted: bool,
    /// Has an entry in its listener's idle queue.
    queued: bool,
}

impl ClientClock {
    pub(super) fn new(listener: usize, now: Instant, tls: bool) -> ClientClock {
        ClientClock {
            listener,
            accepted: now,
            ready: (!tls).then_some(now),
            idle_since: None,
            last_stream: 0,
            partial_since: None,
            armed: None,
            linger_until: None,
            counted: true,
            queued: false,
        }
    }

    /// Takes note of the connection's state after something happened to it; returns a deadline to
    /// put on the timer heap, when it is earlier than the one there.
    pub(super) fn update(
        &mut self,
        s: &Status<'_>,
        now: Instant,
        limits: &ClientLimits,
        clients: &mut Clients,
        id: ConnId,
    ) -> Option<Instant> {
        if self.ready.is_none() && !s.handshaking {
            self.ready = Some(now);
        }
        if !s.partial_headers {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
        if s.over {
            if self.linger_until.is_none() {
                self.linger_until = Some(now.checked_add(LINGER).unwrap_or(now));
            }
            if self.counted {
                self.counted = false;
                clients.release(self.listener);
            }
        } else if s.h2.active_streams() == 0 {
            // A stream that opened and ended since the last look (a local answer) is use too.
            let used = s.h2.last_peer_stream() != self.last_stream;
            if self.idle_since.is_none() || used {
                self.idle_since = Some(now);
                if !self.queued {
                    self.queued = true;
                    clients.queue_idle(self.listener, now, id);
                }
            }
        } else {
            self.idle_since = None;
        }
        self.last_stream = s.h2.last_peer_stream();
        let (due, _) = self.due(s, limits)?;
        if self.armed.is_some_and(|at| at <= due) {
            return None;
        }
        self.armed = Some(due);
        Some(due)
    }

    /// A timer entry of this connection fired at `now`: what to do, if its deadline is due.
    pub(super) fn expired(
        &mut self,
        s: &Status<'_>,
        now: Instant,
        limits: &ClientLimits,
    ) -> Option<Expiry> {
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        let (due, expiry) = self.due(s, limits)?;
        (due <= now).then_some(expiry)
    }

    /// The peer took output: a connection that is over gets more time to take the rest.
    pub(super) fn output_moved(&mut self, now: Instant) {
        if let Some(t) = &mut self.linger_until {
            *t = now.checked_add(LINGER).unwrap_or(now);
        }
    }

    /// The deadline that applies now, and what it does.
    fn due(&self, s: &Status<'_>, limits: &ClientLimits) -> Option<(Instant, Expiry)> {
        if let Some(t) = self.linger_until {
            return Some((t, Expiry::Drop));
        }
        if s.handshaking {
            let t = self.accepted.checked_add(limits.tls_handshake_timeout)?;
            return Some((t, Expiry::Drop));
        }
        if !s.h2.peer_settings().received {
            // NO_ERROR: a browser's speculative preconnect never sends one, and is no abuse.
            let from = self.ready.unwrap_or(self.accepted);
            let t = from.checked_add(limits.preface_timeout)?;
            return Some((t, Expiry::GoAway(ErrorCode::NO_ERROR, b"preface timeout")));
        }
        // ENHANCE_YOUR_CALM: no rule of RFC 9113 is broken, but a block left open holds the whole
        // connection (nothing may come between its frames, §6.2) and its buffer: slowloris.
        let begun = match (s.h2.header_block_since(), self.partial_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let headers = begun.and_then(|t| {
            let t = t.checked_add(limits.request_headers_timeout)?;
            Some((
                t,
                Expiry::GoAway(ErrorCode::ENHANCE_YOUR_CALM, b"request headers timeout"),
            ))
        });
        let idle = self
            .idle_since
            .filter(|_| !limits.idle_timeout.is_zero())
            .and_then(|t| {
                let t = t.checked_add(limits.idle_timeout)?;
                Some((t, Expiry::GoAway(ErrorCode::NO_ERROR, b"idle timeout")))
            });
        match (headers, idle) {
            (Some(h), Some(i)) => Some(if i.0 < h.0 { i } else { h }),
            (h, i) => h.or(i),
        }
    }
}

/// One listener's client connections on this worker.
#[derive(Default)]
struct Listener {
    /// Connections counted against `max_connections`.
    open: usize,
    /// `(idle since, token)` of connections that had no stream, oldest first. An entry is checked
    /// when it comes out: the connection may be gone, or busy, or idle since later.
    idle: BinaryHeap<Reverse<(Instant, ConnId)>>,
}

/// One worker's client connections, per listener.
#[derive(Default)]
pub(super) struct Clients {
    listeners: Vec<Listener>,
}

impl Clients {
    fn listener(&mut self, listener: usize) -> &mut Listener {
        if self.listeners.len() <= listener {
            self.listeners.resize_with(listener + 1, Listener::default);
        }
        &mut self.listeners[listener]
    }

    /// Whether `listener` has `max` connections open already.
    pub(super) fn full(&mut self, listener: usize, max: usize) -> bool {
        self.listener(listener).open >= max
    }

    /// A connection was accepted on `listener`.
    pub(super) fn opened(&mut self, listener: usize) {
        self.listener(listener).open += 1;
    }

    fn release(&mut self, listener: usize) {
        let l = self.listener(listener);
        l.open = l.open.saturating_sub(1);
    }

    /// A connection that is gone: it no longer counts.
    pub(super) fn gone(&mut self, clock: &ClientClock) {
        if clock.counted {
            self.release(clock.listener);
        }
    }

    fn queue_idle(&mut self, listener: usize, at: Instant, id: ConnId) {
        self.listener(listener).idle.push(Reverse((at, id)));
    }

    /// The connection of `listener` idle the longest, if one is.
    pub(super) fn oldest_idle(
        &mut self,
        listener: usize,
        conns: &mut impl Clocks,
    ) -> Option<ConnId> {
        let l = self.listener(listener);
        while let Some(Reverse((at, id))) = l.idle.pop() {
            let Some(clock) = clock_of(conns, id, listener) else {
                continue; // gone: the entry belonged to a connection now closed
            };
            match clock.idle_since {
                _ if clock.linger_until.is_some() => clock.queued = false,
                Some(since) if since == at => {
                    clock.queued = false;
                    return Some(id);
                }
                // Busy since, then idle again: back in the queue at its place.
                Some(since) => l.idle.push(Reverse((since, id))),
                None => clock.queued = false,
            }
        }
        None
    }

    /// Drops the entries of connections that are gone, once they could be half the idle queue of
    /// `listener` (they accumulate only as connections close, so this runs every so many accepts).
    pub(super) fn prune(&mut self, listener: usize, conns: &mut impl Clocks) {
        let l = self.listener(listener);
        if l.idle.len() <= 2 * l.open + 64 {
            return;
        }
        l.idle
            .retain(|&Reverse((_, id))| clock_of(conns, id, listener).is_some());
    }
}

/// What finds a client connection's clock by its id (the connection table).
pub(super) trait Clocks {
    fn clock(&mut self, id: ConnId) -> Option<&mut ClientClock>;
}

/// The clock of the client connection `id`, if it is still open on `listener`.
fn clock_of(conns: &mut impl Clocks, id: ConnId, listener: usize) -> Option<&mut ClientClock> {
    conns.clock(id).filter(|c| c.listener == listener)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::h2::ErrorCode;
    use crate::h2::conn::{self, PREFACE};
    use crate::h2::frame::{self, Frame};
    use crate::proxy::gateway::{Gateway, GatewayConfig, IoRequest, Listener, Service, Token};

    const S: Duration = Duration::from_secs(1);

    /// A gateway answering every request itself, and one client past its preface at `t0`.
    fn started(t0: Instant) -> (Gateway, Token) {
        let config = GatewayConfig {
            listeners: vec![Listener::H2c],
            service: Service::Local,
            server_h2: conn::Config::default(),
            client_h2: conn::Config::default(),
            buffers: Default::default(),
        };
        let mut g = Gateway::new(Arc::new(config), t0, 1);
        let peer: SocketAddr = ([127, 0, 0, 1], 1).into();
        let token = g.accept(0, peer).expect("accepted");
        let mut raw = PREFACE.to_vec();
        frame::encode_settings(&mut raw, &[]);
        frame::encode_settings_ack(&mut raw);
        g.received(token, &mut raw);
        drain(&mut g, token);
        (g, token)
    }

    /// Everything the client would read now.
    fn drain(g: &mut Gateway, token: Token) -> Vec<u8> {
        let out = g.output(token).to_vec();
        g.advance(token, out.len());
        out
    }

    fn goaway(out: &[u8]) -> Option<ErrorCode> {
        let mut buf = out;
        while let Ok(Some((f, n))) = frame::decode(buf, 1 << 24) {
            if let Frame::GoAway(g) = f {
                return Some(g.code);
            }
            buf = &buf[n..];
        }
        None
    }

    /// Advances the clock and runs what is due, as a worker turn does.
    fn at(g: &mut Gateway, now: Instant) {
        g.set_now(now);
        g.on_timeout();
        let mut dirty = Vec::new();
        g.take_dirty(&mut dirty);
    }

    #[test]
    fn idle_counts_from_the_last_stream_even_one_answered_at_once() {
        let t0 = Instant::now();
        let (mut g, token) = started(t0);
        at(&mut g, t0 + 200 * S);
        let mut block = Vec::new();
        for (n, v) in [
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"http"),
            (b":authority", b"a"),
            (b":path", b"/"),
        ] {
            block.extend_from_slice(&[0, n.len() as u8]);
            block.extend_from_slice(n);
            block.push(v.len() as u8);
            block.extend_from_slice(v);
        }
        let mut raw = Vec::new();
        frame::encode_headers(&mut raw, 1, &block, None, true, true);
        g.received(token, &mut raw);
        assert!(!drain(&mut g, token).is_empty(), "answered");
        at(&mut g, t0 + 400 * S);
        assert_eq!(goaway(&drain(&mut g, token)), None, "idle only since 200 s");
        at(&mut g, t0 + 501 * S);
        assert_eq!(goaway(&drain(&mut g, token)), Some(ErrorCode::NO_ERROR));
        assert!(g.finish_if_done(token), "closed once its GOAWAY is written");
    }

    #[test]
    fn an_over_connection_whose_peer_reads_nothing_is_dropped() {
        let t0 = Instant::now();
        let (mut g, token) = started(t0);
        at(&mut g, t0 + 301 * S);
        assert!(!g.output(token).is_empty(), "GOAWAY queued, never taken");
        let mut io = Vec::new();
        at(&mut g, t0 + 309 * S);
        g.take_io(&mut io);
        assert!(io.is_empty(), "{io:?}");
        at(&mut g, t0 + 312 * S);
        g.take_io(&mut io);
        assert_eq!(io, [IoRequest::Close(token)]);
        assert_eq!(g.connections(), 0);
    }
}
