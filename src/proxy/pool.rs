//! One worker's upstream side: which endpoint a stream goes to (the route table, then the matched
//! cluster's balancer), the connections to each endpoint, and each endpoint's connect health.
//!
//! - A stream is opened only on a connection the upstream has answered (its SETTINGS acknowledged
//!   ours), so a connect or handshake failure never loses a stream: the streams waiting for that
//!   endpoint are balanced again over the others.
//! - An endpoint whose connection fails before answering (refused, reset, TLS or identity failure,
//!   no answer within the cluster's connect timeout) leaves its balancer for a backoff that doubles
//!   per failure (100 ms up to 5 s) and resets once a connection to it works.
//! - On reload, balancers of clusters that keep their name carry their state over, and connections
//!   to endpoints that remain stay pooled (see [`Pool::reconfigure`]).
//! - In-flight counts are kept as streams open and close: per endpoint in its balancer (least
//!   request), per cluster for its circuit breaker.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conns::{Conn, ConnTable, IoRequest, Tls};
use super::events::{EndpointRef, Events};
use super::ids::ConnId;
use super::local::Reason;
use super::settings::{GatewayConfig, Service};
use super::streams::BridgeId;
use super::timers::{Timer, Timers};
use super::upstreams::{ConnectionLife, Upstreams};
use crate::balance::{Balancer, Rng};
use crate::h2::conn::{self, Connection, Role};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::route::{NoRoute, Request};
use crate::tls::session::ClientSession;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection with streams in flight that has been silent this long gets a PING (the keepalive
/// interval, 30 s by default, is for idle ones): with the default 10 s to answer, a backend that
/// froze fails its streams after 15 s rather than 40 s, while a GC pause of a few seconds costs
/// nothing.
pub(super) const BUSY_PING: Duration = Duration::from_secs(5);

/// Connect and answer health of one endpoint.
#[derive(Clone, Copy, Debug, Default)]
struct Health {
    /// Connect failures since a connection to it last worked.
    failures: u32,
    /// Out of its balancer until then (connect backoff).
    retry_at: Option<Instant>,
    /// Consecutive 5xx answers, and of them 502/503/504 (outlier detection).
    errors_5xx: u32,
    errors_gateway: u32,
    /// Ejections in a row, and until when the current one lasts.
    ejections: u32,
    ejected_until: Option<Instant>,
    /// Out of its balancer for one of the above (until its `Reinstate` timer finds both over).
    down: bool,
}

impl Health {
    /// Whether the endpoint is out of its balancer at `now`.
    fn is_out(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| t > now) || self.ejected_until.is_some_and(|t| t > now)
    }
}

/// The longest ejection, as Envoy's default `max_ejection_time`.
const MAX_EJECTION: Duration = Duration::from_secs(300);

/// The worker's endpoints, indexed by pool index: endpoint `i` of cluster `c` is `first[c] + i`.
pub(super) struct Pool {
    conns: Vec<Vec<ConnId>>,
    health: Vec<Health>,
    first: Vec<usize>,
    /// This worker's balancer per cluster.
    balancers: Vec<Balancer>,
    /// Streams in flight per cluster (its circuit breaker); per endpoint, its balancer counts them.
    in_flight: Vec<usize>,
    /// Streams waiting for room on a connection to their endpoint, oldest first.
    pub(super) waiting: VecDeque<Waiting>,
    /// Random bits for the routes' weighted backend split.
    rng: Rng,
    seed: u64,
}

/// Streams waiting for room on an upstream connection, per worker.
pub(super) const MAX_WAITING: usize = 4096;

/// The pool index of an endpoint that left the configuration (its connections drain).
pub(super) const GONE: usize = usize::MAX;

/// What opening an upstream connection does besides: asks the runtime to connect, arms its connect
/// deadline, reports a failure.
pub(super) struct Effects<'a, E> {
    pub(super) now: Instant,
    pub(super) io: &'a mut Vec<IoRequest>,
    pub(super) timers: &'a mut Timers,
    pub(super) events: &'a mut E,
}

