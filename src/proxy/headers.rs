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
pub fn forward_request<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    fields.filter(|(name, _)| !is_dropped_request_field(name))
}

/// Response fields forwarded to the client.
pub fn forward_response<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    fields.filter(|(name, _)| {
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
        let kept: Vec<_> = forward_request(fields.into_iter())
            .map(|(n, _)| n)
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
}
