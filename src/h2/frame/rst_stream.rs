//! RST_STREAM (RFC 9113 §6.4).

use super::{Head, conn_err, kind, read_u32};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    pub stream_id: u32,
    pub code: ErrorCode,
}

impl RstStream {
    pub(super) fn parse(head: Head, payload: &[u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        if payload.len() != 4 {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        Ok(RstStream {
            stream_id: head.stream_id,
            code: ErrorCode(read_u32(payload)),
        })
    }
}

pub fn encode_rst_stream(out: &mut Vec<u8>, stream_id: u32, code: ErrorCode) {
    Head {
        len: 4,
        kind: kind::RST_STREAM,
        flags: 0,
        stream_id,
    }
    .encode(out);
    out.extend_from_slice(&code.0.to_be_bytes());
}
