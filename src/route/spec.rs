//! The plain-data input the route table is compiled from.
//!
//! The config layer turns Gateway / HTTPRoute / GRPCRoute documents into these structs (defaults
//! already applied or left as `None`, see each field); [`RouteTable::build`](super::RouteTable::build)
//! validates and compiles them. Everything is owned, `Clone` and `Default`-constructible, so tests
//! and the glue build them directly.

/// Index of an upstream cluster in the caller's cluster list (what a backendRef resolves to): the
/// configuration's clusters and the proxy's are numbered alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u32);

impl ClusterId {
    /// The id of `clusters[index]` (a configuration has far fewer than 2^32 clusters; a larger
    /// index saturates and so finds no cluster).
    pub fn from_index(index: usize) -> ClusterId {
        ClusterId(u32::try_from(index).unwrap_or(u32::MAX))
    }

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Everything the table is built from.
#[derive(Clone, Debug, Default)]
pub struct TableSpec {
    pub listeners: Vec<ListenerSpec>,
    pub http_routes: Vec<HttpRouteSpec>,
    pub grpc_routes: Vec<GrpcRouteSpec>,
}

/// One Gateway listener.
#[derive(Clone, Debug, Default)]
pub struct ListenerSpec {
    /// The Gateway this listener belongs to, as `ParentRef::gateway` names it (e.g. `ns/name`).
    pub gateway: String,
    /// The listener's `name` (what `sectionName` refers to).
    pub name: String,
    pub port: u16,
    /// `hostname` (exact or `*.suffix`); `None` matches every host.
    pub hostname: Option<String>,
}

impl ListenerSpec {
    pub fn new(gateway: &str, name: &str, port: u16, hostname: Option<&str>) -> Self {
        ListenerSpec {
            gateway: gateway.to_owned(),
            name: name.to_owned(),
            port,
            hostname: hostname.map(str::to_owned),
        }
    }
}

/// A route's `parentRefs[]` entry, already resolved to a gateway key.
#[derive(Clone, Debug, Default)]
pub struct ParentRef {
    /// Must equal `ListenerSpec::gateway`.
    pub gateway: String,
    /// `sectionName`: attach only to the listener of that name.
    pub section_name: Option<String>,
    /// `port`: attach only to listeners on that port.
    pub port: Option<u16>,
}

/// What HTTPRoute and GRPCRoute share.
#[derive(Clone, Debug, Default)]
pub struct RouteMeta {
    pub namespace: String,
    pub name: String,
    /// `metadata.creationTimestamp` as any ordered number (e.g. Unix seconds); lower = older =
    /// higher precedence on ties. Routes without one can all use 0 (name order then decides).
    pub created: i64,
    pub parents: Vec<ParentRef>,
    /// `spec.hostnames` (exact or `*.suffix`); empty = the listener's hostname(s).
    pub hostnames: Vec<String>,
}

impl RouteMeta {
    /// A route `namespace/name` created at `created`, with no parents and no hostnames yet.
    pub fn new(namespace: &str, name: &str, created: i64) -> Self {
        RouteMeta {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            created,
            ..Default::default()
        }
    }

    /// Adds a parentRef to every listener of `gateway`.
    pub fn parent(mut self, gateway: &str) -> Self {
        self.parents.push(ParentRef {
            gateway: gateway.to_owned(),
            section_name: None,
            port: None,
        });
        self
    }

    /// Adds a parentRef to listener `section` of `gateway`.
    pub fn parent_section(mut self, gateway: &str, section: &str) -> Self {
        self.parents.push(ParentRef {
            gateway: gateway.to_owned(),
            section_name: Some(section.to_owned()),
            port: None,
        });
        self
    }

    pub fn hostname(mut self, hostname: &str) -> Self {
        self.hostnames.push(hostname.to_owned());
        self
    }
}

/// A weighted `backendRefs[]` entry.
#[derive(Clone, Debug, Default)]
pub struct BackendSpec {
    /// Shown by `explain` (e.g. `greeter-v1:50051`).
    pub name: String,
    pub cluster: ClusterId,
    /// Gateway API default is 1; 0 = never picked.
    pub weight: u32,
}

impl BackendSpec {
    pub fn new(name: impl Into<String>, cluster: ClusterId, weight: u32) -> Self {
        BackendSpec {
            name: name.into(),
            cluster,
            weight,
        }
    }
}

/// Exact or regular-expression string match (regexes are RE2-like, `regex` crate syntax, and
/// must match the WHOLE value: they are anchored at both ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringMatchSpec {
    Exact(String),
    Regex(String),
}

impl Default for StringMatchSpec {
    fn default() -> Self {
        StringMatchSpec::Exact(String::new())
    }
}

/// A header or query parameter match: `name` + value match.
#[derive(Clone, Debug, Default)]
pub struct ValueMatchSpec {
    /// Header names compare case-insensitively; query parameter names exactly.
    pub name: String,
    pub value: StringMatchSpec,
}

impl ValueMatchSpec {
    pub fn exact(name: impl Into<String>, value: impl Into<String>) -> Self {
        ValueMatchSpec {
            name: name.into(),
            value: StringMatchSpec::Exact(value.into()),
        }
    }

