//! One worker's gateway, sans-IO: its connection table (clients and upstreams), TLS on each, and what
//! each stream does. The runtime hands it bytes per token and writes out what it returns; the
//! gateway asks the runtime for new upstream connections and closes through [`IoRequest`]s.
//!
//! Everything here belongs to one worker: no locks, no shared state with other workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use super::bridge::{self, BridgeId, Bridges, ClientHandler, ClientSide, UpstreamHandler};
use super::client_limits::{ClientClock, ClientLimits, Clients, Expiry, Status};
pub use super::conns::Token;
use super::conns::{App, Conn, ConnTable, Kind, Tls};
use super::drain::{self, Drains};
use super::echo::Echo;
use super::local::{LocalReplies, Reason};
use super::pending::Meter;
use super::pool::Pool;
use super::upstreams::Upstreams;
use crate::h2::conn::{self, Connection, PREFACE, Role};
use crate::h2::fields::FieldList;
use crate::runtime::socket::TcpKeepalive;
use crate::tls::session::ServerSession;

/// What a client that speaks HTTP/1.1 to an HTTP/2-only listener gets, instead of silence.
pub const HTTP1_REPLY: &[u8] =
    b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
content-length: 32\r\nconnection: close\r\n\r\nthis gateway speaks HTTP/2 only\n";
/// Plaintext input kept for one connection while its frames wait to be processed.
const MAX_BUFFERED_INPUT: usize = 1 << 20;

/// What a listener speaks.
#[derive(Clone)]
pub enum Listener {
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
    /// TLS with ALPN `h2`.
    Tls(Arc<ServerConfig>),
}

/// What the worker does with the streams its clients open.
#[derive(Clone)]
pub enum Service {
    /// Answers every request itself.
    Local,
    /// The demo's (and the load test's) echo backends; listener `i` answers as `names[i]` and counts
    /// the requests it is sent in `counters[i]`, if there is one.
    Echo {
        names: Vec<String>,
        counters: Vec<Arc<AtomicU64>>,
    },
    /// Proxies every stream: routed by the table, balanced over the matched cluster.
    Proxy(Arc<Upstreams>),
}

#[derive(Clone)]
pub struct GatewayConfig {
    pub listeners: Vec<Listener>,
    pub service: Service,
    /// Settings and limits towards clients, unless the listener has its own
    /// (`Upstreams::server_h2`).
    pub server_h2: conn::Config,
    /// Settings and limits towards upstreams, unless the cluster has its own
    /// (`UpstreamCluster::client_h2`).
    pub client_h2: conn::Config,
    pub buffers: BufferLimits,
}

/// How much body the worker holds for streams whose other leg cannot take it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimits {
    /// Body bytes waiting in all of a worker's streams. Past it, the streams holding the most are
    /// reset (their bytes and flow-control credit released) until it is kept again.
    pub budget: usize,
    /// A stream whose waiting bytes have not moved for this long is reset.
    pub stall_timeout: Duration,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            budget: DEFAULT_BUFFER_BUDGET,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// The default budget: 256 streams' worth of the default upstream stream window (256 KiB), so an
/// honest worker never comes near it while one client that never reads cannot take more.
pub const DEFAULT_BUFFER_BUDGET: usize = 64 << 20;
/// As HAProxy's common `timeout server/client` of 30 s: a stream whose peer has not read for that
/// long is given up, well before a user gives up on it.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

impl GatewayConfig {
    /// The settings and limits of client connections to listener `listener`: its own, if the
    /// service has them, else `server_h2`.
    fn server_h2_for(&self, listener: usize) -> &conn::Config {
        match &self.service {
            Service::Proxy(up) => up.server_h2.get(listener),
            _ => None,
        }
        .unwrap_or(&self.server_h2)
    }

    /// The bounds on client connections to listener `listener`.
    fn client_limits_for(&self, listener: usize) -> &ClientLimits {
        match &self.service {
            Service::Proxy(up) => up.clients.get(listener),
            _ => None,
        }
        .unwrap_or(&ClientLimits::DEFAULT)
    }
}

/// What the gateway needs the runtime to do.
#[derive(Debug, PartialEq, Eq)]
pub enum IoRequest {
    /// Open a TCP connection for `token` to `addr` (with TCP keepalive, if given), then report it
    /// with [`Gateway::connected`].
    Connect(Token, SocketAddr, Option<TcpKeepalive>),
    /// Close `token`'s socket once its output is written (the gateway has forgotten it).
    Close(Token),
}

