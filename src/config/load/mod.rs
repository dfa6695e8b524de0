//! Reading files into per-kind objects: one file per YAML kind. Each loader checks what can be
//! checked inside one document (types, ranges, grammars, regexes, PEM) and keeps references to
//! other objects, with their positions, for [`super::validate`].

mod backendtls;
mod buffers;
pub(crate) mod client_conns;
mod destinationrule;
mod gateway;
mod grpcroute;
pub(crate) mod http2;
mod httproute;
mod routes;
mod secret;
mod service;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use backendtls::RawBackendTlsPolicy;
pub(crate) use destinationrule::{RawDestinationRule, RawPolicy, RawTls};
pub(crate) use gateway::{AllowedRoutes, LOCALITY_ANNOTATION, RawGateway};
pub(crate) use grpcroute::RawGrpcRoute;
pub(crate) use httproute::RawHttpRoute;
pub(crate) use routes::{BackendRef, ParentRefRaw, RawRule};
pub(crate) use secret::{RawConfigMap, RawSecret};
pub(crate) use service::{DEFAULT_DNS_REFRESH, RawEndpointSlice, RawService};

use super::model::Source;
use super::problem::object_name;
use super::read::{At, Cx, Fields, Loc, Origin, Sink};
use super::yaml;

/// The identity and position of one object.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub creation_timestamp: Option<String>,
    pub order: usize,
    pub origin: Origin,
    /// Line of the document start.
    pub line: usize,
    /// Directory of the file, for relative file references.
    pub dir: PathBuf,
}

impl Head {
    pub fn source(&self) -> Source {
        Source {
            file: self.origin.file.to_string(),
            line: self.line,
        }
    }

    pub fn meta(&self) -> super::model::Meta {
        super::model::Meta {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            creation_timestamp: self.creation_timestamp.clone(),
            order: self.order,
            labels: self.labels.clone(),
            source: self.source(),
        }
    }

    /// Resolves a file named in this object against the directory of its YAML file.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

// Built once per load and moved out at once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Object {
    Gateway(RawGateway),
    HttpRoute(RawHttpRoute),
    GrpcRoute(RawGrpcRoute),
    BackendTlsPolicy(RawBackendTlsPolicy),
    DestinationRule(RawDestinationRule),
    Secret(RawSecret),
    ConfigMap(RawConfigMap),
    Service(RawService),
    EndpointSlice(RawEndpointSlice),
}

impl Object {
    pub fn head(&self) -> &Head {
        match self {
            Object::Gateway(o) => &o.head,
            Object::HttpRoute(o) => &o.head,
            Object::GrpcRoute(o) => &o.head,
            Object::BackendTlsPolicy(o) => &o.head,
            Object::DestinationRule(o) => &o.head,
            Object::Secret(o) => &o.head,
            Object::ConfigMap(o) => &o.head,
            Object::Service(o) => &o.head,
            Object::EndpointSlice(o) => &o.head,
        }
    }
}

/// Every object read, and whether some file could not be read to its end (then missing
/// references are not reported: they may be in the unreadable part).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub objects: Vec<Object>,
    pub files: Vec<PathBuf>,
    pub incomplete: bool,
}

pub(crate) const GATEWAY_API: &str = "gateway.networking.k8s.io";
const ISTIO: &str = "networking.istio.io";

/// Kinds h2edge reads, with the apiVersions accepted for each.
const KINDS: &[(&str, &[&str])] = &[
    (
        "Gateway",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1beta1",
        ],
    ),
    (
        "HTTPRoute",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1beta1",
        ],
    ),
    (
        "GRPCRoute",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1alpha2",
        ],
    ),
    (
        "BackendTLSPolicy",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1alpha3",
        ],
    ),
    (
        "DestinationRule",
        &[
            "networking.istio.io/v1",
            "networking.istio.io/v1beta1",
            "networking.istio.io/v1alpha3",
        ],
    ),
    ("Secret", &["v1"]),
    ("ConfigMap", &["v1"]),
    ("Service", &["v1"]),
    ("EndpointSlice", &["discovery.k8s.io/v1"]),
    // Accepted and ignored: they carry nothing a standalone data plane uses.
    (
        "GatewayClass",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1beta1",
        ],
    ),
    (
        "ReferenceGrant",
        &[
            "gateway.networking.k8s.io/v1",
            "gateway.networking.k8s.io/v1beta1",
        ],
    ),
];

