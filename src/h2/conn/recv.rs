//! The receive path: the frame loop and every frame type but the header blocks (see `headers.rs`).

use super::stream::client_initiated;
use super::{CloseReason, Connection, Handler, Limit, Role, settings};
use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::{
    self, Data, Frame, GoAway, HEAD_LEN, Head, Setting, Settings, WindowUpdate, flag, kind,
};

type Res = Result<(), ErrorCode>;

/// Where a stream id stands for a frame other than HEADERS (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// In the table: open or half-closed.
    Active,
    /// Never opened.
    Idle,
    /// Closed; how, if it is still remembered.
    Closed(Option<CloseReason>),
}

impl Connection {
    /// Handles whole frames from `input` until it runs out, `max_frames_per_recv` is reached or the
    /// connection closes. Returns the bytes used.
    pub(super) fn recv_frames(&mut self, input: &[u8], handler: &mut impl Handler) -> usize {
        let mut pos = 0;
        let mut frames = 0u32;
        while !self.closed && frames < self.config.limits.max_frames_per_recv {
            let buf = input.get(pos..).unwrap_or(&[]);
            let result = match frame::decode(buf, self.config.max_frame_size) {
                Ok(None) => break,
                Ok(Some((f, len))) => {
                    pos += len;
                    self.on_frame(f, handler)
                }
                Err(e) => match e.error {
                    H2Error::Connection(code) => Err(code),
                    H2Error::Stream { id, code } => {
                        pos += e.frame_len;
                        let raw = buf.get(..e.frame_len).unwrap_or(&[]);
                        self.on_stream_frame_error(e.head, raw, id, code, handler)
                    }
                },
            };
            frames += 1;
            if let Err(code) = result {
                self.connection_error(code, debug_for(code));
            }
        }
        pos
    }

