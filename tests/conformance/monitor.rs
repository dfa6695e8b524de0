//! Checks every frame the server sends, in every case, against the rules RFC 9113 sets for a
//! sender: frame layout, stream states, flow-control windows, field block sequencing and
//! response validity. A case that got the reaction it wanted still fails if the server broke
//! one of these on the way (h2spec checks none of this).
//!
//! Every rule is one the server cannot satisfy by accident of timing: windows use the largest
//! SETTINGS_INITIAL_WINDOW_SIZE the server could have in effect (acknowledged or in flight).

use std::collections::{HashMap, HashSet};

use crate::hpack::{self, Fields};
use crate::peer::*;

#[derive(Default)]
struct Stream {
    // What the client did.
    client_used: bool,
    client_ended: bool,
    head_method: Option<bool>,
    wu: u64,
    // What the server did.
    server_ended: bool,
    server_reset: bool,
    final_status: Option<u16>,
    content_length: Option<u64>,
    /// Content octets (padding removed) and flow-controlled octets (padding included).
    data: u64,
    flow: u64,
}

/// The checker. `on_sent` sees our frames, `on_received` the server's.
pub struct Monitor {
    streams: HashMap<u32, Stream>,
    violations: Vec<String>,
    /// INITIAL_WINDOW_SIZE after each of our SETTINGS frames (index 0: the default).
    iws: Vec<u64>,
    settings_acked: usize,
    conn_wu: u64,
    conn_data: u64,
    pings_sent: HashSet<Vec<u8>>,
    /// Our own field blocks, decoded with a mirror of the server's decoder (to learn methods).
    client_block: Option<(u32, Vec<u8>)>,
    client_decoder: Option<hpack::Decoder>,
    /// A server field block waiting for CONTINUATION: its stream.
    server_block: Option<u32>,
    last_goaway: Option<u32>,
    error_goaway: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            streams: HashMap::new(),
            violations: Vec::new(),
            iws: vec![65_535],
            settings_acked: 0,
            conn_wu: 0,
            conn_data: 0,
            pings_sent: HashSet::new(),
            client_block: None,
            client_decoder: Some(hpack::Decoder::default()),
            server_block: None,
            last_goaway: None,
            error_goaway: false,
        }
    }
}

/// Pad Length handling shared by DATA/HEADERS/PUSH_PROMISE: the payload without padding, or
/// None if the padding does not fit.
fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let pad = usize::from(*payload.first()?);
    if pad >= payload.len() {
        return None;
    }
    Some(&payload[1..payload.len() - pad])
}

fn valid_name(n: &[u8]) -> bool {
    !n.is_empty()
        && n.iter()
            .all(|&c| c > 0x20 && !(0x41..=0x5a).contains(&c) && c < 0x7f && c != b':')
}

fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n')
        && !matches!(v.first(), Some(b' ' | b'\t'))
        && !matches!(v.last(), Some(b' ' | b'\t'))
}

const CONNECTION_SPECIFIC: [&[u8]; 6] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
    b"te",
];

impl Monitor {
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    fn violation(&mut self, msg: String) {
        if self.violations.len() < 20 && !self.violations.contains(&msg) {
            self.violations.push(msg);
        }
    }

    fn stream(&mut self, id: u32) -> &mut Stream {
        self.streams.entry(id).or_default()
    }

    /// The largest INITIAL_WINDOW_SIZE the server may be using: the last acknowledged value or
    /// any sent since.
    fn max_iws(&self) -> u64 {
        let from = self.settings_acked.min(self.iws.len() - 1);
        self.iws[from..].iter().copied().max().unwrap_or(65_535)
    }

    // -----------------------------------------------------------------------------------------
    // Our frames
    // -----------------------------------------------------------------------------------------