/// The part of the gateway a stream handler may touch while one connection is taken out of the
/// table to process its input.
pub(super) struct Shared {
    pub(super) conns: ConnTable,
    /// Every proxied stream (see `bridge/`).
    pub(super) bridges: Bridges,
    pub(super) io: Vec<IoRequest>,
    pub(super) config: Arc<GatewayConfig>,
    /// Endpoints, their connections and balancers (see `pool.rs`).
    pub(super) upstream: Pool,
    pub(super) now: Instant,
    /// Per-worker counter for `x-request-id`.
    pub(super) request_ids: u64,
    /// The process id, for `x-request-id` (read once: `getpid` is a system call).
    pub(super) pid: u32,
    /// Route timeouts of proxied streams, earliest first. Entries of streams that ended stay until
    /// due or pruned (see `bridge::expire`).
    pub(super) deadlines: BinaryHeap<Reverse<(Instant, BridgeId)>>,
    pub(super) prune_deadlines_at: usize,
    /// Emptied request heads and bodies kept for reuse (see `bridge::Replay`).
    pub(super) spare_heads: Vec<FieldList>,
    pub(super) spare_bodies: Vec<Vec<u8>>,
    /// Body bytes waiting in every stream's queues (see `BufferLimits`).
    pub(super) meter: Meter,
    /// When the streams are next looked at for stalls.
    pub(super) next_stall_check: Option<Instant>,
    /// Client connections per listener, for their bound (see `client_limits.rs`).
    clients: Clients,
}

pub struct Gateway {
    shared: Shared,
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Connections with whole frames left over after their per-turn budget.
    backlog: Vec<Token>,
    drains: Drains,
}

impl Gateway {
    /// A worker's gateway; `seed` starts its balancers' PRNGs (e.g.
    /// [`worker_seed`](crate::balance::worker_seed) of the worker's index).
    pub fn new(config: Arc<GatewayConfig>, now: Instant, seed: u64) -> Self {
        let upstream = Pool::new(&config, seed);
        Gateway {
            shared: Shared {
                conns: ConnTable::default(),
                bridges: Bridges::default(),
                io: Vec::new(),
                config,
                upstream,
                now,
                request_ids: 0,
                pid: std::process::id(),
                deadlines: BinaryHeap::new(),
                prune_deadlines_at: bridge::MIN_DEADLINE_PRUNE,
                spare_heads: Vec::new(),
                spare_bodies: Vec::new(),
                meter: Meter::default(),
                next_stall_check: None,
                clients: Clients::default(),
            },
            timers: BinaryHeap::new(),
            backlog: Vec::new(),
            drains: Drains::default(),
        }
    }

    pub fn set_now(&mut self, now: Instant) {
        self.shared.now = now;
    }

