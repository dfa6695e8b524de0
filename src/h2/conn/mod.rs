//! The HTTP/2 connection state machine, for both roles (RFC 9113 §3–§8).
//!
//! Sans-IO: [`Connection::recv`] takes bytes read from the peer and reports what they mean through a
//! [`Handler`]; commands (`send_headers`, `send_data`, `reset`, ...) queue frames; the I/O shell takes
//! [`Connection::pending_output`] and writes it, once per loop turn. Time is passed in.
//!
//! The server role faces clients, the client role faces upstreams; both run on the same code.

use std::time::{Duration, Instant};

use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We accept streams opened by a client (odd ids) and answer them.
    Server,
    /// We open streams (odd ids) towards a server.
    Client,
}

/// The settings we advertise, and the abuse limits we enforce.
#[derive(Clone, Debug)]
pub struct Config {
    /// SETTINGS_HEADER_TABLE_SIZE: how large a dynamic table our HPACK decoder keeps.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS for streams the peer opens.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window.
    pub initial_window_size: u32,
    /// The connection's receive window (raised from 65,535 by a WINDOW_UPDATE after the preface).
    pub connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE we accept.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE, enforced on decoded bytes (name + value + 32 per field).
    pub max_header_list_size: u32,
    /// How long the peer has to acknowledge our SETTINGS before GOAWAY SETTINGS_TIMEOUT.
    pub settings_ack_timeout: Duration,
    pub limits: Limits,
}

/// Budgets that keep one peer from taking more than its share of memory or CPU.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Fields per header block (cookies counted like any other field).
    pub max_header_fields: u32,
    /// CONTINUATION frames per header block (CONTINUATION flood, CVE-2024-27316 class).
    pub max_continuation_frames: u32,
    /// Streams reset, by either side, per `reset_window` before GOAWAY ENHANCE_YOUR_CALM
    /// (Rapid Reset CVE-2023-44487, MadeYouReset CVE-2025-8671).
    pub max_resets_per_window: u32,
    pub reset_window: Duration,
    /// Control frames (SETTINGS ACK, PING ACK, RST_STREAM) we may have queued and not yet written
    /// before we stop reading and send GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9512/9514/9515).
    pub max_pending_control_frames: u32,
    /// Consecutive DATA frames with no data and no END_STREAM, or HEADERS with empty blocks,
    /// before GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9518).
    pub max_empty_frames: u32,
    /// Frames handled per `recv` call; the rest waits for the next loop turn so one peer cannot
    /// starve the others on its core.
    pub max_frames_per_recv: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            header_table_size: 4096,
            max_concurrent_streams: 256,
            initial_window_size: 1 << 20,
            connection_window_size: 1 << 24,
            max_frame_size: 16_384,
            max_header_list_size: 64 << 10,
            settings_ack_timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_fields: 128,
            max_continuation_frames: 32,
            max_resets_per_window: 400,
            reset_window: Duration::from_secs(10),
            max_pending_control_frames: 1000,
            max_empty_frames: 100,
            max_frames_per_recv: 512,
        }
    }
}

/// What the peer's bytes meant. Each call happens during [`Connection::recv`] (or
/// [`Connection::on_timeout`]); fields and data borrow from the connection's buffers or the input.
pub trait Handler {
    /// A request head (server role) or a response head, including 1xx informational ones (client
    /// role). Already validated against RFC 9113 §8.
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool);
    /// Trailers: a header block after the message body, always ending the stream.
    fn on_trailers(&mut self, stream_id: u32, fields: &FieldList);
    /// Body bytes, padding removed. The bytes count against our receive windows until the caller
    /// gives them back with [`Connection::release_capacity`].
    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool);
    /// The stream ended abnormally: the peer sent RST_STREAM (`remote`), or we reset it because of a
    /// stream error in the peer's frames (we already queued the RST_STREAM).
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool);
    /// The peer sent GOAWAY: streams above `last_stream_id` that we opened were not processed.
    fn on_goaway(&mut self, last_stream_id: u32, code: ErrorCode, debug: &[u8]);
    /// The send window of `stream_id` (or of the connection, when 0) grew.
    fn on_window_update(&mut self, stream_id: u32) {
        let _ = stream_id;
    }
    /// The peer's SETTINGS were applied (for example a new MAX_CONCURRENT_STREAMS).
    fn on_settings(&mut self) {}
    /// The peer answered one of our PINGs.
    fn on_ping_ack(&mut self, payload: [u8; 8]) {
        let _ = payload;
    }
}

