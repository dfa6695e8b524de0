//! Shared upstream connections survive any one client or backend (issue 9): each test runs a real
//! `h2edge run` over sockets, between raw HTTP/2 peers built on h2edge's own connection state machine
//! (so each side can misbehave on purpose and see every frame) and, where it is installed, the
//! third-party backend `nghttpd`.
//!
//! - Cancelled downloads give their upstream flow-control credit back (1,000 of them, then fresh
//!   downloads complete and the backend's connection window is whole).
//! - Clients that never read cannot push the gateway past its buffer budget, their streams are
//!   reset once stalled, and an honest client on another connection is answered within 500 ms.
//! - A backend that stalls and then answers late (after route timeouts reset its streams) fails no
//!   other stream, and never receives more than 100 resets on one connection.
//!
//! Route timeouts counting toward outlier ejection, a frozen backend found by PING, a stream too
//! long to replay, and the clients that never read in front of h2edge's own backend run in virtual
//! time instead (`tests/virtual_time`).

use std::collections::HashMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Handler, Role};
use h2edge::h2::fields::FieldList;

#[path = "common/gateway_yaml.rs"]
mod gateway_yaml;
use gateway_yaml::{ALL_TO_UP, gateway_yaml};

#[path = "common/run_gateway.rs"]
mod run_gateway;
use run_gateway::{Gateway, free_port};

const ZEROS: [u8; 16 << 10] = [0; 16 << 10];

/// The tests measure latency and memory on a machine of two cores: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- the backend ----

/// What the backend saw on one connection, kept up to date while it runs.
#[derive(Clone, Debug, Default)]
struct ConnStats {
    /// RST_STREAM frames received.
    resets: usize,
    goaways: Vec<ErrorCode>,
    /// Its send window towards the gateway (the gateway's connection receive window).
    send_window: usize,
    in_flight: usize,
    closed: bool,
}

/// How the backend misbehaves.
#[derive(Clone, Default)]
struct Faults {
    /// While set, nothing is written to any socket (answers queue up): a frozen process, or one
    /// whose answers are late.
    frozen: Arc<AtomicBool>,
}

/// One stream's response: a path with `/bytes/N` gets N body bytes, anything else `ok`.
struct Resp {
    id: u32,
    left: usize,
    head_sent: bool,
}

#[derive(Default)]
struct Serve {
    streams: Vec<Resp>,
    released: Vec<(u32, usize)>,
    body: usize,
    resets: usize,
    goaways: Vec<ErrorCode>,
}

impl Handler for Serve {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, _end_stream: bool) {
        let path = String::from_utf8_lossy(fields.path().unwrap_or_default()).into_owned();
        let left = path
            .split("/bytes/")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        self.streams.push(Resp {
            id: stream_id,
            left,
            head_sent: false,
        });
    }
    fn on_trailers(&mut self, _stream_id: u32, _fields: &FieldList) {}
    fn on_data(&mut self, stream_id: u32, data: &[u8], _end_stream: bool) {
        self.body += data.len();
        self.released.push((stream_id, data.len()));
    }
    fn on_reset(&mut self, stream_id: u32, _code: ErrorCode, remote: bool) {
        self.streams.retain(|s| s.id != stream_id);
        if remote {
            self.resets += 1;
        }
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        self.goaways.push(code);
    }
}

struct Backend {
    addr: SocketAddr,
    stats: Arc<Mutex<Vec<ConnStats>>>,
}

impl Backend {
    fn start(faults: Faults) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let stats = Arc::new(Mutex::new(Vec::new()));
        let all = stats.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let index = {
                    let mut s = all.lock().expect("stats");
                    s.push(ConnStats::default());
                    s.len() - 1
                };
                let (all, faults) = (all.clone(), faults.clone());
                std::thread::spawn(move || serve_conn(sock, &faults, &all, index));
            }
        });
        Backend { addr, stats }
    }

    fn stats(&self) -> Vec<ConnStats> {
        self.stats.lock().expect("stats").clone()
    }
}

