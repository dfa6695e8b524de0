//! One worker: pinned to a core, with its own listeners, connections and event loop. Nothing here is
//! shared with other workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use super::io::{Backend, Sink, Token};
use crate::h2::conn::{self, Connection, Role};
use crate::proxy::local::{LocalReplies, Reason};
use crate::tls::session::ServerSession;

/// Input bytes kept for one connection while its frames wait to be processed; past this the worker
/// stops taking its bytes and ends the connection.
const MAX_BUFFERED_INPUT: usize = 1 << 20;
/// How often an idle worker wakes to look at the shutdown flag.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// What a client that speaks HTTP/1.1 to an HTTP/2-only listener gets, instead of silence.
const HTTP1_REPLY: &[u8] =
    b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
content-length: 32\r\nconnection: close\r\n\r\nthis gateway speaks HTTP/2 only\n";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a listener speaks.
#[derive(Clone)]
pub enum ListenerKind {
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
    /// TLS with ALPN `h2`.
    Tls(Arc<ServerConfig>),
}

/// A client connection (server role) answered by the gateway.
struct ClientConn {
    h2: Connection,
    app: LocalReplies,
    tls: Option<ServerSession>,
    /// Received plaintext not yet consumed by `h2` (a partial frame, or frames past the per-turn
    /// budget).
    rx: Vec<u8>,
    /// Plaintext bytes seen so far, while checking the client preface (HTTP/1.1 detection).
    seen: usize,
    /// Waiting for the socket to take more output.
    write_blocked: bool,
    /// Close once the pending output is written.
    closing: bool,
    /// Cleartext client that spoke HTTP/1.1: bytes of [`HTTP1_REPLY`] written so far.
    http1_written: Option<usize>,
}

/// The state the backend reports into while it polls.
struct State {
    listeners: Vec<ListenerKind>,
    conns: Vec<Option<ClientConn>>,
    free: Vec<Token>,
    h2_config: conn::Config,
    /// Connections that need their output flushed at the end of this turn.
    dirty: Vec<Token>,
    /// Connections with unprocessed input left over (budget spent), to process next turn.
    backlog: Vec<Token>,
    /// Accepted sockets waiting to be registered with the backend, with their listener.
    accepted: Vec<(usize, TcpStream)>,
    /// Connections the backend reported closed.
    gone: Vec<Token>,
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    now: Instant,
}

/// Runs one worker until `shutdown` is set.
pub fn run(
    mut backend: impl Backend,
    listeners: Vec<(TcpListener, ListenerKind)>,
    h2_config: conn::Config,
    shutdown: Arc<AtomicBool>,
) -> io::Result<()> {
    let mut kinds = Vec::with_capacity(listeners.len());
    for (listener, kind) in listeners {
        backend.listen(listener)?;
        kinds.push(kind);
    }
    let mut st = State {
        listeners: kinds,
        conns: Vec::new(),
        free: Vec::new(),
        h2_config,
        dirty: Vec::new(),
        backlog: Vec::new(),
        accepted: Vec::new(),
        gone: Vec::new(),
        timers: BinaryHeap::new(),
        now: Instant::now(),
    };
    while !shutdown.load(Ordering::Relaxed) {
        let timeout = if st.backlog.is_empty() {
            let next = st.timers.peek().map(|Reverse((at, _))| *at);
            next.map_or(IDLE_WAKE, |at| {
                at.saturating_duration_since(Instant::now()).min(IDLE_WAKE)
            })
        } else {
            Duration::ZERO
        };
        backend.poll(Some(timeout), &mut st)?;
        st.now = Instant::now();
        st.turn(&mut backend);
    }
    Ok(())
}

