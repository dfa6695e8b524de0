//! The test peer's own HPACK (RFC 7541) codec, independent of `h2edge::h2::hpack`.
//!
//! Requests are encoded with a deliberately small encoder (literal without indexing by default;
//! indexed, incremental-indexing, never-indexed, Huffman and table-size-update helpers for the
//! cases that need them). Responses are decoded with a complete decoder (static + dynamic table,
//! Huffman, size updates) so a case can check `:status` without trusting the server's own codec.

/// RFC 7541 Appendix B: (code, bit length) for symbols 0..=255 and EOS (256).
#[rustfmt::skip]
const HUFFMAN: [(u32, u8); 257] = [
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28), (0xfffffe5, 28),
    (0xfffffe6, 28), (0xfffffe7, 28), (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), (0xfffffed, 28), (0xfffffee, 28),
    (0xfffffef, 28), (0xffffff0, 28), (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28),
    (0xffffffa, 28), (0xffffffb, 28), (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), (0x3fa, 10), (0x3fb, 10),
    (0xf9, 8), (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), (0x1a, 6), (0x1b, 6),
    (0x1c, 6), (0x1d, 6), (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), (0x1ffa, 13), (0x21, 6),
    (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7),
    (0x69, 7), (0x6a, 7), (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), (0xfc, 8), (0x73, 7),
    (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5),
    (0x25, 6), (0x26, 6), (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), (0x2b, 6), (0x76, 7),
    (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14),
    (0x1ffd, 13), (0xffffffc, 28), (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23), (0x3fffd6, 22), (0x7fffda, 23),
    (0x7fffdb, 23), (0x7fffdc, 23), (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23),
    (0x7fffe2, 23), (0x7fffe3, 23), (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24), (0x3fffda, 22), (0x1fffdd, 21),
    (0xfffe9, 20), (0x3fffdb, 22), (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22),
    (0x7fffeb, 23), (0x7fffec, 23), (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23), (0xfffea, 20), (0x3fffe2, 22),
    (0x3fffe3, 22), (0x3fffe4, 22), (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23),
    (0x3fffe8, 22), (0x1ffffec, 25), (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), (0x7fff2, 19), (0x1fffe3, 21),
    (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27),
    (0x7ffffe4, 27), (0x7ffffe5, 27), (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23), (0x3fffea, 22), (0x3fffeb, 22),
    (0x1ffffee, 25), (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27), (0x7ffffe8, 27),
    (0x7ffffe9, 27), (0x7ffffea, 27), (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26), (0x3fffffff, 30),
];

