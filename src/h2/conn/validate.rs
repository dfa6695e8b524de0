//! Message validation (RFC 9113 §8.1–§8.3): a header block that breaks these rules makes the message
//! malformed, a stream error of type PROTOCOL_ERROR.

use crate::h2::fields::FieldList;

/// The message is malformed (§8.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Malformed;

/// What the connection needs to know about a valid request head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RequestInfo {
    pub content_length: Option<u64>,
}

/// What the connection needs to know about a valid response head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ResponseInfo {
    pub status: u16,
    pub content_length: Option<u64>,
}

impl ResponseInfo {
    pub fn informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// A request head received by the server role.
pub(super) fn request(fields: &FieldList) -> Result<RequestInfo, Malformed> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut regular = false;
    let mut host = None;
    let mut content_length = None;
    for (name, value) in fields.iter() {
        check_value(value)?;
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular {
                return Err(Malformed);
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                // :status, :protocol (we do not advertise extended CONNECT), and anything else.
                _ => return Err(Malformed),
            };
            if slot.replace(value).is_some() {
                return Err(Malformed);
            }
            continue;
        }
        regular = true;
        check_regular(name, value, &mut content_length)?;
        if name == b"host" {
            host = Some(value);
        }
    }
    let method = method.ok_or(Malformed)?;
    if method.is_empty() {
        return Err(Malformed);
    }
    if method == b"CONNECT" {
        // §8.5: only :method and :authority.
        if scheme.is_some() || path.is_some() || authority.is_none_or(|a| a.is_empty()) {
            return Err(Malformed);
        }
    } else {
        if scheme.is_none_or(|s| s.is_empty()) || path.is_none_or(|p| p.is_empty()) {
            return Err(Malformed);
        }
    }
    // §8.3.1: a Host that names another authority than :authority.
    if let (Some(a), Some(h)) = (authority, host) {
        if !a.eq_ignore_ascii_case(h) {
            return Err(Malformed);
        }
    }
    Ok(RequestInfo { content_length })
}

/// A response head received by the client role.
pub(super) fn response(fields: &FieldList, end_stream: bool) -> Result<ResponseInfo, Malformed> {
    let mut status = None;
    let mut regular = false;
    let mut content_length = None;
    for (name, value) in fields.iter() {
        check_value(value)?;
        if name.first() == Some(&b':') {
            if regular || name != b":status" || status.replace(value).is_some() {
                return Err(Malformed);
            }
            continue;
        }
        regular = true;
        check_regular(name, value, &mut content_length)?;
    }
    let status = parse_status(status.ok_or(Malformed)?)?;
    // §8.6: 101 is not used in HTTP/2; §8.1: an informational head does not end the stream.
    if status == 101 || ((100..200).contains(&status) && end_stream) {
        return Err(Malformed);
    }
    Ok(ResponseInfo {
        status,
        content_length,
    })
}

/// Trailers: no pseudo-header fields (§8.1).
pub(super) fn trailers(fields: &FieldList) -> Result<(), Malformed> {
    let mut content_length = None;
    for (name, value) in fields.iter() {
        check_value(value)?;
        if name.first() == Some(&b':') {
            return Err(Malformed);
        }
        check_regular(name, value, &mut content_length)?;
    }
    Ok(())
}

fn parse_status(v: &[u8]) -> Result<u16, Malformed> {
    if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    let s = v.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if s < 100 {
        return Err(Malformed);
    }
    Ok(s)
}

/// A regular field: name syntax, connection-specific fields, `te`, `content-length`.
fn check_regular(
    name: &[u8],
    value: &[u8],
    content_length: &mut Option<u64>,
) -> Result<(), Malformed> {
    check_name(name)?;
    match name {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Err(Malformed)
        }
        b"te" if value != b"trailers" => Err(Malformed),
        b"content-length" => {
            let n = parse_content_length(value)?;
            match *content_length {
                Some(prev) if prev != n => Err(Malformed),
                _ => {
                    *content_length = Some(n);
                    Ok(())
                }
            }
        }
        _ => Ok(()),
    }
}

