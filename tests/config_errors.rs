//! Every validation error class, with its exact `file:line: Kind/name: field: reason` text.
//!
//! Most cases append documents to a small valid base (a Gateway with an HTTP listener, a Service
//! and its EndpointSlice). Lines inside the appended text are shown as `+N` (line N of the
//! appended text) so that the expectations read against the snippet.

use h2edge::config::{self, Problem};

const BASE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  gatewayClassName: h2edge
  listeners:
  - name: http
    port: 80
    protocol: HTTP
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  ports:
  - name: grpc
    port: 50051
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  labels:
    kubernetes.io/service-name: echo
addressType: IPv4
ports:
- name: grpc
  port: 50051
endpoints:
- addresses: [\"10.0.0.1\"]
---
";

/// A valid GRPCRoute to the base's Service.
const ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs:
  - name: edge
  rules:
  - backendRefs:
    - name: echo
      port: 50051
---
";

fn base_lines() -> usize {
    BASE.lines().count()
}

fn render(problems: &[Problem], offset: usize) -> Vec<String> {
    problems
        .iter()
        .map(|p| {
            let line = if p.line > offset && offset > 0 {
                format!("+{}", p.line - offset)
            } else {
                p.line.to_string()
            };
            format!("{}:{line}: {}: {}: {}", p.file, p.object, p.field, p.reason)
        })
        .collect()
}

/// Problems of a whole text (absolute lines).
fn errors(text: &str) -> Vec<String> {
    match config::load_str("t.yaml", text) {
        Ok(_) => Vec::new(),
        Err(p) => render(&p, 0),
    }
}

/// Problems of BASE + `extra` (lines in `extra` shown as `+N`).
fn errors_with(extra: &str) -> Vec<String> {
    let text = format!("{BASE}{extra}");
    match config::load_str("t.yaml", &text) {
        Ok(_) => Vec::new(),
        Err(p) => render(&p, base_lines()),
    }
}

fn ok_with(extra: &str) -> config::Config {
    let text = format!("{BASE}{extra}");
    config::load_str("t.yaml", &text)
        .unwrap_or_else(|p| panic!("{}", p.iter().map(|p| format!("{p}\n")).collect::<String>()))
}

#[test]
fn base_is_valid() {
    let c = ok_with(ROUTE);
    assert_eq!(c.clusters.len(), 1);
    // The Display form is exactly file:line: object: field: reason.
    let p = Problem {
        file: "a.yaml".into(),
        line: 3,
        object: "Gateway/edge".into(),
        field: "spec".into(),
        reason: "x".into(),
    };
    assert_eq!(p.to_string(), "a.yaml:3: Gateway/edge: spec: x");
}

#[test]
fn unknown_kind_and_api_version() {
    assert_eq!(
        errors("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"),
        [
            "t.yaml:2: document 1: kind: unknown kind \"Pod\" (supported: Gateway, HTTPRoute, GRPCRoute, BackendTLSPolicy, DestinationRule, Secret, ConfigMap, Service, EndpointSlice, GatewayClass, ReferenceGrant)"
        ]
    );
    assert_eq!(
        errors("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: p}\n"),
        [
            "t.yaml:2: document 1: kind: unknown kind \"VirtualService\" (Istio routing kinds are not read: use HTTPRoute or GRPCRoute) (supported: Gateway, HTTPRoute, GRPCRoute, BackendTLSPolicy, DestinationRule, Secret, ConfigMap, Service, EndpointSlice, GatewayClass, ReferenceGrant)"
        ]
    );
    assert_eq!(
        errors(
            "apiVersion: gateway.networking.k8s.io/v2\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {}\n"
        ),
        [
            "t.yaml:1: HTTPRoute/r: apiVersion: unsupported apiVersion \"gateway.networking.k8s.io/v2\" for HTTPRoute (accepted: gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1)"
        ]
    );
    assert_eq!(
        errors(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n"
        ),
        [
            "t.yaml:1: Gateway/g: apiVersion: an Istio Gateway is not supported: use a gateway.networking.k8s.io/v1 Gateway"
        ]
    );
}

#[test]
fn missing_required_fields() {
    // Missing at the top level: the document start. Nested: the line of the enclosing mapping.
    assert_eq!(
        errors("---\napiVersion: v1\nkind: Service\nmetadata:\n  namespace: shop\n"),
        ["t.yaml:4: Service/?: metadata.name: required field is missing"]
    );
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    protocol: HTTP\n"
        ),
        ["t.yaml:+7: Gateway/g2: spec.listeners[0].port: required field is missing"]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"),
        ["t.yaml:1: Service/s: spec: required field is missing"]
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    port: \"8080\"\n    protocol: HTTP\n"
        ),
        [
            "t.yaml:+8: Gateway/g2: spec.listeners[0].port: expected an integer, found a string (remove the quotes)"
        ]
    );
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners: {name: a}\n"
        ),
        ["t.yaml:+6: Gateway/g2: spec.listeners: expected a list, found a mapping"]
    );
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\nspec:\n  parentRefs: [{name: edge}]\n  hostnames: [h.example.com]\n  rules:\n  - matches:\n    - headers:\n      - name: x-version\n        value: 2\n"
        ),
        [
            "t.yaml:+11: HTTPRoute/h: spec.rules[0].matches[0].headers[0].value: expected a string, found an integer (quote it to make it a string)"
        ]
    );
}

#[test]
fn hostnames_and_ports() {
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    hostname: Bad_Host.example.com\n    port: 0\n    protocol: HTTP\n"
        ),
        [
            "t.yaml:+8: Gateway/g2: spec.listeners[0].hostname: invalid hostname \"Bad_Host.example.com\": expected lowercase DNS labels (a-z, 0-9, '-') separated by dots",
            "t.yaml:+9: Gateway/g2: spec.listeners[0].port: 0 is out of range 1..=65535",
        ]
    );
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    hostname: \"api.*.example.com\"\n    port: 81\n    protocol: TCP\n"
        ),
        [
            "t.yaml:+8: Gateway/g2: spec.listeners[0].hostname: invalid hostname \"api.*.example.com\": a wildcard is only allowed as the whole first label (\"*.example.com\")",
            "t.yaml:+10: Gateway/g2: spec.listeners[0].protocol: protocol TCP is not supported (h2edge serves HTTP and HTTPS listeners)",
        ]
    );
}

