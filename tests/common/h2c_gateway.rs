//! A minimal config shared by test crates: an h2c Gateway listener on `port` whose one HTTPRoute
//! sends everything to the single endpoint `upstream` (namespace `test`).

use std::net::SocketAddr;

#[allow(dead_code)] // a crate that writes its own Gateway takes only `route_to`
pub fn h2c_config(port: u16, upstream: SocketAddr) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: test}}
spec:
  gatewayClassName: h2edge
  listeners: [{{name: h2c, port: {port}, protocol: HTTP}}]
{}"#,
        route_to(upstream)
    )
}

/// The rest of such a config, for a Gateway `edge` written by the caller: `---`, then the
/// HTTPRoute sending everything to the Service `up`, and `up` with its one endpoint `upstream`.
pub fn route_to(upstream: SocketAddr) -> String {
    format!(
        r#"---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: all, namespace: test}}
spec:
  parentRefs: [{{name: edge}}]
  rules: [{{backendRefs: [{{name: up, port: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: up, namespace: test}}
spec:
  ports: [{{name: h2c, port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: up
  namespace: test
  labels: {{kubernetes.io/service-name: up}}
addressType: IPv4
ports: [{{name: h2c, port: {up_port}}}]
endpoints: [{{addresses: ["{ip}"]}}]
"#,
        up_port = upstream.port(),
        ip = upstream.ip(),
    )
}
