//! One worker's gateway, sans-IO: its connection table (clients and upstreams), TLS on each, and what
//! each stream does. The runtime hands it bytes per token and writes out what it returns; the
//! gateway asks the runtime for new upstream connections and closes through [`IoRequest`]s.
//!
//! Everything here belongs to one worker: no locks, no shared state with other workers.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use super::bridge::{self, ClientHandler, UpstreamHandler};
use super::client_limits::{ClientClock, Expiry, Status};
use super::conns::{App, Conn, Kind, Tls};
pub use super::conns::{IoRequest, Token};
use super::drain::{self, Drains};
use super::echo::Echo;
use super::events::Events;
use super::ids::ConnId;
use super::local::{LocalReplies, Reason};
use super::pool;
pub use super::settings::{
    BufferLimits, DEFAULT_BUFFER_BUDGET, DEFAULT_STALL_TIMEOUT, GatewayConfig, Listener, Service,
};
use super::sides::ClientSide;
use super::timers::Timer;
pub use super::upstreams::Endpoint;
use super::worker::Worker;
use crate::h2::conn::{Connection, PREFACE, Role};
use crate::tls::session::ServerSession;

/// What a client that speaks HTTP/1.1 to an HTTP/2-only listener gets, instead of silence.
pub const HTTP1_REPLY: &[u8] =
    b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
content-length: 32\r\nconnection: close\r\n\r\nthis gateway speaks HTTP/2 only\n";
/// Plaintext input kept for one connection while its frames wait to be processed.
const MAX_BUFFERED_INPUT: usize = 1 << 20;

/// One worker's gateway; `E` observes what it does (see [`Events`]; `()`: nobody).
pub struct Gateway<E = ()> {
    w: Worker<E>,
    /// Connections with whole frames left over after their per-turn budget.
    backlog: Vec<Token>,
    drains: Drains,
}

impl Gateway {
    /// A worker's gateway; `seed` starts its balancers' PRNGs (e.g.
    /// [`worker_seed`](crate::balance::worker_seed) of the worker's index).
    pub fn new(config: Arc<GatewayConfig>, now: Instant, seed: u64) -> Self {
        Gateway::with_events(config, now, seed, ())
    }
}

impl<E: Events> Gateway<E> {
    /// A worker's gateway that reports what happens to `events`.
    pub fn with_events(config: Arc<GatewayConfig>, now: Instant, seed: u64, events: E) -> Self {
        let mut w = Worker::new(config, now, seed, events);
        w.events.configured(&w.config);
        Gateway {
            w,
            backlog: Vec::new(),
            drains: Drains::default(),
        }
    }

    /// The observer given to [`Gateway::with_events`].
    pub fn events(&self) -> &E {
        &self.w.events
    }

    pub fn set_now(&mut self, now: Instant) {
        self.w.now = now;
    }

    /// A client connected to listener `listener`; returns the token to register its socket under,
    /// or `None` to drop it. At the listener's bound the connection idle the longest makes room
    /// (GOAWAY NO_ERROR); when none is idle, the new one is dropped.
    pub fn accept(&mut self, listener: usize, peer: SocketAddr) -> Option<Token> {
        let config = self.w.config.clone();
        let limits = config.client_limits_for(listener);
        let w = &mut self.w;
        w.clients.prune(listener, &mut w.conns);
        if w.clients.full(listener, limits.max_connections) {
            let oldest = w.clients.oldest_idle(listener, &mut w.conns)?;
            let c = w.conns.get_mut(oldest)?;
            c.h2.go_away(crate::h2::ErrorCode::NO_ERROR, b"connection limit");
            self.tend_client(oldest.token());
        }
        let tls = match config.listeners.get(listener)? {
            Listener::Tls(c) => Tls::Server(Box::new(ServerSession::server(c.clone()).ok()?)),
            Listener::H2c => Tls::None,
        };
        let tls_on = matches!(tls, Tls::Server(_));
        let app = match &config.service {
            Service::Local => App::Local(LocalReplies::new(Reason::Demo)),
            Service::Echo { names, counters } => App::Echo(Echo::new(
                names.get(listener).map_or("backend", String::as_str),
                counters.get(listener).cloned(),
            )),
            Service::Proxy(_) => App::Proxy(ClientSide::new(peer, tls_on, listener)),
        };
        let h2 = Connection::new(Role::Server, config.server_h2_for(listener), self.w.now);
        let kind = Kind::Client {
            seen: 0,
            http1_written: None,
            app,
            clock: ClientClock::new(listener, self.w.now, tls_on),
        };
        let token = self.w.conns.insert(Conn::new(h2, tls, kind)).token();
        self.w.clients.opened(listener);
        self.arm_timer(token);
        Some(token)
    }

