#!/usr/bin/env bash
# Builds the ESP-IDF firmware (ports/esp-idf) for TARGET into DIR, then merges bootloader,
# partition table, otadata and app into DIR/flash.bin (4 MB, for QEMU or `esptool write_flash 0`).
# Needs IDF_PATH (ESP-IDF 5.1+) and its toolchain on PATH (`. $IDF_PATH/export.sh`, or an offline
# kit's env.sh). Usage: scripts/firmware-build.sh [--qemu | --wifi] [TARGET] [DIR]
#   --qemu  the emulated board's image (ports/esp-idf/sdkconfig.qemu: Ethernet on QEMU's open_eth);
#           default DIR build/firmware/TARGET-qemu. Never flash it onto a board.
#   --wifi  the board image with Wi-Fi (ports/esp-idf/sdkconfig.wifi, -DTB_WIFI=1: esp_wifi in the
#           build); default DIR build/firmware/TARGET-wifi. Needs an ESP-IDF with its Wi-Fi
#           libraries (the offline kit has none: there it fails at the link; ctest fw-compile-wifi
#           compiles it without linking).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qemu=""
wifi=""
if [ "${1:-}" = "--qemu" ]; then qemu=1; shift; fi
if [ "${1:-}" = "--wifi" ]; then wifi=1; shift; fi
target=${1:-esp32c3}
dir=${2:-$root/build/firmware/$target${qemu:+-qemu}${wifi:+-wifi}}
defaults="$root/ports/esp-idf/sdkconfig.defaults;$root/ports/esp-idf/sdkconfig.defaults.$target"
[ -n "$qemu" ] && defaults="$defaults;$root/ports/esp-idf/sdkconfig.qemu"
[ -n "$wifi" ] && defaults="$defaults;$root/ports/esp-idf/sdkconfig.wifi"
case "$dir" in /*) ;; *) dir=$root/$dir ;; esac
if [ -z "${IDF_PATH:-}" ] || [ ! -f "$IDF_PATH/tools/cmake/project.cmake" ]; then
  echo "firmware: IDF_PATH is not set to an ESP-IDF tree (install ESP-IDF 5.1+ and source its export.sh)" >&2
  exit 2
fi
py=${ESP_KIT_PYTHON:-${PYTHON:-python3}}
mkdir -p "$dir"
# sdkconfig is made from the defaults files when it does not exist; ESP-IDF keeps an existing one,
# so a default changed in the tree (a new Kconfig default included) would never reach this build.
# Made afresh when a defaults file or a Kconfig is newer (menuconfig edits in $dir are lost then).
if [ -f "$dir/sdkconfig" ]; then
  IFS=';' read -ra made_from <<<"$defaults"
  for f in "${made_from[@]}" "$root/ports/esp-idf/main/Kconfig.projbuild"; do
    if [ "$f" -nt "$dir/sdkconfig" ]; then rm -f "$dir/sdkconfig"; break; fi
  done
fi
# configured every time (a few seconds): the components glob their sources, so a new file is built.
# sdkconfig lives in the build directory: the source tree stays clean.
cmake -G Ninja -S "$root/ports/esp-idf" -B "$dir" -DIDF_TARGET="$target" -DPYTHON="$py" \
  -DPYTHON_DEPS_CHECKED=1 -DTB_WIFI=${wifi:-0} -DSDKCONFIG="$dir/sdkconfig" -DSDKCONFIG_DEFAULTS="$defaults" >"$dir/cmake.log" 2>&1 ||
  { tail -30 "$dir/cmake.log" >&2; echo "firmware: cmake failed (whole log: $dir/cmake.log)" >&2; exit 1; }
ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { tail -40 "$dir/ninja.log" >&2; echo "firmware: build failed (whole log: $dir/ninja.log)" >&2; exit 1; }
(cd "$dir" && "$py" -m esptool --chip "$target" merge_bin --fill-flash-size 4MB -o flash.bin @flash_args >/dev/null)
app=$(ls "$dir"/*.bin | grep -v -e bootloader -e partition -e flash.bin -e ota_data | head -1)
echo "firmware: $dir/flash.bin ($target${qemu:+, QEMU board}${wifi:+, Wi-Fi}; app $(stat -c %s "$app") bytes)"