/// `content-length` is 1*DIGIT; a list of identical values (`5, 5`) is accepted as RFC 9110 §8.6
/// allows.
fn parse_content_length(v: &[u8]) -> Result<u64, Malformed> {
    let mut result: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(Malformed);
        }
        let n = part
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        if result.is_some_and(|r| r != n) {
            return Err(Malformed);
        }
        result = Some(n);
    }
    result.ok_or(Malformed)
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// §8.2.1 and RFC 9110 §5.1: a non-empty token of lowercase characters.
fn check_name(name: &[u8]) -> Result<(), Malformed> {
    if name.is_empty() || !name.iter().all(|&b| is_lower_tchar(b)) {
        return Err(Malformed);
    }
    Ok(())
}

fn is_lower_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~')
}

/// §8.2.1: no NUL, CR or LF; no leading or trailing SP or HTAB.
fn check_value(value: &[u8]) -> Result<(), Malformed> {
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(Malformed);
    }
    if matches!(value.first(), Some(b' ' | b'\t')) || matches!(value.last(), Some(b' ' | b'\t')) {
        return Err(Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(fields: &[(&str, &str)]) -> FieldList {
        let mut l = FieldList::new();
        for (n, v) in fields {
            l.push(n.as_bytes(), v.as_bytes());
        }
        l
    }

    const GET: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> FieldList {
        let mut v: Vec<(&str, &str)> = GET.to_vec();
        v.extend_from_slice(extra);
        list(&v)
    }

    #[test]
    fn valid_requests() {
        assert_eq!(request(&with(&[])), Ok(RequestInfo::default()));
        assert_eq!(
            request(&with(&[("content-length", "12"), ("te", "trailers")])),
            Ok(RequestInfo {
                content_length: Some(12)
            })
        );
        assert!(request(&list(&[(":method", "CONNECT"), (":authority", "a:443")])).is_ok());
        assert!(request(&with(&[("host", "EXAMPLE.com")])).is_ok());
    }

    #[test]
    fn malformed_requests() {
        let bad: &[&[(&str, &str)]] = &[
            &[("Upper", "x")],
            &[("", "x")],
            &[("a b", "x")],
            &[("x", " lead")],
            &[("x", "trail\t")],
            &[("x", "a\0b")],
            &[("x", "a\rb")],
            &[("connection", "close")],
            &[("transfer-encoding", "chunked")],
            &[("te", "gzip")],
            &[("content-length", "x")],
            &[("content-length", "1"), ("content-length", "2")],
            &[("host", "other.com")],
            &[(":status", "200")],
            &[(":protocol", "websocket")],
            &[(":foo", "bar")],
            &[(":method", "GET")],
        ];
        for extra in bad {
            assert_eq!(request(&with(extra)), Err(Malformed), "{extra:?}");
        }
        assert_eq!(
            request(&list(&[("x", "y"), (":method", "GET")])),
            Err(Malformed)
        );
        assert_eq!(
            request(&list(&[(":method", "GET"), (":path", "/")])),
            Err(Malformed)
        );
        assert_eq!(
            request(&list(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "")
            ])),
            Err(Malformed)
        );
        assert_eq!(
            request(&list(&[
                (":method", "CONNECT"),
                (":authority", "a"),
                (":path", "/")
            ])),
            Err(Malformed)
        );
    }

    #[test]
    fn responses_and_trailers() {
        let ok = response(&list(&[(":status", "200"), ("content-length", "3")]), false);
        assert_eq!(
            ok,
            Ok(ResponseInfo {
                status: 200,
                content_length: Some(3)
            })
        );
        assert!(response(&list(&[(":status", "100")]), false).is_ok_and(|r| r.informational()));
        assert_eq!(response(&list(&[(":status", "100")]), true), Err(Malformed));
        assert_eq!(
            response(&list(&[(":status", "101")]), false),
            Err(Malformed)
        );
        assert_eq!(response(&list(&[(":status", "20")]), false), Err(Malformed));
        assert_eq!(
            response(&list(&[(":status", "200"), (":path", "/")]), false),
            Err(Malformed)
        );
        assert_eq!(response(&list(&[("x", "y")]), false), Err(Malformed));
        assert!(trailers(&list(&[("grpc-status", "0")])).is_ok());
        assert_eq!(trailers(&list(&[(":status", "200")])), Err(Malformed));
    }
}
