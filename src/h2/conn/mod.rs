//! The HTTP/2 connection state machine, for both roles (RFC 9113 §3–§8).
//!
//! Sans-IO: [`Connection::recv`] takes bytes read from the peer and reports what they mean through a
//! [`Handler`]; commands (`send_headers`, `send_data`, `reset`, ...) queue frames; the I/O shell takes
//! [`Connection::pending_output`] and writes it, once per loop turn. Time is passed in.
//!
//! The server role faces clients, the client role faces upstreams; both run on the same code.
//!
//! Layout: `mod.rs` holds the API and the shared plumbing, `recv.rs` the frame loop, `headers.rs`
//! header block assembly and what a block means, `stream.rs` the stream table and states (§5.1),
//! `flow.rs` the windows (§5.2, §6.9), `settings.rs` SETTINGS, `validate.rs` message rules (§8),
//! `limits.rs` the abuse budgets.
//!
//! How limits and errors are answered:
//! - A decoded header list over `max_header_list_size` or `max_header_fields`: the server role answers
//!   `431` with END_STREAM (plus RST_STREAM(NO_ERROR) if the request was still open, §8.1); the client
//!   role resets the stream with PROTOCOL_ERROR and reports `on_reset(.., false)`. The block is decoded
//!   in full either way, to keep the HPACK context in step. More than
//!   `max_rejected_headers_per_window` such requests per `reset_window`: GOAWAY ENHANCE_YOUR_CALM.
//! - An encoded block over `max_header_list_size` + [`HEADER_BLOCK_SLACK`], or more than
//!   `max_continuation_frames` CONTINUATION frames: GOAWAY ENHANCE_YOUR_CALM (the block is not kept).
//! - Too many resets, pending control frames or consecutive empty frames: GOAWAY ENHANCE_YOUR_CALM.
//! - A connection error queues GOAWAY with the last peer stream id we processed and closes the
//!   connection: every stream is dropped without `on_reset` (the application sees
//!   [`Connection::is_closed`]).
//! - A stream error queues RST_STREAM; `on_reset(.., false)` tells the application if it knew the
//!   stream (it got its head, or opened it).

mod flow;
mod headers;
mod limits;
mod recv;
mod settings;
mod stream;
mod validate;

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::h2::error::ErrorCode;
use crate::h2::fields::{FieldList, SendField};
use crate::h2::frame::{self, MAX_WINDOW, Setting};
use crate::h2::hpack::{self, Decoder, Encoder};