#[test]
fn duplicate_listeners() {
    // Same (port, protocol, hostname) in another Gateway; a port used with two protocols; a
    // repeated listener name.
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    port: 80\n    protocol: HTTP\n  - name: a\n    port: 81\n    protocol: HTTP\n"
        ),
        [
            "t.yaml:+7: Gateway/g2: spec.listeners[0]: duplicate listener: Gateway/edge listener \"http\" already has port 80, protocol HTTP and hostname (any)",
            "t.yaml:+10: Gateway/g2: spec.listeners[1].name: duplicate listener name \"a\" (first at line 40)",
        ]
    );
    assert_eq!(
        errors_with(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    port: 80\n    protocol: HTTPS\n    tls: {certificateRefs: [{name: c}]}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  annotations:\n    h2edge.io/cert-file: examples/certs/throwaway-edge.crt\n    h2edge.io/key-file: examples/certs/throwaway-edge.key\ntype: kubernetes.io/tls\n"
        ),
        [
            "t.yaml:+7: Gateway/g2: spec.listeners[0].protocol: port 80 is already used with protocol HTTP by listener \"http\" of Gateway/edge"
        ]
    );
}

#[test]
fn parent_refs_must_resolve() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec:\n  parentRefs:\n  - name: nope\n  - name: edge\n    sectionName: https\n  - name: edge\n    port: 443\n  rules:\n  - backendRefs: [{name: echo, port: 50051}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+6: GRPCRoute/r: spec.parentRefs[0]: Gateway \"nope\" not found",
            "t.yaml:+7: GRPCRoute/r: spec.parentRefs[1].sectionName: Gateway/edge has no listener named \"https\" (listeners: http)",
            "t.yaml:+9: GRPCRoute/r: spec.parentRefs[2].port: Gateway/edge has no listener on port 443",
        ]
    );
    // A listener hostname that matches none of the route's hostnames refuses the route.
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - {name: a, port: 8080, protocol: HTTP, hostname: a.example.com}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r, namespace: other}\nspec:\n  parentRefs:\n  - {name: g2, namespace: default}\n  hostnames: [b.example.com]\n  rules:\n  - backendRefs: [{name: echo, namespace: default, port: 50051}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+14: GRPCRoute/other/r: spec.parentRefs[0]: no listener of Gateway/g2 accepts this route: listener \"a\": allowedRoutes admits only routes in namespace \"default\" (set allowedRoutes.namespaces.from: All)"
        ]
    );
    let extra = extra.replace(
        "hostname: a.example.com}",
        "hostname: a.example.com, allowedRoutes: {namespaces: {from: All}}}",
    );
    assert_eq!(
        errors_with(&extra),
        [
            "t.yaml:+14: GRPCRoute/other/r: spec.parentRefs[0]: no listener of Gateway/g2 accepts this route: listener \"a\": its hostname \"a.example.com\" matches none of the route's hostnames (b.example.com)"
        ]
    );
    let extra = extra.replace("[b.example.com]", "[\"*.example.com\"]");
    assert!(errors_with(&extra).is_empty());
}

#[test]
fn backend_refs_must_resolve_to_endpoints() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n  - backendRefs:\n    - {name: nope, port: 1}\n    - {name: echo, port: 9}\n    - {name: lonely, port: 50051}\n    - {name: echo, port: 50051, weight: -1}\n    - {name: echo}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: lonely}\nspec:\n  ports: [{name: grpc, port: 50051}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+8: GRPCRoute/r: spec.rules[0].backendRefs[0]: Service \"nope\" not found",
            "t.yaml:+9: GRPCRoute/r: spec.rules[0].backendRefs[1].port: Service/echo has no port 9 (ports: 50051)",
            "t.yaml:+10: GRPCRoute/r: spec.rules[0].backendRefs[2]: Service/lonely has no endpoints for port 50051: no EndpointSlice has the label kubernetes.io/service-name: lonely, and it is not an ExternalName Service",
            "t.yaml:+11: GRPCRoute/r: spec.rules[0].backendRefs[3].weight: -1 is out of range 0..=1000000",
            "t.yaml:+12: GRPCRoute/r: spec.rules[0].backendRefs[4].port: required field is missing",
        ]
    );
}

#[test]
fn external_name_and_fqdn_endpoints_are_dns() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n  - backendRefs:\n    - {name: ext, port: 443}\n    - {name: fq, port: 50051, weight: 0}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ext\n  annotations: {h2edge.io/dns-refresh: 5s}\nspec:\n  type: ExternalName\n  externalName: api.example.net\n---\napiVersion: v1\nkind: Service\nmetadata: {name: fq}\nspec:\n  ports: [{port: 50051}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: fq-1\n  labels: {kubernetes.io/service-name: fq}\naddressType: FQDN\nports: [{port: 50051}]\nendpoints:\n- addresses: [backend-1.example.net]\n  conditions: {ready: false}\n";
    let c = ok_with(extra);
    use h2edge::config::model::{EndpointAddress, Endpoints};
    assert_eq!(
        c.clusters[0].endpoints,
        Endpoints::Dns {
            name: "api.example.net".into(),
            port: 443,
            refresh: std::time::Duration::from_secs(5)
        }
    );
    let Endpoints::Static(eps) = &c.clusters[1].endpoints else {
        panic!()
    };
    assert_eq!(
        eps[0].address,
        EndpointAddress::Dns("backend-1.example.net".into())
    );
    assert!(!eps[0].ready);
    assert_eq!(c.grpc_routes[0].rules[0].backends[1].weight, 0);
}