    fn on_frame(&mut self, f: Frame<'_>, handler: &mut impl Handler) -> Res {
        if self.pending_block.is_some() && !matches!(f, Frame::Continuation(_)) {
            // §6.2: nothing may come between the frames of a header block.
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        if !self.peer.received && !matches!(f, Frame::Settings(s) if !s.ack) {
            // §3.4: the peer's preface ends with a SETTINGS frame.
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        match f {
            Frame::Data(d) => self.on_data(d, handler),
            Frame::Headers(h) => self.on_headers_frame(
                h.stream_id,
                h.end_stream,
                h.end_headers,
                h.fragment,
                None,
                handler,
            ),
            // §5.3.2: priority signals are ignored, on any stream, and do not open idle ones.
            Frame::Priority(_) => Ok(()),
            Frame::RstStream(r) => self.on_rst_stream(r.stream_id, r.code, handler),
            Frame::Settings(s) => self.on_settings(s, handler),
            // §8.4: a client never pushes, and as a client we sent ENABLE_PUSH=0 (§6.6).
            Frame::PushPromise(_) => Err(ErrorCode::PROTOCOL_ERROR),
            Frame::Ping(p) => {
                if p.ack {
                    if p.payload == super::SHUTDOWN_PING && self.final_goaway_at.is_some() {
                        // The client has seen our first GOAWAY: the final one may go now.
                        self.final_goaway();
                    } else {
                        handler.on_ping_ack(p.payload);
                    }
                    Ok(())
                } else {
                    frame::encode_ping(&mut self.out, true, p.payload);
                    self.queued_control()
                }
            }
            Frame::GoAway(g) => self.on_goaway(g, handler),
            Frame::WindowUpdate(w) => self.on_window_update(w, handler),
            Frame::Continuation(c) => {
                self.on_continuation(c.stream_id, c.end_headers, c.fragment, handler)
            }
            Frame::Unknown(_) => Ok(()),
        }
    }

    /// A frame the codec found to carry a stream error.
    fn on_stream_frame_error(
        &mut self,
        head: Head,
        raw: &[u8],
        id: u32,
        code: ErrorCode,
        handler: &mut impl Handler,
    ) -> Res {
        if self.pending_block.is_some() && head.kind != kind::CONTINUATION {
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        if !self.peer.received {
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        if head.kind == kind::HEADERS {
            // The block must still be decoded to keep the HPACK context in step.
            let Some(fragment) = headers_fragment(head, raw) else {
                return Err(ErrorCode::PROTOCOL_ERROR);
            };
            return self.on_headers_frame(
                id,
                head.has(flag::END_STREAM),
                head.has(flag::END_HEADERS),
                fragment,
                Some(code),
                handler,
            );
        }
        match self.classify(id) {
            Class::Active => self.stream_error(id, code, handler),
            Class::Closed(Some(CloseReason::ResetByUs)) => Ok(()),
            Class::Idle if head.kind != kind::PRIORITY => Err(ErrorCode::PROTOCOL_ERROR),
            Class::Idle | Class::Closed(_) => self.reset_inactive(id, code),
        }
    }

    fn classify(&self, id: u32) -> Class {
        if self.streams.contains(id) {
            return Class::Active;
        }
        let peer_initiated = match self.role {
            Role::Server => client_initiated(id),
            Role::Client => !client_initiated(id),
        };
        let closed = if peer_initiated {
            id <= self.highest_peer_id
        } else {
            id < self.next_local_id
        };
        if closed && peer_initiated && self.goaway_sent.is_some_and(|last| id > last) {
            // Opened after our GOAWAY and ignored (§6.8): so are its other frames.
            return Class::Closed(Some(CloseReason::ResetByUs));
        }
        if closed {
            Class::Closed(self.streams.closed_reason(id))
        } else {
            Class::Idle
        }
    }

    /// A stream error on a stream that is not active (idle or closed): RST_STREAM, counted as a
    /// pending control frame but not against the reset budget, since no work is cancelled.
    fn reset_inactive(&mut self, id: u32, code: ErrorCode) -> Res {
        frame::encode_rst_stream(&mut self.out, id, code);
        self.queued_control()
    }

    /// A stream error (§5.4.2) on an active stream, or on one the peer is opening: RST_STREAM with
    /// `code`; the stream closes and, if the application knew it, hears of it through `on_reset`.
    /// Counts against the reset budget (MadeYouReset).
    pub(super) fn stream_error(
        &mut self,
        id: u32,
        code: ErrorCode,
        handler: &mut impl Handler,
    ) -> Res {
        frame::encode_rst_stream(&mut self.out, id, code);
        if self.drop_stream(id, CloseReason::ResetByUs) {
            handler.on_reset(id, code, false);
        } else {
            self.streams.remember(id, CloseReason::ResetByUs);
        }
        self.queued_control()?;
        self.count_reset()
    }

    fn on_data(&mut self, d: Data<'_>, handler: &mut impl Handler) -> Res {
        let id = d.stream_id;
        if d.data.is_empty() && !d.end_stream {
            if self.empty.empty(self.config.limits.max_empty_frames) {
                return Err(self.trip(Limit::EmptyFrames));
            }
        } else {
            self.empty.progress();
        }
        let class = self.classify(id);
        if class == Class::Idle {
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        // Every DATA frame counts against the connection window, whatever its stream (§6.9).
        if !self.recv_flow.receive(d.flow_len) {
            return Err(ErrorCode::FLOW_CONTROL_ERROR);
        }
        let flow = u64::from(d.flow_len);
        let error = match (class, self.streams.get_mut(id)) {
            (Class::Active, Some(s)) => {
                if !s.can_recv() {
                    Some(ErrorCode::STREAM_CLOSED)
                } else if !s.recv.receive(d.flow_len) {
                    Some(ErrorCode::FLOW_CONTROL_ERROR)
                } else if !s.recv_head_done {
                    // Client role: DATA before the final response head.
                    Some(ErrorCode::PROTOCOL_ERROR)
                } else {
                    s.received = s.received.saturating_add(d.data.len() as u64);
                    let length_bad = s
                        .content_length
                        .is_some_and(|n| s.received > n || (d.end_stream && s.received != n));
                    if length_bad {
                        Some(ErrorCode::PROTOCOL_ERROR)
                    } else {
                        None
                    }
                }
            }
            _ => None,
        };
        if class != Class::Active || error.is_some() {
            // Never delivered: give it back to the connection window at once.
            self.recv_flow.release_undelivered(flow);
            self.flush_connection_window();
            return match (class, error) {
                (_, Some(code)) => self.stream_error(id, code, handler),
                // §5.1: frames in flight after our RST_STREAM are ignored; so are frames on streams
                // we no longer remember (their DATA cannot make any more work for us).
                (Class::Closed(Some(CloseReason::ResetByUs)) | Class::Closed(None), _) => Ok(()),
                _ => self.reset_inactive(id, ErrorCode::STREAM_CLOSED),
            };
        }
        // Padding is released at once; the data when the application says so.
        let padding = flow - d.data.len() as u64;
        if self.config.connection_window_on_receipt {
            self.recv_flow.release_undelivered(flow);
        } else {
            self.recv_flow.release_undelivered(padding);
            self.recv_flow.deliver(d.data.len());
        }
        if let Some(s) = self.streams.get_mut(id) {
            s.recv.release_undelivered(padding);
            s.recv.deliver(d.data.len());
            if padding > 0 && !d.end_stream {
                let threshold = u64::from(self.config.initial_window_size / 2);
                if let Some(inc) = s.recv.take_update(threshold) {
                    frame::encode_window_update(&mut self.out, id, inc);
                }
            }
        }
        self.flush_connection_window();
        handler.on_data(id, d.data, d.end_stream);
        if d.end_stream {
            self.close_remote(id);
        }
        Ok(())
    }

    fn on_rst_stream(&mut self, id: u32, code: ErrorCode, handler: &mut impl Handler) -> Res {
        match self.classify(id) {
            Class::Idle => Err(ErrorCode::PROTOCOL_ERROR),
            Class::Closed(_) => Ok(()),
            Class::Active => {
                self.drop_stream(id, CloseReason::ResetByPeer);
                handler.on_reset(id, code, true);
                self.count_reset()
            }
        }
    }

    fn on_window_update(&mut self, w: WindowUpdate, handler: &mut impl Handler) -> Res {
        let per_data = self.config.limits.max_window_updates_per_data_frame;
        if self.window_updates.received(per_data) {
            return Err(self.trip(Limit::WindowUpdates));
        }
        let id = w.stream_id;
        if id == 0 {
            if self.send_window.increase(w.increment).is_err() {
                return Err(ErrorCode::FLOW_CONTROL_ERROR);
            }
            handler.on_window_update(0);
            return Ok(());
        }
        match self.classify(id) {
            Class::Idle => Err(ErrorCode::PROTOCOL_ERROR),
            // §6.9: WINDOW_UPDATE may arrive after END_STREAM or RST_STREAM; ignore it.
            Class::Closed(_) => Ok(()),
            Class::Active => {
                let overflow = self
                    .streams
                    .get_mut(id)
                    .is_some_and(|s| s.send.increase(w.increment).is_err());
                if overflow {
                    return self.stream_error(id, ErrorCode::FLOW_CONTROL_ERROR, handler);
                }
                handler.on_window_update(id);
                Ok(())
            }
        }
    }

    fn on_settings(&mut self, s: Settings<'_>, handler: &mut impl Handler) -> Res {
        if s.ack {
            self.on_settings_ack();
            return Ok(());
        }
        if !self.peer.received {
            self.peer.received = true;
            // No limit unless the peer sets one (§6.5.2).
            self.peer.max_concurrent_streams = u32::MAX;
        }
        let mut grew = false;
        for setting in s.iter() {
            match setting {
                Setting::HeaderTableSize(v) => {
                    self.peer.header_table_size = v;
                    let v = v.min(settings::MAX_ENCODER_TABLE);
                    self.encoder.set_max_table_size(v as usize);
                }
                Setting::EnablePush(v) => {
                    if v == 1 && self.role == Role::Client {
                        // §6.5.2: a server must not send 1.
                        return Err(ErrorCode::PROTOCOL_ERROR);
                    }
                    self.peer.enable_push = v == 1;
                }
                Setting::MaxConcurrentStreams(v) => self.peer.max_concurrent_streams = v,
                Setting::InitialWindowSize(v) => {
                    let delta = i64::from(v) - i64::from(self.peer.initial_window_size);
                    self.peer.initial_window_size = v;
                    for st in self.streams.iter_mut() {
                        if st.send.adjust(delta).is_err() {
                            return Err(ErrorCode::FLOW_CONTROL_ERROR);
                        }
                    }
                    grew |= delta > 0;
                }
                Setting::MaxFrameSize(v) => self.peer.max_frame_size = v,
                Setting::MaxHeaderListSize(v) => self.peer.max_header_list_size = v,
                Setting::EnableConnectProtocol(v) => self.peer.enable_connect_protocol = v == 1,
                Setting::Unknown(..) => {}
            }
        }
        frame::encode_settings_ack(&mut self.out);
        self.queued_control()?;
        if grew {
            let mut id = None;
            while let Some(next) = self.streams.next_id(id) {
                handler.on_window_update(next);
                id = Some(next);
            }
        }
        handler.on_settings();
        Ok(())
    }

    /// The peer acknowledged our SETTINGS: our values are in force.
    fn on_settings_ack(&mut self) {
        if self.settings_acked {
            return;
        }
        self.settings_acked = true;
        self.settings_deadline = None;
        self.decoder
            .set_max_table_size(self.config.header_table_size as usize);
        // Streams opened before the ACK started with 65,535 if that was larger than ours.
        let ours = i64::from(self.config.initial_window_size);
        let default = i64::from(settings::DEFAULT_WINDOW);
        if ours < default {
            for s in self.streams.iter_mut() {
                s.recv.adjust(ours - default);
            }
        }
    }

    fn on_goaway(&mut self, g: GoAway<'_>, handler: &mut impl Handler) -> Res {
        let last = match self.goaway_received {
            Some(prev) => prev.min(g.last_stream_id),
            None => g.last_stream_id,
        };
        self.goaway_received = Some(last);
        handler.on_goaway(g.last_stream_id, g.code, g.debug);
        // Streams we opened above `last` were not processed: they are refused (§6.8).
        while let Some(id) = self.streams.last_id() {
            let ours = match self.role {
                Role::Client => client_initiated(id),
                Role::Server => !client_initiated(id),
            };
            if !ours || id <= last {
                break;
            }
            self.drop_stream(id, CloseReason::ResetByPeer);
            handler.on_reset(id, ErrorCode::REFUSED_STREAM, true);
        }
        Ok(())
    }
}

/// The header block fragment of a raw HEADERS frame (padding and priority fields removed).
fn headers_fragment(head: Head, raw: &[u8]) -> Option<&[u8]> {
    let mut rest = raw.get(HEAD_LEN..)?;
    if head.has(flag::PADDED) {
        let (&pad, r) = rest.split_first()?;
        rest = r.get(..r.len().checked_sub(pad as usize)?)?;
    }
    if head.has(flag::PRIORITY) {
        rest = rest.get(5..)?;
    }
    Some(rest)
}

/// A short GOAWAY debug text for the limits we enforce.
fn debug_for(code: ErrorCode) -> &'static [u8] {
    match code {
        ErrorCode::ENHANCE_YOUR_CALM => b"limit exceeded",
        _ => b"",
    }
}
