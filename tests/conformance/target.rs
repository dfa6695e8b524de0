//! Where the peer's bytes go: the in-process server (default) or a live server over TCP.
//!
//! Environment:
//! - `H2EDGE_CONFORMANCE_TARGET=host:port`: run every case over a TCP connection (h2c with prior
//!   knowledge) instead of in-process. The server must answer GET/HEAD/POST on any path with
//!   `:status 200` (and, for GET/POST, a non-empty body).
//! - `H2EDGE_CONFORMANCE_TLS=1`: wrap that connection in TLS (ALPN h2), trusting the CA in
//!   `H2EDGE_CONFORMANCE_CA` (a PEM file) and checking the name `H2EDGE_CONFORMANCE_SNI`
//!   (default `localhost`).
//! - `H2EDGE_CONFORMANCE_TIMEOUT_MS`: how long a socket read waits for the server (default 1000).
//!
//! The in-process application answers `/size/N` with an N-octet body (default body: "hello").
//! Cases that need a body of a known size use it: http2 6.5.3/1, 6.9.1/1, 6.9.2/1-2 (`/size/16`;
//! a socket server only needs a body of at least 5 octets there), rfc9113 6.9.1/1-3
//! (`/size/100000`, `/size/50000`: skipped when the socket server's body is smaller than the
//! flow-control window) and rfc7541 2.3.2/1 (`/size/7`, body length checked in process only).
//! Cases marked in-process-only (virtual clock, floods without reading) are listed as ignored
//! for socket targets; the DoS thresholds are h2edge's `Limits::default()`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use h2edge::h2::conn::{Config, Connection, Handler, Role};
use h2edge::h2::error::ErrorCode;
use h2edge::h2::fields::FieldList;

/// What a read produced.
pub enum Read {
    /// Bytes from the server.
    Data(Vec<u8>),
    /// The server closed the connection (and everything it sent has been returned).
    Closed,
    /// The server sent bytes its transport cannot carry (plaintext after a TLS handshake): the
    /// connection is unusable.
    Garbled,
    /// Nothing arrived in time (in-process: nothing is pending).
    Timeout,
}

/// A byte pipe to the server under test.
pub trait Transport: Send {
    /// Sends bytes. A server that has gone away just loses them; the next read reports `Closed`.
    fn write(&mut self, bytes: &[u8]);
    /// Waits up to `timeout` for bytes from the server.
    fn read(&mut self, timeout: Duration) -> Read;
    /// Moves the server's clock forward (in-process only). Returns false if unsupported.
    fn advance_clock(&mut self, by: Duration) -> bool {
        let _ = by;
        false
    }
}

/// Which server the suite talks to.
#[derive(Clone, Debug)]
pub enum TargetKind {
    InProcess,
    Socket { addr: String, tls: bool },
}

/// The target plus its per-read timeout.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: TargetKind,
    pub timeout: Duration,
}

impl Target {
    pub fn from_env() -> Target {
        let tls = std::env::var("H2EDGE_CONFORMANCE_TLS").is_ok_and(|v| v == "1");
        match std::env::var("H2EDGE_CONFORMANCE_TARGET") {
            Ok(addr) if !addr.is_empty() => {
                let ms = std::env::var("H2EDGE_CONFORMANCE_TIMEOUT_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                Target {
                    kind: TargetKind::Socket { addr, tls },
                    timeout: Duration::from_millis(ms),
                }
            }
            _ => Target {
                kind: TargetKind::InProcess,
                // In-process reads never wait: "nothing pending" is the timeout.
                timeout: Duration::ZERO,
            },
        }
    }

    pub fn is_in_process(&self) -> bool {
        matches!(self.kind, TargetKind::InProcess)
    }

    pub fn describe(&self) -> String {
        match &self.kind {
            TargetKind::InProcess => "in-process h2edge::h2::conn::Connection (server role)".into(),
            TargetKind::Socket { addr, tls } => {
                format!(
                    "{} {addr}",
                    if *tls { "TLS" } else { "h2c prior knowledge" }
                )
            }
        }
    }

    /// `:scheme` for requests.
    pub fn scheme(&self) -> &'static str {
        match &self.kind {
            TargetKind::Socket { tls: true, .. } => "https",
            _ => "http",
        }
    }

    /// `:authority` for requests.
    pub fn authority(&self) -> String {
        match &self.kind {
            TargetKind::InProcess => "localhost".into(),
            TargetKind::Socket { addr, .. } => addr.clone(),
        }
    }

    /// A fresh connection to the target.
    pub fn connect(&self) -> Result<Box<dyn Transport>, String> {
        match &self.kind {
            TargetKind::InProcess => Ok(Box::new(InProcess::new(Config::default()))),
            TargetKind::Socket { addr, tls } => {
                let stream =
                    TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
                stream.set_nodelay(true).ok();
                let write_timeout = self.timeout.max(Duration::from_millis(200)) * 5;
                if *tls {
                    return tls_connect(stream, addr, write_timeout);
                }
                Ok(Box::new(Socket {
                    stream,
                    write_timeout,
                }))
            }
        }
    }
}

