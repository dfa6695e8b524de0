//! Istio DestinationRule: `host`, `trafficPolicy` (loadBalancer, connectionPool,
//! outlierDetection, tls, portLevelSettings) and `subsets`.

use std::collections::BTreeMap;

use super::secret::{pem_certs_error, pem_key_error, read_file};
use super::{Head, ObjRef, check, http2, one_of};
use crate::balance::HashAlgorithm;
use crate::balance::maglev::is_prime;
use crate::balance::spec::{
    DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_MINIMUM_RING_SIZE, MAXIMUM_MAGLEV_TABLE_SIZE,
    MAXIMUM_RING_SIZE,
};
use crate::config::model::{
    CertKeyPair, ConnectionPool, ConsistentHash, HashCookie, HashKey, Http2Keepalive,
    Http2Settings, LbPolicy, LoadBalancer, LocalityFailover, LocalityLb, OutlierDetection,
    SubjectAltName,
};
use crate::config::read::{At, Cx, Fields, Loc};
use crate::config::syntax;
use crate::runtime::socket::TcpKeepalive;

#[derive(Debug)]
pub(crate) struct RawDestinationRule {
    pub head: Head,
    pub host: String,
    pub host_loc: Loc,
    pub policy: RawPolicy,
    pub subsets: Vec<RawSubset>,
    /// For every connection to the hosts it applies to (annotations; not per port or subset).
    pub http2: Http2Settings,
}

#[derive(Debug)]
pub(crate) struct RawSubset {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub policy: RawPolicy,
}

/// One `trafficPolicy` (or one `portLevelSettings` entry): each part is `None` when not given,
/// so that port-level and subset settings override field by field, as in Istio.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawPolicy {
    pub load_balancer: Option<LoadBalancer>,
    pub connection_pool: Option<ConnectionPool>,
    pub outlier_detection: Option<OutlierDetection>,
    pub tls: Option<RawTls>,
    pub port_level: Vec<(u16, RawPolicy)>,
}

impl RawPolicy {
    /// `self` with the parts `over` sets replaced.
    pub fn overridden_by(&self, over: &RawPolicy) -> RawPolicy {
        RawPolicy {
            load_balancer: over
                .load_balancer
                .clone()
                .or_else(|| self.load_balancer.clone()),
            connection_pool: over
                .connection_pool
                .clone()
                .or_else(|| self.connection_pool.clone()),
            outlier_detection: over
                .outlier_detection
                .clone()
                .or_else(|| self.outlier_detection.clone()),
            tls: over.tls.clone().or_else(|| self.tls.clone()),
            port_level: Vec::new(),
        }
    }