    pub fn on_sent(&mut self, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
        let stream = stream & 0x7fff_ffff;
        if stream != 0 {
            let s = self.stream(stream);
            s.client_used = true;
            if (ty == DATA || ty == HEADERS) && flags & END_STREAM != 0 {
                s.client_ended = true;
            }
        }
        match ty {
            SETTINGS if flags & ACK == 0 => {
                let mut iws = *self.iws.last().unwrap_or(&65_535);
                for c in payload.chunks_exact(6) {
                    if u16::from_be_bytes([c[0], c[1]]) == INITIAL_WINDOW_SIZE {
                        iws = u64::from(u32::from_be_bytes([c[2], c[3], c[4], c[5]]));
                    }
                }
                self.iws.push(iws);
            }
            WINDOW_UPDATE if payload.len() == 4 => {
                let inc = u64::from(
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff,
                );
                if stream == 0 {
                    self.conn_wu += inc;
                } else {
                    self.stream(stream).wu += inc;
                }
            }
            PING if flags & ACK == 0 => {
                self.pings_sent.insert(payload.to_vec());
            }
            HEADERS => {
                let Some(mut p) = unpad(flags, payload) else {
                    self.client_decoder = None;
                    return;
                };
                if flags & PRIORITY_FLAG != 0 {
                    p = p.get(5..).unwrap_or_default();
                }
                self.client_block = Some((stream, p.to_vec()));
                if flags & END_HEADERS != 0 {
                    self.decode_client_block();
                }
            }
            CONTINUATION => {
                if let Some((_, b)) = &mut self.client_block {
                    b.extend_from_slice(payload);
                }
                if flags & END_HEADERS != 0 {
                    self.decode_client_block();
                }
            }
            _ => {}
        }
    }

