//! The gateway's whole hot path, in memory: a client speaking HTTP/2 to a listener of
//! `proxy::gateway::Gateway`, which proxies every stream round robin to three upstream endpoints.
//!
//! No sockets, no threads, no clock: `h2edge::testkit::Sim` plays the worker
//! (`src/runtime/worker.rs`) and the network. Each turn the peers act on what reached them,
//! everything they wrote is handed to the gateway (`received`, as one poll would), then the gateway
//! runs one worker turn (backlog, timers, `tend_upstreams`, connects, one `output`/`advance` flush
//! per dirty connection), and what it wrote reaches the peers for the next turn. Connects finish on
//! the turn after they were asked for. Time advances 10 µs per turn (the pipeline never idles);
//! the balancers' seed is fixed.
//!
//! - The client is our own `h2::conn::Connection` in the client role keeping 32 unary gRPC calls in
//!   flight on one connection: the request head of `benches/conn.rs` (without `x-request-id`, so
//!   the gateway mints one, as at a real edge) and one DATA frame of a 5-byte prefix and a 64-byte
//!   message.
//! - Each upstream is a `Connection` in the server role answering every call with HEADERS, one DATA
//!   of the same 69 bytes and trailers `grpc-status: 0`.
//! - `h2c`: an h2c listener and h2c upstreams. `tls`: a TLS listener (ALPN h2) and mutually
//!   authenticated upstreams (certificates from `h2edge::demo::pki`, as the demo sets them up); the
//!   test side uses rustls's buffered sessions.
//!
//! Both variants' figures include the test side's work (client, upstreams, and in `tls` their
//! rustls sessions): about 40% of the instructions, the gateway's calls the other 60%.
//!
//!     cargo bench --bench proxy
//!
//! Instruction-count mode (for `.ci/hot-path-cost.sh`): with `H2EDGE_BENCH_CALLS=N` the binary
//! skips criterion, runs a fixed warm-up and then exactly N more calls of the variant named by
//! `H2EDGE_BENCH_VARIANT` (`h2c`, the default, or `tls`), and exits. With `H2EDGE_BENCH_METRICS=1`
//! the gateway counts what it does as `h2edge run --admin` has it count (`observe::Recorder`), so
//! the two runs give the cost of the metrics per call.

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/unary.rs"]
mod unary;

use criterion::{Criterion, Throughput, criterion_group};
use h2edge::demo;
use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Handler, Role};
use h2edge::h2::fields::FieldList;
use h2edge::proxy::events::Events;
use h2edge::proxy::gateway::{Endpoint, GatewayConfig, Listener, Service};
use h2edge::proxy::upstreams::Upstreams;
use h2edge::testkit::{ClientId, Dial, Peer, Sim};
use h2edge::tls::client::{Identity, UpstreamTls, client_config};
use rustls::pki_types::ServerName;
use unary::{Answerer, grpc_message};

/// Calls kept in flight on the client connection.
const IN_FLIGHT: u64 = 32;
const UPSTREAMS: usize = 3;
/// Calls per criterion iteration (the pipeline stays full across iterations).
const CALLS_PER_ITER: u64 = 256;
/// Calls run before measuring: connections up, HPACK tables and buffers warm.
const WARMUP: u64 = 512;
/// Virtual time per loop turn.
const TURN: Duration = Duration::from_micros(10);
/// Turns without a finished call before the bench gives up (a stuck proxy, not a slow one).
const STALL_TURNS: u32 = 1000;
const SEED: u64 = 0x68_32_65_64_67_65;

type Fields = &'static [(&'static [u8], &'static [u8])];

/// A grpc-go client's unary call (`benches/conn.rs`); `:scheme` follows the listener.
fn request(scheme: &'static [u8]) -> Vec<(&'static [u8], &'static [u8])> {
    vec![
        (b":method", b"POST"),
        (b":scheme", scheme),
        (b":path", b"/product.ProductService/GetProduct"),
        (b":authority", b"product.example.com"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        (b"grpc-timeout", b"1S"),
        (b"grpc-accept-encoding", b"identity,deflate,gzip"),
        (b"user-agent", b"grpc-go/1.60.0"),
        (b"x-tenant", b"acme"),
    ]
}
const RESPONSE: Fields = &[(b":status", b"200"), (b"content-type", b"application/grpc")];
const TRAILERS: Fields = &[(b"grpc-status", b"0")];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    H2c,
    Tls,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::H2c => "h2c",
            Variant::Tls => "tls",
        }
    }
}

