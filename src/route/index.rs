//! The per-listener candidate index: hostname groups, and inside each group a first-path-segment
//! index so a request only tests the candidates that could match it.
//!
//! A group holds its (rule, match) candidates in precedence order. Candidates whose path match
//! (HTTPRoute Exact or PathPrefix other than `/`) or exact gRPC service pins the first path
//! segment are also filed under that segment (`/foo/bar` → `foo`, `/pkg.Svc/Method` →
//! `pkg.Svc`); the others (prefix `/`, regexes, no service) can match any segment. A lookup
//! merges the candidates filed under the request's segment with the unfiled ones, in precedence
//! order, so the first accepted candidate is the same one a full scan would find.

use super::host::HostPattern;
use crate::balance::hash::key_hash;

/// A (rule, match) pair, indices into the table's rule list of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) rule: u32,
    pub(crate) m: u32,
}

/// The request's first path segment and its hash (computed once per request).
#[derive(Clone, Copy)]
pub(crate) struct Segment<'a> {
    bytes: &'a [u8],
    hash: u64,
}

/// The first segment of `path`, a path without its query (`None` if it does not start with
/// `/`).
pub(crate) fn first_segment(path: &[u8]) -> Option<Segment<'_>> {
    let rest = path.strip_prefix(b"/")?;
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let bytes = &rest[..end];
    Some(Segment {
        bytes,
        hash: key_hash(bytes),
    })
}

/// The first segment a configured path pins (`None`: any).
pub(crate) fn pinned_segment(path: &str) -> Option<Box<[u8]>> {
    let rest = path.strip_prefix('/')?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(rest.as_bytes()[..end].into())
}

type Keyed = (u64, Box<[u8]>, Box<[u32]>);

/// One hostname group.
pub(crate) struct Group {
    cands: Box<[Candidate]>,
    /// (segment hash, segment, ascending positions in `cands`), sorted by (hash, segment).
    keyed: Box<[Keyed]>,
    /// Positions of candidates that may match any segment.
    unkeyed: Box<[u32]>,
}

impl Group {
    /// `cands` in precedence order, each with the segment it pins.
    pub(crate) fn new(cands: Vec<(Candidate, Option<Box<[u8]>>)>) -> Group {
        let mut keyed: Vec<Keyed> = Vec::new();
        let mut unkeyed = Vec::new();
        let mut by_key: std::collections::BTreeMap<(u64, Box<[u8]>), Vec<u32>> =
            std::collections::BTreeMap::new();
        for (pos, (_, key)) in cands.iter().enumerate() {
            match key {
                Some(k) => by_key
                    .entry((key_hash(k), k.clone()))
                    .or_default()
                    .push(pos as u32),
                None => unkeyed.push(pos as u32),
            }
        }
        for ((h, k), positions) in by_key {
            keyed.push((h, k, positions.into_boxed_slice()));
        }
        Group {
            cands: cands.into_iter().map(|(c, _)| c).collect(),
            keyed: keyed.into_boxed_slice(),
            unkeyed: unkeyed.into_boxed_slice(),
        }
    }

    /// Every candidate in precedence order (for `explain`).
    pub(crate) fn all(&self) -> &[Candidate] {
        &self.cands
    }

    /// The first candidate that `accept`s, testing only those that can match `segment`.
    #[inline]
    pub(crate) fn find(
        &self,
        segment: Option<Segment<'_>>,
        accept: &mut impl FnMut(Candidate) -> bool,
    ) -> Option<Candidate> {
        let mut a: &[u32] = match segment {
            Some(seg) if !self.keyed.is_empty() => self
                .keyed
                .binary_search_by(|(h, k, _)| (*h, &**k).cmp(&(seg.hash, seg.bytes)))
                .map_or(&[], |i| &self.keyed[i].2),
            _ => &[],
        };
        let mut b: &[u32] = &self.unkeyed;
        loop {
            let pos = match (a.split_first(), b.split_first()) {
                (Some((&x, ra)), Some((&y, rb))) => {
                    if x < y {
                        a = ra;
                        x
                    } else {
                        b = rb;
                        y
                    }
                }
                (Some((&x, ra)), None) => {
                    a = ra;
                    x
                }
                (None, Some((&y, rb))) => {
                    b = rb;
                    y
                }
                (None, None) => return None,
            };
            let c = *self.cands.get(pos as usize)?;
            if accept(c) {
                return Some(c);
            }
        }
    }
}

