#!/usr/bin/env bash
# Runs every libFuzzer harness in DIR for SECONDS each, starting from tests/fuzz/corpus/<name>.
# New interesting inputs land in a scratch directory, so a test run never modifies the tree.
set -euo pipefail
dir=$1; secs=$2
src=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
shopt -s nullglob
n=0
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f"); name=${name#fuzz_}
  corpus="$src/tests/fuzz/corpus/$name"
  mkdir -p "$scratch/$name"
  printf 'fuzz %-24s %ss ... ' "$name" "$secs"
  if ! "$f" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$scratch/$name-" \
        "$scratch/$name" "$corpus" >"$scratch/$name.log" 2>&1; then
    echo "FAILED"; tail -n 40 "$scratch/$name.log"
    for a in "$scratch/$name"-*; do echo "artifact: $a"; xxd "$a" | head -n 20; done
    exit 1
  fi
  echo "ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$name.log" | awk '{print $2}' || true)$(grep -Eo '#[0-9]+' "$scratch/$name.log" | tail -n1) runs)"
  n=$((n+1))
done
[ "$n" -gt 0 ] || { echo "no fuzzers found in $dir" >&2; exit 1; }