/// The TLS and HTTP/2 state of one test-side connection.
struct Link {
    h2: Connection,
    tls: Option<rustls::Connection>,
    /// Plaintext from the gateway that `h2` has not consumed yet (a partial frame).
    rx: Vec<u8>,
    /// Bytes that crossed this connection, both directions (ciphertext with TLS).
    bytes: u64,
}

impl Link {
    fn new(h2: Connection, tls: Option<rustls::Connection>) -> Self {
        Link {
            h2,
            tls,
            rx: Vec::new(),
            bytes: 0,
        }
    }

    /// Bytes the gateway wrote to this peer's socket.
    fn deliver(&mut self, mut bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        let Some(tls) = &mut self.tls else {
            self.rx.extend_from_slice(bytes);
            return;
        };
        // rustls takes a bounded amount per read_tls and holds at most 16 KiB of plaintext: feed,
        // decrypt and drain until everything is in.
        while !bytes.is_empty() {
            tls.read_tls(&mut bytes).expect("read_tls");
            tls.process_new_packets().expect("test-side TLS");
            let mut reader = tls.reader();
            loop {
                let chunk = match reader.fill_buf() {
                    Ok(c) if !c.is_empty() => c,
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("test-side TLS read: {e}"),
                };
                let n = chunk.len();
                self.rx.extend_from_slice(chunk);
                reader.consume(n);
            }
        }
    }

    /// Lets `h2` read what arrived, as far as it has whole frames.
    fn recv(&mut self, now: Instant, handler: &mut impl Handler) {
        while !self.rx.is_empty() {
            let used = self.h2.recv(&self.rx, now, handler);
            self.rx.drain(..used);
            if used == 0 {
                break;
            }
        }
    }

    /// Moves `h2`'s output (encrypted, with TLS) to `wire`, towards the gateway.
    fn flush(&mut self, wire: &mut Vec<u8>) {
        let before = wire.len();
        let out = self.h2.pending_output();
        let n = out.len();
        match &mut self.tls {
            None => wire.extend_from_slice(out),
            Some(tls) => {
                if n > 0 {
                    // Before the handshake is done rustls keeps this and sends it afterwards.
                    tls.writer().write_all(out).expect("TLS write");
                }
                while tls.wants_write() {
                    tls.write_tls(wire).expect("write_tls");
                }
            }
        }
        self.h2.advance_output(n);
        self.bytes += (wire.len() - before) as u64;
    }
}

/// The client's view of the responses.
#[derive(Default)]
struct Responses {
    /// Body bytes to give back to the connection's windows.
    received: Vec<(u32, usize)>,
    finished: u64,
    body_bytes: u64,
}

impl Handler for Responses {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        assert!(
            fields.status() == Some(b"200") && !end_stream,
            "stream {stream_id}: unexpected response head {fields:?}"
        );
    }
    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList) {
        assert!(
            fields.get(b"grpc-status") == Some(b"0"),
            "stream {stream_id}: unexpected trailers {fields:?}"
        );
        self.finished += 1;
    }
    fn on_data(&mut self, stream_id: u32, data: &[u8], _end_stream: bool) {
        self.received.push((stream_id, data.len()));
        self.body_bytes += data.len() as u64;
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        panic!("client stream {stream_id} reset ({code:?}, remote: {remote})");
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, debug: &[u8]) {
        panic!(
            "client got GOAWAY {code:?} {}",
            String::from_utf8_lossy(debug)
        );
    }
}

/// The client: keeps `IN_FLIGHT` calls going until it started `start_limit`.
struct Client {
    link: Link,
    responses: Responses,
    request: Vec<(&'static [u8], &'static [u8])>,
    msg: [u8; 69],
    started: u64,
    start_limit: u64,
}

impl Peer for Client {
    fn deliver(&mut self, _now: Instant, bytes: &[u8]) {
        self.link.deliver(bytes);
    }

    fn act(&mut self, now: Instant, out: &mut Vec<u8>) {
        let r = &mut self.responses;
        self.link.recv(now, r);
        let h2 = &mut self.link.h2;
        for (id, n) in r.received.drain(..) {
            h2.release_capacity(id, n);
        }
        let mut in_flight = self.started - r.finished;
        while in_flight < IN_FLIGHT && self.started < self.start_limit {
            let id = h2
                .open_stream(self.request.iter().copied(), false)
                .expect("open_stream");
            let sent = h2.send_data(id, &self.msg, true).expect("send_data");
            assert_eq!(sent, self.msg.len(), "client window closed");
            self.started += 1;
            in_flight += 1;
        }
        self.link.flush(out);
    }
}

/// An upstream answering every call.
struct Upstream {
    link: Link,
    requests: Answerer,
    msg: [u8; 69],
    answered: u64,
}

