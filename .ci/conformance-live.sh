#!/usr/bin/env bash
# Runs the conformance suite against a live `h2edge demo`: its h2c listener and its TLS listener,
# the streams going through the gateway to the demo's echo backends over mutual TLS.
# Usage: .ci/conformance-live.sh [path/to/h2edge]   (H2EDGE_IO=epoll to use the fallback backend)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/h2edge}
# Fixed ports below the kernel's ephemeral range (32768-60999): a port in that range can be held
# by a client socket of an earlier run (connected or in TIME_WAIT), and the bind then fails.
tls_port=${TLS_PORT:-18443}
h2c_port=${H2C_PORT:-18080}
log=$(mktemp)
"$bin" demo --listen "127.0.0.1:$tls_port" --h2c-listen "127.0.0.1:$h2c_port" --workers 1 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "Ctrl-C" "$log" && break; sleep 0.1; done
grep -q "Ctrl-C" "$log" || { cat "$log" >&2; exit 1; }
ca=$(sed -n 's/^  throwaway CA for clients: //p' "$log")
head -1 "$log"
echo "--- h2c listener"
H2EDGE_CONFORMANCE_TARGET="127.0.0.1:$h2c_port" cargo test --quiet --test conformance
echo "--- TLS listener"
H2EDGE_CONFORMANCE_TARGET="127.0.0.1:$tls_port" H2EDGE_CONFORMANCE_TLS=1 H2EDGE_CONFORMANCE_CA="$ca" \
  cargo test --quiet --test conformance