fn serve_conn(mut sock: TcpStream, faults: &Faults, all: &Mutex<Vec<ConnStats>>, index: usize) {
    sock.set_read_timeout(Some(Duration::from_millis(5)))
        .expect("timeout");
    sock.set_nodelay(true).expect("nodelay");
    // No output limit of its own: each round serves every stream (see `respond`).
    let mut config = Config::default();
    config.limits.max_buffered_output = 1 << 30;
    let mut conn = Connection::new(Role::Server, &config, Instant::now());
    let mut serve = Serve::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut rx = Vec::new();
    loop {
        if !faults.frozen.load(Ordering::Relaxed) {
            let out = conn.pending_output();
            if !out.is_empty() {
                let n = out.len();
                if sock.write_all(out).is_err() {
                    break;
                }
                conn.advance_output(n);
            }
            if conn.is_closed() {
                break;
            }
        }
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                rx.extend_from_slice(&buf[..n]);
                let used = conn.recv(&rx, Instant::now(), &mut serve);
                rx.drain(..used.min(rx.len()));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        for (id, n) in serve.released.drain(..) {
            conn.release_capacity(id, n);
        }
        respond(&mut conn, &mut serve);
        let mut s = all.lock().expect("stats");
        s[index] = ConnStats {
            resets: serve.resets,
            goaways: serve.goaways.clone(),
            send_window: conn.send_window(),
            in_flight: serve.streams.len(),
            closed: false,
        };
    }
    all.lock().expect("stats")[index].closed = true;
}

/// Sends what each response has due, as the windows allow, one frame per stream per round (as
/// real servers share the connection window: otherwise the oldest streams would take all of it).
fn respond(conn: &mut Connection, serve: &mut Serve) {
    loop {
        let mut moved = false;
        serve.streams.retain_mut(|r| {
            if !r.head_sent {
                if conn
                    .send_headers(r.id, [(&b":status"[..], &b"200"[..])], false)
                    .is_err()
                {
                    return false;
                }
                r.head_sent = true;
                moved = true;
            }
            // `/bytes/N` gets N zeros, anything else `ok`.
            let body: &[u8] = if r.left > 0 {
                &ZEROS[..r.left.min(ZEROS.len())]
            } else {
                b"ok"
            };
            match conn.send_data(r.id, body, r.left <= body.len()) {
                Ok(0) => true,
                Ok(n) => {
                    moved = true;
                    r.left = r.left.saturating_sub(n);
                    n < body.len() || r.left > 0
                }
                Err(_) => false,
            }
        });
        if !moved {
            return;
        }
    }
}

// ---- the clients ----

/// What a client saw, per stream.
#[derive(Default)]
struct Seen {
    status: HashMap<u32, String>,
    body: HashMap<u32, usize>,
    ended: Vec<u32>,
    resets: Vec<(u32, ErrorCode)>,
    goaways: Vec<ErrorCode>,
    /// Received body bytes to give back (clients that read).
    received: Vec<(u32, usize)>,
}

impl Handler for Seen {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let status = String::from_utf8_lossy(fields.status().unwrap_or_default()).into_owned();
        self.status.insert(stream_id, status);
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.ended.push(stream_id);
    }
    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        *self.body.entry(stream_id).or_default() += data.len();
        self.received.push((stream_id, data.len()));
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        self.resets.push((stream_id, code));
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        self.goaways.push(code);
    }
}

/// A raw HTTP/2 client on its own connection to the gateway.
struct Client {
    sock: TcpStream,
    conn: Connection,
    seen: Seen,
    /// Received bytes not yet taken by `conn` (a partial frame).
    rx: Vec<u8>,
    /// Gives back what arrives (else its windows stay as they are).
    reads: bool,
    closed: bool,
}

