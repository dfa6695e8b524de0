//! BackendTLSPolicy: TLS toward a Service, validated against CA references, a hostname (also the
//! SNI) and optional subjectAltNames (a DNS name or a URI such as a SPIFFE id).

use super::{Head, ObjRef, check, obj_ref, one_of, ref_group_kind, ref_name};
use crate::config::model::SubjectAltName;
use crate::config::read::{Cx, Fields, Loc};
use crate::config::syntax;

#[derive(Debug)]
pub(crate) struct RawBackendTlsPolicy {
    pub head: Head,
    /// `(service, sectionName)`: the policy applies to that Service (and only its port of that
    /// name, when a sectionName is given).
    pub targets: Vec<(String, Option<String>, Loc)>,
    pub ca_refs: Vec<ObjRef>,
    pub hostname: String,
    pub subject_alt_names: Vec<SubjectAltName>,
}

pub(crate) fn load(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawBackendTlsPolicy> {
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let mut targets = Vec::new();
    if let Some(t) = spec.req(cx, "targetRefs") {
        let items = t.seq_max(cx, 16).unwrap_or_default();
        if items.is_empty() {
            cx.error(t.line, &t.path, "at least one targetRef is required");
        }
        for item in &items {
            let Some(mut f) = item.map(cx) else { continue };
            let kind = ref_group_kind(cx, &mut f, "", &["Service"]);
            let name = ref_name(cx, &mut f);
            let section = f.get("sectionName").and_then(|s| s.nonempty(cx));
            f.finish(cx);
            if let (Some(_), Some((name, loc))) = (kind, name) {
                targets.push((name, section, loc));
            }
        }
    }
    let mut ca_refs = Vec::new();
    let mut hostname = None;
    let mut sans = Vec::new();
    let mut ok = true;
    if let Some(v) = spec.req(cx, "validation") {
        let mut vf = v.map(cx)?;
        let refs_at = vf.get("caCertificateRefs");
        if let Some(w) = vf.get("wellKnownCACertificates") {
            cx.error(
                w.line,
                &w.path,
                "wellKnownCACertificates is not supported (h2edge has no system trust store); give caCertificateRefs",
            );
            ok = false;
        }
        match &refs_at {
            Some(c) => {
                let items = c.seq_max(cx, 8).unwrap_or_default();
                if items.is_empty() {
                    cx.error(
                        c.line,
                        &c.path,
                        "at least one CA certificate reference is required",
                    );
                    ok = false;
                }
                for item in &items {
                    match obj_ref(
                        cx,
                        item,
                        "",
                        &["ConfigMap", "Secret"],
                        &head.namespace,
                        false,
                    ) {
                        Some(r) => ca_refs.push(r),
                        None => ok = false,
                    }
                }
            }
            None if ok => {
                cx.error(
                    vf.line,
                    &format!("{}.caCertificateRefs", vf.path),
                    "required field is missing",
                );
                ok = false;
            }
            None => {}
        }
        hostname = vf.req(cx, "hostname").and_then(|h| {
            let s = h.str(cx)?;
            check(cx, &h, syntax::dns_name(&s)).then_some(s)
        });
        if let Some(s) = vf.get("subjectAltNames") {
            for item in s.seq_max(cx, 5).unwrap_or_default() {
                let Some(mut f) = item.map(cx) else {
                    ok = false;
                    continue;
                };
                let ty = f
                    .req(cx, "type")
                    .and_then(|t| one_of(cx, &t, &["Hostname", "URI"]));
                let san = match ty {
                    Some(0) => f.req(cx, "hostname").and_then(|h| {
                        let v = h.str(cx)?;
                        check(cx, &h, syntax::hostname(&v)).then_some(SubjectAltName::Dns(v))
                    }),
                    Some(_) => f.req(cx, "uri").and_then(|u| {
                        let v = u.str(cx)?;
                        check(cx, &u, uri(&v)).then_some(SubjectAltName::Uri(v))
                    }),
                    None => None,
                };
                f.finish(cx);
                match san {
                    Some(s) => sans.push(s),
                    None => ok = false,
                }
            }
        }
        vf.finish(cx);
    }
    spec.finish(cx);
    let hostname = hostname?;
    ok.then_some(RawBackendTlsPolicy {
        head,
        targets,
        ca_refs,
        hostname,
        subject_alt_names: sans,
    })
}

/// A URI SAN: `scheme:rest`, such as `spiffe://cluster.local/ns/default/sa/product`.
pub(crate) fn uri(s: &str) -> Result<(), String> {
    let ok = match s.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !s.contains(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err(format!(
            "invalid URI {s:?}: expected scheme:rest, such as spiffe://cluster.local/ns/default/sa/product"
        ));
    }
    if let Some(rest) = s.strip_prefix("spiffe://") {
        let (trust_domain, path) = rest.split_once('/').unwrap_or((rest, ""));
        if trust_domain.is_empty() || path.is_empty() {
            return Err(format!(
                "invalid SPIFFE id {s:?}: expected spiffe://trust-domain/path"
            ));
        }
    }
    Ok(())
}
