//! One worker's proxy state, as its parts: the connection table, the streams (bridges), the pool
//! of upstream endpoints, the route-timeout heap and the buffer meter. Stream handlers reach all of
//! it while the connection they run for is out of the table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::client_limits::Clients;
use super::conns::{ConnTable, IoRequest};
use super::events::Events;
use super::ids::ConnId;
use super::local::Reason;
use super::pending::Meter;
use super::pool::{Chosen, Effects, Pool};
use super::settings::GatewayConfig;
use super::streams::{Bridge, BridgeId, Bridges, REPLAY_LIMIT, Replay};
use super::timers::{Timer, Timers};
use crate::h2::fields::FieldList;

/// Spare replay buffers a worker keeps.
const SPARES: usize = 1024;

pub(super) struct Worker<E = ()> {
    pub(super) conns: ConnTable,
    /// Every proxied stream.
    pub(super) bridges: Bridges,
    /// Endpoints, their connections and balancers.
    pub(super) pool: Pool,
    pub(super) io: Vec<IoRequest>,
    pub(super) config: Arc<GatewayConfig>,
    pub(super) now: Instant,
    /// Per-worker counter for `x-request-id`.
    pub(super) request_ids: u64,
    /// The process id, for `x-request-id` (read once: `getpid` is a system call).
    pub(super) pid: u32,
    /// Every deadline of the worker's connections and streams.
    pub(super) timers: Timers,
    /// Emptied request heads and bodies kept for reuse (see `streams::Replay`).
    pub(super) spare_heads: Vec<FieldList>,
    pub(super) spare_bodies: Vec<Vec<u8>>,
    /// Body bytes waiting in every stream's queues (see `BufferLimits`).
    pub(super) meter: Meter,
    /// A `Sweep` timer is armed.
    pub(super) sweep_armed: bool,
    /// Client connections per listener, for their bound (see `client_limits.rs`).
    pub(super) clients: Clients,
    /// Where what happens is reported (see `events.rs`).
    pub(super) events: E,
}

impl<E: Events> Worker<E> {
    pub(super) fn new(config: Arc<GatewayConfig>, now: Instant, seed: u64, events: E) -> Self {
        Worker {
            conns: ConnTable::default(),
            bridges: Bridges::default(),
            pool: Pool::new(&config, seed),
            io: Vec::new(),
            config,
            now,
            request_ids: 0,
            pid: std::process::id(),
            timers: Timers::default(),
            spare_heads: Vec::new(),
            spare_bodies: Vec::new(),
            meter: Meter::default(),
            sweep_armed: false,
            clients: Clients::default(),
            events,
        }
    }

    /// A new bridge, with its route timeout (the response must be complete by then) armed.
    pub(super) fn add_bridge(&mut self, b: Bridge, deadline: Option<Instant>) -> BridgeId {
        let id = self.bridges.insert(b);
        if let Some(at) = deadline {
            self.timers.arm(at, Timer::Deadline(id));
        }
        id
    }

    /// Keeps a finished replay's buffers for the next streams (up to a bound), so that a warm
    /// worker allocates nothing per stream for them.
    pub(super) fn recycle(&mut self, r: Replay) {
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

    /// Routes a request and picks its endpoint (see [`Pool::choose`]).
    pub(super) fn choose(
        &mut self,
        fields: &FieldList,
        listener: usize,
        peer: SocketAddr,
    ) -> Result<Chosen, Reason> {
        self.pool.choose(&self.config, fields, listener, peer)
    }

    /// An answered connection to endpoint `ep` with room for a stream (see
    /// [`Pool::connection_for`]).
    pub(super) fn connection_for(&mut self, ep: usize) -> Option<ConnId> {
        let Worker {
            pool,
            conns,
            config,
            now,
            io,
            timers,
            events,
            ..
        } = self;
        let fx = Effects {
            now: *now,
            io,
            timers,
            events,
        };
        pool.connection_for(conns, config, ep, fx)
    }

    /// Outlier detection: endpoint `ep` answered `status` (see [`Pool::record_answer`]).
    pub(super) fn record_answer(&mut self, ep: usize, status: u16) {
        if E::ENABLED {
            if let Some(e) = self.pool.endpoint_ref(ep) {
                self.events.answered(e, status);
            }
        }
        let Worker {
            pool,
            config,
            now,
            timers,
            events,
            ..
        } = self;
        pool.record_answer(config, ep, status, *now, timers, events);
    }

    /// Whether a stream waiting for `ep` since `since` waited longer than its connect timeout.
    pub(super) fn waited_too_long(&self, ep: usize, since: Instant) -> bool {
        self.pool.waited_too_long(&self.config, ep, since, self.now)
    }
}
