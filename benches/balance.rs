//! Pick path per balancing policy (3 and 100 endpoints) and route matching (a gRPC request
//! against ~50 routes). `cargo bench --bench balance`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use h2edge::balance::{
    Balancer, ClusterSpec, EndpointSpec, HashAlgorithm, HashKeySpec, PolicySpec, Site, Tables,
};
use h2edge::route::{
    BackendSpec, ClusterId, GrpcMatchSpec, GrpcRouteSpec, GrpcRuleSpec, HttpMatchSpec,
    HttpRouteSpec, HttpRuleSpec, ListenerSpec, Request, RouteMeta, RouteTable, TableSpec,
    ValueMatchSpec,
};

fn endpoints(n: usize, weighted: bool) -> Vec<EndpointSpec> {
    (0..n)
        .map(|i| {
            let w = if weighted { 1 + (i as u32 % 5) } else { 1 };
            EndpointSpec::new(format!("10.0.{}.{}:50051", i / 256, i % 256), w)
        })
        .collect()
}

fn balancer(policy: PolicySpec, n: usize, weighted: bool) -> Balancer {
    let spec = ClusterSpec::new("bench", policy, endpoints(n, weighted));
    Balancer::new(
        Arc::new(Tables::build(&spec, &Site::default()).unwrap()),
        0x5eed,
    )
}

fn picks(c: &mut Criterion) {
    let hash = |algorithm| PolicySpec::ConsistentHash {
        key: HashKeySpec::Header("x-user".into()),
        algorithm,
    };
    let policies: Vec<(&str, PolicySpec, bool)> = vec![
        ("round_robin", PolicySpec::RoundRobin, false),
        ("round_robin_weighted", PolicySpec::RoundRobin, true),
        ("least_request", PolicySpec::LeastRequest, false),
        ("least_request_weighted", PolicySpec::LeastRequest, true),
        ("random", PolicySpec::Random, false),
        ("random_weighted", PolicySpec::Random, true),
        ("ring_hash", hash(HashAlgorithm::ring_hash()), false),
        ("maglev", hash(HashAlgorithm::maglev()), false),
    ];
    // 1024 distinct keys, cycled, so hash lookups do not all hit the same cache line.
    let users: Vec<String> = (0..1024).map(|i| format!("user-{i:04}")).collect();
    let headers: Vec<[(&str, &str); 2]> = users
        .iter()
        .map(|u| [("content-type", "application/grpc"), ("x-user", u.as_str())])
        .collect();
    let mut group = c.benchmark_group("pick");
    for n in [3usize, 100] {
        for (name, policy, weighted) in &policies {
            let mut b = balancer(policy.clone(), n, *weighted);
            let mut i = 0usize;
            group.bench_function(format!("{name}/{n}"), |bench| {
                bench.iter(|| {
                    i = (i + 1) & 1023;
                    let req =
                        Request::new(b"grpc.example.com", b"/pkg.Svc/M", b"POST", &headers[i]);
                    let p = b.pick(black_box(&req));
                    black_box(p.map(|p| p.endpoint))
                })
            });
        }
    }
    group.finish();
}

/// 50 GRPCRoutes (one service each: a method+header rule and a service rule with a 90/10
/// split) plus 5 HTTPRoutes, on one HTTPS listener; hostnames mixed exact / wildcard / none.
fn table() -> RouteTable {
    let gw = "edge/gw";
    let mut spec = TableSpec {
        listeners: vec![ListenerSpec::new(gw, "https", 443, Some("*.example.com"))],
        ..Default::default()
    };
    for i in 0..50u32 {
        let service = format!("com.example.shop.v1.Service{i:02}");
        let mut meta = RouteMeta::new("shop", &format!("svc-{i:02}"), i64::from(i)).parent(gw);
        if i % 3 == 0 {
            meta = meta.hostname("grpc.example.com");
        } else if i % 3 == 1 {
            meta = meta.hostname("*.example.com");
        }
        spec.grpc_routes.push(GrpcRouteSpec::new(
            meta,
            vec![
                GrpcRuleSpec::new(
                    vec![
                        GrpcMatchSpec::exact(Some(&service), Some("Get"))
                            .with_header(ValueMatchSpec::exact("x-canary", "1")),
                    ],
                    vec![BackendSpec::new("canary", ClusterId(i * 2 + 1), 1)],
                ),
                GrpcRuleSpec::new(
                    vec![GrpcMatchSpec::exact(Some(&service), None)],
                    vec![
                        BackendSpec::new("main", ClusterId(i * 2), 90),
                        BackendSpec::new("canary", ClusterId(i * 2 + 1), 10),
                    ],
                ),
            ],
        ));
    }
    for i in 0..5u32 {
        spec.http_routes.push(HttpRouteSpec::new(
            RouteMeta::new("web", &format!("web-{i}"), 0).parent(gw),
            vec![HttpRuleSpec::new(
                vec![HttpMatchSpec::prefix(format!("/api/v{i}"))],
                vec![BackendSpec::new("web", ClusterId(1000 + i), 1)],
            )],
        ));
    }
    RouteTable::build(&spec).unwrap()
}

fn route_match(c: &mut Criterion) {
    let t = table();
    let grpc = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("x-user", "alice"),
    ];
    let mut group = c.benchmark_group("route");
    let mut r = 0u64;
    let cases: [(&str, &[u8], &[u8]); 4] = [
        (
            "grpc_service_00",
            b"grpc.example.com",
            b"/com.example.shop.v1.Service00/List",
        ),
        (
            "grpc_service_37_wildcard_host",
            b"api.example.com",
            b"/com.example.shop.v1.Service37/Get",
        ),
        (
            "grpc_service_48_exact_host",
            b"grpc.example.com",
            b"/com.example.shop.v1.Service48/Get",
        ),
        (
            "grpc_no_route",
            b"grpc.example.com",
            b"/com.example.shop.v1.Nope/Get",
        ),
    ];
    for (name, host, path) in cases {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                r = r.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let req = Request::new(host, path, b"POST", &grpc[..]).with_port(443);
                black_box(t.route(black_box(&req), r).ok())
            })
        });
    }
    let web: [(&str, &str); 0] = [];
    group.bench_function("http_prefix", |bench| {
        bench.iter(|| {
            let req = Request::new(b"www.example.com", b"/api/v3/items?x=1", b"GET", &web[..])
                .with_port(443);
            black_box(t.route(black_box(&req), 0).ok())
        })
    });
    group.finish();
}

criterion_group!(benches, picks, route_match);
criterion_main!(benches);
