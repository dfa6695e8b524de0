//! Balancing policies: exact round-robin order, least request, random and weighted statistics,
//! consistent hashing (agreement across workers, minimal disruption, Maglev balance), cookie
//! affinity, health and locality.

use std::net::SocketAddr;
use std::sync::Arc;

use h2edge::balance::{
    Balancer, BuildError, ClusterSpec, CookieSpec, EndpointSpec, Failover, HashAlgorithm,
    HashKeySpec, Locality, LocalitySpec, PolicySpec, Rng, Site, Tables, worker_seed,
};
use h2edge::route::{NoHeaders, Request};

fn cluster(policy: PolicySpec, endpoints: Vec<EndpointSpec>) -> Arc<Tables> {
    Arc::new(
        Tables::build(&ClusterSpec::new("c", policy, endpoints), &Site::default()).expect("builds"),
    )
}

fn weighted(weights: &[u32]) -> Vec<EndpointSpec> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| EndpointSpec::new(format!("10.0.0.{i}:8080"), w))
        .collect()
}

fn equal(n: usize) -> Vec<EndpointSpec> {
    (0..n)
        .map(|i| EndpointSpec::new(format!("10.1.{}.{}:50051", i / 256, i % 256), 1))
        .collect()
}

fn pick(b: &mut Balancer) -> usize {
    b.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
        .expect("an endpoint")
        .endpoint
}

fn hash_policy(key: HashKeySpec, algorithm: HashAlgorithm) -> PolicySpec {
    PolicySpec::ConsistentHash { key, algorithm }
}

/// Chi-square statistic of `counts` against expected shares `weights`.
fn chi_square(counts: &[u64], weights: &[u32]) -> f64 {
    let n: u64 = counts.iter().sum();
    let total: u32 = weights.iter().sum();
    counts
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .map(|(&c, &w)| {
            let e = n as f64 * f64::from(w) / f64::from(total);
            (c as f64 - e).powi(2) / e
        })
        .sum()
}

// ---------------------------------------------------------------- round robin

#[test]
fn round_robin_smooth_weighted_order_is_exact_per_worker() {
    let c = cluster(PolicySpec::RoundRobin, weighted(&[5, 1, 1]));
    let expected = [0, 0, 1, 0, 2, 0, 0];
    for seed in [0u64, 1, 99] {
        let mut worker = Balancer::new(c.clone(), worker_seed(seed));
        let got: Vec<usize> = (0..21).map(|_| pick(&mut worker)).collect();
        let want: Vec<usize> = expected.iter().cycle().take(21).copied().collect();
        assert_eq!(got, want, "worker seed {seed}: a a b a c a a, repeating");
    }
}

#[test]
fn round_robin_workers_are_independent() {
    let c = cluster(PolicySpec::RoundRobin, weighted(&[2, 1]));
    let mut w1 = Balancer::new(c.clone(), 1);
    let mut w2 = Balancer::new(c, 2);
    assert_eq!(pick(&mut w1), 0);
    assert_eq!(pick(&mut w1), 1);
    // Worker 2 starts its own sequence from the beginning.
    assert_eq!(pick(&mut w2), 0);
    assert_eq!(pick(&mut w1), 0);
    assert_eq!(pick(&mut w2), 1);
}

#[test]
fn round_robin_equal_weights_cycles_and_skips_unhealthy_and_zero_weight() {
    let c = cluster(PolicySpec::RoundRobin, weighted(&[1, 1, 0, 1]));
    let mut w = Balancer::new(c, 0);
    let got: Vec<usize> = (0..6).map(|_| pick(&mut w)).collect();
    assert_eq!(got, [0, 1, 3, 0, 1, 3]);
    assert!(w.set_healthy(1, false));
    let got: Vec<usize> = (0..4).map(|_| pick(&mut w)).collect();
    assert!(got.iter().all(|&e| e == 0 || e == 3), "{got:?}");
    assert_eq!(got.iter().filter(|&&e| e == 0).count(), 2);
}