#[test]
fn invalid_regexes_and_paths() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n  - matches:\n    - path: {type: RegularExpression, value: \"/api/(v1\"}\n    - path: {type: PathPrefix, value: api}\n    - headers: [{type: RegularExpression, name: x-a, value: \"[z-a]\"}]\n    - queryParams: [{type: RegularExpression, name: q, value: \"a{2,1}\"}]\n    - path: {type: Exact, value: /a/../b}\n    - method: FETCH\n    backendRefs: [{name: echo, port: 50051}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+8: HTTPRoute/h: spec.rules[0].matches[0].path.value: invalid regular expression \"/api/(v1\": unclosed group",
            "t.yaml:+9: HTTPRoute/h: spec.rules[0].matches[1].path.value: path \"api\" must start with \"/\"",
            "t.yaml:+10: HTTPRoute/h: spec.rules[0].matches[2].headers[0].value: invalid regular expression \"[z-a]\": invalid character class range, the start must be <= the end",
            "t.yaml:+11: HTTPRoute/h: spec.rules[0].matches[3].queryParams[0].value: invalid regular expression \"a{2,1}\": invalid repetition count range, the start must be <= the end",
            "t.yaml:+12: HTTPRoute/h: spec.rules[0].matches[4].path.value: path \"/a/../b\" must not contain \".\" or \"..\" segments",
            "t.yaml:+13: HTTPRoute/h: spec.rules[0].matches[5].method: unknown value \"FETCH\" (expected one of: GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH)",
        ]
    );
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n  - matches:\n    - method: {service: a/b}\n    - method: {type: RegularExpression, method: \"Get(\"}\n    - method: {type: Exact}\n    backendRefs: [{name: echo, port: 50051}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+8: GRPCRoute/r: spec.rules[0].matches[0].method.service: invalid gRPC service \"a/b\": expected a dotted name such as product.ProductService (no \"/\")",
            "t.yaml:+9: GRPCRoute/r: spec.rules[0].matches[1].method.method: invalid regular expression \"Get(\": unclosed group",
            "t.yaml:+10: GRPCRoute/r: spec.rules[0].matches[2].method: at least one of service and method is required",
        ]
    );
}

#[test]
fn invalid_durations_and_timeouts() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\nspec:\n  parentRefs: [{name: edge}]\n  rules:\n  - backendRefs: [{name: echo, port: 50051}]\n    timeouts: {request: 10}\n  - backendRefs: [{name: echo, port: 50051}]\n    timeouts: {request: 1.5s}\n  - backendRefs: [{name: echo, port: 50051}]\n    timeouts: {request: 1s, backendRequest: 2s}\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+8: HTTPRoute/h: spec.rules[0].timeouts.request: expected a string, found an integer (quote it to make it a string)",
            "t.yaml:+10: HTTPRoute/h: spec.rules[1].timeouts.request: invalid duration \"1.5s\": expected 1 to 4 groups of up to 5 digits with a unit h, m, s or ms, such as 10s or 1m30s",
            "t.yaml:+12: HTTPRoute/h: spec.rules[2].timeouts.backendRequest: backendRequest must not be longer than request",
        ]
    );
    let extra = format!(
        "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d}}\nspec:\n  host: echo\n  trafficPolicy:\n    connectionPool:\n      tcp: {{connectTimeout: 10 seconds}}\n    outlierDetection: {{interval: -1s, maxEjectionPercent: 101}}\n"
    );
    assert_eq!(
        errors_with(&extra),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.connectionPool.tcp.connectTimeout: invalid duration \"10 seconds\": expected a number with a unit (ns, us, ms, s, m, h), such as 10s, 1.5s or 1h30m",
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.outlierDetection.interval: invalid duration \"-1s\": must not be negative",
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.outlierDetection.maxEjectionPercent: 101 is out of range 0..=100",
        ]
    );
}

#[test]
fn secrets_must_be_tls_with_parsable_pem() {
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - name: a\n    port: 443\n    protocol: HTTPS\n    tls: {certificateRefs: [{name: opaque}, {name: b64}, {name: pem}, {name: nokey}]}\n---\n";
    let secrets = "apiVersion: v1\nkind: Secret\nmetadata: {name: opaque}\ntype: Opaque\ndata: {tls.crt: QUJD, tls.key: QUJD}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b64}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: \"not base64!\"\n  tls.key: QUJD\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: pem}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n    -----BEGIN CERTIFICATE-----\n    bm90IGEgY2VydA=\n    -----END CERTIFICATE-----\n  tls.key: hello\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: nokey\n  annotations: {h2edge.io/cert-file: examples/certs/throwaway-edge.crt}\ntype: kubernetes.io/tls\n";
    assert_eq!(
        errors_with(&format!("{gw}{secrets}")),
        [
            "t.yaml:+15: Secret/opaque: type: Secret type must be kubernetes.io/tls, found \"Opaque\"",
            "t.yaml:+16: Secret/opaque: data.tls.crt: no PEM CERTIFICATE block found",
            "t.yaml:+16: Secret/opaque: data.tls.key: no PEM PRIVATE KEY block found",
            "t.yaml:+23: Secret/b64: data.tls.crt: invalid base64: Invalid symbol 33, offset 9.",
            "t.yaml:+24: Secret/b64: data.tls.key: no PEM PRIVATE KEY block found",
            "t.yaml:+31: Secret/pem: stringData.tls.crt: certificate PEM does not parse: base64 decode error: InvalidTrailingPadding",
            "t.yaml:+35: Secret/pem: stringData.tls.key: no PEM PRIVATE KEY block found",
            "t.yaml:+37: Secret/nokey: data.tls.key: required field is missing: give data.tls.key (base64), stringData.tls.key or the annotation h2edge.io/key-file (a file)",
        ]
    );
    let missing_file = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  annotations:\n    h2edge.io/cert-file: examples/certs/nope.crt\n    h2edge.io/key-file: examples/certs/throwaway-edge.key\ntype: kubernetes.io/tls\n";
    assert_eq!(
        errors_with(missing_file),
        [
            "t.yaml:+1: Secret/c: metadata.annotations.h2edge.io/cert-file: cannot read examples/certs/nope.crt: No such file or directory (os error 2)"
        ]
    );
}

