//! PRIORITY (RFC 9113 §6.3) and the priority fields of HEADERS. Parsed for validity, then ignored, as
//! RFC 9113 §5.3.2 allows.

use super::{Head, conn_err, kind, read_u32};
use crate::h2::error::{ErrorCode, H2Error};

/// A deprecated RFC 7540 priority signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    pub dependency: u32,
    pub exclusive: bool,
    pub weight: u8,
}

impl Priority {
    /// Parses the 5 priority bytes; a stream that depends on itself is a stream PROTOCOL_ERROR (§5.3.1).
    pub(super) fn parse(stream_id: u32, b: &[u8]) -> Result<Self, H2Error> {
        let word = read_u32(b);
        let p = Priority {
            dependency: word & 0x7fff_ffff,
            exclusive: word & 0x8000_0000 != 0,
            weight: b[4],
        };
        if p.dependency == stream_id {
            return Err(H2Error::Stream {
                id: stream_id,
                code: ErrorCode::PROTOCOL_ERROR,
            });
        }
        Ok(p)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let word = self.dependency | if self.exclusive { 0x8000_0000 } else { 0 };
        out.extend_from_slice(&word.to_be_bytes());
        out.push(self.weight);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityFrame {
    pub stream_id: u32,
    pub priority: Priority,
}

impl PriorityFrame {
    pub(super) fn parse(head: Head, payload: &[u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        if payload.len() != 5 {
            return Err(H2Error::Stream {
                id: head.stream_id,
                code: ErrorCode::FRAME_SIZE_ERROR,
            });
        }
        Ok(PriorityFrame {
            stream_id: head.stream_id,
            priority: Priority::parse(head.stream_id, payload)?,
        })
    }
}

pub fn encode_priority(out: &mut Vec<u8>, stream_id: u32, priority: Priority) {
    Head {
        len: 5,
        kind: kind::PRIORITY,
        flags: 0,
        stream_id,
    }
    .encode(out);
    priority.encode(out);
}

pub(super) fn encode_priority_fields(out: &mut Vec<u8>, priority: Priority) {
    priority.encode(out);
}
