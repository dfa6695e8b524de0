//! One worker: pinned to a core, with its own listener, connections and event loop. Nothing here is
//! shared with other workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::io::{Backend, Sink, Token};
use crate::h2::conn::{self, Connection, Role};
use crate::proxy::local::{LocalReplies, Reason};

/// Input bytes kept for one connection while its frames wait to be processed; past this the worker
/// stops reading from it until the protocol code catches up.
const MAX_BUFFERED_INPUT: usize = 1 << 20;
/// How often an idle worker wakes to look at the shutdown flag.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// A client connection (server role) answered by the gateway.
struct ClientConn {
    h2: Connection,
    app: LocalReplies,
    /// Received bytes not yet consumed by `h2` (a partial frame, or frames past the per-turn budget).
    rx: Vec<u8>,
    /// Waiting for the socket to take more output.
    write_blocked: bool,
}

/// The state the backend reports into while it polls.
struct State {
    conns: Vec<Option<ClientConn>>,
    free: Vec<Token>,
    h2_config: conn::Config,
    /// Connections that need their output flushed at the end of this turn.
    dirty: Vec<Token>,
    /// Connections with unprocessed input left over (budget spent), to process next turn.
    backlog: Vec<Token>,
    /// Accepted sockets waiting to be registered with the backend.
    accepted: Vec<TcpStream>,
    /// Connections the backend reported closed.
    gone: Vec<Token>,
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    now: Instant,
}

/// Runs one worker until `shutdown` is set.
pub fn run(
    mut backend: impl Backend,
    listener: TcpListener,
    h2_config: conn::Config,
    shutdown: Arc<AtomicBool>,
) -> io::Result<()> {
    backend.listen(listener)?;
    let mut st = State {
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
            Some(next.map_or(IDLE_WAKE, |at| {
                at.saturating_duration_since(Instant::now()).min(IDLE_WAKE)
            }))
        } else {
            Some(Duration::ZERO)
        };
        backend.poll(timeout, &mut st)?;
        st.now = Instant::now();
        st.turn(&mut backend);
    }
    Ok(())
}

impl State {
    /// Everything after a poll: new connections, leftover input, timers, then one flush per dirty
    /// connection (one send carrying every frame that is ready).
    fn turn(&mut self, backend: &mut impl Backend) {
        for stream in std::mem::take(&mut self.accepted) {
            self.adopt(backend, stream);
        }
        for token in std::mem::take(&mut self.gone) {
            self.drop_conn(token);
        }
        let backlog = std::mem::take(&mut self.backlog);
        for &token in &backlog {
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

    fn adopt(&mut self, backend: &mut impl Backend, stream: TcpStream) {
        let token = self.free.pop().unwrap_or(self.conns.len());
        if backend.register(token, stream).is_err() {
            return;
        }
        let h2 = Connection::new(Role::Server, &self.h2_config, self.now);
        if let Some(at) = h2.next_timeout() {
            self.timers.push(Reverse((at, token)));
        }
        let conn = ClientConn {
            h2,
            app: LocalReplies::new(Reason::Demo),
            rx: Vec::new(),
            write_blocked: false,
        };
        if token == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[token] = Some(conn);
        }
        // Our SETTINGS go out at once.
        self.dirty.push(token);
    }

    fn drop_conn(&mut self, token: Token) {
        if let Some(slot) = self.conns.get_mut(token) {
            if slot.take().is_some() {
                self.free.push(token);
            }
        }
    }

    /// Feeds `data` (after anything buffered) to the connection and runs the application.
    fn process(&mut self, token: Token, data: &[u8]) {
        let now = self.now;
        let Some(Some(c)) = self.conns.get_mut(token) else {
            return;
        };
        if c.rx.is_empty() {
            let used = c.h2.recv(data, now, &mut c.app);
            c.rx.extend_from_slice(&data[used.min(data.len())..]);
        } else {
            c.rx.extend_from_slice(data);
            let used = c.h2.recv(&c.rx, now, &mut c.app);
            c.rx.drain(..used.min(c.rx.len()));
        }
        c.app.flush(&mut c.h2);
        // A whole frame left over means the per-turn budget ran out: continue next turn.
        if !c.rx.is_empty() && !c.h2.is_closed() && has_whole_frame(&c.rx) {
            self.backlog.push(token);
        }
        if c.rx.len() > MAX_BUFFERED_INPUT {
            // The peer sends faster than its frames can be handled: stop accepting its bytes.
            c.h2.go_away(crate::h2::ErrorCode::ENHANCE_YOUR_CALM, b"input backlog");
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

    fn flush(&mut self, backend: &mut impl Backend, token: Token) {
        let Some(Some(c)) = self.conns.get_mut(token) else {
            return;
        };
        while !c.write_blocked {
            let out = c.h2.pending_output();
            let len = out.len();
            if len == 0 {
                break;
            }
            match backend.send(token, out) {
                Ok(n) => {
                    c.h2.advance_output(n);
                    c.write_blocked = n < len;
                }
                Err(_) => {
                    backend.close(token);
                    self.drop_conn(token);
                    return;
                }
            }
        }
        if c.h2.is_closed() && c.h2.pending_output().is_empty() {
            backend.close(token);
            self.drop_conn(token);
        }
    }
}

/// Whether `buf` starts with a complete frame (or the connection preface).
fn has_whole_frame(buf: &[u8]) -> bool {
    match crate::h2::frame::Head::parse(buf) {
        Some(head) => buf.len() >= crate::h2::frame::HEAD_LEN + head.len as usize,
        None => false,
    }
}

impl Sink for State {
    fn accepted(&mut self, stream: TcpStream, _peer: SocketAddr) {
        self.accepted.push(stream);
    }

    fn received(&mut self, token: Token, data: &[u8]) {
        self.process(token, data);
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
