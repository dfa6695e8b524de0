//! The gateway's whole hot path, in memory: a client speaking HTTP/2 to a listener of
//! `proxy::gateway::Gateway`, which proxies every stream round robin to three upstream endpoints.
//!
//! No sockets, no threads, no clock: the bench loop plays the worker (`src/runtime/worker.rs`) and
//! the network. Each turn the peers act on what reached them, everything they wrote is handed to
//! the gateway (`received`, as one poll would), then the gateway runs one worker turn (backlog,
//! timers, `tend_upstreams`, connects, one `output`/`advance` flush per dirty connection), and what
//! it wrote reaches the peers for the next turn. Connects finish on the turn after they were asked
//! for. Time advances a fixed 10 µs per turn; the balancers' seed is fixed.
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
//! `H2EDGE_BENCH_VARIANT` (`h2c`, the default, or `tls`), and exits.

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
use h2edge::proxy::gateway::{Gateway, GatewayConfig, IoRequest, Listener, Service, Token};
use h2edge::proxy::upstreams::{Endpoint, Upstreams};
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

/// The test side of one connection: our HTTP/2 connection, optionally under a rustls session.
struct Peer {
    h2: Connection,
    tls: Option<rustls::Connection>,
    /// Plaintext from the gateway that `h2` has not consumed yet (a partial frame).
    rx: Vec<u8>,
    /// Bytes written towards the gateway (ciphertext with TLS), delivered on the next poll.
    tx: Vec<u8>,
    /// Calls this peer answered (upstreams).
    answered: u64,
}

impl Peer {
    fn new(h2: Connection, tls: Option<rustls::Connection>) -> Self {
        Peer {
            h2,
            tls,
            rx: Vec::new(),
            tx: Vec::new(),
            answered: 0,
        }
    }

    /// Bytes the gateway wrote to this peer's socket.
    fn deliver(&mut self, mut bytes: &[u8]) {
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

    /// Moves `h2`'s output (encrypted, with TLS) to the wire towards the gateway.
    fn flush(&mut self) {
        let out = self.h2.pending_output();
        let n = out.len();
        match &mut self.tls {
            None => self.tx.extend_from_slice(out),
            Some(tls) => {
                if n > 0 {
                    // Before the handshake is done rustls keeps this and sends it afterwards.
                    tls.writer().write_all(out).expect("TLS write");
                }
                while tls.wants_write() {
                    tls.write_tls(&mut self.tx).expect("write_tls");
                }
            }
        }
        self.h2.advance_output(n);
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

/// The gateway, its peers, and the calls in progress.
struct Rig {
    variant: Variant,
    gw: Gateway,
    now: Instant,
    /// Test-side peers by gateway token (the client and the upstreams).
    peers: Vec<Option<Peer>>,
    client: Token,
    /// The upstreams' rustls config (`tls` variant).
    upstream_tls: Option<Arc<rustls::ServerConfig>>,
    /// Upstream connects asked for this turn, reported done on the next.
    connecting: Vec<Token>,
    request: Vec<(&'static [u8], &'static [u8])>,
    msg: [u8; 69],
    started: u64,
    responses: Responses,
    requests: Answerer,
    dirty: Vec<Token>,
    io: Vec<IoRequest>,
    /// Bytes that crossed the client leg and the upstream leg, both directions.
    client_bytes: u64,
    upstream_bytes: u64,
}

fn endpoint_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1 + i as u8], 50051))
}

