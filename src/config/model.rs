//! The validated, immutable configuration the data plane reads.
//!
//! Everything here has been checked: hostnames parse, regexes compile, references resolve,
//! certificates and keys are PEM that parses, every backend has endpoints or a DNS name. Nothing
//! in this module refers back to YAML; [`Source`] keeps the file and line of each object only so
//! that `h2edge route` can say where a decision came from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use super::problem::Problem;
use crate::balance::{HashAlgorithm, Locality};
use crate::route::ClusterId;
use crate::runtime::socket::TcpKeepalive;

/// The whole configuration: gateways with their listeners, routes attached to them, and the
/// clusters the routes send to.
#[derive(Clone, Debug)]
pub struct Config {
    pub gateways: Vec<Gateway>,
    pub http_routes: Vec<HttpRoute>,
    pub grpc_routes: Vec<GrpcRoute>,
    /// One per (Service, port) that some route sends to; [`ClusterId`] indexes this list.
    pub clusters: Vec<Cluster>,
    /// The files that were read, in order.
    pub files: Vec<PathBuf>,
    /// Files the configuration names (certificates, keys, CA bundles), as read: watched for
    /// changes like the configuration itself.
    pub referenced_files: Vec<PathBuf>,
    /// Debug notes: fields that were accepted and ignored, deprecated spellings.
    pub notes: Vec<Problem>,
}

impl Config {
    pub fn cluster(&self, id: ClusterId) -> &Cluster {
        &self.clusters[id.index()]
    }

    /// The cluster of `service`:`port` in `namespace`, if some route sends to it.
    pub fn find_cluster(&self, namespace: &str, service: &str, port: u16) -> Option<ClusterId> {
        self.clusters
            .iter()
            .position(|c| c.namespace == namespace && c.service == service && c.port == port)
            .map(ClusterId::from_index)
    }

    /// Every listener of every gateway, with its address.
    pub fn listeners(&self) -> impl Iterator<Item = (ListenerRef, &Listener)> {
        self.gateways.iter().enumerate().flat_map(|(g, gw)| {
            gw.listeners.iter().enumerate().map(move |(l, listener)| {
                (
                    ListenerRef {
                        gateway: g,
                        listener: l,
                    },
                    listener,
                )
            })
        })
    }

    pub fn listener(&self, r: ListenerRef) -> &Listener {
        &self.gateways[r.gateway].listeners[r.listener]
    }
}

/// Where an object was defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Identity of an object, plus what Gateway API precedence needs ("oldest route first").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub namespace: String,
    pub name: String,
    /// `metadata.creationTimestamp` as written (RFC 3339), when given.
    pub creation_timestamp: Option<String>,
    /// Position of the object in load order (files in the order given, directories sorted by
    /// name, documents in file order). Stands in for age when there is no timestamp.
    pub order: usize,
    pub labels: BTreeMap<String, String>,
    pub source: Source,
}

impl Meta {
    /// `creationTimestamp` as Unix seconds (it was checked to be RFC 3339 at load).
    pub fn created_unix(&self) -> Option<i64> {
        self.creation_timestamp
            .as_deref()
            .and_then(|t| super::syntax::rfc3339_seconds(t).ok())
    }
}

// ---------------------------------------------------------------------------------------------
// Gateways and listeners

#[derive(Clone, Debug)]
pub struct Gateway {
    pub meta: Meta,
    pub listeners: Vec<Listener>,
    /// `spec.tls.backend.clientCertificateRef`: the certificate presented to upstreams.
    pub backend_client_cert: Option<CertKeyPair>,
    /// `spec.tls.frontend`: client-certificate validation on the downstream side.
    pub frontend_validation: FrontendValidation,
    /// Where this gateway runs (annotation `h2edge.io/locality: region/zone/subzone`), for
    /// locality-aware balancing.
    pub locality: Locality,
    /// HTTP/2 windows and output limit of the connections clients open to its listeners.
    pub http2: Http2Settings,
    /// Timeouts and the per-worker bound of those connections.
    pub clients: ClientConnections,
    /// The annotations `h2edge.io/worker-buffer-budget` and `h2edge.io/stream-stall-timeout`.
    pub buffers: BufferSettings,
}

