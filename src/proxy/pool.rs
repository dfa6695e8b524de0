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
//!   to endpoints that remain stay pooled (see [`Shared::reconfigure`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bridge::{self, BridgeId, End, UpstreamSide};
use super::conns::{Conn, Tls, Token};
use super::gateway::{GatewayConfig, IoRequest, Service, Shared};
use super::local::Reason;
use super::upstreams::{ConnectionLife, Endpoint, Upstreams};
use crate::balance::{Balancer, Rng};
use crate::h2::conn::{self, Connection, Role};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::route::{NoRoute, Request};
use crate::tls::session::ClientSession;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often upstream connections are looked at for keepalive.
const KEEPALIVE_SCAN: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection with streams in flight that has been silent this long gets a PING (the keepalive
/// interval, 30 s by default, is for idle ones): with the default 10 s to answer, a backend that
/// froze fails its streams after 15 s rather than 40 s, while a GC pause of a few seconds costs
/// nothing.
const BUSY_PING: Duration = Duration::from_secs(5);

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
    conns: Vec<Vec<Token>>,
    health: Vec<Health>,
    first: Vec<usize>,
    /// This worker's balancer per cluster.
    balancers: Vec<Balancer>,
    /// Connections not answered yet, with their connect deadline.
    connecting: Vec<(Token, Instant)>,
    /// Endpoints in backoff (pool indices).
    down: Vec<usize>,
    /// When upstream connections are next looked at for keepalive.
    next_keepalive: Option<Instant>,
    /// Streams in flight per cluster (its circuit breaker); per endpoint, its balancer counts them.
    in_flight: Vec<usize>,
    /// Streams waiting for room on a connection to their endpoint (pool index), oldest first, with
    /// when they started waiting.
    pub(super) waiting: VecDeque<(BridgeId, usize, Instant)>,
    /// Random bits for the routes' weighted backend split.
    rng: Rng,
    seed: u64,
}

/// The pool index of an endpoint that left the configuration (its connections drain).
const GONE: usize = usize::MAX;