    /// Bytes arrived on `token`. TLS connections decrypt them in place: `data`'s content is
    /// unspecified afterwards.
    pub fn received(&mut self, token: Token, data: &mut [u8]) {
        let Some(mut c) = self.w.conns.take(token) else {
            return;
        };
        if !c.closing {
            self.feed(token, &mut c, data);
        }
        if !c.closing && !c.h2.is_closed() && frame_missing(&c.rx) == 0 {
            self.backlog.push(token);
        }
        self.w.conns.put(token, c);
        self.arm_timer(token);
    }

    /// Decrypts (when TLS is on) and feeds plaintext to the connection and its application.
    fn feed(&mut self, token: Token, c: &mut Conn, data: &mut [u8]) {
        let id = self.w.conns.id(token);
        let w = &mut self.w;
        let Conn {
            h2, tls, rx, kind, ..
        } = c;
        if let Kind::Upstream(side) = kind {
            side.last_rx = w.now;
        }
        let mut not_h2 = false;
        let cleartext = matches!(tls, Tls::None);
        let result = tls.receive(data, &mut |plain| {
            if let Kind::Client {
                seen,
                http1_written,
                ..
            } = kind
            {
                if *seen < PREFACE.len() {
                    let n = plain.len().min(PREFACE.len() - *seen);
                    if plain[..n] == PREFACE[*seen..*seen + n] {
                        *seen += n;
                    } else if cleartext && looks_like_http1(&PREFACE[..*seen], plain) {
                        *http1_written = Some(0);
                        not_h2 = true;
                        return;
                    } else {
                        // Not HTTP/1.x either: HTTP/2 answers it (GOAWAY PROTOCOL_ERROR), and
                        // what it says may now go out.
                        *seen = PREFACE.len();
                    }
                }
            }
            if not_h2 {
                return;
            }
            // Complete a frame that straddles two reads in `rx`, then take the rest of `plain` in
            // place: only the straddling frame is copied.
            let mut rest = plain;
            while !rx.is_empty() {
                let need = frame_missing(rx);
                let take = need.min(rest.len());
                rx.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                // Checks a header just completed, or handles the whole frame.
                let used = run_recv(h2, kind, id, w, rx).min(rx.len());
                if used == rx.len() {
                    rx.clear();
                } else if used > 0 || take == 0 || rest.is_empty() {
                    // Kept for later: a partial frame, or frames beyond the per-call budget.
                    rx.drain(..used);
                    rx.extend_from_slice(rest);
                    return;
                }
            }
            let used = run_recv(h2, kind, id, w, rest);
            rx.extend_from_slice(&rest[used.min(rest.len())..]);
        });
        if data.is_empty() && !rx.is_empty() {
            // Backlog: frames left over from an earlier turn.
            let used = run_recv(h2, kind, id, w, rx);
            rx.drain(..used.min(rx.len()));
        }
        if matches!(kind, Kind::Upstream(_)) {
            // An upstream's burst (a backend that resumes after a stall answers everything at
            // once) is taken, not refused: what it may send is bounded by the windows we granted,
            // and the connection carries many clients' streams. A client past the bound gets
            // GOAWAY (below): it is one peer sending faster than its share.
            while rx.len() > MAX_BUFFERED_INPUT / 2 {
                let used = run_recv(h2, kind, id, w, rx).min(rx.len());
                if used == 0 {
                    break;
                }
                rx.drain(..used);
            }
        }
        after_recv(h2, kind, id, w);
        if let Some(limit) = h2.take_tripped_limit() {
            w.events
                .limit_tripped(limit, matches!(kind, Kind::Upstream(_)));
        }
        let alpn_ok = match tls {
            Tls::Server(s) => s.is_handshaking() || s.alpn_protocol() == Some(b"h2"),
            _ => true,
        };
        if result.is_err() || not_h2 {
            c.closing = true;
        } else if !alpn_ok {
            // A TLS client that offered no ALPN at all: most likely HTTP/1.1.
            if let Tls::Server(s) = tls {
                let _ = s.send(HTTP1_REPLY);
            }
            c.closing = true;
        } else if rx.len() > MAX_BUFFERED_INPUT {
            h2.go_away(crate::h2::ErrorCode::ENHANCE_YOUR_CALM, b"input backlog");
            rx.clear();
        }
    }

