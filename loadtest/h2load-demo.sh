#!/usr/bin/env bash
# Load through the gateway: h2load against `h2edge demo` (the gateway plus three in-process echo
# backends behind mutual TLS), on both listeners and two workloads, bounded in time.
#
# Prints, per run: requests/s, failed requests, and the CPU seconds per request of the gateway's
# worker threads alone (the backend thread's CPU is excluded: threads are told apart by name in
# /proc/PID/task/*/comm). One gateway worker (pinned to the first allowed CPU), h2load on another CPU.
#
#   loadtest/h2load-demo.sh                  # defaults below
#   N=100000 C=32 M=16 loadtest/h2load-demo.sh
#
# Needs h2load (Debian package nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}          # requests per run
C=${C:-64}              # client connections
M=${M:-32}              # concurrent streams per connection
WORKERS=${WORKERS:-1}   # gateway workers
TLS_PORT=${TLS_PORT:-28443}
H2C_PORT=${H2C_PORT:-28080}
LOADGEN_CPU=${LOADGEN_CPU:-1}

command -v h2load >/dev/null || { echo "h2load not found: apt-get install nghttp2-client" >&2; exit 1; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/h2edge

tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" demo --listen "127.0.0.1:$TLS_PORT" --h2c-listen "127.0.0.1:$H2C_PORT" --workers "$WORKERS" \
  >"$tmp/demo.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  grep -q "Ctrl-C" "$tmp/demo.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "Ctrl-C" "$tmp/demo.log" || { cat "$tmp/demo.log" >&2; exit 1; }
backend=$(sed -n 's/^h2edge: I\/O backend: //p' "$tmp/demo.log")

# CPU ticks (user + system) of the gateway worker threads.
worker_ticks() {
  local total=0 t
  for t in /proc/"$pid"/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == h2edge-worker* ]] || continue
    # Fields 14 and 15 (utime, stime); comm (field 2) has no spaces here.
    total=$((total + $(awk '{print $14 + $15}' "$t/stat")))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
# A gRPC request body: 5-byte prefix (uncompressed, length 64) and a 64-byte message.
printf '\x00\x00\x00\x00\x40' >"$tmp/grpc.bin"
head -c 64 /dev/zero | tr '\0' 'x' >>"$tmp/grpc.bin"

printf '%-6s %-5s %-9s %10s %8s %14s\n' listen work backend "req/s" failed "cpu_us/req"
run() { # listener url workload
  local name=$1 url=$2 work=$3 args=()
  if [[ $work == grpc ]]; then
    args=(-d "$tmp/grpc.bin" -H 'content-type: application/grpc' -H 'te: trailers')
    url="$url/bench.Echo/Unary"
  else
    url="$url/"
  fi
  local before after out reqs rps failed
  before=$(worker_ticks)
  out=$(taskset -c "$LOADGEN_CPU" h2load -n "$N" -c "$C" -m "$M" "${args[@]}" "$url" 2>&1)
  after=$(worker_ticks)
  reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' <<<"$out")
  failed=$(sed -n 's/^requests: .*succeeded, \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1+\2+\3/p' <<<"$out")
  rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  awk -v n="$name" -v w="$work" -v b="$backend" -v r="$rps" -v f="$((failed))" \
      -v t=$((after - before)) -v hz="$hz" -v q="${reqs:-0}" \
      'BEGIN { printf "%-6s %-5s %-9s %10.0f %8d %14.2f\n", n, w, b, r, f, (q ? t / hz / q * 1e6 : 0) }'
}
run tls "https://127.0.0.1:$TLS_PORT" get
run tls "https://127.0.0.1:$TLS_PORT" grpc
run h2c "http://127.0.0.1:$H2C_PORT" get
run h2c "http://127.0.0.1:$H2C_PORT" grpc
