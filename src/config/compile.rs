//! From the validated [`Config`] to what the data plane runs, in this one place: the route table
//! input ([`crate::route::TableSpec`]), one balancer spec per cluster
//! ([`crate::balance::ClusterSpec`]) and the gateway's [`Site`] for locality (here), and every
//! runtime setting built from them ([`plan`]).
//!
//! Indices carry over: `TableSpec::http_routes[i]` is `Config::http_routes[i]` (so the proxy finds
//! a matched rule's timeouts in the model), and a backend's [`ClusterId`] is the one of the model,
//! so `Config::clusters[id]` has its endpoints, TLS and pool limits.

mod plan;

use std::net::SocketAddr;

use super::model::{
    Cluster, Config, Endpoint, EndpointAddress, Endpoints, Gateway, GrpcMethodMatch, HashKey,
    HeaderMatch, LbPolicy, LoadBalancer, Meta, PathMatch, QueryParamMatch, StringMatch,
    WeightedBackend,
};
use crate::balance::{self, ClusterSpec, EndpointSpec, LocalitySpec, PolicySpec, Site};
use crate::route::{self, TableSpec};

pub use plan::{Plan, Resolver, plan};

const REGION_LABEL: &str = "topology.kubernetes.io/region";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const SUBZONE_LABEL: &str = "topology.istio.io/subzone";

/// The key a Gateway has in the route table: `namespace/name`.
pub fn gateway_key(meta: &Meta) -> String {
    format!("{}/{}", meta.namespace, meta.name)
}

/// The route table input. Each parentRef becomes one table parentRef per listener that accepted
/// the route (with its `sectionName`), so `allowedRoutes` and hostname checks made at load stay
/// in force.
pub fn table_spec(config: &Config) -> TableSpec {
    let mut spec = TableSpec::default();
    for gw in &config.gateways {
        let key = gateway_key(&gw.meta);
        for l in &gw.listeners {
            spec.listeners.push(route::ListenerSpec::new(
                &key,
                &l.name,
                l.port,
                l.hostname.as_ref().map(|h| h.as_str()),
            ));
        }
    }
    for r in &config.http_routes {
        let meta = route_meta(config, &r.meta, &r.parents, &r.hostnames);
        let rules = r
            .rules
            .iter()
            .map(|rule| route::HttpRuleSpec {
                name: rule.name.clone(),
                matches: rule
                    .matches
                    .iter()
                    .map(|m| route::HttpMatchSpec {
                        path: Some(match &m.path {
                            PathMatch::Exact(p) => route::PathMatchSpec::Exact(p.clone()),
                            PathMatch::Prefix(p) => route::PathMatchSpec::Prefix(p.clone()),
                            PathMatch::RegularExpression(p) => {
                                route::PathMatchSpec::Regex(p.source().to_string())
                            }
                        }),
                        headers: m.headers.iter().map(header).collect(),
                        query_params: m.query_params.iter().map(query).collect(),
                        method: m.method.map(|m| m.as_str().to_string()),
                    })
                    .collect(),
                backends: backends(config, &rule.backends),
            })
            .collect();
        spec.http_routes
            .push(route::HttpRouteSpec::new(meta, rules));
    }
    for r in &config.grpc_routes {
        let meta = route_meta(config, &r.meta, &r.parents, &r.hostnames);
        let rules = r
            .rules
            .iter()
            .map(|rule| route::GrpcRuleSpec {
                name: rule.name.clone(),
                matches: rule
                    .matches
                    .iter()
                    .map(|m| route::GrpcMatchSpec {
                        method: m.method.as_ref().map(|mm| match mm {
                            GrpcMethodMatch::Exact { service, method } => route::GrpcMethodSpec {
                                regex: false,
                                service: service.clone(),
                                method: method.clone(),
                            },
                            GrpcMethodMatch::RegularExpression { service, method } => {
                                route::GrpcMethodSpec {
                                    regex: true,
                                    service: service.as_ref().map(|p| p.source().to_string()),
                                    method: method.as_ref().map(|p| p.source().to_string()),
                                }
                            }
                        }),
                        headers: m.headers.iter().map(header).collect(),
                    })
                    .collect(),
                backends: backends(config, &rule.backends),
            })
            .collect();
        spec.grpc_routes
            .push(route::GrpcRouteSpec::new(meta, rules));
    }
    spec
}

fn route_meta(
    config: &Config,
    meta: &Meta,
    parents: &[super::model::ParentRef],
    hostnames: &[super::model::Hostname],
) -> route::RouteMeta {
    let mut m = route::RouteMeta::new(
        &meta.namespace,
        &meta.name,
        meta.created_unix().unwrap_or(0),
    );
    for p in parents {
        let gw = &config.gateways[p.gateway];
        let key = gateway_key(&gw.meta);
        for l in &p.listeners {
            m.parents.push(route::ParentRef {
                gateway: key.clone(),
                section_name: Some(gw.listeners[l.listener].name.clone()),
                port: None,
            });
        }
    }
    m.hostnames = hostnames.iter().map(|h| h.as_str().to_string()).collect();
    m
}

