//! One worker's connection table: every client and upstream connection, with its TLS session, its
//! HTTP/2 state machine and the proxy state that goes with it.
//!
//! Which connections have output due is derived, not kept by hand: every connection the table
//! hands out for writing (or takes back) is noted once, and [`ConnTable::take_touched`] returns
//! those; the runtime then asks each for its output. A change made through the table can therefore
//! never leave a connection unflushed.

use std::time::Instant;

use super::bridge::{ClientSide, UpstreamSide};
use super::client_limits::ClientClock;
use super::echo::Echo;
use super::local::LocalReplies;
use crate::h2::conn::Connection;
use crate::tls::session::{ClientSession, ServerSession, TlsError};

/// A connection's handle: its index in the worker's table, and the runtime's socket index. A
/// closed token is reused only after the runtime was told to close it (see `Gateway::take_io`).
pub type Token = usize;

/// TLS on a connection, either side. Boxed, like the HTTP/2 state: a slot of the connection table
/// stays as large as its largest connection was, for as long as the worker runs.
pub(super) enum Tls {
    None,
    Server(Box<ServerSession>),
    Client(Box<ClientSession>),
}

impl Tls {
    /// `data` may be decrypted in place.
    pub(super) fn receive(
        &mut self,
        data: &mut [u8],
        plain: &mut impl FnMut(&[u8]),
    ) -> Result<(), TlsError> {
        match self {
            Tls::None => {
                plain(data);
                Ok(())
            }
            Tls::Server(s) => s.receive(data, plain),
            Tls::Client(s) => s.receive(data, plain),
        }
    }
}

/// Who is at the other end of a connection, and the application state that goes with it.
pub(super) enum Kind {
    Client {
        /// Plaintext bytes of the client preface seen so far (to recognise HTTP/1.1 clients);
        /// the preface's length once it arrived or turned out wrong.
        seen: usize,
        /// Cleartext client that spoke HTTP/1.1: bytes of the HTTP/1.1 answer written so far.
        http1_written: Option<usize>,
        app: App,
        clock: ClientClock,
    },
    Upstream(UpstreamSide),
}

/// The application behind a client connection.
// Proxy is the variant nearly every connection has; boxing it would add a pointer hop per event to
// save bytes only on the demo's connections.
#[allow(clippy::large_enum_variant)]
pub(super) enum App {
    Local(LocalReplies),
    Echo(Echo),
    Proxy(ClientSide),
}

pub(super) struct Conn {
    pub(super) h2: Box<Connection>,
    pub(super) tls: Tls,
    /// Received plaintext not yet consumed by `h2`.
    pub(super) rx: Vec<u8>,
    /// Close once the pending output is written.
    pub(super) closing: bool,
    pub(super) kind: Kind,
    /// Noted in the table's touched list since the runtime last took it.
    touched: bool,
}

impl Conn {
    pub(super) fn new(h2: Connection, tls: Tls, kind: Kind) -> Conn {
        Conn {
            h2: Box::new(h2),
            tls,
            rx: Vec::new(),
            closing: false,
            kind,
            touched: false,
        }
    }

    /// A new upstream connection to pool endpoint `ep`.
    pub(super) fn upstream(h2: Connection, tls: Tls, ep: usize, now: Instant) -> Conn {
        Conn::new(h2, tls, Kind::Upstream(UpstreamSide::new(ep, now)))
    }

    /// The proxy state of a client connection, with its HTTP/2 state.
    pub(super) fn client_parts(&mut self) -> Option<(&mut Connection, &mut ClientSide)> {
        match self {
            Conn {
                h2,
                kind:
                    Kind::Client {
                        app: App::Proxy(side),
                        ..
                    },
                ..
            } => Some((h2, side)),
            _ => None,
        }
    }

    /// The proxy state of a client connection, for reading.
    pub(super) fn client_side(&self) -> Option<&ClientSide> {
        match &self.kind {
            Kind::Client {
                app: App::Proxy(side),
                ..
            } => Some(side),
            _ => None,
        }
    }

    /// The proxy state of an upstream connection, for reading.
    pub(super) fn upstream_side(&self) -> Option<&UpstreamSide> {
        match &self.kind {
            Kind::Upstream(side) => Some(side),
            _ => None,
        }
    }

