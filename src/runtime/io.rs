//! The small I/O interface the workers are written against. A backend moves bytes between sockets
//! and the worker; it knows nothing of TLS or HTTP/2. The epoll backend ([`super::epoll`]) works
//! everywhere; the io_uring backend is the fast path where the kernel allows it.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::time::Duration;

use super::socket::TcpKeepalive;

/// A connection's handle, chosen by the worker (an index into its connection table).
pub type Token = usize;

/// What a backend reports from [`Backend::poll`]. Each call hands over borrowed data, so received
/// bytes go from the kernel to the protocol code without an extra copy.
pub trait Sink {
    /// The backend's wait ended and its events follow: what happens from here happens now (the
    /// worker takes the time once per wakeup, not per event).
    fn woke(&mut self) {}
    /// Listener number `listener` (in the order of [`Backend::listen`] calls) accepted a connection;
    /// the worker registers it (or drops it).
    fn accepted(&mut self, listener: usize, stream: TcpStream, peer: SocketAddr);
    /// Bytes arrived on `token`. The buffer is the backend's, lent mutably so that TLS can decrypt
    /// in place; its content is unspecified afterwards.
    fn received(&mut self, token: Token, data: &mut [u8]);
    /// A connection started with [`Backend::connect`] is established (receiving has started), or
    /// failed (the backend has forgotten the token).
    fn connected(&mut self, token: Token, result: io::Result<()>);
    /// `token` can take more output (after a short send).
    fn writable(&mut self, token: Token);
    /// The peer closed `token`, or it failed; the backend has already forgotten it.
    fn closed(&mut self, token: Token, error: Option<io::Error>);
}

pub trait Backend {
    /// A short name for logs and metrics (`"epoll"`, `"io_uring"`).
    fn name(&self) -> &'static str;
    /// Starts accepting on `listener`; returns its number (the next one: numbers are never
    /// reused).
    fn listen(&mut self, listener: TcpListener) -> io::Result<usize>;
    /// Stops accepting on listener number `listener` and closes it, so that new connects are
    /// refused (once no other worker listens on the address). Connections already accepted stay.
    fn unlisten(&mut self, listener: usize);
    /// Whether closed sockets still have output in flight or wait for the peer's FIN (see
    /// [`Backend::close`]); a worker that stops waits for them, so the last bytes arrive.
    fn lingering(&self) -> bool;
    /// Adopts a connected socket under `token` and starts receiving on it.
    fn register(&mut self, token: Token, stream: TcpStream) -> io::Result<()>;
    /// Starts a non-blocking connect of `token` to `addr`, with TCP keepalive if `keepalive` says
    /// so; [`Sink::connected`] reports the outcome. Output offered before then is queued or
    /// refused like for any socket that cannot take more.
    fn connect(
        &mut self,
        token: Token,
        addr: SocketAddr,
        keepalive: Option<TcpKeepalive>,
    ) -> io::Result<()>;
    /// Offers output for `token`; returns how many bytes were taken. When fewer than offered were
    /// taken, [`Sink::writable`] says when to offer the rest.
    fn send(&mut self, token: Token, data: &[u8]) -> io::Result<usize>;
    /// When `token` has nothing in flight and the backend sends from buffers it owns: a spare
    /// buffer (initialised, content meaningless) that the caller may swap its output buffer into,
    /// then call [`Backend::send_spare`]. The output then goes out without a copy. `None`: offer a
    /// copy with [`Backend::send`].
    fn spare_buffer(&mut self, _token: Token) -> Option<&mut Vec<u8>> {
        None
    }
    /// Sends `range` of the spare buffer of `token`, which now holds the caller's output; all of it
    /// is taken.
    fn send_spare(&mut self, _token: Token, _range: Range<usize>) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Closes `token`'s socket.
    fn close(&mut self, token: Token);
    /// Waits up to `timeout` for I/O and reports it to `sink`.
    fn poll(&mut self, timeout: Option<Duration>, sink: &mut impl Sink) -> io::Result<()>;
}