/// What the buffer annotations set; `None`: the built-in default. They apply to the whole process
/// (every worker), so where several Gateways set one, the strictest value holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferSettings {
    /// Body bytes one worker holds for streams whose other leg cannot take them yet.
    pub budget: Option<usize>,
    /// How long waiting bytes may go without moving before their stream is reset.
    pub stall_timeout: Option<Duration>,
}

/// Index of a listener: `config.gateways[gateway].listeners[listener]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerRef {
    pub gateway: usize,
    pub listener: usize,
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    /// `None` matches every host.
    pub hostname: Option<Hostname>,
    pub port: u16,
    pub protocol: Protocol,
    /// Present exactly when `protocol` is HTTPS (TLS mode Terminate).
    pub tls: Option<ListenerTls>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Cleartext: h2c with prior knowledge.
    Http,
    /// TLS terminated here, ALPN h2.
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ListenerTls {
    /// The certificates served (the first one whose names fit the SNI is used by the TLS layer).
    pub certificates: Vec<CertKeyPair>,
}

/// A certificate chain and its private key, both PEM (already checked to parse).
#[derive(Clone, PartialEq, Eq)]
pub struct CertKeyPair {
    /// Where it came from, e.g. `Secret/default/edge-cert` or a file path.
    pub source: String,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The Secret's `ca.crt`, when it has one (used by `ISTIO_MUTUAL` as the mesh root).
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for CertKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("CertKeyPair")
            .field("source", &self.source)
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("has_ca", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default)]
pub struct FrontendValidation {
    pub default: Option<ClientValidation>,
    /// Per-port overrides.
    pub per_port: Vec<(u16, ClientValidation)>,
}

impl FrontendValidation {
    /// The validation that applies to a listener port.
    pub fn for_port(&self, port: u16) -> Option<&ClientValidation> {
        self.per_port
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, v)| v)
            .or(self.default.as_ref())
    }
}

/// Downstream client-certificate validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientValidation {
    /// PEM bundle of the CAs that sign client certificates.
    pub ca_pem: Vec<u8>,
    pub mode: FrontendValidationMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontendValidationMode {
    /// Reject clients without a valid certificate.
    AllowValidOnly,
    /// Accept clients without a certificate (an invalid one is still refused).
    AllowInsecureFallback,
}

/// A Gateway API hostname: exact (`api.example.com`) or wildcard (`*.example.com`), lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    /// Wraps an already validated hostname.
    pub(crate) fn new(s: String) -> Hostname {
        Hostname(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether a request host (lowercase, no port) falls under this hostname. A wildcard matches
    /// one or more labels in front of its suffix, but not the suffix itself.
    pub fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix('*') {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
            None => self.0 == host,
        }
    }

    /// Whether the two hostnames can match a common host (Gateway API listener/route
    /// intersection).
    pub fn intersects(&self, other: &Hostname) -> bool {
        match (self.is_wildcard(), other.is_wildcard()) {
            (false, false) => self.0 == other.0,
            (true, false) => self.matches(&other.0),
            (false, true) => other.matches(&self.0),
            (true, true) => {
                let (a, b) = (&self.0[1..], &other.0[1..]);
                a.ends_with(b) || b.ends_with(a)
            }
        }
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// Where a route attaches: one Gateway, and the listeners of it that accepted the route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentRef {
    /// Index into [`Config::gateways`].
    pub gateway: usize,
    pub section_name: Option<String>,
    pub port: Option<u16>,
    /// The listeners this parentRef attached to (never empty in a valid config).
    pub listeners: Vec<ListenerRef>,
}

#[derive(Clone, Debug)]
pub struct HttpRoute {
    pub meta: Meta,
    pub parents: Vec<ParentRef>,
    /// Empty means "every hostname of the listener".
    pub hostnames: Vec<Hostname>,
    pub rules: Vec<HttpRouteRule>,
}

#[derive(Clone, Debug)]
pub struct HttpRouteRule {
    pub name: Option<String>,
    /// ORed; never empty (a rule without matches gets `PathPrefix /`).
    pub matches: Vec<HttpMatch>,
    /// Empty means: answer 500 (Gateway API: a rule with no backends fails its requests).
    pub backends: Vec<WeightedBackend>,
    pub timeouts: Timeouts,
}

/// The conditions of one match, ANDed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpMatch {
    pub path: PathMatch,
    pub headers: Vec<HeaderMatch>,
    pub query_params: Vec<QueryParamMatch>,
    pub method: Option<Method>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    /// Matches whole path segments: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`. A
    /// trailing `/` in the prefix is ignored.
    Prefix(String),
    RegularExpression(Pattern),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    RegularExpression(Pattern),
}