/// RFC 7541 Appendix A.
#[rustfmt::skip]
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Appends an HPACK integer (RFC 7541 §5.1) with an `n`-bit prefix; `flags` holds the bits above
/// the prefix in the first octet.
pub fn int(out: &mut Vec<u8>, flags: u8, n: u8, value: u64) {
    let max = (1u64 << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Huffman-encodes `symbols` (0..=255, or 256 for EOS) and pads the last octet with 1-bits
/// (the most significant bits of EOS). `extra_pad_bits` is added on top of the normal padding
/// (used to build invalid strings).
pub fn huffman_symbols(symbols: &[u16], pad_bit: bool, extra_pad_bits: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn push(&mut self, code: u64, len: u32) {
            self.acc = (self.acc << len) | code;
            self.n += len;
            while self.n >= 8 {
                self.n -= 8;
                self.out.push((self.acc >> self.n) as u8);
                self.acc &= (1u64 << self.n) - 1;
            }
        }
    }
    let mut bits = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    for &s in symbols {
        let (code, len) = HUFFMAN[s as usize];
        bits.push(u64::from(code), u32::from(len));
    }
    let pad = (8 - bits.n % 8) % 8 + extra_pad_bits as u32;
    for _ in 0..pad {
        bits.push(u64::from(pad_bit), 1);
    }
    bits.out
}

/// Huffman-encodes `s` per RFC 7541 §5.2 (valid padding).
pub fn huffman(s: &[u8]) -> Vec<u8> {
    let syms: Vec<u16> = s.iter().map(|&b| u16::from(b)).collect();
    huffman_symbols(&syms, true, 0)
}

/// A string literal (RFC 7541 §5.2), plain or Huffman-coded.
pub fn string(out: &mut Vec<u8>, s: &[u8], huff: bool) {
    if huff {
        let h = huffman(s);
        int(out, 0x80, 7, h.len() as u64);
        out.extend_from_slice(&h);
    } else {
        int(out, 0x00, 7, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// Literal field representations (RFC 7541 §6.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lit {
    /// §6.2.1: 01xxxxxx, 6-bit name index.
    Incremental,
    /// §6.2.2: 0000xxxx, 4-bit name index.
    WithoutIndexing,
    /// §6.2.3: 0001xxxx, 4-bit name index.
    NeverIndexed,
}

impl Lit {
    fn prefix(self) -> (u8, u8) {
        match self {
            Lit::Incremental => (0x40, 6),
            Lit::WithoutIndexing => (0x00, 4),
            Lit::NeverIndexed => (0x10, 4),
        }
    }
}

/// A literal field with a new (literal) name.
pub fn literal_new_name(out: &mut Vec<u8>, kind: Lit, name: &[u8], value: &[u8], huff: bool) {
    let (flags, n) = kind.prefix();
    int(out, flags, n, 0);
    string(out, name, huff);
    string(out, value, huff);
}

/// A literal field whose name is table entry `index`.
pub fn literal_indexed_name(out: &mut Vec<u8>, kind: Lit, index: u64, value: &[u8], huff: bool) {
    let (flags, n) = kind.prefix();
    int(out, flags, n, index);
    string(out, value, huff);
}

/// An indexed field (RFC 7541 §6.1).
pub fn indexed(out: &mut Vec<u8>, index: u64) {
    int(out, 0x80, 7, index);
}

/// A dynamic table size update (RFC 7541 §6.3).
pub fn size_update(out: &mut Vec<u8>, size: u64) {
    int(out, 0x20, 5, size);
}

/// Encodes a field list as literals without indexing, new names, no Huffman: the most literal
/// encoding there is, which leaves the server's dynamic table untouched.
pub fn encode_plain<N: AsRef<[u8]>, V: AsRef<[u8]>>(fields: &[(N, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        literal_new_name(
            &mut out,
            Lit::WithoutIndexing,
            n.as_ref(),
            v.as_ref(),
            false,
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// A decoded field list: (name, value) pairs in order.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// RFC 7541 decoder for the server's field blocks.
pub struct Decoder {
    dynamic: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
    /// The limit from our SETTINGS_HEADER_TABLE_SIZE, once the server acknowledged it.
    limit: usize,
    /// The limit dropped below the table's maximum: the next block must open with a dynamic
    /// table size update (RFC 7541 §4.2).
    needs_update: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            dynamic: std::collections::VecDeque::new(),
            size: 0,
            max_size: 4096,
            limit: 4096,
            needs_update: false,
        }
    }
}

fn read_int(buf: &[u8], pos: &mut usize, n: u8) -> Result<u64, String> {
    let first = *buf.get(*pos).ok_or("truncated integer")?;
    *pos += 1;
    let max = (1u64 << n) - 1;
    let mut value = u64::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*pos).ok_or("truncated integer")?;
        *pos += 1;
        if shift > 56 {
            return Err("integer overflow".into());
        }
        value += u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Decodes a Huffman string, enforcing RFC 7541 §5.2 padding and EOS rules.
pub fn huffman_decode(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut code: u32 = 0;
    let mut len: u8 = 0;
    for &byte in data {
        for i in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> i) & 1);
            len += 1;
            if len > 30 {
                return Err("invalid Huffman code".into());
            }
            if let Some(sym) = HUFFMAN.iter().position(|&(c, l)| l == len && c == code) {
                if sym == 256 {
                    return Err("EOS in Huffman string".into());
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    if len > 7 {
        return Err("Huffman padding longer than 7 bits".into());
    }
    if len > 0 && code != (1 << len) - 1 {
        return Err("Huffman padding is not EOS prefix".into());
    }
    Ok(out)
}

fn read_string(buf: &[u8], pos: &mut usize) -> Result<Vec<u8>, String> {
    let huff = buf.get(*pos).ok_or("truncated string")? & 0x80 != 0;
    let len = read_int(buf, pos, 7)? as usize;
    let end = pos
        .checked_add(len)
        .filter(|&e| e <= buf.len())
        .ok_or("truncated string")?;
    let raw = &buf[*pos..end];
    *pos = end;
    if huff {
        huffman_decode(raw)
    } else {
        Ok(raw.to_vec())
    }
}

impl Decoder {
    fn entry(&self, index: u64) -> Result<(Vec<u8>, Vec<u8>), String> {
        let i = index as usize;
        if i == 0 {
            return Err("index 0".into());
        }
        if i <= STATIC_TABLE.len() {
            let (n, v) = STATIC_TABLE[i - 1];
            return Ok((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        self.dynamic
            .get(i - STATIC_TABLE.len() - 1)
            .cloned()
            .ok_or_else(|| format!("index {i} beyond the tables"))
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.dynamic.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let sz = name.len() + value.len() + 32;
        self.size += sz;
        self.dynamic.push_front((name, value));
        self.evict();
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE `limit` was acknowledged: from the next block on, the
    /// encoder may not use more, and must say so first if its maximum was larger.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        if limit < self.max_size {
            self.needs_update = true;
        }
    }

    /// Decodes one complete field block.
    pub fn decode(&mut self, block: &[u8]) -> Result<Fields, String> {
        if self.needs_update {
            if block.first().is_none_or(|b| b & 0xe0 != 0x20) {
                return Err(format!(
                    "no dynamic table size update at the start of the first block after \
                     SETTINGS_HEADER_TABLE_SIZE {} was acknowledged (RFC 7541 §4.2)",
                    self.limit
                ));
            }
            self.needs_update = false;
        }
        let mut fields = Vec::new();
        let mut pos = 0;
        let mut seen_field = false;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                let idx = read_int(block, &mut pos, 7)?;
                fields.push(self.entry(idx)?);
                seen_field = true;
            } else if b & 0xe0 == 0x20 {
                if seen_field {
                    return Err("dynamic table size update after a field".into());
                }
                let size = read_int(block, &mut pos, 5)? as usize;
                if size > self.limit {
                    return Err(format!("table size update {size} above {}", self.limit));
                }
                self.max_size = size;
                self.evict();
            } else {
                let (n, incremental) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let idx = read_int(block, &mut pos, n)?;
                let name = if idx == 0 {
                    read_string(block, &mut pos)?
                } else {
                    self.entry(idx)?.0
                };
                let value = read_string(block, &mut pos)?;
                if incremental {
                    self.insert(name.clone(), value.clone());
                }
                fields.push((name, value));
                seen_field = true;
            }
        }
        Ok(fields)
    }
}