impl Pool {
    fn empty(seed: u64) -> Self {
        Pool {
            conns: Vec::new(),
            health: Vec::new(),
            first: Vec::new(),
            balancers: Vec::new(),
            connecting: Vec::new(),
            down: Vec::new(),
            next_keepalive: None,
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

impl Shared {
    /// Routes a request and picks its endpoint: the route table, then the matched cluster's
    /// balancer. `Err` is the local answer.
    pub(super) fn choose(
        &mut self,
        fields: &FieldList,
        listener: usize,
        peer: SocketAddr,
    ) -> Result<Chosen, Reason> {
        // Fields are borrowed one by one (not the Arc cloned): a clone per stream would be an
        // atomic write to a cache line every worker shares.
        let up = proxy(&self.config).ok_or(Reason::Unavailable)?;
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
        let pool = &mut self.upstream;
        let m = up
            .table
            .route(&req, pool.rng.next_u64())
            .map_err(|nr| match nr {
                NoRoute::NoListener | NoRoute::NoMatch { .. } => Reason::NoRoute,
                NoRoute::NoBackend { .. } => Reason::NoBackend,
            })?;
        let c = m.cluster.0 as usize;
        let (Some(cluster), Some(&first)) = (up.clusters.get(c), pool.first.get(c)) else {
            return Err(Reason::NoBackend);
        };
        if cluster
            .limits
            .in_flight
            .is_some_and(|max| pool.in_flight[c] >= max)
        {
            return Err(Reason::Overflow);
        }
        let picked = pool.balancers[c]
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
    pub(super) fn connection_for(&mut self, ep: usize) -> Option<Token> {
        let (c, i) = self.upstream.locate(ep)?;
        let cluster = proxy(&self.config)?.clusters.get(c)?;
        let per_connection = cluster
            .limits
            .per_connection
            .map_or(usize::MAX, |n| n as usize);
        let (mut opening, mut live) = (false, 0);
        for &t in self.upstream.conns.get(ep)? {
            let Some(Conn { h2, closing, .. }) = self.conns.get(t) else {
                continue;
            };
            let Some(side) = self.conns.get(t).and_then(Conn::upstream_side) else {
                continue;
            };
            if *closing || side.retired {
                continue;
            }
            live += 1;
            if !h2.settings_acked() {
                opening = true;
            } else if h2.can_open_stream() && side.leg.len() < per_connection {
                return Some(t);
            }
        }
        // Retired connections (draining) do not count against the bound.
        if !opening && live < cluster.max_connections {
            let deadline = self.now + cluster.connect_timeout;
            let endpoint = cluster.endpoints.get(i)?.clone();
            self.open_upstream(ep, c, &endpoint, deadline);
        }
        None
    }

    /// Opens a connection to endpoint `ep` (`endpoint`, of cluster `c`).
    fn open_upstream(&mut self, ep: usize, c: usize, endpoint: &Endpoint, deadline: Instant) {
        let tls = match &endpoint.tls {
            Some((config, name)) => match ClientSession::client(config.clone(), name.clone()) {
                Ok(s) => Tls::Client(Box::new(s)),
                Err(_) => return self.endpoint_failed(ep),
            },
            None => Tls::None,
        };
        let cluster = proxy(&self.config).and_then(|up| up.clusters.get(c));
        let settings = cluster
            .and_then(|cl| cl.client_h2.as_ref())
            .unwrap_or(&self.config.client_h2);
        let keepalive = cluster.and_then(|cl| cl.tcp_keepalive);
        // Shared by many clients' streams: a stalled one must not hold the connection's window.
        let settings = conn::Config {
            connection_window_on_receipt: true,
            ..settings.clone()
        };
        let h2 = Connection::new(Role::Client, &settings, self.now);
        let token = self.conns.insert(Conn::upstream(h2, tls, ep, self.now));
        self.upstream.conns[ep].push(token);
        self.upstream.connecting.push((token, deadline));
        self.io
            .push(IoRequest::Connect(token, endpoint.addr, keepalive));
    }

    /// A stream was opened on upstream connection `up`: one that has carried its cluster's
    /// `maxRequestsPerConnection` is drained (GOAWAY, no new streams, closed after the last).
    pub(super) fn stream_opened(&mut self, up: Token) {
        let Some((h2, side)) = self.conns.upstream(up) else {
            return;
        };
        side.opened = side.opened.saturating_add(1);
        let life = self.upstream.locate(side.endpoint).and_then(|(c, _)| {
            proxy(&self.config)?
                .clusters
                .get(c)?
                .limits
                .per_connection_life
        });
        if life.is_some_and(|n| side.opened >= n) {
            side.retired = true;
            h2.go_away(ErrorCode::NO_ERROR, b"max requests per connection");
        }
    }

    /// Upstream connection `token` to endpoint `ep` is gone; `failed` when it never answered.
    pub(super) fn leave_pool(&mut self, token: Token, ep: usize, failed: bool) {
        if let Some(list) = self.upstream.conns.get_mut(ep) {
            list.retain(|&t| t != token);
        }
        if failed {
            self.endpoint_failed(ep);
        }
    }

    /// A connection to `ep` failed before answering: the endpoint leaves its balancer for a while
    /// and the streams waiting for it are balanced again.
    fn endpoint_failed(&mut self, ep: usize) {
        let pool = &mut self.upstream;
        let Some(h) = pool.health.get_mut(ep) else {
            return;
        };
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << h.failures.min(16))
            .min(MAX_BACKOFF);
        h.failures = h.failures.saturating_add(1);
        h.retry_at = Some(self.now + backoff);
        if !pool.down.contains(&ep) {
            pool.down.push(ep);
        }
        if let Some((c, i)) = pool.locate(ep) {
            pool.balancers[c].set_healthy(i, false);
        }
        // Each endpoint tried gets the stream the full connect timeout.
        let mut i = 0;
        while let Some(&(id, at, _)) = self.upstream.waiting.get(i) {
            if at != ep {
                i += 1;
                continue;
            }
            match bridge::rebalance_waiting(self, id) {
                Some(to) => {
                    self.upstream.waiting[i] = (id, to, self.now);
                    i += 1;
                }
                None => {
                    self.upstream.waiting.remove(i);
                }
            }
        }
    }

    /// Whether a stream that has waited for endpoint `ep` since `since` waited too long: longer
    /// than its cluster's connect timeout.
    pub(super) fn waited_too_long(&self, ep: usize, since: Instant) -> bool {
        let timeout = self
            .upstream
            .locate(ep)
            .and_then(|(c, _)| proxy(&self.config)?.clusters.get(c))
            .map_or(Duration::ZERO, |cl| cl.connect_timeout);
        since + timeout <= self.now
    }

    /// Outlier detection: the endpoint `ep` answered with HTTP `status` (a gRPC status mapped to
    /// HTTP, an upstream failure as 502). Enough consecutive errors eject it from this worker's
    /// balancer for the base ejection time × its ejections in a row, unless the cluster already
    /// has its maximum share ejected. A success resets the counts.
    pub(super) fn record_answer(&mut self, ep: usize, status: u16) {
        let now = self.now;
        let pool = &mut self.upstream;
        let Some((c, _)) = pool.locate(ep) else {
            return;
        };
        let Some(o) = proxy(&self.config)
            .and_then(|up| up.clusters.get(c))
            .and_then(|cl| cl.outlier)
        else {
            return;
        };
        let Some(h) = pool.health.get_mut(ep) else {
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
        let first = pool.first[c];
        let n = pool.balancers[c].cluster().endpoints().len();
        let ejected = pool.health[first..first + n]
            .iter()
            .filter(|h| h.ejected_until.is_some_and(|t| t > now))
            .count();
        if ejected * 100 >= n * o.max_ejection_percent as usize
            || (n - ejected).saturating_sub(1) * 100 < n * o.min_health_percent as usize
        {
            return;
        }
        let h = &mut pool.health[ep];
        h.errors_5xx = 0;
        h.errors_gateway = 0;
        h.ejections = h.ejections.saturating_add(1);
        let time = o
            .base_ejection
            .saturating_mul(h.ejections)
            .min(MAX_EJECTION);
        h.ejected_until = Some(now + time);
        pool.balancers[c].set_healthy(ep - first, false);
        if !pool.down.contains(&ep) {
            pool.down.push(ep);
        }
    }

    /// Per loop turn: connections that answered mark their endpoint working; those past their
    /// connect deadline are closed (and count as failures); endpoints whose backoff is over go back
    /// into their balancers.
    pub(super) fn check_upstreams(&mut self) {
        let now = self.now;
        let mut expired = Vec::new();
        let mut answered = Vec::new();
        self.upstream.connecting.retain(|&(t, deadline)| {
            let Some(conn) = self.conns.get(t) else {
                return false;
            };
            let Some(side) = conn.upstream_side() else {
                return false;
            };
            if conn.h2.settings_acked() {
                answered.push(side.endpoint);
                return false;
            }
            if deadline <= now {
                expired.push(t);
                return false;
            }
            true
        });
        for ep in answered {
            if let Some(h) = self.upstream.health.get_mut(ep) {
                h.failures = 0;
            }
        }
        for t in expired {
            if let Some(c) = self.conns.take(t) {
                self.retire(t, c);
            }
        }
        if self.upstream.next_keepalive.is_none_or(|at| at <= now) {
            self.upstream.next_keepalive = Some(now + KEEPALIVE_SCAN);
            self.keepalive();
        }
        if self.upstream.down.is_empty() {
            return;
        }
        let config = self.config.clone();
        let pool = &mut self.upstream;
        let mut down = std::mem::take(&mut pool.down);
        down.retain(|&ep| {
            let Some(h) = pool.health.get_mut(ep) else {
                return false;
            };
            if h.is_out(now) {
                return true;
            }
            h.retry_at = None;
            h.ejected_until = None;
            if let Some((c, i)) = pool.locate(ep) {
                let unready = proxy(&config)
                    .and_then(|up| up.clusters.get(c))
                    .is_some_and(|cl| cl.unready.contains(&i));
                pool.balancers[c].set_healthy(i, !unready);
            }
            false
        });
        pool.down = down;
    }

    /// PING keepalive: an answered connection quiet for its cluster's interval (or [`BUSY_PING`]
    /// with streams in flight) gets a PING; one whose PING stays unanswered for the timeout is dead
    /// and closed (its streams get 502 / gRPC 14, or a reset once their response started) rather
    /// than left hanging. Connections past their cluster's `ConnectionLife` are drained: GOAWAY, no
    /// new streams, closed after the last one (at once when idle).
    fn keepalive(&mut self) {
        let config = self.config.clone();
        let Some(up) = proxy(&config) else {
            return;
        };
        let now = self.now;
        let mut dead = Vec::new();
        for (c, cluster) in up.clusters.iter().enumerate() {
            let (interval, timeout) = cluster.keepalive;
            let life = cluster.life;
            let first = self.upstream.first[c];
            for ep in first..first + cluster.endpoints.len() {
                for &t in &self.upstream.conns[ep] {
                    let Some((h2, side)) = self.conns.peek_mut(t).and_then(Conn::upstream_parts)
                    else {
                        continue;
                    };
                    if !h2.settings_acked() {
                        continue;
                    }
                    if !side.retired && past_life(side, &life, now) {
                        side.retired = true;
                        h2.go_away(ErrorCode::NO_ERROR, b"connection life over");
                        self.conns.get_mut(t);
                        continue;
                    }
                    // Streams waiting for their answers: a dead peer is found sooner.
                    let quiet = if side.leg.is_empty() {
                        interval
                    } else {
                        interval.min(BUSY_PING)
                    };
                    match side.ping_sent {
                        Some(sent) if sent + timeout <= now => dead.push(t),
                        Some(_) => {}
                        None if side.last_rx + quiet <= now => {
                            h2.send_ping(*b"h2edgeka");
                            side.ping_sent = Some(now);
                            self.conns.get_mut(t);
                        }
                        None => {}
                    }
                }
            }
        }
        for t in dead {
            if let Some(c) = self.conns.take(t) {
                self.retire(t, c);
            }
        }
    }

    /// Takes up a reloaded configuration. Listeners stay (their TLS and HTTP/2 settings apply to
    /// new connections, as do the clusters' HTTP/2 settings); every stream in flight finishes where
    /// it is. Balancers of clusters that keep their name carry over their state; connections (and
    /// connect health) of endpoints that remain (same cluster name, same address) stay; connections
    /// to endpoints that left get a GOAWAY, take no new stream, and close once their last stream
    /// ends. Streams waiting for an endpoint that left are answered 503 / gRPC 14.
    pub(super) fn reconfigure(&mut self, config: Arc<GatewayConfig>) {
        let (Some(old), Some(new)) = (proxy(&self.config).cloned(), proxy(&config).cloned()) else {
            self.upstream = Pool::new(&config, self.upstream.seed);
            self.config = config;
            return;
        };
        let seed = self.upstream.seed;
        let mut next = Pool {
            rng: self.upstream.rng.clone(),
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
                .and_then(|o| self.upstream.balancers.get(o));
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
        let old_pool = std::mem::replace(&mut self.upstream, next);
        for (ep, tokens) in old_pool.conns.into_iter().enumerate() {
            let to = moved.get(ep).copied().flatten();
            if let (Some(n), Some(h)) = (to, old_pool.health.get(ep)) {
                self.upstream.health[n] = *h;
                if h.retry_at.is_some() || h.ejected_until.is_some() {
                    self.upstream.down.push(n);
                    if let Some((c, i)) = self.upstream.locate(n) {
                        self.upstream.balancers[c].set_healthy(i, false);
                    }
                }
            }
            for t in tokens {
                let Some((h2, side)) = self.conns.get_mut(t).and_then(Conn::upstream_parts) else {
                    continue;
                };
                match to {
                    Some(n) => {
                        side.endpoint = n;
                        self.upstream.conns[n].push(t);
                    }
                    None => {
                        side.endpoint = GONE;
                        side.retired = true;
                        h2.go_away(ErrorCode::NO_ERROR, b"endpoint removed");
                    }
                }
            }
        }
        self.bridges.renumber_endpoints(&moved, GONE);
        self.upstream.connecting = old_pool.connecting;
        self.config = config;
        for (id, ep, since) in old_pool.waiting {
            match moved.get(ep).copied().flatten() {
                Some(n) => self.upstream.waiting.push_back((id, n, since)),
                None => bridge::settle(self, None, id, End::Unplaced(Reason::Unavailable)),
            }
        }
    }
}

/// Whether upstream connection `side` has lived past `life` (noting when it fell idle).
fn past_life(side: &mut UpstreamSide, life: &ConnectionLife, now: Instant) -> bool {
    if life.max_duration.is_some_and(|d| side.born + d <= now) {
        return true;
    }
    let Some(timeout) = life.idle_timeout else {
        return false;
    };
    if !side.leg.is_empty() {
        side.idle = None;
        return false;
    }
    match side.idle {
        Some((since, opened)) if opened == side.opened => since + timeout <= now,
        _ => {
            side.idle = Some((now, side.opened));
            false
        }
    }
}