    /// A client connected to listener `listener`; returns the token to register its socket under,
    /// or `None` to drop it. At the listener's bound the connection idle the longest makes room
    /// (GOAWAY NO_ERROR); when none is idle, the new one is dropped.
    pub fn accept(&mut self, listener: usize, peer: SocketAddr) -> Option<Token> {
        let config = self.shared.config.clone();
        let limits = config.client_limits_for(listener);
        let shared = &mut self.shared;
        shared.clients.prune(listener, &mut shared.conns);
        if shared.clients.full(listener, limits.max_connections) {
            let oldest = shared.clients.oldest_idle(listener, &mut shared.conns)?;
            let c = shared.conns.get_mut(oldest)?;
            c.h2.go_away(crate::h2::ErrorCode::NO_ERROR, b"connection limit");
            self.tend_client(oldest);
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
        let h2 = Connection::new(
            Role::Server,
            config.server_h2_for(listener),
            self.shared.now,
        );
        let kind = Kind::Client {
            seen: 0,
            http1_written: None,
            app,
            clock: ClientClock::new(listener, self.shared.now, tls_on),
        };
        let token = self.shared.conns.insert(Conn::new(h2, tls, kind));
        self.shared.clients.opened(listener);
        self.arm_timer(token);
        Some(token)
    }

    /// Bytes arrived on `token`. TLS connections decrypt them in place: `data`'s content is
    /// unspecified afterwards.
    pub fn received(&mut self, token: Token, data: &mut [u8]) {
        let Some(mut c) = self.shared.conns.take(token) else {
            return;
        };
        if !c.closing {
            self.feed(token, &mut c, data);
        }
        if !c.closing && !c.h2.is_closed() && frame_missing(&c.rx) == 0 {
            self.backlog.push(token);
        }
        self.shared.conns.put(token, c);
        self.arm_timer(token);
    }

    /// Decrypts (when TLS is on) and feeds plaintext to the connection and its application.
    fn feed(&mut self, token: Token, c: &mut Conn, data: &mut [u8]) {
        let shared = &mut self.shared;
        let Conn {
            h2, tls, rx, kind, ..
        } = c;
        if let Kind::Upstream(side) = kind {
            side.last_rx = shared.now;
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
                let used = run_recv(h2, kind, token, shared, rx).min(rx.len());
                if used == rx.len() {
                    rx.clear();
                } else if used > 0 || take == 0 || rest.is_empty() {
                    // Kept for later: a partial frame, or frames beyond the per-call budget.
                    rx.drain(..used);
                    rx.extend_from_slice(rest);
                    return;
                }
            }
            let used = run_recv(h2, kind, token, shared, rest);
            rx.extend_from_slice(&rest[used.min(rest.len())..]);
        });
        if data.is_empty() && !rx.is_empty() {
            // Backlog: frames left over from an earlier turn.
            let used = run_recv(h2, kind, token, shared, rx);
            rx.drain(..used.min(rx.len()));
        }
        after_recv(h2, kind, token, shared);
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
        self.shared.check_upstreams();
        bridge::expire(&mut self.shared);
        if !self.shared.upstream.waiting.is_empty() {
            bridge::dispatch_waiting(&mut self.shared);
        }
        bridge::tend_buffers(&mut self.shared);
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
        if let Some(c) = self.shared.conns.take(token) {
            self.shared.retire(token, c);
        }
    }

    /// `token` has output due (for example after its socket became writable again).
    pub fn mark_dirty(&mut self, token: Token) {
        self.shared.conns.get_mut(token);
    }

    /// The earliest timer of any connection.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    pub fn on_timeout(&mut self) {
        let now = self.shared.now;
        while let Some(Reverse((at, token))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(mut c) = self.shared.conns.take(token) else {
                continue;
            };
            // Entries are not removed when a deadline moves; a stale one finds nothing due.
            if c.h2.next_timeout().is_some_and(|due| due <= now) {
                let Conn { h2, kind, .. } = &mut c;
                run_timeout(h2, kind, token, &mut self.shared);
                after_recv(h2, kind, token, &mut self.shared);
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
                let limits = self.shared.config.client_limits_for(clock.listener);
                match clock.expired(&status(h2, tls, rx, *closing), now, limits) {
                    Some(Expiry::Drop) => {
                        self.shared.retire(token, c);
                        continue;
                    }
                    Some(Expiry::GoAway(code, why)) => h2.go_away(code, why),
                    None => {}
                }
            }
            self.shared.conns.put(token, c);
            self.arm_timer(token);
        }
    }

    fn arm_timer(&mut self, token: Token) {
        if let Some(c) = self.shared.conns.get(token) {
            if let Some(at) = c.h2.next_timeout() {
                self.timers.push(Reverse((at, token)));
            }
        }
        self.tend_client(token);
    }

    /// Brings a client connection's limits up to date with its state (see `client_limits.rs`).
    fn tend_client(&mut self, token: Token) {
        let shared = &mut self.shared;
        let Some(c) = shared.conns.peek_mut(token) else {
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
        let limits = shared.config.client_limits_for(clock.listener);
        let status = status(h2, tls, rx, *closing);
        if let Some(at) = clock.update(&status, shared.now, limits, &mut shared.clients, token) {
            self.timers.push(Reverse((at, token)));
        }
    }

    /// Connections with output (or a close) due, since the last call.
    pub fn take_dirty(&mut self, into: &mut Vec<Token>) {
        self.shared.conns.take_touched(into);
        // Every change of a connection's streams leaves it dirty: its limits follow here.
        for &token in into.iter() {
            self.tend_client(token);
        }
    }

    /// Connects and closes the runtime must carry out. A closed token is reused only after this hands
    /// its close over, so a late close never reaches a newer connection.
    pub fn take_io(&mut self, into: &mut Vec<IoRequest>) {
        for req in &self.shared.io {
            if let IoRequest::Close(token) = req {
                self.shared.conns.release(*token);
            }
        }
        into.append(&mut self.shared.io);
    }

    /// The bytes ready for `token`'s socket: HTTP/2 output, encrypted when TLS is on.
    pub fn output(&mut self, token: Token) -> &[u8] {
        let Some(c) = self.shared.conns.peek_mut(token) else {
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
        let Some(c) = self.shared.conns.peek_mut(token) else {
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
        output_taken(c, token, &mut self.backlog, self.shared.now);
    }

    /// Hands the output [`Gateway::output`] returned over whole, without copying: `spare` takes the
    /// place of the buffer that holds it, and the output is `spare[range]` afterwards. `None` (and
    /// `spare` untouched) for output that lives in no buffer of ours (the HTTP/1.1 answer).
    pub fn swap_output(&mut self, token: Token, spare: &mut Vec<u8>) -> Option<Range<usize>> {
        let c = self.shared.conns.peek_mut(token)?;
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
        output_taken(c, token, &mut self.backlog, self.shared.now);
        Some(range)
    }

    /// After output was written: if `token` is over and has nothing left to send, forget it and
    /// return true (the runtime closes the socket).
    pub fn finish_if_done(&mut self, token: Token) -> bool {
        let Some(c) = self.shared.conns.get(token) else {
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
        self.shared.reconfigure(config);
    }

    /// Shutdown: clients get a graceful GOAWAY, streams in flight may finish until `deadline`,
    /// then what is left is cut (see `drain.rs`). The worker stops once no connection is left.
    pub fn drain(&mut self, deadline: Instant) {
        drain::start(&mut self.shared, &mut self.drains, deadline);
        self.arm_warned_timers();
    }

    /// Whether [`Gateway::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.drains.is_draining_all()
    }

    /// A reload changed the listeners: `remap[i]` is the new index of old listener `i`, `None`
    /// when it was removed; clients of a removed one drain until `deadline`.
    pub fn relisten(&mut self, remap: &[Option<usize>], deadline: Instant) {
        drain::relisten(&mut self.shared, &mut self.drains, remap, deadline);
    }

    /// Once per loop turn: moves drains on (nothing to do unless one is in progress).
    pub fn tend_drains(&mut self) {
        if !drain::is_idle(&self.drains) {
            drain::tend(&mut self.shared, &mut self.drains);
            self.arm_warned_timers();
        }
    }

    fn arm_warned_timers(&mut self) {
        for token in std::mem::take(&mut self.drains.warned) {
            self.arm_timer(token);
        }
    }

    /// Live connections (clients and upstreams).
    pub fn connections(&self) -> usize {
        self.shared.conns.len()
    }
}

/// Runs `h2.recv` with the handler that fits the connection.
fn run_recv(
    h2: &mut Connection,
    kind: &mut Kind,
    token: Token,
    shared: &mut Shared,
    input: &[u8],
) -> usize {
    let now = shared.now;
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => h2.recv(input, now, a),
            App::Echo(a) => h2.recv(input, now, a),
            App::Proxy(side) => h2.recv(input, now, &mut ClientHandler::new(side, token, shared)),
        },
        Kind::Upstream(side) => h2.recv(input, now, &mut UpstreamHandler::new(side, token, shared)),
    }
}

