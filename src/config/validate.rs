//! Cross-object checks and resolution: references (Secrets, ConfigMaps, Gateways, listeners,
//! Services, EndpointSlices) are resolved, listeners are checked to be distinct, routes are
//! attached to listeners, and one cluster is built per (Service, port) that a route sends to, with
//! its DestinationRule or BackendTLSPolicy applied.

use std::collections::{BTreeSet, HashMap};

use super::load::{
    AllowedRoutes, BackendRef, LOCALITY_ANNOTATION, Loaded, ObjRef, Object, ParentRefRaw,
    RawBackendTlsPolicy, RawConfigMap, RawDestinationRule, RawEndpointSlice, RawGateway, RawPolicy,
    RawRule, RawSecret, RawService, RawTls,
};
use super::load::{Head, RawGrpcRoute, RawHttpRoute, client_conns, http2};
use super::model::{
    CertKeyPair, ClientCert, ClientTls, ClientValidation, Cluster, Config, Endpoint, Endpoints,
    FrontendValidation, Gateway, GrpcRoute, GrpcRouteRule, Hostname, Http2Settings, HttpRoute,
    HttpRouteRule, Listener, ListenerRef, ListenerTls, ParentRef, Protocol, Subset, TrafficPolicy,
    TrustAnchor, UpstreamTls, UpstreamTlsMode, WeightedBackend,
};
use super::problem::object_name;
use super::read::{Loc, Origin, Sink};
use crate::balance::Locality;
use crate::route::ClusterId;

/// The cluster DNS suffix DestinationRule short names expand with.
pub const CLUSTER_DOMAIN: &str = "svc.cluster.local";

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const REGION_LABEL: &str = "topology.kubernetes.io/region";
const SUBZONE_LABEL: &str = "topology.istio.io/subzone";

#[derive(Default)]
struct Objects {
    gateways: Vec<RawGateway>,
    http_routes: Vec<RawHttpRoute>,
    grpc_routes: Vec<RawGrpcRoute>,
    backend_tls: Vec<RawBackendTlsPolicy>,
    destination_rules: Vec<RawDestinationRule>,
    secrets: Vec<RawSecret>,
    configmaps: Vec<RawConfigMap>,
    services: Vec<RawService>,
    slices: Vec<RawEndpointSlice>,
}

type Key<'a> = (&'a str, &'a str);

struct Resolver<'a> {
    o: &'a Objects,
    sink: &'a mut Sink,
    /// Some file could not be read to its end: missing references may be in the lost part.
    incomplete: bool,
    secrets: HashMap<Key<'a>, &'a RawSecret>,
    configmaps: HashMap<Key<'a>, &'a RawConfigMap>,
    services: HashMap<Key<'a>, &'a RawService>,
    slices: HashMap<Key<'a>, Vec<&'a RawEndpointSlice>>,
    gateway_index: HashMap<Key<'a>, usize>,
    /// Clusters built so far, with the gateways whose routes reach each one.
    clusters: Vec<(Cluster, BTreeSet<usize>)>,
    cluster_index: HashMap<(String, String, u16), usize>,
}

pub(crate) fn resolve(loaded: Loaded, sink: &mut Sink) -> Config {
    let files = loaded.files;
    let incomplete = loaded.incomplete;
    check_duplicates(&loaded.objects, sink);
    let mut o = Objects::default();
    for obj in loaded.objects {
        match obj {
            Object::Gateway(x) => o.gateways.push(x),
            Object::HttpRoute(x) => o.http_routes.push(x),
            Object::GrpcRoute(x) => o.grpc_routes.push(x),
            Object::BackendTlsPolicy(x) => o.backend_tls.push(x),
            Object::DestinationRule(x) => o.destination_rules.push(x),
            Object::Secret(x) => o.secrets.push(x),
            Object::ConfigMap(x) => o.configmaps.push(x),
            Object::Service(x) => o.services.push(x),
            Object::EndpointSlice(x) => o.slices.push(x),
        }
    }
    let mut r = Resolver::new(&o, sink, incomplete);
    let gateways = r.gateways();
    r.check_listeners();
    r.check_localities();
    let mut http_routes = Vec::new();
    for route in &o.http_routes {
        let origin = route.head.origin.clone();
        let parents = r.attach(
            &route.head,
            "HTTPRoute",
            &route.parents,
            &route.hostnames,
            &gateways,
        );
        let gws: BTreeSet<usize> = parents.iter().map(|p| p.gateway).collect();
        let rules = route
            .rules
            .iter()
            .map(|rule| HttpRouteRule {
                name: rule.name.clone(),
                matches: rule.matches.clone(),
                backends: r.backends(&origin, rule, &gws),
                timeouts: rule.timeouts,
            })
            .collect();
        http_routes.push(HttpRoute {
            meta: route.head.meta(),
            parents,
            hostnames: route.hostnames.clone(),
            rules,
        });
    }
    let mut grpc_routes = Vec::new();
    for route in &o.grpc_routes {
        let origin = route.head.origin.clone();
        let parents = r.attach(
            &route.head,
            "GRPCRoute",
            &route.parents,
            &route.hostnames,
            &gateways,
        );
        let gws: BTreeSet<usize> = parents.iter().map(|p| p.gateway).collect();
        let rules = route
            .rules
            .iter()
            .map(|rule| GrpcRouteRule {
                name: rule.name.clone(),
                matches: rule.matches.clone(),
                backends: r.backends(&origin, rule, &gws),
            })
            .collect();
        grpc_routes.push(GrpcRoute {
            meta: route.head.meta(),
            parents,
            hostnames: route.hostnames.clone(),
            rules,
        });
    }
    r.check_mixed_routes(&gateways, &http_routes, &grpc_routes);
    r.check_destination_rules();
    r.check_backend_tls();
    let clusters = r.finish_clusters(&gateways);
    let mut config = Config {
        gateways,
        http_routes,
        grpc_routes,
        clusters,
        files,
        referenced_files: std::mem::take(&mut sink.referenced),
        notes: Vec::new(),
    };
    config.notes = std::mem::take(&mut sink.notes);
    config
}