impl Peer for Upstream {
    fn deliver(&mut self, _now: Instant, bytes: &[u8]) {
        self.link.deliver(bytes);
    }

    fn act(&mut self, now: Instant, out: &mut Vec<u8>) {
        let r = &mut self.requests;
        self.link.recv(now, r);
        let h2 = &mut self.link.h2;
        for (id, n) in r.received.drain(..) {
            h2.release_capacity(id, n);
        }
        for id in r.ended.drain(..) {
            h2.send_headers(id, RESPONSE.iter().copied(), false)
                .expect("send_headers");
            let sent = h2.send_data(id, &self.msg, false).expect("send_data");
            assert_eq!(sent, self.msg.len(), "upstream window closed");
            h2.send_trailers(id, TRAILERS.iter().copied())
                .expect("send_trailers");
            self.answered += 1;
        }
        self.link.flush(out);
    }
}

/// The gateway and its peers, in memory (`h2edge::testkit::Sim`).
struct Rig<E = ()> {
    variant: Variant,
    sim: Sim<Client, Upstream, E>,
    client: ClientId,
}

fn endpoint_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i as u8], 50051))
}

impl Rig {
    fn new(variant: Variant) -> Rig {
        Rig::with_events(variant, ())
    }
}

impl<E: Events> Rig<E> {
    fn with_events(variant: Variant, events: E) -> Rig<E> {
        let now = Instant::now();
        let (listener, upstream_client, upstream_tls, client_tls) = match variant {
            Variant::H2c => (Listener::H2c, None, None, None),
            Variant::Tls => {
                let t = tls_setup();
                (
                    Listener::Tls(t.listener),
                    Some((t.upstream_client, t.upstream_name)),
                    Some(t.upstream_server),
                    Some(t.client),
                )
            }
        };
        let endpoints = (0..UPSTREAMS)
            .map(|i| Endpoint {
                addr: endpoint_addr(i),
                tls: upstream_client.clone(),
            })
            .collect();
        let config = Arc::new(GatewayConfig {
            listeners: vec![listener],
            service: Service::Proxy(Arc::new(
                Upstreams::round_robin(endpoints, 4).expect("routes"),
            )),
            server_h2: Config::default(),
            client_h2: Config::default(),
            buffers: Default::default(),
        });
        let dial = move |addr, now| {
            assert!(
                (0..UPSTREAMS).any(|i| endpoint_addr(i) == addr),
                "connect to unknown {addr}"
            );
            let tls = upstream_tls.clone().map(|config| {
                rustls::Connection::Server(
                    rustls::ServerConnection::new(config).expect("server session"),
                )
            });
            let h2 = Connection::new(Role::Server, &Config::default(), now);
            Dial::Accept(Upstream {
                link: Link::new(h2, tls),
                requests: Answerer::default(),
                msg: grpc_message(),
                answered: 0,
            })
        };
        let mut sim = Sim::with_events(config, now, SEED, events, dial);
        sim.latency = TURN;
        let tls = client_tls.map(|(config, name)| {
            rustls::Connection::Client(
                rustls::ClientConnection::new(config, name).expect("client session"),
            )
        });
        let scheme: &'static [u8] = match variant {
            Variant::H2c => b"http",
            Variant::Tls => b"https",
        };
        let client = sim.connect(
            0,
            Client {
                link: Link::new(Connection::new(Role::Client, &Config::default(), now), tls),
                responses: Responses::default(),
                request: request(scheme),
                msg: grpc_message(),
                started: 0,
                start_limit: 0,
            },
        );
        Rig {
            variant,
            sim,
            client,
        }
    }

    fn done(&self) -> u64 {
        self.sim.client(self.client).responses.finished
    }

    /// Bytes that crossed the client leg and the upstream leg, both directions.
    fn bytes(&self) -> (u64, u64) {
        let up = self
            .sim
            .upstream_ids()
            .map(|u| self.sim.upstream(u).link.bytes);
        (self.sim.client(self.client).link.bytes, up.sum())
    }

    /// Runs until `target` calls have finished, starting no more than `start_limit` in all.
    fn run(&mut self, target: u64, start_limit: u64) {
        self.sim.client_mut(self.client).start_limit = start_limit;
        let mut stalled = 0;
        while self.done() < target {
            let before = self.done();
            self.sim.turn();
            if self.done() == before {
                stalled += 1;
                let c = self.sim.client(self.client);
                assert!(
                    stalled < STALL_TURNS,
                    "{}: no call finished in {STALL_TURNS} turns ({} started, {} done, {} connections)",
                    self.variant.name(),
                    c.started,
                    self.done(),
                    self.sim.gateway.connections()
                );
            } else {
                stalled = 0;
            }
        }
    }

    /// Checks the set-up after the warm-up: every call answered in full, spread over every
    /// upstream, no connection closed.
    fn check(&self) {
        let done = self.done();
        let c = self.sim.client(self.client);
        assert_eq!(c.responses.body_bytes, done * c.msg.len() as u64);
        assert!(
            self.sim.client_closed_at(self.client).is_none(),
            "the client was closed"
        );
        let answered: Vec<u64> = self
            .sim
            .upstream_ids()
            .map(|u| {
                assert!(
                    self.sim.upstream_closed_at(u).is_none(),
                    "an upstream was closed"
                );
                self.sim.upstream(u).answered
            })
            .collect();
        assert_eq!(answered.len(), UPSTREAMS, "one connection per upstream");
        for &a in &answered {
            assert!(
                a * (UPSTREAMS as u64) * 2 >= done,
                "round robin off: {answered:?} of {done}"
            );
        }
    }
}

