//! WINDOW_UPDATE (RFC 9113 §6.9).

use super::{Head, conn_err, kind, read_u32};
use crate::h2::error::{ErrorCode, H2Error};

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    pub stream_id: u32,
    pub increment: u32,
}

impl WindowUpdate {
    pub(super) fn parse(head: Head, payload: &[u8]) -> Result<Self, H2Error> {
        if payload.len() != 4 {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        let increment = read_u32(payload) & 0x7fff_ffff;
        if increment == 0 {
            // §6.9: a stream error on a stream, a connection error on the connection.
            return Err(if head.stream_id == 0 {
                conn_err(ErrorCode::PROTOCOL_ERROR)
            } else {
                H2Error::Stream {
                    id: head.stream_id,
                    code: ErrorCode::PROTOCOL_ERROR,
                }
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
        })
    }
}

pub fn encode_window_update(out: &mut Vec<u8>, stream_id: u32, increment: u32) {
    Head {
        len: 4,
        kind: kind::WINDOW_UPDATE,
        flags: 0,
        stream_id,
    }
    .encode(out);
    out.extend_from_slice(&(increment & 0x7fff_ffff).to_be_bytes());
}
