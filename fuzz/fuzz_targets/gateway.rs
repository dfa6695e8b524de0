//! `gateway`: the whole two-leg gateway (`proxy::gateway::Gateway`) in memory, driven through
//! `h2edge::testkit::Sim` as the worker drives it, with the fuzzer playing every peer: clients on an
//! h2c listener and the upstream connections the gateway opens (two h2c endpoints).
//!
//! Input: a sequence of ops, one `Sim::turn` after each, so client and upstream bytes interleave as
//! the fuzzer orders them. An op byte is `kind | arg << 3`:
//! - 0: bytes from client `arg` (modulo the clients): a u16 little-endian length, then the bytes;
//! - 1: bytes from upstream connection `arg` (modulo those opened; skipped before the first);
//! - 2: `arg + 1` more turns;
//! - 3: virtual time passes: `arg² × 50 ms` (up to 48 s: route, stall, keepalive and connection
//!   life timeouts all fire);
//! - 4: how the following connects end: `arg % 3` = accepted, refused, never answered;
//! - 5: a peer hangs up: `arg & 1` = client / upstream, `arg >> 1` which;
//! - 6: a new client connects (at most 4);
//! - 7: one more byte `r`: the socket of peer `arg` (as in 5) takes `r × 64` more bytes and is then
//!   full (`r = 255`: it reads everything again).
//!
//! The config (parsed once) has route timeouts, outlier detection, `maxRequestsPerConnection`,
//! idle and duration limits, PING keepalive, a connect timeout and a small stall timeout.
//!
//! Asserts: no panic; after every turn the gateway holds exactly the connections the harness has
//! sockets for (plus connects whose failure it has yet to hear of): none leaks, none is dropped
//! without a close.
#![no_main]

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use h2edge::proxy::gateway::GatewayConfig;
use h2edge::testkit::{ClientId, Dial, RawPeer, Sim, UpstreamId, gateway_config};
use libfuzzer_sys::fuzz_target;

const MAX_CLIENTS: usize = 4;

fn config() -> Arc<GatewayConfig> {
    static CONFIG: OnceLock<Arc<GatewayConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| gateway_config(YAML).expect("the fuzz target's config"))
        .clone()
}

const YAML: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: fuzz
  annotations: {h2edge.io/stream-stall-timeout: 2s, h2edge.io/worker-buffer-budget: 1Mi}
spec:
  gatewayClassName: h2edge
  listeners: [{name: h2c, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: all, namespace: fuzz}
spec:
  parentRefs: [{name: edge}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /t/}}]
    timeouts: {request: 1s}
    backendRefs: [{name: up, port: 80}]
  - backendRefs: [{name: up, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: up, namespace: fuzz}
spec:
  ports: [{name: h2c, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: up, namespace: fuzz, labels: {kubernetes.io/service-name: up}}
addressType: IPv4
ports: [{name: h2c, port: 8080}]
endpoints: [{addresses: ["10.0.0.1"]}, {addresses: ["10.0.0.2"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: up, namespace: fuzz}
spec:
  host: up.fuzz.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutiveGatewayErrors: 2, baseEjectionTime: 5s, maxEjectionPercent: 50}
    connectionPool:
      tcp: {connectTimeout: 300ms, maxConnectionDuration: 10s}
      http:
        maxRequestsPerConnection: 5
        idleTimeout: 3s
        http2KeepAlive: {interval: 2s, timeout: 1s}
"#;

/// Splits off `n` bytes (fewer at the end of the input).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

fn byte(data: &mut &[u8]) -> Option<u8> {
    take(data, 1).first().copied()
}

/// The peer op `arg` names: a client, or an upstream connection once there is one.
fn peer(sim: &mut Sim<RawPeer, RawPeer>, clients: usize, arg: u8) -> Option<&mut RawPeer> {
    let n = usize::from(arg >> 1);
    if arg & 1 == 0 {
        Some(sim.client_mut(ClientId(n % clients)))
    } else {
        let ups = sim.upstream_ids().count();
        (ups > 0).then(|| sim.upstream_mut(UpstreamId(n % ups)))
    }
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let dial_mode = Rc::new(Cell::new(0u8));
    let mode = dial_mode.clone();
    let mut sim = Sim::new(config(), Instant::now(), 1, move |_, _| match mode.get() {
        0 => Dial::Accept(RawPeer::new()),
        1 => Dial::Refuse,
        _ => Dial::Blackhole,
    });
    sim.connect(0, RawPeer::new());
    let mut clients = 1;
    while let Some(op) = byte(&mut data) {
        let arg = op >> 3;
        match op & 7 {
            0 | 1 => {
                let len = take(&mut data, 2);
                let len = usize::from(u16::from_le_bytes([
                    len.first().copied().unwrap_or(0),
                    len.get(1).copied().unwrap_or(0),
                ]));
                let bytes = take(&mut data, len);
                if let Some(p) = peer(&mut sim, clients, arg << 1 | (op & 1)) {
                    p.send.extend_from_slice(bytes);
                }
            }
            2 => {
                for _ in 0..arg {
                    sim.turn();
                }
            }
            3 => sim.run_for(Duration::from_millis(50) * u32::from(arg) * u32::from(arg)),
            4 => dial_mode.set(arg % 3),
            5 => {
                if let Some(p) = peer(&mut sim, clients, arg) {
                    p.hang_up = true;
                }
            }
            6 if clients < MAX_CLIENTS => {
                sim.connect(0, RawPeer::new());
                clients += 1;
            }
            6 => {}
            _ => {
                let r = byte(&mut data).unwrap_or(255);
                if let Some(p) = peer(&mut sim, clients, arg) {
                    p.room = if r == 255 { usize::MAX } else { usize::from(r) * 64 };
                }
            }
        }
        sim.turn();
        // The harness keeps what the peers heard; the fuzzer has no use for it.
        for c in 0..clients {
            sim.client_mut(ClientId(c)).heard.clear();
        }
        for u in sim.upstream_ids() {
            sim.upstream_mut(u).heard.clear();
        }
        assert_eq!(
            sim.gateway.connections(),
            sim.expected_connections(),
            "the gateway's connections and the harness's sockets differ"
        );
    }
});
