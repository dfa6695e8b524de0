//! GRPCRoute: parentRefs, hostnames, rules with method (service/method) and header matches,
//! weighted backendRefs.

use super::routes::{self, ParentRefRaw, RawRule};
use super::{Head, one_of};
use crate::config::model::{GrpcMatch, GrpcMethodMatch, Hostname, Pattern, Timeouts};
use crate::config::read::{At, Cx, Fields};
use crate::config::syntax;

#[derive(Debug)]
pub(crate) struct RawGrpcRoute {
    pub head: Head,
    pub parents: Vec<ParentRefRaw>,
    pub hostnames: Vec<Hostname>,
    pub rules: Vec<RawRule<GrpcMatch>>,
}

pub(crate) fn load(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawGrpcRoute> {
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let parents = routes::parent_refs(cx, &head, &mut spec);
    let hostnames = routes::hostnames(cx, &mut spec);
    let mut rules = Vec::new();
    for item in routes::items(cx, &mut spec, "rules", 16) {
        if let Some(rule) = rule(cx, &head, &item) {
            rules.push(rule);
        }
    }
    spec.finish(cx);
    Some(RawGrpcRoute {
        head,
        parents,
        hostnames,
        rules,
    })
}

fn rule(cx: &mut Cx, head: &Head, item: &At) -> Option<RawRule<GrpcMatch>> {
    let mut f = item.map(cx)?;
    let name = routes::rule_name(cx, &mut f);
    let mut matches = Vec::new();
    let mut ok = true;
    for m in routes::items(cx, &mut f, "matches", 64) {
        match grpc_match(cx, &m) {
            Some(m) => matches.push(m),
            None => ok = false,
        }
    }
    let backends = routes::backend_refs(cx, head, &mut f);
    f.refuse(
        cx,
        "filters",
        "filters are not supported by h2edge yet (the route would behave differently than written)",
    );
    f.refuse(
        cx,
        "sessionPersistence",
        "sessionPersistence is not supported; use a DestinationRule consistentHash with httpCookie",
    );
    f.refuse(
        cx,
        "timeouts",
        "GRPCRoute has no timeouts in Gateway API v1 (use an HTTPRoute for timeouts)",
    );
    f.finish(cx);
    ok.then(|| RawRule {
        name,
        matches,
        backends,
        timeouts: Timeouts::default(),
    })
}

fn grpc_match(cx: &mut Cx, at: &At) -> Option<GrpcMatch> {
    let mut f = at.map(cx)?;
    let method = match f.get("method") {
        Some(m) => method_match(cx, &m).map(Some),
        None => Some(None),
    };
    let headers = routes::header_matches(cx, &mut f);
    f.finish(cx);
    Some(GrpcMatch {
        method: method?,
        headers: headers?,
    })
}

fn method_match(cx: &mut Cx, at: &At) -> Option<GrpcMethodMatch> {
    let mut f: Fields = at.map(cx)?;
    let regex = match f.get("type") {
        Some(t) => one_of(cx, &t, &["Exact", "RegularExpression"])? == 1,
        None => false,
    };
    let service = f.get("service").map(|s| (s.str(cx), s));
    let method = f.get("method").map(|m| (m.str(cx), m));
    f.finish(cx);
    if service.is_none() && method.is_none() {
        cx.error(
            at.line,
            &at.path,
            "at least one of service and method is required",
        );
        return None;
    }
    let mut ok = true;
    for (v, a) in service.iter().chain(method.iter()) {
        match v {
            Some(s) if s.is_empty() || s.len() > 1024 => {
                cx.error(a.line, &a.path, "must have 1 to 1024 characters");
                ok = false;
            }
            Some(_) => {}
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    if regex {
        let compile =
            |cx: &mut Cx, x: &Option<(Option<String>, At)>| -> Result<Option<Pattern>, ()> {
                match x {
                    Some((Some(s), a)) => syntax::pattern(s).map(Some).map_err(|e| {
                        cx.error(a.line, &a.path, e);
                    }),
                    _ => Ok(None),
                }
            };
        let s = compile(cx, &service);
        let m = compile(cx, &method);
        return Some(GrpcMethodMatch::RegularExpression {
            service: s.ok()?,
            method: m.ok()?,
        });
    }
    if let Some((Some(s), a)) = &service {
        if !is_service_name(s) {
            cx.error(
                a.line,
                &a.path,
                format!("invalid gRPC service {s:?}: expected a dotted name such as product.ProductService (no \"/\")"),
            );
            ok = false;
        }
    }
    if let Some((Some(m), a)) = &method {
        if !is_ident(m) {
            cx.error(
                a.line,
                &a.path,
                format!("invalid gRPC method {m:?}: expected an identifier such as GetProduct"),
            );
            ok = false;
        }
    }
    ok.then(|| GrpcMethodMatch::Exact {
        service: service.and_then(|(s, _)| s),
        method: method.and_then(|(m, _)| m),
    })
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Gateway API: `^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`.
fn is_service_name(s: &str) -> bool {
    let body = s.strip_prefix('.').unwrap_or(s);
    !body.is_empty() && body.split('.').all(is_ident)
}
