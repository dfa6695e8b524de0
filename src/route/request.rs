//! What routing and balancing read from one request, borrowed from wherever the proxy keeps it.
//!
//! Nothing here allocates: the authority, path and method are borrowed byte slices, headers are
//! looked up through the [`Headers`] trait (implemented for slices of pairs and for the HTTP/2
//! [`FieldList`]), and query parameters are found by scanning the path in place.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use crate::balance::KeySource;
use crate::h2::fields::FieldList;
use crate::h2::grpc;

/// Header lookup. `name` is always ASCII lowercase; implementations compare names
/// case-insensitively and yield every value of that name in arrival order.
pub trait Headers {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's;

    /// The first value of `name`.
    fn first<'s>(&'s self, name: &'s [u8]) -> Option<&'s [u8]> {
        self.values(name).next()
    }
}

impl Headers for [(&[u8], &[u8])] {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

impl Headers for [(&str, &str)] {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.iter()
            .filter(move |(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl Headers for [(String, String)] {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.iter()
            .filter(move |(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.as_slice().values(name)
    }
}

impl Headers for Vec<(String, String)> {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.as_slice().values(name)
    }
}

/// HTTP/2 decoded fields (names are lowercase on the wire; pseudo-headers never match a
/// configured name since those cannot start with `:`).
impl Headers for FieldList {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Adapts a lookup closure (first value of a lowercase name) to [`Headers`]:
/// `HeaderFn::new(|name: &[u8]| my_map.get(name).map(|v| v.as_slice()))`.
pub struct HeaderFn<'v, F> {
    lookup: F,
    _values: PhantomData<&'v [u8]>,
}

impl<'v, F: Fn(&[u8]) -> Option<&'v [u8]>> HeaderFn<'v, F> {
    pub fn new(lookup: F) -> Self {
        HeaderFn {
            lookup,
            _values: PhantomData,
        }
    }
}

impl<'v, F: Fn(&[u8]) -> Option<&'v [u8]>> Headers for HeaderFn<'v, F> {
    fn values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        (self.lookup)(name).into_iter()
    }
}

/// A request without headers.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn values<'s>(&'s self, _name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        std::iter::empty()
    }
}

/// The request fields routing and balancing look at.
///
/// `authority` is `:authority` (or `Host` for a request without it); its port, if any, is ignored
/// for hostname matching. `path` is `:path` including the query string. `port` is the local port
/// the connection arrived on (`None` = consider listeners on every port, as `h2edge route` does).
/// `source` is the client address (`useSourceIp` hashes the IP; a generated cookie value hashes
/// IP and port, so concurrent streams of one connection agree).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a, H: ?Sized> {
    pub port: Option<u16>,
    pub authority: &'a [u8],
    pub path: &'a [u8],
    pub method: &'a [u8],
    pub headers: &'a H,
    pub source: Option<SocketAddr>,
}

impl<'a, H: Headers + ?Sized> Request<'a, H> {
    /// A request with the given pseudo-headers, no port and no source.
    pub fn new(authority: &'a [u8], path: &'a [u8], method: &'a [u8], headers: &'a H) -> Self {
        Request {
            port: None,
            authority,
            path,
            method,
            headers,
            source: None,
        }
    }

    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn with_source(mut self, source: SocketAddr) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the source IP (port 0).
    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.source = Some(SocketAddr::new(ip, 0));
        self
    }

    /// The hostname part of `authority`: no port, no trailing dot (compare case-insensitively).
    pub fn host(&self) -> &'a [u8] {
        host_of(self.authority)
    }

    /// `path` without the query string.
    pub fn path_only(&self) -> &'a [u8] {
        path_only(self.path)
    }

    /// The first value of query parameter `name` (names compare exactly; values are raw, not
    /// percent-decoded). A parameter without `=` has the empty value.
    pub fn query_param(&self, name: &[u8]) -> Option<&'a [u8]> {
        query_param(self.path, name)
    }

    /// Whether this is a gRPC request (see [`grpc::is_grpc`]).
    pub fn is_grpc(&self) -> bool {
        self.headers
            .first(b"content-type")
            .is_some_and(grpc::is_grpc)
    }
}

/// What the balancer hashes: headers, query parameters and the client address.
impl<H: Headers + ?Sized> KeySource for Request<'_, H> {
    fn header_values<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.headers.values(name)
    }

    fn query_value(&self, name: &[u8]) -> Option<&[u8]> {
        query_param(self.path, name)
    }

    fn source_addr(&self) -> Option<SocketAddr> {
        self.source
    }
}

/// The hostname in an authority: strips `:port`, IPv6 brackets are kept intact, one trailing dot
/// is dropped.
pub fn host_of(authority: &[u8]) -> &[u8] {
    let host = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&b| b == b']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        match authority.iter().rposition(|&b| b == b':') {
            Some(colon) if authority[colon + 1..].iter().all(u8::is_ascii_digit) => {
                &authority[..colon]
            }
            _ => authority,
        }
    };
    match host.split_last() {
        Some((b'.', rest)) if !rest.is_empty() => rest,
        _ => host,
    }
}

/// The path without `?query`.
pub fn path_only(path: &[u8]) -> &[u8] {
    match path.iter().position(|&b| b == b'?') {
        Some(q) => &path[..q],
        None => path,
    }
}

/// The first value of query parameter `name` in `path`.
pub fn query_param<'p>(path: &'p [u8], name: &[u8]) -> Option<&'p [u8]> {
    let q = path.iter().position(|&b| b == b'?')?;
    let query = &path[q + 1..];
    let query = match query.iter().position(|&b| b == b'#') {
        Some(h) => &query[..h],
        None => query,
    };
    query.split(|&b| b == b'&').find_map(|pair| {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (n == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of(b"example.com:443"), b"example.com");
        assert_eq!(host_of(b"example.com."), b"example.com");
        assert_eq!(host_of(b"[::1]:8443"), b"[::1]");
        assert_eq!(host_of(b"a:b"), b"a:b");
        assert_eq!(host_of(b""), b"");
    }

    #[test]
    fn queries() {
        assert_eq!(query_param(b"/a?x=1&y=2&x=3", b"x"), Some(&b"1"[..]));
        assert_eq!(query_param(b"/a?x=1&y=2", b"y"), Some(&b"2"[..]));
        assert_eq!(query_param(b"/a?flag&y=2", b"flag"), Some(&b""[..]));
        assert_eq!(query_param(b"/a?x=1", b"z"), None);
        assert_eq!(query_param(b"/a", b"x"), None);
        assert_eq!(path_only(b"/a/b?x=1"), b"/a/b");
    }
}