impl StringMatch {
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(s) => s == value,
            StringMatch::RegularExpression(p) => p.is_match(value),
        }
    }
}

/// A header condition; `name` is lowercase (header names are case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: String,
    pub value: StringMatch,
}

/// A query parameter condition; `name` is case-sensitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryParamMatch {
    pub name: String,
    pub value: StringMatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

impl Method {
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Connect,
        Method::Options,
        Method::Trace,
        Method::Patch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }
}

/// A compiled regular expression and its source. It matches whole values (it is anchored).
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    pub(crate) fn new(source: String, regex: Regex) -> Pattern {
        Pattern { source, regex }
    }

    /// The pattern as written in the configuration.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// A backend of a rule and its share of the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightedBackend {
    pub cluster: ClusterId,
    /// 0..=1,000,000; a weight of 0 receives no traffic.
    pub weight: u32,
}

/// `HTTPRoute.rules[].timeouts`. `None` means no timeout (unset, or `0s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub request: Option<Duration>,
    pub backend_request: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct GrpcRoute {
    pub meta: Meta,
    pub parents: Vec<ParentRef>,
    pub hostnames: Vec<Hostname>,
    pub rules: Vec<GrpcRouteRule>,
}

#[derive(Clone, Debug)]
pub struct GrpcRouteRule {
    pub name: Option<String>,
    /// ORed; empty matches every request.
    pub matches: Vec<GrpcMatch>,
    pub backends: Vec<WeightedBackend>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcMatch {
    /// `None` matches every method.
    pub method: Option<GrpcMethodMatch>,
    pub headers: Vec<HeaderMatch>,
}

/// The service and method of `/package.Service/Method`; at least one of them is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrpcMethodMatch {
    Exact {
        service: Option<String>,
        method: Option<String>,
    },
    RegularExpression {
        service: Option<Pattern>,
        method: Option<Pattern>,
    },
}

// ---------------------------------------------------------------------------------------------
// Clusters, endpoints and traffic policy

/// Where the traffic for one Service port goes, and how.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub namespace: String,
    pub service: String,
    /// The Service port a route named.
    pub port: u16,
    /// `name.namespace.svc.cluster.local`, the name DestinationRule hosts match.
    pub fqdn: String,
    /// The Service port's `appProtocol` (e.g. `kubernetes.io/h2c`), if given.
    pub app_protocol: Option<String>,
    pub endpoints: Endpoints,
    pub policy: TrafficPolicy,
    pub tls: UpstreamTls,
    pub subsets: Vec<Subset>,
    /// The objects that shaped this cluster, e.g. `DestinationRule/product`.
    pub sources: Vec<String>,
    /// HTTP/2 windows and output limit of the connections to its endpoints (its DestinationRule's
    /// annotations).
    pub http2: Http2Settings,
}