use flow::{RecvFlow, SendWindow};
pub use limits::Limit;
use settings::DEFAULT_WINDOW;
pub use settings::PeerSettings;
use stream::{CloseReason, State, Stream, Streams};

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
    /// Give the connection window back as DATA arrives, not when the application releases it.
    /// What the application holds is then bounded by the stream windows alone, and one stream
    /// whose bytes cannot move on never stalls the others: the gateway's upstream connections,
    /// which many clients share, run this way.
    pub connection_window_on_receipt: bool,
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
    ///
    /// Counted: every RST_STREAM the peer sends on a stream we know, and every RST_STREAM we send
    /// because of the peer's frames (stream errors, refused streams, a `431` that cuts a request
    /// short). Resets the application orders with [`Connection::reset`] are not counted.
    pub max_resets_per_window: u32,
    /// The window of `max_resets_per_window` and `max_rejected_headers_per_window`: a fixed window
    /// that starts at the first event counted, measured with the `now` passed to [`Connection::recv`].
    pub reset_window: Duration,
    /// Requests answered `431` (header list over our limits) per `reset_window` before GOAWAY
    /// ENHANCE_YOUR_CALM: each costs a full HPACK decode, so a peer repeating HPACK bombs would
    /// otherwise keep a core busy for as long as it likes.
    pub max_rejected_headers_per_window: u32,
    /// Control frames (SETTINGS ACK, PING ACK, RST_STREAM) we may have queued and not yet written
    /// before we stop reading and send GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9512/9514/9515).
    ///
    /// Each frame counts until [`Connection::advance_output`] has taken the bytes up to its end; `431`
    /// responses to oversized requests count too.
    pub max_pending_control_frames: u32,
    /// Consecutive DATA frames with no data and no END_STREAM, or HEADERS with empty blocks,
    /// before GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9518).
    pub max_empty_frames: u32,
    /// WINDOW_UPDATE frames the peer may send per DATA frame we sent (plus a slack of 1,000 for
    /// the connection's life) before GOAWAY ENHANCE_YOUR_CALM: a reader needs about two per DATA
    /// frame (stream and connection); a flood of tiny increments only costs us CPU (Envoy's
    /// `max_inbound_window_update_frames_per_data_frame_sent`, 10).
    pub max_window_updates_per_data_frame: u32,
    /// Frames handled per `recv` call; the rest waits for the next loop turn so one peer cannot
    /// starve the others on its core.
    pub max_frames_per_recv: u32,
    /// DATA the connection queues for the peer beyond what the writer has taken: [`send_data`]
    /// takes no more than this allows, even when the peer's window is larger, so a slow reader
    /// costs this much memory and the sender upstream is held back by flow control instead.
    ///
    /// [`send_data`]: Connection::send_data
    pub max_buffered_output: usize,
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
            connection_window_on_receipt: false,
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
            max_rejected_headers_per_window: 16,
            max_pending_control_frames: 1000,
            max_empty_frames: 100,
            max_window_updates_per_data_frame: 10,
            max_frames_per_recv: 512,
            max_buffered_output: 256 << 10,
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
    /// The peer sent GOAWAY: streams above `last_stream_id` that we opened were not processed. Right
    /// after this call, each of them is closed with `on_reset(id, REFUSED_STREAM, true)`: they are
    /// safe to retry on another connection.
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

/// How long the final GOAWAY of [`Connection::go_away_soon`] waits for the client to answer the
/// PING at most: about a round trip on any sane path, and short enough not to hold a drain.
pub const SHUTDOWN_PING_WAIT: Duration = Duration::from_secs(1);
/// The payload of the PING that follows a graceful shutdown's first GOAWAY.
const SHUTDOWN_PING: [u8; 8] = *b"h2e-bye!";

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Slack allowed on top of SETTINGS_MAX_HEADER_LIST_SIZE for the *encoded* size of one header block
/// (all its fragments): HPACK framing bytes and table size updates. A block larger than that is a
/// connection error ENHANCE_YOUR_CALM before it is even decoded, which bounds the assembly buffer.
pub const HEADER_BLOCK_SLACK: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Server role: this many bytes of the client preface have arrived.
    Preface(usize),
    /// Frames flow.
    Frames,
}

/// One HTTP/2 connection.
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    /// After a connection error or a GOAWAY with an error code: nothing more is read or sent.
    closed: bool,
    /// The send buffer: `out[out_pos..]` is pending.
    out: Vec<u8>,
    out_pos: usize,
    /// `send_data` took less than offered because of `max_buffered_output` (see
    /// [`Connection::take_output_room`]).
    output_full: bool,
    /// Bytes taken by the writer since the start (absolute output positions).
    out_taken: u64,
    control: limits::ControlQueue,
    decoder: Decoder,
    encoder: Encoder,
    /// The fields of the header block being delivered (reused).
    fields: FieldList,
    /// Fragments of a header block split over CONTINUATION frames (reused).
    block: Vec<u8>,
    pending_block: Option<headers::PendingBlock>,
    streams: Streams,
    peer: PeerSettings,
    /// The connection-level windows.
    send_window: SendWindow,
    recv_flow: RecvFlow,
    /// Whether the peer acknowledged our SETTINGS, and until when it may take to.
    settings_acked: bool,
    settings_deadline: Option<Instant>,
    /// The highest stream id the peer used to open a stream (§5.1.1).
    highest_peer_id: u32,
    /// The id our next stream gets.
    next_local_id: u32,
    /// The last stream id of the GOAWAY we sent / received.
    goaway_sent: Option<u32>,
    goaway_received: Option<u32>,
    /// After [`Connection::go_away_soon`]: when the final GOAWAY is due if the PING that followed
    /// the first one is not answered sooner.
    final_goaway_at: Option<Instant>,
    resets: limits::ResetBudget,
    /// Requests answered `431`, per `reset_window`.
    rejected_headers: limits::ResetBudget,
    empty: limits::EmptyFrames,
    window_updates: limits::WindowUpdates,
    /// The abuse limit the peer last tripped, until the application takes it.
    tripped: Option<Limit>,
    /// The time passed to the current `recv`.
    now: Instant,
}

