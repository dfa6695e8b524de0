//! Where a worker sends the streams it proxies: the route table and the clusters its backends name,
//! each with its balancer input and the endpoints' addresses and TLS settings.
//!
//! Built once per configuration and shared read-only by every worker (in an `Arc`); each worker
//! keeps its own [`Balancer`](crate::balance::Balancer) per cluster and its own connections per
//! endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::client_limits::ClientLimits;
use crate::balance::{self, ClusterSpec, EndpointSpec, PolicySpec, Site};
use crate::h2::conn;
use crate::route::{
    BackendSpec, ClusterId, HttpMatchSpec, HttpRouteSpec, HttpRuleSpec, ListenerSpec, RouteKind,
    RouteMatch, RouteMeta, RouteTable, TableSpec,
};
use crate::runtime::socket::TcpKeepalive;

/// One upstream endpoint: where it is and how to talk to it.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// TLS (with the name used for SNI and, unless the config checks a URI SAN, for verification);
    /// `None` for h2c.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// PING keepalive where the configuration sets none: a quiet connection is checked every 30 s and
/// given 10 s to answer.
pub const DEFAULT_KEEPALIVE: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(10));

/// How long an upstream connection may take to answer where the configuration sets no
/// `connectTimeout` (Istio's default).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Each upstream stream's receive window where the configuration sets none. Upstreams are near (a
/// round trip well under a millisecond inside a cluster), so 256 KiB keeps a stream at full speed,
/// and it bounds what a client that stops reading makes the gateway hold per stream.
pub const UPSTREAM_STREAM_WINDOW: u32 = 256 << 10;

/// The HTTP/2 settings of upstream connections where the configuration sets none: the smaller
/// stream window, and the connection window given back as DATA arrives, so that one client's
/// stalled stream cannot stop the others sharing the connection (the stream windows bound what
/// the gateway holds; see `BufferLimits` for the worker's budget).
pub fn upstream_h2() -> conn::Config {
    conn::Config {
        initial_window_size: UPSTREAM_STREAM_WINDOW,
        connection_window_on_receipt: true,
        ..conn::Config::default()
    }
}

/// The routing and the clusters of one configuration.
pub struct Upstreams {
    pub table: RouteTable,
    /// Indexed by [`ClusterId`]: `clusters[id.0]`.
    pub clusters: Vec<UpstreamCluster>,
    /// Per gateway listener (in `GatewayConfig::listeners` order): the port the route table
    /// selects listeners by; `None` lets every table listener match (one catch-all table).
    pub listener_ports: Vec<Option<u16>>,
    /// HTTPRoute rule timeouts, `[route][rule]` as the table numbers them: how long a stream may
    /// take until its response is complete (`None`: no limit).
    pub http_timeouts: Vec<Vec<Option<Duration>>>,
    /// Per gateway listener (in `GatewayConfig::listeners` order): the settings and limits of its
    /// client connections (Gateway annotations); a listener without one uses
    /// `GatewayConfig::server_h2`.
    pub server_h2: Vec<conn::Config>,
    /// Per gateway listener (same order): the bounds on its client connections; a listener
    /// without one has `ClientLimits::DEFAULT`.
    pub clients: Vec<ClientLimits>,
}

/// One cluster: its balancer tables and, in the same order, how to reach each endpoint.
pub struct UpstreamCluster {
    pub balance: Arc<balance::Tables>,
    pub endpoints: Vec<Endpoint>,
    /// Endpoints that start unhealthy (EndpointSlice `ready: false`).
    pub unready: Vec<usize>,
    /// Upstream connections per endpoint a worker may open.
    pub max_connections: usize,
    /// How long a connection may take to answer (TCP, TLS and the HTTP/2 SETTINGS exchange), and
    /// how long a stream may wait for a connection with room.
    pub connect_timeout: Duration,
    /// HTTP/2 PING keepalive `(interval, timeout)`: a connection quiet for `interval` gets a PING;
    /// one unanswered for `timeout` is closed.
    pub keepalive: (Duration, Duration),
    /// Passive health (DestinationRule `outlierDetection`); `None`: never eject.
    pub outlier: Option<Outlier>,
    /// Circuit breaking (DestinationRule `connectionPool.http`).
    pub limits: StreamLimits,
    /// When a worker drains or closes a connection of its own accord.
    pub life: ConnectionLife,
    /// TCP keepalive for its connections (`None`: off).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Settings and limits of the connections to its endpoints (DestinationRule annotations);
    /// `None`: `GatewayConfig::client_h2`.
    pub client_h2: Option<conn::Config>,
}

