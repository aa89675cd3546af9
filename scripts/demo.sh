#!/usr/bin/env bash
# make demo: the gateway on the built-in simulated TinyBMS, web UI on http://127.0.0.1:8080/.
# State (configuration, energy counters, the simulated BMS, the candump log of every CAN frame) in
# state/demo/.
#   scripts/demo.sh BUILD_DIR [gateway options...]
# make demo PORT=8081 serves the UI on 127.0.0.1:8081; make demo ARGS="..." passes any other
# tinybms-gateway options (--http, --state-dir, --log-level, --config, --can; see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
http=127.0.0.1:8080
state=state/demo
can=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
    --http) http=${args[i + 1]:-} ;;
    --state-dir) state=${args[i + 1]:-} ;;
    --can) can=${args[i + 1]:-} ;;
    esac
done
# A busy port: say what to do before starting (the gateway itself would keep retrying every 5 s).
port=${http##*:}
host=${http%:*}
host=${host#[}
host=${host%]}
case "$host" in "" | 0.0.0.0 | "*") host=127.0.0.1 ;; "::") host=::1 ;; esac
if [[ "$port" =~ ^[0-9]+$ ]] && (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    next=$((port + 1))
    echo "make demo: port $port on $host is already in use (another demo or another program listens there)." >&2
    echo "  Stop that program, or run the demo on another port:" >&2
    echo "      make demo PORT=$next" >&2
    echo "      make demo ARGS=\"--http 127.0.0.1:$next\"" >&2
    echo "  (two demos at once also need their own state: ARGS=\"--http 127.0.0.1:$next --state-dir state/demo2\")" >&2
    exit 1
fi
mkdir -p "$state"
echo "Starting the TinyBMS gateway in demo mode (Ctrl-C to stop)."
if [[ -z "$can" ]]; then
    echo "CAN frames are written to $state/can.log (kept below 8 MB, the previous 8 MB in can.log.1);"
    echo "decode them with:"
    echo "    $build/bin/victron-can-decode $state/can.log | tail"
fi
exec "$build/bin/tinybms-gateway" --demo "$@"