/// A stream waiting for room on a connection to its endpoint.
#[derive(Clone, Copy, Debug)]
pub(super) struct Waiting {
    pub(super) id: BridgeId,
    /// Its endpoint (a pool index); `None` once that failed: it is balanced again.
    pub(super) ep: Option<usize>,
    /// Since when it waits for this endpoint.
    pub(super) since: Instant,
}

impl Pool {
    fn empty(seed: u64) -> Self {
        Pool {
            conns: Vec::new(),
            health: Vec::new(),
            first: Vec::new(),
            balancers: Vec::new(),
            in_flight: Vec::new(),
            waiting: VecDeque::new(),
            rng: Rng::new(seed),
            seed,
        }
    }

    pub(super) fn new(config: &GatewayConfig, seed: u64) -> Self {
        let mut pool = Pool::empty(seed);
        if let Service::Proxy(up) = &config.service {
            for (c, cluster) in up.clusters.iter().enumerate() {
                let mut b = Balancer::new(cluster.balance.clone(), seed ^ c as u64);
                for &e in &cluster.unready {
                    b.set_healthy(e, false);
                }
                pool.add_cluster(b, cluster.endpoints.len());
            }
        }
        pool
    }

    fn add_cluster(&mut self, balancer: Balancer, endpoints: usize) {
        self.first.push(self.conns.len());
        self.in_flight
            .push((0..endpoints).map(|i| balancer.in_flight(i) as usize).sum());
        self.balancers.push(balancer);
        self.conns.resize(self.conns.len() + endpoints, Vec::new());
        self.health
            .resize(self.health.len() + endpoints, Health::default());
    }

    /// The cluster and the index within it of pool endpoint `ep`.
    fn locate(&self, ep: usize) -> Option<(usize, usize)> {
        if ep >= self.health.len() {
            return None;
        }
        // Clusters without endpoints share their `first` with the next one: take the last match.
        let c = self.first.partition_point(|&f| f <= ep).checked_sub(1)?;
        Some((c, ep - self.first[c]))
    }

    /// Pool endpoint `ep` as the configuration names it (for [`Events`]).
    pub(super) fn endpoint_ref(&self, ep: usize) -> Option<EndpointRef> {
        let (cluster, endpoint) = self.locate(ep)?;
        Some(EndpointRef { cluster, endpoint })
    }

    /// A stream was opened on a connection to endpoint `ep`.
    pub(super) fn stream_opened(&mut self, ep: usize) {
        if let Some((c, i)) = self.locate(ep) {
            let b = &mut self.balancers[c];
            b.set_in_flight(i, b.in_flight(i).saturating_add(1));
            self.in_flight[c] += 1;
        }
    }

    /// A stream on a connection to endpoint `ep` ended (or left it to be sent elsewhere).
    pub(super) fn stream_closed(&mut self, ep: usize) {
        if let Some((c, i)) = self.locate(ep) {
            let b = &mut self.balancers[c];
            b.set_in_flight(i, b.in_flight(i).saturating_sub(1));
            self.in_flight[c] = self.in_flight[c].saturating_sub(1);
        }
    }
}

/// Where a request goes.
pub(super) struct Chosen {
    /// A pool index.
    pub(super) endpoint: usize,
    /// The `Set-Cookie` value a cookie-hash policy wants on the response.
    pub(super) set_cookie: Option<Vec<u8>>,
    /// The matched rule's timeout.
    pub(super) timeout: Option<Duration>,
}

fn proxy(config: &GatewayConfig) -> Option<&Arc<Upstreams>> {
    match &config.service {
        Service::Proxy(up) => Some(up),
        _ => None,
    }
}

