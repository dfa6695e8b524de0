//! The epoll backend (through mio): readiness turned into the [`Backend`] interface. It is the
//! fallback where io_uring is blocked (Docker ≥ 25 and containerd ≥ 2.0 seccomp defaults).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token as MioToken};

use super::io::{Backend, Sink, Token};
use super::socket::{TcpKeepalive, set_keepalive};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 << 10;
/// Reads per readiness event before the connection waits for the next loop turn, so one busy peer
/// cannot hold the worker.
const READS_PER_EVENT: usize = 4;
/// Tokens at and above this value are listeners.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Tokens at and above this value (and below `LISTENER_BASE`) are sockets being closed.
const DRAIN_BASE: usize = usize::MAX / 4;
/// How long a closed socket may take to see the peer's FIN before it is dropped anyway.
pub const LINGER: Duration = Duration::from_secs(2);

pub struct Epoll {
    poll: Poll,
    events: Events,
    /// By number; `None` once stopped.
    listeners: Vec<Option<mio::net::TcpListener>>,
    conns: Vec<Option<mio::net::TcpStream>>,
    /// Per token: a connect is in progress (its first writable event settles it).
    connecting: Vec<bool>,
    /// Connections that still had bytes to read when their read budget ran out.
    again: Vec<Token>,
    /// Closed sockets, write side shut, read until the peer's FIN (or `LINGER`) so that our last
    /// bytes (a GOAWAY, an HTTP/1.1 answer) arrive instead of being destroyed by a reset.
    draining: Vec<Option<(mio::net::TcpStream, Instant)>>,
    scratch: Vec<u8>,
}

impl Epoll {
    pub fn new() -> io::Result<Self> {
        Ok(Epoll {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            listeners: Vec::new(),
            conns: Vec::new(),
            connecting: Vec::new(),
            again: Vec::new(),
            draining: Vec::new(),
            scratch: vec![0; READ_CHUNK],
        })
    }

    fn accept_all(&mut self, index: usize, sink: &mut impl Sink) {
        let Some(Some(listener)) = self.listeners.get(index) else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, peer)) => sink.accepted(index, into_std(stream), peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or a connection reset before accept: try again next event.
                Err(_) => return,
            }
        }
    }

    /// Reads from `token` until it would block or the read budget is spent.
    fn read_some(&mut self, token: Token, sink: &mut impl Sink) {
        for _ in 0..READS_PER_EVENT {
            let Some(Some(stream)) = self.conns.get_mut(token) else {
                return;
            };
            match stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.forget(token);
                    sink.closed(token, None);
                    return;
                }
                Ok(n) => sink.received(token, &mut self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.forget(token);
                    sink.closed(token, Some(e));
                    return;
                }
            }
        }
        self.again.push(token);
    }

    /// Reads and discards from a closing socket; drops it at EOF, on error, or past its deadline.
    fn drain(&mut self, index: usize) {
        let Some(Some((stream, _))) = self.draining.get_mut(index) else {
            return;
        };
        loop {
            match stream.read(&mut self.scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.drop_drained(index);
    }

    fn drop_drained(&mut self, index: usize) {
        if let Some(Some((mut stream, _))) = self.draining.get_mut(index).map(Option::take) {
            let _ = self.poll.registry().deregister(&mut stream);
        }
    }

    fn insert(&mut self, token: Token, stream: mio::net::TcpStream, connecting: bool) {
        if self.conns.len() <= token {
            self.conns.resize_with(token + 1, || None);
            self.connecting.resize(token + 1, false);
        }
        self.conns[token] = Some(stream);
        self.connecting[token] = connecting;
    }

    /// Settles a connect in progress once the socket reports writable or an error.
    fn finish_connect(&mut self, token: Token, sink: &mut impl Sink) -> bool {
        let Some(Some(stream)) = self.conns.get(token) else {
            return false;
        };
        let error = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => stream.peer_addr().err(),
        };
        if let Some(flag) = self.connecting.get_mut(token) {
            *flag = false;
        }
        match error {
            None => {
                sink.connected(token, Ok(()));
                true
            }
            Some(e) => {
                self.forget(token);
                sink.connected(token, Err(e));
                false
            }
        }
    }

    fn forget(&mut self, token: Token) {
        if let Some(slot) = self.conns.get_mut(token) {
            if let Some(mut stream) = slot.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
        }
    }
}

