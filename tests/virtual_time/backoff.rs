//! An endpoint that refuses connections, or never answers them (connect timeout), leaves the
//! balancer for a backoff: calls go to the others and none fails. `tests/e2e/failures.rs` has the
//! same over real sockets with grpc backends.

use std::time::Duration;

use crate::{Listening, endpoint, honest, serves, sim, yaml};

/// 30 sequential calls on one connection: every one succeeds, from the live endpoints (1 and 2)
/// only, each taking a fair share. Returns the attempts at endpoint 0.
fn calls_avoid(dead: Listening) {
    let eps = [endpoint(0), endpoint(1), endpoint(2)];
    let policy =
        "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {connectTimeout: 300ms}}}";
    let mut sim = sim(
        &yaml(&eps, "", crate::ALL_TO_UP, policy),
        vec![dead, serves().1, serves().1],
    );
    let c = honest(&mut sim);
    for i in 0..30 {
        let id = sim.client_mut(c).get("/small");
        assert!(
            sim.run_until(Duration::from_secs(5), |s| s.client(c).ended(id)),
            "call {i}"
        );
        assert_eq!(sim.client(c).status(id), Some("200"), "call {i}");
    }
    let mut answered = [0; 3];
    for u in sim.upstream_ids() {
        let i = eps
            .iter()
            .position(|&e| e == sim.upstream_addr(u))
            .expect("endpoint");
        answered[i] += sim.upstream(u).answered;
    }
    assert_eq!(answered[0], 0, "{answered:?}");
    assert!(answered[1] >= 5 && answered[2] >= 5, "{answered:?}");
}

#[test]
fn refused_endpoint_is_skipped_and_no_call_fails() {
    calls_avoid(Listening::Refuses);
}

#[test]
fn silent_endpoint_times_out_and_no_call_fails() {
    calls_avoid(Listening::Blackhole);
}