    /// Places streams that wait for room on an upstream connection, as far as room allows now.
    /// Once per loop turn: upstream connect deadlines and endpoint backoffs, route timeouts, then
    /// the streams waiting for an upstream connection.
    pub fn tend_upstreams(&mut self) {
        if !self.w.pool.waiting.is_empty() {
            bridge::dispatch_waiting(&mut self.w);
        }
        bridge::tend_buffers(&mut self.w);
    }

    /// Processes frames left over from the previous turn.
    pub fn run_backlog(&mut self) {
        for token in std::mem::take(&mut self.backlog) {
            self.received(token, &mut []);
        }
    }

    /// Whether some connection has input left to process (poll without blocking).
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// An upstream connect finished.
    pub fn connected(&mut self, token: Token, ok: bool) {
        if ok {
            self.mark_dirty(token);
        } else {
            self.lost(token);
        }
    }

    /// `token`'s socket is gone (peer closed, error): forget the connection and settle its streams.
    pub fn closed(&mut self, token: Token) {
        self.lost(token);
    }

    fn lost(&mut self, token: Token) {
        let id = self.w.conns.id(token);
        if let Some(c) = self.w.conns.take(token) {
            bridge::connection_gone(&mut self.w, id, c);
        }
    }

    /// `token` has output due (for example after its socket became writable again).
    pub fn mark_dirty(&mut self, token: Token) {
        self.w.conns.at_mut(token);
    }

    /// The earliest timer of the worker (see `timers.rs`).
    pub fn next_timeout(&self) -> Option<Instant> {
        self.w.timers.next()
    }

    /// Runs the timers that are due.
    pub fn on_timeout(&mut self) {
        let now = self.w.now;
        while let Some(timer) = self.w.timers.pop_due(now) {
            match timer {
                Timer::Conn(id) => self.conn_timer(id),
                Timer::Deadline(id) => bridge::abort(&mut self.w, id, bridge::Abort::Timeout),
                Timer::Connect(id) => {
                    // Not answered by its connect deadline: a failure of its endpoint.
                    if self.w.conns.get(id).is_some_and(|c| !c.h2.settings_acked()) {
                        self.lose(id);
                    }
                }
                Timer::Upkeep(id) => {
                    let w = &mut self.w;
                    if w.pool
                        .upkeep(&mut w.conns, &w.config, id, now, &mut w.timers)
                    {
                        self.lose(id);
                    }
                }
                Timer::Reinstate(ep) => self.w.pool.reinstate(&self.w.config, ep, now),
                Timer::Sweep => bridge::sweep(&mut self.w),
            }
        }
        let Worker {
            timers,
            conns,
            bridges,
            ..
        } = &mut self.w;
        timers.prune(|t| match *t {
            Timer::Conn(id) | Timer::Connect(id) | Timer::Upkeep(id) => conns.get(id).is_some(),
            Timer::Deadline(id) => bridges.get(id).is_some(),
            Timer::Reinstate(_) | Timer::Sweep => true,
        });
    }

