//! What HTTPRoute and GRPCRoute share: parentRefs, hostnames, backendRefs, header matches.

use super::{GATEWAY_API, Head, check, one_of, ref_group_kind, ref_name, ref_namespace};
use crate::config::model::{HeaderMatch, Hostname, StringMatch, Timeouts};
use crate::config::read::{At, Cx, Fields, Loc};
use crate::config::syntax;

#[derive(Debug)]
pub(crate) struct ParentRefRaw {
    pub namespace: String,
    pub name: String,
    pub section_name: Option<String>,
    pub port: Option<u16>,
    pub loc: Loc,
}

#[derive(Debug)]
pub(crate) struct BackendRef {
    pub namespace: String,
    pub name: String,
    pub port: u16,
    pub weight: u32,
    pub loc: Loc,
}

#[derive(Debug)]
pub(crate) struct RawRule<M> {
    pub name: Option<String>,
    pub matches: Vec<M>,
    pub backends: Vec<BackendRef>,
    pub timeouts: Timeouts,
}

/// Gateway API weight range.
pub(crate) const MAX_WEIGHT: u32 = 1_000_000;

pub(crate) fn parent_refs(cx: &mut Cx, head: &Head, spec: &mut Fields) -> Vec<ParentRefRaw> {
    let mut out = Vec::new();
    let Some(p) = spec.req(cx, "parentRefs") else {
        return out;
    };
    let Some(items) = p.seq_max(cx, 32) else {
        return out;
    };
    if items.is_empty() {
        cx.error(
            p.line,
            &p.path,
            "at least one parentRef is required (the route attaches to nothing)",
        );
    }
    for item in &items {
        let Some(mut f) = item.map(cx) else { continue };
        let kind = ref_group_kind(cx, &mut f, GATEWAY_API, &["Gateway"]);
        let name = ref_name(cx, &mut f);
        let namespace = ref_namespace(cx, &mut f, &head.namespace);
        let section_name = f.get("sectionName").and_then(|s| {
            let v = s.nonempty(cx)?;
            check(cx, &s, syntax::section_name(&v)).then_some(v)
        });
        let port = f.get("port").and_then(|p| p.port(cx));
        f.finish(cx);
        if let (Some(_), Some((name, _))) = (kind, name) {
            out.push(ParentRefRaw {
                namespace,
                name,
                section_name,
                port,
                loc: item.loc(),
            });
        }
    }
    out
}

pub(crate) fn hostnames(cx: &mut Cx, spec: &mut Fields) -> Vec<Hostname> {
    let mut out = Vec::new();
    if let Some(h) = spec.get("hostnames") {
        for item in h.seq_max(cx, 16).unwrap_or_default() {
            if let Some(s) = item.str(cx) {
                if check(cx, &item, syntax::hostname(&s)) {
                    out.push(Hostname::new(s));
                }
            }
        }
    }
    out
}

pub(crate) fn backend_refs(cx: &mut Cx, head: &Head, rule: &mut Fields) -> Vec<BackendRef> {
    let mut out = Vec::new();
    let Some(b) = rule.get("backendRefs") else {
        return out;
    };
    for item in b.seq_max(cx, 16).unwrap_or_default() {
        let Some(mut f) = item.map(cx) else { continue };
        let kind = ref_group_kind(cx, &mut f, "", &["Service"]);
        let name = ref_name(cx, &mut f);
        let namespace = ref_namespace(cx, &mut f, &head.namespace);
        let port = f.req(cx, "port").and_then(|p| p.port(cx));
        let weight = match f.get("weight") {
            Some(w) => w.u32(cx, 0, MAX_WEIGHT),
            None => Some(1),
        };
        f.refuse(
            cx,
            "filters",
            "backendRef filters are not supported by h2edge yet",
        );
        f.finish(cx);
        if let (Some(_), Some((name, _)), Some(port), Some(weight)) = (kind, name, port, weight) {
            out.push(BackendRef {
                namespace,
                name,
                port,
                weight,
                loc: item.loc(),
            });
        }
    }
    out
}

/// `headers` of a match: `{type: Exact|RegularExpression, name, value}`; names must be unique
/// (case-insensitively) within one match.
pub(crate) fn header_matches(cx: &mut Cx, m: &mut Fields) -> Option<Vec<HeaderMatch>> {
    let Some(h) = m.get("headers") else {
        return Some(Vec::new());
    };
    let mut out: Vec<HeaderMatch> = Vec::new();
    let mut ok = true;
    for item in h.seq_max(cx, 16)? {
        let Some(mut f) = item.map(cx) else {
            ok = false;
            continue;
        };
        let name = f.req(cx, "name").and_then(|n| {
            let s = n.str(cx)?;
            check(cx, &n, syntax::header_name(&s)).then(|| (s.to_ascii_lowercase(), n))
        });
        let value = string_match(cx, &mut f, 4096);
        f.finish(cx);
        match (name, value) {
            (Some((name, at)), Some(value)) => {
                if out.iter().any(|h| h.name == name) {
                    cx.error(
                        at.line,
                        &at.path,
                        format!("duplicate header name {name:?} in one match"),
                    );
                    ok = false;
                } else {
                    out.push(HeaderMatch { name, value });
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `{type: Exact|RegularExpression, value}` with `value` of 1..=`max_len` characters.
pub(crate) fn string_match(cx: &mut Cx, f: &mut Fields, max_len: usize) -> Option<StringMatch> {
    let regex = match f.get("type") {
        Some(t) => one_of(cx, &t, &["Exact", "RegularExpression"])? == 1,
        None => false,
    };
    let v = f.req(cx, "value")?;
    let s = v.str(cx)?;
    if s.is_empty() || s.len() > max_len {
        cx.error(
            v.line,
            &v.path,
            format!("value must have 1 to {max_len} characters"),
        );
        return None;
    }
    if regex {
        match syntax::pattern(&s) {
            Ok(p) => Some(StringMatch::RegularExpression(p)),
            Err(e) => {
                cx.error(v.line, &v.path, e);
                None
            }
        }
    } else {
        Some(StringMatch::Exact(s))
    }
}

/// A rule's optional `name`.
pub(crate) fn rule_name(cx: &mut Cx, rule: &mut Fields) -> Option<String> {
    rule.get("name").and_then(|n| {
        let s = n.nonempty(cx)?;
        check(cx, &n, syntax::section_name(&s)).then_some(s)
    })
}

/// The list under `key`, with a maximum length; an item that fails is skipped (already reported).
pub(crate) fn items<'n>(cx: &mut Cx, f: &mut Fields<'n>, key: &str, max: usize) -> Vec<At<'n>> {
    f.get(key)
        .and_then(|l| l.seq_max(cx, max))
        .unwrap_or_default()
}