impl Cluster {
    /// `namespace/service:port`.
    pub fn name(&self) -> String {
        format!("{}/{}:{}", self.namespace, self.service, self.port)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// From EndpointSlices (never empty).
    Static(Vec<Endpoint>),
    /// A DNS name to re-resolve every `refresh` (a Service of type ExternalName); every address
    /// it resolves to is an endpoint on `port`.
    Dns {
        name: String,
        port: u16,
        refresh: Duration,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub address: EndpointAddress,
    pub port: u16,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
    pub locality: Locality,
    /// The EndpointSlice's labels, plus `topology.kubernetes.io/zone` / `region` and
    /// `topology.istio.io/subzone` from the locality; used by subsets and failoverPriority.
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointAddress {
    Ip(IpAddr),
    /// From an `addressType: FQDN` slice: resolved (and re-resolved) by DNS.
    Dns(String),
}

impl fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointAddress::Ip(ip) => ip.fmt(f),
            EndpointAddress::Dns(name) => f.write_str(name),
        }
    }
}

/// What the annotations `h2edge.io/http2-stream-window`, `h2edge.io/http2-connection-window` and
/// `h2edge.io/max-buffered-output` set for a set of connections; `None`: the built-in default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Http2Settings {
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: each stream's receive window, 65,535..=2^31-1.
    pub stream_window: Option<u32>,
    /// The connection's receive window, 65,535..=2^31-1.
    pub connection_window: Option<u32>,
    /// DATA a connection queues for its peer beyond what the socket has taken.
    pub max_buffered_output: Option<usize>,
}

/// What the annotations `h2edge.io/tls-handshake-timeout`, `h2edge.io/preface-timeout`,
/// `h2edge.io/request-headers-timeout`, `h2edge.io/idle-timeout` and
/// `h2edge.io/max-connections-per-worker` set for a Gateway's client connections; `None`: the
/// built-in default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientConnections {
    pub tls_handshake_timeout: Option<Duration>,
    pub preface_timeout: Option<Duration>,
    pub request_headers_timeout: Option<Duration>,
    /// `Some(ZERO)`: no idle timeout.
    pub idle_timeout: Option<Duration>,
    pub max_connections_per_worker: Option<usize>,
}

/// What DestinationRule says for a cluster (port-level settings already applied).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrafficPolicy {
    pub load_balancer: LoadBalancer,
    pub connection_pool: ConnectionPool,
    /// `None` when not configured (no ejection).
    pub outlier_detection: Option<OutlierDetection>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadBalancer {
    pub policy: LbPolicy,
    pub locality: Option<LocalityLb>,
}

/// The balancing algorithm. The default (no DestinationRule, or `UNSPECIFIED`) is
/// `LEAST_REQUEST`, as in Istio.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LbPolicy {
    RoundRobin,
    #[default]
    LeastRequest,
    Random,
    ConsistentHash(ConsistentHash),
}