#[test]
fn load_balancer_settings() {
    let dr = |policy: &str| {
        format!(
            "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d}}\nspec:\n  host: echo\n  trafficPolicy:\n    loadBalancer:\n{policy}"
        )
    };
    assert_eq!(
        errors_with(&dr("      simple: FASTEST\n")),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.loadBalancer.simple: unknown loadBalancer value \"FASTEST\" (expected one of: UNSPECIFIED, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN)"
        ]
    );
    assert_eq!(
        errors_with(&dr("      simple: PASSTHROUGH\n")),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.loadBalancer.simple: PASSTHROUGH is not supported (a gateway has no original destination to pass through to)"
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      consistentHash:\n        httpHeaderName: x-user\n        useSourceIp: true\n"
        )),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash: consistentHash must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName (found 2: httpHeaderName, useSourceIp)"
        ]
    );
    assert_eq!(
        errors_with(&dr("      consistentHash:\n        ringHash: {}\n")),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash: consistentHash must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName (found none)"
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      consistentHash:\n        useSourceIp: true\n        maglev: {tableSize: 65536}\n"
        )),
        [
            "t.yaml:+22: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: maglev tableSize 65536 is not prime (e.g. 65537 or 5000011)"
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      consistentHash:\n        httpCookie: {ttl: 10s}\n        ringHash: {minimumRingSize: 0}\n        maglev: {}\n"
        )),
        [
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: required field is missing",
            "t.yaml:+23: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash.maglev: ringHash and maglev are mutually exclusive; set one",
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      simple: RANDOM\n      consistentHash: {useSourceIp: true}\n      localityLbSetting:\n        distribute: [{from: a, to: {b: 100}}]\n"
        )),
        [
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.loadBalancer.consistentHash: simple and consistentHash are mutually exclusive; set one",
            "t.yaml:+23: DestinationRule/d: spec.trafficPolicy.loadBalancer.localityLbSetting.distribute: distribute is not supported by h2edge; use failover or failoverPriority",
        ]
    );
}

#[test]
fn upstream_tls_settings() {
    let dr = |tls: &str| {
        format!(
            "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d}}\nspec:\n  host: echo\n  trafficPolicy:\n    tls:\n{tls}"
        )
    };
    assert_eq!(
        errors_with(&dr("      mode: ISTIO_MUTUAL\n")),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.tls.mode: ISTIO_MUTUAL uses the Gateway's backend client certificate and its ca.crt, but Gateway/edge has no spec.tls.backend.clientCertificateRef"
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      mode: MUTUAL\n      clientCertificate: examples/certs/throwaway-gateway-client.crt\n"
        )),
        [
            "t.yaml:+19: DestinationRule/d: spec.trafficPolicy.tls.privateKey: required field is missing: MUTUAL needs clientCertificate and privateKey, or credentialName",
            "t.yaml:+19: DestinationRule/d: spec.trafficPolicy.tls.caCertificates: required field is missing: MUTUAL needs caCertificates or credentialName (h2edge has no system trust store)",
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      mode: MUTUAL\n      clientCertificate: examples/certs/throwaway-gateway-client.key\n      privateKey: examples/certs/throwaway-gateway-client.crt\n      caCertificates: examples/certs/missing.crt\n      insecureSkipVerify: true\n"
        )),
        [
            "t.yaml:+24: DestinationRule/d: spec.trafficPolicy.tls.insecureSkipVerify: insecureSkipVerify is not supported: upstream certificates are always verified"
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      mode: MUTUAL\n      clientCertificate: examples/certs/throwaway-gateway-client.key\n      privateKey: examples/certs/throwaway-gateway-client.crt\n      caCertificates: examples/certs/missing.crt\n"
        )),
        [
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.tls.clientCertificate: examples/certs/throwaway-gateway-client.key: no PEM CERTIFICATE block found",
            "t.yaml:+22: DestinationRule/d: spec.trafficPolicy.tls.privateKey: examples/certs/throwaway-gateway-client.crt: no PEM PRIVATE KEY block found",
            "t.yaml:+23: DestinationRule/d: spec.trafficPolicy.tls.caCertificates: cannot read examples/certs/missing.crt: No such file or directory (os error 2)",
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "      mode: SIMPLE\n      credentialName: gone\n      subjectAltNames: [\"spiffe://cluster.local/ns/default/sa/echo\"]\n"
        )),
        [
            "t.yaml:+21: DestinationRule/d: spec.trafficPolicy.tls.credentialName: Secret \"gone\" not found"
        ]
    );
    // References of an object with problems of its own are checked once those are fixed.
    assert_eq!(
        errors_with(&dr(
            "      mode: SIMPLE\n      credentialName: gone\n      subjectAltNames: [\"spiffe://\"]\n"
        )),
        [
            "t.yaml:+22: DestinationRule/d: spec.trafficPolicy.tls.subjectAltNames[0]: invalid SPIFFE id \"spiffe://\": expected spiffe://trust-domain/path"
        ]
    );
    assert_eq!(
        errors_with(&dr("      mode: SOMETIMES\n")),
        [
            "t.yaml:+20: DestinationRule/d: spec.trafficPolicy.tls.mode: unknown value \"SOMETIMES\" (expected one of: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL)"
        ]
    );
}