impl Client {
    fn connect(port: u16, config: &Config, reads: bool) -> Client {
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway");
        sock.set_nodelay(true).expect("nodelay");
        let mut c = Client {
            sock,
            conn: Connection::new(Role::Client, config, Instant::now()),
            seen: Seen::default(),
            rx: Vec::new(),
            reads,
            closed: false,
        };
        // The gateway's SETTINGS (its stream limit) before any request.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !c.conn.settings_acked() {
            assert!(
                Instant::now() < deadline && !c.closed,
                "no SETTINGS from the gateway"
            );
            c.pump(Duration::from_millis(10));
        }
        c
    }

    fn request(&mut self, method: &[u8], path: &str, end_stream: bool) -> u32 {
        let fields: [(&[u8], &[u8]); 4] = [
            (b":method", method),
            (b":scheme", b"http"),
            (b":authority", b"shared.test"),
            (b":path", path.as_bytes()),
        ];
        match self.conn.open_stream(fields, end_stream) {
            Ok(id) => id,
            Err(e) => panic!(
                "open stream: {e:?}; GOAWAYs {:?}, resets {:?}, our output {:?}",
                self.seen.goaways,
                self.seen.resets.len(),
                self.conn.pending_output().get(..64)
            ),
        }
    }

    fn get(&mut self, path: &str) -> u32 {
        self.request(b"GET", path, true)
    }

    /// Writes what is queued, then reads what arrives within `wait` (once).
    fn pump(&mut self, wait: Duration) {
        let out = self.conn.pending_output();
        if !out.is_empty() {
            let n = out.len();
            if self.sock.write_all(out).is_err() {
                self.closed = true;
            }
            self.conn.advance_output(n);
        }
        self.sock
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut buf = [0u8; 32 << 10];
        match self.sock.read(&mut buf) {
            Ok(0) => self.closed = true,
            Ok(n) => {
                self.rx.extend_from_slice(&buf[..n]);
                let used = self.conn.recv(&self.rx, Instant::now(), &mut self.seen);
                self.rx.drain(..used.min(self.rx.len()));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => self.closed = true,
        }
        if self.reads {
            for (id, n) in self.seen.received.drain(..) {
                self.conn.release_capacity(id, n);
            }
        } else {
            self.seen.received.clear();
        }
    }

    /// Pumps until `done` holds (true) or `limit` passes or the gateway closes (false).
    fn until(&mut self, limit: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !self.closed {
            if done(&self.seen) {
                return true;
            }
            self.pump(Duration::from_millis(10));
        }
        done(&self.seen)
    }

    fn ended(&self, id: u32) -> bool {
        self.seen.ended.contains(&id) || self.seen.resets.iter().any(|(r, _)| *r == id)
    }
}

/// A client that reads everything, with default windows.
fn honest(port: u16) -> Client {
    Client::connect(port, &Config::default(), true)
}

/// Requests `/small` every 50 ms for `run`, each on the same connection; returns the slowest
/// answer and how many failed (no 200 within 2 s).
fn honest_loop(port: u16, run: Duration) -> (Duration, usize) {
    let mut c = honest(port);
    let end = Instant::now() + run;
    let (mut slowest, mut failed) = (Duration::ZERO, 0);
    while Instant::now() < end {
        let started = Instant::now();
        let id = c.get("/small");
        let ok = c.until(Duration::from_secs(2), |s| s.ended.contains(&id))
            && c.seen.status.get(&id).map(String::as_str) == Some("200");
        if !ok {
            failed += 1;
            eprintln!(
                "honest request failed after {:?}: status {:?}, reset {:?}, closed {}",
                started.elapsed(),
                c.seen.status.get(&id),
                c.seen.resets.iter().find(|(r, _)| *r == id),
                c.closed
            );
        }
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    (slowest, failed)
}

/// `n` fresh downloads of `bytes` each on a new honest connection, all complete within 20 s.
fn fresh_downloads_complete(port: u16, n: usize, bytes: usize) {
    let mut c = honest(port);
    let ids: Vec<u32> = (0..n).map(|_| c.get(&format!("/bytes/{bytes}"))).collect();
    let done = c.until(Duration::from_secs(20), |s| {
        ids.iter().all(|id| s.ended.contains(id))
    });
    let complete = ids
        .iter()
        .filter(|id| c.seen.body.get(id) == Some(&bytes))
        .count();
    assert!(
        done && complete == n,
        "{complete} of {n} fresh downloads complete"
    );
}

// ---- the gateway ----

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("h2edge-shared-{name}-{}", std::process::id()))
}

