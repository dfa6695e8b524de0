//! The 9-byte frame head (RFC 9113 §4.1), frame type numbers and flag bits.

/// Size of the frame head.
pub const HEAD_LEN: usize = 9;

/// Frame type numbers (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Flag bits. Flags not defined for a frame type are ignored (RFC 9113 §4.1).
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// A frame head: payload length, type, flags and stream id (the reserved bit already cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
}

impl Head {
    /// Parses the head at the front of `buf`, or `None` if fewer than 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<Head> {
        let b: &[u8; HEAD_LEN] = buf.get(..HEAD_LEN)?.try_into().ok()?;
        Some(Head {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    /// Appends the head to `out`. `len` must fit in 24 bits.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.len.to_be_bytes();
        let id = (self.stream_id & 0x7fff_ffff).to_be_bytes();
        out.extend_from_slice(&[
            len[1], len[2], len[3], self.kind, self.flags, id[0], id[1], id[2], id[3],
        ]);
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}