/// Wraps `stream` in TLS (ALPN `h2`), trusting the CA in `H2EDGE_CONFORMANCE_CA` (a PEM file; `h2edge
/// demo` prints its path) and checking the name in `H2EDGE_CONFORMANCE_SNI` (default `localhost`).
fn tls_connect(
    stream: TcpStream,
    addr: &str,
    write_timeout: Duration,
) -> Result<Box<dyn Transport>, String> {
    use h2edge::tls::client::{Identity, UpstreamTls, client_config};
    let ca_path = std::env::var("H2EDGE_CONFORMANCE_CA").map_err(|_| {
        "H2EDGE_CONFORMANCE_TLS=1 needs H2EDGE_CONFORMANCE_CA=<CA PEM file>".to_string()
    })?;
    let ca_pem = std::fs::read(&ca_path).map_err(|e| format!("{ca_path}: {e}"))?;
    let config = client_config(&UpstreamTls {
        ca_pem,
        client_cert: None,
        identity: Identity::ServerName,
    })
    .map_err(|e| format!("TLS config: {e}"))?;
    let sni = std::env::var("H2EDGE_CONFORMANCE_SNI").unwrap_or_else(|_| "localhost".into());
    let name =
        rustls::pki_types::ServerName::try_from(sni.clone()).map_err(|e| format!("{sni}: {e}"))?;
    let conn =
        rustls::ClientConnection::new(config, name).map_err(|e| format!("TLS {addr}: {e}"))?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    tls.sock.set_write_timeout(Some(write_timeout)).ok();
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
    }
    if tls.conn.alpn_protocol() != Some(b"h2") {
        return Err(format!("{addr} did not negotiate ALPN h2"));
    }
    Ok(Box::new(TlsSocket { tls }))
}

struct TlsSocket {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Transport for TlsSocket {
    fn write(&mut self, bytes: &[u8]) {
        let _ = self.tls.write_all(bytes);
        let _ = self.tls.flush();
    }