/// Bounds on the streams a worker sends to one cluster (`None`: no bound of its own).
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamLimits {
    /// Streams open at once on one upstream connection (`maxConcurrentStreams`; the upstream's
    /// own SETTINGS limit applies too).
    pub per_connection: Option<u32>,
    /// Streams one connection carries in its life (`maxRequestsPerConnection`); then it is
    /// drained and replaced.
    pub per_connection_life: Option<u32>,
    /// Streams open at once to the whole cluster from this worker (`http2MaxRequests` shared
    /// out over the workers); more are answered 503 / gRPC 14 at once.
    pub in_flight: Option<usize>,
}

/// When a worker drains or closes an upstream connection of its own accord (`None`: never).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionLife {
    /// Drained (GOAWAY, no new streams, closed after its last) and replaced this long after it
    /// opened (`connectionPool.tcp.maxConnectionDuration`).
    pub max_duration: Option<Duration>,
    /// Closed after this long without a stream (`connectionPool.http.idleTimeout`).
    pub idle_timeout: Option<Duration>,
}

/// When an endpoint is ejected for the answers it gives, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Outlier {
    /// Consecutive 5xx answers (gRPC statuses mapped to HTTP as Envoy does) that eject; 0: off.
    pub consecutive_5xx: u32,
    /// Consecutive 502/503/504 answers (and upstream failures) that eject; 0: off.
    pub consecutive_gateway: u32,
    /// Ejection time = this × the times the endpoint was ejected in a row (at most 300 s).
    pub base_ejection: Duration,
    /// No ejection while this share of the cluster's endpoints (%) is already ejected.
    pub max_ejection_percent: u32,
    /// No ejection that would leave fewer than this share of its endpoints (%) in the balancer.
    pub min_health_percent: u32,
}

impl Upstreams {
    /// Every request, whatever its host and path, goes to `endpoints`, round robin per stream: the
    /// demo's setup and the tests'.
    pub fn round_robin(endpoints: Vec<Endpoint>, max_connections: usize) -> Result<Self, String> {
        let spec = TableSpec {
            listeners: vec![ListenerSpec::new("local/any", "any", 0, None)],
            http_routes: vec![HttpRouteSpec::new(
                RouteMeta::new("local", "all", 0).parent("local/any"),
                vec![HttpRuleSpec::new(
                    vec![HttpMatchSpec::prefix("/")],
                    vec![BackendSpec::new("all", ClusterId(0), 1)],
                )],
            )],
            grpc_routes: Vec::new(),
        };
        let table = RouteTable::build(&spec).map_err(|e| e.to_string())?;
        let cluster = ClusterSpec::new(
            "all",
            PolicySpec::RoundRobin,
            endpoints
                .iter()
                .map(|e| EndpointSpec::new(e.addr.to_string(), 1))
                .collect(),
        );
        let balance =
            balance::Tables::build(&cluster, &Site::default()).map_err(|e| e.to_string())?;
        Ok(Upstreams {
            table,
            clusters: vec![UpstreamCluster {
                balance: Arc::new(balance),
                endpoints,
                unready: Vec::new(),
                max_connections,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                keepalive: DEFAULT_KEEPALIVE,
                outlier: None,
                limits: StreamLimits::default(),
                life: ConnectionLife::default(),
                tcp_keepalive: None,
                client_h2: None,
            }],
            listener_ports: Vec::new(),
            http_timeouts: Vec::new(),
            server_h2: Vec::new(),
            clients: Vec::new(),
        })
    }

    /// The timeout of the rule a request matched.
    pub fn timeout(&self, m: &RouteMatch) -> Option<Duration> {
        match m.kind {
            RouteKind::Http => self
                .http_timeouts
                .get(m.route)?
                .get(m.rule)
                .copied()
                .flatten(),
            RouteKind::Grpc => None,
        }
    }

    /// The port to route a stream from gateway listener `listener` by.
    pub fn port(&self, listener: usize) -> Option<u16> {
        self.listener_ports.get(listener).copied().flatten()
    }
}
