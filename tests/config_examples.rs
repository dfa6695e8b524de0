//! The shipped examples load and pass `check`; the seed example has the model it promises; a broken
//! example reports file:line problems.

use std::path::{Path, PathBuf};

use h2edge::balance::HashAlgorithm;
use h2edge::config::model::{
    ClientCert, Endpoints, HashKey, LbPolicy, Protocol, TrustAnchor, UpstreamTls, UpstreamTlsMode,
};
use h2edge::config::{self, Problem};

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("examples")
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

fn show(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{p}\n")).collect()
}

#[test]
fn seed_example_loads_into_the_promised_model() {
    let c =
        config::load(&["examples/seed-gateway.yaml"]).unwrap_or_else(|p| panic!("{}", show(&p)));
    assert_eq!(c.gateways.len(), 1);
    let gw = &c.gateways[0];
    assert_eq!(gw.meta.name, "edge");
    let l = &gw.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.port, l.protocol),
        ("https", 443, Protocol::Https)
    );
    assert_eq!(
        l.hostname.as_ref().map(|h| h.as_str()),
        Some("grpc.example.com")
    );
    let tls = l.tls.as_ref().expect("tls");
    assert_eq!(tls.certificates.len(), 1);
    assert!(
        tls.certificates[0]
            .cert_pem
            .starts_with(b"-----BEGIN CERTIFICATE-----")
    );
    assert!(
        tls.certificates[0]
            .key_pem
            .starts_with(b"-----BEGIN PRIVATE KEY-----")
    );
    let backend = gw
        .backend_client_cert
        .as_ref()
        .expect("backend client cert");
    assert!(backend.ca_pem.is_some());
    // The PEM is usable by the TLS layer as is.
    h2edge::tls::certs_from_pem(&tls.certificates[0].cert_pem).expect("cert parses");
    h2edge::tls::key_from_pem(&tls.certificates[0].key_pem).expect("key parses");

    assert_eq!(c.grpc_routes.len(), 1);
    let r = &c.grpc_routes[0];
    assert_eq!(r.parents[0].listeners.len(), 1);
    let rule = &r.rules[0];
    assert_eq!(rule.backends.len(), 1);
    let cluster = c.cluster(rule.backends[0].cluster);
    assert_eq!(cluster.name(), "default/product:50051");
    assert_eq!(cluster.fqdn, "product.default.svc.cluster.local");
    let Endpoints::Static(eps) = &cluster.endpoints else {
        panic!("static endpoints")
    };
    assert_eq!(eps.len(), 3);
    assert!(eps.iter().all(|e| e.ready && e.port == 50051));
    assert_eq!(eps[2].locality.zone, "us-east1-c");
    assert_eq!(cluster.policy.load_balancer.policy, LbPolicy::RoundRobin);
    let UpstreamTls::Enabled(t) = &cluster.tls else {
        panic!("mTLS")
    };
    assert_eq!(t.mode, UpstreamTlsMode::IstioMutual);
    assert_eq!(t.client_cert, ClientCert::GatewayBackend { required: true });
    assert_eq!(t.ca, TrustAnchor::GatewayBackendCa);
    // Istio's outlierDetection.interval is read but not used, and says so.
    assert_eq!(c.notes.len(), 1, "{}", show(&c.notes));
    assert_eq!(
        c.notes[0].field,
        "spec.trafficPolicy.outlierDetection.interval"
    );
    assert_eq!(
        config::Summary::of(&c).to_string(),
        "ok: 1 file, 1 gateway (1 listener), 0 HTTPRoutes, 1 GRPCRoute, 1 cluster (3 endpoints); 1 note (below)"
    );
}

#[test]
fn every_example_passes_check_alone_and_together() {
    let all = examples();
    assert!(all.len() >= 10, "{all:?}");
    for e in &all {
        let s = config::check(&[e]).unwrap_or_else(|p| panic!("{}:\n{}", e.display(), show(&p)));
        assert!(s.to_string().starts_with("ok: 1 file"), "{s}");
    }
    let s = config::check(&all).unwrap_or_else(|p| panic!("together:\n{}", show(&p)));
    assert_eq!(s.files, all.len());
    // The directory form reads the same files.
    let d = config::check(&[Path::new("examples")]).unwrap_or_else(|p| panic!("{}", show(&p)));
    assert_eq!(d, s);
}

