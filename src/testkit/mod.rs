//! A deterministic gateway harness: a [`Gateway`], its clients and its upstreams, all in memory, on
//! a virtual clock (as quinn's `tests/util.rs` `Pair`). Not part of h2edge's API: it is here for
//! `tests/`, `benches/proxy.rs` and `fuzz/fuzz_targets/gateway.rs`.
//!
//! A module of the library (hidden from its docs) rather than a file each of them includes with
//! `#[path]`: the fuzz crate is a separate package, and a shared file would be compiled into each
//! test binary with only part of it used (dead-code allowances everywhere); here it is compiled
//! once, against the gateway's public API only, and breaks at the library's build when that API
//! changes.
//!
//! [`Sim::turn`] is one turn of the worker's loop (`src/runtime/worker.rs`), with the network in
//! place of the I/O backend: the peers act on what reached them, the clock moves, the gateway is
//! told what the "poll" saw (connects finished, sockets closed, bytes received), then it runs the
//! worker's turn (accepts, backlog, drains, timers, upstreams, connects and closes, one flush per
//! dirty connection, closes) and what it wrote reaches the peers for the next turn.
//!
//! The clock: a turn that moves bytes or connections takes [`Sim::latency`]; a quiet one jumps to
//! the earliest of the gateway's `next_timeout`, the peers' own timers and the worker's idle wake
//! (100 ms, for the deadlines the gateway checks once per turn), as a worker's poll would sleep.
//! A 30 s timeout takes a few hundred turns.

mod peers;

pub use peers::{Faults, H2Client, H2Server, RawPeer, Seen};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proxy::events::Events;
use crate::proxy::gateway::{Gateway, GatewayConfig, IoRequest, Token};

/// As the worker's `IDLE_WAKE`: a quiet worker looks at the gateway at least this often.
pub const IDLE_WAKE: Duration = Duration::from_millis(100);

/// The test side of one connection (a client, or an upstream the gateway connected to).
pub trait Peer {
    /// Bytes the gateway wrote reached the peer.
    fn deliver(&mut self, now: Instant, bytes: &[u8]);
    /// The peer's turn: it acts on what reached it and appends what it writes to `out`.
    fn act(&mut self, now: Instant, out: &mut Vec<u8>);
    /// The gateway closed the connection.
    fn closed(&mut self, _now: Instant) {}
    /// When the peer next acts on its own (a timer of its own), for the clock.
    fn next_timeout(&self) -> Option<Instant> {
        None
    }
    /// How many more bytes its socket takes now (a peer that stops reading fills it).
    fn room(&self) -> usize {
        usize::MAX
    }
    /// Whether it closed its socket; the gateway sees the close on the next turn.
    fn hung_up(&self) -> bool {
        false
    }
}

/// What a connect to an upstream address finds.
pub enum Dial<U> {
    /// A listener: the connect succeeds on the next turn, `U` is the connection's far end.
    Accept(U),
    /// Nothing listens: the connect fails on the next turn.
    Refuse,
    /// The connect never finishes (packets dropped); the gateway's own deadline ends it.
    Blackhole,
}

/// A client connection, in the order [`Sim::connect`] made them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub usize);

/// An upstream connection the gateway opened, in the order it asked for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamId(pub usize);

/// One connection's far end and the bytes on their way to the gateway.
struct Wire<P> {
    peer: P,
    /// The gateway's handle, while the connection is open on its side.
    token: Option<Token>,
    /// Written by the peer, delivered to the gateway on the next poll.
    tx: Vec<u8>,
    /// The peer's socket took less than the gateway had for it.
    blocked: bool,
    /// The listener (client) or the endpoint (upstream).
    addr: SocketAddr,
    closed_at: Option<Instant>,
}

impl<P: Peer> Wire<P> {
    fn new(peer: P, token: Option<Token>, addr: SocketAddr) -> Self {
        Wire {
            peer,
            token,
            tx: Vec::new(),
            blocked: false,
            addr,
            closed_at: None,
        }
    }