    /// Connection `id` is gone: its streams are settled and the runtime closes its socket.
    fn lose(&mut self, id: ConnId) {
        if self.w.conns.get(id).is_some() {
            if let Some(c) = self.w.conns.take(id.token()) {
                bridge::connection_gone(&mut self.w, id, c);
            }
        }
    }

    /// Connection `id`'s own timers: HTTP/2's, and a client's limits. Entries are not removed when
    /// a deadline moves; a stale one finds nothing due.
    fn conn_timer(&mut self, id: ConnId) {
        let now = self.w.now;
        if self.w.conns.get(id).is_none() {
            return;
        }
        let token = id.token();
        let Some(mut c) = self.w.conns.take(token) else {
            return;
        };
        if c.h2.next_timeout().is_some_and(|due| due <= now) {
            let Conn { h2, kind, .. } = &mut c;
            run_timeout(h2, kind, id, &mut self.w);
            after_recv(h2, kind, id, &mut self.w);
        }
        let Conn {
            h2,
            tls,
            rx,
            closing,
            kind,
            ..
        } = &mut c;
        if let Kind::Client { clock, .. } = kind {
            let limits = self.w.config.client_limits_for(clock.listener);
            match clock.expired(&status(h2, tls, rx, *closing), now, limits) {
                Some(Expiry::Drop) => {
                    bridge::connection_gone(&mut self.w, id, c);
                    return;
                }
                Some(Expiry::GoAway(code, why)) => h2.go_away(code, why),
                None => {}
            }
        }
        self.w.conns.put(token, c);
        self.arm_timer(token);
    }

    fn arm_timer(&mut self, token: Token) {
        if let Some(c) = self.w.conns.at(token) {
            if let Some(at) = c.h2.next_timeout() {
                let id = self.w.conns.id(token);
                self.w.timers.arm(at, Timer::Conn(id));
            }
        }
        self.tend_client(token);
    }

    /// Brings a client connection's limits up to date with its state (see `client_limits.rs`).
    fn tend_client(&mut self, token: Token) {
        let w = &mut self.w;
        let id = w.conns.id(token);
        let Some(c) = w.conns.peek_mut(token) else {
            return;
        };
        let Conn {
            h2,
            tls,
            rx,
            closing,
            kind: Kind::Client { clock, .. },
            ..
        } = c
        else {
            return;
        };
        let limits = w.config.client_limits_for(clock.listener);
        let status = status(h2, tls, rx, *closing);
        if let Some(at) = clock.update(&status, w.now, limits, &mut w.clients, id) {
            w.timers.arm(at, Timer::Conn(id));
        }
    }

    /// Brings an upstream connection's upkeep up to date with its state: once it answered, its
    /// endpoint works and its keepalive starts; it is idle (for its cluster's idle timeout) from
    /// when its last stream ends, and a PING is due sooner once it carries streams.
    fn tend_upstream(&mut self, token: Token) {
        let w = &mut self.w;
        let id = w.conns.id(token);
        let Some((h2, side)) = w.conns.peek_mut(token).and_then(Conn::upstream_parts) else {
            return;
        };
        let now = w.now;
        let mut look_at = None;
        if !side.answered {
            if !h2.settings_acked() {
                return;
            }
            side.answered = true;
            w.pool.answered(side.endpoint);
            if let Some(e) = w.pool.endpoint_ref(side.endpoint) {
                w.events.upstream_connected(e);
            }
            // The first look arms the keepalive.
            look_at = Some(now);
        }
        let sooner = match (side.leg.is_empty(), side.idle) {
            (true, None) => {
                side.idle = Some(now);
                let life = w.pool.life(&w.config, side.endpoint);
                life.and_then(|l| l.idle_timeout).map(|t| now + t)
            }
            (false, Some(_)) => {
                side.idle = None;
                Some(side.last_rx + pool::BUSY_PING)
            }
            _ => None,
        };
        if let Some(at) = look_at.into_iter().chain(sooner).min() {
            if side.upkeep_at(at) {
                w.timers.arm(at, Timer::Upkeep(id));
            }
        }
    }

