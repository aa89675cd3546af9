#!/usr/bin/env bash
# make bench: build (optimised, with debug info) and print the performance figures of issue 10;
# the table also goes into docs/performance.md ("Benchmarks"). Pass --quick for a short run and
# --no-write to leave the docs alone. Takes about 6 minutes (callgrind, ~2 minutes of the daemon over
# ptys, then ~2 minutes of HTTP with wrk and 100 WebSocket clients).
set -euo pipefail
build=${1:-build}; shift || true
src=$(cd "$(dirname "$0")/.." && pwd)
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
# the daemon with the static files of bench/bench_web.cmake (not part of the default build)
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target tinybms-gateway-bench >/dev/null
exec /usr/bin/python3 "$src/bench/run_bench.py" "$build" "$@"