    fn read(&mut self, timeout: Duration) -> Read {
        self.tls
            .sock
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .ok();
        let mut buf = vec![0u8; 64 << 10];
        match self.tls.read(&mut buf) {
            Ok(0) => Read::Closed,
            Ok(n) => {
                buf.truncate(n);
                Read::Data(buf)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read::Timeout
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Read::Timeout,
            Err(e) if e.kind() == ErrorKind::InvalidData => Read::Garbled,
            Err(_) => Read::Closed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Socket target
// ---------------------------------------------------------------------------------------------

struct Socket {
    stream: TcpStream,
    write_timeout: Duration,
}

impl Transport for Socket {
    fn write(&mut self, bytes: &[u8]) {
        // A server that stops reading (flood protection) must not hang the suite: after the
        // write timeout the rest is dropped and the case goes on to read what the server said.
        self.stream.set_write_timeout(Some(self.write_timeout)).ok();
        let _ = self.stream.write_all(bytes);
    }

    fn read(&mut self, timeout: Duration) -> Read {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .ok();
        let mut buf = vec![0u8; 64 << 10];
        match self.stream.read(&mut buf) {
            Ok(0) => Read::Closed,
            Ok(n) => {
                buf.truncate(n);
                Read::Data(buf)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read::Timeout
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Read::Timeout,
            Err(_) => Read::Closed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In-process target: the connection state machine plus a tiny application behind it
// ---------------------------------------------------------------------------------------------

/// What the connection reported during one `recv`; the app acts on it once `recv` returns.
enum AppEvent {
    Request {
        stream: u32,
        head: bool,
        path: Vec<u8>,
        end: bool,
    },
    Data {
        stream: u32,
        len: usize,
        end: bool,
    },
    Trailers {
        stream: u32,
    },
    Reset {
        stream: u32,
    },
}

#[derive(Default)]
struct Recorder {
    events: Vec<AppEvent>,
}

impl Handler for Recorder {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        self.events.push(AppEvent::Request {
            stream: stream_id,
            head: fields.method() == Some(&b"HEAD"[..]),
            path: fields.path().unwrap_or(b"/").to_vec(),
            end: end_stream,
        });
    }

    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.events.push(AppEvent::Trailers { stream: stream_id });
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        self.events.push(AppEvent::Data {
            stream: stream_id,
            len: data.len(),
            end: end_stream,
        });
    }

    fn on_reset(&mut self, stream_id: u32, _code: ErrorCode, _remote: bool) {
        self.events.push(AppEvent::Reset { stream: stream_id });
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}
}

/// One response being written.
struct Response {
    head: bool,
    body: Vec<u8>,
    sent: usize,
    started: bool,
}

/// The default response body; `/size/N` answers N bytes instead.
const DEFAULT_BODY: &[u8] = b"hello";

fn body_for(path: &[u8]) -> Vec<u8> {
    let n = std::str::from_utf8(path)
        .ok()
        .and_then(|p| p.strip_prefix("/size/"))
        .and_then(|n| n.split(['?', '/']).next())
        .and_then(|n| n.parse::<usize>().ok());
    match n {
        Some(n) => (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
        None => DEFAULT_BODY.to_vec(),
    }
}

pub struct InProcess {
    conn: Connection,
    rec: Recorder,
    streams: HashMap<u32, Response>,
    base: Instant,
    offset: Duration,
    /// Written bytes not yet consumed by `recv` (a partial frame, or input the connection did
    /// not take yet).
    input: Vec<u8>,
}

impl InProcess {
    pub fn new(config: Config) -> InProcess {
        let base = Instant::now();
        InProcess {
            conn: Connection::new(Role::Server, &config, base),
            rec: Recorder::default(),
            streams: HashMap::new(),
            base,
            offset: Duration::ZERO,
            input: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Feeds buffered input to the connection until it is all consumed, the connection stops
    /// taking it, or the connection closes. The app runs after every `recv` call.
    fn feed(&mut self) {
        while !self.input.is_empty() {
            if self.conn.is_closed() {
                self.input.clear();
                break;
            }
            let now = self.now();
            let n = self
                .conn
                .recv(&self.input, now, &mut self.rec)
                .min(self.input.len());
            self.input.drain(..n);
            self.run_app();
            if self.conn.is_closed() {
                self.input.clear();
                break;
            }
            if n == 0 {
                break;
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        if self.conn.is_closed() {
            return;
        }
        if self.conn.next_timeout().is_some_and(|t| t <= now) {
            self.conn.on_timeout(now, &mut self.rec);
            self.run_app();
        }
    }

    fn start_response(&mut self, stream: u32) {
        let Some(resp) = self.streams.get_mut(&stream) else {
            return;
        };
        if resp.started {
            return;
        }
        resp.started = true;
        let len = resp.body.len().to_string();
        let fields: [(&[u8], &[u8]); 3] = [
            (b":status", b"200"),
            (b"content-type", b"text/plain"),
            (b"content-length", len.as_bytes()),
        ];
        let end = resp.head || resp.body.is_empty();
        let ok = self.conn.send_headers(stream, fields, end).is_ok();
        if !ok || end {
            self.streams.remove(&stream);
        }
    }

    /// The application: answer every complete request, release received DATA at once, keep
    /// writing pending bodies as send capacity appears.
    fn run_app(&mut self) {
        let events = std::mem::take(&mut self.rec.events);
        for ev in events {
            match ev {
                AppEvent::Request {
                    stream,
                    head,
                    path,
                    end,
                } => {
                    self.streams.insert(
                        stream,
                        Response {
                            head,
                            body: body_for(&path),
                            sent: 0,
                            started: false,
                        },
                    );
                    if end {
                        self.start_response(stream);
                    }
                }
                AppEvent::Data { stream, len, end } => {
                    if len > 0 {
                        self.conn.release_capacity(stream, len);
                    }
                    if end {
                        self.start_response(stream);
                    }
                }
                AppEvent::Trailers { stream } => self.start_response(stream),
                AppEvent::Reset { stream } => {
                    self.streams.remove(&stream);
                }
            }
        }
        // Write whatever body the windows allow (on_window_update and on_settings need no event
        // of their own: every pass retries every pending body).
        let mut ids: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, r)| r.started)
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let Some(resp) = self.streams.get_mut(&id) else {
                continue;
            };
            match self.conn.send_data(id, &resp.body[resp.sent..], true) {
                Ok(n) => {
                    resp.sent += n;
                    if resp.sent == resp.body.len() {
                        self.streams.remove(&id);
                    }
                }
                Err(_) => {
                    self.streams.remove(&id);
                }
            }
        }
    }
}

impl Transport for InProcess {
    fn write(&mut self, bytes: &[u8]) {
        if self.conn.is_closed() {
            return;
        }
        self.input.extend_from_slice(bytes);
        self.feed();
    }

    fn read(&mut self, _timeout: Duration) -> Read {
        self.fire_timers();
        let mut out = Vec::new();
        loop {
            let pending = self.conn.pending_output();
            let n = pending.len();
            if n > 0 {
                out.extend_from_slice(pending);
                self.conn.advance_output(n);
            }
            // The connection may have stopped taking input until its output was written.
            if self.input.is_empty() || self.conn.is_closed() {
                break;
            }
            let before = self.input.len();
            self.feed();
            if self.input.len() == before && self.conn.pending_output().is_empty() {
                break;
            }
        }
        if !out.is_empty() {
            Read::Data(out)
        } else if self.conn.is_closed() {
            Read::Closed
        } else {
            Read::Timeout
        }
    }

    fn advance_clock(&mut self, by: Duration) -> bool {
        self.offset += by;
        self.fire_timers();
        true
    }
}
