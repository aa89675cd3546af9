# Script mode (cmake -P), for make bench only: the web UI of web/ plus static files of known sizes,
# embedded exactly as the daemon embeds its UI (web/embed.cmake), so that the bench daemon
# (tinybms-gateway-bench) serves GET /bench/static-N.txt, N bytes, through the same code path as
# every UI file. bench/run_bench.py compares /api/status with the file closest to its size.
# Usage: cmake -DWEB=web -DDIR=build/bench-web -DOUT=build/bench_webui_assets.c -DTMP=... -P bench/bench_web.cmake
cmake_minimum_required(VERSION 3.20)
set(TB_BENCH_STATIC_MIN 1536)
set(TB_BENCH_STATIC_MAX 4096)
set(TB_BENCH_STATIC_STEP 64)
file(REMOVE_RECURSE ${DIR})
file(COPY ${WEB}/ DESTINATION ${DIR})
file(MAKE_DIRECTORY ${DIR}/bench)
# printable text (a JSON-like line repeated), cut to the exact size
set(line "{\"bench\":\"static file of the size of /api/status\",\"v\":[1.234,5.678,9.012]}\n")
set(text "")
foreach(i RANGE 64)
  string(APPEND text "${line}")
endforeach()
foreach(n RANGE ${TB_BENCH_STATIC_MIN} ${TB_BENCH_STATIC_MAX} ${TB_BENCH_STATIC_STEP})
  string(SUBSTRING "${text}" 0 ${n} body)
  file(WRITE ${DIR}/bench/static-${n}.txt "${body}")
endforeach()
set(SRC ${DIR})
include(${WEB}/embed.cmake)