#[test]
fn round_robin_weighted_skips_unhealthy() {
    let c = cluster(PolicySpec::RoundRobin, weighted(&[5, 1, 1]));
    let mut w = Balancer::new(c, 0);
    w.set_healthy(0, false);
    let got: Vec<usize> = (0..4).map(|_| pick(&mut w)).collect();
    assert_eq!(got, [1, 2, 1, 2]);
    w.set_healthy(1, false);
    w.set_healthy(2, false);
    assert!(
        w.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
            .is_none()
    );
}

// ---------------------------------------------------------------- least request

#[test]
fn least_request_prefers_the_idle_endpoint() {
    let c = cluster(PolicySpec::LeastRequest, weighted(&[1, 1]));
    let mut w = Balancer::new(c, worker_seed(3));
    for _ in 0..5 {
        w.stream_started(0);
    }
    for _ in 0..1000 {
        assert_eq!(pick(&mut w), 1);
    }
    for _ in 0..5 {
        w.stream_ended(0);
    }
    w.stream_started(1);
    for _ in 0..1000 {
        assert_eq!(pick(&mut w), 0);
    }
}

#[test]
fn least_request_tracks_streams_and_stays_balanced() {
    let c = cluster(PolicySpec::LeastRequest, weighted(&[1; 5]));
    let mut w = Balancer::new(c, worker_seed(4));
    // Busy endpoints 0..4, idle endpoint 4: P2C picks it whenever it is one of the two draws.
    for e in 0..4 {
        for _ in 0..3 {
            w.stream_started(e);
        }
    }
    let n = 10_000;
    let idle = (0..n).filter(|_| pick(&mut w) == 4).count();
    let share = idle as f64 / n as f64;
    assert!(
        (share - 0.4).abs() < 0.03,
        "idle endpoint share {share}, expected 2/5"
    );
    // Opening a stream on every pick keeps in-flight counts level.
    let mut w = Balancer::new(cluster(PolicySpec::LeastRequest, weighted(&[1; 5])), 5);
    for _ in 0..1000 {
        let e = pick(&mut w);
        w.stream_started(e);
    }
    let loads: Vec<u32> = (0..5).map(|e| w.in_flight(e)).collect();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    assert!(max - min <= 3, "{loads:?}");
}

#[test]
fn least_request_compares_in_flight_per_weight() {
    let c = cluster(PolicySpec::LeastRequest, weighted(&[4, 1]));
    let mut w = Balancer::new(c, 7);
    // (2+1)/4 < (1+1)/1: the heavy endpoint still wins with more streams.
    w.stream_started(0);
    w.stream_started(0);
    w.stream_started(1);
    for _ in 0..100 {
        assert_eq!(pick(&mut w), 0);
    }
    for _ in 0..6 {
        w.stream_started(0);
    }
    // (8+1)/4 > (1+1)/1.
    for _ in 0..100 {
        assert_eq!(pick(&mut w), 1);
    }
}

// ---------------------------------------------------------------- random

#[test]
fn random_is_weighted_within_statistical_bounds() {
    let weights = [1u32, 2, 3, 4, 0];
    let c = cluster(PolicySpec::Random, weighted(&weights));
    for seed in [1u64, 2, 3, 4] {
        let mut w = Balancer::new(c.clone(), worker_seed(seed));
        let mut counts = [0u64; 5];
        for _ in 0..100_000 {
            counts[pick(&mut w)] += 1;
        }
        assert_eq!(counts[4], 0, "weight 0 never picked");
        // 3 degrees of freedom: 99.9% quantile 16.27.
        let chi2 = chi_square(&counts, &weights);
        assert!(chi2 < 16.27, "seed {seed}: chi2 {chi2}, {counts:?}");
    }
}

