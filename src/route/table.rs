//! The compiled route table and the per-request lookup.
//!
//! Build: every route is attached to the listeners its `parentRefs` name; its hostnames are
//! intersected with the listener's (a route with none takes the listener's; a route with no
//! intersection is not attached). For each listener and each intersected hostname the table holds
//! one *group*: the (rule, match) candidates of the routes with that hostname, sorted once by the
//! Gateway API precedence:
//!
//! - HTTPRoute: original route hostname specificity (the Extended
//!   `GatewayRouteHostnameIntersectionPrecedence` tie-break: non-wildcard characters, then
//!   characters), then Exact path > RegularExpression path > PathPrefix (our choice for the
//!   implementation-specific regex rank), longest path (prefix) length, method match, most header
//!   matches, most query matches;
//! - GRPCRoute: most characters in the service, then in the method, then most header matches;
//! - both: then the oldest route (`created`), then `namespace/name` alphabetically, then rule
//!   order, then match order.
//!
//! Lookup: the listener on the request's port with the most specific hostname matching the host
//! (exact > longest wildcard > none), then the groups whose hostname matches the host, most
//! specific first (characters in a matching non-wildcard hostname, then in a matching hostname),
//! and in each group the first candidate whose clauses all hold. gRPC requests (`content-type:
//! application/grpc*`) try GRPCRoutes first, then HTTPRoutes; other requests only HTTPRoutes (the
//! two kinds are never merged). No allocation, no hashing: byte compares and precompiled regexes.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use super::host::{HostPattern, intersect};
use super::index::{Candidate, Group, HostIndex, first_segment, pinned_segment};
use super::matcher::{
    GrpcMatch, HttpMatch, PathMatch, compile_headers, compile_queries, split_grpc_stripped,
};
use super::request::{Headers, Request};
use super::spec::{
    BackendSpec, ClusterId, GrpcMatchSpec, GrpcMethodSpec, HttpMatchSpec, PathMatchSpec, RouteMeta,
    TableSpec,
};
use super::split::Split;

/// HTTPRoute or GRPCRoute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    Http,
    Grpc,
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
        })
    }
}

/// A spec the table refuses, with where it is (for `file:line` mapping by the config layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    Listener {
        gateway: String,
        name: String,
        reason: String,
    },
    Route {
        kind: RouteKind,
        namespace: String,
        name: String,
        /// `spec.rules[rule]`, if the problem is in a rule.
        rule: Option<usize>,
        /// `matches[m]` of that rule.
        match_index: Option<usize>,
        reason: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Listener {
                gateway,
                name,
                reason,
            } => write!(f, "Gateway {gateway}: listener {name}: {reason}"),
            BuildError::Route {
                kind,
                namespace,
                name,
                rule,
                match_index,
                reason,
            } => {
                write!(f, "{kind} {namespace}/{name}: ")?;
                if let Some(r) = rule {
                    write!(f, "rules[{r}]")?;
                    if let Some(m) = match_index {
                        write!(f, ".matches[{m}]")?;
                    }
                    f.write_str(": ")?;
                }
                f.write_str(reason)
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// A listener as the table keeps it.
#[derive(Clone, Debug)]
pub struct ListenerInfo {
    pub gateway: String,
    pub name: String,
    pub port: u16,
    pub hostname: HostPattern,
}

/// A route as the table keeps it (for `explain` and the proxy's per-route settings).
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
    pub created: i64,
    pub hostnames: Vec<HostPattern>,
    pub(crate) first_rule: usize,
    pub(crate) rule_count: usize,
}

impl RouteInfo {
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }
}

pub(crate) struct HttpRule {
    pub(crate) route: usize,
    pub(crate) name: Option<String>,
    /// The original matches (one synthesized `PathPrefix /` when the rule had none).
    pub(crate) specs: Vec<HttpMatchSpec>,
    pub(crate) defaulted: bool,
    pub(crate) matches: Vec<HttpMatch>,
    pub(crate) backends: Vec<BackendSpec>,
    pub(crate) split: Split,
}