fn string_match(v: &StringMatch) -> route::StringMatchSpec {
    match v {
        StringMatch::Exact(s) => route::StringMatchSpec::Exact(s.clone()),
        StringMatch::RegularExpression(p) => route::StringMatchSpec::Regex(p.source().to_string()),
    }
}

fn header(h: &HeaderMatch) -> route::ValueMatchSpec {
    route::ValueMatchSpec {
        name: h.name.clone(),
        value: string_match(&h.value),
    }
}

fn query(q: &QueryParamMatch) -> route::ValueMatchSpec {
    route::ValueMatchSpec {
        name: q.name.clone(),
        value: string_match(&q.value),
    }
}

fn backends(config: &Config, list: &[WeightedBackend]) -> Vec<route::BackendSpec> {
    list.iter()
        .map(|b| {
            let c = config.cluster(b.cluster);
            route::BackendSpec::new(format!("{}:{}", c.service, c.port), b.cluster, b.weight)
        })
        .collect()
}

/// A balancer input and the endpoints to mark unhealthy when it is built (those not ready).
#[derive(Clone, Debug)]
pub struct CompiledCluster {
    pub spec: ClusterSpec,
    /// Indices into `spec.endpoints` whose EndpointSlice condition is not ready: call
    /// `Balancer::set_healthy(i, false)` for them. They stay in the tables so that hashing keys
    /// of the other endpoints do not move when they become ready.
    pub unready: Vec<usize>,
}

/// The balancer input of a cluster with static endpoints. A DNS cluster has no endpoints until
/// its name resolves: use [`cluster_spec_resolved`] with the addresses.
pub fn cluster_spec(cluster: &Cluster) -> CompiledCluster {
    let endpoints: &[Endpoint] = match &cluster.endpoints {
        Endpoints::Static(e) => e,
        Endpoints::Dns { .. } => &[],
    };
    let mut unready = Vec::new();
    let specs = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !e.ready {
                unready.push(i);
            }
            let id = match &e.address {
                EndpointAddress::Ip(ip) => SocketAddr::new(*ip, e.port).to_string(),
                EndpointAddress::Dns(name) => format!("{name}:{}", e.port),
            };
            EndpointSpec {
                id,
                weight: 1,
                locality: e.locality.clone(),
                labels: e
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }
        })
        .collect();
    let (policy, locality) = policy_spec(&cluster.policy.load_balancer);
    CompiledCluster {
        spec: ClusterSpec {
            name: cluster.name(),
            endpoints: specs,
            policy,
            locality,
        },
        unready,
    }
}

/// The balancer input of a DNS cluster once its name resolved to `addresses` (as resolved
/// for the cluster's DNS name and port; duplicates dropped; all ready, no locality).
pub fn cluster_spec_resolved(cluster: &Cluster, addresses: &[SocketAddr]) -> CompiledCluster {
    let mut out = cluster_spec(cluster);
    let mut seen = std::collections::HashSet::new();
    out.spec.endpoints = addresses
        .iter()
        .filter(|a| seen.insert(**a))
        .map(|a| EndpointSpec::new(a.to_string(), 1))
        .collect();
    out.unready.clear();
    out
}

/// `loadBalancer` → the balancer's policy and locality mode.
pub fn policy_spec(lb: &LoadBalancer) -> (PolicySpec, LocalitySpec) {
    let policy = match &lb.policy {
        LbPolicy::RoundRobin => PolicySpec::RoundRobin,
        LbPolicy::LeastRequest => PolicySpec::LeastRequest,
        LbPolicy::Random => PolicySpec::Random,
        LbPolicy::ConsistentHash(h) => PolicySpec::ConsistentHash {
            key: match &h.key {
                HashKey::Header(name) => balance::HashKeySpec::Header(name.clone()),
                HashKey::Cookie(c) => balance::HashKeySpec::Cookie(balance::CookieSpec {
                    name: c.name.clone(),
                    path: c.path.clone(),
                    ttl_secs: c.ttl.map(|d| d.as_secs()),
                    attributes: c.attributes.clone(),
                }),
                HashKey::SourceIp => balance::HashKeySpec::SourceIp,
                HashKey::QueryParameter(q) => balance::HashKeySpec::QueryParam(q.clone()),
            },
            algorithm: h.algorithm,
        },
    };
    let locality = match &lb.locality {
        None => LocalitySpec::Disabled,
        Some(l) if !l.enabled => LocalitySpec::Disabled,
        Some(l) if !l.failover_priority.is_empty() => {
            LocalitySpec::FailoverPriority(l.failover_priority.clone())
        }
        Some(l) => LocalitySpec::Failover(
            l.failover
                .iter()
                .map(|f| balance::Failover {
                    from: f.from.clone(),
                    to: f.to.clone(),
                })
                .collect(),
        ),
    };
    (policy, locality)
}