#[test]
fn random_equal_weights_and_health() {
    let c = cluster(PolicySpec::Random, equal(4));
    let mut w = Balancer::new(c, worker_seed(9));
    w.set_healthy(2, false);
    let mut counts = [0u64; 4];
    for _ in 0..60_000 {
        counts[pick(&mut w)] += 1;
    }
    assert_eq!(counts[2], 0);
    let chi2 = chi_square(&[counts[0], counts[1], counts[3]], &[1, 1, 1]);
    assert!(chi2 < 13.8, "{counts:?}");
    // Weighted path with an unhealthy endpoint.
    let c = cluster(PolicySpec::Random, weighted(&[3, 1, 1]));
    let mut w = Balancer::new(c, worker_seed(10));
    w.set_healthy(0, false);
    assert!((0..1000).all(|_| pick(&mut w) != 0));
}

// ---------------------------------------------------------------- consistent hashing

fn header_req<'a>(h: &'a [(&'a str, &'a str)]) -> Request<'a, [(&'a str, &'a str)]> {
    Request::new(b"h", b"/", b"GET", h)
}

fn key_of(b: &mut Balancer, key: &str) -> usize {
    let h = [("x-user", key)];
    b.pick(&header_req(&h)).unwrap().endpoint
}

fn algorithms() -> [HashAlgorithm; 2] {
    [HashAlgorithm::ring_hash(), HashAlgorithm::maglev()]
}

#[test]
fn same_key_same_endpoint_on_every_worker() {
    for algorithm in algorithms() {
        let spec = || hash_policy(HashKeySpec::Header("x-user".into()), algorithm);
        // Two workers build their tables independently, with different PRNG seeds.
        let mut w1 = Balancer::new(cluster(spec(), equal(10)), worker_seed(1));
        let mut w2 = Balancer::new(cluster(spec(), equal(10)), worker_seed(2));
        // A third gateway with the endpoints listed in another order agrees too.
        let mut shuffled = equal(10);
        shuffled.reverse();
        let mut w3 = Balancer::new(cluster(spec(), shuffled), worker_seed(3));
        for k in 0..10_000 {
            let key = format!("user-{k}");
            let a = key_of(&mut w1, &key);
            assert_eq!(a, key_of(&mut w2, &key), "{algorithm:?} key {key}");
            assert_eq!(
                9 - a,
                key_of(&mut w3, &key),
                "{algorithm:?} key {key} (reversed list)"
            );
            assert_eq!(a, key_of(&mut w1, &key), "stable on one worker");
        }
    }
}

fn remap_fraction(algorithm: HashAlgorithm, n: usize, removed: usize) -> f64 {
    let spec = || hash_policy(HashKeySpec::Header("x-user".into()), algorithm);
    let all = equal(n);
    let mut fewer = all.clone();
    fewer.remove(removed);
    let mut before = Balancer::new(cluster(spec(), all.clone()), 1);
    let mut after = Balancer::new(cluster(spec(), fewer.clone()), 2);
    let keys = 20_000;
    let mut moved = 0;
    for k in 0..keys {
        let key = format!("session-{k}");
        let a = &all[key_of(&mut before, &key)].id;
        let b = &fewer[key_of(&mut after, &key)].id;
        if a != b {
            moved += 1;
        }
    }
    moved as f64 / keys as f64
}

#[test]
fn removing_one_of_n_endpoints_remaps_about_one_nth_of_keys() {
    for (n, removed) in [(5usize, 2usize), (10, 0), (20, 13)] {
        let ideal = 1.0 / n as f64;
        let maglev = remap_fraction(HashAlgorithm::maglev(), n, removed);
        assert!(
            maglev <= ideal + 0.03,
            "maglev n={n}: moved {maglev}, ideal {ideal}"
        );
        let ring = remap_fraction(HashAlgorithm::ring_hash(), n, removed);
        eprintln!("n={n}: ideal {ideal:.4}, maglev moved {maglev:.4}, ring moved {ring:.4}");
        assert!(
            ring <= ideal + 0.04,
            "ring n={n}: moved {ring}, ideal {ideal}"
        );
        assert!(
            maglev >= ideal * 0.7 && ring >= ideal * 0.7,
            "the removed endpoint's keys did move"
        );
    }
}

