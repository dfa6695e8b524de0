//! The TLS record pump over rustls's unbuffered API, for either side of a connection.
//!
//! Ciphertext from the socket is decrypted in the receive buffer itself when no partial record is
//! pending (only an incomplete record's bytes are kept, in `incoming`); decrypted application data
//! is handed to a callback record by record; plaintext to send is encrypted straight into
//! `outgoing`, which the I/O shell writes and then advances. Handshake records go into `outgoing` in
//! order, so one FIFO carries everything for the socket. `outgoing` keeps its initialised length
//! between uses, so encrypting into it does not zero the room first each time.
//!
//! Note: rustls 0.23's unbuffered API still copies each decrypted record out of the receive buffer
//! (its `ReadTraffic` keeps in-place decryption "for the future"); encryption does go straight into
//! our buffer.

use std::ops::Range;
use std::sync::Arc;

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, UnbufferedConnectionCommon, UnbufferedStatus,
};
use rustls::{ClientConfig, ServerConfig};

/// TLS record overhead we reserve per 16 KiB record when encrypting (header, tag, content type).
const RECORD_OVERHEAD: usize = 64;
const MAX_RECORD: usize = 16 << 10;

/// The two sides of rustls's unbuffered connection, behind one interface.
pub trait Side {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn common(&self) -> &UnbufferedConnectionCommon<Self::Data>;
}

impl Side for UnbufferedServerConnection {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &UnbufferedConnectionCommon<Self::Data> {
        self
    }
}

impl Side for UnbufferedClientConnection {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn common(&self) -> &UnbufferedConnectionCommon<Self::Data> {
        self
    }
}

/// Why a TLS session failed; any queued alert is already in the outgoing buffer.
#[derive(Debug)]
pub struct TlsError(pub rustls::Error);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

pub struct TlsSession<C: Side> {
    conn: C,
    /// Ciphertext of an incomplete record (and, during the handshake, of records rustls has not
    /// discarded yet), waiting for the rest.
    incoming: Vec<u8>,
    /// `outgoing[written..filled]` waits for the socket; the rest is initialised spare room.
    outgoing: Vec<u8>,
    written: usize,
    filled: usize,
    failed: bool,
    peer_closed: bool,
}

pub type ServerSession = TlsSession<UnbufferedServerConnection>;
pub type ClientSession = TlsSession<UnbufferedClientConnection>;

impl ServerSession {
    pub fn server(config: Arc<ServerConfig>) -> Result<Self, TlsError> {
        Ok(Self::with(
            UnbufferedServerConnection::new(config).map_err(TlsError)?,
        ))
    }
}

impl ClientSession {
    pub fn client(config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<Self, TlsError> {
        Ok(Self::with(
            UnbufferedClientConnection::new(config, name).map_err(TlsError)?,
        ))
    }
}

impl<C: Side> TlsSession<C> {
    fn with(conn: C) -> Self {
        let mut session = TlsSession {
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            written: 0,
            filled: 0,
            failed: false,
            peer_closed: false,
        };
        // A client's ClientHello is ready at once.
        let _ = session.pump(&mut [], &mut |_| {});
        session
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.common().is_handshaking()
    }

    /// The protocol both sides agreed on by ALPN.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.common().alpn_protocol()
    }

    /// The peer sent close_notify, or the session failed: nothing more will be received.
    pub fn is_done(&self) -> bool {
        self.failed || self.peer_closed
    }

