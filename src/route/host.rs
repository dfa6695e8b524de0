//! Hostname patterns (exact, `*.suffix`, any), Gateway API matching, intersection and specificity.

use std::fmt;

/// A compiled hostname: lowercase, no trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostPattern {
    /// No hostname: matches every host.
    Any,
    /// `api.example.com`.
    Exact(Box<[u8]>),
    /// `*.example.com`, stored as the suffix `.example.com`; matches one or more labels in front
    /// of it (`a.example.com`, `a.b.example.com`), never `example.com` itself.
    Wildcard(Box<[u8]>),
}

/// Why a hostname was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadHostname(pub String);

impl HostPattern {
    /// Parses `None`/`""`/`"*"` as [`HostPattern::Any`], `*.x` as a wildcard, anything else as an
    /// exact name (compared case-insensitively).
    pub fn parse(s: Option<&str>) -> Result<Self, BadHostname> {
        let Some(s) = s else {
            return Ok(HostPattern::Any);
        };
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        if lower.is_empty() || lower == "*" {
            return Ok(HostPattern::Any);
        }
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ok {
            return Err(BadHostname(s.to_owned()));
        }
        Ok(if wild {
            let mut suffix = Vec::with_capacity(name.len() + 1);
            suffix.push(b'.');
            suffix.extend_from_slice(name.as_bytes());
            HostPattern::Wildcard(suffix.into_boxed_slice())
        } else {
            HostPattern::Exact(name.as_bytes().into())
        })
    }

    /// Whether `host` (any case, no port) matches.
    pub fn matches(&self, host: &[u8]) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Wildcard(suffix) => wildcard_matches(suffix, host),
        }
    }

    /// Characters of a non-wildcard hostname (precedence criterion 1).
    pub fn exact_chars(&self) -> usize {
        match self {
            HostPattern::Exact(name) => name.len(),
            _ => 0,
        }
    }

    /// Characters of the hostname as written, `*.` included (precedence criterion 2).
    pub fn chars(&self) -> usize {
        match self {
            HostPattern::Any => 0,
            HostPattern::Exact(name) => name.len(),
            HostPattern::Wildcard(suffix) => suffix.len() + 1,
        }
    }

    /// A sortable specificity: higher is more specific.
    pub fn specificity(&self) -> (usize, usize) {
        (self.exact_chars(), self.chars())
    }
}

fn wildcard_matches(suffix: &[u8], host: &[u8]) -> bool {
    host.len() > suffix.len() && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The Gateway API intersection of a listener hostname and a route hostname: the more specific
/// of the two when one contains the other, `None` when they share no host.
pub fn intersect(listener: &HostPattern, route: &HostPattern) -> Option<HostPattern> {
    use HostPattern::*;
    match (listener, route) {
        (Any, r) => Some(r.clone()),
        (l, Any) => Some(l.clone()),
        (Exact(a), Exact(b)) => (a == b).then(|| listener.clone()),
        (Exact(a), Wildcard(s)) => wildcard_matches(s, a).then(|| listener.clone()),
        (Wildcard(s), Exact(b)) => wildcard_matches(s, b).then(|| route.clone()),
        (Wildcard(l), Wildcard(r)) => {
            if l.ends_with(r) {
                Some(listener.clone())
            } else if r.ends_with(l) {
                Some(route.clone())
            } else {
                None
            }
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => f.write_str("*"),
            HostPattern::Exact(n) => f.write_str(&String::from_utf8_lossy(n)),
            HostPattern::Wildcard(s) => write!(f, "*{}", String::from_utf8_lossy(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(Some(s)).unwrap()
    }

    #[test]
    fn matching() {
        assert!(p("*.example.com").matches(b"a.example.com"));
        assert!(p("*.example.com").matches(b"A.b.EXAMPLE.com"));
        assert!(!p("*.example.com").matches(b"example.com"));
        assert!(!p("*.example.com").matches(b"aexample.com"));
        assert!(p("Example.com").matches(b"example.COM"));
        assert!(!p("example.com").matches(b"www.example.com"));
        assert!(HostPattern::Any.matches(b"anything"));
    }

    #[test]
    fn intersection() {
        let l = p("*.example.com");
        assert_eq!(
            intersect(&l, &p("test.example.com")),
            Some(p("test.example.com"))
        );
        assert_eq!(
            intersect(&l, &p("foo.test.example.com")),
            Some(p("foo.test.example.com"))
        );
        assert_eq!(intersect(&l, &p("*.example.com")), Some(l.clone()));
        assert_eq!(intersect(&l, &p("*.com")), Some(l.clone()));
        assert_eq!(
            intersect(&l, &p("*.a.example.com")),
            Some(p("*.a.example.com"))
        );
        assert_eq!(intersect(&l, &p("example.com")), None);
        assert_eq!(intersect(&l, &p("test.example.net")), None);
        let e = p("test.example.com");
        assert_eq!(intersect(&e, &p("*.example.com")), Some(e.clone()));
        assert_eq!(intersect(&e, &HostPattern::Any), Some(e.clone()));
        assert_eq!(intersect(&e, &p("other.example.com")), None);
    }

    #[test]
    fn bad_names() {
        assert!(HostPattern::parse(Some("a..b")).is_err());
        assert!(HostPattern::parse(Some("a.*.b")).is_err());
        assert!(HostPattern::parse(Some("sp ace")).is_err());
    }
}