    pub fn regex(name: impl Into<String>, pattern: impl Into<String>) -> Self {
        ValueMatchSpec {
            name: name.into(),
            value: StringMatchSpec::Regex(pattern.into()),
        }
    }
}

/// HTTPRoute path match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatchSpec {
    /// The path (without query) equals the value.
    Exact(String),
    /// Element-wise prefix: `/foo` matches `/foo`, `/foo/`, `/foo/bar`, not `/foobar`; a trailing
    /// `/` on the value is ignored.
    Prefix(String),
    /// The whole path (without query) matches the anchored regex.
    Regex(String),
}

/// One HTTPRoute `matches[]` entry (fields are ANDed).
#[derive(Clone, Debug, Default)]
pub struct HttpMatchSpec {
    /// `None` = `PathPrefix /`.
    pub path: Option<PathMatchSpec>,
    pub headers: Vec<ValueMatchSpec>,
    pub query_params: Vec<ValueMatchSpec>,
    /// `GET`, `POST`, ... (case-sensitive).
    pub method: Option<String>,
}

impl HttpMatchSpec {
    pub fn exact(path: impl Into<String>) -> Self {
        HttpMatchSpec {
            path: Some(PathMatchSpec::Exact(path.into())),
            ..Default::default()
        }
    }

    pub fn prefix(path: impl Into<String>) -> Self {
        HttpMatchSpec {
            path: Some(PathMatchSpec::Prefix(path.into())),
            ..Default::default()
        }
    }

    pub fn regex(pattern: impl Into<String>) -> Self {
        HttpMatchSpec {
            path: Some(PathMatchSpec::Regex(pattern.into())),
            ..Default::default()
        }
    }

    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    pub fn with_header(mut self, header: ValueMatchSpec) -> Self {
        self.headers.push(header);
        self
    }

    pub fn with_query(mut self, query: ValueMatchSpec) -> Self {
        self.query_params.push(query);
        self
    }
}

/// One HTTPRoute rule. Empty `matches` = one match on `PathPrefix /`.
#[derive(Clone, Debug, Default)]
pub struct HttpRuleSpec {
    pub name: Option<String>,
    pub matches: Vec<HttpMatchSpec>,
    pub backends: Vec<BackendSpec>,
}

#[derive(Clone, Debug, Default)]
pub struct HttpRouteSpec {
    pub meta: RouteMeta,
    pub rules: Vec<HttpRuleSpec>,
}

impl HttpRouteSpec {
    pub fn new(meta: RouteMeta, rules: Vec<HttpRuleSpec>) -> Self {
        HttpRouteSpec { meta, rules }
    }
}

impl HttpRuleSpec {
    pub fn new(matches: Vec<HttpMatchSpec>, backends: Vec<BackendSpec>) -> Self {
        HttpRuleSpec {
            name: None,
            matches,
            backends,
        }
    }
}

/// GRPCRoute `method` match over `:path` = `/` service `/` method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrpcMethodSpec {
    /// `false` = `Exact` (the default), `true` = `RegularExpression` (anchored).
    pub regex: bool,
    /// Fully-qualified service, e.g. `product.ProductService`; `None` = any.
    pub service: Option<String>,
    /// Method name, e.g. `GetProduct`; `None` = any.
    pub method: Option<String>,
}

/// One GRPCRoute `matches[]` entry.
#[derive(Clone, Debug, Default)]
pub struct GrpcMatchSpec {
    /// `None` = every service and method.
    pub method: Option<GrpcMethodSpec>,
    pub headers: Vec<ValueMatchSpec>,
}

impl GrpcMatchSpec {
    /// Exact service and/or method.
    pub fn exact(service: Option<&str>, method: Option<&str>) -> Self {
        GrpcMatchSpec {
            method: Some(GrpcMethodSpec {
                regex: false,
                service: service.map(str::to_owned),
                method: method.map(str::to_owned),
            }),
            headers: Vec::new(),
        }
    }

    /// Regular-expression service and/or method.
    pub fn regex(service: Option<&str>, method: Option<&str>) -> Self {
        GrpcMatchSpec {
            method: Some(GrpcMethodSpec {
                regex: true,
                service: service.map(str::to_owned),
                method: method.map(str::to_owned),
            }),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, header: ValueMatchSpec) -> Self {
        self.headers.push(header);
        self
    }
}

/// One GRPCRoute rule. Empty `matches` = every gRPC request.
#[derive(Clone, Debug, Default)]
pub struct GrpcRuleSpec {
    pub name: Option<String>,
    pub matches: Vec<GrpcMatchSpec>,
    pub backends: Vec<BackendSpec>,
}

#[derive(Clone, Debug, Default)]
pub struct GrpcRouteSpec {
    pub meta: RouteMeta,
    pub rules: Vec<GrpcRuleSpec>,
}

impl GrpcRouteSpec {
    pub fn new(meta: RouteMeta, rules: Vec<GrpcRuleSpec>) -> Self {
        GrpcRouteSpec { meta, rules }
    }
}

impl GrpcRuleSpec {
    pub fn new(matches: Vec<GrpcMatchSpec>, backends: Vec<BackendSpec>) -> Self {
        GrpcRuleSpec {
            name: None,
            matches,
            backends,
        }
    }
}