fn into_std(stream: mio::net::TcpStream) -> TcpStream {
    TcpStream::from(std::os::fd::OwnedFd::from(stream))
}

impl Backend for Epoll {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn listen(&mut self, listener: TcpListener) -> io::Result<usize> {
        listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let index = self.listeners.len();
        self.poll.registry().register(
            &mut listener,
            MioToken(LISTENER_BASE + index),
            Interest::READABLE,
        )?;
        self.listeners.push(Some(listener));
        Ok(index)
    }

    fn unlisten(&mut self, listener: usize) {
        if let Some(mut l) = self.listeners.get_mut(listener).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    fn lingering(&self) -> bool {
        self.draining.iter().any(Option::is_some)
    }

    fn register(&mut self, token: Token, stream: TcpStream) -> io::Result<()> {
        if token >= LISTENER_BASE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "token too large",
            ));
        }
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let mut stream = mio::net::TcpStream::from_std(stream);
        self.poll.registry().register(
            &mut stream,
            MioToken(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.insert(token, stream, false);
        Ok(())
    }

    fn connect(
        &mut self,
        token: Token,
        addr: SocketAddr,
        keepalive: Option<TcpKeepalive>,
    ) -> io::Result<()> {
        if token >= DRAIN_BASE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "token too large",
            ));
        }
        let mut stream = mio::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        if let Some(k) = &keepalive {
            set_keepalive(socket2::SockRef::from(&stream), k)?;
        }
        self.poll.registry().register(
            &mut stream,
            MioToken(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.insert(token, stream, true);
        Ok(())
    }

    fn send(&mut self, token: Token, data: &[u8]) -> io::Result<usize> {
        if self.connecting.get(token) == Some(&true) {
            return Ok(0);
        }
        let Some(Some(stream)) = self.conns.get_mut(token) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let mut sent = 0;
        while sent < data.len() {
            match stream.write(&data[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    fn close(&mut self, token: Token) {
        let Some(mut stream) = self.conns.get_mut(token).and_then(Option::take) else {
            return;
        };
        let index = match self.draining.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.draining.push(None);
                self.draining.len() - 1
            }
        };
        let linger = stream.shutdown(std::net::Shutdown::Write).is_ok()
            && index < LISTENER_BASE - DRAIN_BASE
            && self
                .poll
                .registry()
                .reregister(
                    &mut stream,
                    MioToken(DRAIN_BASE + index),
                    Interest::READABLE,
                )
                .is_ok();
        if linger {
            self.draining[index] = Some((stream, Instant::now() + LINGER));
        } else {
            let _ = self.poll.registry().deregister(&mut stream);
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, sink: &mut impl Sink) -> io::Result<()> {
        let timeout = if self.again.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        sink.woke();
        let mut again = std::mem::take(&mut self.again);
        for token in again.drain(..) {
            self.read_some(token, sink);
        }
        // Keep the allocation for the next turn (read_some may have pushed new entries).
        again.append(&mut self.again);
        self.again = again;
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            let token = event.token().0;
            if token >= LISTENER_BASE {
                self.accept_all(token - LISTENER_BASE, sink);
                continue;
            }
            if token >= DRAIN_BASE {
                self.drain(token - DRAIN_BASE);
                continue;
            }
            if self.connecting.get(token) == Some(&true) {
                if !(event.is_writable() || event.is_error() || event.is_write_closed()) {
                    continue;
                }
                if !self.finish_connect(token, sink) {
                    continue;
                }
            }
            if event.is_writable() && matches!(self.conns.get(token), Some(Some(_))) {
                sink.writable(token);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.read_some(token, sink);
            }
        }
        self.events = events;
        let now = Instant::now();
        for i in 0..self.draining.len() {
            if matches!(&self.draining[i], Some((_, deadline)) if *deadline <= now) {
                self.drop_drained(i);
            }
        }
        Ok(())
    }
}