struct TlsSetup {
    listener: Arc<rustls::ServerConfig>,
    client: (Arc<rustls::ClientConfig>, ServerName<'static>),
    upstream_client: Arc<rustls::ClientConfig>,
    upstream_name: ServerName<'static>,
    upstream_server: Arc<rustls::ServerConfig>,
}

/// The demo's TLS material (`demo::demo_tls`), and a client that trusts the demo's edge CA.
fn tls_setup() -> TlsSetup {
    let tls = demo::demo_tls().expect("the demo's PKI");
    let client = client_config(&UpstreamTls {
        ca_pem: tls.edge_ca_pem.into_bytes(),
        client_cert: None,
        identity: Identity::ServerName,
    })
    .expect("client TLS");
    TlsSetup {
        listener: tls.listener,
        client: (client, ServerName::try_from("gateway.test").expect("name")),
        upstream_client: tls.upstream,
        upstream_name: ServerName::try_from("backend.test").expect("name"),
        upstream_server: tls.backend,
    }
}

/// A rig past its warm-up, checked.
fn warm_rig(variant: Variant) -> Rig {
    let mut rig = Rig::new(variant);
    rig.run(WARMUP, u64::MAX);
    rig.check();
    rig
}

fn bench_proxy(c: &mut Criterion) {
    let mut g = c.benchmark_group("proxy");
    g.throughput(Throughput::Elements(CALLS_PER_ITER));
    for variant in [Variant::H2c, Variant::Tls] {
        let mut rig = warm_rig(variant);
        let done = rig.done() as f64;
        let (client_bytes, upstream_bytes) = rig.bytes();
        println!(
            "proxy bench ({}): {IN_FLIGHT} calls in flight, {UPSTREAMS} upstreams; per call {:.0} bytes on the client leg, {:.0} on the upstream leg",
            variant.name(),
            client_bytes as f64 / done,
            upstream_bytes as f64 / done,
        );
        g.bench_function(variant.name(), |b| {
            b.iter(|| {
                let target = rig.done() + CALLS_PER_ITER;
                rig.run(target, u64::MAX);
                black_box(rig.done())
            })
        });
    }
    g.finish();
}

/// Instruction-count mode: the warm-up, then exactly `calls` more, then the pipeline drains.
fn count_calls(calls: u64) {
    let variant = match std::env::var("H2EDGE_BENCH_VARIANT").as_deref() {
        Ok("h2c") | Err(_) => Variant::H2c,
        Ok("tls") => Variant::Tls,
        Ok(other) => {
            eprintln!("H2EDGE_BENCH_VARIANT: unknown variant {other:?} (h2c or tls)");
            std::process::exit(2);
        }
    };
    let total = WARMUP + calls;
    if std::env::var_os("H2EDGE_BENCH_METRICS").is_some_and(|v| v == "1") {
        let registry = h2edge::observe::Registry::default();
        let mut rig = Rig::with_events(variant, registry.worker());
        rig.run(total, total);
        assert_eq!(rig.done(), total);
        rig.check();
        assert_eq!(
            registry.sum(|c| c.streams.get()),
            total,
            "every call counted"
        );
    } else {
        let mut rig = Rig::new(variant);
        rig.run(total, total);
        assert_eq!(rig.done(), total);
        rig.check();
    }
    println!(
        "{}: {calls} calls after {WARMUP} warm-up calls",
        variant.name()
    );
}

criterion_group!(benches, bench_proxy);

fn main() {
    if let Ok(n) = std::env::var("H2EDGE_BENCH_CALLS") {
        let Ok(calls) = n.parse::<u64>() else {
            eprintln!("H2EDGE_BENCH_CALLS: not a number: {n:?}");
            std::process::exit(2);
        };
        count_calls(calls);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
