#!/usr/bin/env bash
# Hot-path cost check: instructions per proxied gRPC call through the whole gateway, in memory
# (benches/proxy.rs in its H2EDGE_BENCH_CALLS mode), counted by valgrind's cachegrind. Instruction
# counts do not depend on the machine's load, so a 10% budget holds on shared CI machines where
# timings move by tens of percent.
#
# Each variant runs twice, with N1 and N2 calls after the same warm-up; (Ir2 - Ir1) / (N2 - N1) is
# the cost of one call, with set-up (PKI, handshakes, warm-up) cancelled out. The figures are
# compared with benches/hot_path_budget.txt: more than 10% above fails, more than 10% below prints
# a hint to tighten the budget.
#
#   bash .ci/hot-path-cost.sh            # check
#   bash .ci/hot-path-cost.sh --update   # measure and write the figures into the budget file
#   H2EDGE_BENCH_METRICS=1 bash .ci/hot-path-cost.sh   # the same with the metrics of --admin on
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=benches/hot_path_budget.txt
N1=200
N2=4200
TOLERANCE=10   # percent
VARIANTS=(h2c tls)

update=0
case "${1:-}" in
  --update) update=1 ;;
  "") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

if ! command -v valgrind >/dev/null 2>&1; then
  echo "installing valgrind"
  apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi

echo "building benches/proxy.rs (bench profile)"
bin=$(cargo bench --bench proxy --no-run --message-format=json-render-diagnostics \
  | grep '"reason":"compiler-artifact"' | grep '"kind":\["bench"\]' | grep '"name":"proxy"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ -z "$bin" || ! -x "$bin" ]]; then
  echo "hot-path cost: could not find the proxy bench binary" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Instructions executed by one run of `variant` with `calls` calls after the warm-up.
irefs() {
  local variant=$1 calls=$2
  if ! H2EDGE_BENCH_VARIANT=$variant H2EDGE_BENCH_CALLS=$calls valgrind --tool=cachegrind \
      --cache-sim=no --cachegrind-out-file=/dev/null "$bin" >"$log" 2>&1; then
    echo "hot-path cost: the $variant run with $calls calls failed:" >&2
    cat "$log" >&2
    exit 1
  fi
  local ir
  ir=$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$log" | tr -d ,)
  if [[ -z "$ir" ]]; then
    echo "hot-path cost: no instruction count in cachegrind's output:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "$ir"
}

budget_of() {
  awk -v v="$1" '$1 == v { print $2 }' "$BUDGET"
}

failed=0
printf '%-5s %16s %16s %10s %10s %8s\n' variant "Ir ($N1 calls)" "Ir ($N2 calls)" Ir/call budget change
for v in "${VARIANTS[@]}"; do
  ir1=$(irefs "$v" "$N1")
  ir2=$(irefs "$v" "$N2")
  per_call=$(( (ir2 - ir1) / (N2 - N1) ))
  if (( update )); then
    if grep -q "^$v " "$BUDGET"; then
      sed -i "s/^$v .*/$v $per_call/" "$BUDGET"
    else
      echo "$v $per_call" >>"$BUDGET"
    fi
  fi
  budget=$(budget_of "$v")
  if [[ -z "$budget" ]]; then
    echo "hot-path cost: no budget for $v in $BUDGET" >&2
    exit 1
  fi
  change=$(awk -v a="$per_call" -v b="$budget" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }')
  printf '%-5s %16s %16s %10s %10s %8s\n' "$v" "$ir1" "$ir2" "$per_call" "$budget" "$change"
  if (( per_call * 100 > budget * (100 + TOLERANCE) )); then
    echo "FAIL: $v costs $per_call instructions per proxied call, more than $TOLERANCE% over its" \
      "budget of $budget ($BUDGET). Find the regression (callgrind on the bench binary, see" \
      "docs/benchmarks.md), or raise the budget with a reason in the commit message."
    failed=1
  elif (( per_call * 100 < budget * (100 - TOLERANCE) )); then
    echo "hint: $v is more than $TOLERANCE% under its budget of $budget: tighten it" \
      "(bash .ci/hot-path-cost.sh --update)."
  fi
done
if (( update )); then
  echo "wrote the figures into $BUDGET"
fi
exit "$failed"
