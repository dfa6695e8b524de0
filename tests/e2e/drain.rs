//! Shutdown and removed listeners drain instead of cutting: a real `h2edge run` (a child process,
//! so it can be signalled) in front of the bed's tonic backends, with server-streaming RPCs in
//! flight. A raw HTTP/2 client (h2edge's own connection state machine) sees the GOAWAYs on the wire.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Handler, Role};
use h2edge::h2::fields::FieldList;
use prost::Message as _;
use tokio::task::{JoinHandle, block_in_place};
use tonic::Request;
use tonic::transport::Endpoint as TonicEndpoint;

use crate::client::TestClient;
use crate::harness::{Bed, run};
use crate::proto::{ResponseParameters, StreamingOutputCallRequest};
use crate::run_gateway::{Gateway, free_port};

const LB: &str = "      simple: ROUND_ROBIN";
/// Concurrent server-streaming calls, and the gap between their messages.
const CALLS: usize = 24;
const GAP: Duration = Duration::from_millis(10);

fn scratch(test: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("drain-{test}"))
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The bed's config (h2c listener on `port`, the bed's backends) with the whole service routed.
fn config(bed: &Bed, port: u16) -> String {
    bed.config_yaml(port, LB, &bed.backends)
        .replace("\n        method: UnaryCall", "")
}

/// `h2edge run` on [`config`], plus `args`.
fn start(bed: &Bed, test: &str, port: u16, args: &[&str]) -> Gateway {
    Gateway::start_with(&scratch(test), &config(bed, port), args)
}

/// A StreamingOutputCall of `messages` small messages, `GAP` apart.
fn paced(messages: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: 0,
        response_parameters: (0..messages)
            .map(|_| ResponseParameters {
                size: 16,
                interval_us: GAP.as_micros() as i32,
            })
            .collect(),
        payload: None,
        response_status: None,
    }
}

/// How a call ended: messages received, and whether it ended with status OK.
type Outcome = (usize, bool);

/// `CALLS` paced calls over four connections to `addr`, each started once its channel is up;
/// `received` counts the messages that arrive.
async fn start_calls(
    addr: SocketAddr,
    messages: usize,
    received: &Arc<AtomicUsize>,
) -> Vec<JoinHandle<Outcome>> {
    let mut calls = Vec::new();
    for c in 0..4 {
        let channel = TonicEndpoint::from_shared(format!("http://{addr}"))
            .expect("gateway URI")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connection {c} to the gateway: {e}"));
        for _ in 0..CALLS / 4 {
            let mut client = TestClient::new(channel.clone());
            let received = received.clone();
            calls.push(tokio::spawn(async move {
                let response = match client
                    .streaming_output_call(Request::new(paced(messages)))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => return (0, false),
                };
                let mut stream = response.into_inner();
                let mut n = 0;
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {
                            n += 1;
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => return (n, true),
                        Err(_) => return (n, false),
                    }
                }
            }));
        }
    }
    calls
}

async fn outcomes(calls: Vec<JoinHandle<Outcome>>, within: Duration) -> Vec<Outcome> {
    let mut out = Vec::new();
    for call in calls {
        let outcome = tokio::time::timeout(within, call)
            .await
            .expect("the call ended in time")
            .expect("the call task");
        out.push(outcome);
    }
    out
}

/// Waits until a connect to `addr` is refused; panics after `within`.
async fn refused(addr: SocketAddr, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the raw client heard on its one stream.
#[derive(Default)]
struct Heard {
    goaways: Vec<(u32, ErrorCode)>,
    body: Vec<u8>,
    grpc_status: Option<String>,
    ended: bool,
}

impl Handler for Heard {
    fn on_headers(&mut self, _id: u32, _fields: &FieldList, end_stream: bool) {
        self.ended |= end_stream;
    }
    fn on_trailers(&mut self, _id: u32, fields: &FieldList) {
        self.grpc_status = fields
            .iter()
            .find(|(n, _)| n == b"grpc-status")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        self.ended = true;
    }
    fn on_data(&mut self, _id: u32, data: &[u8], end_stream: bool) {
        self.body.extend_from_slice(data);
        self.ended |= end_stream;
    }
    fn on_reset(&mut self, id: u32, code: ErrorCode, _remote: bool) {
        panic!("stream {id} reset: {code:?}");
    }
    fn on_goaway(&mut self, last: u32, code: ErrorCode, _debug: &[u8]) {
        self.goaways.push((last, code));
    }
}

/// gRPC messages in a response body (5-byte prefix each).
fn messages(mut body: &[u8]) -> usize {
    let mut n = 0;
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        body = body.get(5 + len..).unwrap_or(&[]);
        n += 1;
    }
    n
}

/// One paced call of `count` messages on a raw connection to `addr`, driven until the connection
/// ends (10 s at most); `started` is told once the first message arrived.
fn raw_call(addr: SocketAddr, count: usize, started: std::sync::mpsc::Sender<()>) -> Heard {
    let mut sock = TcpStream::connect(addr).expect("raw connect");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut conn = Connection::new(Role::Client, &Config::default(), Instant::now());
    let authority = addr.to_string();
    let head: [(&[u8], &[u8]); 6] = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", authority.as_bytes()),
        (b":path", b"/grpc.testing.TestService/StreamingOutputCall"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ];
    let id = conn.open_stream(head, false).expect("open");
    let message = paced(count).encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    assert_eq!(conn.send_data(id, &framed, true), Ok(framed.len()));
    let mut heard = Heard::default();
    let mut told = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 << 10];
    while Instant::now() < deadline {
        let out = conn.pending_output();
        if !out.is_empty() {
            let n = out.len();
            let _ = sock.write_all(out);
            conn.advance_output(n);
        }
        if !told && !heard.body.is_empty() {
            told = true;
            let _ = started.send(());
        }
        match sock.read(&mut buf) {
            Ok(0) => return heard,
            Ok(n) => {
                conn.recv(&buf[..n], Instant::now(), &mut heard);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return heard,
        }
    }
    panic!("the raw connection did not end within 10 s");
}

