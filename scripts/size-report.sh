#!/usr/bin/env bash
# Footprint of core/ on rv32imc (the ESP32-C3 ISA): flash and static RAM per module and in total,
# plus the largest stack frame of each module.
#
# Usage: scripts/size-report.sh [--markdown] [--check BUDGET_FILE] TARGET_BUILD_DIR
#   TARGET_BUILD_DIR  a build of tests/target (make size; the host build's <build>/target)
#   --markdown        print the table as Markdown (docs/performance.md)
#   --check FILE      compare with a budget file (tests/target/size-budget.txt); exit 1 when a
#                     "budget" line is exceeded. "goal" lines are reported, not enforced.
# Columns, per module:
#   code, rodata  .text* and .rodata*/.srodata* of the object file, before linking
#   object        code + rodata: what size(1) says of the object. It still holds every call as an
#                 auipc+jalr pair and every address as lui+addi, which any firmware link relaxes.
#   text          what the module occupies in flash once linked (core-linked.elf: the whole core
#                 linked with GNU ld's relaxation, every function kept, used or not: an upper
#                 bound of what a firmware links). The budget's "text" metric is this column.
#   data, bss     initialised and zeroed RAM (data is also stored in flash); ram = data + bss
#   frame         the largest stack frame of any function in the module (-fstack-usage), not a
#                 whole-call-chain depth.
set -euo pipefail
markdown=0
budget=""
while [ $# -gt 1 ]; do
  case "$1" in
    --markdown) markdown=1; shift ;;
    --check) budget=$2; shift 2 ;;
    *) break ;;
  esac
done
dir=${1:?usage: size-report.sh [--markdown] [--check BUDGET] TARGET_BUILD_DIR}
prefix=${TB_RV_PREFIX:-riscv64-unknown-elf-}
list=$dir/core-objects.txt
[ -f "$list" ] || { echo "size-report: no $list (build tests/target first: make size)" >&2; exit 2; }
mapfile -t objs <"$list"

docs=$(grep -q 'TB_CORE_DOCS=0' "$dir/compile_commands.json" 2>/dev/null && echo "TB_CORE_DOCS=0" || echo "TB_CORE_DOCS=1")
gccv=$("${prefix}gcc" -dumpversion)
flags="-march=rv32imc -mabi=ilp32 -Os -ffunction-sections -fdata-sections -msave-restore -malign-data=natural, $docs"

# Flash per module once linked: the sections of each core object in core-linked.map.
lmap=$dir/core-linked.map
[ -f "$lmap" ] || { echo "size-report: no $lmap (build tests/target first: make size)" >&2; exit 2; }
map_sections() { # MAP -> "size file" for every .text*/.rodata*/.srodata* input section
  awk -f "$(dirname "$0")/map-sections.awk" "$1"
}
declare -A linked_mod=()
linked_lib=0
linked_libc=0
while read -r size file; do
  case "$file" in
    *tb_core_rv32*) m=$(basename "$file"); m=${m%.obj}; m=${m%.o}; m=${m%.c}
                    linked_mod[$m]=$(( ${linked_mod[$m]:-0} + size )) ;;
    *libgcc.a*) linked_lib=$((linked_lib + size)) ;;
    *libc.a* | *libm.a*) linked_libc=$((linked_libc + size)) ;;
  esac
done < <(map_sections "$lmap")

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for o in "${objs[@]}"; do
  [ -f "$o" ] || { echo "size-report: missing object $o (rebuild the target)" >&2; exit 2; }
  mod=$(basename "$o"); mod=${mod%.obj}; mod=${mod%.o}; mod=${mod%.c}
  su=${o%.obj}; su=${su%.o}.su
  frame=0
  [ -f "$su" ] && frame=$(awk -F'\t' '$2 + 0 > m { m = $2 + 0 } END { print m + 0 }' "$su")
  [ -n "${linked_mod[$mod]+x}" ] || { echo "size-report: $mod is not in $lmap (rebuild the target)" >&2; exit 2; }
  "${prefix}size" -A "$o" | awk -v mod="$mod" -v frame="$frame" -v lk="${linked_mod[$mod]}" '
    $1 ~ /^\.text/ { code += $2 }
    $1 ~ /^\.(s)?rodata/ { ro += $2 }
    $1 ~ /^\.(s)?data/ { data += $2 }
    $1 ~ /^\.(s)?bss/ || $1 == "COMMON" { bss += $2 }
    END { printf "%s %d %d %d %d %d %d\n", mod, code, ro, lk, data, bss, frame }'
done | sort >"$rows"

