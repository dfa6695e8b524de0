//! One worker: pinned to a core, with its own listeners, its own gateway (connections, upstream pool)
//! and its own event loop. Nothing here is shared with other workers.
//!
//! The loop: poll the backend, hand what it reports to the gateway, carry out the connects and
//! closes the gateway asks for, then flush each connection that has output with one send.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::io::{Backend, Sink, Token};
use super::slot::ConfigSlot;
use crate::proxy::gateway::{Gateway, IoRequest};

/// How often an idle worker wakes to look at the shutdown flag.
const IDLE_WAKE: Duration = Duration::from_millis(100);

/// The gateway plus what the backend reported during one poll.
struct State {
    gateway: Gateway,
    accepted: Vec<(usize, TcpStream, SocketAddr)>,
    /// Sockets waiting for room to write.
    blocked: Vec<bool>,
    dirty: Vec<Token>,
    io: Vec<IoRequest>,
}

/// Runs one worker until `shutdown` is set.
pub fn run(
    mut backend: impl Backend,
    listeners: Vec<TcpListener>,
    slot: Arc<ConfigSlot>,
    seed: u64,
    shutdown: Arc<AtomicBool>,
) -> io::Result<()> {
    let (mut generation, config) = slot.current();
    for listener in listeners {
        backend.listen(listener)?;
    }
    let mut st = State {
        gateway: Gateway::new(config, Instant::now(), seed),
        accepted: Vec::new(),
        blocked: Vec::new(),
        dirty: Vec::new(),
        io: Vec::new(),
    };
    while !shutdown.load(Ordering::Relaxed) {
        let timeout = if st.gateway.has_backlog() {
            Duration::ZERO
        } else {
            st.gateway.next_timeout().map_or(IDLE_WAKE, |at| {
                at.saturating_duration_since(Instant::now()).min(IDLE_WAKE)
            })
        };
        backend.poll(Some(timeout), &mut st)?;
        st.gateway.set_now(Instant::now());
        if let Some(config) = slot.newer(&mut generation) {
            st.gateway.reconfigure(config);
        }
        st.turn(&mut backend);
    }
    Ok(())
}

impl State {
    fn turn(&mut self, backend: &mut impl Backend) {
        for (listener, stream, peer) in std::mem::take(&mut self.accepted) {
            if let Some(token) = self.gateway.accept(listener, peer) {
                self.unblock(token);
                if backend.register(token, stream).is_err() {
                    self.gateway.closed(token);
                }
            }
        }
        self.gateway.run_backlog();
        self.gateway.on_timeout();
        self.gateway.tend_upstreams();
        // Connects first: a new upstream connection has output queued already.
        self.gateway.take_io(&mut self.io);
        for req in std::mem::take(&mut self.io) {
            match req {
                IoRequest::Connect(token, addr, keepalive) => {
                    self.unblock(token);
                    if backend.connect(token, addr, keepalive).is_err() {
                        self.gateway.connected(token, false);
                    }
                }
                IoRequest::Close(token) => backend.close(token),
            }
        }
        self.gateway.take_dirty(&mut self.dirty);
        for token in std::mem::take(&mut self.dirty) {
            self.flush(backend, token);
        }
        // Closes that flushing produced (connections that finished).
        self.gateway.take_io(&mut self.io);
        for req in std::mem::take(&mut self.io) {
            if let IoRequest::Close(token) = req {
                backend.close(token);
            }
        }
    }

    fn unblock(&mut self, token: Token) {
        if let Some(flag) = self.blocked.get_mut(token) {
            *flag = false;
        }
    }

    /// Writes what `token` has ready with as few sends as the socket allows.
    fn flush(&mut self, backend: &mut impl Backend, token: Token) {
        if self.blocked.get(token) == Some(&true) {
            return;
        }
        loop {
            if self.gateway.output(token).is_empty() {
                break;
            }
            // Nothing in flight: the output buffer itself is sent, swapped for the backend's spare.
            if let Some(spare) = backend.spare_buffer(token) {
                if let Some(range) = self.gateway.swap_output(token, spare) {
                    if backend.send_spare(token, range).is_err() {
                        self.gateway.closed(token);
                        return;
                    }
                    continue;
                }
            }
            let out = self.gateway.output(token);
            let len = out.len();
            match backend.send(token, out) {
                Ok(n) => {
                    self.gateway.advance(token, n);
                    if n < len {
                        if self.blocked.len() <= token {
                            self.blocked.resize(token + 1, false);
                        }
                        self.blocked[token] = true;
                        return;
                    }
                }
                Err(_) => {
                    self.gateway.closed(token);
                    return;
                }
            }
        }
        // Closing is reported through the gateway's I/O requests.
        self.gateway.finish_if_done(token);
    }
}

impl Sink for State {
    fn accepted(&mut self, listener: usize, stream: TcpStream, peer: SocketAddr) {
        self.accepted.push((listener, stream, peer));
    }

    fn received(&mut self, token: Token, data: &mut [u8]) {
        self.gateway.received(token, data);
    }

    fn connected(&mut self, token: Token, result: io::Result<()>) {
        self.gateway.connected(token, result.is_ok());
    }

    fn writable(&mut self, token: Token) {
        self.unblock(token);
        self.gateway.mark_dirty(token);
    }

    fn closed(&mut self, token: Token, _error: Option<io::Error>) {
        self.unblock(token);
        self.gateway.closed(token);
    }
}
