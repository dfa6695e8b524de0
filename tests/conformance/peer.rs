//! The raw-frame test peer: builds frames byte by byte, parses the server's frames with its own
//! small parser and decodes its field blocks with its own HPACK decoder. Nothing here uses the
//! crate's frame or HPACK code, so a bug mirrored on both sides cannot hide.
//!
//! Writes are queued and flushed as one write right before the next read, so the frames a case
//! sends between two expectations reach the server together (as a burst from a real client
//! would); in-process that means the server handles all of them before its application runs.

use std::fmt::Write as _;
use std::time::Duration;

use crate::hpack::{self, Fields};
use crate::monitor::Monitor;
use crate::target::{Read, Transport};

// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

// Settings (RFC 9113 §6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const ENABLE_PUSH: u16 = 0x2;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const MAX_FRAME_SIZE: u16 = 0x5;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

// Error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const SETTINGS_TIMEOUT: u32 = 0x4;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The RFC name of an error code.
pub fn code_name(code: u32) -> String {
    let name = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return format!("UNKNOWN(0x{code:x})"),
    };
    name.to_string()
}

pub fn codes_text(codes: &[u32]) -> String {
    codes
        .iter()
        .map(|&c| code_name(c))
        .collect::<Vec<_>>()
        .join("|")
}

/// How a case ended other than by passing.
#[derive(Debug)]
pub enum CaseError {
    Fail(String),
    /// The target cannot run this case (for example, no MAX_CONCURRENT_STREAMS advertised).
    Skip(String),
}

impl From<String> for CaseError {
    fn from(s: String) -> Self {
        CaseError::Fail(s)
    }
}

pub type R = Result<(), CaseError>;

/// One frame from the server.
#[derive(Clone, Debug)]
pub struct Frame {
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
    /// For the frame that completes a field block (HEADERS/CONTINUATION/PUSH_PROMISE with
    /// END_HEADERS): the decoded fields, or why they could not be decoded.
    pub fields: Option<Result<Fields, String>>,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Frame {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        match self.ty {
            RST_STREAM if self.payload.len() >= 4 => Some(be32(&self.payload)),
            GOAWAY if self.payload.len() >= 8 => Some(be32(&self.payload[4..])),
            _ => None,
        }
    }

    pub fn goaway_last_stream(&self) -> Option<u32> {
        (self.ty == GOAWAY && self.payload.len() >= 8).then(|| be32(&self.payload) & 0x7fff_ffff)
    }

    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), be32(&c[2..])))
            .collect()
    }

    /// `:status` of a decoded response field block.
    pub fn status(&self) -> Option<u16> {
        let fields = self.fields.as_ref()?.as_ref().ok()?;
        let (_, v) = fields.iter().find(|(n, _)| n == b":status")?;
        std::str::from_utf8(v).ok()?.parse().ok()
    }

    /// Whether this frame ends `stream` (END_STREAM on HEADERS or DATA).
    pub fn ends(&self, stream: u32) -> bool {
        self.stream == stream && (self.ty == DATA || self.ty == HEADERS) && self.has(END_STREAM)
    }

    pub fn describe(&self) -> String {
        let mut flags = Vec::new();
        let f = self.flags;
        match self.ty {
            DATA | HEADERS => {
                if f & END_STREAM != 0 {
                    flags.push("END_STREAM");
                }
                if self.ty == HEADERS && f & END_HEADERS != 0 {
                    flags.push("END_HEADERS");
                }
                if f & PADDED != 0 {
                    flags.push("PADDED");
                }
            }
            CONTINUATION | PUSH_PROMISE if f & END_HEADERS != 0 => flags.push("END_HEADERS"),
            SETTINGS | PING if f & ACK != 0 => flags.push("ACK"),
            _ => {}
        }
        let flags = flags.join("|");
        let status = match self.status() {
            Some(s) => format!(", :status={s}"),
            None => match &self.fields {
                Some(Err(e)) => format!(", undecodable field block: {e}"),
                _ => String::new(),
            },
        };
        let s = self.stream;
        match self.ty {
            DATA => format!(
                "DATA(stream={s}, len={}{}{flags})",
                self.payload.len(),
                sep(&flags)
            ),
            HEADERS => format!("HEADERS(stream={s}{}{flags}{status})", sep(&flags)),
            PRIORITY => format!("PRIORITY(stream={s})"),
            RST_STREAM => format!(
                "RST_STREAM(stream={s}, {})",
                self.error_code().map_or("malformed".into(), code_name)
            ),
            SETTINGS if self.has(ACK) => "SETTINGS(ACK)".into(),
            SETTINGS => {
                let list: Vec<String> = self
                    .settings()
                    .iter()
                    .map(|(id, v)| format!("0x{id:x}={v}"))
                    .collect();
                format!("SETTINGS({})", list.join(", "))
            }
            PUSH_PROMISE => format!("PUSH_PROMISE(stream={s}{}{flags})", sep(&flags)),
            PING => format!("PING({flags}{}{:02x?})", sep(&flags), self.payload),
            GOAWAY => format!(
                "GOAWAY(last_stream={}, {}, debug={:?})",
                self.goaway_last_stream().unwrap_or(0),
                self.error_code().map_or("malformed".into(), code_name),
                String::from_utf8_lossy(self.payload.get(8..).unwrap_or_default())
            ),
            WINDOW_UPDATE => format!(
                "WINDOW_UPDATE(stream={s}, +{})",
                if self.payload.len() >= 4 {
                    be32(&self.payload) & 0x7fff_ffff
                } else {
                    0
                }
            ),
            CONTINUATION => format!("CONTINUATION(stream={s}{}{flags}{status})", sep(&flags)),
            t => format!(
                "UNKNOWN(type=0x{t:x}, stream={s}, len={})",
                self.payload.len()
            ),
        }
    }
}