/// Where a gateway runs: its `h2edge.io/locality`, and its labels plus the topology labels of
/// that locality (for `failoverPriority`).
pub fn site(gateway: &Gateway) -> Site {
    let mut labels: Vec<(String, String)> = gateway
        .meta
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let l = &gateway.locality;
    for (key, value) in [
        (REGION_LABEL, &l.region),
        (ZONE_LABEL, &l.zone),
        (SUBZONE_LABEL, &l.subzone),
    ] {
        if !value.is_empty() && !labels.iter().any(|(k, _)| k == key) {
            labels.push((key.to_string(), value.clone()));
        }
    }
    Site {
        locality: l.clone(),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use crate::route::{Request, RouteTable};
    use std::net::IpAddr;

    fn config(file: &str) -> Config {
        load(&[file]).unwrap_or_else(|p| panic!("{p:?}"))
    }

    #[test]
    fn seed_routes_product_service_to_its_cluster() {
        let c = config("examples/seed-gateway.yaml");
        let table = RouteTable::build(&table_spec(&c)).expect("table builds");
        let headers: [(&str, &str); 1] = [("content-type", "application/grpc")];
        let req = Request::new(
            b"grpc.example.com",
            b"/product.ProductService/GetProduct",
            b"POST",
            &headers,
        )
        .with_port(443);
        let m = table.route(&req, 7).expect("routed");
        assert_eq!(m.cluster, route::ClusterId(0));
        assert_eq!(c.cluster(m.cluster).name(), "default/product:50051");
        let other = Request::new(
            b"grpc.example.com",
            b"/other.Service/Get",
            b"POST",
            &headers,
        )
        .with_port(443);
        assert!(table.route(&other, 7).is_err());
    }

    #[test]
    fn every_example_compiles_into_a_table_and_balancers() {
        let mut files: Vec<_> = std::fs::read_dir("examples")
            .expect("examples")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let c = load(&files).unwrap_or_else(|p| panic!("{p:?}"));
        RouteTable::build(&table_spec(&c)).expect("table builds");
        for gw in &c.gateways {
            let site = site(gw);
            for cl in &c.clusters {
                let compiled = cluster_spec(cl);
                balance::Tables::build(&compiled.spec, &site)
                    .unwrap_or_else(|e| panic!("{}: {e}", cl.name()));
            }
        }
    }

    #[test]
    fn policies_map_one_to_one() {
        let c = config("examples/lb-maglev-cookie.yaml");
        let compiled = cluster_spec(&c.clusters[0]);
        assert_eq!(
            compiled.spec.policy,
            PolicySpec::ConsistentHash {
                key: balance::HashKeySpec::Cookie(balance::CookieSpec {
                    name: "h2edge-affinity".into(),
                    path: Some("/".into()),
                    ttl_secs: Some(3600),
                    attributes: Vec::new(),
                }),
                algorithm: balance::HashAlgorithm::Maglev { table_size: 65537 },
            }
        );
        assert_eq!(compiled.spec.endpoints[0].id, "10.0.1.11:50051");
        let c = config("examples/lb-locality-failover.yaml");
        let compiled = cluster_spec(&c.clusters[0]);
        assert_eq!(compiled.unready, [2]);
        assert_eq!(
            compiled.spec.locality,
            LocalitySpec::Failover(vec![balance::Failover {
                from: "us-east1".into(),
                to: "us-west1".into()
            }])
        );
        assert_eq!(compiled.spec.endpoints[3].locality.region, "us-west1");
        let s = site(&c.gateways[0]);
        assert_eq!(
            s.locality,
            balance::Locality::new("us-east1", "us-east1-b", "")
        );
        assert!(
            s.labels
                .contains(&(ZONE_LABEL.to_string(), "us-east1-b".to_string()))
        );
    }

    #[test]
    fn dns_clusters_get_endpoints_when_resolved() {
        let text = include_str!("../../tests/data/config/dns-external-name.yaml");
        let c = crate::config::load_str("dns.yaml", text).unwrap_or_else(|p| panic!("{p:?}"));
        assert!(cluster_spec(&c.clusters[0]).spec.endpoints.is_empty());
        let port = 8443;
        let ips: [IpAddr; 3] = [
            "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ];
        let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        let r = cluster_spec_resolved(&c.clusters[0], &addrs);
        let ids: Vec<&str> = r.spec.endpoints.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["192.0.2.1:8443", "[2001:db8::1]:8443"]);
    }
}