#[test]
fn maglev_balance_is_within_a_few_percent() {
    let n = 10;
    let c = cluster(
        hash_policy(
            HashKeySpec::Header("x-user".into()),
            HashAlgorithm::maglev(),
        ),
        equal(n),
    );
    // Table slots: every endpoint gets floor or ceil of M/N.
    let shares = c.table_shares(0).unwrap();
    for (_, slots) in &shares {
        assert!((6553..=6554).contains(slots), "{shares:?}");
    }
    // Keys: 100k random keys within 3% of uniform per endpoint.
    let mut w = Balancer::new(c, 1);
    let mut rng = Rng::new(5);
    let keys = 100_000;
    let mut counts = vec![0u64; n];
    for _ in 0..keys {
        let key = format!("{:x}", rng.next_u64());
        counts[key_of(&mut w, &key)] += 1;
    }
    let expect = keys as f64 / n as f64;
    eprintln!("maglev keys per endpoint: {counts:?}");
    for c in &counts {
        assert!(((*c as f64) - expect).abs() / expect < 0.03, "{counts:?}");
    }
}

#[test]
fn weighted_consistent_hash_follows_weights() {
    for algorithm in algorithms() {
        let c = cluster(
            hash_policy(HashKeySpec::Header("x-user".into()), algorithm),
            weighted(&[3, 1, 0]),
        );
        let mut w = Balancer::new(c, 1);
        let mut counts = [0u64; 3];
        for k in 0..40_000 {
            counts[key_of(&mut w, &format!("k{k}"))] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[0] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.05, "{algorithm:?}: {counts:?}");
    }
}

#[test]
fn ring_respects_minimum_ring_size() {
    let c = cluster(
        hash_policy(
            HashKeySpec::SourceIp,
            HashAlgorithm::RingHash {
                minimum_ring_size: 4096,
            },
        ),
        weighted(&[1, 2, 3]),
    );
    // Lightest endpoint: minimumRingSize points; the others proportionally more.
    assert_eq!(c.table_len(0), Some(4096 * 6));
    assert_eq!(
        c.table_shares(0).unwrap(),
        [(0, 4096), (1, 8192), (2, 12288)]
    );
}

#[test]
fn unhealthy_endpoint_moves_only_its_own_keys() {
    for algorithm in algorithms() {
        let c = cluster(
            hash_policy(HashKeySpec::Header("x-user".into()), algorithm),
            equal(8),
        );
        let mut healthy = Balancer::new(c.clone(), 1);
        let mut degraded = Balancer::new(c, 2);
        degraded.set_healthy(3, false);
        let mut moved = 0;
        for k in 0..10_000 {
            let key = format!("k{k}");
            let a = key_of(&mut healthy, &key);
            let b = key_of(&mut degraded, &key);
            assert_ne!(b, 3);
            if a != 3 {
                assert_eq!(a, b, "{algorithm:?}: a healthy endpoint's key moved");
            } else {
                moved += 1;
            }
        }
        assert!(moved > 0);
    }
}

#[test]
fn missing_key_still_picks_an_endpoint() {
    let c = cluster(
        hash_policy(
            HashKeySpec::Header("x-user".into()),
            HashAlgorithm::maglev(),
        ),
        equal(4),
    );
    let mut w = Balancer::new(c, 1);
    let mut seen = [false; 4];
    for _ in 0..200 {
        seen[pick(&mut w)] = true;
    }
    assert!(seen.iter().all(|s| *s), "no key: random spread {seen:?}");
}