    /// Ciphertext ready for the socket.
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing[self.written..self.filled]
    }

    /// `n` bytes of [`TlsSession::outgoing`] were written.
    pub fn advance_outgoing(&mut self, n: usize) {
        self.written = (self.written + n).min(self.filled);
        if self.written == self.filled {
            self.written = 0;
            self.filled = 0;
        }
    }

    /// Hands [`TlsSession::outgoing`] over without copying: `spare` takes the buffer's place (its
    /// content becomes initialised room) and the ciphertext is `spare[range]` afterwards.
    pub fn swap_outgoing(&mut self, spare: &mut Vec<u8>) -> Range<usize> {
        std::mem::swap(&mut self.outgoing, spare);
        let range = self.written..self.filled;
        self.written = 0;
        self.filled = 0;
        range
    }

    /// Takes ciphertext from the socket and hands each decrypted application record to `plaintext`.
    /// `data` is decrypted in place: its content is unspecified afterwards.
    pub fn receive(
        &mut self,
        data: &mut [u8],
        plaintext: &mut impl FnMut(&[u8]),
    ) -> Result<(), TlsError> {
        if self.failed {
            return Err(TlsError(rustls::Error::General(
                "session already failed".into(),
            )));
        }
        if self.incoming.is_empty() {
            let (used, result) = self.pump(data, plaintext);
            self.incoming.extend_from_slice(&data[used..]);
            return result;
        }
        let mut incoming = std::mem::take(&mut self.incoming);
        incoming.extend_from_slice(data);
        let (used, result) = self.pump(&mut incoming, plaintext);
        incoming.drain(..used);
        self.incoming = incoming;
        result
    }

    /// Processes the records in `buf` until rustls needs more input or has nothing left to say;
    /// returns how many bytes of `buf` it is done with (the rest must be offered again, in front of
    /// what arrives next).
    fn pump(
        &mut self,
        buf: &mut [u8],
        plaintext: &mut impl FnMut(&[u8]),
    ) -> (usize, Result<(), TlsError>) {
        let mut used = 0;
        loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process(&mut buf[used..]);
            let progress = match state {
                Err(e) => {
                    self.failed = true;
                    used += discard.min(buf.len() - used);
                    self.flush_alert(&mut buf[used..]);
                    return (used, Err(TlsError(e)));
                }
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                plaintext(record.payload);
                            }
                            Err(e) => return (used + discard, Err(TlsError(e))),
                        }
                    }
                    true
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let out = (&mut self.outgoing, &mut self.filled);
                    if let Err(e) = encode_into(out, |b| encode.encode(b)) {
                        return (used + discard, Err(TlsError(e)));
                    }
                    true
                }
                // Everything encoded is already queued in `outgoing`, in order.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    true
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    true
                }
                // BlockedHandshake and WriteTraffic: nothing more to do until more input arrives.
                // (ReadEarlyData cannot happen: early data is never enabled.)
                Ok(_) => false,
            };
            used += discard.min(buf.len() - used);
            if !progress {
                return (used, Ok(()));
            }
        }
    }

    /// After a failure rustls may still have an alert queued: put it on the wire.
    fn flush_alert(&mut self, buf: &mut [u8]) {
        for _ in 0..4 {
            // The same buffer as before: rustls's deframer keeps positions into it.
            let status = self.conn.process(buf);
            match status.state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    if encode_into((&mut self.outgoing, &mut self.filled), |b| encode.encode(b))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                _ => return,
            }
        }
    }

    /// Encrypts `plain` into the outgoing buffer. Returns false (taking nothing) while the handshake
    /// is still running; call again once it is done.
    pub fn send(&mut self, plain: &[u8]) -> Result<bool, TlsError> {
        if self.failed {
            return Err(TlsError(rustls::Error::General(
                "session already failed".into(),
            )));
        }
        loop {
            let UnbufferedStatus { discard, state } = self.conn.process(&mut self.incoming);
            let done = match state {
                Err(e) => {
                    self.failed = true;
                    return Err(TlsError(e));
                }
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    let records = plain.len().div_ceil(MAX_RECORD).max(1);
                    let room = reserve(
                        &mut self.outgoing,
                        self.filled,
                        plain.len() + records * RECORD_OVERHEAD,
                    );
                    match traffic.encrypt(plain, room) {
                        Ok(n) => {
                            self.filled += n;
                            Some(true)
                        }
                        Err(EncryptError::InsufficientSize(_) | EncryptError::EncryptExhausted) => {
                            self.failed = true;
                            return Err(TlsError(rustls::Error::EncryptError));
                        }
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    encode_into((&mut self.outgoing, &mut self.filled), |b| encode.encode(b))
                        .map_err(TlsError)?;
                    None
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    None
                }
                Ok(_) => Some(false),
            };
            self.incoming.drain(..discard.min(self.incoming.len()));
            if let Some(done) = done {
                return Ok(done);
            }
        }
    }

    /// Queues close_notify.
    pub fn close(&mut self) {
        if self.failed {
            return;
        }
        let status = self.conn.process(&mut self.incoming);
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) = status.state {
            let room = reserve(&mut self.outgoing, self.filled, RECORD_OVERHEAD);
            self.filled += traffic.queue_close_notify(room).unwrap_or(0);
        }
    }
}

/// At least `n` bytes of room after `out[..filled]`, growing (and zeroing) only what was never
/// used before.
fn reserve(out: &mut Vec<u8>, filled: usize, n: usize) -> &mut [u8] {
    if out.len() < filled + n {
        out.resize(filled + n, 0);
    }
    &mut out[filled..]
}

/// Appends one encoded handshake record to `out.0[..out.1]`, growing it to the size rustls asks for.
fn encode_into(
    (out, filled): (&mut Vec<u8>, &mut usize),
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<(), rustls::Error> {
    let mut room = 4096;
    loop {
        match encode(reserve(out, *filled, room)) {
            Ok(n) => {
                *filled += n;
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(e)) => room = e.required_size,
            Err(EncodeError::AlreadyEncoded) => return Ok(()),
        }
    }
}