impl Pool {
    /// Routes a request and picks its endpoint: the route table, then the matched cluster's
    /// balancer. `Err` is the local answer.
    pub(super) fn choose(
        &mut self,
        config: &GatewayConfig,
        fields: &FieldList,
        listener: usize,
        peer: SocketAddr,
    ) -> Result<Chosen, Reason> {
        // Fields are borrowed one by one (not the Arc cloned): a clone per stream would be an
        // atomic write to a cache line every worker shares.
        let up = proxy(config).ok_or(Reason::Unavailable)?;
        let authority = fields
            .authority()
            .or_else(|| fields.get(b"host"))
            .unwrap_or_default();
        let mut req = Request::new(
            authority,
            fields.path().unwrap_or_default(),
            fields.method().unwrap_or_default(),
            fields,
        )
        .with_source(peer);
        req.port = up.port(listener);
        let m = up
            .table
            .route(&req, self.rng.next_u64())
            .map_err(|nr| match nr {
                NoRoute::NoListener | NoRoute::NoMatch { .. } => Reason::NoRoute,
                NoRoute::NoBackend { .. } => Reason::NoBackend,
            })?;
        let c = m.cluster.0 as usize;
        let (Some(cluster), Some(&first)) = (up.clusters.get(c), self.first.get(c)) else {
            return Err(Reason::NoBackend);
        };
        if cluster
            .limits
            .in_flight
            .is_some_and(|max| self.in_flight[c] >= max)
        {
            return Err(Reason::Overflow);
        }
        let picked = self.balancers[c]
            .pick(&req)
            .ok_or(Reason::NoHealthyUpstream)?;
        let cookie = picked.set_cookie.map(|sc| {
            let mut v = Vec::new();
            sc.write_header_value(&mut v);
            v
        });
        Ok(Chosen {
            endpoint: first + picked.endpoint,
            set_cookie: cookie,
            timeout: up.timeout(&m),
        })
    }

    /// An answered connection to endpoint `ep` with room for another stream. `None` means wait:
    /// a connection to it is being opened (one is started here if none is, up to the cluster's
    /// per-endpoint bound), or all are full.
    pub(super) fn connection_for(
        &mut self,
        conns: &mut ConnTable,
        config: &GatewayConfig,
        ep: usize,
        fx: Effects<'_, impl Events>,
    ) -> Option<ConnId> {
        let Effects {
            now,
            io,
            timers,
            events,
        } = fx;
        let (c, i) = self.locate(ep)?;
        let cluster = proxy(config)?.clusters.get(c)?;
        let per_connection = cluster
            .limits
            .per_connection
            .map_or(usize::MAX, |n| n as usize);
        let (mut opening, mut live) = (false, 0);
        for &t in self.conns.get(ep)? {
            let Some(conn) = conns.get(t) else {
                continue;
            };
            let Some(side) = conn.upstream_side() else {
                continue;
            };
            if conn.closing || side.retired {
                continue;
            }
            live += 1;
            if !conn.h2.settings_acked() {
                opening = true;
            } else if conn.h2.can_open_stream() && side.leg.len() < per_connection {
                return Some(t);
            }
        }
        // Retired connections (draining) do not count against the bound.
        if !opening && live < cluster.max_connections {
            let deadline = now + cluster.connect_timeout;
            let endpoint = cluster.endpoints.get(i)?;
            let settings = cluster.client_h2.as_ref().unwrap_or(&config.client_h2);
            let keepalive = cluster.tcp_keepalive;
            let tls = match &endpoint.tls {
                Some((config, name)) => match ClientSession::client(config.clone(), name.clone()) {
                    Ok(s) => Tls::Client(Box::new(s)),
                    Err(_) => {
                        self.endpoint_failed(ep, now, timers, events);
                        return None;
                    }
                },
                None => Tls::None,
            };
            // Shared by many clients' streams: a stalled one must not hold the connection's
            // window.
            let settings = conn::Config {
                connection_window_on_receipt: true,
                ..settings.clone()
            };
            let h2 = Connection::new(Role::Client, &settings, now);
            let id = conns.insert(Conn::upstream(h2, tls, ep, now));
            self.conns[ep].push(id);
            timers.arm(deadline, Timer::Connect(id));
            io.push(IoRequest::Connect(id.token(), endpoint.addr, keepalive));
        }
        None
    }

    /// A stream was opened on upstream connection `up`: one that has carried its cluster's
    /// `maxRequestsPerConnection` is drained (GOAWAY, no new streams, closed after the last).
    pub(super) fn connection_used(
        &self,
        conns: &mut ConnTable,
        config: &GatewayConfig,
        up: ConnId,
    ) {
        let Some((h2, side)) = conns.upstream(up) else {
            return;
        };
        side.opened = side.opened.saturating_add(1);
        let life = self
            .locate(side.endpoint)
            .and_then(|(c, _)| proxy(config)?.clusters.get(c)?.limits.per_connection_life);
        if life.is_some_and(|n| side.opened >= n) {
            side.retired = true;
            h2.go_away(ErrorCode::NO_ERROR, b"max requests per connection");
        }
    }

