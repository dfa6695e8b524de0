//! The gateway's own logic on a virtual clock: `h2edge::testkit::Sim` runs the gateway, its
//! clients and its upstreams in memory, so timeouts of seconds take milliseconds and every run
//! plays out the same. What needs real sockets, the I/O backends or a third-party peer stays in the
//! real-socket suites (`tests/shared_upstream.rs`, `tests/upstream_life.rs`,
//! `tests/conn_timeouts.rs`, `tests/e2e`), each area with at least one test there.

#[path = "../common/gateway_yaml.rs"]
mod gateway_yaml;
pub use gateway_yaml::ALL_TO_UP;
use gateway_yaml::gateway_yaml;

mod backoff;
mod client_limits;
mod conn_life;
mod events;
mod replay;
mod stalls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use h2edge::h2::conn::Config;
use h2edge::proxy::events::Events;
use h2edge::testkit::{ClientId, Dial, Faults, H2Client, H2Server, Sim, gateway_config};

pub type H2Sim = Sim<H2Client, H2Server>;

/// Upstream endpoint `i` (made up: nothing leaves the process).
pub fn endpoint(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i], 8080))
}

/// An h2c Gateway listener on port 8080 (with `annotations` on the Gateway) in front of
/// `endpoints` (see `tests/common/gateway_yaml.rs`).
pub fn yaml(endpoints: &[SocketAddr], annotations: &str, rules: &str, policy: &str) -> String {
    gateway_yaml(8080, endpoints, annotations, rules, policy)
}

/// What each endpoint does when the gateway connects.
pub enum Listening {
    Serves(Rc<Faults>),
    Refuses,
    Blackhole,
}

/// A gateway on `yaml` whose endpoint `i` behaves as `endpoints[i]`.
pub fn sim(yaml: &str, endpoints: Vec<Listening>) -> H2Sim {
    sim_with(yaml, endpoints, ())
}

/// As [`sim`], with `events` observing the gateway.
pub fn sim_with<E: Events>(
    yaml: &str,
    endpoints: Vec<Listening>,
    events: E,
) -> Sim<H2Client, H2Server, E> {
    let config = gateway_config(yaml).unwrap_or_else(|e| panic!("config: {e}"));
    let by_addr: HashMap<SocketAddr, Listening> = endpoints
        .into_iter()
        .enumerate()
        .map(|(i, l)| (endpoint(i as u8), l))
        .collect();
    Sim::with_events(
        config,
        Instant::now(),
        7,
        events,
        move |addr, now| match by_addr.get(&addr) {
            Some(Listening::Serves(f)) => Dial::Accept(H2Server::new(f.clone(), now)),
            Some(Listening::Blackhole) => Dial::Blackhole,
            Some(Listening::Refuses) | None => Dial::Refuse,
        },
    )
}

pub fn serves() -> (Rc<Faults>, Listening) {
    let f = Rc::new(Faults::default());
    (f.clone(), Listening::Serves(f))
}

/// A client with `config` whose SETTINGS exchange is done.
pub fn client_with<E: Events>(
    sim: &mut Sim<H2Client, H2Server, E>,
    config: &Config,
    reads: bool,
) -> ClientId {
    let mut peer = H2Client::new(config, sim.now());
    peer.reads = reads;
    let c = sim.connect(0, peer);
    assert!(
        sim.run_until(Duration::from_secs(1), |s| s
            .client(c)
            .conn
            .settings_acked()),
        "no SETTINGS from the gateway"
    );
    c
}

/// A client that reads everything, with default windows.
pub fn honest<E: Events>(sim: &mut Sim<H2Client, H2Server, E>) -> ClientId {
    client_with(sim, &Config::default(), true)
}

/// `n` fresh downloads of `bytes` each on a new honest connection all complete within 20 s.
pub fn fresh_downloads_complete<E: Events>(
    sim: &mut Sim<H2Client, H2Server, E>,
    n: usize,
    bytes: usize,
) {
    let c = honest(sim);
    let ids: Vec<u32> = (0..n)
        .map(|_| sim.client_mut(c).get(&format!("/bytes/{bytes}")))
        .collect();
    let done = sim.run_until(Duration::from_secs(20), |s| {
        ids.iter().all(|&id| s.client(c).ended(id))
    });
    let seen = &sim.client(c).seen;
    let complete = ids
        .iter()
        .filter(|id| seen.body.get(id) == Some(&bytes))
        .count();
    assert!(
        done && complete == n,
        "{complete} of {n} fresh downloads complete"
    );
}

/// The first upstream connection; panics if there is none yet.
pub fn first(sim: &H2Sim) -> h2edge::testkit::UpstreamId {
    sim.upstream_ids().next().expect("an upstream connection")
}