fn supported_kinds() -> String {
    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// The files named by `paths`: files as given, directories expanded to their `*.yaml` / `*.yml`
/// files (not recursively), sorted by name.
fn expand(paths: &[PathBuf], sink: &mut Sink) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for p in paths {
        let origin = Origin {
            file: Arc::from(p.display().to_string()),
            object: "-".into(),
        };
        if p.is_dir() {
            let entries = match std::fs::read_dir(p) {
                Ok(e) => e,
                Err(e) => {
                    sink.error(&origin, 1, "-", format!("cannot read directory: {e}"));
                    continue;
                }
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            if found.is_empty() {
                sink.error(
                    &origin,
                    1,
                    "-",
                    "no *.yaml or *.yml files in this directory",
                );
            }
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
}

/// Reads every file and document.
pub(crate) fn load_paths(paths: &[PathBuf], sink: &mut Sink) -> Loaded {
    let mut loaded = Loaded::default();
    if paths.is_empty() {
        sink.error(
            &Origin {
                file: Arc::from("-"),
                object: "-".into(),
            },
            1,
            "-",
            "no configuration files given",
        );
        return loaded;
    }
    for file in expand(paths, sink) {
        let name: Arc<str> = Arc::from(file.display().to_string());
        match std::fs::read(&file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                    load_text(&name, &dir, &text, sink, &mut loaded);
                }
                Err(e) => {
                    let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count();
                    let origin = Origin {
                        file: name,
                        object: "-".into(),
                    };
                    sink.error(&origin, line, "-", "file is not valid UTF-8");
                    loaded.incomplete = true;
                }
            },
            Err(e) => {
                let origin = Origin {
                    file: name,
                    object: "-".into(),
                };
                sink.error(&origin, 1, "-", format!("cannot read file: {e}"));
                loaded.incomplete = true;
            }
        }
        loaded.files.push(file);
    }
    loaded
}

/// Reads one file's text (`dir` resolves relative file references).
pub(crate) fn load_text(
    file: &Arc<str>,
    dir: &Path,
    text: &str,
    sink: &mut Sink,
    loaded: &mut Loaded,
) {
    let parsed = yaml::parse(text);
    for e in &parsed.errors {
        let origin = Origin {
            file: file.clone(),
            object: format!("document {}", e.document),
        };
        sink.error(&origin, e.line, "-", e.message.clone());
    }
    if parsed.truncated {
        loaded.incomplete = true;
    }
    for doc in &parsed.documents {
        if let Some(obj) = load_document(file, dir, doc, loaded.objects.len(), sink) {
            loaded.objects.push(obj);
        }
    }
}

fn load_document(
    file: &Arc<str>,
    dir: &Path,
    doc: &yaml::Document,
    order: usize,
    sink: &mut Sink,
) -> Option<Object> {
    if doc.root.value == yaml::Value::Null {
        return None; // an empty document (a lone `---`, or only comments)
    }
    let mut cx = Cx {
        sink,
        origin: Origin {
            file: file.clone(),
            object: format!("document {}", doc.index),
        },
    };
    let mut root = Fields::of(&mut cx, &doc.root, doc.line, String::new())?;
    let api = root
        .req(&mut cx, "apiVersion")
        .and_then(|a| Some((a.str(&mut cx)?, a.line)));
    let kind_at = root.req(&mut cx, "kind")?;
    let kind_str = kind_at.str(&mut cx)?;
    let Some(&(kind, versions)) = KINDS.iter().find(|(k, _)| *k == kind_str) else {
        let hint = if kind_str == "VirtualService" || kind_str == "ServiceEntry" {
            " (Istio routing kinds are not read: use HTTPRoute or GRPCRoute)"
        } else {
            ""
        };
        cx.error(
            kind_at.line,
            "kind",
            format!(
                "unknown kind {kind_str:?}{hint} (supported: {})",
                supported_kinds()
            ),
        );
        return None;
    };

    // Metadata first, so every later report names the object.
    let mut head = Head {
        kind,
        namespace: "default".into(),
        name: "?".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        creation_timestamp: None,
        order,
        origin: Origin {
            file: file.clone(),
            object: format!("{kind}/?"),
        },
        line: doc.line,
        dir: dir.to_path_buf(),
    };
    cx.origin = head.origin.clone();
    let mut named = false;
    if let Some(meta_at) = root.req(&mut cx, "metadata") {
        if let Some(mut meta) = meta_at.map(&mut cx) {
            if let Some(ns) = meta.get("namespace").and_then(|n| {
                let s = n.nonempty(&mut cx)?;
                check(&mut cx, &n, super::syntax::object_name(&s)).then_some(s)
            }) {
                head.namespace = ns;
            }
            if let Some(name_at) = meta.req(&mut cx, "name") {
                if let Some(name) = name_at.nonempty(&mut cx) {
                    head.name = name;
                    named = true;
                    head.origin.object = object_name(kind, &head.namespace, &head.name);
                    cx.origin = head.origin.clone();
                    check(&mut cx, &name_at, super::syntax::object_name(&head.name));
                }
            }
            if let Some(l) = meta.get("labels").and_then(|l| l.string_map(&mut cx)) {
                head.labels = l;
            }
            if let Some(a) = meta.get("annotations").and_then(|a| a.string_map(&mut cx)) {
                head.annotations = a;
            }
            head.creation_timestamp = meta.get("creationTimestamp").and_then(|t| {
                let s = t.str(&mut cx)?;
                check(&mut cx, &t, super::syntax::rfc3339_seconds(&s).map(|_| ())).then_some(s)
            });
            for quiet in [
                "uid",
                "resourceVersion",
                "generation",
                "managedFields",
                "selfLink",
                "ownerReferences",
                "finalizers",
                "generateName",
            ] {
                meta.skip(quiet);
            }
            meta.finish(&mut cx);
        }
    }
    head.origin = cx.origin.clone();

    if let Some((api, line)) = api {
        if !versions.contains(&api.as_str()) {
            let reason = if kind == "Gateway" && api.starts_with(ISTIO) {
                "an Istio Gateway is not supported: use a gateway.networking.k8s.io/v1 Gateway"
                    .into()
            } else {
                format!(
                    "unsupported apiVersion {api:?} for {kind} (accepted: {})",
                    versions.join(", ")
                )
            };
            cx.error(line, "apiVersion", reason);
            return None;
        }
    } else {
        return None;
    }
    if !named {
        return None;
    }
    root.skip("status");
    let obj = match kind {
        "Gateway" => gateway::load(&mut cx, head, &mut root).map(Object::Gateway),
        "HTTPRoute" => httproute::load(&mut cx, head, &mut root).map(Object::HttpRoute),
        "GRPCRoute" => grpcroute::load(&mut cx, head, &mut root).map(Object::GrpcRoute),
        "BackendTLSPolicy" => {
            backendtls::load(&mut cx, head, &mut root).map(Object::BackendTlsPolicy)
        }
        "DestinationRule" => {
            destinationrule::load(&mut cx, head, &mut root).map(Object::DestinationRule)
        }
        "Secret" => secret::load_secret(&mut cx, head, &mut root).map(Object::Secret),
        "ConfigMap" => secret::load_configmap(&mut cx, head, &mut root).map(Object::ConfigMap),
        "Service" => service::load_service(&mut cx, head, &mut root).map(Object::Service),
        "EndpointSlice" => service::load_slice(&mut cx, head, &mut root).map(Object::EndpointSlice),
        _ => {
            cx.note(doc.line, "kind", format!("{kind} is accepted and ignored"));
            root.skip("spec");
            None
        }
    };
    root.finish(&mut cx);
    obj
}

/// Reports `result`'s error at `at`; true when it is Ok.
pub(crate) fn check(cx: &mut Cx, at: &At, result: Result<(), String>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            cx.error(at.line, &at.path, e);
            false
        }
    }
}