#[test]
fn each_policy_example_has_its_policy() {
    let policy = |file: &str| {
        let c = config::load(&[file]).unwrap_or_else(|p| panic!("{}", show(&p)));
        assert_eq!(c.clusters.len(), 1, "{file}");
        c.clusters[0].policy.load_balancer.clone()
    };
    assert_eq!(
        policy("examples/lb-round-robin.yaml").policy,
        LbPolicy::RoundRobin
    );
    assert_eq!(
        policy("examples/lb-least-request.yaml").policy,
        LbPolicy::LeastRequest
    );
    assert_eq!(policy("examples/lb-random.yaml").policy, LbPolicy::Random);
    let hash = |file: &str| match policy(file).policy {
        LbPolicy::ConsistentHash(h) => h,
        other => panic!("{file}: {other:?}"),
    };
    let h = hash("examples/lb-ring-hash-header.yaml");
    assert_eq!(h.key, HashKey::Header("x-user-id".into()));
    assert_eq!(
        h.algorithm,
        HashAlgorithm::RingHash {
            minimum_ring_size: 1024
        }
    );
    let h = hash("examples/lb-maglev-cookie.yaml");
    assert!(
        matches!(&h.key, HashKey::Cookie(c) if c.name == "h2edge-affinity" && c.path.as_deref() == Some("/"))
    );
    assert_eq!(h.algorithm, HashAlgorithm::Maglev { table_size: 65537 });
    assert_eq!(hash("examples/lb-source-ip.yaml").key, HashKey::SourceIp);
    assert_eq!(
        hash("examples/lb-query-param.yaml").key,
        HashKey::QueryParameter("user".into())
    );
    let loc = policy("examples/lb-locality-failover.yaml")
        .locality
        .expect("localityLbSetting");
    assert_eq!(
        (loc.failover[0].from.as_str(), loc.failover[0].to.as_str()),
        ("us-east1", "us-west1")
    );
    assert!(loc.failover_priority.is_empty());
    let loc = policy("examples/lb-failover-priority.yaml")
        .locality
        .expect("localityLbSetting");
    assert_eq!(
        loc.failover_priority,
        [
            "topology.kubernetes.io/region",
            "topology.kubernetes.io/zone"
        ]
    );
    assert!(loc.failover.is_empty());
}

#[test]
fn broken_example_reports_file_and_line() {
    let problems = config::load(&["tests/data/config/broken.yaml"]).expect_err("broken");
    let expected = r#"tests/data/config/broken.yaml:13: Gateway/edge: spec.listeners[0].tls.certificateRefs[0].name: Secret "missing-cert" not found
tests/data/config/broken.yaml:15: Gateway/edge: spec.listeners[1].port: 70000 is out of range 1..=65535
tests/data/config/broken.yaml:24: GRPCRoute/product: spec.parentRefs[0].sectionName: Gateway/edge has no listener named "httpz" (listeners: https)
tests/data/config/broken.yaml:32: GRPCRoute/product: spec.rules[0].matches[0].method.service: invalid regular expression "product\\.(Product": unclosed group
tests/data/config/broken.yaml:36: GRPCRoute/product: spec.rules[0].backendRefs[0].weight: 2000000 is out of range 0..=1000000
tests/data/config/broken.yaml:46: DestinationRule/product: spec.trafficPolicy.loadBalancer.simple: unknown loadBalancer value "FASTEST" (expected one of: UNSPECIFIED, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN)
tests/data/config/broken.yaml:58: document 5: kind: unknown kind "Frobnicator" (supported: Gateway, HTTPRoute, GRPCRoute, BackendTLSPolicy, DestinationRule, Secret, ConfigMap, Service, EndpointSlice, GatewayClass, ReferenceGrant)
"#;
    assert_eq!(show(&problems), expected);
}