#[test]
fn source_ip_and_query_keys() {
    let c = cluster(
        hash_policy(HashKeySpec::SourceIp, HashAlgorithm::maglev()),
        equal(16),
    );
    let mut w1 = Balancer::new(c.clone(), 1);
    let mut w2 = Balancer::new(c, 2);
    for i in 0..500u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i * 7919);
        let a: SocketAddr = (ip, 1000).into();
        let b: SocketAddr = (ip, 2000).into();
        let ra = Request::new(b"h", b"/", b"GET", &NoHeaders).with_source(a);
        let rb = Request::new(b"h", b"/", b"GET", &NoHeaders).with_source(b);
        let mapped: SocketAddr = (ip.to_ipv6_mapped(), 3000).into();
        let rm = Request::new(b"h", b"/", b"GET", &NoHeaders).with_source(mapped);
        let e = w1.pick(&ra).unwrap().endpoint;
        assert_eq!(e, w2.pick(&rb).unwrap().endpoint, "port does not matter");
        assert_eq!(
            e,
            w2.pick(&rm).unwrap().endpoint,
            "IPv4-mapped IPv6 is the IPv4 address"
        );
    }
    let c = cluster(
        hash_policy(
            HashKeySpec::QueryParam("uid".into()),
            HashAlgorithm::ring_hash(),
        ),
        equal(8),
    );
    let mut w = Balancer::new(c, 1);
    let first = w
        .pick(&Request::new(b"h", b"/p?a=1&uid=42", b"GET", &NoHeaders))
        .unwrap()
        .endpoint;
    for path in ["/q?uid=42", "/p?uid=42&a=2", "/x?b&uid=42"] {
        assert_eq!(
            w.pick(&Request::new(b"h", path.as_bytes(), b"GET", &NoHeaders))
                .unwrap()
                .endpoint,
            first
        );
    }
}

// ---------------------------------------------------------------- cookie affinity

fn cookie_policy(ttl: Option<u64>) -> PolicySpec {
    hash_policy(
        HashKeySpec::Cookie(CookieSpec {
            name: "affinity".into(),
            path: Some("/".into()),
            ttl_secs: ttl,
            attributes: vec![("SameSite".into(), "Strict".into())],
        }),
        HashAlgorithm::ring_hash(),
    )
}

#[test]
fn cookie_is_set_when_missing_and_honoured_when_present() {
    let c = cluster(cookie_policy(Some(3600)), equal(6));
    let mut w1 = Balancer::new(c.clone(), 1);
    let mut w2 = Balancer::new(c, 2);
    let client: SocketAddr = "198.51.100.4:40000".parse().unwrap();
    let req = Request::new(b"h", b"/", b"GET", &NoHeaders).with_source(client);
    let (endpoint, header, value) = {
        let p = w1.pick(&req).unwrap();
        let set = p.set_cookie.expect("cookie missing: must be set");
        (p.endpoint, set.to_string(), set.value().to_owned())
    };
    assert_eq!(value.len(), 16);
    assert_eq!(
        header,
        format!("affinity=\"{value}\"; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict")
    );
    // Same connection, second stream before the cookie came back: same value, same endpoint.
    let again = w2.pick(&req).unwrap();
    assert_eq!(again.endpoint, endpoint);
    assert_eq!(
        again.set_cookie.map(|s| s.value().to_owned()),
        Some(value.clone())
    );
    // The client now sends it (quoted or not, among other cookies, on any worker).
    for cookie in [
        format!("a=b; affinity={value}"),
        format!("affinity=\"{value}\""),
    ] {
        let h = [("cookie", cookie.as_str())];
        let req = Request::new(b"h", b"/", b"GET", &h[..]);
        let p = w2.pick(&req).unwrap();
        assert_eq!(p.endpoint, endpoint);
        assert!(p.set_cookie.is_none(), "present cookie is not set again");
    }
    // Different clients get different cookies, spread over endpoints.
    let mut seen = std::collections::HashSet::new();
    for port in 0..200u16 {
        let src: SocketAddr = (
            std::net::Ipv4Addr::new(203, 0, 113, (port % 250) as u8),
            1000 + port,
        )
            .into();
        let p = w1
            .pick(&Request::new(b"h", b"/", b"GET", &NoHeaders).with_source(src))
            .unwrap();
        seen.insert(p.endpoint);
    }
    assert_eq!(seen.len(), 6);
}

