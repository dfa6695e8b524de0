//! DATA (RFC 9113 §6.1).

use super::{Head, conn_err, flag, kind, strip_padding};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    pub stream_id: u32,
    pub end_stream: bool,
    /// The data with any padding removed.
    pub data: &'a [u8],
    /// The whole payload length, padding included: this is what flow control counts (§6.9).
    pub flow_len: u32,
}

impl<'a> Data<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        Ok(Data {
            stream_id: head.stream_id,
            end_stream: head.has(flag::END_STREAM),
            data: strip_padding(head, payload)?,
            flow_len: head.len,
        })
    }
}

/// Appends one DATA frame. `data` must not exceed the peer's SETTINGS_MAX_FRAME_SIZE.
pub fn encode_data(out: &mut Vec<u8>, stream_id: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    Head {
        len: data.len() as u32,
        kind: kind::DATA,
        flags,
        stream_id,
    }
    .encode(out);
    out.extend_from_slice(data);
}

/// Appends one padded DATA frame with `pad` zero bytes of padding (used by tests and peers that pad).
pub fn encode_data_padded(
    out: &mut Vec<u8>,
    stream_id: u32,
    data: &[u8],
    pad: u8,
    end_stream: bool,
) {
    let flags = flag::PADDED | if end_stream { flag::END_STREAM } else { 0 };
    Head {
        len: (1 + data.len() + pad as usize) as u32,
        kind: kind::DATA,
        flags,
        stream_id,
    }
    .encode(out);
    out.push(pad);
    out.extend_from_slice(data);
    out.resize(out.len() + pad as usize, 0);
}
