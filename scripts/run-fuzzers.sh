#!/usr/bin/env bash
# Runs every libFuzzer harness in DIR for SECONDS each, starting from tests/fuzz/corpus/<name>.
# New interesting inputs land in a scratch directory, so a test run never modifies the tree.
# FUZZ_JOBS harnesses run at once (default: the number of cores; each is single-threaded); the
# results are printed in name order once all have run.
set -euo pipefail
dir=$1; secs=$2
jobs_max=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
src=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
shopt -s nullglob

run_one() { # name harness: its exit status goes to $scratch/name.rc
  local name=$1 f=$2 rc=0
  "$f" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$scratch/$name-" \
    "$scratch/$name" "$src/tests/fuzz/corpus/$name" >"$scratch/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$scratch/$name.rc"
}

names=()
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f"); name=${name#fuzz_}
  mkdir -p "$scratch/$name"
  names+=("$name")
  run_one "$name" "$f" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
done
wait
[ "${#names[@]}" -gt 0 ] || { echo "no fuzzers found in $dir" >&2; exit 1; }
for name in "${names[@]}"; do
  printf 'fuzz %-24s %ss ... ' "$name" "$secs"
  if [ "$(cat "$scratch/$name.rc" 2>/dev/null || echo missing)" != 0 ]; then
    echo "FAILED"; tail -n 40 "$scratch/$name.log"
    for a in "$scratch/$name"-*; do [ -f "$a" ] && { echo "artifact: $a"; xxd "$a" | head -n 20; }; done
    exit 1
  fi
  echo "ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$scratch/$name.log" | awk '{print $2}' || true)$(grep -Eo '#[0-9]+' "$scratch/$name.log" | tail -n1) runs)"
done