    /// Connections with output (or a close) due, since the last call.
    pub fn take_dirty(&mut self, into: &mut Vec<Token>) {
        self.w.conns.take_touched(into);
        // Every change of a connection's streams leaves it dirty: its limits and upkeep follow
        // here.
        for &token in into.iter() {
            self.tend_client(token);
            self.tend_upstream(token);
        }
    }

    /// Connects and closes the runtime must carry out. A closed token is reused only after this hands
    /// its close over, so a late close never reaches a newer connection.
    pub fn take_io(&mut self, into: &mut Vec<IoRequest>) {
        for req in &self.w.io {
            if let IoRequest::Close(token) = req {
                self.w.conns.release(*token);
            }
        }
        into.append(&mut self.w.io);
    }

    /// The bytes ready for `token`'s socket: HTTP/2 output, encrypted when TLS is on.
    pub fn output(&mut self, token: Token) -> &[u8] {
        let Some(c) = self.w.conns.peek_mut(token) else {
            return &[];
        };
        if let Kind::Client {
            seen,
            http1_written,
            ..
        } = &c.kind
        {
            if let Some(written) = http1_written {
                return HTTP1_REPLY.get(*written..).unwrap_or(&[]);
            }
            // A cleartext client hears nothing until its preface: an HTTP/1.1 client then sees
            // only the HTTP/1.1 answer.
            if matches!(c.tls, Tls::None) && *seen < PREFACE.len() {
                return &[];
            }
        }
        let plain = c.h2.pending_output();
        // Ciphertext is bounded like the plaintext: once the socket lags, DATA waits in the h2
        // buffer, whose limit holds the streams back.
        let room = |s: &[u8]| s.len() < c.h2.max_buffered_output();
        let sent = match &mut c.tls {
            Tls::None => return c.h2.pending_output(),
            Tls::Server(s) if !plain.is_empty() && !c.closing && room(s.outgoing()) => {
                s.send(plain)
            }
            Tls::Client(s) if !plain.is_empty() && room(s.outgoing()) => s.send(plain),
            _ => Ok(false),
        };
        match sent {
            Ok(true) => {
                let n = plain.len();
                c.h2.advance_output(n);
            }
            Ok(false) => {}
            Err(_) => c.closing = true,
        }
        match &c.tls {
            Tls::Server(s) => s.outgoing(),
            Tls::Client(s) => s.outgoing(),
            Tls::None => &[],
        }
    }

    /// `n` bytes of [`Gateway::output`] were written.
    pub fn advance(&mut self, token: Token, n: usize) {
        let Some(c) = self.w.conns.peek_mut(token) else {
            return;
        };
        if let Kind::Client {
            http1_written: Some(written),
            ..
        } = &mut c.kind
        {
            *written += n;
            return;
        }
        match &mut c.tls {
            Tls::None => c.h2.advance_output(n),
            Tls::Server(s) => s.advance_outgoing(n),
            Tls::Client(s) => s.advance_outgoing(n),
        }
        output_taken(c, token, &mut self.backlog, self.w.now);
    }