pub(crate) struct GrpcRule {
    pub(crate) route: usize,
    pub(crate) name: Option<String>,
    /// The original matches (one empty match when the rule had none).
    pub(crate) specs: Vec<GrpcMatchSpec>,
    pub(crate) defaulted: bool,
    pub(crate) matches: Vec<GrpcMatch>,
    pub(crate) backends: Vec<BackendSpec>,
    pub(crate) split: Split,
}

pub(crate) struct Listener {
    pub(crate) info: ListenerInfo,
    pub(crate) http: HostIndex,
    pub(crate) grpc: HostIndex,
    /// Routes attached here, with their intersected hostnames (for `explain`).
    pub(crate) attached: Vec<(RouteKind, usize, Vec<HostPattern>)>,
}

/// The route matched for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// Index into [`RouteTable::listeners`] (= `TableSpec::listeners`).
    pub listener: usize,
    pub kind: RouteKind,
    /// Index into `TableSpec::http_routes` or `TableSpec::grpc_routes`.
    pub route: usize,
    /// `spec.rules[rule]`.
    pub rule: usize,
    /// `matches[match_index]` (0 for a rule without matches).
    pub match_index: usize,
    /// `backendRefs[backend]` picked by the weighted split.
    pub backend: usize,
    pub cluster: ClusterId,
}

/// Why no backend was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// No listener on that port accepts the host.
    NoListener,
    /// No attached rule matches.
    NoMatch { listener: usize },
    /// A rule matched but every backend weight is 0 (or it has none).
    NoBackend {
        listener: usize,
        kind: RouteKind,
        route: usize,
        rule: usize,
    },
}

/// The local answer for a request that could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStatus {
    /// `:status` for a plain HTTP client.
    pub http_status: u16,
    /// `grpc-status` for a gRPC client (sent Trailers-Only with HTTP 200).
    pub grpc_status: u8,
    pub message: &'static str,
}

impl LocalStatus {
    /// What to answer when [`Balancer::pick`](crate::balance::Balancer::pick) finds no healthy
    /// endpoint: 503 / gRPC 14 UNAVAILABLE.
    pub const NO_HEALTHY_UPSTREAM: LocalStatus = LocalStatus {
        http_status: 503,
        grpc_status: 14,
        message: "no healthy upstream",
    };
}

impl NoRoute {
    /// 404 / gRPC 12 UNIMPLEMENTED for no route; 500 / gRPC 14 UNAVAILABLE when the rule has no
    /// usable backend (Gateway API: HTTP 500, gRPC `UNAVAILABLE`).
    pub fn status(&self) -> LocalStatus {
        match self {
            NoRoute::NoListener | NoRoute::NoMatch { .. } => LocalStatus {
                http_status: 404,
                grpc_status: 12,
                message: "no route",
            },
            NoRoute::NoBackend { .. } => LocalStatus {
                http_status: 500,
                grpc_status: 14,
                message: "no backend for this route",
            },
        }
    }
}