/// Two objects of the same kind, namespace and name.
fn check_duplicates(objects: &[Object], sink: &mut Sink) {
    let mut seen: HashMap<(&str, &str, &str), &Head> = HashMap::new();
    for obj in objects {
        let h = obj.head();
        match seen.get(&(h.kind, h.namespace.as_str(), h.name.as_str())) {
            Some(first) => sink.error(
                &h.origin,
                h.line,
                "metadata.name",
                format!(
                    "duplicate {}: first defined at {}",
                    h.origin.object,
                    first.source()
                ),
            ),
            None => {
                seen.insert((h.kind, &h.namespace, &h.name), h);
            }
        }
    }
}

fn fqdn(namespace: &str, service: &str) -> String {
    format!("{service}.{namespace}.{CLUSTER_DOMAIN}")
}

/// A DestinationRule host as a full name: `product` → `product.<ns>.svc.cluster.local`,
/// `product.ns` → `product.ns.svc.cluster.local`; wildcards and other names stay as written.
fn normalize_host(host: &str, namespace: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.starts_with('*') {
        return host.to_string();
    }
    match host.matches('.').count() {
        0 => fqdn(namespace, host),
        1 => format!("{host}.{CLUSTER_DOMAIN}"),
        _ if host.ends_with(".svc") => format!("{host}.cluster.local"),
        _ => host.to_string(),
    }
}

/// How well a DestinationRule host matches a name: exact beats the longest wildcard.
fn host_match_rank(host: &str, name: &str) -> Option<usize> {
    if host == name {
        return Some(usize::MAX);
    }
    if host == "*" {
        return Some(0);
    }
    let suffix = host.strip_prefix('*')?;
    (name.len() > suffix.len() && name.ends_with(suffix)).then_some(suffix.len())
}

impl<'a> Resolver<'a> {
    fn new(o: &'a Objects, sink: &'a mut Sink, incomplete: bool) -> Self {
        let mut slices: HashMap<Key, Vec<&RawEndpointSlice>> = HashMap::new();
        for s in &o.slices {
            slices
                .entry((s.head.namespace.as_str(), s.service.as_str()))
                .or_default()
                .push(s);
        }
        Resolver {
            o,
            sink,
            incomplete,
            secrets: o
                .secrets
                .iter()
                .map(|s| ((s.head.namespace.as_str(), s.head.name.as_str()), s))
                .collect(),
            configmaps: o
                .configmaps
                .iter()
                .map(|s| ((s.head.namespace.as_str(), s.head.name.as_str()), s))
                .collect(),
            services: o
                .services
                .iter()
                .map(|s| ((s.head.namespace.as_str(), s.head.name.as_str()), s))
                .collect(),
            slices,
            gateway_index: o
                .gateways
                .iter()
                .enumerate()
                .map(|(i, g)| ((g.head.namespace.as_str(), g.head.name.as_str()), i))
                .collect(),
            clusters: Vec::new(),
            cluster_index: HashMap::new(),
        }
    }

    /// Reports a reference to something absent (unless some file was unreadable).
    fn missing(&mut self, origin: &Origin, loc: &Loc, reason: String) {
        if !self.incomplete {
            self.sink.error(origin, loc.line, &loc.path, reason);
        }
    }

    fn describe(kind: &str, r: &ObjRef, from_ns: &str) -> String {
        if r.namespace == from_ns {
            format!("{kind} {:?} not found", r.name)
        } else {
            format!(
                "{kind} {:?} not found in namespace {:?}",
                r.name, r.namespace
            )
        }
    }

    /// A certificate and key from a `kubernetes.io/tls` Secret.
    fn secret_pair(&mut self, origin: &Origin, from_ns: &str, r: &ObjRef) -> Option<CertKeyPair> {
        match self.secrets.get(&(r.namespace.as_str(), r.name.as_str())) {
            Some(s) => Some(CertKeyPair {
                source: format!("Secret/{}/{}", r.namespace, r.name),
                cert_pem: s.cert_pem.clone()?,
                key_pem: s.key_pem.clone()?,
                ca_pem: s.ca_pem.clone(),
            }),
            None => {
                self.missing(origin, &r.loc, Self::describe("Secret", r, from_ns));
                None
            }
        }
    }

