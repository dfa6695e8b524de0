//! A list of header fields stored in one reusable arena.
//!
//! A connection decodes every header block into the same `FieldList`, cleared between blocks, so a warm
//! connection decodes headers with no heap allocation: the arena and the index only grow to the
//! largest block seen (bounded by SETTINGS_MAX_HEADER_LIST_SIZE).

/// A header field to send. A `(name, value)` pair leaves the representation to the encoder;
/// `(name, value, true)` asks for a never-indexed literal (RFC 7541 §6.2.3), which an intermediary
/// must keep for a field that arrived as one (§7.1.3).
pub trait SendField<'f> {
    fn parts(self) -> (&'f [u8], &'f [u8], bool);
}

impl<'f> SendField<'f> for (&'f [u8], &'f [u8]) {
    fn parts(self) -> (&'f [u8], &'f [u8], bool) {
        (self.0, self.1, false)
    }
}

impl<'f> SendField<'f> for (&'f [u8], &'f [u8], bool) {
    fn parts(self) -> (&'f [u8], &'f [u8], bool) {
        self
    }
}

/// Header fields in arrival order; pseudo-header fields (`:method`, ...) are ordinary entries whose
/// names start with `:`. Each keeps whether it arrived never-indexed, so a proxy can send it so.
#[derive(Clone, Default, Debug)]
pub struct FieldList {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    name_start: u32,
    value_start: u32,
    value_end: u32,
    never_index: bool,
}

impl FieldList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the list, keeping its memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.push_field(name, value, false);
    }

    /// Appends a field, `never_index` if it arrived as a never-indexed literal.
    pub fn push_field(&mut self, name: &[u8], value: &[u8], never_index: bool) {
        let name_start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name);
        let value_start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.entries.push(Entry {
            name_start,
            value_start,
            value_end: self.bytes.len() as u32,
            never_index,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `i`th field as `(name, value)`.
    pub fn field(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let e = self.entries.get(i)?;
        Some(self.split(e))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().map(|e| self.split(e))
    }

    /// The fields as `(name, value, never_index)`, to send them on as they arrived.
    pub fn iter_flagged(&self) -> impl Iterator<Item = (&[u8], &[u8], bool)> + '_ {
        self.entries.iter().map(|e| {
            let (n, v) = self.split(e);
            (n, v, e.never_index)
        })
    }

    /// The value of the first field named `name` (names are compared as bytes; HTTP/2 names are
    /// lowercase).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn method(&self) -> Option<&[u8]> {
        self.get(b":method")
    }

    pub fn scheme(&self) -> Option<&[u8]> {
        self.get(b":scheme")
    }

    pub fn authority(&self) -> Option<&[u8]> {
        self.get(b":authority")
    }

    pub fn path(&self) -> Option<&[u8]> {
        self.get(b":path")
    }

    pub fn status(&self) -> Option<&[u8]> {
        self.get(b":status")
    }

    /// The HPACK size of the list (RFC 9113 §6.5.2): name and value lengths plus 32 per field.
    pub fn hpack_size(&self) -> usize {
        self.bytes.len() + 32 * self.entries.len()
    }

    fn split(&self, e: &Entry) -> (&[u8], &[u8]) {
        let (n, v, end) = (
            e.name_start as usize,
            e.value_start as usize,
            e.value_end as usize,
        );
        (&self.bytes[n..v], &self.bytes[v..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_iter_and_reuse() {
        let mut f = FieldList::new();
        f.push(b":method", b"POST");
        f.push(b"content-type", b"application/grpc");
        f.push(b"x", b"");
        assert_eq!(f.method(), Some(&b"POST"[..]));
        assert_eq!(f.get(b"x"), Some(&b""[..]));
        assert_eq!(f.get(b"y"), None);
        assert_eq!(f.len(), 3);
        assert_eq!(f.hpack_size(), 7 + 4 + 12 + 16 + 1 + 96);
        let cap = f.bytes.capacity();
        f.clear();
        assert!(f.is_empty());
        f.push(b"a", b"b");
        assert_eq!(f.iter().collect::<Vec<_>>(), vec![(&b"a"[..], &b"b"[..])]);
        assert_eq!(f.bytes.capacity(), cap);
        f.push_field(b"authorization", b"secret", true);
        let flags: Vec<bool> = f.iter_flagged().map(|(_, _, n)| n).collect();
        assert_eq!(flags, [false, true]);
    }
}