/// Reads an enumerated string field: the value's position in `allowed`, or an error listing them.
pub(crate) fn one_of(cx: &mut Cx, at: &At, allowed: &[&str]) -> Option<usize> {
    let s = at.str(cx)?;
    match allowed.iter().position(|a| *a == s) {
        Some(i) => Some(i),
        None => {
            cx.error(
                at.line,
                &at.path,
                format!(
                    "unknown value {s:?} (expected one of: {})",
                    allowed.join(", ")
                ),
            );
            None
        }
    }
}

/// The `group` of a reference, defaulting to `default`, which must be `expected`.
pub(crate) fn ref_group_kind(
    cx: &mut Cx,
    f: &mut Fields,
    expected_group: &str,
    expected_kinds: &[&str],
) -> Option<String> {
    let mut ok = true;
    if let Some(g) = f.get("group") {
        if let Some(g_s) = g.str(cx) {
            if g_s != expected_group {
                let shown = if expected_group.is_empty() {
                    "\"\" (core)".to_string()
                } else {
                    format!("{expected_group:?}")
                };
                cx.error(
                    g.line,
                    &g.path,
                    format!("unsupported group {g_s:?} (expected {shown})"),
                );
                ok = false;
            }
        }
    }
    let kind = match f.get("kind") {
        Some(k) => {
            let k_s = k.str(cx)?;
            if !expected_kinds.contains(&k_s.as_str()) {
                cx.error(
                    k.line,
                    &k.path,
                    format!(
                        "unsupported kind {k_s:?} (expected {})",
                        expected_kinds.join(" or ")
                    ),
                );
                return None;
            }
            k_s
        }
        None => expected_kinds[0].to_string(),
    };
    ok.then_some(kind)
}

