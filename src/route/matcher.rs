//! Compiled match clauses: strings, paths, headers, query parameters, gRPC methods.
//!
//! Regexes are compiled when the table is built, anchored (`^(?:...)$`: the whole value must
//! match, as Envoy's `safe_regex`), with a size limit. Matching never allocates except for a
//! regex header match against a header that occurs several times (the values are joined with
//! `,`, or `; ` for `cookie`, as RFC 9110 combines them).

use regex::bytes::{Regex, RegexBuilder};

use super::request::{Headers, Request, path_only};
use super::spec::{GrpcMethodSpec, PathMatchSpec, StringMatchSpec, ValueMatchSpec};

const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Exact bytes or an anchored regex.
pub(crate) enum StrMatch {
    Exact(Box<[u8]>),
    Regex(Regex),
}

impl StrMatch {
    pub(crate) fn compile(spec: &StringMatchSpec) -> Result<Self, String> {
        Ok(match spec {
            StringMatchSpec::Exact(s) => StrMatch::Exact(s.as_bytes().into()),
            StringMatchSpec::Regex(p) => StrMatch::Regex(compile_regex(p)?),
        })
    }

    #[inline]
    pub(crate) fn is_match(&self, v: &[u8]) -> bool {
        match self {
            StrMatch::Exact(e) => **e == *v,
            StrMatch::Regex(r) => r.is_match(v),
        }
    }
}

/// A compiled HTTPRoute path match.
pub(crate) enum PathMatch {
    Exact(Box<[u8]>),
    /// Without trailing `/`; empty for `/` (matches everything).
    Prefix(Box<[u8]>),
    Regex(Regex),
}

impl PathMatch {
    pub(crate) fn compile(spec: &PathMatchSpec) -> Result<Self, String> {
        Ok(match spec {
            PathMatchSpec::Exact(p) => {
                if !p.starts_with('/') {
                    return Err(format!("path {p:?} must start with /"));
                }
                PathMatch::Exact(p.as_bytes().into())
            }
            PathMatchSpec::Prefix(p) => {
                if !p.starts_with('/') {
                    return Err(format!("path prefix {p:?} must start with /"));
                }
                PathMatch::Prefix(p.trim_end_matches('/').as_bytes().into())
            }
            PathMatchSpec::Regex(r) => PathMatch::Regex(compile_regex(r)?),
        })
    }

    /// Precedence class: Exact (2) > RegularExpression (1) > PathPrefix (0), and the length the
    /// criterion "largest number of characters" counts (prefix without trailing `/`; pattern
    /// length for regexes, which only order among themselves).
    pub(crate) fn rank(spec: &PathMatchSpec) -> (u8, usize) {
        match spec {
            PathMatchSpec::Exact(p) => (2, p.len()),
            PathMatchSpec::Regex(r) => (1, r.len()),
            PathMatchSpec::Prefix(p) => (0, p.trim_end_matches('/').len()),
        }
    }

    /// `path` is the path without the query.
    #[inline]
    pub(crate) fn is_match(&self, path: &[u8]) -> bool {
        match self {
            PathMatch::Exact(e) => **e == *path,
            PathMatch::Prefix(p) => {
                path.len() >= p.len()
                    && path[..p.len()] == **p
                    && (path.len() == p.len() || path[p.len()] == b'/')
            }
            PathMatch::Regex(r) => r.is_match(path),
        }
    }
}

/// A header match: lowercase name + value.
pub(crate) struct HeaderMatch {
    pub(crate) name: Box<[u8]>,
    pub(crate) value: StrMatch,
}

