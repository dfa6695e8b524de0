//! `gateway.networking.k8s.io/v1` Gateway: listeners, certificates, backend client certificate,
//! frontend client validation.

use super::{GATEWAY_API, Head, ObjRef, buffers, check, client_conns, http2, obj_ref, one_of};
use crate::balance::Locality;
use crate::config::model::{
    BufferSettings, ClientConnections, FrontendValidationMode, Hostname, Http2Settings, Protocol,
};
use crate::config::read::{At, Cx, Fields, Loc};
use crate::config::syntax;

#[derive(Debug)]
pub(crate) struct RawGateway {
    pub head: Head,
    pub listeners: Vec<RawListener>,
    pub backend_cert: Option<ObjRef>,
    pub frontend_default: Option<RawValidation>,
    /// `(port, validation, position of port)`.
    pub frontend_per_port: Vec<(u16, RawValidation, Loc)>,
    pub locality: Locality,
    pub http2: Http2Settings,
    pub buffers: BufferSettings,
    pub clients: ClientConnections,
}

#[derive(Debug)]
pub(crate) struct RawListener {
    pub name: String,
    pub hostname: Option<Hostname>,
    pub port: u16,
    pub protocol: Protocol,
    pub cert_refs: Vec<ObjRef>,
    pub allowed: AllowedRoutes,
    /// Position of the listener item.
    pub loc: Loc,
}

