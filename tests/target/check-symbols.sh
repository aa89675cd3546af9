#!/usr/bin/env bash
# The core links without malloc, stdio or any OS symbol.
#
# Usage: check-symbols.sh TARGET_BUILD_DIR
# core-reloc.o is every core object linked with -nostdlib -r (tests/target/CMakeLists.txt): its
# undefined symbols are exactly what the core needs from the outside world. Each must match
# core-symbols.allow, and none may be a heap, stdio, clock, sleep, exit or OS function. The test
# image must not contain a heap either. A self-test first feeds the checker an object that calls
# malloc, printf, time and abort, and fails unless all four are caught.
set -euo pipefail
dir=${1:?usage: check-symbols.sh TARGET_BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
prefix=${TB_RV_PREFIX:-riscv64-unknown-elf-}
nm=${prefix}nm
allow=$here/core-symbols.allow

# Known-bad names with the reason they are banned from the core (design.md, core/ layer).
reason() {
  case "$1" in
    malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc|sbrk|_sbrk|brk|_malloc_r|_free_r)
      echo "heap: the caller owns memory" ;;
    printf|fprintf|sprintf|snprintf|vprintf|vfprintf|vsprintf|vsnprintf|dprintf|puts|fputs|putchar|fputc|putc|\
    fwrite|fread|fopen|fclose|fflush|fgets|getchar|scanf|sscanf|fscanf|perror|stdin|stdout|stderr|__iob|_impure_ptr)
      echo "stdio: the core has no console or files" ;;
    time|clock|clock_gettime|gettimeofday|localtime|gmtime|mktime|strftime|_gettimeofday)
      echo "clock: time is injected as now_ms" ;;
    sleep|usleep|nanosleep|_sleep)
      echo "sleep: the core never blocks" ;;
    abort|exit|_exit|_Exit|atexit|__assert_func|__assert_fail|__assert|raise|signal|longjmp|setjmp)
      echo "abort/exit: errors are returned and counted, never fatal" ;;
    errno|__errno|__errno_location|__getreent|_reent)
      echo "errno: errors are return codes" ;;
    open|close|read|write|ioctl|lseek|_open|_close|_read|_write|_lseek|_fstat|_isatty|fstat|isatty|getpid|kill|_kill|_getpid)
      echo "OS I/O" ;;
    pthread_*|sem_*|mtx_*|thrd_*|cnd_*)
      echo "threads: one owner thread calls the core" ;;
    strtod|strtof|strtol|strtoul|atoi|atof|rand|srand|getenv|qsort|bsearch)
      echo "libc beyond <string.h>/<math.h> (may need errno, locale or the heap)" ;;
    *) echo "not on the allowlist (tests/target/core-symbols.allow)" ;;
  esac
}

allowed() {
  local sym=$1 pat
  case "$(reason "$sym")" in
    "not on the allowlist"*) ;;
    *) return 1 ;;
  esac
  while IFS= read -r pat; do
    [[ -z "$pat" || "$pat" == \#* ]] && continue
    [[ "$sym" =~ ^(${pat})$ ]] && return 0
  done <"$allow"
  return 1
}

# check OBJECT [OBJECTS_FOR_BLAME...]: prints the offending symbols, returns their count.
check() {
  local obj=$1 bad=0 sym
  shift
  while read -r sym; do
    if ! allowed "$sym"; then
      bad=$((bad + 1))
      local who=""
      if [ $# -gt 0 ]; then
        who=$("$nm" -A -u "$@" 2>/dev/null | awk -v s="$sym" '$NF == s { n = split($1, p, "/"); sub(/:.*/, "", p[n]); printf "%s ", p[n] }')
      fi
      echo "  FORBIDDEN $sym — $(reason "$sym")${who:+ (used by: $who)}"
    fi
  done < <("$nm" -u "$obj" | awk '{ print $NF }' | sort -u)
  return $((bad > 255 ? 255 : bad))
}

# ---- self-test: the checker must catch what it is for ----------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bad.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
int bad(const char *s);
int bad(const char *s) { char *p = malloc(8); printf("%s", s); if (!p) abort(); return (int)time(0) + (int)strlen(p); }
C
"${prefix}gcc" -march=rv32imc -mabi=ilp32 --specs=picolibc.specs -Os -c "$tmp/bad.c" -o "$tmp/bad.o"
set +e
selftest=$(check "$tmp/bad.o")
caught=$?
set -e
for s in malloc printf time abort; do
  if ! grep -q "FORBIDDEN $s " <<<"$selftest"; then
    echo "check-symbols: self-test FAILED: a call to $s was not caught"; echo "$selftest"; exit 1
  fi
done
if grep -q "FORBIDDEN strlen " <<<"$selftest"; then
  echo "check-symbols: self-test FAILED: strlen (allowed) was refused"; exit 1
fi
echo "check-symbols: self-test ok (caught $caught forbidden calls in a deliberately bad object)"

# ---- the core -------------------------------------------------------------------------------
reloc=$dir/core-reloc.o
[ -f "$reloc" ] || { echo "check-symbols: no $reloc (build the target first)"; exit 1; }
mapfile -t objs <"$dir/core-objects.txt"
echo "check-symbols: the core (${#objs[@]} objects) needs from outside:"
"$nm" -u "$reloc" | awk '{ print $NF }' | sort -u | paste -sd' ' | fold -s -w 100 | sed 's/^/  /'
set +e
out=$(check "$reloc" "${objs[@]}")
nbad=$?
set -e
status=0
if [ "$nbad" -ne 0 ]; then
  echo "$out"
  echo "check-symbols: FAILED: $nbad forbidden symbol(s) in core/"
  status=1
else
  echo "check-symbols: ok: no heap, stdio, clock, sleep, exit or OS symbol in core/"
fi

# ---- the test image: no heap linked in at all ------------------------------------------------
image=$dir/core-vectors.elf
if [ -f "$image" ]; then
  heap=$("$nm" "$image" | awk '$NF ~ /^(malloc|calloc|realloc|free|_sbrk|sbrk)$/ { print $NF }' | paste -sd' ')
  if [ -n "$heap" ]; then
    echo "check-symbols: FAILED: the target image links a heap: $heap"
    status=1
  else
    echo "check-symbols: ok: no heap in $(basename "$image")"
  fi
fi
exit $status