impl HeaderMatch {
    #[inline]
    pub(crate) fn is_match<H: Headers + ?Sized>(&self, headers: &H) -> bool {
        let mut values = headers.values(&self.name);
        let Some(first) = values.next() else {
            return false;
        };
        let Some(second) = values.next() else {
            return self.value.is_match(first);
        };
        // Repeated header: match the combined value.
        let sep: &[u8] = if &*self.name == b"cookie" {
            b"; "
        } else {
            b","
        };
        match &self.value {
            StrMatch::Exact(expected) => {
                let mut rest: &[u8] = expected;
                let mut eat = |part: &[u8]| -> bool {
                    match rest.strip_prefix(part) {
                        Some(r) => {
                            rest = r;
                            true
                        }
                        None => false,
                    }
                };
                if !eat(first) || !eat(sep) || !eat(second) {
                    return false;
                }
                for v in values {
                    if !eat(sep) || !eat(v) {
                        return false;
                    }
                }
                rest.is_empty()
            }
            StrMatch::Regex(r) => {
                let mut joined = Vec::with_capacity(first.len() + second.len() + 16);
                joined.extend_from_slice(first);
                joined.extend_from_slice(sep);
                joined.extend_from_slice(second);
                for v in values {
                    joined.extend_from_slice(sep);
                    joined.extend_from_slice(v);
                }
                r.is_match(&joined)
            }
        }
    }
}

/// A query parameter match (exact name, first occurrence, raw value).
pub(crate) struct QueryMatch {
    pub(crate) name: Box<[u8]>,
    pub(crate) value: StrMatch,
}

/// Compiles header matches, keeping only the first of case-insensitively equal names.
pub(crate) fn compile_headers(specs: &[ValueMatchSpec]) -> Result<Vec<HeaderMatch>, String> {
    let mut out: Vec<HeaderMatch> = Vec::with_capacity(specs.len());
    for s in specs {
        let name = s.name.to_ascii_lowercase();
        if name.is_empty() {
            return Err("header match with an empty name".to_owned());
        }
        if out.iter().any(|h| *h.name == *name.as_bytes()) {
            continue;
        }
        out.push(HeaderMatch {
            name: name.as_bytes().into(),
            value: StrMatch::compile(&s.value).map_err(|e| format!("header {}: {e}", s.name))?,
        });
    }
    Ok(out)
}

/// Compiles query matches, keeping only the first of equal names.
pub(crate) fn compile_queries(specs: &[ValueMatchSpec]) -> Result<Vec<QueryMatch>, String> {
    let mut out: Vec<QueryMatch> = Vec::with_capacity(specs.len());
    for s in specs {
        if s.name.is_empty() {
            return Err("query parameter match with an empty name".to_owned());
        }
        if out.iter().any(|q| *q.name == *s.name.as_bytes()) {
            continue;
        }
        out.push(QueryMatch {
            name: s.name.as_bytes().into(),
            value: StrMatch::compile(&s.value)
                .map_err(|e| format!("query parameter {}: {e}", s.name))?,
        });
    }
    Ok(out)
}

/// A compiled HTTPRoute match.
pub(crate) struct HttpMatch {
    pub(crate) path: PathMatch,
    pub(crate) method: Option<Box<[u8]>>,
    pub(crate) headers: Vec<HeaderMatch>,
    pub(crate) queries: Vec<QueryMatch>,
}

impl HttpMatch {
    #[inline]
    pub(crate) fn is_match<H: Headers + ?Sized>(&self, req: &Request<'_, H>, path: &[u8]) -> bool {
        self.path.is_match(path)
            && self.method.as_deref().is_none_or(|m| m == req.method)
            && self.headers.iter().all(|h| h.is_match(req.headers))
            && self.queries.iter().all(|q| {
                req.query_param(&q.name)
                    .is_some_and(|v| q.value.is_match(v))
            })
    }
}

/// `/service/method` of a gRPC `:path` (query ignored).
#[inline]
pub fn split_grpc_path(path: &[u8]) -> Option<(&[u8], &[u8])> {
    split_grpc_stripped(path_only(path))
}

/// [`split_grpc_path`] of a path already without its query.
#[inline]
pub(crate) fn split_grpc_stripped(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (service, method) = (&rest[..slash], &rest[slash + 1..]);
    if service.is_empty() || method.is_empty() || method.contains(&b'/') {
        return None;
    }
    Some((service, method))
}

/// A compiled GRPCRoute match.
pub(crate) struct GrpcMatch {
    pub(crate) service: Option<StrMatch>,
    pub(crate) method: Option<StrMatch>,
    pub(crate) headers: Vec<HeaderMatch>,
}