    /// Upstream connection `id` to endpoint `ep` is gone; `failed` when it never answered.
    pub(super) fn leave(
        &mut self,
        id: ConnId,
        ep: usize,
        failed: bool,
        now: Instant,
        timers: &mut Timers,
        events: &mut impl Events,
    ) {
        if let Some(list) = self.conns.get_mut(ep) {
            list.retain(|&t| t != id);
        }
        if failed {
            self.endpoint_failed(ep, now, timers, events);
        }
    }

    /// A connection to `ep` answered: the endpoint works, its next failure backs off from the
    /// start.
    pub(super) fn answered(&mut self, ep: usize) {
        if let Some(h) = self.health.get_mut(ep) {
            h.failures = 0;
        }
    }

    /// A connection to `ep` failed before answering: the endpoint leaves its balancer for a while
    /// and the streams waiting for it are balanced again.
    fn endpoint_failed(
        &mut self,
        ep: usize,
        now: Instant,
        timers: &mut Timers,
        events: &mut impl Events,
    ) {
        if let Some(e) = self.endpoint_ref(ep) {
            events.upstream_failed(e);
        }
        let Some(h) = self.health.get_mut(ep) else {
            return;
        };
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << h.failures.min(16))
            .min(MAX_BACKOFF);
        h.failures = h.failures.saturating_add(1);
        h.retry_at = Some(now + backoff);
        h.down = true;
        timers.arm(now + backoff, Timer::Reinstate(ep));
        if let Some((c, i)) = self.locate(ep) {
            self.balancers[c].set_healthy(i, false);
        }
        // Each endpoint tried gets the stream the full connect timeout.
        for w in self.waiting.iter_mut().filter(|w| w.ep == Some(ep)) {
            w.ep = None;
            w.since = now;
        }
    }

    /// Whether a stream that has waited for endpoint `ep` since `since` waited too long: longer
    /// than its cluster's connect timeout.
    pub(super) fn waited_too_long(
        &self,
        config: &GatewayConfig,
        ep: usize,
        since: Instant,
        now: Instant,
    ) -> bool {
        let timeout = self
            .locate(ep)
            .and_then(|(c, _)| proxy(config)?.clusters.get(c))
            .map_or(Duration::ZERO, |cl| cl.connect_timeout);
        since + timeout <= now
    }

    /// Outlier detection: the endpoint `ep` answered with HTTP `status` (a gRPC status mapped to
    /// HTTP, an upstream failure as 502). Enough consecutive errors eject it from this worker's
    /// balancer for the base ejection time × its ejections in a row, unless the cluster already
    /// has its maximum share ejected. A success resets the counts.
    pub(super) fn record_answer(
        &mut self,
        config: &GatewayConfig,
        ep: usize,
        status: u16,
        now: Instant,
        timers: &mut Timers,
        events: &mut impl Events,
    ) {
        let Some((c, _)) = self.locate(ep) else {
            return;
        };
        let Some(o) = proxy(config)
            .and_then(|up| up.clusters.get(c))
            .and_then(|cl| cl.outlier)
        else {
            return;
        };
        let Some(h) = self.health.get_mut(ep) else {
            return;
        };
        if status < 500 {
            h.errors_5xx = 0;
            h.errors_gateway = 0;
            if h.ejected_until.is_none() {
                h.ejections = 0;
            }
            return;
        }
        h.errors_5xx += 1;
        if matches!(status, 502..=504) {
            h.errors_gateway += 1;
        } else {
            h.errors_gateway = 0;
        }
        let trips = (o.consecutive_5xx > 0 && h.errors_5xx >= o.consecutive_5xx)
            || (o.consecutive_gateway > 0 && h.errors_gateway >= o.consecutive_gateway);
        if !trips {
            return;
        }
        let first = self.first[c];
        let n = self.balancers[c].cluster().endpoints().len();
        let ejected = self.health[first..first + n]
            .iter()
            .filter(|h| h.ejected_until.is_some_and(|t| t > now))
            .count();
        if ejected * 100 >= n * o.max_ejection_percent as usize
            || (n - ejected).saturating_sub(1) * 100 < n * o.min_health_percent as usize
        {
            return;
        }
        let h = &mut self.health[ep];
        h.errors_5xx = 0;
        h.errors_gateway = 0;
        h.ejections = h.ejections.saturating_add(1);
        let time = o
            .base_ejection
            .saturating_mul(h.ejections)
            .min(MAX_EJECTION);
        h.ejected_until = Some(now + time);
        h.down = true;
        self.balancers[c].set_healthy(ep - first, false);
        timers.arm(now + time, Timer::Reinstate(ep));
        events.ejected(
            EndpointRef {
                cluster: c,
                endpoint: ep - first,
            },
            now + time,
        );
    }

    /// Endpoint `ep`'s `Reinstate` timer fired: once its backoff and ejection are both over, it
    /// goes back into its balancer (unless the configuration marks it not ready).
    pub(super) fn reinstate(&mut self, config: &GatewayConfig, ep: usize, now: Instant) {
        let Some(h) = self.health.get_mut(ep) else {
            return;
        };
        // Out for longer since (a later failure armed its own timer), or back already.
        if !h.down || h.is_out(now) {
            return;
        }
        h.down = false;
        h.retry_at = None;
        h.ejected_until = None;
        if let Some((c, i)) = self.locate(ep) {
            let unready = proxy(config)
                .and_then(|up| up.clusters.get(c))
                .is_some_and(|cl| cl.unready.contains(&i));
            self.balancers[c].set_healthy(i, !unready);
        }
    }

    /// The life of connections to endpoint `ep` (its cluster's `ConnectionLife`).
    pub(super) fn life(&self, config: &GatewayConfig, ep: usize) -> Option<ConnectionLife> {
        let (c, _) = self.locate(ep)?;
        Some(proxy(config)?.clusters.get(c)?.life)
    }

    /// Upstream connection `id`'s `Upkeep` timer fired at `now`. A connection past its cluster's
    /// `ConnectionLife` (its age, or its time without a stream) is drained: GOAWAY, no new streams,
    /// closed after the last one. A quiet one gets a PING: after the cluster's keepalive interval,
    /// or [`BUSY_PING`] with streams in flight. One whose PING stays unanswered for the keepalive
    /// timeout is dead: true, to be closed (its streams get 502 / gRPC 14, or a reset once their
    /// response started) rather than left hanging. Otherwise the timer is armed for the next look
    /// (not for connections gone, not answered yet, or of an endpoint that left).
    pub(super) fn upkeep(
        &self,
        conns: &mut ConnTable,
        config: &GatewayConfig,
        id: ConnId,
        now: Instant,
        timers: &mut Timers,
    ) -> bool {
        self.look_after(conns, config, id, now, timers) == Some(true)
    }

    fn look_after(
        &self,
        conns: &mut ConnTable,
        config: &GatewayConfig,
        id: ConnId,
        now: Instant,
        timers: &mut Timers,
    ) -> Option<bool> {
        let ep = conns.get(id)?.upstream_side()?.endpoint;
        let (c, _) = self.locate(ep)?;
        let cluster = proxy(config)?.clusters.get(c)?;
        let (interval, timeout) = cluster.keepalive;
        let life = cluster.life;
        let (h2, side) = conns.get_mut(id)?.upstream_parts()?;
        if !side.answered || !side.upkeep_due(now) {
            return None;
        }
        let age_due = life.max_duration.map(|d| side.born + d);
        let idle_due = life.idle_timeout.zip(side.idle).map(|(t, since)| since + t);
        let mut next = None;
        if !side.retired {
            if age_due.is_some_and(|t| t <= now) || idle_due.is_some_and(|t| t <= now) {
                side.retired = true;
                h2.go_away(ErrorCode::NO_ERROR, b"connection life over");
            } else {
                next = [age_due, idle_due].into_iter().flatten().min();
            }
        }
        // Streams waiting for their answers: a dead peer is found sooner.
        let quiet = if side.leg.is_empty() {
            interval
        } else {
            interval.min(BUSY_PING)
        };
        let ping_due = match side.ping_sent {
            Some(sent) if sent + timeout <= now => return Some(true),
            Some(sent) => sent + timeout,
            None if side.last_rx + quiet <= now => {
                h2.send_ping(*b"h2edgeka");
                side.ping_sent = Some(now);
                now + timeout
            }
            None => side.last_rx + quiet,
        };
        let at = next.map_or(ping_due, |t: Instant| t.min(ping_due));
        if side.upkeep_at(at) {
            timers.arm(at, Timer::Upkeep(id));
        }
        Some(false)
    }

    /// Takes up a reloaded configuration (`old` was in force until now). Listeners stay (their TLS
    /// and HTTP/2 settings apply to new connections, as do the clusters' HTTP/2 settings); every
    /// stream in flight finishes where it is. Balancers of clusters that keep their name carry over
    /// their state; connections (and connect health) of endpoints that remain (same cluster name,
    /// same address) stay; connections to endpoints that left get a GOAWAY, take no new stream,
    /// and close once their last stream ends. Returns where each old endpoint went (`None`: it
    /// left) and the waiting streams whose endpoint left (to be answered 503 / gRPC 14).
    pub(super) fn reconfigure(
        &mut self,
        conns: &mut ConnTable,
        old: &GatewayConfig,
        new: &GatewayConfig,
        timers: &mut Timers,
    ) -> (Vec<Option<usize>>, Vec<BridgeId>) {
        let (Some(old), Some(new)) = (proxy(old), proxy(new)) else {
            *self = Pool::new(new, self.seed);
            return (Vec::new(), Vec::new());
        };
        let seed = self.seed;
        let mut next = Pool {
            rng: self.rng.clone(),
            ..Pool::empty(seed)
        };
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for (c, cluster) in new.clusters.iter().enumerate() {
            let name = cluster.balance.name();
            for (i, e) in cluster.balance.endpoints().iter().enumerate() {
                index.insert((name, e.id.as_str()), next.conns.len() + i);
            }
            let before = old
                .clusters
                .iter()
                .position(|o| o.balance.name() == name)
                .and_then(|o| self.balancers.get(o));
            let mut b = match before {
                Some(b) => b.carry_over(cluster.balance.clone()),
                None => Balancer::new(cluster.balance.clone(), seed ^ c as u64),
            };
            for &e in &cluster.unready {
                b.set_healthy(e, false);
            }
            next.add_cluster(b, cluster.endpoints.len());
        }
        // Old pool index -> new pool index.
        let moved: Vec<Option<usize>> = old
            .clusters
            .iter()
            .flat_map(|cl| {
                let name = cl.balance.name();
                let index = &index;
                cl.balance
                    .endpoints()
                    .iter()
                    .map(move |e| index.get(&(name, e.id.as_str())).copied())
            })
            .collect();
        let old_pool = std::mem::replace(self, next);
        for (ep, ids) in old_pool.conns.into_iter().enumerate() {
            let to = moved.get(ep).copied().flatten();
            if let (Some(n), Some(h)) = (to, old_pool.health.get(ep)) {
                self.health[n] = *h;
                if h.down {
                    if let Some(at) = h.retry_at.max(h.ejected_until) {
                        timers.arm(at, Timer::Reinstate(n));
                    }
                    if let Some((c, i)) = self.locate(n) {
                        self.balancers[c].set_healthy(i, false);
                    }
                }
            }
            for t in ids {
                let Some((h2, side)) = conns.get_mut(t).and_then(Conn::upstream_parts) else {
                    continue;
                };
                match to {
                    Some(n) => {
                        side.endpoint = n;
                        self.conns[n].push(t);
                    }
                    None => {
                        side.endpoint = GONE;
                        side.retired = true;
                        h2.go_away(ErrorCode::NO_ERROR, b"endpoint removed");
                    }
                }
            }
        }
        let mut lost = Vec::new();
        for w in old_pool.waiting {
            match w.ep.map(|ep| moved.get(ep).copied().flatten()) {
                Some(None) => lost.push(w.id),
                Some(ep) => self.waiting.push_back(Waiting { ep, ..w }),
                None => self.waiting.push_back(w),
            }
        }
        (moved, lost)
    }
}