#[test]
fn sigterm_drains_streams_then_exits() {
    run(|bed| async move {
        let port = free_port();
        let mut gateway = start(&bed, "finish", port, &[]);
        let addr = local(port);
        let calls = start_calls(addr, 200, &Arc::default()).await;
        let (tx, rx) = std::sync::mpsc::channel();
        let raw = std::thread::spawn(move || raw_call(addr, 200, tx));
        block_in_place(|| rx.recv_timeout(Duration::from_secs(5))).expect("raw call started");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let signalled = Instant::now();
        gateway.signal(libc::SIGTERM);
        // New connections are refused while the streams still run.
        refused(addr, Duration::from_secs(1)).await;
        let outcomes = outcomes(calls, Duration::from_secs(10)).await;
        let finished = Instant::now();
        assert!(
            outcomes.iter().all(|&o| o == (200, true)),
            "every call gets all its messages and OK: {outcomes:?}"
        );
        assert!(
            finished - signalled > Duration::from_millis(500),
            "the calls outlived the signal"
        );
        let heard = block_in_place(|| raw.join()).expect("raw client");
        assert_eq!(messages(&heard.body), 200);
        assert_eq!(heard.grpc_status.as_deref(), Some("0"));
        // First a GOAWAY that still admits streams in flight, then the real one (stream 1 was
        // processed).
        assert_eq!(
            heard.goaways,
            vec![(0x7fff_ffff, ErrorCode::NO_ERROR), (1, ErrorCode::NO_ERROR)]
        );
        let status = block_in_place(|| gateway.wait_exit(Duration::from_secs(5)));
        assert!(status.success(), "exit status {status:?}");
        assert!(
            finished.elapsed() < Duration::from_secs(4),
            "exits once the last stream is over, not at the drain deadline"
        );
    });
}

#[test]
fn second_sigterm_ends_the_drain_at_once() {
    run(|bed| async move {
        let port = free_port();
        let mut gateway = start(&bed, "second", port, &[]);
        let received = Arc::new(AtomicUsize::new(0));
        let calls = start_calls(local(port), 1000, &received).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        gateway.signal(libc::SIGTERM);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let draining = received.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            received.load(Ordering::Relaxed) > draining,
            "the streams still flow during the drain"
        );
        let second = Instant::now();
        gateway.signal(libc::SIGINT);
        let status = block_in_place(|| gateway.wait_exit(Duration::from_secs(2)));
        assert!(status.success(), "exit status {status:?}");
        assert!(second.elapsed() < Duration::from_millis(1500));
        let outcomes = outcomes(calls, Duration::from_secs(5)).await;
        assert!(
            outcomes.iter().all(|&(n, ok)| n < 1000 && !ok),
            "the calls were cut: {outcomes:?}"
        );
    });
}

#[test]
fn drain_timeout_cuts_streams_that_outlast_it() {
    run(|bed| async move {
        let port = free_port();
        let mut gateway = start(&bed, "deadline", port, &["--drain-timeout", "1s"]);
        let calls = start_calls(local(port), 1000, &Arc::default()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let signalled = Instant::now();
        gateway.signal(libc::SIGTERM);
        let outcomes = outcomes(calls, Duration::from_secs(5)).await;
        let cut = signalled.elapsed();
        assert!(
            outcomes.iter().all(|&(n, ok)| n < 1000 && !ok),
            "the calls were cut: {outcomes:?}"
        );
        assert!(
            cut >= Duration::from_millis(900) && cut < Duration::from_secs(3),
            "cut at the deadline, {cut:?} after the signal"
        );
        let status = block_in_place(|| gateway.wait_exit(Duration::from_secs(5)));
        assert!(status.success(), "exit status {status:?}");
    });
}

#[test]
fn reload_moves_a_listener_and_drains_the_old_one() {
    run(|bed| async move {
        let (old, new) = (free_port(), free_port());
        let gateway = Gateway::start(&scratch("relisten"), &config(&bed, old));
        let calls = start_calls(local(old), 200, &Arc::default()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(scratch("relisten").join("gateway.yaml"), config(&bed, new))
            .expect("rewrite the config");
        gateway.signal(libc::SIGHUP);
        block_in_place(|| gateway.wait_for("configuration reloaded"));
        // The new port serves; the old one refuses new connections.
        let fresh = start_calls(local(new), 3, &Arc::default()).await;
        refused(local(old), Duration::from_secs(1)).await;
        let fresh = outcomes(fresh, Duration::from_secs(10)).await;
        assert!(fresh.iter().all(|&o| o == (3, true)), "{fresh:?}");
        // The calls in flight on the old listener finish.
        let outcomes = outcomes(calls, Duration::from_secs(10)).await;
        assert!(
            outcomes.iter().all(|&o| o == (200, true)),
            "every call on the old listener completes: {outcomes:?}"
        );
        block_in_place(|| gateway.stop());
    });
}
