#!/usr/bin/env bash
# Runs a target test image on QEMU's riscv32 "virt" board and checks its exit status.
#
# Usage: run-qemu.sh QEMU IMAGE EXPECTED_STATUS [IMAGE_ARG...]
#   EXPECTED_STATUS 0: every case must pass. Non-zero: the run must end with exactly that status
#   and report a failing case or a trap (ctest target-exit-status and target-trap-status run the
#   image with --fail-selftest / --trap-selftest this way, proving that a failing check and a CPU
#   trap both reach QEMU's exit status).
# The image prints through semihosting (QEMU writes it to stderr, merged here) and leaves with
# SYS_EXIT_EXTENDED, whose subcode becomes QEMU's exit status. TB_QEMU_TIMEOUT (s, default 120)
# bounds a hung image.
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: $0 QEMU IMAGE EXPECTED_STATUS [ARG...]" >&2; exit 2; }
qemu=$1 image=$2 want=$3
shift 3
[ -f "$image" ] || { echo "run-qemu: no image $image (build the target first)" >&2; exit 2; }

semi="enable=on,target=native,arg=$(basename "$image")"
for a in "$@"; do
  semi+=",arg=$a"
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT

start=$(date +%s%N)
timeout -k 5 "${TB_QEMU_TIMEOUT:-120}" "$qemu" -M virt -bios none -nographic -monitor none -serial none \
  -semihosting-config "$semi" -kernel "$image" </dev/null >"$log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$log"
echo "run-qemu: $(basename "$image") $* exited with status $rc after ${ms} ms (expected $want)"

if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  echo "run-qemu: FAILED: time-out (the image never reached its semihosting exit)"
  exit 1
fi
if [ "$rc" != "$want" ]; then
  echo "run-qemu: FAILED: exit status $rc, expected $want"
  exit 1
fi
if [ "$want" = 0 ]; then
  grep -q "^[0-9]* passed, 0 failed" "$log" || { echo "run-qemu: FAILED: no passing summary line"; exit 1; }
else
  grep -qE '^\[ FAIL \]|^TRAP ' "$log" || { echo "run-qemu: FAILED: status $rc but no failure or trap reported"; exit 1; }
fi
exit 0
