//! Both I/O backends move bytes correctly over real loopback sockets: an echo server built on each
//! one returns 4 MiB from each of several clients byte for byte, through partial sends and many
//! receive completions.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use h2edge::runtime::epoll::Epoll;
use h2edge::runtime::io::{Backend, Sink, Token};
use h2edge::runtime::socket::TcpKeepalive;
use h2edge::runtime::uring::Uring;

#[path = "common/proc_tcp.rs"]
mod proc_tcp;
use proc_tcp::keepalive_towards;

const CLIENTS: usize = 4;
const BYTES: usize = 4 << 20;

#[derive(Default)]
struct Echo {
    accepted: Vec<TcpStream>,
    /// Bytes received and not yet taken by the backend, per connection.
    backlog: HashMap<Token, Vec<u8>>,
    dirty: Vec<Token>,
    closed: usize,
    connected: Vec<(Token, bool)>,
}

impl Sink for Echo {
    fn accepted(&mut self, _listener: usize, stream: TcpStream, _peer: SocketAddr) {
        self.accepted.push(stream);
    }
    fn received(&mut self, token: Token, data: &mut [u8]) {
        self.backlog
            .entry(token)
            .or_default()
            .extend_from_slice(data);
        self.dirty.push(token);
    }
    fn connected(&mut self, token: Token, result: io::Result<()>) {
        self.connected.push((token, result.is_ok()));
    }
    fn writable(&mut self, token: Token) {
        self.dirty.push(token);
    }
    fn closed(&mut self, _token: Token, _error: Option<io::Error>) {
        self.closed += 1;
    }
}

fn echo_server(mut backend: impl Backend, listener: TcpListener) -> io::Result<()> {
    backend.listen(listener)?;
    let mut sink = Echo::default();
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.closed < CLIENTS {
        assert!(
            Instant::now() < deadline,
            "{}: echo server timed out",
            backend.name()
        );
        backend.poll(Some(Duration::from_millis(50)), &mut sink)?;
        for stream in std::mem::take(&mut sink.accepted) {
            backend.register(next, stream)?;
            next += 1;
        }
        for token in std::mem::take(&mut sink.dirty) {
            if let Some(buf) = sink.backlog.get_mut(&token) {
                if !buf.is_empty() {
                    let n = backend.send(token, buf)?;
                    buf.drain(..n);
                }
            }
        }
    }
    Ok(())
}

fn client(addr: SocketAddr, seed: u8) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let data: Vec<u8> = (0..BYTES)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let w = thread::spawn(move || writer.write_all(&sent).expect("write"));
    let mut got = vec![0; BYTES];
    stream.read_exact(&mut got).expect("read echo");
    w.join().unwrap();
    assert!(got == data, "echo differs for client {seed}");
}

/// Runs the echo server on a backend made by `make` inside the server thread (a ring belongs to the
/// thread that uses it).
fn run<B: Backend + 'static>(make: fn() -> io::Result<B>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || echo_server(make()?, listener));
    let clients: Vec<_> = (0..CLIENTS as u8)
        .map(|seed| thread::spawn(move || client(addr, seed)))
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    server.join().expect("server thread").expect("server");
}

#[test]
fn epoll_echoes() {
    run(Epoll::new);
}

#[test]
fn io_uring_echoes() {
    match Uring::new() {
        Ok(_) => run(Uring::new),
        // Where io_uring is blocked the gateway falls back to epoll; nothing to test here.
        Err(e) => eprintln!("io_uring unavailable here ({e}); skipped"),
    }
}

/// Answers the first bytes it receives with `REPLY` and closes at once, as the gateway does when it
/// rejects a client (a GOAWAY, an HTTP/1.1 505): the reply must arrive whole, followed by EOF, not be
/// destroyed by a reset.
const REPLY: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\n\r\n";

fn reply_and_close<B: Backend + 'static>(make: fn() -> io::Result<B>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || -> io::Result<()> {
        let mut backend = make()?;
        backend.listen(listener)?;
        let mut sink = Echo::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut replied = false;
        // Keep polling a little after closing so the backend can finish the send and the FIN.
        let mut after = 0;
        while after < 20 && Instant::now() < deadline {
            backend.poll(Some(Duration::from_millis(10)), &mut sink)?;
            for stream in std::mem::take(&mut sink.accepted) {
                backend.register(0, stream)?;
            }
            if !replied && sink.dirty.contains(&0) {
                assert_eq!(backend.send(0, REPLY)?, REPLY.len());
                backend.close(0);
                replied = true;
            }
            sink.dirty.clear();
            if replied {
                after += 1;
            }
        }
        Ok(())
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // More than the server reads before it closes: unread input must not turn the close into a reset.
    stream.write_all(&vec![b'x'; 200_000]).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("reply then EOF");
    assert_eq!(got, REPLY);
    server.join().unwrap().unwrap();
}

#[test]
fn epoll_delivers_last_bytes_before_close() {
    reply_and_close(Epoll::new);
}

#[test]
fn io_uring_delivers_last_bytes_before_close() {
    if Uring::new().is_ok() {
        reply_and_close(Uring::new);
    }
}

/// Outgoing connections: one to a live echo server exchanges bytes, one to a closed port fails
/// through `Sink::connected`.
fn connect_out<B: Backend>(make: fn() -> io::Result<B>) {
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (mut s, _) = echo.accept().unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
        // Open until the test has looked at the client socket.
        let _ = done_rx.recv();
    });
    let closed_addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut backend = make().unwrap();
    let mut sink = Echo::default();
    let keepalive = TcpKeepalive {
        time: Some(Duration::from_secs(77)),
        interval: Some(Duration::from_secs(5)),
        probes: Some(3),
    };
    backend.connect(1, echo_addr, Some(keepalive)).unwrap();
    backend.connect(2, closed_addr, None).unwrap();
    // Offered before the connect completes: taken now or after `writable`.
    let mut pending: &[u8] = b"hello";
    let n = backend.send(1, pending).unwrap();
    pending = &pending[n..];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        backend
            .poll(Some(Duration::from_millis(10)), &mut sink)
            .unwrap();
        if !pending.is_empty() && sink.dirty.contains(&1) {
            let n = backend.send(1, pending).unwrap();
            pending = &pending[n..];
        }
        sink.dirty.clear();
        if sink.backlog.get(&1).is_some_and(|b| b.len() == 5) && sink.connected.len() == 2 {
            break;
        }
    }
    sink.connected.sort();
    assert_eq!(sink.connected, vec![(1, true), (2, false)]);
    assert_eq!(sink.backlog.get(&1).map(Vec::as_slice), Some(&b"hello"[..]));
    // The idle connection's keepalive timer runs with the idle time asked for (77 s, in ticks of
    // 1/100 s), not the kernel's default of 2 hours.
    let ticks = keepalive_towards(echo_addr).expect("a keepalive timer in /proc/net/tcp");
    assert!((7000..=7700).contains(&ticks), "{ticks} ticks left");
    let _ = done_tx.send(());
    server.join().unwrap();
}

#[test]
fn epoll_connects() {
    connect_out(Epoll::new);
}

#[test]
fn io_uring_connects() {
    if Uring::new().is_ok() {
        connect_out(Uring::new);
    }
}