impl Connection {
    /// A new connection. The client role queues the connection preface and our SETTINGS at once; the
    /// server role queues its SETTINGS and then expects the client preface.
    pub fn new(role: Role, config: &Config, now: Instant) -> Self {
        let config = settings::sanitize(config);
        let mut out = Vec::with_capacity(256);
        if role == Role::Client {
            out.extend_from_slice(PREFACE);
        }
        let mut ours = [Setting::EnablePush(0); 6];
        let n = settings::ours(&config, &mut ours);
        frame::encode_settings(&mut out, ours.get(..n).unwrap_or(&[]));
        let window = config.connection_window_size;
        if window > DEFAULT_WINDOW {
            frame::encode_window_update(&mut out, 0, window - DEFAULT_WINDOW);
        }
        Connection {
            role,
            phase: match role {
                Role::Server => Phase::Preface(0),
                Role::Client => Phase::Frames,
            },
            closed: false,
            out,
            out_pos: 0,
            output_full: false,
            out_taken: 0,
            control: limits::ControlQueue::default(),
            decoder: Decoder::new(hpack::DEFAULT_TABLE_SIZE),
            encoder: Encoder::new(hpack::DEFAULT_TABLE_SIZE),
            fields: FieldList::new(),
            block: Vec::new(),
            pending_block: None,
            streams: Streams::new(),
            peer: PeerSettings::default(),
            send_window: SendWindow::new(i64::from(DEFAULT_WINDOW)),
            recv_flow: RecvFlow::new(i64::from(window)),
            settings_acked: false,
            settings_deadline: now.checked_add(config.settings_ack_timeout),
            highest_peer_id: 0,
            next_local_id: 1,
            goaway_sent: None,
            goaway_received: None,
            final_goaway_at: None,
            resets: limits::ResetBudget::default(),
            rejected_headers: limits::ResetBudget::default(),
            empty: limits::EmptyFrames::default(),
            window_updates: limits::WindowUpdates::default(),
            tripped: None,
            now,
            config,
        }
    }

    /// Feeds bytes read from the peer. Returns how many were consumed; the rest (a partial frame, or
    /// input left over once `max_frames_per_recv` frames were handled) must be offered again, with
    /// more bytes appended. A connection error queues GOAWAY and closes the connection: the caller
    /// then writes the pending output and closes the socket.
    pub fn recv(&mut self, input: &[u8], now: Instant, handler: &mut impl Handler) -> usize {
        if self.closed {
            return input.len();
        }
        self.now = now;
        let mut pos = 0;
        if let Phase::Preface(matched) = self.phase {
            let want = PREFACE.get(matched..).unwrap_or(&[]);
            let n = want.len().min(input.len());
            if input.get(..n) != want.get(..n) {
                self.connection_error(ErrorCode::PROTOCOL_ERROR, b"bad connection preface");
                return input.len();
            }
            pos = n;
            if matched + n < PREFACE.len() {
                self.phase = Phase::Preface(matched + n);
                return pos;
            }
            self.phase = Phase::Frames;
        }
        pos += self.recv_frames(input.get(pos..).unwrap_or(&[]), handler);
        if self.closed { input.len() } else { pos }
    }