fn run_timeout(h2: &mut Connection, kind: &mut Kind, token: Token, shared: &mut Shared) {
    let now = shared.now;
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => h2.on_timeout(now, a),
            App::Echo(a) => h2.on_timeout(now, a),
            App::Proxy(side) => h2.on_timeout(now, &mut ClientHandler::new(side, token, shared)),
        },
        Kind::Upstream(side) => h2.on_timeout(now, &mut UpstreamHandler::new(side, token, shared)),
    }
}

/// What an application does once its connection is free again: answers, releases, and the
/// transfers that wait on this connection's windows.
fn after_recv(h2: &mut Connection, kind: &mut Kind, token: Token, shared: &mut Shared) {
    match kind {
        Kind::Client { app, .. } => match app {
            App::Local(a) => a.flush(h2),
            App::Echo(a) => a.flush(h2),
            App::Proxy(side) => side.after_recv(token, h2, shared),
        },
        Kind::Upstream(side) => side.after_recv(token, h2, shared),
    }
}

impl Shared {
    /// A connection that is gone: settle every stream that crossed it, and leave the pool.
    pub(super) fn retire(&mut self, token: Token, conn: Conn) {
        if let Kind::Client { clock, .. } = &conn.kind {
            self.clients.gone(clock);
        }
        match conn.kind {
            Kind::Client {
                app: App::Proxy(side),
                ..
            } => side.gone(token, self),
            Kind::Upstream(side) => {
                let failed = !conn.h2.settings_acked();
                self.leave_pool(token, side.endpoint, failed);
                bridge::upstream_gone(side, token, self);
            }
            Kind::Client { .. } => {}
        }
        self.io.push(IoRequest::Close(token));
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