    /// The concatenated `ca.crt` of ConfigMaps / Secrets.
    fn ca_bundle(&mut self, origin: &Origin, from_ns: &str, refs: &[ObjRef]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut ok = true;
        for r in refs {
            let key = (r.namespace.as_str(), r.name.as_str());
            let found = if r.kind == "ConfigMap" {
                self.configmaps.get(&key).map(|c| c.ca_pem.as_ref())
            } else {
                self.secrets.get(&key).map(|s| s.ca_pem.as_ref())
            };
            match found {
                Some(Some(pem)) => {
                    out.extend_from_slice(pem);
                    if !pem.ends_with(b"\n") {
                        out.push(b'\n');
                    }
                }
                Some(None) => {
                    self.sink.error(
                        origin,
                        r.loc.line,
                        &r.loc.path,
                        format!("{} {:?} has no ca.crt", r.kind, r.name),
                    );
                    ok = false;
                }
                None => {
                    self.missing(origin, &r.loc, Self::describe(&r.kind, r, from_ns));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn gateways(&mut self) -> Vec<Gateway> {
        let o = self.o;
        let mut out = Vec::new();
        for g in &o.gateways {
            let origin = &g.head.origin;
            let ns = g.head.namespace.as_str();
            let mut listeners = Vec::new();
            for l in &g.listeners {
                let tls = match l.protocol {
                    Protocol::Https => {
                        let certificates = l
                            .cert_refs
                            .iter()
                            .filter_map(|r| self.secret_pair(origin, ns, r))
                            .collect();
                        Some(ListenerTls { certificates })
                    }
                    Protocol::Http => None,
                };
                listeners.push(Listener {
                    name: l.name.clone(),
                    hostname: l.hostname.clone(),
                    port: l.port,
                    protocol: l.protocol,
                    tls,
                });
            }
            let backend_client_cert = g
                .backend_cert
                .as_ref()
                .and_then(|r| self.secret_pair(origin, ns, r));
            let mut frontend = FrontendValidation::default();
            if let Some(v) = &g.frontend_default {
                frontend.default =
                    self.ca_bundle(origin, ns, &v.ca_refs)
                        .map(|ca_pem| ClientValidation {
                            ca_pem,
                            mode: v.mode,
                        });
            }
            for (port, v, port_loc) in &g.frontend_per_port {
                if !g
                    .listeners
                    .iter()
                    .any(|l| l.port == *port && l.protocol == Protocol::Https)
                {
                    self.sink.error(
                        origin,
                        port_loc.line,
                        &port_loc.path,
                        format!("no HTTPS listener on port {port} for this validation to apply to"),
                    );
                }
                if let Some(ca_pem) = self.ca_bundle(origin, ns, &v.ca_refs) {
                    frontend.per_port.push((
                        *port,
                        ClientValidation {
                            ca_pem,
                            mode: v.mode,
                        },
                    ));
                }
            }
            out.push(Gateway {
                meta: g.head.meta(),
                listeners,
                backend_client_cert,
                frontend_validation: frontend,
                locality: g.locality.clone(),
                http2: g.http2,
                buffers: g.buffers,
                clients: g.clients,
            });
        }
        out
    }

    /// One process runs in one place: the Gateways that name their locality must name the same.
    fn check_localities(&mut self) {
        let o = self.o;
        let mut first: Option<&RawGateway> = None;
        for g in &o.gateways {
            if g.locality == Locality::default() {
                continue;
            }
            match first {
                None => first = Some(g),
                Some(f) if f.locality != g.locality => self.sink.error(
                    &g.head.origin,
                    g.head.line,
                    &format!("metadata.annotations.{LOCALITY_ANNOTATION}"),
                    format!(
                        "differs from the locality of {}: the Gateways of one h2edge process run in one place",
                        f.head.origin.object
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    /// Listeners must be distinct across all gateways: one protocol per port, and a unique
    /// (port, protocol, hostname).
    fn check_listeners(&mut self) {
        let o = self.o;
        let mut by_port: HashMap<u16, (Protocol, &RawGateway, &str)> = HashMap::new();
        let mut seen: HashMap<(u16, Protocol, Option<&str>), (&RawGateway, &str)> = HashMap::new();
        for g in &o.gateways {
            for l in &g.listeners {
                if let Some((proto, og, oname)) = by_port.get(&l.port) {
                    if *proto != l.protocol {
                        self.sink.error(
                            &g.head.origin,
                            l.loc.line,
                            &format!("{}.protocol", l.loc.path),
                            format!(
                                "port {} is already used with protocol {} by listener {:?} of {}",
                                l.port,
                                proto.as_str(),
                                oname,
                                og.head.origin.object
                            ),
                        );
                        continue;
                    }
                    // One socket serves the port: its connections cannot follow two Gateways.
                    if og.http2 != g.http2 {
                        self.sink.error(
                            &g.head.origin,
                            l.loc.line,
                            &format!("{}.port", l.loc.path),
                            format!(
                                "port {} is shared with listener {:?} of {}, whose HTTP/2 annotations ({}, {}, {}) differ; connections on one port get one setting, so give both Gateways the same values",
                                l.port,
                                oname,
                                og.head.origin.object,
                                http2::STREAM_WINDOW,
                                http2::CONNECTION_WINDOW,
                                http2::MAX_BUFFERED_OUTPUT,
                            ),
                        );
                    }
                    if og.clients != g.clients {
                        self.sink.error(
                            &g.head.origin,
                            l.loc.line,
                            &format!("{}.port", l.loc.path),
                            format!(
                                "port {} is shared with listener {:?} of {}, whose client connection annotations ({}, {}, {}, {}, {}) differ; connections on one port get one setting, so give both Gateways the same values",
                                l.port,
                                oname,
                                og.head.origin.object,
                                client_conns::TLS_HANDSHAKE_TIMEOUT,
                                client_conns::PREFACE_TIMEOUT,
                                client_conns::REQUEST_HEADERS_TIMEOUT,
                                client_conns::IDLE_TIMEOUT,
                                client_conns::MAX_CONNECTIONS,
                            ),
                        );
                    }
                } else {
                    by_port.insert(l.port, (l.protocol, g, &l.name));
                }
                let key = (l.port, l.protocol, l.hostname.as_ref().map(|h| h.as_str()));
                match seen.get(&key) {
                    Some((og, oname)) => self.sink.error(
                        &g.head.origin,
                        l.loc.line,
                        &l.loc.path,
                        format!(
                            "duplicate listener: {} listener {:?} already has port {}, protocol {} and hostname {}",
                            og.head.origin.object,
                            oname,
                            l.port,
                            l.protocol.as_str(),
                            l.hostname.as_ref().map_or("(any)".to_string(), |h| format!("{:?}", h.as_str()))
                        ),
                    ),
                    None => {
                        seen.insert(key, (g, &l.name));
                    }
                }
            }
        }
    }

    /// Attaches a route to the listeners its parentRefs select and accept.
    fn attach(
        &mut self,
        head: &Head,
        kind: &str,
        parents: &[ParentRefRaw],
        hostnames: &[Hostname],
        gateways: &[Gateway],
    ) -> Vec<ParentRef> {
        let o = self.o;
        let mut out = Vec::new();
        for p in parents {
            let Some(&gi) = self
                .gateway_index
                .get(&(p.namespace.as_str(), p.name.as_str()))
            else {
                let reason = if p.namespace == head.namespace {
                    format!("Gateway {:?} not found", p.name)
                } else {
                    format!(
                        "Gateway {:?} not found in namespace {:?}",
                        p.name, p.namespace
                    )
                };
                self.missing(&head.origin, &p.loc, reason);
                continue;
            };
            let raw = &o.gateways[gi];
            let gw = &gateways[gi];
            let gw_name = object_name("Gateway", &raw.head.namespace, &raw.head.name);
            if let Some(section) = &p.section_name {
                if !gw.listeners.iter().any(|l| &l.name == section) {
                    let names: Vec<&str> = gw.listeners.iter().map(|l| l.name.as_str()).collect();
                    self.sink.error(
                        &head.origin,
                        p.loc.line,
                        &format!("{}.sectionName", p.loc.path),
                        format!(
                            "{gw_name} has no listener named {section:?} (listeners: {})",
                            names.join(", ")
                        ),
                    );
                    continue;
                }
            }
            if let Some(port) = p.port {
                if !gw.listeners.iter().any(|l| l.port == port) {
                    self.sink.error(
                        &head.origin,
                        p.loc.line,
                        &format!("{}.port", p.loc.path),
                        format!("{gw_name} has no listener on port {port}"),
                    );
                    continue;
                }
            }
            let mut accepted = Vec::new();
            let mut reasons = Vec::new();
            for (li, l) in gw.listeners.iter().enumerate() {
                if p.section_name.as_ref().is_some_and(|s| *s != l.name)
                    || p.port.is_some_and(|port| port != l.port)
                {
                    continue;
                }
                let allowed = &raw.listeners[li].allowed;
                match refusal(kind, head, &raw.head.namespace, allowed, l, hostnames) {
                    None => accepted.push(ListenerRef {
                        gateway: gi,
                        listener: li,
                    }),
                    Some(why) => reasons.push(format!("listener {:?}: {why}", l.name)),
                }
            }
            if accepted.is_empty() {
                let why = if reasons.is_empty() {
                    format!("{gw_name} has no listeners")
                } else {
                    reasons.join("; ")
                };
                self.sink.error(
                    &head.origin,
                    p.loc.line,
                    &p.loc.path,
                    format!("no listener of {gw_name} accepts this route: {why}"),
                );
                continue;
            }
            out.push(ParentRef {
                gateway: gi,
                section_name: p.section_name.clone(),
                port: p.port,
                listeners: accepted,
            });
        }
        out
    }

    fn backends<M>(
        &mut self,
        origin: &Origin,
        rule: &RawRule<M>,
        gateways: &BTreeSet<usize>,
    ) -> Vec<WeightedBackend> {
        let mut out = Vec::new();
        for b in &rule.backends {
            if let Some(cluster) = self.cluster_for(origin, b, gateways) {
                out.push(WeightedBackend {
                    cluster,
                    weight: b.weight,
                });
            }
        }
        out
    }

    fn cluster_for(
        &mut self,
        origin: &Origin,
        b: &BackendRef,
        gateways: &BTreeSet<usize>,
    ) -> Option<ClusterId> {
        let o = self.o;
        let key = (b.namespace.clone(), b.name.clone(), b.port);
        if let Some(&i) = self.cluster_index.get(&key) {
            self.clusters[i].1.extend(gateways.iter().copied());
            return Some(ClusterId::from_index(i));
        }
        let Some(svc) = self
            .services
            .get(&(b.namespace.as_str(), b.name.as_str()))
            .copied()
        else {
            let r = ObjRef {
                kind: "Service".into(),
                namespace: b.namespace.clone(),
                name: b.name.clone(),
                loc: b.loc.clone(),
            };
            let from_ns = origin_namespace(o, origin)
                .unwrap_or(&b.namespace)
                .to_string();
            self.missing(origin, &b.loc, Self::describe("Service", &r, &from_ns));
            return None;
        };
        let svc_name = object_name("Service", &svc.head.namespace, &svc.head.name);
        let port = svc.ports.iter().find(|p| p.port == b.port);
        let (endpoints, app_protocol) = match &svc.external_name {
            Some(name) => {
                if !svc.ports.is_empty() && port.is_none() {
                    self.port_error(origin, b, svc, &svc_name);
                    return None;
                }
                let target = port.and_then(|p| p.target_port).unwrap_or(b.port);
                (
                    Endpoints::Dns {
                        name: name.clone(),
                        port: target,
                        refresh: svc.dns_refresh,
                    },
                    port.and_then(|p| p.app_protocol.clone()),
                )
            }
            None => {
                let Some(port) = port else {
                    self.port_error(origin, b, svc, &svc_name);
                    return None;
                };
                let eps = self.endpoints(svc, port.name.as_str(), port.target_port);
                if eps.is_empty() {
                    let slices = self.slices.get(&(b.namespace.as_str(), b.name.as_str()));
                    let why = match slices {
                        None => format!(
                            "no EndpointSlice has the label kubernetes.io/service-name: {}, and it is not an ExternalName Service",
                            b.name
                        ),
                        Some(_) => format!(
                            "its EndpointSlices have no endpoints with a port named {:?}",
                            port.name
                        ),
                    };
                    self.sink.error(
                        origin,
                        b.loc.line,
                        &b.loc.path,
                        format!("{svc_name} has no endpoints for port {}: {why}", b.port),
                    );
                    return None;
                }
                (Endpoints::Static(eps), port.app_protocol.clone())
            }
        };
        let cluster = Cluster {
            namespace: b.namespace.clone(),
            service: b.name.clone(),
            port: b.port,
            fqdn: fqdn(&b.namespace, &b.name),
            app_protocol,
            endpoints,
            policy: TrafficPolicy::default(),
            tls: UpstreamTls::Disabled,
            subsets: Vec::new(),
            sources: vec![svc_name],
            http2: Http2Settings::default(),
        };
        let i = self.clusters.len();
        self.clusters.push((cluster, gateways.clone()));
        self.cluster_index.insert(key, i);
        Some(ClusterId::from_index(i))
    }

    fn port_error(&mut self, origin: &Origin, b: &BackendRef, svc: &RawService, svc_name: &str) {
        let ports: Vec<String> = svc.ports.iter().map(|p| p.port.to_string()).collect();
        self.sink.error(
            origin,
            b.loc.line,
            &format!("{}.port", b.loc.path),
            format!(
                "{svc_name} has no port {} (ports: {})",
                b.port,
                ports.join(", ")
            ),
        );
    }

    /// Endpoints of a Service port from its EndpointSlices (matched by port name).
    fn endpoints(
        &self,
        svc: &RawService,
        port_name: &str,
        target_port: Option<u16>,
    ) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let Some(slices) = self
            .slices
            .get(&(svc.head.namespace.as_str(), svc.head.name.as_str()))
        else {
            return out;
        };
        for s in slices {
            let port = s
                .ports
                .iter()
                .find(|(n, _)| n == port_name)
                .map(|(_, p)| *p)
                .or_else(|| (svc.ports.len() == 1 && s.ports.len() == 1).then(|| s.ports[0].1))
                .or(if s.ports.is_empty() {
                    target_port
                } else {
                    None
                });
            let Some(port) = port else { continue };
            for e in &s.endpoints {
                let mut labels = s.head.labels.clone();
                labels.extend(e.topology.iter().map(|(k, v)| (k.clone(), v.clone())));
                let zone = e.zone.clone().or_else(|| labels.get(ZONE_LABEL).cloned());
                if let Some(z) = &zone {
                    labels.insert(ZONE_LABEL.into(), z.clone());
                }
                let label = |key| labels.get(key).cloned().unwrap_or_default();
                let locality = Locality {
                    region: label(REGION_LABEL),
                    zone: zone.unwrap_or_default(),
                    subzone: label(SUBZONE_LABEL),
                };
                for a in &e.addresses {
                    // The same address in two slices (as during a rollout) is one endpoint.
                    if out
                        .iter()
                        .any(|x: &Endpoint| x.address == *a && x.port == port)
                    {
                        continue;
                    }
                    out.push(Endpoint {
                        address: a.clone(),
                        port,
                        ready: e.ready,
                        locality: locality.clone(),
                        labels: labels.clone(),
                    });
                }
            }
        }
        out
    }

    /// Gateway API: an HTTPRoute and a GRPCRoute on one listener must not share hostnames.
    fn check_mixed_routes(&mut self, gateways: &[Gateway], http: &[HttpRoute], grpc: &[GrpcRoute]) {
        for g in grpc {
            for h in http {
                let shared: Vec<ListenerRef> = listeners_of(&g.parents)
                    .intersection(&listeners_of(&h.parents))
                    .copied()
                    .collect();
                if shared.is_empty() || !hostnames_overlap(&g.hostnames, &h.hostnames) {
                    continue;
                }
                let l = &gateways[shared[0].gateway].listeners[shared[0].listener];
                let gw = &gateways[shared[0].gateway].meta;
                // Report on the newer of the two; it is the one Gateway API would not accept.
                let (newer, newer_kind, older, older_kind) = if older_than(&g.meta, &h.meta) {
                    (&h.meta, "HTTPRoute", &g.meta, "GRPCRoute")
                } else {
                    (&g.meta, "GRPCRoute", &h.meta, "HTTPRoute")
                };
                let origin = Origin {
                    file: newer.source.file.as_str().into(),
                    object: object_name(newer_kind, &newer.namespace, &newer.name),
                };
                self.sink.error(
                    &origin,
                    newer.source.line,
                    "spec.hostnames",
                    format!(
                        "{} shares listener {:?} of {} with overlapping hostnames; Gateway API accepts only one of an HTTPRoute and a GRPCRoute there (give them distinct hostnames)",
                        object_name(older_kind, &older.namespace, &older.name),
                        l.name,
                        object_name("Gateway", &gw.namespace, &gw.name),
                    ),
                );
            }
        }
    }

    /// Each DestinationRule's host names some Service; no two rules share a host; referenced
    /// credential Secrets exist.
    fn check_destination_rules(&mut self) {
        let o = self.o;
        let mut by_host: HashMap<String, &RawDestinationRule> = HashMap::new();
        for dr in &o.destination_rules {
            let host = normalize_host(&dr.host, &dr.head.namespace);
            if let Some(first) = by_host.get(&host) {
                self.sink.error(
                    &dr.head.origin,
                    dr.host_loc.line,
                    &dr.host_loc.path,
                    format!(
                        "host {host:?} is already configured by {} ({})",
                        first.head.origin.object,
                        first.head.source()
                    ),
                );
            } else {
                by_host.insert(host.clone(), dr);
            }
            if !host.starts_with('*') {
                let matches_service = o.services.iter().any(|s| {
                    fqdn(&s.head.namespace, &s.head.name) == host
                        || s.external_name
                            .as_deref()
                            .is_some_and(|e| e.strip_suffix('.').unwrap_or(e) == host)
                });
                if !matches_service {
                    let loc = dr.host_loc.clone();
                    self.missing(
                        &dr.head.origin,
                        &loc,
                        format!(
                            "host {:?} ({host}) matches no Service in the configuration",
                            dr.host
                        ),
                    );
                }
            }
            let mut tls: Vec<&RawTls> = Vec::new();
            collect_tls(&dr.policy, &mut tls);
            for s in &dr.subsets {
                collect_tls(&s.policy, &mut tls);
            }
            for t in tls {
                if let Some(c) = &t.credential {
                    if !self
                        .secrets
                        .contains_key(&(c.namespace.as_str(), c.name.as_str()))
                    {
                        self.missing(
                            &dr.head.origin,
                            &c.loc,
                            format!("Secret {:?} not found", c.name),
                        );
                    }
                }
            }
        }
    }

    /// Targets exist; CA references resolve.
    fn check_backend_tls(&mut self) {
        let o = self.o;
        for p in &o.backend_tls {
            for (svc, section, loc) in &p.targets {
                match self
                    .services
                    .get(&(p.head.namespace.as_str(), svc.as_str()))
                {
                    None => self.missing(&p.head.origin, loc, format!("Service {svc:?} not found")),
                    Some(s) => {
                        if let Some(sec) = section {
                            if !s.ports.iter().any(|port| &port.name == sec) {
                                self.sink.error(
                                    &p.head.origin,
                                    loc.line,
                                    &loc.path,
                                    format!("Service {svc:?} has no port named {sec:?}"),
                                );
                            }
                        }
                    }
                }
            }
            self.ca_bundle(&p.head.origin, &p.head.namespace, &p.ca_refs);
        }
    }

    /// Applies DestinationRules and BackendTLSPolicies to the clusters built.
    fn finish_clusters(&mut self, gateways: &[Gateway]) -> Vec<Cluster> {
        let o = self.o;
        let clusters = std::mem::take(&mut self.clusters);
        let mut out = Vec::with_capacity(clusters.len());
        for (mut c, gws) in clusters {
            let svc = self
                .services
                .get(&(c.namespace.as_str(), c.service.as_str()))
                .copied();
            let port_name = svc
                .and_then(|s| s.ports.iter().find(|p| p.port == c.port))
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let external = svc.and_then(|s| s.external_name.clone());
            // The most specific DestinationRule.
            let dr = o
                .destination_rules
                .iter()
                .filter_map(|dr| {
                    let host = normalize_host(&dr.host, &dr.head.namespace);
                    let rank = host_match_rank(&host, &c.fqdn).or_else(|| {
                        external
                            .as_deref()
                            .and_then(|e| host_match_rank(&host, e.strip_suffix('.').unwrap_or(e)))
                    })?;
                    Some((rank, dr))
                })
                .max_by_key(|(rank, dr)| (*rank, std::cmp::Reverse(dr.head.order)))
                .map(|(_, dr)| dr);
            let btps: Vec<&RawBackendTlsPolicy> = o
                .backend_tls
                .iter()
                .filter(|p| {
                    p.head.namespace == c.namespace
                        && p.targets.iter().any(|(s, sec, _)| {
                            *s == c.service && sec.as_ref().is_none_or(|sec| *sec == port_name)
                        })
                })
                .collect();
            if btps.len() > 1 {
                let p = btps[1];
                self.sink.error(
                    &p.head.origin,
                    p.head.line,
                    "spec.targetRefs",
                    format!(
                        "Service {:?} port {} is also targeted by {}; keep one BackendTLSPolicy per Service port",
                        c.service, c.port, btps[0].head.origin.object
                    ),
                );
            }
            if let Some(dr) = dr {
                c.sources.push(dr.head.origin.object.clone());
                c.http2 = dr.http2;
                let policy = dr.policy.for_port(c.port);
                c.policy = traffic_policy(&policy);
                if let Some(t) = &policy.tls {
                    if let Some(p) = btps.first() {
                        self.sink.error(
                            &p.head.origin,
                            p.head.line,
                            "spec.targetRefs",
                            format!(
                                "Service {:?} already gets upstream TLS from {} (trafficPolicy.tls); keep one of the two",
                                c.service, dr.head.origin.object
                            ),
                        );
                    }
                    c.tls = self.upstream_tls(dr, t, &gws, gateways);
                }
                for s in &dr.subsets {
                    let sp = policy.overridden_by(&s.policy.for_port(c.port));
                    let tls = match &sp.tls {
                        Some(t) => self.upstream_tls(dr, t, &gws, gateways),
                        None => c.tls.clone(),
                    };
                    c.subsets.push(Subset {
                        name: s.name.clone(),
                        labels: s.labels.clone(),
                        policy: traffic_policy(&sp),
                        tls,
                    });
                }
            }
            if let (Some(p), UpstreamTls::Disabled) = (btps.first(), &c.tls) {
                c.sources.push(p.head.origin.object.clone());
                if let Some(ca) = self.ca_bundle_quiet(&p.ca_refs) {
                    c.tls = UpstreamTls::Enabled(ClientTls {
                        mode: UpstreamTlsMode::BackendTlsPolicy,
                        client_cert: ClientCert::GatewayBackend { required: false },
                        ca: TrustAnchor::Pem(ca),
                        sni: Some(p.hostname.clone()),
                        subject_alt_names: p.subject_alt_names.clone(),
                        source: p.head.origin.object.clone(),
                    });
                }
            }
            out.push(c);
        }
        out
    }

    /// Like [`ca_bundle`](Self::ca_bundle) without reports (already made by the checks).
    fn ca_bundle_quiet(&self, refs: &[ObjRef]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for r in refs {
            let key = (r.namespace.as_str(), r.name.as_str());
            let pem = if r.kind == "ConfigMap" {
                self.configmaps.get(&key)?.ca_pem.as_ref()?
            } else {
                self.secrets.get(&key)?.ca_pem.as_ref()?
            };
            out.extend_from_slice(pem);
            if !pem.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
        Some(out)
    }

    fn upstream_tls(
        &mut self,
        dr: &RawDestinationRule,
        t: &RawTls,
        gws: &BTreeSet<usize>,
        gateways: &[Gateway],
    ) -> UpstreamTls {
        let origin = &dr.head.origin;
        let secret = t.credential.as_ref().and_then(|c| {
            self.secrets
                .get(&(c.namespace.as_str(), c.name.as_str()))
                .copied()
        });
        let (mode, client_cert, ca) = match t.model_mode() {
            None => return UpstreamTls::Disabled,
            Some(UpstreamTlsMode::IstioMutual) => {
                for &g in gws {
                    let gw = &gateways[g];
                    let ok = gw
                        .backend_client_cert
                        .as_ref()
                        .is_some_and(|c| c.ca_pem.is_some());
                    if !ok {
                        let what = if gw.backend_client_cert.is_none() {
                            "has no spec.tls.backend.clientCertificateRef"
                        } else {
                            "has a backend client certificate Secret without ca.crt"
                        };
                        self.sink.error(
                            origin,
                            t.loc.line,
                            &t.loc.path,
                            format!(
                                "ISTIO_MUTUAL uses the Gateway's backend client certificate and its ca.crt, but {} {what}",
                                object_name("Gateway", &gw.meta.namespace, &gw.meta.name)
                            ),
                        );
                    }
                }
                (
                    UpstreamTlsMode::IstioMutual,
                    ClientCert::GatewayBackend { required: true },
                    Some(TrustAnchor::GatewayBackendCa),
                )
            }
            Some(m) => {
                let client_cert = if m == UpstreamTlsMode::Mutual {
                    match (&t.client_cert, secret) {
                        (Some(c), _) => ClientCert::Pem(c.clone()),
                        (None, Some(s)) => match (&s.cert_pem, &s.key_pem) {
                            (Some(cert), Some(key)) => ClientCert::Pem(CertKeyPair {
                                source: s.head.origin.object.clone(),
                                cert_pem: cert.clone(),
                                key_pem: key.clone(),
                                ca_pem: s.ca_pem.clone(),
                            }),
                            _ => ClientCert::None,
                        },
                        (None, None) => ClientCert::None,
                    }
                } else {
                    ClientCert::None
                };
                let ca = match (&t.ca_pem, secret) {
                    (Some(ca), _) => Some(TrustAnchor::Pem(ca.clone())),
                    (None, Some(s)) => match &s.ca_pem {
                        Some(ca) => Some(TrustAnchor::Pem(ca.clone())),
                        None => {
                            if let Some(c) = &t.credential {
                                self.sink.error(
                                    origin,
                                    c.loc.line,
                                    &c.loc.path,
                                    format!(
                                        "Secret {:?} has no ca.crt, and no caCertificates is given (h2edge has no system trust store)",
                                        c.name
                                    ),
                                );
                            }
                            None
                        }
                    },
                    (None, None) => None,
                };
                (m, client_cert, ca)
            }
        };
        let Some(ca) = ca else {
            return UpstreamTls::Disabled;
        };
        UpstreamTls::Enabled(ClientTls {
            mode,
            client_cert,
            ca,
            sni: t.sni.clone(),
            subject_alt_names: t.subject_alt_names.clone(),
            source: origin.object.clone(),
        })
    }
}

fn collect_tls<'p>(p: &'p RawPolicy, out: &mut Vec<&'p RawTls>) {
    if let Some(t) = &p.tls {
        out.push(t);
    }
    for (_, pl) in &p.port_level {
        collect_tls(pl, out);
    }
}

fn traffic_policy(p: &RawPolicy) -> TrafficPolicy {
    TrafficPolicy {
        load_balancer: p.load_balancer.clone().unwrap_or_default(),
        connection_pool: p.connection_pool.clone().unwrap_or_default(),
        outlier_detection: p.outlier_detection.clone(),
    }
}

fn origin_namespace<'o>(o: &'o Objects, origin: &Origin) -> Option<&'o str> {
    o.http_routes
        .iter()
        .map(|r| &r.head)
        .chain(o.grpc_routes.iter().map(|r| &r.head))
        .find(|h| h.origin.object == origin.object && h.origin.file == origin.file)
        .map(|h| h.namespace.as_str())
}

/// Why a listener does not accept a route, if it does not.
fn refusal(
    kind: &str,
    route: &Head,
    gateway_namespace: &str,
    allowed: &AllowedRoutes,
    l: &Listener,
    hostnames: &[Hostname],
) -> Option<String> {
    if !allowed.all_namespaces && route.namespace != gateway_namespace {
        return Some(format!(
            "allowedRoutes admits only routes in namespace {gateway_namespace:?} (set allowedRoutes.namespaces.from: All)"
        ));
    }
    if !allowed.kinds.is_empty() && !allowed.kinds.iter().any(|k| k == kind) {
        return Some(format!("allowedRoutes.kinds does not include {kind}"));
    }
    if let Some(lh) = &l.hostname {
        if !hostnames.is_empty() && !hostnames.iter().any(|h| h.intersects(lh)) {
            let names: Vec<&str> = hostnames.iter().map(|h| h.as_str()).collect();
            return Some(format!(
                "its hostname {:?} matches none of the route's hostnames ({})",
                lh.as_str(),
                names.join(", ")
            ));
        }
    }
    None
}

fn listeners_of(parents: &[ParentRef]) -> BTreeSet<ListenerRef> {
    parents
        .iter()
        .flat_map(|p| p.listeners.iter().copied())
        .collect()
}

/// Whether two route hostname lists can match a common host (empty means "any").
fn hostnames_overlap(a: &[Hostname], b: &[Hostname]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|x| b.iter().any(|y| x.intersects(y)))
}

/// Gateway API age order: creation timestamp (when both have one), then load order.
fn older_than(a: &super::model::Meta, b: &super::model::Meta) -> bool {
    match (a.created_unix(), b.created_unix()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a.order < b.order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::EndpointAddress;

    #[test]
    fn hosts_normalize() {
        assert_eq!(
            normalize_host("product", "shop"),
            "product.shop.svc.cluster.local"
        );
        assert_eq!(
            normalize_host("product.shop", "x"),
            "product.shop.svc.cluster.local"
        );
        assert_eq!(
            normalize_host("product.shop.svc", "x"),
            "product.shop.svc.cluster.local"
        );
        assert_eq!(
            normalize_host("*.shop.svc.cluster.local", "x"),
            "*.shop.svc.cluster.local"
        );
        assert_eq!(
            host_match_rank("*.shop.svc.cluster.local", "a.shop.svc.cluster.local"),
            Some(23)
        );
        assert_eq!(host_match_rank("*", "a"), Some(0));
        assert_eq!(host_match_rank("b.x", "a.x"), None);
    }

    #[test]
    fn endpoint_address_display() {
        let a = EndpointAddress::Dns("x.example.com".into());
        assert_eq!(a.to_string(), "x.example.com");
    }
}
