//! One worker's connection table: every client and upstream connection, with its TLS session, its
//! HTTP/2 state machine and the proxy state that goes with it.
//!
//! Which connections have output due is derived, not kept by hand: every connection the table
//! hands out for writing (or takes back) is noted once, and [`ConnTable::take_touched`] returns
//! those; the runtime then asks each for its output. A change made through the table can therefore
//! never leave a connection unflushed.

use std::net::SocketAddr;
use std::time::Instant;

use super::client_limits::{ClientClock, Clocks};
use super::echo::Echo;
use super::ids::ConnId;
pub use super::ids::Token;
use super::local::LocalReplies;
use super::sides::{ClientSide, UpstreamSide};
use crate::h2::conn::Connection;
use crate::runtime::socket::TcpKeepalive;
use crate::tls::session::{ClientSession, ServerSession, TlsError};

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
    slots: Vec<Slot>,
    free: Vec<Token>,
    /// Connections handed out for writing since the runtime last looked (see the module comment).
    touched: Vec<Token>,
}

#[derive(Default)]
struct Slot {
    /// Counts the connections the slot has held.
    generation: u32,
    conn: Option<Conn>,
}

impl ConnTable {
    pub(super) fn insert(&mut self, conn: Conn) -> ConnId {
        let token = match self.free.pop() {
            Some(token) => token,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[token];
        slot.generation = slot.generation.wrapping_add(1);
        slot.conn = Some(conn);
        let id = ConnId::new(token, slot.generation);
        self.touch(token);
        id
    }

    /// A closed token may be given to a new connection (once the runtime has closed its socket).
    pub(super) fn release(&mut self, token: Token) {
        self.free.push(token);
    }

    /// The id of the connection in slot `token` (live, or taken out while it works).
    pub(super) fn id(&self, token: Token) -> ConnId {
        ConnId::new(token, self.slots.get(token).map_or(0, |s| s.generation))
    }

    fn touch(&mut self, token: Token) {
        if let Some(Slot { conn: Some(c), .. }) = self.slots.get_mut(token) {
            if !c.touched {
                c.touched = true;
                self.touched.push(token);
            }
        }
    }

    /// Connections that may have output (or a close) due since the last call.
    pub(super) fn take_touched(&mut self, into: &mut Vec<Token>) {
        for &t in &self.touched {
            if let Some(Slot { conn: Some(c), .. }) = self.slots.get_mut(t) {
                c.touched = false;
            }
        }
        into.append(&mut self.touched);
    }

    fn slot(&self, id: ConnId) -> Option<&Slot> {
        self.slots
            .get(id.token())
            .filter(|s| s.generation == id.generation())
    }

    pub(super) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.slot(id)?.conn.as_ref()
    }

    /// The connection `id`, for writing: it is noted as touched.
    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.slot(id)?;
        self.touch(id.token());
        self.slots.get_mut(id.token())?.conn.as_mut()
    }

    /// The connection in slot `token`, for reading (the runtime's handle).
    pub(super) fn at(&self, token: Token) -> Option<&Conn> {
        self.slots.get(token)?.conn.as_ref()
    }

    /// The connection in slot `token`, for writing without noting it: for the output path itself
    /// and for bookkeeping that adds no output.
    pub(super) fn peek_mut(&mut self, token: Token) -> Option<&mut Conn> {
        self.slots.get_mut(token)?.conn.as_mut()
    }

    /// The connection in slot `token`, for writing: it is noted as touched.
    pub(super) fn at_mut(&mut self, token: Token) -> Option<&mut Conn> {
        self.touch(token);
        self.peek_mut(token)
    }

    /// Takes a connection out of the table while it processes its input; [`ConnTable::put`] brings
    /// it back. Meanwhile its streams reach the other connections through the table.
    pub(super) fn take(&mut self, token: Token) -> Option<Conn> {
        self.slots.get_mut(token)?.conn.take()
    }

    pub(super) fn put(&mut self, token: Token, conn: Conn) {
        if let Some(slot) = self.slots.get_mut(token) {
            slot.conn = Some(conn);
        }
        self.touch(token);
    }

    /// Two different connections at once, both touched.
    pub(super) fn pair(&mut self, a: ConnId, b: ConnId) -> Option<(&mut Conn, &mut Conn)> {
        if a.token() == b.token() || self.slot(a).is_none() || self.slot(b).is_none() {
            return None;
        }
        self.touch(a.token());
        self.touch(b.token());
        let (lo, hi) = (a.token().min(b.token()), a.token().max(b.token()));
        let (left, right) = self.slots.split_at_mut(hi);
        let lo_conn = left.get_mut(lo)?.conn.as_mut()?;
        let hi_conn = right.first_mut()?.conn.as_mut()?;
        Some(if a.token() < b.token() {
            (lo_conn, hi_conn)
        } else {
            (hi_conn, lo_conn)
        })
    }

    /// The client connection `id`'s proxy state, if it is in the table and runs the proxy.
    pub(super) fn client(&mut self, id: ConnId) -> Option<(&mut Connection, &mut ClientSide)> {
        self.get_mut(id)?.client_parts()
    }

    /// The upstream connection `id`, if it is in the table.
    pub(super) fn upstream(&mut self, id: ConnId) -> Option<(&mut Connection, &mut UpstreamSide)> {
        self.get_mut(id)?.upstream_parts()
    }

    /// Every connection in the table, for reading.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        self.slots.iter().enumerate().filter_map(|(t, s)| {
            let c = s.conn.as_ref()?;
            Some((ConnId::new(t, s.generation), c))
        })
    }

    /// Calls `f` with every connection; those it changed (it returns true) are touched.
    pub(super) fn for_each_mut(&mut self, mut f: impl FnMut(ConnId, &mut Conn) -> bool) {
        for (t, slot) in self.slots.iter_mut().enumerate() {
            if let Some(c) = &mut slot.conn {
                if f(ConnId::new(t, slot.generation), c) && !c.touched {
                    c.touched = true;
                    self.touched.push(t);
                }
            }
        }
    }

    /// Live connections.
    pub(super) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.conn.is_some()).count()
    }
}

impl Clocks for ConnTable {
    fn clock(&mut self, id: ConnId) -> Option<&mut ClientClock> {
        self.slot(id)?;
        match self.peek_mut(id.token())? {
            Conn {
                kind: Kind::Client { clock, .. },
                ..
            } => Some(clock),
            _ => None,
        }
    }
}

/// What the gateway needs the runtime to do.
#[derive(Debug, PartialEq, Eq)]
pub enum IoRequest {
    /// Open a TCP connection for `token` to `addr` (with TCP keepalive, if given), then report it
    /// with `Gateway::connected`.
    Connect(Token, SocketAddr, Option<TcpKeepalive>),
    /// Close `token`'s socket once its output is written (the gateway has forgotten it).
    Close(Token),
}