/// Why a command was refused. The connection is unchanged when a command fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No such stream, or it can no longer send (already ended or reset).
    StreamClosed,
    /// Client role: the peer's MAX_CONCURRENT_STREAMS is reached; wait for a stream to end.
    TooManyStreams,
    /// The connection is going away (GOAWAY sent or received, or closed).
    GoingAway,
    /// The command does not fit the role (for example `open_stream` on a server).
    WrongRole,
}

/// One HTTP/2 connection.
pub struct Connection {}

impl Connection {
    /// A new connection. The client role queues the connection preface and our SETTINGS at once; the
    /// server role queues its SETTINGS and then expects the client preface.
    pub fn new(role: Role, config: &Config, now: Instant) -> Self {
        let _ = (role, config, now);
        todo!()
    }

    /// Feeds bytes read from the peer. Returns how many were consumed; the rest (a partial frame, or
    /// input left over once `max_frames_per_recv` frames were handled) must be offered again, with
    /// more bytes appended. A connection error queues GOAWAY and closes the connection: the caller
    /// then writes the pending output and closes the socket.
    pub fn recv(&mut self, input: &[u8], now: Instant, handler: &mut impl Handler) -> usize {
        let _ = (input, now, handler);
        todo!()
    }

    /// Bytes ready to be written to the peer.
    pub fn pending_output(&self) -> &[u8] {
        todo!()
    }

    /// `n` bytes of [`Connection::pending_output`] were written.
    pub fn advance_output(&mut self, n: usize) {
        let _ = n;
        todo!()
    }

    /// The earliest time at which [`Connection::on_timeout`] must be called, if any.
    pub fn next_timeout(&self) -> Option<Instant> {
        todo!()
    }

    /// Handles expired timers (SETTINGS acknowledgement).
    pub fn on_timeout(&mut self, now: Instant, handler: &mut impl Handler) {
        let _ = (now, handler);
        todo!()
    }

    /// Client role: opens a stream with a request head. Returns the new stream id.
    pub fn open_stream<'f>(
        &mut self,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
        end_stream: bool,
    ) -> Result<u32, SendError> {
        let _ = (fields.into_iter(), end_stream);
        todo!()
    }

    /// Sends a response head (server role; 1xx heads may precede the final one) on an open stream.
    pub fn send_headers<'f>(
        &mut self,
        stream_id: u32,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let _ = (stream_id, fields.into_iter(), end_stream);
        todo!()
    }

    /// Sends as much of `data` as the stream and connection send windows allow (split into frames of
    /// the peer's max frame size) and returns how many bytes were taken. END_STREAM is set only if all
    /// of `data` was taken. When fewer bytes were taken, wait for [`Handler::on_window_update`].
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        let _ = (stream_id, data, end_stream);
        todo!()
    }

    /// Sends trailers, ending the stream.
    pub fn send_trailers<'f>(
        &mut self,
        stream_id: u32,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
    ) -> Result<(), SendError> {
        let _ = (stream_id, fields.into_iter());
        todo!()
    }

    /// Resets a stream with RST_STREAM. Resetting an unknown or closed stream does nothing.
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        let _ = (stream_id, code);
        todo!()
    }

    /// The caller has finished with `n` received bytes of `stream_id`: reopen that much of the stream
    /// and connection receive windows. WINDOW_UPDATE frames are coalesced: one is sent once the
    /// released amount reaches a useful fraction of the window.
    pub fn release_capacity(&mut self, stream_id: u32, n: usize) {
        let _ = (stream_id, n);
        todo!()
    }

    /// How many bytes `send_data` would take right now on `stream_id` (0 for closed streams).
    pub fn send_capacity(&self, stream_id: u32) -> usize {
        let _ = stream_id;
        todo!()
    }

    /// Sends a PING; the answer arrives as [`Handler::on_ping_ack`].
    pub fn send_ping(&mut self, payload: [u8; 8]) {
        let _ = payload;
        todo!()
    }

    /// Sends GOAWAY with the last stream id we processed: no new streams are accepted or opened;
    /// open streams may finish. With an error code other than NO_ERROR the connection closes at once.
    pub fn go_away(&mut self, code: ErrorCode, debug: &[u8]) {
        let _ = (code, debug);
        todo!()
    }

    /// Client role: whether `open_stream` would succeed now.
    pub fn can_open_stream(&self) -> bool {
        todo!()
    }

    /// Streams not yet closed.
    pub fn active_streams(&self) -> usize {
        todo!()
    }

    /// True once the connection is over: after a connection error, after GOAWAY both ways with no
    /// streams left, or after the peer's GOAWAY with no streams left. Write the pending output, then
    /// close the socket.
    pub fn is_closed(&self) -> bool {
        todo!()
    }
}