#[test]
fn destination_rule_hosts() {
    let extra = format!(
        "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d1}}\nspec:\n  host: echo\n---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {{name: d2}}\nspec:\n  host: echo.default.svc.cluster.local\n---\napiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata: {{name: d3}}\nspec:\n  host: ehco\n"
    );
    assert_eq!(
        errors_with(&extra),
        [
            "t.yaml:+23: DestinationRule/d2: spec.host: host \"echo.default.svc.cluster.local\" is already configured by DestinationRule/d1 (t.yaml:46)",
            "t.yaml:+29: DestinationRule/d3: spec.host: host \"ehco\" (ehco.default.svc.cluster.local) matches no Service in the configuration",
        ]
    );
}

#[test]
fn backend_tls_policy() {
    let extra = format!(
        "{ROUTE}apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: b}}\nspec:\n  targetRefs: [{{kind: Service, name: echo}}, {{name: nope}}]\n  validation:\n    wellKnownCACertificates: System\n    hostname: echo.internal\n    subjectAltNames:\n    - {{type: URI, uri: not-a-uri}}\n    - {{type: Email, hostname: x}}\n"
    );
    assert_eq!(
        errors_with(&extra),
        [
            "t.yaml:+19: BackendTLSPolicy/b: spec.validation.wellKnownCACertificates: wellKnownCACertificates is not supported (h2edge has no system trust store); give caCertificateRefs",
            "t.yaml:+22: BackendTLSPolicy/b: spec.validation.subjectAltNames[0].uri: invalid URI \"not-a-uri\": expected scheme:rest, such as spiffe://cluster.local/ns/default/sa/product",
            "t.yaml:+23: BackendTLSPolicy/b: spec.validation.subjectAltNames[1].type: unknown value \"Email\" (expected one of: Hostname, URI)",
        ]
    );
    // A valid policy becomes the cluster's TLS, with the ConfigMap CA and the SPIFFE SAN.
    let ca = std::fs::read_to_string("examples/certs/throwaway-mesh-ca.crt").expect("ca");
    let indented: String = ca.lines().map(|l| format!("    {l}\n")).collect();
    let extra = format!(
        "{ROUTE}apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {{name: b}}\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: echo, sectionName: grpc}}]\n  validation:\n    caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: mesh-ca}}]\n    hostname: echo.default.svc.cluster.local\n    subjectAltNames: [{{type: URI, uri: \"spiffe://cluster.local/ns/default/sa/echo\"}}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mesh-ca}}\ndata:\n  ca.crt: |\n{indented}"
    );
    let c = ok_with(&extra);
    use h2edge::config::model::{
        ClientCert, SubjectAltName, TrustAnchor, UpstreamTls, UpstreamTlsMode,
    };
    let UpstreamTls::Enabled(t) = &c.clusters[0].tls else {
        panic!("tls")
    };
    assert_eq!(t.mode, UpstreamTlsMode::BackendTlsPolicy);
    assert_eq!(t.sni.as_deref(), Some("echo.default.svc.cluster.local"));
    assert_eq!(
        t.subject_alt_names,
        [SubjectAltName::Uri(
            "spiffe://cluster.local/ns/default/sa/echo".into()
        )]
    );
    assert_eq!(
        t.client_cert,
        ClientCert::GatewayBackend { required: false }
    );
    assert!(matches!(&t.ca, TrustAnchor::Pem(p) if p.starts_with(b"-----BEGIN CERTIFICATE-----")));
}

#[test]
fn refused_features() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\nspec:\n  parentRefs: [{name: edge}]\n  hostnames: [h.example.com]\n  rules:\n  - backendRefs: [{name: echo, port: 50051}]\n    filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+9: HTTPRoute/h: spec.rules[0].filters: filters are not supported by h2edge yet (the route would behave differently than written)"
        ]
    );
}

#[test]
fn http_and_grpc_routes_must_not_share_hostnames_on_a_listener() {
    let extra = format!(
        "{ROUTE}apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: h}}\nspec:\n  parentRefs: [{{name: edge}}]\n  rules:\n  - backendRefs: [{{name: echo, port: 50051}}]\n"
    );
    assert_eq!(
        errors_with(&extra),
        [
            "t.yaml:+13: HTTPRoute/h: spec.hostnames: GRPCRoute/echo shares listener \"http\" of Gateway/edge with overlapping hostnames; Gateway API accepts only one of an HTTPRoute and a GRPCRoute there (give them distinct hostnames)"
        ]
    );
    let distinct = format!(
        "{}  hostnames: [grpc.example.com]\n  rules:{}",
        &ROUTE[..ROUTE.find("  rules:").unwrap_or(0)],
        &ROUTE[ROUTE.find("  rules:").unwrap_or(0) + 8..]
    );
    let extra = format!(
        "{distinct}apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: h}}\nspec:\n  parentRefs: [{{name: edge}}]\n  hostnames: [www.example.com]\n  rules:\n  - backendRefs: [{{name: echo, port: 50051}}]\n"
    );
    assert!(errors_with(&extra).is_empty(), "{:?}", errors_with(&extra));
}

#[test]
fn yaml_syntax_duplicate_keys_and_objects() {
    assert_eq!(
        errors(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\nspec:\n  ports: [{port: 1}]\n"
        ),
        ["t.yaml:5: document 1: -: duplicate key \"name\""]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports: [{port: 1}\n"),
        [
            "t.yaml:7: document 1: -: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"
        ]
    );
    assert_eq!(
        errors_with(
            "apiVersion: v1\nkind: Service\nmetadata: {name: echo}\nspec:\n  ports: [{port: 1}]\n"
        ),
        [
            "t.yaml:+1: Service/echo: metadata.name: duplicate Service/echo: first defined at t.yaml:12"
        ]
    );
}

#[test]
fn every_problem_is_collected() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - {name: a, port: 99999, protocol: HTTP}\n  - {name: b, port: 81, protocol: QUIC}\n---\nkind: Nope\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s2}\nspec:\n  ports: [{port: x}]\n";
    assert_eq!(
        errors_with(extra),
        [
            "t.yaml:+7: Gateway/g2: spec.listeners[0].port: 99999 is out of range 1..=65535",
            "t.yaml:+8: Gateway/g2: spec.listeners[1].protocol: unknown protocol \"QUIC\" (expected HTTP or HTTPS)",
            "t.yaml:+10: document 5: apiVersion: required field is missing",
            "t.yaml:+10: document 5: kind: unknown kind \"Nope\" (supported: Gateway, HTTPRoute, GRPCRoute, BackendTLSPolicy, DestinationRule, Secret, ConfigMap, Service, EndpointSlice, GatewayClass, ReferenceGrant)",
            "t.yaml:+16: Service/s2: spec.ports[0].port: expected an integer, found a string (remove the quotes)",
        ]
    );
}

