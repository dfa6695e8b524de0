#!/usr/bin/env bash
# Runs every fuzz target for a bounded time with AddressSanitizer; fails on the first crash.
#
#   bash fuzz/run.sh [seconds-per-target]      (default 30; CI uses 30)
#
# libFuzzer's random seed is fixed (FUZZ_SEED, default 1) so a run explores inputs in the same
# order everywhere: a crash CI finds, this command finds again locally. Set FUZZ_SEED=0 for a
# time-based seed when hunting.
#
# Each target starts from its checked-in seeds (fuzz/corpus/<target>/), which are only read: new
# inputs go to a temporary corpus directory that libFuzzer writes to (the first one given), so a run
# leaves the work tree clean. Crash inputs land in fuzz/artifacts/<target>/ (gitignored); see
# docs/fuzzing.md for how to reproduce and minimize them.
set -euo pipefail

secs="${1:-30}"
seed="${FUZZ_SEED:-1}"
cd "$(dirname "$0")"

if ! cargo +nightly fuzz --help >/dev/null 2>&1; then
  echo "run.sh: needs cargo-fuzz and a nightly toolchain (see docs/fuzzing.md)" >&2
  exit 2
fi

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for t in $targets; do
  mkdir -p "$work/$t" "artifacts/$t"
  log="$work/$t.log"
  echo "=== fuzz $t for ${secs}s"
  status=0
  cargo +nightly fuzz run "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -seed="$seed" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    summary+=("$(printf '%-16s FAILED (exit %s) after %s execs' "$t" "$status" "${runs:-?}")")
    echo "--- $t failed; the report:"
    grep -m1 -A20 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log" || true
    echo "--- last lines of the log:"
    tail -n 25 "$log"
  else
    summary+=("$(printf '%-16s ok  %10s execs in %ss (cov %s)' "$t" "${runs:-?}" "$secs" "${cov:-?}")")
  fi
done

echo
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "crashing targets: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
