//! PING (RFC 9113 §6.7).

use super::{Head, conn_err, flag, kind};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    pub ack: bool,
    pub payload: [u8; 8],
}

impl Ping {
    pub(super) fn parse(head: Head, payload: &[u8]) -> Result<Self, H2Error> {
        if head.stream_id != 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        let Ok(payload) = <[u8; 8]>::try_from(payload) else {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        };
        Ok(Ping {
            ack: head.has(flag::ACK),
            payload,
        })
    }
}

pub fn encode_ping(out: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    Head {
        len: 8,
        kind: kind::PING,
        flags: if ack { flag::ACK } else { 0 },
        stream_id: 0,
    }
    .encode(out);
    out.extend_from_slice(&payload);
}
