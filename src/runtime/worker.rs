//! One worker: pinned to a core, with its own listeners, its own gateway (connections, upstream pool)
//! and its own event loop. Nothing here is shared with other workers.
//!
//! The loop: poll the backend, hand what it reports to the gateway, carry out the connects and
//! closes the gateway asks for, then flush each connection that has output with one send. A
//! reload may change its listeners; a drain (shutdown) stops them and ends the loop once every
//! connection has finished and its socket let go.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::io::{Backend, Sink, Token};
use super::listener::Listening;
use super::slot::ConfigSlot;
use crate::proxy::events::Events;
use crate::proxy::gateway::{Gateway, IoRequest};

/// How often an idle worker wakes to look at the shutdown flag.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// After a drain's deadline cut what was left: how long closing sockets may still take (their
/// own linger is 2 s) before the worker stops regardless.
const AFTER_DEADLINE: Duration = Duration::from_secs(3);

/// The gateway plus what the backend reported during one poll.
struct State<E> {
    gateway: Gateway<E>,
    listening: Listening,
    accepted: Vec<(usize, TcpStream, SocketAddr)>,
    /// Sockets waiting for room to write.
    blocked: Vec<bool>,
    dirty: Vec<Token>,
    io: Vec<IoRequest>,
}

/// Runs one worker until `shutdown` is set, or until a drain published through `slot` is over.
/// What the worker's gateway does is reported to `events` (`()`: nowhere).
pub fn run(
    mut backend: impl Backend,
    listeners: Vec<TcpListener>,
    slot: Arc<ConfigSlot>,
    seed: u64,
    shutdown: Arc<AtomicBool>,
    events: impl Events,
) -> io::Result<()> {
    let (mut generation, mut config) = slot.current();
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    let mut listening = Listening::new(addrs.clone());
    for (listener, addr) in listeners.into_iter().zip(addrs) {
        let n = backend.listen(listener)?;
        listening.listening(n, addr);
    }
    let mut st = State {
        gateway: Gateway::with_events(config.clone(), Instant::now(), seed, events),
        listening,
        accepted: Vec::new(),
        blocked: Vec::new(),
        dirty: Vec::new(),
        io: Vec::new(),
    };
    let mut stop_at = None;
    while !shutdown.load(Ordering::Relaxed) {
        let timeout = if st.gateway.has_backlog() {
            Duration::ZERO
        } else {
            st.gateway.next_timeout().map_or(IDLE_WAKE, |at| {
                at.saturating_duration_since(Instant::now()).min(IDLE_WAKE)
            })
        };
        backend.poll(Some(timeout), &mut st)?;
        let now = Instant::now();
        st.gateway.set_now(now);
        if let Some(update) = slot.newer(&mut generation) {
            if !Arc::ptr_eq(&update.config, &config) {
                config = update.config.clone();
                st.gateway.reconfigure(update.config.clone());
            }
            if let Some(listen) = &update.listen {
                st.relisten(&mut backend, &slot, listen, now + update.drain_timeout);
            }
            if let Some(deadline) = update.drain {
                if !st.gateway.is_draining() {
                    for n in st.listening.backend_numbers() {
                        backend.unlisten(n);
                    }
                    st.gateway.drain(deadline);
                    stop_at = Some(deadline.max(now) + AFTER_DEADLINE);
                }
            }
        }
        st.turn(&mut backend);
        if st.gateway.is_draining()
            && ((st.gateway.connections() == 0 && !backend.lingering())
                || stop_at.is_some_and(|at| at <= now))
        {
            break;
        }
    }
    Ok(())
}

impl<E: Events> State<E> {
    /// A reload changed the listeners to `listen`: listens on the new addresses with the sockets
    /// the control thread bound, stops the removed ones, and has their clients drain until
    /// `deadline`.
    fn relisten(
        &mut self,
        backend: &mut impl Backend,
        slot: &ConfigSlot,
        listen: &[SocketAddr],
        deadline: Instant,
    ) {
        let Some(change) = self.listening.change(listen) else {
            return;
        };
        for addr in change.add {
            let listened = slot
                .take_socket(addr)
                .ok_or_else(|| io::Error::other("no socket was bound for it"))
                .and_then(|socket| backend.listen(socket));
            match listened {
                Ok(n) => self.listening.listening(n, addr),
                Err(e) => eprintln!("h2edge: cannot listen on {addr}: {e}"),
            }
        }
        for n in change.remove {
            backend.unlisten(n);
        }
        self.gateway.relisten(&change.remap, deadline);
    }

    fn turn(&mut self, backend: &mut impl Backend) {
        for (listener, stream, peer) in std::mem::take(&mut self.accepted) {
            // A listener that stopped meanwhile: its client is not taken.
            let Some(listener) = self.listening.gateway_index(listener) else {
                continue;
            };
            if let Some(token) = self.gateway.accept(listener, peer) {
                self.unblock(token);
                if backend.register(token, stream).is_err() {
                    self.gateway.closed(token);
                }
            }
        }
        self.gateway.run_backlog();
        self.gateway.tend_drains();
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

impl<E: Events> Sink for State<E> {
    fn accepted(&mut self, listener: usize, stream: TcpStream, peer: SocketAddr) {
        self.accepted.push((listener, stream, peer));
    }

    fn woke(&mut self) {
        // Events are stamped with the time they arrived, not with that of the last turn (up to
        // the idle wake earlier): a route timeout then counts from the request's arrival.
        self.gateway.set_now(Instant::now());
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
