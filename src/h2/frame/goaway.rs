//! GOAWAY (RFC 9113 §6.8).

use super::{Head, conn_err, kind, read_u32};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    pub last_stream_id: u32,
    pub code: ErrorCode,
    pub debug: &'a [u8],
}

impl<'a> GoAway<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id != 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        if payload.len() < 8 {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        Ok(GoAway {
            last_stream_id: read_u32(payload) & 0x7fff_ffff,
            code: ErrorCode(read_u32(&payload[4..])),
            debug: &payload[8..],
        })
    }
}

pub fn encode_goaway(out: &mut Vec<u8>, last_stream_id: u32, code: ErrorCode, debug: &[u8]) {
    Head {
        len: (8 + debug.len()) as u32,
        kind: kind::GOAWAY,
        flags: 0,
        stream_id: 0,
    }
    .encode(out);
    out.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(debug);
}
