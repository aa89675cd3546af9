#!/usr/bin/env bash
# make demo: the gateway on the built-in simulated TinyBMS, web UI on http://127.0.0.1:8080/.
# State (configuration, energy counters, the candump log of every CAN frame) in state/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p state/demo
echo "Starting the TinyBMS gateway in demo mode (Ctrl-C to stop)."
echo "CAN frames are written to state/demo/can.log; decode them with:"
echo "    $build/bin/victron-can-decode state/demo/can.log | tail"
exec "$build/bin/tinybms-gateway" --demo "${@:2}"
