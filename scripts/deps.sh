#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only when some are missing.
# Usage: scripts/deps.sh GROUP...   (groups: build test demo bench docs target)
# Run as root, or with sudo available. Nothing is fetched at run time by the gateway itself.
set -euo pipefail

declare -A GROUP
GROUP[build]="cmake make gcc pkg-config libcjson-dev libcivetweb-dev libmosquitto-dev libsystemd-dev libsodium-dev"
# The core cross-compiled for rv32imc (ESP32-C3 ISA) and run under QEMU (tests/target, make size).
GROUP[target]="cmake gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"
GROUP[test]="${GROUP[build]} ${GROUP[target]} clang libclang-rt-14-dev libcmocka-dev python3 python3-pymodbus python3-serial python3-serial-asyncio python3-can python3-jinja2 socat mosquitto mosquitto-clients cppcheck python3-requests python3-websocket chromium chromium-driver python3-selenium"
GROUP[demo]="${GROUP[build]}"
GROUP[bench]="${GROUP[test]} valgrind wrk"
GROUP[docs]="${GROUP[build]} libcmocka-dev python3 python3-matplotlib"

want=()
for g in "$@"; do
  [ -n "${GROUP[$g]+x}" ] || { echo "deps.sh: unknown group '$g' (known: ${!GROUP[*]})" >&2; exit 2; }
  # shellcheck disable=SC2206
  want+=(${GROUP[$g]})
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps.sh: installing ${missing[*]}"
stamp=/var/lib/apt/periodic/tinybms-gw-updated
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
  $SUDO apt-get update -qq
  $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