fn sep(flags: &str) -> &'static str {
    if flags.is_empty() { "" } else { ", " }
}

/// Describes frames we send, for the trace.
fn describe_sent(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> String {
    let f = Frame {
        ty,
        flags,
        stream,
        payload: payload.to_vec(),
        fields: None,
    };
    if flags == 0 {
        f.describe()
    } else {
        format!("{} [flags=0x{flags:02x}]", f.describe())
    }
}

/// What the next read produced.
pub enum Event {
    Frame(Frame),
    Closed,
    Timeout,
}

/// The client side of one connection under test.
pub struct Peer {
    t: Box<dyn Transport>,
    pub timeout: Duration,
    pub in_process: bool,
    pub authority: String,
    pub scheme: String,
    out: Vec<u8>,
    rbuf: Vec<u8>,
    closed: bool,
    /// The transport reported bytes it cannot carry (see `Read::Garbled`).
    garbled: bool,
    decoder: hpack::Decoder,
    /// A server field block still waiting for CONTINUATION frames.
    partial_block: Option<Vec<u8>>,
    /// The server's SETTINGS, in order received.
    pub server_settings: Vec<(u16, u32)>,
    trace: Vec<String>,
    monitor: Monitor,
    /// SETTINGS_HEADER_TABLE_SIZE carried by each SETTINGS frame we sent, and how many of them
    /// the server acknowledged: our decoder applies the value at its acknowledgement.
    table_size_settings: Vec<Option<u32>>,
    settings_acks: usize,
}

impl Peer {
    pub fn new(
        t: Box<dyn Transport>,
        timeout: Duration,
        in_process: bool,
        authority: String,
        scheme: &str,
    ) -> Peer {
        Peer {
            t,
            timeout,
            in_process,
            authority,
            scheme: scheme.to_string(),
            out: Vec::new(),
            rbuf: Vec::new(),
            closed: false,
            garbled: false,
            decoder: hpack::Decoder::default(),
            partial_block: None,
            server_settings: Vec::new(),
            trace: Vec::new(),
            monitor: Monitor::default(),
            table_size_settings: Vec::new(),
            settings_acks: 0,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Failure reporting
    // -----------------------------------------------------------------------------------------

    /// A failure with the frame trace appended.
    pub fn fail(&self, msg: impl AsRef<str>) -> CaseError {
        let mut s = msg.as_ref().to_string();
        let start = self.trace.len().saturating_sub(40);
        s.push_str("\n    trace (> sent, < received):");
        if start > 0 {
            let _ = write!(s, "\n      ... {start} earlier entries");
        }
        for t in &self.trace[start..] {
            let _ = write!(s, "\n      {t}");
        }
        CaseError::Fail(s)
    }

    /// Rules the server broke in its own frames (see `monitor.rs`).
    pub fn violations(&self) -> &[String] {
        self.monitor.violations()
    }

    /// The whole trace (for `H2EDGE_CONFORMANCE_TRACE=1`).
    pub fn trace_text(&self) -> String {
        let mut s = String::new();
        for t in &self.trace {
            let _ = write!(s, "\n      {t}");
        }
        s
    }

    pub fn note(&mut self, what: impl Into<String>) {
        self.trace.push(format!("# {}", what.into()));
    }

    // -----------------------------------------------------------------------------------------
    // Writing
    // -----------------------------------------------------------------------------------------

    /// Queues raw bytes (flushed before the next read).
    pub fn send_raw(&mut self, bytes: &[u8], what: &str) {
        self.trace
            .push(format!("> raw {what} ({} bytes)", bytes.len()));
        self.out.extend_from_slice(bytes);
    }

    /// Queues one frame. `stream` may carry the reserved bit (0x8000_0000).
    pub fn send_frame(&mut self, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len();
        assert!(len < 1 << 24, "frame too long for the 24-bit length field");
        if self.trace.len() < 100_000 {
            self.trace.push(format!(
                "> {}",
                describe_sent(ty, flags, stream & 0x7fff_ffff, payload)
            ));
        }
        self.out
            .extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, ty, flags]);
        self.out.extend_from_slice(&stream.to_be_bytes());
        self.out.extend_from_slice(payload);
        self.monitor.on_sent(ty, flags, stream, payload);
        if ty == SETTINGS && flags & ACK == 0 {
            let size = payload
                .chunks_exact(6)
                .filter(|c| u16::from_be_bytes([c[0], c[1]]) == HEADER_TABLE_SIZE)
                .map(|c| u32::from_be_bytes([c[2], c[3], c[4], c[5]]))
                .next_back();
            self.table_size_settings.push(size);
        }
    }

    /// Sends everything queued now.
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.t.write(&out);
        }
    }

    pub fn preface(&mut self) {
        self.send_raw(h2edge::h2::conn::PREFACE, "client connection preface");
    }

    pub fn settings(&mut self, settings: &[(u16, u32)]) {
        let mut p = Vec::new();
        for &(id, v) in settings {
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&v.to_be_bytes());
        }
        self.send_frame(SETTINGS, 0, 0, &p);
    }

    pub fn settings_ack(&mut self) {
        self.send_frame(SETTINGS, ACK, 0, &[]);
    }

    pub fn ping(&mut self, data: [u8; 8]) {
        self.send_frame(PING, 0, 0, &data);
    }

    pub fn headers(&mut self, stream: u32, flags: u8, block: &[u8]) {
        self.send_frame(HEADERS, flags, stream, block);
    }

    /// HEADERS with PADDED: `pad` zero octets of padding.
    pub fn headers_padded(&mut self, stream: u32, flags: u8, block: &[u8], pad: u8) {
        let mut p = vec![pad];
        p.extend_from_slice(block);
        p.extend(std::iter::repeat_n(0u8, pad as usize));
        self.send_frame(HEADERS, flags | PADDED, stream, &p);
    }

    /// HEADERS with the (deprecated) PRIORITY fields.
    pub fn headers_priority(
        &mut self,
        stream: u32,
        flags: u8,
        (dep, exclusive, weight): (u32, bool, u8),
        block: &[u8],
    ) {
        let mut p = priority_fields(dep, exclusive, weight).to_vec();
        p.extend_from_slice(block);
        self.send_frame(HEADERS, flags | PRIORITY_FLAG, stream, &p);
    }

    pub fn continuation(&mut self, stream: u32, flags: u8, block: &[u8]) {
        self.send_frame(CONTINUATION, flags, stream, block);
    }

    pub fn data(&mut self, stream: u32, flags: u8, data: &[u8]) {
        self.send_frame(DATA, flags, stream, data);
    }

    pub fn data_padded(&mut self, stream: u32, flags: u8, data: &[u8], pad: u8) {
        let mut p = vec![pad];
        p.extend_from_slice(data);
        p.extend(std::iter::repeat_n(0u8, pad as usize));
        self.send_frame(DATA, flags | PADDED, stream, &p);
    }

    pub fn priority(&mut self, stream: u32, dep: u32, exclusive: bool, weight: u8) {
        self.send_frame(
            PRIORITY,
            0,
            stream,
            &priority_fields(dep, exclusive, weight),
        );
    }

    pub fn rst_stream(&mut self, stream: u32, code: u32) {
        self.send_frame(RST_STREAM, 0, stream, &code.to_be_bytes());
    }

    pub fn goaway(&mut self, last_stream: u32, code: u32, debug: &[u8]) {
        let mut p = last_stream.to_be_bytes().to_vec();
        p.extend_from_slice(&code.to_be_bytes());
        p.extend_from_slice(debug);
        self.send_frame(GOAWAY, 0, 0, &p);
    }

    pub fn window_update(&mut self, stream: u32, increment: u32) {
        self.send_frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
    }

    pub fn push_promise(&mut self, stream: u32, flags: u8, promised: u32, block: &[u8]) {
        let mut p = promised.to_be_bytes().to_vec();
        p.extend_from_slice(block);
        self.send_frame(PUSH_PROMISE, flags, stream, &p);
    }

    // -----------------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------------

    /// `:method`, `:scheme`, `:path`, `:authority`.
    pub fn request_fields(&self, method: &str, path: &str) -> Vec<(String, String)> {
        vec![
            (":method".into(), method.into()),
            (":scheme".into(), self.scheme.clone()),
            (":path".into(), path.into()),
            (":authority".into(), self.authority.clone()),
        ]
    }

    /// A field block for `method path` plus `extra` fields, as plain literals.
    pub fn request_block(&self, method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut fields = self.request_fields(method, path);
        fields.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        hpack::encode_plain(&fields)
    }

    /// GET / with END_STREAM|END_HEADERS.
    pub fn get(&mut self, stream: u32) {
        self.request(stream, "GET", "/", END_STREAM | END_HEADERS);
    }

    /// A request head with `flags`.
    pub fn request(&mut self, stream: u32, method: &str, path: &str, flags: u8) {
        let block = self.request_block(method, path, &[]);
        self.headers(stream, flags, &block);
    }

    /// POST / without END_STREAM (the body follows).
    pub fn post(&mut self, stream: u32) {
        self.request(stream, "POST", "/", END_HEADERS);
    }

    /// `n` header fields `x-dummyI: xxxx...` of 4000-octet values (like h2spec's dummy headers).
    pub fn dummy_block(n: usize) -> Vec<u8> {
        let value = "x".repeat(4000);
        let fields: Vec<(String, String)> = (0..n)
            .map(|i| (format!("x-dummy{i}"), value.clone()))
            .collect();
        hpack::encode_plain(&fields)
    }

    // -----------------------------------------------------------------------------------------
    // Reading
    // -----------------------------------------------------------------------------------------

    /// The next frame from the server, or Closed / Timeout.
    pub fn next_event(&mut self) -> Event {
        self.flush();
        loop {
            if let Some(frame) = self.parse_frame() {
                if self.trace.len() < 100_000 {
                    self.trace.push(format!("< {}", frame.describe()));
                }
                return Event::Frame(frame);
            }
            if self.closed {
                return Event::Closed;
            }
            match self.t.read(self.timeout) {
                Read::Data(d) => self.rbuf.extend_from_slice(&d),
                Read::Closed => {
                    self.closed = true;
                    self.trace.push(if self.rbuf.is_empty() {
                        "< connection closed".into()
                    } else {
                        format!("< connection closed ({} trailing bytes)", self.rbuf.len())
                    });
                }
                Read::Garbled => {
                    self.closed = true;
                    self.garbled = true;
                    self.trace
                        .push("< bytes outside the TLS record layer".into());
                }
                Read::Timeout => {
                    self.trace
                        .push("< (timeout: nothing more from the server)".into());
                    return Event::Timeout;
                }
            }
        }
    }

    /// After the close: what the server sent that was no HTTP/2 frame, if anything (an HTTP/1.1
    /// answer reads as a frame header announcing megabytes, then the connection ends).
    pub fn broken_output(&self) -> Option<String> {
        if self.garbled {
            return Some("bytes outside the TLS record layer".into());
        }
        (!self.rbuf.is_empty())
            .then(|| format!("{} bytes that are no whole frame", self.rbuf.len()))
    }

    fn parse_frame(&mut self) -> Option<Frame> {
        if self.rbuf.len() < 9 {
            return None;
        }
        let len = (usize::from(self.rbuf[0]) << 16)
            | (usize::from(self.rbuf[1]) << 8)
            | usize::from(self.rbuf[2]);
        if self.rbuf.len() < 9 + len {
            return None;
        }
        let ty = self.rbuf[3];
        let flags = self.rbuf[4];
        let stream = be32(&self.rbuf[5..9]) & 0x7fff_ffff;
        let payload = self.rbuf[9..9 + len].to_vec();
        self.rbuf.drain(..9 + len);
        let mut frame = Frame {
            ty,
            flags,
            stream,
            payload,
            fields: None,
        };
        if frame.ty == SETTINGS && frame.has(ACK) {
            let acked = self
                .table_size_settings
                .get(self.settings_acks)
                .copied()
                .flatten();
            self.settings_acks += 1;
            if let Some(size) = acked {
                self.decoder.set_limit(size as usize);
            }
        }
        self.track_field_block(&mut frame);
        self.monitor.on_received(&frame);
        Some(frame)
    }

    /// Keeps our HPACK decoder in step with the server's encoder.
    fn track_field_block(&mut self, frame: &mut Frame) {
        let fragment: Option<Vec<u8>> = match frame.ty {
            HEADERS | PUSH_PROMISE => {
                let p = &frame.payload;
                let mut start = 0;
                let mut end = p.len();
                if frame.has(PADDED) {
                    let pad = usize::from(*p.first().unwrap_or(&0));
                    start = 1;
                    end = end.saturating_sub(pad);
                }
                if frame.ty == HEADERS && frame.has(PRIORITY_FLAG) {
                    start += 5;
                }
                if frame.ty == PUSH_PROMISE {
                    start += 4;
                }
                Some(p.get(start..end.max(start)).unwrap_or_default().to_vec())
            }
            CONTINUATION => Some(frame.payload.clone()),
            _ => None,
        };
        let Some(fragment) = fragment else { return };
        let mut block = if frame.ty == CONTINUATION {
            self.partial_block.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        block.extend_from_slice(&fragment);
        if frame.has(END_HEADERS) {
            frame.fields = Some(self.decoder.decode(&block));
        } else {
            self.partial_block = Some(block);
        }
    }

    /// Reads frames until the server's first SETTINGS (the server preface) and our SETTINGS'
    /// acknowledgement; acknowledges the server's SETTINGS. Sends our preface and SETTINGS
    /// (INITIAL_WINDOW_SIZE = 65535, like h2spec) first.
    pub fn handshake(&mut self) -> R {
        self.preface();
        self.settings(&[(INITIAL_WINDOW_SIZE, 65535)]);
        let (mut remote, mut local) = (false, false);
        while !(remote && local) {
            match self.next_event() {
                Event::Frame(f) if f.ty == SETTINGS && !f.has(ACK) => {
                    self.server_settings.extend(f.settings());
                    self.settings_ack();
                    remote = true;
                }
                Event::Frame(f) if f.ty == SETTINGS => local = true,
                Event::Frame(f) if f.ty == GOAWAY => {
                    return Err(self.fail(format!("handshake: server sent {}", f.describe())));
                }
                Event::Frame(_) => {}
                Event::Closed => return Err(self.fail("handshake: connection closed")),
                Event::Timeout => {
                    return Err(self.fail(format!(
                        "handshake: timed out (server SETTINGS seen: {remote}, ACK of ours seen: {local})"
                    )));
                }
            }
        }
        self.note("handshake done");
        Ok(())
    }

    /// The last value the server advertised for `id`.
    pub fn server_setting(&self, id: u16) -> Option<u32> {
        self.server_settings
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|&(_, v)| v)
    }

    pub fn server_max_frame_size(&self) -> usize {
        self.server_setting(MAX_FRAME_SIZE).unwrap_or(16_384) as usize
    }

    pub fn advance_clock(&mut self, by: Duration) -> bool {
        self.flush();
        self.note(format!("server clock advanced by {by:?}"));
        self.t.advance_clock(by)
    }
}

fn priority_fields(dep: u32, exclusive: bool, weight: u8) -> [u8; 5] {
    let d = (dep & 0x7fff_ffff) | if exclusive { 0x8000_0000 } else { 0 };
    let b = d.to_be_bytes();
    [b[0], b[1], b[2], b[3], weight]
}
