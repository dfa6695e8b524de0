//! The configuration the gateway suites share: an h2c Gateway listener in front of a Service `up`
//! whose endpoints are given, with the HTTPRoute's rules and the DestinationRule's policy as
//! parameters.

use std::net::SocketAddr;

/// An h2c Gateway listener on `port` (with `annotations` on the Gateway) in front of `upstreams`;
/// `rules` is the HTTPRoute's rules (all to the Service `up`), `policy` the DestinationRule's
/// `trafficPolicy` (empty for none).
pub fn gateway_yaml(
    port: u16,
    upstreams: &[SocketAddr],
    annotations: &str,
    rules: &str,
    policy: &str,
) -> String {
    let endpoints: Vec<String> = upstreams
        .iter()
        .map(|a| format!("{{addresses: [\"{}\"]}}", a.ip()))
        .collect();
    let mut yaml = format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: test, annotations: {{{annotations}}}}}
spec:
  gatewayClassName: h2edge
  listeners: [{{name: h2c, port: {port}, protocol: HTTP}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: all, namespace: test}}
spec:
  parentRefs: [{{name: edge}}]
  rules: {rules}
---
apiVersion: v1
kind: Service
metadata: {{name: up, namespace: test}}
spec:
  ports: [{{name: h2c, port: 80}}]
"#
    );
    // One EndpointSlice per backend: each listens on its own port.
    for (i, a) in upstreams.iter().enumerate() {
        yaml.push_str(&format!(
            r#"---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: up-{i}
  namespace: test
  labels: {{kubernetes.io/service-name: up}}
addressType: IPv4
ports: [{{name: h2c, port: {port}}}]
endpoints: [{}]
"#,
            endpoints[i],
            port = a.port(),
        ));
    }
    if !policy.is_empty() {
        yaml.push_str(&format!(
            "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: up, namespace: test}}\nspec:\n  host: up.test.svc.cluster.local\n  trafficPolicy: {policy}\n"
        ));
    }
    yaml
}

/// Rules that send everything to the Service `up`.
#[allow(dead_code)] // not every crate routes everything
pub const ALL_TO_UP: &str = "[{backendRefs: [{name: up, port: 80}]}]";