impl LbPolicy {
    pub fn name(&self) -> &'static str {
        match self {
            LbPolicy::RoundRobin => "ROUND_ROBIN",
            LbPolicy::LeastRequest => "LEAST_REQUEST",
            LbPolicy::Random => "RANDOM",
            LbPolicy::ConsistentHash(c) => match c.algorithm {
                HashAlgorithm::RingHash { .. } => "consistentHash/ringHash",
                HashAlgorithm::Maglev { .. } => "consistentHash/maglev",
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistentHash {
    pub key: HashKey,
    pub algorithm: HashAlgorithm,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// Lowercase header name.
    Header(String),
    Cookie(HashCookie),
    SourceIp,
    QueryParameter(String),
}

/// Hash on a cookie. As in Istio/Envoy: with a `ttl`, a request without the cookie gets one
/// generated (`Max-Age` = ttl; a zero ttl makes a session cookie); without a `ttl`, no cookie is
/// generated and such requests are balanced as if they had no key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashCookie {
    pub name: String,
    pub path: Option<String>,
    pub ttl: Option<Duration>,
    /// Extra `Set-Cookie` attributes, e.g. `("SameSite", "Strict")`, `("Secure", "")`.
    pub attributes: Vec<(String, String)>,
}

/// `localityLbSetting`: failover by locality or by ordered labels (at most one of the two
/// lists is set). Enabled with neither list: prefer the gateway's own zone, then its region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalityLb {
    pub enabled: bool,
    /// Region failover: when the gateway's region `from` has no healthy endpoints, use `to`.
    pub failover: Vec<LocalityFailover>,
    /// Label keys, most important first; endpoints whose labels agree with the gateway's on a
    /// longer prefix of this list are preferred. A `key=value` entry compares with `value`.
    pub failover_priority: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalityFailover {
    pub from: String,
    pub to: String,
}

/// `connectionPool`. `None` means the Istio default (effectively unlimited), except where a field
/// says which built-in default applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionPool {
    pub max_connections: Option<u32>,
    /// `None`: `DEFAULT_CONNECT_TIMEOUT` (10 s, as Istio).
    pub connect_timeout: Option<Duration>,
    pub tcp_idle_timeout: Option<Duration>,
    pub max_connection_duration: Option<Duration>,
    pub tcp_keepalive: Option<TcpKeepalive>,
    pub http1_max_pending_requests: Option<u32>,
    /// Maximum active requests to the whole cluster.
    pub http2_max_requests: Option<u32>,
    /// 0 or `None`: unlimited.
    pub max_requests_per_connection: Option<u32>,
    pub max_retries: Option<u32>,
    /// Maximum concurrent streams per upstream HTTP/2 connection.
    pub max_concurrent_streams: Option<u32>,
    pub http_idle_timeout: Option<Duration>,
    pub http2_keepalive: Option<Http2Keepalive>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

/// `outlierDetection`, with Istio's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    /// Default 5; 0 disables.
    pub consecutive_5xx_errors: u32,
    /// 502/503/504; default 0 (disabled).
    pub consecutive_gateway_errors: u32,
    pub split_external_local_origin_errors: bool,
    /// Default 5 (used only when the split is on).
    pub consecutive_local_origin_failures: u32,
    /// Default 10s.
    pub interval: Duration,
    /// Default 30s; actual ejection = base × times ejected.
    pub base_ejection_time: Duration,
    /// Default 10.
    pub max_ejection_percent: u32,
    /// Default 0.
    pub min_health_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx_errors: 5,
            consecutive_gateway_errors: 0,
            split_external_local_origin_errors: false,
            consecutive_local_origin_failures: 5,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_percent: 10,
            min_health_percent: 0,
        }
    }
}

/// TLS toward the upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UpstreamTls {
    /// Cleartext h2c.
    #[default]
    Disabled,
    Enabled(ClientTls),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    pub mode: UpstreamTlsMode,
    pub client_cert: ClientCert,
    pub ca: TrustAnchor,
    /// SNI to send; `None` means the cluster's FQDN (or the DNS name for DNS clusters).
    pub sni: Option<String>,
    /// Names the upstream certificate must carry (any one). Empty: the SNI name is checked,
    /// except for `ISTIO_MUTUAL`, where only the chain to the mesh root is checked.
    pub subject_alt_names: Vec<SubjectAltName>,
    /// e.g. `DestinationRule/product` or `BackendTLSPolicy/product-tls`.
    pub source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamTlsMode {
    /// DestinationRule `SIMPLE`.
    Simple,
    /// DestinationRule `MUTUAL` (certificates from files or a Secret).
    Mutual,
    /// DestinationRule `ISTIO_MUTUAL`: the gateway's backend client certificate and its CA.
    IstioMutual,
    /// A Gateway API BackendTLSPolicy.
    BackendTlsPolicy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCert {
    None,
    /// A certificate given in the DestinationRule (files or `credentialName`).
    Pem(CertKeyPair),
    /// The `spec.tls.backend.clientCertificateRef` of the Gateway the request came through.
    /// `required`: every Gateway routing here was checked to have one.
    GatewayBackend {
        required: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustAnchor {
    Pem(Vec<u8>),
    /// The `ca.crt` of the routing Gateway's backend client certificate Secret (checked).
    GatewayBackendCa,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    Dns(String),
    /// e.g. a SPIFFE id `spiffe://cluster.local/ns/default/sa/product`.
    Uri(String),
}

/// A DestinationRule subset: the endpoints with these labels and their own policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Subset {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub policy: TrafficPolicy,
    pub tls: UpstreamTls,
}