impl GrpcMatch {
    pub(crate) fn compile_method(
        spec: Option<&GrpcMethodSpec>,
    ) -> Result<(Option<StrMatch>, Option<StrMatch>), String> {
        let Some(m) = spec else {
            return Ok((None, None));
        };
        let one = |v: &Option<String>, what: &str| -> Result<Option<StrMatch>, String> {
            match v.as_deref() {
                None | Some("") => Ok(None),
                Some(s) if m.regex => Ok(Some(StrMatch::Regex(
                    compile_regex(s).map_err(|e| format!("{what} regex: {e}"))?,
                ))),
                Some(s) => {
                    if s.contains('/') {
                        return Err(format!("{what} {s:?} must not contain /"));
                    }
                    Ok(Some(StrMatch::Exact(s.as_bytes().into())))
                }
            }
        };
        let service = one(&m.service, "service")?;
        let method = one(&m.method, "method")?;
        if service.is_none() && method.is_none() {
            return Err("method match needs a service or a method".to_owned());
        }
        Ok((service, method))
    }

    /// Characters of the service and method (precedence criteria 3 and 4).
    pub(crate) fn rank(spec: Option<&GrpcMethodSpec>) -> (usize, usize) {
        spec.map_or((0, 0), |m| {
            (
                m.service.as_deref().map_or(0, str::len),
                m.method.as_deref().map_or(0, str::len),
            )
        })
    }

    #[inline]
    pub(crate) fn is_match<H: Headers + ?Sized>(
        &self,
        req: &Request<'_, H>,
        parts: Option<(&[u8], &[u8])>,
    ) -> bool {
        if self.service.is_some() || self.method.is_some() {
            let Some((service, method)) = parts else {
                return false;
            };
            if !self.service.as_ref().is_none_or(|s| s.is_match(service))
                || !self.method.as_ref().is_none_or(|m| m.is_match(method))
            {
                return false;
            }
        }
        self.headers.iter().all(|h| h.is_match(req.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_segment_aware() {
        let p = PathMatch::compile(&PathMatchSpec::Prefix("/foo".into())).unwrap();
        assert!(p.is_match(b"/foo"));
        assert!(p.is_match(b"/foo/"));
        assert!(p.is_match(b"/foo/bar"));
        assert!(!p.is_match(b"/foobar"));
        assert!(!p.is_match(b"/fo"));
        let p = PathMatch::compile(&PathMatchSpec::Prefix("/foo/".into())).unwrap();
        assert!(p.is_match(b"/foo"));
        assert!(p.is_match(b"/foo/bar"));
        assert!(!p.is_match(b"/foobar"));
        let root = PathMatch::compile(&PathMatchSpec::Prefix("/".into())).unwrap();
        assert!(root.is_match(b"/"));
        assert!(root.is_match(b"/anything"));
    }

    #[test]
    fn regex_is_anchored() {
        let r = PathMatch::compile(&PathMatchSpec::Regex("/v[0-9]+/.*".into())).unwrap();
        assert!(r.is_match(b"/v1/x"));
        assert!(!r.is_match(b"/api/v1/x"));
    }

    #[test]
    fn grpc_paths() {
        assert_eq!(
            split_grpc_path(b"/pkg.Svc/Method"),
            Some((&b"pkg.Svc"[..], &b"Method"[..]))
        );
        assert_eq!(split_grpc_path(b"/pkg.Svc/"), None);
        assert_eq!(split_grpc_path(b"/pkg.Svc"), None);
        assert_eq!(split_grpc_path(b"//M"), None);
        assert_eq!(split_grpc_path(b"/a/b/c"), None);
    }

    #[test]
    fn repeated_headers_are_combined() {
        let h = HeaderMatch {
            name: (*b"x-a").into(),
            value: StrMatch::Exact((*b"1,2").into()),
        };
        assert!(h.is_match(&[("x-a", "1"), ("X-A", "2")][..]));
        assert!(!h.is_match(&[("x-a", "1")][..]));
        assert!(!h.is_match(&[("x-a", "1"), ("x-a", "2"), ("x-a", "3")][..]));
        let r = HeaderMatch {
            name: (*b"x-a").into(),
            value: StrMatch::Regex(compile_regex("1,.*").unwrap()),
        };
        assert!(r.is_match(&[("x-a", "1"), ("x-a", "2")][..]));
    }
}
