//! Receiving header blocks: HEADERS + CONTINUATION assembly (RFC 9113 §4.3, §6.2, §6.10), HPACK
//! decoding under the header list limits, and what each block means for its stream (§5.1, §8.1).
//!
//! A block that fits in one HEADERS frame is decoded straight from the input; a split one is copied
//! into the connection's reused `block` buffer, bounded by `max_header_list_size` +
//! [`HEADER_BLOCK_SLACK`] encoded bytes and `max_continuation_frames` frames (both connection errors
//! ENHANCE_YOUR_CALM when exceeded). Every block is decoded in full, whatever becomes of its stream,
//! so that the HPACK context stays in step with the peer's.

use std::time::Instant;

use super::stream::client_initiated;
use super::{
    CloseReason, Connection, HEADER_BLOCK_SLACK, Handler, Limit, Role, State, Stream, validate,
};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::hpack::Decoder;

/// What a header block is for, decided when its first frame arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// The peer opens a new stream with it (server role).
    New,
    /// A stream in the table: trailers, or a response head in the client role.
    Existing,
    /// Decoded for the HPACK context, then dropped: a stream we reset, or one opened after our GOAWAY.
    Ignore,
}

/// A header block whose CONTINUATION frames are still arriving.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingBlock {
    pub stream_id: u32,
    pub end_stream: bool,
    pub target: Target,
    /// A stream error the HEADERS frame itself carried (a self-dependency, §5.3.1).
    pub forced: Option<ErrorCode>,
    pub continuations: u32,
    /// When its HEADERS frame arrived (see [`Connection::header_block_since`]).
    pub started: Instant,
}

type Res = Result<(), ErrorCode>;

impl Connection {
    /// A HEADERS frame (its fragment with padding and priority removed). `forced` is a stream error
    /// found while parsing it; the block is still decoded.
    pub(super) fn on_headers_frame(
        &mut self,
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        fragment: &[u8],
        forced: Option<ErrorCode>,
        handler: &mut impl Handler,
    ) -> Res {
        self.note_fragment(fragment)?;
        let target = self.header_target(stream_id)?;
        let block = PendingBlock {
            stream_id,
            end_stream,
            target,
            forced,
            continuations: 0,
            started: self.now,
        };
        if end_headers {
            if fragment.len() > self.max_block_len() {
                return Err(self.trip(Limit::HeaderBlock));
            }
            return self.finish_block(block, fragment, handler);
        }
        self.block.clear();
        self.append_fragment(fragment)?;
        self.pending_block = Some(block);
        Ok(())
    }