#[test]
fn session_cookie_and_no_ttl() {
    let c = cluster(cookie_policy(Some(0)), equal(3));
    let mut w = Balancer::new(c, 1);
    let p = w
        .pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
        .unwrap();
    let s = p.set_cookie.unwrap().to_string();
    assert!(!s.contains("Max-Age"), "{s}");
    let mut out = Vec::new();
    p.set_cookie.unwrap().write_header_value(&mut out);
    assert_eq!(out, s.as_bytes());
    // No TTL: Envoy does not generate a cookie; the pick is random.
    let c = cluster(cookie_policy(None), equal(3));
    let mut w = Balancer::new(c, 1);
    assert!(
        w.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
            .unwrap()
            .set_cookie
            .is_none()
    );
}

// ---------------------------------------------------------------- locality and health

fn zoned() -> Vec<EndpointSpec> {
    vec![
        EndpointSpec::new("local-1", 1).in_locality(Locality::new("us-east", "a", "")),
        EndpointSpec::new("local-2", 1).in_locality(Locality::new("us-east", "a", "")),
        EndpointSpec::new("zone-b", 1).in_locality(Locality::new("us-east", "b", "")),
        EndpointSpec::new("eu", 1).in_locality(Locality::new("eu-west", "a", "")),
        EndpointSpec::new("ap", 1).in_locality(Locality::new("ap-south", "a", "")),
    ]
}

#[test]
fn locality_prefers_local_zone_then_failover_order() {
    let site = Site {
        locality: Locality::new("us-east", "a", ""),
        labels: vec![],
    };
    let mut spec = ClusterSpec::new("c", PolicySpec::RoundRobin, zoned());
    spec.locality = LocalitySpec::Failover(vec![
        Failover {
            from: "us-east".into(),
            to: "ap-south".into(),
        },
        Failover {
            from: "us-east".into(),
            to: "eu-west".into(),
        },
    ]);
    let c = Arc::new(Tables::build(&spec, &site).unwrap());
    let prio: Vec<u32> = (0..c.endpoints().len())
        .filter_map(|i| c.priority(i))
        .collect();
    assert_eq!(prio, [0, 0, 2, 4, 3]);
    let mut w = Balancer::new(c, 1);
    let picks: Vec<usize> = (0..4).map(|_| pick(&mut w)).collect();
    assert_eq!(picks, [0, 1, 0, 1], "local zone only while healthy");
    w.set_healthy(0, false);
    assert!((0..4).all(|_| pick(&mut w) == 1));
    w.set_healthy(1, false);
    assert!((0..4).all(|_| pick(&mut w) == 2), "then the same region");
    w.set_healthy(2, false);
    assert!(
        (0..4).all(|_| pick(&mut w) == 4),
        "then the first failover region"
    );
    w.set_healthy(4, false);
    assert!((0..4).all(|_| pick(&mut w) == 3));
    w.set_healthy(3, false);
    assert!(
        w.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
            .is_none()
    );
    w.set_healthy(1, true);
    assert_eq!(
        pick(&mut w),
        1,
        "recovered local endpoint takes traffic back"
    );
}

#[test]
fn failover_priority_labels_order_levels() {
    let site = Site {
        locality: Locality::new("r1", "z1", ""),
        labels: vec![("topology.istio.io/network".into(), "n1".into())],
    };
    let mut spec = ClusterSpec::new(
        "c",
        hash_policy(
            HashKeySpec::Header("x-user".into()),
            HashAlgorithm::maglev(),
        ),
        vec![
            EndpointSpec::new("far", 1)
                .in_locality(Locality::new("r2", "z9", ""))
                .with_label("topology.istio.io/network", "n1"),
            EndpointSpec::new("near", 1)
                .in_locality(Locality::new("r1", "z1", ""))
                .with_label("topology.istio.io/network", "n1"),
            EndpointSpec::new("other-net", 1)
                .in_locality(Locality::new("r1", "z1", ""))
                .with_label("topology.istio.io/network", "n2"),
        ],
    );
    spec.locality = LocalitySpec::FailoverPriority(vec![
        "topology.istio.io/network".into(),
        "topology.kubernetes.io/region".into(),
        "topology.kubernetes.io/zone".into(),
    ]);
    let c = Arc::new(Tables::build(&spec, &site).unwrap());
    let mut w = Balancer::new(c, 1);
    for k in 0..100 {
        assert_eq!(
            key_of(&mut w, &format!("k{k}")),
            1,
            "every key to the local level"
        );
    }
    w.set_healthy(1, false);
    for k in 0..100 {
        assert_eq!(key_of(&mut w, &format!("k{k}")), 0);
    }
}