// ---- A: cancelled downloads ----

/// 1,000 downloads of 256 KiB, each cancelled after a little of it was read (most with
/// RST_STREAM CANCEL, some by closing the connection); after them, fresh downloads complete.
fn cancel_downloads(port: u16) {
    // Small stream windows: the gateway holds most of each response when the client cancels.
    let small = Config {
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut cancelled = 0;
    while cancelled < 1000 {
        let mut c = Client::connect(port, &small, true);
        // 20 per connection with RST_STREAM (under the gateway's own Rapid Reset budget), the
        // 21st by closing the connection.
        for i in 0..21 {
            let id = c.get("/bytes/262144");
            let got = c.until(Duration::from_secs(5), |s| {
                s.body.get(&id).is_some_and(|&n| n >= 16 << 10)
            });
            assert!(got, "download {cancelled} started");
            if i < 20 {
                c.conn.reset(id, ErrorCode::CANCEL);
                c.pump(Duration::ZERO);
            }
            cancelled += 1;
        }
    }
}

#[test]
fn cancelled_downloads_give_back_the_upstream_connection_window() {
    let _serial = one_at_a_time();
    let backend = Backend::start(Faults::default());
    let port = free_port();
    let gateway = Gateway::start(
        &scratch("cancel"),
        &gateway_yaml(port, &[backend.addr], "", ALL_TO_UP, ""),
    );
    cancel_downloads(port);
    fresh_downloads_complete(port, 24, 256 << 10);
    // Once nothing is in flight, every connection the backend still has offers its whole window
    // again (16 MiB): the gateway announces all its credit when its last stream on a connection
    // ends. Bytes of cancelled streams that arrive after that wait for the next announcement, so
    // allow for a few of those in flight.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = backend.stats();
        let live: Vec<&ConnStats> = stats.iter().filter(|s| !s.closed).collect();
        let settled = live.iter().all(|s| s.in_flight == 0);
        if settled {
            assert!(!live.is_empty(), "the gateway keeps a connection");
            for s in &live {
                assert!(
                    s.send_window >= (16 << 20) - (1 << 20),
                    "a connection's window is down to {} bytes: credit was lost",
                    s.send_window
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "streams still in flight: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Cancellations never look like Rapid Reset to the backend: past 100 on one connection in 10
    // s, the gateway replaces the connection instead of resetting more.
    let stats = backend.stats();
    assert!(stats.len() > 1, "the connection was replaced");
    for s in &stats {
        assert!(s.resets <= 100, "{} resets on one connection", s.resets);
        assert!(s.goaways.iter().all(|&c| c == ErrorCode::NO_ERROR));
    }
    gateway.stop();
}

/// A response the gateway holds for a slow client (its upstream stream already ended) is
/// delivered whole even when its upstream connection is replaced meanwhile (here by the
/// cancellations of other clients): the connection stays until its clients have taken it.
#[test]
fn a_held_response_outlives_its_replaced_connection() {
    let _serial = one_at_a_time();
    let backend = Backend::start(Faults::default());
    let port = free_port();
    let gateway = Gateway::start(
        &scratch("held"),
        &gateway_yaml(port, &[backend.addr], "", ALL_TO_UP, ""),
    );
    let slow = Config {
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut c = Client::connect(port, &slow, false);
    let id = c.get("/bytes/262144");
    // The first 64 KiB arrive; the rest waits in the gateway.
    assert!(c.until(Duration::from_secs(5), |s| {
        s.body.get(&id).is_some_and(|&n| n >= 65_535)
    }));
    cancel_downloads(port);
    c.reads = true;
    c.conn.release_capacity(id, 65_535);
    let done = c.until(Duration::from_secs(10), |s| s.ended.contains(&id));
    assert!(done, "resets: {:?}", c.seen.resets);
    assert_eq!(c.seen.body.get(&id), Some(&(256 << 10)));
    assert!(c.seen.resets.is_empty());
    gateway.stop();
}

/// The same 1,000 cancellations in front of nghttpd, a third-party HTTP/2 server.
#[test]
fn cancelled_downloads_leave_nghttpd_connections_serving() {
    let _serial = one_at_a_time();
    let Some(nghttpd) = Nghttpd::start() else {
        return;
    };
    let port = free_port();
    let gateway = Gateway::start(
        &scratch("cancel-nghttpd"),
        &gateway_yaml(port, &[nghttpd.addr], "", ALL_TO_UP, ""),
    );
    cancel_downloads(port);
    fresh_downloads_complete(port, 24, 256 << 10);
    gateway.stop();
}

/// nghttpd serving `/bytes/N` files; `None` (with a note) when it is not installed, except in CI,
/// which installs it.
struct Nghttpd {
    child: Child,
    addr: SocketAddr,
}

impl Nghttpd {
    fn start() -> Option<Nghttpd> {
        if Command::new("nghttpd").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install nghttpd (nghttp2-server)"
            );
            eprintln!("nghttpd not installed (apt-get install nghttp2-server): test skipped");
            return None;
        }
        let root = scratch("nghttpd-root");
        std::fs::create_dir_all(root.join("bytes")).expect("docroot");
        for n in [262_144usize, 4_194_304] {
            std::fs::write(root.join(format!("bytes/{n}")), vec![0u8; n]).expect("file");
        }
        std::fs::write(root.join("small"), b"ok").expect("file");
        let port = free_port();
        let child = Command::new("nghttpd")
            .args(["--no-tls", "-d"])
            .arg(&root)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nghttpd");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nghttpd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nghttpd { child, addr })
    }
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- B: clients that never read ----

/// Streams each attacker opens. The gateway under test is a debug build, which copies bytes an
/// order of magnitude slower than a release build: the attack is sized so that the honest
/// client's 500 ms measures the gateway's fairness, not the debug build's throughput (the attack
/// suite, `loadtest/attack/`, runs the full-size attack against a release build).
const ATTACK_STREAMS: usize = 40;

/// Clients that never read, in front of nghttpd (the same in front of h2edge's own backend runs
/// in virtual time: `tests/virtual_time/stalls.rs`); the gateway's memory is measured here.
#[test]
fn clients_that_never_read_leave_nghttpd_serving_the_others() {
    let _serial = one_at_a_time();
    let Some(nghttpd) = Nghttpd::start() else {
        return;
    };
    never_reading_clients(nghttpd.addr, "slow-readers-nghttpd");
}

fn never_reading_clients(upstream: SocketAddr, name: &str) {
    let port = free_port();
    let annotations = "h2edge.io/worker-buffer-budget: 8Mi, h2edge.io/stream-stall-timeout: 2s";
    let gateway = Gateway::start(
        &scratch(name),
        &gateway_yaml(port, &[upstream], annotations, ALL_TO_UP, ""),
    );
    // Warm: the upstream connection is open, the allocator has its working set.
    fresh_downloads_complete(port, 4, 256 << 10);
    let before = gateway.rss_kib();
    let honest = std::thread::spawn(move || honest_loop(port, Duration::from_secs(9)));
    // Eight clients that never open their windows, each downloading 4 MiB on many streams, and
    // one that opens huge windows and then never reads its socket.
    let never = Config {
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut attackers: Vec<Client> = (0..8)
        .map(|_| Client::connect(port, &never, false))
        .collect();
    let wide = Config {
        initial_window_size: (1 << 31) - 1,
        connection_window_size: (1 << 31) - 1,
        ..Config::default()
    };
    attackers.push(Client::connect(port, &wide, false));
    let mut streams = Vec::new();
    for (i, a) in attackers.iter_mut().enumerate() {
        for _ in 0..ATTACK_STREAMS {
            streams.push((i, a.get("/bytes/4194304")));
        }
        a.pump(Duration::ZERO);
    }
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut peak = 0;
    while Instant::now() < deadline {
        // The first eight read frames (never giving credit back); the last never reads at all.
        for a in attackers.iter_mut().take(8) {
            a.pump(Duration::from_millis(5));
        }
        peak = peak.max(gateway.rss_kib());
    }
    // Every attacking stream is ended by the gateway (budget or stall), never left hanging: the
    // last of them 2 s (the stall timeout) after the attackers stopped taking anything. (The one
    // that did not read its socket finds the resets behind what the gateway had queued.)
    for (i, a) in attackers.iter_mut().enumerate() {
        let mine: Vec<u32> = streams
            .iter()
            .filter(|(j, _)| *j == i)
            .map(|&(_, id)| id)
            .collect();
        let all_ended = a.until(Duration::from_secs(10), |s| {
            mine.iter()
                .all(|id| s.ended.contains(id) || s.resets.iter().any(|(r, _)| r == id))
        });
        let open = mine.iter().filter(|&&id| !a.ended(id)).count();
        assert!(all_ended, "attacker {i}: {open} streams still held");
    }
    drop(attackers);
    let (slowest, failed) = honest.join().expect("honest client");
    assert_eq!(failed, 0, "honest requests failed (slowest {slowest:?})");
    assert!(
        slowest <= Duration::from_millis(500),
        "an honest answer took {slowest:?}"
    );
    // The budget (8 MiB) plus the windows in flight and the connections' output buffers.
    let grew = peak.saturating_sub(before);
    assert!(
        grew <= 48 << 10,
        "RSS grew by {grew} KiB during the attack (from {before} KiB)"
    );
    fresh_downloads_complete(port, 24, 256 << 10);
    gateway.stop();
}

// ---- 1: a backend that stalls, then answers late ----

#[test]
fn late_answers_after_a_stall_fail_no_other_stream() {
    let _serial = one_at_a_time();
    let faults = Faults::default();
    let frozen = faults.frozen.clone();
    let backend = Backend::start(faults);
    let port = free_port();
    let rules = "[{matches: [{path: {type: PathPrefix, value: /t/}}], timeouts: {request: 200ms}, backendRefs: [{name: up, port: 80}]}, {backendRefs: [{name: up, port: 80}]}]";
    let gateway = Gateway::start(
        &scratch("late"),
        &gateway_yaml(port, &[backend.addr], "", rules, ""),
    );
    fresh_downloads_complete(port, 1, 1);
    // The backend stops answering (it still reads, so its answers are late, not lost).
    frozen.store(true, Ordering::Relaxed);
    let mut c = honest(port);
    let mut timed = Vec::new();
    // Long answers, so that the backend still has each stream open when its reset arrives.
    for _ in 0..250 {
        timed.push(c.get("/t/bytes/1048576"));
    }
    // Last, so that its answer comes after the late ones.
    let ok = c.get("/ok");
    let all_timed_out = c.until(Duration::from_secs(5), |s| {
        timed.iter().all(|id| s.ended.contains(id))
    });
    assert!(all_timed_out, "route timeouts answered");
    assert!(
        timed
            .iter()
            .all(|id| c.seen.status.get(id).map(String::as_str) == Some("504"))
    );
    std::thread::sleep(Duration::from_millis(500));
    // It resumes: every stream it got is answered, most of them long reset by the gateway.
    frozen.store(false, Ordering::Relaxed);
    let answered = c.until(Duration::from_secs(5), |s| s.ended.contains(&ok));
    assert!(answered, "the stream without a timeout was answered");
    assert_eq!(c.seen.status.get(&ok).map(String::as_str), Some("200"));
    assert!(c.seen.resets.is_empty() && c.seen.goaways.is_empty());
    std::thread::sleep(Duration::from_millis(200));
    for s in backend.stats() {
        assert!(
            s.goaways.iter().all(|&g| g == ErrorCode::NO_ERROR),
            "the gateway failed a connection: {:?}",
            s.goaways
        );
        assert!(s.resets <= 100, "{} resets on one connection", s.resets);
    }
    gateway.stop();
}