    /// A CONTINUATION frame: only valid right after a HEADERS/CONTINUATION of the same stream
    /// without END_HEADERS (§6.10).
    pub(super) fn on_continuation(
        &mut self,
        stream_id: u32,
        end_headers: bool,
        fragment: &[u8],
        handler: &mut impl Handler,
    ) -> Res {
        let Some(mut block) = self.pending_block else {
            return Err(ErrorCode::PROTOCOL_ERROR);
        };
        if block.stream_id != stream_id {
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        self.note_fragment(fragment)?;
        block.continuations += 1;
        if block.continuations > self.config.limits.max_continuation_frames {
            return Err(self.trip(Limit::Continuations));
        }
        self.append_fragment(fragment)?;
        if !end_headers {
            self.pending_block = Some(block);
            return Ok(());
        }
        self.pending_block = None;
        let assembled = std::mem::take(&mut self.block);
        let result = self.finish_block(block, &assembled, handler);
        self.block = assembled;
        result
    }

    /// Empty fragments count against `max_empty_frames`.
    fn note_fragment(&mut self, fragment: &[u8]) -> Res {
        if fragment.is_empty() {
            if self.empty.empty(self.config.limits.max_empty_frames) {
                return Err(self.trip(Limit::EmptyFrames));
            }
        } else {
            self.empty.progress();
        }
        Ok(())
    }

    fn max_block_len(&self) -> usize {
        (self.config.max_header_list_size as usize).saturating_add(HEADER_BLOCK_SLACK)
    }

    fn append_fragment(&mut self, fragment: &[u8]) -> Res {
        if self.block.len() + fragment.len() > self.max_block_len() {
            return Err(self.trip(Limit::HeaderBlock));
        }
        self.block.extend_from_slice(fragment);
        Ok(())
    }

    /// Classifies the stream a HEADERS frame is for (§5.1, §5.1.1). Connection errors come out here,
    /// before any CONTINUATION is buffered.
    fn header_target(&mut self, id: u32) -> Result<Target, ErrorCode> {
        if self.streams.contains(id) {
            return Ok(Target::Existing);
        }
        let peer_parity = match self.role {
            Role::Server => client_initiated(id),
            Role::Client => !client_initiated(id),
        };
        if !peer_parity {
            // Server role: even ids are ours, and we never open any. Client role: odd ids are ours.
            return match self.role {
                Role::Client if id < self.next_local_id => self.closed_stream_headers(id, true),
                _ => Err(ErrorCode::PROTOCOL_ERROR),
            };
        }
        if self.role == Role::Client {
            // A server cannot open streams: push is disabled.
            return Err(ErrorCode::PROTOCOL_ERROR);
        }
        if id <= self.highest_peer_id {
            return self.closed_stream_headers(id, false);
        }
        self.highest_peer_id = id;
        if self.goaway_sent.is_some() {
            // §6.8: streams opened after our GOAWAY are ignored.
            return Ok(Target::Ignore);
        }
        Ok(Target::New)
    }

    /// HEADERS on a stream that is closed (§5.1): ignored if we reset it (it may have been in flight);
    /// otherwise a connection error STREAM_CLOSED. A stream we opened whose end is no longer
    /// remembered may be one we reset long ago (a backend that answers late after a stall): its
    /// frames are ignored too (§5.1 allows it), so that one late answer cannot fail every other
    /// stream on the connection. In the server role, an id below the highest that was never used
    /// breaks the ordering rule of §5.1.1: PROTOCOL_ERROR.
    fn closed_stream_headers(&self, id: u32, opened_by_us: bool) -> Result<Target, ErrorCode> {
        match self.streams.closed_reason(id) {
            Some(CloseReason::ResetByUs) => Ok(Target::Ignore),
            Some(_) => Err(ErrorCode::STREAM_CLOSED),
            None if opened_by_us => Ok(Target::Ignore),
            None => Err(ErrorCode::PROTOCOL_ERROR),
        }
    }

    /// A complete header block: decode it, then act on it.
    fn finish_block(&mut self, b: PendingBlock, block: &[u8], handler: &mut impl Handler) -> Res {
        let within = decode_block(
            &mut self.decoder,
            block,
            &mut self.fields,
            self.config.max_header_list_size,
            self.config.limits.max_header_fields,
        )?;
        let id = b.stream_id;
        if let Some(code) = b.forced {
            return match b.target {
                Target::Ignore => Ok(()),
                _ => self.stream_error(id, code, handler),
            };
        }
        match b.target {
            Target::Ignore => Ok(()),
            Target::New => self.open_peer_stream(id, b.end_stream, within, handler),
            Target::Existing => self.existing_stream_block(id, b.end_stream, within, handler),
        }
    }

    /// Server role: a request head opens stream `id`.
    fn open_peer_stream(
        &mut self,
        id: u32,
        end_stream: bool,
        within: bool,
        handler: &mut impl Handler,
    ) -> Res {
        if self.streams.peer_count() >= self.config.max_concurrent_streams as usize {
            return self.stream_error(id, ErrorCode::REFUSED_STREAM, handler);
        }
        if !within {
            return self.reject_too_large(id, end_stream);
        }
        let info = match validate::request(&self.fields) {
            Ok(info) => info,
            Err(_) => return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler),
        };
        if end_stream && info.content_length.is_some_and(|n| n != 0) {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler);
        }
        let mut s = Stream::new(
            id,
            false,
            i64::from(self.peer.initial_window_size),
            self.local_initial_window(),
        );
        s.recv_head_done = true;
        s.content_length = info.content_length;
        if end_stream {
            s.state = State::HalfClosedRemote;
        }
        self.streams.insert(s);
        handler.on_headers(id, &self.fields, end_stream);
        Ok(())
    }

    /// Server role: a request whose header list is over our limits gets `431` (RFC 6585, RFC 9113
    /// §10.5.1) and, if the client was still sending, RST_STREAM(NO_ERROR) (§8.1). Too many of them
    /// in a window is a connection error ENHANCE_YOUR_CALM.
    fn reject_too_large(&mut self, id: u32, end_stream: bool) -> Res {
        let l = &self.config.limits;
        if self
            .rejected_headers
            .record(self.now, l.max_rejected_headers_per_window, l.reset_window)
        {
            return Err(self.trip(Limit::RejectedHeaders));
        }
        let status: [(&[u8], &[u8]); 1] = [(b":status", b"431")];
        self.write_header_block(id, status.into_iter(), true);
        // Queued because of the peer's input: counted like a control frame.
        self.queued_control()?;
        if end_stream {
            self.streams.remember(id, CloseReason::Ended);
            return Ok(());
        }
        crate::h2::frame::encode_rst_stream(&mut self.out, id, ErrorCode::NO_ERROR);
        self.streams.remember(id, CloseReason::ResetByUs);
        self.queued_control()?;
        self.count_reset()
    }

    /// Trailers on any stream, or a response head (client role).
    fn existing_stream_block(
        &mut self,
        id: u32,
        end_stream: bool,
        within: bool,
        handler: &mut impl Handler,
    ) -> Res {
        let Some(s) = self.streams.get(id) else {
            return Ok(());
        };
        if !s.can_recv() {
            return self.stream_error(id, ErrorCode::STREAM_CLOSED, handler);
        }
        if !within {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler);
        }
        if s.recv_head_done {
            // Trailers: they end the stream and carry no pseudo-header fields (§8.1).
            let length_ok = s.content_length.is_none_or(|n| n == s.received);
            if !end_stream || !length_ok || validate::trailers(&self.fields).is_err() {
                return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler);
            }
            handler.on_trailers(id, &self.fields);
            self.close_remote(id);
            return Ok(());
        }
        // Client role: a response head, informational or final.
        let head_request = s.head_request;
        let info = match validate::response(&self.fields, end_stream) {
            Ok(info) => info,
            Err(_) => return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler),
        };
        if info.informational() {
            handler.on_headers(id, &self.fields, false);
            return Ok(());
        }
        // A HEAD response, 204 and 304 carry no body whatever their content-length says.
        let content_length = if head_request || info.status == 204 || info.status == 304 {
            None
        } else {
            info.content_length
        };
        if end_stream && content_length.is_some_and(|n| n != 0) {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, handler);
        }
        if let Some(s) = self.streams.get_mut(id) {
            s.recv_head_done = true;
            s.content_length = content_length;
        }
        handler.on_headers(id, &self.fields, end_stream);
        if end_stream {
            self.close_remote(id);
        }
        Ok(())
    }
}

/// Decodes a whole block into `fields` (cleared first). Returns whether the block stayed within the
/// header list size (name + value + 32 per field) and field count limits; once it did not, the rest
/// is decoded (to keep the HPACK context in step) but not stored. An HPACK error is a connection
/// COMPRESSION_ERROR.
pub(super) fn decode_block(
    decoder: &mut Decoder,
    block: &[u8],
    fields: &mut FieldList,
    max_list_size: u32,
    max_fields: u32,
) -> Result<bool, ErrorCode> {
    fields.clear();
    let mut size = 0usize;
    let mut count = 0u32;
    let mut over = false;
    let result = decoder.decode(block, |f| {
        if over {
            return;
        }
        size = size.saturating_add(f.name.len() + f.value.len() + 32);
        count = count.saturating_add(1);
        if size > max_list_size as usize || count > max_fields {
            over = true;
            fields.clear();
            return;
        }
        fields.push_field(f.name, f.value, f.never_index);
    });
    match result {
        Ok(()) => Ok(!over),
        Err(_) => Err(ErrorCode::COMPRESSION_ERROR),
    }
}