    /// The policy for one port: port-level settings for it, if any, over the rest.
    pub fn for_port(&self, port: u16) -> RawPolicy {
        match self.port_level.iter().find(|(p, _)| *p == port) {
            Some((_, p)) => self.overridden_by(p),
            None => self.overridden_by(&RawPolicy::default()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawTlsMode {
    Disable,
    Simple,
    Mutual,
    IstioMutual,
}

impl RawTls {
    /// The model's mode; `None` for DISABLE.
    pub fn model_mode(&self) -> Option<crate::config::model::UpstreamTlsMode> {
        use crate::config::model::UpstreamTlsMode as M;
        match self.mode {
            RawTlsMode::Disable => None,
            RawTlsMode::Simple => Some(M::Simple),
            RawTlsMode::Mutual => Some(M::Mutual),
            RawTlsMode::IstioMutual => Some(M::IstioMutual),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RawTls {
    pub mode: RawTlsMode,
    /// From `clientCertificate` + `privateKey` files.
    pub client_cert: Option<CertKeyPair>,
    /// From the `caCertificates` file.
    pub ca_pem: Option<Vec<u8>>,
    /// `credentialName`: a Secret in the DestinationRule's namespace.
    pub credential: Option<ObjRef>,
    pub sni: Option<String>,
    pub subject_alt_names: Vec<SubjectAltName>,
    /// Position of `mode` (of `tls` when `mode` is not given).
    pub loc: Loc,
}

pub(crate) fn load(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawDestinationRule> {
    let http2 = http2::settings(cx, &head);
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let host_at = spec.req(cx, "host");
    let host = host_at.as_ref().and_then(|h| {
        let s = h.nonempty(cx)?;
        let body = s.strip_prefix("*.").unwrap_or(&s);
        let ok = s == "*" || syntax::dns_name(body).is_ok();
        if !ok {
            cx.error(h.line, &h.path, format!("invalid host {s:?}: expected a Service name, an FQDN such as product.default.svc.cluster.local, or a wildcard *.suffix"));
        }
        ok.then_some(s)
    });
    let top = match spec.get("trafficPolicy") {
        Some(t) => policy(cx, &head, &t, true),
        None => Some(RawPolicy::default()),
    };
    let mut subsets: Vec<RawSubset> = Vec::new();
    if let Some(s) = spec.get("subsets") {
        for item in s.seq(cx).unwrap_or_default() {
            let Some(mut f) = item.map(cx) else { continue };
            let name = f.req(cx, "name").and_then(|n| {
                let v = n.nonempty(cx)?;
                if subsets.iter().any(|s| s.name == v) {
                    cx.error(n.line, &n.path, format!("duplicate subset name {v:?}"));
                    return None;
                }
                check(cx, &n, syntax::section_name(&v)).then_some(v)
            });
            let labels = f
                .get("labels")
                .and_then(|l| l.string_map(cx))
                .unwrap_or_default();
            let p = match f.get("trafficPolicy") {
                Some(t) => policy(cx, &head, &t, true),
                None => Some(RawPolicy::default()),
            };
            f.finish(cx);
            if let (Some(name), Some(policy)) = (name, p) {
                subsets.push(RawSubset {
                    name,
                    labels,
                    policy,
                });
            }
        }
    }
    spec.finish(cx);
    Some(RawDestinationRule {
        host_loc: host_at.map(|h| h.loc()).unwrap_or_default(),
        host: host?,
        policy: top?,
        subsets,
        http2,
        head,
    })
}

fn policy(cx: &mut Cx, head: &Head, at: &At, top: bool) -> Option<RawPolicy> {
    let mut f = at.map(cx)?;
    let mut ok = true;
    let mut p = RawPolicy::default();
    if let Some(lb) = f.get("loadBalancer") {
        p.load_balancer = load_balancer(cx, &lb);
        ok &= p.load_balancer.is_some();
    }
    if let Some(cp) = f.get("connectionPool") {
        p.connection_pool = connection_pool(cx, &cp);
        ok &= p.connection_pool.is_some();
    }
    if let Some(od) = f.get("outlierDetection") {
        p.outlier_detection = outlier(cx, &od);
        ok &= p.outlier_detection.is_some();
    }
    if let Some(t) = f.get("tls") {
        p.tls = tls(cx, head, &t);
        ok &= p.tls.is_some();
    }
    if top {
        if let Some(pl) = f.get("portLevelSettings") {
            for item in pl.seq(cx).unwrap_or_default() {
                let port = item.map(cx).and_then(|mut pf| {
                    let port_at = pf.req(cx, "port")?;
                    let mut portf = port_at.map(cx)?;
                    let n = portf.req(cx, "number").and_then(|n| n.port(cx));
                    portf.finish(cx);
                    n
                });
                let Some(port) = port else {
                    ok = false;
                    continue;
                };
                if p.port_level.iter().any(|(x, _)| *x == port) {
                    cx.error(
                        item.line,
                        &item.path,
                        format!("duplicate portLevelSettings for port {port}"),
                    );
                    ok = false;
                    continue;
                }
                // Read the entry again as a policy; `port` is consumed there.
                match port_policy(cx, head, &item) {
                    Some(pp) => p.port_level.push((port, pp)),
                    None => ok = false,
                }
            }
        }
    }
    for (key, reason) in [
        ("tunnel", "tunnel is not supported by h2edge"),
        ("proxyProtocol", "proxyProtocol is not supported by h2edge"),
    ] {
        if f.refuse(cx, key, reason) {
            ok = false;
        }
    }
    f.finish(cx);
    ok.then_some(p)
}

fn port_policy(cx: &mut Cx, head: &Head, item: &At) -> Option<RawPolicy> {
    let mut f = item.map(cx)?;
    f.skip("port");
    // Re-use the policy reader on the same mapping, minus `port`.
    let mut p = RawPolicy::default();
    let mut ok = true;
    if let Some(lb) = f.get("loadBalancer") {
        p.load_balancer = load_balancer(cx, &lb);
        ok &= p.load_balancer.is_some();
    }
    if let Some(cp) = f.get("connectionPool") {
        p.connection_pool = connection_pool(cx, &cp);
        ok &= p.connection_pool.is_some();
    }
    if let Some(od) = f.get("outlierDetection") {
        p.outlier_detection = outlier(cx, &od);
        ok &= p.outlier_detection.is_some();
    }
    if let Some(t) = f.get("tls") {
        p.tls = tls(cx, head, &t);
        ok &= p.tls.is_some();
    }
    f.finish(cx);
    ok.then_some(p)
}

const SIMPLE: [&str; 6] = [
    "UNSPECIFIED",
    "RANDOM",
    "PASSTHROUGH",
    "ROUND_ROBIN",
    "LEAST_REQUEST",
    "LEAST_CONN",
];

fn load_balancer(cx: &mut Cx, at: &At) -> Option<LoadBalancer> {
    let mut f = at.map(cx)?;
    let simple = f.get("simple");
    let hash = f.get("consistentHash");
    let mut policy = None;
    let mut ok = true;
    if let (Some(_), Some(h)) = (&simple, &hash) {
        cx.error(
            h.line,
            &h.path,
            "simple and consistentHash are mutually exclusive; set one",
        );
        ok = false;
    }
    if let Some(s) = &simple {
        let v = s.str(cx)?;
        policy = match v.as_str() {
            "UNSPECIFIED" | "LEAST_REQUEST" => Some(LbPolicy::LeastRequest),
            "LEAST_CONN" => {
                cx.note(
                    s.line,
                    &s.path,
                    "LEAST_CONN is deprecated; read as LEAST_REQUEST",
                );
                Some(LbPolicy::LeastRequest)
            }
            "ROUND_ROBIN" => Some(LbPolicy::RoundRobin),
            "RANDOM" => Some(LbPolicy::Random),
            "PASSTHROUGH" => {
                cx.error(
                    s.line,
                    &s.path,
                    "PASSTHROUGH is not supported (a gateway has no original destination to pass through to)",
                );
                None
            }
            other => {
                cx.error(
                    s.line,
                    &s.path,
                    format!(
                        "unknown loadBalancer value {other:?} (expected one of: {})",
                        SIMPLE.join(", ")
                    ),
                );
                None
            }
        };
        ok &= policy.is_some();
    }
    if let Some(h) = &hash {
        match consistent_hash(cx, h) {
            Some(c) => policy = Some(LbPolicy::ConsistentHash(c)),
            None => ok = false,
        }
    }
    let locality = match f.get("localityLbSetting") {
        Some(l) => {
            let r = locality(cx, &l);
            ok &= r.is_some();
            r
        }
        None => None,
    };
    if let Some(w) = f.get("warmup") {
        cx.note(
            w.line,
            &w.path,
            "warmup is ignored (endpoints get full traffic at once)",
        );
    }
    if let Some(w) = f.get("warmupDurationSecs") {
        cx.note(
            w.line,
            &w.path,
            "warmupDurationSecs is ignored (endpoints get full traffic at once)",
        );
    }
    f.refuse(
        cx,
        "zoneAwareLbSetting",
        "zoneAwareLbSetting is not supported; use localityLbSetting",
    );
    f.finish(cx);
    ok.then(|| LoadBalancer {
        policy: policy.unwrap_or_default(),
        locality,
    })
}

fn consistent_hash(cx: &mut Cx, at: &At) -> Option<ConsistentHash> {
    let mut f = at.map(cx)?;
    let mut keys: Vec<(&str, Option<HashKey>)> = Vec::new();
    if let Some(h) = f.get("httpHeaderName") {
        let key = h.str(cx).and_then(|s| {
            check(cx, &h, syntax::header_name(&s)).then(|| HashKey::Header(s.to_ascii_lowercase()))
        });
        keys.push(("httpHeaderName", key));
    }
    if let Some(c) = f.get("httpCookie") {
        keys.push(("httpCookie", cookie(cx, &c).map(HashKey::Cookie)));
    }
    if let Some(s) = f.get("useSourceIp") {
        match s.bool(cx) {
            Some(true) => keys.push(("useSourceIp", Some(HashKey::SourceIp))),
            Some(false) => {}
            None => keys.push(("useSourceIp", None)),
        }
    }
    if let Some(q) = f.get("httpQueryParameterName") {
        let key = q.nonempty(cx).map(HashKey::QueryParameter);
        keys.push(("httpQueryParameterName", key));
    }
    let ring = f.get("ringHash");
    let maglev = f.get("maglev");
    let legacy_ring = f.get("minimumRingSize");
    f.finish(cx);
    let mut ok = true;
    if keys.len() != 1 {
        let names: Vec<&str> = keys.iter().map(|(n, _)| *n).collect();
        let found = if names.is_empty() {
            "found none".to_string()
        } else {
            format!("found {}: {}", names.len(), names.join(", "))
        };
        cx.error(
            at.line,
            &at.path,
            format!(
                "consistentHash must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName ({found})"
            ),
        );
        ok = false;
    }
    let algorithm = match (&ring, &maglev) {
        (Some(_), Some(m)) => {
            cx.error(
                m.line,
                &m.path,
                "ringHash and maglev are mutually exclusive; set one",
            );
            None
        }
        (Some(r), None) => {
            if let Some(l) = &legacy_ring {
                cx.error(
                    l.line,
                    &l.path,
                    "minimumRingSize (deprecated) and ringHash are both set; keep ringHash",
                );
                ok = false;
            }
            ring_hash(cx, r)
        }
        (None, Some(m)) => maglev_table(cx, m),
        (None, None) => match &legacy_ring {
            Some(l) => {
                cx.note(
                    l.line,
                    &l.path,
                    "minimumRingSize is deprecated; use ringHash.minimumRingSize",
                );
                l.int(cx, 1, MAX_RING).map(|n| HashAlgorithm::RingHash {
                    minimum_ring_size: n as u64,
                })
            }
            None => Some(HashAlgorithm::RingHash {
                minimum_ring_size: DEFAULT_MINIMUM_RING_SIZE,
            }),
        },
    };
    if !ok {
        return None;
    }
    let key = keys.pop().and_then(|(_, k)| k)?;
    Some(ConsistentHash {
        key,
        algorithm: algorithm?,
    })
}

/// The balancer's (Envoy's) limits, as the integer bounds the reader checks.
const MAX_RING: i64 = MAXIMUM_RING_SIZE as i64;
const MAX_MAGLEV: i64 = MAXIMUM_MAGLEV_TABLE_SIZE as i64;

fn ring_hash(cx: &mut Cx, at: &At) -> Option<HashAlgorithm> {
    let mut f = at.map(cx)?;
    let size = match f.get("minimumRingSize") {
        Some(s) => s.int(cx, 1, MAX_RING).map(|n| n as u64),
        None => Some(DEFAULT_MINIMUM_RING_SIZE),
    };
    f.finish(cx);
    Some(HashAlgorithm::RingHash {
        minimum_ring_size: size?,
    })
}

fn maglev_table(cx: &mut Cx, at: &At) -> Option<HashAlgorithm> {
    let mut f = at.map(cx)?;
    let size = match f.get("tableSize") {
        Some(s) => s.int(cx, 1, MAX_MAGLEV).and_then(|n| {
            let n = n as u64;
            if is_prime(n) {
                Some(n)
            } else {
                cx.error(
                    s.line,
                    &s.path,
                    format!("maglev tableSize {n} is not prime (e.g. 65537 or 5000011)"),
                );
                None
            }
        }),
        None => Some(DEFAULT_MAGLEV_TABLE_SIZE),
    };
    f.finish(cx);
    Some(HashAlgorithm::Maglev { table_size: size? })
}

fn cookie(cx: &mut Cx, at: &At) -> Option<HashCookie> {
    let mut f = at.map(cx)?;
    let name = f.req(cx, "name").and_then(|n| {
        let s = n.nonempty(cx)?;
        check(
            cx,
            &n,
            syntax::header_name(&s).map_err(|e| e.replace("header", "cookie")),
        )
        .then_some(s)
    });
    let path = f.get("path").and_then(|p| p.str(cx));
    let ttl = f.get("ttl").map(|t| t.istio_duration(cx));
    let mut attributes = Vec::new();
    let mut ok = true;
    if let Some(a) = f.get("attributes") {
        for item in a.seq(cx).unwrap_or_default() {
            let Some(mut af) = item.map(cx) else {
                ok = false;
                continue;
            };
            let n = af.req(cx, "name").and_then(|n| {
                let s = n.nonempty(cx)?;
                check(
                    cx,
                    &n,
                    syntax::header_name(&s).map_err(|e| e.replace("header", "cookie attribute")),
                )
                .then_some(s)
            });
            let v = af.get("value").and_then(|v| v.str(cx)).unwrap_or_default();
            af.finish(cx);
            match n {
                Some(n) if !v.contains([';', '\r', '\n']) => attributes.push((n, v)),
                Some(_) => {
                    cx.error(
                        item.line,
                        &item.path,
                        "attribute value must not contain ';' or line breaks",
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
    }
    f.finish(cx);
    if !ok {
        return None;
    }
    Some(HashCookie {
        name: name?,
        path,
        ttl: match ttl {
            Some(t) => Some(t?),
            None => None,
        },
        attributes,
    })
}

fn locality(cx: &mut Cx, at: &At) -> Option<LocalityLb> {
    let mut f = at.map(cx)?;
    let enabled = match f.get("enabled") {
        Some(e) => e.bool(cx)?,
        None => true,
    };
    f.refuse(
        cx,
        "distribute",
        "distribute is not supported by h2edge; use failover or failoverPriority",
    );
    let mut failover = Vec::new();
    let mut ok = true;
    if let Some(fl) = f.get("failover") {
        for item in fl.seq(cx).unwrap_or_default() {
            let Some(mut ff) = item.map(cx) else {
                ok = false;
                continue;
            };
            let from = ff.req(cx, "from").and_then(|x| x.nonempty(cx));
            let to = ff.req(cx, "to").and_then(|x| x.nonempty(cx));
            ff.finish(cx);
            match (from, to) {
                (Some(from), Some(to)) if from == to => {
                    cx.error(item.line, &item.path, "failover from and to must differ");
                    ok = false;
                }
                (Some(from), Some(to)) => failover.push(LocalityFailover { from, to }),
                _ => ok = false,
            }
        }
    }
    let mut failover_priority = Vec::new();
    if let Some(fp) = f.get("failoverPriority") {
        for (s, loc) in fp.strings(cx).unwrap_or_default() {
            if s.is_empty() {
                cx.error_at(&loc, "label key must not be empty");
                ok = false;
            } else if failover_priority.contains(&s) {
                cx.error_at(&loc, format!("duplicate label {s:?}"));
                ok = false;
            } else {
                failover_priority.push(s);
            }
        }
    }
    if !failover.is_empty() && !failover_priority.is_empty() {
        cx.error(
            f.line,
            &f.path,
            "set either failover or failoverPriority, not both (h2edge applies one of them)",
        );
        ok = false;
    }
    f.finish(cx);
    ok.then_some(LocalityLb {
        enabled,
        failover,
        failover_priority,
    })
}

fn opt_u32(cx: &mut Cx, f: &mut Fields, key: &str, min: u32, ok: &mut bool) -> Option<u32> {
    let at = f.get(key)?;
    let v = at.u32(cx, min, i32::MAX as u32);
    *ok &= v.is_some();
    v
}

fn opt_dur(cx: &mut Cx, f: &mut Fields, key: &str, ok: &mut bool) -> Option<std::time::Duration> {
    let at = f.get(key)?;
    let v = at.istio_duration(cx);
    *ok &= v.is_some();
    v
}

/// A field that is read (a bad value is still an error) but that h2edge does not act on: a note
/// says so, and why.
fn not_enforced(cx: &mut Cx, f: &mut Fields, key: &str, why: &str) {
    if let Some(at) = f.get(key) {
        cx.note(at.line, &at.path, why);
    }
}

fn connection_pool(cx: &mut Cx, at: &At) -> Option<ConnectionPool> {
    let mut f = at.map(cx)?;
    let mut pool = ConnectionPool::default();
    let mut ok = true;
    if let Some(t) = f.get("tcp") {
        let mut tf = t.map(cx)?;
        pool.max_connections = opt_u32(cx, &mut tf, "maxConnections", 1, &mut ok);
        if let Some(d) = opt_dur(cx, &mut tf, "connectTimeout", &mut ok) {
            if d.is_zero() {
                cx.error(
                    tf.line,
                    &format!("{}.connectTimeout", tf.path),
                    "must be more than 0s",
                );
                ok = false;
            }
            pool.connect_timeout = Some(d);
        }
        pool.tcp_idle_timeout =
            opt_dur(cx, &mut tf, "idleTimeout", &mut ok).filter(|d| !d.is_zero());
        pool.max_connection_duration =
            opt_dur(cx, &mut tf, "maxConnectionDuration", &mut ok).filter(|d| !d.is_zero());
        if let Some(k) = tf.get("tcpKeepalive") {
            let mut kf = k.map(cx)?;
            pool.tcp_keepalive = Some(TcpKeepalive {
                probes: opt_u32(cx, &mut kf, "probes", 1, &mut ok),
                time: opt_dur(cx, &mut kf, "time", &mut ok),
                interval: opt_dur(cx, &mut kf, "interval", &mut ok),
            });
            kf.finish(cx);
        }
        not_enforced(
            cx,
            &mut tf,
            "idleTimeout",
            "not enforced: it bounds TCP proxying; for HTTP/2 upstreams http.idleTimeout closes idle connections",
        );
        tf.finish(cx);
    }
    if let Some(h) = f.get("http") {
        let mut hf = h.map(cx)?;
        pool.http1_max_pending_requests =
            opt_u32(cx, &mut hf, "http1MaxPendingRequests", 1, &mut ok);
        not_enforced(
            cx,
            &mut hf,
            "http1MaxPendingRequests",
            "not enforced yet: streams waiting for a connection are bounded by the gateway's own queue",
        );
        pool.http2_max_requests = opt_u32(cx, &mut hf, "http2MaxRequests", 1, &mut ok);
        pool.max_requests_per_connection =
            opt_u32(cx, &mut hf, "maxRequestsPerConnection", 0, &mut ok).filter(|n| *n != 0);
        pool.max_retries = opt_u32(cx, &mut hf, "maxRetries", 0, &mut ok);
        not_enforced(
            cx,
            &mut hf,
            "maxRetries",
            "not enforced yet: retries are bounded per request by the route, not across the cluster",
        );
        pool.max_concurrent_streams = opt_u32(cx, &mut hf, "maxConcurrentStreams", 1, &mut ok);
        pool.http_idle_timeout =
            opt_dur(cx, &mut hf, "idleTimeout", &mut ok).filter(|d| !d.is_zero());
        if let Some(k) = hf.get("http2KeepAlive") {
            let mut kf = k.map(cx)?;
            let interval = kf.req(cx, "interval").and_then(|i| i.istio_duration(cx));
            let timeout = kf.req(cx, "timeout").and_then(|i| i.istio_duration(cx));
            kf.finish(cx);
            match (interval, timeout) {
                (Some(interval), Some(timeout)) => {
                    pool.http2_keepalive = Some(Http2Keepalive { interval, timeout })
                }
                _ => ok = false,
            }
        }
        // HTTP/1 upgrade knobs mean nothing to an HTTP/2-only upstream.
        for quiet in ["h2UpgradePolicy", "useClientProtocol"] {
            if let Some(q) = hf.get(quiet) {
                cx.note(q.line, &q.path, "ignored (upstreams always speak HTTP/2)");
            }
        }
        hf.finish(cx);
    }
    f.finish(cx);
    ok.then_some(pool)
}

fn outlier(cx: &mut Cx, at: &At) -> Option<OutlierDetection> {
    let mut f = at.map(cx)?;
    let mut o = OutlierDetection::default();
    let mut ok = true;
    if let Some(v) = opt_u32(cx, &mut f, "consecutive5xxErrors", 0, &mut ok) {
        o.consecutive_5xx_errors = v;
    }
    if let Some(v) = opt_u32(cx, &mut f, "consecutiveGatewayErrors", 0, &mut ok) {
        o.consecutive_gateway_errors = v;
    }
    if let Some(e) = f.get("consecutiveErrors") {
        cx.note(
            e.line,
            &e.path,
            "consecutiveErrors is deprecated; read as consecutiveGatewayErrors",
        );
        if o.consecutive_gateway_errors == 0 {
            match e.u32(cx, 0, i32::MAX as u32) {
                Some(v) => o.consecutive_gateway_errors = v,
                None => ok = false,
            }
        }
    }
    if let Some(s) = f.get("splitExternalLocalOriginErrors") {
        match s.bool(cx) {
            Some(b) => o.split_external_local_origin_errors = b,
            None => ok = false,
        }
    }
    if let Some(v) = opt_u32(cx, &mut f, "consecutiveLocalOriginFailures", 0, &mut ok) {
        o.consecutive_local_origin_failures = v;
    }
    if let Some(d) = opt_dur(cx, &mut f, "interval", &mut ok) {
        if d.as_millis() < 1 {
            cx.error(
                f.line,
                &format!("{}.interval", f.path),
                "must be at least 1ms",
            );
            ok = false;
        }
        o.interval = d;
    }
    if let Some(d) = opt_dur(cx, &mut f, "baseEjectionTime", &mut ok) {
        if d.as_millis() < 1 {
            cx.error(
                f.line,
                &format!("{}.baseEjectionTime", f.path),
                "must be at least 1ms",
            );
            ok = false;
        }
        o.base_ejection_time = d;
    }
    not_enforced(
        cx,
        &mut f,
        "interval",
        "not used: ejection is decided on each answer, and an ejected endpoint returns when its ejection time is over",
    );
    for key in [
        "splitExternalLocalOriginErrors",
        "consecutiveLocalOriginFailures",
    ] {
        not_enforced(
            cx,
            &mut f,
            key,
            "not used: failed connections take an endpoint out on their own (connect backoff), apart from its answers",
        );
    }
    for (key, slot) in [
        ("maxEjectionPercent", &mut o.max_ejection_percent),
        ("minHealthPercent", &mut o.min_health_percent),
    ] {
        if let Some(p) = f.get(key) {
            match p.u32(cx, 0, 100) {
                Some(v) => *slot = v,
                None => ok = false,
            }
        }
    }
    f.finish(cx);
    ok.then_some(o)
}

fn tls(cx: &mut Cx, head: &Head, at: &At) -> Option<RawTls> {
    let mut f = at.map(cx)?;
    let mode_at = f.get("mode");
    let mode_loc = mode_at.as_ref().map_or_else(|| at.loc(), |m| m.loc());
    let mode = match mode_at {
        Some(m) => match one_of(cx, &m, &["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"])? {
            0 => RawTlsMode::Disable,
            1 => RawTlsMode::Simple,
            2 => RawTlsMode::Mutual,
            _ => RawTlsMode::IstioMutual,
        },
        None => RawTlsMode::Disable,
    };
    let mut ok = true;
    let cert_at = f.get("clientCertificate");
    let key_at = f.get("privateKey");
    let ca_at = f.get("caCertificates");
    let cred_at = f.get("credentialName");
    if let Some(s) = f.get("insecureSkipVerify") {
        if s.bool(cx) == Some(true) {
            cx.error(
                s.line,
                &s.path,
                "insecureSkipVerify is not supported: upstream certificates are always verified",
            );
            ok = false;
        }
    }
    f.refuse(
        cx,
        "caCrl",
        "caCrl is not supported by h2edge (revocation lists are not checked)",
    );
    let sni = f.get("sni").and_then(|s| {
        let v = s.str(cx)?;
        check(cx, &s, syntax::dns_name(&v)).then_some(v)
    });
    let mut sans = Vec::new();
    if let Some(s) = f.get("subjectAltNames") {
        for (v, loc) in s.strings(cx).unwrap_or_default() {
            if v.contains(':') {
                match super::backendtls::uri(&v) {
                    Ok(()) => sans.push(SubjectAltName::Uri(v)),
                    Err(e) => {
                        cx.error_at(&loc, e);
                        ok = false;
                    }
                }
            } else {
                match syntax::hostname(&v) {
                    Ok(()) => sans.push(SubjectAltName::Dns(v)),
                    Err(e) => {
                        cx.error_at(&loc, e);
                        ok = false;
                    }
                }
            }
        }
    }
    let f_line = f.line;
    let f_path = f.path.clone();
    f.finish(cx);

    let material = [&cert_at, &key_at, &ca_at, &cred_at];
    match mode {
        RawTlsMode::Disable => {
            for m in material.into_iter().flatten() {
                cx.note(m.line, &m.path, "ignored with mode DISABLE");
            }
        }
        RawTlsMode::IstioMutual => {
            for m in material.into_iter().flatten() {
                cx.error(
                    m.line,
                    &m.path,
                    "must not be set with ISTIO_MUTUAL (the Gateway's spec.tls.backend.clientCertificateRef and its ca.crt are used)",
                );
                ok = false;
            }
        }
        RawTlsMode::Simple => {
            for m in [&cert_at, &key_at].into_iter().flatten() {
                cx.error(m.line, &m.path, "only used with mode MUTUAL");
                ok = false;
            }
            if ca_at.is_none() && cred_at.is_none() {
                cx.error(
                    f_line,
                    &format!("{f_path}.caCertificates"),
                    "required field is missing: SIMPLE needs caCertificates or credentialName (h2edge has no system trust store)",
                );
                ok = false;
            }
        }
        RawTlsMode::Mutual => {
            if cred_at.is_some() && (cert_at.is_some() || key_at.is_some()) {
                let c = cred_at.as_ref()?;
                cx.error(
                    c.line,
                    &c.path,
                    "give either credentialName or clientCertificate/privateKey, not both",
                );
                ok = false;
            } else if cred_at.is_none() {
                for (a, key) in [(&cert_at, "clientCertificate"), (&key_at, "privateKey")] {
                    if a.is_none() {
                        cx.error(
                            f_line,
                            &format!("{f_path}.{key}"),
                            "required field is missing: MUTUAL needs clientCertificate and privateKey, or credentialName",
                        );
                        ok = false;
                    }
                }
                if ca_at.is_none() {
                    cx.error(
                        f_line,
                        &format!("{f_path}.caCertificates"),
                        "required field is missing: MUTUAL needs caCertificates or credentialName (h2edge has no system trust store)",
                    );
                    ok = false;
                }
            }
        }
    }
    let active = !matches!(mode, RawTlsMode::Disable | RawTlsMode::IstioMutual);
    let read_pem = |cx: &mut Cx, a: &Option<At>, key: bool| -> Option<Option<(Vec<u8>, String)>> {
        let Some(a) = a else { return Some(None) };
        let p = a.nonempty(cx)?;
        let bytes = match read_file(cx, head, &p) {
            Ok(b) => b,
            Err(e) => {
                cx.error(a.line, &a.path, e);
                return None;
            }
        };
        let err = if key {
            pem_key_error(&bytes)
        } else {
            pem_certs_error(&bytes)
        };
        if let Some(e) = err {
            cx.error(a.line, &a.path, format!("{p}: {e}"));
            return None;
        }
        Some(Some((bytes, p)))
    };
    let mut client_cert = None;
    let mut ca_pem = None;
    let mut credential = None;
    if active && ok {
        let cert = read_pem(cx, &cert_at, false);
        let key = read_pem(cx, &key_at, true);
        let ca = read_pem(cx, &ca_at, false);
        match (cert, key, ca) {
            (Some(cert), Some(key), Some(ca)) => {
                if let (Some((cert_pem, cert_path)), Some((key_pem, _))) = (cert, key) {
                    client_cert = Some(CertKeyPair {
                        source: cert_path,
                        cert_pem,
                        key_pem,
                        ca_pem: None,
                    });
                }
                ca_pem = ca.map(|(b, _)| b);
            }
            _ => ok = false,
        }
        if let Some(c) = &cred_at {
            match c.nonempty(cx) {
                Some(name) => {
                    credential = Some(ObjRef {
                        kind: "Secret".into(),
                        namespace: head.namespace.clone(),
                        name,
                        loc: c.loc(),
                    })
                }
                None => ok = false,
            }
        }
    }
    ok.then_some(RawTls {
        mode,
        client_cert,
        ca_pem,
        credential,
        sni,
        subject_alt_names: sans,
        loc: mode_loc,
    })
}