    /// True once after [`Connection::send_data`] was held back by `max_buffered_output` and the
    /// pending output has since fallen to half of it: the time to offer the held-back data again.
    pub fn take_output_room(&mut self) -> bool {
        let low = self.config.limits.max_buffered_output / 2;
        if self.output_full && self.out.len() - self.out_pos <= low {
            self.output_full = false;
            return true;
        }
        false
    }

    /// The `max_buffered_output` limit (the I/O shell applies it to its own buffers too).
    pub fn max_buffered_output(&self) -> usize {
        self.config.limits.max_buffered_output
    }

    /// Bytes ready to be written to the peer.
    pub fn pending_output(&self) -> &[u8] {
        self.out.get(self.out_pos..).unwrap_or(&[])
    }

    /// `n` bytes of [`Connection::pending_output`] were written.
    pub fn advance_output(&mut self, n: usize) {
        let n = n.min(self.out.len() - self.out_pos);
        self.out_pos += n;
        self.out_taken += n as u64;
        self.control.retire(self.out_taken);
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos >= 4096 && self.out_pos > self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }

    /// Hands [`Connection::pending_output`] over without copying: `spare` (emptied) takes the output
    /// buffer's place, and the output is `spare[range]` afterwards, counted as written.
    pub fn swap_output(&mut self, spare: &mut Vec<u8>) -> Range<usize> {
        spare.clear();
        std::mem::swap(&mut self.out, spare);
        let range = self.out_pos..spare.len();
        self.out_pos = 0;
        self.out_taken += range.len() as u64;
        self.control.retire(self.out_taken);
        range
    }

    /// The earliest time at which [`Connection::on_timeout`] must be called, if any.
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.closed || (self.settings_acked && self.final_goaway_at.is_none()) {
            return None;
        }
        let settings = self.settings_deadline.filter(|_| !self.settings_acked);
        match (settings, self.final_goaway_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles expired timers (SETTINGS acknowledgement, the final GOAWAY of a graceful shutdown).
    pub fn on_timeout(&mut self, now: Instant, handler: &mut impl Handler) {
        let _ = handler;
        if self.closed {
            return;
        }
        if !self.settings_acked && self.settings_deadline.is_some_and(|d| d <= now) {
            self.connection_error(ErrorCode::SETTINGS_TIMEOUT, b"settings not acknowledged");
            return;
        }
        if self.final_goaway_at.is_some_and(|d| d <= now) {
            self.final_goaway();
        }
    }

    /// Client role: opens a stream with a request head. Returns the new stream id.
    pub fn open_stream<'f>(
        &mut self,
        fields: impl IntoIterator<Item = impl SendField<'f>>,
        end_stream: bool,
    ) -> Result<u32, SendError> {
        if self.role != Role::Client {
            return Err(SendError::WrongRole);
        }
        if self.closed
            || self.goaway_sent.is_some()
            || self.goaway_received.is_some()
            || self.next_local_id > MAX_WINDOW
        {
            return Err(SendError::GoingAway);
        }
        if self.streams.local_count() >= self.peer.max_concurrent_streams as usize {
            return Err(SendError::TooManyStreams);
        }
        let id = self.next_local_id;
        self.next_local_id += 2;
        let mut head_request = false;
        let fields = fields
            .into_iter()
            .map(SendField::parts)
            .inspect(|&(n, v, _)| {
                if n == b":method" && v == b"HEAD" {
                    head_request = true;
                }
            });
        self.write_header_block(id, fields, end_stream);
        let mut s = Stream::new(
            id,
            true,
            i64::from(self.peer.initial_window_size),
            self.local_initial_window(),
        );
        s.sent_head_done = true;
        s.head_request = head_request;
        if end_stream {
            s.state = State::HalfClosedLocal;
        }
        self.streams.insert(s);
        Ok(id)
    }

