//! gRPC facts the gateway needs from the gRPC-over-HTTP/2 protocol spec, in one place.

/// Whether a `content-type` value names gRPC: `application/grpc`, optionally followed by
/// `+format` or parameters (`;...`, after optional whitespace). Media types compare
/// case-insensitively (RFC 9110 §8.3.1). `application/grpc-web` is another protocol (it needs
/// translation) and does not count.
pub fn is_grpc(content_type: &[u8]) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    let Some((head, rest)) = content_type.split_at_checked(GRPC.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(GRPC) {
        return false;
    }
    match rest.first() {
        None | Some(b'+') => true,
        Some(_) => rest.trim_ascii_start().first() == Some(&b';'),
    }
}

#[cfg(test)]
mod tests {
    use super::is_grpc;

    #[test]
    fn grpc_content_types() {
        for yes in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc+json",
            b"Application/GRPC",
            b"application/grpc;charset=utf-8",
            b"application/grpc ; charset=utf-8",
            b"APPLICATION/GRPC+PROTO; x=y",
        ] {
            assert!(is_grpc(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"application/grpc-web"[..],
            b"application/grpc-web+proto",
            b"application/grpc-web-text",
            b"application/grpcx",
            b"application/grpc web",
            b"application/json",
            b"application/grp",
            b"",
        ] {
            assert!(!is_grpc(no), "{}", String::from_utf8_lossy(no));
        }
    }
}