    /// Hands the output [`Gateway::output`] returned over whole, without copying: `spare` takes the
    /// place of the buffer that holds it, and the output is `spare[range]` afterwards. `None` (and
    /// `spare` untouched) for output that lives in no buffer of ours (the HTTP/1.1 answer).
    pub fn swap_output(&mut self, token: Token, spare: &mut Vec<u8>) -> Option<Range<usize>> {
        let c = self.w.conns.peek_mut(token)?;
        if let Kind::Client {
            http1_written: Some(_),
            ..
        } = &c.kind
        {
            return None;
        }
        let range = match &mut c.tls {
            Tls::None => c.h2.swap_output(spare),
            Tls::Server(s) => s.swap_outgoing(spare),
            Tls::Client(s) => s.swap_outgoing(spare),
        };
        output_taken(c, token, &mut self.backlog, self.w.now);
        Some(range)
    }

    /// After output was written: if `token` is over and has nothing left to send, forget it and
    /// return true (the runtime closes the socket).
    pub fn finish_if_done(&mut self, token: Token) -> bool {
        let Some(c) = self.w.conns.at(token) else {
            return false;
        };
        // HTTP/2 output that can never go out does not hold a connection that is over: a cleartext
        // client hears nothing before its preface (see `output`), TLS carries none before the end
        // of its handshake nor once closing.
        let idle = match (&c.tls, &c.kind) {
            (
                _,
                Kind::Client {
                    http1_written: Some(w),
                    ..
                },
            ) => *w >= HTTP1_REPLY.len(),
            (Tls::None, Kind::Client { seen, .. }) if *seen < PREFACE.len() => true,
            (Tls::None, _) => c.h2.pending_output().is_empty(),
            (Tls::Server(s), _) => {
                s.outgoing().is_empty()
                    && (c.h2.pending_output().is_empty() || c.closing || s.is_handshaking())
            }
            (Tls::Client(s), _) => s.outgoing().is_empty() && c.h2.pending_output().is_empty(),
        };
        let retired_idle = matches!(&c.kind, Kind::Upstream(s) if s.retired && s.leg.is_empty());
        let over = c.closing || c.h2.is_closed() || retired_idle;
        if !(idle && over) {
            return false;
        }
        self.lost(token);
        true
    }

    /// Takes up a reloaded configuration (see [`Shared::reconfigure`] for what carries over).
    pub fn reconfigure(&mut self, config: Arc<GatewayConfig>) {
        let w = &mut self.w;
        let (moved, lost) = w
            .pool
            .reconfigure(&mut w.conns, &w.config, &config, &mut w.timers);
        w.bridges.renumber_endpoints(&moved, pool::GONE);
        w.config = config;
        w.events.configured(&w.config);
        for id in lost {
            bridge::settle(w, None, id, bridge::End::Unplaced(Reason::Unavailable));
        }
    }

    /// Shutdown: clients get a graceful GOAWAY, streams in flight may finish until `deadline`,
    /// then what is left is cut (see `drain.rs`). The worker stops once no connection is left.
    pub fn drain(&mut self, deadline: Instant) {
        drain::start(&mut self.w, &mut self.drains, deadline);
        self.arm_warned_timers();
    }

    /// Whether [`Gateway::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.drains.is_draining_all()
    }

    /// A reload changed the listeners: `remap[i]` is the new index of old listener `i`, `None`
    /// when it was removed; clients of a removed one drain until `deadline`.
    pub fn relisten(&mut self, remap: &[Option<usize>], deadline: Instant) {
        drain::relisten(&mut self.w, &mut self.drains, remap, deadline);
    }

    /// Once per loop turn: moves drains on (nothing to do unless one is in progress).
    pub fn tend_drains(&mut self) {
        if !drain::is_idle(&self.drains) {
            drain::tend(&mut self.w, &mut self.drains);
            self.arm_warned_timers();
        }
    }

    fn arm_warned_timers(&mut self) {
        for id in std::mem::take(&mut self.drains.warned) {
            self.arm_timer(id.token());
        }
    }

    /// Live connections (clients and upstreams).
    pub fn connections(&self) -> usize {
        self.w.conns.len()
    }
}

