//! DestinationRule `connectionPool` life of upstream connections: `http.idleTimeout`,
//! `tcp.maxConnectionDuration` and `http.maxRequestsPerConnection` drain a connection (GOAWAY
//! NO_ERROR, then close) and the next request opens a new one. `tests/upstream_life.rs` keeps the
//! idle timeout and TCP keepalive over real sockets.

use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;

use crate::{H2Sim, endpoint, honest, serves, sim, yaml};

fn config(pool: &str) -> String {
    let policy = format!("{{connectionPool: {pool}}}");
    yaml(&[endpoint(0)], "", crate::ALL_TO_UP, &policy)
}

/// One GET on a fresh client connection; panics unless it gets `200`. Returns when it ended.
fn get(sim: &mut H2Sim) -> Instant {
    let c = honest(sim);
    let id = sim.client_mut(c).get("/");
    assert!(sim.run_until(Duration::from_secs(2), |s| s.client(c).ended(id)));
    assert_eq!(sim.client(c).status(id), Some("200"));
    sim.now()
}

#[test]
fn an_idle_upstream_connection_is_closed_after_idle_timeout() {
    let (_, up) = serves();
    let mut sim = sim(&config("{http: {idleTimeout: 300ms}}"), vec![up]);
    let answered = get(&mut sim);
    // No further request: the connection is closed on its own.
    let closed = sim.run_until(Duration::from_secs(5), |s| {
        s.upstream_closed_at(crate::first(s)).is_some()
    });
    assert!(closed, "the idle connection was closed");
    let first = crate::first(&sim);
    let after = sim.upstream_closed_at(first).expect("closed") - answered;
    let u = sim.upstream(first);
    assert_eq!(u.answered, 1);
    assert_eq!(u.seen.goaways, [ErrorCode::NO_ERROR]);
    // Idle counts from when the gateway saw the stream end: one hop (100 µs) before the client.
    assert!(
        after >= Duration::from_millis(299),
        "closed {after:?} after the last answer"
    );
    assert!(
        after < Duration::from_millis(600),
        "closed {after:?} after the last answer"
    );
    // The next request gets a new connection.
    get(&mut sim);
    assert_eq!(sim.upstream_ids().count(), 2);
}

#[test]
fn a_busy_upstream_connection_is_replaced_after_max_connection_duration() {
    let (_, up) = serves();
    let mut sim = sim(&config("{tcp: {maxConnectionDuration: 1s}}"), vec![up]);
    // Requests every 100 ms: the connection is never idle, yet it is drained after 1 s.
    let start = sim.now();
    loop {
        get(&mut sim);
        if sim.upstream_closed_at(crate::first(&sim)).is_some() {
            break;
        }
        assert!(
            sim.now() - start < Duration::from_secs(5),
            "no connection replaced within 5 s"
        );
        sim.run_for(Duration::from_millis(100));
    }
    let first = crate::first(&sim);
    let lived = sim.upstream_closed_at(first).expect("closed") - start;
    assert!(lived >= Duration::from_secs(1), "replaced early: {lived:?}");
    assert!(
        lived < Duration::from_millis(1500),
        "replaced late: {lived:?}"
    );
    let u = sim.upstream(first);
    assert!(u.answered >= 5, "{} requests", u.answered);
    assert_eq!(u.seen.goaways, [ErrorCode::NO_ERROR]);
    get(&mut sim);
}

#[test]
fn an_upstream_connection_is_replaced_after_max_requests_per_connection() {
    let (_, up) = serves();
    let mut sim = sim(&config("{http: {maxRequestsPerConnection: 2}}"), vec![up]);
    for _ in 0..6 {
        get(&mut sim);
    }
    sim.run_for(Duration::from_millis(100));
    let ups: Vec<_> = sim.upstream_ids().collect();
    assert_eq!(ups.len(), 3, "a connection per two requests");
    for &u in &ups {
        assert_eq!(sim.upstream(u).answered, 2);
    }
    // The first two were drained and closed, the last is still open.
    for &u in &ups[..2] {
        assert_eq!(sim.upstream(u).seen.goaways, [ErrorCode::NO_ERROR]);
        assert!(sim.upstream_closed_at(u).is_some());
    }
}
