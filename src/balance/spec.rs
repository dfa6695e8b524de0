//! The plain-data input a cluster's balancer is built from (the config layer fills these from a
//! DestinationRule `trafficPolicy` and the endpoints an EndpointSlice or DNS gave).

/// Where an endpoint (or the gateway itself) runs: Istio's `region/zone/subzone` (an empty part is
/// not known).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Locality {
    pub region: String,
    pub zone: String,
    pub subzone: String,
}

impl Locality {
    pub fn new(region: &str, zone: &str, subzone: &str) -> Self {
        Locality {
            region: region.to_owned(),
            zone: zone.to_owned(),
            subzone: subzone.to_owned(),
        }
    }
}

/// One upstream endpoint.
#[derive(Clone, Debug, Default)]
pub struct EndpointSpec {
    /// Stable identity, hashed onto the ring / Maglev table: normally `ip:port` (or a pod name).
    /// Must be unique within the cluster. Every worker and every gateway process that sees the
    /// same ids builds the same tables.
    pub id: String,
    /// Relative weight; 0 = never picked. (Ketama/Maglev use it too.)
    pub weight: u32,
    pub locality: Locality,
    /// Topology and other labels, for `failoverPriority` (e.g. `topology.istio.io/network`).
    pub labels: Vec<(String, String)>,
}

impl EndpointSpec {
    pub fn new(id: impl Into<String>, weight: u32) -> Self {
        EndpointSpec {
            id: id.into(),
            weight,
            ..Default::default()
        }
    }

    pub fn in_locality(mut self, locality: Locality) -> Self {
        self.locality = locality;
        self
    }

    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// `consistentHash.httpCookie`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieSpec {
    pub name: String,
    /// `Path` attribute of a generated cookie.
    pub path: Option<String>,
    /// Envoy semantics: `None` = never generate a cookie (a request without it gets no hash and
    /// is balanced randomly); `Some(0)` = generate a session cookie; `Some(n)` = generate one
    /// with `Max-Age=n` seconds.
    pub ttl_secs: Option<u64>,
    /// Extra attributes appended to `Set-Cookie` (`SameSite=Strict`, `Secure` with empty value).
    pub attributes: Vec<(String, String)>,
}

/// Where a consistent-hash key comes from (`consistentHash.hash_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKeySpec {
    /// `httpHeaderName` (case-insensitive).
    Header(String),
    /// `httpCookie`.
    Cookie(CookieSpec),
    /// `useSourceIp`.
    SourceIp,
    /// `httpQueryParameterName` (exact name, raw value).
    QueryParam(String),
}

/// `ringHash.minimumRingSize` default.
pub const DEFAULT_MINIMUM_RING_SIZE: u64 = 1024;
/// Largest ring (Envoy's `maximum_ring_size` default).
pub const MAXIMUM_RING_SIZE: u64 = 8 * 1024 * 1024;
/// `maglev.tableSize` default (prime).
pub const DEFAULT_MAGLEV_TABLE_SIZE: u64 = 65537;
/// Largest accepted Maglev table.
pub const MAXIMUM_MAGLEV_TABLE_SIZE: u64 = 5_000_011;

/// `consistentHash.hash_algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    RingHash { minimum_ring_size: u64 },
    Maglev { table_size: u64 },
}

impl HashAlgorithm {
    pub fn ring_hash() -> Self {
        HashAlgorithm::RingHash {
            minimum_ring_size: DEFAULT_MINIMUM_RING_SIZE,
        }
    }

    pub fn maglev() -> Self {
        HashAlgorithm::Maglev {
            table_size: DEFAULT_MAGLEV_TABLE_SIZE,
        }
    }
}

/// `trafficPolicy.loadBalancer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySpec {
    /// `ROUND_ROBIN` (also what `UNSPECIFIED` should map to): smooth weighted round robin.
    RoundRobin,
    /// `LEAST_REQUEST` (and the deprecated `LEAST_CONN`).
    LeastRequest,
    /// `RANDOM`.
    Random,
    /// `consistentHash`.
    ConsistentHash {
        key: HashKeySpec,
        algorithm: HashAlgorithm,
    },
}

/// `localityLbSetting.failover[]` entry: when the gateway is in region `from`, fail over to `to`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failover {
    pub from: String,
    pub to: String,
}

/// `localityLbSetting`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LocalitySpec {
    /// No locality preference: one priority level with every endpoint.
    #[default]
    Disabled,
    /// Istio's locality failover: same region+zone+subzone first, then same zone, then same
    /// region, then the `failover` target regions of the gateway's region in list order, then the
    /// rest.
    Failover(Vec<Failover>),
    /// `failoverPriority`: ordered label keys; an endpoint whose first k labels equal the
    /// gateway's gets priority `n - k`. `key=value` entries compare against `value` instead of
    /// the gateway's own label. The well-known keys `topology.kubernetes.io/region`,
    /// `topology.kubernetes.io/zone` and `topology.istio.io/subzone` fall back to the locality
    /// fields when the label is absent.
    FailoverPriority(Vec<String>),
}

/// One upstream cluster: its endpoints and how to balance over them.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub name: String,
    pub endpoints: Vec<EndpointSpec>,
    pub policy: PolicySpec,
    pub locality: LocalitySpec,
}

impl ClusterSpec {
    pub fn new(name: impl Into<String>, policy: PolicySpec, endpoints: Vec<EndpointSpec>) -> Self {
        ClusterSpec {
            name: name.into(),
            endpoints,
            policy,
            locality: LocalitySpec::Disabled,
        }
    }
}

/// Where this gateway runs (for locality preference).
#[derive(Clone, Debug, Default)]
pub struct Site {
    pub locality: Locality,
    pub labels: Vec<(String, String)>,
}
