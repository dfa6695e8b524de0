//! `explain`: which listener, rule, cluster and endpoint a request would get, and why — without
//! sending anything. Backs `h2edge route CONFIG --authority HOST --path /pkg.Svc/Method ...`.
//!
//! Not a hot path: it allocates freely and walks every candidate to also list the rules that
//! matched with lower precedence.

use std::fmt;
use std::net::SocketAddr;

use super::host::HostPattern;
use super::index::Candidate;
use super::matcher::split_grpc_path;
use super::request::{Headers, Request};
use super::spec::{ClusterId, GrpcMatchSpec, HttpMatchSpec, PathMatchSpec, StringMatchSpec};
use super::table::{LocalStatus, NoRoute, RouteKind, RouteTable};
use crate::balance::{HashKeySpec, PolicySpec, SetCookie, Tables, key};

/// The whole answer.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub authority: String,
    pub path: String,
    pub method: String,
    pub grpc: bool,
    pub source: Option<SocketAddr>,
    /// `gateway/listener (port N, hostname H)`, if one accepted the host.
    pub listener: Option<String>,
    pub matched: Option<MatchedRule>,
    /// Other rules that also match, in precedence order (they lost).
    pub also_matched: Vec<String>,
    /// Routes attached to the listener (shown when nothing matched).
    pub attached: Vec<String>,
    pub backends: Vec<BackendExplanation>,
    /// The local answer when the request cannot be forwarded.
    pub local_reply: Option<LocalStatus>,
    pub no_route: Option<NoRoute>,
}

/// The rule that won and the clauses that made it match.
#[derive(Clone, Debug)]
pub struct MatchedRule {
    pub kind: RouteKind,
    /// `namespace/name`.
    pub route: String,
    pub rule: usize,
    pub rule_name: Option<String>,
    pub match_index: usize,
    /// The route hostname (intersected with the listener's) that matched the host.
    pub hostname: String,
    /// One line per clause that held.
    pub why: Vec<String>,
}

/// One weighted backend of the matched rule and where it leads.
#[derive(Clone, Debug)]
pub struct BackendExplanation {
    pub name: String,
    pub cluster: ClusterId,
    pub weight: u32,
    /// Share of the rule's traffic, in percent.
    pub share: f64,
    pub cluster_name: Option<String>,
    pub policy: Option<String>,
    /// `id (weight w, priority p)` of every endpoint.
    pub endpoints: Vec<String>,
    /// For consistent-hash policies.
    pub hash: Option<HashExplanation>,
}

