//! The frame codec (RFC 9113 §4 and §6).
//!
//! [`decode`] parses one frame from the front of a byte buffer. Parsed frames borrow their payload from
//! that buffer: no copy and no allocation per frame. Every length, flag and stream-id rule of §6 is
//! checked here and reported with the scope and code the RFC gives it. Encoders append to a caller's
//! `Vec<u8>`, so a connection can batch every ready frame into one send buffer.
//!
//! Rules that need connection state (stream states, header block sequencing, SETTINGS values in force)
//! are the connection's job, not this module's.

mod continuation;
mod data;
mod goaway;
mod head;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod window_update;

pub use continuation::{Continuation, encode_continuation};
pub use data::{Data, encode_data, encode_data_padded};
pub use goaway::{GoAway, encode_goaway};
pub use head::{HEAD_LEN, Head, flag, kind};
pub use headers::{Headers, encode_header_block, encode_headers};
pub use ping::{Ping, encode_ping};
pub use priority::{Priority, PriorityFrame, encode_priority};
pub use push_promise::{PushPromise, encode_push_promise};
pub use rst_stream::{RstStream, encode_rst_stream};
pub use settings::{Setting, Settings, SettingsIter, encode_settings, encode_settings_ack};
pub use window_update::{MAX_WINDOW, WindowUpdate, encode_window_update};

use crate::h2::error::{ErrorCode, H2Error};

/// SETTINGS_MAX_FRAME_SIZE when the peer has not said otherwise, and its smallest legal value.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest legal SETTINGS_MAX_FRAME_SIZE (2^24 - 1).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// One parsed frame, borrowing its payload from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data(Data<'a>),
    Headers(Headers<'a>),
    Priority(PriorityFrame),
    RstStream(RstStream),
    Settings(Settings<'a>),
    PushPromise(PushPromise<'a>),
    Ping(Ping),
    GoAway(GoAway<'a>),
    WindowUpdate(WindowUpdate),
    Continuation(Continuation<'a>),
    /// A frame of a type this endpoint does not know; RFC 9113 §4.1 says to ignore it
    /// (unless it sits inside a header block, which the connection checks).
    Unknown(Head),
}

/// A frame the decoder rejected. `frame_len` is the whole frame's size (head and payload) so that a
/// caller can skip it after a stream error; after a connection error the caller stops reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub error: H2Error,
    pub head: Head,
    pub frame_len: usize,
}

/// Decodes the frame at the front of `buf`.
///
/// Returns `Ok(None)` while `buf` holds less than a whole frame, `Ok(Some((frame, len)))` with the
/// frame and the number of bytes it used, or an error. A frame longer than `max_frame_size` (the
/// SETTINGS_MAX_FRAME_SIZE we advertised) is a connection FRAME_SIZE_ERROR as soon as its head is
/// seen, without waiting for the payload (RFC 9113 §4.2).
pub fn decode(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, DecodeError> {
    let Some(head) = Head::parse(buf) else {
        return Ok(None);
    };
    let frame_len = HEAD_LEN + head.len as usize;
    let fail = |error| DecodeError {
        error,
        head,
        frame_len,
    };
    if head.len > max_frame_size {
        return Err(fail(H2Error::Connection(ErrorCode::FRAME_SIZE_ERROR)));
    }
    let Some(payload) = buf.get(HEAD_LEN..frame_len) else {
        return Ok(None);
    };
    let frame = match head.kind {
        kind::DATA => Data::parse(head, payload).map(Frame::Data),
        kind::HEADERS => Headers::parse(head, payload).map(Frame::Headers),
        kind::PRIORITY => PriorityFrame::parse(head, payload).map(Frame::Priority),
        kind::RST_STREAM => RstStream::parse(head, payload).map(Frame::RstStream),
        kind::SETTINGS => Settings::parse(head, payload).map(Frame::Settings),
        kind::PUSH_PROMISE => PushPromise::parse(head, payload).map(Frame::PushPromise),
        kind::PING => Ping::parse(head, payload).map(Frame::Ping),
        kind::GOAWAY => GoAway::parse(head, payload).map(Frame::GoAway),
        kind::WINDOW_UPDATE => WindowUpdate::parse(head, payload).map(Frame::WindowUpdate),
        kind::CONTINUATION => Continuation::parse(head, payload).map(Frame::Continuation),
        _ => Ok(Frame::Unknown(head)),
    };
    match frame {
        Ok(frame) => Ok(Some((frame, frame_len))),
        Err(error) => Err(fail(error)),
    }
}

/// A connection-level PROTOCOL_ERROR, the most common verdict of §6.
pub(crate) const fn conn_err(code: ErrorCode) -> H2Error {
    H2Error::Connection(code)
}

/// Strips padding (RFC 9113 §6.1, §6.2, §6.6): `payload` starts with the pad length byte when PADDED is
/// set. Padding that reaches past the payload is a connection PROTOCOL_ERROR.
pub(crate) fn strip_padding(head: Head, payload: &[u8]) -> Result<&[u8], H2Error> {
    if head.flags & flag::PADDED == 0 {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
    };
    let pad = pad as usize;
    if pad > rest.len() {
        return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
    }
    Ok(&rest[..rest.len() - pad])
}

pub(crate) fn read_u32(b: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[..4]);
    u32::from_be_bytes(word)
}

#[cfg(test)]
mod tests;