/// `allowedRoutes`: which routes may attach.
#[derive(Clone, Debug)]
pub(crate) struct AllowedRoutes {
    /// `from: All` (true) or `Same` (false, the default).
    pub all_namespaces: bool,
    /// Allowed route kinds; empty means the protocol's defaults (HTTPRoute and GRPCRoute).
    pub kinds: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct RawValidation {
    pub ca_refs: Vec<ObjRef>,
    pub mode: FrontendValidationMode,
}

pub(crate) const LOCALITY_ANNOTATION: &str = "h2edge.io/locality";

pub(crate) fn load(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawGateway> {
    let http2 = http2::settings(cx, &head);
    let buffers = buffers::settings(cx, &head);
    let clients = client_conns::settings(cx, &head);
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let mut gw = RawGateway {
        listeners: Vec::new(),
        backend_cert: None,
        frontend_default: None,
        frontend_per_port: Vec::new(),
        locality: locality(&head),
        http2,
        buffers,
        clients,
        head,
    };
    if let Some(c) = spec.req(cx, "gatewayClassName") {
        c.str(cx); // required by Gateway API; its value means nothing to a standalone gateway
    }
    if let Some((l, items)) = spec
        .req(cx, "listeners")
        .and_then(|l| l.seq(cx).map(|items| (l, items)))
    {
        if items.is_empty() || items.len() > 64 {
            cx.error(
                l.line,
                &l.path,
                format!("expected 1 to 64 listeners, found {}", items.len()),
            );
        }
        for item in &items {
            if let Some(listener) = listener(cx, &gw.head, item) {
                if let Some(first) = gw.listeners.iter().find(|x| x.name == listener.name) {
                    cx.error(
                        listener.loc.line,
                        &format!("{}.name", listener.loc.path),
                        format!(
                            "duplicate listener name {:?} (first at line {})",
                            listener.name, first.loc.line
                        ),
                    );
                    continue;
                }
                gw.listeners.push(listener);
            }
        }
    }
    if let Some(tls_at) = spec.get("tls") {
        gateway_tls(cx, &mut gw, &tls_at);
    }
    spec.finish(cx);
    Some(gw)
}

fn locality(head: &Head) -> Locality {
    let Some(v) = head.annotations.get(LOCALITY_ANNOTATION) else {
        return Locality::default();
    };
    let mut parts = v.split('/');
    let mut part = || parts.next().unwrap_or_default().to_string();
    Locality {
        region: part(),
        zone: part(),
        subzone: part(),
    }
}

fn listener(cx: &mut Cx, head: &Head, item: &At) -> Option<RawListener> {
    let mut f = item.map(cx)?;
    let name = f.req(cx, "name").and_then(|n| {
        let s = n.nonempty(cx)?;
        check(cx, &n, syntax::section_name(&s)).then_some(s)
    });
    let hostname = f.get("hostname").and_then(|h| {
        let s = h.str(cx)?;
        check(cx, &h, syntax::hostname(&s)).then(|| Hostname::new(s))
    });
    let port = f.req(cx, "port").and_then(|p| p.port(cx));
    let protocol = f.req(cx, "protocol").and_then(|p| {
        let s = p.str(cx)?;
        match s.as_str() {
            "HTTP" => Some(Protocol::Http),
            "HTTPS" => Some(Protocol::Https),
            "TLS" | "TCP" | "UDP" => {
                cx.error(
                    p.line,
                    &p.path,
                    format!(
                        "protocol {s} is not supported (h2edge serves HTTP and HTTPS listeners)"
                    ),
                );
                None
            }
            _ => {
                cx.error(
                    p.line,
                    &p.path,
                    format!("unknown protocol {s:?} (expected HTTP or HTTPS)"),
                );
                None
            }
        }
    });
    let mut cert_refs = Vec::new();
    let mut tls_ok = true;
    match (f.get("tls"), protocol) {
        (Some(tls), Some(Protocol::Https)) => {
            tls_ok = listener_tls(cx, head, &tls, &mut cert_refs);
        }
        (Some(tls), Some(Protocol::Http)) => {
            cx.error(
                tls.line,
                &tls.path,
                "tls is only allowed on HTTPS listeners",
            );
            tls_ok = false;
        }
        (None, Some(Protocol::Https)) => {
            cx.error(
                f.line,
                &format!("{}.tls", f.path),
                "required field is missing (an HTTPS listener needs tls.certificateRefs)",
            );
            tls_ok = false;
        }
        _ => {}
    }
    let allowed = match f.get("allowedRoutes") {
        Some(a) => allowed_routes(cx, &a)?,
        None => AllowedRoutes {
            all_namespaces: false,
            kinds: Vec::new(),
        },
    };
    f.finish(cx);
    if !tls_ok {
        return None;
    }
    Some(RawListener {
        name: name?,
        hostname,
        port: port?,
        protocol: protocol?,
        cert_refs,
        allowed,
        loc: item.loc(),
    })
}

fn listener_tls(cx: &mut Cx, head: &Head, tls: &At, refs: &mut Vec<ObjRef>) -> bool {
    let Some(mut t) = tls.map(cx) else {
        return false;
    };
    let mut ok = true;
    if let Some(m) = t.get("mode") {
        match m.str(cx).as_deref() {
            Some("Terminate") => {}
            Some("Passthrough") => {
                cx.error(
                    m.line,
                    &m.path,
                    "mode Passthrough is not supported (h2edge terminates TLS)",
                );
                ok = false;
            }
            Some(other) => {
                cx.error(
                    m.line,
                    &m.path,
                    format!("unknown TLS mode {other:?} (expected Terminate)"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    t.refuse(
        cx,
        "frontendValidation",
        "listener-level frontendValidation was replaced by spec.tls.frontend in Gateway API v1.4; move it there",
    );
    match t.req(cx, "certificateRefs") {
        Some(c) => {
            if let Some(items) = c.seq_max(cx, 64) {
                if items.is_empty() {
                    cx.error(c.line, &c.path, "at least one certificate is required");
                    ok = false;
                }
                for item in &items {
                    match obj_ref(cx, item, "", &["Secret"], &head.namespace, true) {
                        Some(r) => refs.push(r),
                        None => ok = false,
                    }
                }
            } else {
                ok = false;
            }
        }
        None => ok = false,
    }
    t.finish(cx);
    ok
}

fn allowed_routes(cx: &mut Cx, at: &At) -> Option<AllowedRoutes> {
    let mut f = at.map(cx)?;
    let mut allowed = AllowedRoutes {
        all_namespaces: false,
        kinds: Vec::new(),
    };
    if let Some(ns) = f.get("namespaces") {
        let mut n = ns.map(cx)?;
        if let Some(from) = n.get("from") {
            match one_of(cx, &from, &["Same", "All", "Selector"])? {
                0 => {}
                1 => allowed.all_namespaces = true,
                _ => {
                    cx.error(
                        from.line,
                        &from.path,
                        "from: Selector is not supported (namespaces have no labels here); use Same or All",
                    );
                    return None;
                }
            }
        }
        n.finish(cx);
    }
    if let Some(kinds) = f.get("kinds") {
        for item in kinds.seq_max(cx, 8)? {
            let mut k = item.map(cx)?;
            if let Some(g) = k.get("group") {
                if g.str(cx)?.as_str() != GATEWAY_API {
                    cx.error(
                        g.line,
                        &g.path,
                        format!("unsupported group (expected {GATEWAY_API})"),
                    );
                    return None;
                }
            }
            let kind = k.req(cx, "kind")?;
            let idx = one_of(cx, &kind, &["HTTPRoute", "GRPCRoute"])?;
            allowed
                .kinds
                .push(["HTTPRoute", "GRPCRoute"][idx].to_string());
            k.finish(cx);
        }
    }
    f.finish(cx);
    Some(allowed)
}

fn gateway_tls(cx: &mut Cx, gw: &mut RawGateway, at: &At) {
    let Some(mut t) = at.map(cx) else { return };
    if let Some(b) = t.get("backend") {
        if let Some(mut bf) = b.map(cx) {
            if let Some(r) = bf.get("clientCertificateRef") {
                gw.backend_cert = obj_ref(cx, &r, "", &["Secret"], &gw.head.namespace, true);
            }
            bf.finish(cx);
        }
    }
    if let Some(fr) = t.get("frontend") {
        if let Some(mut ff) = fr.map(cx) {
            if let Some(d) = ff.get("default") {
                gw.frontend_default = validation_holder(cx, &gw.head, &d);
            }
            if let Some(pp) = ff.get("perPort") {
                for item in pp.seq_max(cx, 64).unwrap_or_default() {
                    let Some(mut pf) = item.map(cx) else { continue };
                    let port = pf
                        .req(cx, "port")
                        .and_then(|p| Some((p.port(cx)?, p.loc())));
                    let v = pf
                        .req(cx, "tls")
                        .and_then(|tls| validation_holder(cx, &gw.head, &tls));
                    pf.finish(cx);
                    if let (Some((port, port_loc)), Some(v)) = (port, v) {
                        if gw.frontend_per_port.iter().any(|(p, _, _)| *p == port) {
                            cx.error(
                                item.line,
                                &item.path,
                                format!("duplicate perPort entry for port {port}"),
                            );
                        } else {
                            gw.frontend_per_port.push((port, v, port_loc));
                        }
                    }
                }
            }
            ff.finish(cx);
        }
    }
    t.finish(cx);
}

/// A mapping holding `validation: {caCertificateRefs, mode}`.
fn validation_holder(cx: &mut Cx, head: &Head, at: &At) -> Option<RawValidation> {
    let mut f = at.map(cx)?;
    let v = f.req(cx, "validation");
    f.finish(cx);
    let v = v?;
    let mut vf = v.map(cx)?;
    let mut refs = Vec::new();
    let mut ok = true;
    if let Some(c) = vf.req(cx, "caCertificateRefs") {
        let items = c.seq_max(cx, 16).unwrap_or_default();
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
                true,
            ) {
                Some(r) => refs.push(r),
                None => ok = false,
            }
        }
    } else {
        ok = false;
    }
    let mode = match vf.get("mode") {
        Some(m) => match one_of(cx, &m, &["AllowValidOnly", "AllowInsecureFallback"]) {
            Some(0) => FrontendValidationMode::AllowValidOnly,
            Some(_) => FrontendValidationMode::AllowInsecureFallback,
            None => return None,
        },
        None => FrontendValidationMode::AllowValidOnly,
    };
    vf.finish(cx);
    ok.then_some(RawValidation {
        ca_refs: refs,
        mode,
    })
}