    fn decode_client_block(&mut self) {
        let Some((stream, block)) = self.client_block.take() else {
            return;
        };
        let Some(dec) = &mut self.client_decoder else {
            return;
        };
        match dec.decode(&block) {
            Ok(fields) => {
                let method = fields.iter().find(|(n, _)| n == b":method");
                if let Some((_, m)) = method {
                    let head = m == b"HEAD";
                    let s = self.stream(stream);
                    s.head_method.get_or_insert(head);
                }
            }
            // Our deliberately broken blocks: the server's decoder state is now unknown to us.
            Err(_) => self.client_decoder = None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // The server's frames
    // -----------------------------------------------------------------------------------------

    pub fn on_received(&mut self, f: &Frame) {
        let what = f.describe();
        if self.error_goaway && f.ty != GOAWAY {
            self.violation(format!(
                "{what} after GOAWAY with an error code (RFC 9113 §5.4.1: the endpoint MUST \
                 close the connection after sending it)"
            ));
        }
        if f.payload.len() > 16_384 {
            self.violation(format!(
                "{what}: longer than our SETTINGS_MAX_FRAME_SIZE 16384 (RFC 9113 §4.2)"
            ));
        }
        let interleaved = self
            .server_block
            .filter(|&s| f.ty != CONTINUATION || f.stream != s);
        if let Some(s) = interleaved {
            self.violation(format!(
                "{what} inside a field block on stream {s} (RFC 9113 §4.3: field blocks MUST \
                 be transmitted as a contiguous sequence of frames)"
            ));
            self.server_block = None;
        }
        let needs_stream = matches!(
            f.ty,
            DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
        );
        if needs_stream && f.stream == 0 {
            self.violation(format!("{what} on stream 0 (RFC 9113 §6)"));
            return;
        }
        if matches!(f.ty, SETTINGS | PING | GOAWAY) && f.stream != 0 {
            self.violation(format!("{what} on a stream other than 0 (RFC 9113 §6)"));
            return;
        }
        match f.ty {
            SETTINGS => self.check_settings(f, &what),
            PING => {
                if f.payload.len() != 8 {
                    self.violation(format!("{what}: PING length must be 8 (§6.7)"));
                } else if f.has(ACK) && !self.pings_sent.contains(&f.payload) {
                    self.violation(format!(
                        "{what}: PING ACK for a PING we never sent (§6.7: MUST NOT respond to \
                         PING frames with ACK)"
                    ));
                }
            }
            GOAWAY => self.check_goaway(f, &what),
            WINDOW_UPDATE => {
                if f.payload.len() != 4 {
                    self.violation(format!("{what}: length must be 4 (§6.9)"));
                } else if u32::from_be_bytes([
                    f.payload[0],
                    f.payload[1],
                    f.payload[2],
                    f.payload[3],
                ]) & 0x7fff_ffff
                    == 0
                {
                    self.violation(format!("{what}: increment 0 (§6.9)"));
                }
                if f.stream != 0 {
                    self.check_stream_frame(f, &what);
                }
            }
            PRIORITY if f.payload.len() != 5 => {
                self.violation(format!("{what}: length must be 5 (§6.3)"));
            }
            RST_STREAM => {
                if f.payload.len() != 4 {
                    self.violation(format!("{what}: length must be 4 (§6.4)"));
                }
                self.check_stream_frame(f, &what);
                self.stream(f.stream).server_reset = true;
            }
            DATA => self.check_data(f, &what),
            HEADERS | CONTINUATION | PUSH_PROMISE => self.check_field_block(f, &what),
            _ => {}
        }
    }

    fn check_settings(&mut self, f: &Frame, what: &str) {
        if f.has(ACK) {
            if !f.payload.is_empty() {
                self.violation(format!("{what}: SETTINGS ACK with a payload (§6.5)"));
            }
            self.settings_acked += 1;
            if self.settings_acked >= self.iws.len() {
                self.violation(format!(
                    "{what}: more SETTINGS ACKs than SETTINGS sent (§6.5.3)"
                ));
            }
            return;
        }
        if f.payload.len() % 6 != 0 {
            self.violation(format!("{what}: length not a multiple of 6 (§6.5)"));
        }
        for (id, v) in f.settings() {
            let bad = match id {
                ENABLE_PUSH => v != 0,
                INITIAL_WINDOW_SIZE => v > 0x7fff_ffff,
                MAX_FRAME_SIZE => !(16_384..=16_777_215).contains(&v),
                _ => false,
            };
            if bad {
                self.violation(format!(
                    "{what}: invalid value for setting 0x{id:x} (§6.5.2)"
                ));
            }
        }
    }

    fn check_goaway(&mut self, f: &Frame, what: &str) {
        let (Some(last), Some(code)) = (f.goaway_last_stream(), f.error_code()) else {
            self.violation(format!("{what}: GOAWAY shorter than 8 octets (§6.8)"));
            return;
        };
        if let Some(prev) = self.last_goaway.filter(|&prev| last > prev) {
            self.violation(format!(
                "{what}: last stream id increased from {prev} (§6.8: Endpoints MUST NOT increase \
                 the value they send in the last stream identifier)"
            ));
        }
        self.last_goaway = Some(last);
        if code != NO_ERROR {
            self.error_goaway = true;
        }
    }

    /// Frames on a stream: the client must have used it, and the server must not have closed
    /// its side in a way that forbids this frame.
    fn check_stream_frame(&mut self, f: &Frame, what: &str) {
        let s = self.stream(f.stream);
        let mut v = None;
        if !s.client_used {
            v = Some(format!(
                "{what}: stream {} was never used by the client (idle; §5.1)",
                f.stream
            ));
        } else if s.server_reset && f.ty != RST_STREAM {
            v = Some(format!(
                "{what}: after the server's own RST_STREAM (§6.4: RST_STREAM is the last frame \
                 an endpoint can send on a stream)"
            ));
        } else if s.server_ended && (f.ty == DATA || f.ty == HEADERS) {
            v = Some(format!(
                "{what}: after the server's END_STREAM (§5.1 half-closed (local): only \
                 WINDOW_UPDATE, PRIORITY and RST_STREAM)"
            ));
        }
        if let Some(v) = v {
            self.violation(v);
        }
    }

    fn check_data(&mut self, f: &Frame, what: &str) {
        self.check_stream_frame(f, what);
        let content = unpad(f.flags, &f.payload).map(<[u8]>::len);
        if content.is_none() {
            self.violation(format!("{what}: padding longer than the payload (§6.1)"));
        }
        let len = f.payload.len() as u64;
        let max_iws = self.max_iws();
        self.conn_data += len;
        if self.conn_data > 65_535 + self.conn_wu {
            self.violation(format!(
                "{what}: connection flow-control window exceeded ({} octets sent, window \
                 65535 + {} granted; §6.9.1)",
                self.conn_data, self.conn_wu
            ));
        }
        let s = self.stream(f.stream);
        s.data += content.unwrap_or(0) as u64;
        s.flow += len;
        let (flow, granted, no_head) = (s.flow, max_iws + s.wu, s.final_status.is_none());
        if f.has(END_STREAM) {
            s.server_ended = true;
        }
        if flow > granted {
            self.violation(format!(
                "{what}: stream flow-control window exceeded ({flow} octets sent, at most \
                 {granted} granted; §6.9.1)"
            ));
        }
        if no_head {
            self.violation(format!("{what}: DATA before the response HEADERS (§8.1)"));
        }
        if f.has(END_STREAM) {
            self.check_content_length(f.stream, what);
        }
    }

    fn check_content_length(&mut self, stream: u32, what: &str) {
        let s = self.stream(stream);
        let (Some(cl), Some(status)) = (s.content_length, s.final_status) else {
            return;
        };
        if s.head_method != Some(false) || status == 204 || status == 304 {
            return;
        }
        if cl != s.data {
            let data = s.data;
            self.violation(format!(
                "{what}: content-length {cl} but {data} octets of DATA (§8.1.1: malformed response)"
            ));
        }
    }

    fn check_field_block(&mut self, f: &Frame, what: &str) {
        if f.ty == PUSH_PROMISE {
            self.check_stream_frame(f, what);
            let promised = unpad(f.flags, &f.payload)
                .filter(|p| p.len() >= 4)
                .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff);
            if let Some(id) = promised {
                self.stream(id).client_used = true;
            }
            if !f.has(END_HEADERS) {
                self.server_block = Some(f.stream);
            }
            return;
        }
        if f.ty == HEADERS {
            self.check_stream_frame(f, what);
            if unpad(f.flags, &f.payload).is_none() {
                self.violation(format!("{what}: padding longer than the payload (§6.2)"));
            }
            if f.has(END_STREAM) {
                self.stream(f.stream).server_ended = true;
            }
        } else if self.server_block.is_none() {
            self.violation(format!(
                "{what}: CONTINUATION without a preceding HEADERS/PUSH_PROMISE lacking \
                 END_HEADERS (§6.10)"
            ));
        }
        if !f.has(END_HEADERS) {
            self.server_block = Some(f.stream);
            return;
        }
        self.server_block = None;
        match &f.fields {
            Some(Ok(fields)) => {
                let fields = fields.clone();
                // The flags that matter are those of the HEADERS frame that began the block;
                // for a CONTINUATION, END_STREAM was recorded on that HEADERS already.
                let end = self.stream(f.stream).server_ended;
                self.check_response(f.stream, &fields, end, what);
            }
            Some(Err(e)) => {
                self.violation(format!(
                    "{what}: field block the peer's HPACK decoder rejects: {e} (RFC 7541)"
                ));
            }
            None => {}
        }
    }

    fn check_response(&mut self, stream: u32, fields: &Fields, end: bool, what: &str) {
        let mut v: Vec<String> = Vec::new();
        let mut regular_seen = false;
        let mut statuses = Vec::new();
        for (n, val) in fields {
            if n.first() == Some(&b':') {
                if regular_seen {
                    v.push("pseudo-header field after a regular field (§8.3)".into());
                }
                if n == b":status" {
                    statuses.push(val.clone());
                } else {
                    v.push(format!(
                        "pseudo-header {} in a response (§8.3)",
                        String::from_utf8_lossy(n)
                    ));
                }
                continue;
            }
            regular_seen = true;
            if !valid_name(n) {
                v.push(format!(
                    "invalid field name {:?} (§8.2.1)",
                    String::from_utf8_lossy(n)
                ));
            }
            if !valid_value(val) {
                v.push(format!(
                    "invalid value for {} (§8.2.1)",
                    String::from_utf8_lossy(n)
                ));
            }
            if CONNECTION_SPECIFIC.contains(&n.as_slice()) {
                v.push(format!(
                    "connection-specific field {} (§8.2.2)",
                    String::from_utf8_lossy(n)
                ));
            }
        }
        let s = self.stream(stream);
        if s.final_status.is_some() {
            // Trailers.
            if !statuses.is_empty() {
                v.push("pseudo-header field in trailers (§8.1)".into());
            }
            if !end {
                v.push("trailers without END_STREAM (§8.1)".into());
            }
        } else {
            let status = match statuses.as_slice() {
                [one] => std::str::from_utf8(one)
                    .ok()
                    .filter(|s| s.len() == 3)
                    .and_then(|s| s.parse::<u16>().ok()),
                _ => None,
            };
            match status {
                None => v.push(format!(
                    "response without exactly one valid :status ({} found; §8.3.2)",
                    statuses.len()
                )),
                Some(101) => v.push("status 101 is not allowed in HTTP/2 (§8.6)".into()),
                Some(st) if (100..200).contains(&st) => {
                    if end {
                        v.push("informational response with END_STREAM (§8.1)".into());
                    }
                }
                Some(st) => {
                    s.final_status = Some(st);
                    s.content_length = fields
                        .iter()
                        .find(|(n, _)| n == b"content-length")
                        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok());
                }
            }
        }
        for m in v {
            self.violation(format!("{what}: {m}"));
        }
        if end {
            self.check_content_length(stream, what);
        }
    }
}