#[test]
fn unknown_fields_are_notes_not_errors() {
    let extra = format!(
        "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: d\n  uid: 1234\n  labels: {{team: a}}\nspec:\n  host: echo\n  exportTo: [\".\"]\n  trafficPolicy:\n    loadBalancer:\n      simple: LEAST_CONN\n      fancy: yes\n"
    );
    let c = ok_with(&extra);
    let notes: Vec<String> = c.notes.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        notes,
        [
            "t.yaml:54: DestinationRule/d: spec.exportTo: ignored (not used by h2edge)",
            "t.yaml:57: DestinationRule/d: spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated; read as LEAST_REQUEST",
            "t.yaml:58: DestinationRule/d: spec.trafficPolicy.loadBalancer.fancy: ignored (not used by h2edge)",
        ]
    );
}

#[test]
fn port_level_settings_and_subsets_override_by_field() {
    let extra = format!(
        "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d}}\nspec:\n  host: echo\n  trafficPolicy:\n    loadBalancer: {{simple: RANDOM}}\n    connectionPool: {{http: {{maxConcurrentStreams: 7}}}}\n    portLevelSettings:\n    - port: {{number: 50051}}\n      loadBalancer: {{simple: ROUND_ROBIN}}\n    - port: {{number: 9}}\n      loadBalancer: {{simple: LEAST_REQUEST}}\n  subsets:\n  - name: v2\n    labels: {{version: v2}}\n    trafficPolicy:\n      loadBalancer: {{consistentHash: {{httpQueryParameterName: u}}}}\n"
    );
    let c = ok_with(&extra);
    use h2edge::config::model::LbPolicy;
    let cl = &c.clusters[0];
    assert_eq!(cl.policy.load_balancer.policy, LbPolicy::RoundRobin);
    assert_eq!(cl.policy.connection_pool.max_concurrent_streams, Some(7));
    assert_eq!(cl.subsets[0].name, "v2");
    assert!(matches!(
        cl.subsets[0].policy.load_balancer.policy,
        LbPolicy::ConsistentHash(_)
    ));
    assert_eq!(
        cl.subsets[0].policy.connection_pool.max_concurrent_streams,
        Some(7)
    );
    assert_eq!(cl.sources, ["Service/echo", "DestinationRule/d"]);
}

#[test]
fn http_route_model() {
    let extra = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h, creationTimestamp: \"2026-01-02T03:04:05Z\"}\nspec:\n  parentRefs: [{name: edge, sectionName: http}]\n  hostnames: [\"*.example.com\"]\n  rules:\n  - name: api\n    matches:\n    - path: {value: /api}\n      method: POST\n      headers: [{name: X-Tenant, value: a}]\n      queryParams: [{name: v, value: \"2\"}]\n    backendRefs: [{name: echo, port: 50051, weight: 90}]\n    timeouts: {request: 1m30s, backendRequest: 250ms}\n  - backendRefs: [{name: echo, port: 50051}]\n";
    let c = ok_with(extra);
    use h2edge::config::model::{Method, PathMatch, StringMatch};
    let r = &c.http_routes[0];
    assert_eq!(
        r.meta.creation_timestamp.as_deref(),
        Some("2026-01-02T03:04:05Z")
    );
    assert!(r.hostnames[0].matches("a.example.com") && !r.hostnames[0].matches("example.com"));
    let rule = &r.rules[0];
    assert_eq!(rule.name.as_deref(), Some("api"));
    let m = &rule.matches[0];
    assert_eq!(m.path, PathMatch::Prefix("/api".into()));
    assert_eq!(m.method, Some(Method::Post));
    assert_eq!(m.headers[0].name, "x-tenant");
    assert_eq!(m.query_params[0].value, StringMatch::Exact("2".into()));
    assert_eq!(rule.backends[0].weight, 90);
    assert_eq!(
        rule.timeouts.request,
        Some(std::time::Duration::from_secs(90))
    );
    assert_eq!(
        rule.timeouts.backend_request,
        Some(std::time::Duration::from_millis(250))
    );
    // A rule without matches matches every path.
    assert_eq!(r.rules[1].matches[0].path, PathMatch::Prefix("/".into()));
    assert_eq!(
        r.rules[0].backends[0].cluster,
        r.rules[1].backends[0].cluster
    );
}

#[test]
fn files_and_directories() {
    let p = config::load(&["tests/data/config/nope.yaml"]).expect_err("missing");
    assert_eq!(
        p[0].to_string(),
        "tests/data/config/nope.yaml:1: -: -: cannot read file: No such file or directory (os error 2)"
    );
    let p = config::load(&["src/config/load"]).expect_err("no yaml");
    assert_eq!(
        p[0].to_string(),
        "src/config/load:1: -: -: no *.yaml or *.yml files in this directory"
    );
    let none: [&str; 0] = [];
    let p = config::load(&none).expect_err("nothing");
    assert_eq!(p[0].to_string(), "-:1: -: -: no configuration files given");
}

