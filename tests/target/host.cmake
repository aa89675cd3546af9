# Included by tests/CMakeLists.txt (plain host build only): cross-builds tests/target for rv32imc
# into <build>/target with cmake/riscv32-picolibc.cmake (ExternalProject, rebuilt on every host
# build, so new core/*.c and tests/vectors/*.c files are picked up) and registers:
#   target-core-vectors   the golden-vector image under qemu-system-riscv32; passes on exit 0
#   target-exit-status    the same image with --fail-selftest must exit 1 (a failure is visible)
#   target-trap-status    ... with --trap-selftest must report the trap and exit 2
#   target-core-symbols   no heap/stdio/clock/sleep/exit/OS symbol in the core (check-symbols.sh)
#   target-size-budget    text/ram per module and in total within tests/target/size-budget.txt
# Without the cross toolchain or QEMU the same tests exist and are skipped with the reason
# (`scripts/deps.sh target` installs them; `make test` does so first).
set(TB_TARGET_DIR ${CMAKE_BINARY_DIR}/target)
set(TB_TARGET_SRC ${CMAKE_SOURCE_DIR}/tests/target)
set(TB_TARGET_TESTS core-vectors exit-status trap-status core-symbols size-budget)

# Looked up afresh at every configure: a build tree made before the toolchain was installed
# must not stay skipped for ever.
unset(TB_RV_GCC CACHE)
unset(TB_QEMU_RV32 CACHE)
find_program(TB_RV_GCC riscv64-unknown-elf-gcc)
find_program(TB_QEMU_RV32 qemu-system-riscv32)
set(TB_TARGET_MISSING "")
if(NOT TB_RV_GCC)
  string(APPEND TB_TARGET_MISSING " riscv64-unknown-elf-gcc (gcc-riscv64-unknown-elf)")
else()
  execute_process(COMMAND ${TB_RV_GCC} -print-file-name=picolibc.specs
                  OUTPUT_VARIABLE TB_PICOLIBC_SPECS OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${TB_PICOLIBC_SPECS}" OR NOT EXISTS "${TB_PICOLIBC_SPECS}")
    string(APPEND TB_TARGET_MISSING " picolibc (picolibc-riscv64-unknown-elf)")
  endif()
endif()
if(NOT TB_QEMU_RV32)
  string(APPEND TB_TARGET_MISSING " qemu-system-riscv32 (qemu-system-misc)")
endif()

if(TB_TARGET_MISSING STREQUAL "")
  include(ExternalProject)
  ExternalProject_Add(tb_target
    SOURCE_DIR ${TB_TARGET_SRC}
    BINARY_DIR ${TB_TARGET_DIR}
    CMAKE_ARGS -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/riscv32-picolibc.cmake
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    LOG_CONFIGURE ON)
  set(run ${TB_TARGET_SRC}/run-qemu.sh ${TB_QEMU_RV32} ${TB_TARGET_DIR}/core-vectors.elf)
  add_test(NAME target-core-vectors COMMAND ${run} 0)
  add_test(NAME target-exit-status COMMAND ${run} 1 --fail-selftest)
  add_test(NAME target-trap-status COMMAND ${run} 2 --trap-selftest)
  add_test(NAME target-core-symbols COMMAND ${TB_TARGET_SRC}/check-symbols.sh ${TB_TARGET_DIR})
  add_test(NAME target-size-budget COMMAND ${CMAKE_SOURCE_DIR}/scripts/size-report.sh
           --check ${TB_TARGET_SRC}/size-budget.txt ${TB_TARGET_DIR})
  foreach(t ${TB_TARGET_TESTS})
    set_tests_properties(target-${t} PROPERTIES TIMEOUT 180 LABELS target)
  endforeach()
else()
  message(STATUS "target tests skipped: missing${TB_TARGET_MISSING} (scripts/deps.sh target)")
  foreach(t ${TB_TARGET_TESTS})
    add_test(NAME target-${t} COMMAND sh -c
      "echo 'SKIPPED: the rv32imc cross toolchain or QEMU is missing:${TB_TARGET_MISSING}. Run scripts/deps.sh target, then re-run cmake.'; exit 77")
    set_tests_properties(target-${t} PROPERTIES SKIP_RETURN_CODE 77 LABELS target)
  endforeach()
endif()
