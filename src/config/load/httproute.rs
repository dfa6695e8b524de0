//! HTTPRoute: parentRefs, hostnames, rules with path/header/query/method matches, weighted
//! backendRefs, timeouts.

use super::routes::{self, BackendRef, ParentRefRaw, RawRule};
use super::{Head, one_of};
use crate::config::model::{
    Hostname, HttpMatch, Method, PathMatch, QueryParamMatch, StringMatch, Timeouts,
};
use crate::config::read::{At, Cx, Fields};
use crate::config::syntax;

#[derive(Debug)]
pub(crate) struct RawHttpRoute {
    pub head: Head,
    pub parents: Vec<ParentRefRaw>,
    pub hostnames: Vec<Hostname>,
    pub rules: Vec<RawRule<HttpMatch>>,
}

pub(crate) fn load(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawHttpRoute> {
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let parents = routes::parent_refs(cx, &head, &mut spec);
    let hostnames = routes::hostnames(cx, &mut spec);
    let mut rules = Vec::new();
    match spec.get("rules") {
        Some(r) => {
            let items = r.seq_max(cx, 16).unwrap_or_default();
            for item in &items {
                if let Some(rule) = rule(cx, &head, item) {
                    rules.push(rule);
                }
            }
        }
        None => rules.push(RawRule {
            // Gateway API default: one rule matching every path, with no backends.
            name: None,
            matches: vec![default_match()],
            backends: Vec::<BackendRef>::new(),
            timeouts: Timeouts::default(),
        }),
    }
    spec.finish(cx);
    Some(RawHttpRoute {
        head,
        parents,
        hostnames,
        rules,
    })
}

fn default_match() -> HttpMatch {
    HttpMatch {
        path: PathMatch::Prefix("/".into()),
        headers: Vec::new(),
        query_params: Vec::new(),
        method: None,
    }
}

fn rule(cx: &mut Cx, head: &Head, item: &At) -> Option<RawRule<HttpMatch>> {
    let mut f = item.map(cx)?;
    let name = routes::rule_name(cx, &mut f);
    let mut matches = Vec::new();
    let mut ok = true;
    for m in routes::items(cx, &mut f, "matches", 64) {
        match http_match(cx, &m) {
            Some(m) => matches.push(m),
            None => ok = false,
        }
    }
    if matches.is_empty() && ok {
        matches.push(default_match());
    }
    let backends = routes::backend_refs(cx, head, &mut f);
    let timeouts = match f.get("timeouts") {
        Some(t) => timeouts(cx, &t),
        None => Some(Timeouts::default()),
    };
    f.refuse(
        cx,
        "filters",
        "filters are not supported by h2edge yet (the route would behave differently than written)",
    );
    f.refuse(cx, "retry", "retry is not supported by h2edge yet");
    f.refuse(
        cx,
        "sessionPersistence",
        "sessionPersistence is not supported; use a DestinationRule consistentHash with httpCookie",
    );
    f.finish(cx);
    Some(RawRule {
        name,
        matches,
        backends,
        timeouts: timeouts?,
    })
    .filter(|_| ok)
}

fn http_match(cx: &mut Cx, at: &At) -> Option<HttpMatch> {
    let mut f = at.map(cx)?;
    let path = match f.get("path") {
        Some(p) => path_match(cx, &p),
        None => Some(PathMatch::Prefix("/".into())),
    };
    let headers = routes::header_matches(cx, &mut f);
    let query_params = query_matches(cx, &mut f);
    let method = match f.get("method") {
        Some(m) => {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
            one_of(cx, &m, &names).map(|i| Some(Method::ALL[i]))
        }
        None => Some(None),
    };
    f.finish(cx);
    Some(HttpMatch {
        path: path?,
        headers: headers?,
        query_params: query_params?,
        method: method?,
    })
}

fn path_match(cx: &mut Cx, at: &At) -> Option<PathMatch> {
    let mut f = at.map(cx)?;
    let kind = match f.get("type") {
        Some(t) => one_of(cx, &t, &["Exact", "PathPrefix", "RegularExpression"])?,
        None => 1,
    };
    let value_at = f.get("value");
    f.finish(cx);
    let (value, v_at) = match value_at {
        Some(v) => (v.str(cx)?, Some(v)),
        None => ("/".to_string(), None),
    };
    let line = v_at.as_ref().map_or(at.line, |v| v.line);
    let path = v_at
        .as_ref()
        .map_or_else(|| format!("{}.value", at.path), |v| v.path.clone());
    if value.len() > 1024 {
        cx.error(line, &path, "path is longer than 1024 characters");
        return None;
    }
    if kind == 2 {
        return match syntax::pattern(&value) {
            Ok(p) => Some(PathMatch::RegularExpression(p)),
            Err(e) => {
                cx.error(line, &path, e);
                None
            }
        };
    }
    if let Err(e) = check_path(&value) {
        cx.error(line, &path, e);
        return None;
    }
    Some(if kind == 0 {
        PathMatch::Exact(value)
    } else {
        PathMatch::Prefix(value)
    })
}

/// Gateway API rules for Exact and PathPrefix values.
fn check_path(v: &str) -> Result<(), String> {
    if !v.starts_with('/') {
        return Err(format!("path {v:?} must start with \"/\""));
    }
    if v.contains("//") {
        return Err(format!("path {v:?} must not contain \"//\""));
    }
    if v.contains(['?', '#']) {
        return Err(format!("path {v:?} must not contain '?' or '#'"));
    }
    if v.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!(
            "path {v:?} must not contain \".\" or \"..\" segments"
        ));
    }
    let lower = v.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(format!(
            "path {v:?} must not contain encoded slashes (%2F, %5C)"
        ));
    }
    Ok(())
}