#[test]
fn gateway_tls_settings() {
    let ca = std::fs::read_to_string("examples/certs/throwaway-mesh-ca.crt").expect("ca");
    let indented: String = ca.lines().map(|l| format!("    {l}\n")).collect();
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g2}\nspec:\n  gatewayClassName: x\n  listeners:\n  - {name: a, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: edge-cert}]}}\n  tls:\n    backend:\n      clientCertificateRef: {name: client}\n    frontend:\n      default:\n        validation: {caCertificateRefs: [{kind: ConfigMap, name: clients-ca}], mode: AllowInsecureFallback}\n      perPort:\n      - port: 9443\n        tls: {validation: {caCertificateRefs: [{kind: ConfigMap, name: nope}]}}\n---\n";
    let objects = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: edge-cert\n  annotations: {{h2edge.io/cert-file: examples/certs/throwaway-edge.crt, h2edge.io/key-file: examples/certs/throwaway-edge.key}}\ntype: kubernetes.io/tls\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: client\n  annotations: {{h2edge.io/cert-file: examples/certs/throwaway-gateway-client.crt, h2edge.io/key-file: examples/certs/throwaway-gateway-client.key}}\ntype: kubernetes.io/tls\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: clients-ca}}\ndata:\n  ca.crt: |\n{indented}"
    );
    assert_eq!(
        errors_with(&format!("{gw}{objects}")),
        [
            "t.yaml:+15: Gateway/g2: spec.tls.frontend.perPort[0].port: no HTTPS listener on port 9443 for this validation to apply to",
            "t.yaml:+16: Gateway/g2: spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0].name: ConfigMap \"nope\" not found",
        ]
    );
    let gw = gw
        .replace("9443", "8443")
        .replace("name: nope", "name: clients-ca");
    let c = ok_with(&format!("{gw}{objects}"));
    let g = &c.gateways[1];
    use h2edge::config::model::FrontendValidationMode;
    let v = g.frontend_validation.for_port(8443).expect("validation");
    assert_eq!(v.mode, FrontendValidationMode::AllowValidOnly);
    assert_eq!(
        g.frontend_validation.default.as_ref().map(|d| d.mode),
        Some(FrontendValidationMode::AllowInsecureFallback)
    );
    let client = g.backend_client_cert.as_ref().expect("backend client cert");
    assert_eq!(client.source, "Secret/default/client");
    assert!(client.ca_pem.is_none());
    // ISTIO_MUTUAL through this gateway needs the client Secret to carry ca.crt.
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: g2}]\n  rules: [{backendRefs: [{name: echo, port: 50051}]}]\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: echo\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n---\n";
    let text = format!("{gw}{route}{objects}");
    let errs = errors_with(&text);
    assert_eq!(
        errs,
        [
            "t.yaml:+30: DestinationRule/d: spec.trafficPolicy.tls.mode: ISTIO_MUTUAL uses the Gateway's backend client certificate and its ca.crt, but Gateway/g2 has a backend client certificate Secret without ca.crt"
        ]
    );
}

#[test]
fn http2_annotations() {
    use h2edge::config::model::Http2Settings;
    // Absent: every setting keeps its built-in default.
    let c = ok_with(ROUTE);
    assert_eq!(c.gateways[0].http2, Http2Settings::default());
    assert_eq!(c.clusters[0].http2, Http2Settings::default());

    let gw = |annotations: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g2\n  annotations:\n{annotations}spec:\n  gatewayClassName: x\n  listeners: [{{name: a, port: 8080, protocol: HTTP}}]\n---\n"
        )
    };
    let dr = |annotations: &str| {
        format!(
            "{ROUTE}apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: d\n  annotations:\n{annotations}spec:\n  host: echo\n"
        )
    };
    // Plain bytes and binary suffixes, at both ends of the ranges.
    let c = ok_with(&format!(
        "{}{}",
        gw(
            "    h2edge.io/http2-stream-window: 64Ki\n    h2edge.io/http2-connection-window: \"65535\"\n    h2edge.io/max-buffered-output: \"16393\"\n"
        ),
        dr(
            "    h2edge.io/http2-stream-window: \"2147483647\"\n    h2edge.io/http2-connection-window: 1Gi\n    h2edge.io/max-buffered-output: 64Mi\n"
        ),
    ));
    assert_eq!(c.gateways[0].http2, Http2Settings::default());
    assert_eq!(
        c.gateways[1].http2,
        Http2Settings {
            stream_window: Some(65_536),
            connection_window: Some(65_535),
            max_buffered_output: Some(16_393),
        }
    );
    assert_eq!(
        c.clusters[0].http2,
        Http2Settings {
            stream_window: Some(2_147_483_647),
            connection_window: Some(1 << 30),
            max_buffered_output: Some(64 << 20),
        }
    );
    // One annotation alone leaves the others at their defaults.
    let c = ok_with(&dr("    h2edge.io/max-buffered-output: 32Ki\n"));
    assert_eq!(
        c.clusters[0].http2,
        Http2Settings {
            max_buffered_output: Some(32 << 10),
            ..Http2Settings::default()
        }
    );

    // Each error names the annotation and why; the whole config is refused.
    assert_eq!(
        errors_with(&gw(
            "    h2edge.io/http2-stream-window: 64KB\n    h2edge.io/http2-connection-window: 2Gi\n    h2edge.io/max-buffered-output: 16Ki\n"
        )),
        [
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/http2-stream-window: invalid quantity \"64KB\": expected a whole number of bytes, optionally with a suffix Ki, Mi or Gi, such as 65536, 64Ki or 1Mi",
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/http2-connection-window: \"2Gi\" is 2147483648 bytes, out of range 65535..=2147483647 (HTTP/2 windows start at 65,535 and are at most 2^31-1, RFC 9113 §6.9)",
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/max-buffered-output: \"16Ki\" is 16384 bytes, out of range 16393..=67108864 (at least one 16 KiB DATA frame with its 9-byte header, at most 64 MiB)",
        ]
    );
    assert_eq!(
        errors_with(&dr(
            "    h2edge.io/http2-stream-window: \"65534\"\n    h2edge.io/http2-connection-window: 1.5Mi\n    h2edge.io/max-buffered-output: 65Mi\n"
        )),
        [
            "t.yaml:+13: DestinationRule/d: metadata.annotations.h2edge.io/http2-stream-window: \"65534\" is 65534 bytes, out of range 65535..=2147483647 (HTTP/2 windows start at 65,535 and are at most 2^31-1, RFC 9113 §6.9)",
            "t.yaml:+13: DestinationRule/d: metadata.annotations.h2edge.io/http2-connection-window: invalid quantity \"1.5Mi\": expected a whole number of bytes, optionally with a suffix Ki, Mi or Gi, such as 65536, 64Ki or 1Mi",
            "t.yaml:+13: DestinationRule/d: metadata.annotations.h2edge.io/max-buffered-output: \"65Mi\" is 68157440 bytes, out of range 16393..=67108864 (at least one 16 KiB DATA frame with its 9-byte header, at most 64 MiB)",
        ]
    );
    // Annotations are strings, as in Kubernetes.
    assert_eq!(
        errors_with(&dr("    h2edge.io/http2-stream-window: 65536\n")),
        [
            "t.yaml:+18: DestinationRule/d: metadata.annotations.h2edge.io/http2-stream-window: expected a string, found an integer (quote it to make it a string)"
        ]
    );
    // Gateways that share a port share its connections: their settings must agree.
    let shared = gw("    h2edge.io/http2-stream-window: 64Ki\n")
        .replace("port: 8080", "port: 80, hostname: a.example.com");
    assert_eq!(
        errors_with(&shared),
        [
            "t.yaml:+9: Gateway/g2: spec.listeners[0].port: port 80 is shared with listener \"http\" of Gateway/edge, whose HTTP/2 annotations (h2edge.io/http2-stream-window, h2edge.io/http2-connection-window, h2edge.io/max-buffered-output) differ; connections on one port get one setting, so give both Gateways the same values"
        ]
    );
}