    fn close(&mut self, now: Instant) {
        self.token = None;
        if self.closed_at.is_none() {
            self.closed_at = Some(now);
            self.peer.closed(now);
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Client(usize),
    Upstream(usize),
    /// A connect that never finishes.
    Blackhole,
}

type Dialer<U> = Box<dyn FnMut(SocketAddr, Instant) -> Dial<U>>;

/// A gateway with clients of type `C` and upstream connections of type `U`, in memory; `E` observes
/// the gateway (see [`Events`]).
pub struct Sim<C, U, E = ()> {
    pub gateway: Gateway<E>,
    now: Instant,
    /// Virtual time a turn that moves something takes.
    pub latency: Duration,
    clients: Vec<Wire<C>>,
    upstreams: Vec<Wire<U>>,
    tokens: HashMap<Token, Side>,
    /// Clients waiting to be accepted: (client, listener).
    accepting: Vec<(usize, usize)>,
    /// Connect results due on the next poll.
    connecting: Vec<(Token, bool)>,
    dial: Dialer<U>,
    dirty: Vec<Token>,
    io: Vec<IoRequest>,
}

impl<C: Peer, U: Peer> Sim<C, U> {
    /// A gateway on `config` at virtual time `now`; `dial` answers its connects by address.
    pub fn new(
        config: Arc<GatewayConfig>,
        now: Instant,
        seed: u64,
        dial: impl FnMut(SocketAddr, Instant) -> Dial<U> + 'static,
    ) -> Self {
        Sim::with_events(config, now, seed, (), dial)
    }
}

impl<C: Peer, U: Peer, E: Events> Sim<C, U, E> {
    /// As [`Sim::new`], with `events` observing the gateway.
    pub fn with_events(
        config: Arc<GatewayConfig>,
        now: Instant,
        seed: u64,
        events: E,
        dial: impl FnMut(SocketAddr, Instant) -> Dial<U> + 'static,
    ) -> Self {
        Sim {
            gateway: Gateway::with_events(config, now, seed, events),
            now,
            latency: Duration::from_micros(100),
            clients: Vec::new(),
            upstreams: Vec::new(),
            tokens: HashMap::new(),
            accepting: Vec::new(),
            connecting: Vec::new(),
            dial: Box::new(dial),
            dirty: Vec::new(),
            io: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// A client connects to listener `listener`; the gateway accepts it on the next turn.
    pub fn connect(&mut self, listener: usize, peer: C) -> ClientId {
        let n = self.clients.len();
        let port = 40_000u16.wrapping_add(n as u16);
        let addr = SocketAddr::new(IpAddr::from([192, 0, 2, 1]), port);
        self.clients.push(Wire::new(peer, None, addr));
        self.accepting.push((n, listener));
        ClientId(n)
    }

    pub fn client(&self, id: ClientId) -> &C {
        &self.clients[id.0].peer
    }

    pub fn client_mut(&mut self, id: ClientId) -> &mut C {
        &mut self.clients[id.0].peer
    }

    /// When the client's connection ended (closed by the gateway, refused, or hung up).
    pub fn client_closed_at(&self, id: ClientId) -> Option<Instant> {
        self.clients[id.0].closed_at
    }

    pub fn upstream(&self, id: UpstreamId) -> &U {
        &self.upstreams[id.0].peer
    }

    pub fn upstream_mut(&mut self, id: UpstreamId) -> &mut U {
        &mut self.upstreams[id.0].peer
    }

    /// Every upstream connection the gateway opened (those that ended too), oldest first.
    pub fn upstream_ids(&self) -> impl Iterator<Item = UpstreamId> + use<C, U, E> {
        (0..self.upstreams.len()).map(UpstreamId)
    }

    /// The endpoint the upstream connection went to.
    pub fn upstream_addr(&self, id: UpstreamId) -> SocketAddr {
        self.upstreams[id.0].addr
    }

    pub fn upstream_closed_at(&self, id: UpstreamId) -> Option<Instant> {
        self.upstreams[id.0].closed_at
    }

    /// Connections the gateway should have now: those open on the harness's side, and connects
    /// whose failure it has yet to hear of. (Checked against `Gateway::connections` by the fuzz
    /// target: no connection leaks, none is forgotten while its socket stays.)
    pub fn expected_connections(&self) -> usize {
        let failing = self.connecting.iter().filter(|c| !c.1).count();
        self.tokens.len() + failing
    }

    /// Turns until `done` holds (true) or `limit` of virtual time has passed (false).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        while self.now <= end {
            if done(self) {
                return true;
            }
            self.turn();
        }
        done(self)
    }

    /// Turns for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// One turn of the worker's loop, the peers' turn before it.
    pub fn turn(&mut self) {
        let now = self.now;
        for w in self.clients.iter_mut().filter(|w| w.closed_at.is_none()) {
            w.peer.act(now, &mut w.tx);
        }
        for w in self.upstreams.iter_mut().filter(|w| w.closed_at.is_none()) {
            w.peer.act(now, &mut w.tx);
        }
        self.now = self.next_now();
        let now = self.now;
        let gw = &mut self.gateway;
        gw.set_now(now);

        // The poll: connects that finished, sockets the peers closed or that have room again,
        // bytes that arrived.
        for (token, ok) in self.connecting.drain(..) {
            gw.connected(token, ok);
        }
        let tokens = &mut self.tokens;
        poll(gw, tokens, &mut self.clients, now);
        poll(gw, tokens, &mut self.upstreams, now);

        // The worker's turn (`runtime::worker::State::turn`).
        for (n, listener) in std::mem::take(&mut self.accepting) {
            let w = &mut self.clients[n];
            if w.closed_at.is_some() {
                continue;
            }
            match gw.accept(listener, w.addr) {
                Some(token) => {
                    w.token = Some(token);
                    tokens.insert(token, Side::Client(n));
                }
                None => w.close(now),
            }
        }
        let gw = &mut self.gateway;
        gw.run_backlog();
        gw.tend_drains();
        gw.on_timeout();
        gw.tend_upstreams();
        // Connects first: a new upstream connection has output queued already.
        gw.take_io(&mut self.io);
        for req in std::mem::take(&mut self.io) {
            match req {
                IoRequest::Connect(token, addr, _) => match (self.dial)(addr, now) {
                    Dial::Accept(peer) => {
                        self.tokens
                            .insert(token, Side::Upstream(self.upstreams.len()));
                        self.upstreams.push(Wire::new(peer, Some(token), addr));
                        self.connecting.push((token, true));
                    }
                    Dial::Refuse => {
                        self.tokens.remove(&token);
                        self.connecting.push((token, false));
                    }
                    Dial::Blackhole => {
                        self.tokens.insert(token, Side::Blackhole);
                    }
                },
                IoRequest::Close(token) => self.close(token),
            }
        }
        self.gateway.take_dirty(&mut self.dirty);
        for token in std::mem::take(&mut self.dirty) {
            self.flush(token);
        }
        // Closes that flushing produced (connections that finished).
        self.gateway.take_io(&mut self.io);
        for req in std::mem::take(&mut self.io) {
            if let IoRequest::Close(token) = req {
                self.close(token);
            }
        }
    }

    /// The time of the next turn.
    fn next_now(&self) -> Instant {
        let busy = !self.accepting.is_empty()
            || !self.connecting.is_empty()
            || self.gateway.has_backlog()
            || busy(&self.clients)
            || busy(&self.upstreams);
        let step = self.now + self.latency;
        if busy {
            return step;
        }
        let peers = self.clients.iter().filter(|w| w.closed_at.is_none());
        let peer_due = peers.filter_map(|w| w.peer.next_timeout());
        let ups = self.upstreams.iter().filter(|w| w.closed_at.is_none());
        let up_due = ups.filter_map(|w| w.peer.next_timeout());
        let wake = self
            .gateway
            .next_timeout()
            .into_iter()
            .chain(peer_due)
            .chain(up_due);
        wake.fold(self.now + IDLE_WAKE, Instant::min).max(step)
    }

    fn close(&mut self, token: Token) {
        let now = self.now;
        match self.tokens.remove(&token) {
            Some(Side::Client(n)) => self.clients[n].close(now),
            Some(Side::Upstream(n)) => self.upstreams[n].close(now),
            Some(Side::Blackhole) | None => {}
        }
    }

    /// Writes what `token` has ready, as far as its peer's socket takes it (the worker's `flush`).
    fn flush(&mut self, token: Token) {
        let w = match self.tokens.get(&token) {
            Some(&Side::Client(n)) => {
                deliver(&mut self.gateway, &mut self.clients[n], token, self.now)
            }
            Some(&Side::Upstream(n)) => {
                deliver(&mut self.gateway, &mut self.upstreams[n], token, self.now)
            }
            // Not connected (yet): nothing can be written.
            Some(Side::Blackhole) | None => return,
        };
        if w {
            self.gateway.finish_if_done(token);
        }
    }
}

/// Whether some peer has bytes on their way or a socket that has room again.
fn busy<P: Peer>(wires: &[Wire<P>]) -> bool {
    wires
        .iter()
        .any(|w| !w.tx.is_empty() || (w.blocked && w.closed_at.is_none() && w.peer.room() > 0))
}

/// The poll's part for one kind of peer: hang-ups, writable sockets, received bytes.
fn poll<P: Peer, E: Events>(
    gw: &mut Gateway<E>,
    tokens: &mut HashMap<Token, Side>,
    wires: &mut [Wire<P>],
    now: Instant,
) {
    for w in wires.iter_mut().filter(|w| w.closed_at.is_none()) {
        let Some(token) = w.token else {
            continue;
        };
        if !w.tx.is_empty() {
            // The gateway may decrypt in place; `tx` is cleared afterwards anyway.
            gw.received(token, &mut w.tx);
            w.tx.clear();
        }
        if w.peer.hung_up() {
            tokens.remove(&token);
            w.close(now);
            gw.closed(token);
        } else if w.blocked && w.peer.room() > 0 {
            w.blocked = false;
            gw.mark_dirty(token);
        }
    }
}

/// Moves `token`'s output to `w`'s peer; false when its socket is full.
fn deliver<P: Peer, E: Events>(
    gw: &mut Gateway<E>,
    w: &mut Wire<P>,
    token: Token,
    now: Instant,
) -> bool {
    if w.blocked {
        return false;
    }
    loop {
        let out = gw.output(token);
        let len = out.len();
        if len == 0 {
            return true;
        }
        let n = len.min(w.peer.room());
        if n > 0 {
            w.peer.deliver(now, &out[..n]);
            gw.advance(token, n);
        }
        if n < len {
            w.blocked = true;
            return false;
        }
    }
}

/// A gateway configuration from YAML, as `h2edge run` builds it for one worker (listeners in port
/// order; endpoint addresses as written, so tests pick any, `10.0.0.1:80` say).
pub fn gateway_config(yaml: &str) -> Result<Arc<GatewayConfig>, String> {
    let config = crate::config::load_str("sim.yaml", yaml).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        lines.join("\n")
    })?;
    let resolve = |name: &str, _port: u16| Err(format!("{name}: no DNS in the harness"));
    let plan = crate::config::compile::plan(&config, IpAddr::from([127, 0, 0, 1]), 1, &resolve)?;
    Ok(plan.gateway)
}
