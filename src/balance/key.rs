//! Consistent-hash keys from a request: header, cookie, source IP or query parameter.
//!
//! The key's bytes are hashed with [`key_hash`] (XXH64, seed 0): the same key gives the same hash
//! on every worker and every gateway process. A missing key gives no hash (the pick is then
//! random, like Envoy) — except a missing cookie whose spec has a TTL: then a value is generated,
//! used for this request, and the caller must send it back in `Set-Cookie` (see [`SetCookie`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::hash::{key_hash, xxh64};
use super::spec::{CookieSpec, HashKeySpec};

/// What a hash key is read from: the request, as the caller keeps it. Its own trait so that the
/// balancer does not depend on the router's request type (`route::Request` implements it).
pub trait KeySource {
    /// Every value of header `name` (ASCII lowercase), in arrival order.
    fn header_values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's;
    /// The first value of query parameter `name` (raw, not percent-decoded).
    fn query_value(&self, name: &[u8]) -> Option<&[u8]>;
    /// The client's address, when known.
    fn source_addr(&self) -> Option<SocketAddr>;
}

/// The key found (or generated) for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOutcome {
    /// `None`: no key in the request; balance randomly.
    pub hash: Option<u64>,
    /// A generated cookie value the caller must set (cookie policies with a TTL only).
    pub generated_cookie: Option<[u8; 16]>,
}

/// Extracts the key and hashes it. `fallback` is used as the generated cookie's seed when the
/// request has no source address.
pub fn extract<R: KeySource + ?Sized>(spec: &HashKeySpec, req: &R, fallback: u64) -> KeyOutcome {
    let none = KeyOutcome {
        hash: None,
        generated_cookie: None,
    };
    match spec {
        HashKeySpec::Header(name) => {
            let name = name.as_bytes();
            let mut values = req.header_values(name);
            let Some(first) = values.next() else {
                return none;
            };
            // Several values: order-independent combination (Envoy sorts them).
            let mut h = key_hash(first);
            for v in values {
                h = h.wrapping_add(key_hash(v));
            }
            KeyOutcome {
                hash: Some(h),
                generated_cookie: None,
            }
        }
        HashKeySpec::Cookie(cookie) => {
            match find_cookie(req.header_values(b"cookie"), cookie.name.as_bytes()) {
                Some(v) => KeyOutcome {
                    hash: Some(key_hash(v)),
                    generated_cookie: None,
                },
                None if cookie.ttl_secs.is_some() => {
                    let value = generate_cookie_value(req.source_addr(), fallback);
                    KeyOutcome {
                        hash: Some(key_hash(&value)),
                        generated_cookie: Some(value),
                    }
                }
                None => none,
            }
        }
        HashKeySpec::SourceIp => match req.source_addr() {
            Some(addr) => KeyOutcome {
                hash: Some(ip_hash(addr.ip())),
                generated_cookie: None,
            },
            None => none,
        },
        HashKeySpec::QueryParam(name) => match req.query_value(name.as_bytes()) {
            Some(v) => KeyOutcome {
                hash: Some(key_hash(v)),
                generated_cookie: None,
            },
            None => none,
        },
    }
}

/// The hash of an IP (IPv4-mapped IPv6 counts as the IPv4 address).
pub fn ip_hash(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => key_hash(&v4.octets()),
        IpAddr::V6(v6) => key_hash(&v6.octets()),
    }
}

/// The value of cookie `name` in the request's `cookie` header values, quotes stripped; `None`
/// when absent or empty.
pub fn find_cookie<'h>(
    cookie_headers: impl IntoIterator<Item = &'h [u8]>,
    name: &[u8],
) -> Option<&'h [u8]> {
    for header in cookie_headers {
        for pair in header.split(|&b| b == b';') {
            let pair = trim(pair);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if trim(&pair[..eq]) != name {
                continue;
            }
            let mut v = trim(&pair[eq + 1..]);
            if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
                v = &v[1..v.len() - 1];
            }
            if v.is_empty() {
                return None;
            }
            return Some(v);
        }
    }
    None
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A generated cookie value: 16 lowercase hex digits of a hash of the client's address (so the
/// concurrent streams of one connection get the same value), or of `fallback` without one.
pub fn generate_cookie_value(source: Option<SocketAddr>, fallback: u64) -> [u8; 16] {
    let h = match source {
        Some(addr) => {
            let mut buf = [0u8; 18];
            let ip = match addr.ip().to_canonical() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            buf[..16].copy_from_slice(&ip);
            buf[16..].copy_from_slice(&addr.port().to_be_bytes());
            xxh64(&buf, 0x6832_6564_6765)
        }
        None => xxh64(&fallback.to_le_bytes(), 0x6832_6564_6765),
    };
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let nibble = (h >> (60 - 4 * i)) & 0xf;
        *o = b"0123456789abcdef"[nibble as usize];
    }
    out
}