impl State {
    /// Everything after a poll: new connections, leftover input, timers, then one flush per dirty
    /// connection (one send carrying every frame that is ready).
    fn turn(&mut self, backend: &mut impl Backend) {
        for (listener, stream) in std::mem::take(&mut self.accepted) {
            self.adopt(backend, listener, stream);
        }
        for token in std::mem::take(&mut self.gone) {
            self.drop_conn(token);
        }
        for token in std::mem::take(&mut self.backlog) {
            self.process(token, &[]);
        }
        self.fire_timers();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &token in &dirty {
            self.flush(backend, token);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn adopt(&mut self, backend: &mut impl Backend, listener: usize, stream: TcpStream) {
        let tls = match self.listeners.get(listener) {
            Some(ListenerKind::Tls(config)) => match ServerSession::server(config.clone()) {
                Ok(session) => Some(session),
                Err(_) => return,
            },
            Some(ListenerKind::H2c) => None,
            None => return,
        };
        let token = self.free.pop().unwrap_or(self.conns.len());
        if backend.register(token, stream).is_err() {
            self.free.push(token);
            return;
        }
        let h2 = Connection::new(Role::Server, &self.h2_config, self.now);
        if let Some(at) = h2.next_timeout() {
            self.timers.push(Reverse((at, token)));
        }
        let conn = ClientConn {
            h2,
            app: LocalReplies::new(Reason::Demo),
            tls,
            rx: Vec::new(),
            seen: 0,
            write_blocked: false,
            closing: false,
            http1_written: None,
        };
        if token == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[token] = Some(conn);
        }
        // Our SETTINGS go out at once (for TLS, once the handshake is done).
        self.dirty.push(token);
    }

    fn drop_conn(&mut self, token: Token) {
        if let Some(slot) = self.conns.get_mut(token) {
            if slot.take().is_some() {
                self.free.push(token);
            }
        }
    }

    /// Takes bytes from the socket: through TLS when the listener has it, then into HTTP/2.
    fn process(&mut self, token: Token, data: &[u8]) {
        let now = self.now;
        let Some(Some(c)) = self.conns.get_mut(token) else {
            return;
        };
        if c.closing {
            return;
        }
        match c.tls.as_mut() {
            Some(tls) => {
                let (h2, app, rx, seen) = (&mut c.h2, &mut c.app, &mut c.rx, &mut c.seen);
                let mut closing = false;
                let result = tls.receive(data, &mut |plain| {
                    closing |= !feed(h2, app, rx, seen, plain, now);
                });
                if result.is_err() {
                    // The alert (if any) is queued; write it and close.
                    closing = true;
                } else if !tls.is_handshaking() && tls.alpn_protocol() != Some(b"h2") {
                    // A client that did not offer ALPN at all: most likely HTTP/1.1.
                    let _ = tls.send(HTTP1_REPLY);
                    closing = true;
                }
                c.closing = closing;
            }
            None => {
                let ok = feed(&mut c.h2, &mut c.app, &mut c.rx, &mut c.seen, data, now);
                if !ok {
                    // Not HTTP/2: answer in HTTP/1.1 and close.
                    c.http1_written = Some(0);
                    c.closing = true;
                }
            }
        }
        // A whole frame left over means the per-turn budget ran out: continue next turn.
        if !c.closing && !c.h2.is_closed() && has_whole_frame(&c.rx) {
            self.backlog.push(token);
        }
        if let Some(at) = c.h2.next_timeout() {
            self.timers.push(Reverse((at, token)));
        }
        self.dirty.push(token);
    }

    fn fire_timers(&mut self) {
        while let Some(Reverse((at, token))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            let Some(Some(c)) = self.conns.get_mut(token) else {
                continue;
            };
            // Entries are not removed when a deadline moves; a stale one finds nothing due.
            if c.h2.next_timeout().is_some_and(|due| due <= self.now) {
                c.h2.on_timeout(self.now, &mut c.app);
                c.app.flush(&mut c.h2);
                self.dirty.push(token);
            }
        }
    }

    /// Writes what is ready: HTTP/2 output (encrypted when TLS is on) in as few sends as the socket
    /// allows, then closes the connection if it is over.
    fn flush(&mut self, backend: &mut impl Backend, token: Token) {
        let Some(Some(c)) = self.conns.get_mut(token) else {
            return;
        };
        let mut failed = false;
        while !c.write_blocked && !failed {
            let out: &[u8] = match c.tls.as_mut() {
                Some(tls) => {
                    let plain = c.h2.pending_output();
                    if !plain.is_empty() && !c.closing {
                        match tls.send(plain) {
                            Ok(true) => {
                                let n = plain.len();
                                c.h2.advance_output(n);
                            }
                            Ok(false) => {}
                            Err(_) => c.closing = true,
                        }
                    }
                    tls.outgoing()
                }
                None => match c.http1_written {
                    Some(written) => HTTP1_REPLY.get(written..).unwrap_or(&[]),
                    // Our SETTINGS wait for the client preface, so an HTTP/1.1 client sees only
                    // the HTTP/1.1 answer.
                    None if c.seen < PREFACE.len() => &[],
                    None => c.h2.pending_output(),
                },
            };
            let len = out.len();
            if len == 0 {
                break;
            }
            match backend.send(token, out) {
                Ok(n) => {
                    match c.tls.as_mut() {
                        Some(tls) => tls.advance_outgoing(n),
                        None => match c.http1_written.as_mut() {
                            Some(written) => *written += n,
                            None => c.h2.advance_output(n),
                        },
                    }
                    c.write_blocked = n < len;
                }
                Err(_) => failed = true,
            }
        }
        let idle = match c.tls.as_ref() {
            Some(tls) => tls.outgoing().is_empty() && c.h2.pending_output().is_empty(),
            None => match c.http1_written {
                Some(written) => written >= HTTP1_REPLY.len(),
                None => c.seen < PREFACE.len() || c.h2.pending_output().is_empty(),
            },
        };
        if failed || (idle && (c.closing || c.h2.is_closed())) {
            backend.close(token);
            self.drop_conn(token);
        }
    }
}

/// Feeds plaintext to the HTTP/2 connection, after anything buffered, and runs the application.
/// Returns false when the first bytes show the client does not speak HTTP/2.
fn feed(
    h2: &mut Connection,
    app: &mut LocalReplies,
    rx: &mut Vec<u8>,
    seen: &mut usize,
    data: &[u8],
    now: Instant,
) -> bool {
    if *seen < PREFACE.len() {
        let n = data.len().min(PREFACE.len() - *seen);
        if data[..n] != PREFACE[*seen..*seen + n] {
            *seen = 0;
            return false;
        }
        *seen += n;
    }
    if rx.is_empty() {
        let used = h2.recv(data, now, app);
        rx.extend_from_slice(&data[used.min(data.len())..]);
    } else {
        rx.extend_from_slice(data);
        let used = h2.recv(rx, now, app);
        rx.drain(..used.min(rx.len()));
    }
    app.flush(h2);
    if rx.len() > MAX_BUFFERED_INPUT {
        // The peer sends faster than its frames can be handled: end the connection.
        h2.go_away(crate::h2::ErrorCode::ENHANCE_YOUR_CALM, b"input backlog");
        rx.clear();
    }
    true
}

/// Whether `buf` starts with a complete frame.
fn has_whole_frame(buf: &[u8]) -> bool {
    match crate::h2::frame::Head::parse(buf) {
        Some(head) => buf.len() >= crate::h2::frame::HEAD_LEN + head.len as usize,
        None => false,
    }
}

impl Sink for State {
    fn accepted(&mut self, listener: usize, stream: TcpStream, _peer: SocketAddr) {
        self.accepted.push((listener, stream));
    }

    fn received(&mut self, token: Token, data: &[u8]) {
        self.process(token, data);
    }

    fn connected(&mut self, _token: Token, _result: io::Result<()>) {
        // This worker opens no connections of its own yet.
    }

    fn writable(&mut self, token: Token) {
        if let Some(Some(c)) = self.conns.get_mut(token) {
            c.write_blocked = false;
            self.dirty.push(token);
        }
    }

    fn closed(&mut self, token: Token, _error: Option<io::Error>) {
        self.gone.push(token);
    }
}