awk -v md="$markdown" -v flags="$flags" -v gccv="$gccv" -v lib="$linked_lib" -v libc="$linked_libc" '
  function line(m, c, r, l, d, b, f) {
    if (md) printf "| %s | %d | %d | %d | %d | %d | %d | %d | %s |\n", m, c, r, c + r, l, d, b, d + b, f
    else printf "%-14s %7d %7d %7d %7d %7d %7d %7d %7s\n", m, c, r, c + r, l, d, b, d + b, f
  }
  BEGIN {
    if (md) {
      printf "Core on rv32imc/ilp32 (`%s`, riscv64-unknown-elf-gcc %s, picolibc), bytes:\n\n", flags, gccv
      print "| module | code | rodata | object | **text (linked)** | data | bss | **ram** | max frame |"
      print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    } else {
      printf "Footprint of core/ on rv32imc/ilp32 (%s; gcc %s), bytes\n", flags, gccv
      printf "%-14s %7s %7s %7s %7s %7s %7s %7s %7s\n", "module", "code", "rodata", "object", "text", "data", "bss", "ram", "frame"
    }
  }
  { line($1, $2, $3, $4, $5, $6, $7); c += $2; r += $3; l += $4; d += $5; b += $6; if ($7 > f) f = $7 }
  END {
    if (md) printf "| **total** | %d | %d | %d | **%d** | %d | %d | **%d** | %d |\n", c, r, c + r, l, d, b, d + b, f
    else line("TOTAL", c, r, l, d, b, f)
    if (md) printf "\nLinked with the core (not counted above): libgcc soft-float/64-bit helpers %d bytes, picolibc %d bytes.\n", lib, libc
    else printf "text = linked into flash (core-linked.elf, relaxed, every function kept); object = code + rodata before linking.\nLinked with the core (not counted above): libgcc soft-float/64-bit helpers %d, picolibc %d\n", lib, libc
  }' "$rows"

# ---- what the test image links (--gc-sections keeps only what is called) ---------------------
map=$dir/core-vectors.map
if [ "$markdown" = 0 ] && [ -f "$map" ]; then
  declare -A linked=([core]=0 [libgcc]=0 [picolibc]=0 [test]=0)
  while read -r size file; do
    case "$file" in
      *libgcc.a*) k=libgcc ;;
      *libc.a* | *libm.a*) k=picolibc ;;
      *tb_core_rv32*) k=core ;;
      *) k=test ;;
    esac
    linked[$k]=$((linked[$k] + size))
  done < <(map_sections "$map")
  printf 'Linked into %s (flash, --gc-sections): core %d, libgcc soft-float/64-bit helpers %d, picolibc string/math %d, test code and vectors %d\n' \
    "$(basename "${map%.map}").elf" "${linked[core]}" "${linked[libgcc]}" "${linked[picolibc]}" "${linked[test]}"
fi

[ -n "$budget" ] || exit 0

# ---- budget check ---------------------------------------------------------------------------
echo
awk -v rows="$rows" '
  BEGIN {
    while ((getline l < rows) > 0) {
      split(l, a, " ")
      text[a[1]] = a[4]; ram[a[1]] = a[5] + a[6]
      text["total"] += a[4]; ram["total"] += a[5] + a[6]
    }
    have["total"] = 1
    for (m in text) have[m] = 1
  }
  /^[[:space:]]*(#|$)/ { next }
  {
    kind = $1; split($2, s, "."); scope = s[1]; metric = s[2]; limit = $3 + 0
    if (!(scope in have)) { printf "size-budget: %s %s: no such module measured (stale line?)\n", kind, $2; next }
    v = (metric == "text") ? text[scope] : (metric == "ram") ? ram[scope] : -1
    if (v < 0) { printf "size-budget: bad metric in \"%s\"\n", $0; bad++; next }
    if (kind == "budget") {
      if (v > limit) { printf "size-budget: OVER   %-16s %6d > %6d (by %d bytes)\n", $2, v, limit, v - limit; bad++ }
      else printf "size-budget: ok     %-16s %6d <= %6d (%d left)\n", $2, v, limit, limit - v
      budgeted[scope] = 1
    } else if (kind == "goal") {
      if (v > limit) printf "size-goal:   MISSED %-16s %6d > %6d (by %d bytes; reported, not enforced)\n", $2, v, limit, v - limit
      else printf "size-goal:   met    %-16s %6d <= %6d\n", $2, v, limit
    } else { printf "size-budget: unknown kind in \"%s\"\n", $0; bad++ }
  }
  END {
    for (m in have) if (m != "total" && !(m in budgeted)) printf "size-budget: note   %s has no module budget (counted in the total only)\n", m
    if (bad) { printf "size-budget: FAILED (%d); see tests/target/size-budget.txt for how to change a budget\n", bad; exit 1 }
    print "size-budget: within budget"
  }' "$budget"