fn query_matches(cx: &mut Cx, m: &mut Fields) -> Option<Vec<QueryParamMatch>> {
    let Some(q) = m.get("queryParams") else {
        return Some(Vec::new());
    };
    let mut out: Vec<QueryParamMatch> = Vec::new();
    let mut ok = true;
    for item in q.seq_max(cx, 16)? {
        let Some(mut f) = item.map(cx) else {
            ok = false;
            continue;
        };
        let name = f.req(cx, "name").and_then(|n| {
            let s = n.str(cx)?;
            super::check(
                cx,
                &n,
                syntax::header_name(&s).map_err(|e| e.replace("header", "query parameter")),
            )
            .then_some((s, n))
        });
        let value: Option<StringMatch> = routes::string_match(cx, &mut f, 1024);
        f.finish(cx);
        match (name, value) {
            (Some((name, at)), Some(value)) => {
                if out.iter().any(|q| q.name == name) {
                    cx.error(
                        at.line,
                        &at.path,
                        format!("duplicate query parameter {name:?} in one match"),
                    );
                    ok = false;
                } else {
                    out.push(QueryParamMatch { name, value });
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn timeouts(cx: &mut Cx, at: &At) -> Option<Timeouts> {
    let mut f = at.map(cx)?;
    let request = f.get("request").map(|r| (r.gateway_duration(cx), r));
    let backend = f.get("backendRequest").map(|b| (b.gateway_duration(cx), b));
    f.finish(cx);
    let mut t = Timeouts::default();
    if let Some((d, _)) = &request {
        t.request = Some((*d)?).filter(|d| !d.is_zero());
    }
    if let Some((d, b_at)) = &backend {
        t.backend_request = Some((*d)?).filter(|d| !d.is_zero());
        if let (Some(req), Some(be)) = (t.request, t.backend_request) {
            if be > req {
                cx.error(
                    b_at.line,
                    &b_at.path,
                    "backendRequest must not be longer than request",
                );
                return None;
            }
        }
    }
    Some(t)
}