#[test]
fn reload_carries_health_and_load_over_by_id() {
    let c = cluster(PolicySpec::LeastRequest, weighted(&[1, 1, 1]));
    let mut old = Balancer::new(c, 1);
    old.set_healthy(1, false);
    old.stream_started(2);
    let mut reordered = weighted(&[1, 1, 1]);
    reordered.swap(0, 2);
    reordered.push(EndpointSpec::new("10.0.0.9:8080", 1));
    let next = old.carry_over(cluster(PolicySpec::LeastRequest, reordered));
    // "10.0.0.1" (unhealthy) is still index 1; "10.0.0.2" (1 stream) is now index 0.
    assert!(!next.is_healthy(1));
    assert_eq!(next.in_flight(0), 1);
    assert!(next.is_healthy(3));
}

#[test]
fn invalid_specs_are_refused() {
    let site = Site::default();
    let maglev = |size| {
        Tables::build(
            &ClusterSpec::new(
                "c",
                hash_policy(
                    HashKeySpec::SourceIp,
                    HashAlgorithm::Maglev { table_size: size },
                ),
                equal(3),
            ),
            &site,
        )
    };
    assert!(matches!(
        maglev(65536),
        Err(BuildError::MaglevTableSize { .. })
    ));
    assert!(maglev(65537).is_ok());
    assert!(maglev(251).is_ok());
    assert!(matches!(
        Tables::build(
            &ClusterSpec::new(
                "c",
                hash_policy(
                    HashKeySpec::SourceIp,
                    HashAlgorithm::Maglev { table_size: 2 }
                ),
                equal(3)
            ),
            &site
        ),
        Err(BuildError::MaglevTableSize { .. })
    ));
    let ring0 = Tables::build(
        &ClusterSpec::new(
            "c",
            hash_policy(
                HashKeySpec::SourceIp,
                HashAlgorithm::RingHash {
                    minimum_ring_size: 0,
                },
            ),
            equal(3),
        ),
        &site,
    );
    assert!(matches!(ring0, Err(BuildError::RingSize { .. })));
    let dup = Tables::build(
        &ClusterSpec::new(
            "c",
            PolicySpec::RoundRobin,
            vec![EndpointSpec::new("a", 1), EndpointSpec::new("a", 1)],
        ),
        &site,
    );
    assert_eq!(
        dup.err().map(|e| e.to_string()),
        Some("cluster c: endpoint a listed twice".to_owned())
    );
    let empty_header = Tables::build(
        &ClusterSpec::new(
            "c",
            hash_policy(HashKeySpec::Header(String::new()), HashAlgorithm::maglev()),
            equal(3),
        ),
        &site,
    );
    assert!(matches!(empty_header, Err(BuildError::EmptyKeyName { .. })));
}

#[test]
fn empty_cluster_picks_nothing() {
    for policy in [
        PolicySpec::RoundRobin,
        PolicySpec::LeastRequest,
        PolicySpec::Random,
        hash_policy(HashKeySpec::SourceIp, HashAlgorithm::maglev()),
        hash_policy(HashKeySpec::SourceIp, HashAlgorithm::ring_hash()),
    ] {
        let mut w = Balancer::new(cluster(policy.clone(), vec![]), 1);
        assert!(
            w.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
                .is_none(),
            "{policy}"
        );
        let mut w = Balancer::new(cluster(policy.clone(), weighted(&[0, 0])), 1);
        assert!(
            w.pick(&Request::new(b"h", b"/", b"GET", &NoHeaders))
                .is_none(),
            "{policy}"
        );
        // Out-of-range indices are ignored, not a panic.
        w.stream_started(99);
        w.stream_ended(99);
        assert!(!w.set_healthy(99, false));
    }
}
