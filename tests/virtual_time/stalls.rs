//! Backends that stall and clients that never read (moved from `tests/shared_upstream.rs`, which
//! keeps the real-socket side: late answers after a stall, the same attack in front of nghttpd,
//! and the memory the gateway process takes).

use std::time::Duration;

use h2edge::h2::conn::Config;

use crate::{
    ALL_TO_UP, client_with, endpoint, fresh_downloads_complete, honest, serves, sim, yaml,
};

#[test]
fn route_timeouts_eject_a_frozen_backend() {
    let (freeze, stuck) = serves();
    let (_, fine) = serves();
    let rules = "[{timeouts: {request: 200ms}, backendRefs: [{name: up, port: 80}]}]";
    let policy = "{loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: {consecutiveGatewayErrors: 3, baseEjectionTime: 30s, maxEjectionPercent: 50}}";
    let mut sim = sim(
        &yaml(&[endpoint(0), endpoint(1)], "", rules, policy),
        vec![stuck, fine],
    );
    // Both backends answer, then one freezes with its connection open.
    fresh_downloads_complete(&mut sim, 4, 1);
    freeze.frozen.set(true);
    let c = honest(&mut sim);
    let mut timeouts = 0;
    for _ in 0..20 {
        let id = sim.client_mut(c).get("/small");
        assert!(sim.run_until(Duration::from_secs(3), |s| {
            s.client(c).seen.ended.contains(&id)
        }));
        match sim.client(c).status(id) {
            Some("200") => {}
            Some("504") => timeouts += 1,
            other => panic!("status {other:?}"),
        }
    }
    // Three timeouts in a row eject it; without that it would take every other request.
    assert!(timeouts <= 4, "{timeouts} of 20 requests timed out");
}

#[test]
fn a_frozen_backend_fails_its_streams_within_seconds() {
    let (faults, up) = serves();
    // Keepalive as many set it: a PING every 30 s, 1 s to answer.
    let policy = "{connectionPool: {http: {http2KeepAlive: {interval: 30s, timeout: 1s}}}}";
    let mut sim = sim(&yaml(&[endpoint(0)], "", ALL_TO_UP, policy), vec![up]);
    fresh_downloads_complete(&mut sim, 1, 1);
    faults.frozen.set(true);
    let started = sim.now();
    let c = honest(&mut sim);
    let id = sim.client_mut(c).get("/small");
    let answered = sim.run_until(Duration::from_secs(12), |s| {
        s.client(c).seen.ended.contains(&id)
    });
    let took = sim.now() - started;
    assert!(answered, "no answer within 12 s");
    assert_eq!(sim.client(c).status(id), Some("502"));
    // A PING after 5 s of silence with a stream waiting, unanswered for 1 s.
    assert!(took >= Duration::from_secs(5), "took {took:?}");
    assert!(took < Duration::from_secs(9), "took {took:?}");
}

/// Streams each attacker opens (as in `tests/shared_upstream.rs`).
const ATTACK_STREAMS: usize = 40;

#[test]
fn clients_that_never_read_are_ended_and_others_are_served() {
    let (_, up) = serves();
    let annotations = "h2edge.io/worker-buffer-budget: 8Mi, h2edge.io/stream-stall-timeout: 2s";
    let mut sim = sim(&yaml(&[endpoint(0)], annotations, ALL_TO_UP, ""), vec![up]);
    fresh_downloads_complete(&mut sim, 4, 256 << 10);
    let honest = honest(&mut sim);
    // Eight clients that never open their windows, each downloading 4 MiB on many streams, and
    // one that opens huge windows and then never reads its socket.
    let never = Config {
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut attackers: Vec<_> = (0..8)
        .map(|_| client_with(&mut sim, &never, false))
        .collect();
    let wide = Config {
        initial_window_size: (1 << 31) - 1,
        connection_window_size: (1 << 31) - 1,
        ..Config::default()
    };
    attackers.push(client_with(&mut sim, &wide, false));
    let mut streams = Vec::new();
    for &a in &attackers {
        for _ in 0..ATTACK_STREAMS {
            streams.push((a, sim.client_mut(a).get("/bytes/4194304")));
        }
    }
    sim.client_mut(attackers[8]).reads_socket = false;
    // The honest client asks every 50 ms for 9 s; each answer within 500 ms.
    let mut slowest = Duration::ZERO;
    let end = sim.now() + Duration::from_secs(9);
    while sim.now() < end {
        let started = sim.now();
        let id = sim.client_mut(honest).get("/small");
        let ok = sim.run_until(Duration::from_secs(2), |s| {
            s.client(honest).seen.ended.contains(&id)
        });
        assert!(
            ok && sim.client(honest).status(id) == Some("200"),
            "honest request failed"
        );
        slowest = slowest.max(sim.now() - started);
        sim.run_for(Duration::from_millis(50));
    }
    assert!(
        slowest <= Duration::from_millis(500),
        "an honest answer took {slowest:?}"
    );
    // Every attacking stream is ended by the gateway (budget or stall), never left hanging. (The
    // one that did not read its socket finds the resets behind what the gateway had queued.)
    sim.client_mut(attackers[8]).reads_socket = true;
    for &a in &attackers {
        let mine: Vec<u32> = streams.iter().filter(|s| s.0 == a).map(|s| s.1).collect();
        let all_ended = sim.run_until(Duration::from_secs(10), |s| {
            mine.iter().all(|&id| s.client(a).ended(id))
        });
        let open = mine.iter().filter(|&&id| !sim.client(a).ended(id)).count();
        assert!(all_ended, "attacker {a:?}: {open} streams still held");
    }
    fresh_downloads_complete(&mut sim, 24, 256 << 10);
}