#[derive(Clone, Debug)]
pub struct HashExplanation {
    /// Where the key came from and its value.
    pub key: String,
    pub hash: Option<u64>,
    /// The endpoint (index into the cluster's endpoints, and its id) the key maps to with every
    /// endpoint healthy; `None` when the key is absent (random pick).
    pub endpoint: Option<(usize, String)>,
    /// `Set-Cookie` the gateway would send.
    pub set_cookie: Option<String>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn string_match(s: &StringMatchSpec) -> String {
    match s {
        StringMatchSpec::Exact(v) => format!("= {v:?}"),
        StringMatchSpec::Regex(r) => format!("~ /{r}/"),
    }
}

fn http_why(spec: &HttpMatchSpec, defaulted: bool) -> Vec<String> {
    let mut why = Vec::new();
    if defaulted {
        why.push("rule has no matches: PathPrefix / (every request)".to_owned());
        return why;
    }
    why.push(match &spec.path {
        None => "path PathPrefix / (default)".to_owned(),
        Some(PathMatchSpec::Exact(p)) => format!("path Exact {p}"),
        Some(PathMatchSpec::Prefix(p)) => format!("path PathPrefix {p}"),
        Some(PathMatchSpec::Regex(r)) => format!("path RegularExpression /{r}/"),
    });
    if let Some(m) = &spec.method {
        why.push(format!("method {m}"));
    }
    for h in &spec.headers {
        why.push(format!(
            "header {} {}",
            h.name.to_ascii_lowercase(),
            string_match(&h.value)
        ));
    }
    for q in &spec.query_params {
        why.push(format!(
            "query parameter {} {}",
            q.name,
            string_match(&q.value)
        ));
    }
    why
}

fn grpc_why(spec: &GrpcMatchSpec, defaulted: bool) -> Vec<String> {
    let mut why = Vec::new();
    if defaulted {
        why.push("rule has no matches: every gRPC request".to_owned());
        return why;
    }
    match &spec.method {
        None => why.push("any service and method".to_owned()),
        Some(m) => {
            let kind = if m.regex {
                "RegularExpression"
            } else {
                "Exact"
            };
            if let Some(s) = &m.service {
                why.push(format!("service {kind} {s}"));
            }
            if let Some(s) = &m.method {
                why.push(format!("method {kind} {s}"));
            }
        }
    }
    for h in &spec.headers {
        why.push(format!(
            "header {} {}",
            h.name.to_ascii_lowercase(),
            string_match(&h.value)
        ));
    }
    why
}

impl RouteTable {
    fn describe_candidate(&self, kind: RouteKind, c: Candidate) -> (String, usize, Option<String>) {
        let (route, name) = match kind {
            RouteKind::Http => {
                let r = &self.http_rules[c.rule as usize];
                (&self.http_routes[r.route], r.name.clone())
            }
            RouteKind::Grpc => {
                let r = &self.grpc_rules[c.rule as usize];
                (&self.grpc_routes[r.route], r.name.clone())
            }
        };
        let rule = c.rule as usize - route.first_rule;
        (format!("{}/{}", route.namespace, route.name), rule, name)
    }
}

/// Explains how `req` is routed by `table` and balanced by the clusters `clusters` resolves.
/// Hash policies are evaluated as on a fresh worker (every endpoint healthy).
pub fn explain<'c, H: Headers + ?Sized>(
    table: &RouteTable,
    clusters: impl Fn(ClusterId) -> Option<&'c Tables>,
    req: &Request<'_, H>,
) -> Explanation {
    let grpc = req.is_grpc();
    let mut ex = Explanation {
        authority: lossy(req.authority),
        path: lossy(req.path),
        method: lossy(req.method),
        grpc,
        source: req.source,
        listener: None,
        matched: None,
        also_matched: Vec::new(),
        attached: Vec::new(),
        backends: Vec::new(),
        local_reply: None,
        no_route: None,
    };
    let host = req.host();
    let Some(li) = table.select_listener(req.port, host) else {
        let nr = NoRoute::NoListener;
        ex.local_reply = Some(nr.status());
        ex.no_route = Some(nr);
        return ex;
    };
    let l = &table.listeners[li];
    ex.listener = Some(format!(
        "{}/{} (port {}, hostname {})",
        l.info.gateway, l.info.name, l.info.port, l.info.hostname
    ));

    // Every matching candidate in precedence order.
    let mut hits: Vec<(RouteKind, HostPattern, Candidate)> = Vec::new();
    if grpc {
        let parts = split_grpc_path(req.path);
        for (pattern, group) in l.grpc.groups(host) {
            for &c in group.all() {
                if table.grpc_rules[c.rule as usize].matches[c.m as usize].is_match(req, parts) {
                    hits.push((RouteKind::Grpc, pattern.clone(), c));
                }
            }
        }
    }
    let path = req.path_only();
    for (pattern, group) in l.http.groups(host) {
        for &c in group.all() {
            if table.http_rules[c.rule as usize].matches[c.m as usize].is_match(req, path) {
                hits.push((RouteKind::Http, pattern.clone(), c));
            }
        }
    }

    let Some((kind, pattern, winner)) = hits.first().cloned() else {
        for (kind, ri, hosts) in &l.attached {
            if let Some(r) = table.route_info(*kind, *ri) {
                let hosts: Vec<String> = hosts.iter().map(ToString::to_string).collect();
                ex.attached.push(format!(
                    "{kind} {}/{} (hostnames {})",
                    r.namespace,
                    r.name,
                    hosts.join(", ")
                ));
            }
        }
        let nr = NoRoute::NoMatch { listener: li };
        ex.local_reply = Some(nr.status());
        ex.no_route = Some(nr);
        return ex;
    };
    for (k, p, c) in hits.iter().skip(1) {
        let (route, rule, _) = table.describe_candidate(*k, *c);
        ex.also_matched.push(format!(
            "{k} {route} rules[{rule}].matches[{}] (hostname {p})",
            c.m
        ));
    }

    let (route, rule, rule_name) = table.describe_candidate(kind, winner);
    let (mut why, backends, split_total) = match kind {
        RouteKind::Http => {
            let r = &table.http_rules[winner.rule as usize];
            (
                http_why(&r.specs[winner.m as usize], r.defaulted),
                &r.backends,
                r.split.total(),
            )
        }
        RouteKind::Grpc => {
            let r = &table.grpc_rules[winner.rule as usize];
            (
                grpc_why(&r.specs[winner.m as usize], r.defaulted),
                &r.backends,
                r.split.total(),
            )
        }
    };
    why.insert(
        0,
        match &pattern {
            HostPattern::Any => format!("hostname: any ({} matches every host)", lossy(host)),
            HostPattern::Exact(_) => format!("hostname {pattern} (exact)"),
            HostPattern::Wildcard(_) => format!("hostname {pattern} (wildcard)"),
        },
    );
    ex.matched = Some(MatchedRule {
        kind,
        route,
        rule,
        rule_name,
        match_index: winner.m as usize,
        hostname: pattern.to_string(),
        why,
    });
    if split_total == 0 {
        let route_i = match kind {
            RouteKind::Http => table.http_rules[winner.rule as usize].route,
            RouteKind::Grpc => table.grpc_rules[winner.rule as usize].route,
        };
        let nr = NoRoute::NoBackend {
            listener: li,
            kind,
            route: route_i,
            rule,
        };
        ex.local_reply = Some(nr.status());
        ex.no_route = Some(nr);
    }

    for b in backends.iter() {
        let share = if split_total == 0 {
            0.0
        } else {
            100.0 * f64::from(b.weight) / split_total as f64
        };
        let mut be = BackendExplanation {
            name: b.name.clone(),
            cluster: b.cluster,
            weight: b.weight,
            share,
            cluster_name: None,
            policy: None,
            endpoints: Vec::new(),
            hash: None,
        };
        if let Some(cluster) = clusters(b.cluster) {
            be.cluster_name = Some(cluster.name().to_owned());
            be.policy = Some(cluster.policy().to_string());
            be.endpoints = cluster
                .endpoints()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let mut s = format!("{} (weight {}", e.id, e.weight);
                    if !e.locality.region.is_empty() || !e.locality.zone.is_empty() {
                        s.push_str(&format!(
                            ", locality {}/{}/{}",
                            e.locality.region, e.locality.zone, e.locality.subzone
                        ));
                    }
                    let priority = cluster.priority(i).unwrap_or_default();
                    s.push_str(&format!(", priority {priority})"));
                    s
                })
                .collect();
            if let PolicySpec::ConsistentHash { key: spec, .. } = cluster.policy() {
                let outcome = key::extract(spec, req, 0);
                let endpoint = outcome.hash.and_then(|h| {
                    let i = cluster.hash_owner(h)?;
                    Some((i, cluster.endpoints().get(i)?.id.clone()))
                });
                let set_cookie = match (spec, outcome.generated_cookie) {
                    (HashKeySpec::Cookie(c), Some(value)) => {
                        Some(SetCookie { spec: c, value }.to_string())
                    }
                    _ => None,
                };
                be.hash = Some(HashExplanation {
                    key: key::describe(spec, req),
                    hash: outcome.hash,
                    endpoint,
                    set_cookie,
                });
            }
        }
        ex.backends.push(be);
    }
    ex
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request   {} {} (authority {}, {})",
            self.method,
            self.path,
            self.authority,
            if self.grpc { "gRPC" } else { "HTTP" }
        )?;
        if let Some(s) = self.source {
            write!(f, ", source {}", s.ip())?;
        }
        writeln!(f)?;
        match &self.listener {
            Some(l) => writeln!(f, "listener  {l}")?,
            None => writeln!(f, "listener  none accepts this host")?,
        }
        if let Some(m) = &self.matched {
            write!(f, "route     {} {} rules[{}]", m.kind, m.route, m.rule)?;
            if let Some(n) = &m.rule_name {
                write!(f, " ({n})")?;
            }
            writeln!(f, " matches[{}]", m.match_index)?;
            for (i, w) in m.why.iter().enumerate() {
                writeln!(f, "{}{w}", if i == 0 { "  why     " } else { "          " })?;
            }
        } else if self.listener.is_some() {
            writeln!(f, "route     no rule matches")?;
            for a in &self.attached {
                writeln!(f, "  attached {a}")?;
            }
        }
        for a in &self.also_matched {
            writeln!(f, "  also matched, lower precedence: {a}")?;
        }
        for b in &self.backends {
            write!(
                f,
                "backend   {} weight {} ({:.1}%)",
                b.name, b.weight, b.share
            )?;
            match (&b.cluster_name, &b.policy) {
                (Some(c), Some(p)) => writeln!(f, " -> cluster {c}, policy {p}")?,
                _ => writeln!(f, " -> cluster #{} (unknown)", b.cluster.0)?,
            }
            for e in &b.endpoints {
                writeln!(f, "  endpoint {e}")?;
            }
            if let Some(h) = &b.hash {
                write!(f, "  key     {}", h.key)?;
                if let Some(hash) = h.hash {
                    write!(f, " (hash {hash:016x})")?;
                }
                writeln!(f)?;
                match &h.endpoint {
                    Some((i, id)) => {
                        writeln!(f, "  maps to {id} (endpoint #{i}, all endpoints healthy)")?
                    }
                    None => writeln!(f, "  maps to a random endpoint per request (no key)")?,
                }
                if let Some(c) = &h.set_cookie {
                    writeln!(f, "  sets    Set-Cookie: {c}")?;
                }
            }
        }
        if let Some(s) = &self.local_reply {
            writeln!(
                f,
                "answer    local: {} (HTTP {} / grpc-status {})",
                s.message, s.http_status, s.grpc_status
            )?;
        }
        Ok(())
    }
}