/// A required name of a reference.
pub(crate) fn ref_name(cx: &mut Cx, f: &mut Fields) -> Option<(String, Loc)> {
    let n = f.req(cx, "name")?;
    let s = n.nonempty(cx)?;
    Some((s, n.loc()))
}

/// An optional namespace of a reference, defaulting to `default`.
pub(crate) fn ref_namespace(cx: &mut Cx, f: &mut Fields, default: &str) -> String {
    f.get("namespace")
        .and_then(|n| n.nonempty(cx))
        .unwrap_or_else(|| default.to_string())
}

/// A reference to another object (Secret, ConfigMap, Service, Gateway) and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct ObjRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The position of the reference's `name` field.
    pub loc: Loc,
}

/// Reads a `{group, kind, name, namespace}` reference.
pub(crate) fn obj_ref(
    cx: &mut Cx,
    at: &At,
    group: &str,
    kinds: &[&str],
    default_namespace: &str,
    allow_namespace: bool,
) -> Option<ObjRef> {
    let mut f = at.map(cx)?;
    let kind = ref_group_kind(cx, &mut f, group, kinds);
    let name = ref_name(cx, &mut f);
    let namespace = if allow_namespace {
        ref_namespace(cx, &mut f, default_namespace)
    } else {
        default_namespace.to_string()
    };
    f.finish(cx);
    let (name, loc) = name?;
    Some(ObjRef {
        kind: kind?,
        namespace,
        name,
        loc,
    })
}