/// Candidates of one route kind on one listener, grouped by intersected hostname.
#[derive(Default)]
pub(crate) struct HostIndex {
    /// Sorted by name (lowercase) for binary search.
    exact: Vec<(Box<[u8]>, Group)>,
    /// `.suffix`, longest first.
    wildcard: Vec<(Box<[u8]>, Group)>,
    any: Option<Group>,
}

fn lowercase(host: &[u8], buf: &mut [u8; 255]) -> Option<usize> {
    let n = host.len();
    let lower = buf.get_mut(..n)?;
    lower.copy_from_slice(host);
    lower.make_ascii_lowercase();
    Some(n)
}

fn wildcard_matches(suffix: &[u8], host: &[u8]) -> bool {
    host.len() > suffix.len() && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

impl HostIndex {
    pub(crate) fn from_groups(groups: Vec<(HostPattern, Group)>) -> HostIndex {
        let mut index = HostIndex::default();
        for (pattern, group) in groups {
            match pattern {
                HostPattern::Any => index.any = Some(group),
                HostPattern::Exact(name) => index.exact.push((name, group)),
                HostPattern::Wildcard(suffix) => index.wildcard.push((suffix, group)),
            }
        }
        index.exact.sort_by(|a, b| a.0.cmp(&b.0));
        index
            .wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        index
    }

    fn exact_group(&self, host: &[u8]) -> Option<&(Box<[u8]>, Group)> {
        if self.exact.is_empty() {
            return None;
        }
        let mut buf = [0u8; 255];
        let n = lowercase(host, &mut buf)?;
        let lower = &buf[..n];
        let i = self
            .exact
            .binary_search_by(|(k, _)| (**k).cmp(lower))
            .ok()?;
        self.exact.get(i)
    }

    /// Groups whose hostname matches `host`, most specific first (for `explain`).
    pub(crate) fn groups<'a>(
        &'a self,
        host: &'a [u8],
    ) -> impl Iterator<Item = (HostPattern, &'a Group)> + 'a {
        let exact = self
            .exact_group(host)
            .map(|(k, g)| (HostPattern::Exact(k.clone()), g));
        let wild = self
            .wildcard
            .iter()
            .filter(move |(s, _)| wildcard_matches(s, host))
            .map(|(s, g)| (HostPattern::Wildcard(s.clone()), g));
        let any = self.any.as_ref().map(|g| (HostPattern::Any, g));
        exact.into_iter().chain(wild).chain(any)
    }

    /// The first candidate (hostname groups most specific first, then precedence order)
    /// accepted by `accept`. No allocation.
    #[inline]
    pub(crate) fn find(
        &self,
        host: &[u8],
        segment: Option<Segment<'_>>,
        mut accept: impl FnMut(Candidate) -> bool,
    ) -> Option<Candidate> {
        if let Some((_, g)) = self.exact_group(host) {
            if let Some(c) = g.find(segment, &mut accept) {
                return Some(c);
            }
        }
        for (s, g) in &self.wildcard {
            if wildcard_matches(s, host) {
                if let Some(c) = g.find(segment, &mut accept) {
                    return Some(c);
                }
            }
        }
        self.any.as_ref()?.find(segment, &mut accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        let s = first_segment(b"/pkg.Svc/Method").unwrap();
        assert_eq!(s.bytes, b"pkg.Svc");
        assert_eq!(first_segment(b"/").unwrap().bytes, b"");
        assert!(first_segment(b"*").is_none());
        assert_eq!(pinned_segment("/foo/bar").as_deref(), Some(&b"foo"[..]));
        assert_eq!(pinned_segment("/").as_deref(), Some(&b""[..]));
    }

    #[test]
    fn merged_lookup_keeps_precedence_order() {
        let c = |rule| Candidate { rule, m: 0 };
        let key = |s: &str| Some(s.as_bytes().into());
        let g = Group::new(vec![
            (c(0), key("a")),
            (c(1), None),
            (c(2), key("b")),
            (c(3), key("a")),
            (c(4), None),
        ]);
        let mut seen = Vec::new();
        let found = g.find(first_segment(b"/a/x"), &mut |c| {
            seen.push(c.rule);
            false
        });
        assert_eq!(found, None);
        assert_eq!(seen, [0, 1, 3, 4]);
        seen.clear();
        g.find(None, &mut |c| {
            seen.push(c.rule);
            false
        });
        assert_eq!(seen, [1, 4]);
    }
}