    /// Sends a response head (server role; 1xx heads may precede the final one) on an open stream.
    pub fn send_headers<'f>(
        &mut self,
        stream_id: u32,
        fields: impl IntoIterator<Item = impl SendField<'f>>,
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::WrongRole);
        }
        if self.closed {
            return Err(SendError::GoingAway);
        }
        match self.streams.get(stream_id) {
            Some(s) if s.can_send() && !s.sent_head_done => {}
            _ => return Err(SendError::StreamClosed),
        }
        let mut informational = false;
        let fields = fields
            .into_iter()
            .map(SendField::parts)
            .inspect(|&(n, v, _)| {
                if n == b":status" && v.first() == Some(&b'1') {
                    informational = true;
                }
            });
        self.write_header_block(stream_id, fields, end_stream);
        if let Some(s) = self.streams.get_mut(stream_id) {
            s.sent_head_done = !informational;
        }
        if end_stream {
            self.close_local(stream_id);
        }
        Ok(())
    }

    /// Sends as much of `data` as the stream and connection send windows and `max_buffered_output`
    /// allow (split into frames of the peer's max frame size) and returns how many bytes were taken.
    /// END_STREAM is set only if all of `data` was taken. When fewer bytes were taken, wait for
    /// [`Handler::on_window_update`], or for [`Connection::take_output_room`] once output is written.
    ///
    /// An empty `data` with `end_stream` always goes out (flow control does not apply to it). Before
    /// the final response head (server role) it fails with `StreamClosed`.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        if self.closed {
            return Err(SendError::GoingAway);
        }
        let room = self.output_room();
        let Some(s) = self.streams.get_mut(stream_id) else {
            return Err(SendError::StreamClosed);
        };
        // A body before the final head would be malformed: refuse it like a closed stream.
        if !s.can_send() || !s.sent_head_done {
            return Err(SendError::StreamClosed);
        }
        let n = data
            .len()
            .min(s.send.available())
            .min(self.send_window.available());
        if room < n {
            self.output_full = true;
        }
        let n = n.min(room);
        s.send.consume(n);
        self.send_window.consume(n);
        let end = end_stream && n == data.len();
        let max = (self.peer.max_frame_size as usize).max(1);
        let taken = data.get(..n).unwrap_or(&[]);
        self.window_updates
            .data_sent(taken.len().div_ceil(max).max(1) as u64);
        let mut chunks = taken.chunks(max).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            frame::encode_data(&mut self.out, stream_id, chunk, end && last);
        }
        if taken.is_empty() && end {
            frame::encode_data(&mut self.out, stream_id, &[], true);
        }
        if end {
            self.close_local(stream_id);
        }
        Ok(n)
    }

    /// Sends trailers, ending the stream. Before the final response head (server role) it fails with
    /// `StreamClosed`.
    pub fn send_trailers<'f>(
        &mut self,
        stream_id: u32,
        fields: impl IntoIterator<Item = impl SendField<'f>>,
    ) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::GoingAway);
        }
        match self.streams.get(stream_id) {
            Some(s) if s.can_send() && s.sent_head_done => {}
            _ => return Err(SendError::StreamClosed),
        }
        self.write_header_block(stream_id, fields.into_iter(), true);
        self.close_local(stream_id);
        Ok(())
    }

    /// Resets a stream with RST_STREAM. Resetting an unknown or closed stream does nothing.
    ///
    /// Resets ordered by the application do not count against `max_resets_per_window`.
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        if self.closed || !self.streams.contains(stream_id) {
            return;
        }
        frame::encode_rst_stream(&mut self.out, stream_id, code);
        self.drop_stream(stream_id, CloseReason::ResetByUs);
    }

    /// Drops a stream without telling the peer: for a connection that is going away, whose close
    /// will end the stream on the peer's side. Frames that still arrive on it are ignored.
    pub fn forget(&mut self, stream_id: u32) {
        if !self.closed {
            self.drop_stream(stream_id, CloseReason::ResetByUs);
        }
    }

    /// The caller has finished with `n` received bytes of `stream_id`: reopen that much of the stream
    /// and connection receive windows. WINDOW_UPDATE frames are coalesced: one is sent once the
    /// released amount reaches a useful fraction of the window.
    ///
    /// After a stream has closed its bytes still go back to the connection window (capped by what was
    /// delivered and not yet released); the bytes a reset stream still held are given back to the
    /// connection window automatically when it is reset.
    pub fn release_capacity(&mut self, stream_id: u32, n: usize) {
        if self.closed || n == 0 {
            return;
        }
        let taken = match self.streams.get_mut(stream_id) {
            Some(s) => {
                let taken = s.recv.release(n);
                if s.can_recv() {
                    let threshold = u64::from(self.config.initial_window_size / 2);
                    if let Some(inc) = s.recv.take_update(threshold) {
                        frame::encode_window_update(&mut self.out, stream_id, inc);
                    }
                }
                taken
            }
            None => n as u64,
        };
        if !self.config.connection_window_on_receipt {
            self.recv_flow
                .release(usize::try_from(taken).unwrap_or(usize::MAX));
            self.flush_connection_window();
            self.settle_idle();
        }
    }

    /// How many bytes `send_data` would take right now on `stream_id` (0 for closed streams).
    pub fn send_capacity(&self, stream_id: u32) -> usize {
        if self.closed {
            return 0;
        }
        match self.streams.get(stream_id) {
            Some(s) if s.can_send() => s
                .send
                .available()
                .min(self.send_window.available())
                .min(self.output_room()),
            _ => 0,
        }
    }

    /// How much DATA the peer lets us send now on all streams together (the connection's send
    /// window).
    pub fn send_window(&self) -> usize {
        self.send_window.available()
    }

    /// How much more DATA `max_buffered_output` lets the connection queue.
    fn output_room(&self) -> usize {
        (self.config.limits.max_buffered_output).saturating_sub(self.out.len() - self.out_pos)
    }

    /// Sends a PING; the answer arrives as [`Handler::on_ping_ack`].
    pub fn send_ping(&mut self, payload: [u8; 8]) {
        if !self.closed {
            frame::encode_ping(&mut self.out, false, payload);
        }
    }

    /// Sends GOAWAY with the last stream id we processed: no new streams are accepted or opened;
    /// open streams may finish. With an error code other than NO_ERROR the connection closes at once.
    pub fn go_away(&mut self, code: ErrorCode, debug: &[u8]) {
        if self.closed {
            return;
        }
        let last = self.last_processed_id();
        frame::encode_goaway(&mut self.out, last, code, debug);
        self.goaway_sent = Some(last);
        if code != ErrorCode::NO_ERROR {
            self.close();
        }
    }

    /// Starts a graceful shutdown (RFC 9113 §6.8): GOAWAY with the highest stream id and NO_ERROR,
    /// so the client stops opening streams while those already on the wire are still processed,
    /// then a PING. Its answer proves the client has seen the GOAWAY, so the final GOAWAY (with the
    /// last stream id processed) follows it, or [`SHUTDOWN_PING_WAIT`] after `now` at the latest
    /// (through [`Connection::on_timeout`]). The client role has no streams to warn about: its
    /// final GOAWAY goes at once.
    pub fn go_away_soon(&mut self, now: Instant) {
        if self.is_going_away() {
            return;
        }
        if self.role == Role::Client {
            self.go_away(ErrorCode::NO_ERROR, b"");
            return;
        }
        frame::encode_goaway(&mut self.out, MAX_WINDOW, ErrorCode::NO_ERROR, b"");
        frame::encode_ping(&mut self.out, false, SHUTDOWN_PING);
        self.final_goaway_at = Some(now.checked_add(SHUTDOWN_PING_WAIT).unwrap_or(now));
    }

    /// Whether a GOAWAY was sent (or a graceful shutdown started) or the connection is closed.
    pub fn is_going_away(&self) -> bool {
        self.closed || self.goaway_sent.is_some() || self.final_goaway_at.is_some()
    }

    /// Between the two GOAWAYs of [`Connection::go_away_soon`]: the client may still open streams.
    pub fn final_goaway_due(&self) -> bool {
        self.final_goaway_at.is_some() && !self.closed
    }

    /// The second step of [`Connection::go_away_soon`].
    fn final_goaway(&mut self) {
        if self.final_goaway_at.take().is_some() && self.goaway_sent.is_none() {
            self.go_away(ErrorCode::NO_ERROR, b"");
        }
    }

    /// Client role: whether `open_stream` would succeed now.
    pub fn can_open_stream(&self) -> bool {
        self.role == Role::Client
            && !self.closed
            && self.goaway_sent.is_none()
            && self.goaway_received.is_none()
            && self.next_local_id <= MAX_WINDOW
            && self.streams.local_count() < self.peer.max_concurrent_streams as usize
    }

    /// Streams not yet closed.
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// True once the connection is over: after a connection error, after GOAWAY both ways with no
    /// streams left, or after the peer's GOAWAY with no streams left. Write the pending output, then
    /// close the socket.
    pub fn is_closed(&self) -> bool {
        self.closed
            || ((self.goaway_sent.is_some() || self.goaway_received.is_some())
                && self.streams.len() == 0)
    }

    /// Which side we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's settings in force.
    pub fn peer_settings(&self) -> PeerSettings {
        self.peer
    }

    /// Whether the peer acknowledged our SETTINGS.
    pub fn settings_acked(&self) -> bool {
        self.settings_acked
    }

    /// The last stream id of the GOAWAY the peer sent, if it sent one.
    pub fn peer_goaway(&self) -> Option<u32> {
        self.goaway_received
    }

    /// The highest stream id the peer has opened (0: none yet). It moves with every stream the
    /// peer opens, so a caller comparing it sees use even of a stream that opened and ended
    /// between two looks.
    pub fn last_peer_stream(&self) -> u32 {
        self.highest_peer_id
    }

    /// When the header block still waiting for its CONTINUATION frames began (the `now` of the
    /// `recv` that brought its HEADERS); `None` when no block is open.
    pub fn header_block_since(&self) -> Option<Instant> {
        self.pending_block.map(|b| b.started)
    }

    // ---- internals shared by the submodules ----

    /// The receive window a new stream starts with: until the peer acknowledged our
    /// SETTINGS_INITIAL_WINDOW_SIZE it may still assume 65,535, so the larger of the two applies.
    fn local_initial_window(&self) -> i64 {
        let ours = i64::from(self.config.initial_window_size);
        if self.settings_acked {
            ours
        } else {
            ours.max(i64::from(DEFAULT_WINDOW))
        }
    }

    /// The last peer-initiated stream we processed, for GOAWAY (never above one already sent).
    fn last_processed_id(&self) -> u32 {
        match self.goaway_sent {
            Some(sent) => sent.min(self.highest_peer_id),
            None => self.highest_peer_id,
        }
    }

    /// Encodes a header block straight into the output and frames it for the peer's max frame size.
    fn write_header_block<'f>(
        &mut self,
        stream_id: u32,
        fields: impl Iterator<Item = impl SendField<'f>>,
        end_stream: bool,
    ) {
        let start = self.out.len();
        self.encoder
            .encode(fields.map(SendField::parts), &mut self.out);
        frame::encode_header_block(
            &mut self.out,
            start,
            stream_id,
            end_stream,
            self.peer.max_frame_size,
        );
    }

    /// We sent END_STREAM on a stream.
    fn close_local(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(id) else {
            return;
        };
        match s.state {
            State::Open => s.state = State::HalfClosedLocal,
            State::HalfClosedRemote | State::HalfClosedLocal => {
                self.streams.remove(id, CloseReason::Ended);
                self.settle_idle();
            }
        }
    }

    /// The peer sent END_STREAM on a stream.
    fn close_remote(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(id) else {
            return;
        };
        match s.state {
            State::Open => s.state = State::HalfClosedRemote,
            State::HalfClosedLocal | State::HalfClosedRemote => {
                self.streams.remove(id, CloseReason::Ended);
                self.settle_idle();
            }
        }
    }

    /// Removes a reset stream and gives the bytes its application still held back to the connection
    /// window. Returns whether the stream was in the table.
    fn drop_stream(&mut self, id: u32, reason: CloseReason) -> bool {
        let Some(mut s) = self.streams.remove(id, reason) else {
            return false;
        };
        let held = s.recv.release_all();
        if !self.config.connection_window_on_receipt {
            self.recv_flow
                .release(usize::try_from(held).unwrap_or(usize::MAX));
            self.flush_connection_window();
        }
        self.settle_idle();
        true
    }

    /// Sends a connection WINDOW_UPDATE once enough has been released (half the window).
    fn flush_connection_window(&mut self) {
        let threshold = u64::from(self.config.connection_window_size / 2);
        if let Some(inc) = self.recv_flow.take_update(threshold) {
            frame::encode_window_update(&mut self.out, 0, inc);
        }
    }

    /// The last stream just closed: announce all the credit released so far, so that an idle
    /// connection offers the peer its whole window (and the peer can see that nothing was lost).
    fn settle_idle(&mut self) {
        if self.streams.len() == 0 {
            if let Some(inc) = self.recv_flow.take_update(1) {
                frame::encode_window_update(&mut self.out, 0, inc);
            }
        }
    }

    /// A control frame the peer made us queue was just appended: count it against
    /// `max_pending_control_frames`.
    fn queued_control(&mut self) -> Result<(), ErrorCode> {
        let end = self.out_taken + (self.out.len() - self.out_pos) as u64;
        let pending = self.control.push(end);
        if pending > self.config.limits.max_pending_control_frames as usize {
            return Err(self.trip(Limit::ControlFrames));
        }
        Ok(())
    }

    /// Counts a reset (received, or sent because of the peer's error) against the budget.
    fn count_reset(&mut self) -> Result<(), ErrorCode> {
        let l = &self.config.limits;
        if self
            .resets
            .record(self.now, l.max_resets_per_window, l.reset_window)
        {
            return Err(self.trip(Limit::Resets));
        }
        Ok(())
    }

    /// The peer tripped abuse limit `limit`: the connection error it gets.
    fn trip(&mut self, limit: Limit) -> ErrorCode {
        self.tripped = Some(limit);
        ErrorCode::ENHANCE_YOUR_CALM
    }

    /// The abuse limit the peer tripped since the last call, if it did (its connection then got
    /// GOAWAY ENHANCE_YOUR_CALM, or its request `431`).
    pub fn take_tripped_limit(&mut self) -> Option<Limit> {
        self.tripped.take()
    }

    /// A connection error: GOAWAY with `code`, then nothing more.
    fn connection_error(&mut self, code: ErrorCode, debug: &[u8]) {
        if self.closed {
            return;
        }
        let last = self.last_processed_id();
        frame::encode_goaway(&mut self.out, last, code, debug);
        self.goaway_sent = Some(last);
        self.close();
    }

    fn close(&mut self) {
        self.closed = true;
        self.pending_block = None;
        while let Some(id) = self.streams.next_id(None) {
            self.streams.remove(id, CloseReason::ResetByUs);
        }
    }
}

#[cfg(test)]
mod tests;
