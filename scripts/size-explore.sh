#!/usr/bin/env bash
# What-if footprints of core/ on rv32imc, for decisions about the size goal (docs/performance.md,
# "Still missing"). Not a test: it prints figures.
#
# Usage: scripts/size-explore.sh [HOST_BUILD_DIR]
#   Compiles every core/*.c as tests/target does (same flags, TB_CORE_DOCS=0), links the objects
#   as core-linked.elf is linked (relaxation on, --no-gc-sections) and prints the core's linked
#   flash bytes for:
#     baseline          what `make size` reports as total text
#     fpu               -march=rv32imfc -mabi=ilp32f: every float operation one instruction, so
#                       baseline - fpu is what soft-float calls cost in the core itself
#     option ...        the baseline plus one extra compiler option each
#     firmware-use      (with HOST_BUILD_DIR, a built host tree, default build) --gc-sections,
#                       rooted only at the core functions that the daemon's objects call (app/,
#                       ports/linux/ and tinybms-gateway; not the CLI or the decoder tool): what
#                       of the core a firmware of this product really keeps
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
host=${1:-build}
prefix=${TB_RV_PREFIX:-riscv64-unknown-elf-}
base_flags=(-std=c11 -I"$src" -Os -ffunction-sections -fdata-sections -msave-restore -malign-data=natural
            -DTB_CORE_DOCS=0 -ffreestanding)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# compile DIR ARCH... -- EXTRA...: every core/*.c into DIR
compile() {
  local dir=$1; shift
  local arch=()
  while [ "$1" != "--" ]; do arch+=("$1"); shift; done
  shift
  mkdir -p "$dir"
  for f in "$src"/core/*.c; do
    "${prefix}gcc" "${arch[@]}" --specs=picolibc.specs "${base_flags[@]}" "$@" -c "$f" \
      -o "$dir/$(basename "$f" .c).o"
  done
}

# link DIR ARCH... -- LDFLAGS...: link DIR's objects, print the core's .text/.rodata bytes
link_core() {
  local dir=$1; shift
  local arch=()
  while [ "$1" != "--" ]; do arch+=("$1"); shift; done
  shift
  "${prefix}gcc" "${arch[@]}" --specs=picolibc.specs -nostartfiles -T tests/target/link.ld -Wl,--relax \
    -Wl,-Map="$dir/core.map" -Wl,--no-warn-rwx-segments "$@" tests/target/linked-entry.S "$dir"/*.o -lm \
    -o "$dir/core.elf"
  awk -f scripts/map-sections.awk "$dir/core.map" |
    while read -r size file; do
      case "$file" in "$dir"/*.o) echo $((size)) ;; esac
    done | awk '{ s += $1 } END { print s + 0 }'
}

rv=(-march=rv32imc -mabi=ilp32)
compile "$work/base" "${rv[@]}" --
base=$(link_core "$work/base" "${rv[@]}" -- -Wl,--no-gc-sections)
printf '%-34s %7d\n' "baseline" "$base"

fpu=(-march=rv32imfc -mabi=ilp32f)
compile "$work/fpu" "${fpu[@]}" --
v=$(link_core "$work/fpu" "${fpu[@]}" -- -Wl,--no-gc-sections)
printf '%-34s %7d  (%+d)\n' "fpu (rv32imfc/ilp32f)" "$v" $((v - base))

for opt in -mtune=size -fno-jump-tables -fno-inline-small-functions -fno-tree-switch-conversion \
           -mno-strict-align -fconserve-stack; do
  d="$work/opt${opt//[^a-z]/}"
  compile "$d" "${rv[@]}" -- "$opt"
  v=$(link_core "$d" "${rv[@]}" -- -Wl,--no-gc-sections)
  printf '%-34s %7d  (%+d)\n' "option $opt" "$v" $((v - base))
done

if [ -d "$host/CMakeFiles/tbapp.dir" ] && [ -d "$host/ports/linux/CMakeFiles/tblinux.dir" ]; then
  # Core symbols (defined by the rv32 objects) that the host's app/ and ports/ objects leave
  # undefined: the roots a firmware of this product links the core from.
  "${prefix}nm" -g --defined-only "$work"/base/*.o | awk 'NF == 3 { print $3 }' | sort -u >"$work/core.syms"
  find "$host/CMakeFiles/tbapp.dir" "$host/ports/linux/CMakeFiles/tblinux.dir" \
       "$host/ports/linux/CMakeFiles/tinybms-gateway.dir" -name '*.o' -print0 |
    xargs -0 nm -u 2>/dev/null | awk '{ print $NF }' | sort -u >"$work/used.syms"
  roots=()
  while read -r s; do roots+=("-Wl,-u,$s"); done < <(comm -12 "$work/core.syms" "$work/used.syms")
  if [ ${#roots[@]} -gt 0 ]; then
    v=$(link_core "$work/base" "${rv[@]}" -- -Wl,--gc-sections "${roots[@]}")
    printf '%-34s %7d  (%+d; %d core functions the daemon calls)\n' "firmware-use (--gc-sections)" \
      "$v" $((v - base)) ${#roots[@]}
  fi
else
  echo "firmware-use: no host objects under $host (build the host tree first: make build)" >&2
fi