#[test]
fn client_connection_annotations() {
    use h2edge::config::model::ClientConnections;
    use std::time::Duration;
    assert_eq!(
        ok_with(ROUTE).gateways[0].clients,
        ClientConnections::default()
    );
    let gw = |annotations: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: g2\n  annotations:\n{annotations}spec:\n  gatewayClassName: x\n  listeners: [{{name: a, port: 8080, protocol: HTTP}}]\n---\n"
        )
    };
    let c = ok_with(&gw(
        "    h2edge.io/tls-handshake-timeout: 100ms\n    h2edge.io/preface-timeout: 5m\n    h2edge.io/request-headers-timeout: 2s\n    h2edge.io/idle-timeout: 0s\n    h2edge.io/max-connections-per-worker: \"50000\"\n",
    ));
    assert_eq!(c.gateways[0].clients, ClientConnections::default());
    assert_eq!(
        c.gateways[1].clients,
        ClientConnections {
            tls_handshake_timeout: Some(Duration::from_millis(100)),
            preface_timeout: Some(Duration::from_secs(300)),
            request_headers_timeout: Some(Duration::from_secs(2)),
            idle_timeout: Some(Duration::ZERO),
            max_connections_per_worker: Some(50_000),
        }
    );
    assert_eq!(
        errors_with(&gw(
            "    h2edge.io/tls-handshake-timeout: 0s\n    h2edge.io/preface-timeout: 10\n    h2edge.io/request-headers-timeout: 6m\n    h2edge.io/idle-timeout: 50ms\n    h2edge.io/max-connections-per-worker: \"0\"\n"
        )),
        [
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/tls-handshake-timeout: \"0s\" is out of range 100ms..=300s",
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/request-headers-timeout: \"6m\" is out of range 100ms..=300s",
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/idle-timeout: \"50ms\" is out of range 100ms..=86400s (or 0s: no limit)",
            "t.yaml:+1: Gateway/g2: metadata.annotations.h2edge.io/max-connections-per-worker: \"0\" is not a whole number in 1..=1000000",
            // Annotations are strings, as in Kubernetes.
            "t.yaml:+7: Gateway/g2: metadata.annotations.h2edge.io/preface-timeout: expected a string, found an integer (quote it to make it a string)",
        ]
    );
    // Gateways that share a port share its connections: their limits must agree.
    let shared = gw("    h2edge.io/idle-timeout: 1m\n")
        .replace("port: 8080", "port: 80, hostname: a.example.com");
    assert_eq!(
        errors_with(&shared),
        [
            "t.yaml:+9: Gateway/g2: spec.listeners[0].port: port 80 is shared with listener \"http\" of Gateway/edge, whose client connection annotations (h2edge.io/tls-handshake-timeout, h2edge.io/preface-timeout, h2edge.io/request-headers-timeout, h2edge.io/idle-timeout, h2edge.io/max-connections-per-worker) differ; connections on one port get one setting, so give both Gateways the same values"
        ]
    );
}

/// One process runs in one place: Gateways that name their locality must name the same one; a
/// Gateway without the annotation goes along with the others.
#[test]
fn gateways_agree_on_their_locality() {
    let gw = |name: &str, port: u16, locality: Option<&str>| {
        let annotations = locality.map_or(String::new(), |l| {
            format!("  annotations:\n    h2edge.io/locality: {l}\n")
        });
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n{annotations}spec:\n  gatewayClassName: h2edge\n  listeners:\n  - name: http\n    port: {port}\n    protocol: HTTP\n---\n"
        )
    };
    let two =
        gw("g2", 8080, Some("eu-west1/eu-west1-b")) + &gw("g3", 8081, Some("eu-west1/eu-west1-c"));
    assert_eq!(
        errors_with(&two),
        [
            "t.yaml:+14: Gateway/g3: metadata.annotations.h2edge.io/locality: differs from the locality of Gateway/g2: the Gateways of one h2edge process run in one place"
        ]
    );
    let agreeing =
        gw("g2", 8080, Some("eu-west1/eu-west1-b")) + &gw("g3", 8081, Some("eu-west1/eu-west1-b"));
    ok_with(&agreeing);
}