/// A cookie the caller must add to the response (`Set-Cookie`), because the request had none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetCookie<'a> {
    pub spec: &'a CookieSpec,
    pub value: [u8; 16],
}

impl SetCookie<'_> {
    /// The generated value (16 hex digits).
    pub fn value(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or_default()
    }

    /// Appends the `Set-Cookie` header value to `out`:
    /// `name="value"; Max-Age=ttl; Path=path; HttpOnly[; attr=v]...` (Max-Age omitted for a
    /// session cookie, i.e. TTL 0).
    pub fn write_header_value(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        let _ = write!(out, "{self}");
    }
}

impl fmt::Display for SetCookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=\"{}\"", self.spec.name, self.value())?;
        if let Some(ttl) = self.spec.ttl_secs.filter(|&t| t > 0) {
            write!(f, "; Max-Age={ttl}")?;
        }
        if let Some(path) = &self.spec.path {
            write!(f, "; Path={path}")?;
        }
        f.write_str("; HttpOnly")?;
        for (k, v) in &self.spec.attributes {
            if v.is_empty() {
                write!(f, "; {k}")?;
            } else {
                write!(f, "; {k}={v}")?;
            }
        }
        Ok(())
    }
}

/// A human description of where the key comes from and what it is, for `explain`.
pub fn describe<R: KeySource + ?Sized>(spec: &HashKeySpec, req: &R) -> String {
    let show = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
    match spec {
        HashKeySpec::Header(name) => {
            let values: Vec<String> = req.header_values(name.as_bytes()).map(show).collect();
            if values.is_empty() {
                format!("header {name}: absent (random pick)")
            } else {
                format!("header {name} = {:?}", values.join(","))
            }
        }
        HashKeySpec::Cookie(c) => {
            match find_cookie(req.header_values(b"cookie"), c.name.as_bytes()) {
                Some(v) => format!("cookie {} = {:?}", c.name, show(v)),
                None if c.ttl_secs.is_some() => {
                    let v = generate_cookie_value(req.source_addr(), 0);
                    format!(
                        "cookie {}: absent, would be set to {:?}",
                        c.name,
                        String::from_utf8_lossy(&v)
                    )
                }
                None => format!("cookie {}: absent and no ttl (random pick)", c.name),
            }
        }
        HashKeySpec::SourceIp => match req.source_addr() {
            Some(a) => format!("source IP {}", a.ip()),
            None => "source IP: unknown (random pick)".to_owned(),
        },
        HashKeySpec::QueryParam(name) => match req.query_value(name.as_bytes()) {
            Some(v) => format!("query parameter {name} = {:?}", show(v)),
            None => format!("query parameter {name}: absent (random pick)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let h: [&[u8]; 2] = [b"a=1; sess=\"abc\" ; b=2", b"c=3"];
        assert_eq!(find_cookie(h, b"sess"), Some(&b"abc"[..]));
        assert_eq!(find_cookie(h, b"c"), Some(&b"3"[..]));
        assert_eq!(find_cookie(h, b"zz"), None);
        assert_eq!(find_cookie([&b"sess="[..]], b"sess"), None);
    }

    #[test]
    fn generated_value_is_hex_and_stable() {
        let a: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        let v1 = generate_cookie_value(Some(a), 1);
        let v2 = generate_cookie_value(Some(a), 2);
        assert_eq!(v1, v2);
        assert!(v1.iter().all(u8::is_ascii_hexdigit));
        assert_ne!(
            generate_cookie_value(None, 1),
            generate_cookie_value(None, 2)
        );
    }
}