    /// The proxy state of an upstream connection, with its HTTP/2 state.
    pub(super) fn upstream_parts(&mut self) -> Option<(&mut Connection, &mut UpstreamSide)> {
        match self {
            Conn {
                h2,
                kind: Kind::Upstream(side),
                ..
            } => Some((h2, side)),
            _ => None,
        }
    }
}

/// The connections of one worker, by token.
#[derive(Default)]
pub(super) struct ConnTable {
    slots: Vec<Option<Conn>>,
    free: Vec<Token>,
    /// Connections handed out for writing since the runtime last looked (see the module comment).
    touched: Vec<Token>,
}

impl ConnTable {
    pub(super) fn insert(&mut self, conn: Conn) -> Token {
        let token = match self.free.pop() {
            Some(token) => {
                self.slots[token] = Some(conn);
                token
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        };
        self.touch(token);
        token
    }

    /// A closed token may be given to a new connection (once the runtime has closed its socket).
    pub(super) fn release(&mut self, token: Token) {
        self.free.push(token);
    }

    fn touch(&mut self, token: Token) {
        if let Some(Some(c)) = self.slots.get_mut(token) {
            if !c.touched {
                c.touched = true;
                self.touched.push(token);
            }
        }
    }

    /// Connections that may have output (or a close) due since the last call.
    pub(super) fn take_touched(&mut self, into: &mut Vec<Token>) {
        for &t in &self.touched {
            if let Some(Some(c)) = self.slots.get_mut(t) {
                c.touched = false;
            }
        }
        into.append(&mut self.touched);
    }

    pub(super) fn get(&self, token: Token) -> Option<&Conn> {
        self.slots.get(token)?.as_ref()
    }

    /// The connection `token`, for writing: it is noted as touched.
    pub(super) fn get_mut(&mut self, token: Token) -> Option<&mut Conn> {
        self.touch(token);
        self.slots.get_mut(token)?.as_mut()
    }

    /// The connection `token`, for writing without noting it: for the output path itself and for
    /// bookkeeping that adds no output.
    pub(super) fn peek_mut(&mut self, token: Token) -> Option<&mut Conn> {
        self.slots.get_mut(token)?.as_mut()
    }

    /// Takes a connection out of the table while it processes its input; [`ConnTable::put`] brings
    /// it back. Meanwhile its streams reach the other connections through the table.
    pub(super) fn take(&mut self, token: Token) -> Option<Conn> {
        self.slots.get_mut(token).and_then(Option::take)
    }

    pub(super) fn put(&mut self, token: Token, conn: Conn) {
        if let Some(slot) = self.slots.get_mut(token) {
            *slot = Some(conn);
        }
        self.touch(token);
    }

    /// Two different connections at once, both touched.
    pub(super) fn pair(&mut self, a: Token, b: Token) -> Option<(&mut Conn, &mut Conn)> {
        if a == b {
            return None;
        }
        self.touch(a);
        self.touch(b);
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.slots.split_at_mut(hi);
        let lo_conn = left.get_mut(lo)?.as_mut()?;
        let hi_conn = right.first_mut()?.as_mut()?;
        Some(if a < b {
            (lo_conn, hi_conn)
        } else {
            (hi_conn, lo_conn)
        })
    }

    /// The client connection `token`'s proxy state, if it is in the table and runs the proxy.
    pub(super) fn client(&mut self, token: Token) -> Option<(&mut Connection, &mut ClientSide)> {
        self.get_mut(token)?.client_parts()
    }

    /// The upstream connection `token`, if it is in the table.
    pub(super) fn upstream(
        &mut self,
        token: Token,
    ) -> Option<(&mut Connection, &mut UpstreamSide)> {
        self.get_mut(token)?.upstream_parts()
    }

    /// Every connection in the table, for reading.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Token, &Conn)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(t, c)| Some((t, c.as_ref()?)))
    }

    /// Calls `f` with every connection; those it changed (it returns true) are touched.
    pub(super) fn for_each_mut(&mut self, mut f: impl FnMut(Token, &mut Conn) -> bool) {
        for (t, slot) in self.slots.iter_mut().enumerate() {
            if let Some(c) = slot {
                if f(t, c) && !c.touched {
                    c.touched = true;
                    self.touched.push(t);
                }
            }
        }
    }

    /// Live connections.
    pub(super) fn len(&self) -> usize {
        self.slots.iter().filter(|c| c.is_some()).count()
    }
}
