#!/usr/bin/env bash
# Runs the firmware image in Espressif's QEMU (-M esp32c3) in the foreground: UART0 (the console)
# on stdout, UART1 (the TinyBMS) on the host pty PTY (e.g. the one `tinybms-sim --pty` prints),
# the web server forwarded to 127.0.0.1:N, and optionally every CAN frame the firmware transmits
# written to FILE as slcan lines ("t3518...\r", QEMU's can-host-chardev). Stop it with SIGTERM
# (or Ctrl-A X on a terminal).
#
# Usage: scripts/firmware-qemu.sh --bms PTY --http-port N [--image PATH] [--can-log FILE] [--mdns-port M]
#   --mdns-port M  forwards UDP 127.0.0.1:M to the firmware's mDNS port 5353 (a unicast query
#                  reaches lwIP's responder; multicast does not cross QEMU's user network)
#   --image PATH   4 MB flash image (default build/firmware/esp32c3-qemu/flash.bin, from `make
#                  firmware-qemu`: the board image has no network under QEMU). QEMU writes to it
#                  (NVS: configuration, counters, password), so a second run is a reboot with
#                  what the first one saved; copy it first to start from a fresh device.
# Needs ESP_QEMU (qemu-system-riscv32 with -M esp32c3) and ESP_QEMU_BIOS (its esp32c3-rom.bin
# directory); ESP_QEMU_EFUSE (an eFuse image) is optional. docs/porting.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bms="" port="" image="$root/build/firmware/esp32c3-qemu/flash.bin" canlog="" mdns=""
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bms) bms=${2:-}; shift 2 ;;
    --http-port) port=${2:-}; shift 2 ;;
    --image) image=${2:-}; shift 2 ;;
    --can-log) canlog=${2:-}; shift 2 ;;
    --mdns-port) mdns=${2:-}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "firmware-qemu: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$bms" ] && [ -n "$port" ] || { echo "firmware-qemu: --bms PTY and --http-port N are required" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
  { echo "firmware-qemu: --http-port must be 1..65535, not '$port'" >&2; exit 2; }
[ -z "$mdns" ] || { [[ "$mdns" =~ ^[0-9]+$ ]] && [ "$mdns" -ge 1 ] && [ "$mdns" -le 65535 ]; } ||
  { echo "firmware-qemu: --mdns-port must be 1..65535, not '$mdns'" >&2; exit 2; }
[ -e "$bms" ] || { echo "firmware-qemu: --bms $bms does not exist" >&2; exit 2; }
[ -f "$image" ] || { echo "firmware-qemu: no image at $image (make firmware-qemu)" >&2; exit 2; }
[ -n "${ESP_QEMU:-}" ] && [ -x "$ESP_QEMU" ] || { echo "firmware-qemu: ESP_QEMU is not set to Espressif's qemu-system-riscv32" >&2; exit 2; }
[ -n "${ESP_QEMU_BIOS:-}" ] || { echo "firmware-qemu: ESP_QEMU_BIOS (the directory of esp32c3-rom.bin) is not set" >&2; exit 2; }

efuse_args=()
if [ -n "${ESP_QEMU_EFUSE:-}" ] && [ -f "$ESP_QEMU_EFUSE" ]; then
  # QEMU may write to the eFuse image: a copy next to the flash image
  efuse="${image%.bin}.efuse.bin"
  [ -f "$efuse" ] || cp "$ESP_QEMU_EFUSE" "$efuse"
  efuse_args=(-drive "file=$efuse,if=none,format=raw,id=efuse" -global "driver=nvram.esp32c3.efuse,property=drive,value=efuse")
fi
can_args=()
if [ -n "$canlog" ]; then
  can_args=(-object can-bus,id=canbus0 -chardev "file,id=canlog,path=$canlog"
            -object can-host-chardev,id=canhost0,canbus=canbus0,chardev=canlog
            -global driver=esp32c3.twai,property=canbus,value=canbus0)
fi
exec "$ESP_QEMU" -L "$ESP_QEMU_BIOS" -M esp32c3 -nographic \
  -drive "file=$image,if=mtd,format=raw" "${efuse_args[@]}" \
  -global driver=timer.esp32c3.timg,property=wdt_disable,value=true \
  -nic "user,model=open_eth,hostfwd=tcp:127.0.0.1:$port-:80${mdns:+,hostfwd=udp:127.0.0.1:$mdns-:5353}" \
  -serial mon:stdio -chardev "serial,id=bms,path=$bms" -serial chardev:bms "${can_args[@]}"