/// The compiled routing configuration (immutable; share it between workers).
pub struct RouteTable {
    pub(crate) listeners: Vec<Listener>,
    pub(crate) http_routes: Vec<RouteInfo>,
    pub(crate) grpc_routes: Vec<RouteInfo>,
    pub(crate) http_rules: Vec<HttpRule>,
    pub(crate) grpc_rules: Vec<GrpcRule>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Tie {
    created: i64,
    key: String,
    rule: usize,
    m: usize,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct HttpKey {
    orig_host: Reverse<(usize, usize)>,
    path_class: Reverse<u8>,
    path_len: Reverse<usize>,
    method: Reverse<bool>,
    headers: Reverse<usize>,
    queries: Reverse<usize>,
    tie: Tie,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct GrpcKey {
    service: Reverse<usize>,
    method: Reverse<usize>,
    headers: Reverse<usize>,
    tie: Tie,
}

fn route_err(
    kind: RouteKind,
    meta: &RouteMeta,
    rule: Option<usize>,
    m: Option<usize>,
    reason: String,
) -> BuildError {
    BuildError::Route {
        kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        rule,
        match_index: m,
        reason,
    }
}

fn route_info(
    kind: RouteKind,
    meta: &RouteMeta,
    first_rule: usize,
    rule_count: usize,
) -> Result<RouteInfo, BuildError> {
    let mut hostnames = Vec::with_capacity(meta.hostnames.len());
    for h in &meta.hostnames {
        let p = HostPattern::parse(Some(h)).map_err(|e| {
            route_err(
                kind,
                meta,
                None,
                None,
                format!("invalid hostname {:?}", e.0),
            )
        })?;
        hostnames.push(p);
    }
    Ok(RouteInfo {
        kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        created: meta.created,
        hostnames,
        first_rule,
        rule_count,
    })
}

/// Gateway API bound on `backendRefs[].weight`.
pub const MAX_BACKEND_WEIGHT: u32 = 1_000_000;

fn check_backends(
    kind: RouteKind,
    meta: &RouteMeta,
    rule: usize,
    backends: &[BackendSpec],
) -> Result<(), BuildError> {
    match backends.iter().find(|b| b.weight > MAX_BACKEND_WEIGHT) {
        Some(b) => Err(route_err(
            kind,
            meta,
            Some(rule),
            None,
            format!(
                "backend {} weight {} is above {MAX_BACKEND_WEIGHT}",
                b.name, b.weight
            ),
        )),
        None => Ok(()),
    }
}

impl RouteTable {
    /// Validates and compiles `spec`: regexes, hostnames and precedence order are all resolved
    /// here, once.
    pub fn build(spec: &TableSpec) -> Result<RouteTable, BuildError> {
        let mut listeners = Vec::with_capacity(spec.listeners.len());
        for l in &spec.listeners {
            let hostname =
                HostPattern::parse(l.hostname.as_deref()).map_err(|e| BuildError::Listener {
                    gateway: l.gateway.clone(),
                    name: l.name.clone(),
                    reason: format!("invalid hostname {:?}", e.0),
                })?;
            listeners.push(ListenerInfo {
                gateway: l.gateway.clone(),
                name: l.name.clone(),
                port: l.port,
                hostname,
            });
        }

        let mut http_routes = Vec::with_capacity(spec.http_routes.len());
        let mut http_rules = Vec::new();
        for (ri, r) in spec.http_routes.iter().enumerate() {
            http_routes.push(route_info(
                RouteKind::Http,
                &r.meta,
                http_rules.len(),
                r.rules.len(),
            )?);
            for (rule_i, rule) in r.rules.iter().enumerate() {
                check_backends(RouteKind::Http, &r.meta, rule_i, &rule.backends)?;
                let defaulted = rule.matches.is_empty();
                let specs = if defaulted {
                    vec![HttpMatchSpec::prefix("/")]
                } else {
                    rule.matches.clone()
                };
                let mut matches = Vec::with_capacity(specs.len());
                for (mi, m) in specs.iter().enumerate() {
                    let err = |reason: String| {
                        route_err(RouteKind::Http, &r.meta, Some(rule_i), Some(mi), reason)
                    };
                    let path = PathMatch::compile(
                        m.path
                            .as_ref()
                            .unwrap_or(&PathMatchSpec::Prefix("/".into())),
                    )
                    .map_err(err)?;
                    let headers = compile_headers(&m.headers).map_err(err)?;
                    let queries = compile_queries(&m.query_params).map_err(err)?;
                    let method = match m.method.as_deref() {
                        None => None,
                        Some("") => return Err(err("empty method".to_owned())),
                        Some(s) => Some(s.as_bytes().into()),
                    };
                    matches.push(HttpMatch {
                        path,
                        method,
                        headers,
                        queries,
                    });
                }
                http_rules.push(HttpRule {
                    route: ri,
                    name: rule.name.clone(),
                    specs,
                    defaulted,
                    matches,
                    backends: rule.backends.clone(),
                    split: Split::new(&rule.backends),
                });
            }
        }

        let mut grpc_routes = Vec::with_capacity(spec.grpc_routes.len());
        let mut grpc_rules = Vec::new();
        for (ri, r) in spec.grpc_routes.iter().enumerate() {
            grpc_routes.push(route_info(
                RouteKind::Grpc,
                &r.meta,
                grpc_rules.len(),
                r.rules.len(),
            )?);
            for (rule_i, rule) in r.rules.iter().enumerate() {
                check_backends(RouteKind::Grpc, &r.meta, rule_i, &rule.backends)?;
                let defaulted = rule.matches.is_empty();
                let specs = if defaulted {
                    vec![GrpcMatchSpec::default()]
                } else {
                    rule.matches.clone()
                };
                let mut matches = Vec::with_capacity(specs.len());
                for (mi, m) in specs.iter().enumerate() {
                    let err = |reason: String| {
                        route_err(RouteKind::Grpc, &r.meta, Some(rule_i), Some(mi), reason)
                    };
                    let (service, method) =
                        GrpcMatch::compile_method(m.method.as_ref()).map_err(err)?;
                    let headers = compile_headers(&m.headers).map_err(err)?;
                    matches.push(GrpcMatch {
                        service,
                        method,
                        headers,
                    });
                }
                grpc_rules.push(GrpcRule {
                    route: ri,
                    name: rule.name.clone(),
                    specs,
                    defaulted,
                    matches,
                    backends: rule.backends.clone(),
                    split: Split::new(&rule.backends),
                });
            }
        }

        let listeners = listeners
            .into_iter()
            .map(|info| {
                let mut attached = Vec::new();
                let mut http_groups: BTreeMap<HostPattern, Vec<(HttpKey, Candidate, Pin)>> =
                    BTreeMap::new();
                for (ri, (r, info_r)) in spec.http_routes.iter().zip(&http_routes).enumerate() {
                    let Some(hosts) = attach(&info, &r.meta, info_r) else {
                        continue;
                    };
                    attached.push((
                        RouteKind::Http,
                        ri,
                        hosts.iter().map(|h| h.0.clone()).collect(),
                    ));
                    let key = format!("{}/{}", r.meta.namespace, r.meta.name);
                    for (host, orig) in hosts {
                        let group = http_groups.entry(host).or_default();
                        for rule_i in 0..info_r.rule_count {
                            let gi = info_r.first_rule + rule_i;
                            for (mi, m) in http_rules[gi].specs.iter().enumerate() {
                                let (path_class, path_len) = PathMatch::rank(
                                    m.path
                                        .as_ref()
                                        .unwrap_or(&PathMatchSpec::Prefix("/".into())),
                                );
                                let compiled = &http_rules[gi].matches[mi];
                                group.push((
                                    HttpKey {
                                        orig_host: Reverse(orig),
                                        path_class: Reverse(path_class),
                                        path_len: Reverse(path_len),
                                        method: Reverse(compiled.method.is_some()),
                                        headers: Reverse(compiled.headers.len()),
                                        queries: Reverse(compiled.queries.len()),
                                        tie: Tie {
                                            created: r.meta.created,
                                            key: key.clone(),
                                            rule: rule_i,
                                            m: mi,
                                        },
                                    },
                                    Candidate {
                                        rule: gi as u32,
                                        m: mi as u32,
                                    },
                                    http_pin(m),
                                ));
                            }
                        }
                    }
                }
                let mut grpc_groups: BTreeMap<HostPattern, Vec<(GrpcKey, Candidate, Pin)>> =
                    BTreeMap::new();
                for (ri, (r, info_r)) in spec.grpc_routes.iter().zip(&grpc_routes).enumerate() {
                    let Some(hosts) = attach(&info, &r.meta, info_r) else {
                        continue;
                    };
                    attached.push((
                        RouteKind::Grpc,
                        ri,
                        hosts.iter().map(|h| h.0.clone()).collect(),
                    ));
                    let key = format!("{}/{}", r.meta.namespace, r.meta.name);
                    for (host, _orig) in hosts {
                        let group = grpc_groups.entry(host).or_default();
                        for rule_i in 0..info_r.rule_count {
                            let gi = info_r.first_rule + rule_i;
                            for (mi, m) in grpc_rules[gi].specs.iter().enumerate() {
                                let (service, method) = GrpcMatch::rank(m.method.as_ref());
                                group.push((
                                    GrpcKey {
                                        service: Reverse(service),
                                        method: Reverse(method),
                                        headers: Reverse(grpc_rules[gi].matches[mi].headers.len()),
                                        tie: Tie {
                                            created: r.meta.created,
                                            key: key.clone(),
                                            rule: rule_i,
                                            m: mi,
                                        },
                                    },
                                    Candidate {
                                        rule: gi as u32,
                                        m: mi as u32,
                                    },
                                    grpc_pin(m),
                                ));
                            }
                        }
                    }
                }
                Listener {
                    info,
                    http: HostIndex::from_groups(sorted_groups(http_groups)),
                    grpc: HostIndex::from_groups(sorted_groups(grpc_groups)),
                    attached,
                }
            })
            .collect();

        Ok(RouteTable {
            listeners,
            http_routes,
            grpc_routes,
            http_rules,
            grpc_rules,
        })
    }

    /// The listeners, in spec order.
    pub fn listeners(&self) -> impl ExactSizeIterator<Item = &ListenerInfo> {
        self.listeners.iter().map(|l| &l.info)
    }

    /// A route by kind and spec index.
    pub fn route_info(&self, kind: RouteKind, route: usize) -> Option<&RouteInfo> {
        match kind {
            RouteKind::Http => self.http_routes.get(route),
            RouteKind::Grpc => self.grpc_routes.get(route),
        }
    }

    /// The backends of a matched rule.
    pub fn backends(&self, kind: RouteKind, route: usize, rule: usize) -> Option<&[BackendSpec]> {
        let info = self.route_info(kind, route)?;
        if rule >= info.rule_count {
            return None;
        }
        let gi = info.first_rule + rule;
        Some(match kind {
            RouteKind::Http => &self.http_rules.get(gi)?.backends,
            RouteKind::Grpc => &self.grpc_rules.get(gi)?.backends,
        })
    }

    /// The listener for a request: on `port` (any port if `None`), the most specific hostname
    /// matching `host`; the first declared on ties.
    pub fn select_listener(&self, port: Option<u16>, host: &[u8]) -> Option<usize> {
        let mut best: Option<(usize, (usize, usize))> = None;
        for (i, l) in self.listeners.iter().enumerate() {
            if port.is_some_and(|p| p != l.info.port) || !l.info.hostname.matches(host) {
                continue;
            }
            let score = l.info.hostname.specificity();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Routes a request: listener, rule, and the weighted backend chosen with `random` (64
    /// random bits from the worker's PRNG; the same value always gives the same backend).
    #[inline]
    pub fn route<H: Headers + ?Sized>(
        &self,
        req: &Request<'_, H>,
        random: u64,
    ) -> Result<RouteMatch, NoRoute> {
        let (listener, kind, c) = self.find_rule(req)?;
        let (route, rule_index, split) = match kind {
            RouteKind::Http => {
                let r = &self.http_rules[c.rule as usize];
                (
                    r.route,
                    c.rule as usize - self.http_routes[r.route].first_rule,
                    &r.split,
                )
            }
            RouteKind::Grpc => {
                let r = &self.grpc_rules[c.rule as usize];
                (
                    r.route,
                    c.rule as usize - self.grpc_routes[r.route].first_rule,
                    &r.split,
                )
            }
        };
        match split.pick(random) {
            Some((backend, cluster)) => Ok(RouteMatch {
                listener,
                kind,
                route,
                rule: rule_index,
                match_index: c.m as usize,
                backend,
                cluster,
            }),
            None => Err(NoRoute::NoBackend {
                listener,
                kind,
                route,
                rule: rule_index,
            }),
        }
    }

    /// The winning (rule, match) candidate, before the backend split.
    #[inline]
    pub(crate) fn find_rule<H: Headers + ?Sized>(
        &self,
        req: &Request<'_, H>,
    ) -> Result<(usize, RouteKind, Candidate), NoRoute> {
        let host = req.host();
        let li = self
            .select_listener(req.port, host)
            .ok_or(NoRoute::NoListener)?;
        let l = &self.listeners[li];
        let path = req.path_only();
        let segment = first_segment(path);
        // The content-type lookup scans the headers: only when some GRPCRoute could match.
        if !self.grpc_rules.is_empty() && req.is_grpc() {
            let parts = split_grpc_stripped(path);
            if let Some(c) = l.grpc.find(host, segment, |c| {
                self.grpc_rules[c.rule as usize].matches[c.m as usize].is_match(req, parts)
            }) {
                return Ok((li, RouteKind::Grpc, c));
            }
        }
        match l.http.find(host, segment, |c| {
            self.http_rules[c.rule as usize].matches[c.m as usize].is_match(req, path)
        }) {
            Some(c) => Ok((li, RouteKind::Http, c)),
            None => Err(NoRoute::NoMatch { listener: li }),
        }
    }
}

/// The first path segment a candidate pins, for the segment index.
type Pin = Option<Box<[u8]>>;

fn http_pin(m: &HttpMatchSpec) -> Pin {
    match &m.path {
        Some(PathMatchSpec::Exact(p)) => pinned_segment(p),
        Some(PathMatchSpec::Prefix(p)) => {
            let p = p.trim_end_matches('/');
            if p.is_empty() {
                None
            } else {
                pinned_segment(p)
            }
        }
        Some(PathMatchSpec::Regex(_)) | None => None,
    }
}

fn grpc_pin(m: &GrpcMatchSpec) -> Pin {
    match &m.method {
        Some(GrpcMethodSpec {
            regex: false,
            service: Some(s),
            ..
        }) if !s.is_empty() => Some(s.as_bytes().into()),
        _ => None,
    }
}

/// Sorts each group's candidates by precedence and builds its segment index.
fn sorted_groups<K: Ord>(
    groups: BTreeMap<HostPattern, Vec<(K, Candidate, Pin)>>,
) -> Vec<(HostPattern, Group)> {
    groups
        .into_iter()
        .map(|(pattern, mut cands)| {
            cands.sort_by(|a, b| a.0.cmp(&b.0));
            let group = Group::new(cands.into_iter().map(|(_, c, pin)| (c, pin)).collect());
            (pattern, group)
        })
        .collect()
}

/// Whether `meta` attaches to `listener`, and with which intersected hostnames (each with the
/// best specificity of the original route hostnames that produced it).
fn attach(
    listener: &ListenerInfo,
    meta: &RouteMeta,
    info: &RouteInfo,
) -> Option<Vec<(HostPattern, (usize, usize))>> {
    let parent = meta.parents.iter().any(|p| {
        p.gateway == listener.gateway
            && p.section_name.as_deref().is_none_or(|s| s == listener.name)
            && p.port.is_none_or(|port| port == listener.port)
    });
    if !parent {
        return None;
    }
    if info.hostnames.is_empty() {
        return Some(vec![(listener.hostname.clone(), (0, 0))]);
    }
    let mut out: Vec<(HostPattern, (usize, usize))> = Vec::new();
    for h in &info.hostnames {
        let Some(x) = intersect(&listener.hostname, h) else {
            continue;
        };
        let spec = h.specificity();
        match out.iter_mut().find(|(p, _)| *p == x) {
            Some((_, best)) => *best = (*best).max(spec),
            None => out.push((x, spec)),
        }
    }
    (!out.is_empty()).then_some(out)
}
