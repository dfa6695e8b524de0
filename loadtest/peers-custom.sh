#!/usr/bin/env bash
# h2edge in the `custom` slot of the peers harness (../shared/bench/peers): turns the variables the
# harness exports (PORT, CERTS, UPSTREAM_MODE=mtls|h2c, UPSTREAMS=127.0.0.1:p1,..., BE_NAME) into a
# Gateway API / Istio config and runs `h2edge run` on it with one worker, as the harness runs every
# proxy (one worker, pinned by the harness).
#
#   cargo build --release
#   cd ../shared/bench/peers
#   CUSTOM_CMD="$PWD/../../../main/loadtest/peers-custom.sh" TARGETS="nghttpx custom" ./run.sh
#
# H2EDGE_BIN overrides the binary (default: target/release/h2edge of this checkout).
# H2EDGE_ANNOTATIONS (for example "h2edge.io/http2-stream-window: 64Ki") is added to the annotations
# of the Gateway and of the DestinationRule, so both legs get it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${H2EDGE_BIN:-$here/../target/release/h2edge}
: "${PORT:?}" "${CERTS:?}" "${UPSTREAM_MODE:?}" "${UPSTREAMS:?}" "${BE_NAME:?}"

# The config stays for the life of the process (h2edge reloads it when it changes).
dir=$(mktemp -d)
cfg=$dir/gateway.yaml

cat >"$cfg" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: bench, annotations: {${H2EDGE_ANNOTATIONS:-}}}
spec:
  gatewayClassName: h2edge
  listeners:
  - name: https
    port: $PORT
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{name: gateway-cert}]
---
apiVersion: v1
kind: Secret
metadata:
  name: gateway-cert
  namespace: bench
  annotations:
    h2edge.io/cert-file: $CERTS/gateway.crt
    h2edge.io/key-file: $CERTS/gateway.key
type: kubernetes.io/tls
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: all, namespace: bench}
spec:
  parentRefs: [{name: bench}]
  rules:
  - backendRefs: [{name: backend, port: 9000}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: bench}
spec:
  ports: [{name: h2, port: 9000}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend, namespace: bench, annotations: {${H2EDGE_ANNOTATIONS:-}}}
spec:
  host: backend.bench.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
YAML
if [ "$UPSTREAM_MODE" = mtls ]; then
  cat >>"$cfg" <<YAML
    tls:
      mode: MUTUAL
      clientCertificate: $CERTS/gw-client.crt
      privateKey: $CERTS/gw-client.key
      caCertificates: $CERTS/mesh-ca.crt
      sni: $BE_NAME
      subjectAltNames: [$BE_NAME]
YAML
fi
i=0
for up in ${UPSTREAMS//,/ }; do
  i=$((i + 1))
  cat >>"$cfg" <<YAML
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-$i
  namespace: bench
  labels: {kubernetes.io/service-name: backend}
addressType: IPv4
ports: [{name: h2, port: ${up##*:}}]
endpoints: [{addresses: ["${up%:*}"]}]
YAML
done

"$bin" check "$cfg" >&2
exec "$bin" run "$cfg" --bind 127.0.0.1 --workers 1
