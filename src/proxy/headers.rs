//! Header rewriting between the two legs of a proxied stream.

/// Fields a proxy never forwards (RFC 9110 §7.6.1 hop-by-hop fields, which HTTP/2 forbids anyway,
/// plus fields we set ourselves).
fn is_dropped_request_field(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"transfer-encoding"
            | b"upgrade"
            | b"x-forwarded-for"
            | b"x-forwarded-proto"
    )
}

/// Request fields forwarded upstream: everything but hop-by-hop fields and the `x-forwarded-*`
/// fields (which the gateway sets). `te: trailers` passes: gRPC needs it to detect incompatible proxies.
/// Fields are `(name, value, never_index)`, so never-indexed ones stay so (RFC 7541 §7.1.3).
pub fn forward_request<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8], bool)>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8], bool)> {
    fields.filter(|(name, _, _)| !is_dropped_request_field(name))
}

/// Response fields forwarded to the client.
pub fn forward_response<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8], bool)>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8], bool)> {
    fields.filter(|(name, _, _)| {
        !matches!(
            *name,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
        )
    })
}

/// Writes `x-forwarded-for`'s new value into `out`: the existing value (if any) with the client's
/// address appended.
pub fn forwarded_for(existing: Option<&[u8]>, client_ip: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if let Some(v) = existing {
        out.extend_from_slice(v);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(client_ip);
}

/// Length of a minted `x-request-id`.
pub const REQUEST_ID_LEN: usize = 32;

/// A minted `x-request-id`: the process id, the connection token and the worker's request counter
/// as 8 + 8 + 16 lower-case hex digits (only the token's low 32 bits: it indexes a connection
/// table). Written by hand: `write!` with zero padding costs about ten times as much per request.
pub fn request_id(pid: u32, token: u32, n: u64) -> [u8; REQUEST_ID_LEN] {
    let mut id = [0; REQUEST_ID_LEN];
    let (head, counter) = id.split_at_mut(16);
    let (pid_hex, token_hex) = head.split_at_mut(8);
    hex(u64::from(pid), pid_hex);
    hex(u64::from(token), token_hex);
    hex(n, counter);
    id
}

/// Writes the low `out.len()` hex digits of `v` into `out`, most significant first.
fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hop_by_hop_and_keeps_te_trailers() {
        let fields: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b"te", b"trailers"),
            (b"connection", b"close"),
            (b"x-forwarded-proto", b"spoofed"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"grpc-timeout", b"1S"),
        ];
        let kept: Vec<_> = forward_request(fields.into_iter().map(|(n, v)| (n, v, false)))
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(kept, vec![&b":method"[..], b"te", b"grpc-timeout"]);
    }

    #[test]
    fn forwarded_for_appends() {
        let mut out = Vec::new();
        forwarded_for(Some(b"10.0.0.1"), b"127.0.0.1", &mut out);
        assert_eq!(out, b"10.0.0.1, 127.0.0.1");
        forwarded_for(None, b"::1", &mut out);
        assert_eq!(out, b"::1");
    }

    #[test]
    fn request_id_matches_the_padded_hex_format() {
        for (pid, token, n) in [
            (0, 0, 0),
            (4242, 7, 1),
            (u32::MAX, u32::MAX, u64::MAX),
            (0x1234_5678, 0x9abc_def0, 0x0fed_cba9_8765_4321),
        ] {
            let want = format!("{pid:08x}{token:08x}{n:016x}");
            assert_eq!(request_id(pid, token, n), want.as_bytes());
        }
    }
}