/// Runs `h2.recv` with the handler that fits the connection.
fn run_recv<E: Events>(
    h2: &mut Connection,
    kind: &mut Kind,
    id: ConnId,
    w: &mut Worker<E>,
    input: &[u8],
) -> usize {
    let now = w.now;
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => h2.recv(input, now, a),
            App::Echo(a) => h2.recv(input, now, a),
            App::Proxy(side) => h2.recv(input, now, &mut ClientHandler::new(side, id, w)),
        },
        Kind::Upstream(side) => h2.recv(input, now, &mut UpstreamHandler::new(side, id, w)),
    }
}

fn run_timeout<E: Events>(h2: &mut Connection, kind: &mut Kind, id: ConnId, w: &mut Worker<E>) {
    let now = w.now;
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => h2.on_timeout(now, a),
            App::Echo(a) => h2.on_timeout(now, a),
            App::Proxy(side) => h2.on_timeout(now, &mut ClientHandler::new(side, id, w)),
        },
        Kind::Upstream(side) => h2.on_timeout(now, &mut UpstreamHandler::new(side, id, w)),
    }
}

/// What an application does once its connection is free again: answers, releases, and the
/// transfers that wait on this connection's windows.
fn after_recv<E: Events>(h2: &mut Connection, kind: &mut Kind, id: ConnId, w: &mut Worker<E>) {
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => a.flush(h2),
            App::Echo(a) => a.flush(h2),
            App::Proxy(side) => bridge::client_after_recv(side, id, h2, w),
        },
        Kind::Upstream(side) => bridge::upstream_after_recv(side, id, h2, w),
    }
}

/// Output of connection `token` was taken: wakes streams the output limit held back.
fn output_taken(c: &mut Conn, token: Token, backlog: &mut Vec<Token>, now: Instant) {
    if let Kind::Client { clock, .. } = &mut c.kind {
        clock.output_moved(now);
    }
    if c.h2.take_output_room() {
        // Streams held back by the output limit: offer their data again on the next turn.
        match &mut c.kind {
            Kind::Client {
                app: App::Proxy(side),
                ..
            } => side.leg.wake(0),
            Kind::Upstream(side) => side.leg.wake(0),
            Kind::Client { .. } => {}
        }
        backlog.push(token);
    }
}

/// What a client connection's limits look at.
fn status<'a>(h2: &'a Connection, tls: &Tls, rx: &[u8], closing: bool) -> Status<'a> {
    use crate::h2::frame::{Head, kind};
    Status {
        h2,
        handshaking: matches!(tls, Tls::Server(s) if s.is_handshaking()),
        over: closing || h2.is_closed(),
        partial_headers: !rx.is_empty()
            && frame_missing(rx) > 0
            && Head::parse(rx)
                .is_some_and(|h| h.kind == kind::HEADERS || h.kind == kind::CONTINUATION),
    }
}

/// Whether the first bytes of a cleartext connection, `matched` (a part of the HTTP/2 preface)
/// then `rest`, may be an HTTP/1.x request line: a method then a space. A known method, not just
/// any token, so that garbage such as h2spec's `INVALID CONNECTION PREFACE` gets an HTTP/2 answer.
/// Bytes that end before the space count when they begin a method.
fn looks_like_http1(matched: &[u8], rest: &[u8]) -> bool {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"HEAD ",
        b"POST ",
        b"PUT ",
        b"DELETE ",
        b"CONNECT ",
        b"OPTIONS ",
        b"TRACE ",
        b"PATCH ",
    ];
    METHODS.iter().any(|m| {
        let start = matched.iter().chain(rest);
        m.iter().zip(start).all(|(a, b)| a == b)
    })
}

/// How many more bytes the frame at the front of `buf` needs to be whole (its header first; 0: it
/// is whole).
fn frame_missing(buf: &[u8]) -> usize {
    match crate::h2::frame::Head::parse(buf) {
        Some(head) => (crate::h2::frame::HEAD_LEN + head.len as usize).saturating_sub(buf.len()),
        None => crate::h2::frame::HEAD_LEN.saturating_sub(buf.len()),
    }
}