impl Rig {
    fn new(variant: Variant) -> Rig {
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
        let mut gw = Gateway::new(config, now, SEED);
        let client = gw
            .accept(0, SocketAddr::from(([192, 0, 2, 1], 40000)))
            .expect("accept");
        let tls = client_tls.map(|(config, name)| {
            rustls::Connection::Client(
                rustls::ClientConnection::new(config, name).expect("client session"),
            )
        });
        let mut peers = Vec::new();
        peers.resize_with(client + 1, || None);
        peers[client] = Some(Peer::new(
            Connection::new(Role::Client, &Config::default(), now),
            tls,
        ));
        let scheme: &'static [u8] = match variant {
            Variant::H2c => b"http",
            Variant::Tls => b"https",
        };
        Rig {
            variant,
            gw,
            now,
            peers,
            client,
            upstream_tls,
            connecting: Vec::new(),
            request: request(scheme),
            msg: grpc_message(),
            started: 0,
            responses: Responses::default(),
            requests: Answerer::default(),
            dirty: Vec::new(),
            io: Vec::new(),
            client_bytes: 0,
            upstream_bytes: 0,
        }
    }

    fn done(&self) -> u64 {
        self.responses.finished
    }

    /// Runs until `target` calls have finished, starting no more than `start_limit` in all.
    fn run(&mut self, target: u64, start_limit: u64) {
        let mut stalled = 0;
        while self.done() < target {
            let before = self.done();
            self.turn(start_limit);
            if self.done() == before {
                stalled += 1;
                assert!(
                    stalled < STALL_TURNS,
                    "{}: no call finished in {STALL_TURNS} turns ({} started, {} done, {} connections)",
                    self.variant.name(),
                    self.started,
                    self.done(),
                    self.gw.connections()
                );
            } else {
                stalled = 0;
            }
        }
    }

    /// One round: the peers act on what reached them, the gateway gets what they wrote (a poll),
    /// then runs one worker turn and its output reaches the peers.
    fn turn(&mut self, start_limit: u64) {
        let now = self.now;
        for (token, slot) in self.peers.iter_mut().enumerate() {
            let Some(peer) = slot else {
                continue;
            };
            if token == self.client {
                let r = &mut self.responses;
                peer.recv(now, r);
                for (id, n) in r.received.drain(..) {
                    peer.h2.release_capacity(id, n);
                }
                let mut in_flight = self.started - r.finished;
                while in_flight < IN_FLIGHT && self.started < start_limit {
                    let id = peer
                        .h2
                        .open_stream(self.request.iter().copied(), false)
                        .expect("open_stream");
                    let sent = peer.h2.send_data(id, &self.msg, true).expect("send_data");
                    assert_eq!(sent, self.msg.len(), "client window closed");
                    self.started += 1;
                    in_flight += 1;
                }
            } else {
                let r = &mut self.requests;
                peer.recv(now, r);
                for (id, n) in r.received.drain(..) {
                    peer.h2.release_capacity(id, n);
                }
                for id in r.ended.drain(..) {
                    peer.h2
                        .send_headers(id, RESPONSE.iter().copied(), false)
                        .expect("send_headers");
                    let sent = peer.h2.send_data(id, &self.msg, false).expect("send_data");
                    assert_eq!(sent, self.msg.len(), "upstream window closed");
                    peer.h2
                        .send_trailers(id, TRAILERS.iter().copied())
                        .expect("send_trailers");
                    peer.answered += 1;
                }
            }
            peer.flush();
        }

        // The poll: connects that finished, then the bytes that arrived.
        self.now += TURN;
        self.gw.set_now(self.now);
        for token in self.connecting.drain(..) {
            self.gw.connected(token, true);
        }
        for (token, slot) in self.peers.iter_mut().enumerate() {
            if let Some(peer) = slot {
                if !peer.tx.is_empty() {
                    if token == self.client {
                        self.client_bytes += peer.tx.len() as u64;
                    } else {
                        self.upstream_bytes += peer.tx.len() as u64;
                    }
                    // The gateway may decrypt in place; `tx` is cleared afterwards anyway.
                    self.gw.received(token, &mut peer.tx);
                    peer.tx.clear();
                }
            }
        }

        // The worker's turn (`runtime::worker::State::turn`).
        self.gw.run_backlog();
        self.gw.on_timeout();
        self.gw.tend_upstreams();
        self.gw.take_io(&mut self.io);
        for req in self.io.drain(..) {
            match req {
                IoRequest::Connect(token, addr, _) => {
                    assert!(
                        (0..UPSTREAMS).any(|i| endpoint_addr(i) == addr),
                        "connect to unknown {addr}"
                    );
                    let tls = self.upstream_tls.clone().map(|config| {
                        rustls::Connection::Server(
                            rustls::ServerConnection::new(config).expect("server session"),
                        )
                    });
                    if self.peers.len() <= token {
                        self.peers.resize_with(token + 1, || None);
                    }
                    assert!(self.peers[token].is_none(), "token {token} reused");
                    let h2 = Connection::new(Role::Server, &Config::default(), self.now);
                    self.peers[token] = Some(Peer::new(h2, tls));
                    self.connecting.push(token);
                }
                IoRequest::Close(token) => panic!("the gateway closed connection {token}"),
            }
        }
        self.gw.take_dirty(&mut self.dirty);
        for &token in &self.dirty {
            let Some(Some(peer)) = self.peers.get_mut(token) else {
                panic!("output for unknown token {token}");
            };
            loop {
                let out = self.gw.output(token);
                let n = out.len();
                if n == 0 {
                    break;
                }
                peer.deliver(out);
                self.gw.advance(token, n);
                if token == self.client {
                    self.client_bytes += n as u64;
                } else {
                    self.upstream_bytes += n as u64;
                }
            }
            assert!(
                !self.gw.finish_if_done(token),
                "the gateway finished connection {token}"
            );
        }
        self.dirty.clear();
        self.gw.take_io(&mut self.io);
        assert!(self.io.is_empty(), "unexpected I/O requests {:?}", self.io);
    }

    /// Checks the set-up after the warm-up: every call answered in full, spread over every
    /// upstream.
    fn check(&self) {
        let done = self.done();
        assert_eq!(self.responses.body_bytes, done * self.msg.len() as u64);
        let answered: Vec<u64> = self
            .peers
            .iter()
            .enumerate()
            .filter(|&(t, _)| t != self.client)
            .filter_map(|(_, p)| p.as_ref().map(|p| p.answered))
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
        println!(
            "proxy bench ({}): {IN_FLIGHT} calls in flight, {UPSTREAMS} upstreams; per call {:.0} bytes on the client leg, {:.0} on the upstream leg",
            variant.name(),
            rig.client_bytes as f64 / done,
            rig.upstream_bytes as f64 / done,
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
    let mut rig = Rig::new(variant);
    rig.run(total, total);
    assert_eq!(rig.done(), total);
    rig.check();
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
