//! DestinationRule `connectionPool.http.idleTimeout`: a real `h2edge run` drains an upstream
//! connection (GOAWAY NO_ERROR, then closes it) once it has had no stream for that long, and the
//! next request opens a new connection (`maxConnectionDuration` and `maxRequestsPerConnection` run
//! in virtual time: `tests/virtual_time/conn_life.rs`). `connectionPool.tcp.tcpKeepalive` reaches the upstream socket. The backend is h2edge's own connection state machine on a socket, so the test sees
//! each upstream connection, its GOAWAY and its end.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Role};

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
#[path = "common/proc_tcp.rs"]
mod proc_tcp;
#[path = "common/raw_h2.rs"]
mod raw_h2;
#[path = "common/run_gateway.rs"]
mod run_gateway;
use raw_h2::{Driven, Recorder, drive, open_get, timed};
use run_gateway::{Gateway, free_port};

/// What the backend saw of one upstream connection, reported when it ended.
#[derive(Debug)]
struct Seen {
    requests: usize,
    goaways: Vec<ErrorCode>,
    /// How long after its last answer the gateway closed it.
    closed_after: Duration,
}

/// A backend answering every request `200`, reporting each connection when the gateway closes it.
fn backend() -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut sock = timed(sock);
                let mut conn = Connection::new(Role::Server, &Config::default(), Instant::now());
                let mut h = Recorder::default();
                let mut answered = 0;
                let mut last = Instant::now();
                loop {
                    let driven = drive(&mut sock, &mut conn, &mut h, |h| h.ended.len() > answered);
                    if driven == Driven::Closed {
                        let _ = tx.send(Seen {
                            requests: answered,
                            goaways: h.goaways.clone(),
                            closed_after: last.elapsed(),
                        });
                        return;
                    }
                    let id = h.ended[answered];
                    let status: [(&[u8], &[u8]); 1] = [(b":status", b"200")];
                    conn.send_headers(id, status, true).expect("respond");
                    answered += 1;
                    last = Instant::now();
                }
            });
        }
    });
    (addr, rx)
}

/// One GET through the gateway on a fresh client connection; panics unless it gets `200`.
fn get(port: u16) {
    let mut sock = timed(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    let mut conn = Connection::new(Role::Client, &Config::default(), Instant::now());
    let authority = format!("127.0.0.1:{port}");
    open_get(&mut conn, &authority, "/");
    let mut h = Recorder::default();
    drive(&mut sock, &mut conn, &mut h, |h| !h.heads.is_empty());
    let status = h.heads[0].1.iter().find(|f| f.0 == ":status").cloned();
    assert_eq!(status.map(|s| s.1), Some("200".to_string()));
}

fn config(port: u16, upstream: SocketAddr, pool: &str) -> String {
    format!(
        "{}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: up, namespace: test}}
spec:
  host: up.test.svc.cluster.local
  trafficPolicy:
    connectionPool: {pool}
",
        h2c_gateway::h2c_config(port, upstream)
    )
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("h2edge-{name}-{}", std::process::id()))
}

#[test]
fn an_idle_upstream_connection_is_closed_after_idle_timeout() {
    let (upstream, seen) = backend();
    let port = free_port();
    let gateway = Gateway::start(
        &scratch("idle-timeout"),
        &config(port, upstream, "{http: {idleTimeout: 300ms}}"),
    );
    get(port);
    // No further request: the connection is closed on its own.
    let first = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the idle connection was closed");
    assert_eq!(first.requests, 1, "{first:?}");
    assert_eq!(first.goaways, [ErrorCode::NO_ERROR], "{first:?}");
    assert!(
        first.closed_after >= Duration::from_millis(300),
        "closed before the idle timeout: {first:?}"
    );
    // The next request gets a new connection.
    get(port);
    gateway.stop();
}

#[test]
fn tcp_keepalive_reaches_the_upstream_socket() {
    let (upstream, _seen) = backend();
    let port = free_port();
    let gateway = Gateway::start(
        &scratch("tcp-keepalive"),
        &config(
            port,
            upstream,
            "{tcp: {tcpKeepalive: {time: 77s, interval: 5s, probes: 3}}}",
        ),
    );
    get(port);
    // The gateway's socket towards the backend, idle now: its keepalive timer runs with the idle
    // time asked for (77 s, in ticks of 1/100 s), not the kernel's default of 2 hours.
    let ticks = proc_tcp::keepalive_towards(upstream).expect("a keepalive timer in /proc/net/tcp");
    assert!((7000..=7700).contains(&ticks), "{ticks} ticks left");
    gateway.stop();
}
