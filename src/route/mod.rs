//! Request routing: Gateway listeners, HTTPRoute and GRPCRoute rules, weighted backend split.
//!
//! Sans-IO and allocation-free per request. The config layer fills a [`TableSpec`] (plain data,
//! see [`spec`]); [`RouteTable::build`] validates it, compiles regexes and sorts every candidate
//! by the Gateway API precedence once (see [`table`] for the exact order). Per request the proxy
//! builds a [`Request`] borrowing the decoded header block and calls [`RouteTable::route`] with
//! 64 random bits from its worker PRNG; it gets a [`RouteMatch`] (listener, route, rule, backend,
//! [`ClusterId`]) or a [`NoRoute`] whose [`NoRoute::status`] gives 404 / gRPC 12 UNIMPLEMENTED
//! (or 500 / gRPC 14 when the rule has no usable backend); [`Request::is_grpc`] decides which of
//! the two to send.
//!
//! [`explain()`] answers "which rule, cluster and pod would this request get, and why".

pub mod explain;
pub mod host;
mod index;
pub(crate) mod matcher;
pub mod request;
pub mod spec;
mod split;
pub mod table;

pub use explain::{Explanation, explain};
pub use host::HostPattern;
pub use matcher::split_grpc_path;
pub use request::{HeaderFn, Headers, NoHeaders, Request};
pub use spec::{
    BackendSpec, ClusterId, GrpcMatchSpec, GrpcMethodSpec, GrpcRouteSpec, GrpcRuleSpec,
    HttpMatchSpec, HttpRouteSpec, HttpRuleSpec, ListenerSpec, ParentRef, PathMatchSpec, RouteMeta,
    StringMatchSpec, TableSpec, ValueMatchSpec,
};
pub use table::{
    BuildError, ListenerInfo, LocalStatus, NoRoute, RouteInfo, RouteKind, RouteMatch, RouteTable,
};
